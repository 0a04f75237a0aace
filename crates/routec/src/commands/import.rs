//! `routec import [SOURCE] FILE [-o OUT] [--check] [--catalog FILE]`: turns a
//! LiteLLM, Portkey, vLLM semantic-router or TensorZero config into a
//! policy (`routec-import` does the translation), and reports the config's
//! problems as diagnostics located in the config file, rendered like
//! `routec check`'s.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use routec_import::{Catalog, Imported, Options, Outcome, SourceKind, codes};

use routec_driver::source::{io_message, read_file_or_stdin as read};
use routec_render::{FileDiagnostics, human, json, sarif};
use routec_syntax::SourceMap;

use super::{display_name, eprint, is_stdin, print, write_atomically};
use crate::cli::{ColorChoice, ReportFormat, exit};

/// The largest catalog read (LiteLLM's is a few MiB).
const MAX_CATALOG_BYTES: u64 = 64 * 1024 * 1024;

pub const HELP: &str = "\
Examples:
  routec import litellm config.yaml -o gateway.route
  routec import litellm config.yaml --catalog model_prices_and_context_window.json -o gateway.route
  routec import portkey portkey-config.json
  routec import semantic-router config/recipes/balance/config.yaml -o balance.route
  routec import tensorzero tensorzero.toml -o t0.route
  routec import --check config.yaml                  lint only (the source is guessed)
  routec import litellm --check config.yaml --format sarif > import.sarif

Writes a formatted policy that `routec check` accepts (to OUT, atomically, or
to standard output). Problems of the config itself (fallback cycles,
unreachable fallbacks, unknown strategy names, duplicate names, context-window
fallbacks to smaller windows, quotas that never apply) are diagnostics located
in the config file, on standard error (standard output with `--check`, in
`--format`). What routec cannot express is listed at the top of the policy and
on standard error, with its location. Imported configs carry no latency or
quality figures: add them to each model (see docs/import.md). With `--catalog`
(LiteLLM's model_prices_and_context_window.json) prices and context windows
are filled in.

Without SOURCE, it is guessed from the file: `.toml` is TensorZero, `.json`
Portkey, YAML with `model_list` LiteLLM, YAML with `routing` or `decisions`
vLLM semantic-router.

Exit codes:
  0  imported, the config has no errors (warnings allowed)
  1  the config has errors (the policy is still written, avoiding them), or
     defines nothing to route
  2  usage or IO errors: a missing or unreadable file, not UTF-8, larger than
     8 MiB, not YAML/JSON/TOML, not a config of SOURCE, an unwritable output";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// A LiteLLM proxy config.yaml.
    Litellm,
    /// A Portkey gateway config (JSON).
    Portkey,
    /// A vLLM semantic-router config.yaml.
    SemanticRouter,
    /// A TensorZero tensorzero.toml.
    Tensorzero,
}

