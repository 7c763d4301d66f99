//! The SBOM every artifact carries: what ships, as CycloneDX 1.5 JSON at [`CYCLONEDX_FILE`]
//! (and, with `--sbom spdx`, SPDX 2.3 JSON at [`SPDX_FILE`]), beside `watt-manifest.json`.
//!
//! It lists every npm package in the artifact (from the closures `pack` computed and the
//! `node_modules` a framework's output carries, e.g. Next's standalone trace) with the services
//! that use it, the lockfile's integrity hash and its package.json license; each service's own
//! package; node and the shared libraries shipped with it (each with its Debian package, when
//! dpkg owns it: `deb.rs`); and watt-stub with the Rust crates it is built from, read from the
//! packed stub binary itself (`crate::build_info`).
//!
//! Same inputs, same bytes: everything is sorted, the serial number and SPDX namespace are
//! derived from the content, and a timestamp appears only from `SOURCE_DATE_EPOCH` (SPDX, which
//! requires one, uses the artifact's fixed file time).
//!
//! Beside it, [`Sbom::omitted`] names every installed production package that does not ship and
//! why (`omitted.rs`), for the build's report and the cross-check against `cyclonedx-npm`.

mod cyclonedx;
mod deb;
mod graph;
mod inventory;
mod npm;
mod omitted;
mod spdx;

pub use inventory::{Context, Inventory};
pub use omitted::{Omitted, Reason};

pub const CYCLONEDX_FILE: &str = "sbom.cdx.json";
pub const SPDX_FILE: &str = "sbom.spdx.json";
/// Where `watt build` records the packages it left out, below the app root (beside the logs).
pub const OMITTED_FILE: &str = ".watt/sbom-omitted.json";

/// Which SBOM documents an artifact carries. CycloneDX always ships.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Formats {
    pub spdx: bool,
}

/// The documents, ready to place in the artifact, and what was left out.
pub struct Sbom {
    /// (artifact path, bytes)
    pub files: Vec<(&'static str, Vec<u8>)>,
    pub omitted: Vec<Omitted>,
}

/// One npm package in the artifact (one name@version, wherever it ships).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpmComponent {
    pub name: String,
    pub version: Option<String>,
    pub license: Option<String>,
    /// The lockfile's `integrity` (`sha512-<base64>`, possibly several, space-separated).
    pub integrity: Option<String>,
    /// The lockfile's `resolved` tarball URL.
    pub resolved: Option<String>,
    /// Artifact paths of its folders.
    pub paths: std::collections::BTreeSet<String>,
    /// Services that load it (for a service's own package: that service).
    pub services: std::collections::BTreeSet<String>,
    /// A service's own package.json (its folder ships as the service), not a dependency.
    pub is_service: bool,
    /// The shipped packages its declared dependencies resolve to (see `graph.rs`).
    pub depends_on: std::collections::BTreeSet<(String, Option<String>)>,
}

/// A shipped binary: node, one of its shared libraries, the stub.
#[derive(Debug, Clone)]
pub(crate) struct FileComponent {
    pub name: String,
    pub version: Option<String>,
    /// What names it outside this artifact: `pkg:generic/node@…`, a library's `pkg:deb/…`.
    pub purl: Option<String>,
    pub path: String,
    pub sha256: String,
}

/// A Rust crate linked into watt-stub.
pub(crate) use watt_manifest::build_info::Crate;

/// Everything the documents say, gathered by [`Inventory::finish`].
pub(crate) struct Bom {
    pub app: String,
    /// Seconds since the epoch, only when `SOURCE_DATE_EPOCH` chose it.
    pub timestamp: Option<u64>,
    /// The fixed file time of the artifact (SPDX needs a creation time).
    pub mtime: u64,
    pub npm: Vec<NpmComponent>,
    pub node: FileComponent,
    pub libraries: Vec<FileComponent>,
    pub stub: FileComponent,
    pub crates: Vec<Crate>,
}

/// Records the packages left out at [`OMITTED_FILE`] (JSON, sorted; written atomically).
pub fn write_omitted(root: &std::path::Path, omitted: &[Omitted]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let path = root.join(OMITTED_FILE);
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut text = serde_json::to_vec_pretty(omitted)?;
    text.push(b'\n');
    std::io::Write::write_all(&mut tmp, &text)
        .and_then(|()| tmp.persist(&path).map(|_| ()).map_err(|e| e.error))
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) const TOOL: &str = "watt-pack";
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `pkg:npm/%40scope/name@version` (the purl spec: the scope's `@` is percent-encoded).
pub(crate) fn npm_purl(name: &str, version: Option<&str>) -> String {
    let enc = purl_encode;
    let path = match name.split_once('/') {
        Some((scope, pkg)) if scope.starts_with('@') => format!("{}/{}", enc(scope), enc(pkg)),
        _ => enc(name),
    };
    match version {
        Some(v) => format!("pkg:npm/{path}@{}", enc(v)),
        None => format!("pkg:npm/{path}"),
    }
}

/// A purl name, version or qualifier value, percent-encoded as the spec asks.
pub(crate) fn purl_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PURL_SET).to_string()
}

