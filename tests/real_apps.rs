//! Watt apps written the way real ones are, packed unmodified (`tests/fixtures/`, installed by
//! ci/test.sh): dependencies reached by Node's resolution rather than declared, Watt's own
//! packages used by the app, an import nothing provides, `globalThis.platformatic` during
//! `next build`, and config keys watt-pack does not act on. Where the app runs under
//! `wattpm start` too, the same routes answer the same there.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use watt_e2e::*;

/// An installed fixture app (ci/test.sh runs `npm ci` in each one with a lockfile).
fn build(app: &Path, out: &Path) -> std::process::Output {
    watt_build(app, out, &[])
}

fn boot(root: &Path, port: u16) -> Running {
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string());
    Running::start(cmd)
}

fn json_get(url: &str) -> Value {
    let (status, body) = get(url);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

const DEPS_ROUTES: &[&str] = &["/", "/hoisted", "/control"];

fn deps_answers() -> Vec<Value> {
    vec![
        json!({ "service": "bare", "twoDays": 172_800_000, "preloaded": "root preload" }),
        json!({ "service": "hoisted", "escaped": "&lt;b&gt;watt&lt;/b&gt;", "equal": true }),
        json!({ "service": "control", "client": "function" }),
    ]
}

#[test]
fn dependencies_ship_the_way_node_resolves_them_and_answer_as_under_wattpm() {
    let app = installed_fixture("resolve-deps");
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("deps.tar.zst");
    let o = build(&app, &archive);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    // A key of Watt's runtime config that watt-pack does not act on is named, with its file.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: `httpCache` in") && stderr.contains("resolve-deps/watt.json"),
        "{stderr}"
    );

    let root = work.path().join("x");
    extract(&archive, &root);
    let nm = root.join("app/node_modules");
    // `bare` has no package.json: the root's `ms` ships. `escape-html` is declared only by a
    // workspace package that is no service, and ships because `hoisted` imports it.
    assert!(nm.join("ms/package.json").is_file());
    assert!(nm.join("escape-html/package.json").is_file());
    // Imported only by a route file loaded from a folder listing, declared nowhere.
    assert!(nm.join("dequal/package.json").is_file());
    assert!(!root.join("app/packages/helper").exists(), "not a service");
    // Watt's packages: the imported one and what it needs ship, the runtime does not.
    let control = nm.join("@platformatic/control");
    assert!(control.join("package.json").is_file());
    let foundation_nested = control.join("node_modules/@platformatic/foundation/package.json");
    assert!(
        foundation_nested.is_file() || nm.join("@platformatic/foundation/package.json").is_file(),
        "@platformatic/control's @platformatic/foundation is missing"
    );
    for runtime in ["wattpm", "@platformatic/runtime", "@platformatic/node"] {
        assert!(!nm.join(runtime).exists(), "{runtime} shipped");
    }

    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/"), Duration::from_secs(60));
    let packed: Vec<Value> = DEPS_ROUTES
        .iter()
        .map(|r| json_get(&format!("{base}{r}")))
        .collect();
    assert_eq!(packed, deps_answers(), "{}", stub.logs());
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // The same app under Watt itself.
    let port = free_port();
    let mut cmd = wattpm(&app);
    cmd.arg("start").env("PORT", port.to_string());
    let mut watt = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    watt.wait_ready(&format!("{base}/"), Duration::from_secs(60));
    eprintln!("wattpm start answering after {:?}", started.elapsed());
    let under_watt: Vec<Value> = DEPS_ROUTES
        .iter()
        .map(|r| json_get(&format!("{base}{r}")))
        .collect();
    assert_eq!(under_watt, deps_answers(), "{}", watt.logs());
    watt.stop(Duration::from_secs(20));
}

#[test]
fn an_import_nothing_provides_fails_the_build_naming_file_specifier_and_service() {
    let app = repo().join("tests/fixtures/resolve-missing");
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("missing.tar.zst");
    let o = build(&app, &archive);
    assert!(!o.status.success(), "the build passed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("service \"api\": web/api/lib.js:2 imports `not-installed-anywhere`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("nodeOptions loads `./preload-that-is-not-there.mjs`"),
        "{stderr}"
    );
    assert!(!archive.exists(), "an artifact was written");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "left a partial file"
    );
}

