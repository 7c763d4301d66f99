//! Where a packed app goes. A sink takes the same [`PackedApp`] whatever the format, so adding
//! an output (OCI layout, loadable tar, registry) never touches how the app is packed.

pub mod archive;

use std::path::PathBuf;

use anyhow::Result;

use crate::layers::{flatten, Layer};

/// Everything an artifact holds: its layers (runtime, stub, dependencies, one per service, the
/// manifest at [`watt_manifest::MANIFEST_FILE`]), settled so no two disagree on a path.
pub struct PackedApp {
    pub layers: Vec<Layer>,
    pub manifest: watt_manifest::AppManifest,
    /// The fixed timestamp every file carries (`SOURCE_DATE_EPOCH`, else a constant).
    pub mtime: u64,
    /// Installed production packages that do not ship, each with why (see [`crate::sbom`]).
    pub sbom_omitted: Vec<crate::sbom::Omitted>,
}

pub trait Sink {
    /// Write the app. On error nothing is left where the output was expected.
    fn write(&self, app: &PackedApp) -> Result<()>;
    /// Where it went, for the final progress line.
    fn describe(&self) -> String;
}

pub struct ArchiveSink {
    pub path: PathBuf,
    pub compression: archive::Compression,
}

impl Sink for ArchiveSink {
    fn write(&self, app: &PackedApp) -> Result<()> {
        archive::write_archive_file(
            &flatten(&app.layers)?,
            app.mtime,
            self.compression,
            &self.path,
        )
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
