//! watt-stub's crates, as `packer/build.rs` had Cargo resolve them when this packer was built.

use serde::Deserialize;

use super::Crate;

#[derive(Deserialize)]
pub(crate) struct StubCrates {
    pub version: String,
    pub license: Option<String>,
    pub crates: Vec<Crate>,
}

const STUB_CRATES: &str = include_str!(concat!(env!("OUT_DIR"), "/stub_crates.json"));

pub(crate) fn stub_crates() -> StubCrates {
    // Written by our own build script: malformed would be a bug caught by every test.
    serde_json::from_str(STUB_CRATES).expect("packer/build.rs writes valid stub_crates.json")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stub_is_made_of_its_linked_crates_only() {
        let s = super::stub_crates();
        let names: Vec<_> = s.crates.iter().map(|c| c.name.as_str()).collect();
        // Direct dependencies of runtime-stub/Cargo.toml, and one crate only hyper pulls in.
        for want in [
            "hyper",
            "tokio",
            "prometheus-client",
            "watt-manifest",
            "httparse",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        // Dev-dependencies, the packer's own crates and proc-macros are not linked into it.
        for not in [
            "ureq",
            "tungstenite",
            "tempfile",
            "clap",
            "oci-client",
            "serde_derive",
        ] {
            assert!(!names.contains(&not), "{not} listed: {names:?}");
        }
        let hyper = s.crates.iter().find(|c| c.name == "hyper").unwrap();
        assert!(hyper.registry && hyper.sha256.as_ref().is_some_and(|h| h.len() == 64));
        let manifest = s.crates.iter().find(|c| c.name == "watt-manifest").unwrap();
        assert!(!manifest.registry && manifest.sha256.is_none());
    }
}
