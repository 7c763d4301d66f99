//! Reverse proxy to a service's process on loopback: bodies streamed both ways, hop-by-hop
//! headers removed, `X-Forwarded-*` set, WebSocket (any HTTP/1.1 upgrade) passed through, pooled
//! keep-alive connections.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::{bad_gateway, empty, json_error, Body, BoxError};

pub type Client = hyper_util::client::legacy::Client<HttpConnector, Body>;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        // Node closes idle keep-alive connections after 5 s (`server.keepAliveTimeout`); drop
        // ours first, so a request is never written to a connection the server is closing.
        .pool_idle_timeout(Duration::from_secs(4))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Forward `req` to `upstream`, the process of service `id`.
pub async fn forward(
    client: &Client,
    id: &str,
    upstream: SocketAddr,
    mut req: Request<Incoming>,
    peer: IpAddr,
    trust_proxy: bool,
) -> Response<Body> {
    let upgrade = upgrade_protocol(req.version(), req.headers());
    strip_hop_by_hop(req.headers_mut());
    add_forwarded(req.headers_mut(), peer, trust_proxy);
    let client_side = match upgrade {
        Some(protocol) => {
            let h = req.headers_mut();
            h.insert(UPGRADE, protocol);
            h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            Some(hyper::upgrade::on(&mut req))
        }
        None => None,
    };
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let Ok(uri) = format!("http://{upstream}{target}").parse::<Uri>() else {
        return json_error(StatusCode::BAD_REQUEST, "invalid request target");
    };
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;

    // A pooled connection can be closed by a process that is being replaced (rolling restart)
    // just as a request goes out on it: a request without a body that is safe to repeat is
    // sent once more, on a fresh connection.
    let again = (client_side.is_none()
        && matches!(
            req.method(),
            &Method::GET | &Method::HEAD | &Method::OPTIONS
        )
        && http_body::Body::is_end_stream(req.body()))
    .then(|| {
        let mut copy = Request::new(empty());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        copy
    });
    let req = req.map(|body| body.map_err(BoxError::from).boxed());
    let mut resp = match (client.request(req).await, again) {
        (Ok(resp), _) => resp,
        (Err(_), Some(copy)) => match client.request(copy).await {
            Ok(resp) => resp,
            Err(e) => return unreachable(id, &e),
        },
        (Err(e), None) => return unreachable(id, &e),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = client_side {
            let upstream_side = hyper::upgrade::on(&mut resp);
            // Both ends switch once this 101 has gone out; then bytes flow until either closes.
            tokio::spawn(async move {
                if let (Ok(a), Ok(b)) = (client_side.await, upstream_side.await) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b))
                            .await;
                }
            });
            let (parts, _) = resp.into_parts();
            return Response::from_parts(parts, empty());
        }
    }
    strip_hop_by_hop(resp.headers_mut());
    resp.map(|body| body.map_err(BoxError::from).boxed())
}

fn unreachable(id: &str, e: &(dyn std::error::Error + 'static)) -> Response<Body> {
    bad_gateway(&format!(
        "service \"{id}\" is not reachable: {}",
        root_cause(e)
    ))
}

/// The `Upgrade` value of an HTTP/1.1 upgrade request (`Connection: upgrade`).
fn upgrade_protocol(version: Version, h: &HeaderMap) -> Option<HeaderValue> {
    let asks = version == Version::HTTP_11
        && tokens(h, &CONNECTION).any(|t| t.eq_ignore_ascii_case("upgrade"));
    asks.then(|| h.get(UPGRADE).cloned()).flatten()
}

/// Comma-separated tokens of every `name` header.
fn tokens<'a>(h: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and those the
/// `Connection` header names.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = tokens(h, &CONNECTION)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        h.remove(name);
    }
    for name in [
        CONNECTION,
        HeaderName::from_static("keep-alive"),
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ] {
        h.remove(name);
    }
    let proxy: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    for name in proxy {
        h.remove(name);
    }
}

/// By default the stub is the edge: what a client says in `X-Forwarded-*` is dropped and the
/// stub's own values are set (a client must not pick the address an app logs or rate-limits).
/// With `trust` (`WATT_TRUST_PROXY=1`, for a stub behind a load balancer) `X-Forwarded-For`
/// gains the peer's address and `X-Forwarded-Proto` / `-Host` are kept when present: behind a
/// TLS-terminating balancer its values are the true ones (replacing `https` with `http` would
/// send apps that redirect to https into a loop).
pub fn add_forwarded(h: &mut HeaderMap, peer: IpAddr, trust: bool) {
    if !trust {
        for name in [&X_FORWARDED_FOR, &X_FORWARDED_PROTO, &X_FORWARDED_HOST] {
            h.remove(name);
        }
        h.remove(hyper::header::FORWARDED);
    }
    let prior: Vec<&str> = h
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut xff = prior.join(", ");
    if !xff.is_empty() {
        xff.push_str(", ");
    }
    xff.push_str(&peer.to_string());
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(X_FORWARDED_FOR, v);
    }
    if !h.contains_key(&X_FORWARDED_PROTO) {
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if !h.contains_key(&X_FORWARDED_HOST) {
        if let Some(host) = h.get(HOST).cloned() {
            h.insert(X_FORWARDED_HOST, host);
        }
    }
}

/// The innermost error: "Connection refused (os error 111)" rather than "client error (Connect)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_go_and_the_rest_stay() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Private"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("x-other", "1"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic x"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("content-type", "text/plain"),
            ("cookie", "a=b"),
            ("host", "example.com"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "cookie", "host"]);
    }

    #[test]
    fn upgrades_are_recognised() {
        let ws = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert_eq!(
            upgrade_protocol(Version::HTTP_11, &ws),
            Some(HeaderValue::from_static("websocket"))
        );
        assert_eq!(upgrade_protocol(Version::HTTP_10, &ws), None);
        let no = headers(&[("upgrade", "websocket")]);
        assert_eq!(upgrade_protocol(Version::HTTP_11, &no), None);
    }

    #[test]
    fn forwarded_headers_from_clients_are_replaced_unless_trusted() {
        let mut h = headers(&[
            ("host", "shop.example"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        add_forwarded(&mut h, "10.0.0.9".parse().unwrap(), false);
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert!(h.get("forwarded").is_none());
    }

    #[test]
    fn trusted_forwarded_headers_append_and_keep_what_a_balancer_said() {
        let mut h = headers(&[("host", "shop.example"), ("x-forwarded-for", "1.2.3.4")]);
        add_forwarded(&mut h, "10.0.0.9".parse().unwrap(), true);
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");

        let mut h = headers(&[
            ("host", "10.0.0.1:3042"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "shop.example"),
        ]);
        add_forwarded(&mut h, "::1".parse().unwrap(), true);
        assert_eq!(h["x-forwarded-for"], "::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "shop.example");
    }
}
