//! `examples/fullstack` (Next 16 app router, Next 15 pages router under /legacy, a Fastify API,
//! the gateway) as one oci-archive, loaded by podman and by Docker and run read-only as the
//! non-root user: pages rendered per request with the API's data over the mesh, the API's JSON,
//! Next's hashed assets and public/ files from the stub, a WebSocket through the gateway, and
//! `stop` exiting 0 within the grace period.

#[path = "images/mod.rs"]
mod images;

use std::process::Command;
use std::time::Duration;

use images::*;
use watt_e2e::*;

const TAG: &str = "localhost/watt-e2e-fullstack:test";

/// `name="value"` of the first element that has the attribute.
fn attr(html: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in the page:\n{html}"))
        + key.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// `<prefix>/_next/static/…` URLs in a page.
fn static_urls(html: &str, prefix: &str) -> Vec<String> {
    let key = format!("\"{prefix}/_next/static/");
    html.match_indices(&key)
        .map(|(i, _)| html[i + 1..].split('"').next().unwrap().to_string())
        .collect()
}

fn check_fullstack_routes(base: &str, store: &str, logs: &dyn Fn() -> String) {
    let products = request(&format!("{base}/api/products"), &[]);
    assert_eq!(products.status, 200, "{}\n{}", products.text(), logs());
    let v = json(&products.text());
    assert_eq!(
        v["store"], store,
        "plugin option placeholder from the container's env"
    );
    assert_eq!(v["products"].as_array().map(Vec::len), Some(3));
    let api_pid = v["servedBy"].to_string();
    assert!(request(&format!("{base}/api/products/2"), &[])
        .text()
        .contains("Bellows"));

    let escaped = store.replace('&', "&amp;");
    for (page, marker) in [("/", "Crucible"), ("/legacy", "(legacy pages)")] {
        let r = request(&format!("{base}{page}"), &[]);
        assert_eq!(r.status, 200, "{page}: {}\n{}", r.text(), logs());
        let html = r.text();
        assert!(html.contains(marker), "{page}: {html}");
        assert_eq!(attr(&html, "data-store"), escaped, "{page}");
        assert_eq!(
            attr(&html, "data-api-pid"),
            api_pid,
            "{page}: rendered with the API's data"
        );
        let hit: u64 = attr(&html, "data-api-hit").parse().unwrap();
        let again: u64 = attr(
            &request(&format!("{base}{page}"), &[]).text(),
            "data-api-hit",
        )
        .parse()
        .unwrap();
        assert!(
            again > hit,
            "{page} renders per request ({hit} then {again})"
        );
        let prefix = if page == "/" { "" } else { page };
        let urls = static_urls(&html, prefix);
        for ext in [".css", ".js"] {
            let url = urls
                .iter()
                .find(|u| u.ends_with(ext))
                .unwrap_or_else(|| panic!("no {ext} asset in {page}: {urls:?}"));
            let asset = request(&format!("{base}{url}"), &[]);
            assert_eq!(asset.status, 200, "{url}");
            assert!(
                asset.header("cache-control").contains("immutable"),
                "{url}: {:?}",
                asset.headers
            );
            let etag = asset.header("etag").to_string();
            let again = request(&format!("{base}{url}"), &[("If-None-Match", &etag)]);
            assert_eq!(again.status, 304, "{url}");
        }
    }
    let logo = request(&format!("{base}/logo.svg"), &[]);
    assert_eq!(logo.status, 200);
    assert_eq!(logo.header("content-type"), "image/svg+xml");
    assert_eq!(
        logo.body,
        std::fs::read(example("fullstack").join("web/storefront/public/logo.svg")).unwrap()
    );

    let port = base.rsplit(':').next().unwrap();
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/api/ws"))
        .unwrap_or_else(|e| panic!("WebSocket /api/ws: {e}\n{}", logs()));
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    ws.send(tungstenite::Message::text(
        "hello from outside the container",
    ))
    .unwrap();
    assert_eq!(
        ws.read().unwrap().to_text().unwrap(),
        "echo: hello from outside the container"
    );
    let _ = ws.close(None);
}

fn boot_and_stop(cli: &dyn Fn() -> Command, what: &str) {
    let port = free_port();
    let store = format!("Forge & Co ({what})");
    let name = format!("watt-e2e-fullstack-{what}-{port}");
    let c = Container::run(
        cli,
        TAG,
        &name,
        &[("PORT", port.to_string()), ("STORE_NAME", store.clone())],
    );
    let base = format!("http://127.0.0.1:{port}");
    for path in ["/api/products", "/", "/legacy"] {
        c.wait_ready(&format!("{base}{path}"), Duration::from_secs(120));
    }
    check_fullstack_routes(&base, &store, &|| c.logs());
    assert_eq!(c.main_uid(), 65532);
    let (code, took) = c.stop(10);
    assert_eq!(code, 0, "{what} stop: exit code\n{}", c.logs());
    assert!(took < Duration::from_secs(10), "{what} stop took {took:?}");
}

#[test]
fn podman_runs_the_fullstack_image_read_only() {
    let img = built_image("fullstack", "oci-archive", TAG);
    let _image = PodmanImage::load(&img.path, TAG);
    boot_and_stop(&podman, "podman");
}

#[test]
fn docker_runs_the_fullstack_image_read_only() {
    let img = built_image("fullstack", "oci-archive", TAG);
    let dockerd = Dockerd::start();
    let docker = || dockerd.docker();
    let loaded = run_ok(docker().arg("load").arg("-i").arg(&img.path));
    assert!(loaded.contains(TAG), "{loaded}");
    boot_and_stop(&docker, "docker");
}
