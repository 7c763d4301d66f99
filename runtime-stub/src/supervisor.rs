//! Boot and supervise the services: one process group per service, one global reaper, signals
//! turned into events, and an ordered shutdown.
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

use crate::logs::{self, Tail};
use crate::node::Node;
use crate::plan::Plan;

const LAUNCHER: &str = include_str!("../js/launcher.cjs");
const PRELOAD: &str = include_str!("../js/preload.cjs");
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
    /// The socket a launched service serves on (its fd 3); bound by the stub and kept, so its
    /// port never changes and no other process can take it.
    listener: Option<TcpListener>,
    /// Where the other services reach it.
    addr: SocketAddr,
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
    /// `WATT_MESH` for every service: id → {host, port}.
    mesh: String,
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

    let svcs = bind(&plan)?;
    let mesh: serde_json::Map<String, serde_json::Value> = svcs
        .iter()
        .map(|s| {
            let target = json!({ "host": s.addr.ip().to_string(), "port": s.addr.port() });
            (s.id.to_string(), target)
        })
        .collect();
    let tmp = TempDir::new()?;
    let launcher = tmp.write("launcher.cjs", LAUNCHER)?;
    let preload = tmp.write("preload.cjs", PRELOAD)?;
    let mut sup = Supervisor {
        node: Node::new(&plan.root, &plan.manifest.node),
        plan,
        svcs,
        mesh: serde_json::Value::Object(mesh).to_string(),
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

/// Bind the entrypoint's public socket and a loopback socket for every other service.
/// A service started by a plain command binds by itself: it is only told a free port.
fn bind(plan: &Plan) -> Result<Vec<Svc>> {
    let mut svcs = Vec::new();
    for (i, s) in plan.manifest.services.iter().enumerate() {
        let (host, port) = if i == plan.entrypoint {
            (plan.host.as_str(), plan.port)
        } else {
            ("127.0.0.1", 0)
        };
        let listener = TcpListener::bind((host, port)).with_context(|| {
            format!(
                "cannot listen on {host}:{port} for service {:?}; stop what uses that address \
                 or set PORT (and the config's server.hostname) to a free one",
                s.id
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
        svcs.push(Svc {
            id: s.id.as_str().into(),
            listener: launched(&s.start).then_some(listener),
            addr,
            pid: None,
            running: false,
            ready: false,
            tail: Tail::default(),
            pumps: Vec::new(),
            probe: None,
        });
    }
    Ok(svcs)
}

/// Whether the launcher starts the service (and so serves the stub's socket and reports readiness).
fn launched(start: &Start) -> bool {
    match start {
        Start::Command { argv } => argv.first().is_some_and(|a| a == "node"),
        _ => true,
    }
}

impl Supervisor {
    /// Start level after level; each level's services in parallel, all ready before the next.
    async fn start(&mut self) -> Result<(), Stop> {
        for level in self.plan.levels.clone() {
            for &i in &level {
                if let Err(e) = self.spawn(i) {
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

    /// Run until a stop signal or a service's death.
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
            Event::Ready(i) => self.svcs[i].ready = true,
            Event::Signal(sig) if STOP_SIGNALS.contains(&sig) => {
                eprintln!("watt-stub: {sig} received; stopping the services");
                return Some(Stop::Requested);
            }
            Event::Signal(sig) => self.signal_all(sig),
            Event::Exited(i, exit) => {
                self.exited(i);
                self.drain(i, Instant::now() + DRAIN_WAIT).await;
                let ready = self.svcs[i].ready;
                let when = if ready { "" } else { " before it was ready" };
                self.report(i, &format!("{exit}{when}"));
                return Some(Stop::Failed(if ready { exit.code() } else { 1 }));
            }
        }
        None
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
        env.insert("PORT".into(), svc.addr.port().to_string().into());
        env.insert("WATT_MESH".into(), self.mesh.clone().into());
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
                let addr = svc.addr;
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
            // Rejected when the plan is made.
            Start::RequestHandler { .. } | Start::Static { .. } | Start::Gateway { .. } => {
                json!(null)
            }
        };
        json!({ "id": s.id, "start": start }).to_string()
    }

    /// Bookkeeping for a service whose process is gone; what it left in its group goes too.
    fn exited(&mut self, i: usize) {
        let svc = &mut self.svcs[i];
        svc.running = false;
        if let Some(probe) = svc.probe.take() {
            probe.abort();
        }
        if let Some(pid) = svc.pid {
            let _ = killpg(pid, Signal::SIGKILL);
        }
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

    /// Entrypoint first, then the others in reverse dependency order, each level in parallel:
    /// SIGTERM, SIGKILL after `applicationMs`; the whole within `runtimeMs`. A second stop
    /// signal kills everything at once.
    async fn shutdown(&mut self) {
        let budget = &self.plan.manifest.graceful_shutdown;
        let (app_ms, runtime_ms) = (budget.application_ms, budget.runtime_ms);
        let all_deadline = Instant::now() + Duration::from_millis(runtime_ms);
        let mut hurry = false;
        for level in self.plan.levels.clone().iter().rev() {
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
