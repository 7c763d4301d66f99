//! Production closure against real npm and pnpm installs: the closure is copied into a fresh
//! folder the way the packer copies it, and Node must boot the service from the copy.
//!
//! Needs `npm`, `pnpm` and `node` on PATH (`. ci/setup.sh`); fails when they are missing.
//! Each installed fixture is built once per run under Cargo's target tmp dir and shared.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use watt_pack::closure::{production_closure, Closure, ClosureError, ClosureRequest};

// ---------------------------------------------------------------------------------------------
// Fixtures

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("closure-fixtures")
}

/// An empty folder for fixture `name`, canonical (the closure wants canonical paths).
fn fresh_dir(name: &str) -> PathBuf {
    let dir = fixtures_dir().join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    fs::canonicalize(&dir).unwrap()
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn tool(name: &str) -> Command {
    if let Err(e) = Command::new(name).arg("--version").output() {
        panic!(
            "`{name}` is needed by these tests but cannot be run ({e}): source ci/setup.sh to put \
             node 24, npm and pnpm on PATH"
        );
    }
    let mut cmd = Command::new(name);
    cmd.env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn install(tool_name: &str, dir: &Path, what: &str) {
    let started = Instant::now();
    let mut cmd = tool(tool_name);
    // Package managers change behaviour under CI=true (pnpm turns its global virtual store
    // off): fixtures must be the same layouts on a laptop and in CI.
    cmd.arg("install").current_dir(dir).env_remove("CI");
    if tool_name == "npm" {
        cmd.args(["--no-audit", "--no-fund", "--loglevel=error"]);
    }
    run(&mut cmd);
    eprintln!(
        "{what}: `{tool_name} install` took {:.1?}",
        started.elapsed()
    );
}

/// The service's runtime dependencies that must be importable from the copy, and the ones that
/// must not be there.
const SERVICE_IMPORTS: &[&str] = &[
    "@app/shared",
    "debug",
    "express",
    "ajv-keywords",
    "ws",
    "picocolors",
];
/// Never installed for production: the devDependency and the macOS-only optional dependency.
const SERVICE_ABSENT: &[&str] = &["is-number", "supports-color", "fsevents"];
/// Installed, but pnpm keeps them out of the service's sight; the copy must too.
const SERVICE_ABSENT_PNPM: &[&str] = &[
    "is-number",
    "supports-color",
    "fsevents",
    "ajv",
    "semver",
    "ms",
];

/// A Watt-like monorepo: service `web/api` depending on workspace package `@app/shared` and on
/// registry packages with real trees (express), a peer (ajv-keywords → ajv), optional peers that
/// are not installed (ws → bufferutil), an optional dependency that cannot install on Linux
/// (fsevents) and one that can (picocolors), plus devDependencies that must stay out: is-number,
/// and supports-color, which debug lists as an optional peer.
/// `@app/shared` wants ms 2.0.0 while debug wants ms ^2.1.3, so one of them gets a nested copy.
fn write_monorepo(root: &Path, workspace_protocol: &str) {
    write(
        &root.join("packages/shared/package.json"),
        r#"{ "name": "@app/shared", "version": "1.0.0", "main": "index.js",
             "dependencies": { "ms": "2.0.0", "semver": "^7.6.0" } }"#,
    );
    write(
        &root.join("packages/shared/index.js"),
        r#"const ms = require('ms');
const semver = require('semver');
module.exports = {
  twoSeconds: ms('2s'),
  msVersion: require('ms/package.json').version,
  semverOk: semver.satisfies('1.2.3', '^1.0.0'),
};
"#,
    );
    write(
        &root.join("web/api/package.json"),
        &format!(
            r#"{{ "name": "api", "version": "1.0.0", "private": true, "main": "index.js",
  "dependencies": {{
    "@app/shared": "{workspace_protocol}",
    "debug": "^4.4.0",
    "express": "^5.1.0",
    "ajv-keywords": "^5.1.0",
    "ws": "^8.18.0"
  }},
  "optionalDependencies": {{ "fsevents": "^2.3.3", "picocolors": "^1.1.0" }},
  "devDependencies": {{ "is-number": "^7.0.0", "supports-color": "^10.0.0" }}
}}"#
        ),
    );
    write(
        &root.join("web/api/index.js"),
        r#"const shared = require('@app/shared');
const log = require('debug')('api');
const express = require('express');
const ajvKeywords = require('ajv-keywords');
const { WebSocketServer } = require('ws');
const pc = require('picocolors');

if (shared.msVersion !== '2.0.0') throw new Error('@app/shared got ms ' + shared.msVersion);
if (shared.twoSeconds !== 2000 || !shared.semverOk) throw new Error('@app/shared is broken');
if (typeof ajvKeywords !== 'function') throw new Error('ajv-keywords is broken');
log('starting');

const app = express();
app.get('/', (req, res) => res.json({ ok: true, color: pc.green('ok') }));
const server = app.listen(0, '127.0.0.1', async () => {
  const wss = new WebSocketServer({ noServer: true });
  const res = await fetch(`http://127.0.0.1:${server.address().port}/`);
  const body = await res.json();
  wss.close();
  server.close();
  if (!body.ok) throw new Error('bad response');
  console.log('api ok');
});
"#,
    );
    write(
        &root.join("web/api/peer.cjs"),
        r#"const { createRequire } = require('node:module');
const fromDebug = createRequire(require.resolve('debug'));
let found = null;
try { found = fromDebug.resolve('supports-color'); } catch (e) { if (e.code !== 'MODULE_NOT_FOUND') throw e; }
console.log(found ? 'debug sees supports-color' : 'debug does not see supports-color');
"#,
    );
    write(
        &root.join("web/api/check.mjs"),
        r#"import { createRequire } from 'node:module';
const split = (s) => (s || '').split(',').filter(Boolean);
for (const name of split(process.argv[2])) await import(name);
const require = createRequire(import.meta.url);
for (const name of split(process.argv[3])) {
  let found = null;
  try { found = require.resolve(name); } catch (e) { if (e.code !== 'MODULE_NOT_FOUND') throw e; }
  if (found) { console.error(`${name} should be absent, found ${found}`); process.exit(1); }
}
console.log('imports ok');
"#,
    );
}

