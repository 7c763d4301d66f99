//! `watt build --push` against a real registry (Debian's `docker-registry`, the CNCF
//! distribution registry) on loopback with htpasswd auth: the right credentials push, and skopeo
//! sees the digest the local layout has; a second push uploads no blob; after one source file of
//! one service changes, only that service's application layer and the config are uploaded (plus
//! the manifest); the image's SBOM arrives as an OCI 1.1 artifact found through the referrers
//! tag. Wrong credentials and an unreachable registry fail before any build, saying
//! which registry, never printing the password.

#[path = "images/mod.rs"]
mod images;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use images::*;
use serde_json::Value;
use watt_e2e::*;

const USER: &str = "watt-ci";
const PASSWORD: &str = "s3cret-registry-password";

struct Registry {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let htpasswd = run_ok(tool("htpasswd").args(["-Bbn", USER, PASSWORD]));
        std::fs::write(dir.path().join("htpasswd"), htpasswd).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: watt-test\n    path: {}\n",
            dir.path().join("data").display(),
            dir.path().join("htpasswd").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = tool("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let t = Instant::now();
        // 401 means it is up and asks for credentials.
        while !matches!(
            ureq::get(&format!("http://{addr}/v2/")).call(),
            Err(ureq::Error::Status(401, _))
        ) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry { child, addr, dir }
    }

