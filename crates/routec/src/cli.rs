//! Command-line arguments (clap derive), the exit codes, and dispatch.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands;

/// Exit codes; stable, documented in `routec --help`.
pub mod exit {
    /// No errors (warnings allowed); files formatted; tests passed.
    pub const OK: u8 = 0;
    /// Errors in a policy (including SLOs no routing can meet), or
    /// `fmt --check` found unformatted files, or `fmt` refused a file with
    /// syntax errors, or a policy test failed.
    pub const FAILURE: u8 = 1;
    /// Usage errors and IO errors: a missing or unreadable file, a file that
    /// is not UTF-8 or is larger than the limit, an unwritable output, an
    /// unknown traffic profile or signal name.
    pub const USAGE: u8 = 2;
}

const EXIT_CODES: &str = "\
Examples:
  routec check support.route
  routec compile support.route -o support.table.json
  routec test support.route
  routec explain support.route --request '{\"task\": \"code\", \"plan\": \"pro\"}'
  routec simulate support.route --traffic launch --requests 1000000
  routec diff main:examples/support.route examples/support.route --format markdown

Exit codes:
  0  no errors (warnings allowed); files formatted; tests passed
  1  errors in a policy or SLOs no routing can meet; failed tests; `fmt --check` found unformatted files;
     `fmt` refused a file with syntax errors
  2  usage or IO errors: a missing, unreadable or unwritable file, not UTF-8, larger than 8 MiB, an unknown
     traffic profile or signal name";

const COMPILE_HELP: &str = "\
Examples:
  routec compile support.route                    writes support.table.json
  routec compile support.route --format bin       writes support.table.bin
  routec compile support.route --format wasm      writes support.wasm (docs/wasm.md)
  routec compile support.route -o - | jq .assumed the JSON table on standard output
  routec compile support.route --traffic launch -o build/support.table.json

The policy is checked, then optimized for a traffic profile (`--traffic`, by
default the first one declared) and the decision table is written. Without
`-o`, the table goes next to the policy: `NAME.route` becomes
`NAME.table.json` (or `NAME.table.bin` with `--format bin`, `NAME.wasm` with
`--format wasm`: a self-contained WebAssembly module that decides, for any
wasm host; see docs/wasm.md); `-o -` writes it
to standard output. Files are written atomically: a temporary file in the
target directory is renamed over the target, so a reader never sees a
partial table, and nothing is left behind on failure. Errors (a policy that
does not check, SLOs no routing can meet, with the best value each could
reach) and warnings go to standard error.

Once the table is written, standard error also gets the figures it was
optimized for, in a few lines: TTFT and latency p95, cost per 1k requests
and per success, quality and score; the quality of each slice; and each SLO
with its predicted value and slack (what tightening it costs when it is
binding). `routec simulate` checks them by sampling.

Exit codes:
  0  the table was written (warnings allowed)
  1  errors in the policy, or SLOs that no routing can meet
  2  usage or IO errors: a missing or unreadable policy, an unwritable output, an unknown traffic profile";

