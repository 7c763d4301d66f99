//! `--base`: an image to put the app's layers on, from any source — an OCI layout folder, an
//! oci-archive, a docker-archive (`docker save`) or a registry reference. Whatever the source,
//! the base becomes the same thing: its config and its layers as blobs on disk (digest, diff id,
//! media type), which [`super::build`] copies into the output layout beneath the app's layers.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::blob::{self, Descriptor};
use super::config::architecture;

pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Debug, Clone)]
pub struct BaseLayer {
    pub descriptor: Descriptor,
    pub diff_id: String,
    /// The blob's bytes on disk.
    pub file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Base {
    /// As the user gave it (`--base`).
    pub name: String,
    /// The base manifest's digest (for a docker-archive, which has no manifest: its config's).
    pub digest: String,
    pub config: Value,
    pub layers: Vec<BaseLayer>,
}

/// Open `spec` as a base image; `scratch` holds anything that must be unpacked first.
pub fn open(spec: &str, scratch: &Path, insecure: bool) -> Result<Base> {
    let base = read(spec, scratch, insecure)?;
    check_platform(&base)?;
    Ok(base)
}

/// [`open`] for any platform (`watt inspect` reads images it did not build on this machine).
pub fn read(spec: &str, scratch: &Path, insecure: bool) -> Result<Base> {
    let path = Path::new(spec);
    let base = if path.is_dir() {
        from_layout(spec, path)?
    } else if path.is_file() {
        from_tar(spec, path, scratch)?
    } else if let Some(pulled) = super::pull::pull_if_reference(spec, scratch, insecure)? {
        pulled
    } else {
        bail!(
            "--base {spec}: no such file or folder (and not a registry reference); pass an OCI \
             layout folder, an oci-archive or docker-archive tar, or REGISTRY/NAME:TAG"
        );
    };
    Ok(base)
}

fn check_platform(base: &Base) -> Result<()> {
    let arch = base.config["architecture"].as_str().unwrap_or("");
    let os = base.config["os"].as_str().unwrap_or("");
    if arch != architecture() || os != "linux" {
        bail!(
            "--base {} is an image for {os}/{arch}, but the app (its node and the stub) is \
             linux/{}; pick a base image for linux/{}",
            base.name,
            architecture(),
            architecture()
        );
    }
    Ok(())
}

fn read_json(path: &Path, what: &str) -> Result<Value> {
    let text = fs::read(path).with_context(|| format!("{what}: cannot read {}", path.display()))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{what}: {} is not valid JSON", path.display()))
}

/// An OCI image layout: `index.json` → (nested index →) the linux manifest of our architecture.
pub fn from_layout(name: &str, dir: &Path) -> Result<Base> {
    let what = format!("--base {name}");
    if !dir.join("oci-layout").is_file() || !dir.join("index.json").is_file() {
        bail!(
            "{what} is not an image: {} is not an OCI image layout (no oci-layout / index.json)",
            dir.display()
        );
    }
    let blob = |digest: &str| {
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let mut index = read_json(&dir.join("index.json"), &what)?;
    loop {
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let pick = manifests
            .iter()
            .find(|m| {
                m["platform"].is_null()
                    || (m["platform"]["architecture"] == architecture()
                        && m["platform"]["os"] == "linux")
            })
            .or_else(|| manifests.first())
            .cloned()
            .with_context(|| format!("{what}: the layout's index lists no image"))?;
        let digest = pick["digest"].as_str().unwrap_or("").to_string();
        let doc = read_json(&blob(&digest), &what)?;
        if doc["manifests"].is_array() {
            index = doc;
            continue;
        }
        let config = read_json(&blob(doc["config"]["digest"].as_str().unwrap_or("")), &what)?;
        let diff_ids = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let descs = doc["layers"].as_array().cloned().unwrap_or_default();
        if diff_ids.len() != descs.len() {
            bail!(
                "{what}: its config lists {} diff ids for {} layers",
                diff_ids.len(),
                descs.len()
            );
        }
        let layers = descs
            .iter()
            .zip(&diff_ids)
            .map(|(d, diff)| {
                let digest = d["digest"].as_str().unwrap_or("").to_string();
                let file = blob(&digest);
                if !file.is_file() {
                    bail!("{what}: layer {digest} is missing from the layout");
                }
                Ok(BaseLayer {
                    descriptor: Descriptor {
                        media_type: d["mediaType"]
                            .as_str()
                            .unwrap_or(MEDIA_LAYER_GZIP)
                            .to_string(),
                        size: d["size"].as_u64().unwrap_or(0),
                        digest,
                    },
                    diff_id: diff.as_str().unwrap_or("").to_string(),
                    file,
                })
            })
            .collect::<Result<_>>()?;
        return Ok(Base {
            name: name.to_string(),
            digest,
            config,
            layers,
        });
    }
}

/// An oci-archive (a tar of a layout) or a docker-archive (`manifest.json` + config + layer
/// tars), unpacked into `scratch` first.
fn from_tar(name: &str, path: &Path, scratch: &Path) -> Result<Base> {
    let what = format!("--base {name}");
    let dir = scratch.join("base");
    fs::create_dir_all(&dir)?;
    let file = fs::File::open(path).with_context(|| format!("{what}: cannot read it"))?;
    let mut ar = tar::Archive::new(file);
    ar.set_preserve_permissions(false);
    ar.unpack(&dir).map_err(|e| {
        anyhow::anyhow!(
            "{what} is not an image (not a readable tar: {e}); pass an OCI layout folder, an \
             oci-archive or a docker-archive"
        )
    })?;
    if dir.join("oci-layout").is_file() {
        return from_layout(name, &dir);
    }
    if !dir.join("manifest.json").is_file() {
        bail!(
            "{what} is not an image: a tar holding neither an OCI layout (oci-layout) nor a \
             docker-archive (manifest.json)"
        );
    }
    let manifest = read_json(&dir.join("manifest.json"), &what)?;
    let entry = &manifest[0];
    let config_path = dir.join(entry["Config"].as_str().unwrap_or(""));
    let config_bytes = fs::read(&config_path).with_context(|| format!("{what}: no config"))?;
    let config: Value =
        serde_json::from_slice(&config_bytes).with_context(|| format!("{what}: bad config"))?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let files = entry["Layers"].as_array().cloned().unwrap_or_default();
    if files.len() != diff_ids.len() {
        bail!(
            "{what}: its config lists {} diff ids for {} layers",
            diff_ids.len(),
            files.len()
        );
    }
    let layers = files
        .iter()
        .zip(&diff_ids)
        .map(|(f, diff)| {
            let file = dir.join(f.as_str().unwrap_or(""));
            let bytes = fs::read(&file).with_context(|| format!("{what}: missing layer {f}"))?;
            let gz = bytes.starts_with(&[0x1f, 0x8b]);
            Ok(BaseLayer {
                descriptor: Descriptor {
                    media_type: if gz {
                        MEDIA_LAYER_GZIP
                    } else {
                        MEDIA_LAYER_TAR
                    }
                    .to_string(),
                    digest: blob::sha256(&bytes),
                    size: bytes.len() as u64,
                },
                diff_id: diff.as_str().unwrap_or("").to_string(),
                file,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Base {
        name: name.to_string(),
        digest: blob::sha256(&config_bytes),
        config,
        layers,
    })
}
