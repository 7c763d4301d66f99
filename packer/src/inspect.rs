//! `watt inspect ARTIFACT`: what an artifact holds, read from its tar streams without extracting
//! them — an archive, an OCI layout, an oci-archive or a pushed image (and, for
//! `watt build --dry-run`, an app packed in memory): size and file count of each part (the stub,
//! node's runtime, each service, what services share) and of each image layer, the largest
//! shipped packages, the SBOM's summary, the env file keys baked in (names only) and what the
//! ignore rules left out.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use watt_manifest::AppManifest;

use crate::paths;
use crate::sink::archive::Compression;
use crate::sink::PackedApp;
use crate::tree::{Entry, Source};

/// Where a CycloneDX SBOM sits, beside the manifest (`/sbom.cdx.json` in an image).
pub const SBOM_FILE: &str = "sbom.cdx.json";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub name: String,
    /// What was read: `archive PATH`, `OCI image layout PATH (sha256:…)`, `oci-archive …`,
    /// `registry image REF (sha256:…)`, or the app folder of a dry run.
    pub source: String,
    /// An image's layers in order (an archive has none: its layers are flattened); for a dry
    /// run, the layers an image would get (without an image's `/etc` files).
    pub layers: Vec<Part>,
    /// The SBOM's summary, `null` when the artifact carries none.
    pub sbom: Option<Sbom>,
    /// The watt-stub it carries, from the build information in its binary (`null`: a stub that
    /// records none).
    pub stub: Option<Stub>,
    /// Bytes of every regular file (uncompressed).
    pub total_bytes: u64,
    pub total_files: u64,
    /// Every file in exactly one part, so their sizes add up to the totals.
    pub parts: Vec<Part>,
    /// The 20 largest installed packages, by the bytes in their folder (packages nested in a
    /// package's own `node_modules` count as themselves, not as part of it).
    pub largest_packages: Vec<Package>,
    /// Baked env file keys (`watt build --dotenv`), by owner (`runtime` or a service id).
    pub baked_env_keys: BTreeMap<String, Vec<String>>,
    /// Where the stub looks for env files at run time, by owner.
    pub env_files: BTreeMap<String, String>,
    /// What the ignore rules left out at build time (path below `app/` → why).
    pub excluded: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub bytes: u64,
    pub files: u64,
}

/// What a CycloneDX SBOM lists: how many components, by `type` (nested components count).
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Sbom {
    pub path: &'static str,
    pub spec_version: String,
    pub components: u64,
    pub by_type: BTreeMap<String, u64>,
}

impl Sbom {
    fn summary(bytes: &[u8]) -> Result<Sbom> {
        let doc: serde_json::Value = serde_json::from_slice(bytes)?;
        if doc["bomFormat"] != "CycloneDX" {
            bail!("its bomFormat is not CycloneDX");
        }
        let mut sbom = Sbom {
            path: SBOM_FILE,
            spec_version: doc["specVersion"].as_str().unwrap_or("").to_string(),
            components: 0,
            by_type: BTreeMap::new(),
        };
        let mut todo: Vec<&serde_json::Value> = vec![&doc];
        while let Some(node) = todo.pop() {
            for c in node["components"].as_array().into_iter().flatten() {
                sbom.components += 1;
                let kind = c["type"].as_str().unwrap_or("unknown").to_string();
                *sbom.by_type.entry(kind).or_default() += 1;
                todo.push(c);
            }
        }
        Ok(sbom)
    }
}

/// Which watt-stub an artifact carries.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Stub {
    pub version: String,
    /// The git commit it was built from.
    pub revision: Option<String>,
    pub target: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// Its folder in the artifact.
    pub path: String,
    pub bytes: u64,
    pub files: u64,
}

/// One layer of an image, or the one flattened tree of an archive: its regular files and their
/// sizes, paths relative to the root (`app/…`, `watt-stub`).
#[derive(Debug, Default)]
pub struct Listing {
    pub name: String,
    pub files: Vec<(String, u64)>,
}

/// The files `inspect` reads besides listing: the manifest, the SBOM and the stub.
#[derive(Default)]
struct Wanted {
    manifest: Option<Vec<u8>>,
    sbom: Option<Vec<u8>>,
    stub: Option<Vec<u8>>,
}

