//! What the stub serves itself: static sites, the gateway's reverse proxy (HTTP, streaming,
//! WebSocket, down services), client files in front of a process, and request-handler services.
//! Real node services, real HTTP and a real WebSocket client.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::App;
use nix::sys::signal::Signal;
use serde_json::{json, Value};

/// GET with headers: (status, headers we ask about, body).
fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, ureq::Response) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .build();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.call() {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(code, r)) => (code, r),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A raw request on a fresh connection (clients normalise `..`; attackers do not).
fn raw(port: u16, target: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Pids whose parent is `pid`.
fn children(pid: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let child: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

#[test]
fn a_static_site_runs_no_process() {
    let mut app = App::new("web");
    app.file("app/web/dist/index.html", "<h1>shop</h1>");
    app.file("app/web/dist/assets/index-BQ4x7Zk2.js", "export {}");
    app.file("app/web/secret.txt", "SECRET");
    let web = app.service(
        "web",
        json!({ "type": "static", "dir": "app/web/dist", "spaFallback": true }),
    );
    web["basePath"] = json!("/shop");
    let mut run = app.start(&[]);
    run.ready();
    assert!(run.stderr().contains("1 service ready"), "{}", run.output());
    assert!(
        children(run.child.id()).is_empty(),
        "a static site started a process"
    );

    for path in ["/", "/shop/", "/shop/cart/42", "/cart"] {
        assert_eq!(run.body(path), "<h1>shop</h1>", "{path}");
    }
    let (status, r) = fetch(&run.url("/shop/assets/index-BQ4x7Zk2.js"), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = r.header("etag").expect("etag").to_string();
    let (status, _) = fetch(
        &run.url("/shop/assets/index-BQ4x7Zk2.js"),
        &[("if-none-match", &etag)],
    );
    assert_eq!(status, 304);
    assert_eq!(run.get("/shop/assets/gone-BQ4x7Zk2.js").0, 404);

    for target in [
        "/../secret.txt",
        "/shop/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
    ] {
        let answer = raw(run.port, target);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        assert!(!answer.contains("SECRET"), "{target}: {answer}");
    }

    run.signal(Signal::SIGTERM);
    assert_eq!(run.wait(Duration::from_secs(5)).code(), Some(0));
}

const API: &str = r#"
const http = require('node:http')
const { WebSocketServer } = require('ws')
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/echo')) {
    let n = 0
    req.on('data', (c) => { n += c.length })
    req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: n })))
    return
  }
  if (req.url === '/stream') {
    res.write('first\n')
    return setTimeout(() => res.end('second\n'), 600)
  }
  if (req.url === '/slow') return setTimeout(() => res.end('slow done'), 1000)
  if (req.url === '/die') {
    console.log('dying on request')
    res.end('bye')
    return setTimeout(() => process.exit(7), 20)
  }
  res.end('api:' + req.url)
})
new WebSocketServer({ server }).on('connection', (ws, req) => {
  ws.on('message', (m) => ws.send(`api echo ${m} at ${req.url}`))
})
server.listen()
"#;

/// A process behind the stub's front: its client files are served by the stub.
const APP: &str = r#"
const http = require('node:http')
const { WebSocketServer } = require('ws')
async function relay (url, res) {
  const r = await fetch(url)
  res.end(r.status + ' ' + await r.text())
}
const server = http.createServer((req, res) => {
  if (req.url === '/mesh-api') return relay('http://api.plt.local/hello', res)
  if (req.url === '/mesh-web') return relay('http://web.plt.local/shop/', res)
  if (req.url === '/mesh-self') return relay('http://app.plt.local/robots.txt', res)
  res.end(JSON.stringify({ from: 'app', url: req.url, xff: req.headers['x-forwarded-for'] }))
})
new WebSocketServer({ server }).on('connection', (ws, req) => {
  ws.on('message', (m) => ws.send(`app echo ${m} at ${req.url}`))
})
server.listen()
"#;

