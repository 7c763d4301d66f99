//! The walk: Node's lookup on the build machine, and where each package found lands.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::paths;

use super::manifest::{name_path, valid_name, Manifest, Need};
use super::{Closure, ClosureError, ClosureRequest, Link, PackageDir};

/// Guards against endless nesting when placing packages copied from outside root; real trees
/// are nowhere near this deep.
const MAX_DEPTH: usize = 200;

pub(super) fn production_closure(req: &ClosureRequest) -> Result<Closure, ClosureError> {
    // Canonical already by contract; made sure of because every "inside root?" question below
    // compares real paths with it.
    let root = &canonical(req.root)?;
    let service = &canonical(req.service_dir)?;
    if !service.starts_with(root) {
        return Err(ClosureError::ServiceOutsideRoot {
            service: service.to_path_buf(),
            root: root.to_path_buf(),
        });
    }
    let mut graph = Graph {
        root,
        exclude: req.exclude.iter().map(String::as_str).collect(),
        manifests: BTreeMap::new(),
        edges: BTreeMap::new(),
    };
    let mut roots = graph.service_edges(service, req.extra)?;
    // What the service's code imports ships whatever package.json says (an undeclared package
    // hoisted by someone else, a Watt package the app uses itself). A miss is left to the
    // import check, which names the file.
    for (name, from) in req.imported {
        if !valid_name(name) || roots.iter().any(|e| &e.name == name) {
            continue;
        }
        let from = canonical(from).unwrap_or_else(|_| service.to_path_buf());
        if let Some(edge) = resolve(&from, name, Need::Optional)? {
            roots.push(edge);
        }
    }

    // Optional peers are followed only to packages production ships anyway, which is known
    // once the rest is walked. Following them adds no package, only the links and copies that
    // let their dependents see them, so a second walk with them settles it.
    let first = Layout::walk(&mut graph, &roots, &BTreeSet::new())?;
    let shipped: BTreeSet<PathBuf> = first.packages.values().map(|p| p.source.clone()).collect();
    let wanted: BTreeSet<PathBuf> = first
        .optional_peers
        .intersection(&shipped)
        .cloned()
        .collect();
    let layout = if wanted.is_empty() {
        first
    } else {
        Layout::walk(&mut graph, &roots, &wanted)?
    };
    Ok(Closure {
        packages: layout.packages.into_values().collect(),
        links: layout
            .links
            .into_iter()
            .map(|(path, target)| Link { path, target })
            .collect(),
    })
}

/// A resolved dependency of one package.
#[derive(Debug)]
struct Edge {
    name: String,
    need: Need,
    /// Where Node found it: `<dir>/node_modules/<name>`, not resolved through links.
    found: PathBuf,
    /// Its real folder.
    real: PathBuf,
}

/// What is installed: each real folder's manifest and resolved dependencies, read once.
struct Graph<'a> {
    root: &'a Path,
    exclude: BTreeSet<&'a str>,
    manifests: BTreeMap<PathBuf, Rc<Manifest>>,
    edges: BTreeMap<PathBuf, Rc<[Edge]>>,
}

