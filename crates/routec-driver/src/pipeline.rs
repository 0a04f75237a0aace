//! Check and compile: from a [`Source`] to a [`Checked`] policy, then to a
//! [`CompiledPolicy`]. A recorded traffic profile's file is read here (one
//! reader, one path resolution: [`Source::resolve`]); its bad lines are
//! diagnostics located in that file.

use std::borrow::Cow;

use routec_check::Policy;
use routec_check::ir::TrafficSource;
use routec_opt::{CompileOptions, Compiled};
use routec_syntax::diagnostic::sort;
use routec_syntax::{Diagnostic, SourceMap, parse};
use routec_traffic::BoundTraffic;

use crate::source::{Source, read_traffic};
use crate::{COMPILER_VERSION, Failed};

/// Every diagnostic of a policy's text (the parser's and the checker's,
/// sorted by position) and the resolved policy. The checker keeps going
/// past syntax errors (the tree has error nodes), so it runs on every text.
#[derive(Debug)]
pub struct Diagnosed {
    pub diagnostics: Vec<Diagnostic>,
    pub policy: Policy,
}

impl Diagnosed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks a text.
pub fn diagnose(text: &str) -> Diagnosed {
    let parsed = parse(text);
    let checked = routec_check::check(&parsed.file);
    let mut diagnostics = parsed.diagnostics;
    diagnostics.extend(checked.diagnostics);
    sort(&mut diagnostics);
    Diagnosed {
        diagnostics,
        policy: checked.policy,
    }
}

/// What `routec check` reports for one source: the policy's diagnostics,
/// and once it checks, those of its recorded traffic files (`E0515` in the
/// file for each bad line, `W0513` for slices with too few samples) and,
/// unless [`CheckOptions::compile`] is off, the compiler's (SLOs no routing
/// can meet, timeouts that cut answers, ...).
#[derive(Debug)]
pub struct CheckReport {
    /// The policy and every recorded file read.
    pub files: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    /// A recorded file that could not be read (exit code 2).
    pub unreadable: Vec<String>,
}

/// What [`check_report_with`] runs beyond the parser and the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Once the policy checks (and its recorded files read), compile it for
    /// its first traffic profile, as `routec compile` does, and report the
    /// compiler's diagnostics too. On by default: CI and editors run
    /// `check`, and SLOs no routing can meet are errors of the policy.
    pub compile: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions { compile: true }
    }
}

/// Checks a source, its recorded traffic files and (once they check) its
/// compilation: [`check_report_with`] with the default options.
pub fn check_report(source: &Source) -> CheckReport {
    check_report_with(source, CheckOptions::default())
}

/// Checks a source and its recorded traffic files, and with
/// [`CheckOptions::compile`] compiles it once they check.
pub fn check_report_with(source: &Source, options: CheckOptions) -> CheckReport {
    let mut files = SourceMap::new(source.name.clone(), source.text.clone());
    let Diagnosed {
        mut diagnostics,
        policy,
    } = diagnose(&source.text);
    let mut unreadable = Vec::new();
    if !diagnostics.iter().any(Diagnostic::is_error) {
        // The records of the first profile, for the compile.
        let mut first: Option<BoundTraffic> = None;
        for (i, def) in policy.traffic.iter().enumerate() {
            match read_recorded(&policy, source, i, &mut files) {
                Ok(Some(bound)) => {
                    diagnostics.extend(routec_opt::recorded::sample_warnings(
                        &policy, &def.name, def.span, &bound,
                    ));
                    if i == 0 {
                        first = Some(bound);
                    }
                }
                Ok(None) => {}
                Err(Failed::Usage(message) | Failed::Policy(message)) => unreadable.push(message),
                Err(Failed::Diagnostics {
                    diagnostics: more, ..
                }) => diagnostics.extend(more),
            }
        }
        let clean = unreadable.is_empty() && !diagnostics.iter().any(Diagnostic::is_error);
        if options.compile && clean {
            let compiled = routec_opt::compile_recorded(
                &policy,
                &source.text,
                &compile_options(None),
                first.as_ref(),
            );
            match compiled {
                Ok(c) => diagnostics.extend(c.diagnostics),
                Err(errors) => diagnostics.extend(errors),
            }
        }
        sort(&mut diagnostics);
        // The compiler repeats the recorded files' sample warnings.
        diagnostics.dedup();
    }
    CheckReport {
        files,
        diagnostics,
        unreadable,
    }
}