/// gw (gateway, entrypoint) → api (node), web (static, base path /shop), app (node with client
/// files), cmd (a plain command that binds its own port).
fn gateway_app() -> App {
    let mut app = App::new("gw").with_modules();
    app.service(
        "gw",
        json!({ "type": "gateway", "routes": [
            { "prefix": "/shop", "service": "web", "rewritePrefix": "/shop" },
            { "prefix": "/api", "service": "api", "rewritePrefix": "" },
            { "prefix": "/app", "service": "app", "rewritePrefix": "" },
            { "prefix": "/cmd", "service": "cmd", "rewritePrefix": "" }
        ]}),
    )["kind"] = json!("gateway");
    app.node_service("api", "index.js", API);
    app.file("app/web/dist/index.html", "<h1>shop</h1>");
    app.file("app/web/dist/assets/index-BQ4x7Zk2.js", "export {}");
    app.service(
        "web",
        json!({ "type": "static", "dir": "app/web/dist", "spaFallback": true }),
    )["basePath"] = json!("/shop");
    app.file("app/app/client/robots.txt", "User-agent: *");
    app.file(
        "app/app/client/assets/app-BQ4x7Zk2.js",
        "console.log('client')",
    );
    app.node_service("app", "index.js", APP)["staticAssets"] =
        json!({ "dir": "app/app/client", "urlPrefix": "/" });
    app.file(
        "app/cmd/server.js",
        r#"
const server = require('node:http').createServer((req, res) => {
  res.end('cmd:' + req.url)
  if (req.url === '/close') {
    server.close()
    setTimeout(() => server.closeAllConnections(), 50)
  }
}).listen(process.env.PORT, '127.0.0.1')
setInterval(() => {}, 1 << 30) // stays alive once its server is closed
"#,
    );
    let node = common::node().to_string_lossy().into_owned();
    app.service(
        "cmd",
        json!({ "type": "command", "argv": [node, "server.js"] }),
    );
    app
}

