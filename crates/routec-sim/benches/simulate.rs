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
