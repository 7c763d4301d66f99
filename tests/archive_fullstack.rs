//! A full-stack Watt app end to end: `watt build examples/fullstack` (a Next.js 16 app-router
//! storefront, a Next.js 15 pages-router app under `application.basePath` `/legacy`, a Fastify
//! API and a gateway) into an archive, extracted into a fresh folder and booted with no node on
//! PATH. Through the gateway: pages rendered at request time with data fetched from the API over
//! `http://api.plt.local`, the API's JSON, Next's hashed static assets (answered by the stub:
//! strong ETag, 304, Range, immutable caching) and `public/` files, a WebSocket echo, a 503
//! naming a stopped upstream, and a clean SIGTERM.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use watt_e2e::*;

/// Where the storefront's standalone `server.js` lives in the artifact (the example is an npm
/// workspace, so Next's tracing root is the app root and the standalone tree mirrors it).
const SERVER_DIR: &str = "app/web/storefront/.next/standalone/web/storefront";
/// The same for the pages-router app (Next 15, nested in its own node_modules by npm).
const LEGACY_SERVER_DIR: &str = "app/web/legacy/.next/standalone/web/legacy";

/// Extract the archive and start the stub on a free port with a bare environment.
fn boot(work: &Path, store: &str) -> (PathBuf, Running, String) {
    let root = work.join("extracted");
    extract(&built_example("fullstack"), &root);
    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        // No node anywhere on PATH: the archive must carry its own.
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string())
        // Read by the API at start (a plugin option placeholder), shown by the page.
        .env("STORE_NAME", store)
        // Next's server.js reads HOSTNAME; a container's name must not break it.
        .env("HOSTNAME", "container-name-that-does-not-resolve");
    let started = Instant::now();
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/api/products"), Duration::from_secs(90));
    stub.wait_ready(&format!("{base}/"), Duration::from_secs(60));
    stub.wait_ready(&format!("{base}/legacy"), Duration::from_secs(60));
    eprintln!("all routes answering {:?} after start", started.elapsed());
    (root, stub, base)
}

/// The API's process: the stub's descendant whose working directory is the API's folder
/// (Next's server.js changes its own to the standalone folder).
fn api_pid(stub: &Running, root: &Path) -> i32 {
    let api_dir = root.join("app/web/api");
    descendants(stub.child.id() as i32)
        .into_iter()
        .find(|p| std::fs::read_link(format!("/proc/{p}/cwd")).is_ok_and(|c| c == api_dir))
        .unwrap_or_else(|| panic!("no process runs in {}\n{}", api_dir.display(), stub.logs()))
}

