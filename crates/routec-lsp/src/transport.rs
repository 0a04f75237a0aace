//! Guards on both sides of `tower-lsp-server`'s transport.
//!
//! Input ([`guard`]): the input is framed here and only messages that
//! decode as JSON-RPC are forwarded, because `tower-lsp-server` stops
//! serving at the first body it cannot decode (its framed reader ends the
//! stream after a decoding error): one malformed message from a client, an
//! extension or a proxy would take every open document's language features
//! down. What cannot be read gets the JSON-RPC error reply the protocol
//! asks for, with `id: null` (the id could not be read), plus a line on
//! standard error:
//! - a body that is not JSON: `-32700` (Parse error);
//! - JSON that is not a JSON-RPC request, notification or response:
//!   `-32600` (Invalid Request), with the request's id when it has a
//!   readable one and a `method` (so the client's pending request ends);
//!   a broken *response* is only logged (answering a response would start
//!   a loop with a client that does the same);
//! - a header block without a valid `Content-Length`: `-32700`, and since
//!   the length of what follows is unknown, everything up to the next
//!   `Content-Length` header is skipped, so the next well-formed frame is
//!   read as usual;
//! - a body over [`MAX_BODY`]: `-32600`, and its bytes are skipped.
//!
//! Output ([`pump`]): the server writes its framed messages into a pipe;
//! the pump copies them whole to the real output and writes the input
//! guard's error replies between them, never inside one.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tower_lsp_server::jsonrpc::{Request, Response};

/// Bodies larger than this are refused (and skipped): four times the
/// compiler's source limit leaves room for JSON escaping.
const MAX_BODY: usize = 4 * routec_syntax::MAX_SOURCE_BYTES + (1 << 20);
/// Header lines longer than this are malformed.
const MAX_HEADER_LINE: u64 = 8 * 1024;
/// JSON-RPC's error codes for what the guard refuses.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// An error reply for the client, written by [`pump`].
pub type Reply = Value;

/// Returns a reader that yields `input`'s well-formed messages, re-framed;
/// error replies for the rest go to `replies`. `shutdown` turns true when a
/// `shutdown` request has been read (the exit status depends on it, and a
/// client may send `exit` right behind it, before the request is handled).
pub fn guard<I>(
    input: I,
    replies: UnboundedSender<Reply>,
    shutdown: Arc<AtomicBool>,
) -> DuplexStream
where
    I: AsyncRead + Unpin + Send + 'static,
{
    let (reader, writer) = tokio::io::duplex(1 << 16);
    tokio::spawn(forward(input, writer, replies, shutdown));
    reader
}

