//! `--base`: the app's layers on top of another image, taken from an OCI layout folder and from
//! a docker-archive (both made here with umoci and skopeo: a small image holding one marker
//! file). The result keeps the base's layers first, names the base in its annotations and boots
//! under podman. A base that does not exist, is not an image or is for another architecture
//! fails before any build, with nothing at the output path.

#[path = "images/mod.rs"]
mod images;

use std::path::Path;
use std::time::Duration;

use images::*;
use watt_e2e::*;

/// An OCI layout at `dir` with image `base:1`: one layer holding /etc/base-marker.
fn make_base(dir: &Path, arch: &str) {
    run_ok(tool("umoci").args(["init", "--layout"]).arg(dir));
    let image = format!("{}:1", dir.display());
    run_ok(tool("umoci").args(["new", "--image", &image]));
    let bundle = dir.with_extension("bundle");
    run_ok(
        tool("umoci")
            .args(["unpack", "--rootless", "--image", &image])
            .arg(&bundle),
    );
    std::fs::create_dir_all(bundle.join("rootfs/etc")).unwrap();
    std::fs::write(bundle.join("rootfs/etc/base-marker"), "from the base\n").unwrap();
    run_ok(
        tool("umoci")
            .args(["repack", "--image", &image])
            .arg(&bundle),
    );
    run_ok(tool("umoci").args([
        "config",
        "--image",
        &image,
        "--architecture",
        arch,
        "--config.env",
        "BASE_VAR=kept",
    ]));
    run_ok(tool("umoci").args(["gc", "--layout"]).arg(dir));
}

fn boot_with_podman(archive: &Path, tag: &str) {
    let _image = PodmanImage::load(archive, tag);
    let port = free_port();
    let c = Container::run(
        &podman,
        tag,
        &format!("watt-e2e-base-{port}"),
        &[("PORT", port.to_string())],
    );
    let base = format!("http://127.0.0.1:{port}");
    c.wait_ready(&format!("{base}/health"), Duration::from_secs(90));
    let (status, body) = get(&format!("{base}/summary"));
    assert_eq!(status, 200, "{body}\n{}", c.logs());
    assert!(body.contains("crucible"), "{body}");
    let (code, _) = c.stop(10);
    assert_eq!(code, 0, "{}", c.logs());
}

#[test]
fn an_oci_layout_and_a_docker_archive_work_as_bases() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("base");
    make_base(&layout, "amd64");
    let docker_archive = work.path().join("base-docker.tar");
    run_ok(
        tool("skopeo")
            .arg("copy")
            .arg(format!("oci:{}:1", layout.display()))
            .arg(format!(
                "docker-archive:{}:localhost/watt-e2e-base:1",
                docker_archive.display()
            )),
    );
    let base_layers = json(&run_ok(
        tool("skopeo")
            .args(["inspect"])
            .arg(format!("oci:{}:1", layout.display())),
    ))["Layers"]
        .as_array()
        .unwrap()
        .len();
    assert!(base_layers >= 1);

    for (what, spec) in [
        ("layout", layout.clone()),
        ("docker-archive", docker_archive.clone()),
    ] {
        let tag = format!("localhost/watt-e2e-base-{what}:test");
        let (o, out, _dir) = build_image(
            &example("api"),
            "oci-archive",
            &tag,
            &["--base", spec.to_str().unwrap()],
        );
        assert!(o.status.success(), "{what}: {}", text(&o));
        let inspect = json(&run_ok(
            tool("skopeo")
                .args(["inspect", "--config"])
                .arg(format!("oci-archive:{}", out.display())),
        ));
        let history = inspect["history"].as_array().unwrap();
        assert!(history
            .iter()
            .any(|h| h["created_by"] == "watt build: runtime layer"));
        let env = inspect["config"]["Env"].as_array().unwrap();
        assert!(
            env.iter().any(|e| e == "BASE_VAR=kept"),
            "the base's environment stays: {env:?}"
        );
        assert_eq!(
            inspect["config"]["Labels"]["org.opencontainers.image.base.name"],
            spec.to_str().unwrap()
        );
        let manifest = json(&run_ok(
            tool("skopeo")
                .args(["inspect", "--raw"])
                .arg(format!("oci-archive:{}", out.display())),
        ));
        assert!(
            manifest["annotations"]["org.opencontainers.image.base.digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{manifest}"
        );
        // The base's layer comes first and carries its file.
        let bundle = work.path().join(format!("unpacked-{what}"));
        let layout_dir = work.path().join(format!("layout-{what}"));
        run_ok(
            tool("skopeo")
                .arg("copy")
                .arg(format!("oci-archive:{}", out.display()))
                .arg(format!("oci:{}:x", layout_dir.display())),
        );
        run_ok(
            tool("umoci")
                .args(["unpack", "--rootless", "--image"])
                .arg(format!("{}:x", layout_dir.display()))
                .arg(&bundle),
        );
        assert_eq!(
            std::fs::read_to_string(bundle.join("rootfs/etc/base-marker")).unwrap(),
            "from the base\n"
        );
        assert!(bundle.join("rootfs/watt-stub").is_file());
        boot_with_podman(&out, &tag);
    }
}

#[test]
fn bad_bases_fail_before_building_and_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let arm = work.path().join("arm");
    make_base(&arm, "arm64");
    let text_file = work.path().join("notes.txt");
    std::fs::write(&text_file, "not an image at all\n").unwrap();
    let missing = work.path().join("no-such-base");
    let cases = [
        (
            missing.to_str().unwrap().to_string(),
            "no such file or folder",
        ),
        (text_file.to_str().unwrap().to_string(), "is not an image"),
        (work.path().to_str().unwrap().to_string(), "is not an image"),
        (arm.to_str().unwrap().to_string(), "linux/arm64"),
    ];
    for (spec, expect) in cases {
        let (o, out, _dir) = build_image(
            &example("api"),
            "oci-archive",
            "localhost/x:1",
            &["--base", &spec],
        );
        assert!(!o.status.success(), "{spec} must fail\n{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(expect) && err.contains("--base"),
            "{spec}: expected {expect:?}\n{err}"
        );
        assert!(
            !err.contains("built "),
            "{spec}: failed only after building\n{err}"
        );
        assert!(!out.exists(), "nothing at the output path");
    }
}
