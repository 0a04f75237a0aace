//! `decide` must not allocate, nor must counting an attempt in the
//! per-model drift monitors: a counting global allocator proves it.

#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "a counting allocator needs unsafe; the test reads a fixture"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts allocations made by the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn decide_does_not_allocate() {
    // The counter sees this thread's allocations.
    let before = allocations();
    std::hint::black_box(vec![0u8; 16]);
    assert!(
        allocations() > before,
        "the counting allocator is not counting"
    );

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables");
    let mut tables = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            tables.push(routec_runtime::Router::load(&std::fs::read(path).unwrap()).unwrap());
        }
    }
    assert!(!tables.is_empty());
    for router in &tables {
        // Requests with every signal present, missing, invalid, and keyed.
        let n = router.table().signals.len();
        let mut requests = vec![router.request()];
        for value in [0.0, 1.0, 2.0, 0.3, 5_000.0, 150_000.0] {
            let mut r = router.request();
            for i in 0..n {
                r.set(i, value);
            }
            r.set_key("user-7");
            requests.push(r);
        }
        let mut invalid = router.request();
        for i in 0..n {
            invalid.set_invalid(i);
        }
        requests.push(invalid);

        let before = allocations();
        let mut plans = 0u64;
        for _ in 0..1_000 {
            for r in &requests {
                plans += u64::from(std::hint::black_box(router.decide(r)).plan);
            }
        }
        assert_eq!(allocations() - before, 0, "decide allocated");
        std::hint::black_box(plans);
    }
}

#[test]
fn observing_an_attempt_does_not_allocate() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/complete.json");
    let table = routec_runtime::Table::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut monitor = routec_runtime::HealthMonitor::new(&table).unwrap();
    let attempt = routec_runtime::health::Attempt {
        ttft: Some(0.2),
        latency: Some(3.0),
        failed: false,
    };
    let before = allocations();
    let mut new = 0u32;
    // Two hours, over every bucket of the ring.
    let mut counted = 0u64;
    for s in 0..7_200u32 {
        for model in 0..3 {
            new += u32::from(monitor.observe(model, attempt, f64::from(s)));
            // As a replica counts for the fleet: told each counter.
            monitor.observe_counted(model, attempt, f64::from(s), |_, bucket, counter| {
                counted = counted.wrapping_add(bucket ^ u64::from(counter));
            });
        }
    }
    assert_eq!(allocations() - before, 0, "observe allocated");
    std::hint::black_box(counted);
    assert!(new >= 119, "{new}");
}
