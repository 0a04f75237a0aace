//! The performance targets of the front end and the compiler, measured with
//! divan (`cargo bench -p routec-conformance`); results go to BENCHMARKS.md.
//!
//! - `check_5000_lines*`: parse + check of generated 5,000-line policies
//!   (< 50 ms): a realistic mix, one rule per tenant, and adversarial overlap
//! - `decide_*`: routing decisions, 4,096 different requests per iteration
//!   (< 100 ns median per decision), on the normative example and on a
//!   generated policy with 10,000 rules
//! - `compile_example`: `routec compile` of each example without IO (< 200 ms)
//! - `check_tenants*` and `compile_tenants*` (issue 17): parse + check, and
//!   parse + check + compile, of the generated tenant policies (one model
//!   and one rule per tenant; `_overlapping`: the adversarial variant whose
//!   rules overlap) of 5,000, 20,000 and 50,000 lines (targets at 50,000
//!   lines: check < 250 ms, compile < 2 s)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmarks")]

use std::hint::black_box;

use routec_conformance::generate::{Rng, fill, request, thresholds};
use routec_conformance::{compile_file, examples, root};
use routec_runtime::{Request, Router};

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 30)]
fn check_5000_lines(bencher: divan::Bencher) {
    let text = routec_conformance::generated_front_end_policy(5_000);
    bencher.bench(|| {
        let parse = routec_syntax::parse(black_box(&text));
        let checked = routec_check::check(&parse.file);
        black_box(checked.diagnostics.len())
    });
}

/// The shape of a policy generated from a table of customers: 4,900 rules,
/// one per tenant.
#[divan::bench(sample_count = 30)]
fn check_5000_lines_tenants(bencher: divan::Bencher) {
    let text = routec_conformance::generated_checker_policy(5_000, true);
    bencher.bench(|| {
        let parse = routec_syntax::parse(black_box(&text));
        let checked = routec_check::check(&parse.file);
        black_box(checked.diagnostics.len())
    });
}

/// The adversarial shape: every rule overlaps the others, most are shadowed.
#[divan::bench(sample_count = 10)]
fn check_5000_lines_overlapping(bencher: divan::Bencher) {
    let text = routec_conformance::generated_checker_policy(5_000, false);
    bencher.bench(|| {
        let parse = routec_syntax::parse(black_box(&text));
        let checked = routec_check::check(&parse.file);
        black_box(checked.diagnostics.len())
    });
}

/// Lines of the generated tenant policies.
const TENANT_LINES: [usize; 3] = [5_000, 20_000, 50_000];

fn bench_check(bencher: divan::Bencher, text: &str) {
    bencher.bench(|| {
        let parse = routec_syntax::parse(black_box(text));
        let checked = routec_check::check(&parse.file);
        black_box(checked.diagnostics.len())
    });
}

fn bench_compile(bencher: divan::Bencher, text: &str) {
    let options = routec_opt::CompileOptions {
        traffic: None,
        compiler_version: "bench".into(),
        slo_margin: None,
    };
    bencher.bench(|| {
        let parse = routec_syntax::parse(black_box(text));
        let checked = routec_check::check(&parse.file);
        routec_opt::compile(&checked.policy, text, &options).unwrap()
    });
}

#[divan::bench(args = TENANT_LINES, sample_count = 5)]
fn check_tenants(bencher: divan::Bencher, lines: usize) {
    use routec_conformance::TenantShape;
    bench_check(
        bencher,
        &routec_conformance::generated_tenant_policy(lines, TenantShape::Disjoint),
    );
}

#[divan::bench(args = TENANT_LINES, sample_count = 5)]
fn check_tenants_overlapping(bencher: divan::Bencher, lines: usize) {
    use routec_conformance::TenantShape;
    bench_check(
        bencher,
        &routec_conformance::generated_tenant_policy(lines, TenantShape::Overlapping),
    );
}

#[divan::bench(args = TENANT_LINES, sample_count = 3)]
fn compile_tenants(bencher: divan::Bencher, lines: usize) {
    use routec_conformance::TenantShape;
    bench_compile(
        bencher,
        &routec_conformance::generated_tenant_policy(lines, TenantShape::Disjoint),
    );
}

#[divan::bench(args = TENANT_LINES, sample_count = 3)]
fn compile_tenants_overlapping(bencher: divan::Bencher, lines: usize) {
    use routec_conformance::TenantShape;
    bench_compile(
        bencher,
        &routec_conformance::generated_tenant_policy(lines, TenantShape::Overlapping),
    );
}

/// A router and 4,096 random requests for it (missing, invalid and values
/// on thresholds included).
fn router_and_requests(fixture: &routec_conformance::Fixture) -> (Router, Vec<Request>) {
    let router = Router::new(fixture.compiled.table.clone()).unwrap();
    let cuts = thresholds(&fixture.policy);
    let mut rng = Rng::new(1);
    let requests = (0..4096)
        .map(|n| {
            let mut r = router.request();
            fill(&mut r, &request(&fixture.policy, &cuts, &mut rng));
            r.set_key(&format!("user-{n}"));
            r
        })
        .collect();
    (router, requests)
}

/// One iteration decides 4,096 different requests; divan reports the time
/// of the batch and the throughput, so one decision takes time / 4,096.
fn bench_decide(bencher: divan::Bencher, fixture: &routec_conformance::Fixture) {
    let (router, requests) = router_and_requests(fixture);
    bencher
        .counter(divan::counter::ItemsCount::new(requests.len()))
        .bench_local(|| {
            let mut plans = 0u32;
            for r in &requests {
                plans = plans.wrapping_add(router.decide(black_box(r)).plan);
            }
            black_box(plans)
        });
}

#[divan::bench]
fn decide_support(bencher: divan::Bencher) {
    let fixture = compile_file(&root().join("examples/support.route")).unwrap();
    bench_decide(bencher, &fixture);
}

#[divan::bench]
fn decide_10000_rules(bencher: divan::Bencher) {
    let dir = std::env::temp_dir().join("routec-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("generated_10000.route");
    std::fs::write(&path, routec_conformance::generated_rules_policy(10_000)).unwrap();
    let fixture = compile_file(&path).unwrap();
    assert!(fixture.compiled.table.rules.len() > 10_000);
    bench_decide(bencher, &fixture);
}

fn example_names() -> Vec<String> {
    examples()
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

#[divan::bench(args = example_names(), sample_count = 20)]
fn compile_example(bencher: divan::Bencher, name: &str) {
    let path = root().join(format!("examples/{name}.route"));
    let source = std::fs::read_to_string(&path).unwrap();
    let options = routec_opt::CompileOptions {
        traffic: None,
        compiler_version: "bench".into(),
        slo_margin: None,
    };
    bencher.bench(|| {
        let parse = routec_syntax::parse(&source);
        let checked = routec_check::check(&parse.file);
        routec_opt::compile(&checked.policy, &source, &options).unwrap()
    });
}
