//! The release tarball (`xtask release`, `ci/release.sh`), made from the binaries ci/test.sh
//! built (`--watt $WATT_BIN --stub $WATT_STUB`, so the test never compiles):
//! - made twice, from two folders of the repo and under two umasks, it is the same bytes, and
//!   its `.sha256` checks with `sha256sum -c`;
//! - it holds exactly the binaries, `LICENSE`, `README.md`, the licence index, `licenses/` and
//!   the SBOM, with uid/gid 0, modes 0755/0644 and the commit's time; every crate of the SBOM
//!   has its licence texts; the SBOM is valid CycloneDX 1.5 (cyclonedx-python-lib, from
//!   ci/sbom-tools.sh), names the crates at Cargo.lock's versions, and the binaries by the
//!   SHA-256 of the files that ship;
//! - its binaries start in a root holding nothing else (static: no libc, no loader, no Rust,
//!   no Node).
//!
//! The xtask binary is `WATT_XTASK`, else the `xtask` next to `WATT_BIN` (ci/test.sh builds
//! both with `cargo build --workspace --bins`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use watt_e2e::*;

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn xtask_bin() -> PathBuf {
    let p = std::env::var_os("WATT_XTASK")
        .map(PathBuf::from)
        .unwrap_or_else(|| watt_bin().with_file_name("xtask"));
    assert!(
        p.is_file(),
        "{} not found; ci/test.sh builds it with the binaries (`cargo build --workspace --bins`), \
         or set WATT_XTASK",
        p.display()
    );
    p
}

/// `[workspace.package] version` of the workspace Cargo.toml.
fn version() -> String {
    let toml = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let section = toml
        .split("[workspace.package]")
        .nth(1)
        .expect("[workspace.package]");
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("workspace version")
        .to_string()
}

fn top() -> String {
    format!("watt-{}-{TARGET}", version())
}

/// Runs the release into `out` from `cwd` (inside the repo) under `umask`; the tarball's path.
fn release(out: &Path, cwd: &Path, umask: &str) -> PathBuf {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(xtask_bin())
        .arg("release")
        .arg("--watt")
        .arg(watt_bin())
        .arg("--stub")
        .arg(stub_bin())
        .arg("--out")
        .arg(out)
        .current_dir(cwd)
        // The file time then comes from the commit, which both runs share.
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run xtask");
    assert!(o.status.success(), "xtask release failed:\n{}", text(&o));
    let tarball = out.join(format!("{}.tar.gz", top()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().map(PathBuf::from),
        Some(fs::canonicalize(&tarball).unwrap()),
        "the path first:\n{}",
        text(&o)
    );
    let size = fs::metadata(&tarball).unwrap().len();
    assert!(
        stdout.contains(&format!("size:   {size} bytes")),
        "{}",
        text(&o)
    );
    assert!(stdout.contains("sha256: "), "{}", text(&o));
    tarball
}

fn sha256(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn extract_tarball(tarball: &Path, into: &Path) -> PathBuf {
    let o = Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(into)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    into.join(top())
}

#[test]
fn made_twice_the_tarball_is_the_same_bytes_and_its_checksum_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let a = release(&tmp.path().join("a"), &repo(), "022");
    // Another folder of the repo, another umask, an output folder that does not exist yet.
    let b = release(&tmp.path().join("b/nested"), &repo().join("packer"), "077");
    assert_eq!(a.file_name(), b.file_name());
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two releases of one commit differ: {} and {}",
        a.display(),
        b.display()
    );
    let sums = |t: &Path| fs::read_to_string(t.with_extension("gz.sha256")).unwrap();
    assert_eq!(sums(&a), sums(&b));
    assert_eq!(
        sums(&a),
        format!("{}  {}.tar.gz\n", sha256(&a), top()),
        "sha256sum's format, naming the file beside it"
    );
    for t in [&a, &b] {
        let o = Command::new("sha256sum")
            .arg("-c")
            .arg(format!("{}.tar.gz.sha256", top()))
            .current_dir(t.parent().unwrap())
            .output()
            .unwrap();
        assert!(o.status.success(), "sha256sum -c:\n{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(": OK"),
            "{}",
            text(&o)
        );
        let mode = fs::metadata(t.with_extension("gz.sha256")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o644);
    }
}

/// (mode, owner, date and time, path) of each entry, in archive order.
fn listing(tarball: &Path) -> Vec<(String, String, String, String)> {
    let o = Command::new("tar")
        .args(["--numeric-owner", "--full-time", "-tvzf"])
        .arg(tarball)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(f.len() == 6, "unexpected listing line {l:?}");
            (
                f[0].to_string(),
                f[1].to_string(),
                format!("{} {}", f[3], f[4]),
                f[5].to_string(),
            )
        })
        .collect()
}

