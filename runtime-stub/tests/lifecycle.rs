//! Signals, shutdown order, kill timeouts, failures and reaping.

mod common;

use std::time::{Duration, Instant};

use common::{alive, pids, App};
use nix::sys::signal::Signal;
use serde_json::json;

/// A service that records its pid and, on SIGTERM, appends its id to `events` before exiting.
fn polite(id: &str, extra: &str) -> String {
    format!(
        r#"
const fs = require('node:fs')
const path = require('node:path')
const root = path.resolve(__dirname, '../..')
fs.mkdirSync(path.join(root, 'pids'), {{ recursive: true }})
fs.writeFileSync(path.join(root, 'pids', '{id}'), String(process.pid))
process.on('SIGTERM', () => {{
  fs.appendFileSync(path.join(root, 'events'), '{id}\n')
  setTimeout(() => process.exit(0), 100)
}})
process.on('SIGHUP', () => console.log('got SIGHUP'))
{extra}
require('node:http').createServer((req, res) => res.end('{id}')).listen()
"#
    )
}

#[test]
fn sigterm_stops_the_entrypoint_first_and_leaves_nothing() {
    let mut app = App::new("gw");
    app.node_service("gw", "index.js", &polite("gw", ""));
    // api leaves a grandchild in its group that ignores SIGTERM, and one outside its group.
    let api = app.node_service(
        "api",
        "index.js",
        &polite(
            "api",
            r#"
const { spawn } = require('node:child_process')
const stubborn = spawn('sh', ['-c', 'trap "" TERM; sleep 1000 & wait'], { stdio: 'ignore' })
fs.writeFileSync(path.join(root, 'pids', 'api-child'), String(stubborn.pid))
const detached = spawn('sleep', ['1001'], { detached: true, stdio: 'ignore' })
fs.writeFileSync(path.join(root, 'pids', 'api-detached'), String(detached.pid))
"#,
        ),
    );
    api["dependencies"] = json!(["db"]);
    app.node_service("db", "index.js", &polite("db", ""));

    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.body("/"), "gw");
    let pids = pids(app.root());
    assert_eq!(pids.len(), 5, "{pids:?}");

    run.signal(Signal::SIGHUP);
    let until = Instant::now() + Duration::from_secs(5);
    while !run.stdout().contains("[db] got SIGHUP") {
        assert!(
            Instant::now() < until,
            "SIGHUP not forwarded\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let began = Instant::now();
    run.signal(Signal::SIGTERM);
    let status = run.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", run.output());
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "took {:?}",
        began.elapsed()
    );
    let events = std::fs::read_to_string(app.root().join("events")).expect("events");
    assert_eq!(events, "gw\napi\ndb\n", "stop order");
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived\n{}", run.output());
    }
}

fn stubborn_app(application_ms: u64) -> App {
    let mut app = App::new("stubborn");
    app.manifest["gracefulShutdown"]["applicationMs"] = json!(application_ms);
    app.node_service(
        "stubborn",
        "index.js",
        &polite(
            "stubborn",
            "process.removeAllListeners('SIGTERM'); process.on('SIGTERM', () => console.log('ignoring SIGTERM'))",
        ),
    );
    app
}

