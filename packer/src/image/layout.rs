//! The OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), built in a staging
//! folder beside the output and then either renamed into place (`--format oci`) or packed with a
//! Docker `manifest.json` into one tar that `docker load`, `podman load` and skopeo all read
//! (`--format oci-archive`). Either way nothing appears at the output path until it is complete.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::base::BaseLayer;
use super::blob::{self, Compression, Descriptor, LayerBlob};
use super::reference::Reference;
use super::{json as cjson, Image, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::layers::Layer;
use crate::sink::archive;
use crate::tree::Tree;

pub struct Layout {
    dir: PathBuf,
    /// Removes the staging folder unless it was persisted.
    _guard: Option<tempfile::TempDir>,
}

impl Layout {
    /// A fresh layout in a staging folder inside `parent` (same filesystem as the output, so
    /// the final rename is atomic and blobs are never copied).
    pub fn stage_in(parent: &Path) -> Result<Self> {
        let tmp = tempfile::Builder::new()
            .prefix(".watt-partial-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot write to the output folder {}", parent.display()))?;
        let dir = tmp.path().to_path_buf();
        fs::create_dir_all(dir.join("blobs/sha256"))
            .with_context(|| format!("cannot write to {}", dir.display()))?;
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .with_context(|| format!("cannot write to {}", dir.display()))?;
        Ok(Self {
            dir,
            _guard: Some(tmp),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, d: &Descriptor) -> PathBuf {
        self.dir.join("blobs/sha256").join(d.hex())
    }

    fn blobs(&self) -> PathBuf {
        self.dir.join("blobs/sha256")
    }

    pub fn write_layer(&self, layer: &Layer, mtime: u64, c: Compression) -> Result<LayerBlob> {
        let tmp =
            tempfile::NamedTempFile::new_in(self.blobs()).context("cannot create a layer file")?;
        let w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        let (mut w, digest, size, diff_id, uncompressed_size) =
            blob::write_layer(&layer.tree, mtime, c, w)?;
        w.flush().context("cannot write a layer file")?;
        drop(w);
        let descriptor = Descriptor {
            media_type: c.media_type().to_string(),
            digest,
            size,
        };
        persist(tmp, &self.blob_path(&descriptor))?;
        Ok(LayerBlob {
            name: layer.name.clone(),
            owner: layer.owner.clone(),
            descriptor,
            diff_id,
            uncompressed_size,
            from_base: false,
        })
    }

    /// A base image's layer, hard-linked (else copied) into the layout as it is.
    pub fn add_base_layer(&self, base: &str, layer: &BaseLayer) -> Result<LayerBlob> {
        let to = self.blob_path(&layer.descriptor);
        if !to.exists() && fs::hard_link(&layer.file, &to).is_err() {
            fs::copy(&layer.file, &to)
                .with_context(|| format!("cannot copy {} into the image", layer.file.display()))?;
        }
        Ok(LayerBlob {
            name: "base".into(),
            owner: base.to_string(),
            descriptor: layer.descriptor.clone(),
            diff_id: layer.diff_id.clone(),
            uncompressed_size: 0,
            from_base: true,
        })
    }

    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let d = Descriptor {
            media_type: media_type.to_string(),
            digest: blob::sha256(bytes),
            size: bytes.len() as u64,
        };
        let path = self.blob_path(&d);
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(d)
    }

    /// `index.json`: the manifest once per tag (named by `org.opencontainers.image.ref.name`,
    /// which podman and skopeo read), or once unnamed.
    pub fn write_index(&self, image: &Image, tags: &[Reference]) -> Result<()> {
        let entry = |name: Option<String>| {
            let mut v = json!({
                "mediaType": MEDIA_MANIFEST,
                "digest": image.manifest.digest,
                "size": image.manifest.size,
                "platform": { "architecture": super::config::architecture(), "os": "linux" },
            });
            if let Some(n) = name {
                v["annotations"] = json!({ "org.opencontainers.image.ref.name": n });
            }
            v
        };
        let manifests: Vec<_> = if tags.is_empty() {
            vec![entry(None)]
        } else {
            tags.iter().map(|t| entry(Some(t.to_string()))).collect()
        };
        let index = json!({ "schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests });
        fs::write(self.dir.join("index.json"), cjson::canonical(&index)?)
            .context("cannot write index.json")
    }

    /// Move the finished layout to `out` (an OCI layout folder already there is replaced).
    pub fn persist_dir(mut self, out: &Path) -> Result<()> {
        check_dir_output(out)?;
        let old = if out.exists() {
            let aside = self.dir.with_extension("old");
            fs::rename(out, &aside).with_context(|| format!("cannot replace {}", out.display()))?;
            Some(aside)
        } else {
            None
        };
        set_readable(&self.dir)?;
        if let Err(e) = fs::rename(&self.dir, out) {
            if let Some(old) = &old {
                let _ = fs::rename(old, out);
            }
            bail!(
                "cannot move the image layout into place at {}: {e}",
                out.display()
            );
        }
        if let Some(tmp) = self._guard.take() {
            let _ = tmp.keep();
        }
        if let Some(old) = old {
            let _ = fs::remove_dir_all(old);
        }
        Ok(())
    }

    /// One tar holding the layout plus a Docker `manifest.json` (`RepoTags` from `tags`), written
    /// to a temporary file beside `out` and renamed.
    pub fn persist_archive(
        &self,
        image: &Image,
        tags: &[Reference],
        mtime: u64,
        out: &Path,
    ) -> Result<()> {
        let mut tree = Tree::new();
        tree.add_file("oci-layout", &self.dir.join("oci-layout"))?;
        tree.add_file("index.json", &self.dir.join("index.json"))?;
        let docker = json!([{
            "Config": format!("blobs/sha256/{}", image.config.hex()),
            "RepoTags": tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", l.descriptor.hex())).collect::<Vec<_>>(),
        }]);
        tree.add_bytes("manifest.json", cjson::canonical(&docker)?, false)?;
        for d in image
            .layers
            .iter()
            .map(|l| &l.descriptor)
            .chain([&image.config, &image.manifest])
        {
            tree.add_file(&format!("blobs/sha256/{}", d.hex()), &self.blob_path(d))?;
        }
        archive::write_archive_file(&tree, mtime, archive::Compression::None, out)
    }
}

/// `--format oci` needs a folder: refuse a file, or a folder holding something else than an
/// image layout, before any build runs.
pub fn check_dir_output(out: &Path) -> Result<()> {
    match fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(out)
                .with_context(|| format!("cannot read {}", out.display()))?
                .next()
                .is_none();
            if empty || out.join("oci-layout").is_file() {
                Ok(())
            } else {
                bail!(
                    "{} is a folder that is not an OCI image layout; --format oci will not \
                     overwrite it: pass a new or empty folder",
                    out.display()
                )
            }
        }
        Ok(_) => bail!(
            "{} is a file; --format oci writes an OCI image layout folder there: pass a folder \
             path, or use --format oci-archive for a single file",
            out.display()
        ),
    }
}

/// tempfile creates 0700 folders and 0600 files; an image layout is not a secret.
fn set_readable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for d in [
        dir.to_path_buf(),
        dir.join("blobs"),
        dir.join("blobs/sha256"),
    ] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set permissions on {}", d.display()))?;
    }
    for e in fs::read_dir(dir.join("blobs/sha256"))? {
        fs::set_permissions(e?.path(), fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

fn persist(tmp: tempfile::NamedTempFile, to: &Path) -> Result<()> {
    tmp.persist(to)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}
