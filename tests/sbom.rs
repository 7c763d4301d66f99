//! The SBOM every artifact carries (`sbom.cdx.json`, and `sbom.spdx.json` with `--sbom spdx`),
//! for every example, from one build each:
//! - it validates with the reference tools (cyclonedx-python-lib's CycloneDX 1.5 validator,
//!   spdx-tools for SPDX 2.3; ci/sbom-tools.sh installs them);
//! - it matches the extracted tree: every listed npm package is at its paths with that name and
//!   version, every package folder in the tree is listed, node, its libraries and the stub carry
//!   their files' SHA-256, the stub lists its Rust crates;
//! - against `cyclonedx-npm --omit dev` on the same example: every package we ship is in its
//!   list, and every one it lists that we leave out is explained by the build's record
//!   (`.watt/sbom-omitted.json`) with a reason the test checks against the app's package.json
//!   files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use watt_e2e::*;

/// Watt's runtime packages, which the stub replaces: the packer's own list.
use watt_pack::pack::WATT_RUNTIME_PACKAGES as WATT_RUNTIME;

fn tools() -> PathBuf {
    repo().join(".cache/tools")
}

fn sbom_python() -> PathBuf {
    let p = tools().join("sbom-py/bin/python");
    assert!(
        p.is_file(),
        "{} missing: run ci/sbom-tools.sh (ci/test.sh runs it)",
        p.display()
    );
    p
}

/// `tests/sbom/validate.py cdx|spdx FILE`: the reference libraries' verdict.
fn validate(kind: &str, file: &Path) {
    let o = Command::new(sbom_python())
        .arg(repo().join("tests/sbom/validate.py"))
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "valid",
        "{kind} SBOM {} does not validate\n{}",
        file.display(),
        text(&o)
    );
}

