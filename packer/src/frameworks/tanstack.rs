//! TanStack Start (`@tanstack/react-start`) the way Watt's TanStack capability runs it
//! (packages/tanstack/lib/capability.js, `TanstackCapability extends ViteCapability`): it
//! builds as Watt's Vite capability does (`application.commands.build`, else Vite's
//! `createBuilder(…).buildApp()` with `base` = the base path with a trailing slash and
//! `build.outDir` = `application.outputDirectory`, `dist` by default), and in production
//! (`#startProduction`) imports `<application.outputDirectory>/server/index.mjs`, the
//! node-server build the `nitro/vite` plugin writes, and serves with the server it listens with.
//! Watt's own fixtures (packages/tanstack/test/fixtures/*/services/frontend/vite.config.ts) set
//! Nitro's output to `dist` for that.
//!
//! `@platformatic/tanstack` is not on the npm registry, so, as for Nitro and Nuxt, the stub does
//! natively what the capability does: the output is a Nitro server build and ships as nitro.rs
//! ships one.

use anyhow::{bail, Result};

use super::nitro::{self, server_build};
use super::output::base_path;
use super::{BuildCommand, Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Tanstack;

/// What Watt imports, relative to the output folder.
const ENTRY: &str = "server/index.mjs";

impl Framework for Tanstack {
    fn name(&self) -> &'static str {
        "tanstack"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Tanstack
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        nitro::vite_build(svc, &svc.application.output_directory).map(Some)
    }

    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
        let out = &svc.application.output_directory;
        let dir = svc.path.join(out);
        if !dir.join(ENTRY).is_file() {
            not_a_nitro_build(svc, out)?;
        }
        server_build(
            svc,
            app,
            "TanStack",
            "application.outputDirectory",
            out,
            ENTRY,
            base_path(svc),
        )
    }
}

/// Why `<out>/server/index.mjs` is missing, in the terms of what the user has to change.
fn not_a_nitro_build(svc: &ResolvedService, out: &str) -> Result<()> {
    let dir = svc.path.join(out);
    // Without the Nitro plugin, TanStack Start writes a fetch handler and the client files.
    if dir.join("server/server.js").is_file() || dir.join("client").is_dir() {
        bail!(
            "service \"{}\": {out}/ holds TanStack Start's own build (a fetch handler, no server \
             that listens), but Watt runs {out}/{ENTRY}, the node-server build of Nitro: add \
             `nitro({{ config: {{ preset: 'node-server', output: {{ dir: '{out}' }} }} }})` \
             from `nitro/vite` to the plugins of its vite.config (npm package `nitro`)",
            svc.id
        );
    }
    // Nitro's own default output folder, which is not Watt's.
    if out != ".output" && svc.path.join(".output").join(ENTRY).is_file() {
        bail!(
            "service \"{}\": Nitro wrote its server to .output/{ENTRY}, but Watt runs \
             {out}/{ENTRY}: set Nitro's `output.dir` to '{out}' in vite.config, or \
             application.outputDirectory to \".output\" in the service's watt.json",
            svc.id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::{app, service, touch};
    use super::super::{StartPlan, StaticAssetsPlan};
    use super::*;

    #[test]
    fn the_nitro_server_in_the_output_folder_runs_and_the_stub_serves_its_client_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Tanstack);
        let err = Tanstack.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(
            err.contains("dist/server/index.mjs") && err.contains("application.outputDirectory"),
            "{err}"
        );
        touch(dir.path(), "dist/server/index.mjs");
        touch(dir.path(), "dist/public/assets/index-abc.js");
        let p = Tanstack.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Node {
                entry: dir.path().join("dist/server/index.mjs"),
                fastify: None
            }
        );
        assert_eq!(
            p.ship_verbatim,
            [
                dir.path().join("dist/server"),
                dir.path().join("dist/public")
            ]
        );
        assert!(!p.ship_dependencies);
        // Nitro serves the client at `/` itself; under a base path the stub does.
        assert_eq!(p.static_assets, None);
        svc.application.base_path = Some("/app/".into());
        let p = Tanstack.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.static_assets,
            Some(StaticAssetsPlan {
                dir: dir.path().join("dist/public"),
                url_prefix: "/app".into()
            })
        );
        // application.outputDirectory moves it.
        svc.application.output_directory = "build".into();
        touch(dir.path(), "build/server/index.mjs");
        let p = Tanstack.package(&svc, &app(&svc)).unwrap();
        assert_eq!(p.ship_verbatim, [dir.path().join("build/server")]);
    }

    #[test]
    fn a_build_without_nitros_node_server_says_what_to_add() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), Kind::Tanstack);
        touch(dir.path(), "dist/client/assets/main.js");
        touch(dir.path(), "dist/server/server.js");
        let err = Tanstack.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(
            err.contains("service \"web\"")
                && err.contains("nitro/vite")
                && err.contains("output: { dir: 'dist' }"),
            "{err}"
        );
        // Nitro's default folder is not Watt's.
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), Kind::Tanstack);
        touch(dir.path(), ".output/server/index.mjs");
        let err = Tanstack.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(
            err.contains(".output/server/index.mjs") && err.contains("application.outputDirectory"),
            "{err}"
        );
    }

    #[test]
    fn it_builds_as_watts_vite_capability_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Tanstack);
        let err = Tanstack.build_command(&svc).unwrap_err().to_string();
        assert!(err.contains("`vite` does not resolve"), "{err}");
        touch(dir.path(), "node_modules/vite/package.json");
        svc.application.base_path = Some("/app".into());
        let cmd = Tanstack.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "vite build --base /app/ --outDir dist");
        assert_eq!(cmd.argv[..3], ["node", "--input-type=module", "-e"]);
        assert!(cmd.argv[3].contains("relativeRouteFiles(root)"));
        let vite = dir.path().join("node_modules/vite").display().to_string();
        assert_eq!(
            cmd.env,
            [
                ("WATT_VITE_DIR".to_string(), vite),
                ("WATT_VITE_OUT_DIR".to_string(), "dist".to_string()),
                ("WATT_VITE_BASE".to_string(), "/app/".to_string())
            ]
        );
        svc.application.commands.build = Some("npm run build".into());
        let cmd = Tanstack.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.argv, ["sh", "-c", "npm run build"]);
    }
}
