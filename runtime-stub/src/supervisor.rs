//! Boot and supervise the services: one process group per service, one global reaper, signals
//! turned into events, and an ordered shutdown. Services without a process (static sites,
//! gateways) are HTTP servers of the stub's own (`crate::http`), started in their level like
//! the others and ready as soon as they serve.
//!
//! A service that dies after it was ready stays down (its socket answers 502 naming it) and the
//! app keeps running; only the entrypoint's death, or a service failing to start, stops the app.
//!
//! Everything runs on one thread: a child's pid is registered right after `spawn` returns and
//! before any other task can run, so the reaper never sees an exit it cannot attribute.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{dup2, getpid, pipe2, Pid};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at, Instant};
use watt_manifest::Start;

use crate::http::{self, Mesh, Role, Server, Site, State, Target};
use crate::logs::{self, Tail};
use crate::node::Node;
use crate::plan::Plan;

const LAUNCHER: &str = include_str!("../js/launcher.cjs");
const PRELOAD: &str = include_str!("../js/preload.cjs");
/// Loaded by the launcher for `requestHandler` services.
const REQUEST_HANDLER: &str = include_str!("../js/request-handler.cjs");
const CAPABILITY: &str = include_str!("../js/capability.cjs");
/// Where a launched service finds its listening socket and its readiness pipe (see launcher.cjs).
const LISTEN_FD: RawFd = 3;
const READY_FD: RawFd = 4;
const DEFAULT_START_TIMEOUT_MS: u64 = 60_000;
/// How long to wait for processes to vanish after SIGKILL, and for their pipes to reach EOF.
const KILL_WAIT: Duration = Duration::from_secs(2);
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// Log lines shown when a service fails.
const REPORT_LINES: usize = 30;
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];
const FORWARDED_SIGNALS: [Signal; 3] = [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2];

enum Event {
    Ready(usize),
    Exited(usize, Exit),
    Signal(Signal),
}

#[derive(Clone, Copy)]
enum Exit {
    Code(i32),
    Signal(Signal),
}

impl Exit {
    /// The exit code a shell would report.
    fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s as i32,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "was killed by {s}"),
        }
    }
}

/// Why the app stops.
enum Stop {
    Requested,
    Failed(i32),
}

struct Svc {
    id: Arc<str>,
    /// The socket a launched service's process serves on (its fd 3); bound by the stub and
    /// kept, so its port never changes and no other process can take it.
    listener: Option<TcpListener>,
    /// Where the other services reach it (and the public address, for the entrypoint).
    addr: SocketAddr,
    /// Where its process serves: `addr`, or a private loopback port behind the stub's front.
    process_addr: Option<SocketAddr>,
    /// The socket the stub serves for it (static site, gateway, front), until it does.
    served: Option<TcpListener>,
    /// The stub's servers for it: its site, and the 502 answer on its socket once its process died.
    servers: Vec<Server>,
    pid: Option<Pid>,
    running: bool,
    ready: bool,
    tail: Tail,
    pumps: Vec<JoinHandle<()>>,
    probe: Option<JoinHandle<()>>,
}

type Pids = Arc<Mutex<HashMap<i32, usize>>>;

struct Supervisor {
    plan: Plan,
    node: Node,
    svcs: Vec<Svc>,
    /// What the stub's HTTP servers know of the services (and the supervisor keeps up to date).
    mesh: Arc<Mesh>,
    /// `WATT_MESH` for every service: id → {host, port}.
    mesh_env: String,
    launcher: PathBuf,
    preload: PathBuf,
    start_timeout: Duration,
    pids: Pids,
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
    tokio::spawn(reap(sigchld, pids.clone(), tx.clone()));
    for sig in STOP_SIGNALS.into_iter().chain(FORWARDED_SIGNALS) {
        let mut stream = signal(SignalKind::from_raw(sig as i32))
            .with_context(|| format!("cannot watch {sig}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() && tx.send(Event::Signal(sig)).is_ok() {}
        });
    }

