//! Nothing secret ships: a fixture app whose service folders hold env files, an `.npmrc` with a
//! token, a private key, cloud credentials, an SSH key and a `.wattignore`d folder. None of the
//! files and none of their values are in the artifact (the extracted tree and the manifest);
//! the build names each one; `--include` brings one back.

use std::path::{Path, PathBuf};

use watt_e2e::*;

/// Every secret value in the fixture, with the file holding it.
const SECRETS: &[(&str, &str)] = &[
    (".env", "root-dotenv-secret-1111"),
    ("web/api/.env", "svc-dotenv-secret-2222"),
    ("web/api/.env.production", "env-production-secret-3333"),
    ("web/api/.npmrc", "npm_token_secret_4444"),
    ("web/api/certs/server.pem", "pem-secret-5555"),
    ("web/api/.aws/credentials", "aws-secret-6666"),
    ("web/api/private/notes.txt", "wattignored-secret-7777"),
    ("web/worker/id_ed25519", "ssh-secret-8888"),
];

fn fixture_copy(work: &Path) -> PathBuf {
    let app = work.join("app");
    copy_tree(&repo().join("tests/fixtures/secrets"), &app, "022");
    app
}

fn build(app: &Path, out: &Path, extra: &[&str]) -> String {
    let o = watt_build(app, out, extra);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every regular file below `dir`, by path relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Files of the extracted tree whose bytes contain `needle`.
fn holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(dir.join(f)).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

#[test]
fn secret_like_files_and_their_values_never_ship_and_each_is_named() {
    let work = tempfile::tempdir().unwrap();
    let app = fixture_copy(work.path());
    let archive = work.path().join("secrets.tar.zst");
    let log = build(&app, &archive, &[]);
    let root = work.path().join("x");
    extract(&archive, &root);

    for (file, value) in SECRETS {
        let found = holding(&root, value);
        assert!(
            found.is_empty(),
            "the value of {file} is in the artifact: {found:?}"
        );
        assert!(
            !log.contains(value),
            "the build printed the value of {file}\n{log}"
        );
    }
    let shipped = files(&root.join("app"));
    for (file, _) in SECRETS.iter().skip(1) {
        assert!(!shipped.contains(&PathBuf::from(file)), "{file} shipped");
    }
    // The service itself and what is not secret still ship.
    for kept in [
        "web/api/index.js",
        "web/api/.env.example",
        "web/worker/index.js",
    ] {
        assert!(
            shipped.contains(&PathBuf::from(kept)),
            "{kept} is missing: {shipped:?}"
        );
    }

    // Each secret-like file named once; the .wattignore'd folder counted under its file.
    for named in [
        "web/api/.env (an env file)",
        "web/api/.env.production (an env file)",
        "web/api/.npmrc (a registry config holding an auth token)",
        "web/api/certs/server.pem (a key or certificate)",
        "web/api/.aws (cloud credentials)",
        "web/worker/id_ed25519 (an SSH key)",
    ] {
        assert_eq!(
            log.matches(named).count(),
            1,
            "{named} not named once\n{log}"
        );
    }
    assert!(log.contains("matched by web/api/.wattignore"), "{log}");
    // The env keys left out are listed by name, with where the running app gets them.
    assert!(
        log.contains("DATABASE_URL") && log.contains("SVC_ONLY") && log.contains("--dotenv"),
        "{log}"
    );
}

#[test]
fn include_brings_one_back() {
    let work = tempfile::tempdir().unwrap();
    let app = fixture_copy(work.path());
    let archive = work.path().join("secrets.tar.zst");
    let log = build(&app, &archive, &["--include", "web/api/certs/server.pem"]);
    let root = work.path().join("x");
    extract(&archive, &root);
    assert_eq!(
        holding(&root, "pem-secret-5555"),
        vec![PathBuf::from("app/web/api/certs/server.pem")]
    );
    assert!(
        !log.contains("server.pem"),
        "an included file is not reported\n{log}"
    );
    // Everything else stays out.
    assert!(holding(&root, "aws-secret-6666").is_empty());
    assert!(holding(&root, "svc-dotenv-secret-2222").is_empty());
}
