//! `examples/content` end to end: an Astro SSR site (standalone), an Astro SSR site in
//! `@astrojs/node` middleware mode under `/mw`, a static Astro site under `/docs`, a Vite SPA
//! under `/spa`, a React Router 7 app under `/shop`, a React Router 7 SPA (`ssr: false`) under
//! `/rrspa`, a Fastify API and Watt's gateway in front, packed by `watt build`, extracted into a
//! fresh folder and booted with no node on PATH.
//!
//! What must hold: both Astro SSR pages and the React Router loader render data the API serves
//! over `http://api.plt.local` at request time; the stub serves both SPAs (deep links fall back
//! to index.html) and the static Astro site (no process for them), and every framework's client
//! files with caching headers (ETag, 304, ranges, immutable hashed assets);
//! a WebSocket echoes through the gateway; a crashed upstream is a 503 naming it until it is back; SIGTERM
//! stops everything with exit code 0.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use watt_e2e::*;

/// Extract the shared archive into a fresh folder and boot it the way a user would on a bare
/// host: empty environment, no node on PATH.
fn boot(edition: &str) -> (tempfile::TempDir, Running, String) {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("extracted");
    extract(&built_example("content"), &root);
    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string())
        .env("CONTENT_EDITION", edition);
    let started = Instant::now();
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/api/info"), Duration::from_secs(90));
    eprintln!("gateway answering {:?} after start", started.elapsed());
    (work, stub, base)
}

