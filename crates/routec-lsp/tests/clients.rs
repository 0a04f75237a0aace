//! What a client gets depends on what it declared at `initialize`
//! (snippets, markdown, kinds, related information, nested symbols, code
//! action literals), and the protocol's edge cases (unreadable messages,
//! `exit` without `shutdown`), over the real server and framing in
//! process. Then the typing path: formatting as small edits, the last good
//! inlay hints while the file has errors, and the simulation waiting for
//! typing to pause. The capability sets of real editors are exercised by
//! the pytest-lsp suite (`editors/tests/`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Client, URI, apply_edits, at, cursor, fixture, refresh_capabilities, slice};
use routec_lsp::{Config, Exit};
use serde_json::{Value, json};

/// Capabilities of a client that declares only these `textDocument` ones.
fn text_document(caps: Value) -> Value {
    json!({ "textDocument": caps })
}

/// The completion items at the start of an empty line between items.
async fn top_level_completions(client: &mut Client) -> Vec<Value> {
    let (text, position) = cursor(&fixture("small.route").replacen("\n\nslice", "\n$0\nslice", 1));
    client.open(URI, 1, &text).await;
    let items = client
        .result("textDocument/completion", at(&position))
        .await;
    items.as_array().unwrap().clone()
}

/// The snippet item `label` (beside the keyword of the same name).
fn snippet<'a>(items: &'a [Value], label: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["label"] == label && i["kind"] == 15)
        .unwrap_or_else(|| panic!("no snippet `{label}` in {items:?}"))
}

#[tokio::test]
async fn snippets_go_only_to_clients_that_support_them() {
    let with =
        text_document(json!({ "completion": { "completionItem": { "snippetSupport": true } } }));
    let (mut client, _) = Client::start(Config::default(), with).await;
    let items = top_level_completions(&mut client).await;
    let model = snippet(&items, "model");
    assert_eq!(model["insertTextFormat"], 2, "{model}");
    assert!(
        model["textEdit"]["newText"]
            .as_str()
            .unwrap()
            .starts_with("model ${1:name} {"),
        "{model}"
    );
    client.shutdown().await;

    // Neovim 0.7, Emacs eglot without yasnippet: no snippet syntax at all.
    for caps in [
        json!({}),
        text_document(json!({ "completion": { "completionItem": { "snippetSupport": false } } })),
    ] {
        let (mut client, _) = Client::start(Config::default(), caps).await;
        let items = top_level_completions(&mut client).await;
        assert!(items.len() > 5, "{items:?}");
        for item in &items {
            assert_eq!(item["insertTextFormat"], 1, "{item}");
            let text = item["textEdit"]["newText"].as_str().unwrap();
            assert!(!text.contains("${") && !text.contains("$0"), "{item}");
        }
        let model = snippet(&items, "model");
        assert_eq!(
            model["textEdit"]["newText"], "model name {\n  provider openai\n\n}",
            "{model}"
        );
        client.shutdown().await;
    }
}

async fn hover_of(caps: Value) -> Value {
    let (mut client, _) = Client::start(Config::default(), caps).await;
    let (text, position) =
        cursor(&fixture("small.route").replacen("otherwise => fast", "otherwise => f$0ast", 1));
    client.open(URI, 1, &text).await;
    let hover = client.result("textDocument/hover", at(&position)).await;
    client.shutdown().await;
    hover["contents"].clone()
}

