//! Reload under load: continuous traffic while the table is swapped
//! repeatedly between good and broken policies. No request fails, broken
//! tables are refused (and counted) while the old one keeps serving, and
//! the good tables take effect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Act, Fake, TextLoader, chat, client, env, gateway, metric, options};

fn policy(target: &str) -> String {
    format!(
        r#"
policy gw {{
  owner "tests"
  baseline a
}}

model a {{
  provider openai
  endpoint env("A_URL")
  quality 80%
}}

model b {{
  provider openai
  endpoint env("B_URL")
  quality 80%
}}

route {{
  otherwise => {target}
}}
"#
    )
}

const BROKEN: &str =
    "policy gw {\n  owner \"tests\"\n  baseline a\n}\nroute {\n  otherwise => nowhere\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_never_fail_a_request() {
    let a = Fake::start().await;
    let b = Fake::start().await;
    // Answers take a little while, so requests are in flight during swaps.
    a.always(Act::slow_body(2));
    b.always(Act::slow_body(2));
    let loader = TextLoader::new(&policy("a"));
    let env = env(&[("A_URL", a.url()), ("B_URL", b.url())]);
    let gw = gateway(loader.clone(), env, options()).await;
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (url, stop, ok) = (url.clone(), stop.clone(), ok.clone());
        clients.push(tokio::spawn(async move {
            let http = client();
            let mut failures = Vec::new();
            // Bounded: at most 10,000 requests per client.
            for _ in 0..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = http.post(&url).json(&chat("gw")).send().await.unwrap();
                let status = r.status().as_u16();
                let body = r.text().await.unwrap();
                if status == 200 && body.contains("hello from the fake") {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(format!("{status}: {body}"));
                }
            }
            failures
        }));
    }
    let app = gw.app.clone();
    let mut refused = 0;
    let mut served_b_after_swap = false;
    for round in 0..6 {
        let target = if round % 2 == 0 { "b" } else { "a" };
        loader.set(BROKEN);
        assert!(app.reload("test: broken").await.is_err());
        refused += 1;
        loader.set(&policy(target));
        app.reload("test: good").await.unwrap();
        assert_eq!(
            app.table.load().router.table().plans[0].text,
            target,
            "the good table took effect"
        );
        // Let traffic run on this table.
        let before = (a.count(), b.count());
        for _ in 0..200 {
            let now = (a.count(), b.count());
            let moved = if target == "b" {
                now.1 > before.1
            } else {
                now.0 > before.0
            };
            if moved {
                if target == "b" {
                    served_b_after_swap = true;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for c in clients {
        failures.extend(c.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(ok.load(Ordering::Relaxed) > 0);
    assert!(served_b_after_swap);
    let m = common::scrape(gw.addr, None).await;
    assert_eq!(
        metric(&m, r#"routec_reloads_total{result="refused"}"#),
        f64::from(refused)
    );
    assert_eq!(metric(&m, r#"routec_reloads_total{result="ok"}"#), 6.0);
    let answered: f64 = m
        .lines()
        .filter(|l| l.starts_with("routec_requests_total{") && l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(answered as usize, ok.load(Ordering::Relaxed));
    gw.stop().await.unwrap();
}

/// A graceful stop lets a request in flight finish.
#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let a = Fake::start().await;
    a.always(Act::slow_first_token(300));
    let env = env(&[("A_URL", a.url()), ("B_URL", a.url())]);
    let gw = gateway(TextLoader::new(&policy("a")), env, options()).await;
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    let pending = tokio::spawn(async move {
        let r = client().post(url).json(&chat("gw")).send().await.unwrap();
        r.status().as_u16()
    });
    for _ in 0..200 {
        if a.count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = gw.addr;
    gw.stop().await.unwrap();
    assert_eq!(pending.await.unwrap(), 200);
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Compiles the policy in a file (as `routec serve POLICY.route` does).
#[derive(Debug)]
struct FileLoader(std::path::PathBuf);

impl routec_gateway::Loader for FileLoader {
    fn load(&self) -> Result<routec_runtime::Router, String> {
        let text = std::fs::read_to_string(&self.0).map_err(|e| e.to_string())?;
        routec_runtime::Router::new(common::compile(&text)?).map_err(|e| e.to_string())
    }
    fn watched(&self) -> Vec<std::path::PathBuf> {
        vec![self.0.clone()]
    }
}

/// Waits (bounded) until the metrics show `n` reloads with `result`.
async fn reloads(addr: std::net::SocketAddr, result: &str, n: f64) -> f64 {
    let name = format!(r#"routec_reloads_total{{result="{result}"}}"#);
    let mut got = 0.0;
    for _ in 0..1000 {
        let m = common::scrape(addr, None).await;
        got = metric(&m, &name);
        if got >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    got
}

/// A change to the watched file reloads the table; a broken version is
/// refused and the previous table keeps serving.
#[tokio::test]
async fn a_changed_file_is_reloaded_and_a_broken_one_refused() {
    let a = Fake::start().await;
    let b = Fake::start().await;
    let dir = std::env::temp_dir().join(format!("routec-gw-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gw.route");
    std::fs::write(&file, policy("a")).unwrap();
    let mut opts = options();
    opts.watch_interval = Some(Duration::from_millis(20));
    let env = env(&[("A_URL", a.url()), ("B_URL", b.url())]);
    let gw = gateway(Arc::new(FileLoader(file.clone())), env, opts).await;
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    let served = |url: String| async move {
        let r = client().post(url).json(&chat("gw")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.headers()["x-routec-model"].to_str().unwrap().to_owned()
    };
    assert_eq!(served(url.clone()).await, "a");
    std::fs::write(&file, BROKEN).unwrap();
    assert_eq!(reloads(gw.addr, "refused", 1.0).await, 1.0);
    assert_eq!(served(url.clone()).await, "a");
    // Different from the first version in length, so the change is seen
    // even where modification times are coarse.
    std::fs::write(&file, policy("b") + "\n// v2\n").unwrap();
    assert_eq!(reloads(gw.addr, "ok", 1.0).await, 1.0);
    assert_eq!(served(url.clone()).await, "b");
    gw.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
