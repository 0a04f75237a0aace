//! One test per request the server answers, on `tests/fixtures/small.route`
//! with the cursor marked `$0`. Snapshots show the input (the line at the
//! cursor, or the edited text) next to what the server answered.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::sync::Arc;

use common::{Client, URI, apply_edits, at, cursor, fixture, line_of, slice};
use routec_lsp::{CommandRunner, Config};
use serde_json::{Value, json};

/// The fixture with `from` replaced by `to` (which may hold `$0`).
fn edited(from: &str, to: &str) -> String {
    let text = fixture("small.route");
    assert!(text.contains(from), "the fixture has no `{from}`");
    text.replacen(from, to, 1)
}

/// Opens `marked` (with its `$0`) and returns the text and the cursor.
async fn open_at(client: &mut Client, marked: &str) -> (String, Value) {
    let (text, position) = cursor(marked);
    client.open(URI, 1, &text).await;
    (text, position)
}

/// The cursor's line, with the cursor shown as `$0`.
fn asked(marked: &str) -> String {
    let line = marked
        .lines()
        .position(|l| l.contains("$0") && !l.contains("$0."))
        .unwrap();
    line_of(marked, line)
}

/// Waits until the simulation of the open document has landed (the server
/// asks the client to refresh its inlay hints).
async fn simulated(client: &mut Client) {
    client.server_request("workspace/inlayHint/refresh").await;
}

#[tokio::test]
async fn hover_on_a_model_shows_its_profile_and_then_its_traffic_share() {
    let mut client = Client::new().await;
    let marked = edited("otherwise => fast", "otherwise => f$0ast");
    let (_, position) = open_at(&mut client, &marked).await;
    simulated(&mut client).await;
    let hover = client.result("textDocument/hover", at(&position)).await;
    assert_eq!(hover["contents"]["kind"], "markdown");
    insta::assert_snapshot!(
        "hover_model",
        format!(
            "{}\n--- range: {}\n{}",
            asked(&marked),
            hover["range"],
            hover["contents"]["value"].as_str().unwrap()
        )
    );
    client.shutdown().await;
}

#[tokio::test]
async fn hover_on_a_signal_shows_its_type_source_and_default() {
    let mut client = Client::new().await;
    let marked = edited("when task == code", "when t$0ask == code");
    let (_, position) = open_at(&mut client, &marked).await;
    let hover = client.result("textDocument/hover", at(&position)).await;
    insta::assert_snapshot!(
        "hover_signal",
        format!(
            "{}\n---\n{}",
            asked(&marked),
            hover["contents"]["value"].as_str().unwrap()
        )
    );
    client.shutdown().await;
}

fn completions(items: &Value) -> String {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} (kind {}{}) -> {:?} at {}",
                i["label"].as_str().unwrap(),
                i["kind"],
                i["detail"]
                    .as_str()
                    .map(|d| format!(", {d}"))
                    .unwrap_or_default(),
                i["textEdit"]["newText"].as_str().unwrap(),
                i["textEdit"]["range"],
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn completion_offers_the_enum_values_of_the_compared_signal() {
    let mut client = Client::new().await;
    let marked = edited("  when task == code => smart", "  when task == c$0");
    let (_, position) = open_at(&mut client, &marked).await;
    let items = client
        .result("textDocument/completion", at(&position))
        .await;
    insta::assert_snapshot!(
        "completion_enum_values",
        format!("{}\n---\n{}", asked(&marked), completions(&items))
    );
    client.shutdown().await;
}

#[tokio::test]
async fn completion_offers_models_in_a_plan() {
    let mut client = Client::new().await;
    let marked = edited("otherwise => fast", "otherwise => $0");
    let (_, position) = open_at(&mut client, &marked).await;
    let items = client
        .result("textDocument/completion", at(&position))
        .await;
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"fast") && labels.contains(&"smart"),
        "{labels:?}"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn definition_and_references_of_a_model() {
    let mut client = Client::new().await;
    let marked = edited("=> smart\n", "=> sm$0art\n");
    let (text, position) = open_at(&mut client, &marked).await;
    let definition = client
        .result("textDocument/definition", at(&position))
        .await;
    assert_eq!(definition["uri"], URI);
    let def_line = definition["range"]["start"]["line"].as_u64().unwrap() as usize;
    let references = client
        .result(
            "textDocument/references",
            json!({ "textDocument": { "uri": URI }, "position": position, "context": { "includeDeclaration": true } }),
        )
        .await;
    let mut out = format!(
        "{}\n--- definition: `{}` at\n{}\n--- references:\n",
        asked(&marked),
        slice(&text, &definition["range"]),
        line_of(&text, def_line)
    );
    for r in references.as_array().unwrap() {
        let line = r["range"]["start"]["line"].as_u64().unwrap() as usize;
        out.push_str(&format!(
            "`{}` {}\n",
            slice(&text, &r["range"]),
            line_of(&text, line)
        ));
    }
    insta::assert_snapshot!("definition_references", out);
    client.shutdown().await;
}

