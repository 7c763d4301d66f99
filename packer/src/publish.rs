//! Publishing a packed app: `build` ([`crate::build_app`]) makes a [`PackedApp`], and a [`Plan`]
//! says where it goes (ko's split of build and publish). A plan is checked before any framework
//! builds, so a wrong output path or an unreachable registry costs seconds, not minutes; then
//! [`publish`] writes every output from the one packed app.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::image::push::{PushOptions, Pushed};
use crate::image::reference::Reference;
use crate::image::{self, layout::Layout, Image, ImageOptions};
use crate::sink::{ArchiveSink, PackedApp, Sink};

/// Where a `watt build` writes.
#[allow(clippy::large_enum_variant)] // one per run
pub enum Plan {
    /// The self-contained archive only.
    Archive(ArchiveSink),
    Image(ImagePlan),
}

/// An image, written locally and/or pushed, optionally with the archive beside it.
pub struct ImagePlan {
    pub local: Option<LocalImage>,
    /// `--archive`: the archive from the same packed app.
    pub archive: Option<ArchiveSink>,
    pub push: Vec<Reference>,
    /// `--image-refs`: a file that receives the pushed `REF@DIGEST`s.
    pub image_refs: Option<PathBuf>,
    pub push_options: PushOptions,
    pub options: ImageOptions,
}

pub enum LocalImage {
    /// An OCI image layout folder.
    Layout(PathBuf),
    /// One tar holding the layout and a Docker `manifest.json` (`docker load` reads it).
    OciArchive(PathBuf),
}

impl LocalImage {
    pub fn path(&self) -> &Path {
        match self {
            LocalImage::Layout(p) | LocalImage::OciArchive(p) => p,
        }
    }

    pub fn format(&self) -> &'static str {
        match self {
            LocalImage::Layout(_) => "oci",
            LocalImage::OciArchive(_) => "oci-archive",
        }
    }
}

/// What [`publish`] wrote.
#[allow(clippy::large_enum_variant)] // one per run
pub enum Published {
    Archive {
        path: PathBuf,
        bytes: u64,
    },
    Image {
        image: Image,
        pushed: Vec<Pushed>,
        /// Each local output as (format, path), the `--archive` one first.
        outputs: Vec<(&'static str, PathBuf)>,
    },
}

impl Plan {
    /// Fails when an output cannot be written or a registry cannot be reached, before building.
    pub fn check(&self) -> Result<()> {
        match self {
            Plan::Archive(sink) => check_writable(&sink.path),
            Plan::Image(p) => {
                if let Some(LocalImage::Layout(dir)) = &p.local {
                    image::layout::check_dir_output(dir)?;
                }
                let files = p.archive.iter().map(|a| a.path.as_path());
                let files = files.chain(p.local.as_ref().map(LocalImage::path));
                for f in files.chain(p.image_refs.as_deref()) {
                    check_writable(f)?;
                }
                image::push::check(&p.push, &p.push_options)
            }
        }
    }
}

/// Writes every output of `plan` from `packed`; on error nothing is left at an output path.
pub fn publish(packed: &PackedApp, plan: &Plan) -> Result<Published> {
    let p = match plan {
        Plan::Archive(sink) => {
            sink.write(packed)?;
            let bytes = std::fs::metadata(&sink.path).map_or(0, |m| m.len());
            return Ok(Published::Archive {
                path: sink.path.clone(),
                bytes,
            });
        }
        Plan::Image(p) => p,
    };
    let mut outputs = Vec::new();
    if let Some(sink) = &p.archive {
        sink.write(packed)?;
        eprintln!("watt: wrote {}", sink.describe());
        outputs.push(("archive", sink.path.clone()));
    }
    // Staged beside the output so persisting it is a rename, not a copy.
    let staging = match &p.local {
        Some(local) => parent_dir(local.path()).to_path_buf(),
        None => std::env::temp_dir(),
    };
    let layout = Layout::stage_in(&staging)?;
    let img = image::build(packed, &p.options, &layout)?;
    layout.write_index(&img, &p.options.tags)?;
    let pushed = image::push::push(&img, &layout, &p.push, &p.push_options)?;
    if let Some(f) = &p.image_refs {
        let text: String = pushed
            .iter()
            .map(|p| format!("{}\n", p.reference))
            .collect();
        write_atomically(f, text.as_bytes())?;
    }
    match &p.local {
        Some(LocalImage::Layout(dir)) => layout.persist_dir(dir)?,
        Some(LocalImage::OciArchive(file)) => {
            layout.persist_archive(&img, &p.options.tags, packed.mtime, file)?
        }
        None => {}
    }
    outputs.extend(
        p.local
            .as_ref()
            .map(|l| (l.format(), l.path().to_path_buf())),
    );
    Ok(Published::Image {
        image: img,
        pushed,
        outputs,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".watt-partial-")
        .tempfile_in(parent_dir(path))
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn parent_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn check_writable(output: &Path) -> Result<()> {
    let dir = parent_dir(output);
    if !dir.is_dir() {
        anyhow::bail!("the output folder {} does not exist", dir.display());
    }
    tempfile::Builder::new()
        .prefix(".watt-probe-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write to the output folder {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::archive::Compression;

    #[test]
    fn a_plan_whose_output_folder_is_missing_fails_its_check() {
        let dir = tempfile::tempdir().unwrap();
        let sink = |p: PathBuf| ArchiveSink {
            path: p,
            compression: Compression::Zstd,
        };
        let ok = Plan::Archive(sink(dir.path().join("app.tar.zst")));
        ok.check().unwrap();
        let missing = Plan::Archive(sink(dir.path().join("nope/app.tar.zst")));
        let err = missing.check().unwrap_err().to_string();
        assert!(
            err.contains("does not exist") && err.contains("nope"),
            "{err}"
        );
        // A bad --archive beside an image is caught the same way.
        let image = Plan::Image(ImagePlan {
            local: Some(LocalImage::OciArchive(dir.path().join("app.oci.tar"))),
            archive: Some(sink(dir.path().join("gone/app.tar.zst"))),
            push: Vec::new(),
            image_refs: None,
            push_options: PushOptions::default(),
            options: ImageOptions {
                tags: Vec::new(),
                user: image::User::default(),
                compression: image::Compression::Gzip,
                labels: Default::default(),
                base: None,
            },
        });
        let err = image.check().unwrap_err().to_string();
        assert!(err.contains("gone"), "{err}");
        // Nothing was left behind by the probes.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
