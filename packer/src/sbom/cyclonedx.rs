//! The CycloneDX 1.5 JSON document (https://cyclonedx.org/docs/1.5/json/).

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    cargo_purl, content_uuid, integrity_hashes, npm_purl, rfc3339, spdx_expression, Bom, Crate,
    FileComponent, NpmComponent, TOOL, TOOL_VERSION,
};

pub(crate) fn document(bom: &Bom) -> Result<Vec<u8>> {
    let mut metadata = json!({});
    if let Some(t) = bom.timestamp {
        metadata["timestamp"] = json!(rfc3339(t));
    }
    metadata["tools"] = json!({ "components": [
        { "type": "application", "name": TOOL, "version": TOOL_VERSION }
    ]});
    metadata["component"] = json!({ "type": "application", "bom-ref": "app", "name": bom.app });

    let mut components: Vec<Value> = bom.npm.iter().map(npm).collect();
    components.push(file(&bom.node, "application", Some("pkg:generic/node")));
    components.extend(bom.libraries.iter().map(|l| file(l, "library", None)));
    let mut stub = file(&bom.stub, "application", Some("pkg:generic/watt-stub"));
    stub["components"] = bom.crates.iter().map(rust_crate).collect();
    components.push(stub);

    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "",
        "version": 1,
        "metadata": metadata,
        "components": components,
    });
    // Derived from everything else: the same artifact always gets the same serial number.
    let digest = Sha256::digest(serde_json::to_vec(&doc)?);
    doc["serialNumber"] = json!(format!("urn:uuid:{}", content_uuid(&digest)));
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}

fn licenses(license: Option<&str>) -> Option<Value> {
    let l = license?;
    Some(match spdx_expression(l) {
        Some(e) => json!([{ "expression": e }]),
        None => json!([{ "license": { "name": l } }]),
    })
}

fn npm(c: &NpmComponent) -> Value {
    let purl = npm_purl(&c.name, c.version.as_deref());
    let (group, name) = match c.name.split_once('/') {
        Some((scope, n)) if scope.starts_with('@') => (Some(scope), n),
        _ => (None, c.name.as_str()),
    };
    let mut v = json!({
        "type": if c.is_service { "application" } else { "library" },
        "bom-ref": purl,
    });
    if let Some(g) = group {
        v["group"] = json!(g);
    }
    v["name"] = json!(name);
    if let Some(ver) = &c.version {
        v["version"] = json!(ver);
    }
    let hashes: Vec<Value> = c
        .integrity
        .as_deref()
        .map(integrity_hashes)
        .unwrap_or_default()
        .into_iter()
        .map(|(alg, content)| json!({ "alg": alg, "content": content }))
        .collect();
    if !hashes.is_empty() {
        v["hashes"] = json!(hashes);
    }
    if let Some(l) = licenses(c.license.as_deref()) {
        v["licenses"] = l;
    }
    v["purl"] = json!(purl);
    if let Some(url) = &c.resolved {
        if url.contains("://") {
            v["externalReferences"] = json!([{ "type": "distribution", "url": url }]);
        }
    }
    let mut props: Vec<Value> = c
        .services
        .iter()
        .map(|s| json!({ "name": "watt:service", "value": s }))
        .collect();
    props.extend(
        c.paths
            .iter()
            .map(|p| json!({ "name": "watt:path", "value": p })),
    );
    v["properties"] = json!(props);
    v
}

fn file(f: &FileComponent, kind: &str, purl: Option<&str>) -> Value {
    let mut v = json!({ "type": kind, "bom-ref": format!("file:{}", f.path), "name": f.name });
    if let Some(ver) = &f.version {
        v["version"] = json!(ver);
    }
    v["hashes"] = json!([{ "alg": "SHA-256", "content": f.sha256 }]);
    if let (Some(p), Some(ver)) = (purl, &f.version) {
        v["purl"] = json!(format!("{p}@{ver}"));
    }
    v["properties"] = json!([{ "name": "watt:path", "value": f.path }]);
    v
}

fn rust_crate(c: &Crate) -> Value {
    let mut v = json!({
        "type": "library",
        "bom-ref": format!("crate:{}@{}", c.name, c.version),
        "name": c.name,
        "version": c.version,
    });
    if let Some(h) = &c.sha256 {
        v["hashes"] = json!([{ "alg": "SHA-256", "content": h }]);
    }
    if let Some(l) = licenses(c.license.as_deref()) {
        v["licenses"] = l;
    }
    if c.registry {
        v["purl"] = json!(cargo_purl(&c.name, &c.version));
    }
    v
}
