//! Next.js (`@platformatic/next`): built with `application.commands.build` or the app's own
//! `next build`, shipped as Next's **standalone** output and started from its `server.js`.
//!
//! - Standalone is switched on for the build without touching the user's files: Next 15 and 16
//!   read `NEXT_PRIVATE_STANDALONE` into the *default* `output` (`server/config-shared.js`), so a
//!   config without `output` builds standalone while an explicit `output` still wins.
//! - `application.basePath` is what Watt gives Next when `next.config` has no `basePath` of its
//!   own (Watt wraps the config file at build time; an app without one is not wrapped and
//!   serves at `/`). watt does the same by giving Next's default config that base path for the
//!   build (a `--import` hook in `NODE_OPTIONS`), and checks the built config against it, so
//!   pages and assets live under the prefix the gateway uses.
//! - `.next/standalone` holds `server.js` (at the app's path below Next's tracing root) and only
//!   the `node_modules` files Next traced; it lacks `.next/static` and `public/`, which are placed
//!   beside `server.js` in the artifact (the user's folders are never modified). The stub serves
//!   that `.next/static` copy itself at `<basePath>/_next/static` (strong ETag, 304, Range,
//!   immutable caching) and passes every other request to `server.js`.
//! - Links in the standalone output (pnpm layouts) stay links when they are relative and stay
//!   inside it. Any other link is resolved where Next found it (Next copies link targets
//!   verbatim) and replaced by a copy of its target — a file, or a source folder such as a
//!   workspace package — or fails naming the link when the target is an installed package
//!   (its dependencies sit beside it in a `node_modules`/pnpm store Next did not trace) or
//!   leads nowhere. Both mean the tracing root is too narrow (`outputFileTracingRoot`).
//! - Without standalone output (a custom build command that does not run `next build`, …) the
//!   service falls back to `next start` with its production dependencies; an `output: 'export'`
//!   build is served by the stub as static files from `out/`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::next_reproducible;
use super::output::find_bin;
use super::{
    configured_build, find_package, normalize_prefix, BuildCommand, Framework, Package, StartPlan,
    StaticAssetsPlan,
};
use crate::config::{Kind, ResolvedApp, ResolvedService};
use crate::paths;

pub struct Next;

/// What Next writes into a standalone `server.js` (Watt recognises the file by it too).
const STANDALONE_MARKER: &str = "process.env.__NEXT_PRIVATE_STANDALONE_CONFIG";

/// Runs before every node process of the build (`--import` in `NODE_OPTIONS`): gives Next's
/// default config the base path and the reproducible build id, and derives the preview keys
/// from a given secret. See the file.
const BUILD_HOOK: &str = include_str!("next_build_hook.mjs");

impl Framework for Next {
    fn name(&self) -> &'static str {
        "next"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Next)
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        let mut cmd = match configured_build(svc) {
            Some(cmd) => cmd,
            None => {
                let Some(bin) = find_bin(&svc.path, "next") else {
                    bail!(
                        "service \"{}\" is a Next.js application but its `next` command \
                         (node_modules/.bin/next) is not installed in {} or a parent folder; \
                         install the app's dependencies (npm install) before `watt build`",
                        svc.id,
                        svc.path.display()
                    );
                };
                BuildCommand {
                    display: "next build".into(),
                    argv: vec![bin.to_string_lossy().into_owned(), "build".into()],
                    env: Vec::new(),
                }
            }
        };
        let node_options = std::env::var("NODE_OPTIONS").ok();
        let build_id = next_reproducible::build_id(&svc.path, &wanted_base_path(svc))
            .with_context(|| format!("service \"{}\": cannot hash the build's inputs", svc.id))?;
        cmd.env = build_env(svc, node_options.as_deref(), &build_id);
        if std::env::var_os("NEXT_SERVER_ACTIONS_ENCRYPTION_KEY").is_none() {
            eprintln!(
                "watt: service \"{}\": Next generates random preview-mode and server-actions \
                 keys, so this build is not reproducible; set NEXT_SERVER_ACTIONS_ENCRYPTION_KEY \
                 (a secret: `openssl rand -base64 32`) to make them derive from it",
                svc.id
            );
        }
        Ok(Some(cmd))
    }

    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
        let out = BuildOutput::find(svc)?;
        if out.config.get("output").and_then(Value::as_str) == Some("export") {
            return export_package(svc);
        }
        check_base_path(svc, &out.config)?;
        let standalone = out.dist.join("standalone");
        if standalone.is_dir() {
            return standalone_package(svc, &app.root, &out, &standalone);
        }
        eprintln!(
            "watt: service \"{}\": Next built no standalone output ({} is missing); shipping \
             `next start` with the production dependencies instead (a larger artifact)",
            svc.id,
            standalone.display()
        );
        next_start_package(svc, &out)
    }
}