impl Graph<'_> {
    fn manifest(&mut self, real: &Path) -> Result<Rc<Manifest>, ClosureError> {
        if let Some(m) = self.manifests.get(real) {
            return Ok(Rc::clone(m));
        }
        let m = Rc::new(Manifest::read(real, true)?);
        self.manifests.insert(real.to_path_buf(), Rc::clone(&m));
        Ok(m)
    }

    /// The roots: the service's dependencies, optional dependencies and the extras.
    fn service_edges(
        &mut self,
        service: &Path,
        extra: &[String],
    ) -> Result<Vec<Edge>, ClosureError> {
        // Node reads the nearest package.json: a service without one runs with the app's.
        let manifest_dir = service
            .ancestors()
            .take_while(|d| d.starts_with(self.root))
            .find(|d| d.join("package.json").is_file())
            .unwrap_or(service)
            .to_path_buf();
        let manifest = Manifest::read(&manifest_dir, false)?;
        let mut needs: BTreeMap<&str, Need> = manifest
            .needs
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        let mut extras = BTreeSet::new();
        for name in extra {
            if !needs.contains_key(name.as_str()) {
                extras.insert(name.as_str());
            }
            needs.insert(name, Need::Required);
        }
        let mut edges = Vec::new();
        for (name, need) in needs {
            // A capability run through its own package asks for it as an extra.
            if self.exclude.contains(name) && !extra.iter().any(|e| e == name) {
                continue;
            }
            check_name(name, service)?;
            match resolve(service, name, need)? {
                Some(edge) => edges.push(edge),
                None if need != Need::Required => {}
                None if extras.contains(name) => {
                    return Err(ClosureError::MissingExtra {
                        name: name.to_owned(),
                        service: self.shown(service),
                    })
                }
                None => {
                    return Err(ClosureError::Missing {
                        name: name.to_owned(),
                        required_by: format!(
                            "the service {} ({})",
                            self.shown(service).display(),
                            self.shown(&manifest_dir.join("package.json")).display()
                        ),
                        from: self.shown(service),
                    })
                }
            }
        }
        Ok(edges)
    }

    /// A package's dependencies, optional dependencies and installed peers, resolved from its
    /// real folder, in name order.
    fn package_edges(&mut self, real: &Path) -> Result<Rc<[Edge]>, ClosureError> {
        if let Some(e) = self.edges.get(real) {
            return Ok(Rc::clone(e));
        }
        let manifest = self.manifest(real)?;
        let mut edges = Vec::new();
        for (name, &need) in &manifest.needs {
            check_name(name, real)?;
            // Watt's runtime packages ship when a shipped package needs them, but one the
            // install left out is the stub's to replace, not an error.
            let need = if self.exclude.contains(name.as_str()) && need == Need::Required {
                Need::Optional
            } else {
                need
            };
            match resolve(real, name, need)? {
                Some(edge) => edges.push(edge),
                None if need != Need::Required => {}
                None => {
                    let who = match (&manifest.name, &manifest.version) {
                        (Some(n), Some(v)) => format!("`{n}@{v}`"),
                        (Some(n), None) => format!("`{n}`"),
                        _ => "the package".to_owned(),
                    };
                    return Err(ClosureError::Missing {
                        name: name.clone(),
                        required_by: format!(
                            "{who} ({})",
                            self.shown(&real.join("package.json")).display()
                        ),
                        from: self.shown(real),
                    });
                }
            }
        }
        let edges: Rc<[Edge]> = edges.into();
        self.edges.insert(real.to_path_buf(), Rc::clone(&edges));
        Ok(edges)
    }

    fn shown(&self, path: &Path) -> PathBuf {
        paths::shown(self.root, path)
    }
}

/// `found`, the `node_modules/<name>` Node reached from `source` on disk, at the same place
/// relative to `at`, `source`'s place in the artifact: a package nested under its requirer
/// stays nested, one hoisted above the requirer sits as many folders above `at`. None when
/// `at` does not end the way `source` does below that folder.
fn mirrored(at: &Path, source: &Path, found: &Path, name: &Path) -> Option<PathBuf> {
    // `found` is `<holder>/node_modules/<name>`, and `<holder>` is `source` or above it.
    let holder = found.ancestors().nth(name.components().count() + 1)?;
    let below = source.strip_prefix(holder).ok()?;
    if !at.ends_with(below) {
        return None;
    }
    let base = at.ancestors().nth(below.components().count())?;
    Some(base.join("node_modules").join(name))
}

/// Where everything lands in the artifact.
struct Layout {
    root: PathBuf,
    /// By `dest`.
    packages: BTreeMap<PathBuf, PackageDir>,
    /// Link path → link text.
    links: BTreeMap<PathBuf, PathBuf>,
    /// Artifact path of a `node_modules/<name>` entry → the real folder it will hold, whether as
    /// a copied folder or through a link: what Node will find there after packing.
    slots: BTreeMap<PathBuf, PathBuf>,
    /// Real folders of the installed optional peers seen on the way.
    optional_peers: BTreeSet<PathBuf>,
    /// Real folders inside root still to walk.
    inside: VecDeque<PathBuf>,
    /// Destinations of packages copied from outside root still to walk.
    outside: VecDeque<PathBuf>,
}

