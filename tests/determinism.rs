//! Reproducible builds, for every example and for a pnpm layout: two copies of an app, in
//! different folders, made under different umasks with different file times, built at
//! different times of day (the second under libfaketime, three days and five hours ahead), give
//! byte-identical archives and the same OCI image digest, and no shipped file names either build
//! folder. Each copy is built once: `--format oci --archive` writes the image and the archive
//! from the same build, so one pair of builds is checked for all three.
//!
//! `SOURCE_DATE_EPOCH` sets every file's time (archive and layers) and the image's dates, and
//! nothing else: two builds with the same value are identical, two with different values differ
//! only there.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use watt_e2e::*;

/// The secrets a user sets for a reproducible Next or Astro build (README: "Reproducible").
/// Without them Next and Astro make random keys, and watt says the build is not reproducible.
const KEYS: &[(&str, &str)] = &[
    (
        "NEXT_SERVER_ACTIONS_ENCRYPTION_KEY",
        "c2VjcmV0LWZvci10aGUtZGV0ZXJtaW5pc20tdGVzdCE=",
    ),
    ("ASTRO_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
];

/// How far libfaketime moves the second build's clock: 3 days, 5 hours, 15 minutes.
const CLOCK_AHEAD_S: i64 = 278_100;

const TAG: &str = "localhost/watt-e2e-determinism:test";

/// The default file time without `SOURCE_DATE_EPOCH` (1980-01-01T00:00:00Z).
const DEFAULT_EPOCH: u64 = 315_532_800;

struct Build {
    archive: PathBuf,
    /// The OCI layout (for `--format oci-archive`, the written tar extracted).
    image: PathBuf,
    /// The oci-archive tar, when that was the format.
    oci_archive: Option<PathBuf>,
    /// `watt build --json`: digest, config, layers.
    result: Value,
}

/// Two copies of `src` below `work`, in different folders, under umasks 022 and 077, the
/// second made later and with its own files dated 2001; the build outputs in `outputs` (and
/// `.watt`) removed so each copy builds its own.
fn two_copies(src: &Path, work: &Path, outputs: &[&str]) -> [PathBuf; 2] {
    let a = work.join("first/app");
    let b = work.join("second/elsewhere/app");
    copy_tree(src, &a, "022");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    copy_tree(src, &b, "077");
    let o = Command::new("sh")
        .arg("-c")
        .arg(
            "find \"$1\" -name node_modules -prune -o -exec touch -h -d '2001-09-09 01:46:40' {} +",
        )
        .arg("sh")
        .arg(&b)
        .output()
        .unwrap();
    assert!(o.status.success(), "touch failed: {}", text(&o));
    for d in [&a, &b] {
        for out in outputs.iter().chain(&[".watt"]) {
            let _ = std::fs::remove_dir_all(d.join(out));
        }
    }
    [a, b]
}

/// `watt build app --format oci --archive …` into `out` (created), with the test node and the
/// [`KEYS`]; under libfaketime when `clock_ahead`; `SOURCE_DATE_EPOCH` as given (unset when
/// `None`, whatever the test's environment holds).
fn build(app: &Path, out: &Path, clock_ahead: bool, source_date_epoch: Option<u64>) -> Build {
    build_as("oci", app, out, clock_ahead, source_date_epoch)
}

/// [`build`] with the image written as `format` (`oci` or `oci-archive`).
fn build_as(
    format: &str,
    app: &Path,
    out: &Path,
    clock_ahead: bool,
    source_date_epoch: Option<u64>,
) -> Build {
    std::fs::create_dir_all(out).unwrap();
    let archive = out.join("app.tar.zst");
    let image = out.join("image");
    let written = if format == "oci" {
        image.clone()
    } else {
        out.join("image.oci.tar")
    };
    let mut cmd = if clock_ahead {
        let mut c = Command::new(faketime());
        c.args(["-f", &format!("+{CLOCK_AHEAD_S}")])
            .arg(watt_bin())
            // Timers and Node's event loop keep the real monotonic clock.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        c
    } else {
        Command::new(watt_bin())
    };
    cmd.arg("build")
        .arg(app)
        .args(["--format", format, "-o"])
        .arg(&written)
        .arg("--archive")
        .arg(&archive)
        .arg("--node")
        .arg(node_bin())
        .args(["--tag", TAG, "--json"])
        .current_dir(app)
        .env("WATT_STUB", stub_bin())
        .envs(KEYS.iter().copied());
    match source_date_epoch {
        Some(t) => cmd.env("SOURCE_DATE_EPOCH", t.to_string()),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let o = cmd.output().expect("run watt");
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("not reproducible"), "{stderr}");
    let result: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("watt build --json: {e}\n{}", text(&o)));
    let oci_archive = (format != "oci").then(|| {
        extract(&written, &image);
        written
    });
    assert!(archive.is_file() && image.join("index.json").is_file());
    Build {
        archive,
        image,
        oci_archive,
        result,
    }
}

