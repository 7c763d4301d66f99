//! One module per Watt capability, behind one trait: how to build it, what production needs,
//! how to start it. Detection lives in `config` because Watt decides the kind there (in one
//! order across all kinds); adding a framework means one module here plus its example.

mod astro;
mod capability;
mod db;
mod gateway;
mod input_hash;
mod nest;
mod next;
mod next_reproducible;
mod nitro;
mod node;
mod nuxt;
mod output;
mod react_router;
mod service;
mod tanstack;
mod vite;

pub use gateway::meta as gateway_meta;
pub use nitro::vite_config as nitro_vite_config;
#[cfg(test)]
pub use output::testing;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::{Kind, ResolvedApp, ResolvedService};
use serde_json::Value;

/// A build step: argv run directly, with the service folder as working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildCommand {
    /// As the user would type it, for messages.
    pub display: String,
    pub argv: Vec<String>,
    /// Variables added to the build's environment (e.g. Next's `NEXT_PRIVATE_STANDALONE`).
    pub env: Vec<(String, String)>,
}

/// How the launcher starts the service, with host paths (the packer maps them into the artifact).
#[derive(Debug, Clone, PartialEq)]
pub enum StartPlan {
    Node {
        entry: PathBuf,
        fastify: Option<PathBuf>,
    },
    FastifyPlugins {
        fastify: PathBuf,
        plugins: Vec<PluginPlan>,
    },
    Command {
        argv: Vec<String>,
    },
    RequestHandler {
        build: PathBuf,
        runtime: watt_manifest::HandlerRuntime,
        runtime_package: PathBuf,
    },
    /// Served by the stub: no process.
    Static {
        dir: PathBuf,
        spa_fallback: bool,
    },
    /// Served by the stub: no process.
    Gateway {
        routes: Vec<watt_manifest::GatewayRoute>,
    },
    /// The capability's own package (`name`, installed at `package`) creates and starts the
    /// service from its `config` file; `why` says why it is not served natively. `waits_for`:
    /// services it needs started first beyond the config's `dependencies` (Watt's
    /// `GatewayCapability.getDependencies()`: the applications it composes).
    Capability {
        name: String,
        package: PathBuf,
        config: PathBuf,
        why: String,
        waits_for: Vec<String>,
    },
}

impl StartPlan {
    /// How the service runs, for the build's output: which path it took and why.
    pub fn describe(&self) -> String {
        match self {
            StartPlan::Node { .. } => "node process (Watt's node capability shapes)".into(),
            StartPlan::FastifyPlugins { plugins, .. } => format!(
                "Fastify with {} plugin file(s), natively (the config only registers plugins.paths)",
                plugins.len()
            ),
            StartPlan::Command { argv } => format!("its production command `{}`", argv.join(" ")),
            StartPlan::RequestHandler { .. } => "its server build behind a request handler".into(),
            StartPlan::Static { spa_fallback, .. } => format!(
                "static files served by the stub{} (the build made no server and there is no \
                 `commands.production`)",
                if *spa_fallback { ", index.html as fallback" } else { "" }
            ),
            StartPlan::Gateway { routes } => format!(
                "native gateway in the stub ({} prefix route(s); the config only routes)",
                routes.len()
            ),
            StartPlan::Capability { name, why, .. } => format!("through {name}: {why}"),
        }
    }
}

/// Client files the stub serves in front of the service's process.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticAssetsPlan {
    /// Where the folder is in the app as shipped, as a host path below the app root (mapped
    /// into the artifact like every other path). It may be a `Package::ship_as` destination
    /// joined to the root, which need not exist on the host (Next's `.next/static` beside
    /// `server.js`); packing fails if the artifact has no folder there.
    pub dir: PathBuf,
    /// URL path the folder is mounted at.
    pub url_prefix: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PluginPlan {
    pub path: PathBuf,
    pub prefix: Option<String>,
    pub options: serde_json::Value,
}

