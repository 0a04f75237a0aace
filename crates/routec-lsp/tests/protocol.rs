//! The protocol half of the server, driven over an in-memory pipe with real
//! JSON-RPC framing: lifecycle, document versions, diagnostics (published
//! with their version, never stale), the compiler's diagnostics, robustness
//! on junk and huge inputs, and a panic inside a request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{Client, URI, at, cursor, fixture, refresh_capabilities};
use routec_lsp::Config;
use serde_json::{Value, json};

fn codes(diagnostics: &Value) -> Vec<String> {
    diagnostics["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn initialize_announces_every_capability_and_shutdown_exits() {
    let (client, init) = Client::start(Config::default(), json!({})).await;
    insta::assert_json_snapshot!("initialize", init["result"]);
    client.shutdown().await;
}

/// The byte and UTF-16 columns of `needle` on its line.
fn columns(text: &str, needle: &str) -> (usize, usize, usize) {
    let at = text.find(needle).unwrap();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..at];
    let line = text[..at].matches('\n').count();
    (
        line,
        before.len(),
        before.chars().map(char::len_utf16).sum(),
    )
}

#[tokio::test]
async fn positions_count_utf16_units_by_default_and_utf8_bytes_when_offered() {
    // `é` and `𝄞` are 2 and 4 bytes, 1 and 2 UTF-16 units: the unknown
    // default value after them starts at different columns.
    let text = fixture("small.route").replace(
        r#"from header "x-task" default chat"#,
        r#"from header "x-tâsk-𝄞" default chta"#,
    );
    let (line, bytes, units) = columns(&text, "chta");
    assert_ne!(bytes, units);
    for (offered, encoding, column) in [
        (json!(["utf-8", "utf-16"]), "utf-8", bytes),
        (json!(["utf-16"]), "utf-16", units),
        (Value::Null, "utf-16", units),
    ] {
        let caps = json!({ "general": { "positionEncodings": offered } });
        let (mut client, init) = Client::start(Config::default(), caps).await;
        assert_eq!(init["result"]["capabilities"]["positionEncoding"], encoding);
        client.open(URI, 1, &text).await;
        let published = client.diagnostics(URI, 1).await;
        let d = &published["diagnostics"][0];
        assert_eq!(
            d["range"],
            json!({ "start": { "line": line, "character": column }, "end": { "line": line, "character": column + 4 } }),
            "{encoding}: {published}"
        );
        // And back: a hover at that position is about the same word.
        let position = json!({ "line": line, "character": column + 1 });
        let references = client
            .request(
                "textDocument/references",
                json!({ "textDocument": { "uri": URI }, "position": position, "context": { "includeDeclaration": true } }),
            )
            .await;
        assert!(references.get("error").is_none(), "{references}");
        client.shutdown().await;
    }
}

#[tokio::test]
async fn diagnostics_on_open_and_change_carry_the_document_version() {
    let mut client = Client::new().await;
    let broken = fixture("small.route").replace("otherwise => fast", "otherwise => fsat");
    client.open(URI, 1, &broken).await;
    let first = client.diagnostics(URI, 1).await;
    insta::assert_json_snapshot!("diagnostics_unknown_model", first);

    client.change(URI, 2, &fixture("small.route")).await;
    let second = client.diagnostics(URI, 2).await;
    assert_eq!(codes(&second), Vec::<String>::new(), "{second}");

    client.change(URI, 3, "policy {").await;
    let third = client.diagnostics(URI, 3).await;
    assert!(!codes(&third).is_empty(), "{third}");
    client.shutdown().await;
}

#[tokio::test]
async fn stale_diagnostics_never_overwrite_newer_ones() {
    // No debounce: every change starts its own analysis, racing the others.
    let config = Config {
        debounce: std::time::Duration::ZERO,
        ..Config::default()
    };
    let (mut client, _) = Client::start(config, refresh_capabilities()).await;
    let good = fixture("small.route");
    let bad = good.replace("otherwise => fast", "otherwise => fsat");
    client.open(URI, 1, &good).await;
    for version in 2..=40 {
        let text = if version % 2 == 0 { &bad } else { &good };
        client.change(URI, version, text).await;
    }
    // A change with an older version than the document's is ignored.
    client
        .change(URI, 7, "junk that must never be analyzed")
        .await;
    let last = client.diagnostics(URI, 40).await;
    assert_eq!(codes(&last), ["E0102"], "{last}");
    // Whatever was published before, versions only ever went up.
    let all = client.take_backlog("textDocument/publishDiagnostics");
    let versions: Vec<i64> = all.iter().map(|p| p["version"].as_i64().unwrap()).collect();
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "published out of order: {versions:?}"
    );
    // The document is version 40: requests see its text, not the ignored
    // change's.
    let symbols = client
        .result(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    assert_eq!(symbols[0]["name"], "small", "{symbols}");
    client.shutdown().await;
}

