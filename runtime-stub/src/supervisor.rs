//! The event loop: boot the services level by level, then turn exits, readiness reports,
//! timers and signals into lifecycle transitions (`lifecycle`) and do what they say: restart
//! after a backoff, answer 503/502 for a service with no process, replace workers one at a time
//! on SIGUSR2, and stop everything in order on SIGTERM.
//!
//! Every service's listener is bound by the stub and kept (`bind`), so its port never changes
//! across restarts and several workers (and, during a rolling restart, the old and the new
//! process) serve the same socket. Commands come from `command`, exits from the one `reaper`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{dup2, getpid, pipe2, Pid};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at, Instant};
use watt_manifest::Start;

use crate::command::{self, has_process, launched};
use crate::health::{self, Metrics, ServiceStatus, Status, WorkerStatus};
use crate::http::{self, Mesh, Role, Server, Site, State, Target};
use crate::js::JsFiles;
use crate::lifecycle::{AfterExit, Lifecycle, Phase, RestartPolicy};
use crate::logs::{self, Tail};
use crate::node::Node;
use crate::plan::Plan;
use crate::reaper::{self, Exit, Pids};
use crate::relay::Relay;

/// Where a launched service finds its listening socket and its readiness pipe (see launcher.cjs).
const LISTEN_FD: RawFd = 3;
const READY_FD: RawFd = 4;
/// Its end of the relay (`globalThis.platformatic`'s messaging, shared context and checks).
const RELAY_FD: RawFd = 5;
const DEFAULT_START_TIMEOUT_MS: u64 = 60_000;
/// How long to wait for processes to vanish after SIGKILL, and for their pipes to reach EOF.
const KILL_WAIT: Duration = Duration::from_secs(2);
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// Log lines shown when a service fails.
const REPORT_LINES: usize = 30;
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];
/// SIGUSR1 is not among them: it would open Node's inspector in every service.
const FORWARDED_SIGNALS: [Signal; 1] = [Signal::SIGHUP];
const WATCHED_SIGNALS: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// A process of a service; `worker` ids are never reused, so events about a process that was
/// replaced meanwhile are recognised and ignored.
enum Event {
    Ready {
        svc: usize,
        worker: u64,
    },
    Exited {
        svc: usize,
        worker: u64,
        exit: Exit,
    },
    /// Its backoff is over: start it again.
    Due {
        svc: usize,
        worker: u64,
    },
    StartTimeout {
        svc: usize,
        worker: u64,
    },
    /// It was asked to stop `gracefulShutdown.application` ago.
    KillTimeout {
        svc: usize,
        worker: u64,
    },
    Signal(Signal),
}

/// Why the app stops.
enum Stop {
    Requested,
    Failed(i32),
}

/// What an event asks of the loop.
enum Outcome {
    Continue,
    Stop(Stop),
    /// SIGUSR2: replace every worker, one at a time.
    Roll,
}

struct Worker {
    /// This process's id (a new one at every start).
    id: u64,
    /// Its place among the service's workers (`workerId` in /metrics, `PLT_WORKER_ID`).
    slot: u32,
    life: Lifecycle,
    /// The process (and group) leader while it has not been reaped.
    pid: Option<Pid>,
    /// Replaced by a newer process of the same slot: removed once it exited.
    retiring: bool,
    /// How it last exited, for the stub's exit code.
    last_exit: Option<Exit>,
    ever_ready: bool,
    pumps: Vec<JoinHandle<()>>,
    probe: Option<JoinHandle<()>>,
}

struct Svc {
    id: Arc<str>,
    /// The socket a launched service's processes serve on (their fd 3); bound by the stub and
    /// kept, so its port never changes and no other process can take it.
    listener: Option<TcpListener>,
    /// Where the other services reach it (and the public address, for the entrypoint).
    addr: SocketAddr,
    /// Where its processes serve: `addr`, or a private loopback port behind the stub's front.
    process_addr: Option<SocketAddr>,
    /// The socket the stub serves for it (static site, gateway, front), until it does.
    served: Option<TcpListener>,
    /// The stub's servers for it (its site).
    servers: Vec<Server>,
    /// The 503/502 answer on its socket while no process serves it.
    down: Option<Server>,
    workers: Vec<Worker>,
    policy: RestartPolicy,
    tail: Tail,
    /// Served by the stub itself, no process (static site, gateway).
    native: bool,
}

impl Svc {
    fn ready(&self) -> bool {
        self.native || self.workers.iter().any(|w| w.life.is_ready())
    }

    fn failed(&self) -> bool {
        !self.workers.is_empty() && self.workers.iter().all(|w| w.life.phase == Phase::Failed)
    }

    /// Done with its first start: failed for good, or ready with no worker still starting.
    fn booted(&self) -> bool {
        let starting = self
            .workers
            .iter()
            .any(|w| matches!(w.life.phase, Phase::Starting { .. }));
        self.failed() || (self.ready() && !starting)
    }

