//! Exploration candidates are SLO-safe (`docs/learn.md`, "Exploration and
//! propensities"): `explore 20%` of a leaf of an `optimize` rule may go
//! to an option only when every SLO stays within its compiled slack. The
//! quality floor binds (cost is minimized), so `bad` (worse quality) is
//! out; `slow` would push too much traffic over the latency limit; the
//! quick, better `premium` is in.

#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

const POLICY: &str = r#"
policy explore {
  owner "tests"
  baseline good
}

model cheap {
  price $0.001/request
  latency ttft p50 100ms p95 300ms, decode 200 tok/s
  quality 70%
}

model good {
  price $0.01/request
  latency ttft p50 200ms p95 600ms, decode 100 tok/s
  quality 95%
}

model bad {
  price $0.002/request
  latency ttft p50 100ms p95 300ms, decode 200 tok/s
  quality 50%
}

model slow {
  price $0.02/request
  latency p50 30s p95 60s p99 90s
  quality 96%
}

model premium {
  price $0.05/request
  latency ttft p50 150ms p95 400ms, decode 150 tok/s
  quality 98%
}

objective minimize cost

slo {
  quality >= 80%
  latency p95 <= 10s
}

route {
  otherwise => optimize [cheap, good, bad, slow, premium] by prompt_tokens at [100k]
}

learn {
  explore 20%
}

traffic mix {
  prompt_tokens lognormal p50 1k p95 4k
  output_tokens lognormal p50 200 p95 600
}
"#;

#[test]
fn only_options_that_keep_every_slo_within_its_slack_are_candidates() {
    let c = common::compile(POLICY).unwrap();
    let t = &c.table;
    let name = |p: u32| t.plans[p as usize].text.clone();
    // The prompts under 100k tokens (nearly all the traffic).
    let leaf = t.leaves.iter().position(|l| l.cell == Some(0)).unwrap();
    let splits: Vec<String> = t.leaves[leaf].splits.iter().map(|s| name(s.plan)).collect();
    assert_eq!(splits, ["cheap", "good"], "the floor binds on a mix");
    let candidates: Vec<String> = t.explore_candidates[leaf]
        .iter()
        .map(|&p| name(p))
        .collect();
    assert_eq!(candidates, ["premium"]);

    // Without `explore`, no lists.
    let without = POLICY.replace("learn {\n  explore 20%\n}", "");
    assert!(
        common::compile(&without)
            .unwrap()
            .table
            .explore_candidates
            .is_empty()
    );

    // A looser floor leaves room for `bad` at 20%: 0.2 × (quality moved
    // from cheap's 70% to bad's 50%) is 4 points, within 10 points of slack
    // (a table all `cheap`).
    let loose = POLICY.replace("quality >= 80%", "quality >= 60%");
    let c = common::compile(&loose).unwrap();
    let t = &c.table;
    let name = |p: u32| t.plans[p as usize].text.clone();
    assert_eq!(t.leaves.len(), 1, "all `cheap`");
    assert_eq!(name(t.leaves[0].splits[0].plan), "cheap");
    let candidates: Vec<String> = t.explore_candidates[0].iter().map(|&p| name(p)).collect();
    assert!(candidates.contains(&"bad".to_owned()), "{candidates:?}");
    assert!(!candidates.contains(&"slow".to_owned()), "{candidates:?}");
}