/// libfaketime's wrapper (ci/setup.sh installs it), checked to move a Node process's clock.
fn faketime() -> &'static str {
    let o = Command::new("faketime")
        .args(["-f", &format!("+{CLOCK_AHEAD_S}")])
        .arg(node_bin())
        .args(["-e", "console.log(Math.round(Date.now() / 1000))"])
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap_or_else(|e| panic!("faketime ({e}): run ci/setup.sh, it installs faketime"));
    assert!(o.status.success(), "faketime failed\n{}", text(&o));
    let faked: i64 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (faked - now - CLOCK_AHEAD_S).abs() < 120,
        "faketime did not move node's clock: {faked} vs {now}"
    );
    "faketime"
}

/// Every file below `dir` (links not followed) whose bytes contain `needle` (every file for an
/// empty one).
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
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

/// A blob of an OCI layout by digest.
fn blob(image: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(image.join("blobs/sha256").join(hex)).unwrap()
}

/// The checks every example gets from its pair of builds; returns the first archive extracted.
/// `must_ship` are paths in the archive without which the test would not bite (a framework's
/// server build).
fn assert_reproducible(
    work: &Path,
    dirs: &[PathBuf; 2],
    builds: &[Build; 2],
    must_ship: &[&str],
) -> PathBuf {
    let root = work.join("x");
    extract(&builds[0].archive, &root);
    for p in must_ship {
        assert!(root.join(p).exists(), "{p} not shipped");
    }

    // No shipped file, nor the image config, names a build folder (or the folder above both).
    let config = blob(
        &builds[0].image,
        builds[0].result["config"].as_str().unwrap(),
    );
    for folder in [&dirs[0], &dirs[1], &work.to_path_buf()] {
        let needle = folder.to_str().unwrap();
        let found = files_holding(&root, needle.as_bytes());
        assert!(
            found.is_empty(),
            "shipped files name the build folder {needle}: {found:?}"
        );
        let in_config = config.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!in_config, "the image config names {needle}");
    }

    let (x, y) = (
        std::fs::read(&builds[0].archive).unwrap(),
        std::fs::read(&builds[1].archive).unwrap(),
    );
    if x != y {
        let other = work.join("y");
        extract(&builds[1].archive, &other);
        let diff = Command::new("diff")
            .args(["-rq", "--no-dereference"])
            .arg(&root)
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

    let (lx, ly) = (
        layer_digests(&builds[0].result),
        layer_digests(&builds[1].result),
    );
    let differ: Vec<&str> = lx
        .iter()
        .zip(&ly)
        .filter(|(l, r)| l != r)
        .map(|(l, _)| l.0.as_str())
        .collect();
    assert!(
        differ.is_empty() && lx.len() == ly.len(),
        "layers differ: {differ:?}\n{lx:?}\n{ly:?}"
    );
    let digest = |b: &Build| b.result["digest"].as_str().unwrap().to_string();
    assert!(digest(&builds[0]).starts_with("sha256:"));
    assert_eq!(digest(&builds[0]), digest(&builds[1]), "image digests");
    if let [Some(a), Some(b)] = [&builds[0].oci_archive, &builds[1].oci_archive] {
        let same = std::fs::read(a).unwrap() == std::fs::read(b).unwrap();
        assert!(same, "the oci-archive files differ");
    }
    eprintln!(
        "reproducible: {} bytes of archive, image {}",
        x.len(),
        digest(&builds[0])
    );
    root
}

/// An example from two copies below `work`, built apart; see the module doc.
fn example_builds_reproducibly(
    work: &Path,
    name: &str,
    format: &str,
    outputs: &[&str],
    must_ship: &[&str],
) {
    let dirs = two_copies(&example(name), work, outputs);
    builds_reproducibly(work, &dirs, format, must_ship);
}

