//! HTTP the stub serves itself (hyper, HTTP/1.1): static sites, Watt's gateway, the front of
//! services that have client files, and a "service is down" answer on the socket of a dead
//! service.
//!
//! Every such listener runs a [`Server`] with a [`Role`]; requests are answered by the [`Mesh`],
//! which knows every service: what the stub serves for it (a [`Site`]), where its process
//! listens, and whether that process is up (the supervisor's view, updated on every readiness
//! report and exit). A gateway calls a stub-served target in-process and proxies to a process
//! only when the supervisor says it is up: the stub keeps every service's socket open, so a
//! connection to a dead one would be accepted by the kernel and then hang.

pub mod gateway;
pub mod proxy;
pub mod static_files;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use gateway::Gateway;
pub use static_files::StaticFiles;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body: files, proxied bodies, short messages.
pub type Body = BoxBody<Bytes, BoxError>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Gateways routing to gateways: more hops than this is a loop in the routes.
const MAX_HOPS: u8 = 8;

/// What the stub serves on a service's own listener.
pub enum Site {
    /// `Start::Static`: files, no process.
    Static(StaticFiles),
    /// `Start::Gateway`: a reverse proxy, no process.
    Gateway(Gateway),
    /// A process service with `staticAssets`: files from the folder, everything else to the
    /// process on its private listener.
    Front(StaticFiles),
}

/// The supervisor's view of a service's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Starting = 0,
    Up = 1,
    /// Failed for good (or must not restart): 502.
    Down = 2,
    /// Crashed and coming back: 503, so clients retry.
    Restarting = 3,
}

pub struct Target {
    pub id: Arc<str>,
    /// What the stub serves for the service, if anything.
    pub site: Option<Site>,
    /// Where the service's process serves HTTP, if it has a process.
    pub process: Option<SocketAddr>,
    state: AtomicU8,
}

impl Target {
    pub fn new(id: Arc<str>, site: Option<Site>, process: Option<SocketAddr>) -> Target {
        Target {
            id,
            site,
            process,
            state: AtomicU8::new(State::Starting as u8),
        }
    }

    fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            1 => State::Up,
            2 => State::Down,
            3 => State::Restarting,
            _ => State::Starting,
        }
    }
}

/// Every service as the HTTP side sees it, indexed like the manifest's services.
pub struct Mesh {
    targets: Vec<Target>,
    client: proxy::Client,
    /// Where the gateway's requests are counted.
    metrics: Option<Arc<crate::health::Metrics>>,
    /// `WATT_TRUST_PROXY`: keep clients' `X-Forwarded-*` (see `proxy::add_forwarded`).
    trust_proxy: bool,
}

/// Where a request comes from.
#[derive(Clone, Copy)]
pub struct Ctx {
    /// The client's address, for `X-Forwarded-For`.
    pub peer: IpAddr,
    /// How many gateways it went through.
    pub hops: u8,
}

impl Mesh {
    pub fn new(targets: Vec<Target>, metrics: Option<Arc<crate::health::Metrics>>) -> Mesh {
        Mesh {
            targets,
            client: proxy::client(),
            metrics,
            trust_proxy: std::env::var("WATT_TRUST_PROXY")
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
        }
    }

    pub fn set_state(&self, i: usize, state: State) {
        self.targets[i].state.store(state as u8, Ordering::Release);
    }

    /// Answer a request addressed to service `i` (on its listener, or routed by a gateway).
    pub fn handle(
        self: Arc<Self>,
        i: usize,
        req: Request<Incoming>,
        ctx: Ctx,
    ) -> BoxFuture<Response<Body>> {
        Box::pin(async move {
            match &self.targets[i].site {
                Some(Site::Static(files)) => {
                    let (parts, _) = req.into_parts();
                    files.serve(&parts).await
                }
                Some(Site::Front(files)) => {
                    let (parts, body) = req.into_parts();
                    if let Some(resp) = files.try_serve(&parts).await {
                        return resp;
                    }
                    self.proxy(i, Request::from_parts(parts, body), ctx).await
                }
                Some(Site::Gateway(gw)) => {
                    let mut req = req;
                    let Some((to, uri)) = gw.route(req.uri()) else {
                        let msg = format!("no route for {}", req.uri().path());
                        return json_error(StatusCode::NOT_FOUND, &msg);
                    };
                    if ctx.hops >= MAX_HOPS {
                        let msg = "the gateways' routes form a loop";
                        return json_error(StatusCode::LOOP_DETECTED, msg);
                    }
                    *req.uri_mut() = uri;
                    let ctx = Ctx {
                        hops: ctx.hops + 1,
                        ..ctx
                    };
                    let (began, method) = (std::time::Instant::now(), req.method().clone());
                    let resp = self.clone().handle(to, req, ctx).await;
                    if let Some(m) = &self.metrics {
                        let secs = began.elapsed().as_secs_f64();
                        m.record(&self.targets[to].id, &method, resp.status(), secs);
                    }
                    resp
                }
                None => self.proxy(i, req, ctx).await,
            }
        })
    }