#[tokio::test]
async fn the_compilers_diagnostics_follow_once_the_file_checks() {
    let mut client = Client::new().await;
    // Every model is slower than this SLO allows: it type-checks, but no
    // routing can meet it.
    let text = fixture("small.route").replace("ttft p95 <= 2s", "ttft p95 <= 50ms");
    client.open(URI, 1, &text).await;
    let first = client.diagnostics(URI, 1).await;
    assert_eq!(codes(&first), Vec::<String>::new(), "{first}");
    let second = client
        .notification_where("textDocument/publishDiagnostics", |p| {
            p["version"] == 1 && !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    insta::assert_json_snapshot!("diagnostics_infeasible_slo", second);
    client.shutdown().await;
}

#[tokio::test]
async fn closing_a_document_clears_its_diagnostics() {
    let mut client = Client::new().await;
    client.open(URI, 1, "policy {").await;
    let first = client.diagnostics(URI, 1).await;
    assert!(!codes(&first).is_empty());
    client
        .notify(
            "textDocument/didClose",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    let cleared = client
        .notification_where("textDocument/publishDiagnostics", |p| {
            p["uri"] == URI && p["version"].is_null()
        })
        .await;
    assert_eq!(cleared["diagnostics"], json!([]));
    // Requests on a closed document answer nothing, without an error.
    let hover = client
        .result(
            "textDocument/hover",
            at(&json!({ "line": 0, "character": 0 })),
        )
        .await;
    assert_eq!(hover, Value::Null);
    client.shutdown().await;
}

/// Every request the server offers, at `position`.
async fn every_request(client: &mut Client, position: &Value) -> Vec<Value> {
    let doc = json!({ "textDocument": { "uri": URI } });
    let range = json!({ "start": { "line": 0, "character": 0 }, "end": position });
    let mut responses = Vec::new();
    for (method, params) in [
        ("textDocument/hover", at(position)),
        ("textDocument/completion", at(position)),
        ("textDocument/definition", at(position)),
        (
            "textDocument/references",
            json!({ "textDocument": { "uri": URI }, "position": position, "context": { "includeDeclaration": true } }),
        ),
        ("textDocument/prepareRename", at(position)),
        (
            "textDocument/rename",
            json!({ "textDocument": { "uri": URI }, "position": position, "newName": "renamed" }),
        ),
        (
            "textDocument/formatting",
            json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } }),
        ),
        ("textDocument/documentSymbol", doc.clone()),
        ("workspace/symbol", json!({ "query": "" })),
        ("textDocument/semanticTokens/full", doc.clone()),
        ("textDocument/foldingRange", doc.clone()),
        (
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": URI }, "range": range, "context": { "diagnostics": [] } }),
        ),
        (
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": URI }, "range": range }),
        ),
        ("textDocument/codeLens", doc.clone()),
    ] {
        responses.push(client.request(method, params).await);
    }
    responses
}

/// Only refusals (rename of nothing) are allowed as errors on junk; an
/// internal error would mean a panic was caught.
fn assert_no_internal_errors(responses: &[Value]) {
    for r in responses {
        if let Some(e) = r.get("error") {
            assert_ne!(e["code"], -32603, "internal error: {r}");
        }
    }
}

#[tokio::test]
async fn junk_half_typed_and_huge_inputs_never_crash_the_server() {
    let mut client = Client::new().await;
    let mut junk = String::new();
    for i in 0..20_000u32 {
        junk.push(char::from_u32(i * 7919 % 0x11_0000).unwrap_or('\u{fffd}'));
    }
    let half_typed = {
        let full = fixture("small.route");
        full[..full.len() / 2].to_owned()
    };
    let huge = fixture("small.route").repeat(9_000); // ~10 MB: over the source limit
    let nested = "route { when ".to_owned() + &"(".repeat(100_000);
    let inputs = [
        ("binary junk", junk),
        ("half typed", half_typed),
        ("nesting", nested),
        ("empty", String::new()),
        ("huge", huge),
    ];
    let positions = [
        json!({ "line": 0, "character": 0 }),
        json!({ "line": 3, "character": 5 }),
        json!({ "line": 10_000_000, "character": 10_000_000 }),
    ];
    for (version, (what, text)) in inputs.iter().enumerate() {
        let version = version as i64 + 1;
        if version == 1 {
            client.open(URI, 1, text).await;
        } else {
            client.change(URI, version, text).await;
        }
        let published = client.diagnostics(URI, version).await;
        assert!(published["diagnostics"].is_array(), "{what}: {published}");
        for position in &positions {
            assert_no_internal_errors(&every_request(&mut client, position).await);
        }
    }
    // A message that is not JSON gets a parse error; the server goes on.
    client.send_raw(b"Content-Length: 9\r\n\r\nnot json!").await;
    // So do JSON that is not JSON-RPC, a header block without a length and
    // a length over the limit (its body is skipped whole).
    client.send_raw(b"Content-Length: 2\r\n\r\n{}").await;
    client.send_raw(b"X-Garbage: yes\r\n\r\n").await;
    let mut oversized = b"Content-Length: 40000000\r\n\r\n".to_vec();
    oversized.resize(oversized.len() + 40_000_000, b'x');
    client.send_raw(&oversized).await;
    client.change(URI, 100, &fixture("small.route")).await;
    let last = client.diagnostics(URI, 100).await;
    assert_eq!(codes(&last), Vec::<String>::new(), "{last}");
    client.shutdown().await;
}