/// `cyclonedx-npm --omit dev` on the app: (name, version) of every component, nested included.
fn cyclonedx_npm(app: &Path) -> BTreeSet<(String, String)> {
    let bin = tools().join("cdx/node_modules/.bin/cyclonedx-npm");
    assert!(
        bin.exists(),
        "{} missing: run ci/sbom-tools.sh (ci/test.sh runs it)",
        bin.display()
    );
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("npm.cdx.json");
    let path = format!(
        "{}:{}",
        tools().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new(&bin)
        .args([
            "--omit",
            "dev",
            "--spec-version",
            "1.5",
            "--output-format",
            "JSON",
            // `npm ls` flags an installed version outside a declared range (examples/content
            // has one) as an error; the installed tree is still what it lists, and what ships.
            "--ignore-npm-errors",
        ])
        .arg("--output-file")
        .arg(&file)
        .current_dir(app)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(o.status.success(), "cyclonedx-npm failed\n{}", text(&o));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut all = BTreeSet::new();
    let mut stack: Vec<&Value> = doc["components"].as_array().unwrap().iter().collect();
    while let Some(c) = stack.pop() {
        all.insert(key(c));
        stack.extend(c["components"].as_array().into_iter().flatten());
    }
    all
}

/// The `dependencies` graph: every ref is a component, the app depends on node and the stub,
/// and each shipped package depends on what Node would load for each dependency it declares,
/// looked up in the extracted artifact itself (its links followed).
fn check_dependency_graph(bom: &Value, tree: &Path, folders: &BTreeSet<String>) {
    let mut refs = BTreeSet::new();
    let mut stack: Vec<&Value> = bom["components"].as_array().unwrap().iter().collect();
    while let Some(c) = stack.pop() {
        refs.extend(c["bom-ref"].as_str().map(str::to_string));
        stack.extend(c["components"].as_array().into_iter().flatten());
    }
    refs.insert("app".to_string());
    let graph: BTreeMap<String, BTreeSet<String>> = bom["dependencies"]
        .as_array()
        .expect("a dependencies graph")
        .iter()
        .map(|d| {
            let on: BTreeSet<String> = d["dependsOn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (d["ref"].as_str().unwrap().to_string(), on)
        })
        .collect();
    for (from, on) in &graph {
        assert!(refs.contains(from), "{from} is no component");
        let unknown: Vec<_> = on.difference(&refs).collect();
        assert!(unknown.is_empty(), "{from} depends on unknown {unknown:?}");
    }
    assert!(
        graph["app"].contains("file:runtime/lib/node") && graph["app"].contains("file:watt-stub"),
        "{:?}",
        graph["app"]
    );
    // As the SBOM names a package: its package.json name (else its folder's), and version.
    let purl_at = |dir: &Path| {
        let pj = read_json(&dir.join("package.json"));
        let folder = dir.to_string_lossy();
        let folder = folder.rsplit_once("node_modules/").map_or("", |(_, n)| n);
        let name = pj["name"].as_str().unwrap_or(folder).replace('@', "%40");
        match pj["version"].as_str() {
            Some(v) => format!("pkg:npm/{name}@{v}"),
            None => format!("pkg:npm/{name}"),
        }
    };
    let mut edges = 0;
    for folder in folders {
        let dir = tree.join(folder);
        let pj = read_json(&dir.join("package.json"));
        let Some(deps) = pj["dependencies"].as_object() else {
            continue;
        };
        let from = purl_at(&dir);
        let Some(on) = graph.get(&from) else {
            panic!("{from} ({folder}) has no entry in the graph");
        };
        for dep in deps.keys() {
            // Node's lookup from the package's real folder.
            let real = std::fs::canonicalize(&dir).unwrap();
            let found = real
                .ancestors()
                .filter(|a| a.file_name().is_some_and(|n| n != "node_modules"))
                .map(|a| a.join("node_modules").join(dep))
                .find(|c| c.join("package.json").is_file());
            if let Some(found) = found {
                let to = purl_at(&found);
                assert!(
                    on.contains(&to),
                    "{from} ({folder}) loads {to}, missing from {on:?}"
                );
                edges += 1;
            }
        }
    }
    assert!(edges > 0, "no dependency edge checked");
}

/// A CycloneDX component's `@group/name` and version.
fn key(c: &Value) -> (String, String) {
    let name = c["name"].as_str().unwrap();
    let name = match c["group"].as_str() {
        Some(g) if !g.is_empty() => format!("{g}/{name}"),
        _ => name.to_string(),
    };
    (name, c["version"].as_str().unwrap_or("").to_string())
}

fn props<'a>(c: &'a Value, name: &str) -> Vec<&'a str> {
    c["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == name)
        .map(|p| p["value"].as_str().unwrap())
        .collect()
}

fn sha256(file: &Path) -> String {
    let o = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)[..64].to_string()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every `node_modules/<name>` and `node_modules/@scope/<name>` folder holding a package.json,
/// below `dir` (links not followed), relative to `root`.
fn package_folders(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if !p.symlink_metadata().unwrap().is_dir() {
                continue;
            }
            let parent = d
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let grand = d
                .parent()
                .and_then(|g| g.file_name())
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let name = e.file_name().to_string_lossy().into_owned();
            let is_package = p.join("package.json").is_file()
                && ((parent == "node_modules" && !name.starts_with(['@', '.']))
                    || (grand == "node_modules" && parent.starts_with('@')));
            if is_package {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
            stack.push(p);
        }
    }
    out
}

/// The names a service's package.json (every package.json of the app outside node_modules)
/// declares as production dependencies.
fn declared(app: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![app.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name();
            let p = e.path();
            if p.is_dir() && name != "node_modules" && !name.to_string_lossy().starts_with('.') {
                stack.push(p);
            } else if name == "package.json" && d != app {
                let j = read_json(&p);
                for k in ["dependencies", "optionalDependencies"] {
                    if let Some(o) = j[k].as_object() {
                        out.extend(o.keys().cloned());
                    }
                }
            }
        }
    }
    out
}