fn npm_workspace() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = fresh_dir("npm");
        write(
            &root.join("package.json"),
            r#"{ "name": "closure-npm", "private": true, "workspaces": ["web/*", "packages/*"] }"#,
        );
        write_monorepo(&root, "*");
        install("npm", &root, "npm workspaces fixture");
        root
    })
}

fn pnpm_workspace() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = fresh_dir("pnpm");
        write(
            &root.join("package.json"),
            r#"{ "name": "closure-pnpm", "private": true }"#,
        );
        write(
            &root.join("pnpm-workspace.yaml"),
            "packages:\n  - 'web/*'\n  - 'packages/*'\n",
        );
        write_monorepo(&root, "workspace:*");
        install("pnpm", &root, "pnpm workspace fixture");
        root
    })
}

/// The same monorepo under pnpm's global virtual store: every registry package is a link to a
/// store outside the app root (`store/`, next to `app/`), with its dependencies as siblings there.
fn pnpm_global_store() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = fresh_dir("pnpm-global-store");
        let root = base.join("app");
        write(
            &root.join("package.json"),
            r#"{ "name": "closure-gvs", "private": true }"#,
        );
        write(
            &root.join("pnpm-workspace.yaml"),
            "packages:\n  - 'web/*'\n  - 'packages/*'\n",
        );
        write(
            &root.join(".npmrc"),
            "enable-global-virtual-store=true\nstore-dir=../store\n",
        );
        write_monorepo(&root, "workspace:*");
        install("pnpm", &root, "pnpm global virtual store fixture");
        root
    })
}

/// `app/` with packages linked from `outside/`: `ext` (npm `file:` link, relative, whose own
/// dependency ms 2.0.0 is installed in `outside/ext/node_modules`), `ext2` (absolute link) and
/// `unused` (absolute link nobody needs).
struct Outside {
    app: PathBuf,
    outside: PathBuf,
}