fn panic_in_hover(method: &str) {
    if method == "textDocument/hover" {
        panic!("injected panic in {method}");
    }
}

#[tokio::test]
async fn a_panic_in_a_request_is_reported_and_the_server_keeps_serving() {
    let config = Config {
        fault_injection: Some(panic_in_hover),
        ..Config::default()
    };
    let (mut client, _) = Client::start(config, json!({})).await;
    let (text, position) =
        cursor(&fixture("small.route").replace("otherwise => fast", "otherwise => f$0ast"));
    client.open(URI, 1, &text).await;
    let hover = client.request("textDocument/hover", at(&position)).await;
    assert_eq!(hover["error"]["code"], -32603, "{hover}");
    let message = hover["error"]["message"].as_str().unwrap();
    assert!(
        message
            .contains("internal error in textDocument/hover: injected panic in textDocument/hover"),
        "{message}"
    );
    let logged = client.notification("window/logMessage").await;
    assert_eq!(logged["type"], 1, "an error: {logged}");
    assert_eq!(logged["message"], message);
    // The server is still there: other requests and diagnostics work.
    let symbols = client
        .result(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": URI } }),
        )
        .await;
    assert_eq!(symbols[0]["name"], "small", "{symbols}");
    client.change(URI, 2, "policy {").await;
    let published = client.diagnostics(URI, 2).await;
    assert!(!codes(&published).is_empty());
    let again = client.request("textDocument/hover", at(&position)).await;
    assert_eq!(again["error"]["code"], -32603, "{again}");
    client.shutdown().await;
}

/// Holds back the first diagnostics computation until the test releases
/// it; panics in the third.
fn hold_first_diagnostics(method: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    if method != "textDocument/publishDiagnostics" {
        return;
    }
    match CALLS.fetch_add(1, Ordering::SeqCst) {
        0 => {
            ENTERED.store(true, Ordering::SeqCst);
            let (lock, released) = &RELEASE;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = released.wait(go).unwrap();
            }
        }
        2 => panic!("injected panic in the diagnostics"),
        _ => {}
    }
}

static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static RELEASE: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(false), std::sync::Condvar::new());

#[tokio::test]
async fn a_late_result_for_an_older_version_is_dropped() {
    let config = Config {
        fault_injection: Some(hold_first_diagnostics),
        ..Config::default()
    };
    let (mut client, _) = Client::start(config, json!({})).await;
    // Version 1's diagnostics are held back while version 2's are
    // computed and published.
    client.open(URI, 1, "policy {").await;
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while !ENTERED.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("version 1's diagnostics never started");
    client.change(URI, 2, &fixture("small.route")).await;
    let second = client.diagnostics(URI, 2).await;
    assert_eq!(codes(&second), Vec::<String>::new(), "{second}");
    {
        let (lock, released) = &RELEASE;
        *lock.lock().unwrap() = true;
        released.notify_all();
    }
    // Version 3's computation panics: logged, nothing published, and the
    // server goes on with version 4.
    client.change(URI, 3, "policy {").await;
    let logged = client.notification("window/logMessage").await;
    assert!(
        logged["message"]
            .as_str()
            .unwrap()
            .contains("injected panic in the diagnostics"),
        "{logged}"
    );
    client.change(URI, 4, "policy {").await;
    let fourth = client.diagnostics(URI, 4).await;
    assert!(!codes(&fourth).is_empty());
    let versions: Vec<i64> = client
        .take_backlog("textDocument/publishDiagnostics")
        .iter()
        .map(|p| p["version"].as_i64().unwrap())
        .collect();
    assert!(
        !versions.contains(&1) && !versions.contains(&3),
        "stale or failed versions were published: {versions:?}"
    );
    client.shutdown().await;
}