/// The two copies built apart (the second under libfaketime) and checked; the first archive,
/// extracted.
fn builds_reproducibly(
    work: &Path,
    dirs: &[PathBuf; 2],
    format: &str,
    must_ship: &[&str],
) -> PathBuf {
    let builds = [
        build_as(format, &dirs[0], &work.join("out-a"), false, None),
        build_as(format, &dirs[1], &work.join("out-b"), true, None),
    ];
    assert_reproducible(work, dirs, &builds, must_ship)
}

/// Express, a plain `node:http` server and a Platformatic service (Fastify); the image as an
/// oci-archive, so the tar `docker load` reads is compared byte for byte too.
#[test]
fn api_builds_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    example_builds_reproducibly(
        work.path(),
        "api",
        "oci-archive",
        &["web/catalog/dist"],
        &["app/web/catalog/dist", "app/web/front/routes"],
    );
}

/// Astro SSR standalone and middleware, static Astro, a Vite SPA, React Router 7 with SSR and
/// in SPA mode, an API, a gateway. Astro's server chunks and manifest name the build folder
/// unless watt's integration rewrites them (`astro_build_hook.mjs`), and its server-islands key
/// is `ASTRO_KEY`.
#[test]
fn content_builds_reproducibly() {
    let services = ["site", "mw", "docs", "spa", "shop", "rrspa"];
    let outputs: Vec<String> = services
        .iter()
        .flat_map(|s| [format!("web/{s}/dist"), format!("web/{s}/build")])
        .collect();
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let work = tempfile::tempdir().unwrap();
    example_builds_reproducibly(
        work.path(),
        "content",
        "oci",
        &outputs,
        &[
            "app/web/site/dist/server/entry.mjs",
            "app/web/mw/dist/server/entry.mjs",
            "app/web/shop/build/server/index.js",
            "app/web/spa/dist/index.html",
        ],
    );
}

/// Two Next apps (App Router standalone, Pages Router), a Fastify API, a gateway. Next's build
/// id comes from the inputs, its keys from the given secret, host paths are rewritten out of the
/// standalone server, route maps are sorted; and none of the `.env*` files Next's standalone
/// tracing copies ships.
#[test]
fn fullstack_builds_reproducibly_without_env_files() {
    let work = tempfile::tempdir().unwrap();
    let dirs = two_copies(
        &example("fullstack"),
        work.path(),
        &["web/storefront/.next", "web/legacy/.next"],
    );
    assert!(
        dirs[0].join("web/storefront/.env.production").is_file(),
        "the example must hold an env file for Next to copy"
    );
    let builds = [
        build(&dirs[0], &work.path().join("out-a"), false, None),
        build(&dirs[1], &work.path().join("out-b"), true, None),
    ];
    // Next copies .env and .env.production into its standalone output: the test only bites if
    // it did.
    let copied = dirs[0].join("web/storefront/.next/standalone/web/storefront/.env.production");
    assert!(
        copied.is_file(),
        "Next no longer copies .env files: {}",
        copied.display()
    );
    let root = assert_reproducible(
        work.path(),
        &dirs,
        &builds,
        &[
            "app/web/storefront/.next/standalone/web/storefront/server.js",
            "app/web/legacy/.next/standalone/web/legacy/.next/BUILD_ID",
            "app/web/legacy/.next/standalone/web/legacy/.next/server/pages-manifest.json",
        ],
    );
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
}

