//! `watt inspect`: the parts of an artifact add up to what extracting it gives, the largest
//! packages match `du` on the extracted tree, and baked env keys show by name only; an OCI
//! layout, an oci-archive and the same image pushed to a real registry (Debian's
//! `docker-registry` on loopback) report what the archive does, layer by layer; and
//! `watt build --dry-run` reports the same without writing anything.

#[path = "images/mod.rs"]
mod images;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use images::*;
use serde_json::{json, Value};
use watt_e2e::*;

fn inspect_json(archive: &Path) -> serde_json::Value {
    watt_e2e::inspect_json(archive.to_str().unwrap(), &[])
}

#[test]
fn parts_add_up_and_the_largest_packages_match_du() {
    let report = assert_inspect_matches_du(&built_example("api"), &["front", "catalog", "clock"]);
    // Built without --dotenv: nothing baked, but where the stub reads env files is shown.
    assert_eq!(report["bakedEnvKeys"], serde_json::json!({}));
    assert_eq!(report["envFiles"]["runtime"], "app/.env");
    assert_eq!(
        report["layers"],
        serde_json::json!([]),
        "an archive is flat"
    );
}

/// Both binaries name their version and the commit they were built from, and `inspect` names the
/// stub an artifact carries from the build information inside the packed binary.
#[test]
fn the_stub_an_artifact_carries_is_named_by_version_and_commit() {
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo())
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    let version = env!("CARGO_PKG_VERSION");
    let line = format!("{version} ({})", &head[..12]);
    for (bin, name) in [(watt_bin(), "watt"), (stub_bin(), "watt-stub")] {
        let o = Command::new(&bin).arg("--version").output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            format!("{name} {line}")
        );
    }

    let archive = built_example("api");
    let report = inspect_json(&archive);
    assert_eq!(
        report["stub"],
        json!({"version": version, "revision": head, "target": "x86_64-unknown-linux-gnu"})
    );
    let table = watt(&["inspect", archive.to_str().unwrap()], &repo());
    assert!(table.status.success(), "{}", text(&table));
    let shown = String::from_utf8_lossy(&table.stdout);
    assert!(
        shown.contains(&format!("watt-stub {line} for x86_64-unknown-linux-gnu")),
        "{shown}"
    );

    // A file that is no watt-stub is refused before any framework builds, naming what to pass,
    // and writes nothing.
    let work = tempfile::tempdir().unwrap();
    let refused = |stub: &Path| {
        let out = work.path().join("x.tar.zst");
        let o = Command::new(watt_bin())
            .args(["build", "-o"])
            .arg(&out)
            .arg("--stub")
            .arg(stub)
            .arg(example("api"))
            .output()
            .unwrap();
        assert!(!o.status.success(), "{}", text(&o));
        assert!(!out.exists());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = refused(Path::new("/bin/sh"));
    assert!(
        err.contains("/bin/sh is not a watt-stub") && err.contains("--stub PATH or WATT_STUB"),
        "{err}"
    );

    // A stub linked against the build host's libc (a plain `cargo install`) is refused too: it
    // would not start in an image. Made here from a dynamic executable given the real stub's
    // build information (binutils' objcopy, installed with gcc by ci/test.sh).
    let info = work.path().join("info.json");
    let dynamic = work.path().join("watt-stub");
    let objcopy = |args: &[&std::ffi::OsStr]| {
        let o = Command::new("objcopy").args(args).output().unwrap();
        assert!(o.status.success(), "objcopy: {}", text(&o));
    };
    objcopy(&[
        "-O".as_ref(),
        "binary".as_ref(),
        "--only-section=.watt_build_info".as_ref(),
        stub_bin().as_os_str(),
        info.as_os_str(),
    ]);
    let section = format!(".watt_build_info={}", info.display());
    objcopy(&[
        "--add-section".as_ref(),
        section.as_ref(),
        "/bin/sh".as_ref(),
        dynamic.as_os_str(),
    ]);
    let err = refused(&dynamic);
    assert!(
        err.contains("is dynamically linked (it needs /lib") && err.contains("crt-static"),
        "{err}"
    );
}

