//! The gateway's load benchmark (not a test; see BENCHMARKS.md):
//!
//! ```sh
//! loadgen fake 127.0.0.1:9000
//! taskset -c 0 loadgen gateway TABLE.json 127.0.0.1:8080   # or: routec serve
//! loadgen load URL MODEL RPS SECONDS [stream] [PID]
//! ```
//!
//! `gateway` serves a compiled table exactly as `routec serve TABLE.json`
//! does (the same crate and defaults), without building the compiler;
//! `scripts/bench-gateway` runs the whole benchmark.
//!
//! `fake` serves an OpenAI-compatible upstream that answers at once (a
//! short completion, streamed when asked). `load` is an open-loop
//! generator: requests start on a fixed schedule (RPS per second, for
//! SECONDS) whatever the answers do, so a slow server cannot slow the
//! offered load (no coordinated omission); each request's latency is
//! measured from its *scheduled* start to the end of the body (or, with
//! `stream`, to the first body byte). With PID it samples that process's
//! CPU time and resident memory from /proc. It prints p50, p90, p99,
//! p99.9 and max in microseconds, errors, CPU per request and peak RSS.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt;

fn usage() -> ! {
    eprintln!(
        "usage: loadgen fake ADDR | loadgen gateway TABLE ADDR | loadgen load URL MODEL RPS SECONDS [stream] [PID]"
    );
    std::process::exit(2)
}

async fn fake_answer(body: Bytes) -> Response {
    let stream = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|j| j.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let chunk = |c: &str| {
        format!(
            "data: {{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{c}\"}},\"finish_reason\":null}}]}}\n\n"
        )
    };
    if stream {
        let mut text = String::new();
        for w in ["The ", "answer ", "is ", "42."] {
            text.push_str(&chunk(w));
        }
        text.push_str("data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n");
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(text))
            .unwrap_or_default()
    } else {
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(
                "{\"id\":\"b\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"The answer is 42.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4}}",
            ))
            .unwrap_or_default()
    }
}

/// Reads a compiled table file (what `routec serve TABLE` does).
#[derive(Debug)]
struct TableFile(std::path::PathBuf);

impl routec_gateway::Loader for TableFile {
    fn load(&self) -> Result<routec_runtime::Router, String> {
        let bytes = std::fs::read(&self.0).map_err(|e| e.to_string())?;
        routec_runtime::Router::load(&bytes).map_err(|e| e.to_string())
    }
    fn watched(&self) -> Vec<std::path::PathBuf> {
        vec![self.0.clone()]
    }
}

fn proc_stat(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line (12 and 13 after the name).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    // CLK_TCK is 100 on Linux.
    Some((ticks / 100.0, rss))
}

fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn load(url: String, model: String, rps: f64, seconds: f64, stream: bool, pid: Option<u32>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()
        .unwrap_or_default();
    let body = Bytes::from(
        serde_json::json!({
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": "What is the answer?"}],
        })
        .to_string(),
    );
    let total = (rps * seconds).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rps);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    // Warm the connection pool.
    for _ in 0..16 {
        let _ = client
            .post(&url)
            .body(body.clone())
            .header("content-type", "application/json")
            .send()
            .await;
    }
    let before = pid.and_then(proc_stat);
    let start = Instant::now();
    let mut peak_rss = before.map_or(0, |b| b.1);
    // Resident memory: the peak (sampled every 200 ms) and a reading every
    // 10 seconds, to see whether it stays flat over a long run.
    let sampler = pid.map(|p| {
        tokio::spawn(async move {
            let mut peak = 0;
            let mut series = Vec::new();
            let mut next = start;
            loop {
                if let Some((_, rss)) = proc_stat(p) {
                    peak = peak.max(rss);
                    if Instant::now() >= next {
                        series.push(rss);
                        next += Duration::from_secs(10);
                    }
                }
                if Instant::now() > start + Duration::from_secs_f64(seconds + 2.0) {
                    return (peak, series);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, url, body, tx) = (client.clone(), url.clone(), body.clone(), tx.clone());
        tokio::spawn(async move {
            let r = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let done = match r {
                Ok(r) if r.status().is_success() => {
                    let mut s = r.bytes_stream();
                    if stream {
                        let first = s.next().await;
                        let t = scheduled.elapsed();
                        while s.next().await.is_some() {}
                        first.and_then(Result::ok).map(|_| t)
                    } else {
                        while s.next().await.is_some() {}
                        Some(scheduled.elapsed())
                    }
                }
                _ => None,
            };
            let _ = tx.send(done.map(|d| d.as_micros() as u64));
        });
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    while let Some(r) = rx.recv().await {
        match r {
            Some(us) => latencies.push(us),
            None => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = pid.and_then(proc_stat);
    let mut series = Vec::new();
    if let Some(s) = sampler
        && let Ok((peak, samples)) = s.await
    {
        peak_rss = peak_rss.max(peak);
        series = samples;
    }
    latencies.sort_unstable();
    let cpu = match (before, after) {
        (Some(b), Some(a)) => format!("{:.1}", (a.0 - b.0) / total as f64 * 1e6),
        _ => "-".into(),
    };
    println!(
        "rps={rps} seconds={seconds} stream={stream} sent={total} ok={} errors={errors} achieved_rps={:.0} \
         p50_us={} p90_us={} p99_us={} p999_us={} max_us={} cpu_us_per_req={cpu} rss_start_kb={} rss_peak_kb={} rss_end_kb={} rss_every_10s_kb={series:?}",
        latencies.len(),
        total as f64 / elapsed,
        pct(&latencies, 0.5),
        pct(&latencies, 0.9),
        pct(&latencies, 0.99),
        pct(&latencies, 0.999),
        latencies.last().copied().unwrap_or(0),
        before.map_or(0, |b| b.1),
        peak_rss,
        after.map_or(0, |a| a.1),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|_| usage());
    match args.first().map(String::as_str) {
        Some("fake") => {
            let addr: SocketAddr = args
                .get(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| usage());
            runtime.block_on(async move {
                let app = axum::Router::new()
                    .route("/v1/chat/completions", axum::routing::post(fake_answer));
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .unwrap_or_else(|_| usage());
                let _ = axum::serve(listener, app).await;
            });
        }
        Some("gateway") => {
            let path = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| usage()));
            let addr: SocketAddr = args
                .get(2)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| usage());
            runtime.block_on(async move {
                let options = routec_gateway::Options {
                    listen: addr,
                    watch_interval: None,
                    ..routec_gateway::Options::default()
                };
                let env: routec_gateway::Env = std::sync::Arc::new(|k: &str| std::env::var(k).ok());
                let running = routec_gateway::start(
                    std::sync::Arc::new(TableFile(path)),
                    options,
                    env,
                    std::sync::Arc::new(routec_gateway::LocalState::new()),
                    true,
                )
                .await
                .unwrap_or_else(|e| {
                    eprintln!("loadgen: {e}");
                    std::process::exit(1)
                });
                eprintln!("loadgen: gateway on http://{}", running.addr);
                let _ = running.wait().await;
            });
        }
        Some("load") => {
            let url = args.get(1).cloned().unwrap_or_else(|| usage());
            let model = args.get(2).cloned().unwrap_or_else(|| usage());
            let rps: f64 = args
                .get(3)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| usage());
            let seconds: f64 = args
                .get(4)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| usage());
            let stream = args.iter().any(|a| a == "stream");
            let pid = args.iter().skip(5).find_map(|a| a.parse::<u32>().ok());
            runtime.block_on(load(url, model, rps, seconds, stream, pid));
        }
        _ => usage(),
    }
}
