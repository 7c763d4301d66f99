//! Symlinks are confined by where they lead in the artifact, not by their text: after packing,
//! every link must resolve, through the artifact itself, to an entry of it. A chain of two
//! in-root links that climbs out, and a link to a file that was not shipped, each fail the
//! build naming the link and what it points to, and leave no output behind.

use std::os::unix::fs::symlink;

use watt_e2e::*;

/// A one-service app (`web/api`) with `links` (path → text) added; `watt build` must fail.
fn build_fails(links: &[(&str, &str)], files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    for (path, body) in [
        (
            "watt.json",
            r#"{ "applications": [{ "id": "api", "path": "web/api" }], "entrypoint": "api" }"#,
        ),
        ("package.json", r#"{ "name": "links", "private": true }"#),
        ("web/api/package.json", r#"{ "name": "api" }"#),
        (
            "web/api/index.js",
            "require('node:http').createServer((q, s) => s.end('ok')).listen(3000)\n",
        ),
    ]
    .iter()
    .chain(files)
    {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    for (path, text) in links {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(text, p).unwrap();
    }
    let out = dir.path().join("out.tar.zst");
    let o = watt_build(&root, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!out.exists(), "an artifact was written despite the error");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "app")
        .collect();
    assert!(left.is_empty(), "files left beside the output: {left:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_chain_of_in_root_links_that_climbs_out_fails_naming_the_link() {
    // Each text stays inside the app lexically (`web/api/up/../../../etc/passwd` is
    // `etc/passwd` below the root), but `up` is itself `web`, so the chain climbs
    // web → app → the artifact root → above it.
    let err = build_fails(
        &[
            ("web/api/up", ".."),
            ("web/api/passwd", "up/../../../etc/passwd"),
        ],
        &[],
    );
    assert!(
        err.contains("app/web/api/passwd is a symlink to up/../../../etc/passwd, which leads outside the artifact"),
        "{err}"
    );
}

#[test]
fn a_kept_link_to_a_file_that_was_not_shipped_fails_naming_both() {
    // `config/` is in the app root but in no service folder, so it does not ship.
    let err = build_fails(
        &[("web/api/settings.json", "../../config/settings.json")],
        &[("config/settings.json", "{}")],
    );
    assert!(
        err.contains(
            "app/web/api/settings.json is a symlink to ../../config/settings.json, but \
             app/config is not in the artifact"
        ),
        "{err}"
    );
}

#[test]
fn a_link_to_a_file_the_ignore_rules_left_out_fails_too() {
    let err = build_fails(
        &[("web/api/env", ".env")],
        &[("web/api/.env", "TOKEN=secret-3333\n")],
    );
    assert!(
        err.contains(
            "app/web/api/env is a symlink to .env, but app/web/api/.env is not in the artifact"
        ),
        "{err}"
    );
    assert!(!err.contains("secret-3333"), "{err}");
}