    let (svcs, mesh) = bind(&plan)?;
    let mesh_env: serde_json::Map<String, serde_json::Value> = svcs
        .iter()
        .map(|s| {
            let target = json!({ "host": s.addr.ip().to_string(), "port": s.addr.port() });
            (s.id.to_string(), target)
        })
        .collect();
    let tmp = TempDir::new()?;
    let launcher = tmp.write("launcher.cjs", LAUNCHER)?;
    let preload = tmp.write("preload.cjs", PRELOAD)?;
    tmp.write("request-handler.cjs", REQUEST_HANDLER)?;
    tmp.write("capability.cjs", CAPABILITY)?;
    let mut sup = Supervisor {
        node: Node::new(&plan.root, &plan.manifest.node),
        plan,
        svcs,
        mesh: Arc::new(mesh),
        mesh_env: serde_json::Value::Object(mesh_env).to_string(),
        launcher,
        preload,
        start_timeout,
        pids,
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
            eprintln!(
                "watt-stub: {n} service{} ready in {} ms; listening on http://{host}:{public}",
                if n == 1 { "" } else { "s" },
                began.elapsed().as_millis(),
            );
            sup.watch().await
        }
        Err(stop) => stop,
    };
    sup.shutdown().await;
    drop(tmp);
    Ok(match stop {
        Stop::Requested => 0,
        Stop::Failed(code) => code,
    })
}

/// Bind the entrypoint's public socket and a loopback socket for every other service, plus a
/// private one for the process behind a front. A service started by a plain command binds by
/// itself: it is only told a free port.
fn bind(plan: &Plan) -> Result<(Vec<Svc>, Mesh)> {
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
            pid: None,
            running: false,
            ready: false,
            tail: Tail::default(),
            pumps: Vec::new(),
            probe: None,
        });
    }
    Ok((svcs, Mesh::new(targets)))
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

/// Whether the service runs as a process (static sites and gateways are the stub's own).
fn has_process(start: &Start) -> bool {
    !matches!(start, Start::Static { .. } | Start::Gateway { .. })
}

/// Whether the launcher starts the service (and so serves the stub's socket and reports readiness).
fn launched(start: &Start) -> bool {
    match start {
        Start::Command { argv } => argv.first().is_some_and(|a| a == "node"),
        Start::Static { .. } | Start::Gateway { .. } => false,
        Start::Node { .. }
        | Start::FastifyPlugins { .. }
        | Start::RequestHandler { .. }
        | Start::Capability { .. } => true,
    }
}

impl Supervisor {
    /// Start level after level; each level's services in parallel, all ready before the next.
    async fn start(&mut self) -> Result<(), Stop> {
        for level in self.plan.levels.clone() {
            for &i in &level {
                if let Err(e) = self.start_one(i) {
                    eprintln!("watt-stub: {e:#}");
                    return Err(Stop::Failed(1));
                }
            }
            let deadline = Instant::now() + self.start_timeout;
            while let Some(&late) = level.iter().find(|&&i| !self.svcs[i].ready) {
                tokio::select! {
                    ev = self.rx.recv() => if let Some(stop) = self.handle(ev).await {
                        return Err(stop);
                    },
                    _ = sleep_until(deadline) => {
                        let ms = self.start_timeout.as_millis();
                        self.report(late, &format!(
                            "did not become ready within {ms} ms (set WATT_START_TIMEOUT_MS to wait longer)"
                        ));
                        return Err(Stop::Failed(1));
                    }
                }
            }
        }
        Ok(())
    }

    /// Start a service's process and/or the stub's server for it.
    fn start_one(&mut self, i: usize) -> Result<()> {
        let process = has_process(&self.plan.manifest.services[i].start);
        if process {
            self.spawn(i)?;
        }
        if let Some(listener) = self.svcs[i].served.take() {
            let server = Server::spawn(listener, self.mesh.clone(), Role::Service(i))
                .with_context(|| format!("cannot serve service {:?}", self.svcs[i].id))?;
            self.svcs[i].servers.push(server);
        }
        if !process {
            // Nothing more to wait for: the stub answers on its socket from now on.
            self.svcs[i].ready = true;
            self.mesh.set_state(i, State::Up);
        }
        Ok(())
    }

    /// Run until a stop signal or the entrypoint's death.
    async fn watch(&mut self) -> Stop {
        loop {
            let ev = self.rx.recv().await;
            if let Some(stop) = self.handle(ev).await {
                return stop;
            }
        }
    }

