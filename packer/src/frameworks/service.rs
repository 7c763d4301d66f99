//! `@platformatic/service`: a Fastify application assembled from `plugins.paths`. The stub's
//! launcher creates Fastify from the app's own dependency and registers the plugins in the
//! order resolved here, so start-up never depends on directory listing order on the host.
//! A config asking for more (`service.openapi`, `server.healthCheck`, `clients`, …: see
//! `config::service_beyond_plugins`) runs through `@platformatic/service` itself instead.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{capability, find_package, Framework, Package, PluginPlan, StartPlan};
use crate::config::{service_beyond_plugins, Kind, ResolvedApp, ResolvedService};

pub struct PlatformaticService;

const PLUGIN_EXTS: &[&str] = &["js", "mjs", "cjs", "ts", "mts", "cts"];

impl Framework for PlatformaticService {
    fn name(&self) -> &'static str {
        "service"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Service
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        if let Some(feature) = svc.config.as_object().and_then(service_beyond_plugins) {
            return capability::package(
                svc,
                &["@platformatic/service"],
                format!("{feature} goes beyond registering plugins.paths"),
                Vec::new(),
            );
        }
        let Some(fastify) = watts_fastify(&svc.path) else {
            bail!(
                "service \"{}\" is an @platformatic/service application but `fastify` cannot be \
                 resolved from {} nor from its @platformatic/service; add fastify to its \
                 dependencies and install",
                svc.id,
                svc.path.display()
            );
        };
        let base = svc
            .config_file
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(&svc.path)
            .to_path_buf();
        let mut plugins = Vec::new();
        let paths = svc
            .config
            .pointer("/plugins/paths")
            .cloned()
            .unwrap_or(Value::Null);
        for item in paths.as_array().into_iter().flatten() {
            let (rel, options) = match item {
                Value::String(s) => (s.clone(), Value::Object(Default::default())),
                Value::Object(o) => {
                    let Some(p) = o.get("path").and_then(Value::as_str) else {
                        bail!(
                            "service \"{}\": a plugins.paths entry has no `path`: {item}",
                            svc.id
                        );
                    };
                    (
                        p.to_string(),
                        o.get("options")
                            .cloned()
                            .unwrap_or(Value::Object(Default::default())),
                    )
                }
                other => bail!(
                    "service \"{}\": plugins.paths entries are strings or objects, got {other}",
                    svc.id
                ),
            };
            let path = base.join(&rel);
            if path.is_dir() {
                collect_folder(&path, None, &options, &mut plugins)?;
            } else if path.is_file() {
                plugins.push(PluginPlan {
                    path,
                    prefix: None,
                    options,
                });
            } else {
                bail!(
                    "service \"{}\": plugin path {rel} does not exist (looked for {})",
                    svc.id,
                    path.display()
                );
            }
        }
        Ok(Package {
            ship: vec![svc.path.clone()],
            ship_verbatim: Vec::new(),
            ship_as: Vec::new(),
            // pack.rs ships the Fastify of the start plan from where it was found.
            extra_dependencies: Vec::new(),
            ship_dependencies: true,
            start: StartPlan::FastifyPlugins { fastify, plugins },
            static_assets: None,
        })
    }
}

/// The Fastify Watt runs a plugin service on: the one `@platformatic/service` itself imports
/// (Node resolves from the package's real folder), else the one the service folder reaches.
/// Under pnpm only the first exists: `fastify` is a dependency of `@platformatic/service`,
/// not hoisted where the service's files can see it.
fn watts_fastify(svc_dir: &Path) -> Option<PathBuf> {
    find_package(svc_dir, "@platformatic/service")
        .and_then(|p| p.canonicalize().ok())
        .and_then(|real| find_package(&real, "fastify"))
        .or_else(|| find_package(svc_dir, "fastify"))
}

/// @fastify/autoload's layout rules: a folder with an `index` file is one plugin; otherwise each
/// plugin file in it, then each sub-folder under a `/<name>` route prefix. Sorted by name.
fn collect_folder(
    dir: &Path,
    prefix: Option<&str>,
    options: &Value,
    out: &mut Vec<PluginPlan>,
) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read plugin folder {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read plugin folder {}", dir.display()))?;
    entries.sort();
    if let Some(index) = entries
        .iter()
        .find(|p| is_plugin_file(p) && stem(p) == "index")
    {
        out.push(PluginPlan {
            path: index.clone(),
            prefix: prefix.map(str::to_string),
            options: options.clone(),
        });
        return Ok(());
    }
    for p in entries.iter().filter(|p| p.is_file() && is_plugin_file(p)) {
        out.push(PluginPlan {
            path: p.clone(),
            prefix: prefix.map(str::to_string),
            options: options.clone(),
        });
    }
    for p in entries.iter().filter(|p| p.is_dir()) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == "node_modules" || name.starts_with('.') {
            continue;
        }
        let sub = format!("{}/{name}", prefix.unwrap_or(""));
        collect_folder(p, Some(&sub), options, out)?;
    }
    Ok(())
}

fn stem(p: &Path) -> &str {
    p.file_stem().and_then(|s| s.to_str()).unwrap_or_default()
}

fn is_plugin_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
    PLUGIN_EXTS.contains(&ext)
        && !name.ends_with(".d.ts")
        && !name.ends_with(".d.mts")
        && !name.ends_with(".d.cts")
        && !name.contains(".test.")
        && !name.contains(".spec.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_follow_autoload_order_and_prefixes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "routes/b.js",
            "routes/a.ts",
            "routes/a.d.ts",
            "routes/users/list.js",
            "routes/admin/index.js",
            "routes/admin/skip.js",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let mut out = Vec::new();
        collect_folder(&root.join("routes"), None, &Value::Null, &mut out).unwrap();
        let got: Vec<_> = out
            .iter()
            .map(|p| {
                (
                    p.path.strip_prefix(root).unwrap().display().to_string(),
                    p.prefix.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("routes/a.ts".to_string(), None),
                ("routes/b.js".to_string(), None),
                (
                    "routes/admin/index.js".to_string(),
                    Some("/admin".to_string())
                ),
                (
                    "routes/users/list.js".to_string(),
                    Some("/users".to_string())
                ),
            ]
        );
    }
}