impl Layout {
    /// Walks from `roots`, following optional peers only to the real folders in `peers`.
    fn walk(
        graph: &mut Graph,
        roots: &[Edge],
        peers: &BTreeSet<PathBuf>,
    ) -> Result<Layout, ClosureError> {
        let mut layout = Layout {
            root: graph.root.to_path_buf(),
            packages: BTreeMap::new(),
            links: BTreeMap::new(),
            slots: BTreeMap::new(),
            optional_peers: BTreeSet::new(),
            inside: VecDeque::new(),
            outside: VecDeque::new(),
        };
        let follows = |layout: &mut Layout, edge: &Edge| {
            if edge.need != Need::OptionalPeer {
                return true;
            }
            layout.optional_peers.insert(edge.real.clone());
            peers.contains(&edge.real)
        };

        // Phase 1: everything reachable through real folders inside root. Where those land is
        // dictated by the disk, so it is settled before anything is placed by choice.
        for edge in roots {
            layout.follow_from_disk(graph, edge)?;
        }
        let mut walked = BTreeSet::new();
        while let Some(real) = layout.inside.pop_front() {
            if !walked.insert(real.clone()) {
                continue;
            }
            for edge in graph.package_edges(&real)?.iter() {
                if follows(&mut layout, edge) {
                    layout.follow_from_disk(graph, edge)?;
                }
            }
        }

        // Phase 2: packages copied in from outside root, breadth first, so that every slot a
        // package's lookups pass through is final before its own dependencies are placed.
        let mut placed = BTreeSet::new();
        while let Some(dest) = layout.outside.pop_front() {
            if !placed.insert(dest.clone()) {
                continue;
            }
            let Some(source) = layout.packages.get(&dest).map(|p| p.source.clone()) else {
                continue;
            };
            for edge in graph.package_edges(&source)?.iter() {
                if follows(&mut layout, edge) {
                    layout.place_in_artifact(graph, &dest, &source, edge)?;
                }
            }
        }
        layout.check_no_copy_through_links()?;
        Ok(layout)
    }

    /// Phase 1: ships a dependency of a package that lives inside root at the place the disk
    /// gives it. Walks the found path component by component like `realpath`, keeping each link
    /// that stays inside root, until either the real folder (shipped in place) or a link leaving
    /// root (whose target is copied in at the link's place) is reached.
    fn follow_from_disk(&mut self, graph: &mut Graph, edge: &Edge) -> Result<(), ClosureError> {
        let root = self.root.clone();
        let Ok(rel) = edge.found.strip_prefix(&root) else {
            // Hoisted to a node_modules above root (root is a folder of a larger workspace):
            // lookups from inside root all pass root/node_modules before going there.
            let slot = Path::new("node_modules").join(name_path(&edge.name));
            if edge.real.starts_with(&root) {
                // A package of the enclosing workspace that lives inside root: link to it.
                let dir = root
                    .join(&slot)
                    .parent()
                    .map_or_else(|| root.clone(), Path::to_path_buf);
                self.add_link(slot.clone(), paths::relative(&dir, &edge.real))?;
                self.ship_in_place(graph, &edge.name, slot, &edge.real)?;
            } else {
                self.add_copy(graph, &edge.name, &slot, &edge.real)?;
            }
            return Ok(());
        };
        let mut cur = root.clone();
        let components: Vec<Component> = rel.components().collect();
        for (i, component) in components.iter().enumerate() {
            let next = cur.join(component);
            let meta = fs::symlink_metadata(&next).map_err(|source| ClosureError::Io {
                path: next.clone(),
                source,
            })?;
            if !meta.is_symlink() {
                cur = next;
                continue;
            }
            let real = canonical(&next)?;
            if real.starts_with(&root) {
                let text = fs::read_link(&next).map_err(|source| ClosureError::Io {
                    path: next.clone(),
                    source,
                })?;
                let text = paths::portable_link_text(&root, &next, &text, &real);
                self.add_link(paths::rel_or_whole(&root, &next), text)?;
                cur = real;
            } else {
                let mut dest = paths::rel_or_whole(&root, &next);
                dest.extend(&components[i + 1..]);
                self.slots
                    .insert(paths::rel_or_whole(&root, &edge.found), edge.real.clone());
                return self.add_copy(graph, &edge.name, &dest, &edge.real);
            }
        }
        self.ship_in_place(
            graph,
            &edge.name,
            paths::rel_or_whole(&root, &edge.found),
            &cur,
        )
    }

    /// Ships `real` (inside root) where it is; Node's lookups also find it at `slot`.
    fn ship_in_place(
        &mut self,
        graph: &mut Graph,
        required_as: &str,
        slot: PathBuf,
        real: &Path,
    ) -> Result<(), ClosureError> {
        self.slots.insert(slot, real.to_path_buf());
        let dest = paths::rel_or_whole(&self.root, real);
        self.slots.insert(dest.clone(), real.to_path_buf());
        self.add_package(graph, required_as, dest, real)?;
        self.inside.push_back(real.to_path_buf());
        Ok(())
    }