/// Nuxt 4 (Vite client and server builds, then Nitro). Its `buildId` (a random UUID) is a hash
/// of the inputs, the time in `builds/latest.json` the artifact's; the keys of `useFetch`
/// calls, the server chunks' names and Nitro's handler names no longer hash the build folder,
/// and Nitro's public-asset manifest is sorted. A `.nuxt` left in the second copy (a dev
/// server's) does not move Nuxt's build folder. The id is public, so changing a page changes it.
#[test]
fn nuxt_builds_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    let out = "app/web/shop/.output";
    let dirs = two_copies(
        &installed_fixture("nuxt"),
        work.path(),
        &["web/shop/.output", "web/shop/.nuxt", "node_modules/.cache"],
    );
    let dev = dirs[1].join("web/shop/.nuxt/nuxt.d.ts");
    std::fs::create_dir_all(dev.parent().unwrap()).unwrap();
    std::fs::write(&dev, "// a dev server's\n").unwrap();
    let root = builds_reproducibly(
        work.path(),
        &dirs,
        "oci",
        &[
            &format!("{out}/server/index.mjs"),
            &format!("{out}/public/_nuxt/builds/latest.json"),
        ],
    );
    let latest = |root: &Path| -> Value {
        let path = root.join(out).join("public/_nuxt/builds/latest.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let first = latest(&root);
    let id = first["id"].as_str().unwrap().to_string();
    assert!(
        id.len() == 20 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "not an id from the inputs: {first}"
    );
    assert_eq!(first["timestamp"], DEFAULT_EPOCH * 1000, "{first}");
    let meta = root
        .join(out)
        .join(format!("public/_nuxt/builds/meta/{id}.json"));
    assert!(meta.is_file(), "{} missing", meta.display());
    assert!(dev.is_file(), "the build touched the dev server's .nuxt");

    // A page changes: the next deployment has another id.
    let page = dirs[1].join("web/shop/app/pages/index.vue");
    let text = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&page, text.replace("Nuxt shop", "Nuxt shop, changed")).unwrap();
    let changed = build(&dirs[1], &work.path().join("out-c"), false, None);
    let other = work.path().join("z");
    extract(&changed.archive, &other);
    let second = latest(&other);
    assert_ne!(
        second["id"], first["id"],
        "a changed page kept the build id"
    );
    let second_id = second["id"].as_str().unwrap();
    let meta = other
        .join(out)
        .join(format!("public/_nuxt/builds/meta/{second_id}.json"));
    assert!(meta.is_file(), "{} missing", meta.display());
}

/// A plain Nitro app (nitropack 2), built by the steps of Nitro's CLI `build` with watt's
/// rollup plugin: its handler names (a hash of each handler's absolute path) and its
/// public-asset manifest (in the order parallel reads finished) no longer depend on the folder
/// or the run, so two copies give the same bytes.
#[test]
fn nitro_builds_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    let out = "app/web/site/.output";
    let dirs = two_copies(
        &installed_fixture("nitro"),
        work.path(),
        &["web/site/.output", "web/site/.nitro"],
    );
    let root = builds_reproducibly(
        work.path(),
        &dirs,
        "oci",
        &[
            &format!("{out}/server/index.mjs"),
            &format!("{out}/public/notes-8.txt"),
        ],
    );
    // The rewritten handler list is there (a lazy handler per route), and the manifest is in
    // order: what the comparison above rests on.
    let nitro =
        std::fs::read_to_string(root.join(out).join("server/chunks/nitro/nitro.mjs")).unwrap();
    assert!(
        nitro.contains("const _lazy_") && nitro.contains("import('../routes/api/hello.mjs')"),
        "no lazy handlers in nitro.mjs"
    );
    let listed: Vec<usize> = (1..=8)
        .map(|i| {
            nitro
                .find(&format!("\"/notes-{i}.txt\": {{"))
                .unwrap_or_else(|| panic!("/notes-{i}.txt not in the asset manifest"))
        })
        .collect();
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "{listed:?}");
}

/// TanStack Start and Nitro with a Vite config, built by Vite's `createBuilder().buildApp()` with
/// watt's plugins: Nitro's handler names no longer hash the build folder, and TanStack Start's
/// server manifest names its route files from the root (it named them by absolute path, so the
/// build folder shipped).
#[test]
fn tanstack_and_nitro_vite_build_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    let dirs = two_copies(
        &installed_fixture("tanstack"),
        work.path(),
        &["web/board/dist", "web/notes/.output"],
    );
    let root = builds_reproducibly(
        work.path(),
        &dirs,
        "oci",
        &[
            "app/web/board/dist/server/index.mjs",
            "app/web/notes/.output/server/index.mjs",
        ],
    );
    let chunks = root.join("app/web/board/dist/server/chunks/build");
    let manifest = std::fs::read_dir(&chunks)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("_tanstack-start-manifest")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("no TanStack Start manifest chunk");
    assert!(
        manifest.contains("filePath: \"src/routes/__root.tsx\""),
        "{manifest}"
    );
}

