//! Load in the optimizer (`docs/semantics.md`, "Load"): capacities are rows
//! at the profile's qps (no table overloads a model; a capacity no routing
//! can meet is `E0510`), the peak warning names the saturating model and
//! where its overflow goes, and a policy whose load is not modelled
//! compiles to exactly the table it compiles to without load declarations.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;

use proptest::prelude::*;

/// Two models under `minimize cost`: `small` cheap with a capacity,
/// `large` dear without one.
fn two_models(small_capacity: &str, route: &str, slo: &str, traffic: &str) -> String {
    format!(
        r#"policy p {{ baseline large }}
signal task: enum {{ chat, code }} from header "x-task" default chat
model small {{
  price input $0.05/Mtok, output $0.08/Mtok
  latency ttft p50 120ms p95 400ms, decode 120 tok/s
  quality by task {{ chat 82%, code 70% }}
  {small_capacity}
  fallback large
}}
model large {{
  price input $3/Mtok, output $15/Mtok
  latency ttft p50 600ms p95 1.4s, decode 60 tok/s
  quality by task {{ chat 93%, code 90% }}
}}
objective minimize cost
slo {{
  {slo}
}}
route {{
  {route}
}}
faults {{
  timeout 60s
  retry 1 on [429, 5xx] backoff 200ms
}}
traffic steady {{
  {traffic}
  task {{ chat 80%, code 20% }}
  prompt_tokens lognormal p50 800 p95 4k
  output_tokens lognormal p50 200 p95 800
}}
"#
    )
}

const OPTIMIZE: &str = "otherwise => optimize [small, large] by task";

#[test]
fn the_optimizer_keeps_a_model_within_its_capacity() {
    // Without a capacity the cheap model takes everything.
    let free = common::compile(&two_models("", OPTIMIZE, "quality >= 70%", "qps 100")).unwrap();
    assert!(free.model_calls()[0] > 0.99, "{:?}", free.model_calls());
    assert!(
        free.load().is_empty(),
        "no load figures: load is not modelled"
    );
    // With 50 qps of capacity at 100 qps, at most half of the requests.
    let c = common::compile(&two_models(
        "capacity 50 qps",
        OPTIMIZE,
        "quality >= 70%",
        "qps 100",
    ))
    .unwrap();
    let small = &c.load()[0];
    assert!(small.utilization <= 1.0 + 1e-6, "{small:?}");
    assert!(small.utilization > 0.95, "the capacity binds: {small:?}");
    assert!(c.model_calls()[0] <= 0.5 + 1e-6, "{:?}", c.model_calls());
    // The table's predictions are at its own load.
    let p = c.load_at(1.0).unwrap();
    assert_eq!(p.models, c.load().to_vec());
    assert!((p.calls[0] - c.model_calls()[0]).abs() < 1e-9);
}

#[test]
fn a_capacity_no_routing_can_meet_is_reported_at_it() {
    let source = two_models(
        "capacity 50 qps",
        "otherwise => small",
        "quality >= 70%",
        "qps 100",
    );
    let errors = common::compile(&source).err().unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let d = &errors[0];
    assert_eq!(d.code, "E0510");
    assert_eq!(d.span.text(&source), "capacity 50 qps");
    assert_eq!(
        d.message,
        "the capacity of `small` (50 qps) cannot be met by any routing"
    );
    assert!(
        d.label.as_deref().unwrap_or("").contains("201"),
        "the least share any routing asks: {:?}",
        d.label
    );
}

#[test]
fn a_capacity_can_conflict_with_an_slo() {
    // The cost ceiling needs `small` for most requests; its capacity
    // allows half of them.
    let source = two_models(
        "capacity 50 qps",
        OPTIMIZE,
        "cost per 1k requests <= $1",
        "qps 100",
    );
    let errors = common::compile(&source).err().unwrap();
    let texts: Vec<(&str, &str)> = errors
        .iter()
        .map(|d| (d.span.text(&source), d.message.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (
                "cost per 1k requests <= $1",
                "`cost per 1k requests <= $1` cannot be met together with capacity of `small` (50 qps)"
            ),
            (
                "capacity 50 qps",
                "the capacity of `small` (50 qps) cannot be met by any routing together with `cost per 1k requests <= $1`"
            ),
        ],
        "{errors:#?}"
    );
    assert!(errors.iter().all(|d| d.code == "E0510"));
}

#[test]
fn without_qps_load_is_not_modelled_and_the_table_is_unchanged() {
    // (Two comment lines keep the rules on the same lines.)
    let plain = two_models("// no load\n  // figures", OPTIMIZE, "quality >= 75%", "");
    let with = two_models(
        "capacity 50 qps\n  latency at 20 qps ttft p50 300ms",
        OPTIMIZE,
        "quality >= 75%",
        "",
    );
    let a = common::compile(&plain).unwrap();
    let b = common::compile(&with).unwrap();
    let json = |c: &routec_opt::Compiled| {
        let mut t = c.table.clone();
        t.source_hash = String::new();
        serde_json::to_string(&t).unwrap()
    };
    assert_eq!(json(&a), json(&b));
    let w: Vec<&str> = b.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(w, ["W0521"]);
    assert_eq!(
        b.diagnostics[0].message,
        "the load of `small` is not modelled: traffic `steady` declares no `qps`"
    );
    assert!(b.load_at(2.0).is_none());
}