    /// Phase 2: ships a dependency of a package copied in at `at` (from outside root, its real
    /// folder `source`). Looks up the artifact as Node will from `at`: if the nearest
    /// `node_modules/<name>` already holds this very folder, nothing to do; if it holds another
    /// one, the dependency goes into `at/node_modules`, which wins; if there is none, where the
    /// disk has it relative to `source` (see [`mirrored`]), so that every service, whatever
    /// else its closure holds, makes the same choice; failing that, into `node_modules` at the
    /// root, where other copied packages can share it.
    fn place_in_artifact(
        &mut self,
        graph: &mut Graph,
        at: &Path,
        source: &Path,
        edge: &Edge,
    ) -> Result<(), ClosureError> {
        let name = name_path(&edge.name);
        let mut nearest = None;
        for dir in at.ancestors() {
            if dir.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            if let Some(holds) = self.slots.get(&dir.join("node_modules").join(&name)) {
                nearest = Some(holds == &edge.real);
                break;
            }
        }
        let dest = match nearest {
            Some(true) => return Ok(()),
            Some(false) => at.join("node_modules").join(&name),
            None => mirrored(at, source, &edge.found, &name)
                .unwrap_or_else(|| Path::new("node_modules").join(&name)),
        };
        if dest.components().count() > MAX_DEPTH {
            return Err(ClosureError::TooDeep {
                name: edge.name.clone(),
                dest,
                from: edge.real.clone(),
            });
        }
        self.add_copy(graph, &edge.name, &dest, &edge.real)
    }

    /// Ships `real` as real files at `dest`, to be walked in phase 2.
    fn add_copy(
        &mut self,
        graph: &mut Graph,
        required_as: &str,
        dest: &Path,
        real: &Path,
    ) -> Result<(), ClosureError> {
        self.slots.insert(dest.to_path_buf(), real.to_path_buf());
        self.add_package(graph, required_as, dest.to_path_buf(), real)?;
        self.outside.push_back(dest.to_path_buf());
        Ok(())
    }

    fn add_package(
        &mut self,
        graph: &mut Graph,
        required_as: &str,
        dest: PathBuf,
        source: &Path,
    ) -> Result<(), ClosureError> {
        if let Some(existing) = self.packages.get(&dest) {
            if existing.source == source {
                return Ok(());
            }
            return Err(ClosureError::Conflict {
                dest,
                first: existing.source.clone(),
                second: source.to_path_buf(),
            });
        }
        let manifest = graph.manifest(source)?;
        let name = manifest
            .name
            .clone()
            .unwrap_or_else(|| required_as.to_owned());
        let version = manifest.version.clone();
        self.packages.insert(
            dest.clone(),
            PackageDir {
                name,
                version,
                dest,
                source: source.to_path_buf(),
            },
        );
        Ok(())
    }

    fn add_link(&mut self, path: PathBuf, target: PathBuf) -> Result<(), ClosureError> {
        match self.links.get(&path) {
            Some(existing) if existing != &target => Err(ClosureError::Conflict {
                dest: path,
                first: existing.clone(),
                second: target,
            }),
            Some(_) => Ok(()),
            None => {
                self.links.insert(path, target);
                Ok(())
            }
        }
    }

    /// A package placed at or under a link would be written through it when packing. Only
    /// exotic trees get here (a scope folder that is itself a link, say), but then refusing
    /// beats shipping a tree that resolves differently.
    fn check_no_copy_through_links(&self) -> Result<(), ClosureError> {
        for dest in self.packages.keys() {
            for above in dest.ancestors() {
                if let Some(target) = self.links.get(above) {
                    return Err(ClosureError::ThroughLink {
                        dest: dest.clone(),
                        link: above.to_path_buf(),
                        target: target.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn check_name(name: &str, dir: &Path) -> Result<(), ClosureError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ClosureError::InvalidName {
            name: name.to_owned(),
            manifest: dir.join("package.json"),
        })
    }
}

/// Node's lookup for a bare specifier: `<dir>/node_modules/<name>` for `from` and each folder
/// above it, skipping folders that are themselves called `node_modules`.
fn resolve(from: &Path, name: &str, need: Need) -> Result<Option<Edge>, ClosureError> {
    let name_path = name_path(name);
    for dir in from.ancestors() {
        if dir.file_name().is_some_and(|n| n == "node_modules") {
            continue;
        }
        let found = dir.join("node_modules").join(&name_path);
        // Dangling links and files are no package: Node moves on to the next folder too.
        if fs::metadata(&found).is_ok_and(|m| m.is_dir()) {
            let real = canonical(&found)?;
            return Ok(Some(Edge {
                name: name.to_owned(),
                need,
                found,
                real,
            }));
        }
    }
    Ok(None)
}

fn canonical(path: &Path) -> Result<PathBuf, ClosureError> {
    fs::canonicalize(path).map_err(|source| ClosureError::Io {
        path: path.to_path_buf(),
        source,
    })
}
