//! Lays a resolved, built app out as the artifact's layers and writes its manifest.
//!
//! Artifact layout (the same for every sink):
//! ```text
//! watt-stub                 the runtime stub (entrypoint)
//! runtime/js/…              the JS files the stub loads into services
//! watt-manifest.json        the contract the stub reads
//! runtime/lib/node          node, its shared libraries and dynamic loader
//! runtime/bin/node          → ../../watt-stub (starts the bundled node)
//! app/…                     the app root, pruned: each service's files and the packages its
//!                           production closure needs, at their original relative paths
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use watt_manifest as m;

use crate::addons;
use crate::closure::{production_closure, ClosureRequest};
use crate::config::{ResolvedApp, ResolvedService};
use crate::env_files;
use crate::exclude::{Filter, Origin, ServiceFilter, ShipRules};
use crate::frameworks::{Package, StartPlan};
use crate::layers::{self, Kind, Layer};
use crate::node_runtime::NodeRuntime;
use crate::paths::{self, artifact_path};
use crate::sbom;
use crate::sink::PackedApp;
use crate::tree::{self, LinkPolicy, Tree};
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
    pub stub: &'a crate::build_info::StubBinary,
    pub mtime: u64,
    /// What stays out of every walked folder (secrets, clutter, ignore files).
    pub rules: &'a ShipRules,
    /// `--dotenv`: bake `.env` values into the manifest.
    pub bake_dotenv: bool,
    /// The SBOM documents beside the manifest (CycloneDX always; `--sbom spdx` adds SPDX).
    pub sbom: sbom::Formats,
}

/// The JS files the stub loads into services, shipped at `runtime/js/<name>` so the stub can use
/// them in place (a read-only root works) instead of writing them out at start.
pub const STUB_JS: &[(&str, &str)] = &[
    (
        "launcher.cjs",
        include_str!("../../runtime-stub/js/launcher.cjs"),
    ),
    (
        "preload.cjs",
        include_str!("../../runtime-stub/js/preload.cjs"),
    ),
    (
        "request-handler.cjs",
        include_str!("../../runtime-stub/js/request-handler.cjs"),
    ),
    (
        "capability.cjs",
        include_str!("../../runtime-stub/js/capability.cjs"),
    ),
    (
        "globals.cjs",
        include_str!("../../runtime-stub/js/globals.cjs"),
    ),
];
pub const STUB_JS_DIR: &str = "runtime/js";

/// One package of a closure, remembered with the services that need it so dependency layers
/// can be cut by who shares what.
struct Shipped {
    source: PathBuf,
    dest: String,
    confine: PathBuf,
    name: String,
}

