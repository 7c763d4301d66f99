//! React Router 7 framework mode (`@platformatic/react-router`) and Remix 2 with Vite
//! (`@platformatic/remix`). Both build with the app's own CLI (`react-router build`,
//! `remix vite:build`) into `reactRouter.outputDirectory` / `remix.outputDirectory` (default
//! `build`), and the output decides how production runs:
//!
//! - a server build (`build/server/index.js`): served by a `node:http` server through the app's
//!   own request-handler package (`@react-router/node`, `@remix-run/node`), see
//!   `runtime-stub/js/request-handler.cjs`; `build/client` is served by the stub in front of it
//!   at the base path; `build/` and package.json ship with the production dependencies;
//! - SPA mode (`ssr: false`, no server build): `build/client` served by the stub with
//!   `index.html` as the fallback, no process, only those files ship.

use anyhow::{bail, Result};
use watt_manifest::HandlerRuntime;

use super::output::{build_or_cli, output_dir, package_json, url_prefix};
use super::{find_package, BuildCommand, Framework, Package, StartPlan, StaticAssetsPlan};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct ReactRouter;

/// What differs between the two frameworks.
struct Flavour {
    cli: &'static str,
    cli_args: &'static [&'static str],
    /// Config block holding `outputDirectory` in Watt's schema.
    config_block: &'static str,
    runtime: HandlerRuntime,
    runtime_package: &'static str,
}

fn flavour(kind: Kind) -> Flavour {
    if kind == Kind::Remix {
        Flavour {
            cli: "remix",
            cli_args: &["vite:build"],
            config_block: "remix",
            runtime: HandlerRuntime::Remix,
            runtime_package: "@remix-run/node",
        }
    } else {
        Flavour {
            cli: "react-router",
            cli_args: &["build"],
            config_block: "reactRouter",
            runtime: HandlerRuntime::ReactRouter,
            runtime_package: "@react-router/node",
        }
    }
}

impl Framework for ReactRouter {
    fn name(&self) -> &'static str {
        "react-router"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::ReactRouter | Kind::Remix)
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        let f = flavour(svc.kind);
        let args: Vec<String> = f.cli_args.iter().map(|a| a.to_string()).collect();
        build_or_cli(svc, f.cli, &args).map(Some)
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        let f = flavour(svc.kind);
        let rel = svc
            .config
            .pointer(&format!("/{}/outputDirectory", f.config_block))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("build")
            .to_string();
        let setting = format!("{}.outputDirectory", f.config_block);
        let tool = format!("{} {}", f.cli, f.cli_args.join(" "));
        let build = output_dir(svc, &rel, &tool, &setting)?;
        let server = build.join("server");
        let client = build.join("client");
        let entry = server.join("index.js");

        if entry.is_file() {
            let Some(runtime_package) = find_package(&svc.path, f.runtime_package) else {
                bail!(
                    "service \"{}\": its server build ({rel}/server/index.js) is served through \
                     {pkg}, which is not installed; add {pkg} to its dependencies and install",
                    svc.id,
                    pkg = f.runtime_package
                );
            };
            let mut ship = vec![build.clone()];
            ship.extend(package_json(svc));
            let extra_dependencies = if declares(svc, f.runtime_package) {
                Vec::new()
            } else {
                vec![f.runtime_package.to_string()]
            };
            return Ok(Package {
                ship,
                ship_verbatim: Vec::new(),
                ship_as: Vec::new(),
                extra_dependencies,
                ship_dependencies: true,
                start: StartPlan::RequestHandler {
                    build: entry,
                    runtime: f.runtime,
                    runtime_package,
                },
                static_assets: client.is_dir().then(|| StaticAssetsPlan {
                    dir: client,
                    url_prefix: url_prefix(svc),
                }),
            });
        }
        if server.is_dir() {
            bail!(
                "service \"{}\": {rel}/server has no index.js; server bundles \
                 (`serverBundles`) and a renamed `serverBuildFile` cannot be packed yet",
                svc.id
            );
        }
        if client.join("index.html").is_file() {
            if client.join("__spa-fallback.html").is_file() {
                bail!(
                    "service \"{}\": SPA mode with prerendered pages ({rel}/client/__spa-fallback.html) \
                     needs that file as the fallback for other paths, which watt cannot serve yet; \
                     prerender without `/` or turn SSR on",
                    svc.id
                );
            }
            return Ok(Package {
                ship: vec![client.clone()],
                ship_verbatim: Vec::new(),
                ship_as: Vec::new(),
                extra_dependencies: Vec::new(),
                ship_dependencies: false,
                start: StartPlan::Static {
                    dir: client,
                    spa_fallback: true,
                },
                static_assets: None,
            });
        }
        bail!(
            "service \"{}\": the build in {rel}/ has neither a server build (server/index.js) nor \
             an SPA (client/index.html): did `{tool}` write elsewhere? set {setting} in the \
             service's watt.json",
            svc.id
        )
    }
}