/// `name="value"` attribute values of the first element that has them.
fn attr(html: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in the page:\n{html}"))
        + key.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Every `<base>/_next/static/…` URL the page references.
fn static_urls(html: &str, base: &str) -> Vec<String> {
    let mut out: Vec<String> = html
        .match_indices(&format!("\"{base}/_next/static/"))
        .map(|(i, _)| html[i + 1..].split('"').next().unwrap().to_string())
        // The inline RSC payload quotes them as \"…\": only the HTML attributes count.
        .filter(|u| !u.contains('\\'))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// GET with the response's content type and raw bytes.
fn get_bytes(url: &str) -> (u16, String, Vec<u8>) {
    let r = match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let ct = r.content_type().to_string();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    (status, ct, body)
}

/// A request with extra headers: status, headers by lower-case name, body.
fn request(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut req = ureq::get(url).timeout(Duration::from_secs(10));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let r = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let hs = r
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = r.header(&n).unwrap_or_default().to_string();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    (status, hs, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The stub's ETag for a file: the first 16 bytes of its SHA-256, quoted (strong).
fn content_etag(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", file.display());
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("\"{}\"", &hex[..32])
}

/// A hashed Next asset answered by the stub itself (not proxied to server.js): the shipped
/// file's bytes and content type, the stub's strong content ETag (Next's own is weak), a
/// year of `immutable` caching, a 304 for a matching `If-None-Match`, and byte ranges.
fn check_native_asset(
    base: &str,
    url: &str,
    file: &Path,
    content_type: &str,
    logs: &dyn Fn() -> String,
) {
    let want = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(want.len() > 10, "{url} is too small to test ranges");
    let (status, h, body) = request(&format!("{base}{url}"), &[]);
    assert_eq!(status, 200, "{url}\n{}", logs());
    assert_eq!(body, want, "{url} = {}", file.display());
    let ct = header(&h, "content-type").unwrap_or_default();
    assert!(ct.starts_with(content_type), "{url} served as {ct}");
    let etag = header(&h, "etag").unwrap_or_else(|| panic!("{url}: no ETag in {h:?}"));
    assert_eq!(etag, content_etag(file), "{url}: the stub's strong ETag");
    let cc = header(&h, "cache-control").unwrap_or_default();
    assert!(
        cc.contains("immutable") && cc.contains("max-age=31536000"),
        "{url}: Cache-Control {cc:?}"
    );

    let (status, h304, body) = request(&format!("{base}{url}"), &[("If-None-Match", etag)]);
    assert_eq!(status, 304, "{url} with If-None-Match {etag}");
    assert!(body.is_empty(), "a 304 has no body");
    assert_eq!(header(&h304, "etag"), Some(etag));

    let (status, h206, body) = request(&format!("{base}{url}"), &[("Range", "bytes=0-9")]);
    assert_eq!(status, 206, "{url} with Range: bytes=0-9");
    assert_eq!(
        header(&h206, "content-range"),
        Some(format!("bytes 0-9/{}", want.len()).as_str())
    );
    assert_eq!(body, want[..10], "{url}: the first ten bytes");
}

/// Bytes of the regular files below `dir`, links not followed.
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            total += tree_size(&e.path());
        } else if ft.is_file() {
            total += e.metadata().unwrap().len();
        }
    }
    total
}

#[test]
fn fullstack_example_serves_next_and_the_api_through_the_gateway_and_stops_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let (root, mut stub, base) = boot(work.path(), "Forge & Co");

    // Shipped: Next's standalone server with its traced dependencies, static files and
    // public/ beside server.js; not Next's build cache, not Watt's runtime packages.
    let server_dir = root.join(SERVER_DIR);
    assert!(server_dir.join("server.js").is_file());
    assert!(server_dir.join(".next/static").is_dir());
    assert!(server_dir.join("public/logo.svg").is_file());
    assert!(!root.join("app/web/storefront/.next/cache").exists());
    assert!(!root.join("app/web/storefront/.next/static").exists());
    assert!(!root.join("app/node_modules/@platformatic").exists());
    assert!(!root.join("app/node_modules/wattpm").exists());
    let shipped = tree_size(&root.join("app/web/storefront"));
    let installed = tree_size(&example("fullstack").join("node_modules"));
    eprintln!(
        "storefront shipped: {:.1} MB; the app's node_modules: {:.1} MB",
        shipped as f64 / 1e6,
        installed as f64 / 1e6
    );
    assert!(
        shipped * 5 < installed,
        "the standalone output should be a fraction of node_modules: {shipped} vs {installed}"
    );

    let api = api_pid(&stub, &root);

    // The page is rendered per request with data the API produced across the mesh.
    let (status, html) = get(&format!("{base}/"));
    assert_eq!(status, 200, "{html}\n{}", stub.logs());
    assert_eq!(
        attr(&html, "data-store"),
        "Forge &amp; Co",
        "from the API's env at start"
    );
    assert_eq!(
        attr(&html, "data-api-pid"),
        api.to_string(),
        "rendered with data from the API process"
    );
    assert!(
        html.contains("Crucible"),
        "product list from the API:\n{html}"
    );
    let hit: u64 = attr(&html, "data-api-hit").parse().unwrap();
    let (_, again) = get(&format!("{base}/"));
    let hit_again: u64 = attr(&again, "data-api-hit").parse().unwrap();
    assert!(
        hit_again > hit,
        "each page view asks the API again ({hit} then {hit_again})"
    );

    // The API through the gateway's /api prefix.
    let (status, body) = get(&format!("{base}/api/products"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["store"], "Forge & Co");
    assert_eq!(v["servedBy"], api);
    assert_eq!(v["products"].as_array().map(Vec::len), Some(3));
    let (status, body) = get(&format!("{base}/api/products/2"));
    assert_eq!(status, 200);
    assert!(body.contains("Bellows"), "{body}");

    // Next's hashed assets, from the .next/static copied beside server.js, answered by the stub.
    let urls = static_urls(&html, "");
    let css = urls
        .iter()
        .find(|u| u.ends_with(".css"))
        .unwrap_or_else(|| panic!("no stylesheet in the page: {urls:?}"));
    let js = urls
        .iter()
        .find(|u| u.ends_with(".js"))
        .unwrap_or_else(|| panic!("no script in the page: {urls:?}"));
    for (url, want) in [(css, "text/css"), (js, "text/javascript")] {
        let file = server_dir
            .join(".next")
            .join(url.trim_start_matches("/_next/"));
        check_native_asset(&base, url, &file, want, &|| stub.logs());
    }
    // A hashed name that does not exist still reaches Next (its 404), not a stub error.
    let (status, _) = get(&format!(
        "{base}/_next/static/chunks/nope-0123456789abcdef.js"
    ));
    assert_eq!(status, 404);
    let (status, ct, body) = get_bytes(&format!("{base}/logo.svg"));
    assert_eq!(status, 200);
    assert_eq!(ct, "image/svg+xml");
    assert_eq!(
        body,
        std::fs::read(example("fullstack").join("web/storefront/public/logo.svg")).unwrap()
    );

    // Next 15, pages router, under application.basePath /legacy: getServerSideProps asks the
    // API over the mesh on every request.
    let legacy_dir = root.join(LEGACY_SERVER_DIR);
    assert!(legacy_dir.join("server.js").is_file());
    let next_version = |dir: &Path| -> String {
        let pkg = std::fs::read_to_string(dir.join("package.json")).unwrap();
        serde_json::from_str::<Value>(&pkg).unwrap()["version"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let legacy_next =
        next_version(&root.join("app/web/legacy/.next/standalone/web/legacy/node_modules/next"));
    assert!(
        legacy_next.starts_with("15."),
        "legacy ships Next {legacy_next}"
    );
    let store_next =
        next_version(&root.join("app/web/storefront/.next/standalone/node_modules/next"));
    assert!(
        store_next.starts_with("16."),
        "storefront ships Next {store_next}"
    );
    let (status, page) = get(&format!("{base}/legacy"));
    assert_eq!(status, 200, "{page}\n{}", stub.logs());
    assert!(
        page.contains("(legacy pages)"),
        "the pages-router page:\n{page}"
    );
    assert!(
        page.contains("__NEXT_DATA__"),
        "rendered by the pages router:\n{page}"
    );
    assert_eq!(attr(&page, "data-store"), "Forge &amp; Co");
    assert_eq!(attr(&page, "data-api-pid"), api.to_string());
    let legacy_hit: u64 = attr(&page, "data-api-hit").parse().unwrap();
    let (_, page_again) = get(&format!("{base}/legacy"));
    let legacy_hit_again: u64 = attr(&page_again, "data-api-hit").parse().unwrap();
    assert!(
        legacy_hit_again > legacy_hit,
        "getServerSideProps runs per request ({legacy_hit} then {legacy_hit_again})"
    );
    assert!(
        static_urls(&page, "").is_empty(),
        "every asset of /legacy is under its base path"
    );
    let legacy_urls = static_urls(&page, "/legacy");
    let legacy_css = legacy_urls
        .iter()
        .find(|u| u.ends_with(".css"))
        .unwrap_or_else(|| panic!("no stylesheet in /legacy: {legacy_urls:?}"));
    let legacy_js = legacy_urls
        .iter()
        .find(|u| u.contains("/chunks/pages/index-") && u.ends_with(".js"))
        .unwrap_or_else(|| panic!("no page chunk in /legacy: {legacy_urls:?}"));
    // The client runtime loads lazy chunks and fonts from the base path too: Next 15.5 builds
    // it in workers whose NODE_OPTIONS keep one `--import`, so watt's hooks must be one.
    let runtime = legacy_urls
        .iter()
        .find(|u| u.contains("/chunks/webpack-") && u.ends_with(".js"))
        .unwrap_or_else(|| panic!("no webpack runtime in /legacy: {legacy_urls:?}"));
    let (status, js) = get(&format!("{base}{runtime}"));
    assert_eq!(status, 200, "{runtime}");
    assert!(
        js.contains(".p=\"/legacy/_next/\""),
        "the client runtime's public path is not under /legacy: {}",
        js.split(".p=")
            .nth(1)
            .map_or("none", |t| &t[..t.len().min(40)])
    );
    for (url, want) in [(legacy_css, "text/css"), (legacy_js, "text/javascript")] {
        let file = legacy_dir
            .join(".next")
            .join(url.trim_start_matches("/legacy/_next/"));
        check_native_asset(&base, url, &file, want, &|| stub.logs());
    }

    // A WebSocket through the gateway to the API.
    let port = base.rsplit(':').next().unwrap();
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/api/ws"))
        .unwrap_or_else(|e| panic!("WebSocket /api/ws: {e}\n{}", stub.logs()));
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    ws.send(tungstenite::Message::text("hello through the gateway"))
        .unwrap();
    let reply = ws.read().unwrap();
    assert_eq!(reply.to_text().unwrap(), "echo: hello through the gateway");
    let _ = ws.close(None);

    // Every process runs the bundled node from the artifact.
    let pids = descendants(stub.child.id() as i32);
    assert!(pids.len() >= 2, "expected ≥2 service processes: {pids:?}");
    for pid in &pids {
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
            assert!(
                exe.starts_with(&root),
                "process {pid} runs {} from outside the artifact",
                exe.display()
            );
        }
    }

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stub.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    let status = stub
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("still running 15 s after SIGTERM\n{}", stub.logs()));
    eprintln!("exited {:?} after SIGTERM", t.elapsed());
    assert_eq!(status.code(), Some(0), "{}", stub.logs());
    let left: Vec<_> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let out = stub.stdout.lock().unwrap().clone();
    assert!(
        out.contains("[storefront]") && out.contains("[legacy]"),
        "Next's output is tagged with its service id\n{out}"
    );
}

#[test]
fn a_crashed_upstream_gets_a_503_that_names_it_then_comes_back() {
    let work = tempfile::tempdir().unwrap();
    let (root, stub, base) = boot(work.path(), "Forge");
    let api = api_pid(&stub, &root);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(api),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        match ureq::get(&format!("{base}/api/products"))
            .timeout(Duration::from_secs(5))
            .call()
        {
            Err(ureq::Error::Status(503, r)) => {
                let body = r.into_string().unwrap_or_default();
                assert!(body.contains("api"), "the 503 names the upstream: {body}");
                break;
            }
            Ok(r) => seen.push(format!("{}", r.status())),
            Err(ureq::Error::Status(code, _)) => seen.push(code.to_string()),
            Err(e) => seen.push(e.to_string()),
        }
        assert!(
            Instant::now() < deadline,
            "no 503 after the API was killed; got {seen:?}\n{}",
            stub.logs()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The stub restarts it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{base}/api/products"))
        .timeout(Duration::from_secs(5))
        .call()
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the API did not come back\n{}",
            stub.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The version of `name` the example's lockfile installs at the root, so the pnpm fixture below
/// uses the same Next and React as the storefront.
fn locked_version(name: &str) -> String {
    let lock = std::fs::read_to_string(example("fullstack").join("package-lock.json")).unwrap();
    let lock: Value = serde_json::from_str(&lock).unwrap();
    lock["packages"][format!("node_modules/{name}")]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in examples/fullstack/package-lock.json"))
        .to_string()
}

/// Next standalone from a **pnpm** workspace: Next's output keeps pnpm's layout (a
/// `node_modules/.pnpm` store with relative links), which must ship and boot as is.
#[test]
fn next_standalone_from_a_pnpm_workspace_boots() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("pnpm-next");
    let site = app.join("web/site");
    std::fs::create_dir_all(site.join("app")).unwrap();
    let write = |p: &Path, text: &str| std::fs::write(p, text).unwrap();
    write(
        &app.join("package.json"),
        r#"{ "name": "pnpm-next", "private": true }"#,
    );
    write(
        &app.join("pnpm-workspace.yaml"),
        "packages:\n  - \"web/*\"\n",
    );
    write(
        &app.join("watt.json"),
        r#"{ "autoload": { "path": "web" }, "entrypoint": "site" }"#,
    );
    let deps = serde_json::json!({
        "name": "site",
        "private": true,
        "dependencies": {
            "next": locked_version("next"),
            "react": locked_version("react"),
            "react-dom": locked_version("react-dom"),
        }
    });
    write(&site.join("package.json"), &deps.to_string());
    write(
        &site.join("app/layout.jsx"),
        "export default function Root ({ children }) {\n  return <html><body>{children}</body></html>\n}\n",
    );
    write(
        &site.join("app/page.jsx"),
        "export const dynamic = 'force-dynamic'\nexport default function Page () {\n  return <main data-pid={process.pid}>pnpm standalone</main>\n}\n",
    );
    let o = Command::new("pnpm")
        .args(["install", "--config.confirmModulesPurge=false"])
        .current_dir(&app)
        .output()
        .unwrap_or_else(|e| panic!("run pnpm ({e}): source ci/setup.sh to put pnpm on PATH"));
    assert!(o.status.success(), "pnpm install failed\n{}", text(&o));

    // An uncompressed archive: this test is about the layout, not compression.
    let archive = work.path().join("pnpm-next.tar");
    build_archive(&app, &archive);
    let root = work.path().join("extracted");
    extract(&archive, &root);
    let standalone = root.join("app/web/site/.next/standalone");
    assert!(
        standalone.join("node_modules/.pnpm").is_dir(),
        "Next's standalone output keeps pnpm's store"
    );
    assert!(
        std::fs::symlink_metadata(standalone.join("web/site/node_modules/next"))
            .unwrap()
            .is_symlink(),
        "and its links"
    );

    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string());
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/"), Duration::from_secs(60));
    let (status, html) = get(&format!("{base}/"));
    assert_eq!(status, 200, "{html}\n{}", stub.logs());
    assert!(html.contains("pnpm standalone"), "{html}");
    let pid: i32 = attr(&html, "data-pid").parse().unwrap();
    assert!(
        descendants(stub.child.id() as i32).contains(&pid),
        "rendered by the stub's Next process"
    );
    let js = static_urls(&html, "")
        .into_iter()
        .find(|u| u.ends_with(".js"))
        .unwrap_or_else(|| panic!("no script in the page:\n{html}"));
    let (status, ct, _) = get_bytes(&format!("{base}{js}"));
    assert_eq!(status, 200, "{js}");
    assert!(ct.contains("javascript"), "{js} served as {ct}");
}

/// `watt inspect --json` on this archive: the parts add up to what extracting it gives, and
/// the largest packages are what `du` finds in their folders. (The gateway runs inside the
/// stub: it ships no files of its own.)
#[test]
fn inspect_adds_up_to_the_extracted_tree() {
    assert_inspect_matches_du(
        &built_example("fullstack"),
        &["api", "legacy", "storefront"],
    );
}
