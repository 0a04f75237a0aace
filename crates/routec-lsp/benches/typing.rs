//! What typing costs the machine: the CPU time `routec lsp` spends while a
//! user types into a policy that checks at every keystroke (characters of
//! a comment), over the real server and JSON-RPC framing in process.
//! `cargo bench -p routec-lsp --bench typing`; results go to BENCHMARKS.md.
//!
//! Two scenarios, from issue 15:
//! - `support.route`: 100 keystrokes, one every 30 ms;
//! - a generated 5,000-line policy: 30 keystrokes, one every 100 ms.
//!
//! For each, the process's CPU time (user + system, every thread, from
//! `/proc/self/stat`) and wall time from the first keystroke until the last
//! version's simulation has landed (its inlay hint refresh), and the CPU
//! time spent while typing. Each runs with the server's default settings
//! and, for comparison, with `compile_delay` zero: a simulation started
//! after every keystroke's diagnostics, as before the debounce.
//! Linux only (it reads `/proc`); a scenario, not a statistical benchmark:
//! run it on a quiet machine and read the figures as such.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "benchmarks"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Client, URI, refresh_capabilities};
use routec_lsp::Config;

fn main() {
    let support = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/support.route"
    ))
    .unwrap();
    let large = routec_conformance::generated_front_end_policy(5_000);
    println!(
        "scenario | simulation delay | keystrokes | CPU while typing | CPU until settled | wall until settled"
    );
    for (name, text, keys, every) in [
        ("support.route", &support, 100, Duration::from_millis(30)),
        ("5,000 lines", &large, 30, Duration::from_millis(100)),
    ] {
        for delay in [Some(Duration::ZERO), None] {
            let config = match delay {
                Some(d) => Config {
                    compile_delay: d,
                    ..Config::default()
                },
                None => Config::default(),
            };
            let shown = config.compile_delay;
            let r = typing(config, text, keys, every);
            println!(
                "{name} | {shown:?} | {keys} at {every:?} | {:.2} s | {:.2} s | {:.2} s",
                r.cpu_typing.as_secs_f64(),
                r.cpu_total.as_secs_f64(),
                r.wall_total.as_secs_f64()
            );
        }
    }
}

struct Run {
    cpu_typing: Duration,
    cpu_total: Duration,
    wall_total: Duration,
}

/// User + system CPU time of this process so far (all threads).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12
    // after the state (field 3).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux platform Rust supports.
    Duration::from_millis(ticks * 10)
}

fn typing(config: Config, text: &str, keys: usize, every: Duration) -> Run {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut client, _) = Client::start(config, refresh_capabilities()).await;
        // The comment being typed is already open, so every version checks.
        let mut current = format!("{text}\n// ");
        client.open(URI, 1, &current).await;
        client.diagnostics(URI, 1).await;
        client.server_request("workspace/inlayHint/refresh").await;
        client.take_backlog("textDocument/publishDiagnostics");
        let typed = "the quick brown fox jumps over the lazy dog ";
        let (cpu0, wall0) = (cpu(), Instant::now());
        let mut version = 1;
        for i in 0..keys {
            let next = Instant::now() + every;
            version += 1;
            current.push(typed.as_bytes()[i % typed.len()] as char);
            client.change(URI, version, &current).await;
            // What the server sends meanwhile waits in the pipe (1 MiB).
            tokio::time::sleep_until(next.into()).await;
        }
        let cpu_typing = cpu() - cpu0;
        // Settled: the last version's simulation landed. Its refresh comes
        // after its diagnostics; any refresh before them was for an older
        // version.
        client.diagnostics(URI, version).await;
        client.server_requests.clear();
        client.server_request("workspace/inlayHint/refresh").await;
        let run = Run {
            cpu_typing,
            cpu_total: cpu() - cpu0,
            wall_total: wall0.elapsed(),
        };
        client.shutdown().await;
        run
    })
}
