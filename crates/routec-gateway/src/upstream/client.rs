//! The HTTP client of upstream calls (models, classifiers): hyper-util's
//! pooled client over rustls (ring, the webpki roots), HTTP/1.1 only,
//! directly or through the egress proxies of the environment
//! ([`super::egress`]), with the few request-builder methods the adapters
//! use.
//!
//! Upstream URLs are parsed once, when a table loads ([`Target::parse`]);
//! a call parses and formats no URL. An endpoint that is not a URL still
//! loads: calling it fails like a connection failure. As reqwest did,
//! credentials in a URL (`https://user:pass@host`) are sent as basic
//! authentication, and every request says `accept: */*` unless its
//! adapter says otherwise. No error text ever holds a URL (keys can be in
//! URLs).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, PROXY_AUTHORIZATION,
};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::ByteStream;
use super::egress::{Egress, Route};

type Pool = hyper_util::client::legacy::Client<Timed<HttpsConnector<Route>>, Full<Bytes>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a new connection may take, TLS handshake included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connector that gives up after `limit` (TCP connect and TLS handshake
/// together, as reqwest's connect timeout did).
#[derive(Clone, Debug)]
struct Timed<C> {
    inner: C,
    limit: Duration,
}

impl<C> tower::Service<Uri> for Timed<C>
where
    C: tower::Service<Uri>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err("connect timed out".into()),
            }
        })
    }
}

/// The pooled client (cheap to clone: clones share the pool).
#[derive(Clone, Debug)]
pub struct Client {
    pool: Pool,
    egress: Egress,
}

impl Client {
    /// Connects within 10 s with `TCP_NODELAY` (directly or through the
    /// proxies of `egress`); keeps idle connections 90 s.
    #[expect(
        deprecated,
        reason = "ring's provider (what reqwest used) lacks post-quantum key exchange; aws-lc's has it but needs a C build"
    )]
    pub fn new(egress: Egress) -> Result<Client, Error> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        // reqwest's TCP keepalive defaults, so an idle stream through a
        // dead peer or NAT is noticed.
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let tls = || {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
                .map_err(|e| Error::new(Kind::Tls, Some(Box::new(e))))
                .map(|b| b.https_or_http().enable_http1())
        };
        // To proxies: plain, or TLS to an `https://` proxy.
        let via = tls()?.wrap_connector(http.clone());
        let https = tls()?.wrap_connector(egress.connector(http, via));
        let connector = Timed {
            inner: https,
            limit: CONNECT_TIMEOUT,
        };
        let pool = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Client { pool, egress })
    }

    /// A `POST` to `target`.
    pub fn post(&self, target: &Target) -> RequestBuilder {
        let mut headers = HeaderMap::new();
        if let Some(basic) = &target.basic {
            headers.insert(AUTHORIZATION, basic.clone());
        }
        if let Some(uri) = &target.uri
            && let Some(auth) = self.egress.authorization(uri)
        {
            headers.insert(PROXY_AUTHORIZATION, auth);
        }
        RequestBuilder {
            pool: self.pool.clone(),
            uri: target.uri.clone(),
            headers,
            body: Bytes::new(),
            invalid_header: false,
        }
    }
}

/// An upstream URL, parsed once.
#[derive(Clone, Debug)]
pub struct Target {
    /// `None`: not an absolute `http(s)` URL (a call fails).
    uri: Option<Uri>,
    /// The URL's credentials, as basic authentication.
    basic: Option<HeaderValue>,
}

impl Target {
    /// Parses a URL; never fails (a URL that does not parse fails each
    /// call instead).
    pub fn parse(text: &str) -> Target {
        let Ok(uri) = text.parse::<Uri>() else {
            return Target::invalid();
        };
        let Some(authority) = uri.authority().filter(|_| uri.scheme().is_some()) else {
            return Target::invalid();
        };
        let Some((userinfo, host)) = authority.as_str().rsplit_once('@') else {
            return Target {
                uri: Some(uri),
                basic: None,
            };
        };
        let mut parts = uri.clone().into_parts();
        parts.authority = host.parse().ok();
        let Ok(uri) = Uri::from_parts(parts) else {
            return Target::invalid();
        };
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        let basic = if user.is_empty() && password.is_none() {
            None
        } else {
            basic_auth(user, password)
        };
        Target {
            uri: Some(uri),
            basic,
        }
    }

    fn invalid() -> Target {
        Target {
            uri: None,
            basic: None,
        }
    }

    /// Whether the URL parsed.
    pub fn is_valid(&self) -> bool {
        self.uri.is_some()
    }
}

