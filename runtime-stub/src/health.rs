//! The health server, compatible with Watt's (`packages/runtime/lib/prom-server.js`):
//! `GET /ready` (every service has a ready process, and the app is not stopping) and
//! `GET /status` (alive: no service failed for good) answer 200 `OK` / 500 `ERR`; `GET /metrics`
//! is Prometheus text with Watt's names where they apply, labelled by `applicationId`.
//!
//! The supervisor publishes what it knows into [`Status`]; the server only reads it, and reads
//! memory and CPU of every worker from /proc when scraped. Nothing from the services'
//! environment or config is ever exposed.
//!
//! Once the stub's own view says ready (alive), `/ready` (`/status`) also asks every process for
//! the check it set with `setCustomReadinessCheck` (`setCustomHealthCheck`), through the relay,
//! and combines the answers as Watt does (`checkWorkerReadiness`/`checkLiveness`): `true`/`false`,
//! or `{status, statusCode, body}`, whose code and body answer the probe.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use nix::unistd::SysconfVar;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use watt_manifest::DEFAULT_HEALTH_PORT;

use crate::http::{self, Body};
use crate::reaper::stat_field;
use crate::relay::{Check, Relay};

/// One worker process, as `/metrics` shows it.
#[derive(Clone, Debug, Default)]
pub struct WorkerStatus {
    pub slot: u32,
    pub pid: Option<i32>,
    pub restarts: u64,
    pub start_seconds: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct ServiceStatus {
    pub id: String,
    /// Served by the stub itself (static site, gateway): up as long as the stub is.
    pub native: bool,
    pub ready: bool,
    pub failed: bool,
    pub workers: Vec<WorkerStatus>,
}

/// What the supervisor knows, shared with the health server.
#[derive(Default)]
pub struct Status {
    services: Mutex<Vec<ServiceStatus>>,
    /// Set at the first stop signal: `/ready` fails from then on.
    stopping: AtomicBool,
}

impl Status {
    pub fn publish(&self, services: Vec<ServiceStatus>) {
        *self.services.lock().unwrap_or_else(|e| e.into_inner()) = services;
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn services(&self) -> Vec<ServiceStatus> {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn ready(&self) -> bool {
        let services = self.services();
        !self.stopping.load(Ordering::Acquire)
            && !services.is_empty()
            && services.iter().all(|s| s.ready)
    }

    pub fn alive(&self) -> bool {
        !self.services().iter().any(|s| s.failed)
    }
}

type Labels = Vec<(&'static str, String)>;

/// The registry: counters kept by the stub (requests through the gateway, dropped log lines)
/// and a collector that reads the rest from [`Status`] and /proc on every scrape.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub fn new(status: Arc<Status>) -> Metrics {
        let mut registry = Registry::default();
        let requests: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_all_duration_seconds",
            "Requests through the gateway, by target service, method and status, until the response headers",
            requests.clone(),
        );
        registry.register_collector(Box::new(Collected { status }));
        Metrics { registry, requests }
    }

    /// A request the gateway routed to service `id`.
    pub fn record(&self, id: &str, method: &Method, status: StatusCode, seconds: f64) {
        let labels = vec![
            ("applicationId", id.to_string()),
            ("method", method.as_str().to_string()),
            ("status_code", status.as_u16().to_string()),
        ];
        self.requests.get_or_create(&labels).observe(seconds);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Debug)]
struct Collected {
    status: Arc<Status>,
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Status")
    }
}