pub fn pack(input: PackInput<'_>) -> Result<PackedApp> {
    let app = input.app;
    let root = &app.root;

    let mut runtime = Layer::new("runtime", Kind::Runtime, "node runtime");
    let node = input.node.add_to(&mut runtime.tree, STUB)?;
    let mut stub = Layer::new("stub", Kind::Stub, "watt-stub");
    stub.tree
        .add_file(STUB, &input.stub.path)
        .with_context(|| format!("cannot read the stub at {}", input.stub.path.display()))?;
    for (name, text) in STUB_JS {
        stub.tree.add_bytes(
            &format!("{STUB_JS_DIR}/{name}"),
            text.as_bytes().to_vec(),
            false,
        )?;
    }
    let mut last = Layer::new("manifest", Kind::Manifest, "watt build");
    // Node decides ESM vs CommonJS from the nearest package.json, which may be the root's.
    let root_pkg = root.join("package.json");
    if root_pkg.is_file() {
        last.tree
            .add_file(&format!("{APP_DIR}/package.json"), &root_pkg)?;
    }

    let exclude: Vec<String> = WATT_RUNTIME_PACKAGES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut services = Vec::new();
    let mut imports = Vec::new();
    let mut app_layers = Vec::new();
    // Artifact path → (package, the services whose closure holds it); links likewise.
    let mut packages: BTreeMap<String, (Shipped, BTreeSet<String>)> = BTreeMap::new();
    let mut links: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut inventory = sbom::Inventory::new();
    for (svc, package) in &input.services {
        let mut layer = Layer::new(
            format!("app-{}", svc.id),
            Kind::Application,
            format!("service \"{}\"", svc.id),
        );
        let filter = ServiceFilter {
            rules: input.rules,
            svc,
        };
        ship_files(&mut layer.tree, root, svc, package, &filter)
            .with_context(|| format!("cannot pack service \"{}\"", svc.id))?;
        // A preload outside the service folder (the runtime's, at the app root) ships too; in
        // every layer of a service that loads it, which `settle` keeps once.
        for p in svc.preload.iter().filter(|p| !p.starts_with(&svc.path)) {
            layer
                .tree
                .add_file(&rel(root, p)?, p)
                .with_context(|| format!("service \"{}\": cannot pack its preload", svc.id))?;
        }
        let found = ServiceImports::scan(svc, package, root)?;
        let mut imported = found.packages();
        // The Fastify a plugin service starts on comes from where Watt finds it (through
        // @platformatic/service under pnpm), which the service's own resolution may not reach.
        if let StartPlan::FastifyPlugins { fastify, .. } = &package.start {
            if let Some(from) = fastify.parent().and_then(Path::parent) {
                imported.push(("fastify".into(), from.to_path_buf()));
            }
        }
        imports.push(found);
        inventory.service_layer(svc, &layer.tree, root)?;
        app_layers.push(layer);
        services.push(manifest_service(app, svc, package, input.bake_dotenv)?);
        let request = ClosureRequest {
            root,
            service_dir: &svc.path,
            extra: &package.extra_dependencies,
            exclude: &exclude,
            imported: &imported,
        };
        if !package.ship_dependencies {
            inventory.reach(Some(svc), &request, None);
            continue;
        }
        let closure = production_closure(&request).with_context(|| {
            format!(
                "cannot collect the production dependencies of service \"{}\"",
                svc.id
            )
        })?;
        inventory.reach(Some(svc), &request, Some(&closure));
        for pkg in &closure.packages {
            let dest = artifact_path(APP_DIR, root, &root.join(&pkg.dest))?;
            let confine = if pkg.source.starts_with(root) {
                root.clone()
            } else {
                pkg.source.clone()
            };
            let (shipped, owners) = packages.entry(dest.clone()).or_insert_with(|| {
                (
                    Shipped {
                        source: pkg.source.clone(),
                        dest: dest.clone(),
                        confine,
                        name: pkg.name.clone(),
                    },
                    BTreeSet::new(),
                )
            });
            if shipped.source != pkg.source {
                bail!(
                    "two different folders would be packed at {dest}: {} (for {}) and {} (for \
                     service \"{}\")",
                    shipped.source.display(),
                    owners.iter().cloned().collect::<Vec<_>>().join(", "),
                    pkg.source.display(),
                    svc.id
                );
            }
            owners.insert(svc.id.clone());
        }
        for link in &closure.links {
            let at = artifact_path(APP_DIR, root, &root.join(&link.path))?;
            let Some(target) = link.target.to_str() else {
                bail!(
                    "link {} has a target that is not UTF-8",
                    link.path.display()
                );
            };
            links
                .entry(at)
                .or_insert_with(|| (target.to_string(), BTreeSet::new()))
                .1
                .insert(svc.id.clone());
        }
    }
    // The app root's own package.json (Watt's CLI, usually): no service runs it.
    inventory.reach(
        None,
        &ClosureRequest {
            root,
            service_dir: root,
            extra: &[],
            exclude: &exclude,
            imported: &[],
        },
        None,
    );
    for (shipped, owners) in packages.values() {
        inventory.closure_package(&shipped.dest, &shipped.source, owners)?;
    }
    let dependency_layers = dependency_layers(packages, links, &|dest, rel, host| {
        input.rules.skips(&logical(dest, rel), host, Origin::Output)
    })?;

    let mut layers = vec![runtime, stub];
    layers.extend(dependency_layers);
    layers.extend(app_layers);

    let (runtime_dotenv, runtime_env_file) = env_files::runtime_fields(app, input.bake_dotenv);
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
        health: m::Health {
            enabled: app.supervision.health.enabled,
            hostname: app.supervision.health.hostname.clone(),
            port: app.supervision.health.port.clone(),
            metrics: app.supervision.health.metrics,
        },
        services,
        dotenv: runtime_dotenv,
        env_file: runtime_env_file,
        excluded: input.rules.excluded_for_manifest(),
    };
    last.tree
        .add_bytes(m::MANIFEST_FILE, manifest.to_json(), false)?;
    let sbom = inventory.finish(&sbom::Context {
        root,
        app: &app.name,
        node: input.node,
        stub: input.stub,
        stub_path: STUB,
        mtime: input.mtime,
        formats: input.sbom,
    })?;
    for (path, bytes) in sbom.files {
        last.tree.add_bytes(path, bytes, false)?;
    }
    layers.push(last);
    let layers = layers::settle(layers)?;
    let flat = layers::flatten(&layers)?;
    flat.check_links()?;
    check_static_assets(&flat, &manifest)?;
    verify::check(&flat, root, APP_DIR, &imports)?;
    addons::check(
        &layers,
        &addons::Target {
            arch: input.node.arch.clone(),
            modules: input.node.modules,
            version: input.node.version.clone(),
            libraries: input.node.libraries.clone(),
        },
    )?;
    Ok(PackedApp {
        layers,
        manifest,
        mtime: input.mtime,
        sbom_omitted: sbom.omitted,
    })
}

