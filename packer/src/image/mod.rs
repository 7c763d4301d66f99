//! The app as an OCI image, modelled the way go-containerregistry does: an image is a config
//! plus ordered layers, and each layer knows its digest, diff id, size and media type, computed
//! in one streaming pass when it is written ([`blob`]). [`build`] turns a [`PackedApp`]'s layers
//! into such an image inside a [`layout::Layout`] folder; the sinks ([`layout`] for the OCI layout
//! folder and the loadable oci-archive, `push` for a registry) take any [`Image`].

pub mod base;
pub mod blob;
pub mod config;
pub mod json;
pub mod layout;
pub mod pull;
pub mod push;
pub mod reference;
pub mod referrers;

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::layers::{Kind, Layer};
use crate::sink::PackedApp;
use crate::tree::{Entry, Tree};
pub use blob::{Compression, Descriptor, LayerBlob};
pub use config::ImageOptions;
use layout::Layout;

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A built image: its blobs are in the [`Layout`] it was built into.
#[derive(Debug, Clone)]
pub struct Image {
    pub layers: Vec<LayerBlob>,
    pub config: Descriptor,
    pub manifest: Descriptor,
    /// The manifest's bytes (canonical JSON), what a registry receives.
    pub manifest_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
    /// The CycloneDX SBOM the image carries, pushed beside it as an artifact.
    pub sbom: Option<Vec<u8>>,
}

/// A numeric `UID:GID`; Kubernetes' `runAsNonRoot` rejects user names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

impl Default for User {
    fn default() -> Self {
        Self {
            uid: 65532,
            gid: 65532,
        }
    }
}

impl std::str::FromStr for User {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--user {s:?}: expected numeric UID:GID such as 65532:65532");
        let (u, g) = s.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            uid: u.parse().map_err(|_| bad())?,
            gid: g.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// What an image needs beside the app and that an extracted archive does not: a passwd and group
/// entry for the image user (node's `os.userInfo()` and many tools look it up) and an empty
/// world-writable `/tmp` (the stub keeps its private folder there).
pub fn os_files(user: User) -> Result<Tree> {
    let mut t = Tree::new();
    let home = "/tmp";
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nwatt:x:{}:{}:watt:{home}:/sbin/nologin\n",
        user.uid, user.gid
    );
    let group = format!("root:x:0:\nwatt:x:{}:\n", user.gid);
    t.add_bytes("etc/passwd", passwd.into_bytes(), false)?;
    t.add_bytes("etc/group", group.into_bytes(), false)?;
    t.insert("tmp", Entry::ScratchDir)?;
    Ok(t)
}

/// The CycloneDX document of the manifest layer.
fn sbom_bytes(app: &PackedApp) -> Option<Vec<u8>> {
    app.layers
        .iter()
        .find_map(|l| match l.tree.get(crate::sbom::CYCLONEDX_FILE) {
            Some(Entry::File {
                source: crate::tree::Source::Bytes(b),
                ..
            }) => Some(b.to_vec()),
            _ => None,
        })
}

/// Write every layer (compressed in parallel across the cores), then the config and manifest,
/// into `layout`.
pub fn build(app: &PackedApp, opts: &ImageOptions, layout: &Layout) -> Result<Image> {
    let mut layers: Vec<Layer> = app.layers.clone();
    if let Some(runtime) = layers.iter_mut().find(|l| l.kind == Kind::Runtime) {
        let mut os = os_files(opts.user)?;
        if opts.base.is_some() {
            // The base's own users and groups stay; the numeric user needs no entry.
            os.retain(|p, _| !p.starts_with("etc"));
        }
        runtime
            .tree
            .merge(&os)
            .context("cannot add /etc and /tmp to the runtime layer")?;
    }
    let mut blobs = Vec::new();
    if let Some(base) = &opts.base {
        for l in &base.layers {
            blobs.push(layout.add_base_layer(&base.name, l)?);
        }
    }
    let own = layers
        .par_iter()
        .map(|l| {
            layout
                .write_layer(l, app.mtime, opts.compression)
                .with_context(|| format!("cannot write layer {}", l.name))
        })
        .collect::<Result<Vec<_>>>()?;
    blobs.extend(own);
    for b in blobs.iter().filter(|b| !b.from_base) {
        eprintln!(
            "watt: layer {:<28} {:>9.1} MB ({:.1} MB unpacked) {}",
            b.name,
            b.descriptor.size as f64 / 1e6,
            b.uncompressed_size as f64 / 1e6,
            b.descriptor.digest
        );
    }
    let config_bytes = json::canonical(&config::config(app, opts, &blobs))?;
    let config = layout.write_blob(MEDIA_CONFIG, &config_bytes)?;
    let manifest_bytes = json::canonical(&config::manifest(
        &config,
        &blobs,
        &config::labels(app, opts),
    ))?;
    let manifest = layout.write_blob(MEDIA_MANIFEST, &manifest_bytes)?;
    Ok(Image {
        layers: blobs,
        config,
        manifest,
        manifest_bytes,
        config_bytes,
        sbom: sbom_bytes(app),
    })
}