/// What `watt inspect` reads: an archive (`.tar.zst`, `.tar.gz`, `.tar`), an OCI image layout
/// folder, an oci-archive, or a registry reference (pulled with `watt build --push`'s client
/// and credentials; `insecure`: plain HTTP).
pub fn inspect(target: &str, insecure: bool) -> Result<Report> {
    let path = Path::new(target);
    if path.is_dir() {
        return image(target, "OCI image layout", insecure);
    }
    if path.is_file() {
        if is_oci_archive(path)? {
            return image(target, "oci-archive", insecure);
        }
        return archive(path);
    }
    let is_reference = target
        .parse::<crate::image::reference::Reference>()
        .is_ok_and(|r| r.registry.is_some());
    if is_reference {
        return image(target, "registry image", insecure);
    }
    bail!(
        "{target}: no such file or folder, and not a registry reference; pass an archive of \
         `watt build`, an OCI layout folder, an oci-archive, or REGISTRY/NAME:TAG"
    )
}

/// A tar holding `oci-layout` at its top is an oci-archive, whatever its name.
fn is_oci_archive(path: &Path) -> Result<bool> {
    if Compression::from_path(path) != Some(Compression::None) {
        return Ok(false);
    }
    let what = || format!("cannot read {}", path.display());
    let file = File::open(path).with_context(what)?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    for entry in tar.entries().with_context(what)? {
        let entry = entry.with_context(what)?;
        let name = entry.path().with_context(what)?;
        if name.as_os_str() == "oci-layout" || name.as_os_str() == "./oci-layout" {
            return Ok(true);
        }
    }
    Ok(false)
}

fn archive(archive: &Path) -> Result<Report> {
    let Some(compression) = Compression::from_path(archive) else {
        bail!(
            "{}: not an archive watt writes (.tar.zst, .tar.gz, .tar), nor an OCI layout folder \
             or oci-archive",
            archive.display()
        );
    };
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(BufReader::new(file)),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(file).context("cannot start the zstd decoder")?,
        ),
    };
    let mut wanted = Wanted::default();
    let listing = list_tar(reader, "archive", &mut wanted)
        .with_context(|| format!("cannot read {}", archive.display()))?;
    let flat = listing.files.clone();
    finish(
        format!("archive {}", archive.display()),
        &archive.display().to_string(),
        wanted,
        Vec::new(),
        flat,
    )
}

/// An image from any source `--base` reads, layer by layer (a path that appears in several
/// layers counts once in the totals, as the last layer has it).
fn image(target: &str, kind: &str, insecure: bool) -> Result<Report> {
    let scratch = tempfile::Builder::new()
        .prefix("watt-inspect-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let img = crate::image::base::read(target, scratch.path(), insecure)?;
    let names = layer_names(&img.config, img.layers.len());
    let mut wanted = Wanted::default();
    let mut layers = Vec::new();
    let mut union: BTreeMap<String, u64> = BTreeMap::new();
    for (layer, name) in img.layers.iter().zip(names) {
        let what = || format!("{target}: cannot read layer {}", layer.descriptor.digest);
        let file = File::open(&layer.file).with_context(what)?;
        let media = layer.descriptor.media_type.as_str();
        let reader: Box<dyn Read> = if media.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
        } else if media.ends_with("zstd") {
            Box::new(zstd::stream::read::Decoder::new(file).with_context(what)?)
        } else {
            Box::new(BufReader::new(file))
        };
        let listing = list_tar(reader, &name, &mut wanted).with_context(what)?;
        for (p, size) in &listing.files {
            union.insert(p.clone(), *size);
        }
        layers.push(listing);
    }
    finish(
        format!("{kind} {target} ({})", img.digest),
        target,
        wanted,
        layers,
        union.into_iter().collect(),
    )
}

