//! Gathers what the SBOM lists while `pack` lays the artifact out, then writes the documents.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};

use super::graph;
use super::npm::{Lockfile, PackageJson};
use super::omitted::{self, Reach};
use super::{Bom, FileComponent, Formats, NpmComponent, Sbom};
use crate::closure::{Closure, ClosureRequest};
use crate::config::ResolvedService;
use crate::node_runtime::{NodeRuntime, BINARY, LIB_DIR};
use crate::tree::{Entry, Source, Tree};

/// The shipped npm packages by artifact folder, and what the closures reach, for [`Sbom`].
#[derive(Default)]
pub struct Inventory {
    /// Artifact folder of a package → what it is.
    packages: BTreeMap<String, Shipped>,
    reach: Vec<Reach>,
    unshipped: Vec<omitted::UnshippedService>,
}

/// One shipped package folder.
struct Shipped {
    pkg: PackageJson,
    /// The services that load it.
    services: BTreeSet<String>,
    /// A service's own package, not a dependency.
    is_service: bool,
    /// The host folder it was copied from, when it was copied as a whole.
    host: Option<std::path::PathBuf>,
}

impl Shipped {
    fn new(pkg: PackageJson, is_service: bool, host: Option<&Path>) -> Self {
        Shipped {
            pkg,
            services: BTreeSet::new(),
            is_service,
            host: host.map(Path::to_path_buf),
        }
    }
}

/// What [`Inventory::finish`] needs beside the packages.
pub struct Context<'a> {
    pub root: &'a Path,
    pub app: &'a str,
    pub node: &'a NodeRuntime,
    pub stub: &'a crate::build_info::StubBinary,
    /// The artifact path of the stub.
    pub stub_path: &'a str,
    pub mtime: u64,
    pub formats: Formats,
}

