//! `routec test FILE... [--format human|json]`: runs the `test` blocks.
//!
//! Plan tests route their `given` request with the compiled table, exactly
//! as a runtime would (no request key: a split cell takes its first plan,
//! so split cells are judged on all their plans). Metric tests simulate the
//! table under their traffic profile with [`REQUESTS`] requests and seed
//! [`SEED`].

use std::collections::HashMap;

use routec_check::ir::{PlanDef, Policy, TestDef, TestExpect, Value};
use routec_opt::line_of;
use routec_runtime::{Router, Table};
use routec_table::PlanKind;
use serde::Serialize;

use super::{eprint, print, worst};
use crate::cli::{ColorChoice, OutputFormat, TestArgs, exit};
use crate::pipeline::{self, Pipeline};

/// Requests simulated for each traffic profile a metric test names.
pub const REQUESTS: u64 = 100_000;
/// The seed of those simulations.
pub const SEED: u64 = 0;

#[derive(Clone, Debug, Serialize)]
pub struct TestOutcome {
    pub file: String,
    pub name: String,
    /// 1-based line of the `test` keyword.
    pub line: u32,
    /// `plan` or `metric`.
    pub kind: &'static str,
    pub passed: bool,
    /// What the test expects, in the language's syntax.
    pub expected: String,
    /// What happened: the chosen plan (or the split), or the simulated value.
    pub actual: String,
    /// How: the rule and cell for plan tests, the simulation for metric tests.
    pub detail: Vec<String>,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    tests: &'a [TestOutcome],
    passed: usize,
    failed: usize,
    /// Files that could not be tested (unreadable, or with errors).
    errors: &'a [String],
}

