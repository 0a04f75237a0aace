//! Egress proxies: which upstream calls go through an HTTP proxy, read
//! once at start from the proxy variables as reqwest 0.12 read them
//! (through hyper-util's [`Matcher`]), and the connector that follows
//! that choice.
//!
//! - `HTTP_PROXY` (else `http_proxy`) for `http://` upstreams,
//!   `HTTPS_PROXY` (else `https_proxy`) for `https://` ones, `ALL_PROXY`
//!   (else `all_proxy`) for a scheme without its own; the upper-case name
//!   wins when both are set, even when empty. A value that is not an
//!   `http(s)://` URL (a bare `host:port` is `http://`) is ignored.
//! - `NO_PROXY` (else `no_proxy`): comma-separated domains (each matches
//!   itself and its subdomains; a leading dot changes nothing; case
//!   ignored), IP addresses, CIDR networks, or `*` for every host.
//! - With `REQUEST_METHOD` set (running as CGI, where `HTTP_PROXY` can
//!   come from a request's `Proxy:` header), every variable is ignored.
//! - `socks4(a)://` and `socks5(h)://` proxies are refused at start.
//!
//! An `https://` upstream is reached through a `CONNECT` tunnel (TLS to
//! the upstream inside it); an `http://` upstream's request goes to the
//! proxy in absolute form. Credentials in the proxy URL go as basic
//! `Proxy-Authorization`, on the `CONNECT` or on each plain request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use http::header::HeaderValue;
use http::uri::Scheme;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where upstream calls go: directly, or through proxies.
#[derive(Clone, Debug, Default)]
pub struct Egress {
    /// `None`: every call goes directly.
    matcher: Option<Arc<Matcher>>,
    /// One line for the start log (no credentials), when there is
    /// something to say.
    summary: Option<String>,
}

/// A proxy chosen for one scheme: the variable it came from and its URL
/// as hyper-util parsed it.
struct Chosen {
    var: &'static str,
    value: String,
    proxy: Intercept,
}

impl Egress {
    /// Every call direct.
    pub fn direct() -> Egress {
        Egress::default()
    }

    /// Reads the proxy variables through `env`. `Err` for a SOCKS proxy
    /// (naming its variable).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Egress, String> {
        let first = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|name| env(name).map(|value| (name, value)))
        };
        let all = first(["ALL_PROXY", "all_proxy"]);
        let http = first(["HTTP_PROXY", "http_proxy"]);
        let https = first(["HTTPS_PROXY", "https_proxy"]);
        let no = first(["NO_PROXY", "no_proxy"]);
        let mut ignored = Vec::new();
        if env("REQUEST_METHOD").is_some() {
            let set: Vec<String> = [&all, &http, &https]
                .into_iter()
                .flatten()
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            return Ok(Egress {
                matcher: None,
                summary: (!set.is_empty()).then(|| {
                    format!(
                        "`REQUEST_METHOD` is set (CGI): {} ignored, upstream calls go directly",
                        set.join(", ")
                    )
                }),
            });
        }
        let mut choose = |own: &Option<(&'static str, String)>| -> Option<Chosen> {
            [own, &all].into_iter().flatten().find_map(|(var, value)| {
                let proxy = parse(value);
                if proxy.is_none() && !value.trim().is_empty() && !ignored.contains(var) {
                    ignored.push(*var);
                }
                proxy.map(|proxy| Chosen {
                    var,
                    value: value.clone(),
                    proxy,
                })
            })
        };
        let http = choose(&http);
        let https = choose(&https);
        for chosen in [&http, &https].into_iter().flatten() {
            if let Some(scheme) = chosen
                .proxy
                .uri()
                .scheme_str()
                .filter(|s| s.starts_with("socks"))
            {
                return Err(format!(
                    "`{}` names a `{scheme}` proxy; upstream calls go through HTTP proxies only (`http://` or `https://`)",
                    chosen.var
                ));
            }
        }
        let mut notes: Vec<String> = ignored
            .iter()
            .map(|var| format!("`{var}` is not a proxy URL, ignored"))
            .collect();
        if http.is_none() && https.is_none() {
            return Ok(Egress {
                matcher: None,
                summary: (!notes.is_empty()).then(|| notes.join("; ")),
            });
        }
        let mut routes = Vec::new();
        for (scheme, chosen) in [("http://", &http), ("https://", &https)] {
            routes.push(match chosen {
                Some(c) => format!(
                    "{scheme} upstreams through `{}` (`{}`)",
                    shown(&c.proxy),
                    c.var
                ),
                None => format!("{scheme} upstreams directly"),
            });
        }
        let mut summary = format!("egress: {}", routes.join(", "));
        if let Some((var, value)) = no.as_ref().filter(|(_, v)| !v.trim().is_empty()) {
            summary.push_str(&format!(", except hosts in `{var}` (`{}`)", value.trim()));
        }
        notes.insert(0, summary);
        let mut builder = Matcher::builder();
        if let Some(c) = &http {
            builder = builder.http(c.value.as_str());
        }
        if let Some(c) = &https {
            builder = builder.https(c.value.as_str());
        }
        if let Some((_, value)) = &no {
            builder = builder.no(value.as_str());
        }
        Ok(Egress {
            matcher: Some(Arc::new(builder.build())),
            summary: Some(notes.join("; ")),
        })
    }

    /// The start log's line: which proxy serves which scheme (never the
    /// credentials); `None` when every call goes directly and no variable
    /// was ignored.
    pub fn summary(&self) -> Option<&str> {
        self.summary.as_deref()
    }

    /// The `Proxy-Authorization` of a request to `uri`: the credentials of
    /// the proxy of a plain `http://` upstream (an `https://` upstream's go
    /// on its `CONNECT`).
    pub(super) fn authorization(&self, uri: &Uri) -> Option<HeaderValue> {
        if uri.scheme() != Some(&Scheme::HTTP) {
            return None;
        }
        let proxy = self.matcher.as_ref()?.intercept(uri)?;
        proxy.basic_auth().cloned()
    }

    /// The connector under TLS: `direct` for direct calls, `via` (plain or
    /// TLS to the proxy) to reach proxies.
    pub(super) fn connector(
        &self,
        direct: HttpConnector,
        via: HttpsConnector<HttpConnector>,
    ) -> Route {
        Route {
            direct,
            via,
            matcher: self.matcher.clone(),
        }
    }
}

