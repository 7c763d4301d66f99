//! Nuxt the way Watt's Nuxt capability runs it in production (packages/nuxt/lib/capability.js
//! `#startProduction`): it imports the Nitro server build Nuxt writes,
//! `<nuxt.outputDirectory | .output>/server/index.mjs`, and serves with the server that file
//! listens with; it builds with `application.commands.build`, else `nuxt build` of the Nuxt
//! the service resolves, with the base path (`/shop/`, trailing slash) in the build's
//! `globalThis.platformatic.basePath` (the only way Watt hands it to Nuxt).
//!
//! `@platformatic/nuxt` is not on the npm registry, so, as for Nitro, the stub does natively
//! what the capability does: the output is a Nitro server build and ships as nitro.rs ships one.
//!
//! Watt's `nuxt build` is run as the same command of the same CLI through its programmatic API
//! (`nuxt_build.mjs`), which adds one inline module to the app's config so the build is
//! reproducible: Nuxt's random `buildId` becomes a hash of the inputs (the app's own wins), the
//! time in `builds/latest.json` the artifact's, and the names Nuxt and Nitro derive from
//! absolute paths derive from relative ones; it builds in `node_modules/.cache/nuxt/.nuxt`
//! unless the app sets `buildDir`, so a `.nuxt` left behind changes nothing. An app's own
//! `application.commands.build` runs as it is, and the build says it is not reproducible.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::input_hash;
use super::nitro::server_build;
use super::{configured_build, find_package, BuildCommand, Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Nuxt;

/// The `nuxt build` watt runs (`node --input-type=module -e`); see the file.
const BUILD_DRIVER: &str = concat!(
    include_str!("nitro_folder_free.mjs"),
    include_str!("nuxt_build.mjs")
);

/// What Nuxt writes besides its output folder: its build folder and Nitro's dev storage.
const NUXT_FOLDERS: &[&str] = &[".nuxt", ".data"];

impl Framework for Nuxt {
    fn name(&self) -> &'static str {
        "nuxt"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Nuxt
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        if let Some(cmd) = configured_build(svc) {
            eprintln!(
                "watt: service \"{}\": application.commands.build runs as it is, so Nuxt's random \
                 buildId and build time make this build not reproducible; without it watt runs \
                 `nuxt build` with an id hashed from the inputs (or set `buildId` in nuxt.config)",
                svc.id
            );
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
        let base = svc.application.base_path.clone().unwrap_or_default();
        let out = output_directory(svc);
        let outputs: Vec<&str> = NUXT_FOLDERS.iter().copied().chain([out]).collect();
        let build_id = input_hash::build_id(&svc.path, &base, "nuxt", &outputs)
            .with_context(|| format!("service \"{}\": cannot hash the build's inputs", svc.id))?;
        let millis = crate::pack::mtime_from_env()?.saturating_mul(1000);
        Ok(Some(BuildCommand {
            display: "nuxt build".into(),
            argv: vec![
                "node".into(),
                "--input-type=module".into(),
                "-e".into(),
                BUILD_DRIVER.into(),
            ],
            env: vec![
                ("WATT_NUXT_DIR".into(), dir.display().to_string()),
                ("WATT_NUXT_BUILD_ID".into(), build_id),
                ("WATT_NUXT_TIMESTAMP".into(), millis.to_string()),
            ],
        }))
    }

    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
        let out = output_directory(svc);
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

/// Watt's `nuxt.outputDirectory`, relative to the service.
fn output_directory(svc: &ResolvedService) -> &str {
    svc.config
        .pointer("/nuxt/outputDirectory")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(".output")
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
    fn without_commands_build_the_resolved_nuxt_cli_builds_with_an_id_from_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nuxt);
        let err = Nuxt.build_command(&svc).unwrap_err().to_string();
        assert!(err.contains("`nuxt` does not resolve"), "{err}");
        touch(dir.path(), "node_modules/nuxt/package.json");
        touch(dir.path(), "app/pages/index.vue");
        let cmd = Nuxt.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "nuxt build");
        assert_eq!(cmd.argv[..3], ["node", "--input-type=module", "-e"]);
        assert!(
            cmd.argv[3].contains("runCommand('build'"),
            "{}",
            cmd.argv[3]
        );
        let env = |cmd: &BuildCommand, key: &str| {
            let found = cmd.env.iter().find(|(k, _)| k == key);
            found.map(|(_, v)| v.clone()).unwrap_or_default()
        };
        assert!(env(&cmd, "WATT_NUXT_DIR").ends_with("node_modules/nuxt"));
        let millis: u64 = env(&cmd, "WATT_NUXT_TIMESTAMP").parse().unwrap();
        assert_eq!(millis % 1000, 0);
        let id = env(&cmd, "WATT_NUXT_BUILD_ID");
        assert_eq!(id.len(), 20, "{id}");
        // Nuxt's own output and build folder are not inputs; a page is, and so is the base path.
        touch(dir.path(), ".output/server/index.mjs");
        touch(dir.path(), ".nuxt/nuxt.d.ts");
        let again = Nuxt.build_command(&svc).unwrap().unwrap();
        assert_eq!(env(&again, "WATT_NUXT_BUILD_ID"), id);
        std::fs::write(dir.path().join("app/pages/index.vue"), "<template/>").unwrap();
        let changed = Nuxt.build_command(&svc).unwrap().unwrap();
        assert_ne!(env(&changed, "WATT_NUXT_BUILD_ID"), id);
        svc.application.base_path = Some("/shop".into());
        let based = Nuxt.build_command(&svc).unwrap().unwrap();
        assert_ne!(
            env(&based, "WATT_NUXT_BUILD_ID"),
            env(&changed, "WATT_NUXT_BUILD_ID")
        );
        // The app's own command runs as it is.
        svc.application.commands.build = Some("npm run build".into());
        let cmd = Nuxt.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "npm run build");
    }
}