fn api_info(base: &str, stub: &Running) -> Value {
    let r = request(&format!("{base}/api/info"), &[]);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), stub.logs());
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn archive_ships_outputs_and_production_dependencies_only() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("x");
    extract(&built_example("content"), &root);
    let app = root.join("app");
    // Built outputs ship; sources do not.
    for present in [
        "web/site/dist/server/entry.mjs",
        "web/site/dist/client/site.css",
        "web/site/package.json",
        "web/spa/dist/index.html",
        "web/docs/dist/index.html",
        "web/docs/dist/guide/index.html",
        "web/shop/build/server/index.js",
        "web/shop/package.json",
        "web/mw/dist/server/entry.mjs",
        "web/mw/package.json",
        "web/rrspa/build/client/index.html",
        "web/api/routes/ws.js",
    ] {
        assert!(app.join(present).exists(), "{present} missing");
    }
    // Production dependencies, wherever npm placed them (hoisted or in the workspace).
    for (service, package) in [
        ("site", "astro"),
        ("site", "cookie"),
        ("mw", "astro"),
        ("mw", "@astrojs/node"),
        ("mw", "cookie"),
        ("shop", "@react-router/node"),
        ("shop", "react-dom"),
        ("api", "@fastify/websocket"),
    ] {
        let found = [format!("web/{service}/node_modules"), "node_modules".into()]
            .iter()
            .any(|dir| app.join(dir).join(package).join("package.json").is_file());
        assert!(found, "{package} (a dependency of {service}) missing");
    }
    for absent in [
        "web/site/src",
        "web/site/astro.config.mjs",
        "web/spa/src",
        "web/spa/index.html",
        "web/spa/package.json",
        // A static Astro site ships its output only: no sources, config or dependencies.
        "web/docs/src",
        "web/docs/astro.config.mjs",
        "web/docs/package.json",
        "web/docs/node_modules",
        "web/shop/app",
        "web/shop/vite.config.ts",
        "web/mw/src",
        "web/mw/astro.config.mjs",
        // A React Router SPA ships build/client only: no sources, config, package.json or
        // dependencies (the server build React Router writes for prerendering stays behind).
        "web/rrspa/app",
        "web/rrspa/react-router.config.ts",
        "web/rrspa/package.json",
        "web/rrspa/node_modules",
        "web/rrspa/build/server",
        // devDependencies and Watt's own runtime.
        "node_modules/@react-router/dev",
        "web/shop/node_modules/@react-router/dev",
        "node_modules/wattpm",
        "node_modules/@platformatic/vite",
        "node_modules/@platformatic/gateway",
    ] {
        assert!(!app.join(absent).exists(), "{absent} should not ship");
    }
    let m: Value =
        serde_json::from_slice(&std::fs::read(root.join("watt-manifest.json")).unwrap()).unwrap();
    let start = |id: &str| {
        m["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no service {id}"))["start"]
            .clone()
    };
    assert_eq!(start("spa")["type"], "static");
    assert_eq!(start("spa")["spaFallback"], true);
    assert_eq!(start("docs")["type"], "static");
    assert_eq!(start("docs")["spaFallback"], false);
    assert_eq!(start("docs")["dir"], "app/web/docs/dist");
    assert_eq!(start("site")["type"], "node");
    assert_eq!(start("shop")["type"], "requestHandler");
    assert_eq!(start("shop")["runtime"], "react-router");
    assert_eq!(start("gateway")["type"], "gateway");
    // Astro in @astrojs/node middleware mode: the entry only exports `handler`, so a command
    // serves it with node:http, and its client files are served by the stub in front.
    let mw = start("mw");
    assert_eq!(mw["type"], "command", "{mw}");
    let argv: Vec<&str> = mw["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(argv[..3], ["node", "--input-type=module", "--eval"], "{mw}");
    assert!(argv[3].contains("dist/server/entry.mjs"), "{mw}");
    let assets = m["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "mw")
        .unwrap()["staticAssets"]
        .clone();
    assert_eq!(assets["dir"], "app/web/mw/dist/client", "{assets}");
    assert_eq!(assets["urlPrefix"], "/mw", "{assets}");
    // React Router with `ssr: false`: static files with SPA fallback, no process.
    assert_eq!(start("rrspa")["type"], "static");
    assert_eq!(start("rrspa")["spaFallback"], true);
    assert_eq!(start("rrspa")["dir"], "app/web/rrspa/build/client");
}

#[test]
fn every_framework_answers_through_the_gateway_and_stops_cleanly() {
    let edition = format!("edition-{}", std::process::id());
    let (work, mut stub, base) = boot(&edition);
    let root = work.path().join("extracted");
    let info = api_info(&base, &stub);
    assert_eq!(
        info["edition"],
        edition.as_str(),
        "placeholder from the environment"
    );
    let api_pid = info["pid"].as_i64().unwrap();

    // Astro SSR: rendered per request from the API over the mesh.
    let page = request(&format!("{base}/"), &[]);
    assert_eq!(page.status, 200, "{}\n{}", page.text(), stub.logs());
    let html = page.text();
    assert_eq!(
        strong(&html, "edition").as_deref(),
        Some(edition.as_str()),
        "{html}"
    );
    assert_eq!(
        strong(&html, "api-pid"),
        Some(api_pid.to_string()),
        "{html}"
    );
    assert!(html.contains("Crucible: 80"), "{html}");
    std::thread::sleep(Duration::from_millis(5));
    let again = request(&format!("{base}/"), &[]).text();
    let served_at = |h: &str| {
        h.split("<time>")
            .nth(1)
            .map(|s| s.chars().take(24).collect::<String>())
    };
    assert_ne!(
        served_at(&html),
        served_at(&again),
        "rendered at request time"
    );
    // Its public files come from the stub.
    let css = request(&format!("{base}/site.css"), &[]);
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type").starts_with("text/css"),
        "{:?}",
        css.headers
    );

    // Vite SPA under /spa: index, deep link fallback, hashed asset with caching headers.
    let index = request(&format!("{base}/spa/"), &[]);
    assert_eq!(index.status, 200, "{}\n{}", index.text(), stub.logs());
    assert!(index.header("content-type").starts_with("text/html"));
    assert!(
        index.text().contains("<div id=\"app\">"),
        "{}",
        index.text()
    );
    let deep = request(&format!("{base}/spa/deep/link"), &[]);
    assert_eq!(deep.status, 200, "{}", deep.text());
    assert_eq!(deep.text(), index.text(), "deep links get index.html");
    let js = asset_path(&index.text(), "/spa/assets/index-")
        .unwrap_or_else(|| panic!("no hashed script in {}", index.text()));
    assert!(js.ends_with(".js"), "{js}");
    let asset = request(&format!("{base}{js}"), &[]);
    assert_eq!(asset.status, 200, "{js}");
    assert!(
        asset.header("content-type").contains("javascript"),
        "{:?}",
        asset.headers
    );
    let on_disk = std::fs::read(
        root.join("app/web/spa/dist")
            .join(js.trim_start_matches("/spa/")),
    )
    .unwrap();
    assert_eq!(asset.body, on_disk);
    let etag = asset.header("etag").to_string();
    assert!(!etag.is_empty(), "no ETag: {:?}", asset.headers);
    let revalidated = request(&format!("{base}{js}"), &[("If-None-Match", &etag)]);
    assert_eq!(revalidated.status, 304, "{:?}", revalidated.headers);
    assert!(revalidated.body.is_empty());
    let range = request(&format!("{base}{js}"), &[("Range", "bytes=0-9")]);
    assert_eq!(range.status, 206, "{:?}", range.headers);
    assert_eq!(range.body, on_disk[..10]);
    assert_eq!(
        range.header("content-range"),
        format!("bytes 0-9/{}", on_disk.len())
    );

    // Static Astro under /docs (built with `--base /docs/`): pages and hashed assets from the
    // stub through the gateway.
    let docs = request(&format!("{base}/docs/"), &[]);
    assert_eq!(docs.status, 200, "{}\n{}", docs.text(), stub.logs());
    assert!(
        docs.header("content-type").starts_with("text/html"),
        "{:?}",
        docs.headers
    );
    let html = docs.text();
    assert!(
        html.contains("<h1 id=\"docs-title\">Content docs</h1>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/docs/guide/\""),
        "links carry the base: {html}"
    );
    let guide = request(&format!("{base}/docs/guide/"), &[]);
    assert_eq!(guide.status, 200, "{}", guide.text());
    assert!(guide.text().contains("<h1 id=\"guide-title\">Guide</h1>"));
    let css = asset_path(&html, "/docs/_astro/")
        .unwrap_or_else(|| panic!("no hashed stylesheet under /docs/_astro/ in {html}"));
    assert!(css.ends_with(".css"), "{css}");
    let sheet = request(&format!("{base}{css}"), &[]);
    assert_eq!(sheet.status, 200, "{css}\n{}", stub.logs());
    assert!(
        sheet.header("content-type").starts_with("text/css"),
        "{:?}",
        sheet.headers
    );
    assert!(
        sheet.header("cache-control").contains("immutable"),
        "a hashed asset is cached for good: {:?}",
        sheet.headers
    );
    assert!(
        sheet.header("cache-control").contains("max-age=31536000"),
        "{:?}",
        sheet.headers
    );
    assert!(
        !docs.header("cache-control").contains("immutable"),
        "pages are not: {:?}",
        docs.headers
    );
    let on_disk = std::fs::read(
        root.join("app/web/docs/dist")
            .join(css.trim_start_matches("/docs/")),
    )
    .unwrap();
    assert_eq!(sheet.body, on_disk);
    assert!(!sheet.header("etag").is_empty(), "{:?}", sheet.headers);
    assert_eq!(
        request(&format!("{base}/docs/no-such-page/"), &[]).status,
        404,
        "a static site without SPA fallback answers 404 for unknown paths"
    );

    // Astro SSR in middleware mode under /mw: rendered per request by the exported handler.
    let mw = request(&format!("{base}/mw/"), &[]);
    assert_eq!(mw.status, 200, "{}\n{}", mw.text(), stub.logs());
    assert!(
        mw.header("content-type").starts_with("text/html"),
        "{:?}",
        mw.headers
    );
    let html = mw.text();
    assert!(
        html.contains("<h1 id=\"mw-title\">Astro middleware</h1>"),
        "{html}"
    );
    assert_eq!(
        strong(&html, "edition").as_deref(),
        Some(edition.as_str()),
        "{html}"
    );
    assert_eq!(
        strong(&html, "api-pid"),
        Some(api_pid.to_string()),
        "{html}"
    );
    std::thread::sleep(Duration::from_millis(5));
    let again = request(&format!("{base}/mw/"), &[]).text();
    assert_ne!(
        served_at(&html),
        served_at(&again),
        "rendered at request time: {html}\n{again}"
    );
    // Its hashed stylesheet (inlineStylesheets: 'never') comes from the stub: the middleware
    // handler serves no static files.
    let css = asset_path(&html, "/mw/_astro/")
        .unwrap_or_else(|| panic!("no hashed stylesheet under /mw/_astro/ in {html}"));
    assert!(css.ends_with(".css"), "{css}");
    let sheet = request(&format!("{base}{css}"), &[]);
    assert_eq!(sheet.status, 200, "{css}\n{}", stub.logs());
    assert!(
        sheet.header("content-type").starts_with("text/css"),
        "{:?}",
        sheet.headers
    );
    let on_disk = std::fs::read(
        root.join("app/web/mw/dist/client")
            .join(css.trim_start_matches("/mw/")),
    )
    .unwrap();
    assert_eq!(sheet.body, on_disk);
    let etag = sheet.header("etag").to_string();
    assert!(!etag.is_empty(), "no ETag: {:?}", sheet.headers);
    assert!(
        sheet.header("cache-control").contains("immutable"),
        "{:?}",
        sheet.headers
    );
    let revalidated = request(&format!("{base}{css}"), &[("If-None-Match", &etag)]);
    assert_eq!(revalidated.status, 304, "{:?}", revalidated.headers);

    // React Router SPA mode under /rrspa: index.html, deep links fall back to it, hashed
    // client files with caching headers, all from the stub.
    let rrspa = request(&format!("{base}/rrspa/"), &[]);
    assert_eq!(rrspa.status, 200, "{}\n{}", rrspa.text(), stub.logs());
    assert!(
        rrspa.header("content-type").starts_with("text/html"),
        "{:?}",
        rrspa.headers
    );
    let html = rrspa.text();
    assert!(html.contains("\"isSpaMode\":true"), "{html}");
    assert!(html.contains("id=\"rrspa-loading\""), "{html}");
    assert_eq!(
        html.as_bytes(),
        std::fs::read(root.join("app/web/rrspa/build/client/index.html")).unwrap()
    );
    let deep = request(&format!("{base}/rrspa/some/route"), &[]);
    assert_eq!(deep.status, 200, "{}", deep.text());
    assert_eq!(deep.text(), html, "deep links get index.html");
    let entry = asset_path(&html, "/rrspa/assets/entry.client-")
        .unwrap_or_else(|| panic!("no client entry in {html}"));
    assert!(entry.ends_with(".js"), "{entry}");
    let client = request(&format!("{base}{entry}"), &[]);
    assert_eq!(client.status, 200, "{entry}\n{}", stub.logs());
    assert!(
        client.header("content-type").contains("javascript"),
        "{:?}",
        client.headers
    );
    assert!(
        client.header("cache-control").contains("immutable"),
        "a hashed asset is cached for good: {:?}",
        client.headers
    );
    assert!(
        !rrspa.header("cache-control").contains("immutable"),
        "index.html is not: {:?}",
        rrspa.headers
    );
    assert_eq!(
        client.body,
        std::fs::read(
            root.join("app/web/rrspa/build/client")
                .join(entry.trim_start_matches("/rrspa/"))
        )
        .unwrap()
    );

    // React Router under /shop: loader data from the API, client files from the stub.
    let shop = request(&format!("{base}/shop/"), &[]);
    assert_eq!(shop.status, 200, "{}\n{}", shop.text(), stub.logs());
    let html = shop.text();
    assert_eq!(
        strong(&html, "edition").as_deref(),
        Some(edition.as_str()),
        "{html}"
    );
    assert_eq!(
        strong(&html, "api-pid"),
        Some(api_pid.to_string()),
        "{html}"
    );
    let product = request(&format!("{base}/shop/products/anvil"), &[]);
    assert_eq!(product.status, 200, "{}", product.text());
    // React separates adjacent text nodes with `<!-- -->`.
    assert!(
        product
            .text()
            .contains("<h1>Anvil</h1><p>Price: <!-- -->120</p>"),
        "{}",
        product.text()
    );
    assert_eq!(
        request(&format!("{base}/shop/products/nope"), &[]).status,
        404
    );
    let entry = asset_path(&html, "/shop/assets/entry.client-")
        .unwrap_or_else(|| panic!("no client entry in {html}"));
    let client = request(&format!("{base}{entry}"), &[]);
    assert_eq!(client.status, 200, "{entry}");
    assert!(client.header("content-type").contains("javascript"));
    assert!(!client.header("etag").is_empty(), "{:?}", client.headers);

    // WebSocket through the gateway to the API's /ws.
    let port = base.rsplit(':').next().unwrap();
    let stream = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/api/ws"), stream)
        .unwrap_or_else(|e| {
            panic!(
                "WebSocket handshake through the gateway: {e}\n{}",
                stub.logs()
            )
        });
    ws.send(tungstenite::Message::text("hello through the gateway"))
        .unwrap();
    let reply = ws.read().unwrap();
    assert_eq!(reply.to_text().unwrap(), "echo: hello through the gateway");
    ws.close(None).unwrap();

    // Processes: the API, both Astro SSR sites and React Router SSR run on the bundled node; the
    // gateway, both SPAs and the static Astro site are served by the stub itself. Each service process runs
    // in its own folder, so the working directories say which services have one.
    let pids = descendants(stub.child.id() as i32);
    let mut service_dirs: Vec<String> = pids
        .iter()
        .filter_map(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).ok())
        .filter_map(|cwd| {
            cwd.strip_prefix(root.join("app/web"))
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect();
    service_dirs.sort();
    service_dirs.dedup();
    assert_eq!(
        service_dirs,
        ["api", "mw", "shop", "site"],
        "processes (pids {pids:?}) run in these service folders; docs, spa, rrspa and gateway \
         have none"
    );
    assert!(
        pids.contains(&(api_pid as i32)),
        "api pid {api_pid} not under the stub: {pids:?}"
    );
    assert!(
        pids.len() >= 4,
        "expected ≥4 service processes, got {pids:?}"
    );
    for pid in &pids {
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
            assert!(
                exe.starts_with(&root),
                "process {pid} runs {} from outside the artifact",
                exe.display()
            );
        }
    }

    let (code, left) = stub.stop(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn a_route_whose_upstream_crashed_fails_fast_naming_it_then_comes_back() {
    let (_work, mut stub, base) = boot("edition-502");
    let api_pid = api_info(&base, &stub)["pid"].as_i64().unwrap() as i32;
    assert!(
        descendants(stub.child.id() as i32).contains(&api_pid),
        "api pid {api_pid} is not one of the stub's processes"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(api_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // While the stub restarts it, the route fails fast (503) and says why; then it is back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let last = loop {
        let r = request(&format!("{base}/api/info"), &[]);
        if matches!(r.status, 502 | 503) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(last.status, 503, "{}\n{}", last.text(), stub.logs());
    assert!(
        last.text().contains("api"),
        "the 503 names the service: {}",
        last.text()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = request(&format!("{base}/api/info"), &[]);
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "api did not come back\n{}",
            stub.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (_, left) = stub.stop(Duration::from_secs(15));
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// `watt inspect --json` on this archive: the parts add up to what extracting it gives, and
/// the largest packages are what `du` finds in their folders. (The gateway runs inside the
/// stub: it ships no files of its own.)
#[test]
fn inspect_adds_up_to_the_extracted_tree() {
    assert_inspect_matches_du(
        &built_example("content"),
        &["api", "docs", "mw", "rrspa", "shop", "site", "spa"],
    );
}
