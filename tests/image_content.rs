//! `examples/content` (Astro SSR standalone and middleware mode, static Astro, Vite SPA, React
//! Router 7 SSR and SPA, a Fastify API, the gateway) as one oci-archive, loaded by podman and by
//! Docker and run read-only as the non-root user: every framework answers through the gateway
//! from inside the container, and `stop` exits 0 within the grace period.

#[path = "images/mod.rs"]
mod images;

use std::process::Command;
use std::time::Duration;

use images::*;
use watt_e2e::*;

const TAG: &str = "localhost/watt-e2e-content:test";

fn check_content_routes(base: &str, edition: &str, logs: &dyn Fn() -> String) {
    let info = request(&format!("{base}/api/info"), &[]);
    assert_eq!(info.status, 200, "{}\n{}", info.text(), logs());
    let info = json(&info.text());
    assert_eq!(
        info["edition"], edition,
        "placeholder from the container's environment"
    );
    let api_pid = info["pid"].as_i64().unwrap().to_string();

    // Astro SSR, standalone and middleware mode: rendered per request from the API over the mesh.
    for page in ["/", "/mw/"] {
        let r = request(&format!("{base}{page}"), &[]);
        assert_eq!(r.status, 200, "{page}: {}\n{}", r.text(), logs());
        let html = r.text();
        assert_eq!(
            strong(&html, "edition").as_deref(),
            Some(edition),
            "{page}: {html}"
        );
        assert_eq!(
            strong(&html, "api-pid"),
            Some(api_pid.clone()),
            "{page}: {html}"
        );
    }
    assert!(request(&format!("{base}/"), &[])
        .text()
        .contains("Crucible: 80"));
    let css = request(&format!("{base}/site.css"), &[]);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));

    // Vite SPA: index, deep-link fallback, a hashed asset with a strong ETag and a 304.
    let index = request(&format!("{base}/spa/"), &[]);
    assert_eq!(index.status, 200, "{}\n{}", index.text(), logs());
    assert!(
        index.text().contains("<div id=\"app\">"),
        "{}",
        index.text()
    );
    assert_eq!(
        request(&format!("{base}/spa/deep/link"), &[]).text(),
        index.text()
    );
    let js = asset_path(&index.text(), "/spa/assets/index-").expect("a hashed script");
    let asset = request(&format!("{base}{js}"), &[]);
    assert_eq!(asset.status, 200, "{js}");
    let etag = asset.header("etag").to_string();
    assert!(etag.starts_with('"'), "strong ETag: {:?}", asset.headers);
    let again = request(&format!("{base}{js}"), &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);

    // Static Astro under /docs: pages, no SPA fallback.
    let guide = request(&format!("{base}/docs/guide/"), &[]);
    assert_eq!(guide.status, 200, "{}", guide.text());
    assert!(guide.text().contains("<h1 id=\"guide-title\">Guide</h1>"));
    assert_eq!(
        request(&format!("{base}/docs/no-such-page/"), &[]).status,
        404
    );

    // React Router SPA mode and SSR with loader data from the API.
    let rrspa = request(&format!("{base}/rrspa/"), &[]);
    assert_eq!(rrspa.status, 200);
    assert!(
        rrspa.text().contains("\"isSpaMode\":true"),
        "{}",
        rrspa.text()
    );
    assert_eq!(
        request(&format!("{base}/rrspa/some/route"), &[]).status,
        200
    );
    let shop = request(&format!("{base}/shop/"), &[]);
    assert_eq!(shop.status, 200, "{}\n{}", shop.text(), logs());
    assert_eq!(strong(&shop.text(), "edition").as_deref(), Some(edition));
    let product = request(&format!("{base}/shop/products/anvil"), &[]);
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
}

fn boot_and_stop(cli: &dyn Fn() -> Command, what: &str) {
    let port = free_port();
    let edition = format!("edition-{what}-{port}");
    let name = format!("watt-e2e-content-{what}-{port}");
    let c = Container::run(
        cli,
        TAG,
        &name,
        &[
            ("PORT", port.to_string()),
            ("CONTENT_EDITION", edition.clone()),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    c.wait_ready(&format!("{base}/api/info"), Duration::from_secs(120));
    check_content_routes(&base, &edition, &|| c.logs());
    assert_eq!(c.main_uid(), 65532);
    let (code, took) = c.stop(10);
    assert_eq!(code, 0, "{what} stop: exit code\n{}", c.logs());
    assert!(took < Duration::from_secs(10), "{what} stop took {took:?}");
}

#[test]
fn podman_runs_the_content_image_read_only() {
    let img = built_image("content", "oci-archive", TAG);
    let _image = PodmanImage::load(&img.path, TAG);
    boot_and_stop(&podman, "podman");
}

#[test]
fn docker_runs_the_content_image_read_only() {
    let img = built_image("content", "oci-archive", TAG);
    let dockerd = Dockerd::start();
    let docker = || dockerd.docker();
    let loaded = run_ok(docker().arg("load").arg("-i").arg(&img.path));
    assert!(loaded.contains(TAG), "{loaded}");
    boot_and_stop(&docker, "docker");
}