#[test]
fn the_gateway_routes_rewrites_and_forwards() {
    let app = gateway_app();
    let mut run = app.start(&[]);
    run.ready();
    assert!(
        run.stderr().contains("5 services ready"),
        "{}",
        run.output()
    );
    assert_eq!(children(run.child.id()).len(), 3, "api, app and cmd only");

    let host = format!("127.0.0.1:{}", run.port);
    let (status, r) = fetch(
        &run.url("/api/echo/x?q=1&r=%2F"),
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "must not pass"),
            ("x-kept", "passes"),
        ],
    );
    assert_eq!(status, 200);
    let echo = json_of(&r.into_string().expect("body"));
    assert_eq!(echo["url"], "/echo/x?q=1&r=%2F");
    let h = &echo["headers"];
    assert_eq!(h["host"], host.as_str(), "Host is the client's");
    // The stub is the edge unless WATT_TRUST_PROXY says otherwise: a client's value goes.
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], host.as_str());
    assert_eq!(h["x-kept"], "passes");
    assert!(h.get("x-hop").is_none(), "hop-by-hop header passed: {h}");

    for (path, want) in [
        ("/api", "api:/"),
        ("/api/", "api:/"),
        ("/api?x=1", "api:/?x=1"),
        ("/cmd/hello", "cmd:/hello"),
    ] {
        assert_eq!(run.body(path), want, "{path}");
    }
    for path in ["/apix", "/nothing", "/"] {
        let (status, body) = run.get(path);
        assert_eq!(status, 404, "{path}");
        assert_eq!(json_of(&body)["error"], "Not Found");
    }

    // A request body streams through (5 MB).
    let agent = ureq::AgentBuilder::new().build();
    let big = vec![b'x'; 5 << 20];
    let r = agent
        .post(&run.url("/api/echo"))
        .send_bytes(&big)
        .expect("POST");
    let echo = json_of(&r.into_string().expect("body"));
    assert_eq!(
        (echo["method"].as_str(), echo["bodyLength"].as_u64()),
        (Some("POST"), Some(5 << 20))
    );

    // A response streams too: the first chunk arrives before the upstream has finished.
    let began = Instant::now();
    let (_, r) = fetch(&run.url("/api/stream"), &[]);
    let mut reader = r.into_reader();
    let mut first = [0u8; 6];
    reader.read_exact(&mut first).expect("first chunk");
    assert_eq!(&first, b"first\n");
    let early = began.elapsed();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("rest");
    assert_eq!(rest, "second\n");
    assert!(
        early < Duration::from_millis(450) && began.elapsed() >= Duration::from_millis(600),
        "buffered? first chunk after {early:?}, all after {:?}",
        began.elapsed()
    );

    // The static site, reached with its base path kept, and from the mesh.
    assert_eq!(run.body("/shop/"), "<h1>shop</h1>");
    assert_eq!(run.body("/shop/some/route"), "<h1>shop</h1>");
    let (_, r) = fetch(&run.url("/shop/assets/index-BQ4x7Zk2.js"), &[]);
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(run.body("/app/mesh-web"), "200 <h1>shop</h1>");

    // The front: client files from the stub, the rest from the process, mesh included.
    assert_eq!(run.body("/app/robots.txt"), "User-agent: *");
    let (_, r) = fetch(&run.url("/app/assets/app-BQ4x7Zk2.js"), &[]);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.into_string().expect("body"), "console.log('client')");
    let page = json_of(&run.body("/app/products?id=1"));
    assert_eq!(page["from"], "app");
    assert_eq!(page["url"], "/products?id=1");
    assert_eq!(page["xff"], "127.0.0.1", "X-Forwarded-For is added once");
    assert_eq!(run.body("/app/mesh-self"), "200 User-agent: *");
    assert_eq!(run.body("/app/mesh-api"), "200 api:/hello");

    // WebSocket through the gateway, to a plain process and to a process behind a front.
    for (path, want) in [
        ("/api/ws?x=1", "api echo hi at /ws?x=1"),
        ("/app/chat", "app echo hi at /chat"),
    ] {
        let (mut ws, resp) = tungstenite::connect(format!("ws://127.0.0.1:{}{path}", run.port))
            .unwrap_or_else(|e| panic!("ws {path}: {e}\n{}", run.output()));
        assert_eq!(resp.status().as_u16(), 101);
        for _ in 0..3 {
            ws.send(tungstenite::Message::text("hi")).expect("send");
            let msg = ws.read().expect("read");
            assert_eq!(msg.to_text().expect("text"), want);
        }
        ws.close(None).expect("close");
    }

    // A service whose server closed while its process lives: not reachable, named.
    assert_eq!(run.body("/cmd/close"), "cmd:/close");
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = run.get("/cmd/after");
    assert_eq!(status, 502, "{body}");
    let err = json_of(&body);
    assert_eq!(err["error"], "Bad Gateway");
    let msg = err["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("service \"cmd\" is not reachable: "),
        "{msg}"
    );

    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
}