/// name → versions, from Cargo.lock.
fn lock_versions() -> BTreeMap<String, BTreeSet<String>> {
    let lock = fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pkg in lock.split("[[package]]").skip(1) {
        let field = |k: &str| {
            pkg.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string)
        };
        if let (Some(n), Some(v)) = (field("name"), field("version")) {
            out.entry(n).or_default().insert(v);
        }
    }
    out
}

/// cyclonedx-python-lib's strict CycloneDX 1.5 validator (`tests/sbom/validate.py`, installed
/// by ci/sbom-tools.sh for tests/sbom.rs too).
fn validate_cyclonedx(file: &Path) {
    let python = repo().join(".cache/tools/sbom-py/bin/python");
    assert!(
        python.is_file(),
        "{} missing: run ci/sbom-tools.sh (ci/test.sh runs it)",
        python.display()
    );
    let o = Command::new(python)
        .arg(repo().join("tests/sbom/validate.py"))
        .arg("cdx")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the SBOM is not valid CycloneDX 1.5:\n{}",
        text(&o)
    );
}

fn non_empty_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(non_empty_files(&p));
        } else if fs::metadata(&p).unwrap().len() > 0 {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_tarball_holds_the_binaries_their_licences_and_the_sbom() {
    let tmp = tempfile::tempdir().unwrap();
    let tarball = release(&tmp.path().join("out"), &repo(), "022");
    let top = top();

    // Entries: sorted, under one top folder, no host identity, one time (the commit's).
    let entries = listing(&tarball);
    let paths: Vec<&str> = entries.iter().map(|e| e.3.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| a.trim_end_matches('/').cmp(b.trim_end_matches('/')));
    assert_eq!(paths, sorted, "entries are not sorted");
    assert_eq!(paths[0], format!("{top}/"));
    // The commit the binaries name (ci/test.sh builds them from the one checked out).
    let o = Command::new(watt_bin()).arg("--version").output().unwrap();
    let version_line = String::from_utf8_lossy(&o.stdout);
    let revision = version_line
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("no revision in {version_line:?}"));
    let ct = Command::new("git")
        .args(["log", "-1", "--format=%ct", revision, "--"])
        .current_dir(repo())
        .output()
        .unwrap();
    let when = Command::new("date")
        .arg("-u")
        .arg(format!("-d@{}", String::from_utf8_lossy(&ct.stdout).trim()))
        .arg("+%Y-%m-%d %H:%M:%S")
        .output()
        .unwrap();
    let when = String::from_utf8_lossy(&when.stdout).trim().to_string();
    let mut top_level = BTreeSet::new();
    for (mode, owner, time, path) in &entries {
        assert_eq!(owner, "0/0", "{path}");
        assert_eq!(time, &when, "{path}: not the commit's time");
        let rel = path
            .strip_prefix(&format!("{top}/"))
            .unwrap_or_else(|| panic!("{path} is outside {top}/"));
        let want = if path.ends_with('/') {
            "drwxr-xr-x"
        } else if rel == "watt" || rel == "watt-stub" {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, want, "{path}");
        if !rel.is_empty() && !rel.trim_end_matches('/').contains('/') {
            top_level.insert(rel);
        }
    }
    assert_eq!(
        top_level,
        BTreeSet::from([
            "LICENSE",
            "README.md",
            "THIRD-PARTY-LICENSES.md",
            "licenses/",
            "sbom.cdx.json",
            "watt",
            "watt-stub",
        ])
    );

    let dir = extract_tarball(&tarball, tmp.path());
    assert_eq!(
        fs::read(dir.join("LICENSE")).unwrap(),
        fs::read(repo().join("LICENSE")).unwrap()
    );
    let license = fs::read_to_string(dir.join("LICENSE")).unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
    // The binaries ship as they were given.
    assert_eq!(sha256(&dir.join("watt")), sha256(&watt_bin()));
    assert_eq!(sha256(&dir.join("watt-stub")), sha256(&stub_bin()));

    validate_cyclonedx(&dir.join("sbom.cdx.json"));
    let sbom: Value =
        serde_json::from_slice(&fs::read(dir.join("sbom.cdx.json")).unwrap()).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["specVersion"], "1.5");
    assert_eq!(sbom["metadata"]["component"]["name"], "watt-pack");
    assert_eq!(sbom["metadata"]["component"]["version"], version().as_str());
    let components = sbom["components"].as_array().unwrap();
    for bin in ["watt", "watt-stub"] {
        let c = components
            .iter()
            .find(|c| c["bom-ref"] == format!("file:{bin}").as_str())
            .unwrap_or_else(|| panic!("{bin} not in the SBOM"));
        assert_eq!(c["version"], version().as_str());
        assert_eq!(c["hashes"][0]["content"], sha256(&dir.join(bin)).as_str());
    }

    // Every crate: Cargo.lock's version, its licence texts, a row in the index.
    let lock = lock_versions();
    let index = fs::read_to_string(dir.join("THIRD-PARTY-LICENSES.md")).unwrap();
    let mut crates = BTreeMap::new();
    let mut folders = BTreeSet::new();
    for c in components.iter().filter(|c| c["type"] == "library") {
        let (name, version) = (c["name"].as_str().unwrap(), c["version"].as_str().unwrap());
        assert!(
            lock.get(name).is_some_and(|v| v.contains(version)),
            "{name} {version} is not in Cargo.lock"
        );
        assert!(
            index.contains(&format!("| {name} | {version} | ")),
            "{name} {version} has no row in THIRD-PARTY-LICENSES.md"
        );
        let texts = c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "watt:license-texts")
            .and_then(|p| p["value"].as_str())
            .unwrap_or_else(|| panic!("{name}: no watt:license-texts"));
        if c.get("purl").is_some() {
            assert_eq!(c["purl"], format!("pkg:cargo/{name}@{version}").as_str());
            let folder = format!("licenses/{name}-{version}");
            assert_eq!(texts, format!("{folder}/"));
            assert!(
                !non_empty_files(&dir.join(&folder)).is_empty(),
                "{name} {version}: no licence text in {folder}"
            );
            folders.insert(format!("{name}-{version}"));
        } else {
            // A crate of this workspace: under the workspace licence at the root.
            assert_eq!(texts, "LICENSE", "{name}");
            assert_eq!(c["licenses"][0]["expression"], "Apache-2.0", "{name}");
        }
        crates.insert(name.to_string(), version.to_string());
    }
    let shipped: BTreeSet<String> = fs::read_dir(dir.join("licenses"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        shipped, folders,
        "licenses/ holds a folder per registry crate"
    );
    for name in ["hyper", "tokio", "clap", "watt-manifest"] {
        let v = crates
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in the SBOM"));
        assert!(lock[name].contains(v), "{name} {v}: Cargo.lock has another");
    }

    // Each binary depends on its own crates: the stub has no clap, watt has.
    let deps = |bin: &str| -> BTreeSet<String> {
        sbom["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"] == format!("file:{bin}").as_str())
            .unwrap_or_else(|| panic!("no dependencies of {bin}"))["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().split('@').next().unwrap().to_string())
            .collect()
    };
    let (watt, stub) = (deps("watt"), deps("watt-stub"));
    for c in ["crate:clap", "crate:tokio", "crate:watt-manifest"] {
        assert!(watt.contains(c), "watt: {c} missing from {watt:?}");
    }
    for c in ["crate:hyper", "crate:tokio", "crate:watt-manifest"] {
        assert!(stub.contains(c), "watt-stub: {c} missing from {stub:?}");
    }
    assert!(!stub.contains("crate:clap"), "{stub:?}");
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("PATH"), "{readme}");
}

