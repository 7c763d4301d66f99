//! A native addon must load in the node the artifact carries. The fixture app
//! (`tests/fixtures/native-addon`) loads `tiny-addon`, whose `tiny.node` the test compiles with
//! `cc` the way node-gyp would for some node: for another NODE_MODULE_VERSION the build fails
//! and writes nothing; for the bundled node's, or as an N-API addon, it builds, boots and answers.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use watt_e2e::*;

/// The bundled node's NODE_MODULE_VERSION.
fn modules() -> u32 {
    let o = Command::new(node_bin())
        .args(["-p", "process.versions.modules"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// A copy of the fixture with `tiny-addon` installed in its `node_modules`, its addon
/// compiled with `defines` (`-DABI=115`, or none for N-API).
fn app_with_addon(work: &Path, defines: &[&str]) -> std::path::PathBuf {
    let app = work.join("app");
    copy_sources(&repo().join("tests/fixtures/native-addon"), &app);
    let pkg = app.join("node_modules/tiny-addon");
    copy_tree(&app.join("packages/tiny-addon"), &pkg, "022");
    std::fs::create_dir_all(pkg.join("build/Release")).unwrap();
    let o = Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-o",
            "build/Release/tiny.node",
            "tiny.c",
        ])
        .args(defines)
        .current_dir(&pkg)
        .output()
        .expect("run cc (ci/setup.sh installs gcc)");
    assert!(o.status.success(), "cc failed: {}", text(&o));
    app
}

fn boot_and_get(archive: &Path, into: &Path) -> serde_json::Value {
    extract(archive, into);
    let port = free_port();
    let mut cmd = Command::new(into.join("watt-stub"));
    cmd.current_dir(into)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string());
    let mut stub = Running::start(cmd);
    let url = format!("http://127.0.0.1:{port}/");
    stub.wait_ready(&url, Duration::from_secs(60));
    let (status, body) = get(&url);
    assert_eq!(status, 200, "{body}\n{}", stub.logs());
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn an_addon_built_for_another_node_fails_the_build_naming_file_abi_and_fix() {
    let work = tempfile::tempdir().unwrap();
    let app = app_with_addon(work.path(), &["-DABI=115"]);
    // What the artifact would do at boot: the bundled node refuses the file.
    let o = Command::new(node_bin())
        .args(["-e", "require('tiny-addon')"])
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("ERR_DLOPEN_FAILED"),
        "node loaded an addon for ABI 115\n{}",
        text(&o)
    );

    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let archive = out.join("app.tar.zst");
    let o = watt_build(&app, &archive, &[]);
    assert!(!o.status.success(), "the build passed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for part in [
        "app/node_modules/tiny-addon/build/Release/tiny.node",
        "(shipped by dependencies of api)",
        "NODE_MODULE_VERSION 115 (Node 20)",
        &format!("needs {}", modules()),
        "`npm rebuild tiny-addon` with the node that will be bundled",
        "--node PATH",
    ] {
        assert!(stderr.contains(part), "no {part:?} in\n{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "wrote an artifact or a partial file"
    );
}

#[test]
fn an_addon_for_the_bundled_node_or_n_api_builds_and_boots() {
    let work = tempfile::tempdir().unwrap();
    let abi = format!("-DABI={}", modules());
    let app = app_with_addon(work.path(), &[&abi]);
    let archive = work.path().join("legacy.tar.zst");
    build_archive(&app, &archive);
    let answer = boot_and_get(&archive, &work.path().join("legacy"));
    assert_eq!(answer, serde_json::json!({ "addon": "loaded" }));

    let work = tempfile::tempdir().unwrap();
    let app = app_with_addon(work.path(), &[]);
    let archive = work.path().join("napi.tar.zst");
    build_archive(&app, &archive);
    let answer = boot_and_get(&archive, &work.path().join("napi"));
    assert_eq!(answer, serde_json::json!({ "addon": "from n-api" }));
}
