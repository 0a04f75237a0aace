//! The wasm runtime's figures, measured with divan (`cargo bench -p
//! routec-wasm`); results go to BENCHMARKS.md beside the Node figures
//! (`node crates/routec-wasm/js/bench/decide.mjs`).
//!
//! - `native_decide`: `routec-runtime`'s decision for each example, 4,096
//!   different requests per iteration (missing, invalid and on-threshold
//!   values, with keys): the figure the module is compared with
//! - `wasmi_decide`: the same requests through the module in wasmi (an
//!   interpreter: for the record, not the target)
//! - `compile_wasm`: table to module (code generation and validation)
//! - `module_size` prints each example's module size once (bytes)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "benchmarks"
)]

use std::hint::black_box;

#[path = "../tests/common/mod.rs"]
mod common;

use common::Host;
use routec_conformance::generate::{Rng, fill, request, thresholds};
use routec_conformance::{Fixture, compile_file, examples};
use routec_runtime::{Request, Router};

fn main() {
    for path in examples() {
        let fixture = compile_file(&path).unwrap();
        let bytes = routec_wasm::compile(&fixture.compiled.table).unwrap();
        println!("module_size {}: {} bytes", fixture.name, bytes.len());
    }
    divan::main();
}

fn example_names() -> Vec<String> {
    examples()
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

fn fixture(name: &str) -> Fixture {
    compile_file(&routec_conformance::root().join(format!("examples/{name}.route"))).unwrap()
}

/// 4,096 random requests and their keys.
fn requests(fixture: &Fixture, router: &Router) -> Vec<(Request, String)> {
    let cuts = thresholds(&fixture.policy);
    let mut rng = Rng::new(1);
    (0..4096)
        .map(|n| {
            let mut r = router.request();
            fill(&mut r, &request(&fixture.policy, &cuts, &mut rng));
            let key = format!("user-{n}");
            r.set_key(&key);
            (r, key)
        })
        .collect()
}

#[divan::bench(args = example_names())]
fn native_decide(bencher: divan::Bencher, name: &str) {
    let fixture = fixture(name);
    let router = Router::new(fixture.compiled.table.clone()).unwrap();
    let requests = requests(&fixture, &router);
    bencher
        .counter(divan::counter::ItemsCount::new(requests.len()))
        .bench_local(|| {
            let mut plans = 0u32;
            for (r, _) in &requests {
                plans = plans.wrapping_add(router.decide(black_box(r)).plan);
            }
            black_box(plans)
        });
}

#[divan::bench(args = example_names(), sample_count = 20)]
fn wasmi_decide(bencher: divan::Bencher, name: &str) {
    let fixture = fixture(name);
    let router = Router::new(fixture.compiled.table.clone()).unwrap();
    let requests = requests(&fixture, &router);
    let mut host = Host::new(&routec_wasm::compile(&fixture.compiled.table).unwrap()).unwrap();
    bencher
        .counter(divan::counter::ItemsCount::new(requests.len()))
        .bench_local(|| {
            let mut plans = 0u32;
            for (r, key) in &requests {
                host.set_request(black_box(r));
                plans = plans.wrapping_add(host.decide(Some(key)).plan);
            }
            black_box(plans)
        });
}

#[divan::bench(args = example_names(), sample_count = 20)]
fn compile_wasm(bencher: divan::Bencher, name: &str) {
    let table = fixture(name).compiled.table;
    bencher.bench(|| routec_wasm::compile(black_box(&table)).unwrap());
}
