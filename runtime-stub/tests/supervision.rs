//! Fault injection against a booted app: crashes and restarts, crash loops, rolling restarts
//! under load, workers, graceful stops with requests in flight, PID 1, the health server.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{alive, App, Running};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

/// A service answering `<id> <pid>`, writing its pid to `pids/<id>-<pid>`; `/slow` takes 1 s.
fn echo(id: &str) -> String {
    format!(
        r#"
const fs = require('node:fs')
const path = require('node:path')
const root = path.resolve(__dirname, '../..')
fs.mkdirSync(path.join(root, 'pids'), {{ recursive: true }})
fs.writeFileSync(path.join(root, 'pids', '{id}-' + process.pid), String(process.pid))
require('node:http').createServer((req, res) => {{
  if (req.url.endsWith('/slow')) return setTimeout(() => res.end('slow done'), 1000)
  res.end('{id} ' + process.pid)
}}).listen()
"#
    )
}

/// gw (the stub's gateway) in front of `api` and `other`.
fn gateway_app() -> App {
    let mut app = App::new("gw");
    app.service(
        "gw",
        json!({ "type": "gateway", "routes": [
            { "prefix": "/api", "service": "api", "rewritePrefix": "" },
            { "prefix": "/other", "service": "other", "rewritePrefix": "" }
        ]}),
    )["kind"] = json!("gateway");
    app.node_service("api", "index.js", &echo("api"));
    app.node_service("other", "index.js", &echo("other"));
    app
}

/// Pids written by service `id` since boot, oldest first by file name order is meaningless:
/// the set is what matters.
fn pids_of(app: &App, id: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(app.root().join("pids")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(&format!("{id}-"))?.parse().ok()
        })
        .collect()
}

fn live_pids_of(app: &App, id: &str) -> Vec<i32> {
    pids_of(app, id).into_iter().filter(|&p| alive(p)).collect()
}

fn wait_for(what: &str, run: &Running, limit: Duration, cond: impl Fn() -> bool) {
    let until = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// GETs `urls` in turn on keep-alive connections until stopped; counts answers and failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(urls: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, o, f) = (stop.clone(), ok.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build();
            while !s.load(Ordering::Relaxed) {
                for url in &urls {
                    match agent.get(url).call() {
                        Ok(r) if r.status() == 200 => {
                            o.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => f.lock().unwrap().push(format!("{url}: {}", r.status())),
                        Err(e) => f.lock().unwrap().push(format!("{url}: {e}")),
                    }
                }
            }
        });
        Load {
            stop,
            ok,
            failures,
            thread: Some(thread),
        }
    }

    /// Stop; (successful requests, failures).
    fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("load thread");
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}

