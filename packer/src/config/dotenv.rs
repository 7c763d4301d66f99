//! Env files as `watt` reads them at build time. The parser is shared with the stub
//! (`watt_manifest::dotenv`), which reads the same files at run time.
//!
//! Watt's `loadEnv` (`packages/foundation/lib/configuration.js`, 3.67) looks for `.env` from
//! the config folder upward to the filesystem root, then in the working directory. A packer
//! must not: a `.env` above the app is a developer's, not the app's, and the working directory
//! is wherever `watt build` ran. So the runtime's `.env` is the app root's own, and one found
//! above it is only reported ([`above_root`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use super::{files, ConfigError};

pub use watt_manifest::dotenv::parse;

/// One env file of the app: the runtime's (`.env` in the app root, or its `envfile`) or a
/// service's (`.env` in its folder, or the entry's `envfile`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFile {
    /// Where Watt reads it (absolute), whether or not it exists.
    pub path: PathBuf,
    /// Named by an `envfile` key rather than the default `.env`.
    pub named: bool,
    /// Its variables; empty when the file does not exist. `watt resolve --json` prints the
    /// names only: values may be secrets.
    #[serde(serialize_with = "names_only")]
    pub values: BTreeMap<String, String>,
}

impl EnvFile {
    /// Reads `path` if it is a file; a missing file is an empty one (Watt ignores it).
    pub fn read(path: PathBuf, named: bool) -> Result<Self, ConfigError> {
        let values = if path.is_file() {
            parse(&files::read_text(&path)?)
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            path,
            named,
            values,
        })
    }
}

fn names_only<S: Serializer>(values: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.keys())
}

/// A `.env` above the app root that Watt's upward search would read when the root has none;
/// `watt` never reads it (the build says so). The search stops before the filesystem root, as
/// Watt's does.
pub fn above_root(root: &Path) -> Option<PathBuf> {
    if root.join(".env").is_file() {
        return None;
    }
    root.parent()?
        .ancestors()
        .take_while(|d| d.parent().is_some())
        .map(|d| d.join(".env"))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_empty_and_values_never_serialise() {
        let d = tempfile::tempdir().unwrap();
        let missing = EnvFile::read(d.path().join(".env"), false).unwrap();
        assert!(missing.values.is_empty());
        std::fs::write(d.path().join(".env"), "SECRET=s3cr3t\nOTHER=1\n").unwrap();
        let f = EnvFile::read(d.path().join(".env"), false).unwrap();
        assert_eq!(f.values["SECRET"], "s3cr3t");
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"values\":[\"OTHER\",\"SECRET\"]"), "{json}");
        assert!(!json.contains("s3cr3t"), "{json}");
    }

    #[test]
    fn a_dotenv_above_the_root_is_found_but_only_when_the_root_has_none() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("home/dev/app");
        std::fs::create_dir_all(&root).unwrap();
        assert_eq!(above_root(&root), None);
        std::fs::write(d.path().join("home/.env"), "TOKEN=x").unwrap();
        assert_eq!(above_root(&root), Some(d.path().join("home/.env")));
        std::fs::write(root.join(".env"), "A=1").unwrap();
        assert_eq!(above_root(&root), None);
    }
}
