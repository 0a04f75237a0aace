//! The steps `compile`, `test`, `explain` and `simulate` share: read the
//! file, check it (errors are rendered to standard error, exit 1), compile
//! it (the optimizer's located diagnostics, exit 1), and print warnings to
//! standard error. Standard output stays free for the command's product.

use std::path::Path;

use routec_check::Policy;
use routec_syntax::Diagnostic;
use routec_syntax::diagnostic::sort;

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
    let analyzed = analysis::analyze(&source);
    if analyzed.has_errors() {
        eprint(&human::render(
            &name,
            &source,
            &analyzed.diagnostics,
            color.stderr(),
        ));
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
    if let Some(t) = traffic
        && let Err(why) = traffic_index(&loaded.policy, t)
    {
        eprint(&format!("routec: {why}\n"));
        return Err(exit::USAGE);
    }
    let options = routec_opt::CompileOptions {
        traffic: traffic.map(str::to_owned),
        compiler_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    match routec_opt::compile(&loaded.policy, &loaded.source, &options) {
        Ok(compiled) => {
            let mut warnings = loaded.warnings;
            warnings.extend(compiled.diagnostics.iter().cloned());
            sort(&mut warnings);
            eprint(&human::render(
                &loaded.name,
                &loaded.source,
                &warnings,
                color.stderr(),
            ));
            Ok(Pipeline {
                name: loaded.name,
                source: loaded.source,
                policy: loaded.policy,
                compiled,
            })
        }
        Err(mut errors) => {
            errors.extend(loaded.warnings);
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

/// Milliseconds, for reports: seconds × 1000, rounded to 0.001 ms.
pub fn ms(seconds: f64) -> f64 {
    round(seconds * 1000.0, 3)
}

/// Rounds to `digits` decimals (reports only: keeps JSON short and stable).
pub fn round(x: f64, digits: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// A 1-based line of a byte offset.
pub fn line_of(source: &str, offset: u32) -> u32 {
    let end = (offset as usize).min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u32
        + 1
}