/// What /proc says about one process.
struct ProcStat {
    cpu_seconds: f64,
    rss_bytes: f64,
    start_time_seconds: f64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let conf = |v| nix::unistd::sysconf(v).ok().flatten().map(|n| n as f64);
    let ticks = conf(SysconfVar::CLK_TCK)?;
    let page = conf(SysconfVar::PAGE_SIZE)?;
    let num = |n| stat_field(&stat, n)?.parse::<f64>().ok();
    let boot = boot_time()?;
    Some(ProcStat {
        cpu_seconds: (num(14)? + num(15)?) / ticks,
        rss_bytes: num(24)? * page,
        start_time_seconds: boot + num(22)? / ticks,
    })
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

impl Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let services = self.status.services();
        let svc = |s: &ServiceStatus| vec![("applicationId", s.id.clone())];
        let worker = |s: &ServiceStatus, w: &WorkerStatus| {
            vec![
                ("applicationId", s.id.clone()),
                ("workerId", w.slot.to_string()),
            ]
        };
        let gauge = |encoder: &mut DescriptorEncoder,
                     name: &str,
                     help: &str,
                     values: Vec<(Labels, f64)>|
         -> Result<(), std::fmt::Error> {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (labels, v) in values {
                ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
            }
            Ok(())
        };
        let counter = |encoder: &mut DescriptorEncoder,
                       name: &str,
                       help: &str,
                       values: Vec<(Labels, f64)>|
         -> Result<(), std::fmt::Error> {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, v) in values {
                ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
            }
            Ok(())
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };

        let up = services
            .iter()
            .map(|s| {
                let running = s.native || s.workers.iter().any(|w| w.pid.is_some());
                (svc(s), flag(running))
            })
            .collect();
        gauge(
            &mut encoder,
            "watt_service_up",
            "1 when the service has a running process (or is served by the stub)",
            up,
        )?;
        let ready = services.iter().map(|s| (svc(s), flag(s.ready))).collect();
        gauge(
            &mut encoder,
            "watt_service_ready",
            "1 when the service has a ready process (or is served by the stub)",
            ready,
        )?;
        let workers = || {
            services
                .iter()
                .flat_map(|s| s.workers.iter().map(move |w| (s, w)))
        };
        let restarts = workers()
            .map(|(s, w)| (worker(s, w), w.restarts as f64))
            .collect();
        counter(
            &mut encoder,
            "watt_service_restarts",
            "Restarts of a worker after it crashed",
            restarts,
        )?;
        let starts = workers()
            .filter_map(|(s, w)| Some((worker(s, w), w.start_seconds?)))
            .collect();
        gauge(
            &mut encoder,
            "watt_service_start_duration_seconds",
            "How long the worker's last start took, from spawn to ready",
            starts,
        )?;

        let mut stats: Vec<(Labels, ProcStat)> = workers()
            .filter_map(|(s, w)| Some((worker(s, w), proc_stat(w.pid?)?)))
            .collect();
        if let Some(me) = proc_stat(std::process::id() as i32) {
            stats.push((vec![("applicationId", "watt-stub".to_string())], me));
        }
        let pick = |f: fn(&ProcStat) -> f64| -> Vec<(Labels, f64)> {
            stats.iter().map(|(l, p)| (l.clone(), f(p))).collect()
        };
        counter(
            &mut encoder,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            pick(|p| p.cpu_seconds),
        )?;
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            pick(|p| p.rss_bytes),
        )?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            pick(|p| p.start_time_seconds),
        )?;
        let dropped = crate::logs::DROPPED.load(Ordering::Relaxed) as f64;
        counter(
            &mut encoder,
            "watt_log_lines_dropped",
            "Service log lines dropped because stdout was not read fast enough",
            vec![(vec![], dropped)],
        )?;
        Ok(())
    }
}

/// Where the health server listens: `WATT_HEALTH_ADDR` (`host:port` or `off`), else the
/// manifest's (placeholders resolved), else Watt's `0.0.0.0:9090`. `None`: no server.
pub fn address(m: &watt_manifest::Health, env: Option<&str>) -> Result<Option<String>> {
    if let Some(v) = env.map(str::trim) {
        if v == "off" || v == "false" {
            return Ok(None);
        }
        v.to_socket_addrs()
            .with_context(|| format!("WATT_HEALTH_ADDR={v:?} is not host:port (or `off`)"))?;
        return Ok(Some(v.to_string()));
    }
    if !m.enabled {
        return Ok(None);
    }
    let host = m
        .hostname
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| "0.0.0.0".into());
    let port = m
        .port
        .as_deref()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(DEFAULT_HEALTH_PORT);
    Ok(Some(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }))
}