/// Remix (Vite) with an API, installed by npm.
#[test]
fn remix_builds_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    example_builds_reproducibly(
        work.path(),
        "remix",
        "oci",
        &["web/app/build"],
        &["app/web/app/build/server/index.js"],
    );
}

/// The Remix example installed by **pnpm** in each copy (the lockfile imported from the
/// example's, so the same versions): a `node_modules/.pnpm` store with relative links, and
/// `.bin` shims and `.modules.yaml` that name the install folder, which must not ship.
#[test]
fn a_pnpm_install_builds_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    copy_sources(&example("remix"), &src);
    std::fs::write(
        src.join("pnpm-workspace.yaml"),
        "packages:\n  - \"web/*\"\n",
    )
    .unwrap();
    pnpm(&src, &["import"]);
    std::fs::remove_file(src.join("package-lock.json")).unwrap();
    let dirs = two_copies(&src, work.path(), &[]);
    for d in &dirs {
        pnpm(
            d,
            &[
                "install",
                "--frozen-lockfile",
                "--config.confirmModulesPurge=false",
            ],
        );
        let shim = d.join("node_modules/.bin/remix");
        let shim_text = std::fs::read_to_string(d.join("web/app/node_modules/.bin/remix"))
            .or_else(|_| std::fs::read_to_string(&shim))
            .unwrap_or_default();
        assert!(
            shim_text.contains(d.to_str().unwrap()),
            "pnpm's shims name the install folder (the test bites only if they do)"
        );
    }
    let builds = [
        build(&dirs[0], &work.path().join("out-a"), false, None),
        build(&dirs[1], &work.path().join("out-b"), true, None),
    ];
    let root = assert_reproducible(
        work.path(),
        &dirs,
        &builds,
        &[
            "app/web/app/build/server/index.js",
            "app/node_modules/.pnpm",
        ],
    );
    let link = root.join("app/web/app/node_modules/@remix-run/node");
    assert!(
        std::fs::symlink_metadata(&link).is_ok_and(|m| m.is_symlink()),
        "pnpm's links ship as links: {}",
        link.display()
    );
}

/// `tar -tv` of `archive` as (mode, owner, size, mtime, name) rows, in archive order.
fn listing(archive: &Path) -> Vec<(String, String, String, String, String)> {
    let o = Command::new("tar")
        .args(["-tv", "--full-time", "--numeric-owner", "-f"])
        .arg(archive)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(o.status.success(), "tar -tv failed\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (
                fields[0].to_string(),
                fields[1].to_string(),
                fields[2].to_string(),
                format!("{} {}", fields[3], fields[4]),
                fields[5..].join(" "),
            )
        })
        .collect()
}

fn utc(t: u64) -> String {
    let o = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// (name, digest) of each layer in a `watt build --json` result, in image order.
fn layer_digests(result: &Value) -> Vec<(String, String)> {
    result["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap().to_string();
            (field("name"), field("digest"))
        })
        .collect()
}

/// Every entry of `a` and `b` alike but for its time, which is `ta` in `a` and `tb` in `b`.
/// The SBOM's size may differ too: it records `SOURCE_DATE_EPOCH` as its own timestamp (what it
/// holds besides is checked by [`assert_sboms_differ_only_in_their_date`]).
fn assert_same_but_times(what: &str, a: &Path, b: &Path, ta: u64, tb: u64) {
    let (la, lb) = (listing(a), listing(b));
    assert!(!la.is_empty(), "{what}: empty");
    assert_eq!(la.len(), lb.len(), "{what}: entry counts");
    let (ua, ub) = (utc(ta), utc(tb));
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x.3, ua, "{what}: {} dated {}", x.4, x.3);
        assert_eq!(y.3, ub, "{what}: {} dated {}", y.4, y.3);
        let size = |r: &(String, String, String, String, String)| {
            (!r.4.ends_with("sbom.cdx.json")).then(|| r.2.clone())
        };
        assert_eq!(
            (&x.0, &x.1, size(x), &x.4),
            (&y.0, &y.1, size(y), &y.4),
            "{what}"
        );
    }
}

