//! Vite (`@platformatic/vite`): `vite build` into `application.outputDirectory` (default
//! `dist`), with Watt's inline settings (`base` = the base path, `build.outDir` = the output
//! folder); in production the files are served as a single-page app: paths that name no file
//! get `index.html`. The stub serves them itself, so only the output ships and no process runs.

use anyhow::{bail, Result};

use super::output::{base_flag, build_or_cli, output_dir};
use super::{BuildCommand, Framework, Package, StartPlan};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Vite;

impl Framework for Vite {
    fn name(&self) -> &'static str {
        "vite"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Vite)
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        reject_ssr(svc)?;
        build(svc, &svc.application.output_directory).map(Some)
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        reject_ssr(svc)?;
        let rel = &svc.application.output_directory;
        let dir = output_dir(svc, rel, "vite build", "application.outputDirectory")?;
        if !dir.join("index.html").is_file() {
            bail!(
                "service \"{}\": the Vite build in {rel}/ has no index.html, so there is no page \
                 to serve (a library build?); watt serves Vite apps as static sites with \
                 index.html as the fallback",
                svc.id
            );
        }
        Ok(Package {
            ship: vec![dir.clone()],
            ship_verbatim: Vec::new(),
            ship_as: Vec::new(),
            extra_dependencies: Vec::new(),
            ship_dependencies: false,
            start: StartPlan::Static {
                dir,
                spa_fallback: true,
            },
            static_assets: None,
        })
    }
}

/// `application.commands.build`, else Watt's `ViteCapability.build()` (packages/vite/lib/
/// capability.js) as a `vite build`: `base` = the base path with a trailing slash, `build.outDir`
/// = `out_dir`, `mode` production. Vite's CLI builds through `createBuilder(…).buildApp()` as
/// Watt does. Apps with Nitro's Vite plugin build through `nitro::vite_build`, the same call
/// with plugins that keep the build folder out of their server build.
fn build(svc: &ResolvedService, out_dir: &str) -> Result<BuildCommand> {
    build_or_cli(svc, "vite", &build_args(svc, out_dir))
}

/// `build [--base <base>/] --outDir <out_dir>`: Watt's inline `base` and `build.outDir`.
pub(super) fn build_args(svc: &ResolvedService, out_dir: &str) -> Vec<String> {
    let mut args = vec!["build".to_string()];
    if let Some(base) = base_flag(svc) {
        args.extend(["--base".into(), base]);
    }
    args.extend(["--outDir".into(), out_dir.to_string()]);
    args
}

/// Watt's Vite SSR mode (`vite.ssr` in the service config) runs a custom server entry.
fn reject_ssr(svc: &ResolvedService) -> Result<()> {
    match svc.config.pointer("/vite/ssr") {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => Ok(()),
        Some(_) => bail!(
            "service \"{}\": Vite SSR (`vite.ssr` in its config) cannot be packed yet; \
             remove it to serve the build as a static site",
            svc.id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::{app, service, touch};
    use super::*;

    #[test]
    fn the_output_is_served_as_a_spa_and_is_all_that_ships() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "dist/index.html");
        touch(dir.path(), "dist/assets/index-abc123.js");
        touch(dir.path(), "src/main.js");
        let svc = service(dir.path(), Kind::Vite);
        let p = Vite.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Static {
                dir: dir.path().join("dist"),
                spa_fallback: true
            }
        );
        assert_eq!(p.ship, vec![dir.path().join("dist")]);
        assert!(!p.ship_dependencies);
        assert_eq!(p.static_assets, None);
    }

    #[test]
    fn output_directory_is_honoured_and_a_missing_one_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Vite);
        svc.application.output_directory = "public-build".into();
        let err = Vite.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(
            err.contains("public-build/") && err.contains("application.outputDirectory"),
            "{err}"
        );
        touch(dir.path(), "public-build/index.html");
        let p = Vite.package(&svc, &app(&svc)).unwrap();
        assert_eq!(p.ship, vec![dir.path().join("public-build")]);

        // A library build has nothing to serve.
        let lib = tempfile::tempdir().unwrap();
        touch(lib.path(), "dist/lib.js");
        let svc = service(lib.path(), Kind::Vite);
        let err = Vite.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(err.contains("index.html"), "{err}");
    }

    #[test]
    fn build_passes_watts_base_and_out_dir() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "node_modules/.bin/vite");
        let mut svc = service(dir.path(), Kind::Vite);
        svc.application.base_path = Some("/spa".into());
        let cmd = Vite.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "vite build --base /spa/ --outDir dist");

        svc.config = serde_json::json!({ "vite": { "ssr": { "entrypoint": "server.js" } } });
        let err = Vite.build_command(&svc).unwrap_err().to_string();
        assert!(err.contains("vite.ssr"), "{err}");
    }
}
