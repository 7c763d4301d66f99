//! The SBOM's dependency graph: which shipped package each dependency a shipped package
//! declares resolves to, found the way Node finds it. A package copied from the host is
//! looked up from its host folder (`<dir>/node_modules/<dep>`, then each parent's, links
//! followed), which is exact for npm, nested and pnpm layouts alike; one that exists only in
//! the artifact (a framework's traced `node_modules`) by the same walk over artifact paths. A
//! dependency that does not ship (optional, or cut with Watt's runtime) has no edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A component: (name, version).
pub(crate) type Key = (String, Option<String>);

/// One shipped package folder.
pub(crate) struct Folder<'a> {
    /// Its artifact path.
    pub dir: &'a str,
    /// Where it was copied from, when it came from the host as a whole.
    pub host: Option<&'a Path>,
    pub key: Key,
    /// The names it declares in `dependencies` and `optionalDependencies`.
    pub declares: &'a [String],
}

/// Each component's resolved dependencies.
pub(crate) fn edges(folders: &[Folder<'_>]) -> BTreeMap<Key, BTreeSet<Key>> {
    let by_dir: BTreeMap<&str, &Key> = folders.iter().map(|f| (f.dir, &f.key)).collect();
    let by_host: BTreeMap<PathBuf, &Key> = folders
        .iter()
        .filter_map(|f| Some((std::fs::canonicalize(f.host?).ok()?, &f.key)))
        .collect();
    let mut out: BTreeMap<Key, BTreeSet<Key>> = BTreeMap::new();
    for f in folders {
        let deps = out.entry(f.key.clone()).or_default();
        for name in f.declares {
            let found = match f.host {
                Some(host) => on_host(host, name).and_then(|p| by_host.get(&p).copied()),
                None => in_artifact(f.dir, name, &by_dir),
            };
            if let Some(k) = found.filter(|k| **k != f.key) {
                deps.insert(k.clone());
            }
        }
    }
    out
}

/// Node's lookup of `name` from `dir`: the first `node_modules/<name>` up the tree, canonical.
fn on_host(dir: &Path, name: &str) -> Option<PathBuf> {
    dir.ancestors()
        .filter(|a| a.file_name().is_none_or(|n| n != "node_modules"))
        .map(|a| a.join("node_modules").join(name))
        .find(|c| c.join("package.json").is_file() || c.is_dir())
        .and_then(|c| std::fs::canonicalize(c).ok())
}

/// The same walk over artifact paths.
fn in_artifact<'a>(dir: &str, name: &str, by_dir: &BTreeMap<&str, &'a Key>) -> Option<&'a Key> {
    let mut at = Some(dir);
    while let Some(a) = at {
        if !a.ends_with("node_modules") {
            if let Some(k) = by_dir.get(format!("{a}/node_modules/{name}").as_str()) {
                return Some(k);
            }
        }
        at = a.rsplit_once('/').map(|(parent, _)| parent);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str, v: &str) -> Key {
        (n.to_string(), Some(v.to_string()))
    }

    #[test]
    fn dependencies_resolve_as_node_finds_them_on_the_host_and_in_the_artifact() {
        let d = tempfile::tempdir().unwrap();
        let mk = |p: &str| {
            let dir = d.path().join(p);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("package.json"), "{}").unwrap();
            dir
        };
        // npm: a nested copy wins over the hoisted one.
        let a = mk("node_modules/a");
        let b1 = mk("node_modules/b");
        let b2 = mk("node_modules/a/node_modules/b");
        // pnpm: the dependency is a link beside the package in the store.
        let p = mk("node_modules/.pnpm/p@1/node_modules/p");
        let q = mk("node_modules/.pnpm/q@2/node_modules/q");
        std::os::unix::fs::symlink(
            "../../q@2/node_modules/q",
            d.path().join("node_modules/.pnpm/p@1/node_modules/q"),
        )
        .unwrap();
        let ab = ["b".to_string(), "missing".to_string()];
        let pq = ["q".to_string()];
        let none: [String; 0] = [];
        let folders = [
            Folder {
                dir: "app/node_modules/a",
                host: Some(&a),
                key: key("a", "1"),
                declares: &ab,
            },
            Folder {
                dir: "app/node_modules/b",
                host: Some(&b1),
                key: key("b", "1"),
                declares: &none,
            },
            Folder {
                dir: "app/node_modules/a/node_modules/b",
                host: Some(&b2),
                key: key("b", "2"),
                declares: &none,
            },
            Folder {
                dir: "app/node_modules/.pnpm/p@1/node_modules/p",
                host: Some(&p),
                key: key("p", "1"),
                declares: &pq,
            },
            Folder {
                dir: "app/node_modules/.pnpm/q@2/node_modules/q",
                host: Some(&q),
                key: key("q", "2"),
                declares: &none,
            },
            // Only in the artifact: a traced node_modules.
            Folder {
                dir: "app/web/.next/standalone/node_modules/next",
                host: None,
                key: key("next", "16"),
                declares: &ab,
            },
            Folder {
                dir: "app/web/.next/standalone/node_modules/b",
                host: None,
                key: key("b", "3"),
                declares: &none,
            },
        ];
        let g = edges(&folders);
        assert_eq!(g[&key("a", "1")], BTreeSet::from([key("b", "2")]));
        assert_eq!(g[&key("p", "1")], BTreeSet::from([key("q", "2")]));
        assert_eq!(g[&key("next", "16")], BTreeSet::from([key("b", "3")]));
        assert!(g[&key("b", "1")].is_empty());
    }
}
