//! `watt k8s`: a Deployment and a Service for the app's image, matching what the stub does:
//! startup/readiness probes on `/ready` and liveness on `/status` of the health port (a
//! container port named `metrics`, which Platformatic's helm chart and PodMonitors scrape), a
//! `preStop` sleep so endpoints are removed before the stub stops accepting, a termination grace
//! period above the stub's whole shutdown budget, and a restricted security context (numeric
//! non-root user, read-only root, no privilege escalation, no capabilities, RuntimeDefault
//! seccomp) with emptyDir volumes where the app writes (TMPDIR, Next's `.next/cache`).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::config::{Kind, ResolvedApp};

pub struct Options {
    pub image: String,
    pub replicas: u32,
    /// Numeric uid and gid the image runs as.
    pub user: u32,
    /// Where the artifact root is inside the image.
    pub root: String,
}

/// Seconds of `preStop` sleep: long enough for endpoint controllers to stop routing to the pod.
const PRE_STOP_SECONDS: u64 = 5;
const HTTP_PORT: u16 = 3042;

/// (file name, manifest) pairs, in the order to apply them.
pub fn manifests(app: &ResolvedApp, o: &Options) -> Result<Vec<(&'static str, Value)>> {
    let name = dns_label(&app.name);
    let labels = json!({ "app.kubernetes.io/name": name });
    let health = &app.supervision.health;
    // A placeholder port is only known when the container starts: the stub is told where.
    let metrics_port: u16 = health
        .port
        .as_deref()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(watt_manifest::DEFAULT_HEALTH_PORT);
    let grace = app.graceful_shutdown.runtime_ms.div_ceil(1000) + PRE_STOP_SECONDS + 5;
    let probe = |path: &str, period: u32, failures: u32| {
        json!({
            "httpGet": { "path": path, "port": "metrics" },
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        })
    };
    let root = o.root.trim_end_matches('/');
    let mut volumes = vec![json!({ "name": "tmp", "emptyDir": {} })];
    let mut mounts = vec![json!({ "name": "tmp", "mountPath": "/tmp" })];
    for (i, s) in app.services.iter().enumerate() {
        if s.kind == Kind::Next {
            let rel = s
                .path
                .strip_prefix(&app.root)
                .with_context(|| format!("service {:?} lies outside the app", s.id))?;
            let vol = format!("next-cache-{i}");
            let at = Path::new(root).join("app").join(rel).join(".next/cache");
            volumes.push(json!({ "name": vol, "emptyDir": {} }));
            mounts.push(json!({ "name": vol, "mountPath": at.to_string_lossy() }));
        }
    }
    let mut ports = vec![json!({ "name": "http", "containerPort": HTTP_PORT, "protocol": "TCP" })];
    if health.enabled {
        ports.push(json!({ "name": "metrics", "containerPort": metrics_port, "protocol": "TCP" }));
    }
    let mut container = json!({
        "name": "app",
        "image": o.image,
        "ports": ports,
        "env": [
            { "name": "PORT", "value": HTTP_PORT.to_string() },
            { "name": "WATT_HEALTH_ADDR", "value": format!("0.0.0.0:{metrics_port}") },
            { "name": "TMPDIR", "value": "/tmp" },
        ],
        "lifecycle": { "preStop": { "sleep": { "seconds": PRE_STOP_SECONDS } } },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "runAsUser": o.user,
            "runAsGroup": o.user,
            "capabilities": { "drop": ["ALL"] },
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "volumeMounts": mounts,
    });
    if health.enabled {
        // Next cold starts are slow: up to 2 minutes to become ready.
        container["startupProbe"] = probe("/ready", 2, 60);
        container["readinessProbe"] = probe("/ready", 5, 2);
        container["livenessProbe"] = probe("/status", 10, 3);
    }
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "replicas": o.replicas,
            "selector": { "matchLabels": labels },
            "template": {
                "metadata": { "labels": labels },
                "spec": {
                    "terminationGracePeriodSeconds": grace,
                    "automountServiceAccountToken": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": o.user,
                        "runAsGroup": o.user,
                        "fsGroup": o.user,
                        "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    });
    let mut service_ports =
        vec![json!({ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" })];
    if health.enabled {
        service_ports.push(json!({ "name": "metrics", "port": metrics_port, "targetPort": "metrics", "protocol": "TCP" }));
    }
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name, "labels": labels },
        "spec": { "selector": labels, "ports": service_ports },
    });
    Ok(vec![
        ("deployment.json", deployment),
        ("service.json", service),
    ])
}

/// An RFC 1123 label: lower-case alphanumerics and `-`, at most 63, starting and ending
/// alphanumeric.
fn dns_label(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(63);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "app".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("@acme/My_Shop"), "my-shop");
        assert_eq!(dns_label("--"), "app");
        assert_eq!(dns_label(&"x".repeat(80)).len(), 63);
    }
}
