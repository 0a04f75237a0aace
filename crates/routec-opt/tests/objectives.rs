//! Each objective form optimizes what the policy says, on the cases that
//! were wrong before (issue "The compiler must optimize what the policy
//! says"): cost per success is the ratio, not cost per request; a slice's
//! quality is that slice's; a percentile is the percentile, not the mean;
//! a per-slice parity is enforced; an SLO that cannot be enforced is an
//! error; a free or nearly free model keeps the composite score finite.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

/// Two models billed per request, `a` cheap and poor, `b` dearer and good.
fn two_models(objective: &str) -> String {
    format!(
        "policy p {{
  owner \"x\"
  baseline b
}}
signal kind: enum {{ x, y }} from header \"x-kind\" default x
model a {{
  endpoint \"https://a.invalid\"
  price $0.001/request
  latency p50 100ms p95 300ms p99 600ms
  quality 50%
}}
model b {{
  endpoint \"https://b.invalid\"
  price $0.0012/request
  latency p50 2s p95 6s p99 9s
  quality 90%
}}
{objective}
route {{
  otherwise => optimize [a, b] by kind
}}
traffic t {{
  qps 10
}}
"
    )
}

/// The plan every cell of the table sends all its traffic to.
fn only_plan(c: &routec_opt::Compiled) -> String {
    let t = &c.table;
    let plans: std::collections::BTreeSet<&str> = t
        .leaves
        .iter()
        .flat_map(|l| l.splits.iter().filter(|s| s.share > 1e-9))
        .map(|s| t.plans[s.plan as usize].text.as_str())
        .collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
    plans.into_iter().next().unwrap().to_owned()
}

#[test]
fn cost_per_success_is_the_ratio() {
    // a: $0.001 / 0.5 = $0.002 per success; b: $0.0012 / 0.9 = $0.00133.
    let c = common::compile(&two_models("objective minimize cost per success")).unwrap();
    assert_eq!(only_plan(&c), "b");
    let m = &c.table.assumed.as_ref().unwrap().predicted;
    assert!((m.cost_per_success - 0.0012 / 0.9).abs() < 1e-9, "{m:?}");
    // Cost per request still picks `a`.
    let c = common::compile(&two_models("objective minimize cost")).unwrap();
    assert_eq!(only_plan(&c), "a");
}

#[test]
fn a_percentile_objective_minimizes_the_percentile() {
    let c = common::compile(&two_models("objective minimize latency p95")).unwrap();
    assert_eq!(only_plan(&c), "a");
    let p95 = c.table.assumed.as_ref().unwrap().predicted.latency.p95;
    assert!((p95 - 0.3).abs() < 0.01, "{p95}");
}

/// A mean that favours one model while the tail favours the other: `fast`
/// is quicker on average but has a long tail.
#[test]
fn the_percentile_is_not_the_mean() {
    let source = "policy p {
  owner \"x\"
  baseline steady
}
signal kind: enum { x, y } from header \"x-kind\" default x
model steady {
  endpoint \"https://s.invalid\"
  price $0.001/request
  latency p50 1s p95 1.2s p99 1.3s
  quality 80%
}
model spiky {
  endpoint \"https://k.invalid\"
  price $0.001/request
  latency p50 200ms p95 8s p99 20s
  quality 80%
}
objective minimize latency p95
route {
  otherwise => optimize [steady, spiky] by kind
}
traffic t {
  qps 1
}
";
    let c = common::compile(source).unwrap();
    assert_eq!(only_plan(&c), "steady");
}

#[test]
fn maximize_quality_for_a_slice_reads_the_slice() {
    // `good_at_x` is best on the slice, `good_at_y` overall: a slice's
    // quality objective sends the slice's cells to `good_at_x` and the
    // rest to the cheapest.
    let source = "policy p {
  owner \"x\"
  baseline cheap
}
signal kind: enum { x, y } from header \"x-kind\" default y
model cheap {
  endpoint \"https://c.invalid\"
  price $0.0001/request
  latency p50 100ms p95 300ms
  quality by kind { x 10%, y 10% }
}
model good_at_x {
  endpoint \"https://gx.invalid\"
  price $0.01/request
  latency p50 100ms p95 300ms
  quality by kind { x 95%, y 20% }
}
model good_at_y {
  endpoint \"https://gy.invalid\"
  price $0.01/request
  latency p50 100ms p95 300ms
  quality by kind { x 60%, y 99% }
}
slice xs = kind == x
objective maximize quality for xs
route {
  otherwise => optimize [cheap, good_at_x, good_at_y] by kind
}
traffic t {
  kind { x 20%, y 80% }
}
";
    let c = common::compile(source).unwrap();
    let table = &c.table;
    let assumed = table.assumed.as_ref().unwrap();
    for cell in &assumed.cells {
        let plan = &table.plans[cell.splits[0].plan as usize].text;
        if cell.predicate.contains("kind = x") {
            assert_eq!(plan, "good_at_x", "{}", cell.predicate);
        } else {
            assert_eq!(plan, "cheap", "{}", cell.predicate);
        }
    }
}