#[test]
fn a_next_page_reads_platformatic_globals_during_next_build_and_at_request_time() {
    let app = installed_fixture("next-globals");
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("next.tar.zst");
    let started = Instant::now();
    let o = build(&app, &archive);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    eprintln!("watt build next-globals: {:?}", started.elapsed());
    assert!(
        text(&o).contains("application.basePath \"/site\" does not reach Next"),
        "the build says the base path does not reach Next\n{}",
        text(&o)
    );

    let root = work.path().join("x");
    extract(&archive, &root);
    let port = free_port();
    let mut stub = boot(&root, port);
    // The app has no next.config for Watt to wrap, so `application.basePath` (/site) reaches
    // the globals but not Next: both Watt and watt-stub serve the entrypoint at `/`.
    let url = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{url}/"), Duration::from_secs(60));
    let (status, html) = get(&url);
    assert_eq!(status, 200, "{html}");
    // Rendered by `next build` with Watt's build-time globals: the service's base path and id,
    // isBuilding() true.
    assert_eq!(strong(&html, "base").as_deref(), Some("/site"), "{html}");
    assert_eq!(strong(&html, "building").as_deref(), Some("true"), "{html}");
    assert_eq!(strong(&html, "id").as_deref(), Some("site"), "{html}");
    let live = next_live_page(&format!("{url}/live"));
    let (code, _) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());

    // The same pages under Watt itself (`wattpm build`, then `wattpm start`).
    let o = wattpm(&app).arg("build").output().unwrap();
    assert!(o.status.success(), "wattpm build failed\n{}", text(&o));
    let port = free_port();
    let mut cmd = wattpm(&app);
    cmd.arg("start").env("PORT", port.to_string());
    let mut watt = Running::start(cmd);
    let url = format!("http://127.0.0.1:{port}");
    watt.wait_ready(&format!("{url}/"), Duration::from_secs(90));
    let (_, html) = get(&format!("{url}/"));
    assert_eq!(strong(&html, "building").as_deref(), Some("true"), "{html}");
    assert_eq!(strong(&html, "base").as_deref(), Some("/site"), "{html}");
    assert_eq!(strong(&html, "id").as_deref(), Some("site"), "{html}");
    let under_watt = next_live_page(&format!("{url}/live"));
    watt.stop(Duration::from_secs(20));
    assert_eq!(live, under_watt);
}

/// The page that reads getGlobal() at request time: the running service's fields.
fn next_live_page(url: &str) -> Vec<(&'static str, String)> {
    let (status, html) = get(url);
    assert_eq!(status, 200, "{html}");
    let fields = [
        ("base", "/site"),
        ("building", "false"),
        ("id", "site"),
        ("entrypoint", "true"),
        ("logger", "function"),
        ("messaging", "function"),
        ("events", "function"),
    ];
    for (id, want) in fields {
        assert_eq!(strong(&html, id).as_deref(), Some(want), "{id} in {html}");
    }
    fields
        .iter()
        .map(|(id, _)| (*id, strong(&html, id).unwrap_or_default()))
        .collect()
}

#[test]
fn watt_resolve_shows_the_warnings_and_that_every_kind_can_be_packed() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "watt.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/wattpm/3.0.0.json",
                 "entrypoint": "api", "httpCache": true, "autoload": { "path": "web" } }"#,
        ),
        ("web/api/index.js", "export default 1\n"),
        (
            "web/db/platformatic.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/db/3.0.0.json",
                 "db": { "connectionString": "sqlite://db.sqlite" } }"#,
        ),
        (
            "web/tanstack/platformatic.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/tanstack/3.0.0.json",
                 "tanstack": { "typo": 1 } }"#,
        ),
    ];
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let o = watt(&["resolve", dir.path().to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = |id: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("no line for {id}\n{out}"))
            .to_string()
    };
    // TanStack, the last kind watt could not pack, is packed now: no service is marked.
    assert!(line("tanstack").contains("tanstack"), "{out}");
    assert!(!out.contains("cannot be packed"), "{out}");
    // Platformatic DB runs through its own package, and its own keys are its package's.
    assert!(!line("db").contains("cannot be packed"), "{out}");
    assert!(!out.contains("warning: `db` in"), "{out}");
    assert!(
        out.contains("warning: `httpCache` in") && out.contains("watt.json"),
        "{out}"
    );
    assert!(out.contains("warning: `tanstack` in"), "{out}");

    let o = watt(
        &["resolve", "--json", dir.path().to_str().unwrap()],
        dir.path(),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let packable: Vec<(String, bool)> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), s["packable"] == true))
        .collect();
    assert_eq!(
        packable,
        [
            ("api".to_string(), true),
            ("db".to_string(), true),
            ("tanstack".to_string(), true)
        ]
    );
    assert!(
        v["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("notPackable").is_none()),
        "{v}"
    );
    assert!(v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["key"] == "httpCache"));
}