/// A temporary directory of its own for one test, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("routec-lsp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn recorded_fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../routec-ide/tests/fixtures/recorded")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compiler's diagnostics of `version`: the second publication (the
/// first carries the checker's, empty here).
async fn compiler_diagnostics(client: &mut Client, uri: &str, version: i64) -> Value {
    let first = client.diagnostics(uri, version).await;
    assert_eq!(codes(&first), Vec::<String>::new(), "{first}");
    client
        .notification_where("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri
                && p["version"] == version
                && !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await
}

/// A policy saved beside its recorded traffic: the server reads the file
/// (relative to the policy), so there is no `W0512`, the recorded mix's
/// `W0513` is there, and hints carry the recorded figures; after the file
/// gets bad lines, the next change reports them (`E0515`); once it is
/// gone, `E0516` says so. An untitled buffer keeps `W0512`.
#[tokio::test]
async fn a_recorded_traffic_file_beside_the_policy_is_read() {
    let dir = TempDir::new("recorded");
    let text = recorded_fixture("mix.route");
    let jsonl = dir.0.join("mix.jsonl");
    std::fs::write(&jsonl, recorded_fixture("mix.jsonl")).unwrap();
    let policy = dir.0.join("policy.route");
    std::fs::write(&policy, &text).unwrap();
    let uri = format!("file://{}", policy.display());
    let mut client = Client::start(Config::default(), refresh_capabilities())
        .await
        .0;

    client.open(&uri, 1, &text).await;
    let good = compiler_diagnostics(&mut client, &uri, 1).await;
    assert_eq!(codes(&good), ["W0513"], "{good}");
    client.server_request("workspace/inlayHint/refresh").await;
    let hints = client
        .result(
            "textDocument/inlayHint",
            json!({
                "textDocument": {"uri": uri},
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 60, "character": 0}},
            }),
        )
        .await;
    let labels: Vec<&str> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["label"].as_str().unwrap())
        .collect();
    // 30 of the 40 recorded requests are `paid` (the declared default is
    // `free`, which would give the first rule no traffic).
    assert!(labels.iter().any(|l| l.starts_with("75% ·")), "{labels:?}");

    // Bad lines: read again on the next change.
    std::fs::write(
        &jsonl,
        format!(
            "{}{{\"signals\": {{\"tear\": \"paid\"}}}}\n",
            recorded_fixture("mix.jsonl")
        ),
    )
    .unwrap();
    let edited = format!("{text}\n");
    client.change(&uri, 2, &edited).await;
    let bad = compiler_diagnostics(&mut client, &uri, 2).await;
    assert_eq!(codes(&bad), ["E0515"], "{bad}");
    let message = bad["diagnostics"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("mix.jsonl`:41:14: unknown signal `tear`"),
        "{message}"
    );
    // At the profile's declaration.
    let line = bad["diagnostics"][0]["range"]["start"]["line"]
        .as_u64()
        .unwrap() as usize;
    assert!(
        text.lines().nth(line).unwrap().starts_with("traffic week"),
        "{bad}"
    );
    // And in the traffic file itself, where the bad line is (for an editor
    // that has it open).
    let jsonl_uri = format!("file://{}", jsonl.display());
    let in_file = client
        .notification_where("textDocument/publishDiagnostics", |p| {
            p["uri"] == jsonl_uri.as_str() && !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(codes(&in_file), ["E0515"], "{in_file}");
    assert_eq!(in_file["diagnostics"][0]["range"]["start"]["line"], 40);
    assert_eq!(in_file["diagnostics"][0]["range"]["start"]["character"], 13);
    assert_eq!(
        in_file["diagnostics"][0]["message"],
        "unknown signal `tear`\nhelp: did you mean `tier`?"
    );

    // Missing: a clear error at the declaration, no crash.
    std::fs::remove_file(&jsonl).unwrap();
    client.change(&uri, 3, &text).await;
    let missing = compiler_diagnostics(&mut client, &uri, 3).await;
    assert_eq!(codes(&missing), ["E0516"], "{missing}");
    let message = missing["diagnostics"][0]["message"].as_str().unwrap();
    let expected = format!(
        "cannot read the recorded traffic `{}` of profile `week`: No such file or directory",
        jsonl.display()
    );
    assert!(message.starts_with(&expected), "{message}");
    assert_eq!(missing["diagnostics"][0]["severity"], 1);

    // An untitled buffer has no directory: as before, W0512.
    let untitled = "untitled:Untitled-1";
    client.open(untitled, 1, &text).await;
    let ignored = compiler_diagnostics(&mut client, untitled, 1).await;
    assert!(codes(&ignored).contains(&"W0512".to_owned()), "{ignored}");
    client.shutdown().await;
}