#[test]
fn a_dead_service_is_reported_and_answered_for() {
    let mut app = gateway_app();
    // restartOnError: false; restarts are tested in supervision.rs.
    app.manifest["services"][1]["restartOnErrorMs"] = json!(0);
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(run.body("/api/die"), "bye");
    let until = Instant::now() + Duration::from_secs(5);
    while !run.stderr().contains("service \"api\" exited with code 7") {
        assert!(Instant::now() < until, "no report\n{}", run.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = run.stderr();
    assert!(err.contains("it stays down"), "{err}");
    assert!(
        err.contains("[api] dying on request"),
        "last lines missing: {err}"
    );

    // Through the gateway: at once, naming the service.
    let began = Instant::now();
    let (status, body) = run.get("/api/hello");
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(status, 502);
    assert_eq!(
        json_of(&body),
        json!({ "statusCode": 502, "error": "Bad Gateway", "message": "service \"api\" is not running" })
    );
    // Over the mesh: its socket answers the same instead of hanging.
    let relayed = run.body("/app/mesh-api");
    assert!(relayed.starts_with("502 "), "{relayed}");
    assert_eq!(
        json_of(&relayed[4..])["message"],
        "service \"api\" is not running"
    );

    // Everything else keeps working.
    assert!(
        run.try_wait().is_none(),
        "the app stopped\n{}",
        run.output()
    );
    assert_eq!(run.body("/shop/"), "<h1>shop</h1>");
    assert_eq!(json_of(&run.body("/app/x"))["from"], "app");
    let (mut ws, _) =
        tungstenite::connect(format!("ws://127.0.0.1:{}/app/ws", run.port)).expect("ws");
    ws.send(tungstenite::Message::text("still")).expect("send");
    assert_eq!(
        ws.read().expect("read").to_text().expect("text"),
        "app echo still at /ws"
    );

    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
}

#[test]
fn shutdown_stops_accepting_and_finishes_requests_in_flight() {
    let app = gateway_app();
    let mut run = app.start(&[]);
    run.ready();
    let url = run.url("/api/slow");
    let slow = std::thread::spawn(move || common::get(&url));
    std::thread::sleep(Duration::from_millis(300));
    run.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        TcpStream::connect(("127.0.0.1", run.port)).is_err(),
        "still accepting after SIGTERM"
    );
    assert_eq!(slow.join().expect("thread"), (200, "slow done".to_string()));
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );
}

#[test]
fn a_request_handler_serves_behind_its_client_files() {
    let mut app = App::new("rr");
    app.file("app/rr/package.json", r#"{"type":"module"}"#);
    app.file(
        "app/rr/build/server/index.js",
        "export const page = 'home'\n",
    );
    app.file("app/rr/build/client/favicon.ico", "icon");
    app.file("app/rr/build/client/assets/entry-BQ4x7Zk2.js", "entry");
    app.file(
        "app/rr/node_modules/@react-router/node/package.json",
        r#"{"name":"@react-router/node","main":"index.js"}"#,
    );
    app.file(
        "app/rr/node_modules/@react-router/node/index.js",
        r#"
exports.createRequestListener = ({ build }) => (req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ page: build.page, url: req.url }))
}
"#,
    );
    app.service(
        "rr",
        json!({
            "type": "requestHandler",
            "build": "app/rr/build/server/index.js",
            "runtime": "react-router",
            "runtimePackage": "app/rr/node_modules/@react-router/node"
        }),
    )["staticAssets"] = json!({ "dir": "app/rr/build/client", "urlPrefix": "/" });
    let mut run = app.start(&[]);
    run.ready();
    assert_eq!(
        json_of(&run.body("/products/1?x=y")),
        json!({ "page": "home", "url": "/products/1?x=y" })
    );
    assert_eq!(
        json_of(&run.body("/")),
        json!({ "page": "home", "url": "/" })
    );
    assert_eq!(run.body("/favicon.ico"), "icon");
    let (_, r) = fetch(&run.url("/assets/entry-BQ4x7Zk2.js"), &[]);
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
}

#[test]
fn a_missing_static_folder_or_bad_route_is_named() {
    let mut app = App::new("web");
    app.service(
        "web",
        json!({ "type": "static", "dir": "app/web/dist", "spaFallback": false }),
    );
    let mut run = app.start(&[]);
    assert_eq!(run.wait(Duration::from_secs(5)).code(), Some(1));
    let err = run.stderr();
    assert!(
        err.contains("service \"web\"")
            && err.contains("cannot open the folder")
            && err.contains("app/web/dist"),
        "{err}"
    );

    let mut app = App::new("gw");
    app.service(
        "gw",
        json!({ "type": "gateway", "routes": [{ "prefix": "/x", "service": "ghost", "rewritePrefix": "" }] }),
    );
    let mut run = app.start(&[]);
    assert_eq!(run.wait(Duration::from_secs(5)).code(), Some(1));
    assert!(
        run.stderr()
            .contains("routes to \"ghost\", which is not a service"),
        "{}",
        run.output()
    );
}
