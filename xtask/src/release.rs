//! `xtask release`: `watt-<version>-x86_64-unknown-linux-gnu.tar.gz` and its `.sha256`.
//!
//! What each binary contains is read from the binary itself (its `.watt_build_info` section),
//! not worked out again from the workspace, so the licences and the SBOM describe the files
//! that ship even when they were built elsewhere (`--watt`/`--stub`). Cargo is asked only where
//! each of those crates' sources are, for their licence files.
//!
//! Same commit, same bytes: the tarball goes through the packer's own archive writer (sorted
//! entries, explicit folders, uid/gid 0 without names, modes 0755/0644, flate2's Rust backend
//! at a fixed level, no name or time in the gzip header) with one file time, the SBOM is
//! sorted and its serial number derived from its content.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use watt_manifest::build_info::{BuildInfo, Crate};
use watt_pack::sink::archive::{write_archive_file, Compression};
use watt_pack::tree::{Entry, Source, Tree};

use crate::cargo::{self, Metadata, TARGET};
use crate::licenses::{self, Texts};
use crate::sbom;

#[derive(clap::Args)]
pub struct Args {
    /// Where the tarball and its .sha256 go [default: target/release-dist]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Pack this watt binary instead of the workspace's release build (needs --stub)
    #[arg(long, value_name = "PATH", requires = "stub")]
    watt: Option<PathBuf>,
    /// Pack this watt-stub binary instead of the workspace's release build (needs --watt)
    #[arg(long, value_name = "PATH", requires = "watt")]
    stub: Option<PathBuf>,
}

