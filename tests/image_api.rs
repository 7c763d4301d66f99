//! `examples/api` as an OCI image, checked by the real tools: the layout validates
//! (oci-image-tool), skopeo reads the archive, umoci unpacks a rootfs where the config says the
//! stub, node and the app are; podman and Docker load the same oci-archive and run it read-only
//! as the non-root user with every route answering, and `stop` exits 0. Bad output paths and
//! tags fail before anything is built, leaving nothing behind. (Identical digests from two
//! copies built apart: tests/determinism.rs.)

#[path = "images/mod.rs"]
mod images;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use images::*;
use watt_e2e::*;

const TAG: &str = "localhost/watt-e2e-api:test";

/// The routes archive_api checks, now answered from inside a container.
fn check_api_routes(base: &str, logs: &dyn Fn() -> String) {
    let (status, body) = get(&format!("{base}/"));
    assert_eq!(status, 200, "{body}\n{}", logs());
    assert_eq!(
        json(&body)["greeting"],
        "hi from the container",
        "placeholder from the container's environment"
    );
    let (status, body) = get(&format!("{base}/summary"));
    assert_eq!(status, 200, "{body}\n{}", logs());
    let v = json(&body);
    assert_eq!(
        v["items"],
        serde_json::json!(["anvil", "bellows", "crucible"])
    );
    assert_eq!(v["itemsBuiltBy"], "npm run build");
    assert_eq!(v["clock"], "clock", "http.get → clock across the mesh");
    let (status, body) = get(&format!("{base}/health"));
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
}

fn boot_and_stop(cli: &dyn Fn() -> Command, what: &str) {
    let port = free_port();
    let name = format!("watt-e2e-api-{what}-{port}");
    let c = Container::run(
        cli,
        TAG,
        &name,
        &[
            ("PORT", port.to_string()),
            ("GREETING", "hi from the container".to_string()),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    c.wait_ready(&format!("{base}/health"), Duration::from_secs(90));
    check_api_routes(&base, &|| c.logs());
    assert_eq!(c.main_uid(), 65532, "the image's numeric non-root user");
    let (code, took) = c.stop(10);
    assert_eq!(code, 0, "{what} stop: exit code\n{}", c.logs());
    assert!(
        took < Duration::from_secs(10),
        "{what} stop took {took:?} (grace period 10 s)"
    );
    let logs = c.logs();
    assert!(logs.contains("[clock] clock listening"), "{logs}");
}

#[test]
fn the_layout_validates_and_unpacks_where_the_config_says() {
    let img = built_image("api", "oci", TAG);
    let layout = &img.path;
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["digest"],
        img.digest.as_str(),
        "stdout names the manifest"
    );
    assert_eq!(
        img.stdout,
        format!("localhost/watt-e2e-api@{}\n", img.digest)
    );

    let v = run_ok(
        tool("oci-image-tool")
            .args(["validate", "--type", "image"])
            .arg(layout),
    );
    assert!(v.contains("Validation succeeded"), "{v}");

    let inspect = json(&run_ok(
        tool("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci:{}:{TAG}", layout.display())),
    ));
    let config = &inspect["config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["/watt-stub"]));
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["StopSignal"], "SIGTERM");
    assert_eq!(
        config["ExposedPorts"],
        serde_json::json!({"3042/tcp": {}, "9090/tcp": {}})
    );
    assert!(config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "NODE_ENV=production"));
    let labels = &config["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], "test");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "1980-01-01T00:00:00Z"
    );
    assert!(
        labels["org.opencontainers.image.revision"]
            .as_str()
            .is_some_and(|r| r.len() == 40),
        "the example is in a git tree: {labels}"
    );
    let history: Vec<_> = inspect["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        history.len(),
        inspect["rootfs"]["diff_ids"].as_array().unwrap().len()
    );
    for layer in [
        "runtime",
        "stub",
        "app-front",
        "app-catalog",
        "app-clock",
        "manifest",
    ] {
        assert!(
            history.contains(&format!("watt build: {layer} layer")),
            "{history:?}"
        );
    }

    let bundle = img._dir.path().join("bundle");
    run_ok(
        tool("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:{TAG}", layout.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    let at = |p: &str| rootfs.join(p.trim_start_matches('/'));
    let entry = config["Entrypoint"][0].as_str().unwrap();
    let mode = std::fs::metadata(at(entry)).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "{entry} is executable");
    assert!(at(config["WorkingDir"].as_str().unwrap()).is_dir());
    assert!(
        at("/runtime/lib/node").is_file(),
        "node where the manifest says"
    );
    let manifest = json(&std::fs::read_to_string(at("/watt-manifest.json")).unwrap());
    for s in manifest["services"].as_array().unwrap() {
        assert!(
            at(s["root"].as_str().unwrap()).is_dir(),
            "service {}",
            s["id"]
        );
    }
    assert!(at("/app/node_modules/express/package.json").is_file());
    assert!(!at("/app/node_modules/wattpm").exists());
    for js in ["launcher.cjs", "preload.cjs", "request-handler.cjs"] {
        let shipped = std::fs::read(at(&format!("/runtime/js/{js}"))).unwrap();
        let source = std::fs::read(repo().join("runtime-stub/js").join(js)).unwrap();
        assert!(
            shipped == source,
            "runtime/js/{js} is the stub's file byte for byte"
        );
    }
    let tmp = std::fs::metadata(at("/tmp")).unwrap().permissions().mode();
    assert_eq!(tmp & 0o7777, 0o1777, "an empty sticky /tmp");
    let passwd = std::fs::read_to_string(at("/etc/passwd")).unwrap();
    assert!(passwd.contains(":65532:65532:"), "{passwd}");
    assert!(!at("/bin/sh").exists(), "no shell in the image");
}