/// What production needs from a built service.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// Files and folders of the service to ship (absolute, inside the service folder).
    /// Folders are shipped without `node_modules`: dependencies come from the closure.
    pub ship: Vec<PathBuf>,
    /// Folders shipped as they are, `node_modules` included (self-contained framework output
    /// such as Next's `.next/standalone`). Links must still stay inside the app root.
    pub ship_verbatim: Vec<PathBuf>,
    /// Host files or folders shipped at another place: `(host path, destination relative to
    /// the app root)`. The host path may be anywhere (links inside a folder must stay inside
    /// that folder). A destination replaces whatever a `ship`/`ship_verbatim` folder (or another
    /// `ship_as` folder) holds at that path, so it can also put real files where a shipped
    /// folder has a link that cannot be shipped as a link. Used for Next's `.next/static` and
    /// `public/`, which its standalone server expects beside `server.js`.
    pub ship_as: Vec<(PathBuf, PathBuf)>,
    /// Packages needed at run time beyond package.json `dependencies` (e.g. `fastify` for a
    /// plugin service whose Fastify is hoisted from a capability package).
    pub extra_dependencies: Vec<String>,
    /// Whether the service's package.json dependencies ship at all (false for services the stub
    /// serves natively, and for self-contained outputs such as Next's standalone folder).
    pub ship_dependencies: bool,
    pub start: StartPlan,
    pub static_assets: Option<StaticAssetsPlan>,
}

pub trait Framework: Sync {
    fn name(&self) -> &'static str;
    fn handles(&self, kind: Kind) -> bool;

    /// The build step, if any. Watt's rule for every kind: `application.commands.build`.
    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        Ok(configured_build(svc))
    }

    /// Called after the build succeeded. `app` gives the other services (a gateway routes to them).
    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package>;
}

static FRAMEWORKS: &[&dyn Framework] = &[
    &node::Node,
    &service::PlatformaticService,
    &gateway::Gateway,
    &db::Db,
    &nest::Nest,
    &next::Next,
    &astro::Astro,
    &vite::Vite,
    &react_router::ReactRouter,
    &nitro::Nitro,
    &nuxt::Nuxt,
    &tanstack::Tanstack,
];

/// The framework module for a service, or an error saying the kind is not supported yet.
pub fn for_service(svc: &ResolvedService) -> Result<&'static dyn Framework> {
    match FRAMEWORKS.iter().find(|f| f.handles(svc.kind)) {
        Some(f) => Ok(*f),
        None => bail!(
            "service \"{}\" is a {} application, which watt cannot pack yet (supported: node, \
             service, gateway, db, nest, next, astro, vite, react-router, remix, nitro, nuxt, \
             tanstack)",
            svc.id,
            svc.kind
        ),
    }
}

/// What production needs from a built service: `application.commands.production` when the
/// kind honours it in Watt (its capabilities' `_startProduction` → `startWithCommand`:
/// packages/{node,vite,remix,astro,next,react-router,nitro,nuxt,tanstack}/lib/capability.js; a Vite service
/// with its own server is no static site then), else the framework's own plan.
pub fn package(fw: &dyn Framework, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
    let honours = matches!(
        svc.kind,
        Kind::Node
            | Kind::Vite
            | Kind::Remix
            | Kind::Astro
            | Kind::Next
            | Kind::ReactRouter
            | Kind::Nitro
            | Kind::Nuxt
            | Kind::Tanstack
    );
    match &svc.application.commands.production {
        Some(cmd) if honours => production_command(svc, app, cmd),
        _ => fw.package(svc, app),
    }
}

