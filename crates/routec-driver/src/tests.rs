//! The policy's `test` blocks, run against its compiled table.
//!
//! Plan tests route their `given` request with the compiled table, exactly
//! as a runtime would (no request key: a split cell takes its first plan,
//! so split cells are judged on all their plans). Metric tests simulate the
//! table under their traffic profile with [`REQUESTS`] requests and seed
//! [`SEED`]; a value whose 95% sampling interval contains the limit passes
//! and says it is at the limit (only a miss beyond sampling error fails).

use std::collections::HashMap;

use routec_check::ir::{PlanDef, Policy, TestDef, TestExpect, Value};
use routec_opt::line_of;
use routec_runtime::{Router, Table};
use routec_table::PlanKind;
use serde::Serialize;

use crate::{CompiledPolicy, Failed};

/// Requests simulated for each traffic profile a metric test names.
pub const REQUESTS: u64 = 100_000;
/// The seed of those simulations.
pub const SEED: u64 = 0;

/// One test's result.
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

/// The tests of one policy, and why some could not run (a recorded file
/// that could not be read, a simulation that failed): each such test
/// fails, and the problem is reported beside it.
#[derive(Debug)]
pub struct TestRun {
    pub outcomes: Vec<TestOutcome>,
    pub problems: Vec<Failed>,
}

/// Runs every test of one compiled policy.
pub fn run(p: &CompiledPolicy) -> TestRun {
    let mut problems = Vec::new();
    let table = &p.compiled.table;
    let router = match Router::new(table.clone()) {
        Ok(r) => Some(r),
        Err(e) => {
            problems.push(Failed::Policy(format!(
                "the compiled table of `{}` does not load: {e} (this is a bug in routec)",
                p.source.name
            )));
            None
        }
    };
    let mut sims: HashMap<u32, Option<routec_sim::Run<'_>>> = HashMap::new();
    let outcomes = p
        .policy
        .tests
        .iter()
        .map(|t| {
            let mut o = TestOutcome {
                file: p.source.name.clone(),
                name: t.name.clone(),
                line: line_of(&p.source.text, t.span.start),
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
                            Err(failed) => {
                                problems.push(failed);
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
                            None => match crate::simulate::settled_load(p, traffic.index()) {
                                Some(load) => routec_sim::run_loaded(
                                    &p.policy,
                                    table,
                                    traffic,
                                    routec_sim::Load {
                                        qps: load.qps,
                                        models: &load.models,
                                    },
                                    REQUESTS,
                                    SEED,
                                    &mut |_, _| {},
                                ),
                                None => routec_sim::run(&p.policy, table, traffic, REQUESTS, SEED),
                            },
                        };
                        match run {
                            Ok(run) => Some(run),
                            Err(e) => {
                                problems
                                    .push(Failed::Usage(format!("cannot simulate `{tname}`: {e}")));
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
                            // A value within sampling error of the limit
                            // passes, and says so: the simulation cannot
                            // tell it from a met expectation.
                            let (lo, hi) = run.interval(metric, None).unwrap_or((v, v));
                            let half = if v <= *value { hi - v } else { v - lo };
                            let verdict = routec_sim::Verdict::of(v, *op, *value, half.max(0.0));
                            o.passed = verdict != routec_sim::Verdict::Missed;
                            o.actual = format!(
                                "{} = {}",
                                metric_text(&p.policy, metric),
                                routec_sim::describe_value(metric, v)
                            );
                            if verdict == routec_sim::Verdict::AtLimit {
                                o.actual.push_str(&format!(
                                    " (at the limit, within sampling error: 95% interval {} to {})",
                                    routec_sim::describe_value(metric, lo),
                                    routec_sim::describe_value(metric, hi)
                                ));
                            }
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
        .collect();
    TestRun { outcomes, problems }
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