/// `pkg:generic/<name>@<version>`: a binary no package manager names (node, the stub).
pub fn generic_purl(name: &str, version: &str) -> String {
    format!("pkg:generic/{name}@{}", purl_encode(version))
}

pub fn cargo_purl(name: &str, version: &str) -> String {
    format!("pkg:cargo/{name}@{version}")
}

/// What the purl spec leaves unencoded in a name or version: alphanumerics and `.-_~`
/// (`+` in semver build metadata is encoded too).
const PURL_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// `sha512-<base64> sha1-<base64>` → (algorithm as CycloneDX names it, hex digest) pairs.
pub(crate) fn integrity_hashes(integrity: &str) -> Vec<(&'static str, String)> {
    use base64::Engine;
    integrity
        .split_whitespace()
        .filter_map(|sri| {
            let (alg, b64) = sri.split_once('-')?;
            let alg = match alg {
                "sha512" => "SHA-512",
                "sha384" => "SHA-384",
                "sha256" => "SHA-256",
                "sha1" => "SHA-1",
                _ => return None,
            };
            // SRI may carry `?options` after the digest.
            let b64 = b64.split('?').next().unwrap_or(b64);
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            Some((alg, hex(&bytes)))
        })
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A license string as an SPDX expression, when it is one (`MIT`, `(MIT OR Apache-2.0)`;
/// Cargo's old `MIT/Apache-2.0` reads as `MIT OR Apache-2.0`). `UNLICENSED`, `SEE LICENSE IN
/// …` and typos are not.
pub fn spdx_expression(license: &str) -> Option<String> {
    let text = if license.contains('/') && !license.contains(' ') {
        license.replace('/', " OR ")
    } else {
        license.to_string()
    };
    ::spdx::Expression::parse(&text).ok().map(|_| text)
}

/// `urn:uuid:` of a name-based (version 5 layout) UUID from a digest of the content.
pub fn content_uuid(digest: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A CycloneDX `licenses` value: the SPDX expression when the string is one, else its name.
pub fn cyclonedx_licenses(license: Option<&str>) -> Option<serde_json::Value> {
    let l = license?;
    Some(match spdx_expression(l) {
        Some(e) => serde_json::json!([{ "expression": e }]),
        None => serde_json::json!([{ "license": { "name": l } }]),
    })
}

/// The `bom-ref` of a Rust crate.
pub fn crate_ref(c: &Crate) -> String {
    format!("crate:{}@{}", c.name, c.version)
}

/// A Rust crate as a CycloneDX component: Cargo.lock's SHA-256, its licence, and a `pkg:cargo`
/// purl for a registry crate.
pub fn cyclonedx_crate(c: &Crate) -> serde_json::Value {
    let mut v = serde_json::json!({
        "type": "library",
        "bom-ref": crate_ref(c),
        "name": c.name,
        "version": c.version,
    });
    if let Some(h) = &c.sha256 {
        v["hashes"] = serde_json::json!([{ "alg": "SHA-256", "content": h }]);
    }
    if let Some(l) = cyclonedx_licenses(c.license.as_deref()) {
        v["licenses"] = l;
    }
    if c.registry {
        v["purl"] = serde_json::json!(cargo_purl(&c.name, &c.version));
    }
    v
}

pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_the_scope() {
        assert_eq!(
            npm_purl("@fastify/static", Some("8.1.0")),
            "pkg:npm/%40fastify/static@8.1.0"
        );
        assert_eq!(npm_purl("ms", Some("2.1.3")), "pkg:npm/ms@2.1.3");
        assert_eq!(npm_purl("front", None), "pkg:npm/front");
        assert_eq!(npm_purl("x", Some("1.0.0+b.1")), "pkg:npm/x@1.0.0%2Bb.1");
    }

    #[test]
    fn integrity_becomes_hex_hashes() {
        // sha1 of "" in base64 and hex.
        let h = integrity_hashes("sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk= md5-x");
        assert_eq!(
            h,
            [(
                "SHA-1",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709".to_string()
            )]
        );
    }

    #[test]
    fn licenses_that_are_spdx_expressions() {
        assert_eq!(spdx_expression("MIT").as_deref(), Some("MIT"));
        assert_eq!(
            spdx_expression("MIT/Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            spdx_expression("(MIT OR CC0-1.0)").as_deref(),
            Some("(MIT OR CC0-1.0)")
        );
        assert_eq!(spdx_expression("UNLICENSED"), None);
        assert_eq!(spdx_expression("SEE LICENSE IN LICENSE.md"), None);
    }

    #[test]
    fn content_uuids_are_valid_version_5_layout() {
        let u = content_uuid(&[0xff; 32]);
        assert_eq!(u, "ffffffff-ffff-5fff-bfff-ffffffffffff");
    }
}
