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
        )
    }
}
