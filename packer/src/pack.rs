//! Lays a resolved, built app out as the artifact tree and writes its manifest.
//!
//! Artifact layout (the same for every sink):
//! ```text
//! watt-stub                 the runtime stub (entrypoint)
//! watt-manifest.json        the contract the stub reads
//! runtime/lib/node          node, its shared libraries and dynamic loader
//! runtime/bin/node          → ../../watt-stub (starts the bundled node)
//! app/…                     the app root, pruned: each service's files and the packages its
//!                           production closure needs, at their original relative paths
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use watt_manifest as m;

use crate::closure::{production_closure, ClosureRequest};
use crate::config::{ResolvedApp, ResolvedService};
use crate::frameworks::{Package, StartPlan};
use crate::node_runtime::NodeRuntime;
use crate::sink::PackedApp;
use crate::tree::{self, artifact_path, LinkPolicy, Tree};
use crate::verify::{self, ServiceImports};

pub const APP_DIR: &str = "app";
pub const STUB: &str = "watt-stub";

/// Packages that are Watt's own runtime: the stub replaces them, so a service's package.json
/// listing them does not ship them (tens of MB per app). They still ship when the service's
/// code imports one, or a shipped package depends on one (`@platformatic/control` needs
/// `@platformatic/foundation`).
pub const WATT_RUNTIME_PACKAGES: &[&str] = &[
    "wattpm",
    "platformatic",
    "@platformatic/runtime",
    "@platformatic/service",
    "@platformatic/node",
    "@platformatic/gateway",
    "@platformatic/composer",
    "@platformatic/next",
    "@platformatic/astro",
    "@platformatic/remix",
    "@platformatic/react-router",
    "@platformatic/vite",
    "@platformatic/nest",
    "@platformatic/nuxt",
    "@platformatic/tanstack",
    "@platformatic/nitro",
    "@platformatic/db",
    "@platformatic/basic",
    "@platformatic/foundation",
];

/// One fixed timestamp for every file: `SOURCE_DATE_EPOCH` when set (reproducible-builds.org),
/// else 1980-01-01, the earliest date every archive format can represent.
pub fn mtime_from_env() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        Err(_) => Ok(315_532_800),
    }
}

pub struct PackInput<'a> {
    pub app: &'a ResolvedApp,
    pub services: Vec<(&'a ResolvedService, Package)>,
    pub node: &'a NodeRuntime,
    pub stub: &'a Path,
    pub mtime: u64,
}

pub fn pack(input: PackInput<'_>) -> Result<PackedApp> {
    let app = input.app;
    let root = &app.root;
    let mut tree = Tree::new();
    tree.add_file(STUB, input.stub)
        .with_context(|| format!("cannot read the stub at {}", input.stub.display()))?;
    let node = input.node.add_to(&mut tree, STUB)?;

    // Node decides ESM vs CommonJS from the nearest package.json, which may be the root's.
    let root_pkg = root.join("package.json");
    if root_pkg.is_file() {
        tree.add_file(&format!("{APP_DIR}/package.json"), &root_pkg)?;
    }

    let exclude: Vec<String> = WATT_RUNTIME_PACKAGES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut services = Vec::new();
    let mut imports = Vec::new();
    for (svc, package) in &input.services {
        ship_files(&mut tree, root, package)
            .with_context(|| format!("cannot pack service \"{}\"", svc.id))?;
        // A preload outside the service folder (the runtime's, at the app root) ships too.
        for p in svc.preload.iter().filter(|p| !p.starts_with(&svc.path)) {
            tree.add_file(&rel(root, p)?, p)
                .with_context(|| format!("service \"{}\": cannot pack its preload", svc.id))?;
        }
        let found = ServiceImports::scan(svc, package, root)?;
        let imported = found.packages();
        imports.push(found);
        if !package.ship_dependencies {
            services.push(manifest_service(app, svc, package)?);
            continue;
        }
        let closure = production_closure(&ClosureRequest {
            root,
            service_dir: &svc.path,
            extra: &package.extra_dependencies,
            exclude: &exclude,
            imported: &imported,
        })
        .with_context(|| {
            format!(
                "cannot collect the production dependencies of service \"{}\"",
                svc.id
            )
        })?;
        for pkg in &closure.packages {
            let dest = artifact_path(APP_DIR, root, &root.join(&pkg.dest))?;
            let confine = if pkg.source.starts_with(root) {
                root.as_path()
            } else {
                pkg.source.as_path()
            };
            tree.add_dir(
                &pkg.source,
                &dest,
                LinkPolicy {
                    confine_to: confine,
                },
                &|rel| rel.file_name().is_some_and(|n| n == "node_modules"),
            )
            .with_context(|| {
                format!(
                    "cannot pack package {} for service \"{}\"",
                    pkg.name, svc.id
                )
            })?;
        }
        for link in &closure.links {
            let at = artifact_path(APP_DIR, root, &root.join(&link.path))?;
            let Some(target) = link.target.to_str() else {
                bail!(
                    "link {} has a target that is not UTF-8",
                    link.path.display()
                );
            };
            tree.add_symlink(&at, target)?;
        }
        services.push(manifest_service(app, svc, package)?);
    }

    let manifest = m::AppManifest {
        schema_version: m::SCHEMA_VERSION,
        name: app.name.clone(),
        node,
        entrypoint: app.entrypoint.clone(),
        server: m::Server {
            hostname: app.server.hostname.clone(),
            port: app.server.port.clone(),
        },
        graceful_shutdown: m::GracefulShutdown {
            runtime_ms: app.graceful_shutdown.runtime_ms,
            application_ms: app.graceful_shutdown.application_ms,
        },
        services,
    };
    check_static_assets(&tree, &manifest)?;
    verify::check(&tree, root, APP_DIR, &imports)?;
    tree.add_bytes(m::MANIFEST_FILE, manifest.to_json(), false)?;
    Ok(PackedApp {
        tree,
        manifest,
        mtime: input.mtime,
    })
}

