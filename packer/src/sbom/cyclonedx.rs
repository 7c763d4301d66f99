//! The CycloneDX 1.5 JSON document (https://cyclonedx.org/docs/1.5/json/).

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    content_uuid, cyclonedx_crate, cyclonedx_licenses, integrity_hashes, npm_purl, rfc3339, Bom,
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
    components.push(file(&bom.node, "application"));
    components.extend(bom.libraries.iter().map(|l| file(l, "library")));
    let mut stub = file(&bom.stub, "application");
    stub["components"] = bom.crates.iter().map(cyclonedx_crate).collect();
    components.push(stub);

    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies(bom),
    });
    // Derived from everything else: the same artifact always gets the same serial number.
    let digest = Sha256::digest(serde_json::to_vec(&doc)?);
    doc["serialNumber"] = json!(format!("urn:uuid:{}", content_uuid(&digest)));
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}

/// The app runs its services on node and the stub; each package depends on what its
/// declared dependencies resolve to.
fn dependencies(bom: &Bom) -> Value {
    let purl = |(n, v): &(String, Option<String>)| npm_purl(n, v.as_deref());
    let mut app: Vec<String> = bom
        .npm
        .iter()
        .filter(|c| c.is_service)
        .map(|c| npm_purl(&c.name, c.version.as_deref()))
        .collect();
    app.push(format!("file:{}", bom.node.path));
    app.push(format!("file:{}", bom.stub.path));
    let mut out = vec![json!({ "ref": "app", "dependsOn": app })];
    out.extend(bom.npm.iter().map(|c| {
        json!({
            "ref": npm_purl(&c.name, c.version.as_deref()),
            "dependsOn": c.depends_on.iter().map(purl).collect::<Vec<_>>(),
        })
    }));
    json!(out)
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
    if let Some(l) = cyclonedx_licenses(c.license.as_deref()) {
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

fn file(f: &FileComponent, kind: &str) -> Value {
    let mut v = json!({ "type": kind, "bom-ref": format!("file:{}", f.path), "name": f.name });
    if let Some(ver) = &f.version {
        v["version"] = json!(ver);
    }
    v["hashes"] = json!([{ "alg": "SHA-256", "content": f.sha256 }]);
    if let Some(p) = &f.purl {
        v["purl"] = json!(p);
    }
    v["properties"] = json!([{ "name": "watt:path", "value": f.path }]);
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::*;

    pub(crate) fn bom(version: &str, timestamp: Option<u64>) -> Bom {
        let file = |name: &str, path: &str| FileComponent {
            name: name.into(),
            version: Some("1".into()),
            purl: None,
            path: path.into(),
            sha256: "0".repeat(64),
        };
        Bom {
            app: "shop".into(),
            timestamp,
            mtime: 315_532_800,
            npm: vec![NpmComponent {
                name: "@fastify/static".into(),
                version: Some(version.into()),
                license: Some("SEE LICENSE IN x".into()),
                integrity: None,
                resolved: None,
                paths: BTreeSet::from(["app/node_modules/@fastify/static".to_string()]),
                services: BTreeSet::from(["api".to_string(), "web".to_string()]),
                is_service: false,
                depends_on: BTreeSet::new(),
            }],
            node: file("node", "runtime/lib/node"),
            libraries: vec![],
            stub: file("watt-stub", "watt-stub"),
            crates: vec![],
        }
    }

    #[test]
    fn same_content_same_bytes_and_the_serial_follows_the_content() {
        let a = document(&bom("8.1.0", None)).unwrap();
        assert_eq!(a, document(&bom("8.1.0", None)).unwrap());
        let b = document(&bom("8.1.1", None)).unwrap();
        let serial = |d: &[u8]| serde_json::from_slice::<Value>(d).unwrap()["serialNumber"].clone();
        assert_ne!(serial(&a), serial(&b));
        let doc: Value = serde_json::from_slice(&a).unwrap();
        assert!(doc["metadata"].get("timestamp").is_none());
        let c = doc["components"][0].clone();
        assert_eq!(c["group"], "@fastify");
        assert_eq!(c["name"], "static");
        assert_eq!(c["licenses"][0]["license"]["name"], "SEE LICENSE IN x");
        let services: Vec<_> = c["properties"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "watt:service")
            .map(|p| p["value"].as_str().unwrap())
            .collect();
        assert_eq!(services, ["api", "web"]);
        let dated: Value =
            serde_json::from_slice(&document(&bom("8.1.0", Some(1_700_000_000))).unwrap()).unwrap();
        assert_eq!(dated["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    }
}
