//! The steps `compile`, `test`, `explain`, `simulate` and `diff` share:
//! read the file, check it (errors are rendered to standard error, exit 1),
//! compile it (the optimizer's located diagnostics, exit 1), and print
//! warnings to standard error (`diff` leaves them unprinted). Standard output stays free for the command's product.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use routec_check::Policy;
use routec_check::ir::TrafficSource;
use routec_syntax::Diagnostic;
use routec_syntax::diagnostic::sort;
use routec_traffic::{BoundTraffic, RecordError};

use crate::analysis;
use crate::cli::{ColorChoice, exit};
use crate::commands::{display_name, eprint, read};
use crate::render::human;

/// A checked and compiled policy.
#[derive(Debug)]
pub struct Pipeline {
    /// The path as the user wrote it.
    pub name: String,
    pub source: String,
    pub policy: Policy,
    pub compiled: routec_opt::Compiled,
    /// The index of the traffic profile the table was compiled for.
    pub traffic: Option<usize>,
    /// The recorded traffic the table was compiled against, when the
    /// selected profile is recorded.
    pub recorded: Option<BoundTraffic>,
}

impl Pipeline {
    /// The bound records of traffic profile `index` when it is recorded
    /// (`None` for a declared mix): for the profile the table was compiled
    /// for, the records the compile read; for another, read from its file
    /// (relative to the policy's path).
    pub fn records(&self, index: usize) -> Result<Option<Cow<'_, BoundTraffic>>, RecordedError> {
        if self.traffic == Some(index) {
            return Ok(self.recorded.as_ref().map(Cow::Borrowed));
        }
        Ok(read_recorded(&self.policy, Path::new(&self.name), index)?.map(|(_, b)| Cow::Owned(b)))
    }
}

/// A checked policy (no errors).
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    pub source: String,
    pub policy: Policy,
    /// The checker's warnings, not yet printed.
    pub warnings: Vec<Diagnostic>,
}

/// Whether a step renders the warnings along with its errors and its result
/// (`compile`, `test`, `explain`, `simulate`) or leaves them unprinted
/// (`diff`: warnings are left to `routec check` and `routec compile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warnings {
    Print,
    Omit,
}

/// Reads and checks `path`. On errors, renders every diagnostic to standard
/// error and returns the exit code.
pub fn load(path: &Path, color: ColorChoice) -> Result<Loaded, u8> {
    let name = display_name(path);
    let source = match read(path) {
        Ok(source) => source,
        Err(e) => {
            eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            return Err(exit::USAGE);
        }
    };
    check(name, source, Warnings::Print, color)
}

/// Checks the text `source` of the policy shown as `name`. On errors,
/// renders them (and, with [`Warnings::Print`], the warnings) to standard
/// error and returns the exit code.
pub fn check(
    name: String,
    source: String,
    warnings: Warnings,
    color: ColorChoice,
) -> Result<Loaded, u8> {
    let analyzed = analysis::analyze(&source);
    if analyzed.has_errors() {
        let shown: Vec<Diagnostic> = match warnings {
            Warnings::Print => analyzed.diagnostics,
            Warnings::Omit => analyzed
                .diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect(),
        };
        eprint(&human::render(&name, &source, &shown, color.stderr()));
        return Err(exit::FAILURE);
    }
    Ok(Loaded {
        name,
        source,
        policy: analyzed.policy,
        warnings: analyzed.diagnostics,
    })
}