/// Every folder the stub serves in front of a service must be a folder of the artifact (it may
/// be a `ship_as` destination with no counterpart on the host).
fn check_static_assets(tree: &Tree, manifest: &m::AppManifest) -> Result<()> {
    for s in &manifest.services {
        if let Some(a) = &s.static_assets {
            if tree.get(&a.dir) != Some(&tree::Entry::Dir) {
                bail!(
                    "service \"{}\": the static assets folder {} (served at {}) is not a folder \
                     of the artifact",
                    s.id,
                    a.dir,
                    a.url_prefix
                );
            }
        }
    }
    Ok(())
}

/// A service's own files: `ship`, `ship_verbatim`, then `ship_as`, whose destinations the
/// folders walked before leave out.
fn ship_files(tree: &mut Tree, root: &Path, package: &Package) -> Result<()> {
    let replaced = package
        .ship_as
        .iter()
        .map(|(_, to)| artifact_path(APP_DIR, root, &root.join(to)))
        .collect::<Result<BTreeSet<_>>>()?;
    for path in &package.ship {
        ship_service_path(tree, root, path, &replaced)?;
    }
    for dir in &package.ship_verbatim {
        let dest = artifact_path(APP_DIR, root, dir)?;
        tree.add_dir(dir, &dest, LinkPolicy { confine_to: root }, &|rel| {
            is_replaced(&replaced, &dest, rel)
        })?;
    }
    for (from, to) in &package.ship_as {
        let dest = artifact_path(APP_DIR, root, &root.join(to))?;
        let shipped = if from.is_dir() {
            tree.add_dir(from, &dest, LinkPolicy { confine_to: from }, &|rel| {
                is_replaced(&replaced, &dest, rel)
            })
        } else {
            tree.add_file(&dest, from)
        };
        shipped.with_context(|| format!("cannot pack {} as {dest}", from.display()))?;
    }
    Ok(())
}

/// Service sources ship whole, minus what never belongs in production: installed dependencies
/// (the closure decides those), VCS data and watt's own build logs.
fn ship_service_path(
    tree: &mut Tree,
    root: &Path,
    path: &Path,
    replaced: &BTreeSet<String>,
) -> Result<()> {
    let dest = artifact_path(APP_DIR, root, path)?;
    if path.is_dir() {
        tree.add_dir(path, &dest, LinkPolicy { confine_to: root }, &|rel| {
            rel.file_name()
                .is_some_and(|n| n == "node_modules" || n == ".git" || n == ".watt")
                || is_replaced(replaced, &dest, rel)
        })
    } else {
        tree.add_file(&dest, path)
    }
}

/// Whether `rel` (below a folder shipped at `dest`) is a destination of `Package::ship_as`.
fn is_replaced(replaced: &BTreeSet<String>, dest: &str, rel: &Path) -> bool {
    !replaced.is_empty()
        && rel
            .to_str()
            .is_some_and(|rel| replaced.contains(&tree::join(dest, rel)))
}

fn rel(root: &Path, path: &Path) -> Result<String> {
    if !path.starts_with(root) {
        bail!(
            "{} is outside the app root {}",
            path.display(),
            root.display()
        );
    }
    artifact_path(APP_DIR, root, path)
}

