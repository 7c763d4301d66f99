//! The packed app as ordered layers, least to most often changing, each a [`Tree`] with a name
//! and an owner. Image sinks keep the layers (so a code change re-uploads only its service's
//! layer); the archive sink flattens them. Both see the same files.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::tree::{describe, Entry, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// node, its shared libraries and loader (plus, in images, `/etc/passwd`, `/etc/group`, `/tmp`).
    Runtime,
    /// watt-stub and the JS files it loads into services.
    Stub,
    /// Production `node_modules` shared by one set of services.
    Dependencies,
    /// One service's own files.
    Application,
    /// The app manifest and the app root's package.json.
    Manifest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Runtime => "runtime",
            Kind::Stub => "stub",
            Kind::Dependencies => "dependencies",
            Kind::Application => "application",
            Kind::Manifest => "manifest",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Layer {
    /// Unique within the app: `runtime`, `stub`, `dependencies-shared`, `app-<service>`, …
    pub name: String,
    pub kind: Kind,
    /// Who put the files there, for conflict messages and image history: `service "api"`,
    /// `dependencies of api, catalog`, `watt-stub`, …
    pub owner: String,
    pub tree: Tree,
}

impl Layer {
    pub fn new(name: impl Into<String>, kind: Kind, owner: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            owner: owner.into(),
            tree: Tree::new(),
        }
    }
}

/// Check that no two layers put different things at one path (the error names both owners),
/// drop from later layers what an earlier layer already holds identically (a workspace package
/// that is also a service's folder ships once), and drop layers left empty.
pub fn settle(layers: Vec<Layer>) -> Result<Vec<Layer>> {
    let mut claimed: BTreeMap<String, (usize, Entry)> = BTreeMap::new();
    let mut out: Vec<Layer> = Vec::with_capacity(layers.len());
    for mut layer in layers {
        let index = out.len();
        let mut conflict = None;
        layer.tree.retain(|path, entry| {
            if matches!(entry, Entry::Dir) {
                return true;
            }
            match claimed.get(path) {
                None => {
                    claimed.insert(path.to_string(), (index, entry.clone()));
                    true
                }
                Some((_, earlier)) if earlier == entry => false,
                Some((i, earlier)) => {
                    conflict.get_or_insert((path.to_string(), *i, earlier.clone(), entry.clone()));
                    true
                }
            }
        });
        if let Some((path, i, earlier, entry)) = conflict {
            bail!(
                "two layers put different things at {path}: {} ({}) in layer {}, and {} ({}) in \
                 layer {}; make one of them own the path",
                out[i].owner,
                describe(&earlier),
                out[i].name,
                layer.owner,
                describe(&entry),
                layer.name
            );
        }
        if layer.tree.entries().any(|(_, e)| !matches!(e, Entry::Dir)) {
            out.push(layer);
        }
    }
    Ok(out)
}

/// One tree holding every layer's files: what the archive sink writes.
pub fn flatten(layers: &[Layer]) -> Result<Tree> {
    let mut tree = Tree::new();
    for layer in layers {
        tree.merge(&layer.tree)?;
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, files: &[(&str, &str)]) -> Layer {
        let mut l = Layer::new(name, Kind::Application, format!("service \"{name}\""));
        for (p, text) in files {
            l.tree
                .add_bytes(p, text.as_bytes().to_vec(), false)
                .unwrap();
        }
        l
    }

    #[test]
    fn a_path_two_layers_disagree_on_names_both_owners() {
        let err = settle(vec![
            layer("web", &[("app/shared/x.js", "one")]),
            layer("api", &[("app/shared/x.js", "two")]),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("app/shared/x.js"), "{err}");
        assert!(
            err.contains("service \"web\"") && err.contains("service \"api\""),
            "{err}"
        );
    }

    #[test]
    fn identical_files_ship_once_in_the_earlier_layer() {
        let layers = settle(vec![
            layer("deps", &[("app/node_modules/a/i.js", "a")]),
            layer(
                "api",
                &[("app/node_modules/a/i.js", "a"), ("app/api/i.js", "b")],
            ),
            layer("empty", &[("app/node_modules/a/i.js", "a")]),
        ])
        .unwrap();
        let names: Vec<_> = layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["deps", "api"]);
        assert!(layers[1].tree.get("app/node_modules/a/i.js").is_none());
        let flat = flatten(&layers).unwrap();
        assert!(flat.get("app/node_modules/a/i.js").is_some());
        assert!(flat.get("app/api/i.js").is_some());
    }
}