    fn running(&self) -> bool {
        self.workers.iter().any(|w| w.pid.is_some())
    }

    fn restarting(&self) -> bool {
        self.workers
            .iter()
            .any(|w| w.life.restarts > 0 || w.life.crashes() > 0)
    }
}

struct Supervisor {
    plan: Plan,
    node: Node,
    svcs: Vec<Svc>,
    /// What the stub's HTTP servers know of the services (and the supervisor keeps up to date).
    mesh: Arc<Mesh>,
    /// `WATT_MESH` for every service: id → {host, port}.
    mesh_env: String,
    js: JsFiles,
    base_env: BTreeMap<OsString, OsString>,
    start_timeout: Duration,
    pids: Pids<(usize, u64)>,
    next_worker: u64,
    status: Arc<Status>,
    relay: Relay,
    tx: mpsc::UnboundedSender<Event>,
    rx: mpsc::UnboundedReceiver<Event>,
}

pub async fn run(plan: Plan) -> Result<i32> {
    let began = Instant::now();
    cloexec_inherited_fds();
    if getpid().as_raw() != 1 {
        // Orphaned grandchildren must come back to us, to be reaped and killed at exit.
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            eprintln!(
                "watt-stub: cannot become a child subreaper ({e}); orphans may be left behind"
            );
        }
    }
    let start_timeout =
        match std::env::var("WATT_START_TIMEOUT_MS") {
            Err(_) => Duration::from_millis(DEFAULT_START_TIMEOUT_MS),
            Ok(v) => Duration::from_millis(v.trim().parse().map_err(|_| {
                anyhow!("WATT_START_TIMEOUT_MS={v:?} is not a number of milliseconds")
            })?),
        };

    // Handlers first: no exit and no signal may be missed once a child runs.
    let (tx, rx) = mpsc::unbounded_channel();
    let pids = Pids::default();
    let sigchld = signal(SignalKind::child()).context("cannot watch SIGCHLD")?;
    let exits = tx.clone();
    tokio::spawn(reaper::run(
        sigchld,
        pids.clone(),
        move |(svc, worker), exit| {
            let _ = exits.send(Event::Exited { svc, worker, exit });
        },
    ));
    for sig in WATCHED_SIGNALS {
        let mut stream = signal(SignalKind::from_raw(sig as i32))
            .with_context(|| format!("cannot watch {sig}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() && tx.send(Event::Signal(sig)).is_ok() {}
        });
    }

    let status = Arc::new(Status::default());
    let relay = Relay::default();
    let health_addr = health::address(
        &plan.manifest.health,
        std::env::var("WATT_HEALTH_ADDR").ok().as_deref(),
    )?;
    let metrics = match &health_addr {
        Some(_) if plan.manifest.health.metrics => Some(Arc::new(Metrics::new(status.clone()))),
        _ => None,
    };
    if let Some(addr) = &health_addr {
        // A health port taken by something else must not keep the app down; the orchestrator's
        // probes will say it loudly enough.
        match TcpListener::bind(addr.as_str()) {
            Ok(l) => {
                tokio::spawn(health::serve(
                    l,
                    status.clone(),
                    metrics.clone(),
                    relay.clone(),
                ));
            }
            Err(e) => eprintln!(
                "watt-stub: cannot serve health checks on {addr} ({e}); set WATT_HEALTH_ADDR \
                 to a free host:port, or `off`"
            ),
        }
    }

    let (svcs, mesh) = bind(&plan, metrics)?;
    let mesh_env: serde_json::Map<String, serde_json::Value> = svcs
        .iter()
        .map(|s| {
            let target = json!({ "host": s.addr.ip().to_string(), "port": s.addr.port() });
            (s.id.to_string(), target)
        })
        .collect();
    let js = JsFiles::prepare(&plan.root)?;
    let mut sup = Supervisor {
        node: Node::new(&plan.root, &plan.manifest.node),
        plan,
        svcs,
        mesh: Arc::new(mesh),
        mesh_env: serde_json::Value::Object(mesh_env).to_string(),
        js,
        base_env: std::env::vars_os().collect(),
        start_timeout,
        pids,
        next_worker: 0,
        status,
        relay,
        tx,
        rx,
    };
    let stop = match sup.start().await {
        Ok(()) => {
            let n = sup.svcs.len();
            let public = sup.svcs[sup.plan.entrypoint].addr.port();
            let host = &sup.plan.host;
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let health = health_addr
                .map(|a| format!("; health on http://{a}"))
                .unwrap_or_default();
            eprintln!(
                "watt-stub: {n} service{} ready in {} ms; listening on http://{host}:{public}{health}",
                if n == 1 { "" } else { "s" },
                began.elapsed().as_millis(),
            );
            sup.watch().await
        }
        Err(stop) => stop,
    };
    sup.status.set_stopping();
    sup.shutdown().await;
    Ok(match stop {
        Stop::Requested => 0,
        Stop::Failed(code) => code,
    })
}