#[test]
fn baked_env_keys_show_by_name_only() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_tree(&repo().join("tests/fixtures/secrets"), &app, "022");
    let archive = work.path().join("s.tar.gz");
    let o = watt_build(&app, &archive, &["--dotenv"]);
    assert!(o.status.success(), "{}", text(&o));
    let report = inspect_json(&archive);
    assert_eq!(
        report["bakedEnvKeys"]["runtime"],
        serde_json::json!(["DATABASE_URL", "LAYER", "ONLY_ROOT", "PLT_SERVER_HOSTNAME"])
    );
    assert_eq!(
        report["bakedEnvKeys"]["api"],
        serde_json::json!(["LAYER", "SVC_ONLY"])
    );
    // What the ignore rules left out, by name and reason.
    assert_eq!(
        report["excluded"]["web/api/.npmrc"],
        "secret: a registry config holding an auth token"
    );
    assert_eq!(report["excluded"]["web/api/private"], "web/api/.wattignore");
    let table = watt(&["inspect", archive.to_str().unwrap()], &repo());
    assert!(table.status.success(), "{}", text(&table));
    let shown = String::from_utf8_lossy(&table.stdout);
    assert!(shown.contains("baked for api: LAYER, SVC_ONLY"), "{shown}");
    assert!(
        shown.contains("web/worker/id_ed25519 (secret: an SSH key)"),
        "{shown}"
    );
    for out in [report.to_string(), shown.into_owned()] {
        assert!(
            !out.contains("secret-1111") && !out.contains("secret-2222"),
            "{out}"
        );
    }
}