/// The service run by its production command: its files and production dependencies ship.
/// As Watt's `spawn()` runs it (packages/basic/lib/capability.js): `node` is the bundled node;
/// a bare executable is looked up in `<service>/node_modules/.bin`, then the app root's, unless
/// `application.preferLocalCommands` is false; a line chaining commands (`&&`, `||`, `;`) would
/// need a shell, which an image does not have.
fn production_command(svc: &ResolvedService, app: &ResolvedApp, cmd: &str) -> Result<Package> {
    if ["&&", "||", ";"].iter().any(|op| cmd.contains(op)) {
        bail!(
            "service \"{}\": application.commands.production {cmd:?} chains commands, which Watt \
             runs through a shell; the artifact has none (an image holds no /bin/sh): make it one \
             command, e.g. `node server.js`, and move the rest to the build",
            svc.id
        );
    }
    let mut argv = shell_words::split(cmd).map_err(|e| {
        anyhow::anyhow!(
            "service \"{}\": cannot parse application.commands.production {cmd:?}: {e}",
            svc.id
        )
    })?;
    if argv.is_empty() {
        bail!(
            "service \"{}\": application.commands.production is empty",
            svc.id
        );
    }
    let prefer_local = svc
        .config
        .pointer("/application/preferLocalCommands")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut extra_dependencies = Vec::new();
    let exe = argv[0].clone();
    if exe != "node" && !exe.contains('/') && prefer_local {
        let found = [&svc.path, &app.root]
            .iter()
            .map(|d| d.join("node_modules/.bin").join(&exe))
            .find(|p| p.exists());
        match found.and_then(|p| local_command(&p)) {
            Some((package, file, is_js)) => {
                let rel = crate::paths::relative(&svc.path, &file);
                let rel = rel.to_string_lossy().into_owned();
                if is_js {
                    argv.splice(0..1, ["node".to_string(), rel]);
                } else {
                    argv[0] = rel;
                }
                extra_dependencies.push(package);
            }
            None => eprintln!(
                "watt: warning: service \"{}\": application.commands.production runs `{exe}`, \
                 which is in neither {}/node_modules/.bin nor the app root's; the artifact's \
                 PATH holds only its node",
                svc.id,
                svc.path.display()
            ),
        }
    }
    Ok(Package {
        ship: vec![svc.path.clone()],
        ship_verbatim: Vec::new(),
        ship_as: Vec::new(),
        extra_dependencies,
        ship_dependencies: true,
        start: StartPlan::Command { argv },
        static_assets: None,
    })
}

/// What a `node_modules/.bin` entry runs: (its package's name, the file, whether node runs it).
fn local_command(bin: &Path) -> Option<(String, PathBuf, bool)> {
    let file = std::fs::canonicalize(bin).ok()?;
    let package = file.ancestors().skip(1).find_map(|d| {
        let text = std::fs::read_to_string(d.join("package.json")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v.get("name")?.as_str().map(str::to_string)
    })?;
    let mut head = [0u8; 128];
    let n = std::fs::File::open(&file)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .ok()?;
    let first = String::from_utf8_lossy(&head[..n]);
    let first = first.lines().next().unwrap_or("");
    let is_js = (first.starts_with("#!") && first.contains("node"))
        || file
            .extension()
            .is_some_and(|e| e == "js" || e == "mjs" || e == "cjs");
    Some((package, file, is_js))
}

/// `application.commands.build` run through the shell (it is a shell command line in Watt).
pub fn configured_build(svc: &ResolvedService) -> Option<BuildCommand> {
    svc.application
        .commands
        .build
        .as_ref()
        .map(|cmd| BuildCommand {
            display: cmd.clone(),
            argv: vec!["sh".into(), "-c".into(), cmd.clone()],
            env: Vec::new(),
        })
}

/// `npm run build` when package.json has a `build` script.
pub fn npm_build_script(svc: &ResolvedService) -> Option<BuildCommand> {
    svc.package_json
        .get("scripts")
        .and_then(|s| s.get("build"))
        .and_then(|b| b.as_str())
        .map(|_| BuildCommand {
            display: "npm run build".into(),
            argv: vec!["npm".into(), "run".into(), "build".into()],
            env: Vec::new(),
        })
}

/// A URL path prefix in its one normal form: `""` for the root, else `/a/b` (one leading slash,
/// no trailing one, no empty segments). Base paths, gateway prefixes and Next's recorded
/// `basePath` are all compared in this form.
pub fn normalize_prefix(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("/{}", parts.join("/"))
    }
}

/// Find an installed package the way Node does: `node_modules/<name>` in `from` and each parent.
/// Returns the path as reached (links not resolved), so it stays valid inside the artifact.
pub fn find_package(from: &Path, name: &str) -> Option<PathBuf> {
    from.ancestors()
        .map(|dir| dir.join("node_modules").join(name))
        .find(|p| p.join("package.json").is_file())
}