fn error(id: Value, code: i64, message: String) -> Reply {
    eprintln!("routec lsp: {message}");
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

async fn forward<I: AsyncRead + Unpin>(
    input: I,
    mut out: DuplexStream,
    replies: UnboundedSender<Reply>,
    shutdown: Arc<AtomicBool>,
) {
    let mut input = BufReader::new(input);
    let mut resync = false;
    loop {
        let headers = read_headers(&mut input, resync).await;
        resync = false;
        let length = match headers {
            Headers::Length(n) if n <= MAX_BODY => n,
            Headers::Length(n) => {
                let _ = replies.send(error(
                    Value::Null,
                    INVALID_REQUEST,
                    format!("refused a message of {n} bytes (the limit is {MAX_BODY})"),
                ));
                // Its body is still framed: discard exactly that much.
                let mut body = (&mut input).take(n as u64);
                match tokio::io::copy(&mut body, &mut tokio::io::sink()).await {
                    Ok(skipped) if skipped == n as u64 => continue,
                    _ => return,
                }
            }
            Headers::Malformed => {
                let _ = replies.send(error(
                    Value::Null,
                    PARSE_ERROR,
                    "Parse error: a header block without a valid `Content-Length`; skipped up to the next `Content-Length` header".to_owned(),
                ));
                resync = true;
                continue;
            }
            Headers::End => return,
        };
        let mut body = vec![0; length];
        if input.read_exact(&mut body).await.is_err() {
            return;
        }
        match check(&body) {
            Ok(Read::Shutdown) => shutdown.store(true, Ordering::Release),
            Ok(Read::Other) => {}
            Err(Some(reply)) => {
                let _ = replies.send(reply);
                continue;
            }
            Err(None) => continue,
        }
        let header = format!("Content-Length: {length}\r\n\r\n");
        if out.write_all(header.as_bytes()).await.is_err() || out.write_all(&body).await.is_err() {
            // The server stopped reading (it got `exit`).
            return;
        }
    }
}

#[derive(Debug, PartialEq)]
enum Headers {
    Length(usize),
    Malformed,
    End,
}

/// The header whose absence makes a block unreadable, lowercase.
const CONTENT_LENGTH: &[u8] = b"content-length:";

/// Consumes `input` up to and including the next `Content-Length:`
/// (any case). False at the end of the input.
async fn skip_to_content_length<I: AsyncRead + Unpin>(input: &mut BufReader<I>) -> bool {
    let mut matched = 0;
    loop {
        let buf = match input.fill_buf().await {
            Ok([]) | Err(_) => return false,
            Ok(buf) => buf,
        };
        let mut used = buf.len();
        for (i, b) in buf.iter().enumerate() {
            let b = b.to_ascii_lowercase();
            // The pattern's first byte occurs nowhere else in it, so a
            // mismatch restarts at this byte.
            matched = if b == CONTENT_LENGTH[matched] {
                matched + 1
            } else {
                usize::from(b == CONTENT_LENGTH[0])
            };
            if matched == CONTENT_LENGTH.len() {
                used = i + 1;
                break;
            }
        }
        input.consume(used);
        if matched == CONTENT_LENGTH.len() {
            return true;
        }
    }
}

/// Reads one header block (up to its blank line). With `resync`, first
/// skips everything up to the next `Content-Length:` header, whose value
/// starts the block.
async fn read_headers<I: AsyncRead + Unpin>(input: &mut BufReader<I>, resync: bool) -> Headers {
    let mut length = None;
    let mut valid = true;
    let mut seen = false;
    let mut pending = None;
    if resync {
        if !skip_to_content_length(input).await {
            return Headers::End;
        }
        pending = Some(String::from_utf8_lossy(CONTENT_LENGTH).into_owned());
    }
    loop {
        let mut line = Vec::new();
        match (&mut *input)
            .take(MAX_HEADER_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return Headers::End,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') {
            // Longer than any header: skip the rest of that line.
            valid = false;
            continue;
        }
        let line = String::from_utf8_lossy(&line);
        let line = match pending.take() {
            Some(start) => format!("{start}{line}"),
            None => line.into_owned(),
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if !seen {
                continue;
            }
            return match (valid, length) {
                (true, Some(n)) => Headers::Length(n),
                _ => Headers::Malformed,
            };
        }
        seen = true;
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) if length.is_none() => length = Some(n),
                    _ => valid = false,
                }
            }
            Some(_) => {}
            None => valid = false,
        }
    }
}

/// What a well-formed message is, as far as the guard cares.
#[derive(Debug, PartialEq)]
enum Read {
    Shutdown,
    Other,
}

/// `Ok` when `tower-lsp-server` would decode this body; otherwise the
/// error reply it deserves, if any.
fn check(body: &[u8]) -> Result<Read, Option<Reply>> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Some(error(
            Value::Null,
            PARSE_ERROR,
            format!(
                "Parse error: a message of {} bytes that is not UTF-8",
                body.len()
            ),
        )));
    };
    if let Ok(request) = Request::from_str(text) {
        return Ok(if request.method() == "shutdown" {
            Read::Shutdown
        } else {
            Read::Other
        });
    }
    if Response::from_str(text).is_ok() {
        return Ok(Read::Other);
    }
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(e) => {
            return Err(Some(error(
                Value::Null,
                PARSE_ERROR,
                format!("Parse error: a message that is not JSON ({e})"),
            )));
        }
    };
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    if value.is_object() && value.get("method").is_none() && !id.is_null() {
        eprintln!("routec lsp: dropped a response that is not JSON-RPC (id {id})");
        return Err(None);
    }
    let id = if value.get("method").is_some() {
        id
    } else {
        Value::Null
    };
    Err(Some(error(
        id,
        INVALID_REQUEST,
        "Invalid Request: a message that is not a JSON-RPC request, notification or response"
            .to_owned(),
    )))
}