#[test]
fn a_service_ignoring_sigterm_is_killed_after_application_ms() {
    let app = stubborn_app(500);
    let mut run = app.start(&[]);
    run.ready();
    let began = Instant::now();
    run.signal(Signal::SIGTERM);
    let status = run.wait(Duration::from_secs(10));
    let took = began.elapsed();
    assert_eq!(status.code(), Some(0), "{}", run.output());
    assert!(
        took >= Duration::from_millis(500),
        "killed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(run.stdout().contains("[stubborn] ignoring SIGTERM"));
    assert!(
        run.stderr().contains("did not stop within 500 ms"),
        "{}",
        run.output()
    );
    assert!(pids(app.root()).into_iter().all(|p| !alive(p)));
}

#[test]
fn a_second_sigterm_kills_at_once() {
    let app = stubborn_app(20_000);
    let mut run = app.start(&[]);
    run.ready();
    run.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let began = Instant::now();
    run.signal(Signal::SIGINT);
    assert_eq!(run.wait(Duration::from_secs(5)).code(), Some(0));
    assert!(began.elapsed() < Duration::from_secs(2));
    assert!(pids(app.root()).into_iter().all(|p| !alive(p)));
}

#[test]
fn a_service_failing_at_start_is_reported_with_its_logs() {
    let mut app = App::new("bad");
    app.node_service("ok", "index.js", &polite("ok", ""));
    let bad = app.node_service(
        "bad",
        "index.js",
        "console.log('about to fail'); console.error('some detail'); throw new Error('boom at start')",
    );
    bad["dependencies"] = json!(["ok"]);
    let mut run = app.start(&[]);
    let status = run.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", run.output());
    let err = run.stderr();
    for want in [
        "service \"bad\" exited with code 1 before it was ready",
        "[bad] about to fail",
        "[bad] some detail",
        "boom at start",
    ] {
        assert!(err.contains(want), "missing {want:?}\n{}", run.output());
    }
    assert_eq!(
        std::fs::read_to_string(app.root().join("events"))
            .ok()
            .as_deref(),
        Some("ok\n")
    );
    assert!(pids(app.root()).into_iter().all(|p| !alive(p)));
}

#[test]
fn a_service_that_never_listens_times_out() {
    let mut app = App::new("never");
    app.node_service(
        "never",
        "index.js",
        "console.log('thinking'); setInterval(() => {}, 1000)",
    );
    let mut run = app.start(&[("WATT_START_TIMEOUT_MS", "500")]);
    assert_eq!(run.wait(Duration::from_secs(10)).code(), Some(1));
    let err = run.stderr();
    assert!(
        err.contains("service \"never\" did not become ready within 500 ms"),
        "{err}"
    );
    assert!(err.contains("[never] thinking"), "{err}");
}

#[test]
fn a_crash_after_start_stops_the_app_with_its_code() {
    for (path, code, what) in [
        ("/exit", 3, "exited with code 3"),
        ("/kill", 137, "was killed by SIGKILL"),
    ] {
        let mut app = App::new("crashy");
        app.node_service("other", "index.js", &polite("other", ""));
        let crashy = app.node_service(
            "crashy",
            "index.js",
            r#"
require('node:http').createServer((req, res) => {
  console.log('going down via ' + req.url)
  res.end('bye')
  if (req.url === '/exit') setTimeout(() => process.exit(3), 10)
  else setTimeout(() => process.kill(process.pid, 'SIGKILL'), 10)
}).listen()
"#,
        );
        // restartOnError: false (restarts are tested in supervision.rs).
        crashy["restartOnErrorMs"] = json!(0);
        let mut run = app.start(&[]);
        run.ready();
        run.body(path);
        assert_eq!(
            run.wait(Duration::from_secs(10)).code(),
            Some(code),
            "{}",
            run.output()
        );
        let err = run.stderr();
        assert!(err.contains(&format!("service \"crashy\" {what}")), "{err}");
        assert!(
            err.contains(&format!("[crashy] going down via {path}")),
            "{err}"
        );
        assert!(pids(app.root()).into_iter().all(|p| !alive(p)));
    }
}

#[test]
fn a_service_dying_after_start_stays_down_and_the_app_keeps_running() {
    let mut app = App::new("entry");
    // The entrypoint relays `/other` to the other service over the mesh.
    app.node_service(
        "entry",
        "index.mjs",
        r#"
import http from 'node:http'
export const create = () => http.createServer(async (req, res) => {
  try {
    const r = await fetch('http://other.plt.local' + req.url.slice('/other'.length))
    res.end(r.status + ' ' + await r.text())
  } catch (e) {
    res.end('error ' + (e.cause?.code ?? e))
  }
})
"#,
    );
    let other = app.node_service(
        "other",
        "index.js",
        r#"
require('node:http').createServer((req, res) => {
  res.end('other says hi')
  if (req.url === '/die') {
    console.error('other: going away')
    setTimeout(() => process.exit(5), 10)
  }
}).listen()
"#,
    );
    other["restartOnErrorMs"] = json!(0);
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.body("/other/"), "200 other says hi");
    assert_eq!(run.body("/other/die"), "200 other says hi");
    let until = Instant::now() + Duration::from_secs(5);
    while !run
        .stderr()
        .contains("service \"other\" exited with code 5")
    {
        assert!(Instant::now() < until, "no report\n{}", run.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        run.stderr().contains("[other] other: going away"),
        "{}",
        run.output()
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        run.try_wait().is_none(),
        "the app stopped\n{}",
        run.output()
    );
    // Its socket answers for it, at once, with its name.
    let began = Instant::now();
    let relayed = run.body("/other/");
    assert!(began.elapsed() < Duration::from_secs(2));
    assert!(
        relayed.starts_with("502 ") && relayed.contains(r#"service \"other\" is not running"#),
        "{relayed}"
    );
    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
}
