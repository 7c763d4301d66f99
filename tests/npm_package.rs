//! The npm distribution (`npm/`, packed by `ci/npm-pack.sh`): the two tarballs install with npm
//! alone — no Rust on PATH, an empty npm cache, no registry — and `npx watt build` makes an
//! archive that boots; where npm leaves the binary package out, or the platform has none, or
//! the install is broken, the launcher says what is wrong and how to fix it; it passes the
//! binary's exit status and signals on; the same inputs pack to the same bytes.
//!
//! Every install is `--offline` with the platform package's tarball put in place of the registry
//! by `overrides`: it then arrives as in a real install, as watt-pack's optional dependency
//! that npm admits or skips by its `os`/`cpu`, and the test needs neither the network nor what
//! is published under these names.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use watt_e2e::*;

const MAIN: &str = "watt-pack";
const PLATFORM: &str = "watt-pack-linux-x64";

/// `[workspace.package] version` of the root Cargo.toml: the version both packages carry.
fn workspace_version() -> String {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let mut section = "";
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[workspace.package]" {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "version" {
                    return value.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    panic!("no [workspace.package] version in Cargo.toml")
}

/// What a machine with Node and npm but no Rust has, and a home, npm cache and work folder of
/// its own, so nothing from this machine's npm setup or cache takes part.
struct Sandbox {
    work: tempfile::TempDir,
    path: String,
}

impl Sandbox {
    fn new() -> Self {
        let tools = repo().join(".cache/tools/bin");
        assert!(
            tools.join("node").exists(),
            "{} has no node; run ci/setup.sh",
            tools.display()
        );
        let path = format!("{}:/usr/bin:/bin", tools.display());
        let work = tempfile::tempdir().unwrap();
        for dir in ["home", "npm-cache", "out"] {
            std::fs::create_dir(work.path().join(dir)).unwrap();
        }
        let sandbox = Sandbox { work, path };
        for tool in ["node", "npm", "npx"] {
            sandbox.which(tool).unwrap_or_else(|| {
                panic!(
                    "no {tool} on {}; ci/setup.sh installs npm with apt",
                    sandbox.path
                )
            });
        }
        // The point of the exercise: npm users need no Rust toolchain.
        for tool in ["cargo", "rustc"] {
            assert_eq!(sandbox.which(tool), None, "{tool} on {}", sandbox.path);
            let o = sandbox
                .command("sh", sandbox.work.path())
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap();
            assert!(!o.status.success(), "{tool} found\n{}", text(&o));
        }
        sandbox
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn which(&self, tool: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|d| d.join(tool))
            .find(|p| p.exists())
    }

    /// `program` from the sandbox PATH, in `cwd`, with nothing of this process's environment:
    /// no WATT_STUB, no npm configuration, no cargo.
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let exe = self
            .which(program)
            .unwrap_or_else(|| panic!("no {program} on {}", self.path));
        let mut cmd = Command::new(exe);
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.dir("home"))
            .env("npm_config_cache", self.dir("npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .stdin(Stdio::null());
        cmd
    }

    /// `ci/npm-pack.sh OUT` from the release binaries: (main tarball, platform tarball).
    fn pack(&self) -> (PathBuf, PathBuf) {
        let out = self.dir("out");
        let o = pack_script(self, &out, &watt_bin(), &stub_bin(), "022");
        assert!(o.status.success(), "ci/npm-pack.sh failed\n{}", text(&o));
        let version = workspace_version();
        let main = out.join(format!("{MAIN}-{version}.tgz"));
        let platform = out.join(format!("{PLATFORM}-{version}.tgz"));
        // stdout is the two tarballs with their sizes, nothing else.
        let expected = [&platform, &main]
            .iter()
            .map(|p| format!("{} {}\n", p.display(), std::fs::metadata(p).unwrap().len()))
            .collect::<String>();
        assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
        eprint!("npm tarballs:\n{expected}");
        (main, platform)
    }

    /// A fresh project that installs the main tarball as a user installs `watt-pack`, with
    /// `extra` npm flags; returns its folder.
    fn install(&self, name: &str, tarballs: &(PathBuf, PathBuf), extra: &[&str]) -> PathBuf {
        let (main, platform) = tarballs;
        let project = self.dir(name);
        std::fs::create_dir(&project).unwrap();
        let manifest = serde_json::json!({
            "name": format!("npm-user-{name}"),
            "private": true,
            "overrides": { PLATFORM: format!("file:{}", platform.display()) },
        });
        std::fs::write(project.join("package.json"), manifest.to_string()).unwrap();
        let o = self
            .command("npm", &project)
            .args(["install", "--offline", "--no-audit", "--no-fund"])
            .args(extra)
            .arg(main)
            .output()
            .unwrap();
        assert!(o.status.success(), "npm install failed\n{}", text(&o));
        project
    }
}