/// The first existing `<dir>/<stem>.<ext>` in the given orders.
fn first_existing(dir: &Path, stems: &[&str], exts: &[&str]) -> Option<PathBuf> {
    stems
        .iter()
        .flat_map(|s| exts.iter().map(move |e| dir.join(format!("{s}.{e}"))))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::output::testing::{app, service, touch};
    use super::*;

    #[test]
    fn commands_production_replaces_the_kinds_own_start_where_watt_honours_it() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "dist/index.html");
        touch(dir.path(), "server.js");
        // A Vite service with its own server is no static site.
        let mut svc = service(dir.path(), Kind::Vite);
        svc.application.commands.production = Some("node server.js --port 0".into());
        let p = package(&vite::Vite, &svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Command {
                argv: vec![
                    "node".into(),
                    "server.js".into(),
                    "--port".into(),
                    "0".into()
                ]
            }
        );
        assert_eq!(p.ship, vec![dir.path().to_path_buf()]);
        assert!(p.ship_dependencies);
        // A bare executable runs from node_modules/.bin, as Watt's preferLocalCommands does:
        // a node script runs on the bundled node, and its package ships.
        touch(dir.path(), "node_modules/serve-it/package.json");
        std::fs::write(
            dir.path().join("node_modules/serve-it/package.json"),
            r#"{"name":"serve-it"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("node_modules/serve-it/cli.js"),
            "#!/usr/bin/env node\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("node_modules/.bin")).unwrap();
        std::os::unix::fs::symlink(
            "../serve-it/cli.js",
            dir.path().join("node_modules/.bin/serve-it"),
        )
        .unwrap();
        svc.application.commands.production = Some("serve-it dist -p 1".into());
        let p = package(&vite::Vite, &svc, &app(&svc)).unwrap();
        let argv = |p: &Package| match &p.start {
            StartPlan::Command { argv } => argv.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            argv(&p),
            ["node", "node_modules/serve-it/cli.js", "dist", "-p", "1"]
        );
        assert_eq!(p.extra_dependencies, ["serve-it"]);
        // …unless preferLocalCommands is false.
        svc.config = serde_json::json!({ "application": { "preferLocalCommands": false } });
        let p = package(&vite::Vite, &svc, &app(&svc)).unwrap();
        assert_eq!(argv(&p), ["serve-it", "dist", "-p", "1"]);
        svc.config = Value::Null;
        // A chain needs a shell, which an image does not have: the build says so.
        svc.application.commands.production = Some("qwik build preview && vite preview".into());
        let err = package(&vite::Vite, &svc, &app(&svc))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("chains commands") && err.contains("service \""),
            "{err}"
        );
        // Without it, the kind's own plan.
        svc.application.commands.production = None;
        let p = package(&vite::Vite, &svc, &app(&svc)).unwrap();
        assert!(matches!(p.start, StartPlan::Static { .. }), "{:?}", p.start);
        // TanStack too (TanstackCapability.start), before looking for its Nitro server build.
        let mut svc = service(dir.path(), Kind::Tanstack);
        svc.application.commands.production = Some("node server.js".into());
        let p = package(&tanstack::Tanstack, &svc, &app(&svc)).unwrap();
        assert!(
            matches!(p.start, StartPlan::Command { .. }),
            "{:?}",
            p.start
        );
        // @platformatic/service ignores it in Watt, and so does the packer.
        let mut svc = service(dir.path(), Kind::Gateway);
        svc.application.commands.production = Some("node server.js".into());
        let p = package(&gateway::Gateway, &svc, &app(&svc)).unwrap();
        assert!(
            matches!(p.start, StartPlan::Gateway { .. }),
            "{:?}",
            p.start
        );
        // An empty command is an error naming the service.
        let mut svc = service(dir.path(), Kind::Astro);
        svc.application.commands.production = Some("  ".into());
        let err = package(&astro::Astro, &svc, &app(&svc)).unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
    }
}
