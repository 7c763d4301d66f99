//! `examples/remix` end to end: a Remix 2 (Vite) app as the entrypoint and a dependency-free
//! `node:http` API, packed by `watt build`, extracted into a fresh folder and booted with an
//! empty environment and no node on PATH.
//!
//! What must hold: the page's HTML carries loader data the API serves over
//! `http://api.plt.local` at request time; the stub serves the client build under `/assets/`
//! (content type, ETag, 304, immutable caching); a form POST runs the route's action, which
//! writes through the API, and the next render shows it; Remix's data requests (`?_data=`)
//! answer JSON; only the production files ship; SIGTERM stops everything with exit code 0.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use watt_e2e::*;

/// The items of `<ul id="notes">`.
fn notes(html: &str) -> Vec<String> {
    let Some(start) = html.find("<ul id=\"notes\">") else {
        return Vec::new();
    };
    let list = &html[start..];
    let list = &list[..list.find("</ul>").unwrap_or(list.len())];
    list.split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn archive_ships_the_builds_and_production_dependencies_only() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("x");
    extract(&built_example("remix"), &root);
    let app = root.join("app");
    for present in [
        "web/app/build/server/index.js",
        "web/app/package.json",
        "web/api/server.js",
    ] {
        assert!(app.join(present).exists(), "{present} missing");
    }
    let client = app.join("web/app/build/client/assets");
    assert!(
        std::fs::read_dir(&client)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("entry.client-")),
        "no client entry in {}",
        client.display()
    );
    for package in ["@remix-run/node", "@remix-run/react", "react", "react-dom"] {
        let found = ["web/app/node_modules", "node_modules"]
            .iter()
            .any(|dir| app.join(dir).join(package).join("package.json").is_file());
        assert!(found, "{package} (a dependency of app) missing");
    }
    for absent in [
        "web/app/app",
        "web/app/vite.config.js",
        // devDependencies: the Remix compiler and Vite.
        "node_modules/@remix-run/dev",
        "web/app/node_modules/@remix-run/dev",
        "node_modules/vite",
        "node_modules/esbuild",
    ] {
        assert!(!app.join(absent).exists(), "{absent} should not ship");
    }
    let m: Value =
        serde_json::from_slice(&std::fs::read(root.join("watt-manifest.json")).unwrap()).unwrap();
    let service = |id: &str| {
        m["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no service {id}"))
            .clone()
    };
    let app_svc = service("app");
    assert_eq!(app_svc["kind"], "remix");
    assert_eq!(app_svc["start"]["type"], "requestHandler");
    assert_eq!(app_svc["start"]["runtime"], "remix");
    assert_eq!(app_svc["staticAssets"]["urlPrefix"], "/");
    assert_eq!(service("api")["kind"], "node");
    assert_eq!(m["entrypoint"], "app");
}

#[test]
fn loader_and_action_reach_the_api_and_assets_come_from_the_stub() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("extracted");
    extract(&built_example("remix"), &root);
    let port = free_port();
    let edition = format!("edition-{}", std::process::id());
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string())
        .env("REMIX_EDITION", &edition);
    let started = Instant::now();
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/"), Duration::from_secs(90));
    eprintln!("Remix answering {:?} after start", started.elapsed());

    // The page: loader data fetched from the API over the mesh, at request time.
    let page = request(&format!("{base}/"), &[]);
    assert_eq!(page.status, 200, "{}\n{}", page.text(), stub.logs());
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{:?}",
        page.headers
    );
    let html = page.text();
    assert_eq!(
        strong(&html, "message"),
        Some(format!("Hello from the API, {edition}")),
        "{html}"
    );
    let api_pid: i32 = strong(&html, "api-pid")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no API pid in {html}"));
    let pids = descendants(stub.child.id() as i32);
    assert!(
        pids.contains(&api_pid),
        "the API (pid {api_pid}) runs under the stub: {pids:?}"
    );
    assert_run_from(&root, &pids);
    let rendered_at = |h: &str| h.split("<time>").nth(1).map(|s| s[..24].to_string());
    std::thread::sleep(Duration::from_millis(5));
    let again = request(&format!("{base}/"), &[]).text();
    assert_ne!(
        rendered_at(&html),
        rendered_at(&again),
        "rendered per request"
    );
    assert!(notes(&html).is_empty(), "{html}");

    // A client asset under /assets/, served by the stub from build/client.
    let entry = asset_path(&html, "/assets/entry.client-")
        .unwrap_or_else(|| panic!("no client entry in {html}"));
    let asset = request(&format!("{base}{entry}"), &[]);
    assert_eq!(asset.status, 200, "{entry}\n{}", stub.logs());
    assert!(
        asset.header("content-type").contains("javascript"),
        "{:?}",
        asset.headers
    );
    let on_disk = std::fs::read(
        root.join("app/web/app/build/client")
            .join(entry.trim_start_matches('/')),
    )
    .unwrap();
    assert_eq!(asset.body, on_disk);
    let etag = asset.header("etag").to_string();
    assert!(!etag.is_empty(), "no ETag: {:?}", asset.headers);
    assert!(
        asset.header("cache-control").contains("immutable"),
        "{:?}",
        asset.headers
    );
    let revalidated = request(&format!("{base}{entry}"), &[("If-None-Match", &etag)]);
    assert_eq!(revalidated.status, 304, "{:?}", revalidated.headers);
    assert!(revalidated.body.is_empty());

    // The action: a form POST (no JavaScript) writes through the API; the action's response
    // is the re-rendered page with its loader data, and later renders keep it.
    let posted = post_form(&format!("{base}/?index"), &[("note", "packed & shipped")]);
    assert_eq!(posted.status, 201, "{}\n{}", posted.text(), stub.logs());
    assert_eq!(
        notes(&posted.text()),
        ["packed &amp; shipped"],
        "{}",
        posted.text()
    );
    let rejected = post_form(&format!("{base}/?index"), &[("note", "  ")]);
    assert_eq!(
        rejected.status, 400,
        "the API's status passes through the action"
    );
    let after = request(&format!("{base}/"), &[]).text();
    assert_eq!(notes(&after), ["packed &amp; shipped"], "{after}");

    // Remix's client-side navigation fetches loader data as JSON (`?_data=`).
    let data = request(&format!("{base}/?index&_data=routes%2F_index"), &[]);
    assert_eq!(data.status, 200, "{}", data.text());
    assert!(
        data.header("content-type").starts_with("application/json"),
        "{:?}",
        data.headers
    );
    let data: Value = serde_json::from_slice(&data.body).unwrap();
    assert_eq!(data["notes"], serde_json::json!(["packed & shipped"]));
    assert_eq!(data["greeting"]["pid"], api_pid);

    // Unknown routes are Remix's 404, rendered by the app (not the stub's static 404).
    assert_eq!(request(&format!("{base}/no/such/page"), &[]).status, 404);

    let (code, left) = stub.stop(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// `watt inspect --json` on this archive: the parts add up to what extracting it gives, and
/// the largest packages are what `du` finds in their folders.
#[test]
fn inspect_adds_up_to_the_extracted_tree() {
    assert_inspect_matches_du(&built_example("remix"), &["api", "app"]);
}