fn outside_links() -> &'static Outside {
    static DIR: OnceLock<Outside> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = fresh_dir("outside");
        let outside = base.join("outside");
        let app = base.join("app");
        write(
            &outside.join("ext/package.json"),
            r#"{ "name": "ext", "version": "1.0.0", "main": "index.js",
                 "dependencies": { "ms": "2.0.0" } }"#,
        );
        write(
            &outside.join("ext/index.js"),
            "module.exports = { oneSecond: require('ms')('1s'), \
             msVersion: require('ms/package.json').version };\n",
        );
        install("npm", &outside.join("ext"), "outside fixture (linked package)");
        write(
            &outside.join("ext2/package.json"),
            r#"{ "name": "ext2", "version": "2.0.0", "main": "index.js" }"#,
        );
        write(&outside.join("ext2/index.js"), "module.exports = 'ext2';\n");
        write(&outside.join("unused/package.json"), r#"{ "name": "unused", "version": "1.0.0" }"#);
        write(&outside.join("unused/index.js"), "module.exports = 'unused';\n");

        write(&app.join("package.json"), r#"{ "name": "app", "private": true, "workspaces": ["svc"] }"#);
        write(
            &app.join("svc/package.json"),
            r#"{ "name": "svc", "version": "1.0.0", "private": true,
                 "dependencies": { "ext": "file:../../outside/ext", "debug": "^4.4.0" } }"#,
        );
        install("npm", &app, "outside fixture (app)");
        // Added after installing: npm would not know what to fetch for them.
        std::os::unix::fs::symlink(outside.join("ext2"), app.join("node_modules/ext2")).unwrap();
        std::os::unix::fs::symlink(outside.join("unused"), app.join("node_modules/unused")).unwrap();
        write(
            &app.join("svc/package.json"),
            r#"{ "name": "svc", "version": "1.0.0", "private": true,
                 "dependencies": { "ext": "file:../../outside/ext", "ext2": "*", "debug": "^4.4.0" } }"#,
        );
        write(
            &app.join("svc/index.js"),
            r#"const ext = require('ext');
if (ext.oneSecond !== 1000 || ext.msVersion !== '2.0.0') throw new Error('ext: ' + JSON.stringify(ext));
if (require('ext2') !== 'ext2') throw new Error('ext2');
if (require('ms/package.json').version === '2.0.0') throw new Error('svc sees ext\'s ms');
require('debug')('svc')('hi');
console.log('svc ok');
"#,
        );
        Outside { app, outside }
    })
}

/// The app root is a folder of a larger npm workspace: its dependencies are hoisted to the
/// enclosing workspace's `node_modules`, above the app root. `mono/app` is the app root.
fn enclosing_workspace() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mono = fresh_dir("enclosing");
        write(
            &mono.join("package.json"),
            r#"{ "name": "mono", "private": true, "workspaces": ["app/web/*", "app/packages/*"] }"#,
        );
        write(
            &mono.join("app/packages/lib/package.json"),
            r#"{ "name": "@mono/lib", "version": "1.0.0", "main": "index.js",
                 "dependencies": { "semver": "^7.6.0" } }"#,
        );
        write(
            &mono.join("app/packages/lib/index.js"),
            "module.exports = require('semver').valid('1.2.3');\n",
        );
        write(
            &mono.join("app/web/svc/package.json"),
            r#"{ "name": "svc", "version": "1.0.0", "private": true,
                 "dependencies": { "@mono/lib": "*", "debug": "^4.4.0" },
                 "devDependencies": { "is-number": "^7.0.0" } }"#,
        );
        write(
            &mono.join("app/web/svc/index.js"),
            r#"if (require('@mono/lib') !== '1.2.3') throw new Error('lib');
require('debug')('svc')('hi');
console.log('svc ok');
"#,
        );
        install("npm", &mono, "enclosing workspace fixture");
        mono.join("app")
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn closure(
    root: &Path,
    service: &str,
    extra: &[&str],
    exclude: &[&str],
) -> Result<Closure, ClosureError> {
    let service_dir = root.join(service);
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
    production_closure(&ClosureRequest {
        root,
        service_dir: &service_dir,
        extra: &extra,
        exclude: &exclude,
        imported: &[],
    })
}

fn names(c: &Closure) -> Vec<&str> {
    let mut names: Vec<&str> = c.packages.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    names.dedup();
    names
}