/// What the capabilities fixture answers, the same under the stub and under `wattpm start`:
/// the row its migration inserted, through the gateway (REST and GraphQL) and over the mesh
/// from another service's route; an `@platformatic/service` route; the
/// OpenAPI documents of three services composed by the gateway; the gateway's own root answer.
fn capability_answers(base: &str) -> Vec<Value> {
    let dune = json!([{ "id": "1", "title": "Dune" }]);
    assert_eq!(json_get(&format!("{base}/db/movies/")), dune);
    assert_eq!(
        json_get(&format!("{base}/api/from-db")),
        json!({ "status": 200, "movies": dune })
    );
    let graphql: Value = ureq::post(&format!("{base}/db/graphql"))
        .send_json(json!({ "query": "{ movies { title } }" }))
        .unwrap_or_else(|e| panic!("POST /db/graphql: {e}"))
        .into_json()
        .unwrap();
    assert_eq!(
        graphql,
        json!({ "data": { "movies": [{ "title": "Dune" }] } })
    );
    // @platformatic/service itself (its config asks for `service.openapi`).
    assert_eq!(
        json_get(&format!("{base}/greeter/greet")),
        json!({ "greeting": "hi" })
    );
    let doc = json_get(&format!("{base}/documentation/json"));
    let mut paths: Vec<String> = doc["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("no paths in the composed document: {doc}"))
        .keys()
        .cloned()
        .collect();
    paths.sort();
    for want in [
        "/api/hello",
        "/api/from-db",
        "/db/movies/",
        "/greeter/greet",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    let root = json_get(&format!("{base}/"));
    vec![json!(paths), root]
}

/// What reaches the services that want absolute URLs behind the gateway (run through
/// `@platformatic/gateway`, which asks the runtime for each target's meta over ITC,
/// `getApplicationMeta`): `site` (a node service with `node.absoluteUrl`, as Next, Remix or Vite
/// apps with a base path are) and `nest` (NestJS with a base path), each echoing the path it got.
/// Under the stub their prefix is kept, as their capabilities' `getMeta` asks. Under `wattpm
/// start` it is stripped, and not by design: the registry here has `@platformatic/gateway`
/// 3.54 at most, which reads the ITC at `globalThis[Symbol.for('plt.runtime.itc')]`, and the
/// runtime of wattpm 3.67 no longer puts it there (packages/runtime/lib/worker/main.js
/// `updateGlobals({ itc })`: `globalThis.platformatic.itc`, which gateway 3.67 reads), so the
/// gateway gets no meta and falls back to stripping `/<id>`. With matching versions Watt keeps
/// the prefix; the stub answers under both names.
fn absolute_url_targets(base: &str, prefix_kept: bool) {
    let (site, nest) = if prefix_kept {
        ("/site/page?x=1", "/nest/hello")
    } else {
        ("/page?x=1", "/hello")
    };
    // The site answers 404 outside its base path, saying what it got.
    let reply = request(&format!("{base}/site/page?x=1"), &[]);
    let got: Value = serde_json::from_str(&reply.text()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got,
        json!({ "service": "site", "url": site }),
        "GET /site/page?x=1"
    );
    assert_eq!(reply.status, if prefix_kept { 200 } else { 404 });
    assert_eq!(
        json_get(&format!("{base}/nest/hello")),
        json!({ "hello": "nest", "path": nest }),
        "GET /nest/hello"
    );
    if prefix_kept {
        assert_eq!(
            json_get(&format!("{base}/site/")),
            json!({ "service": "site", "url": "/site/" }),
            "GET /site/"
        );
    }
}

#[test]
fn db_nest_service_and_an_openapi_gateway_run_their_own_packages_as_under_wattpm() {
    let app = installed_fixture("capabilities");
    // A database a `wattpm start` run left in the service folder is no input.
    let dev_db = app.join("web/db/db.sqlite");
    let _ = std::fs::remove_file(&dev_db);
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("cap.tar.zst");
    let started = Instant::now();
    let o = build(&app, &archive);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    eprintln!("watt build capabilities: {:?}", started.elapsed());
    // The build says which path each service took and why.
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in [
        "service \"db\" (db): through @platformatic/db: Platformatic DB has no native counterpart",
        "service \"gateway\" (gateway): through @platformatic/gateway: openapi composition \
         (`gateway.applications[0].openapi`) goes beyond prefix routing",
        "service \"api\" (node): node process",
        "service \"nest\" (nest): through @platformatic/nest",
        "building nest (tsc)",
        "service \"greeter\" (service): through @platformatic/service: `service` goes beyond \
         registering plugins.paths",
    ] {
        assert!(stderr.contains(line), "no `{line}` in\n{stderr}");
    }

    assert!(!stderr.contains("ships as it is now"), "{stderr}");
    let root = work.path().join("x");
    extract(&archive, &root);
    let nm = root.join("app/node_modules");
    // The capability packages ship with what they need, although they are Watt's own;
    // Watt's runtime does not.
    for shipped in [
        "@platformatic/db",
        "@platformatic/gateway",
        "@platformatic/sql-mapper",
        "better-sqlite3",
        "@platformatic/nest",
        "@nestjs/core",
    ] {
        assert!(
            nm.join(shipped).join("package.json").is_file(),
            "{shipped} missing"
        );
    }
    for not_shipped in ["wattpm", "@platformatic/runtime", "typescript"] {
        assert!(!nm.join(not_shipped).exists(), "{not_shipped} shipped");
    }
    assert!(root.join("app/web/nest/dist/app.module.js").is_file());
    // The gateway fetches the composed documents when it starts: what it composes starts first.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(root.join("watt-manifest.json")).unwrap()).unwrap();
    let gateway = manifest["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "gateway")
        .unwrap();
    assert_eq!(gateway["start"]["type"], "capability");
    assert_eq!(
        gateway["dependencies"],
        json!(["db", "api", "nest", "greeter", "site"])
    );
    // What the gateway's `getApplicationMeta` answers, as the site's capability gives it.
    let site = manifest["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "site")
        .unwrap();
    assert_eq!(
        site["gatewayMeta"],
        json!({ "prefix": "/site/", "wantsAbsoluteUrls": true, "needsRootTrailingSlash": true })
    );
    let packed_db = root.join("app/web/db/db.sqlite");
    assert!(!packed_db.exists(), "a database file was shipped");
    // `.env` files are secrets by default: the connection string stays out of the artifact,
    // the build names it, and the operator mounts the file where the build says the stub
    // reads it (the service's folder), as a DATABASE_URL from a secret store would come.
    assert!(
        stderr.contains("web/db/.env (service \"db\"): DATABASE_URL"),
        "{stderr}"
    );
    assert!(
        !root.join("app/web/db/.env").exists(),
        "web/db/.env shipped"
    );
    std::fs::copy(app.join("web/db/.env"), root.join("app/web/db/.env")).unwrap();

    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/db/movies/"), Duration::from_secs(90));
    let packed = capability_answers(&base);
    absolute_url_targets(&base, true);
    // The migration ran at start, into the (writable) service folder of the artifact.
    assert!(packed_db.is_file(), "{}", stub.logs());
    let logs = stub.logs();
    assert!(logs.contains("running 001.do.sql"), "{logs}");
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // The same app under Watt itself.
    let port = free_port();
    let mut cmd = wattpm(&app);
    cmd.arg("start").env("PORT", port.to_string());
    let mut watt = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    watt.wait_ready(&format!("{base}/db/movies/"), Duration::from_secs(90));
    let under_watt = capability_answers(&base);
    absolute_url_targets(&base, false);
    watt.stop(Duration::from_secs(20));
    let _ = std::fs::remove_file(&dev_db);
    assert_eq!(packed, under_watt);
}

/// An app named `name` at `app` with `files` below it, whose entrypoint is the service
/// `greeter`, and whose `node_modules` is a link to the capabilities fixture's install: outside
/// the app's root, as for an app that is one folder of a larger workspace.
fn on_the_capabilities_install(app: &Path, name: &str, files: &[(&str, &str)]) {
    let watt = r#"{ "$schema": "https://schemas.platformatic.dev/wattpm/3.67.0.json",
                     "server": { "hostname": "127.0.0.1", "port": "{PORT}" },
                     "autoload": { "path": "web" }, "entrypoint": "greeter" }"#;
    let package = format!(r#"{{ "name": "{name}", "private": true, "type": "module" }}"#);
    write_app(app, &[("watt.json", watt), ("package.json", &package)]);
    write_app(app, files);
    let install = installed_fixture("capabilities").join("node_modules");
    std::os::unix::fs::symlink(install, app.join("node_modules")).unwrap();
}

/// Writes `files` (path relative to `root`, contents) below `root`.
fn write_app(root: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// A gateway that only routes and a built static site take the fast path (served by the stub,
/// no process, no capability package) and the build says so and why; the same gateway asking
/// for OpenAPI composition needs `@platformatic/gateway`, and without it the build fails
/// naming the service and its kind rather than packing a gateway that cannot compose.
#[test]
fn a_gateway_that_only_routes_and_a_static_site_stay_native_and_the_build_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let gateway_config = |extra: &str| {
        format!(
            r#"{{ "$schema": "https://schemas.platformatic.dev/@platformatic/gateway/3.67.0.json",
                 "gateway": {{ "applications": [{{ "id": "api"{extra} }}, {{ "id": "site" }}] }} }}"#
        )
    };
    write_app(
        &app,
        &[
            (
                "watt.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/wattpm/3.67.0.json",
                     "server": { "hostname": "127.0.0.1", "port": "{PORT}" },
                     "autoload": { "path": "web" }, "entrypoint": "gateway" }"#,
            ),
            (
                "package.json",
                r#"{ "name": "native-paths", "private": true, "type": "module" }"#,
            ),
            ("web/gateway/platformatic.json", &gateway_config("")),
            (
                "web/api/index.js",
                "import { createServer } from 'node:http'\n\
                 createServer((req, res) => {\n\
                 \x20 res.setHeader('content-type', 'application/json')\n\
                 \x20 res.end(JSON.stringify({ service: 'api', url: req.url }))\n\
                 }).listen(0)\n",
            ),
            (
                "web/site/watt.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/vite/3.67.0.json",
                     "application": { "commands": { "build": "node build.mjs" } } }"#,
            ),
            (
                "web/site/build.mjs",
                "import { mkdirSync, writeFileSync } from 'node:fs'\n\
                 mkdirSync('dist', { recursive: true })\n\
                 writeFileSync('dist/index.html', '<!doctype html><p>built page</p>\\n')\n",
            ),
        ],
    );
    let archive = dir.path().join("native.tar.zst");
    let o = build(&app, &archive);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in [
        "service \"gateway\" (gateway): native gateway in the stub (2 prefix route(s); the config \
         only routes)",
        "service \"site\" (vite): static files served by the stub, index.html as fallback (the \
         build made no server and there is no `commands.production`)",
        "service \"api\" (node): node process",
    ] {
        assert!(stderr.contains(line), "no `{line}` in\n{stderr}");
    }
    let root = dir.path().join("x");
    extract(&archive, &root);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(root.join("watt-manifest.json")).unwrap()).unwrap();
    let start = |id: &str| {
        manifest["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["start"]["type"]
            .clone()
    };
    assert_eq!(start("gateway"), "gateway");
    assert_eq!(start("site"), "static");
    assert!(
        !root.join("app/web/gateway").exists(),
        "the native gateway shipped its folder"
    );

    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/api/hello"), Duration::from_secs(30));
    assert_eq!(
        json_get(&format!("{base}/api/hello")),
        json!({ "service": "api", "url": "/hello" })
    );
    for page in ["/", "/a/client/route"] {
        let (status, body) = get(&format!("{base}{page}"));
        assert_eq!(
            (status, body.as_str()),
            (200, "<!doctype html><p>built page</p>\n")
        );
    }
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // Composition is beyond routing: the gateway's own package, which this app lacks.
    let gw = app.join("web/gateway/platformatic.json");
    std::fs::write(
        &gw,
        gateway_config(r#", "openapi": { "url": "/documentation/json" }"#),
    )
    .unwrap();
    let archive = dir.path().join("composing.tar.zst");
    let o = build(&app, &archive);
    assert!(!o.status.success(), "the build passed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "service \"gateway\" is a gateway application and runs through its own package, \
             but @platformatic/gateway or @platformatic/composer cannot be resolved"
        ),
        "{stderr}"
    );
    assert!(!archive.exists(), "an artifact was written");
}