/// The build's extra environment: standalone output, and the build hook with the build id and
/// the base path (when there is one).
fn build_env(
    svc: &ResolvedService,
    node_options: Option<&str>,
    build_id: &str,
) -> Vec<(String, String)> {
    let mut env = vec![("NEXT_PRIVATE_STANDALONE".to_string(), "true".to_string())];
    let hook = format!(
        "--import=data:text/javascript;base64,{}",
        base64(BUILD_HOOK.as_bytes())
    );
    let options = match node_options.map(str::trim) {
        Some(o) if !o.is_empty() => format!("{o} {hook}"),
        _ => hook,
    };
    let base = wanted_base_path(svc);
    if !base.is_empty() && wrapped_config(svc).is_some() {
        env.push(("WATT_NEXT_BASE_PATH".into(), base));
    }
    env.push(("WATT_NEXT_BUILD_ID".into(), build_id.to_string()));
    env.push((
        "WATT_NEXT_DIR".into(),
        svc.path.to_string_lossy().into_owned(),
    ));
    env.push(("NODE_OPTIONS".into(), options));
    env
}

/// The next.config file Watt wraps to hand Next `application.basePath`: `next.config.js` or
/// `.mjs` (packages/next/lib/loader.js `candidates`), and `next.config.ts` from Next 15 on
/// (loader-next-15.cjs, loaded for `major >= 15` in capability.js). An app with none gets no
/// base path from Watt: Next serves it at `/`.
fn wrapped_config(svc: &ResolvedService) -> Option<&'static str> {
    let ts = next_major(svc).is_none_or(|m| m >= 15);
    ["next.config.js", "next.config.mjs", "next.config.ts"]
        .into_iter()
        .filter(|f| ts || *f != "next.config.ts")
        .find(|f| svc.path.join(f).is_file())
}

/// The major version of the Next the service resolves, if it can be read.
fn next_major(svc: &ResolvedService) -> Option<u64> {
    let dir = find_package(&svc.path, "next")?;
    let text = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get("version")?.as_str()?.split('.').next()?.parse().ok()
}

/// `application.basePath` as Next wants it: `""` or `/a/b` (leading slash, no trailing one).
fn wanted_base_path(svc: &ResolvedService) -> String {
    normalize_prefix(svc.application.base_path.as_deref().unwrap_or(""))
}

/// A finished `next build`: its dist folder and the resolved config Next recorded.
struct BuildOutput {
    /// Next's `distDir` (`.next` unless next.config says otherwise), absolute.
    dist: PathBuf,
    /// `required-server-files.json`'s `config`: the config after Next applied its defaults.
    config: Value,
    /// Where the app sits below Next's tracing root (`relativeAppDir`), if recorded.
    relative_app_dir: Option<String>,
}

