//! Bad input gets a clear error and loses nothing: each case checks the exit code, that the
//! message names the file (with line and column for syntax errors) or the service, and that
//! nothing appears at the output path — not even a partial file beside it.

use std::path::Path;
use std::process::Command;

use watt_e2e::*;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, body) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

const OK_SERVICE: (&str, &str) = (
    "web/api/index.js",
    "require('node:http').createServer((q, s) => s.end('ok')).listen(3000)\n",
);
const OK_PKG: (&str, &str) = ("web/api/package.json", "{\"name\": \"api\"}\n");

/// Run `watt build` on a fixture; assert failure, output absent, and return stderr.
fn fails(files: &[(&str, &str)], extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), files);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("app.tar.zst");
    let node = node_bin();
    let mut args = vec![
        "build",
        dir.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    if !extra.contains(&"--no-node-flag") {
        args.extend(["--node", node.to_str().unwrap()]);
    }
    let o = watt(&args, dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!out.exists(), "output appeared despite the error");
    let left: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "files left in the output folder: {left:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn malformed_json_points_at_file_line_and_column() {
    let err = fails(
        &[
            (
                "watt.json",
                "{\n  \"applications\": [\n    { \"id\": \"api\" \"path\": \"web/api\" }\n  ]\n}\n",
            ),
            OK_SERVICE,
            OK_PKG,
        ],
        &[],
    );
    assert!(err.contains("watt.json:3:"), "{err}");
}

#[test]
fn a_service_path_that_does_not_exist_is_named() {
    let err = fails(
        &[(
            "watt.json",
            r#"{"applications": [{"id": "ghost", "path": "web/ghost"}]}"#,
        )],
        &[],
    );
    assert!(err.contains("ghost"), "{err}");
    assert!(err.contains("web/ghost"), "{err}");
}

#[test]
fn duplicate_ids_are_named() {
    let err = fails(
        &[
            (
                "watt.json",
                r#"{"applications": [{"id": "api", "path": "web/api"}, {"id": "api", "path": "web/other"}]}"#,
            ),
            OK_SERVICE,
            OK_PKG,
            ("web/other/index.js", "1\n"),
        ],
        &[],
    );
    assert!(
        err.contains("\"api\"") || err.contains("'api'") || err.contains(" api "),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("twice") || err.to_lowercase().contains("duplicate"),
        "{err}"
    );
}

#[test]
fn an_entrypoint_that_names_no_service_lists_the_ids() {
    let err = fails(
        &[
            (
                "watt.json",
                r#"{"entrypoint": "gateway", "applications": [{"id": "api", "path": "web/api"}]}"#,
            ),
            OK_SERVICE,
            OK_PKG,
        ],
        &[],
    );
    assert!(err.contains("gateway"), "{err}");
    assert!(err.contains("api"), "{err}");
}

#[test]
fn a_failing_build_names_service_command_exit_code_and_log_tail() {
    let err = fails(
        &[
            (
                "watt.json",
                r#"{"applications": [{"id": "api", "path": "web/api"}]}"#,
            ),
            OK_SERVICE,
            (
                "web/api/package.json",
                r#"{"name": "api", "scripts": {"build": "node -e \"console.log('step one'); console.error('the compiler exploded'); process.exit(3)\""}}"#,
            ),
        ],
        &[],
    );
    assert!(err.contains("service \"api\""), "{err}");
    assert!(err.contains("npm run build"), "{err}");
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(err.contains("the compiler exploded"), "log tail: {err}");
    assert!(err.contains("api.build.log"), "log path: {err}");
}

#[test]
fn no_node_found_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "watt.json",
                r#"{"applications": [{"id": "api", "path": "web/api"}]}"#,
            ),
            OK_SERVICE,
            OK_PKG,
        ],
    );
    let out = dir.path().join("app.tar.zst");
    let o = Command::new(watt_bin())
        .args(["build", ".", "-o"])
        .arg(&out)
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .env("WATT_STUB", stub_bin())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no `node` found"), "{err}");
    assert!(err.contains("--node"), "{err}");
    assert!(!out.exists());
}

#[test]
fn an_output_folder_that_cannot_be_written_fails_before_building() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "watt.json",
                r#"{"applications": [{"id": "api", "path": "web/api"}]}"#,
            ),
            OK_SERVICE,
            (
                "web/api/package.json",
                r#"{"name": "api", "scripts": {"build": "node -e \"require('fs').writeFileSync('built', '1')\""}}"#,
            ),
        ],
    );
    let node = node_bin();
    // /proc refuses new files even to root; a missing folder is the other common mistake.
    for out in ["/proc/app.tar.zst", "/nonexistent-dir/app.tar.zst"] {
        let o = watt(
            &["build", ".", "-o", out, "--node", node.to_str().unwrap()],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        let folder = Path::new(out).parent().unwrap().display().to_string();
        assert!(err.contains(&folder), "{err}");
        assert!(!Path::new(out).exists());
    }
    assert!(
        !dir.path().join("web/api/built").exists(),
        "the build ran although the output is unwritable"
    );
}

