//! Service output on the stub's stdout: whole lines, tagged, never interleaved.

mod common;

use std::time::Duration;

use common::App;
use nix::sys::signal::Signal;

#[test]
fn lines_are_tagged_whole_and_drained() {
    let mut app = App::new("talk");
    app.node_service(
        "talk",
        "index.js",
        r#"
console.log('hello text')
console.log(JSON.stringify({ level: 30, msg: 'json' }))
console.log(JSON.stringify({ level: 30, name: 'custom', msg: 'named' }))
process.stdout.write('x'.repeat(100000) + '\n')
console.error('on stderr')
process.stdout.write('partial ')
setTimeout(() => process.stdout.write('line\n'), 50)
process.on('SIGTERM', () => process.stdout.write('bye-without-newline', () => process.exit(0)))
require('http').createServer((req, res) => res.end('ok')).listen()
"#,
    );
    // Two services writing many long lines at once: no line may be cut or mixed.
    for id in ["c1", "c2"] {
        app.node_service(
            id,
            "index.js",
            &format!(
                "for (let i = 0; i < 2000; i++) console.log('{id}:' + i + ':' + 'y'.repeat(500))\n\
                 require('http').createServer().listen()"
            ),
        );
    }
    let mut run = app.start(&[]);
    run.ready();
    std::thread::sleep(Duration::from_millis(300));
    run.signal(Signal::SIGTERM);
    assert_eq!(
        run.wait(Duration::from_secs(10)).code(),
        Some(0),
        "{}",
        run.output()
    );

    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "[talk] hello text",
        r#"{"level":30,"msg":"json","name":"talk"}"#,
        r#"{"level":30,"name":"custom","msg":"named"}"#,
        "[talk] on stderr",
        "[talk] partial line",
        "[talk] bye-without-newline",
    ] {
        assert!(
            lines.contains(&want),
            "missing line {want:?}\n{}",
            run.output()
        );
    }
    let long = format!("[talk] {}", "x".repeat(100000));
    assert!(lines.contains(&long.as_str()), "the 100 kB line was cut");
    for id in ["c1", "c2"] {
        let prefix = format!("[{id}] ");
        let got: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        let want: Vec<String> = (0..2000)
            .map(|i| format!("{id}:{i}:{}", "y".repeat(500)))
            .collect();
        assert!(got == want, "{id}: {} lines, or some were mixed", got.len());
    }
    let stray = lines
        .iter()
        .find(|l| !l.starts_with('[') && !l.starts_with('{'));
    assert!(stray.is_none(), "untagged line {stray:?}");
}