#[test]
fn podman_loads_the_archive_and_runs_it_read_only() {
    let img = built_image("api", "oci-archive", TAG);
    let v = run_ok(
        tool("skopeo")
            .args(["inspect"])
            .arg(format!("oci-archive:{}", img.path.display())),
    );
    assert_eq!(json(&v)["Digest"], img.digest.as_str());
    let _image = PodmanImage::load(&img.path, TAG);
    boot_and_stop(&podman, "podman");
}

#[test]
fn docker_loads_the_same_archive_and_runs_it_read_only() {
    let img = built_image("api", "oci-archive", TAG);
    let dockerd = Dockerd::start();
    let docker = || dockerd.docker();
    let loaded = run_ok(docker().arg("load").arg("-i").arg(&img.path));
    assert!(loaded.contains(TAG), "{loaded}");
    boot_and_stop(&docker, "docker");
}

#[test]
fn bad_output_paths_and_tags_fail_before_building_and_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("taken");
    std::fs::write(&file, "keep me").unwrap();
    let app = example("api");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--format", "oci", "-o", file.to_str().unwrap()],
            "is a file",
        ),
        (
            vec!["--format", "oci-archive", "-o", "/nonexistent/x.tar"],
            "does not exist",
        ),
        (
            vec!["--format", "oci", "--tag", "Bad:Tag!", "-o", "x"],
            "not a valid image reference",
        ),
        (
            vec!["--push", "127.0.0.1:5000/Bad Name:1"],
            "not a valid image reference",
        ),
        (vec!["--push", "api:1"], "name the registry"),
        (
            vec!["--format", "oci", "--user", "watt", "-o", "x"],
            "numeric UID:GID",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["build", app.to_str().unwrap()];
        all.extend(args.iter());
        let o = watt(&all, work.path());
        assert!(!o.status.success(), "{args:?} must fail\n{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{args:?}: expected {expect:?}\n{err}");
        assert!(
            !err.contains("built "),
            "{args:?} failed only after building\n{err}"
        );
        assert!(o.stdout.is_empty(), "nothing on stdout");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        [std::ffi::OsString::from("taken")],
        "nothing else written"
    );
}

#[test]
fn zstd_layers_are_opt_in_and_podman_runs_them() {
    let tag = "localhost/watt-e2e-api-zstd:test";
    let (o, out, _dir) = build_image(
        &example("api"),
        "oci-archive",
        tag,
        &["--compression", "zstd"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let manifest = json(&run_ok(
        tool("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}", out.display())),
    ));
    for l in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
    let _image = PodmanImage::load(&out, tag);
    let port = free_port();
    let c = Container::run(
        &podman,
        tag,
        &format!("watt-e2e-api-zstd-{port}"),
        &[
            ("PORT", port.to_string()),
            ("GREETING", "hi from the container".into()),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    c.wait_ready(&format!("{base}/health"), Duration::from_secs(90));
    check_api_routes(&base, &|| c.logs());
    assert_eq!(c.stop(10).0, 0, "{}", c.logs());
}

/// An app whose `.env` asks for loopback (`PLT_SERVER_HOSTNAME=127.0.0.1`, baked in with
/// `--dotenv`) listens on every interface in the image, because the image's environment sets
/// `PLT_SERVER_HOSTNAME=0.0.0.0` and the real environment beats env files (Watt's rule); an
/// operator's `-e` still wins.
#[test]
fn the_image_binds_every_interface_even_when_the_env_file_asks_for_loopback() {
    let tag = "localhost/watt-e2e-hostname:test";
    let app = repo().join("tests/fixtures/secrets");
    let (o, path, _dir) = build_image(&app, "oci-archive", tag, &["--dotenv"]);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    let _image = PodmanImage::load(&path, tag);
    let podman = podman;
    let listening = |env: &[(&str, String)], name: &str| {
        let port = free_port();
        let mut env = env.to_vec();
        env.push(("PORT", port.to_string()));
        let c = Container::run(&podman, tag, &format!("{name}-{port}"), &env);
        let url = format!("http://127.0.0.1:{port}/");
        c.wait_ready(&url, Duration::from_secs(60));
        let logs = c.logs();
        let (code, _) = c.stop(10);
        assert_eq!(code, 0, "{logs}");
        let line = logs
            .lines()
            .find(|l| l.contains("listening on http://"))
            .unwrap_or_else(|| panic!("no listening line\n{logs}"))
            .to_string();
        (line, port)
    };
    let (line, port) = listening(&[], "watt-e2e-hostname-default");
    assert!(
        line.contains(&format!("listening on http://0.0.0.0:{port}")),
        "{line}"
    );
    let (line, port) = listening(
        &[("PLT_SERVER_HOSTNAME", "127.0.0.1".into())],
        "watt-e2e-hostname-loopback",
    );
    assert!(
        line.contains(&format!("listening on http://127.0.0.1:{port}")),
        "{line}"
    );
}
