//! Content-addressed blobs and layers. A layer is written in one streaming pass: tar →
//! sha256 (the diff id) → compressor → sha256 (the digest) → file, so its bytes are never read
//! twice.

use std::io::{self, Write};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::sink::archive::{self, GZIP_LEVEL, ZSTD_LEVEL, ZSTD_WORKERS};
use crate::tree::Tree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Every Docker and containerd reads it.
    Gzip,
    /// Smaller and faster to unpack; needs Docker ≥ 23 / containerd ≥ 1.5.
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// What a manifest says about a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        })
    }
}

#[derive(Debug, Clone)]
pub struct LayerBlob {
    pub name: String,
    pub owner: String,
    pub descriptor: Descriptor,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub uncompressed_size: u64,
    /// Copied from the `--base` image as it was (its uncompressed size is not known).
    pub from_base: bool,
}

/// Counts and hashes what passes through to `inner`.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The wrapped writer, `sha256:<hex>` of everything written, and its length.
    pub fn finish(self) -> (W, String, u64) {
        let hex = format!("sha256:{:x}", self.hasher.finalize());
        (self.inner, hex, self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Write `tree` as a compressed layer into `out`; returns (digest, size, diff id, tar size).
pub fn write_layer<W: Write>(
    tree: &Tree,
    mtime: u64,
    compression: Compression,
    out: W,
) -> Result<(W, String, u64, String, u64)> {
    let compressed = HashWriter::new(out);
    let (compressed, diff_id, tar_size) = match compression {
        Compression::Gzip => {
            let gz =
                flate2::write::GzEncoder::new(compressed, flate2::Compression::new(GZIP_LEVEL));
            let tar = archive::write_tar(tree, mtime, HashWriter::new(gz))?;
            let (gz, diff_id, n) = tar.finish();
            (gz.finish().context("gzip failed")?, diff_id, n)
        }
        Compression::Zstd => {
            let mut z =
                zstd::stream::write::Encoder::new(compressed, ZSTD_LEVEL).context("zstd failed")?;
            z.multithread(ZSTD_WORKERS).context("zstd failed")?;
            let tar = archive::write_tar(tree, mtime, HashWriter::new(z))?;
            let (z, diff_id, n) = tar.finish();
            (z.finish().context("zstd failed")?, diff_id, n)
        }
    };
    let (out, digest, size) = compressed.finish();
    Ok((out, digest, size, diff_id, tar_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_gives_the_digest_of_the_bytes_and_the_diff_id_of_the_tar() {
        let mut t = Tree::new();
        t.add_bytes("app/a.js", b"1".to_vec(), false).unwrap();
        for c in [Compression::Gzip, Compression::Zstd] {
            let (bytes, digest, size, diff_id, tar_size) =
                write_layer(&t, 1, c, Vec::new()).unwrap();
            assert_eq!(digest, sha256(&bytes));
            assert_eq!(size, bytes.len() as u64);
            let mut tar = Vec::new();
            archive::write_tar(&t, 1, &mut tar).unwrap();
            assert_eq!(diff_id, sha256(&tar));
            assert_eq!(tar_size, tar.len() as u64);
            let again = write_layer(&t, 1, c, Vec::new()).unwrap().0;
            assert_eq!(bytes, again, "{c:?} output must be reproducible");
        }
    }
}