/// Layer names from the image's history: ours say `watt build: NAME layer`; a base image's
/// entries show what made them.
fn layer_names(config: &serde_json::Value, count: usize) -> Vec<String> {
    let history: Vec<&serde_json::Value> = config["history"]
        .as_array()
        .map(|h| h.iter().filter(|e| e["empty_layer"] != true).collect())
        .unwrap_or_default();
    (0..count)
        .map(|i| {
            let by = history
                .get(i)
                .and_then(|e| e["created_by"].as_str())
                .unwrap_or("");
            match by
                .strip_prefix("watt build: ")
                .and_then(|n| n.strip_suffix(" layer"))
            {
                Some(name) => name.to_string(),
                None if !by.is_empty() => {
                    format!("base: {}", by.chars().take(40).collect::<String>())
                }
                None => format!("layer {}", i + 1),
            }
        })
        .collect()
}

/// The regular files of a tar stream (whiteouts left out), keeping the manifest and the SBOM.
fn list_tar(reader: impl Read, name: &str, wanted: &mut Wanted) -> Result<Listing> {
    let mut tar = tar::Archive::new(reader);
    let mut listing = Listing {
        name: name.to_string(),
        files: Vec::new(),
    };
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = entry.path()?.to_string_lossy().into_owned();
        let path = paths::normalize(&raw);
        if paths::parent(&path).is_empty() && path.starts_with(".wh.") || path.contains("/.wh.") {
            continue;
        }
        let size = entry.header().size()?;
        let slot = match path.as_str() {
            watt_manifest::MANIFEST_FILE => Some(&mut wanted.manifest),
            SBOM_FILE => Some(&mut wanted.sbom),
            crate::pack::STUB => Some(&mut wanted.stub),
            _ => None,
        };
        if let Some(slot) = slot {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            *slot = Some(bytes);
        }
        listing.files.push((path, size));
    }
    Ok(listing)
}

/// `watt build --dry-run`: the same report for an app packed in memory, before any sink.
pub fn packed(app: &PackedApp, dir: &Path) -> Result<Report> {
    let size = |e: &Entry| -> Result<Option<u64>> {
        Ok(match e {
            Entry::File {
                source: Source::Path(p),
                ..
            } => Some(
                std::fs::metadata(p)
                    .with_context(|| format!("cannot read {}", p.display()))?
                    .len(),
            ),
            Entry::File {
                source: Source::Bytes(b),
                ..
            } => Some(b.len() as u64),
            _ => None,
        })
    };
    let mut layers = Vec::new();
    let mut union: BTreeMap<String, u64> = BTreeMap::new();
    let mut wanted = Wanted {
        manifest: Some(app.manifest.to_json()),
        ..Wanted::default()
    };
    for layer in &app.layers {
        let mut listing = Listing {
            name: layer.name.clone(),
            files: Vec::new(),
        };
        for (path, entry) in layer.tree.entries() {
            if let Some(bytes) = size(entry)? {
                listing.files.push((path.to_string(), bytes));
                union.insert(path.to_string(), bytes);
            }
            let slot = match path {
                SBOM_FILE => &mut wanted.sbom,
                crate::pack::STUB => &mut wanted.stub,
                _ => continue,
            };
            if let Entry::File { source, .. } = entry {
                *slot = Some(match source {
                    Source::Bytes(b) => b.to_vec(),
                    Source::Path(p) => {
                        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?
                    }
                });
            }
        }
        layers.push(listing);
    }
    finish(
        format!("app folder {} (dry run: nothing written)", dir.display()),
        &dir.display().to_string(),
        wanted,
        layers,
        union.into_iter().collect(),
    )
}

fn finish(
    source: String,
    shown: &str,
    wanted: Wanted,
    layers: Vec<Listing>,
    flat: Vec<(String, u64)>,
) -> Result<Report> {
    let Some(bytes) = wanted.manifest else {
        bail!(
            "{shown} has no {}: not an artifact of `watt build`",
            watt_manifest::MANIFEST_FILE
        );
    };
    let manifest = AppManifest::from_json(&bytes).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let mut report = report(&manifest, &flat);
    report.source = source;
    report.layers = layers
        .iter()
        .map(|l| Part {
            name: l.name.clone(),
            bytes: l.files.iter().map(|(_, s)| s).sum(),
            files: l.files.len() as u64,
        })
        .collect();
    report.sbom =
        match wanted.sbom {
            Some(bytes) => Some(Sbom::summary(&bytes).with_context(|| {
                format!("{shown}: {SBOM_FILE} is not a CycloneDX JSON document")
            })?),
            None => None,
        };
    // A stub from before build information was recorded is still an artifact to inspect.
    report.stub = wanted
        .stub
        .and_then(|bytes| crate::build_info::read(&bytes).ok())
        .map(|info| Stub {
            version: info.version,
            revision: info.revision,
            target: info.target,
        });
    Ok(report)
}