/// `watt build` of a Nitro-server app (Nitro, Nuxt, TanStack Start) from clean output folders
/// (`outputs`, relative to the app), whose output must hold every line of `lines`; the
/// archive, extracted.
fn build_nitro_server(
    app: &Path,
    outputs: &[&str],
    lines: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    for out in outputs {
        let _ = std::fs::remove_dir_all(app.join(out));
    }
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar.zst");
    let o = build(app, &archive);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in lines {
        assert!(stderr.contains(line), "no `{line}` in\n{stderr}");
    }
    let root = work.path().join("x");
    extract(&archive, &root);
    (work, archive, root)
}

/// `public/robots.txt` is served with the artifact's file time (Nitro's asset manifest records
/// when the build copied it; the artifact says 1980), then SIGTERM stops the stub with exit 0,
/// nothing left behind and the service still up until the stub stopped it.
fn assert_public_file_from_1980_then_stop(base: &str, stub: &mut Running) {
    let robots = request(&format!("{base}/robots.txt"), &[]);
    assert_eq!(
        (robots.status, robots.text().as_str()),
        (200, "User-agent: *\nAllow: /\n")
    );
    assert_eq!(
        robots.header("last-modified"),
        "Tue, 01 Jan 1980 00:00:00 GMT"
    );
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");
    assert!(
        !stub.logs().contains("exited with code"),
        "the service stopped before the stub: {}",
        stub.logs()
    );
}

