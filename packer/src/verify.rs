//! The last check before an artifact is written: every module a shipped service's own code
//! loads by name, and every `--import`/`--require` its `nodeOptions` pass, must resolve
//! **inside the artifact** by Node's rules (builtins, `node_modules` lookup up the folders,
//! links, package `exports` with conditions and patterns, `main`, self-references, `#imports`).
//! A green build then never gives an artifact that stops at boot with `ERR_MODULE_NOT_FOUND`.
//!
//! The resolution runs on the [`Tree`] the sinks will write, not on the build machine, so a
//! package that is installed on the host but was not shipped is caught too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::config::ResolvedService;
use crate::frameworks::{Package, StartPlan};
use crate::imports::{self, BareImport, How, Reached};
use crate::paths;
use crate::tree::{Entry, Source, Tree};

/// What one service's own code loads, found before packing (the closure ships it) and checked
/// after (it must resolve in the artifact).
#[derive(Debug, Clone)]
pub struct ServiceImports {
    pub id: String,
    /// The service folder (host).
    pub dir: PathBuf,
    pub reached: Reached,
    /// Bare imports of shipped code files nothing reached imports (see [`imports::loose`]).
    pub loose: Vec<BareImport>,
    /// The devDependencies of the service's nearest package.json: never roots from `loose`.
    pub dev: BTreeSet<String>,
    /// `--import`/`--require`/`--loader` values of `nodeOptions`, resolved from the service folder.
    pub flags: Vec<String>,
    /// The service's preload files (host paths): each must be a file of the artifact.
    pub preload: Vec<PathBuf>,
}

impl ServiceImports {
    /// Scans the files the service runs: its start entry, plugins or request handler build,
    /// the script `commands.production` runs, and its preloads.
    pub fn scan(svc: &ResolvedService, package: &Package, root: &Path) -> Result<ServiceImports> {
        let mut entries: Vec<PathBuf> = svc.preload.clone();
        match &package.start {
            StartPlan::Node { entry, .. } => entries.push(entry.clone()),
            StartPlan::FastifyPlugins { plugins, .. } => {
                entries.extend(plugins.iter().map(|p| p.path.clone()))
            }
            StartPlan::RequestHandler { build, .. } => entries.push(build.clone()),
            StartPlan::Command { argv } => entries.extend(
                argv.iter()
                    .skip(1)
                    .map(|a| svc.path.join(a))
                    .filter(|p| p.is_file() && p.starts_with(&svc.path)),
            ),
            // The capability loads its plugins itself: they are among the shipped files `loose` scans.
            StartPlan::Static { .. } | StartPlan::Gateway { .. } | StartPlan::Capability { .. } => {
            }
        }
        let flags = match &svc.node_options {
            Some(o) => loader_flags(&shell_words::split(o).map_err(|e| {
                anyhow::anyhow!(
                    "service \"{}\": cannot parse nodeOptions {o:?}: {e}",
                    svc.id
                )
            })?),
            None => Vec::new(),
        };
        let reached = imports::reach(&entries, &svc.path);
        let loose = imports::loose(&package.ship, &reached);
        let dev = svc
            .path
            .ancestors()
            .take_while(|d| d.starts_with(root))
            .find_map(|d| std::fs::read_to_string(d.join("package.json")).ok())
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| {
                v.get("devDependencies")
                    .and_then(Value::as_object)
                    .map(|o| o.keys().cloned().collect())
            })
            .unwrap_or_default();
        Ok(ServiceImports {
            id: svc.id.clone(),
            dir: svc.path.clone(),
            reached,
            loose,
            dev,
            flags,
            preload: svc.preload.clone(),
        })
    }

    /// The packages the closure must ship for this code: everything reached imports, plus what
    /// the other shipped files import unless it is a devDependency. Sorted, each with the
    /// folder Node starts looking from.
    pub fn packages(&self) -> Vec<(String, PathBuf)> {
        let mut out = self.reached.packages();
        let mut seen: BTreeSet<String> = out.iter().map(|(n, _)| n.clone()).collect();
        for b in &self.loose {
            let Some(name) = imports::package_name(&b.specifier) else {
                continue;
            };
            if !self.dev.contains(name) && seen.insert(name.to_string()) {
                let dir = b.file.parent().unwrap_or(Path::new("/")).to_path_buf();
                out.push((name.to_string(), dir));
            }
        }
        out.sort();
        out
    }
}

