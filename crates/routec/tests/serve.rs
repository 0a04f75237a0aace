//! `routec serve` as a process: a policy with errors is reported exactly as
//! `routec compile` reports it (exit 1, before listening); a missing
//! environment variable names the model and the variable (exit 2); a table
//! is served (probes, model list), reloads on SIGHUP and drains on SIGTERM
//! (exit 0).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

mod common;

use common::{BIN, repo_root, run_in, temp_dir};

#[test]
fn compile_errors_are_printed_as_compile_prints_them() {
    let dir = temp_dir("serve-errors");
    std::fs::write(
        dir.join("bad.route"),
        "policy p {\n  owner \"t\"\n  baseline nowhere\n}\nroute {\n  otherwise => nowhere\n}\n",
    )
    .unwrap();
    let compile = run_in(&dir, &["compile", "bad.route", "--color", "never"], None);
    let serve = run_in(
        &dir,
        &[
            "serve",
            "bad.route",
            "--color",
            "never",
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    assert_eq!(compile.code, 1);
    assert_eq!(serve.code, 1);
    assert_eq!(serve.stderr, compile.stderr);
    assert!(!serve.stderr.contains("serving"));
}

#[test]
fn a_missing_environment_variable_names_the_model() {
    let out = Command::new(BIN)
        .args(["serve", "examples/support.route", "--listen", "127.0.0.1:0"])
        .current_dir(repo_root())
        .env_remove("SMALL_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model `small`: environment variable `SMALL_URL` is not set"),
        "{stderr}"
    );
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn a_table_is_served_reloaded_and_drained() {
    let dir = temp_dir("serve-table");
    let table = dir.join("support.table.bin");
    let out = run_in(
        &repo_root(),
        &[
            "compile",
            "examples/support.route",
            "--format",
            "bin",
            "-o",
            table.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut child = Command::new(BIN)
        .args([
            "serve",
            table.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
        ])
        .env("SMALL_URL", "http://127.0.0.1:9/v1")
        .env("MEDIUM_URL", "http://127.0.0.1:9/v1")
        .env("SEARCH_URL", "http://127.0.0.1:9/search")
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("serving `support_chat` on http://"), "{line}");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (status, body) = get(&addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"classifiers_without_endpoint\":[\"difficulty\"]"),
        "{body}"
    );
    let (_, body) = get(&addr, "/v1/models");
    for name in [
        "support_chat",
        "small",
        "medium",
        "medium_spec",
        "large",
        "search",
    ] {
        assert!(body.contains(&format!("\"id\":\"{name}\"")), "{body}");
    }
    signal(child.id(), "HUP");
    let mut reloaded = String::new();
    stderr.read_line(&mut reloaded).unwrap();
    assert!(reloaded.contains("reloaded (SIGHUP)"), "{reloaded}");
    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains("routec_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("sk-ant-test"));
    signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file that is not a decision table is refused as `routec decide`
/// refuses it (exit 2, before listening): a WebAssembly module, a corrupt
/// table, `--traffic` with a table.
#[test]
fn files_that_are_not_tables_are_refused() {
    let dir = temp_dir("serve-not-tables");
    std::fs::write(dir.join("policy.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.join("broken.table.json"), "{\"schema_version\": 2}").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["serve", "policy.wasm"],
            "is a WebAssembly module, not a decision table",
        ),
        (
            &["serve", "broken.table.json"],
            "is not a usable decision table",
        ),
        (
            &["serve", "broken.table.json", "--traffic", "launch"],
            "`--traffic` applies to a policy, not to a compiled table",
        ),
        (
            &["serve", "broken.table.json", "--slo-margin", "5%"],
            "`--slo-margin` applies to a policy, not to a compiled table",
        ),
    ];
    for (args, message) in cases {
        let mut args = args.to_vec();
        args.extend(["--listen", "127.0.0.1:0", "--color", "never"]);
        let out = run_in(&dir, &args, None);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("serving"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Timeouts are numbers of seconds; anything else is a usage error.
#[test]
fn timeouts_must_be_seconds() {
    for value in ["nan", "-1", "inf", "soon", "100000"] {
        let flag = format!("--header-timeout={value}");
        let out = run_in(
            &repo_root(),
            &["serve", "examples/support.route", &flag],
            None,
        );
        assert_eq!(out.code, 2, "{value}: {}", out.stderr);
        assert!(
            out.stderr.contains("is not a number of seconds"),
            "{value}: {}",
            out.stderr
        );
    }
}

/// A `--state` that is not a `redis://` URL is a usage error at start,
/// before listening.
#[test]
fn a_malformed_state_url_is_a_usage_error() {
    for value in [
        "localhost:6379",
        "http://localhost:6379",
        "rediss://host:6379",
        "redis://",
    ] {
        let out = run_in(
            &repo_root(),
            &[
                "serve",
                "examples/support.route",
                "--listen",
                "127.0.0.1:0",
                "--state",
                value,
            ],
            None,
        );
        assert_eq!(out.code, 2, "{value}: {}", out.stderr);
        assert!(
            out.stderr.contains("routec: --state: "),
            "{value}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("serving"), "{value}: {}", out.stderr);
    }
}

/// `drift ... => refit` through the process (docs/learn.md, "Re-fit on
/// drift"): requests that all name one task (their upstream unreachable:
/// routing, the decision log and the drift window do not need answers)
/// make the monitor fire; the policy file is compiled again on the
/// decision log's window and swapped in, and the log line summarizes the
/// change as `routec diff` compares it.
#[test]
fn a_drifted_mix_is_refitted_from_the_decision_log() {
    let dir = temp_dir("serve-refit");
    std::fs::write(
        dir.join("p.route"),
        r#"policy refit {
  owner "tests"
  baseline big
}

signal task: enum { chat, code } from header "x-task" default chat

model small {
  provider openai
  endpoint env("SMALL_URL")
  price $0.001/request
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality by task { chat 95%, code 50% }
}

model big {
  provider openai
  endpoint env("SMALL_URL")
  price $0.01/request
  latency ttft p50 300ms p95 1s, decode 50 tok/s
  quality by task { chat 96%, code 92% }
}

objective minimize cost

slo {
  quality >= 90%
}

route {
  otherwise => optimize [small, big] by task
}

traffic mix {
  task { chat 80%, code 20% }
}

faults {
  retry 0 on [5xx] backoff 0ms
}

learn {
  drift kl > 0.1 nats over 1h => refit
}
"#,
    )
    .unwrap();
    let log = dir.join("decisions.jsonl");
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .args(["serve", "p.route", "--listen", "127.0.0.1:0", "--no-watch"])
        .arg("--decision-log")
        .arg(&log)
        .env("SMALL_URL", "http://127.0.0.1:9/v1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let serving = rx
        .iter()
        .find(|l| l.contains("serving `refit` on http://"))
        .unwrap();
    let addr = serving
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    for _ in 0..150 {
        let body = r#"{"model":"refit","messages":[{"role":"user","content":"hi"}]}"#;
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nx-task: code\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 50"), "{text}");
    }
    // A scrape checks the window.
    let (_, metrics) = get(&addr, "/metrics");
    assert!(metrics.contains("routec_drift_alerts_total 1"), "{metrics}");
    let refit = rx.iter().find(|l| l.contains("re-fit on drift")).unwrap();
    assert!(
        refit.contains("swapped in the table re-fitted on the last 1h (150 routed requests;"),
        "{refit}"
    );
    assert!(
        refit.contains("routes ") && refit.contains("% of traffic differently"),
        "{refit}"
    );
    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains("routec_refits_total{result=\"ok\"} 1"),
        "{metrics}"
    );
    signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `drift errors > 2% over 1h`: a model whose endpoint refuses every
/// connection fails every attempt; once enough attempts are in its window
/// (311 at an expected 0.5%), the check a scrape makes alerts, counting
/// `routec_drift_model_alerts_total` and logging a line that names the
/// model and its observed and expected error rates.
#[test]
fn a_failing_model_is_logged_by_its_drift_monitor() {
    let dir = temp_dir("serve-model-drift");
    std::fs::write(
        dir.join("health.route"),
        r#"policy health {
  owner "tests"
  baseline broken
}

model broken {
  provider openai
  endpoint env("BROKEN_URL")
  upstream "gpt-4o-mini"
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality 80%
}

route {
  otherwise => broken
}

learn {
  drift errors > 2% over 1h => alert
}
"#,
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .current_dir(&dir)
        .args([
            "serve",
            "health.route",
            "--listen",
            "127.0.0.1:0",
            "--no-watch",
        ])
        .env("BROKEN_URL", "http://127.0.0.1:9/v1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("serving `health` on http://"), "{line}");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();
    let body = r#"{"model": "health", "messages": [{"role": "user", "content": "hi"}]}"#;
    for _ in 0..320 {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert_eq!(&text[9..12], "502", "{text}");
    }
    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains("routec_drift_model_alerts_total{model=\"broken\",measure=\"errors\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("routec_drift_error_rate{model=\"broken\"} 1.0"),
        "{metrics}"
    );
    signal(child.id(), "TERM");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{rest}");
    let alerts: Vec<&str> = rest.lines().filter(|l| l.contains("model drift")).collect();
    assert_eq!(
        alerts,
        [
            "routec serve: model drift: `broken` error rate 100.0% over the last 1h (320 attempts), 99.5 points above its expected 0.5% (threshold 2 points)"
        ],
        "{rest}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
