//! A server-sent events reader: bytes in, `(event, data)` pairs out
//! (multi-line `data:` fields joined with `\n`; comments and `id:`/`retry:`
//! fields ignored), bounded so a broken upstream cannot grow it forever.

use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};

use super::{ByteStream, Fault};

/// The longest event accepted.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

struct Reader {
    bytes: ByteStream,
    buf: BytesMut,
    done: bool,
}

/// The events of a byte stream. A transport error ends it with
/// [`Fault::Connection`]; an event over [`MAX_EVENT_BYTES`] or invalid
/// UTF-8 with [`Fault::Malformed`]. A final event not followed by a blank
/// line is still delivered.
pub fn events(bytes: ByteStream) -> impl Stream<Item = Result<Event, Fault>> + Send {
    let reader = Reader {
        bytes,
        buf: BytesMut::new(),
        done: false,
    };
    futures_util::stream::unfold(reader, |mut r| async move {
        loop {
            if let Some(end) = find_blank_line(&r.buf) {
                let raw = r.buf.split_to(end.0);
                r.buf.advance(end.1);
                match parse_event(&raw) {
                    Ok(Some(e)) => return Some((Ok(e), r)),
                    Ok(None) => continue,
                    Err(f) => {
                        r.done = true;
                        r.buf.clear();
                        return Some((Err(f), r));
                    }
                }
            }
            if r.done {
                if r.buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                let raw = std::mem::take(&mut r.buf);
                return match parse_event(&raw) {
                    Ok(Some(e)) => Some((Ok(e), r)),
                    Ok(None) => None,
                    Err(f) => Some((Err(f), r)),
                };
            }
            if r.buf.len() > MAX_EVENT_BYTES {
                r.done = true;
                r.buf.clear();
                return Some((Err(Fault::Malformed("event too long".into())), r));
            }
            match r.bytes.next().await {
                Some(Ok(b)) => r.buf.extend_from_slice(&b),
                Some(Err(e)) => {
                    r.done = true;
                    r.buf.clear();
                    return Some((Err(Fault::Connection(e.to_string())), r));
                }
                None => r.done = true,
            }
        }
    })
}

/// `(end of the event, length of the separator)`.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

fn parse_event(raw: &[u8]) -> Result<Option<Event>, Fault> {
    let text = std::str::from_utf8(raw).map_err(|_| Fault::Malformed("invalid UTF-8".into()))?;
    let mut event = None;
    let mut data: Option<String> = None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => {
                let d = data.get_or_insert_with(String::new);
                if !d.is_empty() {
                    d.push('\n');
                }
                d.push_str(value);
            }
            _ => {}
        }
    }
    Ok(data.map(|data| Event { event, data }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test]
    async fn events_split_across_reads() {
        let parts: Vec<Result<Bytes, crate::upstream::client::Error>> = vec![
            Ok(Bytes::from_static(b"event: a\ndata: {\"x\"")),
            Ok(Bytes::from_static(
                b":1}\n\n: comment\n\ndata: two\ndata: lines\r\n\r\n",
            )),
            Ok(Bytes::from_static(b"data: [DONE]")),
        ];
        let stream: ByteStream = Box::pin(futures_util::stream::iter(parts));
        let got: Vec<_> = events(stream).collect().await;
        assert_eq!(
            got,
            vec![
                Ok(Event {
                    event: Some("a".into()),
                    data: "{\"x\":1}".into()
                }),
                Ok(Event {
                    event: None,
                    data: "two\nlines".into()
                }),
                Ok(Event {
                    event: None,
                    data: "[DONE]".into()
                }),
            ]
        );
    }
}