fn check_example(name: &str) {
    let app = example(name);
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join(format!("{name}.tar.gz"));
    let node = node_bin();
    let started = std::time::Instant::now();
    let o = watt_build(&app, &archive, &["--sbom", "spdx"]);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    eprintln!(
        "watt build examples/{name}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let tree = work.path().join("x");
    extract(&archive, &tree);

    // Beside the manifest, and valid for the reference tools.
    let cdx = tree.join("sbom.cdx.json");
    let spdx = tree.join("sbom.spdx.json");
    assert!(tree.join("watt-manifest.json").is_file());
    validate("cdx", &cdx);
    validate("spdx", &spdx);
    let cdx_text = std::fs::read_to_string(&cdx).unwrap();
    assert!(
        !cdx_text.contains(app.to_str().unwrap()),
        "the SBOM names the build folder"
    );
    let bom: Value = serde_json::from_str(&cdx_text).unwrap();
    assert_eq!(bom["specVersion"], "1.5");
    assert!(
        bom["metadata"].get("timestamp").is_none(),
        "no SOURCE_DATE_EPOCH, no timestamp"
    );
    let components = bom["components"].as_array().unwrap();

    // npm packages: at their paths, as named; and every package folder of the tree is listed.
    let mut listed_folders = BTreeSet::new();
    let mut shipped: BTreeSet<(String, String)> = BTreeSet::new();
    for c in components.iter().filter(|c| {
        c["purl"]
            .as_str()
            .is_some_and(|p| p.starts_with("pkg:npm/"))
    }) {
        let (n, v) = key(c);
        let purl = c["purl"].as_str().unwrap();
        if let Some(scope) = n.strip_prefix('@') {
            assert!(
                purl.starts_with(&format!("pkg:npm/%40{}", scope.split('/').next().unwrap())),
                "{purl}"
            );
        }
        assert!(
            !props(c, "watt:service").is_empty(),
            "no service uses {n}: {c}"
        );
        for p in props(c, "watt:path") {
            let pj = read_json(&tree.join(p).join("package.json"));
            assert_eq!(pj["name"].as_str().unwrap_or(n.as_str()), n, "{p}");
            assert_eq!(pj["version"].as_str().unwrap_or(""), v, "{p}");
            if pj["license"].is_string() {
                assert!(c.get("licenses").is_some(), "{n}: license not carried");
            }
            listed_folders.insert(p.to_string());
        }
        shipped.insert((n, v));
    }
    let in_tree = package_folders(&tree);
    let unlisted: Vec<_> = in_tree.difference(&listed_folders).collect();
    assert!(
        unlisted.is_empty(),
        "package folders in the artifact, not in the SBOM: {unlisted:?}"
    );
    check_dependency_graph(&bom, &tree, &listed_folders);

    // Registry packages carry the lockfile's integrity as a hash.
    let lock = read_json(&app.join("package-lock.json"));
    let with_integrity = lock["packages"]
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["integrity"].is_string())
        .count();
    assert!(with_integrity > 0);
    let hashed = components
        .iter()
        .filter(|c| c["hashes"][0]["alg"] == "SHA-512")
        .count();
    assert!(hashed > 0, "no npm package carries its integrity hash");

    // node, every library in runtime/lib, the stub: by their files' SHA-256.
    let by_path: BTreeMap<&str, &Value> = components
        .iter()
        .flat_map(|c| props(c, "watt:path").into_iter().map(move |p| (p, c)))
        .collect();
    for f in std::fs::read_dir(tree.join("runtime/lib"))
        .unwrap()
        .flatten()
    {
        let rel = format!("runtime/lib/{}", f.file_name().to_string_lossy());
        let c = by_path
            .get(rel.as_str())
            .unwrap_or_else(|| panic!("{rel} not in the SBOM"));
        assert_eq!(c["hashes"][0]["content"], sha256(&f.path()), "{rel}");
        // Each library names the Debian package it was copied from, as scanners match it.
        if rel != "runtime/lib/node" {
            let purl = c["purl"].as_str().unwrap_or_default();
            assert!(purl.starts_with("pkg:deb/debian/"), "{rel}: {c}");
        }
    }
    let libc = by_path["runtime/lib/libc.so.6"];
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libc6"])
        .output()
        .unwrap();
    assert!(installed.status.success(), "dpkg-query -W libc6 failed");
    let version = String::from_utf8(installed.stdout).unwrap();
    assert_eq!(libc["version"], version.as_str(), "{libc}");
    let purl = libc["purl"].as_str().unwrap();
    assert!(
        purl.starts_with(&format!(
            "pkg:deb/debian/libc6@{}?arch=",
            version.replace('+', "%2B").replace(':', "%3A")
        )),
        "{purl}"
    );
    let node_version = String::from_utf8(
        Command::new(&node)
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        by_path["runtime/lib/node"]["version"],
        node_version.trim().trim_start_matches('v')
    );
    let stub = by_path["watt-stub"];
    assert_eq!(
        stub["hashes"][0]["content"],
        sha256(&tree.join("watt-stub"))
    );
    let crates: BTreeSet<&str> = stub["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        crates.contains("hyper") && crates.contains("tokio"),
        "{crates:?}"
    );

    // The cross-check.
    let reference = cyclonedx_npm(&app);
    let missing: Vec<_> = shipped.difference(&reference).collect();
    assert!(
        missing.is_empty(),
        "shipped but not in cyclonedx-npm --omit dev: {missing:?}"
    );
    let omitted: Vec<Value> =
        serde_json::from_value(read_json(&app.join(".watt/sbom-omitted.json"))).unwrap();
    let reasons: BTreeMap<(String, String), &Value> = omitted
        .iter()
        .map(|o| {
            (
                (
                    o["name"].as_str().unwrap().to_string(),
                    o["version"].as_str().unwrap().to_string(),
                ),
                o,
            )
        })
        .collect();
    let declared = declared(&app);
    let services: BTreeMap<String, String> = read_json(&tree.join("watt-manifest.json"))
        ["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["start"]["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (n, v) in reference.difference(&shipped) {
        if n == app.file_name().unwrap().to_str().unwrap() {
            continue;
        }
        let Some(o) = reasons.get(&(n.clone(), v.clone())) else {
            // A workspace package without a version that ships as a service folder.
            panic!("{n}@{v}: listed by cyclonedx-npm, not shipped, and not explained");
        };
        let reason = o["reason"].as_str().unwrap();
        *counts.entry(reason.to_string()).or_default() += 1;
        match reason {
            // Only Watt's own packages lead to it: then no service declares it (unless it is one).
            "watt-runtime" | "unreached" | "root-only" => assert!(
                !declared.contains(n) || WATT_RUNTIME.contains(&n.as_str()),
                "{n}@{v} is declared by a service's package.json, yet `{reason}`: {o}"
            ),
            // Named services ship their framework's output, not node_modules (or, for their
            // own package, not their package.json).
            "framework-output" | "service-output" => {
                for s in o["services"].as_array().unwrap() {
                    let s = s.as_str().unwrap();
                    assert!(services.contains_key(s), "{o}");
                }
            }
            other => panic!("{n}@{v} is left out for `{other}`: {o}"),
        }
    }
    eprintln!(
        "examples/{name}: {} npm packages shipped, {} listed by cyclonedx-npm, left out: {counts:?}",
        shipped.len(),
        reference.len()
    );
}

#[test]
fn api() {
    check_example("api");
}

#[test]
fn content() {
    check_example("content");
}

#[test]
fn fullstack() {
    check_example("fullstack");
}

#[test]
fn remix() {
    check_example("remix");
}
