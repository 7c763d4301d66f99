//! Watt's `node` capability: Fastify, Express, Koa or plain `node:http` code started as a
//! process. The launcher decides at run time which of Watt's shapes the module has
//! (`create()`/`build()` factory, Fastify plugin, or a script that listens itself).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::{
    configured_build, find_package, first_existing, npm_build_script, BuildCommand, Framework,
    Package, StartPlan,
};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Node;

/// Watt's entry file names, in its order.
const ENTRY_STEMS: &[&str] = &[
    "index",
    "main",
    "app",
    "application",
    "server",
    "start",
    "bundle",
    "run",
    "entrypoint",
];
/// JavaScript first (what Watt looks for), then TypeScript for services that rely on Node's
/// type stripping.
const ENTRY_EXTS: &[&str] = &["js", "mjs", "cjs", "ts", "mts", "cts"];

impl Framework for Node {
    fn name(&self) -> &'static str {
        "node"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Node
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        Ok(configured_build(svc).or_else(|| npm_build_script(svc)))
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        let entry = entry_file(svc)?;
        // Only the service's own Fastify: a plugin-shaped module is registered into it. A
        // Fastify merely hoisted from someone else's dependencies is not this service's.
        let fastify = declares(svc, "fastify")
            .then(|| find_package(&svc.path, "fastify"))
            .flatten();
        Ok(Package {
            ship: vec![svc.path.clone()],
            ship_verbatim: Vec::new(),
            ship_as: Vec::new(),
            extra_dependencies: Vec::new(),
            ship_dependencies: true,
            start: StartPlan::Node { entry, fastify },
            static_assets: None,
        })
    }
}

fn declares(svc: &ResolvedService, name: &str) -> bool {
    ["dependencies", "optionalDependencies"]
        .iter()
        .any(|k| svc.package_json.get(k).and_then(|d| d.get(name)).is_some())
}

/// Watt's order: `node.main`, package.json `main`, `exports`, then the well-known file names.
fn entry_file(svc: &ResolvedService) -> Result<PathBuf> {
    let dir = &svc.path;
    let pkg = &svc.package_json;
    let declared = svc
        .node
        .main
        .clone()
        .map(|m| ("node.main", m))
        .or_else(|| {
            pkg.get("main")
                .and_then(|m| m.as_str())
                .map(|m| ("package.json main", m.to_string()))
        })
        .or_else(|| exports_entry(pkg.get("exports")).map(|m| ("package.json exports", m)));
    if let Some((from, rel)) = declared {
        let path = dir.join(&rel);
        return match crate::imports::resolve_file(&path) {
            Some(p) => Ok(p),
            None => bail!(
                "service \"{}\": {from} points at {rel}, which does not exist in {} \
                 (did the build run? is outputDirectory right?)",
                svc.id,
                dir.display()
            ),
        };
    }
    first_existing(dir, ENTRY_STEMS, ENTRY_EXTS).ok_or_else(|| {
        anyhow::anyhow!(
            "service \"{}\": cannot find its entry file in {}; set `main` in its package.json, \
             `node.main` in its config, or add one of index.js, main.js, app.js, server.js …",
            svc.id,
            dir.display()
        )
    })
}

/// `exports` as a string, or the `.` entry's string / `import` / `require` / `default`.
fn exports_entry(exports: Option<&serde_json::Value>) -> Option<String> {
    let e = exports?;
    let dot = e.get(".").unwrap_or(e);
    if let Some(s) = dot.as_str() {
        return Some(s.to_string());
    }
    ["import", "require", "node", "default"]
        .iter()
        .find_map(|k| dot.get(k).and_then(exports_target))
}

fn exports_target(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_string).or_else(|| {
        v.get("default")
            .and_then(|d| d.as_str())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exports_forms() {
        assert_eq!(
            exports_entry(Some(&json!("./a.js"))).as_deref(),
            Some("./a.js")
        );
        assert_eq!(
            exports_entry(Some(&json!({".": "./b.js"}))).as_deref(),
            Some("./b.js")
        );
        assert_eq!(
            exports_entry(Some(
                &json!({".": {"import": "./c.mjs", "require": "./c.cjs"}})
            ))
            .as_deref(),
            Some("./c.mjs")
        );
        assert_eq!(
            exports_entry(Some(&json!({"import": {"default": "./d.js"}}))).as_deref(),
            Some("./d.js")
        );
    }
}