    /// A Docker config folder holding `user:password` for this registry.
    fn docker_config(&self, user: &str, password: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let auth = base64(&format!("{user}:{password}"));
        let config = serde_json::json!({ "auths": { self.addr.clone(): { "auth": auth } } });
        std::fs::write(d.path().join("config.json"), config.to_string()).unwrap();
        d
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `watt build APP --format oci -o OUT --push REF --insecure --json` with `DOCKER_CONFIG`.
fn build_and_push(
    app: &Path,
    out: &Path,
    push: &str,
    docker_config: &Path,
) -> std::process::Output {
    let node = node_bin();
    Command::new(watt_bin())
        .args(["build", app.to_str().unwrap(), "--format", "oci", "-o"])
        .arg(out)
        .args([
            "--node",
            node.to_str().unwrap(),
            "--push",
            push,
            "--insecure",
            "--json",
        ])
        .env("WATT_STUB", stub_bin())
        .env("DOCKER_CONFIG", docker_config)
        .current_dir(app)
        .output()
        .unwrap()
}

fn uploaded(result: &Value) -> Vec<String> {
    result["pushed"][0]["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["digest"].as_str().unwrap().to_string())
        .collect()
}

fn layer_digest(result: &Value, name: &str) -> String {
    result["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no layer {name} in {result}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pushes_skip_what_the_registry_has_and_a_change_uploads_only_its_layer() {
    let registry = Registry::start();
    let config = registry.docker_config(USER, PASSWORD);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("api");
    copy_tree(&example("api"), &app, "022");
    let reference = format!("{}/watt/api:1", registry.addr);

    let first = build_and_push(&app, &work.path().join("one"), &reference, config.path());
    assert!(first.status.success(), "{}", text(&first));
    let r1 = json(&String::from_utf8_lossy(&first.stdout));
    let digest = r1["digest"].as_str().unwrap().to_string();
    assert_eq!(
        r1["pushed"][0]["reference"],
        format!("{}/watt/api@{digest}", registry.addr)
    );
    let index = json(&std::fs::read_to_string(work.path().join("one/index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["digest"],
        digest.as_str(),
        "local layout = pushed image"
    );
    let layers = r1["layers"].as_array().unwrap().len();
    assert_eq!(
        uploaded(&r1).len(),
        layers + 1,
        "every layer and the config: {r1}"
    );
    eprintln!("first push: {} bytes", r1["pushed"][0]["uploadedBytes"]);

    let seen = json(&run_ok(
        tool("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                "--creds",
                &format!("{USER}:{PASSWORD}"),
            ])
            .arg(format!("docker://{reference}")),
    ));
    assert_eq!(
        seen["Digest"],
        digest.as_str(),
        "skopeo sees the digest watt printed"
    );
    check_sbom_artifact(&registry, &digest, &r1, &work.path().join("one"));

    let second = build_and_push(&app, &work.path().join("two"), &reference, config.path());
    assert!(second.status.success(), "{}", text(&second));
    let r2 = json(&String::from_utf8_lossy(&second.stdout));
    assert_eq!(r2["digest"], digest.as_str(), "same inputs, same image");
    assert_eq!(
        uploaded(&r2),
        Vec::<String>::new(),
        "a second push uploads no blob"
    );
    assert_eq!(r2["pushed"][0]["skipped"], layers + 1);
    check_sbom_artifact(&registry, &digest, &r2, &work.path().join("two"));
    eprintln!("second push: {} bytes", r2["pushed"][0]["uploadedBytes"]);

    let clock = app.join("web/clock/server.js");
    assert!(clock.is_file(), "examples/api has web/clock/server.js");
    let mut source = std::fs::read_to_string(&clock).unwrap();
    source.push_str("\n// one changed line\n");
    std::fs::write(&clock, source).unwrap();
    let third = build_and_push(&app, &work.path().join("three"), &reference, config.path());
    assert!(third.status.success(), "{}", text(&third));
    let r3 = json(&String::from_utf8_lossy(&third.stdout));
    assert_ne!(r3["digest"], digest.as_str());
    let mut expect = vec![
        layer_digest(&r3, "app-clock"),
        r3["config"].as_str().unwrap().to_string(),
    ];
    expect.sort();
    let mut got = uploaded(&r3);
    got.sort();
    assert_eq!(
        got, expect,
        "only the clock service's layer and the config: {r3}"
    );
    assert_eq!(
        layer_digest(&r3, "app-front"),
        layer_digest(&r1, "app-front")
    );
    eprintln!(
        "one-file-changed push: {} bytes",
        r3["pushed"][0]["uploadedBytes"]
    );
}

/// The image's SBOM, pushed as an OCI 1.1 artifact: this registry has no referrers API, so the
/// referrers tag `sha256-<image hex>` lists it (once, however often the image is pushed); skopeo
/// fetches that index and the artifact manifest, whose `subject` is the image; its one layer is
/// the `/sbom.cdx.json` of the image's manifest layer, byte for byte.
fn check_sbom_artifact(registry: &Registry, digest: &str, result: &Value, layout: &Path) {
    let creds = format!("{USER}:{PASSWORD}");
    let raw = |r: String| {
        json(&run_ok(
            tool("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false", "--creds", &creds])
                .arg(format!("docker://{r}")),
        ))
    };
    let tag = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let sbom = &result["pushed"][0]["sbom"];
    assert_eq!(sbom["referrersTag"], tag.as_str(), "{result}");
    let index = raw(format!("{}/watt/api:{tag}", registry.addr));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "listed once: {index}");
    assert_eq!(entries[0]["artifactType"], "application/vnd.cyclonedx+json");
    let artifact_digest = entries[0]["digest"].as_str().unwrap();
    assert_eq!(
        sbom["reference"],
        format!("{}/watt/api@{artifact_digest}", registry.addr)
    );
    let artifact = raw(format!("{}/watt/api@{artifact_digest}", registry.addr));
    assert_eq!(artifact["artifactType"], "application/vnd.cyclonedx+json");
    assert_eq!(artifact["subject"]["digest"], digest);
    assert_eq!(
        artifact["subject"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layer = &artifact["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.cyclonedx+json");
    let blob_url = format!(
        "http://{}/v2/watt/api/blobs/{}",
        registry.addr,
        layer["digest"].as_str().unwrap()
    );
    let mut pushed = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(&blob_url)
            .set("Authorization", &format!("Basic {}", base64(&creds)))
            .call()
            .unwrap()
            .into_reader(),
        &mut pushed,
    )
    .unwrap();
    // The image's own copy: /sbom.cdx.json in its last (manifest) layer.
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest = json(
        &std::fs::read_to_string(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    );
    let last = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let inside = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(blob(&last))
        .arg("sbom.cdx.json")
        .output()
        .unwrap();
    assert!(inside.status.success(), "{}", text(&inside));
    assert_eq!(pushed, inside.stdout, "the artifact is the image's SBOM");
    let bom = json(&String::from_utf8_lossy(&pushed));
    assert_eq!(bom["bomFormat"], "CycloneDX");
}

#[test]
fn wrong_credentials_and_unreachable_registries_fail_before_building() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let app = example("api");
    let wrong = registry.docker_config(USER, "not-the-password");
    let out = work.path().join("image");
    let o = build_and_push(
        &app,
        &out,
        &format!("{}/watt/api:1", registry.addr),
        wrong.path(),
    );
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "authentication failed at registry {}",
            registry.addr
        )),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password") && !err.contains(PASSWORD),
        "{err}"
    );
    assert!(!err.contains("built "), "fails before building\n{err}");
    assert!(!out.exists(), "nothing at the output path");

    let closed = format!("127.0.0.1:{}/watt/api:1", free_port());
    let o = build_and_push(&app, &out, &closed, wrong.path());
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach registry 127.0.0.1:"), "{err}");
    assert!(!out.exists(), "nothing at the output path");
}

/// A proxy in front of the registry that answers the first `failures` connections with a 503
/// and pipes every later one through: the registry's transient errors, as seen by watt.
fn flaky_proxy(
    upstream: String,
    failures: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let failed = std::sync::Arc::new(AtomicUsize::new(0));
    let count = failed.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            if count.load(Ordering::SeqCst) < failures {
                count.fetch_add(1, Ordering::SeqCst);
                let mut head = [0u8; 4096];
                let _ = client.read(&mut head);
                let _ = client.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let Ok(mut server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, failed)
}

#[test]
fn a_registry_answering_503_is_retried_with_backoff() {
    let registry = Registry::start();
    let (proxy, failed) = flaky_proxy(registry.addr.clone(), 2);
    let work = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let auth = base64(&format!("{USER}:{PASSWORD}"));
    let config = serde_json::json!({ "auths": { proxy.clone(): { "auth": auth } } });
    std::fs::write(d.path().join("config.json"), config.to_string()).unwrap();
    let reference = format!("{proxy}/watt/api:retry");
    let o = build_and_push(
        &example("api"),
        &work.path().join("image"),
        &reference,
        d.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        failed.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the proxy failed twice"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("retrying in"), "{err}");
    let r = json(&String::from_utf8_lossy(&o.stdout));
    let seen = json(&run_ok(
        tool("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                "--creds",
                &format!("{USER}:{PASSWORD}"),
            ])
            .arg(format!("docker://{}/watt/api:retry", registry.addr)),
    ));
    assert_eq!(seen["Digest"], r["digest"], "the image arrived whole");
}