#[tokio::test]
async fn rename_renames_every_use_and_refuses_invalid_names() {
    let mut client = Client::new().await;
    let marked = edited("model fast {", "model fa$0st {");
    let (text, position) = open_at(&mut client, &marked).await;
    let prepared = client
        .result("textDocument/prepareRename", at(&position))
        .await;
    assert_eq!(prepared["placeholder"], "fast", "{prepared}");
    assert_eq!(slice(&text, &prepared["range"]), "fast");

    let rename = |name: &str| json!({ "textDocument": { "uri": URI }, "position": position, "newName": name });
    let edit = client.result("textDocument/rename", rename("quick")).await;
    let renamed = apply_edits(&text, &edit["changes"][URI]);
    assert_eq!(
        renamed,
        text.replace("model fast", "model quick")
            .replace("baseline fast", "baseline quick")
            .replace("=> fast", "=> quick")
    );

    let mut refusals = String::new();
    for bad in ["route", "9lives", "smart", "has_images", ""] {
        let response = client.request("textDocument/rename", rename(bad)).await;
        assert_eq!(response["error"]["code"], -32803, "{bad}: {response}");
        refusals.push_str(&format!(
            "{bad:?}: {}\n",
            response["error"]["message"].as_str().unwrap()
        ));
    }
    // Keywords are not symbols: nothing to rename there.
    let (_, on_keyword) = cursor(&edited("route {", "ro$0ute {"));
    let response = client
        .request("textDocument/prepareRename", at(&on_keyword))
        .await;
    refusals.push_str(&format!("prepareRename on `route`: {}\n", response));
    insta::assert_snapshot!("rename_refusals", refusals);
    client.shutdown().await;
}

#[tokio::test]
async fn formatting_returns_the_formatted_text() {
    let mut client = Client::new().await;
    let messy = edited("  owner \"tests\"\n", "      owner    \"tests\"\n").replacen(
        "slice coders = task == code",
        "slice   coders=task==code",
        1,
    );
    client.open(URI, 1, &messy).await;
    let params = json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } });
    let edits = client
        .result("textDocument/formatting", params.clone())
        .await;
    assert_eq!(apply_edits(&messy, &edits), fixture("small.route"));
    // Formatted text needs no edits; a file with syntax errors gets none.
    client.change(URI, 2, &fixture("small.route")).await;
    assert_eq!(
        client
            .result("textDocument/formatting", params.clone())
            .await,
        json!([])
    );
    client.change(URI, 3, "policy {").await;
    assert_eq!(
        client.result("textDocument/formatting", params).await,
        Value::Null
    );
    client.shutdown().await;
}

fn symbol_tree(symbols: &Value, depth: usize, out: &mut String) {
    for s in symbols.as_array().unwrap() {
        out.push_str(&format!(
            "{}{} (kind {}){} lines {}-{}\n",
            "  ".repeat(depth),
            s["name"].as_str().unwrap(),
            s["kind"],
            s["detail"]
                .as_str()
                .map(|d| format!(" {d:?}"))
                .unwrap_or_default(),
            s["range"]["start"]["line"].as_u64().unwrap() + 1,
            s["range"]["end"]["line"].as_u64().unwrap() + 1,
        ));
        if let Some(children) = s.get("children") {
            symbol_tree(children, depth + 1, out);
        }
    }
}