/// A proxy value as hyper-util reads it (`None`: not a usable proxy URL).
fn parse(value: &str) -> Option<Intercept> {
    Matcher::builder()
        .http(value)
        .build()
        .intercept(&Uri::from_static("http://example.invalid/"))
}

/// `scheme://host:port` of a proxy (its credentials are not in its URI).
fn shown(proxy: &Intercept) -> String {
    let uri = proxy.uri();
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    )
}

/// Connects to an upstream directly, to its proxy (for a plain `http://`
/// upstream), or through a `CONNECT` tunnel (for an `https://` one, whose
/// TLS the `HttpsConnector` around this one then sets up).
#[derive(Clone, Debug)]
pub(super) struct Route {
    direct: HttpConnector,
    via: HttpsConnector<HttpConnector>,
    matcher: Option<Arc<Matcher>>,
}

impl tower::Service<Uri> for Route {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self.matcher.as_ref().and_then(|m| m.intercept(&dst));
        match proxy {
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move {
                    Ok(Conn {
                        io: MaybeHttpsStream::Http(connecting.await?),
                        proxied: false,
                    })
                })
            }
            Some(proxy) if dst.scheme() == Some(&Scheme::HTTPS) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.via.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let tunneling = tunnel.call(dst);
                Box::pin(async move {
                    Ok(Conn {
                        io: tunneling.await?,
                        proxied: false,
                    })
                })
            }
            Some(proxy) => {
                let connecting = self.via.call(proxy.uri().clone());
                Box::pin(async move {
                    Ok(Conn {
                        io: connecting.await?,
                        proxied: true,
                    })
                })
            }
        }
    }
}

