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

/// Two copies built in different folders, umasks and clocks give the same image digest. The
/// Astro SSR services only are because watt builds them with an integration that rewrites the
/// build folder out of the server chunks (`rootDir`, `srcDir`, … in the manifest, component
/// files, the adapter's `client`/`server`) before Rollup hashes them, and because the
/// server-islands key is the given `ASTRO_KEY` instead of a random one, as a user would set it.
#[test]
fn two_copies_built_apart_give_the_same_image_digest() {
    std::env::set_var("ASTRO_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let src = example("content");
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("first/content");
    let b = work.path().join("second/elsewhere/content");
    copy_tree(&src, &a, "022");
    std::thread::sleep(Duration::from_millis(1100));
    copy_tree(&src, &b, "077");
    let mut results = Vec::new();
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d.join(".watt"));
        for svc in ["site", "mw", "docs", "spa", "shop", "rrspa"] {
            let _ = std::fs::remove_dir_all(d.join("web").join(svc).join("dist"));
            let _ = std::fs::remove_dir_all(d.join("web").join(svc).join("build"));
        }
        let (o, _out, _dir) = build_image(d, "oci", TAG, &["--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("not reproducible"), "{stderr}");
        results.push(json(&String::from_utf8_lossy(&o.stdout)));
    }
    let layers = |r: &serde_json::Value| -> Vec<(String, String)> {
        r["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_string(),
                    l["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (x, y) = (layers(&results[0]), layers(&results[1]));
    assert!(
        x.iter().any(|(n, _)| n == "app-mw") && x.iter().any(|(n, _)| n == "app-site"),
        "the Astro SSR services have their own layers: {x:?}"
    );
    let differ: Vec<&str> = x
        .iter()
        .zip(&y)
        .filter(|(l, r)| l != r)
        .map(|(l, _)| l.0.as_str())
        .collect();
    assert!(differ.is_empty(), "layers differ: {differ:?}\n{x:?}\n{y:?}");
    assert_eq!(x.len(), y.len());
    let digest = |r: &serde_json::Value| r["digest"].as_str().map(str::to_string);
    assert!(digest(&results[0]).is_some(), "{}", results[0]);
    assert_eq!(digest(&results[0]), digest(&results[1]));
}
