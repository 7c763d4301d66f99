//! The few package.json fields the closure needs.
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ClosureError;

/// How strongly a package needs one of its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Need {
    /// `dependencies`: missing is an error.
    Required,
    /// `optionalDependencies`: missing is fine (npm skips optional dependencies that cannot
    /// install, e.g. platform-specific ones).
    Optional,
    /// A peer: followed when installed. npm ≥ 7 and pnpm install peers with their dependent, so
    /// an installed peer is what production gets.
    Peer,
    /// A peer marked optional in `peerDependenciesMeta` (or listed only there, as `debug` does
    /// with `supports-color`). Package managers never install these for the dependent: when one
    /// is installed it is because something else wants it, often a devDependency (typescript is
    /// the usual one), so it is followed only when production ships it anyway.
    OptionalPeer,
}

#[derive(Debug, Default)]
pub(super) struct Manifest {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Sorted by name so the walk, and therefore the output, is deterministic.
    pub needs: BTreeMap<String, Need>,
}

impl Manifest {
    /// Reads `<dir>/package.json`. A folder without one is a package with no dependencies: Node
    /// resolves such folders too (through `index.js`).
    pub fn read(dir: &Path, with_peers: bool) -> Result<Manifest, ClosureError> {
        let path = dir.join("package.json");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(source) => return Err(ClosureError::Io { path, source }),
        };
        let json: Value = serde_json::from_str(&text).map_err(|source| ClosureError::Manifest {
            path: path.clone(),
            source,
        })?;
        Ok(Manifest::from_json(&json, with_peers))
    }

    fn from_json(json: &Value, with_peers: bool) -> Manifest {
        let string = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        let keys = |key: &str| -> Vec<String> {
            json.get(key)
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut needs = BTreeMap::new();
        if with_peers {
            for name in keys("peerDependencies") {
                needs.insert(name, Need::Peer);
            }
            if let Some(meta) = json.get("peerDependenciesMeta").and_then(Value::as_object) {
                for (name, m) in meta {
                    if m.get("optional").and_then(Value::as_bool) == Some(true) {
                        needs.insert(name.clone(), Need::OptionalPeer);
                    }
                }
            }
        }
        for name in keys("dependencies") {
            needs.insert(name, Need::Required);
        }
        // npm lists optional deps in both maps; optional wins so a skipped install is no error.
        for name in keys("optionalDependencies") {
            needs.insert(name, Need::Optional);
        }
        Manifest {
            name: string("name"),
            version: string("version"),
            needs,
        }
    }
}

/// Accepts `name` and `@scope/name`, rejecting anything that could climb out of `node_modules`
/// once joined to a path (a hostile or broken package.json must not make us read elsewhere).
pub(super) fn valid_name(name: &str) -> bool {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && !p.contains(['/', '\\', '\0'])
            && p != "node_modules"
    };
    match name.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, pkg)) => ok_part(scope) && ok_part(pkg),
            None => false,
        },
        None => ok_part(name),
    }
}

pub(super) fn name_path(name: &str) -> PathBuf {
    name.split('/').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("ms"));
        assert!(valid_name("@app/shared"));
        assert!(!valid_name("@app"));
        assert!(!valid_name("../x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("@a/../b"));
        assert!(!valid_name(""));
        assert!(!valid_name(".."));
    }

    #[test]
    fn optional_wins_over_required_and_peers_only_when_asked() {
        let json = serde_json::json!({
            "name": "x", "version": "1.0.0",
            "dependencies": { "a": "1", "b": "1" },
            "optionalDependencies": { "b": "1" },
            "peerDependencies": { "a": "1", "c": "1", "d": "1" },
            "peerDependenciesMeta": { "d": { "optional": true }, "e": { "optional": true }, "f": {} },
        });
        let m = Manifest::from_json(&json, true);
        let got: Vec<_> = m.needs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let want = [
            ("a", Need::Required),
            ("b", Need::Optional),
            ("c", Need::Peer),
            ("d", Need::OptionalPeer),
            ("e", Need::OptionalPeer),
        ];
        assert_eq!(got, want);
        let m = Manifest::from_json(&json, false);
        assert_eq!(m.needs.len(), 2);
    }
}