/// The traffic profile named `name`, or a usage error naming the profiles.
pub fn traffic_index(policy: &Policy, name: &str) -> Result<usize, String> {
    if let Some(i) = policy.traffic.iter().position(|t| t.name == name) {
        return Ok(i);
    }
    let names: Vec<&str> = policy.traffic.iter().map(|t| t.name.as_str()).collect();
    let suggestion = names
        .iter()
        .filter(|n| strsim::levenshtein(n, name) <= 2.max(name.len() / 3))
        .min_by_key(|n| strsim::levenshtein(n, name));
    Err(match (suggestion, names.is_empty()) {
        (_, true) => format!("unknown traffic profile `{name}`: the policy declares none"),
        (Some(s), _) => format!("unknown traffic profile `{name}`; did you mean `{s}`?"),
        (None, _) => format!(
            "unknown traffic profile `{name}`; the policy declares {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Reads, checks and compiles `path` for traffic profile `traffic` (the
/// first declared when `None`). Warnings of both steps go to standard error.
pub fn compile(path: &Path, traffic: Option<&str>, color: ColorChoice) -> Result<Pipeline, u8> {
    let loaded = load(path, color)?;
    compile_checked(loaded, path, traffic, Warnings::Print, color)
}

/// The options of a compile for traffic profile `traffic` (the first
/// declared when `None`), stamped with this compiler's version.
pub fn compile_options(traffic: Option<&str>) -> routec_opt::CompileOptions {
    routec_opt::CompileOptions {
        traffic: traffic.map(str::to_owned),
        compiler_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// Compiles a checked policy for traffic profile `traffic` (the first
/// declared when `None`; an unknown name is a usage error). A recorded
/// profile's file is read relative to `path`. Errors, and with
/// [`Warnings::Print`] the warnings of both steps, go to standard error.
pub fn compile_checked(
    loaded: Loaded,
    path: &Path,
    traffic: Option<&str>,
    warnings: Warnings,
    color: ColorChoice,
) -> Result<Pipeline, u8> {
    let selected = match traffic {
        Some(t) => match traffic_index(&loaded.policy, t) {
            Ok(i) => Some(i),
            Err(why) => {
                eprint(&format!("routec: {why}\n"));
                return Err(exit::USAGE);
            }
        },
        None => (!loaded.policy.traffic.is_empty()).then_some(0),
    };
    let options = compile_options(traffic);
    let recorded = match selected {
        Some(i) => match read_recorded(&loaded.policy, path, i) {
            Ok(r) => r.map(|(_, b)| b),
            Err(e) => return Err(e.report()),
        },
        None => None,
    };
    match routec_opt::compile_recorded(&loaded.policy, &loaded.source, &options, recorded.as_ref())
    {
        Ok(compiled) => {
            if warnings == Warnings::Print {
                let mut warnings = loaded.warnings;
                warnings.extend(compiled.diagnostics.iter().cloned());
                sort(&mut warnings);
                eprint(&human::render(
                    &loaded.name,
                    &loaded.source,
                    &warnings,
                    color.stderr(),
                ));
            }
            Ok(Pipeline {
                name: loaded.name,
                source: loaded.source,
                policy: loaded.policy,
                compiled,
                traffic: selected,
                recorded,
            })
        }
        Err(mut errors) => {
            if warnings == Warnings::Print {
                errors.extend(loaded.warnings);
            }
            sort(&mut errors);
            eprint(&human::render(
                &loaded.name,
                &loaded.source,
                &errors,
                color.stderr(),
            ));
            Err(exit::FAILURE)
        }
    }
}

/// Why a recorded traffic file could not be used.
#[derive(Debug)]
pub enum RecordedError {
    /// The file could not be read (exit 2): the message names the path.
    Io(String),
    /// Bad lines (exit 1): the file as shown, and the located errors.
    Lines {
        path: String,
        errors: Vec<RecordError>,
    },
}

impl RecordedError {
    /// Prints the error to standard error and returns the exit code.
    pub fn report(&self) -> u8 {
        match self {
            RecordedError::Io(message) => {
                eprint(&format!("routec: {message}\n"));
                exit::USAGE
            }
            RecordedError::Lines { path, errors } => {
                eprint(&render_record_errors(path, errors));
                exit::FAILURE
            }
        }
    }
}

/// `path:line:col: error: message` per error, with its help indented below.
pub fn render_record_errors(path: &str, errors: &[RecordError]) -> String {
    let mut out = String::new();
    for e in errors {
        out.push_str(&format!(
            "{path}:{}:{}: error: {}\n",
            e.line, e.column, e.message
        ));
        if let Some(h) = &e.help {
            out.push_str(&format!("  = help: {h}\n"));
        }
    }
    out
}

/// The file of a recorded profile: relative paths are resolved against the
/// directory of the policy file (the working directory for standard input).
pub fn recorded_file(policy_path: &Path, file: &str) -> PathBuf {
    let f = Path::new(file);
    if f.is_absolute() || crate::commands::is_stdin(policy_path) {
        return f.to_path_buf();
    }
    match policy_path.parent() {
        Some(dir) => dir.join(f),
        None => f.to_path_buf(),
    }
}

/// Reads, parses and binds the file of traffic profile `traffic` when it is
/// recorded: `Ok(None)` for a declared mix, else the path as shown and the
/// bound records.
pub fn read_recorded(
    policy: &Policy,
    policy_path: &Path,
    traffic: usize,
) -> Result<Option<(String, BoundTraffic)>, RecordedError> {
    let Some(TrafficSource::File(file)) = policy.traffic.get(traffic).map(|t| &t.source) else {
        return Ok(None);
    };
    let path = recorded_file(policy_path, file);
    let shown = path.display().to_string();
    let text = crate::source::read_traffic(&path).map_err(|e| {
        RecordedError::Io(format!(
            "cannot read the recorded traffic `{shown}` of profile `{}`: {e}",
            policy.traffic[traffic].name
        ))
    })?;
    // Shape errors and binding errors of the good lines, in line order.
    match routec_opt::recorded::load(policy, &text) {
        Ok(bound) => Ok(Some((shown, bound))),
        Err(errors) => Err(RecordedError::Lines {
            path: shown,
            errors,
        }),
    }
}

/// What `routec check` adds for the recorded profiles of a policy that
/// checks: `E0515` for each bad line (at the profile's declaration) and
/// `W0513` for slices with too few recorded samples. `Err` is a file that
/// could not be read (the message names it; exit 2).
pub fn recorded_diagnostics(
    policy: &Policy,
    policy_path: &Path,
) -> Result<Vec<Diagnostic>, String> {
    let mut out = Vec::new();
    for (i, def) in policy.traffic.iter().enumerate() {
        match read_recorded(policy, policy_path, i) {
            Ok(Some((_, bound))) => out.extend(routec_opt::recorded::sample_warnings(
                policy, &def.name, def.span, &bound,
            )),
            Ok(None) => {}
            Err(RecordedError::Io(message)) => return Err(message),
            Err(RecordedError::Lines { path, errors }) => {
                out.extend(routec_opt::recorded::line_diagnostics(
                    &path, def.span, &errors,
                ));
            }
        }
    }
    Ok(out)
}

/// Milliseconds, for reports: seconds × 1000, rounded to 0.001 ms.
pub fn ms(seconds: f64) -> f64 {
    round(seconds * 1000.0, 3)
}

/// [`round`]ed for a JSON report, or `null` when not finite.
pub fn finite(x: f64, digits: i32) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(round(x, digits))
    } else {
        serde_json::Value::Null
    }
}

/// Rounds to `digits` decimals (reports only: keeps JSON short and stable).
pub fn round(x: f64, digits: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}