#[test]
fn ten_thousand_lines_from_several_writers_arrive_once_and_whole() {
    let mut app = App::new("entry");
    app.node_service(
        "entry",
        "index.js",
        "require('http').createServer((q, s) => s.end('ok')).listen()",
    );
    // Main thread and a worker thread write in bursts to stdout, a child process to the same
    // stderr pipe (on one pipe, another process's line could land between the pieces of a
    // line written in parts, whoever reads it); some lines are written in pieces; the last
    // one right before the process ends. It ends by emptying its event loop, not by
    // process.exit(): Node itself drops the tail of a worker thread's stdout about one run in
    // forty when the main thread calls process.exit() after the worker's 'exit' event, with no
    // stub involved (`node script.js | grep -c ^thread-` gives 2626 instead of 3000).
    let bursty = app.node_service(
        "bursty",
        "index.js",
        r#"
const { Worker } = require('node:worker_threads')
const { spawn } = require('node:child_process')
const burst = (tag, from, to) => { for (let i = from; i < to; i++) console.log(`${tag}-${i}-` + 'z'.repeat(i % 300)) }
const child = spawn(process.execPath, ['-e', "for (let i = 0; i < 3000; i++) console.error('child-' + i + '-' + 'z'.repeat(i % 300))"], { stdio: 'inherit' })
const worker = new Worker("const b = (f, t) => { for (let i = f; i < t; i++) console.log('thread-' + i + '-' + 'z'.repeat(i % 300)) }; b(0, 1500); setTimeout(() => b(1500, 3000), 30)", { eval: true })
const workerDone = new Promise((resolve) => worker.on('exit', resolve))
const childDone = new Promise((resolve) => child.on('exit', resolve))
let n = 0
const tick = setInterval(() => {
  burst('main', n, n + 500); n += 500
  process.stdout.write('piece-' + n + '-a'); process.stdout.write('-b'); process.stdout.write('-c\n')
  if (n >= 3995) {
    clearInterval(tick)
    Promise.all([workerDone, childDone]).then(() => { console.log('the very last line'); server.close() })
  }
}, 10)
const server = require('http').createServer().listen()
"#,
    );
    bursty["restartOnErrorMs"] = serde_json::json!(0);
    let mut run = app.start(&[]);
    run.ready();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !run
        .stderr()
        .contains("service \"bursty\" exited with code 0")
    {
        assert!(
            std::time::Instant::now() < until,
            "bursty did not finish\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run.signal(Signal::SIGTERM);
    assert_eq!(run.wait(Duration::from_secs(10)).code(), Some(0));
    let out = run.stdout();
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("[bursty] ") {
            *seen.entry(rest).or_default() += 1;
        }
    }
    let mut want = Vec::new();
    for tag in ["main", "thread", "child"] {
        let n = if tag == "main" { 4000 } else { 3000 };
        want.extend((0..n).map(|i| format!("{tag}-{i}-{}", "z".repeat(i % 300))));
    }
    want.extend((1..=8).map(|k| format!("piece-{}-a-b-c", k * 500)));
    want.push("the very last line".into());
    assert!(want.len() >= 10_000);
    for w in &want {
        assert_eq!(
            seen.get(w.as_str()).copied(),
            Some(1),
            "line {w:?} not exactly once"
        );
    }
    assert_eq!(seen.len(), want.len(), "unexpected [bursty] lines");
}

#[test]
fn an_unread_stdout_does_not_stall_the_gateway() {
    let mut app = App::new("gw");
    app.service(
        "gw",
        serde_json::json!({ "type": "gateway", "routes": [
            { "prefix": "/chatty", "service": "chatty", "rewritePrefix": "" }
        ]}),
    )["kind"] = serde_json::json!("gateway");
    // Logs 1 MB every 20 ms, and a line per request.
    app.node_service(
        "chatty",
        "index.js",
        r#"
const line = 'c'.repeat(1000)
setInterval(() => { for (let i = 0; i < 1000; i++) console.log(line) }, 20)
require('http').createServer((req, res) => { console.log('request ' + req.url); res.end('still here') }).listen()
"#,
    );
    let manifest = app.write_manifest();
    let port = common::free_port();
    let health = common::free_port();
    let mut child = std::process::Command::new(common::STUB)
        .arg("--manifest")
        .arg(manifest)
        .env("PORT", port.to_string())
        .env("WATT_HEALTH_ADDR", format!("127.0.0.1:{health}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Nobody reads stdout yet; stderr is read to see readiness.
    let stderr = child.stderr.take().expect("stderr");
    let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let e = err.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut e = e.lock().unwrap();
            e.push_str(&line);
            e.push('\n');
        }
    });
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !err.lock().unwrap().contains(" ready in ") {
        assert!(
            std::time::Instant::now() < until,
            "not ready: {}",
            err.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://127.0.0.1:{port}/chatty/x");
    let began = std::time::Instant::now();
    let mut answered = 0;
    while began.elapsed() < Duration::from_secs(5) {
        let t = std::time::Instant::now();
        assert_eq!(common::get(&url), (200, "still here".to_string()));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a request took {:?}",
            t.elapsed()
        );
        answered += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answered > 40, "{answered}");
    let (status, metrics) = common::get(&format!("http://127.0.0.1:{health}/metrics"));
    assert_eq!(status, 200);
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("watt_log_lines_dropped_total ")?
                .parse()
                .ok()
        })
        .expect("dropped lines metric");
    assert!(dropped > 0.0, "{metrics}");
    // Reading again: the stub reports the drops once and stops cleanly.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().expect("wait");
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0));
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while !err.lock().unwrap().contains("stopping the services")
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = err.lock().unwrap().clone();
    assert_eq!(err.matches("log lines dropped so far").count(), 1, "{err}");
}
