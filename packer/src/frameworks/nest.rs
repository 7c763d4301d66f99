//! NestJS (`@platformatic/nest`), run through its own package the way Watt runs it
//! (packages/nest/lib/capability.js, production: `NestFactory.create(<outputDirectory>/
//! <nest.appModule.path>.js's <name>, adapter)`, then `listen()`); built with
//! `application.commands.build`, else the Nest CLI's `nest build`, as Watt's `build()` does.

use anyhow::{bail, Result};
use serde_json::Value;

use super::{capability, configured_build, find_package, BuildCommand, Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Nest;

impl Framework for Nest {
    fn name(&self) -> &'static str {
        "nest"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Nest
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        if let Some(cmd) = configured_build(svc) {
            return Ok(Some(cmd));
        }
        // @nestjs/cli exports no file; Watt takes its bin beside @nestjs/core's folder.
        let Some(cli) = find_package(&svc.path, "@nestjs/cli") else {
            return Ok(None);
        };
        let bin = cli.join("bin/nest.js");
        Ok(Some(BuildCommand {
            display: "nest build".into(),
            argv: vec!["node".into(), bin.display().to_string(), "build".into()],
            env: Vec::new(),
        }))
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        let module = svc
            .config
            .pointer("/nest/appModule/path")
            .and_then(Value::as_str)
            .unwrap_or("app.module");
        let built = svc
            .path
            .join(&svc.application.output_directory)
            .join(format!("{module}.js"));
        if !built.is_file() {
            bail!(
                "service \"{}\": the Nest app module {} is not there after the build; build it \
                 into application.outputDirectory (`{}`) with application.commands.build or \
                 @nestjs/cli, or set nest.appModule.path",
                svc.id,
                built.display(),
                svc.application.output_directory
            );
        }
        capability::package(
            svc,
            &["@platformatic/nest"],
            "NestJS runs through Watt's Nest capability".into(),
            Vec::new(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::{app, service, touch};
    use super::*;
    use crate::frameworks::StartPlan;

    #[test]
    fn the_built_app_module_runs_through_platformatic_nest() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nest);
        svc.config_file = Some(dir.path().join("platformatic.json"));
        touch(dir.path(), "node_modules/@platformatic/nest/package.json");
        // Not built: the error names the file Watt would import.
        let err = Nest.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(err.contains("dist/app.module.js"), "{err}");
        touch(dir.path(), "dist/app.module.js");
        let p = Nest.package(&svc, &app(&svc)).unwrap();
        match &p.start {
            StartPlan::Capability {
                name,
                package,
                config,
                ..
            } => {
                assert_eq!(name, "@platformatic/nest");
                assert_eq!(package, &dir.path().join("node_modules/@platformatic/nest"));
                assert_eq!(config, &dir.path().join("platformatic.json"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.extra_dependencies, ["@platformatic/nest"]);
        // Without commands.build, Nest's CLI builds, as in Watt.
        assert_eq!(Nest.build_command(&svc).unwrap(), None);
        touch(dir.path(), "node_modules/@nestjs/cli/package.json");
        let cmd = Nest.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "nest build");
        assert!(
            cmd.argv[1].ends_with("@nestjs/cli/bin/nest.js"),
            "{:?}",
            cmd.argv
        );
    }
}
