//! `watt inspect`: the parts of an artifact add up to what extracting it gives, the largest
//! packages match `du` on the extracted tree, and baked env keys show by name only.

use std::path::Path;

use watt_e2e::*;

/// (bytes, regular files) below `dir`, links not followed: what `du -b` counts for files;
/// `nested: false` leaves out `node_modules` folders inside (packages nested in a package,
/// which inspect counts as their own).
fn du(dir: &Path, nested: bool) -> (u64, u64) {
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

fn inspect_json(archive: &Path) -> serde_json::Value {
    let o = watt(&["inspect", "--json", archive.to_str().unwrap()], &repo());
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn parts_add_up_and_the_largest_packages_match_du() {
    let archive = built_example("api");
    let report = inspect_json(&archive);
    let work = tempfile::tempdir().unwrap();
    extract(&archive, work.path());
    let (bytes, files) = du(work.path(), true);
    assert_eq!(report["totalBytes"], bytes);
    assert_eq!(report["totalFiles"], files);
    let parts = report["parts"].as_array().unwrap();
    let sum = |k: &str| parts.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("bytes"), bytes, "{parts:?}");
    assert_eq!(sum("files"), files, "{parts:?}");
    for id in ["front", "catalog", "clock"] {
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
    // Built without --dotenv: nothing baked, but where the stub reads env files is shown.
    assert_eq!(report["bakedEnvKeys"], serde_json::json!({}));
    assert_eq!(report["envFiles"]["runtime"], "app/.env");
}

#[test]
fn baked_env_keys_show_by_name_only() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_tree(&repo().join("tests/fixtures/secrets"), &app, "022");
    let archive = work.path().join("s.tar.gz");
    let node = node_bin();
    let o = watt(
        &[
            "build",
            app.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
            "--node",
            node.to_str().unwrap(),
            "--dotenv",
        ],
        &app,
    );
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
