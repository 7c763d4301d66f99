//! The [`BuildInfo`] a binary of this workspace carries in its `.watt_build_info` section:
//! `watt`'s own (for `--version`), and a stub's, read from the file that is packed, so the SBOM
//! and `watt inspect` describe the stub that actually ships, whichever build it came from.

use anyhow::{anyhow, Context, Result};
use object::{Object, ObjectSection};
pub use watt_manifest::build_info::{BuildInfo, Crate, SECTION};

watt_manifest::embed_build_info!();

/// A watt-stub binary to pack and what it is made of, read once when it is located.
pub struct StubBinary {
    pub path: std::path::PathBuf,
    pub info: BuildInfo,
}

/// This `watt`'s own build information.
pub fn own() -> BuildInfo {
    // Written by packer/build.rs and checked by every test that runs `watt --version`.
    serde_json::from_slice(&BUILD_INFO).expect("packer/build.rs writes a valid build_info.json")
}

/// The build information embedded in `binary` (an ELF file such as watt-stub).
pub fn read(binary: &[u8]) -> Result<BuildInfo> {
    let file = object::File::parse(binary).context("not an executable object file")?;
    let section = file
        .section_by_name(SECTION)
        .ok_or_else(|| anyhow!("it has no {SECTION} section"))?;
    let data = section
        .data()
        .context("cannot read its build information")?;
    serde_json::from_slice(data).context("its build information is not valid JSON")
}

/// The dynamic loader an ELF executable asks for (its `PT_INTERP`), `None` when it is static.
pub fn interpreter(binary: &[u8]) -> Result<Option<String>> {
    use object::read::elf::{ElfFile64, ProgramHeader};
    let elf = ElfFile64::<object::Endianness>::parse(binary).context("not a 64-bit ELF file")?;
    for header in elf.elf_program_headers() {
        if let Some(path) = header
            .interpreter(elf.endian(), binary)
            .context("its program headers are damaged")?
        {
            let path = String::from_utf8_lossy(path);
            return Ok(Some(path.trim_end_matches('\0').to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_packer_is_made_of_its_linked_crates_only() {
        let info = super::own();
        assert_eq!(info.name, "watt-pack");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let names: Vec<_> = info.crates.iter().map(|c| c.name.as_str()).collect();
        for want in ["clap", "tokio", "watt-manifest", "object"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        // Proc-macros, build-only crates and dev-dependencies are not linked.
        for not in ["serde_derive", "clap_derive", "thiserror-impl"] {
            assert!(!names.contains(&not), "{not} listed: {names:?}");
        }
        let clap = info.crates.iter().find(|c| c.name == "clap").unwrap();
        assert!(clap.registry && clap.sha256.as_ref().is_some_and(|h| h.len() == 64));
        assert_eq!(clap.license.as_deref(), Some("MIT OR Apache-2.0"));
        let manifest = info
            .crates
            .iter()
            .find(|c| c.name == "watt-manifest")
            .unwrap();
        assert!(!manifest.registry && manifest.sha256.is_none());
    }

    #[test]
    fn a_dynamically_linked_executable_names_its_loader() {
        let sh = std::fs::read("/bin/sh").unwrap();
        let loader = super::interpreter(&sh).unwrap().unwrap();
        assert!(loader.starts_with("/lib"), "{loader}");
        assert!(super::interpreter(b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn a_file_without_the_section_is_named_as_such() {
        let elf = std::fs::read("/bin/sh").unwrap();
        let err = super::read(&elf).unwrap_err().to_string();
        assert!(err.contains(".watt_build_info"), "{err}");
        let err = super::read(b"#!/bin/sh\n").unwrap_err().to_string();
        assert!(err.contains("not an executable"), "{err}");
    }
}
