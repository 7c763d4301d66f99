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
