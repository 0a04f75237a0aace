//! A minimal LSP client for the in-process tests: it talks to the real
//! server (`routec_lsp::serve`) over an in-memory duplex pipe, with the
//! real framing (`Content-Length` headers), answers the server's requests
//! (`workspace/inlayHint/refresh`) and keeps the notifications it has not
//! been asked for yet.
//!
//! Every wait is bounded (`LIMIT`) so a hang fails the test instead of
//! blocking CI; no test asserts on durations.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::VecDeque;
use std::time::Duration;

use routec_lsp::{Config, Exit};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

/// How long any one wait may take before the test fails as hung.
const LIMIT: Duration = Duration::from_secs(60);

pub const URI: &str = "file:///work/small.route";

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Removes the `$0` cursor marker from `text`; returns the text and the
/// marker's LSP position (UTF-16 columns). A `$0` followed by a digit or a
/// `.` is money (`$0.1/Mtok`), not the marker.
pub fn cursor(text: &str) -> (String, Value) {
    let at = text
        .match_indices("$0")
        .map(|(i, _)| i)
        .find(|&i| {
            !text[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '.')
        })
        .expect("the fixture has no `$0` cursor");
    let before = &text[..at];
    let line = before.matches('\n').count();
    let col: usize = before
        .rsplit('\n')
        .next()
        .unwrap()
        .chars()
        .map(char::len_utf16)
        .sum();
    let mut text = text.to_owned();
    text.replace_range(at..at + 2, "");
    (text, json!({ "line": line, "character": col }))
}

#[derive(Debug)]
pub struct Client {
    write: tokio::io::WriteHalf<DuplexStream>,
    read: BufReader<tokio::io::ReadHalf<DuplexStream>>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    backlog: VecDeque<Value>,
    /// Requests the server sent us (answered already).
    pub server_requests: Vec<Value>,
    server: JoinHandle<Exit>,
}

impl Client {
    /// Starts a server with `config` and initializes it with `capabilities`.
    pub async fn start(config: Config, capabilities: Value) -> (Client, Value) {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(theirs);
        let server = tokio::spawn(routec_lsp::serve(server_read, server_write, config));
        let (read, write) = tokio::io::split(ours);
        let mut client = Client {
            write,
            read: BufReader::new(read),
            next_id: 0,
            backlog: VecDeque::new(),
            server_requests: Vec::new(),
            server,
        };
        let init = client
            .request("initialize", json!({ "capabilities": capabilities }))
            .await;
        client.notify("initialized", json!({})).await;
        (client, init)
    }

    /// A server with the default configuration and a client that supports
    /// inlay hint refreshes.
    pub async fn new() -> Client {
        Client::start(Config::default(), refresh_capabilities())
            .await
            .0
    }

    async fn send(&mut self, message: Value) {
        let body = serde_json::to_vec(&message).unwrap();
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        self.write.write_all(header.as_bytes()).await.unwrap();
        self.write.write_all(&body).await.unwrap();
        self.write.flush().await.unwrap();
    }