/// `Basic base64(user:password)` of percent-encoded credentials; `None`
/// when they are not UTF-8 once decoded (reqwest then sent none either).
fn basic_auth(user: &str, password: Option<&str>) -> Option<HeaderValue> {
    let mut plain = percent_decode(user)?;
    plain.push(':');
    if let Some(p) = password {
        plain.push_str(&percent_decode(p)?);
    }
    let mut value = HeaderValue::try_from(format!("Basic {}", base64(plain.as_bytes()))).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A request being built.
#[derive(Debug)]
pub struct RequestBuilder {
    pool: Pool,
    uri: Option<Uri>,
    headers: HeaderMap,
    body: Bytes,
    /// A header value was not a valid header value (the call fails).
    invalid_header: bool,
}

impl RequestBuilder {
    /// Adds a header (a value that is not a valid header value makes the
    /// call fail).
    pub fn header<V>(mut self, name: HeaderName, value: V) -> RequestBuilder
    where
        V: TryInto<HeaderValue>,
    {
        match value.try_into() {
            Ok(v) => {
                self.headers.append(name, v);
            }
            Err(_) => self.invalid_header = true,
        }
        self
    }

    /// `Authorization: Bearer {token}` (kept out of debug output).
    pub fn bearer_auth(mut self, token: &str) -> RequestBuilder {
        match HeaderValue::try_from(format!("Bearer {token}")) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.headers.append(AUTHORIZATION, v);
            }
            Err(_) => self.invalid_header = true,
        }
        self
    }

    /// The body, sent with its `content-length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> RequestBuilder {
        self.body = body.into();
        self
    }

    /// Sends the request; the answer's headers have arrived when it
    /// returns.
    pub async fn send(self) -> Result<Response, Error> {
        let Some(uri) = self.uri else {
            return Err(Error::new(Kind::Url, None));
        };
        if self.invalid_header {
            return Err(Error::new(Kind::Header, None));
        }
        let mut request = Request::new(Full::new(self.body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        request
            .headers_mut()
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let response = self
            .pool
            .request(request)
            .await
            .map_err(|e| Error::new(Kind::Send, Some(Box::new(e))))?;
        Ok(Response { inner: response })
    }
}

/// An answer whose body has not been read.
#[derive(Debug)]
pub struct Response {
    inner: http::Response<hyper::body::Incoming>,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The body as it arrives.
    pub fn bytes_stream(self) -> ByteStream {
        Box::pin(
            self.inner
                .into_body()
                .into_data_stream()
                .map(|r| r.map_err(|e| Error::new(Kind::Body, Some(Box::new(e))))),
        )
    }

    /// The whole body, at most `limit` bytes (a longer body is an error).
    pub async fn bytes(self, limit: usize) -> Result<Bytes, Error> {
        let too_large = || Error::new(Kind::TooLarge, None);
        let declared = self
            .inner
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = self.inner.into_body();
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::new(Kind::Body, Some(Box::new(e))))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    }

    /// The whole body as text (invalid UTF-8 replaced), at most `limit`
    /// bytes.
    pub async fn text(self, limit: usize) -> Result<String, Error> {
        let bytes = self.bytes(limit).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A failed call: what failed, then its causes (`error sending request:
/// client error (Connect): tcp connect error: Connection refused`). Never
/// holds a URL.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tls,
    Url,
    Header,
    Send,
    Body,
    TooLarge,
}

impl Error {
    fn new(kind: Kind, source: Option<BoxError>) -> Error {
        Error { kind, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Tls => "cannot set up TLS",
            Kind::Url => "invalid URL",
            Kind::Header => "invalid header value",
            Kind::Send => "error sending request",
            Kind::Body => "request or response body error",
            Kind::TooLarge => "the answer is too large",
        })?;
        let mut source = self
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static));
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_once_and_keep_credentials_out_of_the_uri() {
        let t = Target::parse("http://h:8000/v1/chat/completions");
        assert_eq!(
            t.uri.as_ref().map(ToString::to_string).as_deref(),
            Some("http://h:8000/v1/chat/completions")
        );
        assert!(t.basic.is_none());
        let t = Target::parse("https://us%40er:p%3Ass@h/x");
        assert_eq!(
            t.uri.as_ref().map(ToString::to_string).as_deref(),
            Some("https://h/x")
        );
        // base64("us@er:p:ss")
        assert_eq!(
            t.basic.as_ref().and_then(|v| v.to_str().ok()),
            Some("Basic dXNAZXI6cDpzcw==")
        );
        assert!(!Target::parse("not a url").is_valid());
        assert!(!Target::parse("/v1/chat/completions").is_valid());
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    /// Answers one request with `answer` and hands back the request's
    /// head and body as received.
    async fn one_request(answer: &'static str) -> (String, tokio::sync::oneshot::Receiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length || n == 0 {
                        tx.send(text).unwrap();
                        break;
                    }
                }
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        (addr.to_string(), rx)
    }

    #[tokio::test]
    async fn requests_carry_their_length_host_accept_and_url_credentials() {
        let (addr, seen) = one_request("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
        let target = Target::parse(&format!("http://u:p@{addr}/v1/x?k=1"));
        let response = Client::new(Egress::direct())
            .unwrap()
            .post(&target)
            .header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text(5).await.unwrap(), "hello");
        let seen = seen.await.unwrap();
        let (_, body) = seen.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head_lines(&seen),
            [
                "POST /v1/x?k=1 HTTP/1.1",
                "accept: */*",
                "authorization: Basic dTpw",
                "content-length: 2",
                "content-type: application/json",
                &format!("host: {addr}"),
            ]
        );
        assert_eq!(body, "{}");
    }

    fn egress(vars: &[(&str, String)]) -> Egress {
        Egress::from_env(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    /// The request's head lines, headers sorted.
    fn head_lines(seen: &str) -> Vec<&str> {
        let (head, _) = seen.split_once("\r\n\r\n").unwrap();
        let mut lines: Vec<&str> = head.lines().collect();
        lines[1..].sort_unstable();
        lines
    }

    #[tokio::test]
    async fn plain_http_goes_to_its_proxy_in_absolute_form_with_the_proxy_credentials() {
        let (proxy, seen) = one_request("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
        let client = Client::new(egress(&[(
            "HTTP_PROXY",
            format!("http://Aladdin:open%20sesame@{proxy}"),
        )]))
        .unwrap();
        let response = client
            .post(&Target::parse("http://upstream.invalid:8000/v1/x?k=1"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text(5).await.unwrap(), "hello");
        let seen = seen.await.unwrap();
        assert_eq!(
            head_lines(&seen),
            [
                "POST http://upstream.invalid:8000/v1/x?k=1 HTTP/1.1",
                "accept: */*",
                "content-length: 2",
                "host: upstream.invalid:8000",
                // base64("Aladdin:open sesame")
                "proxy-authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            ]
        );
    }

    #[tokio::test]
    async fn https_goes_through_a_connect_tunnel_with_the_proxy_credentials() {
        // The fake proxy accepts the tunnel and hangs up: the TLS
        // handshake then fails.
        let (proxy, seen) = one_request("HTTP/1.1 200 Connection established\r\n\r\n").await;
        let client = Client::new(egress(&[
            ("HTTPS_PROXY", format!("u:p@{proxy}")),
            ("HTTP_PROXY", "http://127.0.0.1:9".to_owned()),
        ]))
        .unwrap();
        let sent = client
            .post(&Target::parse("https://upstream.invalid/v1/x"))
            .send()
            .await;
        assert!(sent.is_err());
        let seen = seen.await.unwrap();
        assert_eq!(
            head_lines(&seen),
            [
                "CONNECT upstream.invalid:443 HTTP/1.1",
                "Host: upstream.invalid:443",
                "Proxy-Authorization: Basic dTpw",
            ]
        );
    }

    #[tokio::test]
    async fn hosts_in_no_proxy_and_calls_without_proxy_variables_go_directly() {
        // A proxy that refuses connections: a call through it fails.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = closed.local_addr().unwrap();
        drop(closed);
        for vars in [
            vec![
                ("http_proxy", format!("http://u:p@{proxy}")),
                ("no_proxy", "example.invalid, 127.0.0.0/8".to_owned()),
            ],
            vec![],
        ] {
            let (addr, seen) = one_request("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
            let response = Client::new(egress(&vars))
                .unwrap()
                .post(&Target::parse(&format!("http://{addr}/v1/x")))
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(response.text(2).await.unwrap(), "ok");
            let seen = seen.await.unwrap();
            assert_eq!(
                head_lines(&seen),
                [
                    "POST /v1/x HTTP/1.1",
                    "accept: */*",
                    "content-length: 2",
                    &format!("host: {addr}"),
                ],
                "{vars:?}"
            );
        }
    }

    #[tokio::test]
    async fn answers_over_the_limit_and_redirects_are_not_read() {
        let (addr, _seen) = one_request(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\ncontent-length: 5\r\n\r\nhello",
        )
        .await;
        let response = Client::new(Egress::direct())
            .unwrap()
            .post(&Target::parse(&format!("http://{addr}/")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response
                .bytes(4)
                .await
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("the answer is too large")
        );
    }

    #[tokio::test]
    async fn transport_errors_give_their_causes_and_no_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = Client::new(Egress::direct())
            .unwrap()
            .post(&Target::parse(&format!("http://{addr}/v1?key=sk-secret")))
            .send()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap();
        assert!(
            e.starts_with("error sending request: client error (Connect): "),
            "{e}"
        );
        assert!(
            !e.contains("sk-secret") && !e.contains(&addr.to_string()),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_invalid_url_fails_the_call_without_naming_it() {
        let e = Client::new(Egress::direct())
            .unwrap()
            .post(&Target::parse("http://sk-secret@[bad/"))
            .send()
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("invalid URL"));
    }
}