#[tokio::test]
async fn document_and_workspace_symbols() {
    let mut client = Client::new().await;
    client.open(URI, 1, &fixture("small.route")).await;
    let other = "file:///work/other.route";
    client
        .open(
            other,
            1,
            &fixture("small.route")
                .replace("model fast", "model faster")
                .replace("=> fast", "=> faster"),
        )
        .await;
    let symbols = client
        .result(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let mut tree = String::new();
    symbol_tree(&symbols, 0, &mut tree);
    let found = client
        .result("workspace/symbol", json!({ "query": "fast" }))
        .await;
    tree.push_str("--- workspace/symbol `fast`:\n");
    for s in found.as_array().unwrap() {
        tree.push_str(&format!(
            "{} (kind {}) in {} line {}\n",
            s["name"].as_str().unwrap(),
            s["kind"],
            s["location"]["uri"].as_str().unwrap(),
            s["location"]["range"]["start"]["line"].as_u64().unwrap() + 1
        ));
    }
    insta::assert_snapshot!("symbols", tree);
    client.shutdown().await;
}

#[tokio::test]
async fn semantic_tokens_are_delta_encoded_in_utf16() {
    let mut client = Client::new().await;
    let (_, init) = Client::start(Config::default(), json!({})).await;
    let legend = init["result"]["capabilities"]["semanticTokensProvider"]["legend"].clone();
    // Non-ASCII text before tokens on the same line: their columns must
    // count UTF-16 units (`é` is 1, `𝄞` is 2), or the decoded text below
    // would be shifted.
    let text = edited(
        r#"header "x-task" default chat"#,
        r#"header "x-tâsk-𝄞" default chat"#,
    );
    client.open(URI, 1, &text).await;
    let tokens = client
        .result(
            "textDocument/semanticTokens/full",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let data: Vec<u64> = tokens["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(data.len() % 5, 0);
    // Decode: absolute line and column, then the text each token covers.
    let (mut line, mut col) = (0u64, 0u64);
    let mut out = String::new();
    for t in data.chunks(5) {
        if t[0] > 0 {
            line += t[0];
            col = t[1];
        } else {
            col += t[1];
        }
        let start = json!({ "line": line, "character": col });
        let end = json!({ "line": line, "character": col + t[2] });
        let covered = slice(&text, &json!({ "start": start, "end": end }));
        let modifiers: Vec<&str> = (0..32)
            .filter(|b| t[4] & (1 << b) != 0)
            .map(|b| legend["tokenModifiers"][b].as_str().unwrap())
            .collect();
        out.push_str(&format!(
            "{}:{} {:?} {}{}\n",
            line + 1,
            col,
            covered,
            legend["tokenTypes"][t[3] as usize].as_str().unwrap(),
            if modifiers.is_empty() {
                String::new()
            } else {
                format!(" [{}]", modifiers.join(", "))
            }
        ));
    }
    insta::assert_snapshot!("semantic_tokens", out);
    client.shutdown().await;
}

#[tokio::test]
async fn folding_ranges_keep_the_closing_bracket_visible() {
    let mut client = Client::new().await;
    let text = fixture("small.route");
    client.open(URI, 1, &text).await;
    let folds = client
        .result(
            "textDocument/foldingRange",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let mut out = String::new();
    for f in folds.as_array().unwrap() {
        let (start, end) = (
            f["startLine"].as_u64().unwrap() as usize,
            f["endLine"].as_u64().unwrap() as usize,
        );
        out.push_str(&format!(
            "{}{}\n  ..\n{}\n",
            f["kind"]
                .as_str()
                .map(|k| format!("[{k}] "))
                .unwrap_or_default(),
            line_of(&text, start),
            line_of(&text, end)
        ));
    }
    insta::assert_snapshot!("folding", out);
    client.shutdown().await;
}

#[tokio::test]
async fn code_actions_fix_a_misspelled_model() {
    let mut client = Client::new().await;
    let text = edited("otherwise => fast", "otherwise => fsat");
    client.open(URI, 1, &text).await;
    let published = client.diagnostics(URI, 1).await;
    let diagnostic = published["diagnostics"][0].clone();
    let actions = client
        .result(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": URI }, "range": diagnostic["range"], "context": { "diagnostics": [diagnostic] } }),
        )
        .await;
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "quickfix")
        .unwrap_or_else(|| panic!("no quick fix: {actions}"));
    assert_eq!(fix["diagnostics"][0]["code"], "E0102", "{fix}");
    let fixed = apply_edits(&text, &fix["edit"]["changes"][URI]);
    assert_eq!(fixed, fixture("small.route"));
    let titles: Vec<String> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} ({}, preferred: {})",
                a["title"].as_str().unwrap(),
                a["kind"].as_str().unwrap(),
                a["isPreferred"]
            )
        })
        .collect();
    insta::assert_snapshot!("code_actions", titles.join("\n"));
    client.shutdown().await;
}

