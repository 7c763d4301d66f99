//! Mesh, environment, placeholders, the public address and start order.

mod common;

use common::{free_port, App};
use serde_json::{json, Value};

const GATEWAY: &str = r#"
import http from 'node:http'
export function create () {
  return http.createServer(async (req, res) => {
    if (req.url === '/ping') return res.end('pong from ' + req.headers.host)
    const [, id, ...rest] = req.url.split('/')
    try {
      const r = await fetch(`http://${id}.plt.local/${rest.join('/')}`)
      res.writeHead(r.status)
      res.end(await r.text())
    } catch (e) {
      res.writeHead(502)
      res.end(String(e.cause ?? e))
    }
  })
}
"#;

/// Calls other services in every way user code does.
const CALLER: &str = r#"
import http from 'node:http'
function get (url) {
  return new Promise((resolve, reject) => {
    http.get(url, (r) => {
      let body = ''
      r.on('data', (c) => { body += c })
      r.on('end', () => resolve(body))
    }).on('error', reject)
  })
}
const routes = {
  '/fetch-b': async () => (await fetch('http://b.plt.local/hi')).text(),
  '/get-b': () => get('http://B.plt.local:9999/hi'),
  '/fetch-gateway': async () => (await fetch('http://gateway.plt.local/ping')).text(),
  '/get-gateway': () => get('http://gateway.plt.local/ping'),
  '/unknown': () => fetch('http://nope.plt.local/').then(() => 'reached?', (e) => e.cause?.code),
  '/env': () => JSON.stringify(Object.fromEntries(
    ['A', 'B', 'D1', 'D2', 'D3', 'PORT', 'HOSTNAME'].map((k) => [k, process.env[k] ?? null])))
}
export function create () {
  return http.createServer(async (req, res) => {
    try {
      res.end(String(await routes[req.url]()))
    } catch (e) {
      res.writeHead(500)
      res.end(String(e.stack))
    }
  })
}
"#;

#[test]
fn mesh_env_and_placeholders() {
    let mut app = App::new("gateway");
    app.node_service("gateway", "index.mjs", GATEWAY);
    let a = app.node_service("a", "index.mjs", CALLER);
    a["env"] = json!({ "A": "{MY_VAR}", "B": "x{{UNSET_VAR}}y", "D3": "cfg" });
    a["dotenv"] = json!({ "D1": "dotenv1", "D2": "dotenv2", "D3": "dotenv3" });
    app.node_service(
        "b",
        "index.js",
        "require('http').createServer((req, res) => res.end('b:' + req.headers.host + req.url)).listen()",
    );

    let mut run = app.start(&[("MY_VAR", "mine"), ("D1", "real1"), ("D3", "real3")]);
    run.ready();
    for (path, want) in [
        ("/a/fetch-b", "b:b.plt.local/hi"),
        ("/a/get-b", "b:b.plt.local:9999/hi"),
        ("/a/fetch-gateway", "pong from gateway.plt.local"),
        ("/a/get-gateway", "pong from gateway.plt.local"),
        ("/a/unknown", "ENOTFOUND"),
    ] {
        assert_eq!(run.body(path), want, "GET {path}\n{}", run.output());
    }
    let env: Value = serde_json::from_str(&run.body("/a/env")).expect("json");
    assert_eq!(env["A"], "mine");
    assert_eq!(env["B"], "xy", "unset placeholders become empty");
    assert_eq!(env["D1"], "real1", "the real environment wins over .env");
    assert_eq!(env["D2"], "dotenv2");
    assert_eq!(env["D3"], "cfg", "the config's env wins over everything");
    let port: u16 = env["PORT"].as_str().expect("PORT").parse().expect("number");
    assert_ne!(port, run.port, "each service gets its own PORT");
}

fn port_app(host: &str, port: &str) -> App {
    let mut app = App::new("web");
    app.manifest["server"] = json!({ "hostname": host, "port": port });
    app.node_service(
        "web",
        "index.js",
        "require('http').createServer((req, res) => res.end('web')).listen()",
    );
    app
}

