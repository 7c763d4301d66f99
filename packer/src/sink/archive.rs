//! Self-contained archive: the tree as one tar, gzip- or zstd-compressed, extracted anywhere
//! and started with `./watt-stub`.
//!
//! Every header is built here from the tree, never from the host file's metadata, so the bytes
//! depend only on the content: uid/gid 0, no user or group names, one mtime, modes 0755/0644.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::tree::{Entry, Source, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    /// flate2's pure-Rust backend at a fixed level: a different zlib would give other bytes.
    Gzip,
    /// zstd with at least one worker thread: output with ≥1 workers does not depend on how many,
    /// while 0 workers (single-threaded mode) produces different bytes.
    Zstd,
}

impl Compression {
    /// From the output file name: `.tar.zst`/`.tzst`, `.tar.gz`/`.tgz`, `.tar`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Some(Self::Zstd)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Self::Gzip)
        } else if name.ends_with(".tar") {
            Some(Self::None)
        } else {
            None
        }
    }
}

pub const GZIP_LEVEL: u32 = 6;
pub const ZSTD_LEVEL: i32 = 12;
pub const ZSTD_WORKERS: u32 = 2;

/// Write `tree` as a tar stream to `out`.
pub fn write_archive(
    tree: &Tree,
    mtime: u64,
    compression: Compression,
    out: impl Write,
) -> Result<()> {
    match compression {
        Compression::None => {
            write_tar(tree, mtime, out)?;
        }
        Compression::Gzip => {
            let gz = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            write_tar(tree, mtime, gz)?
                .finish()
                .context("gzip failed")?;
        }
        Compression::Zstd => {
            let mut z =
                zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).context("zstd failed")?;
            z.multithread(ZSTD_WORKERS).context("zstd failed")?;
            z.include_checksum(true).context("zstd failed")?;
            write_tar(tree, mtime, z)?.finish().context("zstd failed")?;
        }
    }
    Ok(())
}

/// The tree as an uncompressed tar stream into `out` (what image layers are made of too).
pub fn write_tar<W: Write>(tree: &Tree, mtime: u64, out: W) -> Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, entry) in tree.entries() {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        match entry {
            Entry::Dir | Entry::ScratchDir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(if *entry == Entry::ScratchDir {
                    0o1777
                } else {
                    0o755
                });
                h.set_size(0);
                tar.append_data(&mut h, format!("{path}/"), io::empty())
                    .with_context(|| format!("cannot write {path} to the archive"))?;
            }
            Entry::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                tar.append_link(&mut h, path, target)
                    .with_context(|| format!("cannot write {path} to the archive"))?;
            }
            Entry::File { source, executable } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if *executable { 0o755 } else { 0o644 });
                match source {
                    Source::Bytes(b) => {
                        h.set_size(b.len() as u64);
                        tar.append_data(&mut h, path, &b[..])
                    }
                    Source::Path(p) => {
                        let f = File::open(p)
                            .with_context(|| format!("cannot read {}", p.display()))?;
                        let len = f
                            .metadata()
                            .with_context(|| format!("cannot read {}", p.display()))?
                            .len();
                        h.set_size(len);
                        // A file that grows while we pack would otherwise produce a corrupt entry.
                        let mut exact = ExactReader {
                            inner: f.take(len),
                            left: len,
                        };
                        let r = tar.append_data(&mut h, path, &mut exact);
                        if r.is_ok() && exact.left != 0 {
                            bail!(
                                "{} changed while it was being packed; run the build again",
                                p.display()
                            );
                        }
                        r
                    }
                }
                .with_context(|| format!("cannot write {path} to the archive"))?;
            }
        }
    }
    tar.into_inner().context("cannot finish the archive")
}

struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left -= n as u64;
        if n == 0 && self.left != 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being packed",
            ));
        }
        Ok(n)
    }
}

/// Write the archive to `path` atomically: a temporary file beside it, renamed into place only
/// once complete, so a failed or interrupted build never leaves a partial archive there.
pub fn write_archive_file(
    tree: &Tree,
    mtime: u64,
    compression: Compression,
    path: &Path,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".watt-partial-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write to the output folder {}", dir.display()))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        write_archive(tree, mtime, compression, &mut w)?;
        w.flush()
            .with_context(|| format!("cannot write to {}", dir.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write to {}", dir.display()))?;
    // tempfile creates 0600 files; an archive is not a secret.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot write to {}", dir.display()))?;
    }
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot move the archive into place at {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.add_bytes("app/web/a.js", b"console.log(1)\n".to_vec(), false)
            .unwrap();
        t.add_bytes("watt-stub", b"\x7fELF".to_vec(), true).unwrap();
        t.add_symlink("runtime/bin/node", "../../watt-stub")
            .unwrap();
        t.add_bytes(
            &format!("app/{}/deep.txt", "x".repeat(150)),
            b"long".to_vec(),
            false,
        )
        .unwrap();
        t
    }

    #[test]
    fn same_tree_same_bytes_for_every_compression() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_archive(&sample(), 1, c, &mut a).unwrap();
            write_archive(&sample(), 1, c, &mut b).unwrap();
            assert_eq!(a, b, "{c:?}");
        }
    }

    #[test]
    fn headers_carry_no_host_identity() {
        let mut bytes = Vec::new();
        write_archive(&sample(), 315_532_800, Compression::None, &mut bytes).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.mtime().unwrap(), 315_532_800);
            assert_eq!(h.username().unwrap(), Some(""));
            seen.push((e.path().unwrap().display().to_string(), h.mode().unwrap()));
        }
        assert!(seen.contains(&("watt-stub".into(), 0o755)));
        assert!(seen.contains(&("app/web/a.js".into(), 0o644)));
        assert!(seen.contains(&("app/web/".into(), 0o755)), "{seen:?}");
        assert!(seen
            .iter()
            .any(|(p, _)| p.ends_with("deep.txt") && p.len() > 150));
    }

    #[test]
    fn failed_write_leaves_nothing_at_the_output_path() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.tar.gz");
        let mut t = Tree::new();
        t.insert(
            "gone",
            Entry::File {
                source: Source::Path(dir.path().join("missing")),
                executable: false,
            },
        )
        .unwrap();
        assert!(write_archive_file(&t, 1, Compression::Gzip, &out).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