/// The report without what depends on where it was read from.
fn what_ships(report: &Value) -> Value {
    let parts: Vec<&Value> = report["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] != "image system files")
        .collect();
    json!({
        "name": report["name"],
        "parts": parts,
        "largestPackages": report["largestPackages"],
        "sbom": report["sbom"],
        "bakedEnvKeys": report["bakedEnvKeys"],
        "envFiles": report["envFiles"],
        "excluded": report["excluded"],
    })
}

/// An image's report: its layers are ours, in order, and hold every file once.
fn assert_layers(report: &Value) {
    let layers = report["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"runtime"), "{names:?}");
    assert_eq!(names.last(), Some(&"manifest"), "{names:?}");
    for n in ["stub", "app-front", "app-catalog", "app-clock"] {
        assert!(names.contains(&n), "no layer {n}: {names:?}");
    }
    let sum = |k: &str| layers.iter().map(|l| l[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("bytes"), report["totalBytes"].as_u64().unwrap());
    assert_eq!(sum("files"), report["totalFiles"].as_u64().unwrap());
    // /etc/passwd and /etc/group: what an image holds beyond the archive.
    let system = report["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "image system files")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(system["files"], 2, "{system}");
}

#[test]
fn an_oci_layout_and_an_oci_archive_report_what_the_archive_does() {
    let archive = inspect_json(&built_example("api"));
    let (o, layout, _dir) = build_image(&example("api"), "oci", "watt/api:inspect", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let from_layout = watt_e2e::inspect_json(layout.to_str().unwrap(), &[]);
    assert_eq!(what_ships(&from_layout), what_ships(&archive));
    assert_eq!(from_layout["stub"], archive["stub"]);
    assert_layers(&from_layout);
    assert!(
        from_layout["source"]
            .as_str()
            .unwrap()
            .starts_with("OCI image layout"),
        "{}",
        from_layout["source"]
    );

    let (o, oci_archive, _dir) =
        build_image(&example("api"), "oci-archive", "watt/api:inspect", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let from_tar = watt_e2e::inspect_json(oci_archive.to_str().unwrap(), &[]);
    assert_eq!(what_ships(&from_tar), what_ships(&archive));
    assert_eq!(from_tar["layers"], from_layout["layers"]);
    assert!(
        from_tar["source"]
            .as_str()
            .unwrap()
            .starts_with("oci-archive"),
        "{}",
        from_tar["source"]
    );

    let table = watt(&["inspect", layout.to_str().unwrap()], &repo());
    assert!(table.status.success(), "{}", text(&table));
    let shown = String::from_utf8_lossy(&table.stdout);
    for line in [
        "layer",
        "app-catalog",
        "service catalog",
        "largest packages",
    ] {
        assert!(shown.contains(line), "{line:?} not in\n{shown}");
    }
    if from_layout["sbom"].is_null() {
        assert!(shown.contains("no SBOM"), "{shown}");
    }
}

/// Debian's `docker-registry` (installed by ci/containers.sh) on a free loopback port, no auth.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = tool("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let t = Instant::now();
        while ureq::get(&format!("http://{addr}/v2/")).call().is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_pushed_image_is_read_from_the_registry() {
    let (o, layout, _dir) = build_image(&example("api"), "oci", "watt/api:pushed", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let local = watt_e2e::inspect_json(layout.to_str().unwrap(), &[]);
    let registry = Registry::start();
    let reference = format!("{}/watt/api:pushed", registry.addr);
    let no_credentials = tempfile::tempdir().unwrap();
    run_ok(
        tool("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{reference}"))
            .env("DOCKER_CONFIG", no_credentials.path()),
    );
    let o = Command::new(watt_bin())
        .args(["inspect", "--json", "--insecure", &reference])
        .env("DOCKER_CONFIG", no_credentials.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let pulled: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(what_ships(&pulled), what_ships(&local));
    assert_eq!(pulled["layers"], local["layers"]);
    assert_layers(&pulled);
    let source = pulled["source"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("registry image {reference}")),
        "{source}"
    );
}

/// Every path below `dir`, `.watt` (build logs) aside.
fn listing(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() == ".watt" {
                continue;
            }
            let p = e.path();
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            if p.symlink_metadata().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn a_dry_run_writes_nothing_and_reports_what_a_build_ships() {
    let built = inspect_json(&built_example("api"));
    let app = example("api");
    let before = listing(&app);
    let cwd = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let node = node_bin();
    let o = Command::new(watt_bin())
        .args(["build", "--dry-run", "--json", "--node"])
        .arg(&node)
        .arg(&app)
        .current_dir(cwd.path())
        .env("WATT_STUB", stub_bin())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let dry: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The same services, sizes and packages as the real build's archive.
    assert_eq!(what_ships(&dry), what_ships(&built));
    assert_eq!(dry["stub"], built["stub"]);
    assert_eq!(dry["totalBytes"], built["totalBytes"]);
    let layers = dry["layers"].as_array().unwrap();
    assert!(
        layers.iter().any(|l| l["name"] == "app-catalog"),
        "{layers:?}"
    );
    // Nothing written: no artifact, no temporary files, the app folder as it was.
    assert_eq!(
        listing(cwd.path()),
        BTreeSet::new(),
        "the working directory"
    );
    assert_eq!(listing(tmp.path()), BTreeSet::new(), "TMPDIR");
    assert_eq!(listing(&app), before, "the app folder changed");

    let table = Command::new(watt_bin())
        .args(["build", "--dry-run", "--node"])
        .arg(&node)
        .arg(&app)
        .current_dir(cwd.path())
        .env("WATT_STUB", stub_bin())
        .output()
        .unwrap();
    assert!(table.status.success(), "{}", text(&table));
    let shown = String::from_utf8_lossy(&table.stdout);
    assert!(shown.contains("service front"), "{shown}");
    assert!(shown.contains("dry run: nothing written"), "{shown}");
}