const TEST_HELP: &str = "\
Examples:
  routec test support.route
  routec test examples/*.route --format json

Runs every `test` block of each policy against its compiled table (optimized
for the first traffic profile). A test routes one request, which must take
the plan after `expect` (omitted signals take their defaults; a cascade
without `accept` matches any threshold; a split cell passes only if all its
plans match):

  test \"free chat cascades\" {
    given { plan: free, task: chat }
    expect cascade small -> medium
  }

or simulates a traffic profile (100000 requests, seed 0, the same as
`routec simulate --requests 100000 --seed 0`) and compares a metric:

  test \"launch traffic meets the latency objective\" {
    under launch
    expect latency p95 <= 20s
  }

Each test prints `ok` or `FAILED`; failures say what was expected and what
happened. The last line counts them: `N passed, M failed`.

Exit codes:
  0  every test passed
  1  a test failed, or a policy has errors
  2  usage or IO errors: a missing or unreadable file";

const EXPLAIN_HELP: &str = "\
Examples:
  routec explain support.route --request '{\"has_images\": true}'
  routec explain support.route --request '{\"task\": \"code\", \"plan\": \"pro\", \"prompt_tokens\": 9000}' --format json
  routec explain support.route --request @request.json --key user-42

The request is a JSON object keyed by signal name: enum values as strings,
bools as booleans, tokens as integers (or \"12k\"), ratios as numbers in 0..1
or strings like \"10%\", durations like \"200ms\", money like \"$0.5\". Omitted
signals take their defaults. `@FILE` reads the object from a file. `--key`
is the request key sticky splits hash (a user or session id).

A value that does not fit its signal (`\"task\": \"chatt\"`) is reported on
standard error with what the signal accepts (\"did you mean `chat`?\"), and
the explanation still shows the decision every runtime takes for that
request: as if the signal were missing, with its default. The exit code is
then 2.

The explanation names the matching rule (and its line), the chosen plan,
the split shares when the cell is split, the cell, the path through the
decision diagram with the signals that were defaulted, the cell's predicted
figures and what tightening each SLO would cost.

Exit codes:
  0  explained
  1  errors in the policy, or SLOs that no routing can meet
  2  usage or IO errors: an unreadable file, a request that is not a JSON object, an unknown signal,
     a value that does not fit its signal (the decision is still shown)";

const SIMULATE_HELP: &str = "\
Examples:
  routec simulate support.route
  routec simulate support.route --traffic launch --requests 1000000 --seed 7
  routec simulate support.route --format json | jq .metrics.latency

The policy is compiled (optimized for its first traffic profile) and the
table replays `--requests` requests drawn from traffic profile `--traffic`
(required when the policy declares several). Each request is routed by the
runtime, and its plan executed by sampling the compiler's model: latencies,
faults, retries, fallbacks, hedges, cascades, classifier latency and costs.
The report gives p50/p95/p99 of TTFT and end-to-end latency (in the unit of
their magnitude, `304ms`, `8.13s`, `8.95h`; milliseconds in JSON),
cost per 1k requests and per success in USD, quality, the composite score
against the baseline, per slice and per rule, calls per model, and each
SLO's simulated value. The same seed always gives the same report.

Off-policy (what a candidate would have done on production traffic):
  routec simulate candidate.route --off-policy decisions.jsonl
  routec simulate candidate.table.bin --off-policy decisions.jsonl --format json
reads a decision log of `routec serve` (with `POST /v1/feedback` outcomes
joined, and propensities: `learn { explore 2% }` makes them informative)
and routes each logged request with the candidate: the success rate, cost
per request and mean latency it would have had, by IPS, SNIPS and doubly robust
estimates with 95% intervals, beside what the logging table did. Plans are
compared by their text; a request whose logged plan the candidate would not
run informs only the doubly robust estimate. See docs/learn.md.

Exit codes:
  0  simulated (SLO misses are reported, not errors; use `routec test` to assert)
  1  errors in the policy, or SLOs that no routing can meet
  2  usage or IO errors: an unreadable file, an unknown traffic profile, a
     malformed line in the decision log (located as `file:line:column`)";

const CONVERT_HELP: &str = "\
Examples:
  routec convert routerbench ../shared/data/routerdc/datasets/routerbench_zs/mbpp_train.csv -o target/mbpp_train.jsonl
  routec convert routerbench arc_challenge_test.csv mbpp_test.csv winograde_test.csv -o target/rb_test.jsonl
  routec convert routellm-mmlu ../shared/data/routellm/routellm/evals/mmlu --split test -o target/mmlu_test.jsonl
  routec convert routellm-gsm8k ../shared/data/routellm/routellm/evals/gsm8k -o target/gsm8k.jsonl

Writes recorded traffic (docs/traffic.md): one JSON object per line with the
request's `id`, its `signals` (what is known before routing: `dataset` or
MMLU `subject` as an enum, `prompt_tokens` estimated as one token per four
characters of the prompt) and per-model `outcomes` (`success`, estimated
`input_tokens` and `output_tokens`, `cost_usd`: recorded by RouterBench,
priced from the LiteLLM catalog for RouteLLM). Model names become policy
identifiers (`mistralai/mixtral-8x7b-chat` -> `mixtral_8x7b_chat`). RouteLLM's
contaminated prompts are dropped, as RouteLLM does. A summary (counts, model
names, enum values for the policy's signal) goes to standard error. See
docs/evaluation.md.

Exit codes:
  0  converted
  2  usage or IO errors: a missing or unreadable input, a malformed row (with its line), an unwritable output";

const CHECK_HELP: &str = "\
Examples:
  routec check support.route
  routec check examples/*.route --format json
  routec check policies/*.route --format sarif > routec.sarif
  routec check --no-compile support.route         parse and check only

Each policy is parsed and checked; its recorded traffic files are read; and
once all of that is clean, it is compiled for its first traffic profile, as
`routec compile` does, so the compiler's diagnostics are reported too: SLOs
no routing can meet (errors, with the best value each could reach), a
cascade that breaks an SLO, a timeout that cuts a share of a model's answers.
`--no-compile` stops after the checker (faster; what an editor needs while
typing, not what CI needs).

Reports are written to standard output: `human` (the default) renders each
diagnostic with its source, `json` is one flat array over all files (1-based
lines, columns counted in characters, end exclusive), `sarif` is a SARIF 2.1.0
log for code-scanning services.

Exit codes:
  0  no errors (warnings allowed)
  1  at least one error in a policy, including SLOs no routing can meet
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

/// The routec compiler: check, format, compile, test, explain and simulate LLM
/// routing policies (`.route` files).
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
    /// Compile a policy into a decision table.
    #[command(after_help = COMPILE_HELP)]
    Compile(CompileArgs),
    /// Run the `test` blocks of policies.
    #[command(after_help = TEST_HELP)]
    Test(TestArgs),
    /// Explain how one request is routed.
    #[command(after_help = EXPLAIN_HELP)]
    Explain(ExplainArgs),
    /// Simulate a traffic profile through the compiled table.
    #[command(after_help = SIMULATE_HELP)]
    Simulate(SimulateArgs),
    /// Compare two policies' behavior: changed routes and predicted metrics.
    #[command(after_help = commands::diff::HELP)]
    Diff(commands::diff::DiffArgs),
    /// Decide a batch of requests (JSON Lines) with a policy or a table.
    #[command(after_help = commands::decide::HELP)]
    Decide(commands::decide::DecideArgs),
    /// Convert public per-query evaluation data to recorded traffic (JSON Lines).
    #[command(after_help = CONVERT_HELP)]
    Convert(ConvertArgs),
    /// Import a LiteLLM, Portkey, vLLM semantic-router or TensorZero config as a policy.
    #[command(after_help = commands::import::HELP)]
    Import(commands::import::ImportArgs),
    /// Run the language server (LSP over standard input and output).
    #[command(after_help = LSP_HELP)]
    Lsp(LspArgs),
    /// Serve an OpenAI-compatible gateway that routes with the compiled table.
    #[command(after_help = commands::serve::HELP)]
    Serve(commands::serve::ServeArgs),
}

const LSP_HELP: &str = "\
Editors start this command themselves and talk the Language Server Protocol
with it over standard input and output (JSON-RPC with Content-Length
headers); it is not meant to be run by hand. Configure your editor to run
`routec lsp` for `.route` files:
  VS Code   the routec extension (editors/vscode); setting `routec.server.path`
  Neovim    vim.lsp.start({ name = 'routec', cmd = { 'routec', 'lsp' } })
  Helix     languages.toml: [language-server.routec] with command = \"routec\", args = [\"lsp\"]
  Emacs     (add-to-list 'eglot-server-programs '(route-mode \"routec\" \"lsp\"))
See editors/README.md for complete setups.

The server offers diagnostics as you type (the compiler's too, such as SLOs
no routing can meet, once the file checks), hover, completion, go to
definition, references, rename, formatting, symbols, semantic tokens,
folding, code actions, inlay hints with the compiler's predicted traffic
share, p95 and cost per rule, and the code lenses \"Simulate\" and \"Run
tests\". Logs go to standard error.

Exit codes:
  0  the client sent `exit` or closed standard input
  2  the server could not start";

/// `routec lsp` takes no options: editors pass everything over the protocol.
#[derive(Debug, clap::Args)]
pub struct LspArgs {}

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The policy file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the table; `-` for standard output. Default: next to
    /// FILE, as `NAME.table.json` or `NAME.table.bin`.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// The table's encoding.
    #[arg(long, value_enum, default_value_t = TableFormat::Json)]
    pub format: TableFormat,
    /// The traffic profile to optimize for (default: the first declared).
    #[arg(long, value_name = "NAME")]
    pub traffic: Option<String>,
    /// Compile every SLO this much tighter than its limit (`5%`), overriding
    /// the `slo` block's `margin`: headroom against sampling error and drift.
    #[arg(long, value_name = "PERCENT", value_parser = parse_margin)]
    pub slo_margin: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Readable JSON, for review.
    Json,
    /// The compact checksummed binary, for runtimes.
    Bin,
    /// A self-contained WebAssembly module that decides (docs/wasm.md).
    Wasm,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The policy files whose tests to run.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Compile every SLO this much tighter than its limit (`5%`), overriding
    /// the `slo` block's `margin`: headroom against sampling error and drift.
    #[arg(long, value_name = "PERCENT", value_parser = parse_margin)]
    pub slo_margin: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The policy file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The request: a JSON object keyed by signal name, or `@FILE`.
    #[arg(long, value_name = "JSON")]
    pub request: String,
    /// The request key sticky splits hash (a user or session id).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The policy file (with `--off-policy`, a policy or a decision table).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Estimate the policy (the candidate) on a decision log that
    /// `routec serve` wrote while routing with another table (`-`:
    /// standard input): its success rate (from the log's feedback), cost
    /// per request and mean latency, by inverse propensity (IPS, SNIPS) and
    /// doubly robust estimates with 95% intervals, beside what the logging
    /// table did.
    #[arg(long, value_name = "LOG.jsonl", conflicts_with_all = ["load", "plot", "requests", "seed"])]
    pub off_policy: Option<PathBuf>,
    /// The traffic profile to replay (required if the policy declares several).
    #[arg(long, value_name = "NAME")]
    pub traffic: Option<String>,
    /// How many requests to simulate.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub requests: u64,
    /// The random seed; the same seed always gives the same report.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// The report format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Also draw the cost-quality frontier (with the policy, every single
    /// model and, for labeled traffic, the oracle) and the latency CDF of
    /// each model (logarithmic axis; the time on the model alone, and end
    /// to end with earlier fallback and cascade steps) into this SVG file
    /// (written atomically).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Simulate the table under its profile scaled to these loads
    /// (multiples of its `qps`), such as `1x,2x,5x,10x`: latency, costs,
    /// quality and each model's utilization at each load; with `--plot`,
    /// cost and p95 against load.
    #[arg(long, value_name = "LOADS")]
    pub load: Option<String>,
    /// Compile every SLO this much tighter than its limit (`5%`), overriding
    /// the `slo` block's `margin`: headroom against sampling error and drift.
    #[arg(long, value_name = "PERCENT", value_parser = parse_margin)]
    pub slo_margin: Option<f64>,
    /// Simulate one period of the policy's `spend per` budget (a day for
    /// `spend per day`) at the profile's `qps`, paced down the table's
    /// pacing ladder and at each rung alone, optionally with a surge:
    /// `--pace 3x@10h-16h` is three times the `qps` from 10:00 to 16:00.
    /// Reports each routing's spend against the budget and its quality.
    #[arg(long, value_name = "SURGE", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["load", "plot", "off_policy", "requests"])]
    pub pace: Option<String>,
}

/// An SLO margin: a percentage below 50% (`5%`, or `0.05`).
pub(crate) fn parse_margin(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a percentage (write `5%`)"))?;
    if !(0.0..0.5).contains(&v) {
        return Err(format!("`{s}`: an SLO margin must be from 0% to below 50%"));
    }
    Ok(v)
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// What the input is.
    #[arg(value_enum, value_name = "FORMAT")]
    pub format: ConvertFormat,
    /// RouterBench CSV files (their records are concatenated), or the
    /// RouteLLM `mmlu` or `gsm8k` folder.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where to write the JSON Lines (atomically); `-` or nothing: standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Which half of a data set without a split to write (RouteLLM: a
    /// deterministic 50/50 split by the hash of each record's id).
    #[arg(long, value_enum, default_value_t = Split::All)]
    pub split: Split,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConvertFormat {
    /// A RouterBench CSV (`routerbench_zs/*.csv`): 11 models, correctness and cost.
    Routerbench,
    /// The RouteLLM MMLU folder: GPT-4 and Mixtral correctness, 57 subjects.
    RoutellmMmlu,
    /// The RouteLLM GSM8K folder: GPT-4 and Mixtral correctness and answers.
    RoutellmGsm8k,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Split {
    /// Every record.
    All,
    /// The records whose id hashes into the lower half.
    Train,
    /// The records whose id hashes into the upper half.
    Test,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A short report for people.
    Human,
    /// One JSON document.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Only parse and check: do not compile the policies that check (their
    /// compiler diagnostics, such as SLOs no routing can meet, are not
    /// reported).
    #[arg(long)]
    pub no_compile: bool,
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
        Command::Compile(args) => commands::compile::run(args, cli.color),
        Command::Test(args) => commands::test::run(args, cli.color),
        Command::Explain(args) => commands::explain::run(args, cli.color),
        Command::Simulate(args) => commands::simulate::run(args, cli.color),
        Command::Diff(args) => commands::diff::run(args, cli.color),
        Command::Decide(args) => commands::decide::run(args, cli.color),
        Command::Convert(args) => commands::convert::run(args, cli.color),
        Command::Import(args) => commands::import::run(args, cli.color),
        Command::Lsp(args) => commands::lsp::run(args),
        Command::Serve(args) => commands::serve::run(args, cli.color),
    }
}