/// The modules `--import X`, `--import=X`, `--require X`, `-r X`, `--loader X` and
/// `--experimental-loader X` name.
fn loader_flags(argv: &[String]) -> Vec<String> {
    const FLAGS: &[&str] = &[
        "--import",
        "--require",
        "-r",
        "--loader",
        "--experimental-loader",
    ];
    let mut out = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if FLAGS.contains(&a.as_str()) {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some((flag, v)) = a.split_once('=') {
            if FLAGS.contains(&flag) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// Checks every service's imports against the artifact `tree`, whose app root (`root` on the
/// host) is at `app_dir`. Misses inside `try` blocks are warnings (printed); any other miss
/// fails, naming the service, the file, the line and the specifier.
pub fn check(tree: &Tree, root: &Path, app_dir: &str, services: &[ServiceImports]) -> Result<()> {
    let started = std::time::Instant::now();
    let mut r = Resolver {
        tree,
        manifests: BTreeMap::new(),
    };
    let mut errors = Vec::new();
    for svc in services {
        let shown = |f: &Path| f.strip_prefix(root).unwrap_or(f).display().to_string();
        let mut report = |in_try: bool, msg: String| {
            if in_try {
                eprintln!("watt: warning: service \"{}\": {msg} (inside a try block, so the code is ready for it to be missing)", svc.id);
            } else {
                errors.push(format!("service \"{}\": {msg}", svc.id));
            }
        };
        for m in &svc.reached.missing_files {
            report(
                m.in_try,
                format!(
                    "{}:{} imports `{}`, which is no file",
                    shown(&m.file),
                    m.line,
                    m.specifier
                ),
            );
        }
        for b in &svc.reached.bare {
            let Ok(file) = paths::artifact_path(app_dir, root, &b.file) else {
                continue;
            };
            let dir = paths::parent(&file);
            if let Err(why) = r.resolve(&b.specifier, dir, b.how) {
                report(
                    b.in_try,
                    format!(
                        "{}:{} imports `{}`, which does not resolve inside the artifact: {why}",
                        shown(&b.file),
                        b.line,
                        b.specifier
                    ),
                );
            }
        }
        for p in &svc.preload {
            let shipped = paths::artifact_path(app_dir, root, p)
                .ok()
                .is_some_and(|f| r.is_file(&f));
            if !shipped {
                report(
                    false,
                    format!("the preload {} is not in the artifact", shown(p)),
                );
            }
        }
        for b in &svc.loose {
            let Ok(file) = paths::artifact_path(app_dir, root, &b.file) else {
                continue;
            };
            if let Err(why) = r.resolve(&b.specifier, paths::parent(&file), b.how) {
                let dev = imports::package_name(&b.specifier).is_some_and(|n| svc.dev.contains(n));
                eprintln!(
                    "watt: warning: service \"{}\": {}:{} imports `{}`, which does not resolve \
                     inside the artifact: {why}. Nothing the service starts imports this file{}, \
                     so it may never run; if it does (a folder of routes loaded at run time), \
                     the service will fail there",
                    svc.id,
                    shown(&b.file),
                    b.line,
                    b.specifier,
                    if dev {
                        " and the package is a devDependency"
                    } else {
                        ""
                    }
                );
            }
        }
        let Ok(dir) = paths::artifact_path(app_dir, root, &svc.dir) else {
            continue;
        };
        for flag in &svc.flags {
            if flag.starts_with("data:") {
                continue;
            }
            let found = if imports::is_relative(flag) {
                let rel = flag.strip_prefix("file://").unwrap_or(flag);
                if rel.starts_with('/') {
                    Err(
                        "an absolute path, which is a path on this machine, not in the \
                         artifact; use a path relative to the service folder"
                            .to_string(),
                    )
                } else {
                    let p = paths::normalize(&paths::join(&dir, rel));
                    match r.real(&p) {
                        Some((_, Entry::File { .. })) => Ok(()),
                        _ => Err("no such file in the artifact".to_string()),
                    }
                }
            } else {
                r.resolve(flag, &dir, How::Static)
            };
            if let Err(why) = found {
                report(
                    false,
                    format!("nodeOptions loads `{flag}`, which does not resolve inside the artifact: {why}"),
                );
            }
        }
    }
    let files: usize = services.iter().map(|s| s.reached.files.len()).sum();
    let bare: usize = services.iter().map(|s| s.reached.bare.len()).sum();
    eprintln!(
        "watt: checked {bare} imports of {files} files inside the artifact in {} ms",
        started.elapsed().as_millis()
    );
    if errors.is_empty() {
        return Ok(());
    }
    let mut msg = listed(&errors, "import", "would fail when the artifact starts");
    msg.push_str(
        "\nInstall the missing packages as dependencies of the service (or of the app root) and \
         build again; fix the paths of missing files",
    );
    bail!(msg)
}

/// `N <noun>(s) <what>:` and one indented line per error: how the build's checks report.
pub(crate) fn listed(errors: &[String], noun: &str, what: &str) -> String {
    let plural = if errors.len() == 1 { "" } else { "s" };
    let mut msg = format!("{} {noun}{plural} {what}:", errors.len());
    for e in errors {
        let _ = write!(msg, "\n  {e}");
    }
    msg
}

struct Resolver<'a> {
    tree: &'a Tree,
    /// package.json path in the tree → its JSON (`Null` when unreadable).
    manifests: BTreeMap<String, Value>,
}

impl<'a> Resolver<'a> {
    /// `path` with every link on the way followed, and what is there.
    fn real(&self, path: &str) -> Option<(String, &'a Entry)> {
        self.tree.resolve(path).ok()
    }

    fn is_file(&self, path: &str) -> bool {
        matches!(self.real(path), Some((_, Entry::File { .. })))
    }

    fn is_dir(&self, path: &str) -> Option<String> {
        match self.real(path) {
            Some((p, Entry::Dir)) => Some(p),
            _ => None,
        }
    }

    fn manifest(&mut self, dir: &str) -> Option<Value> {
        let path = paths::join(dir, "package.json");
        if let Some(v) = self.manifests.get(&path) {
            return (!v.is_null()).then(|| v.clone());
        }
        let value = match self.real(&path) {
            Some((_, Entry::File { source, .. })) => {
                let bytes = match source {
                    Source::Path(p) => std::fs::read(p).ok(),
                    Source::Bytes(b) => Some(b.to_vec()),
                };
                bytes
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        self.manifests.insert(path, value.clone());
        (!value.is_null()).then_some(value)
    }

    /// Node's resolution of the bare `spec` from the folder `from`. `Err` says why not.
    fn resolve(&mut self, spec: &str, from: &str, how: How) -> Result<(), String> {
        if imports::is_builtin(spec) {
            return Ok(());
        }
        if spec.starts_with('#') {
            return self.resolve_hash(spec, from, how);
        }
        let Some(name) = imports::package_name(spec) else {
            return Ok(());
        };
        let sub = &spec[name.len()..];
        // A package may import itself by name through its own `exports`.
        if let Some((dir, m)) = self.nearest_manifest(from) {
            if m.get("name").and_then(Value::as_str) == Some(name) && m.get("exports").is_some() {
                return self.resolve_in_package(&dir, &m, sub, how);
            }
        }
        let mut dir = from.to_string();
        loop {
            if !dir.ends_with("/node_modules") && dir != "node_modules" {
                let candidate = paths::join(&paths::join(&dir, "node_modules"), name);
                if let Some(real) = self.is_dir(&candidate) {
                    let m = self.manifest(&real).unwrap_or(Value::Null);
                    return self.resolve_in_package(&real, &m, sub, how);
                }
            }
            if dir.is_empty() {
                break;
            }
            dir = paths::parent(&dir).to_string();
        }
        Err(format!(
            "no node_modules/{name} in {} or any folder above it; the package is not shipped",
            if from.is_empty() { "." } else { from }
        ))
    }

    fn nearest_manifest(&mut self, from: &str) -> Option<(String, Value)> {
        let mut dir = from.to_string();
        loop {
            if let Some(m) = self.manifest(&dir) {
                return Some((dir, m));
            }
            if dir.is_empty() {
                return None;
            }
            dir = paths::parent(&dir).to_string();
        }
    }

    /// `sub` (`""` or `/x/y`) of the package at `dir`.
    fn resolve_in_package(
        &mut self,
        dir: &str,
        manifest: &Value,
        sub: &str,
        how: How,
    ) -> Result<(), String> {
        if let Some(exports) = manifest.get("exports").filter(|e| !e.is_null()) {
            let key = format!(".{sub}");
            let Some(target) = match_map(exports, &key, true, how) else {
                return Err(format!(
                    "the package at {dir} does not export `{key}` (package.json `exports`)"
                ));
            };
            return self.target_file(dir, &target);
        }
        if sub.is_empty() {
            if let Some(main) = manifest.get("main").and_then(Value::as_str) {
                if self.probe(&paths::normalize(&paths::join(dir, main))) {
                    return Ok(());
                }
            }
            return if self.probe(&paths::join(dir, "index")) {
                Ok(())
            } else {
                Err(format!(
                    "the package at {dir} has no main file (package.json `main`, index.js)"
                ))
            };
        }
        let path = paths::normalize(&format!("{dir}{sub}"));
        if self.probe(&path) || self.is_file(&path) {
            Ok(())
        } else {
            Err(format!("no file {path}"))
        }
    }

    fn target_file(&self, dir: &str, target: &str) -> Result<(), String> {
        let path = paths::normalize(&paths::join(dir, target));
        if self.is_file(&path) {
            Ok(())
        } else {
            Err(format!(
                "its exports point at {path}, which is not in the artifact"
            ))
        }
    }

    /// CommonJS file lookup: as is, with `.js`/`.json`/`.node`, or a folder's main or index.
    fn probe(&mut self, path: &str) -> bool {
        if self.is_file(path) {
            return true;
        }
        for ext in ["js", "json", "node", "mjs", "cjs"] {
            if self.is_file(&format!("{path}.{ext}")) {
                return true;
            }
        }
        if let Some(real) = self.is_dir(path) {
            if let Some(main) = self
                .manifest(&real)
                .and_then(|m| m.get("main").and_then(Value::as_str).map(str::to_string))
            {
                let main = paths::normalize(&paths::join(&real, &main));
                if main != real && self.probe(&main) {
                    return true;
                }
            }
            for ext in ["js", "json", "node", "mjs", "cjs"] {
                if self.is_file(&format!("{real}/index.{ext}")) {
                    return true;
                }
            }
        }
        false
    }

    /// `#name`: the nearest package.json's `imports`.
    fn resolve_hash(&mut self, spec: &str, from: &str, how: How) -> Result<(), String> {
        let Some((dir, m)) = self.nearest_manifest(from) else {
            return Err("no package.json with `imports` above the file".into());
        };
        let Some(target) = m
            .get("imports")
            .and_then(|i| match_map(i, spec, false, how))
        else {
            return Err(format!("{dir}/package.json `imports` has no entry for it"));
        };
        if target.starts_with("./") {
            self.target_file(&dir, &target)
        } else {
            self.resolve(&target, &dir, how)
        }
    }
}

/// The conditions Node matches, by how the module is loaded.
fn conditions(how: How) -> &'static [&'static str] {
    match how {
        How::Require => &["node", "require", "module-sync", "default"],
        How::Static | How::Dynamic => &["node", "import", "module-sync", "default"],
    }
}

/// The target `key` maps to in an `exports`/`imports` map (`"./sub"`, `"#x"`), with `*`
/// patterns and conditions applied. `exports` may be a bare target or a map of conditions when
/// `sugar` (only `"."` then).
fn match_map(map: &Value, key: &str, sugar: bool, how: How) -> Option<String> {
    let is_subpath_map = map
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with('.') || k.starts_with('#')));
    if sugar && !is_subpath_map {
        return if key == "." {
            target(map, how, None)
        } else {
            None
        };
    }
    let obj = map.as_object()?;
    if let Some(t) = obj.get(key) {
        if !key.contains('*') {
            return target(t, how, None);
        }
    }
    // Longest pattern prefix wins, as in Node's PATTERN_KEY_COMPARE.
    let mut best: Option<(&str, &Value, String)> = None;
    for (k, t) in obj {
        let Some((pre, post)) = k.split_once('*') else {
            continue;
        };
        if key.len() >= k.len() - 1
            && key.starts_with(pre)
            && key.ends_with(post)
            && key.len() > pre.len()
        {
            let star = key[pre.len()..key.len() - post.len()].to_string();
            if best
                .as_ref()
                .is_none_or(|(b, _, _)| pre.len() > b.split('*').next().unwrap_or("").len())
            {
                best = Some((k.as_str(), t, star));
            }
        }
    }
    let (_, t, star) = best?;
    target(t, how, Some(&star))
}

fn target(t: &Value, how: How, star: Option<&str>) -> Option<String> {
    match t {
        Value::String(s) => Some(match star {
            Some(star) => s.replace('*', star),
            None => s.clone(),
        }),
        Value::Array(items) => items.iter().find_map(|i| target(i, how, star)),
        Value::Object(o) => o
            .iter()
            .find(|(k, _)| conditions(how).contains(&k.as_str()))
            .and_then(|(_, v)| target(v, how, star)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(files: &[(&str, &str)], links: &[(&str, &str)]) -> Tree {
        let mut t = Tree::new();
        for (p, text) in files {
            t.add_bytes(p, text.as_bytes().to_vec(), false).unwrap();
        }
        for (p, target) in links {
            t.add_symlink(p, target).unwrap();
        }
        t
    }

    fn resolves(t: &Tree, spec: &str, from: &str, how: How) -> Result<(), String> {
        Resolver {
            tree: t,
            manifests: BTreeMap::new(),
        }
        .resolve(spec, from, how)
    }

    #[test]
    fn node_modules_lookup_goes_up_and_through_links() {
        let t = tree(
            &[
                (
                    "app/node_modules/hoisted/package.json",
                    r#"{"main":"lib/main"}"#,
                ),
                ("app/node_modules/hoisted/lib/main.js", ""),
                ("app/node_modules/.pnpm/p@1/node_modules/p/index.js", ""),
                ("app/web/api/src/index.js", ""),
            ],
            &[(
                "app/web/api/node_modules/p",
                "../../../node_modules/.pnpm/p@1/node_modules/p",
            )],
        );
        assert_eq!(
            resolves(&t, "hoisted", "app/web/api/src", How::Static),
            Ok(())
        );
        assert_eq!(resolves(&t, "p", "app/web/api/src", How::Require), Ok(()));
        assert_eq!(resolves(&t, "fs", "app", How::Static), Ok(()));
        assert_eq!(resolves(&t, "node:sqlite", "app", How::Static), Ok(()));
        let err = resolves(&t, "missing", "app/web/api/src", How::Static).unwrap_err();
        assert!(err.contains("no node_modules/missing"), "{err}");
        // Found in one node_modules: Node does not look further up for a subpath.
        let err = resolves(&t, "hoisted/nope", "app/web/api", How::Static).unwrap_err();
        assert!(err.contains("no file"), "{err}");
    }

    #[test]
    fn exports_conditions_patterns_and_self_references() {
        let pkg = json!({
            "name": "lib",
            "exports": {
                ".": { "types": "./x.d.ts", "import": "./esm/index.js", "require": "./cjs/index.js" },
                "./features/*": "./src/features/*.js",
                "./features/private/*": null,
                "./package.json": "./package.json"
            }
        })
        .to_string();
        let t = tree(
            &[
                ("app/node_modules/lib/package.json", &pkg),
                ("app/node_modules/lib/esm/index.js", ""),
                ("app/node_modules/lib/src/features/a.js", ""),
                (
                    "app/package.json",
                    r##"{"name":"me","exports":"./main.js","imports":{"#db":"./db.js","#dep":"lib"}}"##,
                ),
                ("app/main.js", ""),
                ("app/db.js", ""),
            ],
            &[],
        );
        assert_eq!(resolves(&t, "lib", "app", How::Static), Ok(()));
        // The require condition points at a file that was not shipped.
        let err = resolves(&t, "lib", "app", How::Require).unwrap_err();
        assert!(err.contains("cjs/index.js"), "{err}");
        assert_eq!(resolves(&t, "lib/features/a", "app", How::Static), Ok(()));
        assert!(resolves(&t, "lib/features/b", "app", How::Static).is_err());
        assert!(resolves(&t, "lib/features/private/a", "app", How::Static).is_err());
        let err = resolves(&t, "lib/esm/index.js", "app", How::Static).unwrap_err();
        assert!(err.contains("does not export `./esm/index.js`"), "{err}");
        assert_eq!(resolves(&t, "me", "app", How::Static), Ok(()));
        assert_eq!(resolves(&t, "#db", "app", How::Static), Ok(()));
        assert_eq!(resolves(&t, "#dep", "app", How::Static), Ok(()));
        assert!(resolves(&t, "#nope", "app", How::Static).is_err());
    }

    #[test]
    fn loader_flags_in_every_spelling() {
        let argv: Vec<String> = [
            "--import",
            "a",
            "--require=b",
            "-r",
            "c",
            "--max-old-space-size=100",
            "--experimental-loader=d",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(loader_flags(&argv), ["a", "b", "c", "d"]);
    }
}
