//! Times the phases of `check` and `compile` on a policy file (wall clock,
//! best of N runs), to see where time goes at scale:
//!
//! ```sh
//! cargo run --release -p routec-conformance --example phases -- t.route [runs] [--no-compile]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a dev tool")]
#![expect(
    clippy::disallowed_methods,
    reason = "a dev tool reads the file and the clock"
)]

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = &args[0];
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let compile = !args.iter().any(|a| a == "--no-compile");
    let text = std::fs::read_to_string(path).unwrap();
    let mut best = [Duration::MAX; 4];
    for _ in 0..runs {
        let t0 = Instant::now();
        let parse = routec_syntax::parse(&text);
        let t1 = Instant::now();
        let checked = routec_check::check(&parse.file);
        let t2 = Instant::now();
        let analysis = routec_ide::Analysis::new(&text);
        let n = analysis.diagnostics().len();
        let t3 = Instant::now();
        std::hint::black_box(n);
        let mut t4 = t3;
        if compile {
            let options = routec_opt::CompileOptions {
                traffic: None,
                compiler_version: "phases".into(),
            };
            let compiled = routec_opt::compile(&checked.policy, &text, &options).unwrap();
            std::hint::black_box(compiled.table.rules.len());
            t4 = Instant::now();
        }
        for (b, d) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *b = (*b).min(d);
        }
        std::hint::black_box(checked.diagnostics.len());
    }
    println!(
        "parse {:.1} ms, check {:.1} ms, ide analysis {:.1} ms, compile {:.1} ms",
        best[0].as_secs_f64() * 1e3,
        best[1].as_secs_f64() * 1e3,
        best[2].as_secs_f64() * 1e3,
        best[3].as_secs_f64() * 1e3
    );
}