#[test]
fn per_slice_parity_is_enforced() {
    let source = "policy p {
  owner \"x\"
  baseline good
}
signal lang: enum { en, ja } from header \"x-lang\" default en
model cheap {
  endpoint \"https://c.invalid\"
  price $0.0001/request
  latency p50 100ms p95 300ms
  quality by lang { en 90%, ja 40% }
}
model good {
  endpoint \"https://g.invalid\"
  price $0.01/request
  latency p50 100ms p95 300ms
  quality by lang { en 92%, ja 88% }
}
slice english = lang == en
slice japanese = lang == ja
objective minimize cost
slo {
  quality >= quality for english - 4% for each slice
}
route {
  otherwise => optimize [cheap, good] by lang
}
traffic t {
  lang { en 70%, ja 30% }
}
";
    let c = common::compile(source).unwrap();
    assert!(
        c.diagnostics.is_empty(),
        "{:?}",
        c.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    let slices = c.slices();
    let (en, ja) = (slices[0].quality.unwrap(), slices[1].quality.unwrap());
    assert!(ja >= en - 0.04 - 1e-6, "japanese {ja} vs english {en}");
    // One row per other slice (english against itself is no constraint),
    // each holding.
    let rows: Vec<_> = c.slos().iter().filter(|r| r.slo == 0).collect();
    assert_eq!(rows.len(), 1);
    assert!(rows.iter().all(|r| r.ok));
}

#[test]
fn an_slo_that_cannot_be_enforced_is_an_error() {
    // No traffic profile, so no `qps`: spend cannot be predicted.
    let source = two_models("objective minimize cost\nslo {\n  spend per day <= $1\n}")
        .replace("traffic t {\n  qps 10\n}\n", "");
    let errors = common::compile(&source).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, "E0517");
    assert!(
        errors[0].message.contains("declares no `qps`"),
        "{}",
        errors[0].message
    );
}

#[test]
fn a_free_model_keeps_the_score_finite() {
    let source = two_models("objective weighted { latency 0.2, cost 0.6, quality 0.2 }")
        .replace("price $0.001/request\n", "")
        .replace("quality 50%", "quality 85%");
    let c = common::compile(&source).unwrap();
    let score = c.table.assumed.as_ref().unwrap().predicted.score;
    assert!(score.is_finite() && score > 1.0, "{score}");
    // Free `a`: the cost ratio counts at its cap, not as `b`'s price.
    assert_eq!(only_plan(&c), "a");
    assert!(score <= routec_opt::model::SCORE_RATIO_CAP, "{score}");
}

/// `margin` compiles every SLO that much tighter: a quality floor of 70%
/// with a 10% margin allows 27% failures, so the mix of `a` (50%) and `b`
/// (90%) lands at 73%, not 70%; the reports keep the declared limit.
#[test]
fn a_margin_tightens_every_slo() {
    let slo = |margin: &str| {
        two_models(&format!(
            "objective minimize cost\nslo {{\n  {margin}\n  quality >= 70%\n  cost per 1k requests <= $1.3\n}}"
        ))
    };
    let quality = |c: &routec_opt::Compiled| c.table.assumed.as_ref().unwrap().predicted.quality;
    let loose = common::compile(&slo("")).unwrap();
    assert!((quality(&loose) - 0.70).abs() < 1e-6, "{}", quality(&loose));
    let tight = common::compile(&slo("margin 10%")).unwrap();
    assert!((quality(&tight) - 0.73).abs() < 1e-6, "{}", quality(&tight));
    let rows = tight.slos();
    assert_eq!(rows[0].limit, 0.70, "the declared limit is reported");
    assert!(rows.iter().all(|r| r.ok));
    // 10% off a $1.20 budget is $1.08: below the $1.115 the 73% mix costs.
    let broke = two_models(
        "objective minimize cost\nslo {\n  margin 10%\n  quality >= 70%\n  cost per 1k requests <= $1.2\n}",
    );
    assert!(
        common::compile(&broke).is_err(),
        "the margin leaves no routing"
    );
    let fits = broke.replace("margin 10%", "margin 1%");
    assert!(common::compile(&fits).is_ok());
}