/// Copies the server's framed messages from `server` to `output` whole,
/// and writes each of `replies` between two of them. Returns when the
/// server closes its side (after `exit`) or the output fails.
pub async fn pump<O: AsyncWrite + Unpin>(
    server: DuplexStream,
    mut output: O,
    mut replies: UnboundedReceiver<Reply>,
) {
    enum Next {
        Message,
        Reply(Reply),
        End,
    }
    let mut server = BufReader::new(server);
    loop {
        let next = tokio::select! {
            biased;
            ready = server.fill_buf() => match ready {
                Ok([]) | Err(_) => Next::End,
                Ok(_) => Next::Message,
            },
            Some(reply) = replies.recv() => Next::Reply(reply),
        };
        let body = match next {
            Next::End => {
                // Replies already queued still go out (the server may have
                // stopped right after the message that earned one).
                while let Ok(reply) = replies.try_recv() {
                    if write_message(&mut output, &serde_json::to_vec(&reply).unwrap_or_default())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                return;
            }
            Next::Reply(reply) => serde_json::to_vec(&reply).unwrap_or_default(),
            Next::Message => {
                let Headers::Length(n) = read_headers(&mut server, false).await else {
                    return;
                };
                let mut body = vec![0; n];
                if server.read_exact(&mut body).await.is_err() {
                    return;
                }
                body
            }
        };
        if write_message(&mut output, &body).await.is_err() {
            return;
        }
    }
}

async fn write_message<O: AsyncWrite + Unpin>(output: &mut O, body: &[u8]) -> std::io::Result<()> {
    let header = format!("Content-Length: {}\r\n\r\n", body.len());
    output.write_all(header.as_bytes()).await?;
    output.write_all(body).await?;
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &[u8]) -> Option<(Value, i64)> {
        match check(body) {
            Ok(_) => None,
            Err(None) => Some((Value::Null, 0)),
            Err(Some(reply)) => Some((
                reply["id"].clone(),
                reply["error"]["code"].as_i64().unwrap_or(0),
            )),
        }
    }

    #[test]
    fn only_json_rpc_bodies_pass_and_the_rest_get_their_error_code() {
        assert_eq!(code(br#"{"jsonrpc":"2.0","method":"exit"}"#), None);
        assert_eq!(
            check(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#),
            Ok(Read::Shutdown)
        );
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"result":null}"#), None);
        assert_eq!(code(b"not json!"), Some((Value::Null, PARSE_ERROR)));
        assert_eq!(code(&[0xff, 0xfe]), Some((Value::Null, PARSE_ERROR)));
        assert_eq!(code(b"[1, 2]"), Some((Value::Null, INVALID_REQUEST)));
        assert_eq!(code(b"{}"), Some((Value::Null, INVALID_REQUEST)));
        // A request whose id can be read gets its error under that id.
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":7,"method":42}"#),
            Some((json!(7), INVALID_REQUEST))
        );
        // A broken response is dropped without a reply.
        assert_eq!(
            code(br#"{"jsonrpc":"1.0","id":7,"result":1}"#),
            Some((Value::Null, 0))
        );
    }

    async fn headers_of(input: &[u8]) -> Vec<Headers> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        let mut resync = false;
        loop {
            let h = read_headers(&mut reader, resync).await;
            resync = h == Headers::Malformed;
            if h == Headers::End {
                return out;
            }
            if let Headers::Length(n) = h {
                let mut body = vec![0; n];
                let _ = reader.read_exact(&mut body).await;
            }
            out.push(h);
        }
    }

    #[tokio::test]
    async fn a_frame_without_content_length_is_skipped_up_to_the_next_frame() {
        let input = b"Content-Type: x\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"a\"}Content-Length: 2\r\n\r\n{}CONTENT-LENGTH: 3\r\n\r\nabcContent-Length: 1\r\n\r\nx";
        assert_eq!(
            headers_of(input).await,
            [
                Headers::Malformed,
                Headers::Length(2),
                Headers::Length(3),
                Headers::Length(1)
            ]
        );
        // A pattern split across reads, and a near miss before it.
        let input = b"X: y\r\n\r\ncontent-lengtcontent-length: 1\r\n\r\nx";
        assert_eq!(
            headers_of(input).await,
            [Headers::Malformed, Headers::Length(1)]
        );
    }
}