#[tokio::test]
async fn hovers_are_markdown_only_for_clients_that_prefer_it() {
    let markdown = hover_of(text_document(
        json!({ "hover": { "contentFormat": ["markdown", "plaintext"] } }),
    ))
    .await;
    assert_eq!(markdown["kind"], "markdown");
    assert!(
        markdown["value"]
            .as_str()
            .unwrap()
            .starts_with("```route\nmodel fast")
    );
    // eglot without markdown-mode; a client that says nothing.
    for caps in [
        text_document(json!({ "hover": { "contentFormat": ["plaintext"] } })),
        text_document(json!({ "hover": { "contentFormat": ["plaintext", "markdown"] } })),
        json!({}),
    ] {
        let plain = hover_of(caps).await;
        assert_eq!(plain["kind"], "plaintext", "{plain}");
        let value = plain["value"].as_str().unwrap();
        assert!(
            value.starts_with("model fast\n- provider: openai"),
            "{value}"
        );
        assert!(value.contains("A fast, cheap model."), "{value}");
        assert!(!value.contains("```") && !value.contains("**"), "{value}");
    }
}

/// The kinds of a (nested) symbol list, depth first.
fn symbol_kinds(symbols: &Value, out: &mut Vec<u64>) {
    for s in symbols.as_array().unwrap() {
        out.push(s["kind"].as_u64().unwrap());
        if let Some(children) = s.get("children") {
            symbol_kinds(children, out);
        }
    }
}

