//! Times the phases of `check` and `compile` on a policy file (best of N
//! runs), to see where time goes at scale; `ide update` is the editor's
//! analysis after one keystroke (`Analysis::update`). Times are the
//! thread's CPU time (`/proc/thread-self/schedstat`, updated at scheduler
//! ticks: a few milliseconds of resolution), which other work on a shared
//! machine does not inflate as it does the wall clock:
//!
//! ```sh
//! cargo run --release -p routec-conformance --example phases -- t.route [runs] [--no-compile]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a dev tool")]

use std::time::Duration;

/// The CPU time this thread has run (Linux); falls back to zero.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = &args[0];
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let compile = !args.iter().any(|a| a == "--no-compile");
    let text = std::fs::read_to_string(path).unwrap();
    // A keystroke in the middle of the file: a digit typed into a number.
    let middle = text[text.len() / 2..]
        .find("p99 ")
        .map_or(text.len() / 2, |i| text.len() / 2 + i + 4);
    let mut edited = text.clone();
    edited.insert(middle, '1');
    let mut best = [Duration::MAX; 5];
    for _ in 0..runs {
        let t0 = cpu();
        let parse = routec_syntax::parse(&text);
        let t1 = cpu();
        let checked = routec_check::check(&parse.file);
        let t2 = cpu();
        let analysis = routec_ide::Analysis::new(&text);
        std::hint::black_box(analysis.diagnostics().len());
        let t3 = cpu();
        let updated = analysis.update(&edited);
        std::hint::black_box(updated.diagnostics().len());
        let t4 = cpu();
        let mut t5 = t4;
        if compile {
            let options = routec_opt::CompileOptions {
                traffic: None,
                compiler_version: "phases".into(),
                slo_margin: None,
            };
            let compiled = routec_opt::compile(&checked.policy, &text, &options).unwrap();
            std::hint::black_box(compiled.table.rules.len());
            t5 = cpu();
        }
        for (b, d) in best
            .iter_mut()
            .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4])
        {
            *b = (*b).min(d);
        }
        std::hint::black_box(checked.diagnostics.len());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "parse {:.1} ms, check {:.1} ms, ide analysis {:.1} ms, ide update {:.1} ms, compile {:.1} ms",
        ms(best[0]),
        ms(best[1]),
        ms(best[2]),
        ms(best[3]),
        ms(best[4])
    );
}
