//! Simulator throughput on `examples/support.route`: one iteration
//! simulates 100,000 requests, so requests per second = 1e5 / time.
//! Run with `cargo bench -p routec-sim`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use routec_check::ir::TrafficId;
use routec_opt::{CompileOptions, compile};

fn main() {
    divan::main();
}

const REQUESTS: u64 = 100_000;

#[divan::bench(sample_count = 10, sample_size = 1)]
fn support_100k(bencher: divan::Bencher) {
    let source = include_str!("../../../examples/support.route");
    let parsed = routec_syntax::parse(source);
    let checked = routec_check::check(&parsed.file);
    let table = compile(&checked.policy, source, &CompileOptions::default())
        .unwrap()
        .table;
    bencher
        .counter(divan::counter::ItemsCount::new(REQUESTS))
        .bench(|| {
            routec_sim::simulate(&checked.policy, &table, TrafficId(0), REQUESTS, 1).unwrap()
        });
}

/// The compiler's model of `examples/capacity.route` at 5x its qps: the
/// fixed point that settles every model's state (what `simulate --load`
/// computes before sampling each load).
#[divan::bench(sample_count = 10, sample_size = 1)]
fn capacity_settle_5x(bencher: divan::Bencher) {
    let source = include_str!("../../../examples/capacity.route");
    let parsed = routec_syntax::parse(source);
    let checked = routec_check::check(&parsed.file);
    let compiled = compile(&checked.policy, source, &CompileOptions::default()).unwrap();
    bencher.bench(|| compiled.load_at(5.0).unwrap());
}

/// Simulating 100,000 requests of `examples/capacity.route` at 5x its qps
/// (63% of the cheap model's calls refused, retried or falling
/// back).
#[divan::bench(sample_count = 10, sample_size = 1)]
fn capacity_100k_at_5x(bencher: divan::Bencher) {
    let source = include_str!("../../../examples/capacity.route");
    let parsed = routec_syntax::parse(source);
    let checked = routec_check::check(&parsed.file);
    let compiled = compile(&checked.policy, source, &CompileOptions::default()).unwrap();
    let point = compiled.load_at(5.0).unwrap();
    bencher
        .counter(divan::counter::ItemsCount::new(REQUESTS))
        .bench(|| {
            routec_sim::run_loaded(
                &checked.policy,
                &compiled.table,
                TrafficId(0),
                routec_sim::Load {
                    qps: point.qps,
                    models: &point.models,
                },
                REQUESTS,
                1,
                &mut |_, _| {},
            )
            .unwrap()
            .report()
        });
}