/// The binaries, as named in the tarball and in their build information.
const WATT: &str = "watt";
const STUB: &str = "watt-stub";
const WATT_PACKAGE: &str = "watt-pack";

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let meta = cargo::metadata(&cwd)?;
    let root = meta.workspace_root.clone();

    let (watt_path, stub_path) = match (&args.watt, &args.stub) {
        (Some(w), Some(s)) => (w.clone(), s.clone()),
        _ => {
            // Built by ci/release.sh (ci/release-flags.sh): the one set of flags, kept in one
            // place, so this tool never builds with others.
            let dir = meta.target_directory.join(TARGET).join("release");
            let (w, s) = (dir.join(WATT), dir.join(STUB));
            if !w.is_file() || !s.is_file() {
                bail!(
                    "no release binaries in {}; run ci/release.sh, which builds them and then \
                     runs this, or pass --watt PATH --stub PATH",
                    dir.display()
                );
            }
            if cargo::uncommitted_changes(&root) {
                eprintln!(
                    "xtask: warning: the working tree has uncommitted changes; the binaries \
                     name the commit checked out, which they may not be built from"
                );
            }
            (w, s)
        }
    };
    let watt = Binary::read(&watt_path, WATT_PACKAGE)?;
    let stub = Binary::read(&stub_path, STUB)?;
    let version = check_versions(&meta, &watt, &stub)?;

    let mtime = cargo::source_date(&root, watt.info.revision.as_deref())?;
    let top = format!("watt-{version}-{TARGET}");
    let out_dir = match &args.out {
        Some(d) => d.clone(),
        None => meta.target_directory.join("release-dist"),
    };

    // Each crate once, with the binaries it is linked into.
    let mut crates: BTreeMap<(String, String), (&Crate, BTreeSet<String>)> = BTreeMap::new();
    for (file, b) in [(WATT, &watt), (STUB, &stub)] {
        for c in &b.info.crates {
            crates
                .entry((c.name.clone(), c.version.clone()))
                .or_insert_with(|| (c, BTreeSet::new()))
                .1
                .insert(file.to_string());
        }
    }
    let mut texts = BTreeMap::new();
    for (key, (c, _)) in &crates {
        let Some(pkg) = meta.package(&c.name, &c.version, c.registry) else {
            bail!(
                "{} {} is linked into the binaries but is not in this workspace's Cargo.lock; \
                 were they built from another commit?",
                c.name,
                c.version
            );
        };
        let t = licenses::texts(pkg, meta.is_member(pkg), c.license.as_deref())?;
        texts.insert(key.clone(), t);
    }

    let mut tree = Tree::new();
    let at = |p: &str| format!("{top}/{p}");
    let add = |tree: &mut Tree, path: &str, bytes: Vec<u8>, executable: bool| {
        tree.insert(
            &at(path),
            Entry::File {
                source: Source::Bytes(bytes.into()),
                executable,
            },
        )
    };
    let license = root.join("LICENSE");
    let license = fs::read(&license)
        .with_context(|| format!("cannot read the workspace licence {}", license.display()))?;
    add(&mut tree, "LICENSE", license, false)?;
    add(
        &mut tree,
        "README.md",
        readme(&version, &top).into_bytes(),
        false,
    )?;
    let mut rows = Vec::new();
    let mut components = BTreeMap::new();
    for (key, (c, bins)) in &crates {
        let t = &texts[key];
        let folder = licenses::folder(&c.name, &c.version);
        for (name, bytes) in t.files() {
            add(&mut tree, &format!("{folder}/{name}"), bytes.clone(), false)?;
        }
        rows.push(licenses::Row {
            name: &c.name,
            version: &c.version,
            license: c.license.as_deref(),
            binaries: bins,
            texts: t,
        });
        let texts_at = match t {
            Texts::Workspace => "LICENSE".to_string(),
            _ => format!("{folder}/"),
        };
        components.insert(key.clone(), sbom::Component { krate: c, texts_at });
    }
    add(
        &mut tree,
        "THIRD-PARTY-LICENSES.md",
        licenses::index(&rows).into_bytes(),
        false,
    )?;
    let sbom = sbom::document(
        &[
            sbom::Binary {
                file: WATT,
                info: &watt.info,
                sha256: hex(&Sha256::digest(&watt.bytes)),
            },
            sbom::Binary {
                file: STUB,
                info: &stub.info,
                sha256: hex(&Sha256::digest(&stub.bytes)),
            },
        ],
        &components,
        mtime,
    )?;
    add(&mut tree, "sbom.cdx.json", sbom, false)?;
    for (file, b) in [(WATT, &watt), (STUB, &stub)] {
        let source = Source::Bytes(b.bytes.clone());
        let executable = true;
        tree.insert(&at(file), Entry::File { source, executable })?;
    }

    fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create the output folder {}", out_dir.display()))?;
    let name = format!("{top}.tar.gz");
    let tarball = out_dir.join(&name);
    let sums = out_dir.join(format!("{name}.sha256"));
    // A failure below must not leave an older checksum beside a newer tarball.
    match fs::remove_file(&sums) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", sums.display()));
        }
        _ => {}
    }
    write_archive_file(&tree, mtime, Compression::Gzip, &tarball)?;
    let written =
        fs::read(&tarball).with_context(|| format!("cannot read back {}", tarball.display()))?;
    let digest = hex(&Sha256::digest(&written));
    // `sha256sum` format, naming the file beside it: `sha256sum -c` works in that folder.
    write_atomically(&sums, format!("{digest}  {name}\n").as_bytes())?;

    let shown = fs::canonicalize(&tarball).unwrap_or(tarball);
    println!("{}", shown.display());
    println!(
        "  size:   {} bytes ({:.1} MiB)",
        written.len(),
        written.len() as f64 / (1024.0 * 1024.0)
    );
    println!("  sha256: {digest}");
    eprintln!(
        "xtask: {} crates, {} files, in {:.1}s",
        crates.len(),
        tree.entries()
            .filter(|(_, e)| matches!(e, Entry::File { .. }))
            .count(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

struct Binary {
    bytes: Arc<[u8]>,
    info: BuildInfo,
}

impl Binary {
    /// The binary and its build information, which must name `package`; it must be static:
    /// the tarball promises binaries that start on any Linux.
    fn read(path: &Path, package: &str) -> Result<Self> {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let info = watt_pack::build_info::read(&bytes)
            .with_context(|| format!("cannot read what {} is made of", path.display()))?;
        if info.name != package {
            bail!(
                "{} is a build of {}, not of {package}",
                path.display(),
                info.name
            );
        }
        if info.target != TARGET {
            bail!(
                "{} is built for {}, not {TARGET}",
                path.display(),
                info.target
            );
        }
        if watt_pack::build_info::interpreter(&bytes)?.is_some() {
            bail!(
                "{} is dynamically linked; build it with ci/release.sh (static, \
                 ci/release-flags.sh)",
                path.display()
            );
        }
        Ok(Self {
            bytes: bytes.into(),
            info,
        })
    }
}

/// The release's version: both binaries' and the workspace's, which must agree (binaries of
/// another version or commit would be described by this checkout's licence files).
fn check_versions(meta: &Metadata, watt: &Binary, stub: &Binary) -> Result<String> {
    let v = &watt.info.version;
    if stub.info.version != *v {
        bail!(
            "watt is version {v} but watt-stub is {}; build both from one commit",
            stub.info.version
        );
    }
    if watt.info.revision != stub.info.revision {
        bail!(
            "watt was built from {} but watt-stub from {}; build both from one commit",
            watt.info
                .revision
                .as_deref()
                .unwrap_or("an unknown revision"),
            stub.info
                .revision
                .as_deref()
                .unwrap_or("an unknown revision"),
        );
    }
    match meta.member_version(WATT_PACKAGE) {
        Some(w) if w == v => Ok(v.clone()),
        Some(w) => bail!("the binaries are version {v} but this workspace is {w}"),
        None => bail!("{WATT_PACKAGE} is not a member of this workspace"),
    }
}

fn readme(version: &str, top: &str) -> String {
    format!(
        "# watt {version} for Linux x86_64\n\
         \n\
         `watt` packs a Platformatic Watt application into one deployable artifact: an archive \
         or an OCI image that runs without Watt installed. `watt-stub` is that artifact's \
         entrypoint: it starts, connects and supervises the app's services.\n\
         \n\
         Both are statically linked: they run on any x86_64 Linux, whatever its libc. `watt \
         build` runs the app's own builds, so it needs the Node.js the app builds with (it packs \
         that node into the artifact: where the artifact runs needs no Node.js, and no watt).\n\
         \n\
         ## Install\n\
         \n\
         Keep the two files together: `watt` packs the `watt-stub` found next to it (or the one \
         `WATT_STUB` names).\n\
         \n\
         ```sh\n\
         sha256sum -c {top}.tar.gz.sha256\n\
         tar -xzf {top}.tar.gz\n\
         sudo install -m 0755 {top}/watt {top}/watt-stub /usr/local/bin/\n\
         watt --version\n\
         ```\n\
         \n\
         Without root, put the folder on your PATH instead: \
         `export PATH=\"$PWD/{top}:$PATH\"`.\n\
         \n\
         ## Contents\n\
         \n\
         - `watt`, `watt-stub`: the programs\n\
         - `LICENSE`: their licence, Apache-2.0\n\
         - `THIRD-PARTY-LICENSES.md`, `licenses/`: the Rust crates built into them and their \
         licence texts\n\
         - `sbom.cdx.json`: the CycloneDX 1.5 SBOM of both programs\n"
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary file beside `path`, renamed into place once complete.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".xtask-partial-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write to {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // tempfile creates 0600 files; a checksum is not a secret.
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}
