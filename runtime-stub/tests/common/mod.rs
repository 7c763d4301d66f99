//! Test harness: apps written into temp folders, run by the real `watt-stub` on the real Node 24
//! from `ci/setup.sh`.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const STUB: &str = env!("CARGO_BIN_EXE_watt-stub");

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Node 24 binary installed by `ci/setup.sh` (symlink resolved).
pub fn node() -> PathBuf {
    let link = repo().join(".cache/tools/bin/node");
    std::fs::canonicalize(&link).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `. ci/setup.sh` from the repo root first",
            link.display()
        )
    })
}

/// PATH with the tools of `ci/setup.sh` first (node 24 for npm).
fn tools_path() -> std::ffi::OsString {
    let mut dirs = vec![repo().join(".cache/tools/bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// `node_modules` with real fastify, express and ws, installed once per target dir (concurrent test
/// processes each install into their own folder; the first rename wins).
pub fn fixture_modules() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("watt-stub-fixtures");
        let done = base.join("v2");
        if !done.join("node_modules/fastify/package.json").exists() {
            std::fs::create_dir_all(&base).expect("fixture folder");
            let tmp = base.join(format!("tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).expect("fixture folder");
            std::fs::write(
                tmp.join("package.json"),
                r#"{"name":"fixtures","private":true}"#,
            )
            .expect("package.json");
            let out = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .args(["fastify@5", "express@5", "ws@8"])
                .current_dir(&tmp)
                .env("PATH", tools_path())
                .output()
                .expect("npm must be installed: run `. ci/setup.sh`");
            assert!(
                out.status.success(),
                "npm install fastify express ws failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if std::fs::rename(&tmp, &done).is_err() {
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        done.join("node_modules")
    })
    .clone()
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// An app folder with a manifest built from parts.
pub struct App {
    pub dir: tempfile::TempDir,
    pub manifest: Value,
}

impl App {
    pub fn new(entrypoint: &str) -> App {
        let dir = tempfile::Builder::new()
            .prefix("watt-stub-test")
            .tempdir()
            .expect("tempdir");
        // Manifest paths stay inside the artifact: the host's node is linked in.
        std::fs::create_dir_all(dir.path().join("runtime")).expect("mkdir runtime");
        std::os::unix::fs::symlink(node(), dir.path().join("runtime/node")).expect("link node");
        let manifest = json!({
            "schemaVersion": 1,
            "name": "test",
            "node": { "binary": "runtime/node", "loader": null, "libraryPath": null, "shim": null, "version": "v24" },
            "entrypoint": entrypoint,
            "server": { "hostname": "127.0.0.1", "port": "{PORT}" },
            "gracefulShutdown": { "runtimeMs": 10000, "applicationMs": 5000 },
            "services": []
        });
        App { dir, manifest }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Make fastify, express and ws resolvable from every file of the app.
    pub fn with_modules(self) -> App {
        std::os::unix::fs::symlink(fixture_modules(), self.root().join("node_modules"))
            .expect("symlink node_modules");
        self
    }

    pub fn file(&self, rel: &str, text: &str) -> &App {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    /// Add a service (root `app/<id>`), returning its JSON for tweaks.
    pub fn service(&mut self, id: &str, start: Value) -> &mut Value {
        std::fs::create_dir_all(self.root().join("app").join(id)).expect("mkdir");
        let services = self.manifest["services"].as_array_mut().expect("services");
        services.push(json!({
            "id": id, "kind": "node", "root": format!("app/{id}"), "start": start,
            "dependencies": [], "env": {}, "dotenv": {}, "nodeOptions": [], "preload": []
        }));
        services.last_mut().expect("pushed")
    }

    /// A `node` service whose entry is `app/<id>/<file>` with this source.
    pub fn node_service(&mut self, id: &str, file: &str, source: &str) -> &mut Value {
        let entry = format!("app/{id}/{file}");
        self.file(&entry, source);
        self.service(
            id,
            json!({ "type": "node", "entry": entry, "fastify": null }),
        )
    }

    pub fn write_manifest(&self) -> PathBuf {
        let path = self.root().join("watt-manifest.json");
        let text = serde_json::to_string_pretty(&self.manifest).expect("json");
        std::fs::write(&path, text).expect("write manifest");
        path
    }

    /// Run the stub on this app with PORT set to a free port and these extra variables.
    pub fn start(&self, env: &[(&str, &str)]) -> Running {
        let port = free_port();
        let mut cmd = Command::new(STUB);
        cmd.arg("--manifest").arg(self.write_manifest());
        cmd.env("PORT", port.to_string());
        self.spawn(cmd, env, port)
    }

    /// Run the stub without setting PORT (the test's `env` decides); `port` is where to reach it.
    pub fn start_without_port(&self, env: &[(&str, &str)], port: u16) -> Running {
        let mut cmd = Command::new(STUB);
        cmd.arg("--manifest").arg(self.write_manifest());
        cmd.env_remove("PORT");
        self.spawn(cmd, env, port)
    }

    pub fn spawn(&self, mut cmd: Command, env: &[(&str, &str)], port: u16) -> Running {
        // Tests run side by side: each stub gets its own health port unless the test says.
        let health_port = free_port();
        cmd.env("WATT_HEALTH_ADDR", format!("127.0.0.1:{health_port}"));
        cmd.envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn watt-stub");
        let (stdout, out_reader) = collect(child.stdout.take().expect("stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("stderr"));
        Running {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            port,
            health_port,
            status: None,
        }
    }
}

fn collect(
    mut r: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 65536];
        while let Ok(n @ 1..) = r.read(&mut chunk) {
            b.lock().expect("lock").extend_from_slice(&chunk[..n]);
        }
    });
    (buf, reader)
}

pub struct Running {
    pub child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Threads copying the stub's output; they finish at EOF.
    readers: Vec<std::thread::JoinHandle<()>>,
    pub port: u16,
    pub health_port: u16,
    status: Option<ExitStatus>,
}

impl Running {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("lock")).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned()
    }

    pub fn output(&self) -> String {
        format!(
            "--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// Wait until the stub says every service is ready; panic with its output otherwise.
    pub fn ready(&mut self) -> &mut Running {
        let until = Instant::now() + Duration::from_secs(30);
        while !self.stderr().contains(" ready in ") {
            if let Some(status) = self.try_wait() {
                panic!(
                    "watt-stub exited ({status}) before ready\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < until,
                "not ready in 30 s\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GET on the public port: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.url(path))
    }

    /// GET on the health server: (status, body).
    pub fn health(&self, path: &str) -> (u16, String) {
        get(&format!("http://127.0.0.1:{}{path}", self.health_port))
    }

    /// GET that must answer 200.
    pub fn body(&self, path: &str) -> String {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}\n{}", self.output());
        body
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal watt-stub");
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Wait for the stub to exit, at most `limit`; its output pipes are drained too.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                // Everything the stub wrote must be read before a test looks at it; on a
                // loaded machine the readers can lag the exit by far more than a fixed sleep.
                let drained = Instant::now() + Duration::from_secs(5);
                while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drained {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return status;
            }
            assert!(
                Instant::now() < until,
                "watt-stub still running after {limit:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave an app running after a failed assertion: ask, then insist.
        if self.try_wait().is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let until = Instant::now() + Duration::from_secs(5);
            while self.try_wait().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn get(url: &str) -> (u16, String) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    match agent.get(url).call() {
        Ok(r) => (r.status(), r.into_string().expect("body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// Whether a process still exists (zombies of other parents count as gone).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Pids a test service wrote into `<root>/pids/*`.
pub fn pids(root: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(root.join("pids")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
        .collect()
}