/// The SBOM of a build without `SOURCE_DATE_EPOCH` has no timestamp; with it, the timestamp
/// is that time, and the serial number (derived from the content) follows; nothing else moves.
fn assert_sboms_differ_only_in_their_date(unset: &Path, dated: &Path, t: u64) {
    let work = tempfile::tempdir().unwrap();
    let sbom = |archive: &Path, dir: &str| -> Value {
        let root = work.path().join(dir);
        extract(archive, &root);
        serde_json::from_slice(&std::fs::read(root.join("sbom.cdx.json")).unwrap()).unwrap()
    };
    let (mut u, mut d) = (sbom(unset, "unset"), sbom(dated, "dated"));
    assert!(
        u["metadata"].get("timestamp").is_none(),
        "{}",
        u["metadata"]
    );
    let iso = Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    assert_eq!(
        d["metadata"]["timestamp"],
        String::from_utf8_lossy(&iso.stdout).trim()
    );
    d["metadata"].as_object_mut().unwrap().remove("timestamp");
    assert_ne!(u["serialNumber"], d["serialNumber"]);
    u["serialNumber"] = Value::Null;
    d["serialNumber"] = Value::Null;
    assert_eq!(u, d, "the SBOMs differ beyond their date");
}

/// The image config with its dates taken out, and those dates.
fn config_without_dates(b: &Build) -> (Value, Vec<String>) {
    let mut c: Value =
        serde_json::from_slice(&blob(&b.image, b.result["config"].as_str().unwrap())).unwrap();
    let mut dates = Vec::new();
    let mut take = |v: &mut Value| {
        if let Some(s) = v.as_str() {
            dates.push(s.to_string());
        }
        *v = Value::Null;
    };
    take(&mut c["created"]);
    take(&mut c["config"]["Labels"]["org.opencontainers.image.created"]);
    // Layer digests follow the file times; the diff ids are compared as listings below.
    c["rootfs"]["diff_ids"] = Value::Null;
    for h in c["history"].as_array_mut().unwrap() {
        take(&mut h["created"]);
    }
    (c, dates)
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org) is every file's time in the archive and in
/// the image layers, the image's `created`, each history entry's and the
/// `org.opencontainers.image.created` label; nothing else changes with it. Without it, files
/// carry 1980-01-01 and so do the image dates.
#[test]
fn source_date_epoch_sets_the_file_times_and_image_dates_only() {
    const T: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z
    let work = tempfile::tempdir().unwrap();
    let dirs = two_copies(&example("api"), work.path(), &["web/catalog/dist"]);
    let unset = build(&dirs[0], &work.path().join("unset"), false, None);
    let same = [
        build(&dirs[0], &work.path().join("t-a"), false, Some(T)),
        build(&dirs[1], &work.path().join("t-b"), true, Some(T)),
    ];
    // The same value: identical, as any two builds of one input.
    assert_reproducible(work.path(), &dirs, &same, &["app/web/catalog/dist"]);

    // Different values: the archives differ only in their entries' times.
    assert_ne!(
        std::fs::read(&unset.archive).unwrap(),
        std::fs::read(&same[0].archive).unwrap()
    );
    assert_same_but_times(
        "archive",
        &unset.archive,
        &same[0].archive,
        DEFAULT_EPOCH,
        T,
    );
    assert_sboms_differ_only_in_their_date(&unset.archive, &same[0].archive, T);

    // The image: the same layers but for their files' times, the same config but for its dates.
    let (lu, lt) = (layer_digests(&unset.result), layer_digests(&same[0].result));
    assert_eq!(lu.len(), lt.len());
    for ((name, du), (name_t, dt)) in lu.iter().zip(&lt) {
        assert_eq!(name, name_t);
        let path = |b: &Build, d: &str| {
            b.image
                .join("blobs/sha256")
                .join(d.strip_prefix("sha256:").unwrap())
        };
        assert_same_but_times(
            &format!("layer {name}"),
            &path(&unset, du),
            &path(&same[0], dt),
            DEFAULT_EPOCH,
            T,
        );
    }
    let (cu, dates_u) = config_without_dates(&unset);
    let (ct, dates_t) = config_without_dates(&same[0]);
    assert_eq!(cu, ct, "the image configs differ beyond their dates");
    assert!(dates_u.len() >= 3, "{dates_u:?}");
    assert!(
        dates_u.iter().all(|d| d == "1980-01-01T00:00:00Z"),
        "{dates_u:?}"
    );
    assert!(
        dates_t.iter().all(|d| d == "2023-11-14T22:13:20Z"),
        "{dates_t:?}"
    );
    assert_eq!(dates_u.len(), dates_t.len());
}
