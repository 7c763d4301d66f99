//! The SBOM as an OCI 1.1 artifact attached to the image it describes: an image manifest with
//! `artifactType: application/vnd.cyclonedx+json`, the empty config, the SBOM as its one layer
//! and `subject` = the image manifest. Registries with the referrers API list it from
//! `subject`; for the others (the CNCF distribution registry 2.x, Debian's `docker-registry`)
//! the referrers tag schema's fallback applies: an image index at tag `sha256-<image hex>`
//! listing the referrers, which the pusher keeps (other referrers stay, ours is added once).

use serde_json::{json, Value};

use super::blob::sha256;
use super::{Descriptor, MEDIA_INDEX, MEDIA_MANIFEST};

pub const MEDIA_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The empty config: `{}`.
pub const EMPTY: &[u8] = b"{}";

/// The artifact manifest for `sbom` (CycloneDX JSON bytes) about the image `subject`.
pub fn sbom_manifest(sbom: &[u8], subject: &Descriptor) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "artifactType": MEDIA_CYCLONEDX,
        "config": empty_descriptor().to_json(),
        "layers": [{
            "mediaType": MEDIA_CYCLONEDX,
            "digest": sha256(sbom),
            "size": sbom.len(),
            "annotations": { "org.opencontainers.image.title": crate::sbom::CYCLONEDX_FILE },
        }],
        "subject": subject.to_json(),
    })
}

pub fn empty_descriptor() -> Descriptor {
    Descriptor {
        media_type: MEDIA_EMPTY.into(),
        digest: sha256(EMPTY),
        size: EMPTY.len() as u64,
    }
}

/// The referrers tag of an image: `sha256:<hex>` → `sha256-<hex>`.
pub fn fallback_tag(subject: &Descriptor) -> String {
    subject.digest.replacen(':', "-", 1)
}

/// The referrers index with `artifact` (the artifact manifest's descriptor) in it: `existing`
/// (the index at the fallback tag, if any) keeps its entries, ours is added unless present.
pub fn referrers_index(existing: Option<&Value>, artifact: &Descriptor) -> Value {
    let mut manifests: Vec<Value> = existing
        .and_then(|i| i["manifests"].as_array())
        .cloned()
        .unwrap_or_default();
    if !manifests
        .iter()
        .any(|m| m["digest"] == artifact.digest.as_str())
    {
        let mut entry = artifact.to_json();
        entry["artifactType"] = json!(MEDIA_CYCLONEDX);
        manifests.push(entry);
    }
    json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": manifests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Descriptor {
        Descriptor {
            media_type: MEDIA_MANIFEST.into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            size: 1234,
        }
    }

    #[test]
    fn the_artifact_points_at_the_image_and_carries_the_sbom() {
        let m = sbom_manifest(b"{\"bomFormat\":\"CycloneDX\"}", &image());
        assert_eq!(m["artifactType"], MEDIA_CYCLONEDX);
        assert_eq!(m["subject"]["digest"], image().digest.as_str());
        assert_eq!(m["subject"]["size"], 1234);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["layers"][0]["size"], 25);
        assert_eq!(
            fallback_tag(&image()),
            format!("sha256-{}", "ab".repeat(32))
        );
    }

    #[test]
    fn the_referrers_index_keeps_other_referrers_and_lists_ours_once() {
        let ours = Descriptor {
            media_type: MEDIA_MANIFEST.into(),
            digest: "sha256:01".into(),
            size: 9,
        };
        let other = json!({ "manifests": [{ "mediaType": MEDIA_MANIFEST, "digest": "sha256:02",
            "size": 3, "artifactType": "application/vnd.dev.cosign.simplesigning.v1+json" }] });
        let index = referrers_index(Some(&other), &ours);
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(index["manifests"][1]["artifactType"], MEDIA_CYCLONEDX);
        let again = referrers_index(Some(&index), &ours);
        assert_eq!(again, index);
        assert_eq!(referrers_index(None, &ours)["mediaType"], MEDIA_INDEX);
    }
}
