//! Helpers shared by the end-to-end tests: where the binaries and examples are, running
//! `watt`, extracting and booting an artifact, HTTP, and the process tree.
//!
//! The binaries come from `WATT_BIN`/`WATT_STUB` (set by `ci/test.sh`, which builds them once,
//! statically linked, as released); the examples must have been installed (`npm ci`) by
//! `ci/test.sh` too. A missing piece fails the test with what to run, never skips it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn binary(var: &str, name: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/release").join(name));
    assert!(
        p.is_file(),
        "{} not found ({var} unset or wrong); run the suite through ci/test.sh, which builds it",
        p.display()
    );
    p
}

pub fn watt_bin() -> PathBuf {
    binary("WATT_BIN", "watt")
}

pub fn stub_bin() -> PathBuf {
    binary("WATT_STUB", "watt-stub")
}

/// An installed example (ci/test.sh runs `npm ci` once per example per run).
pub fn example(name: &str) -> PathBuf {
    installed("examples", name)
}

/// `<repo>/<folder>/<name>`, which must have its `node_modules`.
fn installed(folder: &str, name: &str) -> PathBuf {
    let dir = repo().join(folder).join(name);
    assert!(
        dir.join("node_modules").is_dir(),
        "{} is not installed; run ci/test.sh (it runs `npm ci` in each example and fixture)",
        dir.display()
    );
    dir
}

/// Node ≥ 22.18 from ci/setup.sh: the runtime the artifacts carry in tests.
pub fn node_bin() -> PathBuf {
    let p = repo().join(".cache/tools/bin/node");
    assert!(p.exists(), "{} missing; run ci/setup.sh", p.display());
    p
}

pub fn watt(args: &[&str], cwd: &Path) -> Output {
    Command::new(watt_bin())
        .args(args)
        .current_dir(cwd)
        .env("WATT_STUB", stub_bin())
        .output()
        .expect("run watt")
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `watt build APP -o OUT --node <the test node> EXTRA…`, run in `app`.
pub fn watt_build(app: &Path, out: &Path, extra: &[&str]) -> Output {
    let node = node_bin();
    let mut args = vec![
        "build",
        app.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--node",
        node.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    watt(&args, app)
}

/// Build an example into an archive with the test node; panics with watt's output on failure.
pub fn build_archive(app: &Path, out: &Path) {
    let o = watt_build(app, out, &[]);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    assert!(out.is_file());
}

/// Extract with the system's GNU tar, as a user would.
pub fn extract(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let o = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .output()
        .expect("run tar (apt-get install tar zstd)");
    assert!(o.status.success(), "tar failed: {}", text(&o));
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts an extracted artifact's `watt-stub` on a free port with none of the host's environment
/// (no node on PATH: the artifact must carry its own) and waits until `ready` answers 200.
/// Returns the stub and its base URL.
pub fn boot_extracted(root: &Path, ready: &str) -> (Running, String) {
    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string());
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}{ready}"), Duration::from_secs(60));
    (stub, base)
}

/// examples/api's `/summary`: the front service's fetch of the catalog, built by its own build.
pub fn assert_api_summary(base: &str, stub: &Running) {
    let (status, body) = get(&format!("{base}/summary"));
    assert_eq!(status, 200, "{body}\n{}", stub.logs());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["items"],
        serde_json::json!(["anvil", "bellows", "crucible"]),
        "{body}"
    );
}

/// A running stub with its output collected.
pub struct Running {
    pub child: Child,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    /// Threads copying the stub's output; they finish at EOF.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start watt-stub");
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    pub fn logs(&self) -> String {
        format!(
            "--- stub stdout\n{}\n--- stub stderr\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// Wait until `url` answers 200, failing with the logs if the stub dies or time runs out.
    pub fn wait_ready(&mut self, url: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("watt-stub exited early ({status})\n{}", self.logs());
            }
            if let Ok(r) = ureq::get(url).timeout(Duration::from_secs(2)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                start.elapsed() < timeout,
                "{url} not ready after {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Tests read the logs next: let the readers reach EOF first.
                let drained = Instant::now() + Duration::from_secs(5);
                while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < drained {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave an app running after a failed assertion.
        for pid in descendants(self.child.id() as i32) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    stream: impl Read + Send + 'static,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut b = b.lock().unwrap();
            b.push_str(&line);
            b.push('\n');
        }
    });
    (buf, reader)
}

pub fn get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// Every live descendant of `pid`, from /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Field 4 after the parenthesised command name.
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split(' ')
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        parents.push((p, ppid));
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(cur) = frontier.pop() {
        for (p, pp) in &parents {
            if *pp == cur {
                out.push(*p);
                frontier.push(*p);
            }
        }
    }
    out
}

