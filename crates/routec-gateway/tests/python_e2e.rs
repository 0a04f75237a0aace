//! End to end with the official `openai` Python client: a completion, a
//! streamed completion and an error, through the gateway, against fake
//! upstreams. Needs `target/venv-openai` (or `ROUTEC_OPENAI_VENV`), which
//! `scripts/setup-test-deps` creates from `tests/e2e/requirements-openai.txt`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::path::PathBuf;

use common::{Fake, TextLoader, env, gateway, options};
use serde_json::Value as J;

const POLICY: &str = r#"
policy support {
  owner "tests"
  baseline large
}

signal task: enum { chat, code } from header "x-route-task" default chat
signal tier: enum { free, gold } from metadata "tier" default free

model small {
  provider openai
  endpoint env("SMALL_URL")
  quality 80%
}

model large {
  provider anthropic
  endpoint env("LARGE_URL")
  api_key env("LARGE_KEY")
  quality 90%
}

route {
  when task == code and tier == gold => large
  otherwise => small
}
"#;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let venv = std::env::var_os("ROUTEC_OPENAI_VENV")
        .map_or_else(|| repo_root().join("target/venv-openai"), PathBuf::from);
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "`{}` is missing: this end-to-end test needs the openai client's virtual environment; \
         run scripts/setup-test-deps",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_python_client_talks_to_the_gateway() {
    let python = python();
    let small = Fake::start().await;
    let large = Fake::start().await;
    large.text("from the large model");
    let env = env(&[
        ("SMALL_URL", small.url()),
        ("LARGE_URL", large.url()),
        ("LARGE_KEY", "k".into()),
    ]);
    let gw = gateway(TextLoader::new(POLICY), env, options()).await;
    let base = format!("http://{}/v1", gw.addr);
    let script = repo_root().join("tests/e2e/openai_client.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(&base)
            .arg("support")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: J = serde_json::from_str(stdout.trim()).unwrap();
    // The header and the metadata routed the completion to `large` (Anthropic).
    assert_eq!(got["completion"]["content"], "from the large model ");
    assert_eq!(got["completion"]["model_header"], "large");
    assert_eq!(got["completion"]["finish_reason"], "stop");
    assert_eq!(got["completion"]["prompt_tokens"], 12);
    assert!(
        got["completion"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req-")
    );
    // The stream went to `small`.
    assert_eq!(got["stream"]["content"], "hello from the fake ");
    assert_eq!(got["stream"]["finish_reason"], "stop");
    assert_eq!(got["stream"]["completion_tokens"], 4);
    assert_eq!(got["error"]["status"], 404);
    assert_eq!(got["error"]["code"], "model_not_found");
    assert_eq!(
        got["models"],
        serde_json::json!(["large", "small", "support"])
    );
    assert_eq!(large.count(), 1);
    assert_eq!(small.count(), 1);
    // The client's key was not forwarded upstream.
    assert!(small.seen()[0].headers.get("authorization").is_none());
    gw.stop().await.unwrap();
}
