//! A guard in front of `tower-lsp-server`'s reader: it frames the input
//! itself and forwards only messages that decode as JSON-RPC.
//!
//! `tower-lsp-server` stops serving at the first body it cannot decode
//! (its framed reader ends the stream after a decoding error), so one
//! malformed message from a client, an extension or a proxy would take
//! every open document's language features down. Here a body that is not a
//! JSON-RPC request, notification or response is dropped with a line on
//! standard error, and a header block without a usable `Content-Length` is
//! skipped; the next well-formed message is served as usual.

use std::str::FromStr;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tower_lsp_server::jsonrpc::{Request, Response};

/// Bodies larger than this are refused (and skipped): four times the
/// compiler's source limit leaves room for JSON escaping.
const MAX_BODY: usize = 4 * routec_syntax::MAX_SOURCE_BYTES + (1 << 20);
/// Header lines longer than this are malformed.
const MAX_HEADER_LINE: u64 = 8 * 1024;

/// Returns a reader that yields `input`'s well-formed messages, re-framed.
pub fn guard<I>(input: I) -> DuplexStream
where
    I: AsyncRead + Unpin + Send + 'static,
{
    let (reader, writer) = tokio::io::duplex(1 << 16);
    tokio::spawn(forward(input, writer));
    reader
}

async fn forward<I: AsyncRead + Unpin>(input: I, mut out: DuplexStream) {
    let mut input = BufReader::new(input);
    loop {
        let length = match read_headers(&mut input).await {
            Headers::Length(n) if n <= MAX_BODY => n,
            Headers::Length(n) => {
                eprintln!("routec lsp: skipped a message of {n} bytes (the limit is {MAX_BODY})");
                // Its body is still framed: discard exactly that much.
                let mut body = (&mut input).take(n as u64);
                match tokio::io::copy(&mut body, &mut tokio::io::sink()).await {
                    Ok(skipped) if skipped == n as u64 => continue,
                    _ => return,
                }
            }
            Headers::Malformed => {
                eprintln!("routec lsp: skipped a header block without a valid `Content-Length`");
                continue;
            }
            Headers::End => return,
        };
        let mut body = vec![0; length];
        if input.read_exact(&mut body).await.is_err() {
            return;
        }
        if !decodes(&body) {
            eprintln!("routec lsp: dropped a message that is not JSON-RPC ({length} bytes)");
            continue;
        }
        let header = format!("Content-Length: {length}\r\n\r\n");
        if out.write_all(header.as_bytes()).await.is_err() || out.write_all(&body).await.is_err() {
            // The server stopped reading (it got `exit`).
            return;
        }
    }
}

enum Headers {
    Length(usize),
    Malformed,
    End,
}

/// Reads one header block (up to its blank line).
async fn read_headers<I: AsyncRead + Unpin>(input: &mut BufReader<I>) -> Headers {
    let mut length = None;
    let mut valid = true;
    let mut seen = false;
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

/// Would `tower-lsp-server` decode this body?
fn decodes(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    Request::from_str(text).is_ok() || Response::from_str(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_rpc_bodies_decode() {
        assert!(decodes(br#"{"jsonrpc":"2.0","method":"exit"}"#));
        assert!(decodes(br#"{"jsonrpc":"2.0","id":1,"result":null}"#));
        assert!(!decodes(b"not json!"));
        assert!(!decodes(b"[1, 2]"));
        assert!(!decodes(b"{}"));
        assert!(!decodes(&[0xff, 0xfe]));
    }
}
