use std::path::Path;

use http_body_util::BodyExt;
use hyper::Request;

use super::*;

/// `<tmp>/site` with a few files, and a secret next to it.
fn site() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let write = |rel: &str, text: &str| {
        let p = t.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("secret.txt", "SECRET");
    write("site-evil/x.txt", "SECRET");
    write("site/index.html", "<h1>home</h1>");
    write("site/a.txt", "0123456789");
    write("site/sub/index.html", "<h1>sub</h1>");
    write("site/sub/b.txt", "b");
    write("site/empty/.keep", "");
    write("site/.env", "SECRET=1");
    write("site/.well-known/security.txt", "contact");
    write("site/evil.example/index.html", "folder");
    write("site/assets/app-BQ4x7Zk2.js", "console.log(1)");
    write("site/app.js", "plain javascript source");
    write("site/app.js.br", "brotli bytes");
    write("site/app.js.gz", "gzip bytes");
    write("site/weird name %41.txt", "literal");
    std::os::unix::fs::symlink("../secret.txt", t.join("site/link-out")).unwrap();
    std::os::unix::fs::symlink("../site-evil", t.join("site/dir-out")).unwrap();
    std::os::unix::fs::symlink("a.txt", t.join("site/link-in")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", t.join("site/sub/b.txt.gz")).unwrap();
    tmp
}

fn files(tmp: &Path, mount: Option<&str>, spa: bool) -> StaticFiles {
    StaticFiles::new(&tmp.join("site"), mount, true, spa).unwrap()
}

fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

struct Got {
    status: u16,
    headers: HeaderMap,
    body: String,
}

async fn get(f: &StaticFiles, uri: &str, headers: &[(&str, &str)]) -> Got {
    call(f, "GET", uri, headers).await
}

async fn call(f: &StaticFiles, method: &str, uri: &str, headers: &[(&str, &str)]) -> Got {
    let resp = f.serve(&req(method, uri, headers)).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn traversal_never_leaves_the_root() {
    let tmp = site();
    for spa in [false, true] {
        let f = files(tmp.path(), Some("/shop"), spa);
        for uri in [
            "/../secret.txt",
            "/shop/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/sub%2f..%2f..%2fsecret.txt",
            "/..%5csecret.txt",
            "/%5c..%5csecret.txt",
            "/a.txt%00",
            "/%00",
            "/link-out",
            "/dir-out/x.txt",
            "/sub/b.txt",
            "/.env",
            "/%2eenv",
            "/%252e%252e/secret.txt",
            "/shop/%2e%2e/secret.txt",
            "//secret.txt",
            "/./../secret.txt",
        ] {
            let g = get(&f, uri, &[("accept-encoding", "gzip")]).await;
            assert!(!g.body.contains("SECRET"), "{uri} leaked: {}", g.body);
            assert!([200, 400, 404].contains(&g.status), "{uri}: {}", g.status);
            // Only the SPA fallback or a real file inside may answer 200.
            if g.status == 200 && uri != "/sub/b.txt" {
                assert!(spa && g.body.contains("home"), "{uri}: {}", g.body);
            }
        }
        for uri in ["/..%2fsecret.txt", "/%2e%2e/secret.txt", "/..%5cx", "/%00"] {
            assert_eq!(get(&f, uri, &[]).await.status, 400, "{uri}");
        }
    }
}

#[tokio::test]
async fn files_inside_are_served_whatever_their_route() {
    let tmp = site();
    let f = files(tmp.path(), Some("/shop/"), false);
    for (uri, want) in [
        ("/a.txt", "0123456789"),
        ("/shop/a.txt", "0123456789"),
        ("/./sub/./b.txt", "b"),
        ("/sub//b.txt", "b"),
        ("/link-in", "0123456789"),
        ("/.well-known/security.txt", "contact"),
        ("/weird%20name%20%2541.txt", "literal"),
        ("/", "<h1>home</h1>"),
        ("/shop", "<h1>home</h1>"),
        ("/shop/", "<h1>home</h1>"),
        ("/sub/", "<h1>sub</h1>"),
        ("/shop/sub/", "<h1>sub</h1>"),
    ] {
        let g = get(&f, uri, &[]).await;
        assert_eq!((g.status, g.body.as_str()), (200, want), "{uri}");
    }
    for uri in [
        "/shopx/a.txt",
        "/nope",
        "/a.txt/",
        "/empty/",
        "/sub/b.txt.gz",
    ] {
        assert_eq!(get(&f, uri, &[]).await.status, 404, "{uri}");
    }
}

#[tokio::test]
async fn folders_redirect_to_their_slash() {
    let tmp = site();
    let f = files(tmp.path(), Some("/shop"), false);
    for (uri, want) in [
        ("/sub", "/sub/"),
        ("/sub?x=1", "/sub/?x=1"),
        ("/shop/sub", "/shop/sub/"),
        ("//evil.example", "/evil.example/"),
    ] {
        let g = get(&f, uri, &[]).await;
        assert_eq!(g.status, 301, "{uri}");
        assert_eq!(header(&g, "location"), want, "{uri}");
    }
}

#[tokio::test]
async fn spa_fallback_serves_index_html_for_routes_only() {
    let tmp = site();
    let f = files(tmp.path(), None, true);
    for uri in ["/products/42", "/deep/link/?q=1", "/empty/"] {
        let g = get(&f, uri, &[]).await;
        assert_eq!((g.status, g.body.as_str()), (200, "<h1>home</h1>"), "{uri}");
        assert_eq!(header(&g, "cache-control"), REVALIDATE);
        assert!(header(&g, "content-type").starts_with("text/html"));
    }
    // A missing hashed chunk is a 404, never HTML handed to a script loader.
    assert_eq!(get(&f, "/assets/old-Dx4k9Q1a.js", &[]).await.status, 404);
    assert_eq!(call(&f, "HEAD", "/x/y", &[]).await.status, 200);
    let post = call(&f, "POST", "/x/y", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(header(&post, "allow"), "GET, HEAD");
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let tmp = site();
    let f = files(tmp.path(), None, false);
    let g = call(&f, "HEAD", "/a.txt", &[]).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, "");
    assert_eq!(header(&g, "content-length"), "10");
    assert!(header(&g, "etag").starts_with('"'));
    assert_eq!(header(&g, "accept-ranges"), "bytes");
}

#[test]
fn content_types() {
    for (name, want) in [
        ("index.html", "text/html; charset=utf-8"),
        ("a/app.js", "text/javascript; charset=utf-8"),
        ("m.mjs", "application/javascript; charset=utf-8"),
        ("s.css", "text/css; charset=utf-8"),
        ("d.json", "application/json; charset=utf-8"),
        ("i.svg", "image/svg+xml; charset=utf-8"),
        ("p.png", "image/png"),
        ("f.woff2", "font/woff2"),
        ("w.wasm", "application/wasm"),
        (
            "site.webmanifest",
            "application/manifest+json; charset=utf-8",
        ),
        ("noext", "application/octet-stream"),
        ("x.unknownext", "application/octet-stream"),
    ] {
        assert_eq!(content_type(name), want, "{name}");
    }
}

#[test]
fn hashed_names_are_immutable_and_others_revalidate() {
    for rel in [
        "assets/index-BQ4x7Zk2.js",
        "assets/index-D_3kZ-9a.js",
        "assets/logo-DiwrgTda.svg",
        "shop/assets/vendor-a1B2c3D4.css",
        "chunk.5f3a9c1e.css",
        "static/js/main.5f3a9c1e.chunk.js",
        "framework-64ad27b21261a9ce.js",
        "index-BQ4x7Zk2.js",
        "5f3a9c1e.js",
        "_astro/index.css",
        "_astro/client.Cb3bm7Zx.js",
        "_next/static/chunks/pages/_app.js",
        "_next/static/css/whatever.css",
    ] {
        assert!(immutable(rel), "{rel} should be immutable");
        assert_eq!(cache_control(rel), IMMUTABLE);
    }
    for rel in [
        "index.html",
        "",
        "main.js",
        "favicon.ico",
        "robots.txt",
        "assets/logo.png",
        "assets/header-homepage.png",
        "assets/site-logo-dark.png",
        "bootstrap5.min.js",
        "html2canvas.js",
        "jquery-3.7.1.min.js",
        "MyComponent.js",
        "apple-touch-icon-180x180.png",
        "hero-1920x1080.jpg",
        "v2/docs/getting-started.html",
        "app.1699999999.js",
        "_next/image.png",
        "astro/x.css",
        "deadbeef.js",
    ] {
        assert!(!immutable(rel), "{rel} should revalidate");
        assert_eq!(cache_control(rel), REVALIDATE);
    }
}

#[test]
fn range_specs() {
    use Range::*;
    for (spec, len, want) in [
        ("bytes=0-4", 10, Part(0, 4)),
        ("bytes=2-", 10, Part(2, 9)),
        ("bytes=-3", 10, Part(7, 9)),
        ("bytes=-30", 10, Part(0, 9)),
        ("bytes=5-100", 10, Part(5, 9)),
        ("bytes=9-9", 10, Part(9, 9)),
        (" bytes= 1 - 2 ", 10, Part(1, 2)),
        ("bytes=10-", 10, Unsatisfiable),
        ("bytes=10-20", 10, Unsatisfiable),
        ("bytes=-0", 10, Unsatisfiable),
        ("bytes=0-", 0, Unsatisfiable),
        ("bytes=-5", 0, Unsatisfiable),
        ("bytes=0-1,3-4", 10, Full),
        ("bytes=5-2", 10, Full),
        ("bytes=x-2", 10, Full),
        ("bytes=-", 10, Full),
        ("bytes=+1-2", 10, Full),
        ("items=0-1", 10, Full),
        ("bytes 0-1", 10, Full),
    ] {
        assert_eq!(parse_range(spec, len), want, "{spec} of {len}");
    }
}

#[tokio::test]
async fn ranges_give_206_416_or_the_whole_file() {
    let tmp = site();
    let f = files(tmp.path(), None, false);
    let g = get(&f, "/a.txt", &[("range", "bytes=2-5")]).await;
    assert_eq!((g.status, g.body.as_str()), (206, "2345"));
    assert_eq!(header(&g, "content-range"), "bytes 2-5/10");
    assert_eq!(header(&g, "content-length"), "4");
    let g = get(&f, "/a.txt", &[("range", "bytes=-3")]).await;
    assert_eq!((g.status, g.body.as_str()), (206, "789"));
    let g = get(&f, "/a.txt", &[("range", "bytes=8-")]).await;
    assert_eq!((g.status, g.body.as_str()), (206, "89"));

    let g = get(&f, "/a.txt", &[("range", "bytes=10-")]).await;
    assert_eq!((g.status, g.body.as_str()), (416, ""));
    assert_eq!(header(&g, "content-range"), "bytes */10");

    let g = get(&f, "/a.txt", &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!((g.status, g.body.as_str()), (200, "0123456789"));

    // If-Range: only for the version the client has.
    let etag = header(&get(&f, "/a.txt", &[]).await, "etag").to_string();
    let g = get(&f, "/a.txt", &[("range", "bytes=0-0"), ("if-range", &etag)]).await;
    assert_eq!((g.status, g.body.as_str()), (206, "0"));
    let g = get(
        &f,
        "/a.txt",
        &[("range", "bytes=0-0"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(g.status, 200);
}

#[tokio::test]
async fn validators_give_304() {
    let tmp = site();
    let f = files(tmp.path(), None, false);
    let first = get(&f, "/a.txt", &[]).await;
    let etag = header(&first, "etag").to_string();
    assert!(etag.len() == 34 && etag.starts_with('"'), "{etag}");
    let modified = header(&first, "last-modified").to_string();
    assert!(!modified.is_empty());
    assert_eq!(header(&first, "cache-control"), REVALIDATE);

    let weak = format!("W/{etag}");
    let listed = format!("\"x\", {etag}");
    for (h, want) in [
        (vec![("if-none-match", etag.as_str())], 304),
        (vec![("if-none-match", weak.as_str())], 304),
        (vec![("if-none-match", listed.as_str())], 304),
        (vec![("if-none-match", "*")], 304),
        (vec![("if-none-match", "\"other\"")], 200),
        (vec![("if-modified-since", modified.as_str())], 304),
        (
            vec![("if-modified-since", "Thu, 01 Jan 2099 00:00:00 GMT")],
            304,
        ),
        (
            vec![("if-modified-since", "Tue, 01 Jan 1980 00:00:00 GMT")],
            200,
        ),
        (vec![("if-modified-since", "garbage")], 200),
        // If-None-Match decides alone.
        (
            vec![
                ("if-none-match", "\"other\""),
                ("if-modified-since", "Thu, 01 Jan 2099 00:00:00 GMT"),
            ],
            200,
        ),
    ] {
        let g = get(&f, "/a.txt", &h).await;
        assert_eq!(g.status, want, "{h:?}");
        if want == 304 {
            assert_eq!(g.body, "");
            assert_eq!(header(&g, "etag"), etag);
        }
    }
}

#[tokio::test]
async fn etags_follow_the_content_not_the_mtime() {
    let tmp = site();
    let f = files(tmp.path(), None, false);
    let path = tmp.path().join("site/a.txt");
    let fixed = UNIX_EPOCH + Duration::from_secs(315_532_800); // 1980-01-01, like an archive
    let set_mtime = || {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(fixed)
            .unwrap()
    };
    set_mtime();
    let one = header(&get(&f, "/a.txt", &[]).await, "etag").to_string();
    assert_eq!(header(&get(&f, "/a.txt", &[]).await, "etag"), one, "cached");
    // Same length, same mtime, other content (a redeploy extracted over the old files).
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&path, "abcdefghij").unwrap();
    set_mtime();
    let two = get(&f, "/a.txt", &[]).await;
    assert_eq!(two.body, "abcdefghij");
    assert_ne!(header(&two, "etag"), one);
    // Last-Modified is never before the stub started, so date-only caches revalidate too.
    let lm = httpdate::parse_http_date(header(&two, "last-modified")).unwrap();
    assert!(lm > fixed);
}

#[tokio::test]
async fn precompressed_siblings_follow_accept_encoding() {
    let tmp = site();
    let f = files(tmp.path(), None, false);
    let js = "text/javascript; charset=utf-8";
    let mut etags = Vec::new();
    for (ae, body, encoding) in [
        ("gzip, deflate, br, zstd", "brotli bytes", "br"),
        ("gzip", "gzip bytes", "gzip"),
        ("br;q=0, gzip;q=0.5", "gzip bytes", "gzip"),
        ("x-gzip", "gzip bytes", "gzip"),
        ("*", "brotli bytes", "br"),
        ("*, br;q=0", "gzip bytes", "gzip"),
        ("identity", "plain javascript source", ""),
        ("", "plain javascript source", ""),
        ("gzip;q=0, br;q=0", "plain javascript source", ""),
    ] {
        let g = get(&f, "/app.js", &[("accept-encoding", ae)]).await;
        assert_eq!((g.status, g.body.as_str()), (200, body), "{ae}");
        assert_eq!(header(&g, "content-encoding"), encoding, "{ae}");
        assert_eq!(header(&g, "content-type"), js, "{ae}");
        assert_eq!(header(&g, "vary"), "Accept-Encoding", "{ae}");
        assert_eq!(header(&g, "content-length"), body.len().to_string());
        etags.push((encoding, header(&g, "etag").to_string()));
    }
    // Each representation has its own strong validator.
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), 3, "{etags:?}");
    // Ranges are served from the identity representation.
    let g = get(
        &f,
        "/app.js",
        &[("accept-encoding", "br"), ("range", "bytes=0-4")],
    )
    .await;
    assert_eq!((g.status, g.body.as_str()), (206, "plain"));
    assert_eq!(header(&g, "content-encoding"), "");
    // No sibling, no Vary.
    assert_eq!(
        header(
            &get(&f, "/a.txt", &[("accept-encoding", "br")]).await,
            "vary"
        ),
        ""
    );
}

#[tokio::test]
async fn hashed_assets_get_immutable_caching() {
    let tmp = site();
    let f = files(tmp.path(), Some("/shop"), false);
    let g = get(&f, "/shop/assets/app-BQ4x7Zk2.js", &[]).await;
    assert_eq!(g.status, 200);
    assert_eq!(header(&g, "cache-control"), IMMUTABLE);
    assert_eq!(header(&g, "x-content-type-options"), "nosniff");
    let g = get(&f, "/shop/", &[]).await;
    assert_eq!(header(&g, "cache-control"), REVALIDATE);
}

#[tokio::test]
async fn a_folder_mounted_at_next_static_is_immutable_whatever_the_names() {
    // Turbopack's chunk names (`09yvjxmkjfqll.css`) do not look hashed on their own.
    let tmp = site();
    std::fs::create_dir_all(tmp.path().join("site/chunks")).unwrap();
    std::fs::write(tmp.path().join("site/chunks/09yvjxmkjfqll.css"), "a{}").unwrap();
    for mount in ["/_next/static", "/legacy/_next/static"] {
        let f = StaticFiles::new(&tmp.path().join("site"), Some(mount), false, false).unwrap();
        let g = get(&f, &format!("{mount}/chunks/09yvjxmkjfqll.css"), &[]).await;
        assert_eq!(g.status, 200);
        assert_eq!(header(&g, "cache-control"), IMMUTABLE, "{mount}");
    }
    let f = files(tmp.path(), Some("/shop"), false);
    let g = get(&f, "/shop/chunks/09yvjxmkjfqll.css", &[]).await;
    assert_eq!(header(&g, "cache-control"), REVALIDATE);
}

#[tokio::test]
async fn a_front_answers_only_for_its_files() {
    let tmp = site();
    let f = StaticFiles::new(&tmp.path().join("site"), Some("/shop"), false, false).unwrap();
    let served = |m: &'static str, u: &'static str| {
        let f = &f;
        async move {
            f.try_serve(&req(m, u, &[]))
                .await
                .map(|r| r.status().as_u16())
        }
    };
    assert_eq!(served("GET", "/shop/a.txt").await, Some(200));
    assert_eq!(served("HEAD", "/shop/a.txt").await, Some(200));
    assert_eq!(served("GET", "/shop/sub").await, Some(301));
    assert_eq!(served("GET", "/shop/sub/").await, Some(200));
    assert_eq!(served("GET", "/shop/").await, Some(200));
    // Everything else is the process's: other methods, routes, folders without a page, paths
    // outside the prefix, and paths no file can have (an API may take `%2F` in an id).
    for (m, u) in [
        ("POST", "/shop/a.txt"),
        ("GET", "/a.txt"),
        ("GET", "/shop/api/items"),
        ("GET", "/shop/empty"),
        ("GET", "/shop/empty/"),
        ("GET", "/shop/items/a%2Fb"),
        ("GET", "/shop/../secret.txt"),
        ("GET", "/shop/.env"),
    ] {
        assert_eq!(served(m, u).await, None, "{m} {u}");
    }
}