    /// Send a request to service `i`'s process, if the supervisor says it is up.
    async fn proxy(&self, i: usize, req: Request<Incoming>, ctx: Ctx) -> Response<Body> {
        let t = &self.targets[i];
        match (t.state(), t.process) {
            (State::Up, Some(addr)) => {
                proxy::forward(&self.client, &t.id, addr, req, ctx.peer, self.trust_proxy).await
            }
            _ => self.unavailable(i),
        }
    }

    /// The answer for a service with no process to serve: 503 while it starts or restarts
    /// (clients may retry), 502 once it is down for good. Never a hang.
    fn unavailable(&self, i: usize) -> Response<Body> {
        let t = &self.targets[i];
        match t.state() {
            State::Starting | State::Up => {
                unavailable(&format!("service \"{}\" is not ready yet", t.id))
            }
            State::Restarting => unavailable(&format!("service \"{}\" is restarting", t.id)),
            State::Down => bad_gateway(&format!("service \"{}\" is not running", t.id)),
        }
    }
}

/// What a [`Server`] answers with.
#[derive(Clone, Copy)]
pub enum Role {
    /// The service's own listener: [`Mesh::handle`].
    Service(usize),
    /// The socket of a service with no process serving it (restarting, or failed): 503/502 at
    /// once, instead of connections that the kernel accepts and nobody ever answers.
    Down(usize),
}

/// One listener served by the stub.
pub struct Server {
    stop: watch::Sender<bool>,
    pub task: JoinHandle<()>,
}

impl Server {
    pub fn spawn(
        listener: std::net::TcpListener,
        mesh: Arc<Mesh>,
        role: Role,
    ) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept(listener, mesh, role, stopped));
        Ok(Server { stop, task })
    }

    /// Stop accepting; requests in flight finish, idle connections close. `task` ends when the
    /// last connection is gone.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    mesh: Arc<Mesh>,
    role: Role,
    mut stopped: watch::Receiver<bool>,
) {
    // Every connection task holds a sender: `recv` returns `None` once they are all gone.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let mut http = http1::Builder::new();
    // A timer enables hyper's header read timeout (30 s): slow-loris clients are cut off, and
    // so are keep-alive connections idle that long.
    http.timer(TokioTimer::new());
    loop {
        let (stream, peer) = tokio::select! {
            conn = listener.accept() => match conn {
                Ok(conn) => conn,
                Err(_) => {
                    // Out of fds or an aborted handshake: try again soon, without spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let ctx = Ctx {
            peer: peer.ip().to_canonical(),
            hops: 0,
        };
        let mesh = mesh.clone();
        let service = service_fn(move |req| {
            let mesh = mesh.clone();
            async move {
                Ok::<_, Infallible>(match role {
                    Role::Service(i) => mesh.handle(i, req, ctx).await,
                    Role::Down(i) => mesh.unavailable(i),
                })
            }
        });
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopped = stopped.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let _open = open;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    drop(open);
    let _ = all_closed.recv().await;
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn text(status: StatusCode, msg: &str) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", format!("{msg}\n"))
}

/// An error the way Watt (Fastify) writes them.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    response(status, "application/json; charset=utf-8", body.to_string())
}

pub fn bad_gateway(message: &str) -> Response<Body> {
    json_error(StatusCode::BAD_GATEWAY, message)
}

pub fn unavailable(message: &str) -> Response<Body> {
    let mut resp = json_error(StatusCode::SERVICE_UNAVAILABLE, message);
    resp.headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