#[test]
fn the_first_failing_build_stops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "watt.json",
                r#"{"entrypoint": "fast", "applications": [{"id": "fast", "path": "web/fast"}, {"id": "slow", "path": "web/slow"}]}"#,
            ),
            ("web/fast/index.js", "1\n"),
            (
                "web/fast/package.json",
                r#"{"name": "fast", "scripts": {"build": "node -e \"setTimeout(() => { console.error('fast broke'); process.exit(4) }, 500)\""}}"#,
            ),
            ("web/slow/index.js", "1\n"),
            (
                "web/slow/package.json",
                r#"{"name": "slow", "scripts": {"build": "node -e \"require('fs').writeFileSync('pid', String(process.pid)); setTimeout(() => require('fs').writeFileSync('built', '1'), 60000)\""}}"#,
            ),
        ],
    );
    let out = dir.path().join("app.tar.zst");
    let node = node_bin();
    let started = std::time::Instant::now();
    let o = watt(
        &[
            "build",
            ".",
            "-o",
            out.to_str().unwrap(),
            "-j",
            "2",
            "--node",
            node.to_str().unwrap(),
        ],
        dir.path(),
    );
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("service \"fast\" failed to build"), "{err}");
    assert!(
        err.contains("exited with code 4") && err.contains("fast broke"),
        "{err}"
    );
    assert!(
        took < std::time::Duration::from_secs(30),
        "waited for the slow build: {took:?}"
    );
    // The slow build was running (it wrote its pid) and was stopped, not left behind.
    let pid: i32 = std::fs::read_to_string(dir.path().join("web/slow/pid"))
        .expect("the slow build started in parallel")
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(pid), "the slow build (pid {pid}) is still running");
    assert!(!dir.path().join("web/slow/built").exists());
    assert!(!out.exists());
}

/// A `PORT` that is no port stops the stub with a message naming it, where it used to listen
/// on 3042 without a word; the app's `server.port` is checked the same way when `PORT` is unset.
#[test]
fn a_port_that_is_no_port_stops_the_stub_naming_it() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("app");
    extract(&built_example("api"), &root);
    for port in ["abc", "70000"] {
        let mut cmd = Command::new(root.join("watt-stub"));
        cmd.current_dir(&root)
            .env_clear()
            .env("PATH", "/nonexistent")
            .env("PORT", port);
        // A stub that falls back keeps running: the bounded wait turns that into a failure.
        let mut stub = Running::start(cmd);
        let status = stub.wait_exit(std::time::Duration::from_secs(10));
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", stub.logs());
        let err = stub.stderr.lock().unwrap().clone();
        assert!(
            err.contains(&format!(
                "PORT is {port:?}, which is not a port (0 to 65535)"
            )) && err.contains("unset it"),
            "{err}"
        );
    }
}

/// Services that cannot start in any order are refused by `watt build` before any framework
/// builds (the build script would leave `built` behind), naming the config file; the stub used
/// to find out at boot.
#[test]
fn dependencies_that_cannot_start_fail_the_build_not_the_boot() {
    let service = |id: &str| {
        [
            (
                format!("web/{id}/index.js"),
                "require('node:http').createServer((q, s) => s.end('ok')).listen(3000)\n"
                    .to_string(),
            ),
            (
                format!("web/{id}/package.json"),
                format!(
                    r#"{{"name": "{id}", "scripts": {{"build": "node -e \"require('fs').writeFileSync('built', '1')\""}}}}"#
                ),
            ),
        ]
    };
    let cases = [
        (
            r#"{"entrypoint": "a", "applications": [{"id": "a", "path": "web/a"}, {"id": "b", "path": "web/b", "dependencies": ["c"]}, {"id": "c", "path": "web/c", "dependencies": ["b"]}]}"#,
            r#"dependency cycle among services ["b", "c"]"#,
        ),
        (
            r#"{"entrypoint": "a", "applications": [{"id": "a", "path": "web/a"}, {"id": "b", "path": "web/b", "dependencies": ["a"]}, {"id": "c", "path": "web/c"}]}"#,
            r#"["b"] depend on the entrypoint "a", which starts after all other services"#,
        ),
        (
            r#"{"entrypoint": "a", "applications": [{"id": "a", "path": "web/a", "dependencies": ["nope"]}, {"id": "b", "path": "web/b"}, {"id": "c", "path": "web/c"}]}"#,
            "service \"a\" depends on \"nope\", which is not a service",
        ),
    ];
    for (config, want) in cases {
        let mut files: Vec<(String, String)> = vec![("watt.json".into(), config.into())];
        for id in ["a", "b", "c"] {
            files.extend(service(id));
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_str()))
            .collect();
        let err = fails(&files, &[]);
        assert!(err.contains("watt.json: ") && err.contains(want), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &files);
        let o = watt(&["resolve", "."], dir.path());
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{}",
            text(&o)
        );
        for id in ["a", "b", "c"] {
            assert!(!dir.path().join(format!("web/{id}/built")).exists());
        }
    }
}

/// Flags that would do nothing in the combination given are refused up front, naming the flag
/// and the fix, instead of being ignored.
#[test]
fn flags_that_would_do_nothing_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "watt.json",
                r#"{"applications": [{"id": "api", "path": "web/api"}]}"#,
            ),
            OK_SERVICE,
            OK_PKG,
        ],
    );
    let out = dir.path().join("app.tar.zst");
    let cases: [(&[&str], &str); 6] = [
        (&["-j", "0"], "0 is not in 1.."),
        (&["--tag", "app:1"], "--tag only apply to an image"),
        (&["--json"], "--json only apply to an image"),
        (
            &["--user", "1:1", "--compression", "zstd"],
            "--user, --compression only apply to an image",
        ),
        (&["--insecure"], "--insecure is for a registry"),
        (
            &["--format", "archive", "--archive", "x.tar"],
            "--archive adds an archive to an image",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["build", ".", "-o", out.to_str().unwrap()];
        args.extend_from_slice(flags);
        let o = watt(&args, dir.path());
        assert_eq!(
            o.status.code(),
            Some(if flags[0] == "-j" { 2 } else { 1 }),
            "{}",
            text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{flags:?}: {}",
            text(&o)
        );
        assert!(!out.exists());
    }
}