    /// Apply one event; `Some` when the app must stop.
    async fn handle(&mut self, ev: Option<Event>) -> Option<Stop> {
        match ev? {
            Event::Ready(i) => {
                self.svcs[i].ready = true;
                self.mesh.set_state(i, State::Up);
            }
            Event::Signal(sig) if STOP_SIGNALS.contains(&sig) => {
                eprintln!("watt-stub: {sig} received; stopping the services");
                return Some(Stop::Requested);
            }
            Event::Signal(sig) => self.signal_all(sig),
            Event::Exited(i, exit) => {
                self.exited(i);
                self.drain(i, Instant::now() + DRAIN_WAIT).await;
                let ready = self.svcs[i].ready;
                if i == self.plan.entrypoint || !ready {
                    let when = if ready { "" } else { " before it was ready" };
                    self.report(i, &format!("{exit}{when}"));
                    return Some(Stop::Failed(if ready { exit.code() } else { 1 }));
                }
                self.report(
                    i,
                    &format!(
                        "{exit}; it stays down and requests to it get 502 (the app keeps running)"
                    ),
                );
                self.answer_down(i);
            }
        }
        None
    }

    /// The dead service's socket stays ours (its port must not change, for the mesh), so the
    /// kernel keeps accepting connections there: answer them with 502 rather than leave them
    /// hanging.
    fn answer_down(&mut self, i: usize) {
        let Some(listener) = &self.svcs[i].listener else {
            return;
        };
        let server = listener
            .try_clone()
            .and_then(|l| Server::spawn(l, self.mesh.clone(), Role::Down(i)));
        match server {
            Ok(server) => self.svcs[i].servers.push(server),
            Err(e) => eprintln!(
                "watt-stub: cannot answer for service \"{}\" while it is down: {e}",
                self.svcs[i].id
            ),
        }
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

    fn spawn(&mut self, i: usize) -> Result<()> {
        let s = &self.plan.manifest.services[i];
        let root = &self.plan.root;
        let svc = &self.svcs[i];

        // The stub's environment, `.env` values it lacks, then the config's `env`, then ours.
        let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for (k, v) in &s.dotenv {
            env.entry(k.into()).or_insert_with(|| v.into());
        }
        env.extend(s.env.iter().map(|(k, v)| (k.into(), v.into())));
        let process_addr = svc.process_addr.unwrap_or(svc.addr);
        env.insert("PORT".into(), process_addr.port().to_string().into());
        env.insert("WATT_MESH".into(), self.mesh_env.clone().into());
        let mut node_options = env.remove(OsStr::new("NODE_OPTIONS")).unwrap_or_default();
        if !node_options.is_empty() {
            node_options.push(" ");
        }
        node_options.push(format!(
            "--require {}",
            quote(&self.preload.to_string_lossy())
        ));
        env.insert("NODE_OPTIONS".into(), node_options);
        if let Some(exec_path) = &self.node.exec_path {
            env.insert("WATT_NODE_EXEC_PATH".into(), exec_path.into());
        }
        // `node` on PATH is the bundled one.
        let path = env.remove(OsStr::new("PATH"));
        let rest = path.unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let mut dirs = vec![self.node.bin_dir.clone()];
        dirs.extend(std::env::split_paths(&rest));
        env.insert("PATH".into(), std::env::join_paths(dirs)?);

        let mut cmd = match &s.start {
            Start::Command { argv } if !launched(&s.start) => {
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
            start => {
                let mut cmd = self.node.command();
                if let Start::Command { .. } = start {
                    cmd.arg("--require").arg(&self.launcher);
                }
                cmd.args(&s.node_options);
                for p in &s.preload {
                    cmd.arg("--import").arg(root.join(p));
                }
                match start {
                    Start::Command { argv } => cmd.args(&argv[1..]),
                    _ => cmd.arg(&self.launcher),
                };
                env.insert("WATT_LAUNCH".into(), self.launch_config(i).into());
                cmd
            }
        };
        let cwd = root.join(&s.root);
        cmd.current_dir(&cwd)
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: signals reach the service and everything it started, and a
            // terminal's Ctrl-C reaches only the stub, which then stops services in order.
            // `spawn` returns after exec, so the group exists before we ever signal it.
            .process_group(0);

        let mut ready = None;
        let mut child_fds = Vec::new();
        if let Some(listener) = &svc.listener {
            let (read, write) = pipe2(OFlag::O_CLOEXEC).context("cannot create a pipe")?;
            // Above the fds the child ends up with, so the dup2 calls cannot clobber each other.
            let (l, w) = (
                dup_high(listener.as_raw_fd())?,
                dup_high(write.as_raw_fd())?,
            );
            let (lfd, wfd) = (l.as_raw_fd(), w.as_raw_fd());
            // SAFETY: only dup2 (async-signal-safe) runs between fork and exec; dup2 clears
            // close-on-exec on the targets, every other fd of ours keeps it.
            unsafe {
                cmd.pre_exec(move || {
                    dup2(lfd, LISTEN_FD)?;
                    dup2(wfd, READY_FD)?;
                    Ok(())
                });
            }
            child_fds.extend([l, w]);
            ready = Some(read);
        }
        let program = match &s.start {
            Start::Command { argv } if !launched(&s.start) => format!("{:?}", argv[0]),
            _ => format!("node ({})", self.node.describe()),
        };
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "cannot start service {:?}: {program} in {} failed",
                s.id,
                cwd.display()
            )
        })?;
        drop(child_fds);
        let pid = Pid::from_raw(child.id() as i32);
        self.pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid.as_raw(), i);

        let svc = &mut self.svcs[i];
        svc.pid = Some(pid);
        svc.running = true;
        let streams: [Option<OwnedFd>; 2] = [
            child.stdout.take().map(Into::into),
            child.stderr.take().map(Into::into),
        ];
        for fd in streams.into_iter().flatten() {
            let pipe =
                pipe::Receiver::from_owned_fd(fd).context("cannot watch a service's output")?;
            svc.pumps.push(tokio::spawn(logs::pump(
                pipe,
                svc.id.clone(),
                svc.tail.clone(),
            )));
        }
        let tx = self.tx.clone();
        match ready {
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
                        let _ = tx.send(Event::Ready(i));
                    }
                });
            }
            None => {
                // A plain command cannot report readiness: it is ready when its port answers.
                let addr = process_addr;
                svc.probe = Some(tokio::spawn(async move {
                    while tokio::net::TcpStream::connect(addr).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let _ = tx.send(Event::Ready(i));
                }));
            }
        }
        Ok(())
    }

    /// `WATT_LAUNCH`: what launcher.cjs starts, with absolute paths.
    fn launch_config(&self, i: usize) -> String {
        let s = &self.plan.manifest.services[i];
        let abs = |p: &str| self.plan.root.join(p).to_string_lossy().into_owned();
        let start = match &s.start {
            Start::Node { entry, fastify } => {
                json!({ "type": "node", "entry": abs(entry), "fastify": fastify.as_deref().map(abs) })
            }
            Start::FastifyPlugins { fastify, plugins } => {
                let plugins: Vec<_> = plugins
                    .iter()
                    .map(|p| json!({ "path": abs(&p.path), "prefix": p.prefix, "options": p.options }))
                    .collect();
                json!({ "type": "fastifyPlugins", "fastify": abs(fastify), "plugins": plugins })
            }
            Start::Command { .. } => json!({ "type": "command" }),
            Start::RequestHandler {
                build,
                runtime,
                runtime_package,
            } => json!({
                "type": "requestHandler",
                "build": abs(build),
                "runtime": runtime,
                "runtimePackage": abs(runtime_package),
            }),
            Start::Capability { package, config } => json!({
                "type": "capability",
                "package": abs(package),
                "config": abs(config),
                "root": abs(&s.root),
                "isEntrypoint": s.id == self.plan.manifest.entrypoint,
            }),
            // No process.
            Start::Static { .. } | Start::Gateway { .. } => json!(null),
        };
        json!({ "id": s.id, "start": start }).to_string()
    }

    /// Bookkeeping for a service whose process is gone; what it left in its group goes too.
    fn exited(&mut self, i: usize) {
        self.mesh.set_state(i, State::Down);
        let svc = &mut self.svcs[i];
        svc.running = false;
        if let Some(probe) = svc.probe.take() {
            probe.abort();
        }
        if let Some(pid) = svc.pid {
            let _ = killpg(pid, Signal::SIGKILL);
        }
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
            for server in self.svcs[i].servers.drain(..) {
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
                    match ev {
                        Some(Event::Exited(i, _)) => self.exited(i),
                        Some(Event::Signal(sig)) if STOP_SIGNALS.contains(&sig) => {
                            eprintln!("watt-stub: {sig} received again; killing the services");
                            hurry = true;
                            self.signal_all(Signal::SIGKILL);
                        }
                        Some(Event::Signal(sig)) if FORWARDED_SIGNALS.contains(&sig) => self.signal_all(sig),
                        _ => {}
                    }
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

    /// Wait (briefly) until a service's output reached EOF: node writes to pipes asynchronously,
    /// so its last lines may still be in flight when it is reaped.
    async fn drain(&mut self, i: usize, deadline: Instant) {
        for pump in self.svcs[i].pumps.drain(..) {
            let _ = timeout_at(deadline, pump).await;
        }
    }

    fn signal(&self, i: usize, sig: Signal) {
        let svc = &self.svcs[i];
        if let (true, Some(pid)) = (svc.running, svc.pid) {
            let _ = killpg(pid, sig);
        }
    }

    fn signal_all(&self, sig: Signal) {
        (0..self.svcs.len()).for_each(|i| self.signal(i, sig));
    }

    /// Entrypoint first, then the others in reverse dependency order, each level in parallel.
    /// In a level, the stub's servers stop accepting first and finish their requests in flight
    /// (within `applicationMs`), then processes get SIGTERM, SIGKILL after `applicationMs`; the
    /// whole within `runtimeMs`. A second stop signal kills everything at once.
    async fn shutdown(&mut self) {
        let budget = &self.plan.manifest.graceful_shutdown;
        let (app_ms, runtime_ms) = (budget.application_ms, budget.runtime_ms);
        let all_deadline = Instant::now() + Duration::from_millis(runtime_ms);
        let mut hurry = false;
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
            while level.iter().any(|&i| self.svcs[i].running) {
                tokio::select! {
                    ev = self.rx.recv() => match ev {
                        Some(Event::Exited(i, _)) => self.exited(i),
                        Some(Event::Signal(sig)) if STOP_SIGNALS.contains(&sig) && !hurry => {
                            eprintln!("watt-stub: {sig} received again; killing the services");
                            hurry = true;
                            killed = true;
                            kill_at = Instant::now() + KILL_WAIT;
                            self.signal_all(Signal::SIGKILL);
                        }
                        Some(Event::Signal(sig)) if FORWARDED_SIGNALS.contains(&sig) => self.signal_all(sig),
                        _ => {}
                    },
                    _ = sleep_until(kill_at) => {
                        if killed {
                            eprintln!("watt-stub: services of this level survive SIGKILL; giving up on them");
                            break;
                        }
                        for &i in level.iter().filter(|&&i| self.svcs[i].running) {
                            eprintln!("watt-stub: service \"{}\" did not stop within {app_ms} ms; killing it", self.svcs[i].id);
                            self.signal(i, Signal::SIGKILL);
                        }
                        killed = true;
                        kill_at = Instant::now() + KILL_WAIT;
                    }
                }
            }
        }
        // What a service left behind: its group, or processes that left the group and were
        // handed to us when their parent died.
        for svc in &self.svcs {
            if let Some(pid) = svc.pid {
                let _ = killpg(pid, Signal::SIGKILL);
            }
        }
        let me = getpid();
        for _ in 0..50 {
            let orphans = children_of(me);
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
        for i in 0..self.svcs.len() {
            self.drain(i, deadline).await;
        }
    }
}

/// The one reaper: every child's status goes through `waitpid(-1)` here and is dispatched by
/// pid. Unknown pids are orphans handed to us (PID 1 or subreaper): reaping is all they need.
async fn reap(
    mut sigchld: tokio::signal::unix::Signal,
    pids: Pids,
    tx: mpsc::UnboundedSender<Event>,
) {
    loop {
        loop {
            let (pid, exit) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Exit::Signal(sig)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let known = pids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&pid.as_raw());
            if let Some(i) = known {
                let _ = tx.send(Event::Exited(i, exit));
            }
        }
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

/// Processes whose parent is `pid`, from /proc.
fn children_of(pid: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let child: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
            let ppid: i32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == pid.as_raw()).then_some(Pid::from_raw(child))
        })
        .collect()
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

/// A double-quoted word for NODE_OPTIONS.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A private (0700) folder for the launcher, removed when the stub exits.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let template = std::env::temp_dir().join("watt-stub.XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).with_context(|| {
            format!(
                "cannot create a private folder like {}; set TMPDIR to a writable folder",
                template.display()
            )
        })?;
        Ok(TempDir(dir))
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.0.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
