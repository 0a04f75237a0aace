//! The simulator predicts the gateway. Fake upstreams behave as the model
//! of `docs/semantics.md` says a model behaves (TTFT drawn from the
//! declared quantiles, a base error rate, decoding at the declared rate;
//! time scaled down to tens of milliseconds), the gateway serves a policy
//! in front of them, and the observed p50/p95 latency, retry and fallback
//! rates and cost per request are compared with `routec simulate` of the
//! same policy, within bounds derived from the sample size (plus a slack
//! for the gateway's own overhead on a shared machine).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use routec_opt::model::{BASE_ERROR_RATE, DEFAULT_OUTPUT_TOKENS, LatencyQuantiles};
use serde_json::{Value as J, json};

use common::{TextLoader, client, env, gateway, options};

const POLICY: &str = r#"
policy agree {
  owner "tests"
  baseline backup
}

model primary {
  provider openai
  endpoint env("P_URL")
  price input $1/Mtok, output $4/Mtok
  latency ttft p50 30ms p95 90ms, decode 5000 tok/s
  quality 80%
  fallback backup
}

model backup {
  provider openai
  endpoint env("B_URL")
  price input $2/Mtok, output $8/Mtok
  latency ttft p50 15ms p95 40ms, decode 10000 tok/s
  quality 90%
}

route {
  otherwise => primary
}

faults {
  ttft timeout 60ms
  retry 1 on [5xx, timeout] backoff 5ms
}

traffic steady {
  qps 10
  prompt_tokens 1000
}
"#;

/// Requests sent through the gateway.
const REQUESTS: usize = 600;
/// Requests in flight at once.
const CONCURRENCY: usize = 12;
/// The prompt's tokens: the traffic's (1000), which the gateway's estimate
/// of the prompt below also gives (so failed attempts cost the same).
const PROMPT_TOKENS: u64 = 1000;

#[derive(Debug)]
struct ModelFake {
    ttft: LatencyQuantiles,
    decode_rate: f64,
    rng: Mutex<u64>,
    calls: AtomicU64,
}