impl BuildOutput {
    fn find(svc: &ResolvedService) -> Result<Self> {
        let default = svc.path.join(".next");
        let dist = if is_dist(&default) {
            default
        } else if let Some(d) = find_dist(&svc.path, 3) {
            d
        } else {
            bail!(
                "service \"{}\": no Next.js build output in {} (.next/required-server-files.json \
                 is missing); `next build` writes it — check the build log in .watt/logs/, and \
                 that a custom application.commands.build runs `next build`",
                svc.id,
                svc.path.display()
            );
        };
        let file = dist.join("required-server-files.json");
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", file.display()))?;
        Ok(BuildOutput {
            dist,
            config: json.get("config").cloned().unwrap_or(Value::Null),
            relative_app_dir: json
                .get("relativeAppDir")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// Next's output file tracing root, where the standalone layout starts.
    fn tracing_root(&self) -> Option<PathBuf> {
        self.config
            .get("outputFileTracingRoot")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    }
}

fn is_dist(dir: &Path) -> bool {
    dir.join("required-server-files.json").is_file() && dir.join("BUILD_ID").is_file()
}

/// A custom `distDir`: the shallowest folder below `dir` (not in `node_modules`) that holds a
/// Next build, in sorted order.
fn find_dist(dir: &Path, depth: usize) -> Option<PathBuf> {
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for d in &level {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            let mut subs: Vec<PathBuf> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| {
                    let n = e.file_name();
                    n != "node_modules" && n != ".git" && n != ".watt" && n != "standalone"
                })
                .map(|e| e.path())
                .collect();
            subs.sort();
            next.extend(subs);
        }
        if let Some(found) = next.iter().find(|d| is_dist(d)) {
            return Some(found.clone());
        }
        level = next;
    }
    None
}

/// The built config must have the base path the gateway routes to the service.
fn check_base_path(svc: &ResolvedService, config: &Value) -> Result<()> {
    if svc.application.base_path.is_none() {
        return Ok(());
    }
    let want = wanted_base_path(svc);
    let got = config.get("basePath").and_then(Value::as_str).unwrap_or("");
    if got != want && got.is_empty() && wrapped_config(svc).is_none() {
        eprintln!(
            "watt: warning: service \"{}\": application.basePath \"{want}\" does not reach \
             Next: there is no next.config.js, .mjs or .ts for Watt to add it to, so Next \
             serves the app at / (as under wattpm); add a next.config to serve it under {want}",
            svc.id
        );
        return Ok(());
    }
    if got != want {
        let shown = |s: &str| {
            if s.is_empty() {
                "/".to_string()
            } else {
                s.to_string()
            }
        };
        bail!(
            "service \"{}\": application.basePath is \"{}\" but Next built the app for base path \
             \"{}\"; make them match: set `basePath: '{want}'` in next.config (or remove \
             application.basePath)",
            svc.id,
            shown(&want),
            shown(got)
        );
    }
    Ok(())
}

fn standalone_package(
    svc: &ResolvedService,
    root: &Path,
    out: &BuildOutput,
    standalone: &Path,
) -> Result<Package> {
    let entry = standalone_entry(standalone, out.relative_app_dir.as_deref()).ok_or_else(|| {
        anyhow::anyhow!(
            "service \"{}\": Next's standalone output {} has no server.js (looked for the file \
             Next writes beside the app's .next folder); rebuild with `next build` and check \
             its log",
            svc.id,
            standalone.display()
        )
    })?;
    let server_dir = entry.parent().unwrap_or(standalone);
    let in_root = |p: &Path| -> Result<PathBuf> {
        p.strip_prefix(root)
            .map(Path::to_path_buf)
            .with_context(|| {
                format!(
                    "service \"{}\": {} is outside the app root {}",
                    svc.id,
                    p.display(),
                    root.display()
                )
            })
    };
    let dist_rel = out.dist.strip_prefix(&svc.path).with_context(|| {
        format!(
            "service \"{}\": Next's distDir {} is outside the service folder",
            svc.id,
            out.dist.display()
        )
    })?;

    let mut ship_as = Vec::new();
    let mut static_assets = None;
    let static_dir = out.dist.join("static");
    if static_dir.is_dir() {
        // Shipped beside server.js, where Next serves it from; the stub answers these hashed
        // files itself (ETag, 304, Range, immutable caching) in front of the process.
        let shipped = server_dir.join(dist_rel).join("static");
        ship_as.push((static_dir, in_root(&shipped)?));
        static_assets = Some(StaticAssetsPlan {
            dir: shipped,
            url_prefix: format!("{}/_next/static", built_base_path(&out.config)),
        });
    }
    let public = svc.path.join("public");
    if public.is_dir() {
        ship_as.push((public, in_root(&server_dir.join("public"))?));
    }
    for (host, rewritten) in
        reproducible_copies(svc, root, out, &entry, &server_dir.join(dist_rel))?
    {
        ship_as.push((rewritten, in_root(&host)?));
    }
    let standalone_rel = in_root(standalone)?;
    let replaced = replace_escaping_links(standalone, out.tracing_root().as_deref())
        .with_context(|| format!("cannot pack service \"{}\"", svc.id))?;
    for (real, rel) in replaced {
        eprintln!(
            "watt: service \"{}\": {} in Next's standalone output is a link leading outside it; \
             shipping a copy of {} there. If the app then misses modules at run time, set \
             `outputFileTracingRoot` in next.config to the repository root so Next traces them",
            svc.id,
            rel.display(),
            real.display()
        );
        ship_as.push((real, standalone_rel.join(rel)));
    }
    Ok(Package {
        ship: Vec::new(),
        ship_verbatim: vec![standalone.to_path_buf()],
        ship_as,
        extra_dependencies: Vec::new(),
        ship_dependencies: false,
        start: StartPlan::Node {
            entry,
            fastify: None,
        },
        static_assets,
    })
}

/// Rewritten copies in `.watt/next/<id>/` of the standalone files that differ from build to
/// build, each with the file it replaces: `server.js` and `required-server-files.json` without
/// the build machine's folders, the route maps with their keys sorted.
fn reproducible_copies(
    svc: &ResolvedService,
    root: &Path,
    out: &BuildOutput,
    entry: &Path,
    shipped_dist: &Path,
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let scratch = root.join(".watt/next").join(&svc.id);
    let mut replaced = Vec::new();
    let mut replace = |file: PathBuf, clean: String| -> Result<()> {
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        let copy = scratch.join(file.file_name().unwrap_or_default());
        std::fs::write(&copy, clean).with_context(|| format!("cannot write {}", copy.display()))?;
        replaced.push((file, copy));
        Ok(())
    };
    for map in next_reproducible::ROUTE_MAPS {
        let file = shipped_dist.join(map);
        if let Some(sorted) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| next_reproducible::sorted_route_map(&text))
        {
            replace(file, sorted)?;
        }
    }
    let Some(tracing_root) = out.tracing_root() else {
        return Ok(replaced);
    };
    // The server's folder as Next saw it on this machine; the standalone tree mirrors it.
    let from = match &out.relative_app_dir {
        Some(rel) => tracing_root.join(rel),
        None => svc.path.clone(),
    };
    for file in [
        entry.to_path_buf(),
        shipped_dist.join("required-server-files.json"),
    ] {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Some(clean) = next_reproducible::without_host_paths(&text, &tracing_root, &from) {
            replace(file, clean)?;
        }
    }
    Ok(replaced)
}