/// Bind the entrypoint's public socket and a loopback socket for every other service, plus a
/// private one for the process behind a front. A service started by a plain command binds by
/// itself: it is only told a free port.
fn bind(plan: &Plan, metrics: Option<Arc<Metrics>>) -> Result<(Vec<Svc>, Mesh)> {
    let mut svcs = Vec::new();
    let mut targets = Vec::new();
    for (i, s) in plan.manifest.services.iter().enumerate() {
        let (host, port) = if i == plan.entrypoint {
            (plan.host.as_str(), plan.port)
        } else {
            ("127.0.0.1", 0)
        };
        let (listener, addr) = listen(host, port, &s.id)?;
        let site = site(plan, i).with_context(|| format!("service {:?}", s.id))?;
        let launched = launched(&s.start);
        let (own, process_addr, served) = match (&site, has_process(&s.start)) {
            (Some(_), false) => (None, None, Some(listener)),
            (Some(_), true) => {
                let (private, private_addr) = listen("127.0.0.1", 0, &s.id)?;
                (
                    launched.then_some(private),
                    Some(private_addr),
                    Some(listener),
                )
            }
            (None, _) => (launched.then_some(listener), Some(addr), None),
        };
        let id: Arc<str> = s.id.as_str().into();
        targets.push(Target::new(id.clone(), site, process_addr));
        svcs.push(Svc {
            id,
            listener: own,
            addr,
            process_addr,
            served,
            servers: Vec::new(),
            down: None,
            workers: Vec::new(),
            policy: RestartPolicy::from_ms(s.restart_on_error_ms),
            tail: Tail::default(),
            native: !has_process(&s.start),
        });
    }
    Ok((svcs, Mesh::new(targets, metrics)))
}

/// A listening socket and the address others reach it at (loopback for a wildcard address).
fn listen(host: &str, port: u16, id: &str) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((host, port)).with_context(|| {
        format!(
            "cannot listen on {host}:{port} for service {id:?}; stop what uses that address \
             or set PORT (and the config's server.hostname) to a free one"
        )
    })?;
    let mut addr = listener
        .local_addr()
        .context("cannot read a bound address")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok((listener, addr))
}

/// What the stub serves for service `i`, if anything.
fn site(plan: &Plan, i: usize) -> Result<Option<Site>> {
    let services = &plan.manifest.services;
    let s = &services[i];
    Ok(match (&s.start, &s.static_assets) {
        (Start::Static { dir, spa_fallback }, _) => Some(Site::Static(http::StaticFiles::new(
            &plan.root.join(dir),
            s.base_path.as_deref(),
            true,
            *spa_fallback,
        )?)),
        (Start::Gateway { routes }, _) => {
            let index = |id: &str| services.iter().position(|s| s.id == id);
            Some(Site::Gateway(http::Gateway::new(i, routes, index)?))
        }
        (_, Some(assets)) => Some(Site::Front(http::StaticFiles::new(
            &plan.root.join(&assets.dir),
            Some(&assets.url_prefix),
            false,
            false,
        )?)),
        _ => None,
    })
}

impl Supervisor {
    /// Start level after level; each level's services in parallel, every one ready (or failed
    /// for good) before the next level starts.
    async fn start(&mut self) -> Result<(), Stop> {
        for level in self.plan.levels.clone() {
            for &i in &level {
                if let Err(e) = self.start_service(i) {
                    eprintln!("watt-stub: {e:#}");
                    return Err(Stop::Failed(1));
                }
            }
            self.publish();
            let settled = |sup: &Self| level.iter().all(|&i| sup.svcs[i].booted());
            self.wait_until(None, settled).await?;
        }
        Ok(())
    }

    /// Start a service's processes and/or the stub's server for it.
    fn start_service(&mut self, i: usize) -> Result<()> {
        let s = &self.plan.manifest.services[i];
        if has_process(&s.start) {
            let workers = s.workers.max(1);
            for slot in 0..workers {
                let id = self.new_worker(i, slot);
                self.spawn(i, id)?;
            }
        }
        if let Some(listener) = self.svcs[i].served.take() {
            let server = Server::spawn(listener, self.mesh.clone(), Role::Service(i))
                .with_context(|| format!("cannot serve service {:?}", self.svcs[i].id))?;
            self.svcs[i].servers.push(server);
        }
        if !has_process(&self.plan.manifest.services[i].start) {
            // Nothing more to wait for: the stub answers on its socket from now on.
            self.mesh.set_state(i, State::Up);
        }
        Ok(())
    }