#[test]
fn the_peak_names_the_saturating_model_and_the_overflow() {
    let source = common::read(&common::workspace().join("examples/capacity.route"));
    let c = common::compile(&source).unwrap();
    let w: Vec<_> = c.diagnostics.iter().filter(|d| d.code == "W0520").collect();
    assert_eq!(w.len(), 1, "{:#?}", c.diagnostics);
    let d = w[0];
    assert_eq!(d.span.text(&source), "peak 5x");
    assert!(
        d.message
            .starts_with("at the peak of 500 qps the table breaks `cost per 1k requests <= $2.5`"),
        "{}",
        d.message
    );
    let label = d.label.as_deref().unwrap_or("");
    assert!(
        label.starts_with("`small` saturates first, at 2.9"),
        "{label}"
    );
    let help = d.help.as_deref().unwrap_or("");
    assert!(help.contains("the overflow goes to `large`"), "{help}");
    // At 1x the table meets its SLOs: `small` is at a third of capacity.
    let small = &c.load()[0];
    assert!((small.utilization - 0.335).abs() < 0.01, "{small:?}");
    // Past 3x `small` refuses calls and `large` gets them.
    let at = |f: f64| c.load_at(f).unwrap();
    let (p1, p2, p5) = (at(1.0), at(2.0), at(5.0));
    assert_eq!(p2.models[0].throttle, 0.0);
    assert!(p5.models[0].throttle > 0.5, "{:?}", p5.models[0]);
    assert!(
        p5.calls[1] > p1.calls[1] + 0.25,
        "{:?} {:?}",
        p1.calls,
        p5.calls
    );
    // Cost per request (and per token) rises with the overflow: each
    // request moved to `large` costs what a `large` call costs.
    let moved = p5.calls[1] - p1.calls[1];
    let large_call = p1.model_cost[1] / p1.calls[1];
    let predicted = p1.cost + moved * large_call;
    assert!(
        (p5.cost - predicted).abs() < 0.1 * predicted,
        "{} vs {predicted}",
        p5.cost
    );
    assert!(
        (p5.tokens - p1.tokens).abs() < 1e-9,
        "load does not change tokens"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Over generated policies (capacities, rate limits, loads, SLOs):
    /// a compiled table never asks a model more than its capacity or
    /// rate limit at the profile's qps, and a policy that cannot be
    /// compiled is refused with `E0510`.
    #[test]
    fn no_compiled_table_overloads_a_capacity(
        cap_small in 5.0f64..200.0,
        limit_large in prop::option::of(20.0f64..400.0),
        concurrent in prop::option::of(20u32..400),
        qps in 10.0f64..300.0,
        chat in 0.2f64..0.95,
        floor in 0.7f64..0.9,
        fixed in any::<bool>(),
    ) {
        no_overload(cap_small, limit_large, concurrent, qps, chat, floor, fixed)?;
    }
}

/// The property of `no_compiled_table_overloads_a_capacity` for one
/// generated policy.
fn no_overload(
    cap_small: f64,
    limit_large: Option<f64>,
    concurrent: Option<u32>,
    qps: f64,
    chat: f64,
    floor: f64,
    fixed: bool,
) -> Result<(), TestCaseError> {
    let cap = match concurrent {
        Some(n) => format!("capacity {cap_small:.1} qps, {n} concurrent"),
        None => format!("capacity {cap_small:.1} qps"),
    };
    let route = if fixed {
        "when task == code => large\n  otherwise => optimize [small, large] by task".to_string()
    } else {
        OPTIMIZE.to_string()
    };
    let mut source = two_models(
        &cap,
        &route,
        &format!("quality >= {:.0}%", floor * 100.0),
        &format!("qps {qps:.1}"),
    );
    source = source.replace(
        "task { chat 80%, code 20% }",
        &format!(
            "task {{ chat {:.0}%, code {:.0}% }}",
            chat * 100.0,
            100.0 - (chat * 100.0).round()
        ),
    );
    if let Some(l) = limit_large {
        source = source.replace(
            "quality by task { chat 93%, code 90% }",
            &format!("quality by task {{ chat 93%, code 90% }}\n  rate limit {l:.1} qps"),
        );
    }
    match common::compile(&source) {
        Ok(c) => {
            prop_assert!(!c.load().is_empty());
            for (m, l) in c.load().iter().enumerate() {
                prop_assert!(l.utilization <= 1.0 + 1e-4, "model {m}: {l:?}\n{source}");
                prop_assert!(
                    l.limit_utilization <= 1.0 + 1e-4,
                    "model {m}: {l:?}\n{source}"
                );
            }
        }
        Err(errors) => {
            prop_assert!(
                errors.iter().all(|d| d.code == "E0510"),
                "{errors:#?}\n{source}"
            );
        }
    }
    Ok(())
}

/// A case the property test found: a concurrency capacity binding at the
/// profile's qps, where the queue's refusals (a finite queue blocks before
/// it is full) and their retries pushed the settled load 0.5% over it
/// until the capacity rows were tightened by the overshoot.
#[test]
fn retried_refusals_do_not_push_a_binding_capacity_over() {
    no_overload(118.5, None, Some(92), 119.8, 0.3, 0.7, true).unwrap();
}
