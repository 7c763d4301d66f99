//! Nuxt the way Watt's Nuxt capability runs it in production (packages/nuxt/lib/capability.js
//! `#startProduction`): it imports the Nitro server build Nuxt writes,
//! `<nuxt.outputDirectory | .output>/server/index.mjs`, and serves with the server that file
//! listens with; it builds with `application.commands.build`, else `nuxt build` of the Nuxt
//! the service resolves, with the base path (`/shop/`, trailing slash) in the build's
//! `globalThis.platformatic.basePath` (the only way Watt hands it to Nuxt).
//!
//! `@platformatic/nuxt` is not on the npm registry, so, as for Nitro, the stub does natively
//! what the capability does: the output is a Nitro server build and ships as nitro.rs ships one.

use anyhow::{bail, Result};
use serde_json::Value;

use super::nitro::server_build;
use super::{configured_build, find_package, BuildCommand, Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Nuxt;

impl Framework for Nuxt {
    fn name(&self) -> &'static str {
        "nuxt"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Nuxt
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        if let Some(cmd) = configured_build(svc) {
            return Ok(Some(cmd));
        }
        let Some(dir) = find_package(&svc.path, "nuxt") else {
            bail!(
                "service \"{}\" is a nuxt application but `nuxt` does not resolve from {}; \
                 install the app's dependencies, or set application.commands.build",
                svc.id,
                svc.path.display()
            );
        };
        Ok(Some(BuildCommand {
            display: "nuxt build".into(),
            argv: vec![
                "node".into(),
                dir.join("bin/nuxt.mjs").display().to_string(),
                "build".into(),
            ],
            env: Vec::new(),
        }))
    }

    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
        let out = svc
            .config
            .pointer("/nuxt/outputDirectory")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(".output");
        server_build(
            svc,
            app,
            "Nuxt",
            "nuxt.outputDirectory",
            out,
            "server/index.mjs",
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::{app, service, touch};
    use super::super::StartPlan;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_nitro_server_nuxt_writes_runs_as_watt_imports_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nuxt);
        let err = Nuxt.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(
            err.contains(".output/server/index.mjs") && err.contains("nuxt.outputDirectory"),
            "{err}"
        );
        touch(dir.path(), ".output/server/index.mjs");
        touch(dir.path(), ".output/public/_nuxt/entry.js");
        let p = Nuxt.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Node {
                entry: dir.path().join(".output/server/index.mjs"),
                fastify: None
            }
        );
        assert_eq!(
            p.ship_verbatim,
            [
                dir.path().join(".output/server"),
                dir.path().join(".output/public")
            ]
        );
        assert!(!p.ship_dependencies);
        // nuxt.outputDirectory moves it; the entry stays server/index.mjs, as in Watt.
        svc.config = json!({ "nuxt": { "outputDirectory": "dist" } });
        touch(dir.path(), "dist/server/index.mjs");
        let p = Nuxt.package(&svc, &app(&svc)).unwrap();
        assert_eq!(p.ship_verbatim, [dir.path().join("dist/server")]);
    }

    #[test]
    fn without_commands_build_the_resolved_nuxt_cli_builds() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nuxt);
        let err = Nuxt.build_command(&svc).unwrap_err().to_string();
        assert!(err.contains("`nuxt` does not resolve"), "{err}");
        touch(dir.path(), "node_modules/nuxt/package.json");
        let cmd = Nuxt.build_command(&svc).unwrap().unwrap();
        assert!(
            cmd.argv[1].ends_with("node_modules/nuxt/bin/nuxt.mjs"),
            "{:?}",
            cmd.argv
        );
        assert_eq!(cmd.argv[2], "build");
        svc.application.commands.build = Some("npm run build".into());
        let cmd = Nuxt.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "npm run build");
    }
}
