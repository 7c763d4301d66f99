//! `watt k8s` on examples/fullstack: the manifests validate against the Kubernetes schemas
//! (`kubernetes-validate`, installed by ci/test.sh) and carry the probes, grace period and
//! security context the stub needs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn watt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_watt"))
}

#[test]
fn k8s_manifests_validate_and_match_the_stub() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().unwrap();
    let status = watt()
        .arg("k8s")
        .arg(repo.join("examples/fullstack"))
        .args([
            "--image",
            "registry.example.com/fullstack:1.0",
            "--user",
            "65532",
            "-o",
        ])
        .arg(out.path())
        .status()
        .expect("watt k8s");
    assert!(status.success());
    let files = [
        out.path().join("deployment.json"),
        out.path().join("service.json"),
    ];
    let check = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!("kubernetes-validate is needed (pip install kubernetes-validate; ci/test.sh does): {e}")
        });
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let d = read(&files[0]);
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example.com/fullstack:1.0");
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/status");
    let metrics = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics");
    assert_eq!(
        metrics.expect("a port named metrics")["containerPort"],
        9090
    );
    // Above Watt's default runtime grace (30 s) plus the preStop sleep.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let sleep = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap();
    assert!(sleep > 0 && grace > 30 + sleep, "{grace} {sleep}");
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"/tmp"), "{mounts:?}");
    assert!(
        mounts.iter().any(|m| m.ends_with("/.next/cache")),
        "Next needs a writable cache: {mounts:?}"
    );
    let s = read(&files[1]);
    let names: Vec<&str> = s["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["http", "metrics"]);
}