fn pack_script(sandbox: &Sandbox, out: &Path, watt: &Path, stub: &Path, umask: &str) -> Output {
    sandbox
        .command("sh", &repo())
        .args([
            "-c",
            "umask \"$1\" && exec bash ci/npm-pack.sh \"$2\"",
            "sh",
        ])
        .arg(umask)
        .arg(out)
        .env("WATT_BIN", watt)
        .env("WATT_STUB", stub)
        .output()
        .unwrap()
}

fn lockfile_entry(project: &Path, package: &str) -> Value {
    let lock: Value =
        serde_json::from_slice(&std::fs::read(project.join("package-lock.json")).unwrap()).unwrap();
    lock["packages"][format!("node_modules/{package}")].clone()
}

/// `watt --version`'s first line must name the program and the workspace version.
fn assert_version_line(o: &Output, version: &str) {
    assert!(o.status.success(), "{}", text(o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let rest = stdout
        .strip_prefix(&format!("watt {version}"))
        .unwrap_or_else(|| panic!("expected `watt {version}…`\n{}", text(o)));
    assert!(
        rest.starts_with(' ') || rest.starts_with('\n'),
        "{}",
        text(o)
    );
}

#[test]
fn npm_install_without_rust_builds_an_archive_that_boots() {
    let started = Instant::now();
    let version = workspace_version();
    let sandbox = Sandbox::new();
    let tarballs = sandbox.pack();
    let project = sandbox.install("linux", &tarballs, &[]);

    // Through watt-pack's optionalDependencies, at the pinned version.
    let entry = lockfile_entry(&project, PLATFORM);
    assert_eq!(entry["optional"], true, "{entry}");
    assert_eq!(entry["version"], version.as_str(), "{entry}");
    let bin = project.join(format!("node_modules/{PLATFORM}/bin"));
    for (name, built) in [("watt", watt_bin()), ("watt-stub", stub_bin())] {
        let installed = bin.join(name);
        let mode = std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{}", installed.display());
        assert!(
            std::fs::read(&installed).unwrap() == std::fs::read(&built).unwrap(),
            "{} is not {}",
            installed.display(),
            built.display()
        );
    }

    // Both command names the package declares.
    for name in ["watt", "watt-pack"] {
        let o = sandbox
            .command("npx", &project)
            .args([name, "--version"])
            .output()
            .unwrap();
        assert_version_line(&o, &version);
    }

    let archive = sandbox.dir("api.tar.zst");
    let build_started = Instant::now();
    let o = sandbox
        .command("npx", &project)
        .args(["watt", "build"])
        .arg(example("api"))
        .arg("-o")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(o.status.success(), "npx watt build failed\n{}", text(&o));
    eprintln!("npx watt build examples/api: {:?}", build_started.elapsed());

    let root = sandbox.dir("extracted");
    extract(&archive, &root);
    // No WATT_STUB and no --stub: watt took the stub beside itself in the platform package.
    assert!(
        std::fs::read(root.join("watt-stub")).unwrap()
            == std::fs::read(bin.join("watt-stub")).unwrap(),
        "the archive's watt-stub is not the npm package's"
    );
    // And the node on PATH, as the platform package's README says.
    let node = std::fs::canonicalize(sandbox.which("node").unwrap()).unwrap();
    assert!(
        std::fs::read(root.join("runtime/lib/node")).unwrap() == std::fs::read(&node).unwrap(),
        "the archive does not carry {}",
        node.display()
    );

    let (mut stub, base) = boot_extracted(&root, "/health");
    assert_api_summary(&base, &stub);
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");
    eprintln!("pack, install, build and boot: {:?}", started.elapsed());
}

#[test]
fn without_a_binary_for_the_platform_watt_says_what_is_missing_and_how_to_fix_it() {
    let version = workspace_version();
    let sandbox = Sandbox::new();
    let tarballs = sandbox.pack();

    // An install made for a Mac (npm reads the platform package's os/cpu and leaves it out)
    // and one that omits optional dependencies: both lack the binary package.
    for (name, flags) in [
        ("darwin", &["--os=darwin", "--cpu=arm64"][..]),
        ("omitted", &["--omit=optional"][..]),
    ] {
        let project = sandbox.install(name, &tarballs, flags);
        let entry = lockfile_entry(&project, PLATFORM);
        assert_eq!(entry["os"], serde_json::json!(["linux"]), "{entry}");
        assert_eq!(entry["cpu"], serde_json::json!(["x64"]), "{entry}");
        assert!(project
            .join(format!("node_modules/{MAIN}/bin/watt.js"))
            .is_file());
        assert!(!project.join(format!("node_modules/{PLATFORM}")).exists());
        let o = sandbox
            .command("npx", &project)
            .args(["watt", "--version"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        for needle in [
            format!("the package {PLATFORM}"),
            "linux-x64, is not installed".to_string(),
            "--omit=optional".to_string(),
            format!("npm install {PLATFORM}@{version}"),
        ] {
            assert!(
                stderr.contains(&needle),
                "{name}: no `{needle}`\n{}",
                text(&o)
            );
        }
        assert!(!stderr.contains("ENOENT"), "{name}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{name}: {}", text(&o));
    }

    // Platforms npm cannot serve at all: the launcher's own check, even where a linux-x64
    // package is installed.
    let linux = sandbox.install("linux", &tarballs, &[]);
    let pretend = sandbox.dir("pretend.cjs");
    std::fs::write(
        &pretend,
        "Object.defineProperty(process, 'platform', { value: process.env.PRETEND_PLATFORM });\n\
         Object.defineProperty(process, 'arch', { value: process.env.PRETEND_ARCH });\n",
    )
    .unwrap();
    for (platform, arch) in [("darwin", "arm64"), ("linux", "arm64"), ("win32", "x64")] {
        let o = sandbox
            .command("node", &linux)
            .arg("-r")
            .arg(&pretend)
            .arg(format!("node_modules/{MAIN}/bin/watt.js"))
            .arg("--version")
            .env("PRETEND_PLATFORM", platform)
            .env("PRETEND_ARCH", arch)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        for needle in [
            format!("no prebuilt binary for {platform}-{arch} (prebuilt: linux-x64)"),
            "cargo install --locked --path packer".to_string(),
            "cargo install --locked --path runtime-stub".to_string(),
        ] {
            assert!(stderr.contains(&needle), "no `{needle}`\n{}", text(&o));
        }
        assert!(!stderr.contains("ENOENT"), "{}", text(&o));
    }
}

#[test]
fn the_launcher_names_a_broken_install_and_passes_the_exit_status_on() {
    let version = workspace_version();
    let sandbox = Sandbox::new();
    let project = sandbox.install("linux", &sandbox.pack(), &[]);
    let package = project.join(format!("node_modules/{PLATFORM}"));
    let binary = package.join("bin/watt");
    let launch = || {
        let mut cmd = sandbox.command("node", &project);
        cmd.arg(format!("node_modules/{MAIN}/bin/watt.js"));
        cmd
    };

    // A usage error is clap's exit 2, with the binary's own message, through the launcher too.
    let direct = Command::new(watt_bin())
        .arg("--no-such-flag")
        .output()
        .unwrap();
    let launched = launch().arg("--no-such-flag").output().unwrap();
    assert_eq!(direct.status.code(), Some(2), "{}", text(&direct));
    assert_eq!(launched.status.code(), Some(2), "{}", text(&launched));
    assert_eq!(launched.stderr, direct.stderr);

    let fails_with = |needles: &[String]| {
        let o = launch().arg("--version").output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        for needle in needles {
            assert!(
                stderr.contains(needle.as_str()),
                "no `{needle}`\n{}",
                text(&o)
            );
        }
        assert!(!stderr.contains("ENOENT"), "{}", text(&o));
    };
    let reinstall = format!("npm install {PLATFORM}@{version}");

    // Another version of the binary package than the one released with the launcher.
    let manifest_path = package.join("package.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let mut other: Value = serde_json::from_str(&manifest).unwrap();
    other["version"] = "0.0.1-other".into();
    std::fs::write(&manifest_path, other.to_string()).unwrap();
    fails_with(&[
        format!("{PLATFORM}@0.0.1-other is installed"),
        format!("needs {PLATFORM}@{version}"),
        reinstall.clone(),
    ]);
    std::fs::write(&manifest_path, manifest).unwrap();

    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o644)).unwrap();
    fails_with(&[
        format!("{} is not executable", binary.display()),
        reinstall.clone(),
    ]);
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let aside = package.join("bin/watt.aside");
    std::fs::rename(&binary, &aside).unwrap();
    fails_with(&[format!("{} is missing", binary.display()), reinstall]);

    // Signals, with a stand-in binary whose behaviour the test controls: one that dies of
    // SIGTERM makes the launcher die of it too …
    let stand_in = |script: &str| {
        std::fs::write(&binary, script).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    stand_in("#!/bin/sh\nkill -TERM $$\n");
    let o = launch().output().unwrap();
    assert_eq!(
        o.status.signal(),
        Some(nix::sys::signal::Signal::SIGTERM as i32),
        "{}",
        text(&o)
    );

    // … and a SIGTERM sent to the launcher alone (a CI runner stopping a job) reaches the
    // binary, whose exit code comes back.
    // It says its pid, so that whatever happens, it does not outlive the test.
    stand_in("#!/bin/sh\ntrap 'exit 42' TERM\necho \"ready $$\"\nwhile :; do sleep 0.1; done\n");
    let mut child = launch().stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let stand_in_pid: i32 = line
        .strip_prefix("ready ")
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("the stand-in did not start: {line:?}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let orphaned = alive(stand_in_pid);
    if orphaned {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(stand_in_pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let status = status.expect("the launcher did not end within 10 s of SIGTERM");
    assert!(
        !orphaned,
        "the launcher ended ({status}), its binary did not"
    );
    assert_eq!(status.code(), Some(42), "{status}");

    std::fs::rename(&aside, &binary).unwrap();
    assert_version_line(&launch().arg("--version").output().unwrap(), &version);
}

/// `tar -tvzf`'s lines for a tarball: mode, owner, size, time, path.
fn listing(tarball: &Path) -> String {
    let o = Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(tarball)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn package_json(tarball: &Path) -> Value {
    let o = Command::new("tar")
        .args(["-xOzf"])
        .arg(tarball)
        .arg("package/package.json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn npm_pack_gives_the_same_bytes_for_the_same_inputs_and_what_the_packages_promise() {
    let version = workspace_version();
    let sandbox = Sandbox::new();
    let (main, platform) = sandbox.pack();

    // The same binaries with other file times, another umask, another output folder.
    let copies = sandbox.dir("copies");
    std::fs::create_dir(&copies).unwrap();
    let (watt, stub) = (copies.join("watt"), copies.join("watt-stub"));
    std::fs::copy(watt_bin(), &watt).unwrap();
    std::fs::copy(stub_bin(), &stub).unwrap();
    let again = sandbox.dir("again");
    let o = pack_script(&sandbox, &again, &watt, &stub, "077");
    assert!(o.status.success(), "{}", text(&o));
    for tarball in [&main, &platform] {
        let other = again.join(tarball.file_name().unwrap());
        assert!(
            std::fs::read(tarball).unwrap() == std::fs::read(&other).unwrap(),
            "{} and {} differ\n{}\n{}",
            tarball.display(),
            other.display(),
            listing(tarball),
            listing(&other)
        );
    }

    let files = listing(&platform);
    for name in ["watt", "watt-stub"] {
        assert!(
            files.lines().any(|l| l.starts_with("-rwxr-xr-x 0/0 ")
                && l.ends_with(&format!(" package/bin/{name}"))),
            "bin/{name} not 0755\n{files}"
        );
    }
    let p = package_json(&platform);
    assert_eq!(p["name"], PLATFORM);
    assert_eq!(p["version"], version.as_str());
    assert_eq!(p["os"], serde_json::json!(["linux"]));
    assert_eq!(p["cpu"], serde_json::json!(["x64"]));
    assert_eq!(p["license"], "Apache-2.0");
    assert!(p["files"].is_array(), "{p}");
    let m = package_json(&main);
    assert_eq!(m["name"], MAIN);
    assert_eq!(m["version"], version.as_str());
    assert_eq!(m["license"], "Apache-2.0");
    assert_eq!(m["bin"]["watt"], "bin/watt.js");
    assert_eq!(m["bin"]["watt-pack"], "bin/watt.js");
    assert_eq!(
        m["optionalDependencies"],
        serde_json::json!({ PLATFORM: version })
    );
}

#[test]
fn npm_pack_refuses_missing_or_dynamically_linked_binaries() {
    let sandbox = Sandbox::new();
    let out = sandbox.dir("out");
    let o = pack_script(
        &sandbox,
        &out,
        Path::new("/nonexistent/watt"),
        &stub_bin(),
        "022",
    );
    assert!(!o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("/nonexistent/watt not found")
            && stderr.contains(
                "RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --locked --release \
                 --target x86_64-unknown-linux-gnu --workspace --bins"
            ),
        "{}",
        text(&o)
    );

    // node is a dynamically linked x86-64 executable: the wrong build of watt would be one too.
    let node = std::fs::canonicalize(sandbox.which("node").unwrap()).unwrap();
    let o = pack_script(&sandbox, &out, &node, &stub_bin(), "022");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dynamically linked"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing packed"
    );
}
