//! The image config and manifest: how the image starts (the stub as Entrypoint, the bundled
//! node first on PATH, a numeric non-root user, SIGTERM) and what it says about itself (OCI
//! annotations, one history entry per layer).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::reference::Reference;
use super::{Compression, Descriptor, LayerBlob, User};
use crate::pack::STUB;
use crate::sink::PackedApp;

#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// `--tag`, in order; the first gives `org.opencontainers.image.version`.
    pub tags: Vec<Reference>,
    pub user: User,
    pub compression: Compression,
    /// `org.opencontainers.image.source` / `.revision` (see [`git_labels`]).
    pub labels: BTreeMap<String, String>,
    /// `--base`: the image the app's layers go on.
    pub base: Option<super::base::Base>,
}

pub const WORKING_DIR: &str = "/app";
pub const PATH: &str = "/runtime/bin:/usr/local/bin:/usr/bin:/bin";

/// The port the entrypoint listens on when nothing overrides it: the config's `server.port`
/// when it is a number, else the stub's default.
/// The health server's port (`/ready`, `/status`, `/metrics`), when the app serves one.
fn health_port(app: &PackedApp) -> Option<u16> {
    let h = &app.manifest.health;
    h.enabled.then(|| {
        h.port
            .as_ref()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(watt_manifest::DEFAULT_HEALTH_PORT)
    })
}

fn port(app: &PackedApp) -> u16 {
    app.manifest
        .server
        .port
        .as_ref()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(3042)
}

pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn created(mtime: u64) -> String {
    humantime::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
        .to_string()
}

/// Labels and annotations shared by the config and the manifest.
pub fn labels(app: &PackedApp, opts: &ImageOptions) -> BTreeMap<String, String> {
    let mut l = opts.labels.clone();
    l.insert(
        "org.opencontainers.image.title".into(),
        app.manifest.name.clone(),
    );
    l.insert(
        "org.opencontainers.image.created".into(),
        created(app.mtime),
    );
    if let Some(tag) = opts.tags.first().and_then(|t| t.tag.clone()) {
        l.insert("org.opencontainers.image.version".into(), tag);
    }
    if let Some(b) = &opts.base {
        l.insert("org.opencontainers.image.base.name".into(), b.name.clone());
        l.insert(
            "org.opencontainers.image.base.digest".into(),
            b.digest.clone(),
        );
    }
    l
}

pub fn config(app: &PackedApp, opts: &ImageOptions, layers: &[LayerBlob]) -> Value {
    let created = created(app.mtime);
    let base = opts.base.as_ref().map(|b| &b.config);
    // `PLT_SERVER_HOSTNAME=0.0.0.0`, as the Dockerfiles in Watt's deployment guides set it
    // (docs/guides/deployment/nextjs-in-k8s.md): an app whose `.env` asks for loopback is still
    // reachable through a published port, because the real environment beats env files; `-e`
    // overrides it.
    let mut env = vec![
        format!("PATH={PATH}"),
        "NODE_ENV=production".to_string(),
        format!("PLT_SERVER_HOSTNAME={}", watt_manifest::DEFAULT_HOSTNAME),
    ];
    // A base's other variables stay (its CA bundle location, locale, …); ours win.
    let ours: Vec<String> = env
        .iter()
        .filter_map(|e| e.split_once('=').map(|(k, _)| format!("{k}=")))
        .collect();
    let base_env = base.and_then(|c| c["config"]["Env"].as_array().cloned());
    for e in base_env.unwrap_or_default() {
        if let Some(e) = e.as_str() {
            if !ours.iter().any(|k| e.starts_with(k.as_str())) {
                env.push(e.to_string());
            }
        }
    }
    let mut all_labels: BTreeMap<String, Value> = base
        .and_then(|c| c["config"]["Labels"].as_object().cloned())
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    for (k, v) in labels(app, opts) {
        all_labels.insert(k, Value::String(v));
    }
    let mut history: Vec<Value> = base
        .and_then(|c| c["history"].as_array().cloned())
        .unwrap_or_default();
    history.extend(layers.iter().filter(|l| !l.from_base).map(|l| {
        json!({
            "created": created,
            "created_by": format!("watt build: {} layer", l.name),
            "comment": l.owner,
        })
    }));
    let mut ports = serde_json::Map::new();
    ports.insert(format!("{}/tcp", port(app)), json!({}));
    if let Some(p) = health_port(app) {
        ports.insert(format!("{p}/tcp"), json!({}));
    }
    json!({
        "architecture": architecture(),
        "os": "linux",
        "created": created,
        "config": {
            "Entrypoint": [format!("/{STUB}")],
            "WorkingDir": WORKING_DIR,
            "Env": env,
            "ExposedPorts": ports,
            "User": opts.user.to_string(),
            "StopSignal": "SIGTERM",
            "Labels": all_labels,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        },
        "history": history,
    })
}

pub fn manifest(
    config: &Descriptor,
    layers: &[LayerBlob],
    annotations: &BTreeMap<String, String>,
) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": super::MEDIA_MANIFEST,
        "config": config.to_json(),
        "layers": layers.iter().map(|l| l.descriptor.to_json()).collect::<Vec<_>>(),
        "annotations": annotations,
    })
}

/// `org.opencontainers.image.source` (the `origin` remote, without any credentials in it) and
/// `.revision` (HEAD) when the app is in a git work tree; nothing otherwise.
pub fn git_labels(root: &Path) -> BTreeMap<String, String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    let mut l = BTreeMap::new();
    if let Some(rev) = git(&["rev-parse", "HEAD"]) {
        l.insert("org.opencontainers.image.revision".into(), rev);
        if let Some(url) = git(&["config", "--get", "remote.origin.url"]) {
            l.insert(
                "org.opencontainers.image.source".into(),
                strip_userinfo(&url),
            );
        }
    }
    l
}

fn strip_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            format!("{scheme}://{host}/{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn remote_credentials_never_reach_the_labels() {
        assert_eq!(
            super::strip_userinfo("https://bot:ghp_secret@github.com/acme/app.git"),
            "https://github.com/acme/app.git"
        );
        assert_eq!(
            super::strip_userinfo("git@github.com:acme/app.git"),
            "git@github.com:acme/app.git"
        );
    }

    #[test]
    fn created_is_rfc3339_utc() {
        assert_eq!(super::created(315_532_800), "1980-01-01T00:00:00Z");
    }
}