impl ModelFake {
    fn uniform(&self) -> f64 {
        let mut s = self.rng.lock().unwrap();
        // xorshift64*
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        let x = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// The model's behaviour: a base error (after the median TTFT) with
/// probability `BASE_ERROR_RATE`, else the first token after a TTFT drawn
/// from the declared quantiles and the rest decoded at the declared rate.
async fn behave(State(m): State<Arc<ModelFake>>, _body: Bytes) -> Response {
    m.calls.fetch_add(1, Ordering::Relaxed);
    let (u_err, u_ttft) = (m.uniform(), m.uniform());
    if u_err < BASE_ERROR_RATE {
        tokio::time::sleep(Duration::from_secs_f64(m.ttft.p50())).await;
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "{}").into_response();
    }
    let ttft = Duration::from_secs_f64(m.ttft.sample(u_ttft));
    let n = DEFAULT_OUTPUT_TOKENS as u64;
    // The first token, then the rest after the decode time (one sleep:
    // the timer's granularity would add up over many).
    let pieces = 2u64;
    let decode = Duration::from_secs_f64(DEFAULT_OUTPUT_TOKENS / m.decode_rate);
    let chunk = |content: &str| -> Bytes {
        Bytes::from(format!(
            "data: {}\n\n",
            json!({"id": "a", "object": "chat.completion.chunk", "created": 0, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
        ))
    };
    let mut items: Vec<(Duration, Bytes)> = vec![(ttft, chunk("first "))];
    for _ in 1..pieces {
        items.push((decode / (pieces - 1) as u32, chunk("more ")));
    }
    items.push((
        Duration::ZERO,
        Bytes::from(format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"id": "a", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [],
                   "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n}})
        )),
    ));
    let stream = futures_util::stream::unfold(items.into_iter(), |mut it| async move {
        let (delay, b) = it.next()?;
        tokio::time::sleep(delay).await;
        Some((Ok::<Bytes, std::io::Error>(b), it))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn start_fake(p50: f64, p95: f64, decode_rate: f64, seed: u64) -> (String, Arc<ModelFake>) {
    let m = Arc::new(ModelFake {
        ttft: LatencyQuantiles::from_quantiles(&[(0.5, p50), (0.95, p95)]).unwrap(),
        decode_rate,
        rng: Mutex::new(seed),
        calls: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(behave))
        .with_state(m.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, m)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The share of the sample at or below `x`.
fn ecdf(sorted: &[f64], x: f64) -> f64 {
    sorted.partition_point(|&v| v <= x) as f64 / sorted.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_predicts_the_gateway() {
    // The prediction.
    let source = routec_driver::Source::buffer("agree.route", POLICY, None);
    let compiled = routec_driver::compile_source(source, None).unwrap();
    let mut run = routec_sim::run(
        &compiled.policy,
        &compiled.compiled.table,
        routec_check::ir::TrafficId(0),
        200_000,
        7,
    )
    .unwrap();
    let predicted = run.report().metrics;

    // The gateway.
    let (p_url, primary) = start_fake(0.030, 0.090, 5000.0, 0x9E37_79B9_7F4A_7C15).await;
    let (b_url, backup) = start_fake(0.015, 0.040, 10000.0, 0xD1B5_4A32_D192_ED03).await;
    let dir = std::env::temp_dir().join(format!("routec-gw-agree-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("decisions.jsonl");
    let _ = std::fs::remove_file(&log);
    let mut opts = options();
    opts.decision_log = Some(log.clone());
    let gw = gateway(
        TextLoader::new(POLICY),
        env(&[("P_URL", p_url), ("B_URL", b_url)]),
        opts,
    )
    .await;
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    // "user\n" + content + "\n" is 3976 characters: 994 tokens by the
    // estimate, plus 3 + 3: the traffic's 1000.
    let content = "x".repeat(3970);
    let body = json!({"model": "agree", "messages": [{"role": "user", "content": content}]});
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (url, body, next) = (url.clone(), body.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let http = client();
            let mut statuses = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < REQUESTS as u64 {
                let r = http.post(&url).json(&body).send().await.unwrap();
                statuses.push(r.status().as_u16());
                let _ = r.bytes().await;
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for w in workers {
        statuses.extend(w.await.unwrap());
    }
    gw.stop().await.unwrap();
    let lines: Vec<J> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(lines.len(), REQUESTS);
    assert_eq!(statuses.len(), REQUESTS);
    let n = REQUESTS as f64;

    let mut latencies: Vec<f64> = lines
        .iter()
        .map(|l| l["decision"]["latency_ms"].as_f64().unwrap() / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let retries: f64 = lines
        .iter()
        .map(|l| l["decision"]["retries"].as_f64().unwrap())
        .sum::<f64>()
        / n;
    let fallbacks: f64 = lines
        .iter()
        .map(|l| l["decision"]["fallbacks"].as_f64().unwrap())
        .sum::<f64>()
        / n;
    let costs: Vec<f64> = lines
        .iter()
        .map(|l| l["decision"]["cost_usd"].as_f64().unwrap())
        .collect();
    let cost = costs.iter().sum::<f64>() / n;
    let cost_sd = (costs.iter().map(|c| (c - cost).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();

    // Calls per request: the simulator counts retries and fallbacks as calls.
    let p_calls = predicted.calls[0];
    let b_calls = predicted.calls[1];
    let g_p_calls = primary.calls.load(Ordering::Relaxed) as f64 / n;
    let g_b_calls = backup.calls.load(Ordering::Relaxed) as f64 / n;
    let report = format!(
        "predicted: p50 {:.4}s p95 {:.4}s, calls {p_calls:.4}/{b_calls:.4}, cost {:.6}\n\
         observed:  p50 {:.4}s p95 {:.4}s, calls {g_p_calls:.4}/{g_b_calls:.4} (retries {retries:.4}, fallbacks {fallbacks:.4}), cost {cost:.6}",
        predicted.latency.p50,
        predicted.latency.p95,
        predicted.cost_per_1k_requests / 1000.0,
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.95),
    );
    eprintln!("{report}");

    // Rates: four standard errors of a proportion (the simulator's own
    // error is negligible at 200,000 requests), plus 2 points for timer
    // jitter around the 60 ms TTFT cap on a shared machine.
    let band = |p: f64| 4.0 * (p.max(0.01) * (1.0 - p.min(0.99)) / n).sqrt() + 0.02;
    // Retries are the extra calls to the primary; fallbacks the calls to the backup.
    assert!(
        (g_p_calls - p_calls).abs() <= band(p_calls - 1.0),
        "primary calls\n{report}"
    );
    assert!(
        (retries - (p_calls - 1.0)).abs() <= band(p_calls - 1.0),
        "retries\n{report}"
    );
    assert!(
        (g_b_calls - b_calls).abs() <= band(b_calls),
        "backup calls\n{report}"
    );
    assert!(
        (fallbacks - b_calls).abs() <= band(b_calls),
        "fallbacks\n{report}"
    );
    // Percentiles: the predicted p50 (p95) must lie where the observed
    // sample puts the 50% (95%) quantile, within four standard errors of
    // the empirical CDF there, after allowing the gateway 15 ms of overhead.
    for (q, predicted_q) in [(0.5, predicted.latency.p50), (0.95, predicted.latency.p95)] {
        let se = 4.0 * (q * (1.0 - q) / n).sqrt();
        let slack = 0.015;
        assert!(
            ecdf(&latencies, predicted_q + slack) >= q - se,
            "p{}\n{report}",
            q * 100.0
        );
        assert!(
            ecdf(&latencies, predicted_q - slack) <= q + se,
            "p{}\n{report}",
            q * 100.0
        );
    }
    // Cost per request: four standard errors of the mean.
    let predicted_cost = predicted.cost_per_1k_requests / 1000.0;
    assert!(
        (cost - predicted_cost).abs() <= 4.0 * cost_sd / n.sqrt() + 1e-6,
        "cost\n{report}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 502 || s == 504),
        "{statuses:?}"
    );
}
