//! The artifact layout with the bundled dynamic loader: node runs as
//! `ld-linux --library-path runtime/lib runtime/lib/node`, and `runtime/bin/node` (a link to the
//! stub) is both `process.execPath` and the `node` on the services' PATH.

mod common;

use std::path::Path;
use std::process::Command;

use common::{node, App};
use serde_json::{json, Value};

/// Copy node, the libraries `ldd` lists and the loader into `<root>/runtime/lib`; returns the
/// loader's file name.
fn bundle_node(root: &Path) -> String {
    let lib = root.join("runtime/lib");
    std::fs::create_dir_all(&lib).expect("mkdir");
    let node = node();
    std::fs::copy(&node, lib.join("node")).expect("copy node");
    let out = Command::new("ldd")
        .arg(&node)
        .output()
        .expect("ldd must be installed");
    assert!(out.status.success(), "ldd {}", node.display());
    let mut loader = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        let file = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|f| f.starts_with('/')),
        };
        let Some(file) = file.filter(|f| f.starts_with('/')) else {
            continue;
        };
        let name = Path::new(file)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        std::fs::copy(file, lib.join(&name)).expect("copy library");
        if name.starts_with("ld-linux") {
            loader = Some(name);
        }
    }
    loader.expect("ldd names no dynamic loader")
}

#[test]
fn node_through_the_bundled_loader_and_the_shim() {
    let mut app = App::new("forker");
    let root = app.root().to_path_buf();
    let loader = bundle_node(&root);
    std::fs::copy(common::STUB, root.join("watt-stub")).expect("copy stub");
    std::fs::create_dir_all(root.join("runtime/bin")).expect("mkdir");
    std::os::unix::fs::symlink("../../watt-stub", root.join("runtime/bin/node")).expect("link");
    app.manifest["node"] = json!({
        "binary": "runtime/lib/node",
        "loader": format!("runtime/lib/{loader}"),
        "libraryPath": "runtime/lib",
        "shim": "runtime/bin/node",
        "version": "v24"
    });
    app.file(
        "app/forker/child.js",
        "process.send({ execPath: process.execPath, version: process.version, exe: require('fs').readlinkSync('/proc/self/exe') }, () => process.exit(0))\n",
    );
    app.node_service(
        "forker",
        "index.js",
        r#"
const { fork, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
require('node:http').createServer((req, res) => {
  const child = fork(path.join(__dirname, 'child.js'))
  child.on('error', (e) => res.end(JSON.stringify({ error: String(e) })))
  child.on('message', (forked) => res.end(JSON.stringify({
    execPath: process.execPath,
    exe: fs.readlinkSync('/proc/self/exe'),
    argv0: process.argv0,
    forked,
    onPath: process.env.PATH.split(':').map((d) => path.join(d, 'node')).find((p) => fs.existsSync(p)),
    viaPath: execFileSync('node', ['-p', 'process.execPath']).toString().trim()
  })))
}).listen()
"#,
    );
    app.write_manifest();

    // The shim alone.
    let shim = root.join("runtime/bin/node");
    let out = Command::new(&shim)
        .args(["-p", "process.version"])
        .output()
        .expect("run the shim");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(version.starts_with('v'), "shim: {out:?}");

    // The stub copy next to the manifest finds it without --manifest.
    let port = common::free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.env("PORT", port.to_string());
    let mut run = app.spawn(cmd, &[], port);
    run.ready();
    let got: Value = serde_json::from_str(&run.body("/")).expect("json");
    let shim = shim.to_string_lossy();
    assert_eq!(got["execPath"], *shim, "{got}");
    assert_eq!(got["argv0"], "node", "{got}");
    // The bundled loader really runs node, in the service and in its fork.
    let loader_path = root.join("runtime/lib").join(&loader);
    let loader_path = loader_path.to_string_lossy();
    assert_eq!(got["exe"], *loader_path, "{got}");
    assert_eq!(got["forked"]["exe"], *loader_path, "{got}");
    assert_eq!(
        got["forked"]["execPath"], *shim,
        "fork did not run through the shim: {got}"
    );
    assert_eq!(got["forked"]["version"], version.as_str(), "{got}");
    assert_eq!(got["onPath"], *shim, "{got}");
    assert_eq!(got["viaPath"], *shim, "{got}");
}