impl From<Source> for SourceKind {
    fn from(s: Source) -> SourceKind {
        match s {
            Source::Litellm => SourceKind::Litellm,
            Source::Portkey => SourceKind::Portkey,
            Source::SemanticRouter => SourceKind::SemanticRouter,
            Source::Tensorzero => SourceKind::Tensorzero,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// `[SOURCE] FILE`: the router that wrote the config (litellm, portkey,
    /// semantic-router, tensorzero; guessed when omitted) and the config file
    /// (`-` for standard input).
    #[arg(value_name = "SOURCE FILE", num_args = 1..=2, required = true)]
    pub args: Vec<OsString>,
    /// Where to write the policy (atomically); `-` or nothing: standard output.
    #[arg(short, long, value_name = "OUT.route")]
    pub output: Option<PathBuf>,
    /// Only report the config's problems; write no policy.
    #[arg(long)]
    pub check: bool,
    /// LiteLLM's model_prices_and_context_window.json, for prices and
    /// context windows.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// The format of the diagnostics.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

pub fn run(args: &ImportArgs, color: ColorChoice) -> u8 {
    let (source, file) = match args.args.as_slice() {
        [file] => (None, PathBuf::from(file)),
        [source, file] => {
            let s = source.to_string_lossy();
            match Source::from_str(&s, true) {
                Ok(k) => (Some(SourceKind::from(k)), PathBuf::from(file)),
                Err(_) => {
                    eprint(&format!(
                        "routec: unknown source `{s}`: expected litellm, portkey, semantic-router or tensorzero\n"
                    ));
                    return exit::USAGE;
                }
            }
        }
        _ => {
            eprint("routec: expected `routec import [SOURCE] FILE`\n");
            return exit::USAGE;
        }
    };
    let name = display_name(&file);
    let text = match read(&file) {
        Ok(t) => t,
        Err(e) => {
            eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            return exit::USAGE;
        }
    };
    let kind = match source.or_else(|| guess(&file, &text)) {
        Some(k) => k,
        None => {
            eprint(&format!(
                "routec: cannot tell which router wrote `{name}`: name it, as in `routec import litellm {name}`\n"
            ));
            return exit::USAGE;
        }
    };
    let catalog = match &args.catalog {
        None => None,
        Some(path) => match read_catalog(path) {
            Ok(c) => Some(c),
            Err(message) => {
                eprint(&format!(
                    "routec: cannot read the catalog `{}`: {message}\n",
                    path.display()
                ));
                return exit::USAGE;
            }
        },
    };
    let file_name = file
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    let imported = routec_import::import(
        kind,
        &text,
        &Options {
            catalog: catalog.as_ref(),
            file_name: Some(file_name),
        },
    );

    // Diagnostics: to standard output when linting, else standard error.
    let map = SourceMap::new(name.clone(), text.clone());
    let files = [FileDiagnostics {
        files: &map,
        diagnostics: &imported.diagnostics,
    }];
    let to_stdout = args.check;
    let rendered = match args.format {
        ReportFormat::Human => human::render(
            &map,
            &imported.diagnostics,
            if to_stdout {
                color.stdout()
            } else {
                color.stderr()
            },
        ),
        ReportFormat::Json => json::render(&files),
        ReportFormat::Sarif => sarif::render(&files),
    };
    if to_stdout {
        print(&rendered);
    } else {
        eprint(&rendered);
    }
    eprint(&report_text(&name, &text, &imported));

    match imported.outcome {
        Outcome::Imported => {}
        Outcome::Unreadable | Outcome::WrongKind => {
            let usage = imported
                .diagnostics
                .iter()
                .any(|d| d.code == codes::CONFIG_SYNTAX || d.code == codes::WRONG_KIND);
            return if usage { exit::USAGE } else { exit::FAILURE };
        }
    }
    let code = if imported.has_errors() {
        exit::FAILURE
    } else {
        exit::OK
    };
    if args.check {
        return code;
    }
    let Some(policy) = &imported.policy else {
        return exit::FAILURE;
    };
    match &args.output {
        None => print(policy),
        Some(out) if is_stdin(out) => print(policy),
        Some(out) => {
            if let Err(e) = write_atomically(out, policy.as_bytes(), None) {
                eprint(&format!(
                    "routec: cannot write `{}`: {}\n",
                    out.display(),
                    io_message(&e)
                ));
                return exit::USAGE;
            }
            eprint(&format!(
                "routec: wrote `{}` ({} not expressible, {} errors, {} warnings in the config)\n",
                out.display(),
                imported.report.len(),
                imported.diagnostics.iter().filter(|d| d.is_error()).count(),
                imported
                    .diagnostics
                    .iter()
                    .filter(|d| !d.is_error())
                    .count(),
            ));
        }
    }
    code
}

/// The "not expressible" list and the notes, for standard error.
pub fn report_text(name: &str, text: &str, imported: &Imported) -> String {
    let mut out = String::new();
    if !imported.report.is_empty() {
        let n = imported.report.len();
        out.push_str(&format!(
            "routec: {n} {} of `{name}` {} not expressible in routec (also listed at the top of the policy):\n",
            if n == 1 { "key" } else { "keys" },
            if n == 1 { "is" } else { "are" },
        ));
        let index = routec_syntax::LineIndex::new(text);
        for u in &imported.report {
            let (l, c) = index.line_col_human(u.span.start as usize);
            out.push_str(&format!("  {name}:{l}:{c}: {}: {}\n", u.path, u.reason));
        }
    }
    for n in &imported.notes {
        out.push_str(&format!("routec: note: {n}\n"));
    }
    out
}

/// Which router wrote a config, from its extension and top-level keys.
pub fn guess(path: &Path, text: &str) -> Option<SourceKind> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "toml" => return Some(SourceKind::Tensorzero),
        "json" | "jsonc" => return Some(SourceKind::Portkey),
        _ => {}
    }
    let top: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']) && l.contains(':'))
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    if top
        .iter()
        .any(|k| matches!(*k, "model_list" | "litellm_settings" | "router_settings"))
    {
        Some(SourceKind::Litellm)
    } else if top
        .iter()
        .any(|k| matches!(*k, "routing" | "decisions" | "providers"))
    {
        Some(SourceKind::SemanticRouter)
    } else if text.trim_start().starts_with('{') {
        Some(SourceKind::Portkey)
    } else if top
        .iter()
        .any(|k| k.starts_with("[functions") || k.starts_with("[models"))
    {
        Some(SourceKind::Tensorzero)
    } else {
        None
    }
}

fn read_catalog(path: &Path) -> Result<Catalog, String> {
    let file = std::fs::File::open(path).map_err(|e| io_message(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_CATALOG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_message(&e))?;
    if bytes.len() as u64 > MAX_CATALOG_BYTES {
        return Err(format!(
            "the file is larger than the limit of {} MiB",
            MAX_CATALOG_BYTES / (1024 * 1024)
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "the file is not valid UTF-8".to_owned())?;
    Catalog::parse(&text)
}