fn metric(run: &Running, line_start: &str) -> Option<f64> {
    let (status, text) = run.health("/metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

#[test]
fn a_killed_service_comes_back_while_the_others_keep_serving() {
    let app = gateway_app();
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.health("/ready"), (200, "OK".into()));
    let first = live_pids_of(&app, "api");
    assert_eq!(first.len(), 1, "{first:?}");
    let load = Load::start(vec![run.url("/other/")]);
    std::thread::sleep(Duration::from_millis(200));

    kill(Pid::from_raw(first[0]), Signal::SIGKILL).expect("kill api");
    wait_for("api to come back", &run, Duration::from_secs(10), || {
        let now = live_pids_of(&app, "api");
        now.len() == 1 && now != first && run.get("/api/").0 == 200
    });
    std::thread::sleep(Duration::from_millis(200));
    let (ok, failures) = load.finish();
    assert!(failures.is_empty(), "{failures:?}\n{}", run.output());
    assert!(ok > 10, "only {ok} requests");
    let back = run.body("/api/");
    assert!(
        back.starts_with("api ") && !back.ends_with(&first[0].to_string()),
        "{back}"
    );
    assert!(
        run.stderr()
            .contains("service \"api\" was killed by SIGKILL; restarting it in"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr()
            .contains("service \"api\" is back (worker 0, restart 1)"),
        "{}",
        run.output()
    );
    assert_eq!(
        metric(
            &run,
            "watt_service_restarts_total{applicationId=\"api\",workerId=\"0\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&run, "watt_service_ready{applicationId=\"api\"}"),
        Some(1.0)
    );
    // Gateway requests are counted per target and status, with latencies.
    let other = metric(
        &run,
        "http_request_all_duration_seconds_count{applicationId=\"other\",method=\"GET\",status_code=\"200\"}",
    );
    assert!(other.is_some_and(|n| n >= ok as f64), "{other:?} < {ok}");
    let rss = metric(
        &run,
        "process_resident_memory_bytes{applicationId=\"api\",workerId=\"0\"}",
    );
    assert!(rss.is_some_and(|b| b > 1e6), "{rss:?}");
    assert!(metric(
        &run,
        "process_cpu_seconds_total{applicationId=\"other\",workerId=\"0\"}"
    )
    .is_some());
    // Nothing of the environment leaks into the metrics.
    let (_, text) = run.health("/metrics");
    assert!(
        !text.contains("WATT_MESH") && !text.contains("PATH"),
        "{text}"
    );
}

#[test]
fn a_restarting_service_gets_a_503_at_once() {
    let mut app = gateway_app();
    app.manifest["services"][1]["restartOnErrorMs"] = json!(3000);
    let mut run = app.start(&[]);
    run.ready();
    let pid = live_pids_of(&app, "api")[0];
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill api");
    wait_for("the crash report", &run, Duration::from_secs(5), || {
        run.stderr().contains("restarting it in")
    });
    let began = Instant::now();
    let (status, body) = run.get("/api/");
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("service \\\"api\\\" is restarting"), "{body}");
    assert_eq!(run.health("/ready"), (500, "ERR".into()));
    assert_eq!(run.health("/status"), (200, "OK".into()));
    assert_eq!(run.get("/other/").0, 200);
}

#[test]
fn a_crash_loop_backs_off_then_the_service_is_failed_and_the_stub_stays_up() {
    let mut app = App::new("gw");
    app.service(
        "gw",
        json!({ "type": "gateway", "routes": [
            { "prefix": "/crashy", "service": "crashy", "rewritePrefix": "" },
            { "prefix": "/other", "service": "other", "rewritePrefix": "" }
        ]}),
    )["kind"] = json!("gateway");
    app.node_service(
        "crashy",
        "index.js",
        "console.log('crashy starting'); console.error('crashy: cannot go on'); process.exit(3)",
    );
    app.node_service("other", "index.js", &echo("other"));
    let mut run = app.start(&[]);
    run.ready();
    wait_for("crashy to fail", &run, Duration::from_secs(15), || {
        run.stderr().contains("it crashed 6 times in a row")
    });
    let err = run.stderr();
    let delays: Vec<u64> = err
        .split("restarting it in ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(delays.len(), 5, "{err}");
    for (i, pair) in delays.windows(2).enumerate() {
        assert!(
            pair[1] >= pair[0] * 3 / 2,
            "delay {i} does not grow: {delays:?}"
        );
    }
    assert!(delays[0] <= 100 && delays[4] >= 1000, "{delays:?}");
    assert!(
        err.contains("exited with code 3 before it was ready"),
        "{err}"
    );
    assert!(err.contains("[crashy] crashy: cannot go on"), "{err}");
    assert!(
        err.contains("it stays down and requests to it get 502"),
        "{err}"
    );

    std::thread::sleep(Duration::from_millis(300));
    assert!(
        run.try_wait().is_none(),
        "the stub stopped\n{}",
        run.output()
    );
    assert_eq!(run.health("/ready"), (500, "ERR".into()));
    assert_eq!(run.health("/status"), (500, "ERR".into()));
    let (status, body) = run.get("/crashy/");
    assert_eq!(status, 502, "{body}");
    assert!(run.get("/other/").1.starts_with("other "));
    assert_eq!(
        metric(
            &run,
            "watt_service_restarts_total{applicationId=\"crashy\",workerId=\"0\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        metric(&run, "watt_service_up{applicationId=\"crashy\"}"),
        Some(0.0)
    );
}

#[test]
fn an_entrypoint_failing_for_good_exits_non_zero() {
    let mut app = App::new("entry");
    app.node_service("entry", "index.js", "process.exit(4)")["restartOnErrorMs"] = json!(10);
    let mut run = app.start(&[]);
    let status = run.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", run.output());
    assert!(
        run.stderr()
            .contains("it is the entrypoint: stopping the app"),
        "{}",
        run.output()
    );
}

#[test]
fn sigusr2_restarts_every_service_without_failing_a_request() {
    let app = gateway_app();
    let mut run = app.start(&[]);
    run.ready();
    let before: Vec<i32> = ["api", "other"]
        .iter()
        .flat_map(|id| live_pids_of(&app, id))
        .collect();
    assert_eq!(before.len(), 2);
    let load = Load::start(vec![run.url("/api/"), run.url("/other/")]);
    std::thread::sleep(Duration::from_millis(300));
    run.signal(Signal::SIGUSR2);
    wait_for("the rolling restart", &run, Duration::from_secs(20), || {
        run.stderr().contains("every service restarted in")
    });
    wait_for(
        "the old processes to exit",
        &run,
        Duration::from_secs(10),
        || before.iter().all(|&p| !alive(p)),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (ok, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}\n{}",
        failures.len(),
        run.output()
    );
    assert!(ok > 20, "only {ok} requests");
    for id in ["api", "other"] {
        let now = live_pids_of(&app, id);
        assert_eq!(now.len(), 1, "{id}: {now:?}");
        assert!(!before.contains(&now[0]), "{id} was not restarted");
    }
    assert!(run.try_wait().is_none());
    // SIGUSR1 is not passed on (it would open the inspector).
    run.signal(Signal::SIGUSR1);
    wait_for(
        "SIGUSR1 to be ignored",
        &run,
        Duration::from_secs(5),
        || run.stderr().contains("SIGUSR1 ignored"),
    );
    assert_eq!(run.get("/api/").0, 200);
}

#[test]
fn two_workers_share_the_socket_and_one_survives_the_others_death() {
    let mut app = gateway_app();
    app.manifest["services"][1]["workers"] = json!(2);
    // Long enough that the survivor serves alone for the rest of the test.
    app.manifest["services"][1]["restartOnErrorMs"] = json!(20_000);
    let mut run = app.start(&[]);
    run.ready();
    let workers = live_pids_of(&app, "api");
    assert_eq!(workers.len(), 2, "{workers:?}");
    for w in 0..2 {
        let m = metric(
            &run,
            &format!(
                "watt_service_start_duration_seconds{{applicationId=\"api\",workerId=\"{w}\"}}"
            ),
        );
        assert!(m.is_some(), "worker {w} missing from /metrics");
    }
    kill(Pid::from_raw(workers[0]), Signal::SIGKILL).expect("kill a worker");
    wait_for("the crash report", &run, Duration::from_secs(5), || {
        run.stderr().contains("(worker ")
    });
    for _ in 0..20 {
        assert_eq!(run.body("/api/"), format!("api {}", workers[1]));
    }
    assert_eq!(run.health("/ready").0, 200, "one ready worker is enough");
}

#[test]
fn sigterm_lets_requests_in_flight_finish_and_leaves_nothing() {
    let mut app = App::new("api");
    app.node_service("api", "index.js", &echo("api"));
    let mut run = app.start(&[]);
    run.ready();
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let url = run.url("/slow");
            std::thread::spawn(move || common::get(&url))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    run.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        run.health("/ready"),
        (500, "ERR".into()),
        "/ready must fail at once"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", run.port)).is_err(),
        "still accepting after SIGTERM"
    );
    for s in slow {
        assert_eq!(s.join().expect("thread"), (200, "slow done".to_string()));
    }
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
    assert!(pids_of(&app, "api").into_iter().all(|p| !alive(p)));
}

#[test]
fn as_pid_1_orphans_are_reaped() {
    let mut app = App::new("api");
    app.node_service(
        "api",
        "index.js",
        r#"
const { spawn } = require('node:child_process')
// Grandchildren orphaned at once: they are handed to PID 1 and exit soon after.
for (let i = 0; i < 3; i++) spawn('sh', ['-c', 'sleep 0.3 & sleep 0.3 & exit 0'], { stdio: 'ignore' })
require('node:http').createServer((req, res) => res.end('pid ' + process.pid)).listen()
"#,
    );
    let manifest = app.write_manifest();
    let port = common::free_port();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(common::STUB)
        .arg("--manifest")
        .arg(manifest)
        .env("PORT", port.to_string());
    let mut run = app.spawn(cmd, &[], port);
    run.ready();
    assert!(run.body("/").starts_with("pid "));
    std::thread::sleep(Duration::from_millis(1000));
    // Every process under unshare, as the host sees it: no zombie among them.
    let tree = descendants(run.child.id() as i32);
    assert!(tree.len() >= 2, "{tree:?}");
    let zombies: Vec<_> = tree.iter().filter(|(_, state)| *state == 'Z').collect();
    assert!(
        zombies.is_empty(),
        "zombies: {zombies:?} in {tree:?}\n{}",
        run.output()
    );
    // The stub is PID 1 there and stops cleanly.
    let stub = tree
        .iter()
        .find(|(p, _)| comm(*p) == "watt-stub")
        .expect("stub")
        .0;
    kill(Pid::from_raw(stub), Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// (pid, state) of every process below `root`.
fn descendants(root: i32) -> Vec<(i32, char)> {
    let mut all = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: i32 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        all.push((pid, ppid, state));
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid, state) in &all {
            if ppid == p {
                out.push((pid, state));
                frontier.push(pid);
            }
        }
    }
    out
}

#[test]
fn the_healthcheck_subcommand_follows_ready() {
    let mut app = App::new("api");
    app.node_service("api", "index.js", &echo("api"));
    let addr = format!("127.0.0.1:{}", common::free_port());
    let check = || {
        std::process::Command::new(common::STUB)
            .args(["healthcheck", &addr])
            .output()
            .expect("healthcheck")
            .status
            .code()
    };
    assert_eq!(check(), Some(1), "nothing listens yet");
    let mut run = app.start(&[("WATT_HEALTH_ADDR", &addr)]);
    run.ready();
    assert_eq!(check(), Some(0));
    let status = std::process::Command::new(common::STUB)
        .arg("healthcheck")
        .env("WATT_HEALTH_ADDR", &addr)
        .status()
        .expect("healthcheck");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_manifest_path_outside_the_artifact_is_refused() {
    for (field, value) in [("dir", json!("/etc")), ("dir", json!("app/../../etc"))] {
        let mut app = App::new("web");
        app.service(
            "web",
            json!({ "type": "static", field: value, "spaFallback": false }),
        );
        let mut run = app.start(&[]);
        assert_eq!(run.wait(Duration::from_secs(10)).code(), Some(1));
        let err = run.stderr();
        assert!(
            err.contains("manifest field services[0] (\"web\").start.dir")
                && err.contains("relative"),
            "{err}"
        );
    }
}

#[test]
fn sigterm_calls_an_exported_close_then_closes_the_server_like_watt() {
    let mut app = App::new("api");
    app.node_service(
        "api",
        "index.mjs",
        r#"
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
const root = path.resolve(import.meta.dirname, '../..')
export const create = () => http.createServer((req, res) => res.end('ok'))
export async function close () {
  await new Promise((r) => setTimeout(r, 50))
  fs.writeFileSync(path.join(root, 'closed'), 'by close()')
}
"#,
    );
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.body("/"), "ok");
    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
    assert_eq!(
        std::fs::read_to_string(app.root().join("closed"))
            .ok()
            .as_deref(),
        Some("by close()"),
        "{}",
        run.output()
    );
    assert!(
        !run.stderr().contains("did not stop within"),
        "{}",
        run.output()
    );
}
