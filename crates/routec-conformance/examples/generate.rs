//! Writes a generated benchmark policy to standard output, to measure the
//! CLI on it (`BENCHMARKS.md`):
//!
//! ```sh
//! cargo run --release -p routec-conformance --example generate -- tenants 50000 > t.route
//! /usr/bin/time -v target/release/routec compile t.route -o t.json
//! ```
//!
//! Shapes: `tenants` and `tenants-overlapping` (one model and one rule per
//! tenant), `front-end`, `checker-tenants`, `checker-overlapping`, `rules`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a dev tool")]

use routec_conformance::TenantShape;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = args.first().map_or("tenants", String::as_str);
    let n: usize = args.get(1).map_or(Ok(5_000), |a| a.parse()).unwrap();
    let text = match shape {
        "tenants" => routec_conformance::generated_tenant_policy(n, TenantShape::Disjoint),
        "tenants-overlapping" => {
            routec_conformance::generated_tenant_policy(n, TenantShape::Overlapping)
        }
        "front-end" => routec_conformance::generated_front_end_policy(n),
        "checker-tenants" => routec_conformance::generated_checker_policy(n, true),
        "checker-overlapping" => routec_conformance::generated_checker_policy(n, false),
        "rules" => routec_conformance::generated_rules_policy(n),
        other => {
            eprintln!("unknown shape `{other}`");
            std::process::exit(2);
        }
    };
    print!("{text}");
}
