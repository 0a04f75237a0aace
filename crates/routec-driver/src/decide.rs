//! Routing with a compiled table outside the compiler: [`load_router`]
//! turns a policy (compiled as `routec compile` does) or a decision table
//! file (validated as every runtime does) into a [`Router`]; [`decide_all`]
//! routes a file of requests in the recorded-traffic format, as `routec
//! decide` does to compare runtimes.

use std::path::Path;

use routec_runtime::{RequestError, Router};
use routec_syntax::{FileId, SourceMap};
use routec_traffic::RecordError;

use crate::source::{Source, display_name, io_message};
use crate::{CompiledPolicy, Failed};

/// The largest table file read, in bytes (a table is far smaller than the
/// recorded traffic it may be compiled from).
pub const MAX_TABLE_BYTES: u64 = 512 * 1024 * 1024;

/// Whether a path names a policy (`.route`) rather than a table.
pub fn is_policy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "route")
}

/// A router and, when it was compiled from a policy, the compiled policy.
#[derive(Debug)]
pub struct Loaded {
    pub router: Router,
    pub compiled: Option<CompiledPolicy>,
}

/// Loads a policy (`.route`, compiled for `traffic`) or a decision table
/// (JSON or binary, validated whole: a corrupt, truncated or
/// incompatible table is refused with what is wrong).
pub fn load_router(path: &Path, traffic: Option<&str>) -> Result<Loaded, Failed> {
    if is_policy(path) {
        let compiled = crate::compile_source(Source::file(path)?, traffic)?;
        let router = Router::new(compiled.compiled.table.clone()).map_err(|e| {
            Failed::Policy(format!(
                "the compiled table does not load: {e} (this is a bug in routec)"
            ))
        })?;
        return Ok(Loaded {
            router,
            compiled: Some(compiled),
        });
    }
    let name = display_name(path);
    if traffic.is_some() {
        return Err(Failed::Usage(
            "`--traffic` applies to a policy, not to a compiled table".into(),
        ));
    }
    let bytes =
        read_table(path).map_err(|e| Failed::Usage(format!("cannot read `{name}`: {e}")))?;
    if bytes.starts_with(b"\0asm") {
        return Err(Failed::Usage(format!(
            "`{name}` is a WebAssembly module, not a decision table\n  = help: decide with the module through its JavaScript package or any wasm host (docs/wasm.md), or pass its policy or table here"
        )));
    }
    let router = Router::load(&bytes).map_err(|e| {
        Failed::Usage(format!(
            "`{name}` is not a usable decision table: {e}\n  = help: pass a `.route` policy, or a table written by `routec compile`"
        ))
    })?;
    Ok(Loaded {
        router,
        compiled: None,
    })
}

/// Reads a table file with the [`MAX_TABLE_BYTES`] limit.
pub fn read_table(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| io_message(&e))?;
    if meta.is_dir() {
        return Err("is a directory".into());
    }
    if meta.len() > MAX_TABLE_BYTES {
        return Err(format!(
            "the file is larger than the limit of {} MiB",
            MAX_TABLE_BYTES / (1024 * 1024)
        ));
    }
    std::fs::read(path).map_err(|e| io_message(&e))
}

/// One request's decision.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Decided {
    /// The request's `id` (its sticky-split key).
    pub id: Option<String>,
    /// The matching rule's line.
    pub rule: u32,
    /// The plan in the language's syntax.
    pub plan: String,
    /// The signals the decision read that took their default (missing
    /// ones, then invalid ones).
    pub defaulted: Vec<String>,
    /// Those that were invalid.
    pub invalid: Vec<String>,
}

/// Routes every request of `requests` (the text of a file named `name`, in
/// the recorded-traffic format; `outcomes` ignored): a missing or invalid
/// value takes its default, as for a live request; the `id` is the
/// sticky-split key. A malformed line or an unknown signal is an `E0515`
/// located in the file, and nothing is decided then.
pub fn decide_all(router: &Router, name: &str, requests: &str) -> Result<Vec<Decided>, Failed> {
    let failed = |errors: Vec<RecordError>| {
        let files = SourceMap::new(name, requests);
        Failed::Diagnostics {
            diagnostics: routec_opt::recorded::located(FileId::MAIN, requests, &errors),
            files,
        }
    };
    let records = routec_traffic::parse(requests).map_err(failed)?;
    let table = router.table();
    let names = |set: routec_runtime::SignalSet| -> Vec<String> {
        set.iter()
            .filter_map(|i| table.signals.get(i).map(|s| s.name.clone()))
            .collect()
    };
    let mut out = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for record in &records {
        let object: serde_json::Map<String, serde_json::Value> = record
            .signals
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        let mut request = match router.request_from_json(&serde_json::Value::Object(object)) {
            Ok(r) => r,
            Err(RequestError::UnknownSignal { name, .. }) => {
                let column = record
                    .signals
                    .iter()
                    .find(|e| e.name == name)
                    .map_or(1, |e| e.column);
                let mut error =
                    RecordError::new(record.line, column, format!("unknown signal `{name}`"));
                let names: Vec<&str> = table.signals.iter().map(|s| s.name.as_str()).collect();
                error.help = routec_syntax::suggest::closest(&name, names.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("the signals are {}", names.join(", "))));
                errors.push(error);
                continue;
            }
            Err(e) => {
                errors.push(RecordError::new(record.line, 1, e.to_string()));
                continue;
            }
        };
        if let Some(id) = &record.id {
            request.set_key(id);
        }
        let d = router.decide(&request);
        let mut defaulted = names(d.defaulted);
        let invalid = names(d.invalid);
        defaulted.extend(invalid.iter().cloned());
        out.push(Decided {
            id: record.id.clone(),
            rule: table.rules.get(d.rule as usize).map_or(0, |r| r.line),
            plan: table
                .plans
                .get(d.plan as usize)
                .map_or_else(String::new, |p| p.text.clone()),
            defaulted,
            invalid,
        });
    }
    if !errors.is_empty() {
        errors.truncate(routec_traffic::MAX_ERRORS);
        return Err(failed(errors));
    }
    Ok(out)
}