/// A Nitro app (nitropack 2, node-server preset) packed and booted the way Watt's Nitro
/// capability runs it: its server build, `.output/server/index.mjs`, imported with the stub's
/// socket as its listener; the build output ships as Nitro traced it, and nothing else does.
/// Not under `wattpm start`: the `@platformatic/nitro` that wattpm 3.67 loads for it is not
/// on the npm registry.
#[test]
fn a_nitro_app_runs_its_server_build_as_watts_nitro_capability_does() {
    let app = installed_fixture("nitro");
    let (work, archive, root) = build_nitro_server(
        &app,
        &["web/site/.output"],
        &[
            "building site (nitro build)",
            "service \"site\" (nitro): its Nitro server build .output/server/index.mjs runs \
             natively, as Watt's Nitro capability imports it",
        ],
    );
    let out = root.join("app/web/site/.output");
    assert!(out.join("server/node_modules/ms/package.json").is_file());
    assert!(out.join("public/robots.txt").is_file());
    // Only the build date is in it, and nothing reads it at run time.
    assert!(!out.join("nitro.json").exists(), "nitro.json shipped");
    // The build tool and the sources stay home; Nitro's output carries what its server reaches.
    assert!(
        !root.join("app/node_modules").exists(),
        "node_modules shipped"
    );
    assert!(
        !root.join("app/web/site/server").exists(),
        "the sources shipped"
    );

    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/"), Duration::from_secs(30));
    assert_eq!(
        json_get(&format!("{base}/")),
        json!({ "service": "nitro", "twoDays": 172_800_000 })
    );
    assert_eq!(
        json_get(&format!("{base}/api/hello?name=watt")),
        json!({ "hello": "watt", "path": "/api/hello?name=watt" })
    );
    assert_public_file_from_1980_then_stop(&base, &mut stub);

    // Built again, the same bytes: Nitro's clock does not reach the artifact.
    let again = work.path().join("again.tar.zst");
    let o = build(&app, &again);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    assert!(
        std::fs::read(&archive).unwrap() == std::fs::read(&again).unwrap(),
        "two builds of the same Nitro app differ"
    );
}