pub fn alive(pid: i32) -> bool {
    // A zombie is dead for our purpose; /proc still lists it until reaped.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('Z')),
        Err(_) => false,
    }
}

/// Copy a folder with `cp -a` under a given umask (the determinism test varies it).
pub fn copy_tree(from: &Path, to: &Path, umask: &str) {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask {umask} && mkdir -p \"$2\" && cp -R \"$1\"/. \"$2\"/"
        ))
        .arg("sh")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "copy failed: {}", text(&o));
}

/// A copy of an app's sources: without installed packages, build output or watt's scratch
/// folder (what a fresh checkout holds).
pub fn copy_sources(from: &Path, to: &Path) {
    let o = Command::new("sh")
        .arg("-c")
        .arg("mkdir -p \"$2\" && cd \"$1\" && tar --exclude=node_modules --exclude=build --exclude=.watt -cf - . | tar -xf - -C \"$2\"")
        .arg("sh")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "copy failed: {}", text(&o));
}

/// `pnpm ARGS` in `dir` (ci/setup.sh puts pnpm on PATH).
pub fn pnpm(dir: &Path, args: &[&str]) {
    let o = Command::new("pnpm")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run pnpm ({e}): source ci/setup.sh to put pnpm on PATH"));
    assert!(o.status.success(), "pnpm {args:?} failed\n{}", text(&o));
}

/// Every one of `pids` that still runs executes a file from inside `root` (the extracted
/// artifact): the bundled node through its loader, never a host binary.
pub fn assert_run_from(root: &Path, pids: &[i32]) {
    for pid in pids {
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
            assert!(
                exe.starts_with(root),
                "process {pid} runs {} from outside the artifact",
                exe.display()
            );
        }
    }
}

impl Running {
    /// SIGTERM the stub and wait up to `within` for it to exit. Returns its exit code and the
    /// processes of the app (its descendants before the signal) still alive afterwards.
    pub fn stop(&mut self, within: Duration) -> (Option<i32>, Vec<i32>) {
        let pids = descendants(self.child.id() as i32);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let t = Instant::now();
        let status = self
            .wait_exit(within)
            .unwrap_or_else(|| panic!("still running {within:?} after SIGTERM\n{}", self.logs()));
        eprintln!("exited {:?} after SIGTERM", t.elapsed());
        (
            status.code(),
            pids.into_iter().filter(|p| alive(*p)).collect(),
        )
    }
}

/// The archive of `examples/<name>`, built once per test binary and shared by its tests (the
/// lock also keeps two tests from building the same example at once).
pub fn built_example(name: &str) -> PathBuf {
    type Built = std::collections::BTreeMap<String, (tempfile::TempDir, PathBuf)>;
    static BUILT: std::sync::OnceLock<Mutex<Built>> = std::sync::OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let (_, path) = built.entry(name.to_string()).or_insert_with(|| {
        let work = tempfile::tempdir().unwrap();
        let archive = work.path().join(format!("{name}.tar.zst"));
        let started = Instant::now();
        build_archive(&example(name), &archive);
        let size = std::fs::metadata(&archive).unwrap().len();
        eprintln!(
            "watt build examples/{name}: {:.1} s, archive {:.1} MB",
            started.elapsed().as_secs_f64(),
            size as f64 / 1e6
        );
        (work, archive)
    });
    path.clone()
}

/// A response: status, lower-cased headers, body bytes.
pub struct Reply {
    pub status: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The header's value, `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    fn from(result: Result<ureq::Response, ureq::Error>, what: &str) -> Reply {
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{what}: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or_default().to_string();
                (n.to_ascii_lowercase(), v)
            })
            .collect();
        let mut body = Vec::new();
        resp.into_reader().read_to_end(&mut body).unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// GET with extra request headers; any status is a reply, only transport errors panic.
pub fn request(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = ureq::get(url).timeout(Duration::from_secs(10));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    Reply::from(req.call(), &format!("GET {url}"))
}

/// A form POST, as a browser without JavaScript sends it (no redirects followed).
pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Reply {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let req = agent.post(url).timeout(Duration::from_secs(10));
    Reply::from(req.send_form(fields), &format!("POST {url}"))
}

/// The text of `<strong id="{id}">…</strong>` in a page.
pub fn strong(html: &str, id: &str) -> Option<String> {
    let open = format!("id=\"{id}\">");
    let start = html.find(&open)? + open.len();
    let len = html[start..].find('<')?;
    Some(html[start..start + len].to_string())
}