#[tokio::test]
async fn inlay_hints_show_the_simulation_once_it_has_landed() {
    let mut client = Client::new().await;
    let text = fixture("small.route");
    client.open(URI, 1, &text).await;
    let whole =
        json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 999, "character": 0 } });
    let params = json!({ "textDocument": { "uri": URI }, "range": whole });
    simulated(&mut client).await;
    let hints = client
        .result("textDocument/inlayHint", params.clone())
        .await;
    let mut out = String::new();
    for h in hints.as_array().unwrap() {
        let line = h["position"]["line"].as_u64().unwrap() as usize;
        let col = h["position"]["character"].as_u64().unwrap() as usize;
        let source = text.lines().nth(line).unwrap();
        assert_eq!(
            col,
            source.chars().map(char::len_utf16).sum::<usize>(),
            "hints go at the end of a line"
        );
        out.push_str(&format!(
            "{}  ▸ {}\n",
            line_of(&text, line),
            h["label"].as_str().unwrap()
        ));
    }
    insta::assert_snapshot!("inlay_hints", out);
    // After a change, hints wait for the new simulation: none for the new
    // text until it lands.
    client
        .change(URI, 2, &edited("otherwise => fast", "otherwise => smart"))
        .await;
    simulated(&mut client).await;
    let after = client.result("textDocument/inlayHint", params).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        hints.as_array().unwrap().len()
    );
    assert_ne!(after, hints);
    client.shutdown().await;
}

#[derive(Debug)]
struct Recorder;

impl CommandRunner for Recorder {
    fn run(&self, command: &str, name: &str, text: &str) -> Result<String, String> {
        if text.is_empty() {
            return Err(format!("`{name}` is empty"));
        }
        Ok(format!(
            "{command} ran on {name} ({} lines)",
            text.lines().count()
        ))
    }
}

#[tokio::test]
async fn code_lenses_run_their_commands_through_execute_command() {
    let config = Config {
        commands: Some(Arc::new(Recorder)),
        ..Config::default()
    };
    let (mut client, _) = Client::start(config, json!({})).await;
    let text = fixture("small.route");
    client.open(URI, 1, &text).await;
    let lenses = client
        .result(
            "textDocument/codeLens",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let mut out = String::new();
    for lens in lenses.as_array().unwrap() {
        let line = lens["range"]["start"]["line"].as_u64().unwrap() as usize;
        out.push_str(&format!(
            "{}\n  [{}] {} {}\n",
            line_of(&text, line),
            lens["command"]["title"].as_str().unwrap(),
            lens["command"]["command"],
            lens["command"]["arguments"]
        ));
        let result = client
            .result(
                "workspace/executeCommand",
                json!({ "command": lens["command"]["command"], "arguments": lens["command"]["arguments"] }),
            )
            .await;
        let shown = client.notification("window/showMessage").await;
        assert_eq!(shown["message"], result);
        out.push_str(&format!("  -> {}\n", result.as_str().unwrap()));
    }
    insta::assert_snapshot!("code_lenses", out);

    client.change(URI, 2, "").await;
    let failed = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "routec.simulate", "arguments": [URI] }),
        )
        .await;
    assert_eq!(
        failed["error"]["message"], "`/work/small.route` is empty",
        "{failed}"
    );
    let unknown = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "routec.nope", "arguments": [URI] }),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    client.shutdown().await;

    // Without a runner (an embedding that turns them off), the commands say
    // so.
    let config = Config {
        commands: None,
        ..Config::default()
    };
    let (mut client, _) = Client::start(config, json!({})).await;
    client.open(URI, 1, &text).await;
    let unavailable = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "routec.runTests", "arguments": [URI] }),
        )
        .await;
    assert_eq!(
        unavailable["error"]["message"],
        "`routec.runTests` is not available in this build of the server"
    );
    client.shutdown().await;
}