/// Serve the health endpoints on `listener` until the stub exits.
pub async fn serve(
    listener: std::net::TcpListener,
    status: Arc<Status>,
    metrics: Option<Arc<Metrics>>,
    relay: Relay,
) {
    let _ = listener.set_nonblocking(true);
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let (status, metrics, relay) = (status.clone(), metrics.clone(), relay.clone());
        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
            let (status, metrics, relay) = (status.clone(), metrics.clone(), relay.clone());
            async move { Ok::<_, Infallible>(answer(&req, &status, metrics.as_deref(), &relay).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

async fn answer<B>(
    req: &Request<B>,
    status: &Status,
    metrics: Option<&Metrics>,
    relay: &Relay,
) -> Response<Body> {
    let probe = |ok: bool, check: Option<Check>| async move {
        let verdict = match check {
            Some(kind) if ok => Verdict::of(&relay.checks(kind).await),
            _ => Verdict::plain(ok),
        };
        verdict.response()
    };
    match (req.method(), req.uri().path(), metrics) {
        (&Method::GET | &Method::HEAD, "/ready", _) => {
            probe(status.ready(), Some(Check::Readiness)).await
        }
        (&Method::GET | &Method::HEAD, "/status", _) => {
            probe(status.alive(), Some(Check::Health)).await
        }
        (&Method::GET | &Method::HEAD, "/metrics", Some(m)) => {
            let mut resp = Response::new(http::full(m.encode()));
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        _ => plain(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// A probe's answer: Watt's `OK`/`ERR`, or what a custom check said.
#[derive(Debug, PartialEq)]
struct Verdict {
    ok: bool,
    status_code: Option<u16>,
    body: Option<String>,
}

impl Verdict {
    fn plain(ok: bool) -> Verdict {
        Verdict {
            ok,
            status_code: None,
            body: None,
        }
    }

    /// Every check must pass (a boolean, or an object's `status`); the last object answer
    /// gives the code and body. Unlike Watt, whose reply follows that object's own `status`, a
    /// failing check elsewhere is never answered 200.
    fn of(checks: &[serde_json::Value]) -> Verdict {
        let mut v = Verdict::plain(true);
        for check in checks {
            let passed = match check {
                serde_json::Value::Bool(b) => *b,
                serde_json::Value::Object(o) => {
                    v.status_code = o
                        .get("statusCode")
                        .and_then(|c| c.as_u64())
                        .and_then(|c| u16::try_from(c).ok())
                        .filter(|c| (100..600).contains(c));
                    v.body = o.get("body").and_then(|b| b.as_str()).map(str::to_string);
                    o.get("status").is_some_and(|s| s.as_bool() == Some(true))
                }
                _ => false,
            };
            v.ok &= passed;
        }
        v
    }

    fn response(self) -> Response<Body> {
        let default = if self.ok {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let code = self
            .status_code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(default);
        let body = self
            .body
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| if self.ok { "OK" } else { "ERR" }.to_string());
        text(code, body)
    }
}

fn plain(code: StatusCode, body: &'static str) -> Response<Body> {
    text(code, body.to_string())
}

fn text(code: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(http::full(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `watt-stub healthcheck`: 0 when `/ready` answers 200, else 1 (for a Dockerfile
/// `HEALTHCHECK` in an image with no curl).
pub fn check(addr: &str) -> i32 {
    match get_ready(addr) {
        Ok(200) => 0,
        Ok(code) => {
            eprintln!("watt-stub healthcheck: http://{addr}/ready answered {code}");
            1
        }
        Err(e) => {
            eprintln!("watt-stub healthcheck: http://{addr}/ready: {e:#}");
            1
        }
    }
}

fn get_ready(addr: &str) -> Result<u16> {
    let target: SocketAddr = addr
        .to_socket_addrs()
        .with_context(|| format!("{addr} is not host:port"))?
        .next()
        .with_context(|| format!("{addr} names no address"))?;
    let target = match target.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(
            if ip.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            },
            target.port(),
        ),
        _ => target,
    };
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&target, timeout).context("cannot connect")?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET /ready HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    s.take(64 * 1024).read_to_end(&mut head)?;
    let head = String::from_utf8_lossy(&head);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("not an HTTP answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_svc(id: &str, ready: bool) -> ServiceStatus {
        ServiceStatus {
            id: id.into(),
            ready,
            workers: vec![WorkerStatus {
                slot: 0,
                pid: Some(std::process::id() as i32),
                restarts: 2,
                start_seconds: Some(0.25),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn ready_needs_every_service_and_no_stop() {
        let s = Status::default();
        assert!(!s.ready(), "nothing published yet");
        s.publish(vec![ready_svc("a", true), ready_svc("b", false)]);
        assert!(!s.ready());
        assert!(s.alive());
        s.publish(vec![ready_svc("a", true), ready_svc("b", true)]);
        assert!(s.ready());
        s.set_stopping();
        assert!(!s.ready());
        s.publish(vec![ServiceStatus {
            failed: true,
            ..ready_svc("a", false)
        }]);
        assert!(!s.alive());
    }

    #[test]
    fn metrics_use_watts_names_and_labels() {
        let status = Arc::new(Status::default());
        status.publish(vec![ready_svc("api", true)]);
        let m = Metrics::new(status);
        m.record("api", &Method::GET, StatusCode::OK, 0.003);
        let text = m.encode();
        for want in [
            "watt_service_ready{applicationId=\"api\"} 1",
            "watt_service_restarts_total{applicationId=\"api\",workerId=\"0\"} 2",
            "watt_service_start_duration_seconds{applicationId=\"api\",workerId=\"0\"} 0.25",
            "process_cpu_seconds_total{applicationId=\"api\",workerId=\"0\"} ",
            "process_resident_memory_bytes{applicationId=\"api\",workerId=\"0\"} ",
            "process_resident_memory_bytes{applicationId=\"watt-stub\"} ",
            "http_request_all_duration_seconds_count{applicationId=\"api\",method=\"GET\",status_code=\"200\"} 1",
            "watt_log_lines_dropped_total 0",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn custom_checks_all_pass_and_the_last_object_gives_code_and_body() {
        use serde_json::json;
        assert_eq!(Verdict::of(&[]), Verdict::plain(true));
        assert_eq!(
            Verdict::of(&[json!(true), json!(true)]),
            Verdict::plain(true)
        );
        assert!(!Verdict::of(&[json!(true), json!(false)]).ok);
        assert!(!Verdict::of(&[json!(null)]).ok, "no answer is no pass");
        let v = Verdict::of(&[json!({ "status": false, "statusCode": 503, "body": "draining" })]);
        assert_eq!(
            v,
            Verdict {
                ok: false,
                status_code: Some(503),
                body: Some("draining".into())
            }
        );
        assert_eq!(v.response().status(), StatusCode::SERVICE_UNAVAILABLE);
        let v = Verdict::of(&[json!(false), json!({ "status": true, "body": "fine" })]);
        assert!(!v.ok, "a failing check is never hidden by another's object");
        assert_eq!(
            Verdict::of(&[json!({ "status": true })])
                .response()
                .status(),
            StatusCode::OK
        );
    }

    #[test]
    fn the_address_comes_from_env_then_manifest_then_watts_default() {
        let m = watt_manifest::Health::default();
        assert_eq!(address(&m, None).unwrap().as_deref(), Some("0.0.0.0:9090"));
        assert_eq!(address(&m, Some("off")).unwrap(), None);
        assert_eq!(
            address(&m, Some("127.0.0.1:1234")).unwrap().as_deref(),
            Some("127.0.0.1:1234")
        );
        assert!(address(&m, Some("nope")).is_err());
        let m = watt_manifest::Health {
            hostname: Some("::1".into()),
            port: Some("9999".into()),
            ..m
        };
        assert_eq!(address(&m, None).unwrap().as_deref(), Some("[::1]:9999"));
        let off = watt_manifest::Health {
            enabled: false,
            ..m
        };
        assert_eq!(address(&off, None).unwrap(), None);
    }
}