fn declares(svc: &ResolvedService, name: &str) -> bool {
    ["dependencies", "optionalDependencies"]
        .iter()
        .any(|k| svc.package_json.get(k).and_then(|d| d.get(name)).is_some())
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::{app, service, touch};
    use super::*;
    use std::path::Path;

    fn install(root: &Path, pkg: &str) {
        touch(root, &format!("node_modules/{pkg}/package.json"));
    }

    #[test]
    fn a_server_build_is_served_through_the_apps_request_handler_package() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("web/shop");
        install(root.path(), "@react-router/node");
        touch(&dir, "package.json");
        touch(&dir, "build/server/index.js");
        touch(&dir, "build/client/assets/entry.client-abc.js");
        touch(&dir, "app/root.tsx");
        let mut svc = service(&dir, Kind::ReactRouter);
        svc.package_json = serde_json::json!({ "dependencies": { "@react-router/node": "^7" } });
        svc.application.base_path = Some("/shop".into());
        let p = ReactRouter.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::RequestHandler {
                build: dir.join("build/server/index.js"),
                runtime: HandlerRuntime::ReactRouter,
                runtime_package: root.path().join("node_modules/@react-router/node"),
            }
        );
        assert_eq!(p.ship, vec![dir.join("build"), dir.join("package.json")]);
        assert!(p.ship_dependencies);
        assert!(p.extra_dependencies.is_empty());
        assert_eq!(
            p.static_assets,
            Some(StaticAssetsPlan {
                dir: dir.join("build/client"),
                url_prefix: "/shop".into()
            })
        );
    }

    #[test]
    fn remix_uses_its_own_package_and_output_setting() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), "@remix-run/node");
        touch(dir.path(), "out/server/index.js");
        let mut svc = service(dir.path(), Kind::Remix);
        svc.config = serde_json::json!({ "remix": { "outputDirectory": "out" } });
        let p = ReactRouter.package(&svc, &app(&svc)).unwrap();
        let StartPlan::RequestHandler {
            runtime,
            runtime_package,
            ..
        } = &p.start
        else {
            panic!("{:?}", p.start)
        };
        assert_eq!(*runtime, HandlerRuntime::Remix);
        assert!(runtime_package.ends_with("node_modules/@remix-run/node"));
        // Not declared (hoisted from elsewhere): still shipped.
        assert_eq!(p.extra_dependencies, ["@remix-run/node"]);
        assert_eq!(p.static_assets, None);
        assert_eq!(p.ship, vec![dir.path().join("out")]);
    }

    #[test]
    fn a_missing_runtime_package_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "build/server/index.js");
        let svc = service(dir.path(), Kind::ReactRouter);
        let err = ReactRouter
            .package(&svc, &app(&svc))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("@react-router/node") && err.contains("dependencies"),
            "{err}"
        );
    }

    #[test]
    fn spa_mode_is_a_static_site_with_fallback() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "build/client/index.html");
        touch(dir.path(), "build/client/assets/root-abc.js");
        let svc = service(dir.path(), Kind::ReactRouter);
        let p = ReactRouter.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Static {
                dir: dir.path().join("build/client"),
                spa_fallback: true
            }
        );
        assert_eq!(p.ship, vec![dir.path().join("build/client")]);
        assert!(!p.ship_dependencies);

        touch(dir.path(), "build/client/__spa-fallback.html");
        let err = ReactRouter
            .package(&svc, &app(&svc))
            .unwrap_err()
            .to_string();
        assert!(err.contains("__spa-fallback.html"), "{err}");
    }

    #[test]
    fn unusable_outputs_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), Kind::ReactRouter);
        let err = ReactRouter
            .package(&svc, &app(&svc))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("build/") && err.contains("reactRouter.outputDirectory"),
            "{err}"
        );

        touch(dir.path(), "build/client/assets/x.js");
        let err = ReactRouter
            .package(&svc, &app(&svc))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server/index.js") && err.contains("client/index.html"),
            "{err}"
        );

        touch(dir.path(), "build/server/abc123/index.js");
        let err = ReactRouter
            .package(&svc, &app(&svc))
            .unwrap_err()
            .to_string();
        assert!(err.contains("serverBundles"), "{err}");
    }

    #[test]
    fn builds_with_the_apps_own_cli() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "node_modules/.bin/react-router");
        touch(dir.path(), "node_modules/.bin/remix");
        let svc = service(dir.path(), Kind::ReactRouter);
        assert_eq!(
            ReactRouter.build_command(&svc).unwrap().unwrap().display,
            "react-router build"
        );
        let svc = service(dir.path(), Kind::Remix);
        assert_eq!(
            ReactRouter.build_command(&svc).unwrap().unwrap().display,
            "remix vite:build"
        );
    }
}