#[tokio::test]
async fn a_client_without_value_sets_gets_only_the_first_versions_kinds() {
    let (mut client, _) = Client::start(Config::default(), json!({})).await;
    let (text, position) =
        cursor(&fixture("small.route").replacen("when task == code", "when task == c$0", 1));
    client.open(URI, 1, &text).await;
    let items = client
        .result("textDocument/completion", at(&position))
        .await;
    // Enum members (20) are not among LSP 1.0's kinds: values (12).
    let kinds: Vec<u64> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_u64().unwrap())
        .collect();
    assert_eq!(kinds, [12, 12], "{items}");

    // No hierarchical symbol support: a flat list of SymbolInformation,
    // children naming their parent.
    let symbols = client
        .result(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let list = symbols.as_array().unwrap();
    assert!(
        list.iter()
            .all(|s| s.get("location").is_some() && s.get("children").is_none())
    );
    let chat = list.iter().find(|s| s["name"] == "chat").unwrap();
    assert_eq!(chat["containerName"], "task", "{chat}");
    let mut kinds = Vec::new();
    symbol_kinds(&symbols, &mut kinds);
    let workspace = client
        .result("workspace/symbol", json!({ "query": "" }))
        .await;
    symbol_kinds(&workspace, &mut kinds);
    assert!(kinds.iter().all(|k| (1..=18).contains(k)), "{kinds:?}");

    // A client that declares the kinds gets them as they are.
    client.shutdown().await;
    let (mut client, _) = Client::start(Config::default(), refresh_capabilities()).await;
    client.open(URI, 1, &text).await;
    let symbols = client
        .result(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let mut kinds = Vec::new();
    symbol_kinds(&symbols, &mut kinds);
    assert!(kinds.contains(&24), "rules are events: {kinds:?}");
    client.shutdown().await;
}

#[tokio::test]
async fn related_information_goes_into_the_message_for_clients_without_it() {
    let text = fixture("small.route").replacen("model smart", "model fast", 1);
    for (caps, related) in [(refresh_capabilities(), true), (json!({}), false)] {
        let (mut client, _) = Client::start(Config::default(), caps).await;
        client.open(URI, 1, &text).await;
        let published = client.diagnostics(URI, 1).await;
        let d = published["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| {
                d["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("`fast` is defined more than once")
            })
            .unwrap_or_else(|| panic!("{published}"))
            .clone();
        let message = d["message"].as_str().unwrap();
        if related {
            assert_eq!(
                d["relatedInformation"][0]["message"],
                "first defined here as a model"
            );
            assert!(!message.contains("first defined"), "{message}");
        } else {
            assert!(d.get("relatedInformation").is_none(), "{d}");
            assert!(
                message.contains("\n11:7: first defined here as a model"),
                "{message}"
            );
        }
        client.shutdown().await;
    }
}

#[tokio::test]
async fn code_actions_go_only_to_clients_that_take_literals() {
    let text = fixture("small.route").replacen("otherwise => fast", "otherwise => fsat", 1);
    let range =
        json!({ "start": { "line": 40, "character": 0 }, "end": { "line": 40, "character": 20 } });
    let params =
        json!({ "textDocument": { "uri": URI }, "range": range, "context": { "diagnostics": [] } });
    for (caps, any) in [(refresh_capabilities(), true), (json!({}), false)] {
        let (mut client, _) = Client::start(Config::default(), caps).await;
        client.open(URI, 1, &text).await;
        let actions = client
            .result("textDocument/codeAction", params.clone())
            .await;
        assert_eq!(!actions.as_array().unwrap().is_empty(), any, "{actions}");
        client.shutdown().await;
    }
}

/// Sends `frames` as they are, then a `documentSymbol` request; returns
/// every response up to that request's (which proves the server still
/// reads what follows).
async fn responses_to(client: &mut Client, frames: &[&[u8]]) -> Vec<Value> {
    for frame in frames {
        client.send_raw(frame).await;
    }
    let marker = json!({ "jsonrpc": "2.0", "id": "after", "method": "textDocument/documentSymbol", "params": { "textDocument": { "uri": URI } } });
    let body = serde_json::to_vec(&marker).unwrap();
    client
        .send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
        .await;
    client.send_raw(&body).await;
    let mut out = Vec::new();
    loop {
        let m = client.next().await;
        if m.get("method").is_some() {
            continue;
        }
        let done = m["id"] == "after";
        out.push(m);
        if done {
            return out;
        }
    }
}

fn error_codes(responses: &[Value]) -> Vec<(Value, i64)> {
    responses
        .iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| (r["id"].clone(), r["error"]["code"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn unreadable_messages_get_json_rpc_errors_and_later_frames_are_read() {
    let (mut client, _) = Client::start(Config::default(), json!({})).await;
    client.open(URI, 1, &fixture("small.route")).await;
    let responses = responses_to(
        &mut client,
        &[
            b"Content-Length: 9\r\n\r\nnot json!",
            b"Content-Length: 2\r\n\r\n{}",
            br#"Content-Length: 37

{"jsonrpc":"2.0","id":99,"method":42}"#,
        ],
    )
    .await;
    assert_eq!(
        error_codes(&responses),
        [
            (Value::Null, -32700),
            (Value::Null, -32600),
            (json!(99), -32600)
        ],
        "{responses:?}"
    );
    let last = responses.last().unwrap();
    assert_eq!(last["result"][0]["name"], "small", "{last}");

    // A header block without `Content-Length`, then its body: the server
    // cannot know where the body ends, answers -32700 and reads on from
    // the next `Content-Length`.
    let responses = responses_to(
        &mut client,
        &[br#"Content-Type: application/vscode-jsonrpc; charset=utf-8

{"jsonrpc":"2.0","id":5,"method":"shutdown"}"#],
    )
    .await;
    assert_eq!(
        error_codes(&responses),
        [(Value::Null, -32700)],
        "{responses:?}"
    );
    assert_eq!(responses.last().unwrap()["result"][0]["name"], "small");
    client.shutdown().await;
}

#[tokio::test]
async fn exit_without_shutdown_is_reported_as_unclean() {
    let (client, _) = Client::start(Config::default(), json!({})).await;
    assert_eq!(client.exit().await, Exit::WithoutShutdown);
    assert_eq!(Exit::WithoutShutdown.code(), 1);
    assert_eq!(Exit::Clean.code(), 0);
}

#[tokio::test]
async fn formatting_edits_only_the_whitespace_that_changes() {
    let (mut client, _) = Client::start(Config::default(), refresh_capabilities()).await;
    let good = fixture("small.route");
    let messy = good
        .replacen("  owner \"tests\"\n", "      owner    \"tests\"\n", 1)
        .replacen(
            "slice coders = task == code",
            "slice   coders=task==code",
            1,
        );
    client.open(URI, 1, &messy).await;
    let edits = client
        .result(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } }),
        )
        .await;
    assert_eq!(apply_edits(&messy, &edits), good);
    let edits = edits.as_array().unwrap();
    // `      owner    "tests"`: two runs; `slice   coders=task==code`: five;
    // each within its line.
    assert_eq!(edits.len(), 7, "{edits:?}");
    for e in edits {
        assert!(slice(&messy, &e["range"]).trim().is_empty(), "{e}");
        assert!(e["newText"].as_str().unwrap().trim().is_empty(), "{e}");
        assert_eq!(
            e["range"]["start"]["line"], e["range"]["end"]["line"],
            "{e}"
        );
    }
    client.shutdown().await;
}

/// The labels of the inlay hints over the whole document.
async fn hints(client: &mut Client) -> Vec<String> {
    let hints = client
        .result(
            "textDocument/inlayHint",
            json!({
                "textDocument": { "uri": URI },
                "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 60, "character": 0 } },
            }),
        )
        .await;
    hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{}: {}",
                h["position"]["line"].as_u64().unwrap() + 1,
                h["label"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_last_good_figures_stay_while_the_file_has_errors() {
    let (mut client, _) = Client::start(Config::default(), refresh_capabilities()).await;
    let good = fixture("small.route");
    client.open(URI, 1, &good).await;
    client.server_request("workspace/inlayHint/refresh").await;
    let fresh = hints(&mut client).await;
    assert_eq!(fresh.len(), 4, "two rules, two SLO lines: {fresh:?}");
    assert!(fresh.iter().all(|h| !h.contains("was")), "{fresh:?}");

    // A misspelt model in the first rule, and a line inserted above: the
    // other rule and the SLO lines keep their figures, one line down,
    // marked as earlier ones; the edited rule has none.
    let broken = good
        .replacen("when task == code => smart", "when task == code => smrt", 1)
        .replacen("slo {", "\nslo {", 1);
    client.change(URI, 2, &broken).await;
    let published = client.diagnostics(URI, 2).await;
    assert!(!published["diagnostics"].as_array().unwrap().is_empty());
    let earlier = hints(&mut client).await;
    let expected: Vec<String> = fresh
        .iter()
        .filter(|h| !h.starts_with("40:"))
        .map(|h| {
            let (line, label) = h.split_once(": ").unwrap();
            let line: u64 = line.parse().unwrap();
            format!("{}: was {}", line + 1, label.trim_start_matches("= "))
        })
        .collect();
    assert_eq!(earlier, expected);

    // Fixed: fresh figures again, unmarked.
    client.change(URI, 3, &good).await;
    client.diagnostics(URI, 3).await;
    client.server_requests.clear();
    client.server_request("workspace/inlayHint/refresh").await;
    assert_eq!(hints(&mut client).await, fresh);
    client.shutdown().await;
}

static SIMULATIONS: AtomicUsize = AtomicUsize::new(0);

fn count_simulations(method: &str) {
    if method == routec_lsp::COMPILE_HOOK {
        SIMULATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Twenty changes sent back to back (each one checks, so each used to
/// start a compilation): one simulation, of the last version, once the
/// changes stop. (The changes take microseconds to send; the delay is two
/// seconds so that a loaded machine cannot split them.)
#[tokio::test]
async fn the_simulation_starts_once_typing_pauses() {
    let config = Config {
        compile_delay: Duration::from_secs(2),
        fault_injection: Some(count_simulations),
        ..Config::default()
    };
    let (mut client, _) = Client::start(config, refresh_capabilities()).await;
    let good = fixture("small.route");
    let mut text = format!("{good}\n// ");
    client.open(URI, 1, &text).await;
    for version in 2..=21 {
        text.push('x');
        client.change(URI, version, &text).await;
    }
    client.diagnostics(URI, 21).await;
    client.server_request("workspace/inlayHint/refresh").await;
    assert_eq!(SIMULATIONS.load(Ordering::SeqCst), 1);
    assert_eq!(hints(&mut client).await.len(), 4);
    client.shutdown().await;
}