#[test]
fn its_binaries_run_alone_in_an_empty_root() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "chroot needs root (ci/test.sh runs the suite as root)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let tarball = release(&tmp.path().join("out"), &repo(), "022");
    let dir = extract_tarball(&tarball, tmp.path());
    for bin in ["watt", "watt-stub"] {
        let root = tmp.path().join(format!("root-{bin}"));
        fs::create_dir(&root).unwrap();
        fs::copy(dir.join(bin), root.join(bin)).unwrap();
        // Nothing but the binary: no libc, no loader, no /proc, no Rust, no Node.
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
        let o = Command::new("chroot")
            .arg(&root)
            .arg(format!("/{bin}"))
            .arg("--version")
            // Only what finds `chroot` itself: nothing of the host's environment reaches it.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{bin} --version in chroot:\n{}",
            text(&o)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let want = format!("{bin} {}", version());
        let rest = out
            .strip_prefix(&want)
            .unwrap_or_else(|| panic!("{bin} --version printed {out:?}, not {want:?}…"));
        assert!(
            rest.is_empty() || rest.starts_with([' ', '\n']),
            "{bin} --version printed {out:?}"
        );
    }
}

/// The crate lists the binaries embed (`linked-crates.json`, checked in so the build never
/// resolves anything) are what Cargo resolves for the release build today, and each binary
/// carries its package's list.
#[test]
fn the_checked_in_crate_lists_are_current_and_embedded() {
    let o = Command::new(xtask_bin())
        .args(["crates", "--check"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for (bin, dir) in [(watt_bin(), "packer"), (stub_bin(), "runtime-stub")] {
        let listed: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join(dir).join("linked-crates.json")).unwrap(),
        )
        .unwrap();
        let info = watt_pack::build_info::read(&std::fs::read(&bin).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&info.crates).unwrap(),
            listed,
            "{}",
            bin.display()
        );
    }
}
