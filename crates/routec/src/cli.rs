//! Command-line arguments (clap derive), the exit codes, and dispatch.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands;

/// Exit codes; stable, documented in `routec --help`.
pub mod exit {
    /// No errors (warnings allowed); files formatted.
    pub const OK: u8 = 0;
    /// Errors in a policy, or `fmt --check` found unformatted files, or
    /// `fmt` refused a file with syntax errors.
    pub const FAILURE: u8 = 1;
    /// Usage errors and IO errors: a missing or unreadable file, a file that
    /// is not UTF-8 or is larger than the limit.
    pub const USAGE: u8 = 2;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  no errors (warnings allowed); files formatted
  1  errors in a policy; `fmt --check` found unformatted files; `fmt` refused a file with syntax errors
  2  usage or IO errors: a missing or unreadable file, not UTF-8, or larger than 8 MiB";

const CHECK_HELP: &str = "\
Examples:
  routec check support.route
  routec check examples/*.route --format json
  routec check policies/*.route --format sarif > routec.sarif

Reports are written to standard output: `human` (the default) renders each
diagnostic with its source, `json` is one flat array over all files (1-based
lines, columns counted in characters, end exclusive), `sarif` is a SARIF 2.1.0
log for code-scanning services.

Exit codes:
  0  no errors (warnings allowed)
  1  at least one error in a policy
  2  usage or IO errors: a missing or unreadable file, not UTF-8, or larger than 8 MiB";

const FMT_HELP: &str = "\
Examples:
  routec fmt support.route          rewrite the file in place
  routec fmt --check examples/*.route
  cat support.route | routec fmt -  format standard input to standard output

Files are rewritten atomically (a temporary file in the same directory is
renamed over the original) and only when their text changes. Comments are
kept. Files with syntax errors are refused: their errors are printed to
standard error and the file is left untouched. With `--check`, nothing is
written; the paths of the files that would change are printed, one a line.

Exit codes:
  0  every file is formatted (or was rewritten)
  1  `--check` found unformatted files, or a file has syntax errors
  2  usage or IO errors: a missing or unreadable file, not UTF-8, or larger than 8 MiB";

/// The routec compiler: check and format LLM routing policies (`.route` files).
#[derive(Debug, Parser)]
#[command(name = "routec", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// When to use colours in human-readable output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colours when the output is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policies and report errors and warnings.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Format policies in place, or check that they are formatted.
    #[command(after_help = FMT_HELP)]
    Fmt(FmtArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Diagnostics with source excerpts, for people.
    Human,
    /// One JSON array of diagnostics over all files.
    Json,
    /// A SARIF 2.1.0 log.
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The policy files to format; `-` formats standard input to standard output.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write nothing; list the files that would change and exit with 1 if any.
    #[arg(long)]
    pub check: bool,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }

    pub fn stdout(self) -> bool {
        self.enabled(std::io::stdout().is_terminal())
    }

    pub fn stderr(self) -> bool {
        self.enabled(std::io::stderr().is_terminal())
    }
}

/// Parses the arguments and runs the command; returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with code 0; usage errors to
            // stderr with code 2.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(exit::USAGE);
        }
    };
    match &cli.command {
        Command::Check(args) => commands::check::run(args, cli.color),
        Command::Fmt(args) => commands::fmt::run(args, cli.color),
    }
}