/// The base path Next built the app for (`""` for the root).
fn built_base_path(config: &Value) -> String {
    normalize_prefix(config.get("basePath").and_then(Value::as_str).unwrap_or(""))
}

/// `server.js` of the standalone output: at `relativeAppDir` when Next recorded it, else the
/// shallowest `server.js` (outside `node_modules`) that sits beside a `.next` folder and
/// carries Next's marker, as Watt looks for it.
fn standalone_entry(standalone: &Path, relative_app_dir: Option<&str>) -> Option<PathBuf> {
    if let Some(rel) = relative_app_dir {
        let p = standalone.join(rel).join("server.js");
        if is_standalone_server(&p) {
            return Some(p);
        }
    }
    let mut level = vec![standalone.to_path_buf()];
    for _ in 0..8 {
        let mut found: Vec<PathBuf> = level
            .iter()
            .map(|d| d.join("server.js"))
            .filter(|p| is_standalone_server(p))
            .collect();
        if !found.is_empty() {
            found.sort();
            return found.into_iter().next();
        }
        let mut next = Vec::new();
        for d in &level {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            next.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter(|e| {
                        let n = e.file_name();
                        n != "node_modules" && !n.to_string_lossy().starts_with('.')
                    })
                    .map(|e| e.path()),
            );
        }
        level = next;
    }
    None
}

fn is_standalone_server(p: &Path) -> bool {
    p.parent().is_some_and(|d| d.join(".next").is_dir())
        && std::fs::read_to_string(p).is_ok_and(|s| s.contains(STANDALONE_MARKER))
}

/// Links in `standalone` that cannot ship as links, each with the host file or folder to ship
/// at its place (path relative to `standalone`). A link stays when it is relative and resolves
/// inside `standalone`. Any other is resolved where Next found it (`tracing_root`/same path:
/// Next copies link targets verbatim, so a relative target means something only there), else
/// where it is. A file or a source folder is copied (a folder's own links are checked the same
/// way, confined to it); an installed package or a dangling link is an error naming the link.
/// How many copied-in folders may nest inside each other before it is called a cycle.
const MAX_LINK_DEPTH: usize = 16;

