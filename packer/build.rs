//! Records, at build time, which Rust crates `watt-stub` is made of, for the SBOM every artifact
//! carries (`src/sbom/`). Cargo resolves them: `cargo metadata` over this workspace, filtered to
//! the stub's target, walked from `watt-stub` along normal (linked) dependencies only, so dev-
//! and build-only crates and the packer's own crates stay out; Cargo.lock adds each registry
//! crate's SHA-256. The list lands in `$OUT_DIR/stub_crates.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

/// The stub ships for this target only (ci/test.sh builds it statically for it).
const STUB_TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("packer/ is inside the workspace");
    let lock = workspace.join("Cargo.lock");
    for p in [
        lock.clone(),
        workspace.join("runtime-stub/Cargo.toml"),
        workspace.join("Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            STUB_TARGET,
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .output()
        .expect("cannot run `cargo metadata` to list watt-stub's crates");
    if !out.status.success() {
        panic!(
            "`cargo metadata` failed listing watt-stub's crates for the SBOM:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let checksums = checksums(&std::fs::read_to_string(&lock).unwrap_or_default());

    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let stub = packages
        .values()
        .find(|p| p["name"] == "watt-stub")
        .expect("watt-stub is a workspace member");
    let stub_id = stub["id"].as_str().expect("id");

    // Normal dependencies only: `kind` null. Build dependencies and proc-macros run at compile
    // time; the latter are reached as normal deps, so they are dropped by their target kind.
    let mut seen = BTreeSet::new();
    let mut todo = vec![stub_id];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let linked = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().expect("pkg");
            if linked && !is_proc_macro(packages[pkg]) {
                todo.push(pkg);
            }
        }
    }
    seen.remove(stub_id);
    let crates: Vec<Value> = seen
        .iter()
        .map(|id| {
            let p = packages[id];
            let name = p["name"].as_str().expect("name");
            let version = p["version"].as_str().expect("version");
            json!({
                "name": name,
                "version": version,
                "license": p["license"],
                // Workspace crates have no source; registry crates name theirs.
                "registry": p["source"].as_str().is_some_and(|s| s.starts_with("registry+")),
                "sha256": checksums.get(&(name.to_string(), version.to_string())),
            })
        })
        .collect();
    let doc = json!({
        "name": "watt-stub",
        "version": stub["version"],
        "license": stub["license"],
        "crates": crates,
    });
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("stub_crates.json");
    std::fs::write(&dest, serde_json::to_string_pretty(&doc).expect("json"))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}

fn is_proc_macro(pkg: &Value) -> bool {
    pkg["targets"].as_array().into_iter().flatten().any(|t| {
        t["kind"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k == "proc-macro")
    }) && !pkg["targets"].as_array().into_iter().flatten().any(|t| {
        t["kind"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k == "lib" || k == "rlib")
    })
}

/// (name, version) → the `checksum` Cargo.lock records for a registry crate.
fn checksums(lock: &str) -> BTreeMap<(String, String), String> {
    let doc: toml::Value = toml::from_str(lock).unwrap_or(toml::Value::Table(Default::default()));
    doc.get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                (
                    p.get("name")?.as_str()?.to_string(),
                    p.get("version")?.as_str()?.to_string(),
                ),
                p.get("checksum")?.as_str()?.to_string(),
            ))
        })
        .collect()
}