/// A policy that checks.
#[derive(Debug)]
pub struct Checked {
    pub source: Source,
    pub policy: Policy,
    /// The checker's warnings.
    pub warnings: Vec<Diagnostic>,
}

/// Checks a source: errors (with the warnings) are a [`Failed`].
pub fn check(source: Source) -> Result<Checked, Failed> {
    let diagnosed = diagnose(&source.text);
    if diagnosed.has_errors() {
        return Err(Failed::Diagnostics {
            files: SourceMap::new(source.name.clone(), source.text),
            diagnostics: diagnosed.diagnostics,
        });
    }
    Ok(Checked {
        source,
        policy: diagnosed.policy,
        warnings: diagnosed.diagnostics,
    })
}

/// A checked and compiled policy.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub source: Source,
    pub policy: Policy,
    pub compiled: Compiled,
    /// The index of the traffic profile the table was compiled for.
    pub traffic: Option<usize>,
    /// The records of that profile when it is recorded.
    pub recorded: Option<BoundTraffic>,
    /// The policy and the files the compile read.
    pub files: SourceMap,
    /// The checker's and the compiler's warnings, sorted.
    pub warnings: Vec<Diagnostic>,
}

/// The traffic profile named `name`, or a usage error naming the profiles.
pub fn traffic_index(policy: &Policy, name: &str) -> Result<usize, String> {
    if let Some(i) = policy.traffic.iter().position(|t| t.name == name) {
        return Ok(i);
    }
    let names: Vec<&str> = policy.traffic.iter().map(|t| t.name.as_str()).collect();
    Err(
        match (
            routec_syntax::suggest::closest(name, names.iter().copied()),
            names.is_empty(),
        ) {
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
        },
    )
}

/// The options of a compile for traffic profile `traffic` (the first
/// declared when `None`), stamped with this compiler's version.
pub fn compile_options(traffic: Option<&str>) -> CompileOptions {
    CompileOptions {
        traffic: traffic.map(str::to_owned),
        compiler_version: COMPILER_VERSION.to_owned(),
        slo_margin: None,
    }
}

/// Checks and compiles a source for traffic profile `traffic`.
pub fn compile_source(source: Source, traffic: Option<&str>) -> Result<CompiledPolicy, Failed> {
    compile(check(source)?, traffic)
}

/// Compiles a checked policy for traffic profile `traffic` (the first
/// declared when `None`; an unknown name is a usage error). A recorded
/// profile's file is read relative to the policy. On errors, the
/// [`Failed`] carries the checker's warnings too.
pub fn compile(checked: Checked, traffic: Option<&str>) -> Result<CompiledPolicy, Failed> {
    let Checked {
        source,
        policy,
        warnings,
    } = checked;
    let selected = selected_profile(&policy, traffic)?;
    let mut files = SourceMap::new(source.name.clone(), source.text.clone());
    let recorded = match selected {
        Some(i) => read_recorded(&policy, &source, i, &mut files)?,
        None => None,
    };
    let result = routec_opt::compile_recorded(
        &policy,
        &source.text,
        &compile_options(traffic),
        recorded.as_ref(),
    );
    let checked = Checked {
        source,
        policy,
        warnings,
    };
    finish(checked, result, selected, recorded, files)
}

/// The index of traffic profile `traffic` (the first declared when
/// `None`; `None` when there is none); an unknown name is a usage error.
fn selected_profile(policy: &Policy, traffic: Option<&str>) -> Result<Option<usize>, Failed> {
    match traffic {
        Some(t) => Ok(Some(traffic_index(policy, t).map_err(Failed::Usage)?)),
        None => Ok((!policy.traffic.is_empty()).then_some(0)),
    }
}