pub const MAX_DEPENDENCY_LAYERS: usize = 12;

/// Merge the groups `pick` selects into one owned by all of their services.
fn fold(
    groups: Vec<(BTreeSet<String>, Tree)>,
    pick: impl Fn(&BTreeSet<String>) -> bool,
) -> Result<Vec<(BTreeSet<String>, Tree)>> {
    let (picked, mut kept): (Vec<_>, Vec<_>) = groups.into_iter().partition(|(o, _)| pick(o));
    let mut owners = BTreeSet::new();
    let mut tree = Tree::new();
    for (o, t) in picked {
        owners.extend(o);
        tree.merge(&t)?;
    }
    if !owners.is_empty() {
        kept.push((owners, tree));
    }
    Ok(kept)
}

/// One layer per set of services sharing packages: services with identical closures share one
/// layer, and packages that several services resolve to the same hoisted folder go in the layer
/// of exactly that set. Layers shared by more services come first (they change least often).
/// `skips(dest, rel, host)`: whether the ship rules leave out `rel` of the package at `dest`.
type Skips<'a> = &'a dyn Fn(&str, &Path, &Path) -> bool;

fn dependency_layers(
    packages: BTreeMap<String, (Shipped, BTreeSet<String>)>,
    links: BTreeMap<String, (String, BTreeSet<String>)>,
    skips: Skips<'_>,
) -> Result<Vec<Layer>> {
    let mut groups: BTreeMap<BTreeSet<String>, Tree> = BTreeMap::new();
    for (_, (pkg, owners)) in packages {
        let tree = groups.entry(owners.clone()).or_default();
        tree.add_dir(
            &pkg.source,
            &pkg.dest,
            LinkPolicy {
                confine_to: &pkg.confine,
            },
            &|rel| {
                rel.file_name().is_some_and(|n| n == "node_modules")
                    || skips(&pkg.dest, rel, &pkg.source.join(rel))
            },
        )
        .with_context(|| {
            format!(
                "cannot pack package {} for {}",
                pkg.name,
                owners.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
    }
    for (at, (target, owners)) in links {
        groups
            .entry(owners)
            .or_default()
            .add_symlink(&at, &target)?;
    }
    let mut groups: Vec<(BTreeSet<String>, Tree)> = groups.into_iter().collect();
    // Images have a layer limit (127 in Docker) and many tiny layers cost more than they save:
    // past a handful, the shared sets fold into one layer, then everything does.
    if groups.len() > MAX_DEPENDENCY_LAYERS {
        groups = fold(groups, |owners| owners.len() > 1)?;
    }
    if groups.len() > MAX_DEPENDENCY_LAYERS {
        groups = fold(groups, |_| true)?;
    }
    groups.sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    let single = groups.len() == 1;
    Ok(groups
        .into_iter()
        .map(|(owners, tree)| {
            let ids: Vec<_> = owners.into_iter().collect();
            let name = if single {
                "dependencies".to_string()
            } else {
                format!("dependencies-{}", ids.join("+"))
            };
            let mut layer = Layer::new(
                name,
                Kind::Dependencies,
                format!("dependencies of {}", ids.join(", ")),
            );
            layer.tree = tree;
            layer
        })
        .collect())
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
fn ship_files(
    tree: &mut Tree,
    root: &Path,
    svc: &ResolvedService,
    package: &Package,
    filter: &dyn Filter,
) -> Result<()> {
    let replaced = package
        .ship_as
        .iter()
        .map(|(_, to)| artifact_path(APP_DIR, root, &root.join(to)))
        .collect::<Result<BTreeSet<_>>>()?;
    for path in &package.ship {
        // Only the service's own folder is a source; other `ship` paths are build output.
        let origin = if *path == svc.path {
            Origin::Source
        } else {
            Origin::Output
        };
        ship_service_path(tree, root, path, &replaced, filter, origin)?;
    }
    for dir in &package.ship_verbatim {
        let dest = artifact_path(APP_DIR, root, dir)?;
        tree.add_dir(dir, &dest, LinkPolicy { confine_to: root }, &|rel| {
            is_replaced(&replaced, &dest, rel)
                || filter.skips(&logical(&dest, rel), &dir.join(rel), Origin::Output)
        })?;
    }
    for (from, to) in &package.ship_as {
        let dest = artifact_path(APP_DIR, root, &root.join(to))?;
        if filter.skips(&logical(&dest, Path::new("")), from, Origin::Output) {
            continue;
        }
        let shipped = if from.is_dir() {
            tree.add_dir(from, &dest, LinkPolicy { confine_to: from }, &|rel| {
                is_replaced(&replaced, &dest, rel)
                    || filter.skips(&logical(&dest, rel), &from.join(rel), Origin::Output)
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
    filter: &dyn Filter,
    origin: Origin,
) -> Result<()> {
    let dest = artifact_path(APP_DIR, root, path)?;
    if filter.skips(&logical(&dest, Path::new("")), path, origin) {
        return Ok(());
    }
    if path.is_dir() {
        tree.add_dir(path, &dest, LinkPolicy { confine_to: root }, &|rel| {
            rel.file_name()
                .is_some_and(|n| n == "node_modules" || n == ".git" || n == ".watt")
                || is_replaced(replaced, &dest, rel)
                || filter.skips(&logical(&dest, rel), &path.join(rel), origin)
        })
    } else {
        tree.add_file(&dest, path)
    }
}

/// Where `rel` below the artifact folder `dest` sits relative to the app root (what the
/// ignore rules match).
fn logical(dest: &str, rel: &Path) -> PathBuf {
    let below_app = Path::new(
        dest.strip_prefix(APP_DIR)
            .map(|d| d.trim_start_matches('/'))
            .unwrap_or(dest),
    );
    if rel.as_os_str().is_empty() {
        below_app.to_path_buf()
    } else {
        below_app.join(rel)
    }
}

/// Whether `rel` (below a folder shipped at `dest`) is a destination of `Package::ship_as`.
fn is_replaced(replaced: &BTreeSet<String>, dest: &str, rel: &Path) -> bool {
    !replaced.is_empty()
        && rel
            .to_str()
            .is_some_and(|rel| replaced.contains(&paths::join(dest, rel)))
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
    bake_dotenv: bool,
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
    let (dotenv, env_file) = env_files::service_fields(app, svc, bake_dotenv);
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
        dotenv,
        env_file,
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
        restart_on_error_ms: app
            .supervision
            .services
            .get(&svc.id)
            .map_or(m::DEFAULT_RESTART_MS, |s| s.restart_on_error_ms),
        workers: app
            .supervision
            .services
            .get(&svc.id)
            .map_or(1, |s| s.workers),
        // globalThis.platformatic.config at run time.
        config: (!svc.config.is_null()).then(|| svc.config.clone()),
        gateway_meta: Some(crate::frameworks::gateway_meta(svc)),
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

    /// `(package, services)` → the dependency layers' names.
    fn dependency_layer_names(spec: &[(&str, &[&str])]) -> Vec<String> {
        let d = tempfile::tempdir().unwrap();
        let mut packages = BTreeMap::new();
        for (name, owners) in spec {
            let dir = d.path().join(name);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("index.js"), name).unwrap();
            let dest = format!("app/node_modules/{name}");
            let shipped = Shipped {
                source: dir.clone(),
                dest: dest.clone(),
                confine: dir,
                name: name.to_string(),
            };
            let owners = owners.iter().map(|s| s.to_string()).collect();
            packages.insert(dest, (shipped, owners));
        }
        dependency_layers(packages, BTreeMap::new(), &|_, _, _| false)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    }

    #[test]
    fn services_sharing_packages_share_a_layer_most_shared_first() {
        let names = dependency_layer_names(&[
            ("fastify", &["api", "web"]),
            ("pino", &["api", "web"]),
            ("pg", &["api"]),
            ("react", &["web"]),
        ]);
        assert_eq!(
            names,
            [
                "dependencies-api+web",
                "dependencies-api",
                "dependencies-web"
            ]
        );
        assert_eq!(
            dependency_layer_names(&[("a", &["x", "y"]), ("b", &["x", "y"])]),
            ["dependencies"]
        );
    }

    #[test]
    fn many_shared_sets_fold_into_one_layer() {
        let ids = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
        let mut spec: Vec<(String, Vec<&str>)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            spec.push((format!("own{i}"), vec![*id]));
            spec.push((format!("pair{i}"), vec![*id, ids[(i + 1) % ids.len()]]));
        }
        let spec: Vec<(&str, &[&str])> = spec.iter().map(|(n, o)| (n.as_str(), &o[..])).collect();
        let names = dependency_layer_names(&spec);
        assert_eq!(names.len(), 9, "{names:?}");
        assert_eq!(names[0], format!("dependencies-{}", ids.join("+")));
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
        let svc =
            crate::frameworks::testing::service(&root.join("web/next"), crate::config::Kind::Next);
        let err = ship_files(
            &mut Tree::new(),
            &root,
            &svc,
            &package(vec![out.clone()], vec![]),
            &crate::exclude::KeepAll,
        )
        .unwrap_err();
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
        ship_files(&mut tree, &root, &svc, &p, &crate::exclude::KeepAll).unwrap();
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