/// A Nuxt 4 app packed and booted the way Watt's Nuxt capability runs it in production: the
/// Nitro server build `nuxt build` writes, `.output/server/index.mjs`, imported with the stub's
/// socket as its listener. Its page renders on the server (fetching its own API route through
/// Nitro), and the route answers over HTTP. Not under `wattpm start`: the `@platformatic/nuxt`
/// wattpm loads for it is not on the npm registry.
#[test]
fn a_nuxt_app_runs_its_nitro_server_build_as_watts_nuxt_capability_does() {
    let app = installed_fixture("nuxt");
    let (_work, _archive, root) = build_nitro_server(
        &app,
        &["web/shop/.output"],
        &[
            "building shop (nuxt build)",
            "service \"shop\" (nuxt): its Nitro server build .output/server/index.mjs runs \
             natively, as Watt's Nuxt capability imports it",
        ],
    );
    let out = root.join("app/web/shop/.output");
    assert!(out.join("server/node_modules/vue/package.json").is_file());
    assert!(out.join("public/robots.txt").is_file());
    assert!(
        !root.join("app/node_modules").exists(),
        "node_modules shipped"
    );
    assert!(
        !root.join("app/web/shop/app").exists(),
        "the sources shipped"
    );

    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/"), Duration::from_secs(30));
    let page = request(&format!("{base}/"), &[]);
    let html = page.text();
    assert_eq!(page.status, 200, "{html}");
    assert!(html.contains("<h1>Nuxt shop</h1>"), "{html}");
    assert!(
        html.contains("rendered on the server"),
        "not server-rendered: {html}"
    );
    assert!(
        html.contains("<p id=\"api\">page</p>"),
        "the page did not get its API answer: {html}"
    );
    assert_eq!(
        json_get(&format!("{base}/api/hello?name=watt")),
        json!({ "hello": "watt", "path": "/api/hello?name=watt" })
    );
    assert_build_manifest_served_truthfully(&base);
    assert_public_file_from_1980_then_stop(&base, &mut stub);
}

/// Nuxt's build manifest, which clients poll to notice a new deployment: `builds/latest.json`
/// names the build id watt derived from the inputs (20 hex characters, not Nuxt's random
/// UUID) and the artifact's time, `builds/meta/<id>.json` is there, and both carry the ETag
/// Nitro computes from the bytes served (the `etag` package: `"<length in hex>-<base64
/// SHA-1, 27 characters>"`, computed here by node's crypto), which answers `If-None-Match`
/// with 304.
fn assert_build_manifest_served_truthfully(base: &str) {
    let latest = request(&format!("{base}/_nuxt/builds/latest.json"), &[]);
    assert_eq!(latest.status, 200, "{}", latest.text());
    let body: Value = serde_json::from_slice(&latest.body).unwrap();
    let id = body["id"].as_str().unwrap_or_default().to_string();
    assert!(
        id.len() == 20 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "not the id watt derives: {body}"
    );
    assert_eq!(body["timestamp"], json!(315_532_800_000u64), "{body}");
    let meta = request(&format!("{base}/_nuxt/builds/meta/{id}.json"), &[]);
    assert_eq!(meta.status, 200, "{}", meta.text());
    let meta_body: Value = serde_json::from_slice(&meta.body).unwrap();
    assert_eq!(meta_body["id"], json!(id), "{meta_body}");
    assert_eq!(meta_body["timestamp"], body["timestamp"], "{meta_body}");
    for (url, reply) in [
        (format!("{base}/_nuxt/builds/latest.json"), latest),
        (format!("{base}/_nuxt/builds/meta/{id}.json"), meta),
    ] {
        let etag = reply.header("etag").to_string();
        assert_eq!(etag, nitro_etag(&reply.body), "{url}");
        let again = request(&url, &[("if-none-match", &etag)]);
        assert_eq!(again.status, 304, "{url}: {}", again.text());
        assert!(again.body.is_empty(), "{url}: a body with the 304");
    }
}