/// The first `"{prefix}…"` attribute value in a page, e.g. a hashed asset's path.
pub fn asset_path(html: &str, prefix: &str) -> Option<String> {
    let start = html.find(&format!("\"{prefix}"))? + 1;
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

/// An installed app of `tests/fixtures/` (ci/test.sh runs `npm ci` in each one with a lockfile).
pub fn installed_fixture(name: &str) -> PathBuf {
    installed("tests/fixtures", name)
}

/// The app's own `wattpm` (from its node_modules) with the test node first on PATH.
pub fn wattpm(app: &Path) -> Command {
    let tools = repo().join(".cache/tools/bin");
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(app.join("node_modules/.bin/wattpm"));
    cmd.current_dir(app).env("PATH", path).stdin(Stdio::null());
    cmd
}

/// `watt inspect --json TARGET [extra…]`: the report as JSON.
pub fn inspect_json(target: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", "--json", target];
    args.extend(extra);
    let o = watt(&args, &repo());
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// (bytes, regular files) below `dir`, links not followed: what `du -b` counts for files;
/// `nested: false` leaves out `node_modules` folders inside (packages nested in a package,
/// which inspect counts as their own).
pub fn du(dir: &Path, nested: bool) -> (u64, u64) {
    let mut total = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.path().symlink_metadata().unwrap();
            if meta.is_dir() {
                if nested || e.file_name() != "node_modules" {
                    stack.push(e.path());
                }
            } else if meta.is_file() {
                total.0 += meta.len();
                total.1 += 1;
            }
        }
    }
    total
}

/// `watt inspect --json` on an archive of `watt build` against the tree it extracts to: the
/// parts (the stub, node's runtime, every service in `services`, what they share) add up to
/// the total `du` finds, and each of the largest packages is what `du` finds in its folder.
pub fn assert_inspect_matches_du(archive: &Path, services: &[&str]) -> serde_json::Value {
    let report = inspect_json(archive.to_str().unwrap(), &[]);
    let work = tempfile::tempdir().unwrap();
    extract(archive, work.path());
    let (bytes, files) = du(work.path(), true);
    assert_eq!(report["totalBytes"], bytes);
    assert_eq!(report["totalFiles"], files);
    let parts = report["parts"].as_array().unwrap();
    let sum = |k: &str| parts.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("bytes"), bytes, "{parts:?}");
    assert_eq!(sum("files"), files, "{parts:?}");
    for id in services {
        assert!(
            parts.iter().any(|p| p["name"] == format!("service {id}")),
            "no part for {id}: {parts:?}"
        );
    }
    let largest = report["largestPackages"].as_array().unwrap();
    assert!(!largest.is_empty() && largest.len() <= 20, "{largest:?}");
    let mut previous = u64::MAX;
    for p in largest {
        let (b, f) = du(&work.path().join(p["path"].as_str().unwrap()), false);
        assert_eq!(p["bytes"], b, "{p}");
        assert_eq!(p["files"], f, "{p}");
        assert!(b <= previous, "sorted by size");
        previous = b;
    }
    // The SBOM's summary when the artifact carries one (another part of the build writes it),
    // else none.
    let sbom = work.path().join("sbom.cdx.json");
    if sbom.is_file() {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
        let mut count = 0;
        let mut todo = vec![&doc];
        while let Some(n) = todo.pop() {
            for c in n["components"].as_array().into_iter().flatten() {
                count += 1;
                todo.push(c);
            }
        }
        assert_eq!(report["sbom"]["components"], count, "{}", report["sbom"]);
    } else {
        assert!(report["sbom"].is_null(), "{}", report["sbom"]);
    }
    // No package outside the list is larger than its smallest entry.
    let smallest = largest.last().unwrap()["bytes"].as_u64().unwrap();
    let listed: std::collections::BTreeSet<&str> = largest
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    let mut stack = vec![work.path().join("app")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if !e.path().symlink_metadata().unwrap().is_dir() {
                continue;
            }
            if e.file_name() == "node_modules" {
                for pkg in std::fs::read_dir(e.path()).unwrap().flatten() {
                    let name = pkg.file_name().to_string_lossy().into_owned();
                    let dirs: Vec<PathBuf> = if name.starts_with('@') {
                        std::fs::read_dir(pkg.path())
                            .unwrap()
                            .flatten()
                            .map(|s| s.path())
                            .collect()
                    } else if name.starts_with('.') {
                        Vec::new()
                    } else {
                        vec![pkg.path()]
                    };
                    for dir in dirs {
                        if !dir.symlink_metadata().unwrap().is_dir() {
                            continue;
                        }
                        let rel = dir.strip_prefix(work.path()).unwrap().to_str().unwrap();
                        if !listed.contains(rel) {
                            let (b, _) = du(&dir, false);
                            assert!(
                                b <= smallest,
                                "{rel} ({b} bytes) is missing from {largest:?}"
                            );
                        }
                        stack.push(dir);
                    }
                }
            } else {
                stack.push(e.path());
            }
        }
    }
    report
}