pub fn run(args: &TestArgs, color: ColorChoice) -> u8 {
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    let mut code = exit::OK;
    let paint = color.stdout() && args.format == OutputFormat::Human;
    for path in &args.files {
        let p = match pipeline::compile(path, None, color) {
            Ok(p) => p,
            Err(c) => {
                errors.push(super::display_name(path));
                code = worst(code, c);
                continue;
            }
        };
        let results = run_file(&p);
        if args.format == OutputFormat::Human {
            print(&human_file(&p.name, &results, paint));
        }
        outcomes.extend(results);
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let passed = outcomes.len() - failed;
    match args.format {
        OutputFormat::Human => print(&human_summary(&outcomes, passed, failed, paint)),
        OutputFormat::Json => {
            let report = JsonReport {
                tests: &outcomes,
                passed,
                failed,
                errors: &errors,
            };
            let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
            text.push('\n');
            print(&text);
        }
    }
    if failed > 0 {
        code = worst(code, exit::FAILURE);
    }
    code
}

/// Runs every test of one compiled policy.
pub fn run_file(p: &Pipeline) -> Vec<TestOutcome> {
    let table = &p.compiled.table;
    let router = match Router::new(table.clone()) {
        Ok(r) => Some(r),
        Err(e) => {
            eprint(&format!(
                "routec: the compiled table of `{}` does not load: {e} (this is a bug in routec)\n",
                p.name
            ));
            None
        }
    };
    let mut sims: HashMap<u32, Option<routec_sim::Run<'_>>> = HashMap::new();
    p.policy
        .tests
        .iter()
        .map(|t| {
            let mut o = TestOutcome {
                file: p.name.clone(),
                name: t.name.clone(),
                line: line_of(&p.source, t.span.start),
                kind: "plan",
                passed: false,
                expected: String::new(),
                actual: String::new(),
                detail: Vec::new(),
            };
            match &t.expect {
                Some(TestExpect::Plan(plan)) => {
                    o.expected = routec_opt::plan_text(&p.policy, plan);
                    if let Some(router) = &router {
                        plan_test(&p.policy, router, t, plan, &mut o);
                    }
                }
                Some(TestExpect::Metric { metric, op, value }) => {
                    o.kind = "metric";
                    let Some(traffic) = t.under else {
                        o.expected = "a traffic profile (`under NAME`)".into();
                        o.actual = "none".into();
                        return o;
                    };
                    let tname = p
                        .policy
                        .traffic
                        .get(traffic.index())
                        .map_or("?", |d| d.name.as_str());
                    o.expected = format!(
                        "{} {} {} under {tname}",
                        metric_text(&p.policy, metric),
                        op.as_str(),
                        routec_sim::describe_value(metric, *value)
                    );
                    let sim = sims.entry(traffic.0).or_insert_with(|| {
                        // A recorded profile is simulated from its file's requests.
                        let recorded = match p.records(traffic.index()) {
                            Ok(r) => r,
                            Err(pipeline::RecordedError::Io(m)) => {
                                eprint(&format!("routec: {m}\n"));
                                None
                            }
                            Err(pipeline::RecordedError::Lines { path, errors }) => {
                                eprint(&pipeline::render_record_errors(&path, &errors));
                                None
                            }
                        };
                        let run = match &recorded {
                            Some(b) => routec_sim::run_recorded(
                                &p.policy,
                                table,
                                traffic,
                                b,
                                REQUESTS,
                                SEED,
                                &mut |_, _| {},
                            ),
                            None => routec_sim::run(&p.policy, table, traffic, REQUESTS, SEED),
                        };
                        match run {
                            Ok(run) => Some(run),
                            Err(e) => {
                                eprint(&format!("routec: cannot simulate `{tname}`: {e}\n"));
                                None
                            }
                        }
                    });
                    let Some(run) = sim else {
                        o.actual = "the simulation could not run".into();
                        return o;
                    };
                    match run.value(metric, None) {
                        Some(v) => {
                            o.passed = routec_sim::compare(v, *op, *value);
                            o.actual = format!(
                                "{} = {}",
                                metric_text(&p.policy, metric),
                                routec_sim::describe_value(metric, v)
                            );
                        }
                        None => o.actual = "no value (no requests, or no `qps` for spend)".into(),
                    }
                    o.detail.push(format!(
                        "simulated {REQUESTS} requests of `{tname}` with seed {SEED}"
                    ));
                }
                None => {
                    o.expected = "an expectation".into();
                    o.actual = "none".into();
                }
            }
            o
        })
        .collect()
}

fn metric_text(policy: &Policy, metric: &routec_check::ir::MetricDef) -> String {
    routec_sim::describe_metric(policy, metric)
}

fn plan_test(policy: &Policy, router: &Router, t: &TestDef, plan: &PlanDef, o: &mut TestOutcome) {
    let table = router.table();
    let mut request = router.request();
    for (signal, value) in &t.given {
        let name = &policy.signal(*signal).name;
        let Some(i) = table.signals.iter().position(|s| &s.name == name) else {
            continue;
        };
        request.set(
            i,
            match value {
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::Enum(e) => *e as f64,
                Value::Number(x) => *x,
            },
        );
    }
    let decision = router.decide(&request);
    let explanation = router.explain(&request, &decision);
    let leaf = &table.leaves[decision.leaf as usize];
    o.passed = match plan {
        PlanDef::Split(entries) => split_matches(policy, table, entries, leaf),
        _ => leaf
            .splits
            .iter()
            .all(|s| plan_matches(policy, table, plan, s.plan, 0)),
    };
    o.actual = if leaf.splits.len() > 1 {
        format!(
            "a split: {}",
            leaf.splits
                .iter()
                .map(|s| format!(
                    "{} {}%",
                    table.plans[s.plan as usize].text,
                    routec_sim::trim(s.share * 100.0)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        explanation.plan.clone()
    };
    o.detail.push(format!(
        "rule at line {}: `{}`",
        explanation.rule_line, explanation.rule_text
    ));
    if let Some(cell) = &explanation.cell {
        o.detail.push(format!("cell: {cell}"));
    }
}

/// Whether table plan `index` is the plan `expected` (a cascade without
/// `accept` matches any threshold).
pub fn plan_matches(
    policy: &Policy,
    table: &Table,
    expected: &PlanDef,
    index: u32,
    depth: usize,
) -> bool {
    let Some(plan) = table.plans.get(index as usize) else {
        return false;
    };
    if depth > 16 {
        return false;
    }
    let model_is = |m: u32, id: &routec_check::ir::ModelId| {
        table
            .models
            .get(m as usize)
            .is_some_and(|t| t.name == policy.model(*id).name)
    };
    match (expected, &plan.kind) {
        (PlanDef::Target(id), PlanKind::Target { model }) => model_is(*model, id),
        (PlanDef::Chain(ps), PlanKind::Chain { plans }) => {
            ps.len() == plans.len()
                && ps
                    .iter()
                    .zip(plans)
                    .all(|(e, p)| plan_matches(policy, table, e, *p, depth + 1))
        }
        (PlanDef::Chain(ps), _) if ps.len() == 1 => {
            plan_matches(policy, table, &ps[0], index, depth + 1)
        }
        (PlanDef::Cascade { stages, accept }, PlanKind::Cascade { models, accept: a }) => {
            stages.len() == models.len()
                && stages.iter().zip(models).all(|(s, m)| model_is(*m, s))
                && accept
                    .as_ref()
                    .is_none_or(|x| (x.threshold - a).abs() < 1e-9)
        }
        _ => false,
    }
}

fn split_matches(
    policy: &Policy,
    table: &Table,
    entries: &[(routec_check::ir::ModelId, f64)],
    leaf: &routec_table::Leaf,
) -> bool {
    entries.len() == leaf.splits.len()
        && entries.iter().all(|(m, share)| {
            leaf.splits.iter().any(|s| {
                (s.share - share).abs() < 1e-6
                    && plan_matches(policy, table, &PlanDef::Target(*m), s.plan, 0)
            })
        })
}

fn green(text: &str, paint: bool) -> String {
    if paint {
        format!("\x1b[32m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn red(text: &str, paint: bool) -> String {
    if paint {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `running 4 tests in FILE` and one line per test.
pub fn human_file(name: &str, results: &[TestOutcome], paint: bool) -> String {
    let mut out = format!(
        "running {} test{} in {name}\n",
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    for r in results {
        let status = if r.passed {
            green("ok", paint)
        } else {
            red("FAILED", paint)
        };
        out.push_str(&format!("test {} ... {status}\n", r.name));
    }
    out
}

/// The failures, then `test result: ok. N passed, M failed`.
pub fn human_summary(results: &[TestOutcome], passed: usize, failed: usize, paint: bool) -> String {
    let mut out = String::new();
    if failed > 0 {
        out.push_str("\nfailures:\n");
        for r in results.iter().filter(|r| !r.passed) {
            out.push_str(&format!("\n---- {} ({}:{}) ----\n", r.name, r.file, r.line));
            out.push_str(&format!("expected: {}\n", r.expected));
            out.push_str(&format!("     got: {}\n", r.actual));
            for d in &r.detail {
                out.push_str(&format!("          {d}\n"));
            }
        }
    }
    let verdict = if failed == 0 {
        green("ok", paint)
    } else {
        red("FAILED", paint)
    };
    out.push_str(&format!(
        "\ntest result: {verdict}. {passed} passed, {failed} failed\n"
    ));
    out
}
