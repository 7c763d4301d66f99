//! What the image tests share: building an example as an image, the real container tools
//! (installed by ci/containers.sh, which ci/test.sh runs), a podman configured for this kind of
//! machine, a private dockerd started and stopped by the test, and containers that are always
//! removed. A missing tool fails the test with what to run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use watt_e2e::*;

pub fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed; run ci/containers.sh (ci/test.sh runs it) as root"
    );
    Command::new(name)
}

/// Run and require success; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?} failed\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub struct BuiltImage {
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// The one line `watt build` printed on stdout: `NAME@sha256:…`.
    pub stdout: String,
    /// `--json` is not used here: the digest comes from the printed reference.
    pub digest: String,
    pub tag: String,
}

/// `watt build examples/<name> --format <format> --tag <tag>` with the test node.
pub fn build_image(
    app: &Path,
    format: &str,
    tag: &str,
    extra: &[&str],
) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(if format == "oci" {
        "image"
    } else {
        "image.oci.tar"
    });
    let node = node_bin();
    let mut args = vec![
        "build",
        app.to_str().unwrap(),
        "--format",
        format,
        "-o",
        out.to_str().unwrap(),
        "--node",
        node.to_str().unwrap(),
        "--tag",
        tag,
    ];
    args.extend_from_slice(extra);
    (watt(&args, app), out, dir)
}

/// The oci-archive of `examples/<name>` tagged `tag`, built once per test binary.
pub fn built_image(name: &str, format: &str, tag: &str) -> std::sync::Arc<BuiltImage> {
    type Built = std::collections::BTreeMap<String, std::sync::Arc<BuiltImage>>;
    static BUILT: std::sync::OnceLock<Mutex<Built>> = std::sync::OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    built
        .entry(format!("{name} {format} {tag}"))
        .or_insert_with(|| {
            let started = Instant::now();
            let (o, path, dir) = build_image(&example(name), format, tag, &[]);
            assert!(o.status.success(), "watt build failed\n{}", text(&o));
            let stdout = String::from_utf8(o.stdout.clone()).unwrap();
            eprintln!(
                "watt build examples/{name} --format {format}: {:.1} s\n{}",
                started.elapsed().as_secs_f64(),
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .filter(|l| l.starts_with("watt: layer") || l.starts_with("watt: image"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let line = stdout.trim_end_matches('\n');
            assert!(!line.contains('\n'), "stdout must be one line: {stdout:?}");
            let digest = line
                .split_once('@')
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| panic!("stdout is not NAME@DIGEST: {stdout:?}"));
            std::sync::Arc::new(BuiltImage {
                _dir: dir,
                path,
                stdout,
                digest,
                tag: tag.to_string(),
            })
        })
        .clone()
}

/// podman as this machine needs it (the settings ci/containers.sh writes to containers.conf),
/// with the settings passed explicitly too so the test does not depend on that file's state.
pub fn podman() -> Command {
    let mut c = tool("podman");
    c.args([
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ]);
    c
}

/// An image loaded into podman's (machine-wide) store, removed again when dropped.
pub struct PodmanImage(pub String);

impl PodmanImage {
    /// `podman load -i archive`, which must name `tag`.
    pub fn load(archive: &Path, tag: &str) -> Self {
        let loaded = run_ok(podman().arg("load").arg("-i").arg(archive));
        assert!(
            loaded.contains(tag),
            "podman load did not name {tag}: {loaded}"
        );
        PodmanImage(tag.to_string())
    }
}

impl Drop for PodmanImage {
    fn drop(&mut self) {
        let _ = podman().args(["rmi", "-f", &self.0]).output();
    }
}

/// A private Docker daemon (own socket, data and exec roots) that the test starts and that
/// stops, by its pid, when dropped.
pub struct Dockerd {
    child: std::process::Child,
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Dockerd {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("watt-dockerd-")
            .tempdir()
            .unwrap();
        let sock = dir.path().join("docker.sock");
        let host = format!("unix://{}", sock.display());
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = tool("dockerd")
            .args(["--iptables=false", "--bridge=none", "--ip-masq=false"])
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .arg("-H")
            .arg(&host)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            host,
            _dir: dir,
        };
        let t = Instant::now();
        loop {
            let ok = d
                .docker()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return d;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "dockerd did not answer within 60 s\n{}",
                std::fs::read_to_string(d._dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn docker(&self) -> Command {
        let mut c = tool("docker");
        c.arg("-H").arg(&self.host);
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t = Instant::now();
        let mut exited = false;
        while !exited && t.elapsed() < Duration::from_secs(20) {
            exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if !exited {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // dockerd leaves its host-network namespace bind-mounted under the exec root even on a
        // clean exit; while it is mounted the temp dir cannot be removed, and every run used to
        // leave its whole data root (150 to 300 MB) behind in /tmp.
        let netns = self._dir.path().join("exec/netns");
        for entry in std::fs::read_dir(&netns).into_iter().flatten().flatten() {
            let _ = nix::mount::umount2(&entry.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A container started detached by `cli` (podman or docker), force-removed when dropped.
pub struct Container<'a> {
    pub cli: &'a dyn Fn() -> Command,
    pub name: String,
}

impl<'a> Container<'a> {
    /// `run -d --read-only --tmpfs /tmp --network host -e PORT=<port> <image>`.
    pub fn run(
        cli: &'a dyn Fn() -> Command,
        image: &str,
        name: &str,
        env: &[(&str, String)],
    ) -> Self {
        let _ = cli().args(["rm", "-f", name]).output();
        let mut c = cli();
        c.args([
            "run",
            "-d",
            "--name",
            name,
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--network",
            "host",
        ]);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        run_ok(c.arg(image));
        Container {
            cli,
            name: name.to_string(),
        }
    }

    pub fn logs(&self) -> String {
        let o = (self.cli)().args(["logs", &self.name]).output().unwrap();
        format!(
            "--- container stdout\n{}\n--- container stderr\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    pub fn inspect(&self, format: &str) -> String {
        run_ok((self.cli)().args(["inspect", "--format", format, &self.name]))
            .trim()
            .to_string()
    }

    pub fn wait_ready(&self, url: &str, timeout: Duration) {
        let t = Instant::now();
        loop {
            if let Ok(r) = ureq::get(url).timeout(Duration::from_secs(2)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            let running = self.inspect("{{.State.Running}}");
            assert!(
                running == "true",
                "container exited before {url} answered\n{}",
                self.logs()
            );
            assert!(
                t.elapsed() < timeout,
                "{url} not ready after {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `stop` (SIGTERM, the image's StopSignal), then the exit code and how long it took.
    pub fn stop(&self, grace_s: u32) -> (i32, Duration) {
        let t = Instant::now();
        run_ok((self.cli)().args(["stop", "-t", &grace_s.to_string(), &self.name]));
        let took = t.elapsed();
        let code = self.inspect("{{.State.ExitCode}}");
        (
            code.parse()
                .unwrap_or_else(|_| panic!("exit code {code:?}")),
            took,
        )
    }

    /// The uid the container's main process runs as (from the host's /proc).
    pub fn main_uid(&self) -> u32 {
        let pid = self.inspect("{{.State.Pid}}");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = (self.cli)().args(["rm", "-f", &self.name]).output();
    }
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
