//! The SPDX 2.3 JSON document (https://spdx.github.io/spdx-spec/v2.3/), the same content as the
//! CycloneDX one: a package per component, the app `CONTAINS` them, the stub its crates.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    cargo_purl, content_uuid, integrity_hashes, npm_purl, rfc3339, spdx_expression, Bom,
    FileComponent, TOOL, TOOL_VERSION,
};

pub(crate) fn document(bom: &Bom) -> Result<Vec<u8>> {
    let mut refs = LicenseRefs::default();
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-App",
        "name": bom.app,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "APPLICATION",
    })];
    let mut relationships = vec![relation("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-App")];
    for (i, c) in bom.npm.iter().enumerate() {
        let id = format!("SPDXRef-npm-{i}");
        let mut p = json!({ "SPDXID": id, "name": c.name });
        if let Some(v) = &c.version {
            p["versionInfo"] = json!(v);
        }
        p["downloadLocation"] = json!(match &c.resolved {
            Some(url) if url.contains("://") => url.as_str(),
            _ => "NOASSERTION",
        });
        p["filesAnalyzed"] = json!(false);
        let sums: Vec<Value> = c
            .integrity
            .as_deref()
            .map(integrity_hashes)
            .unwrap_or_default()
            .into_iter()
            .map(|(alg, hex)| json!({ "algorithm": alg.replace('-', ""), "checksumValue": hex }))
            .collect();
        if !sums.is_empty() {
            p["checksums"] = json!(sums);
        }
        p["licenseConcluded"] = json!("NOASSERTION");
        p["licenseDeclared"] = json!(refs.declared(c.license.as_deref()));
        p["comment"] = json!(format!(
            "services: {}; at: {}",
            c.services.iter().cloned().collect::<Vec<_>>().join(", "),
            c.paths.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        p["externalRefs"] = json!([purl(&npm_purl(&c.name, c.version.as_deref()))]);
        p["primaryPackagePurpose"] = json!(if c.is_service {
            "APPLICATION"
        } else {
            "LIBRARY"
        });
        relationships.push(relation("SPDXRef-App", "CONTAINS", &id));
        packages.push(p);
    }
    let ids: std::collections::BTreeMap<(&str, Option<&str>), String> = bom
        .npm
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                (c.name.as_str(), c.version.as_deref()),
                format!("SPDXRef-npm-{i}"),
            )
        })
        .collect();
    for (i, c) in bom.npm.iter().enumerate() {
        for (n, v) in &c.depends_on {
            if let Some(to) = ids.get(&(n.as_str(), v.as_deref())) {
                relationships.push(relation(&format!("SPDXRef-npm-{i}"), "DEPENDS_ON", to));
            }
        }
    }
    packages.push(file("SPDXRef-node", &bom.node, "APPLICATION"));
    relationships.push(relation("SPDXRef-App", "CONTAINS", "SPDXRef-node"));
    for (i, l) in bom.libraries.iter().enumerate() {
        let id = format!("SPDXRef-lib-{i}");
        packages.push(file(&id, l, "LIBRARY"));
        relationships.push(relation("SPDXRef-App", "CONTAINS", &id));
    }
    packages.push(file("SPDXRef-stub", &bom.stub, "APPLICATION"));
    relationships.push(relation("SPDXRef-App", "CONTAINS", "SPDXRef-stub"));
    for (i, c) in bom.crates.iter().enumerate() {
        let id = format!("SPDXRef-crate-{i}");
        let mut p = json!({
            "SPDXID": id,
            "name": c.name,
            "versionInfo": c.version,
            "downloadLocation": if c.registry {
                format!("https://crates.io/api/v1/crates/{}/{}/download", c.name, c.version)
            } else {
                "NOASSERTION".to_string()
            },
            "filesAnalyzed": false,
        });
        if let Some(h) = &c.sha256 {
            p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": h }]);
        }
        p["licenseConcluded"] = json!("NOASSERTION");
        p["licenseDeclared"] = json!(refs.declared(c.license.as_deref()));
        if c.registry {
            p["externalRefs"] = json!([purl(&cargo_purl(&c.name, &c.version))]);
        }
        p["primaryPackagePurpose"] = json!("LIBRARY");
        relationships.push(relation("SPDXRef-stub", "CONTAINS", &id));
        packages.push(p);
    }

    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": bom.app,
        "documentNamespace": "",
        "creationInfo": {
            "created": rfc3339(bom.timestamp.unwrap_or(bom.mtime)),
            "creators": [format!("Tool: {TOOL}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !refs.0.is_empty() {
        doc["hasExtractedLicensingInfos"] = refs
            .0
            .into_iter()
            .map(|(text, id)| json!({ "licenseId": id, "extractedText": text, "name": text }))
            .collect();
    }
    // Unique per content, and the same for the same artifact.
    let digest = Sha256::digest(serde_json::to_vec(&doc)?);
    doc["documentNamespace"] = json!(format!(
        "https://spdx.org/spdxdocs/{}-{}",
        sanitize(&bom.app),
        content_uuid(&digest)
    ));
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}

/// Licenses that are no SPDX expression (`UNLICENSED`, `SEE LICENSE IN …`) as
/// `LicenseRef-…`, each declared once with its text.
#[derive(Default)]
struct LicenseRefs(BTreeMap<String, String>);

impl LicenseRefs {
    fn declared(&mut self, license: Option<&str>) -> String {
        let Some(l) = license else {
            return "NOASSERTION".into();
        };
        if let Some(e) = spdx_expression(l) {
            return e;
        }
        let n = self.0.len();
        self.0
            .entry(l.to_string())
            .or_insert_with(|| format!("LicenseRef-{}-{n}", sanitize(l)))
            .clone()
    }
}

/// What an SPDX id may hold: letters, digits, `.` and `-`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn purl(locator: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": locator,
    })
}

fn relation(from: &str, kind: &str, to: &str) -> Value {
    json!({ "spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to })
}

fn file(id: &str, f: &FileComponent, purpose: &str) -> Value {
    let mut p = json!({ "SPDXID": id, "name": f.name });
    if let Some(v) = &f.version {
        p["versionInfo"] = json!(v);
    }
    p["downloadLocation"] = json!("NOASSERTION");
    p["filesAnalyzed"] = json!(false);
    p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": f.sha256 }]);
    p["comment"] = json!(format!("at: {}", f.path));
    if let Some(locator) = &f.purl {
        p["externalRefs"] = json!([purl(locator)]);
    }
    p["primaryPackagePurpose"] = json!(purpose);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_that_are_no_expression_become_declared_license_refs() {
        let bom = super::super::cyclonedx::tests::bom("8.1.0", None);
        let doc: Value = serde_json::from_slice(&document(&bom).unwrap()).unwrap();
        let pkg = &doc["packages"][1];
        assert_eq!(pkg["name"], "@fastify/static");
        assert_eq!(pkg["licenseDeclared"], "LicenseRef-SEE-LICENSE-IN-x-0");
        assert_eq!(
            doc["hasExtractedLicensingInfos"][0]["extractedText"],
            "SEE LICENSE IN x"
        );
        assert_eq!(doc["creationInfo"]["created"], "1980-01-01T00:00:00Z");
        assert_eq!(document(&bom).unwrap(), document(&bom).unwrap());
    }
}
