//! Prints the compile time of every example (run with `--release
//! --nocapture` to read the figures; the benchmark target is 200 ms).

mod common;

#[test]
#[allow(clippy::disallowed_methods, reason = "measuring compile time")]
fn compile_times() {
    for (name, source) in common::examples() {
        let policy = common::check(&source);
        let options = routec_opt::CompileOptions {
            traffic: None,
            compiler_version: "test".into(),
            slo_margin: None,
        };
        let start = std::time::Instant::now();
        let result = routec_opt::compile(&policy, &source, &options);
        let elapsed = start.elapsed();
        eprintln!(
            "{name}: {:.1} ms ({})",
            elapsed.as_secs_f64() * 1000.0,
            if result.is_ok() { "table" } else { "conflict" }
        );
    }
}
