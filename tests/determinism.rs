//! Two builds of the same app from two folders, copied under different umasks at different
//! times, give byte-identical archives.

use watt_e2e::*;

#[test]
fn two_copies_in_different_folders_build_identical_archives() {
    let src = example("api");
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("first/app");
    let b = work.path().join("second/elsewhere/app");
    copy_tree(&src, &a, "022");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    copy_tree(&src, &b, "077");
    // Remove the build output copied from the source so each copy builds its own.
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d.join("web/catalog/dist"));
        let _ = std::fs::remove_dir_all(d.join(".watt"));
    }
    let out_a = work.path().join("a.tar.zst");
    let out_b = work.path().join("b.tar.zst");
    build_archive(&a, &out_a);
    build_archive(&b, &out_b);
    let (x, y) = (
        std::fs::read(&out_a).unwrap(),
        std::fs::read(&out_b).unwrap(),
    );
    assert!(
        x.len() > 1_000_000,
        "suspiciously small archive: {} bytes",
        x.len()
    );
    assert!(x == y, "archives differ: {} vs {} bytes", x.len(), y.len());
}

/// Every file below `dir` (links not followed) whose bytes contain `needle` (every file for an
/// empty one).
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                if needle.is_empty() || bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(e.path());
                }
            }
        }
    }
    out
}

/// The Next.js example (two Next apps, a Fastify API, a gateway) from two fresh copies, in
/// different folders, umasks and times: byte-identical archives (Next's build id comes from
/// the inputs, its preview keys from the given secret), no shipped file naming the build
/// folder, and none of the `.env*` files Next's standalone tracing copies.
#[test]
fn next_apps_build_identical_archives_without_host_paths_or_env_files() {
    // Next's server-actions key is a secret input of the build: given, the build is a function
    // of its inputs (without it Next makes random keys, and watt says so).
    std::env::set_var(
        "NEXT_SERVER_ACTIONS_ENCRYPTION_KEY",
        "c2VjcmV0LWZvci10aGUtZGV0ZXJtaW5pc20tdGVzdCE=",
    );
    let src = example("fullstack");
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("first/app");
    let b = work.path().join("second/elsewhere/app");
    copy_tree(&src, &a, "022");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    copy_tree(&src, &b, "077");
    // Fresh builds: no output or cache copied from the source.
    for d in [&a, &b] {
        for svc in ["storefront", "legacy"] {
            let _ = std::fs::remove_dir_all(d.join("web").join(svc).join(".next"));
        }
        let _ = std::fs::remove_dir_all(d.join(".watt"));
    }
    assert!(
        a.join("web/storefront/.env.production").is_file(),
        "the example must hold an env file for Next to copy"
    );
    let out_a = work.path().join("a.tar.zst");
    let out_b = work.path().join("b.tar.zst");
    build_archive(&a, &out_a);
    // Next copies .env and .env.production into its standalone output: the test only bites
    // if it did.
    let copied = a.join("web/storefront/.next/standalone/web/storefront/.env.production");
    assert!(
        copied.is_file(),
        "Next no longer copies .env files: {}",
        copied.display()
    );
    build_archive(&b, &out_b);

    let root = work.path().join("x");
    extract(&out_a, &root);
    assert_no_host_paths(&root, &[&a, &b, work.path()]);
    let env_files: Vec<_> = files_holding(&root, b"")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".env") && n != ".env.example")
        })
        .collect();
    assert!(env_files.is_empty(), "env files shipped: {env_files:?}");
    assert!(files_holding(&root, b"storefront-env-production-fixture-9999").is_empty());

    assert_same_archives(&out_a, &out_b, &root, work.path());
}

/// No file below `root` (the first archive, extracted) names any of `folders`.
fn assert_no_host_paths(root: &std::path::Path, folders: &[&std::path::Path]) {
    for folder in folders {
        let needle = folder.to_str().unwrap();
        let found = files_holding(root, needle.as_bytes());
        assert!(
            found.is_empty(),
            "shipped files name the build folder {needle}: {found:?}"
        );
    }
}

/// The two archives are byte-identical; if not, says which files differ (`root` holds the
/// first one extracted).
fn assert_same_archives(
    out_a: &std::path::Path,
    out_b: &std::path::Path,
    root: &std::path::Path,
    work: &std::path::Path,
) {
    let (x, y) = (std::fs::read(out_a).unwrap(), std::fs::read(out_b).unwrap());
    if x != y {
        let other = work.join("y");
        extract(out_b, &other);
        let diff = std::process::Command::new("diff")
            .args(["-rq", "--no-dereference"])
            .arg(root)
            .arg(&other)
            .output()
            .unwrap();
        panic!(
            "archives differ: {} vs {} bytes\n{}",
            x.len(),
            y.len(),
            String::from_utf8_lossy(&diff.stdout)
        );
    }
}

/// The content example (Astro SSR standalone and middleware, static Astro, a Vite SPA, React
/// Router 7 with SSR and in SPA mode, an API, a gateway) from two fresh copies in different
/// folders, umasks and times: byte-identical archives, and no shipped file names the build
/// folder (Astro's server chunks and manifest included). `ASTRO_KEY` is the server-islands key a
/// user sets for a reproducible Astro build; without it Astro makes a random one.
#[test]
fn content_apps_build_identical_archives_without_host_paths() {
    std::env::set_var("ASTRO_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let src = example("content");
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("first/app");
    let b = work.path().join("second/elsewhere/app");
    copy_tree(&src, &a, "022");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    copy_tree(&src, &b, "077");
    for d in [&a, &b] {
        for svc in ["site", "mw", "docs", "spa", "shop", "rrspa"] {
            let _ = std::fs::remove_dir_all(d.join("web").join(svc).join("dist"));
            let _ = std::fs::remove_dir_all(d.join("web").join(svc).join("build"));
        }
        let _ = std::fs::remove_dir_all(d.join(".watt"));
    }
    let out_a = work.path().join("a.tar.zst");
    let out_b = work.path().join("b.tar.zst");
    build_archive(&a, &out_a);
    build_archive(&b, &out_b);
    let root = work.path().join("x");
    extract(&out_a, &root);
    // The test only bites if the Astro server builds shipped.
    for svc in ["site", "mw"] {
        let entry = root.join("app/web").join(svc).join("dist/server/entry.mjs");
        assert!(entry.is_file(), "{} not shipped", entry.display());
    }
    assert_no_host_paths(&root, &[&a, &b, work.path()]);
    assert_same_archives(&out_a, &out_b, &root, work.path());
}