#[test]
fn public_port_comes_from_port_then_config() {
    let (p1, p2) = (free_port(), free_port());
    let app = port_app("{PLT_SERVER_HOSTNAME}", "{APP_PORT}");
    let p1s = p1.to_string();
    // From the config, with HOSTNAME (set by Docker to the container name) ignored.
    let mut run = app.start_without_port(
        &[("APP_PORT", &p1s), ("HOSTNAME", "not-a-host.invalid")],
        p1,
    );
    run.ready();
    assert_eq!(run.body("/"), "web");
    assert!(
        run.stderr()
            .contains(&format!("listening on http://0.0.0.0:{p1}")),
        "{}",
        run.output()
    );
    drop(run);

    // PORT wins over the config.
    let p2s = p2.to_string();
    let mut run = app.start_without_port(&[("APP_PORT", &p1s), ("PORT", &p2s)], p2);
    run.ready();
    assert_eq!(run.body("/"), "web");
}

#[test]
fn a_taken_public_port_is_named() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let app = port_app("127.0.0.1", "3042");
    let mut run = app.start_without_port(&[("PORT", &port.to_string())], port);
    let status = run.wait(std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", run.output());
    assert!(
        run.stderr()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        run.output()
    );
}

#[test]
fn the_entrypoint_starts_after_every_dependency_is_ready() {
    let mut app = App::new("gateway");
    // The entrypoint calls its targets while it loads: they must all answer by then.
    app.node_service(
        "gateway",
        "index.mjs",
        r#"
import http from 'node:http'
const seen = await Promise.all(['slow', 'db'].map(async (id) => (await fetch(`http://${id}.plt.local/`)).text()))
export const create = () => http.createServer((req, res) => res.end(seen.join(',')))
"#,
    );
    // db starts slowly; slow depends on db and checks it is up before listening.
    app.node_service(
        "db",
        "index.mjs",
        r#"
import http from 'node:http'
await new Promise((r) => setTimeout(r, 400))
http.createServer((req, res) => res.end('db')).listen()
"#,
    );
    let slow = app.node_service(
        "slow",
        "index.mjs",
        r#"
import http from 'node:http'
const db = await (await fetch('http://db.plt.local/')).text()
await new Promise((r) => setTimeout(r, 200))
http.createServer((req, res) => res.end('slow after ' + db)).listen()
"#,
    );
    slow["dependencies"] = json!(["db"]);
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.body("/"), "slow after db,db");
}

#[test]
fn version_and_bad_manifests() {
    let out = std::process::Command::new(common::STUB)
        .arg("--version")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("watt-stub "));

    let mut app = App::new("a");
    let a = app.node_service("a", "index.js", "");
    a["dependencies"] = json!(["ghost"]);
    let mut run = app.start(&[]);
    assert_eq!(run.wait(std::time::Duration::from_secs(5)).code(), Some(1));
    assert!(
        run.stderr().contains("depends on \"ghost\""),
        "{}",
        run.output()
    );

    let missing = std::process::Command::new(common::STUB)
        .args(["--manifest", "/nonexistent/watt-manifest.json"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the app manifest"));
}

#[test]
fn a_plain_command_binds_its_port_and_is_probed() {
    let mut app = App::new("web");
    app.node_service(
        "b",
        "index.js",
        "require('http').createServer((req, res) => res.end('b')).listen()",
    );
    // Not `node`: no launcher, so it binds PORT itself (late) and still reaches the mesh.
    app.file(
        "app/web/server.js",
        r#"
setTimeout(() => require('http').createServer(async (req, res) => {
  res.end('web+' + await (await fetch('http://b.plt.local/')).text())
}).listen(process.env.PORT, '127.0.0.1'), 300)
"#,
    );
    let node = common::node().to_string_lossy().into_owned();
    app.service(
        "web",
        json!({ "type": "command", "argv": [node, "server.js"] }),
    );
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.body("/"), "web+b");
}
