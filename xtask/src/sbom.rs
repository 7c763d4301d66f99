//! The CycloneDX 1.5 SBOM of the tool itself: the two binaries and the crates linked into each.
//!
//! The packer's writer (`watt_pack::sbom`) describes a packed app (npm packages, node, the
//! stub) through crate-private types, so this document is written here from the packer's
//! conventions and helpers: crates as `crate:<name>@<version>` with `pkg:cargo` purls for
//! registry crates, binaries with `pkg:generic` purls, licences as SPDX expressions, a serial
//! number derived from the content and no time but the one given.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use watt_manifest::build_info::{BuildInfo, Crate};
use watt_pack::sbom::{
    content_uuid, crate_ref, cyclonedx_crate, cyclonedx_licenses, generic_purl, rfc3339,
};

/// A binary in the tarball.
pub struct Binary<'a> {
    /// Its path in the tarball, below the top folder.
    pub file: &'a str,
    pub info: &'a BuildInfo,
    pub sha256: String,
}

/// A crate of either binary, with where its licence texts are in the tarball.
pub struct Component<'a> {
    pub krate: &'a Crate,
    pub texts_at: String,
}

pub fn document(
    binaries: &[Binary<'_>],
    crates: &BTreeMap<(String, String), Component<'_>>,
    timestamp: u64,
) -> Result<Vec<u8>> {
    let tool = binaries
        .first()
        .map(|b| b.info)
        .ok_or_else(|| anyhow::anyhow!("no binary to describe"))?;
    let mut product = json!({
        "type": "application",
        "bom-ref": "watt-pack",
        "name": "watt-pack",
        "version": tool.version,
    });
    if let Some(l) = cyclonedx_licenses(tool.license.as_deref()) {
        product["licenses"] = l;
    }
    product["purl"] = json!(format!("pkg:generic/watt-pack@{}", tool.version));
    product["properties"] = json!(properties(tool, None));

    let mut components: Vec<Value> = binaries.iter().map(binary).collect();
    components.extend(crates.values().map(rust_crate));

    let mut dependencies = vec![json!({
        "ref": "watt-pack",
        "dependsOn": binaries.iter().map(|b| binary_ref(b.file)).collect::<BTreeSet<_>>(),
    })];
    dependencies.extend(binaries.iter().map(|b| {
        json!({
            "ref": binary_ref(b.file),
            "dependsOn": b.info.crates.iter().map(crate_ref).collect::<BTreeSet<_>>(),
        })
    }));

    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(timestamp),
            "tools": { "components": [
                { "type": "application", "name": "xtask", "version": env!("CARGO_PKG_VERSION") }
            ]},
            "component": product,
        },
        "components": components,
        "dependencies": dependencies,
    });
    // Derived from everything else: the same release always gets the same serial number.
    let digest = Sha256::digest(serde_json::to_vec(&doc)?);
    doc["serialNumber"] = json!(format!("urn:uuid:{}", content_uuid(&digest)));
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}

fn binary_ref(file: &str) -> String {
    format!("file:{file}")
}

fn properties(info: &BuildInfo, path: Option<&str>) -> Vec<Value> {
    let mut props = Vec::new();
    if let Some(p) = path {
        props.push(json!({ "name": "watt:path", "value": p }));
    }
    if let Some(r) = &info.revision {
        props.push(json!({ "name": "watt:revision", "value": r }));
    }
    props.push(json!({ "name": "watt:target", "value": info.target }));
    props
}

fn binary(b: &Binary<'_>) -> Value {
    let mut v = json!({
        "type": "application",
        "bom-ref": binary_ref(b.file),
        "name": b.file,
        "version": b.info.version,
        "hashes": [{ "alg": "SHA-256", "content": b.sha256 }],
    });
    if let Some(l) = cyclonedx_licenses(b.info.license.as_deref()) {
        v["licenses"] = l;
    }
    v["purl"] = json!(generic_purl(b.file, &b.info.version));
    v["properties"] = json!(properties(b.info, Some(b.file)));
    v
}

fn rust_crate(c: &Component<'_>) -> Value {
    let mut v = cyclonedx_crate(c.krate);
    v["properties"] = json!([{ "name": "watt:license-texts", "value": c.texts_at }]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, crates: Vec<Crate>) -> BuildInfo {
        BuildInfo {
            name: name.into(),
            version: "0.1.0".into(),
            revision: Some("abc".into()),
            license: Some("Apache-2.0".into()),
            target: "x86_64-unknown-linux-gnu".into(),
            crates,
        }
    }

    fn krate(name: &str, license: &str, registry: bool) -> Crate {
        Crate {
            name: name.into(),
            version: "1.0.0".into(),
            license: Some(license.into()),
            registry,
            sha256: registry.then(|| "ab".repeat(32)),
        }
    }

    fn doc(hyper_version: &str) -> Value {
        let mut hyper = krate("hyper", "MIT", true);
        hyper.version = hyper_version.into();
        let watt = info("watt-pack", vec![krate("clap", "MIT/Apache-2.0", true)]);
        let stub = info(
            "watt-stub",
            vec![hyper.clone(), krate("watt-manifest", "Apache-2.0", false)],
        );
        let all = [&watt.crates[..], &stub.crates[..]].concat();
        let crates = all
            .iter()
            .map(|c| {
                let comp = Component {
                    krate: c,
                    texts_at: format!("licenses/{}-{}/", c.name, c.version),
                };
                ((c.name.clone(), c.version.clone()), comp)
            })
            .collect();
        let bins = [
            Binary {
                file: "watt",
                info: &watt,
                sha256: "0".repeat(64),
            },
            Binary {
                file: "watt-stub",
                info: &stub,
                sha256: "1".repeat(64),
            },
        ];
        let bytes = document(&bins, &crates, 1_700_000_000).unwrap();
        assert_eq!(bytes, document(&bins, &crates, 1_700_000_000).unwrap());
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn binaries_depend_on_their_crates_and_the_serial_follows_the_content() {
        let d = doc("1.0.0");
        assert_eq!(d["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(d["metadata"]["component"]["name"], "watt-pack");
        let deps = d["dependencies"].as_array().unwrap();
        assert_eq!(deps[0]["dependsOn"], json!(["file:watt", "file:watt-stub"]));
        assert_eq!(
            deps[2]["dependsOn"],
            json!(["crate:hyper@1.0.0", "crate:watt-manifest@1.0.0"])
        );
        let comps = d["components"].as_array().unwrap();
        let clap = comps.iter().find(|c| c["name"] == "clap").unwrap();
        assert_eq!(clap["purl"], "pkg:cargo/clap@1.0.0");
        assert_eq!(clap["licenses"][0]["expression"], "MIT OR Apache-2.0");
        let manifest = comps.iter().find(|c| c["name"] == "watt-manifest").unwrap();
        assert!(manifest.get("purl").is_none() && manifest.get("hashes").is_none());
        let serial = d["serialNumber"].as_str().unwrap();
        assert!(serial.starts_with("urn:uuid:") && serial.as_bytes()[23] == b'5');
        assert_ne!(d["serialNumber"], doc("1.0.1")["serialNumber"]);
    }
}