impl Inventory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Packages a closure ships: (artifact folder, host folder, services).
    pub fn closure_package(
        &mut self,
        dest: &str,
        source: &Path,
        services: &BTreeSet<String>,
    ) -> Result<()> {
        let path = source.join("package.json");
        let pkg = match std::fs::read(&path) {
            Ok(bytes) => PackageJson::parse(&bytes, &path.display().to_string())?,
            // A folder Node resolves through its index.js: nothing to say but its name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PackageJson::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let entry = self
            .packages
            .entry(dest.to_string())
            .or_insert_with(|| Shipped::new(pkg, false, Some(source)));
        entry.services.extend(services.iter().cloned());
        Ok(())
    }

    /// The packages a service's own layer carries in `node_modules` folders (a framework's
    /// output that brings its own, like Next's standalone trace), and the service's own
    /// package.json.
    pub fn service_layer(&mut self, svc: &ResolvedService, tree: &Tree, root: &Path) -> Result<()> {
        for (path, entry) in tree.entries() {
            let Some(dir) = package_dir(path) else {
                continue;
            };
            let Entry::File { source, .. } = entry else {
                continue;
            };
            let bytes = read_source(source)?;
            let pkg = PackageJson::parse(&bytes, path)?;
            self.packages
                .entry(dir.to_string())
                .or_insert_with(|| Shipped::new(pkg, false, None))
                .services
                .insert(svc.id.clone());
        }
        let own = svc.path.join("package.json");
        let dir = crate::paths::artifact_path(crate::pack::APP_DIR, root, &svc.path)?;
        if own.is_file() && tree.get(&format!("{dir}/package.json")).is_none() {
            let rel = svc.path.strip_prefix(root).unwrap_or(&svc.path);
            self.unshipped.push((
                svc.id.clone(),
                svc.kind.to_string(),
                rel.to_string_lossy().into_owned(),
            ));
        } else if own.is_file() {
            let bytes =
                std::fs::read(&own).with_context(|| format!("cannot read {}", own.display()))?;
            let pkg = PackageJson::parse(&bytes, &own.display().to_string())?;
            let e = self
                .packages
                .entry(dir)
                .or_insert_with(|| Shipped::new(pkg, true, Some(&svc.path)));
            e.services.insert(svc.id.clone());
            e.is_service = true;
        }
        Ok(())
    }

    /// What the service's dependencies reach with and without Watt's runtime packages cut
    /// (`ships`: whether its closure ships, or only its framework's output), to explain the
    /// packages that do not ship.
    /// What `req` reaches; `shipped` is the closure `pack` computed from it when it ships.
    pub fn reach(
        &mut self,
        svc: Option<&ResolvedService>,
        req: &ClosureRequest<'_>,
        shipped: Option<&Closure>,
    ) {
        self.reach.push(Reach::of(svc, req, shipped));
    }

    pub fn finish(self, cx: &Context<'_>) -> Result<Sbom> {
        let lock = Lockfile::read(cx.root)?;
        // One component per name@version, wherever it ships.
        let mut npm: BTreeMap<(String, Option<String>), NpmComponent> = BTreeMap::new();
        let keys: Vec<graph::Key> = self
            .packages
            .iter()
            .map(|(dir, p)| {
                let name = p.pkg.name.clone().unwrap_or_else(|| folder_name(dir));
                (name, p.pkg.version.clone())
            })
            .collect();
        let folders: Vec<graph::Folder<'_>> = self
            .packages
            .iter()
            .zip(&keys)
            .map(|((dir, p), key)| graph::Folder {
                dir,
                host: p.host.as_deref(),
                key: key.clone(),
                declares: &p.pkg.declares,
            })
            .collect();
        let mut depends = graph::edges(&folders);
        for ((dir, p), (name, version)) in self.packages.iter().zip(keys) {
            let locked = lock.get(&name, version.as_deref());
            let c = npm
                .entry((name.clone(), version.clone()))
                .or_insert_with(|| NpmComponent {
                    depends_on: depends
                        .remove(&(name.clone(), version.clone()))
                        .unwrap_or_default(),
                    name,
                    version,
                    license: p.pkg.license.clone(),
                    integrity: locked.and_then(|l| l.integrity.clone()),
                    resolved: locked.and_then(|l| l.resolved.clone()),
                    paths: BTreeSet::new(),
                    services: BTreeSet::new(),
                    is_service: false,
                });
            c.paths.insert(dir.clone());
            c.services.extend(p.services.iter().cloned());
            c.is_service |= p.is_service;
        }
        let shipped: BTreeSet<(String, Option<String>)> = npm.keys().cloned().collect();
        let omitted = omitted::explain(cx.root, &self.unshipped, &lock, &shipped, &self.reach);

        let stub = &cx.stub.info;
        let node_version = cx.node.version.trim_start_matches('v').to_string();
        let distro = super::deb::Distro::of_host();
        let mut owners = super::deb::Owners::default();
        let bom = Bom {
            app: cx.app.to_string(),
            timestamp: std::env::var_os("SOURCE_DATE_EPOCH").map(|_| cx.mtime),
            mtime: cx.mtime,
            npm: npm.into_values().collect(),
            node: FileComponent {
                name: "node".into(),
                version: Some(node_version.clone()),
                purl: Some(super::generic_purl("node", &node_version)),
                path: BINARY.into(),
                sha256: sha256_file(&cx.node.binary)?,
            },
            libraries: cx
                .node
                .libraries
                .iter()
                .map(|(name, host)| {
                    let package = distro.as_ref().and_then(|d| Some((d, owners.of(host)?)));
                    Ok(FileComponent {
                        name: name.clone(),
                        version: package.as_ref().map(|(_, p)| p.version.clone()),
                        purl: package.as_ref().map(|(d, p)| p.purl(d)),
                        path: format!("{LIB_DIR}/{name}"),
                        sha256: sha256_file(host)?,
                    })
                })
                .collect::<Result<_>>()?,
            stub: FileComponent {
                name: "watt-stub".into(),
                version: Some(stub.version.clone()),
                purl: Some(super::generic_purl("watt-stub", &stub.version)),
                path: cx.stub_path.into(),
                sha256: sha256_file(&cx.stub.path)?,
            },
            crates: stub.crates.clone(),
        };
        let mut files = vec![(super::CYCLONEDX_FILE, super::cyclonedx::document(&bom)?)];
        if cx.formats.spdx {
            files.push((super::SPDX_FILE, super::spdx::document(&bom)?));
        }
        Ok(Sbom { files, omitted })
    }
}

/// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json` → the
/// package's folder.
fn package_dir(path: &str) -> Option<&str> {
    let dir = path.strip_suffix("/package.json")?;
    let (above, name) = dir.rsplit_once('/')?;
    if above.ends_with("node_modules") && !name.starts_with('@') && !name.starts_with('.') {
        return Some(dir);
    }
    let (above2, scope) = above.rsplit_once('/')?;
    (above2.ends_with("node_modules") && scope.starts_with('@')).then_some(dir)
}

fn folder_name(dir: &str) -> String {
    match dir.rsplit_once("node_modules/") {
        Some((_, n)) => n.to_string(),
        None => dir.rsplit('/').next().unwrap_or(dir).to_string(),
    }
}

fn read_source(source: &Source) -> Result<Vec<u8>> {
    match source {
        Source::Bytes(b) => Ok(b.to_vec()),
        Source::Path(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(super::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_folders_are_found_by_their_package_json() {
        assert_eq!(
            package_dir("app/web/next/.next/standalone/node_modules/next/package.json"),
            Some("app/web/next/.next/standalone/node_modules/next")
        );
        assert_eq!(
            package_dir("app/node_modules/@fastify/static/package.json"),
            Some("app/node_modules/@fastify/static")
        );
        assert_eq!(
            package_dir("app/node_modules/next/dist/esm/package.json"),
            None
        );
        assert_eq!(package_dir("app/node_modules/@fastify/package.json"), None);
        assert_eq!(package_dir("app/web/api/package.json"), None);
    }
}
