//! Every example compiles to a valid table that loads in the runtime.

mod common;

#[test]
fn examples_compile_and_load() {
    for (name, source) in common::examples() {
        let compiled = match common::compile(&source) {
            Ok(c) => c,
            Err(ds) => {
                for d in ds {
                    eprintln!("{name}: {} {} ({:?})", d.code, d.message, d.help);
                }
                continue;
            }
        };
        compiled.table.validate().unwrap();
        let router = routec_runtime::Router::new(compiled.table.clone()).unwrap();
        let a = compiled.table.assumed.as_ref().unwrap();
        eprintln!(
            "{name}: {} cells, {} nodes, {} leaves, {} plans; p95 {:.2}s cost/1k ${:.3} quality {:.3} score {:.3}",
            a.cells.len(),
            compiled.table.diagram.nodes.len(),
            compiled.table.leaves.len(),
            compiled.table.plans.len(),
            a.predicted.latency.p95,
            a.predicted.cost_per_1k_requests,
            a.predicted.quality,
            a.predicted.score,
        );
        for s in &a.slos {
            eprintln!(
                "  {} line {}: {} vs {} ok={} dual={:?}",
                s.constraint, s.line, s.value, s.limit, s.ok, s.dual
            );
        }
        for s in &compiled.sensitivity {
            eprintln!("  sens {:?}", s);
        }
        for d in &compiled.diagnostics {
            eprintln!("  warning {}: {}", d.code, d.message);
        }
        let _ = router;
    }
}