/// A compile's result with the checker's warnings: the compiled policy
/// (warnings and the compiler's, sorted), or its errors with the warnings.
fn finish(
    checked: Checked,
    result: Result<routec_opt::Compiled, Vec<Diagnostic>>,
    selected: Option<usize>,
    recorded: Option<BoundTraffic>,
    files: SourceMap,
) -> Result<CompiledPolicy, Failed> {
    let Checked {
        source,
        policy,
        warnings,
    } = checked;
    match result {
        Ok(compiled) => {
            let mut all = warnings;
            all.extend(compiled.diagnostics.iter().cloned());
            sort(&mut all);
            Ok(CompiledPolicy {
                source,
                policy,
                compiled,
                traffic: selected,
                recorded,
                files,
                warnings: all,
            })
        }
        Err(mut errors) => {
            errors.extend(warnings);
            sort(&mut errors);
            Err(Failed::Diagnostics {
                files,
                diagnostics: errors,
            })
        }
    }
}

/// Compiles a checked policy with `records` (recorded-traffic JSON Lines,
/// such as the recent part of a decision log, shown as `records_name` in
/// errors) as the traffic of the selected profile, whatever it declares:
/// what `routec serve` compiles for a re-fit on drift (`docs/learn.md`,
/// "Re-fit on drift"). A bad line is a located `E0515` diagnostic; an
/// infeasible policy on those records, the errors `compile` gives.
pub fn refit(
    checked: Checked,
    traffic: Option<&str>,
    records_name: &str,
    records: String,
) -> Result<CompiledPolicy, Failed> {
    let Checked {
        source,
        policy,
        warnings,
    } = checked;
    let selected = selected_profile(&policy, traffic)?;
    let Some(def) = selected.and_then(|i| policy.traffic.get(i)) else {
        return Err(Failed::Usage(format!(
            "`{}` declares no traffic profile to re-fit",
            source.name
        )));
    };
    let mut files = SourceMap::new(source.name.clone(), source.text.clone());
    let id = files.add(records_name.to_owned(), records);
    let text = files.text(id);
    let bound =
        routec_opt::recorded::load(&policy, text).map_err(|errors| Failed::Diagnostics {
            diagnostics: routec_opt::recorded::line_diagnostics(
                id,
                text,
                (&def.name, def.span),
                &errors,
            ),
            files: files.clone(),
        })?;
    let result =
        routec_opt::compile_on_records(&policy, &source.text, &compile_options(traffic), &bound);
    let checked = Checked {
        source,
        policy,
        warnings,
    };
    finish(checked, result, selected, Some(bound), files)
}

impl CompiledPolicy {
    /// The bound records of traffic profile `index` when it is recorded
    /// (`None` for a declared mix): for the profile the table was compiled
    /// for, the records the compile read; for another, read from its file.
    pub fn records(&self, index: usize) -> Result<Option<Cow<'_, BoundTraffic>>, Failed> {
        if self.traffic == Some(index) {
            return Ok(self.recorded.as_ref().map(Cow::Borrowed));
        }
        let mut files = self.files.clone();
        Ok(read_recorded(&self.policy, &self.source, index, &mut files)?.map(Cow::Owned))
    }

    /// The profile's name, or `None` for an index out of range.
    pub fn traffic_name(&self, index: usize) -> Option<&str> {
        self.policy.traffic.get(index).map(|t| t.name.as_str())
    }
}

/// Reads, parses and binds the file of traffic profile `traffic` when it is
/// recorded (`Ok(None)` for a declared mix, or for an unsaved buffer, which
/// has no directory to read from), adding it to `files`. Bad lines are
/// `E0515` diagnostics located in the file; an unreadable file is a usage
/// error.
pub fn read_recorded(
    policy: &Policy,
    source: &Source,
    traffic: usize,
    files: &mut SourceMap,
) -> Result<Option<BoundTraffic>, Failed> {
    let Some(def) = policy.traffic.get(traffic) else {
        return Ok(None);
    };
    let TrafficSource::File(file) = &def.source else {
        return Ok(None);
    };
    let Some(path) = source.resolve(file) else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let text = read_traffic(&path).map_err(|e| {
        Failed::Usage(format!(
            "cannot read the recorded traffic `{shown}` of profile `{}`: {e}",
            def.name
        ))
    })?;
    let id = files.add(shown, text);
    let text = files.text(id);
    match routec_opt::recorded::load(policy, text) {
        Ok(bound) => Ok(Some(bound)),
        Err(errors) => Err(Failed::Diagnostics {
            diagnostics: routec_opt::recorded::line_diagnostics(
                id,
                text,
                (&def.name, def.span),
                &errors,
            ),
            files: files.clone(),
        }),
    }
}