fn report(m: &AppManifest, files: &[(String, u64)]) -> Report {
    // Deepest service root first, so a service inside another's folder gets its own files.
    let mut roots: Vec<(&str, String)> = m
        .services
        .iter()
        .map(|s| (s.id.as_str(), format!("{}/", s.root.trim_end_matches('/'))))
        .collect();
    roots.sort_by_key(|(_, r)| std::cmp::Reverse(r.len()));
    let mut parts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut packages: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, size) in files {
        let part = if path == "watt-stub" || path == watt_manifest::MANIFEST_FILE {
            "watt-stub and manifest".to_string()
        } else if path == SBOM_FILE {
            "SBOM".to_string()
        } else if path.starts_with("runtime/") {
            "node runtime".to_string()
        } else if let Some((id, _)) = roots.iter().find(|(_, r)| path.starts_with(r.as_str())) {
            format!("service {id}")
        } else if path.starts_with("app/") {
            "shared by the services".to_string()
        } else {
            // An image's /etc/passwd and /etc/group, or a base image's files.
            "image system files".to_string()
        };
        let p = parts.entry(part).or_default();
        p.0 += size;
        p.1 += 1;
        if let Some(pkg) = package_dir(path) {
            let p = packages.entry(pkg.to_string()).or_default();
            p.0 += size;
            p.1 += 1;
        }
    }
    let mut largest: Vec<Package> = packages
        .into_iter()
        .map(|(path, (bytes, files))| Package {
            name: path
                .rsplit_once("node_modules/")
                .map_or(path.as_str(), |(_, n)| n)
                .to_string(),
            path,
            bytes,
            files,
        })
        .collect();
    largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    largest.truncate(20);

    let mut baked_env_keys = BTreeMap::new();
    let mut env_files = BTreeMap::new();
    if !m.dotenv.is_empty() {
        baked_env_keys.insert("runtime".to_string(), m.dotenv.keys().cloned().collect());
    }
    if let Some(f) = &m.env_file {
        env_files.insert("runtime".to_string(), f.clone());
    }
    for s in &m.services {
        if !s.dotenv.is_empty() {
            baked_env_keys.insert(s.id.clone(), s.dotenv.keys().cloned().collect());
        }
        if let Some(f) = &s.env_file {
            env_files.insert(s.id.clone(), f.clone());
        }
    }
    Report {
        name: m.name.clone(),
        source: String::new(),
        layers: Vec::new(),
        sbom: None,
        stub: None,
        total_bytes: files.iter().map(|(_, s)| s).sum(),
        total_files: files.len() as u64,
        parts: parts
            .into_iter()
            .map(|(name, (bytes, files))| Part { name, bytes, files })
            .collect(),
        largest_packages: largest,
        baked_env_keys,
        env_files,
        excluded: m.excluded.clone(),
    }
}

/// The installed package folder a file belongs to: the path up to the package name after its
/// last `node_modules/` (`@scope/name` for scoped packages).
fn package_dir(path: &str) -> Option<&str> {
    let (before, after) = path.rsplit_once("node_modules/")?;
    let mut parts = after.splitn(3, '/');
    let first = parts.next()?;
    let name_len = if first.starts_with('@') {
        first.len() + 1 + parts.next()?.len()
    } else {
        first.len()
    };
    // A file directly in node_modules (`.package-lock.json`) is no package's.
    if first.starts_with('.') || after.len() == name_len {
        return None;
    }
    Some(&path[..before.len() + "node_modules/".len() + name_len])
}

