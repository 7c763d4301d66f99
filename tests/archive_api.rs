//! The main job, end to end: `watt build examples/api` into a self-contained archive, extract it
//! into a fresh folder, boot it with no node on PATH, answer every route (including the calls
//! across the mesh), then SIGTERM: exit 0 within the grace period and nothing left running.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use watt_e2e::*;

#[test]
fn api_example_boots_from_the_archive_without_node_and_stops_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("extracted");
    let archive = &built_example("api");
    extract(archive, &root);
    assert!(root.join("watt-stub").is_file());
    assert!(root.join("watt-manifest.json").is_file());
    // Production dependencies only: Express ships, the devDependency and Watt itself do not.
    assert!(root.join("app/node_modules/express/package.json").is_file());
    assert!(!root.join("app/node_modules/@types/express").exists());
    assert!(!root.join("app/node_modules/wattpm").exists());
    assert!(!root.join("app/node_modules/@platformatic/node").exists());
    // The build step ran before packing.
    assert!(root.join("app/web/catalog/dist/items.json").is_file());

    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        // No node anywhere on PATH: the archive must carry its own.
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string())
        .env("GREETING", "hi from the environment")
        // A container's HOSTNAME must never become the bind address.
        .env("HOSTNAME", "container-name-that-does-not-resolve");
    let started = Instant::now();
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/health"), Duration::from_secs(60));
    eprintln!("all routes answering {:?} after start", started.elapsed());

    let (status, body) = get(&format!("{base}/"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["greeting"], "hi from the environment",
        "plugin options placeholder"
    );

    let (status, body) = get(&format!("{base}/summary"));
    assert_eq!(status, 200, "{body}\n{}", stub.logs());
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["items"],
        serde_json::json!(["anvil", "bellows", "crucible"]),
        "fetch → catalog"
    );
    assert_eq!(v["itemsBuiltBy"], "npm run build");
    assert_eq!(v["clock"], "clock", "http.get → clock");

    let (status, body) = get(&format!("{base}/health"));
    assert_eq!(status, 200);
    assert!(
        body.contains("\"status\":\"ok\""),
        "TypeScript plugin: {body}"
    );

    // Every service runs on the bundled node, started through the bundled loader.
    let pids = descendants(stub.child.id() as i32);
    assert!(
        pids.len() >= 3,
        "expected ≥3 service processes, got {pids:?}"
    );
    assert_run_from(&root, &pids);

    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    let out = stub.stdout.lock().unwrap().clone();
    assert!(
        out.contains("[clock] clock listening"),
        "text lines tagged with the service id\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('{') && l.contains("\"name\":\"front\"")),
        "JSON lines gain the service name\n{out}"
    );
}

/// The strongest form of "runs on a bare host": a root file system holding nothing but the
/// extracted archive (plus the kernel's /proc, /dev/null and an empty /tmp). No libc, no node,
/// no shell, no CA store from the host.
#[test]
fn archive_boots_in_an_empty_root_file_system() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    extract(&built_example("api"), &root);
    for d in ["proc", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("dev/null"), "").unwrap();
    let port = free_port();
    let script = format!(
        "mount -t proc proc '{r}/proc' && mount --bind /dev/null '{r}/dev/null' && exec chroot '{r}' /watt-stub",
        r = root.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--fork", "sh", "-c", &script])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PORT", port.to_string());
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/health"), Duration::from_secs(60));
    let (status, body) = get(&format!("{base}/summary"));
    assert_eq!(status, 200, "{body}\n{}", stub.logs());
    assert!(
        body.contains("crucible") && body.contains("\"clock\":\"clock\""),
        "{body}"
    );

    let chrooted = descendants(stub.child.id() as i32);
    // `unshare` does not forward signals: deliver SIGTERM to the stub, as a container runtime would.
    let stub_pid = chrooted
        .iter()
        .copied()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "watt-stub")
        })
        .expect("watt-stub among the processes");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stub_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = stub.wait_exit(Duration::from_secs(12));
    let status =
        status.unwrap_or_else(|| panic!("still running 12 s after SIGTERM\n{}", stub.logs()));
    assert_eq!(status.code(), Some(0), "{}", stub.logs());
    let left: Vec<_> = chrooted.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// `.tar.gz` is the format for hosts without zstd: the same tree, entry for entry.
#[test]
fn gzip_archive_holds_the_same_tree() {
    let work = tempfile::tempdir().unwrap();
    let gz = work.path().join("api.tar.gz");
    build_archive(&example("api"), &gz);
    let list = |path: &Path| {
        let o = Command::new("tar").arg("-tvf").arg(path).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let (a, b) = (list(&built_example("api")), list(&gz));
    assert!(a.lines().count() > 1000, "{a}");
    assert_eq!(a, b);
    let magic = std::fs::read(&gz).unwrap();
    assert_eq!(&magic[..2], &[0x1f, 0x8b], "gzip magic");
}

/// The API example installed by **pnpm**: `front` declares only `@platformatic/service`, so
/// `fastify` is not where the service's files can resolve it (pnpm does not hoist it), only
/// where `@platformatic/service` resolves it from its own real folder. Watt runs the service on
/// that Fastify; so must the artifact.
#[test]
fn a_pnpm_install_runs_the_plugin_service_on_the_fastify_watt_uses() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_sources(&example("api"), &app);
    std::fs::write(
        app.join("pnpm-workspace.yaml"),
        "packages:\n  - \"web/*\"\n",
    )
    .unwrap();
    pnpm(&app, &["import"]);
    std::fs::remove_file(app.join("package-lock.json")).unwrap();
    pnpm(
        &app,
        &[
            "install",
            "--frozen-lockfile",
            "--config.confirmModulesPurge=false",
        ],
    );
    assert!(
        !app.join("node_modules/fastify").exists()
            && !app.join("web/front/node_modules/fastify").exists(),
        "pnpm hoisted fastify where the service sees it: the test no longer bites"
    );

    let archive = work.path().join("api.tar.zst");
    build_archive(&app, &archive);
    let root = work.path().join("extracted");
    extract(&archive, &root);
    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string())
        .env("WATT_HEALTH_ADDR", "off")
        .env("GREETING", "hi from pnpm");
    let mut stub = Running::start(cmd);
    let base = format!("http://127.0.0.1:{port}");
    stub.wait_ready(&format!("{base}/health"), Duration::from_secs(60));
    let (status, body) = get(&format!("{base}/"));
    assert_eq!(status, 200, "{body}\n{}", stub.logs());
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["greeting"], "hi from pnpm", "{body}");
    let (status, body) = get(&format!("{base}/summary"));
    assert_eq!(status, 200, "{body}\n{}", stub.logs());
}