fn replace_escaping_links(
    standalone: &Path,
    tracing_root: Option<&Path>,
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let mut todo = vec![(standalone.to_path_buf(), PathBuf::new(), tracing_root, 0)];
    while let Some((base, dest, original_root, depth)) = todo.pop() {
        for (link, target) in links_below(&base)? {
            let at = paths::resolve(link.parent().unwrap_or(&base), &target);
            if target.is_relative() && at.starts_with(&base) {
                continue;
            }
            let rel = link.strip_prefix(&base).unwrap_or(&link).to_path_buf();
            let mut candidates = Vec::new();
            if let (Some(orig), true) = (original_root, target.is_relative()) {
                candidates.push(orig.join(&rel));
            }
            candidates.push(link.clone());
            let Some(real) = candidates
                .iter()
                .find_map(|c| std::fs::canonicalize(c).ok())
            else {
                bail!(
                    "{} in Next's standalone output is a link to {}, which leads outside the \
                     output and to nothing on this machine (tried {}); the artifact cannot carry \
                     it. Set `outputFileTracingRoot` in next.config to the repository root so \
                     Next copies the files, and rebuild",
                    link.display(),
                    target.display(),
                    candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            if real.is_dir() && in_node_modules(&real) {
                bail!(
                    "{} in Next's standalone output is a link to the installed package {}, \
                     outside Next's output file tracing root: Next did not trace that package \
                     nor the dependencies it finds beside it, so a copy of it alone cannot run. \
                     Set `outputFileTracingRoot` (and `turbopack.root`) in next.config to the \
                     folder that holds the lockfile and node_modules, or remove it to let Next \
                     find that folder, and rebuild",
                    link.display(),
                    real.display()
                );
            }
            if real.is_dir() {
                if depth >= MAX_LINK_DEPTH {
                    bail!(
                        "{} in Next's standalone output leads through more than {MAX_LINK_DEPTH} \
                         levels of links leaving their folders (a cycle?); last one: {}",
                        link.display(),
                        real.display()
                    );
                }
                todo.push((real.clone(), dest.join(&rel), None, depth + 1));
            }
            out.push((real, dest.join(rel)));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Whether `dir` is an installed package (`…/node_modules/<name>` or `…/node_modules/@scope/<name>`,
/// pnpm's virtual and global stores included): such a package resolves its dependencies from
/// the `node_modules` folder around it.
fn in_node_modules(dir: &Path) -> bool {
    let parent = dir.parent();
    let is_nm = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .is_some_and(|n| n == "node_modules")
    };
    is_nm(parent)
        || (parent
            .and_then(Path::file_name)
            .is_some_and(|n| n.to_string_lossy().starts_with('@'))
            && is_nm(parent.and_then(Path::parent)))
}

/// Every symlink below `dir` with its target, in sorted order, never following links.
fn links_below(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("cannot read folder {}", d.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("cannot read folder {}", d.display()))?;
            let ft = e
                .file_type()
                .with_context(|| format!("cannot read {}", e.path().display()))?;
            if ft.is_symlink() {
                let target = std::fs::read_link(e.path())
                    .with_context(|| format!("cannot read link {}", e.path().display()))?;
                out.push((e.path(), target));
            } else if ft.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Fallback: `next start` on the built app, with its production dependencies.
fn next_start_package(svc: &ResolvedService, out: &BuildOutput) -> Result<Package> {
    if svc.application.base_path.is_some() {
        bail!(
            "service \"{}\": application.basePath needs Next's standalone output, which the \
             build did not produce; let the build run `next build` (or set `output: \
             'standalone'` in next.config)",
            svc.id
        );
    }
    let Some(next) = find_package(&svc.path, "next") else {
        bail!(
            "service \"{}\": the `next` package cannot be resolved from {}; add it to the \
             service's dependencies and install",
            svc.id,
            svc.path.display()
        );
    };
    let bin = paths::relative(&svc.path, &next.join("dist/bin/next"));
    let mut ship = Vec::new();
    // The build output without Next's caches and traces, which production never reads.
    let mut dist: Vec<PathBuf> = std::fs::read_dir(&out.dist)
        .with_context(|| format!("cannot read {}", out.dist.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", out.dist.display()))?;
    dist.retain(|p| {
        p.file_name()
            .is_some_and(|n| n != "cache" && n != "standalone" && n != "trace")
    });
    dist.sort();
    ship.extend(dist);
    for name in [
        "public",
        "package.json",
        "next.config.js",
        "next.config.mjs",
        "next.config.cjs",
        "next.config.ts",
        "next.config.mts",
    ] {
        let p = svc.path.join(name);
        if p.exists() {
            ship.push(p);
        }
    }
    Ok(Package {
        ship,
        ship_verbatim: Vec::new(),
        ship_as: Vec::new(),
        extra_dependencies: vec!["next".into()],
        ship_dependencies: true,
        start: StartPlan::Command {
            argv: vec![
                "node".into(),
                bin.to_string_lossy().into_owned(),
                "start".into(),
            ],
        },
        static_assets: None,
    })
}

/// `output: 'export'`: plain files in `out/`, served by the stub.
fn export_package(svc: &ResolvedService) -> Result<Package> {
    let dir = svc.path.join("out");
    if !dir.join("index.html").is_file() {
        bail!(
            "service \"{}\" is built with `output: 'export'` but {} has no index.html; check \
             the build log",
            svc.id,
            dir.display()
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
            spa_fallback: false,
        },
        static_assets: None,
    })
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::output::testing;
    use super::*;
    use crate::config::Detection;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn svc(path: &Path, base: Option<&str>) -> ResolvedService {
        let mut s = testing::service(path, Kind::Next);
        s.id = "shop".into();
        s.package_json = Value::Null;
        s.detected_by = Detection::Dependency("next".into());
        s.application.base_path = base.map(str::to_string);
        s
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// What `next build` leaves in an npm-workspaces app at `<root>/web/shop` (tracing root
    /// `<root>`): the dist folder, and the standalone tree mirroring the root.
    fn built_app(root: &Path, config: Value) -> PathBuf {
        let app = root.join("web/shop");
        let dist = app.join(".next");
        write(&dist.join("BUILD_ID"), "abc");
        let mut config = config;
        config["outputFileTracingRoot"] = Value::String(root.display().to_string());
        write(
            &dist.join("required-server-files.json"),
            &serde_json::json!({ "version": 1, "config": config, "appDir": app, "relativeAppDir": "web/shop" })
                .to_string(),
        );
        write(&dist.join("static/chunks/app-0a1b2c.js"), "js");
        write(&dist.join("cache/images/x"), "cache");
        write(&app.join("public/logo.svg"), "<svg/>");
        let sa = dist.join("standalone");
        write(
            &sa.join("web/shop/server.js"),
            "process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(nextConfig)",
        );
        write(&sa.join("web/shop/.next/BUILD_ID"), "abc");
        write(&sa.join("node_modules/next/package.json"), "{}");
        app
    }

    #[test]
    fn standalone_ships_server_js_with_static_and_public_beside_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let app = built_app(root, serde_json::json!({ "basePath": "" }));
        let out = BuildOutput::find(&svc(&app, None)).unwrap();
        let sa = app.join(".next/standalone");
        let p = standalone_package(&svc(&app, None), root, &out, &sa).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Node {
                entry: sa.join("web/shop/server.js"),
                fastify: None
            }
        );
        assert_eq!(p.ship_verbatim, vec![sa.clone()]);
        assert!(p.ship.is_empty(), "nothing else of the service ships");
        assert!(
            !p.ship_dependencies,
            "standalone carries its own node_modules"
        );
        assert_eq!(
            p.ship_as,
            vec![
                (
                    app.join(".next/static"),
                    PathBuf::from("web/shop/.next/standalone/web/shop/.next/static")
                ),
                (
                    app.join("public"),
                    PathBuf::from("web/shop/.next/standalone/web/shop/public")
                ),
            ]
        );
        // The stub serves the hashed assets from the shipped copy beside server.js.
        assert_eq!(
            p.static_assets,
            Some(StaticAssetsPlan {
                dir: sa.join("web/shop/.next/static"),
                url_prefix: "/_next/static".into()
            })
        );
    }

    #[test]
    fn static_assets_are_mounted_under_the_built_base_path() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let app = built_app(root, serde_json::json!({ "basePath": "/shop" }));
        let out = BuildOutput::find(&svc(&app, Some("/shop/"))).unwrap();
        let sa = app.join(".next/standalone");
        let p = standalone_package(&svc(&app, Some("/shop/")), root, &out, &sa).unwrap();
        assert_eq!(
            p.static_assets.map(|a| a.url_prefix),
            Some("/shop/_next/static".into())
        );
        // No .next/static (nothing client-side was emitted): nothing for the stub to serve.
        fs::remove_dir_all(app.join(".next/static")).unwrap();
        let p = standalone_package(&svc(&app, None), root, &out, &sa).unwrap();
        assert_eq!(p.static_assets, None);
    }

    #[test]
    fn entry_is_found_without_relative_app_dir_and_only_with_the_marker() {
        let d = tempfile::tempdir().unwrap();
        let sa = d.path();
        // A server.js in node_modules or without Next's marker is not the entry.
        write(&sa.join("node_modules/x/server.js"), STANDALONE_MARKER);
        write(&sa.join("apps/other/server.js"), "require('http')");
        fs::create_dir_all(sa.join("apps/other/.next")).unwrap();
        assert_eq!(standalone_entry(sa, None), None);
        write(&sa.join("apps/web/server.js"), STANDALONE_MARKER);
        assert_eq!(
            standalone_entry(sa, None),
            None,
            "needs a .next folder beside it"
        );
        fs::create_dir_all(sa.join("apps/web/.next")).unwrap();
        assert_eq!(
            standalone_entry(sa, None),
            Some(sa.join("apps/web/server.js"))
        );
        // A wrong relativeAppDir falls back to the search.
        assert_eq!(
            standalone_entry(sa, Some("nope")),
            Some(sa.join("apps/web/server.js"))
        );
        // The app at the tracing root itself.
        write(&sa.join("server.js"), STANDALONE_MARKER);
        fs::create_dir_all(sa.join(".next")).unwrap();
        assert_eq!(standalone_entry(sa, Some("")), Some(sa.join("server.js")));
    }

    #[test]
    fn custom_dist_dir_is_found_and_a_missing_build_is_explained() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("shop");
        fs::create_dir_all(&app).unwrap();
        let err = BuildOutput::find(&svc(&app, None))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("shop") && err.contains("required-server-files.json"),
            "{err}"
        );
        write(&app.join("build/next/BUILD_ID"), "x");
        write(
            &app.join("build/next/required-server-files.json"),
            r#"{"config":{"basePath":"/x"},"relativeAppDir":"shop"}"#,
        );
        let out = BuildOutput::find(&svc(&app, None)).unwrap();
        assert_eq!(out.dist, app.join("build/next"));
        assert_eq!(out.config["basePath"], "/x");
        assert_eq!(out.relative_app_dir.as_deref(), Some("shop"));
    }

    #[test]
    fn base_path_must_match_what_next_built() {
        let d = tempfile::tempdir().unwrap();
        let s = svc(d.path(), Some("/shop/"));
        // Without a next.config, Watt has nothing to wrap: Next serves at / and that is fine.
        assert!(check_base_path(&s, &serde_json::json!({ "basePath": "" })).is_ok());
        write(&d.path().join("next.config.mjs"), "export default {}\n");
        assert!(check_base_path(&s, &serde_json::json!({ "basePath": "/shop" })).is_ok());
        let err = check_base_path(&s, &serde_json::json!({ "basePath": "" }))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"/shop\"") && err.contains("basePath: '/shop'"),
            "{err}"
        );
        // No application.basePath: Next's own basePath is the app's business.
        assert!(check_base_path(
            &svc(d.path(), None),
            &serde_json::json!({ "basePath": "/x" })
        )
        .is_ok());
        // `/` means no prefix.
        assert!(check_base_path(
            &svc(d.path(), Some("/")),
            &serde_json::json!({ "basePath": "" })
        )
        .is_ok());
    }

    #[test]
    fn build_env_turns_standalone_on_and_passes_the_build_id_and_base_path_to_the_hook() {
        let d = tempfile::tempdir().unwrap();
        let env = build_env(&svc(d.path(), None), None, "abc");
        let get = |env: &[(String, String)], k: &str| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(&env, "NEXT_PRIVATE_STANDALONE").as_deref(),
            Some("true")
        );
        assert_eq!(get(&env, "WATT_NEXT_BUILD_ID").as_deref(), Some("abc"));
        assert_eq!(get(&env, "WATT_NEXT_BASE_PATH"), None);
        // Watt hands the base path only to a next.config it can wrap.
        let env = build_env(&svc(d.path(), Some("shop")), None, "abc");
        assert_eq!(get(&env, "WATT_NEXT_BASE_PATH"), None);
        write(&d.path().join("next.config.ts"), "export default {}\n");
        let env = build_env(
            &svc(d.path(), Some("shop")),
            Some("--max-old-space-size=4096"),
            "abc",
        );
        assert_eq!(get(&env, "WATT_NEXT_BASE_PATH").as_deref(), Some("/shop"));
        assert_eq!(
            get(&env, "WATT_NEXT_DIR"),
            Some(d.path().display().to_string())
        );
        let options = get(&env, "NODE_OPTIONS").unwrap();
        let (user, hook) = options.split_once(' ').unwrap();
        assert_eq!(
            user, "--max-old-space-size=4096",
            "the user's NODE_OPTIONS stay first"
        );
        let b64 = hook
            .strip_prefix("--import=data:text/javascript;base64,")
            .unwrap();
        assert_eq!(b64, base64(BUILD_HOOK.as_bytes()));
        // …and next.config.ts only from Next 15 on (loader-next-15.cjs).
        write(
            &d.path().join("node_modules/next/package.json"),
            r#"{"name":"next","version":"14.2.3"}"#,
        );
        let env = build_env(&svc(d.path(), Some("shop")), None, "abc");
        assert_eq!(get(&env, "WATT_NEXT_BASE_PATH"), None);
    }

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    /// The pnpm shapes of Next issues 40414, 48017 and 83294.
    #[test]
    fn links_inside_stay_links_and_links_leaving_are_copied_in_or_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("repo");
        let app = root.join("apps/web");
        // Tracing root = the app (an explicit outputFileTracingRoot, or Next before 15): the
        // standalone tree mirrors apps/web while pnpm's store is at the repository root.
        let sa = app.join(".next/standalone");
        let store = root.join("node_modules/.pnpm/next@16/node_modules/next");
        write(&store.join("package.json"), "{}");
        write(&root.join("packages/ui/index.js"), "");
        write(&root.join("packages/ui/package.json"), "{}");
        write(&root.join("shared/config.json"), "{}");
        // Inside the output: stays a link (pnpm's own layout, as Next copies it).
        write(
            &sa.join("node_modules/.pnpm/react@19/node_modules/react/index.js"),
            "",
        );
        fs::create_dir_all(sa.join("node_modules/.pnpm/node_modules")).unwrap();
        symlink(
            "../react@19/node_modules/react",
            sa.join("node_modules/.pnpm/node_modules/react"),
        )
        .unwrap();
        // Workspace package and a file, both outside the output: copied in. The package link
        // is copied verbatim from apps/web/node_modules/@mono/ui, so from the standalone folder
        // it leads to nothing; it resolves only where Next found it.
        let ui = "../../../../packages/ui";
        fs::create_dir_all(app.join("node_modules/@mono")).unwrap();
        symlink(ui, app.join("node_modules/@mono/ui")).unwrap();
        fs::create_dir_all(sa.join("node_modules/@mono")).unwrap();
        symlink(ui, sa.join("node_modules/@mono/ui")).unwrap();
        symlink(root.join("shared/config.json"), sa.join("config.json")).unwrap();

        let got = replace_escaping_links(&sa, Some(&app)).unwrap();
        assert_eq!(
            got,
            vec![
                (
                    fs::canonicalize(root.join("shared/config.json")).unwrap(),
                    PathBuf::from("config.json")
                ),
                (
                    fs::canonicalize(root.join("packages/ui")).unwrap(),
                    PathBuf::from("node_modules/@mono/ui")
                ),
            ]
        );

        // Without knowing where Next found it, the package link leads nowhere: named.
        let msg = replace_escaping_links(&sa, None).unwrap_err().to_string();
        assert!(
            msg.contains("standalone/node_modules/@mono/ui")
                && msg.contains("outputFileTracingRoot"),
            "{msg}"
        );

        // An installed package from pnpm's store: its dependencies are beside it in the store,
        // untraced, so a copy cannot run: refused, naming the link.
        let target = "../../../node_modules/.pnpm/next@16/node_modules/next";
        symlink(target, app.join("node_modules/next")).unwrap();
        symlink(target, sa.join("node_modules/next")).unwrap();
        let msg = replace_escaping_links(&sa, Some(&app))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("standalone/node_modules/next")
                && msg.contains("installed package")
                && msg.contains("outputFileTracingRoot"),
            "{msg}"
        );
    }

    #[test]
    fn installed_packages_are_recognised() {
        assert!(in_node_modules(Path::new("/r/node_modules/next")));
        assert!(in_node_modules(Path::new("/r/node_modules/@swc/helpers")));
        assert!(in_node_modules(Path::new(
            "/r/node_modules/.pnpm/next@16/node_modules/next"
        )));
        assert!(!in_node_modules(Path::new("/r/packages/ui")));
        assert!(!in_node_modules(Path::new("/r/node_modules/next/dist")));
        assert!(!in_node_modules(Path::new("/r/packages/@scope")));
    }

    #[test]
    fn links_inside_a_copied_folder_are_checked_against_that_folder() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let sa = root.join("out");
        let pkg = root.join("pkgs/ui");
        write(&pkg.join("index.js"), "");
        write(&pkg.join("lib/a.js"), "");
        write(&root.join("dep/index.js"), "");
        symlink("lib/a.js", pkg.join("a.js")).unwrap(); // stays inside the copied folder
        symlink("../../dep", pkg.join("dep")).unwrap(); // leaves it: copied too
        fs::create_dir_all(&sa).unwrap();
        symlink(&pkg, sa.join("ui")).unwrap();
        let got = replace_escaping_links(&sa, None).unwrap();
        assert_eq!(
            got,
            vec![
                (fs::canonicalize(&pkg).unwrap(), PathBuf::from("ui")),
                (
                    fs::canonicalize(root.join("dep")).unwrap(),
                    PathBuf::from("ui/dep")
                ),
            ]
        );
    }

    #[test]
    fn a_link_cycle_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let sa = root.join("out");
        fs::create_dir_all(root.join("a")).unwrap();
        fs::create_dir_all(root.join("b")).unwrap();
        symlink("../b", root.join("a/to-b")).unwrap();
        symlink("../a", root.join("b/to-a")).unwrap();
        fs::create_dir_all(&sa).unwrap();
        symlink(root.join("a"), sa.join("a")).unwrap();
        let err = replace_escaping_links(&sa, None).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn a_static_export_is_served_from_out() {
        let d = tempfile::tempdir().unwrap();
        let app = d.path().join("shop");
        write(&app.join(".next/BUILD_ID"), "x");
        write(
            &app.join(".next/required-server-files.json"),
            r#"{"config":{"output":"export"}}"#,
        );
        let s = svc(&app, None);
        let app_root = ResolvedApp {
            config_file: d.path().join("watt.json"),
            root: d.path().to_path_buf(),
            name: "t".into(),
            entrypoint: "shop".into(),
            entrypoint_reason: crate::config::EntrypointReason::Explicit,
            server: Default::default(),
            graceful_shutdown: Default::default(),
            supervision: Default::default(),
            dotenv: Default::default(),
            services: vec![s.clone()],
            warnings: Vec::new(),
        };
        let err = Next.package(&s, &app_root).unwrap_err().to_string();
        assert!(err.contains("output: 'export'"), "{err}");
        write(&app.join("out/index.html"), "<html>");
        let p = Next.package(&s, &app_root).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Static {
                dir: app.join("out"),
                spa_fallback: false
            }
        );
        assert_eq!(p.ship, vec![app.join("out")]);
    }

    #[test]
    fn fallback_runs_next_start_from_the_resolved_package() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let app = root.join("web/shop");
        write(&root.join("node_modules/next/package.json"), "{}");
        write(&app.join(".next/BUILD_ID"), "x");
        write(
            &app.join(".next/required-server-files.json"),
            r#"{"config":{}}"#,
        );
        write(&app.join(".next/cache/x"), "");
        write(&app.join(".next/server/app/page.js"), "");
        write(&app.join("next.config.mjs"), "export default {}");
        write(&app.join("package.json"), "{}");
        let s = svc(&app, None);
        let out = BuildOutput::find(&s).unwrap();
        let p = next_start_package(&s, &out).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Command {
                argv: vec![
                    "node".into(),
                    "../../node_modules/next/dist/bin/next".into(),
                    "start".into()
                ]
            }
        );
        assert!(p.ship_dependencies);
        assert!(p.ship.contains(&app.join(".next/server")));
        assert!(p.ship.contains(&app.join("next.config.mjs")));
        assert!(
            !p.ship.contains(&app.join(".next/cache")),
            "caches never ship"
        );
        let err = next_start_package(&svc(&app, Some("/shop")), &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("basePath"), "{err}");
    }
}