/// Copies a closure the way the packer does (see the contract on `watt_pack::closure`), plus the
/// service's own files, into a fresh folder.
fn materialise(c: &Closure, root: &Path, service: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    for p in &c.packages {
        copy_tree(&p.source, &out.path().join(&p.dest)).unwrap();
    }
    for l in &c.links {
        let at = out.path().join(&l.path);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&l.target, &at)
            .unwrap_or_else(|e| panic!("link {} -> {}: {e}", l.path.display(), l.target.display()));
    }
    copy_tree(&root.join(service), &out.path().join(service)).unwrap();
    out
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let kind = entry.file_type()?;
        let dest = to.join(&name);
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &dest)?;
        } else if kind.is_dir() {
            if name != "node_modules" {
                copy_tree(&entry.path(), &dest)?;
            }
        } else {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

fn node_in(dir: &Path, args: &[&str]) -> String {
    let mut cmd = tool("node");
    cmd.args(args).current_dir(dir).env("DEBUG", "");
    String::from_utf8_lossy(&run(&mut cmd).stdout).into_owned()
}

fn assert_boots_monorepo(c: &Closure, root: &Path, absent: &[&str]) {
    let out = materialise(c, root, "web/api");
    let api = out.path().join("web/api");
    assert!(node_in(&api, &["index.js"]).contains("api ok"));
    let out_text = node_in(
        &api,
        &["check.mjs", &SERVICE_IMPORTS.join(","), &absent.join(",")],
    );
    assert!(out_text.contains("imports ok"), "{out_text}");
    let peer = node_in(&api, &["peer.cjs"]);
    assert!(peer.contains("debug does not see supports-color"), "{peer}");
    // Nothing of the dev tree leaked in, under any name or path.
    for dev in ["is-number", "supports-color"] {
        assert!(!names(c).contains(&dev), "{dev}: {:#?}", c.packages);
        assert!(
            c.links.iter().all(|l| !l.path.ends_with(dev)),
            "{dev}: {:#?}",
            c.links
        );
    }
}

fn assert_sorted_and_unique(c: &Closure) {
    assert!(
        c.packages.windows(2).all(|w| w[0].dest < w[1].dest),
        "packages not sorted/unique"
    );
    assert!(
        c.links.windows(2).all(|w| w[0].path < w[1].path),
        "links not sorted/unique"
    );
}

fn dests(c: &Closure) -> Vec<String> {
    c.packages
        .iter()
        .map(|p| p.dest.display().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// npm workspaces

#[test]
fn npm_workspace_closure_boots_from_a_copy() {
    let root = npm_workspace();
    let c = closure(root, "web/api", &[], &[]).unwrap();
    assert_sorted_and_unique(&c);
    for p in &c.packages {
        assert_eq!(
            p.source,
            root.join(&p.dest),
            "{p:?}: npm installs are all inside root"
        );
    }
    let names = names(&c);
    assert_runtime_dependencies_shipped(&names);
    for absent in ["is-number", "fsevents", "bufferutil", "utf-8-validate"] {
        assert!(!names.contains(&absent), "{absent} shipped: {names:?}");
    }
    // The workspace package ships from its real folder and stays linked.
    assert!(
        dests(&c).contains(&"packages/shared".to_owned()),
        "{:?}",
        dests(&c)
    );
    let link = c
        .links
        .iter()
        .find(|l| l.path == Path::new("node_modules/@app/shared"))
        .expect("workspace link");
    assert_eq!(link.target, Path::new("../../packages/shared"));
    // Both ms versions ship, wherever npm put them (today: 2.0.0 hoisted, 2.1.3 nested under
    // debug and under send), and every copy npm made that is needed.
    let mut ms: Vec<_> = c
        .packages
        .iter()
        .filter(|p| p.name == "ms")
        .map(|p| p.version.clone().unwrap())
        .collect();
    ms.sort();
    ms.dedup();
    assert_eq!(ms.len(), 2, "{ms:?}");
    assert!(
        ms.contains(&"2.0.0".to_owned()) && ms.iter().any(|v| v.starts_with("2.1.")),
        "{ms:?}"
    );
    assert_boots_monorepo(&c, root, SERVICE_ABSENT);
}

#[test]
fn npm_closure_is_deterministic() {
    let root = npm_workspace();
    let a = closure(root, "web/api", &[], &[]).unwrap();
    let b = closure(root, "web/api", &[], &[]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn excluded_packages_are_neither_shipped_nor_walked() {
    let root = npm_workspace();
    let c = closure(root, "web/api", &[], &["express"]).unwrap();
    let names = names(&c);
    // body-parser, router, … are only reached through express.
    for absent in ["express", "body-parser", "router", "serve-static"] {
        assert!(!names.contains(&absent), "{absent} shipped: {names:?}");
    }
    assert!(
        names.contains(&"debug") && names.contains(&"ws"),
        "{names:?}"
    );
}

#[test]
fn extras_are_roots_and_missing_extras_are_errors() {
    let root = npm_workspace();
    // is-number is installed (as a devDependency): asking for it ships it.
    let c = closure(root, "web/api", &["is-number"], &[]).unwrap();
    assert!(names(&c).contains(&"is-number"));
    // Extras win over excludes: a capability run through its own package (`@platformatic/db`)
    // asks for it although it is one of Watt's runtime packages.
    let c = closure(root, "web/api", &["is-number"], &["is-number"]).unwrap();
    assert!(names(&c).contains(&"is-number"));

    let err = closure(root, "web/api", &["no-such-package-for-watt-pack"], &[]).unwrap_err();
    assert!(matches!(err, ClosureError::MissingExtra { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("no-such-package-for-watt-pack") && msg.contains("web/api"),
        "{msg}"
    );
    assert!(msg.contains("npm install"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// pnpm

#[test]
fn pnpm_workspace_closure_keeps_links_and_boots_from_a_copy() {
    let root = pnpm_workspace();
    let c = closure(root, "web/api", &[], &[]).unwrap();
    assert_sorted_and_unique(&c);
    let names = names(&c);
    assert_runtime_dependencies_shipped(&names);
    for absent in ["is-number", "fsevents"] {
        assert!(!names.contains(&absent), "{absent} shipped: {names:?}");
    }
    // Registry packages ship from the virtual store, where they really are.
    for p in &c.packages {
        assert_eq!(p.source, root.join(&p.dest), "{p:?}");
        if p.name != "@app/shared" {
            assert!(p.dest.starts_with("node_modules/.pnpm"), "{p:?}");
        }
    }
    // The service's own entries and the store's sibling entries are links, kept as links.
    let link = |path: &str| c.links.iter().find(|l| l.path == Path::new(path));
    let debug = link("web/api/node_modules/debug").expect("web/api/node_modules/debug link");
    assert!(
        debug.target.starts_with("../../../node_modules/.pnpm"),
        "{debug:?}"
    );
    let shared = link("web/api/node_modules/@app/shared").expect("workspace link");
    assert_eq!(shared.target, Path::new("../../../../packages/shared"));
    assert!(
        c.links
            .iter()
            .any(|l| l.path.starts_with("node_modules/.pnpm")
                && l.path.ends_with("node_modules/ajv")),
        "the peer ajv is linked next to ajv-keywords: {:#?}",
        c.links
    );

    let out = materialise(&c, root, "web/api");
    for l in &c.links {
        let meta = fs::symlink_metadata(out.path().join(&l.path)).unwrap();
        assert!(
            meta.is_symlink(),
            "{} is no longer a symlink",
            l.path.display()
        );
        // Every link resolves inside the copy.
        let real = fs::canonicalize(out.path().join(&l.path)).unwrap();
        assert!(
            real.starts_with(fs::canonicalize(out.path()).unwrap()),
            "{l:?}"
        );
    }
    drop(out);
    assert_boots_monorepo(&c, root, SERVICE_ABSENT_PNPM);
}

#[test]
fn pnpm_closure_is_deterministic() {
    let root = pnpm_workspace();
    assert_eq!(
        closure(root, "web/api", &[], &[]).unwrap(),
        closure(root, "web/api", &[], &[]).unwrap()
    );
}

#[test]
fn pnpm_global_virtual_store_is_copied_in_and_boots() {
    let root = pnpm_global_store();
    let store = root.parent().unwrap().join("store");
    let c = closure(root, "web/api", &[], &[]).unwrap();
    assert_sorted_and_unique(&c);
    // The setting took: the service's packages really are links out of root.
    let debug = fs::canonicalize(root.join("web/api/node_modules/debug")).unwrap();
    assert!(debug.starts_with(&store), "{}", debug.display());

    let names = names(&c);
    for expected in [
        "@app/shared",
        "debug",
        "ms",
        "express",
        "ajv-keywords",
        "ajv",
        "ws",
        "semver",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for p in &c.packages {
        if p.name == "@app/shared" {
            assert_eq!(p.dest, Path::new("packages/shared"));
        } else {
            assert!(p.source.starts_with(&store), "{p:?}");
        }
    }
    // Only the workspace link stays a link; the store is copied in.
    let links: Vec<_> = c.links.iter().map(|l| l.path.to_str().unwrap()).collect();
    assert_eq!(links, ["web/api/node_modules/@app/shared"]);
    // Where the disk puts a dependency of a package inside root, so does the artifact.
    let ms = c
        .packages
        .iter()
        .find(|p| p.dest == Path::new("packages/shared/node_modules/ms"));
    assert_eq!(
        ms.and_then(|p| p.version.as_deref()),
        Some("2.0.0"),
        "{:#?}",
        c.packages
    );
    assert_boots_monorepo(&c, root, SERVICE_ABSENT);
}

// ---------------------------------------------------------------------------------------------
// Outside root

#[test]
fn links_leaving_root_are_copied_in_as_real_files() {
    let fx = outside_links();
    let c = closure(&fx.app, "svc", &[], &[]).unwrap();
    assert_sorted_and_unique(&c);
    let by_dest = |d: &str| c.packages.iter().find(|p| p.dest == Path::new(d));
    let ext = by_dest("node_modules/ext").expect("ext copied at its link's place");
    assert_eq!(ext.source, fx.outside.join("ext"));
    let ext2 = by_dest("node_modules/ext2").expect("ext2 copied at its link's place");
    assert_eq!(ext2.source, fx.outside.join("ext2"));
    // ext's own ms (2.0.0) cannot take node_modules/ms, which holds debug's 2.1.x: nested.
    let ms = by_dest("node_modules/ext/node_modules/ms").expect("ext's ms nested under it");
    assert_eq!(ms.version.as_deref(), Some("2.0.0"));
    assert_eq!(ms.source, fx.outside.join("ext/node_modules/ms"));
    assert!(by_dest("node_modules/ms").is_some_and(|p| p.version.as_deref() != Some("2.0.0")));
    // Nothing of the outside is linked, and the unneeded outside link is not shipped.
    assert!(
        c.links
            .iter()
            .all(|l| !l.path.starts_with("node_modules/ext") && !l.path.ends_with("unused")),
        "{:#?}",
        c.links
    );
    assert!(!names(&c).contains(&"unused"));

    let out = materialise(&c, &fx.app, "svc");
    for d in ["node_modules/ext", "node_modules/ext2"] {
        assert!(
            fs::symlink_metadata(out.path().join(d)).unwrap().is_dir(),
            "{d} is real files"
        );
    }
    assert!(node_in(&out.path().join("svc"), &["index.js"]).contains("svc ok"));
}

#[test]
fn packages_hoisted_above_root_are_copied_into_root_node_modules() {
    let app = enclosing_workspace();
    let mono = app.parent().unwrap();
    let c = closure(app, "web/svc", &[], &[]).unwrap();
    assert_sorted_and_unique(&c);
    let by_dest = |d: &str| c.packages.iter().find(|p| p.dest == Path::new(d));
    for name in ["debug", "ms", "semver"] {
        let p = by_dest(&format!("node_modules/{name}"))
            .unwrap_or_else(|| panic!("{name}: {:#?}", c.packages));
        assert_eq!(p.source, mono.join("node_modules").join(name));
    }
    // The workspace package lives inside root: shipped in place, linked from root/node_modules.
    assert_eq!(
        by_dest("packages/lib").map(|p| p.source.clone()),
        Some(app.join("packages/lib"))
    );
    assert_eq!(
        c.links
            .iter()
            .map(|l| (l.path.to_str().unwrap(), l.target.to_str().unwrap()))
            .collect::<Vec<_>>(),
        [("node_modules/@mono/lib", "../../packages/lib")]
    );
    assert!(!names(&c).contains(&"is-number"));
    let out = materialise(&c, app, "web/svc");
    assert!(node_in(&out.path().join("web/svc"), &["index.js"]).contains("svc ok"));
}

/// Two services of an app whose packages are hoisted above its root, one needing `dep@2`
/// (hoisted) and one needing `req`, whose `dep@1` the install nested under it: each service's
/// closure puts every package where the disk has it, so the two agree on
/// `node_modules/dep` and pack together (they once both claimed it).
#[test]
fn packages_nested_above_root_stay_nested_so_services_agree() {
    let mono = fresh_dir("nested-above");
    let app = mono.join("app");
    package(
        &mono.join("node_modules/dep"),
        r#"{ "name": "dep", "version": "2.0.0" }"#,
        "module.exports = 2;",
    );
    package(
        &mono.join("node_modules/req"),
        r#"{ "name": "req", "version": "1.0.0", "dependencies": { "dep": "1", "helper": "1" } }"#,
        "module.exports = require('dep') * 10 + require('helper');",
    );
    // The nested `dep` needs `helper@1`, nested beside it under `req` (above `dep`, below `req`).
    package(
        &mono.join("node_modules/req/node_modules/dep"),
        r#"{ "name": "dep", "version": "1.0.0", "dependencies": { "helper": "1" } }"#,
        "module.exports = require('helper') === 3 ? 1 : -1;",
    );
    package(
        &mono.join("node_modules/req/node_modules/helper"),
        r#"{ "name": "helper", "version": "1.0.0" }"#,
        "module.exports = 3;",
    );
    package(
        &mono.join("node_modules/helper"),
        r#"{ "name": "helper", "version": "9.0.0" }"#,
        "module.exports = 9;",
    );
    write(
        &app.join("a/package.json"),
        r#"{ "dependencies": { "req": "1" } }"#,
    );
    write(
        &app.join("a/index.js"),
        "console.log('a', require('req'));\n",
    );
    write(
        &app.join("b/package.json"),
        r#"{ "dependencies": { "dep": "2", "helper": "9" } }"#,
    );
    write(
        &app.join("b/index.js"),
        "console.log('b', require('dep'), require('helper'));\n",
    );

    let a = closure(&app, "a", &[], &[]).unwrap();
    let b = closure(&app, "b", &[], &[]).unwrap();
    assert_sorted_and_unique(&a);
    assert_eq!(
        dests(&a),
        [
            "node_modules/req",
            "node_modules/req/node_modules/dep",
            "node_modules/req/node_modules/helper"
        ]
    );
    assert_eq!(dests(&b), ["node_modules/dep", "node_modules/helper"]);
    // Packed together, as pack.rs merges them: no path holds two folders.
    for p in &a.packages {
        if let Some(q) = b.packages.iter().find(|q| q.dest == p.dest) {
            assert_eq!(p.source, q.source, "{}", p.dest.display());
        }
    }
    let out = tempfile::tempdir().unwrap();
    for p in a.packages.iter().chain(&b.packages) {
        copy_tree(&p.source, &out.path().join(&p.dest)).unwrap();
    }
    for svc in ["a", "b"] {
        copy_tree(&app.join(svc), &out.path().join(svc)).unwrap();
    }
    assert_eq!(node_in(&out.path().join("a"), &["index.js"]).trim(), "a 13");
    assert_eq!(
        node_in(&out.path().join("b"), &["index.js"]).trim(),
        "b 2 9"
    );
}

// ---------------------------------------------------------------------------------------------
// Hand-made trees (no install): errors, cycles and a store entirely outside root

fn package(dir: &Path, json: &str, index: &str) {
    write(&dir.join("package.json"), json);
    write(&dir.join("index.js"), index);
}

#[test]
fn missing_required_dependencies_name_the_package_and_who_needs_it() {
    let root = fresh_dir("missing");
    write(
        &root.join("svc/package.json"),
        r#"{ "dependencies": { "watt-pack-absent": "1" } }"#,
    );
    let err = closure(&root, "svc", &[], &[]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ClosureError::Missing { .. }), "{err:?}");
    assert!(
        msg.contains("`watt-pack-absent`") && msg.contains("svc/package.json"),
        "{msg}"
    );
    assert!(
        msg.contains("npm install") && msg.contains("pnpm install"),
        "{msg}"
    );

    write(
        &root.join("svc/package.json"),
        r#"{ "dependencies": { "a": "1" }, "optionalDependencies": { "gone": "1" } }"#,
    );
    package(
        &root.join("node_modules/a"),
        r#"{ "name": "a", "version": "1.2.3", "dependencies": { "watt-pack-absent-b": "1" } }"#,
        "",
    );
    let msg = closure(&root, "svc", &[], &[]).unwrap_err().to_string();
    assert!(
        msg.contains("`watt-pack-absent-b`")
            && msg.contains("`a@1.2.3`")
            && msg.contains("node_modules/a/package.json"),
        "{msg}"
    );

    // An excluded (Watt runtime) package that is not installed is no error: it ships only
    // when it is there.
    let c = closure(&root, "svc", &[], &["watt-pack-absent-b"]).unwrap();
    assert_eq!(dests(&c), ["node_modules/a"]);
}

#[test]
fn hostile_dependency_names_are_rejected() {
    let root = fresh_dir("hostile");
    write(
        &root.join("svc/package.json"),
        r#"{ "dependencies": { "../../etc": "1" } }"#,
    );
    let err = closure(&root, "svc", &[], &[]).unwrap_err();
    assert!(matches!(err, ClosureError::InvalidName { .. }), "{err:?}");
    assert!(err.to_string().contains("../../etc"));
}

#[test]
fn cycles_terminate_inside_and_outside_root() {
    let base = fresh_dir("cycles");
    let root = base.join("app");
    write(
        &root.join("svc/package.json"),
        r#"{ "dependencies": { "a": "1", "x": "1" } }"#,
    );
    write(
        &root.join("svc/index.js"),
        "require('a'); require('x'); console.log('svc ok');\n",
    );
    // Inside root: a -> b -> a, plus a self-dependency.
    package(
        &root.join("node_modules/a"),
        r#"{ "name": "a", "version": "1.0.0", "dependencies": { "a": "1", "b": "1" } }"#,
        "require('b');",
    );
    package(
        &root.join("node_modules/b"),
        r#"{ "name": "b", "version": "1.0.0", "dependencies": { "a": "1" } }"#,
        "require('a');",
    );
    // Outside root, pnpm-store shaped (like pnpm's global virtual store): x -> y -> x, both
    // resolved through sibling links in the store.
    let store = base.join("store");
    package(
        &store.join("x@1/node_modules/x"),
        r#"{ "name": "x", "version": "1.0.0", "dependencies": { "y": "1" } }"#,
        "require('y');",
    );
    package(
        &store.join("y@1/node_modules/y"),
        r#"{ "name": "y", "version": "1.0.0", "dependencies": { "x": "1" } }"#,
        "require('x');",
    );
    std::os::unix::fs::symlink("../../y@1/node_modules/y", store.join("x@1/node_modules/y"))
        .unwrap();
    std::os::unix::fs::symlink("../../x@1/node_modules/x", store.join("y@1/node_modules/x"))
        .unwrap();
    std::os::unix::fs::symlink(
        store.join("x@1/node_modules/x"),
        root.join("node_modules/x"),
    )
    .unwrap();

    let c = closure(&root, "svc", &[], &[]).unwrap();
    assert_eq!(
        dests(&c),
        [
            "node_modules/a",
            "node_modules/b",
            "node_modules/x",
            "node_modules/y"
        ]
    );
    assert_eq!(c.packages[2].source, store.join("x@1/node_modules/x"));
    assert_eq!(c.packages[3].source, store.join("y@1/node_modules/y"));
    assert!(c.links.is_empty(), "{:#?}", c.links);
    let out = materialise(&c, &root, "svc");
    assert!(node_in(&out.path().join("svc"), &["index.js"]).contains("svc ok"));
}

/// supports-color is an optional peer of debug, installed here only as a devDependency: it ships
/// only when production wants it anyway (here as an extra), and then debug sees it too.
#[test]
fn optional_peers_are_followed_only_to_packages_shipped_anyway() {
    for root in [npm_workspace(), pnpm_workspace()] {
        let c = closure(root, "web/api", &["supports-color"], &[]).unwrap();
        assert!(names(&c).contains(&"supports-color"), "{}", root.display());
        if root == pnpm_workspace() {
            assert!(
                c.links
                    .iter()
                    .any(|l| l.path.starts_with("node_modules/.pnpm")
                        && l.path.ends_with("supports-color")
                        && l.path.to_string_lossy().contains("/debug@")),
                "debug's sibling link to supports-color: {:#?}",
                c.links
            );
        }
        let out = materialise(&c, root, "web/api");
        let peer = node_in(&out.path().join("web/api"), &["peer.cjs"]);
        assert!(
            peer.contains("debug sees supports-color"),
            "{}: {peer}",
            root.display()
        );
    }
}

/// What the workspace fixtures' `web/api` needs at run time, directly or transitively
/// (a workspace package, its registry dependency, peers and optional dependencies).
fn assert_runtime_dependencies_shipped(names: &[&str]) {
    for expected in [
        "@app/shared",
        "debug",
        "ms",
        "express",
        "body-parser",
        "ajv-keywords",
        "ajv",
        "ws",
        "picocolors",
        "semver",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Roots from what the code imports (a laid-out node_modules, no install needed)

/// `node_modules/<name>` with a package.json holding `deps`.
fn laid_out(root: &Path, at: &str, name: &str, deps: &[&str]) {
    let deps: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|d| (d.to_string(), serde_json::Value::from("*")))
        .collect();
    write(
        &root.join(at).join("package.json"),
        &serde_json::json!({ "name": name, "version": "1.0.0", "dependencies": deps }).to_string(),
    );
    write(&root.join(at).join("index.js"), "");
}

#[test]
fn a_service_without_package_json_imports_and_watt_packages_ship_as_node_resolves_them() {
    let root = fresh_dir("imported-roots");
    write(
        &root.join("package.json"),
        r#"{ "name": "app", "dependencies": { "ms": "*", "wattpm": "*" } }"#,
    );
    write(&root.join("web/bare/index.js"), "");
    laid_out(&root, "node_modules/ms", "ms", &[]);
    laid_out(
        &root,
        "node_modules/wattpm",
        "wattpm",
        &["@platformatic/foundation"],
    );
    laid_out(&root, "node_modules/hoisted", "hoisted", &[]);
    laid_out(
        &root,
        "node_modules/@platformatic/control",
        "@platformatic/control",
        &["@platformatic/foundation"],
    );
    laid_out(
        &root,
        "node_modules/@platformatic/foundation",
        "@platformatic/foundation",
        &[],
    );
    let exclude: Vec<String> = ["wattpm", "@platformatic/foundation"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let service_dir = root.join("web/bare");
    let imported = vec![
        ("hoisted".to_string(), service_dir.clone()),
        ("@platformatic/control".to_string(), service_dir.clone()),
        ("not-installed".to_string(), service_dir.clone()),
    ];
    let c = production_closure(&ClosureRequest {
        root: &root,
        service_dir: &service_dir,
        extra: &[],
        exclude: &exclude,
        imported: &imported,
    })
    .unwrap();
    // `ms` from the root's package.json (the service has none); `hoisted` because it is
    // imported; Watt's foundation because the imported control needs it; wattpm, only listed,
    // does not ship; a miss is left to the import check.
    assert_eq!(
        names(&c),
        [
            "@platformatic/control",
            "@platformatic/foundation",
            "hoisted",
            "ms"
        ]
    );

    // Without the imports, only the declared, non-excluded dependency.
    let c = production_closure(&ClosureRequest {
        root: &root,
        service_dir: &service_dir,
        extra: &[],
        exclude: &exclude,
        imported: &[],
    })
    .unwrap();
    assert_eq!(names(&c), ["ms"]);
}