/// The ETag Nitro gives a public asset (the `etag` package's strong tag), by node's crypto.
fn nitro_etag(body: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(node_bin())
        .args([
            "-e",
            "const b = require('fs').readFileSync(0); \
             const h = require('crypto').createHash('sha1').update(b).digest('base64').slice(0, 27); \
             process.stdout.write('\"' + b.length.toString(16) + '-' + h + '\"')",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// A TanStack Start app (React, `nitro/vite` node-server build) behind a native gateway, with
/// a Nitro-with-Vite service beside it, packed and booted the way Watt's TanStack capability
/// and NitroViteCapability run them (packages/tanstack/lib/capability.js,
/// packages/nitro/lib/capability.js): built with `vite build` (base path `/app/`, output
/// `dist`), their Nitro server builds imported with the stub's socket as their listener. The
/// page renders on the server, its loader's server function fetching the API over the mesh
/// (`http://api.plt.local`); a server route answers; the client files load under the base
/// path. Built twice, the same bytes. Not under `wattpm start`: the `@platformatic/tanstack`
/// and `@platformatic/nitro` wattpm loads for them are not on the npm registry.
#[test]
fn a_tanstack_start_app_and_a_nitro_vite_app_run_their_nitro_server_builds_as_watt_does() {
    let app = installed_fixture("tanstack");
    let (work, archive, root) = build_nitro_server(
        &app,
        &["web/board/dist", "web/notes/.output"],
        &[
            "building board (vite build --base /app/ --outDir dist)",
            "service \"board\" (tanstack): its Nitro server build dist/server/index.mjs runs \
             natively, as Watt's TanStack capability imports it (no @platformatic/tanstack needed)",
            "building notes (vite build --outDir .output)",
            "service \"notes\" (nitro): its Nitro server build .output/server/index.mjs runs \
             natively, as Watt's NitroVite capability imports it",
        ],
    );
    let board = root.join("app/web/board");
    assert!(board.join("dist/server/index.mjs").is_file());
    assert!(board.join("dist/public/robots.txt").is_file());
    assert!(
        !board.join("dist/nitro.json").exists(),
        "nitro.json shipped"
    );
    assert!(!board.join("src").exists(), "the sources shipped");
    assert!(
        !root.join("app/node_modules").exists(),
        "node_modules shipped"
    );

    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/api/cards"), Duration::from_secs(30));
    let page = request(&format!("{base}/app/"), &[]);
    let html = page.text();
    assert_eq!(page.status, 200, "{html}\n{}", stub.logs());
    assert!(html.contains("<h1>Watt board</h1>"), "{html}");
    assert!(
        html.contains("<p id=\"rendered\">server</p>"),
        "not server-rendered: {html}"
    );
    assert!(
        html.contains("<li>plan</li><li>pack</li><li>boot</li>"),
        "the loader did not get the API's cards over the mesh: {html}"
    );
    // The client files the page asks for, under the base path.
    let scripts: Vec<&str> = html
        .split("\"/app/assets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|f| f.ends_with(".js"))
        .collect();
    assert!(!scripts.is_empty(), "no client script in {html}");
    for file in scripts {
        let asset = request(&format!("{base}/app/assets/{file}"), &[]);
        assert_eq!(asset.status, 200, "/app/assets/{file}");
        assert!(
            asset.header("content-type").starts_with("text/javascript"),
            "/app/assets/{file}: {}",
            asset.header("content-type")
        );
    }
    assert_eq!(
        json_get(&format!("{base}/app/api/health")),
        json!({ "ok": true, "path": "/app/api/health" })
    );
    // Nitro with Vite, behind the gateway at /notes (no base path: stripped, as in Watt).
    assert_eq!(
        json_get(&format!("{base}/notes/")),
        json!({ "service": "notes", "path": "/" })
    );
    let (status, body) = get(&format!("{base}/notes/hello.txt"));
    assert_eq!((status, body.as_str()), (200, "notes\n"));
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // Built again, the same bytes: neither Vite's nor Nitro's clock reaches the artifact.
    let again = work.path().join("again.tar.zst");
    let o = build(&app, &again);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    assert!(
        std::fs::read(&archive).unwrap() == std::fs::read(&again).unwrap(),
        "two builds of the same TanStack app differ"
    );
}

/// TanStack Start without Nitro's node-server build (no `nitro/vite` plugin: a fetch handler
/// and client files) is not what Watt runs: the build fails naming the service and what to add
/// to its vite.config, and writes nothing.
#[test]
fn a_tanstack_build_without_nitros_server_fails_saying_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write_app(
        &app,
        &[
            (
                "watt.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/wattpm/3.67.0.json",
                     "autoload": { "path": "web" }, "entrypoint": "board" }"#,
            ),
            (
                "web/board/package.json",
                r#"{ "name": "board", "private": true,
                     "dependencies": { "@tanstack/react-start": "1.168.61" } }"#,
            ),
            (
                "web/board/watt.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/tanstack/3.67.0.json",
                     "application": { "commands": { "build": "node build.mjs" } } }"#,
            ),
            (
                "web/board/build.mjs",
                "import { mkdirSync, writeFileSync } from 'node:fs'\n\
                 mkdirSync('dist/client', { recursive: true })\n\
                 mkdirSync('dist/server', { recursive: true })\n\
                 writeFileSync('dist/server/server.js', 'export default { fetch () {} }\\n')\n",
            ),
        ],
    );
    let archive = dir.path().join("out.tar.zst");
    let o = build(&app, &archive);
    assert!(!o.status.success(), "the build passed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let want = "service \"board\": dist/ holds TanStack Start's own build (a fetch handler, no \
                server that listens), but Watt runs dist/server/index.mjs, the node-server build \
                of Nitro: add `nitro({ config: { preset: 'node-server', output: { dir: 'dist' } \
                } })` from `nitro/vite`";
    assert!(stderr.contains(want), "no `{want}` in\n{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "wrote output"
    );
}

/// A service config Watt's own capability refuses (a misspelt key) fails the build, naming the
/// file, the key and the capability's version, as `wattpm start` refuses it at start; an
/// unset variable that empties a path is a warning naming it, since it may be set at run time.
#[test]
fn a_config_its_capability_refuses_fails_the_build_as_wattpm_start_fails() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    on_the_capabilities_install(
        &app,
        "refused",
        &[
            (
                "web/greeter/platformatic.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/service/3.67.0.json",
                     "service": { "openapi": true, "openApi": true },
                     "plugins": { "paths": ["./routes"] } }"#,
            ),
            (
                "web/greeter/routes/root.js",
                "export default async function (app) { app.get('/', async () => ({ hi: 1 })) }\n",
            ),
            (
                "web/db/platformatic.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/db/3.67.0.json",
                     "db": { "connectionString": "sqlite://./db.sqlite" },
                     "migrations": { "dir": "{MIGRATIONS_DIR_UNSET}" } }"#,
            ),
        ],
    );
    let archive = dir.path().join("refused.tar.zst");
    let o = build(&app, &archive);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the build passed\n{}", text(&o));
    assert!(!archive.exists());
    for line in [
        "error: 1 service config would be refused by Watt at start:",
        "service \"greeter\": web/greeter/platformatic.json does not validate against \
         @platformatic/service 3.67.0's schema:\n    - /service: must NOT have additional \
         properties (`openApi`)",
        // The db config fails only because the variable is unset here: a warning.
        "watt: warning: service \"db\": web/db/platformatic.json does not validate against \
         @platformatic/db 3.67.0's schema:\n    - /migrations/dir: must pass \"resolvePath\" \
         keyword validation\n  MIGRATIONS_DIR_UNSET is not set at build time",
    ] {
        assert!(stderr.contains(line), "no `{line}` in\n{stderr}");
    }

    // Watt refuses the same config at start, with the same schema error.
    let mut cmd = wattpm(&app);
    cmd.arg("start")
        .env("PORT", "0")
        .env("MIGRATIONS_DIR_UNSET", "./migrations");
    let mut run = Running::start(cmd);
    // wattpm retries a worker that fails to start a few times, then aborts.
    let status = run.wait_exit(Duration::from_secs(90));
    let all = run.logs();
    assert!(
        status.is_some_and(|s| !s.success()),
        "wattpm start did not fail ({status:?})\n{all}"
    );
    assert!(
        all.contains("PLT_CONFIGURATION_DOES_NOT_VALIDATE_AGAINST_SCHEMA")
            && all.contains("/service: must NOT have additional properties"),
        "{all}"
    );
}