impl Report {
    /// A table for a terminal.
    pub fn to_text(&self) -> String {
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
        let stub = match &self.stub {
            Some(s) => format!(
                "watt-stub {} for {}",
                watt_manifest::build_info::version_line(&s.version, s.revision.as_deref()),
                s.target
            ),
            None => "watt-stub of unknown version (it records no build information)".into(),
        };
        let mut out = format!(
            "{}: {} in {} files\n{}\n{stub}\n\n  {:<28} {:>10} {:>7}\n",
            self.name,
            mb(self.total_bytes),
            self.total_files,
            self.source,
            "part",
            "size",
            "files"
        );
        for p in &self.parts {
            out.push_str(&format!(
                "  {:<28} {:>10} {:>7}\n",
                p.name,
                mb(p.bytes),
                p.files
            ));
        }
        if !self.layers.is_empty() {
            out.push_str(&format!(
                "\n  {:<28} {:>10} {:>7}\n",
                "layer", "size", "files"
            ));
            for l in &self.layers {
                out.push_str(&format!(
                    "  {:<28} {:>10} {:>7}\n",
                    l.name,
                    mb(l.bytes),
                    l.files
                ));
            }
        }
        out.push_str("\nlargest packages\n");
        for p in &self.largest_packages {
            out.push_str(&format!(
                "  {:>10}  {:<32} {}\n",
                mb(p.bytes),
                p.name,
                p.path
            ));
        }
        out.push_str("\nSBOM\n");
        match &self.sbom {
            None => out.push_str("  no SBOM\n"),
            Some(s) => {
                let types: Vec<String> =
                    s.by_type.iter().map(|(t, n)| format!("{n} {t}")).collect();
                out.push_str(&format!(
                    "  {}: CycloneDX {}, {} components ({})\n",
                    s.path,
                    s.spec_version,
                    s.components,
                    types.join(", ")
                ));
            }
        }
        out.push_str("\nenv files\n");
        if self.baked_env_keys.is_empty() {
            out.push_str("  no values baked in (built without --dotenv)\n");
        }
        for (owner, keys) in &self.baked_env_keys {
            out.push_str(&format!("  baked for {owner}: {}\n", keys.join(", ")));
        }
        for (owner, file) in &self.env_files {
            out.push_str(&format!("  read at run time for {owner}: {file}\n"));
        }
        out.push_str("\nleft out by the ignore rules\n");
        if self.excluded.is_empty() {
            out.push_str("  nothing\n");
        }
        for (path, why) in &self.excluded {
            out.push_str(&format!("  {path} ({why})\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbom_summary_counts_components_by_type_nested_too() {
        let doc = serde_json::json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "components": [
                {"type": "library", "name": "a"},
                {"type": "platform", "name": "node", "components": [
                    {"type": "library", "name": "libc"}
                ]},
                {"type": "application", "name": "watt-stub"}
            ]
        });
        let s = Sbom::summary(doc.to_string().as_bytes()).unwrap();
        assert_eq!(s.components, 4);
        assert_eq!(s.spec_version, "1.5");
        assert_eq!(
            s.by_type,
            BTreeMap::from([
                ("application".to_string(), 1),
                ("library".to_string(), 2),
                ("platform".to_string(), 1)
            ])
        );
        assert!(Sbom::summary(b"{\"bomFormat\": \"SPDX\"}").is_err());
    }

    #[test]
    fn layer_names_come_from_the_history() {
        let config = serde_json::json!({"history": [
            {"created_by": "/bin/sh -c #(nop) CMD [\"sh\"]", "empty_layer": true},
            {"created_by": "ADD rootfs.tar.xz /"},
            {"created_by": "watt build: runtime layer"},
            {"created_by": "watt build: app-api layer"}
        ]});
        assert_eq!(
            layer_names(&config, 4),
            ["base: ADD rootfs.tar.xz /", "runtime", "app-api", "layer 4"]
        );
    }

    #[test]
    fn files_belong_to_their_package_folder() {
        assert_eq!(
            package_dir("app/node_modules/next/dist/x.js"),
            Some("app/node_modules/next")
        );
        assert_eq!(
            package_dir("app/node_modules/@fastify/ws/index.js"),
            Some("app/node_modules/@fastify/ws")
        );
        assert_eq!(
            package_dir("app/node_modules/a/node_modules/b/i.js"),
            Some("app/node_modules/a/node_modules/b")
        );
        assert_eq!(package_dir("app/node_modules/.package-lock.json"), None);
        assert_eq!(package_dir("app/web/api/index.js"), None);
    }
}