    fn new_worker(&mut self, i: usize, slot: u32) -> u64 {
        self.next_worker += 1;
        let id = self.next_worker;
        let policy = self.svcs[i].policy;
        self.svcs[i].workers.push(Worker {
            id,
            slot,
            life: Lifecycle::new(policy, std::time::Instant::now()),
            pid: None,
            retiring: false,
            last_exit: None,
            ever_ready: false,
            pumps: Vec::new(),
            probe: None,
        });
        id
    }

    fn worker(&mut self, i: usize, id: u64) -> Option<&mut Worker> {
        self.svcs[i].workers.iter_mut().find(|w| w.id == id)
    }

    /// Run until a stop signal or the entrypoint failing for good.
    async fn watch(&mut self) -> Stop {
        loop {
            let ev = self.rx.recv().await;
            match self.handle(ev).await {
                Outcome::Continue => {}
                Outcome::Stop(stop) => return stop,
                Outcome::Roll => {
                    if let Err(stop) = self.roll().await {
                        return stop;
                    }
                }
            }
        }
    }

    /// Handle events until `done` holds (or `deadline` passes: `Ok(false)`); a rolling restart
    /// asked for meanwhile is ignored.
    async fn wait_until(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, Stop> {
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let deadline = deadline.unwrap_or(far);
        while !done(self) {
            tokio::select! {
                ev = self.rx.recv() => match self.handle(ev).await {
                    Outcome::Stop(stop) => return Err(stop),
                    Outcome::Roll => eprintln!("watt-stub: SIGUSR2 received during a restart; ignored"),
                    Outcome::Continue => {}
                },
                _ = sleep_until(deadline) => return Ok(false),
            }
        }
        Ok(true)
    }

    async fn handle(&mut self, ev: Option<Event>) -> Outcome {
        let Some(ev) = ev else {
            return Outcome::Stop(Stop::Failed(1));
        };
        let outcome = self.apply(ev).await;
        self.publish();
        outcome
    }

    async fn apply(&mut self, ev: Event) -> Outcome {
        let now = std::time::Instant::now();
        match ev {
            Event::Ready { svc, worker } => {
                let Some(w) = self.worker(svc, worker) else {
                    return Outcome::Continue;
                };
                w.life.ready(now);
                w.ever_ready = true;
                let (slot, restarts) = (w.slot, w.life.restarts);
                if restarts > 0 {
                    eprintln!(
                        "watt-stub: service \"{}\" is back (worker {slot}, restart {restarts})",
                        self.svcs[svc].id
                    );
                }
                self.update_state(svc);
            }
            Event::Signal(sig) if STOP_SIGNALS.contains(&sig) => {
                self.status.set_stopping();
                eprintln!("watt-stub: {sig} received; stopping the services");
                return Outcome::Stop(Stop::Requested);
            }
            Event::Signal(Signal::SIGUSR2) => {
                eprintln!(
                    "watt-stub: SIGUSR2 received; restarting every service, one worker at a time"
                );
                return Outcome::Roll;
            }
            Event::Signal(Signal::SIGUSR1) => {
                eprintln!(
                    "watt-stub: SIGUSR1 ignored (it would open Node's inspector in every service)"
                );
            }
            Event::Signal(sig) => self.signal_all(sig),
            Event::Exited { svc, worker, exit } => return self.exited(svc, worker, exit).await,
            Event::Due { svc, worker } => {
                let due = self
                    .worker(svc, worker)
                    .is_some_and(|w| matches!(w.life.phase, Phase::BackingOff { .. }));
                if due {
                    if let Err(e) = self.spawn(svc, worker) {
                        eprintln!("watt-stub: {e:#}");
                        if let Some(w) = self.worker(svc, worker) {
                            w.life.phase = Phase::Failed;
                        }
                        self.update_state(svc);
                        return self.failed_for_good(svc);
                    }
                }
            }
            Event::StartTimeout { svc, worker } => {
                let Some(w) = self.worker(svc, worker) else {
                    return Outcome::Continue;
                };
                if let (Phase::Starting { .. }, Some(pid)) = (w.life.phase, w.pid) {
                    let _ = killpg(pid, Signal::SIGKILL);
                    let ms = self.start_timeout.as_millis();
                    self.report(svc, &format!(
                        "did not become ready within {ms} ms (set WATT_START_TIMEOUT_MS to wait longer); killing it"
                    ));
                }
            }
            Event::KillTimeout { svc, worker } => {
                let app_ms = self.plan.manifest.graceful_shutdown.application_ms;
                let id = self.svcs[svc].id.clone();
                if let Some(Worker {
                    pid: Some(pid),
                    life,
                    ..
                }) = self.worker(svc, worker)
                {
                    if life.phase == Phase::Stopping {
                        eprintln!("watt-stub: service \"{id}\" did not stop within {app_ms} ms; killing it");
                        let _ = killpg(*pid, Signal::SIGKILL);
                    }
                }
            }
        }
        Outcome::Continue
    }

    /// A worker's process is gone: what it left in its group goes too, then its lifecycle
    /// decides between a restart, nothing (it was asked to stop), and failing for good.
    async fn exited(&mut self, svc: usize, worker: u64, exit: Exit) -> Outcome {
        // Even if something it started still holds its end of the relay.
        self.relay.detach(worker);
        let Some(w) = self.worker(svc, worker) else {
            return Outcome::Continue;
        };
        if let Some(pid) = w.pid.take() {
            // The group id stays reserved while members live, so this reaches only ours.
            let _ = killpg(pid, Signal::SIGKILL);
        }
        w.last_exit = Some(exit);
        if let Some(probe) = w.probe.take() {
            probe.abort();
        }
        let pumps: Vec<_> = w.pumps.drain(..).collect();
        let when = match w.life.phase {
            Phase::Starting { .. } => " before it was ready",
            _ => "",
        };
        let after = w.life.exited(std::time::Instant::now());
        let (slot, crashes, retiring) = (w.slot, w.life.crashes(), w.retiring);
        // Node writes to pipes asynchronously: its last lines may still be in flight.
        let deadline = Instant::now() + DRAIN_WAIT;
        for pump in pumps {
            let _ = timeout_at(deadline, pump).await;
        }
        let workers = if self.svcs[svc].workers.len() > 1 {
            format!(" (worker {slot})")
        } else {
            String::new()
        };
        match after {
            AfterExit::Stopped => {
                if retiring {
                    self.svcs[svc].workers.retain(|w| w.id != worker);
                }
            }
            AfterExit::RestartAt(at) => {
                let ms = at
                    .saturating_duration_since(std::time::Instant::now())
                    .as_millis();
                let max = self.svcs[svc].policy.max_crashes;
                self.report(svc, &format!(
                    "{exit}{when}{workers}; restarting it in {ms} ms (crash {crashes} of {max} in a row); requests to it get 503 meanwhile"
                ));
                let at = Instant::from_std(at);
                self.after(at, Event::Due { svc, worker });
            }
            AfterExit::Failed => {
                let why = if self.svcs[svc].policy.first_delay.is_none() {
                    "restartOnError is off".to_string()
                } else {
                    format!("it crashed {crashes} times in a row")
                };
                let next = if svc == self.plan.entrypoint {
                    "it is the entrypoint: stopping the app"
                } else {
                    "it stays down and requests to it get 502 (the app keeps running)"
                };
                self.report(svc, &format!("{exit}{when}{workers}; {why}: {next}"));
            }
        }
        self.update_state(svc);
        if matches!(after, AfterExit::Failed) {
            return self.failed_for_good(svc);
        }
        Outcome::Continue
    }

    /// The entrypoint failing for good stops the app, with its exit code (1 if it never
    /// started), so the orchestrator restarts the container.
    fn failed_for_good(&self, svc: usize) -> Outcome {
        let s = &self.svcs[svc];
        if svc != self.plan.entrypoint || !s.failed() {
            return Outcome::Continue;
        }
        let w = s.workers.iter().find(|w| w.last_exit.is_some());
        let code = match w {
            Some(w) if w.ever_ready => w.last_exit.map_or(1, Exit::code),
            _ => 1,
        };
        Outcome::Stop(Stop::Failed(code))
    }

    /// The mesh's view of a service follows its workers; the socket of a launched service with
    /// no process is answered by the stub (503 restarting, 502 failed) instead of left to hang.
    fn update_state(&mut self, i: usize) {
        let s = &self.svcs[i];
        if !has_process(&self.plan.manifest.services[i].start) {
            return;
        }
        let state = if s.ready() {
            State::Up
        } else if s.failed() {
            State::Down
        } else if s.restarting() {
            State::Restarting
        } else {
            State::Starting
        };
        self.mesh.set_state(i, state);
        let answer = !s.running() && state != State::Starting;
        if answer && s.down.is_none() {
            if let Some(listener) = &s.listener {
                let server = listener
                    .try_clone()
                    .and_then(|l| Server::spawn(l, self.mesh.clone(), Role::Down(i)));
                match server {
                    Ok(server) => self.svcs[i].down = Some(server),
                    Err(e) => eprintln!(
                        "watt-stub: cannot answer for service \"{}\" while it is down: {e}",
                        self.svcs[i].id
                    ),
                }
            }
        } else if state == State::Up {
            if let Some(down) = self.svcs[i].down.take() {
                down.stop();
            }
        }
    }

    fn publish(&self) {
        let services = self
            .svcs
            .iter()
            .map(|s| ServiceStatus {
                id: s.id.to_string(),
                native: s.native,
                ready: s.ready(),
                failed: s.failed(),
                workers: s
                    .workers
                    .iter()
                    .map(|w| WorkerStatus {
                        slot: w.slot,
                        pid: w.pid.map(Pid::as_raw),
                        restarts: w.life.restarts,
                        start_seconds: w.life.start_duration.map(|d| d.as_secs_f64()),
                    })
                    .collect(),
            })
            .collect();
        self.status.publish(services);
    }

    /// SIGUSR2: every worker of every service is replaced, one at a time, dependencies first.
    /// Where the stub owns the socket, the new process serves beside the old one before the old
    /// one is asked to stop, so no request is refused; elsewhere the old one stops first.
    async fn roll(&mut self) -> Result<(), Stop> {
        let began = Instant::now();
        for level in self.plan.levels.clone() {
            for i in level {
                let old: Vec<u64> = self.svcs[i]
                    .workers
                    .iter()
                    .filter(|w| w.life.has_process() && !w.retiring)
                    .map(|w| w.id)
                    .collect();
                for old_id in old {
                    self.replace(i, old_id).await?;
                }
            }
        }
        eprintln!(
            "watt-stub: every service restarted in {} ms",
            began.elapsed().as_millis()
        );
        Ok(())
    }

    async fn replace(&mut self, i: usize, old_id: u64) -> Result<(), Stop> {
        let Some(slot) = self.worker(i, old_id).map(|w| w.slot) else {
            return Ok(());
        };
        let shared = self.svcs[i].listener.is_some();
        if !shared {
            self.retire(i, old_id);
            let gone = |sup: &Self| sup.svcs[i].workers.iter().all(|w| w.id != old_id);
            self.wait_until(Some(Instant::now() + KILL_WAIT * 10), gone)
                .await?;
        }
        let new_id = self.new_worker(i, slot);
        if let Err(e) = self.spawn(i, new_id) {
            eprintln!("watt-stub: {e:#}");
            self.svcs[i].workers.retain(|w| w.id != new_id);
            return Ok(());
        }
        let settled = |sup: &Self| {
            sup.svcs[i]
                .workers
                .iter()
                .find(|w| w.id == new_id)
                .is_none_or(|w| !matches!(w.life.phase, Phase::Starting { .. }))
        };
        self.wait_until(Some(Instant::now() + self.start_timeout), settled)
            .await?;
        let ok = self.worker(i, new_id).is_some_and(|w| w.life.is_ready());
        if shared {
            if ok {
                self.retire(i, old_id);
            } else {
                eprintln!(
                    "watt-stub: the new process of service \"{}\" did not become ready; keeping the old one",
                    self.svcs[i].id
                );
                self.retire(i, new_id);
            }
        }
        Ok(())
    }

    /// Ask a worker to stop for good (SIGTERM, SIGKILL after `gracefulShutdown.application`);
    /// it is forgotten once it exited.
    fn retire(&mut self, i: usize, id: u64) {
        let app_ms = self.plan.manifest.graceful_shutdown.application_ms;
        let Some(w) = self.worker(i, id) else { return };
        w.retiring = true;
        w.life.stopping();
        match w.pid {
            Some(pid) => {
                let _ = killpg(pid, Signal::SIGTERM);
                let at = Instant::now() + Duration::from_millis(app_ms);
                self.after(at, Event::KillTimeout { svc: i, worker: id });
            }
            None => self.svcs[i].workers.retain(|w| w.id != id),
        }
    }

    fn after(&self, at: Instant, ev: Event) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            sleep_until(at).await;
            let _ = tx.send(ev);
        });
    }

    fn report(&self, i: usize, what: &str) {
        let s = &self.svcs[i];
        let lines = s.tail.last(REPORT_LINES);
        let mut msg = format!("watt-stub: service \"{}\" {what}", s.id);
        if lines.is_empty() {
            msg.push_str(" (it logged nothing)");
        } else {
            msg.push_str("; its last log lines:");
        }
        for line in lines {
            msg.push_str(&format!("\n  [{}] {line}", s.id));
        }
        eprintln!("{msg}");
    }

    /// Start (or restart) the process of worker `id` of service `i`.
    fn spawn(&mut self, i: usize, id: u64) -> Result<()> {
        let s = &self.plan.manifest.services[i];
        let svc = &self.svcs[i];
        let slot = svc
            .workers
            .iter()
            .find(|w| w.id == id)
            .map_or(0, |w| w.slot);
        let process_addr = svc.process_addr.unwrap_or(svc.addr);
        let (launcher, preload) = (self.js.launcher(), self.js.preload());
        let ctx = command::Context {
            root: &self.plan.root,
            node: &self.node,
            launcher: &launcher,
            preload: &preload,
            mesh_env: &self.mesh_env,
            base_env: &self.base_env,
            entrypoint: &self.plan.manifest.entrypoint,
            public_host: &self.plan.host,
            public_port: self.svcs[self.plan.entrypoint].addr.port(),
            services: &self.plan.manifest.services,
        };
        let spec = command::command(s, process_addr.port(), slot, &ctx)?;
        let mut cmd = Command::new(&spec.program);
        cmd.arg0(&spec.arg0)
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: signals reach the service and everything it started, and a
            // terminal's Ctrl-C reaches only the stub, which then stops services in order.
            // `spawn` returns after exec, so the group exists before we ever signal it.
            .process_group(0);

        let mut ready = None;
        let mut relay_end = None;
        let mut child_fds = Vec::new();
        if let Some(listener) = &svc.listener {
            let (read, write) = pipe2(OFlag::O_CLOEXEC).context("cannot create a pipe")?;
            let (ours, theirs) =
                std::os::unix::net::UnixStream::pair().context("cannot create a socket pair")?;
            // Above the fds the child ends up with, so the dup2 calls cannot clobber each other.
            let (l, w, r) = (
                dup_high(listener.as_raw_fd())?,
                dup_high(write.as_raw_fd())?,
                dup_high(theirs.as_raw_fd())?,
            );
            let (lfd, wfd, rfd) = (l.as_raw_fd(), w.as_raw_fd(), r.as_raw_fd());
            // SAFETY: only dup2 (async-signal-safe) runs between fork and exec; dup2 clears
            // close-on-exec on the targets, every other fd of ours keeps it.
            unsafe {
                cmd.pre_exec(move || {
                    dup2(lfd, LISTEN_FD)?;
                    dup2(wfd, READY_FD)?;
                    dup2(rfd, RELAY_FD)?;
                    Ok(())
                });
            }
            child_fds.extend([l, w, r]);
            ready = Some(read);
            relay_end = Some(ours);
        }
        let program = match &s.start {
            Start::Command { argv } if !launched(&s.start) => format!("{:?}", argv[0]),
            _ => format!("node ({})", self.node.describe()),
        };
        let mut child = {
            let mut pids = self.pids.lock();
            let child = cmd.spawn().with_context(|| {
                format!(
                    "cannot start service {:?}: {program} in {} failed",
                    s.id,
                    spec.cwd.display()
                )
            })?;
            pids.insert(child.id() as i32, (i, id));
            child
        };
        drop(child_fds);
        if let Some(stream) = relay_end {
            self.relay.attach(id, svc.id.clone(), stream)?;
        }
        let pid = Pid::from_raw(child.id() as i32);
        let (sid, tail) = (svc.id.clone(), svc.tail.clone());
        let mut pumps = Vec::new();
        let streams: [Option<OwnedFd>; 2] = [
            child.stdout.take().map(Into::into),
            child.stderr.take().map(Into::into),
        ];
        for fd in streams.into_iter().flatten() {
            let pipe =
                pipe::Receiver::from_owned_fd(fd).context("cannot watch a service's output")?;
            pumps.push(tokio::spawn(logs::pump(pipe, sid.clone(), tail.clone())));
        }
        let tx = self.tx.clone();
        let probe = match ready {
            Some(read) => {
                let mut pipe =
                    pipe::Receiver::from_owned_fd(read).context("cannot watch a readiness pipe")?;
                tokio::spawn(async move {
                    let mut msg = Vec::new();
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                        msg.extend_from_slice(&buf[..n]);
                        if msg.contains(&b'\n') {
                            break;
                        }
                    }
                    if msg.starts_with(b"ready\n") {
                        let _ = tx.send(Event::Ready { svc: i, worker: id });
                    }
                })
            }
            // A plain command cannot report readiness: it is ready when its port answers.
            None => tokio::spawn(async move {
                while tokio::net::TcpStream::connect(process_addr).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let _ = tx.send(Event::Ready { svc: i, worker: id });
            }),
        };
        let timeout = Instant::now() + self.start_timeout;
        self.after(timeout, Event::StartTimeout { svc: i, worker: id });
        let Some(w) = self.worker(i, id) else {
            return Ok(());
        };
        w.life.started(std::time::Instant::now());
        w.pid = Some(pid);
        w.pumps = pumps;
        w.probe = Some(probe);
        Ok(())
    }

    /// Stop the stub's servers of a level and wait until their requests in flight are answered.
    /// The stub also lets go of its copies of the level's process sockets: once a process
    /// closes its own, new connections are refused instead of queued. Returns whether a second
    /// stop signal came meanwhile.
    async fn stop_servers(
        &mut self,
        level: &[usize],
        all_deadline: Instant,
        app_ms: u64,
        mut hurry: bool,
    ) -> bool {
        let mut tasks = Vec::new();
        for &i in level {
            self.svcs[i].listener = None;
            let svc = &mut self.svcs[i];
            for server in svc.servers.drain(..).chain(svc.down.take()) {
                server.stop();
                tasks.push(server.task);
            }
        }
        let deadline = (Instant::now() + Duration::from_millis(app_ms)).min(all_deadline);
        while !hurry {
            let Some(task) = tasks.last_mut() else { break };
            let finished = tokio::select! {
                _ = task => true,
                ev = self.rx.recv() => {
                    hurry = self.during_shutdown(ev);
                    false
                }
                _ = sleep_until(deadline) => break,
            };
            if finished {
                tasks.pop();
            }
        }
        for task in tasks {
            task.abort();
        }
        hurry
    }

    /// An event while stopping: exits are bookkeeping only (no restarts); a second stop signal
    /// kills everything at once (returns true).
    fn during_shutdown(&mut self, ev: Option<Event>) -> bool {
        match ev {
            Some(Event::Exited { svc, worker, .. }) => {
                if let Some(w) = self.worker(svc, worker) {
                    if let Some(pid) = w.pid.take() {
                        let _ = killpg(pid, Signal::SIGKILL);
                    }
                    w.life.stopping();
                    if let Some(probe) = w.probe.take() {
                        probe.abort();
                    }
                }
                false
            }
            Some(Event::Signal(sig)) if STOP_SIGNALS.contains(&sig) => {
                eprintln!("watt-stub: {sig} received again; killing the services");
                self.signal_all(Signal::SIGKILL);
                true
            }
            Some(Event::Signal(sig)) if FORWARDED_SIGNALS.contains(&sig) => {
                self.signal_all(sig);
                false
            }
            _ => false,
        }
    }

    fn signal(&self, i: usize, sig: Signal) {
        for w in &self.svcs[i].workers {
            if let Some(pid) = w.pid {
                let _ = killpg(pid, sig);
            }
        }
    }

    fn signal_all(&self, sig: Signal) {
        (0..self.svcs.len()).for_each(|i| self.signal(i, sig));
    }

    /// Entrypoint first, then the others in reverse dependency order, each level in parallel.
    /// In a level, the stub's servers stop accepting first and finish their requests in flight
    /// (within `applicationMs`), then processes get SIGTERM, SIGKILL after `applicationMs`; the
    /// whole within `runtimeMs`. A second stop signal kills everything at once. Only groups
    /// whose leader was not reaped yet are signalled: a reaped pid may belong to someone else.
    async fn shutdown(&mut self) {
        let budget = &self.plan.manifest.graceful_shutdown;
        let (app_ms, runtime_ms) = (budget.application_ms, budget.runtime_ms);
        let all_deadline = Instant::now() + Duration::from_millis(runtime_ms);
        let mut hurry = false;
        for svc in &mut self.svcs {
            for w in &mut svc.workers {
                w.life.stopping();
            }
        }
        for level in self.plan.levels.clone().iter().rev() {
            hurry = self.stop_servers(level, all_deadline, app_ms, hurry).await;
            let now = Instant::now();
            let mut kill_at = (now + Duration::from_millis(app_ms)).min(all_deadline);
            let mut killed = hurry;
            if hurry {
                kill_at = now + KILL_WAIT;
            }
            let first = if hurry {
                Signal::SIGKILL
            } else {
                Signal::SIGTERM
            };
            level.iter().for_each(|&i| self.signal(i, first));
            while level.iter().any(|&i| self.svcs[i].running()) {
                tokio::select! {
                    ev = self.rx.recv() => {
                        if self.during_shutdown(ev) && !hurry {
                            hurry = true;
                            killed = true;
                            kill_at = Instant::now() + KILL_WAIT;
                        }
                    },
                    _ = sleep_until(kill_at) => {
                        if killed {
                            eprintln!("watt-stub: services of this level survive SIGKILL; giving up on them");
                            break;
                        }
                        for &i in level.iter().filter(|&&i| self.svcs[i].running()) {
                            eprintln!("watt-stub: service \"{}\" did not stop within {app_ms} ms; killing it", self.svcs[i].id);
                            self.signal(i, Signal::SIGKILL);
                        }
                        killed = true;
                        kill_at = Instant::now() + KILL_WAIT;
                    }
                }
            }
        }
        // What a service left behind: processes that left their group and were handed to us
        // when their parent died.
        let me = getpid();
        for _ in 0..50 {
            let orphans = reaper::children_of(me);
            if orphans.is_empty() {
                break;
            }
            for pid in orphans {
                let _ = kill(pid, Signal::SIGKILL);
            }
            // Meanwhile the reaper collects them.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deadline = Instant::now() + DRAIN_WAIT;
        for svc in &mut self.svcs {
            for w in &mut svc.workers {
                for pump in w.pumps.drain(..) {
                    let _ = timeout_at(deadline, pump).await;
                }
            }
        }
    }
}

/// Fds the stub inherited (other than stdio) must not leak into the services, where fds 3 and 4
/// have a meaning.
fn cloexec_inherited_fds() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

fn dup_high(fd: RawFd) -> Result<OwnedFd> {
    let new = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(10)).context("cannot duplicate a socket")?;
    // SAFETY: fcntl just returned this new fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}