/// A connection to an upstream or to its proxy (plain, or TLS to an
/// `https://` proxy). `proxied`: the requests on it go to an HTTP proxy
/// (hyper then writes them in absolute form).
pub(super) struct Conn {
    io: MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>,
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(vars: &[(&str, &str)]) -> Result<Egress, String> {
        Egress::from_env(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    /// The proxy `url` goes through (`scheme://host:port`), or `direct`.
    fn via(egress: &Egress, url: &str) -> String {
        let uri: Uri = url.parse().unwrap();
        match egress.matcher.as_ref().and_then(|m| m.intercept(&uri)) {
            Some(proxy) => shown(&proxy),
            None => "direct".to_owned(),
        }
    }

    #[test]
    fn each_scheme_has_its_variable_upper_case_first_then_all_proxy() {
        let e = egress(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("http_proxy", "http://lower:1"),
            ("https_proxy", "lower-s:2"),
            ("ALL_PROXY", "http://all:3"),
        ])
        .unwrap();
        assert_eq!(via(&e, "http://a.example/"), "http://upper:1");
        assert_eq!(via(&e, "https://a.example/"), "http://lower-s:2");
        let e = egress(&[("all_proxy", "https://all:3")]).unwrap();
        assert_eq!(via(&e, "http://a.example/"), "https://all:3");
        assert_eq!(via(&e, "https://a.example/"), "https://all:3");
        // Set but empty: the lower-case one is not read, ALL_PROXY is.
        let e = egress(&[
            ("HTTP_PROXY", ""),
            ("http_proxy", "http://lower:1"),
            ("ALL_PROXY", "http://all:3"),
        ])
        .unwrap();
        assert_eq!(via(&e, "http://a.example/"), "http://all:3");
        let e = egress(&[]).unwrap();
        assert_eq!(via(&e, "https://a.example/"), "direct");
        assert!(e.matcher.is_none());
        assert_eq!(e.summary(), None);
    }

    #[test]
    fn no_proxy_matches_domains_and_subdomains_ips_networks_and_star() {
        let e = egress(&[
            ("HTTPS_PROXY", "http://p:8"),
            ("HTTP_PROXY", "http://p:8"),
            (
                "NO_PROXY",
                "internal.example, .Corp.example,10.0.0.0/8, ::1 ,192.168.1.7",
            ),
        ])
        .unwrap();
        for (url, expect) in [
            ("https://internal.example/", "direct"),
            ("https://api.internal.example/", "direct"),
            ("https://notinternal.example/", "http://p:8"),
            ("https://corp.example/", "direct"),
            ("https://a.b.CORP.example:8443/", "direct"),
            ("http://10.1.2.3:8000/", "direct"),
            ("http://11.1.2.3/", "http://p:8"),
            ("http://[::1]:8000/", "direct"),
            ("http://192.168.1.7/", "direct"),
            ("http://192.168.1.8/", "http://p:8"),
            ("https://api.openai.com/", "http://p:8"),
        ] {
            assert_eq!(via(&e, url), expect, "{url}");
        }
        let e = egress(&[("ALL_PROXY", "http://p:8"), ("no_proxy", "*")]).unwrap();
        assert_eq!(via(&e, "https://api.openai.com/"), "direct");
    }

    #[test]
    fn the_summary_names_proxies_and_variables_but_no_credentials() {
        let e = egress(&[
            ("HTTPS_PROXY", "http://user:s3cret@proxy.corp:3128"),
            ("NO_PROXY", "localhost,.internal"),
        ])
        .unwrap();
        assert_eq!(
            e.summary(),
            Some(
                "egress: http:// upstreams directly, https:// upstreams through \
                 `http://proxy.corp:3128` (`HTTPS_PROXY`), except hosts in `NO_PROXY` \
                 (`localhost,.internal`)"
            )
        );
        let e = egress(&[("HTTP_PROXY", "ftp://p:21"), ("ALL_PROXY", "http://p:8")]).unwrap();
        assert_eq!(
            e.summary(),
            Some(
                "egress: http:// upstreams through `http://p:8` (`ALL_PROXY`), https:// \
                 upstreams through `http://p:8` (`ALL_PROXY`); `HTTP_PROXY` is not a proxy \
                 URL, ignored"
            )
        );
    }

    #[test]
    fn under_cgi_every_proxy_variable_is_ignored() {
        let e = egress(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://from-a-request-header:8"),
            ("HTTPS_PROXY", "http://p:8"),
        ])
        .unwrap();
        assert_eq!(via(&e, "http://a.example/"), "direct");
        assert_eq!(via(&e, "https://a.example/"), "direct");
        assert_eq!(
            e.summary(),
            Some(
                "`REQUEST_METHOD` is set (CGI): `HTTP_PROXY`, `HTTPS_PROXY` ignored, upstream \
                 calls go directly"
            )
        );
    }

    #[test]
    fn socks_proxies_are_refused_naming_their_variable() {
        assert_eq!(
            egress(&[("all_proxy", "socks5h://u:p@127.0.0.1:1080")]).err(),
            Some(
                "`all_proxy` names a `socks5h` proxy; upstream calls go through HTTP proxies \
                 only (`http://` or `https://`)"
                    .to_owned()
            )
        );
        assert!(egress(&[("HTTPS_PROXY", "socks5://127.0.0.1:1080")]).is_err());
    }

    #[test]
    fn only_plain_http_requests_carry_the_proxy_credentials() {
        let e = egress(&[
            ("HTTP_PROXY", "http://Aladdin:open%20sesame@p:8"),
            ("HTTPS_PROXY", "http://Aladdin:x@p:8"),
            ("NO_PROXY", "direct.example"),
        ])
        .unwrap();
        let auth = |url: &str| {
            e.authorization(&url.parse().unwrap())
                .map(|v| v.to_str().unwrap().to_owned())
        };
        // base64("Aladdin:open sesame")
        assert_eq!(
            auth("http://a.example/v1").as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(auth("https://a.example/v1"), None);
        assert_eq!(auth("http://direct.example/v1"), None);
    }
}