/// An app whose `node_modules` lives outside its root (here a link to another install, as in a
/// folder of a larger workspace): a db service and a plain service need `fast-json-stringify`
/// in two versions, one nested under `@platformatic/sql-openapi` on disk. Both services' closures
/// keep it nested there, so the app packs (it once failed with "two different folders would be
/// packed at app/node_modules/fast-json-stringify"), and it answers as under `wattpm start`.
#[test]
fn node_modules_outside_the_root_ship_as_nested_as_on_disk_and_the_app_answers_as_under_wattpm() {
    let capabilities = installed_fixture("capabilities");
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    on_the_capabilities_install(
        &app,
        "outside",
        &[
            (
                "web/greeter/platformatic.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/service/3.67.0.json",
                     "service": { "openapi": true },
                     "plugins": { "paths": ["./routes"] } }"#,
            ),
            (
                "web/greeter/routes/root.js",
                "export default async function (app) {\n  \
                 app.get('/movies', async () => (await fetch('http://db.plt.local/movies')).json())\n}\n",
            ),
            (
                "web/db/platformatic.json",
                r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/db/3.67.0.json",
                     "db": { "connectionString": "sqlite://./db.sqlite" },
                     "migrations": { "dir": "./migrations", "autoApply": true } }"#,
            ),
            (
                "web/db/migrations/001.do.sql",
                "CREATE TABLE movies (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n\
                 INSERT INTO movies (title) VALUES ('Dune'), ('Alien');\n",
            ),
        ],
    );
    let archive = dir.path().join("outside.tar.zst");
    let o = build(&app, &archive);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));

    let root = dir.path().join("x");
    extract(&archive, &root);
    // The version of the package at `rel` below a `node_modules`.
    let version = |node_modules: &Path, rel: &str| {
        let manifest = node_modules.join(rel).join("package.json");
        let json: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        json["version"].as_str().unwrap().to_string()
    };
    let (packed, on_disk) = (
        root.join("app/node_modules"),
        capabilities.join("node_modules"),
    );
    for rel in [
        "fast-json-stringify",
        "@platformatic/sql-openapi/node_modules/fast-json-stringify",
    ] {
        assert_eq!(version(&packed, rel), version(&on_disk, rel), "{rel}");
    }
    assert_ne!(
        version(&packed, "fast-json-stringify"),
        version(
            &packed,
            "@platformatic/sql-openapi/node_modules/fast-json-stringify"
        ),
        "the fixture no longer has two versions: the test would not bite"
    );

    // Platformatic DB answers ids as strings.
    let movies = json!([{ "id": "1", "title": "Dune" }, { "id": "2", "title": "Alien" }]);
    let port = free_port();
    let mut stub = boot(&root, port);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/movies"), Duration::from_secs(90));
    assert_eq!(
        json_get(&format!("{base}/movies")),
        movies,
        "{}",
        stub.logs()
    );
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    let port = free_port();
    let mut cmd = wattpm(&app);
    cmd.arg("start").env("PORT", port.to_string());
    let mut watt = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    watt.wait_ready(&format!("{base}/movies"), Duration::from_secs(90));
    assert_eq!(
        json_get(&format!("{base}/movies")),
        movies,
        "{}",
        watt.logs()
    );
    watt.stop(Duration::from_secs(20));
}
