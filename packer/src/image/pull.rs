//! A registry as an image source (for `--base`): the same client and credentials as the push.

use std::path::Path;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;

use super::base::{Base, BaseLayer};
use super::blob::Descriptor;
use super::push::{explain, Registry};
use super::reference::Reference;

/// `Some(base)` when `spec` names a registry image; `None` when it does not look like one.
pub fn pull_if_reference(spec: &str, scratch: &Path, insecure: bool) -> Result<Option<Base>> {
    let Ok(r) = spec.parse::<Reference>() else {
        return Ok(None);
    };
    if r.registry.is_none() {
        return Ok(None);
    }
    let rt = super::push::runtime()?;
    rt.block_on(async {
        let reg = Registry::connect(&r, insecure, oci_client::RegistryOperation::Pull).await?;
        let (manifest, digest) = reg
            .client
            .pull_image_manifest(&reg.target, &reg.auth)
            .await
            .map_err(|e| explain(&reg.registry, e))
            .with_context(|| format!("--base {spec}: cannot pull its manifest"))?;
        let dir = scratch.join("pulled");
        std::fs::create_dir_all(&dir)?;
        let mut config = Vec::new();
        reg.client
            .pull_blob(&reg.target, &manifest.config, &mut config)
            .await
            .map_err(|e| explain(&reg.registry, e))?;
        let config: serde_json::Value =
            serde_json::from_slice(&config).context("--base: its config is not JSON")?;
        let diff_ids = config["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut layers = Vec::new();
        for (d, diff) in manifest.layers.iter().zip(&diff_ids) {
            let file = dir.join(d.digest.trim_start_matches("sha256:"));
            let mut out = tokio::fs::File::create(&file).await?;
            reg.client
                .pull_blob(&reg.target, d, &mut out)
                .await
                .map_err(|e| explain(&reg.registry, e))
                .with_context(|| format!("--base {spec}: cannot pull layer {}", d.digest))?;
            out.flush().await?;
            layers.push(BaseLayer {
                descriptor: Descriptor {
                    media_type: d.media_type.clone(),
                    digest: d.digest.clone(),
                    size: d.size as u64,
                },
                diff_id: diff.as_str().unwrap_or("").to_string(),
                file,
            });
        }
        Ok(Some(Base {
            name: spec.to_string(),
            digest,
            config,
            layers,
        }))
    })
}