    /// Sends raw bytes (for malformed-message tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
        self.write.flush().await.unwrap();
    }

    async fn receive(&mut self) -> Value {
        tokio::time::timeout(LIMIT, self.receive_unbounded())
            .await
            .expect("the server did not answer in time (hung?)")
    }

    async fn receive_unbounded(&mut self) -> Value {
        let mut length = None;
        loop {
            let mut line = String::new();
            let n = self.read.read_line(&mut line).await.unwrap();
            assert!(n > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                length = Some(v.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a message without Content-Length")];
        self.read.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// Reads one message. Requests from the server are answered (`null`)
    /// and recorded in `server_requests`, then returned like the rest.
    async fn next_message(&mut self) -> Value {
        let m = self.receive().await;
        if m.get("method").is_some() && m.get("id").is_some() {
            let id = m["id"].clone();
            self.server_requests.push(m.clone());
            self.send(json!({ "jsonrpc": "2.0", "id": id, "result": null }))
                .await;
        }
        m
    }

    /// Sends a request and returns the whole response (`result` or
    /// `error`).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        loop {
            let m = self.next_message().await;
            if m.get("id") == Some(&json!(id)) && m.get("method").is_none() {
                return m;
            }
            if m.get("id").is_none() {
                self.backlog.push_back(m);
            }
        }
    }

    /// The `result` of a request that must succeed.
    pub async fn result(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params).await;
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }))
            .await;
    }

    /// The next notification `method` whose params satisfy `pred`;
    /// notifications skipped on the way stay in the backlog.
    pub async fn notification_where(
        &mut self,
        method: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self
            .backlog
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.backlog.remove(i).unwrap()["params"].clone();
        }
        loop {
            let m = self.next_message().await;
            if m.get("id").is_some() {
                continue;
            }
            if m["method"] == method && pred(&m["params"]) {
                return m["params"].clone();
            }
            self.backlog.push_back(m);
        }
    }

    pub async fn notification(&mut self, method: &str) -> Value {
        self.notification_where(method, |_| true).await
    }

    /// The diagnostics published for `version` of `uri`.
    pub async fn diagnostics(&mut self, uri: &str, version: i64) -> Value {
        self.notification_where("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri && p["version"] == version
        })
        .await
    }

    /// Waits until the server has sent a request `method` (answered with
    /// `null`); returns it.
    pub async fn server_request(&mut self, method: &str) -> Value {
        loop {
            if let Some(i) = self
                .server_requests
                .iter()
                .position(|r| r["method"] == method)
            {
                return self.server_requests.remove(i);
            }
            let m = self.next_message().await;
            if m.get("id").is_none() {
                self.backlog.push_back(m);
            }
        }
    }

    /// Every notification `method` received so far (backlog), removed.
    pub fn take_backlog(&mut self, method: &str) -> Vec<Value> {
        let (taken, kept): (Vec<Value>, Vec<Value>) =
            self.backlog.drain(..).partition(|m| m["method"] == method);
        self.backlog = kept.into();
        taken.into_iter().map(|m| m["params"].clone()).collect()
    }

    pub async fn open(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "route", "version": version, "text": text } }),
        )
        .await;
    }

    pub async fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        )
        .await;
    }

    /// `shutdown`, then `exit`; the server must stop serving, cleanly.
    pub async fn shutdown(mut self) {
        let response = self.request("shutdown", Value::Null).await;
        assert_eq!(response["result"], Value::Null, "{response}");
        assert_eq!(self.exit().await, Exit::Clean);
    }

    /// `exit` (with or without `shutdown` before it); how the server says
    /// the session ended.
    pub async fn exit(mut self) -> Exit {
        self.notify("exit", Value::Null).await;
        tokio::time::timeout(LIMIT, self.server)
            .await
            .expect("the server did not stop after `exit`")
            .unwrap()
    }

    /// Reads the next message, whatever it is (requests from the server
    /// are answered and recorded as usual).
    pub async fn next(&mut self) -> Value {
        self.next_message().await
    }
}

/// The capabilities of a client like VS Code: inlay hint refreshes,
/// markdown hovers, snippets, every completion and symbol kind, nested
/// symbols, related information and code action literals.
pub fn refresh_capabilities() -> Value {
    let kinds = |n: u32| (1..=n).collect::<Vec<u32>>();
    json!({
        "workspace": {
            "inlayHint": { "refreshSupport": true },
            "symbol": { "symbolKind": { "valueSet": kinds(26) } },
        },
        "textDocument": {
            "hover": { "contentFormat": ["markdown", "plaintext"] },
            "completion": {
                "completionItem": { "snippetSupport": true },
                "completionItemKind": { "valueSet": kinds(25) },
            },
            "documentSymbol": {
                "hierarchicalDocumentSymbolSupport": true,
                "symbolKind": { "valueSet": kinds(26) },
            },
            "publishDiagnostics": { "relatedInformation": true },
            "codeAction": {
                "codeActionLiteralSupport": {
                    "codeActionKind": { "valueSet": ["quickfix", "refactor.rewrite"] }
                }
            },
        },
    })
}

/// `{ textDocument, position }` of the cursor in `URI`.
pub fn at(position: &Value) -> Value {
    json!({ "textDocument": { "uri": URI }, "position": position })
}

/// The byte offset of an LSP position (UTF-16 columns) in `text`.
pub fn offset(text: &str, position: &Value) -> usize {
    let line = position["line"].as_u64().unwrap() as usize;
    let col = position["character"].as_u64().unwrap() as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let mut units = 0;
    for (i, c) in text[start..].char_indices() {
        if units >= col || c == '\n' {
            return start + i;
        }
        units += c.len_utf16();
    }
    text.len()
}

/// `text` with LSP `TextEdit`s applied (non-overlapping, any order).
pub fn apply_edits(text: &str, edits: &Value) -> String {
    let mut edits: Vec<(usize, usize, String)> = edits
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                offset(text, &e["range"]["start"]),
                offset(text, &e["range"]["end"]),
                e["newText"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_owned();
    for (start, end, new) in edits {
        out.replace_range(start..end, &new);
    }
    out
}

/// The text an LSP range covers.
pub fn slice<'t>(text: &'t str, range: &Value) -> &'t str {
    &text[offset(text, &range["start"])..offset(text, &range["end"])]
}

/// The fixture's lines around `line` (0-based), numbered, for snapshots.
pub fn line_of(text: &str, line: usize) -> String {
    format!("{:>3} | {}", line + 1, text.lines().nth(line).unwrap_or(""))
}