fn manifest_service(
    app: &ResolvedApp,
    svc: &ResolvedService,
    package: &Package,
) -> Result<m::Service> {
    let root = &app.root;
    let start = match &package.start {
        StartPlan::Node { entry, fastify } => m::Start::Node {
            entry: rel(root, entry)?,
            fastify: fastify
                .as_deref()
                .map(|f| package_path(root, f))
                .transpose()?,
        },
        StartPlan::FastifyPlugins { fastify, plugins } => m::Start::FastifyPlugins {
            fastify: package_path(root, fastify)?,
            plugins: plugins
                .iter()
                .map(|p| {
                    Ok(m::Plugin {
                        path: rel(root, &p.path)?,
                        prefix: p.prefix.clone(),
                        options: p.options.clone(),
                    })
                })
                .collect::<Result<_>>()?,
        },
        StartPlan::Command { argv } => m::Start::Command { argv: argv.clone() },
        StartPlan::RequestHandler {
            build,
            runtime,
            runtime_package,
        } => m::Start::RequestHandler {
            build: rel(root, build)?,
            runtime: *runtime,
            runtime_package: package_path(root, runtime_package)?,
        },
        StartPlan::Static { dir, spa_fallback } => m::Start::Static {
            dir: rel(root, dir)?,
            spa_fallback: *spa_fallback,
        },
        StartPlan::Gateway { routes } => m::Start::Gateway {
            routes: routes.clone(),
        },
        StartPlan::Capability {
            package, config, ..
        } => m::Start::Capability {
            package: package_path(root, package)?,
            config: rel(root, config)?,
        },
    };
    let static_assets = match &package.static_assets {
        Some(a) => Some(m::StaticAssets {
            dir: rel(root, &a.dir)?,
            url_prefix: a.url_prefix.clone(),
        }),
        None => None,
    };
    let node_options = match &svc.node_options {
        Some(o) => shell_words::split(o)
            .with_context(|| format!("service \"{}\": cannot parse nodeOptions {o:?}", svc.id))?,
        None => Vec::new(),
    };
    // A gateway run through its own package fetches what it composes when it starts.
    let mut dependencies = svc.dependencies.clone();
    if let StartPlan::Capability { waits_for, .. } = &package.start {
        for w in waits_for.iter().filter(|w| !svc.dependencies.contains(w)) {
            dependencies.push(w.clone());
        }
    }
    Ok(m::Service {
        id: svc.id.clone(),
        kind: svc.kind.to_string(),
        root: rel(root, &svc.path)?,
        start,
        dependencies,
        env: svc.env.clone(),
        dotenv: svc.dotenv.clone(),
        node_options,
        preload: svc
            .preload
            .iter()
            .map(|p| rel(root, p))
            .collect::<Result<_>>()
            .with_context(|| {
                format!(
                    "service \"{}\": a preload module must be inside the app",
                    svc.id
                )
            })?,
        base_path: svc.application.base_path.clone(),
        static_assets,
    })
}

/// A package reached above the app root is copied into the root's `node_modules` by the closure.
fn package_path(root: &Path, dir: &Path) -> Result<String> {
    if dir.starts_with(root) {
        return rel(root, dir);
    }
    let name: PathBuf = dir
        .components()
        .rev()
        .take_while(|c| c.as_os_str() != "node_modules")
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    rel(root, &root.join("node_modules").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;
    use std::fs;

    fn package(ship_verbatim: Vec<PathBuf>, ship_as: Vec<(PathBuf, PathBuf)>) -> Package {
        Package {
            ship: Vec::new(),
            ship_verbatim,
            ship_as,
            extra_dependencies: Vec::new(),
            ship_dependencies: false,
            start: StartPlan::Command { argv: Vec::new() },
            static_assets: None,
        }
    }

    #[test]
    fn ship_as_places_files_and_replaces_what_a_shipped_folder_has_there() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("app");
        let out = root.join("web/next/out");
        for (f, text) in [
            (out.join("server.js"), "s"),
            (out.join("static/old.js"), "stale"),
            (root.join("web/next/build-static/new.js"), "fresh"),
            (d.path().join("store/pkg/index.js"), "pkg"),
        ] {
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, text).unwrap();
        }
        fs::create_dir_all(out.join("node_modules")).unwrap();
        // A link leaving the app root: refused as a link…
        std::os::unix::fs::symlink(d.path().join("store/pkg"), out.join("node_modules/pkg"))
            .unwrap();
        let err =
            ship_files(&mut Tree::new(), &root, &package(vec![out.clone()], vec![])).unwrap_err();
        assert!(format!("{err:#}").contains("node_modules/pkg"), "{err:#}");

        // …and replaced by its target's files; a folder replaced by another one.
        let mut tree = Tree::new();
        let p = package(
            vec![out.clone()],
            vec![
                (
                    root.join("web/next/build-static"),
                    "web/next/out/static".into(),
                ),
                (
                    d.path().join("store/pkg"),
                    "web/next/out/node_modules/pkg".into(),
                ),
            ],
        );
        ship_files(&mut tree, &root, &p).unwrap();
        let paths: Vec<_> = tree.entries().map(|(p, _)| p.to_string()).collect();
        assert!(paths.contains(&"app/web/next/out/server.js".to_string()));
        assert!(paths.contains(&"app/web/next/out/static/new.js".to_string()));
        assert!(!paths.contains(&"app/web/next/out/static/old.js".to_string()));
        assert!(matches!(
            tree.get("app/web/next/out/node_modules/pkg/index.js"),
            Some(Entry::File { .. })
        ));
    }
}
