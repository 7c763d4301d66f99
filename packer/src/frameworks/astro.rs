//! Astro (`@platformatic/astro`): `astro build` with Watt's inline settings (`base` = the base
//! path, `outDir` = `application.outputDirectory`, default `dist`). What runs in production is
//! decided from the build output, as Watt does (`dist/server/entry.mjs` or not), never from
//! astro.config:
//!
//! - a static site (no server entry): the stub serves the files itself, no process, only the
//!   output ships (`dist/client` when an adapter split the output, else `dist`);
//! - SSR with `@astrojs/node`: `dist/` and package.json ship with the production dependencies;
//!   the client files (`dist/client`) are served by the stub in front of the process.
//!   - standalone mode: the entry starts its own server when imported, so it is started as a
//!     node module and its `listen()` is redirected to the stub's socket;
//!   - middleware mode (or a mode not recognised in the output): the entry only exports
//!     `handler(req, res, next)`, so a two-line module run by the bundled node serves it with
//!     `node:http` (the adapter's own `options.mode` is checked again at run time).
//!
//! Reproducible: watt's own `astro build` runs with `--config` pointing at
//! `astro_build_hook.mjs`, which loads the app's config and adds an integration that rewrites
//! the build folder out of the server build (see that file). Astro's server-islands key is random
//! unless `ASTRO_KEY` is set (`astro/dist/core/build/index.js`); watt does not derive it from
//! the inputs, which are not secret (a key anyone can recompute lets them forge island props),
//! and says the build is not reproducible instead.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::output::{base_flag, build_or_cli, output_dir, package_json, url_prefix};
use super::{
    configured_build, find_package, BuildCommand, Framework, Package, StartPlan, StaticAssetsPlan,
};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Astro;

impl Framework for Astro {
    fn name(&self) -> &'static str {
        "astro"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Astro)
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        let mut args = vec!["build".to_string()];
        if let Some(base) = base_flag(svc) {
            args.extend(["--base".into(), base]);
        }
        args.extend(["--outDir".into(), svc.application.output_directory.clone()]);
        let mut cmd = build_or_cli(svc, "astro", &args)?;
        if configured_build(svc).is_none() {
            // Our own `astro build`: build with the app's config plus the integration that keeps
            // host paths out of the server build (an app's own build command is left alone).
            let (config, env) = reproducible_config(svc).with_context(|| {
                format!(
                    "service \"{}\": cannot write watt's Astro config in {}",
                    svc.id,
                    svc.path.join(HOOK_CONFIG).display()
                )
            })?;
            cmd.argv.extend(["--config".into(), config]);
            cmd.env = env;
        }
        if std::env::var_os("ASTRO_KEY").is_none_or(|k| k.is_empty()) {
            eprintln!(
                "watt: service \"{}\": Astro generates a random key to encrypt server-island \
                 props, so this build is not reproducible; set ASTRO_KEY (a secret: \
                 `npx astro create-key`) to make Astro use it",
                svc.id
            );
        }
        Ok(Some(cmd))
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        let rel = &svc.application.output_directory;
        let dist = output_dir(svc, rel, "astro build", "application.outputDirectory")?;
        let entry = dist.join("server/entry.mjs");
        if !entry.is_file() {
            // A static site. With an adapter configured, Astro still splits the output.
            let dir = if dist.join("client").is_dir() && !dist.join("index.html").is_file() {
                dist.join("client")
            } else {
                dist
            };
            return Ok(Package {
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
            });
        }

        let mode = adapter_mode(&dist.join("server")).with_context(|| {
            format!(
                "service \"{}\": cannot read its server build in {rel}/server",
                svc.id
            )
        })?;
        let start = match mode {
            Some(NodeMode::Standalone) => StartPlan::Node {
                entry: entry.clone(),
                fastify: None,
            },
            Some(NodeMode::Middleware) | None => StartPlan::Command {
                argv: middleware_argv(&svc.path, &entry),
            },
        };
        let mut ship = vec![dist.clone()];
        ship.extend(package_json(svc));
        // The server build imports Astro's runtime from node_modules; an app that lists astro
        // only in devDependencies still needs it in production.
        let extra_dependencies = if declares(svc, "astro") {
            Vec::new()
        } else {
            vec!["astro".to_string()]
        };
        let client = dist.join("client");
        Ok(Package {
            ship,
            ship_verbatim: Vec::new(),
            ship_as: Vec::new(),
            extra_dependencies,
            ship_dependencies: true,
            start,
            static_assets: client.is_dir().then(|| StaticAssetsPlan {
                dir: client,
                url_prefix: url_prefix(svc),
            }),
        })
    }
}

/// The config `astro build` runs with: the app's config plus watt's integration (see the file).
const BUILD_HOOK: &str = include_str!("astro_build_hook.mjs");

/// Where that config is written, relative to the service folder (Astro joins `--config` to its
/// root, so it must be relative; `node_modules/.cache` is where tools keep their scratch files,
/// and nothing there ships).
const HOOK_CONFIG: &str = "node_modules/.cache/watt/astro.config.mjs";

/// The config files Astro looks for, in its order (`search` in astro/dist/core/config/config.js).
const CONFIG_FILES: &[&str] = &[
    "astro.config.mjs",
    "astro.config.js",
    "astro.config.ts",
    "astro.config.mts",
    "astro.config.cjs",
    "astro.config.cts",
];

/// Writes watt's config for `svc` and returns its `--config` value and the build's environment:
/// the app's config file (if any) and the folders whose paths the server build must not keep
/// (the service's, and the one Astro is installed below: its components are compiled in).
fn reproducible_config(svc: &ResolvedService) -> Result<(String, Vec<(String, String)>)> {
    let file = svc.path.join(HOOK_CONFIG);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("mjs.tmp");
    std::fs::write(&tmp, BUILD_HOOK)?;
    std::fs::rename(&tmp, &file)?;
    let user = CONFIG_FILES
        .iter()
        .map(|name| svc.path.join(name))
        .find(|p| p.is_file())
        .map(|p| file_url(&p))
        .unwrap_or_default();
    let mut roots = vec![svc.path.clone()];
    if let Some(installed) = find_package(&svc.path, "astro")
        .and_then(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf))
    {
        roots.retain(|r| !r.starts_with(&installed));
        roots.insert(0, installed);
    }
    let roots: Vec<String> = roots
        .iter()
        .map(|r| r.to_string_lossy().into_owned())
        .collect();
    let env = vec![
        ("WATT_ASTRO_USER_CONFIG".to_string(), user),
        (
            "WATT_ASTRO_ROOTS".to_string(),
            serde_json::Value::from(roots).to_string(),
        ),
    ];
    Ok((HOOK_CONFIG.to_string(), env))
}

/// `file://` URL of an absolute path (percent-encoding what a URL path cannot hold).
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(b as char)
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    url
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeMode {
    Standalone,
    Middleware,
}

/// The `@astrojs/node` mode baked into the server build: the adapter's config module
/// (`virtual:astro-node:config`) is bundled as `const mode = "standalone";` (or `"middleware"`).
fn adapter_mode(server: &Path) -> std::io::Result<Option<NodeMode>> {
    let mut stack = vec![server.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file()
                && path
                    .extension()
                    .is_some_and(|e| e == "mjs" || e == "js" || e == "cjs")
            {
                files.push(path);
            }
        }
    }
    // Deterministic whatever the directory order.
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for line in text.lines() {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some(rest) = line.strip_prefix("const mode") else {
                continue;
            };
            // `mode`, or a bundler's renamed `mode$1`.
            let rest = rest.trim_start_matches(|c: char| c == '$' || c.is_ascii_digit());
            let value = rest.trim_start().strip_prefix('=').map(str::trim);
            match value {
                Some(v) if v.starts_with("\"standalone\"") => {
                    return Ok(Some(NodeMode::Standalone))
                }
                Some(v) if v.starts_with("\"middleware\"") => {
                    return Ok(Some(NodeMode::Middleware))
                }
                _ => {}
            }
        }
    }
    Ok(None)
}

/// `node --input-type=module --eval …`: import the entry (relative to the service folder, the
/// process's working directory) and, unless it started its own server, serve its `handler`.
fn middleware_argv(service_dir: &Path, entry: &Path) -> Vec<String> {
    let rel: PathBuf = entry
        .strip_prefix(service_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| entry.to_path_buf());
    let rel = serde_json::Value::String(rel.to_string_lossy().replace('\\', "/")).to_string();
    let script = format!(
        "import {{ createServer }} from 'node:http'; import {{ pathToFileURL }} from 'node:url'; \
         const entry = await import(new URL({rel}, pathToFileURL(process.cwd() + '/')).href); \
         if (entry.options?.mode !== 'standalone') createServer((req, res) => \
         entry.handler(req, res, () => {{ res.statusCode = 404; res.end('Not found') }})).listen()"
    );
    vec![
        "node".into(),
        "--input-type=module".into(),
        "--eval".into(),
        script,
    ]
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

    fn write(dir: &Path, rel: &str, text: &str) {
        touch(dir, rel);
        std::fs::write(dir.join(rel), text).unwrap();
    }

    #[test]
    fn a_static_site_is_served_by_the_stub_and_ships_only_its_output() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "dist/index.html");
        touch(dir.path(), "dist/_astro/index.abc.css");
        touch(dir.path(), "src/pages/index.astro");
        let svc = service(dir.path(), Kind::Astro);
        let p = Astro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Static {
                dir: dir.path().join("dist"),
                spa_fallback: false
            }
        );
        assert_eq!(p.ship, vec![dir.path().join("dist")]);
        assert!(!p.ship_dependencies);
        assert_eq!(p.static_assets, None);
    }

    #[test]
    fn a_static_site_built_with_an_adapter_is_served_from_client() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "dist/client/index.html");
        let svc = service(dir.path(), Kind::Astro);
        let p = Astro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Static {
                dir: dir.path().join("dist/client"),
                spa_fallback: false
            }
        );
    }

    #[test]
    fn ssr_standalone_runs_the_entry_with_client_files_in_front() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "package.json");
        write(
            dir.path(),
            "dist/server/entry.mjs",
            "export { l as handler } from './chunks/server_X.mjs';\n",
        );
        write(
            dir.path(),
            "dist/server/chunks/server_X.mjs",
            "const a = 1;\nconst mode = \"standalone\";\nconst client = \"file:///x/\";\n",
        );
        touch(dir.path(), "dist/client/_astro/page.abc.js");
        let mut svc = service(dir.path(), Kind::Astro);
        svc.package_json =
            serde_json::json!({ "dependencies": { "astro": "^6", "@astrojs/node": "^10" } });
        svc.application.base_path = Some("/blog/".into());
        let p = Astro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Node {
                entry: dir.path().join("dist/server/entry.mjs"),
                fastify: None
            }
        );
        assert!(p.ship_dependencies);
        assert_eq!(
            p.ship,
            vec![dir.path().join("dist"), dir.path().join("package.json")]
        );
        assert!(p.extra_dependencies.is_empty());
        assert_eq!(
            p.static_assets,
            Some(StaticAssetsPlan {
                dir: dir.path().join("dist/client"),
                url_prefix: "/blog".into()
            })
        );
    }

    #[test]
    fn ssr_middleware_serves_the_exported_handler() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "dist/server/entry.mjs", "export {};\n");
        write(
            dir.path(),
            "dist/server/chunks/c.mjs",
            "  const mode$1 = \"middleware\";\n",
        );
        let svc = service(dir.path(), Kind::Astro);
        let p = Astro.package(&svc, &app(&svc)).unwrap();
        let StartPlan::Command { argv } = &p.start else {
            panic!("{:?}", p.start)
        };
        assert_eq!(argv[..3], ["node", "--input-type=module", "--eval"]);
        assert!(
            argv[3].contains("new URL(\"dist/server/entry.mjs\""),
            "{}",
            argv[3]
        );
        assert!(argv[3].contains("entry.handler(req, res"), "{}", argv[3]);
        // astro only in devDependencies: still shipped, the server build imports it.
        assert_eq!(p.extra_dependencies, ["astro"]);
        assert_eq!(
            p.static_assets, None,
            "no dist/client, nothing to serve in front"
        );
    }

    #[test]
    fn mode_detection() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.mjs", "export const mode = \"middleware\";\n");
        assert_eq!(
            adapter_mode(dir.path()).unwrap(),
            Some(NodeMode::Middleware)
        );
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.mjs",
            "const modeX = \"standalone\";\nconst mode = opts.mode;\n",
        );
        assert_eq!(adapter_mode(dir.path()).unwrap(), None);
    }

    #[test]
    fn build_passes_watts_base_and_out_dir() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "node_modules/.bin/astro");
        let mut svc = service(dir.path(), Kind::Astro);
        let cmd = Astro.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "astro build --outDir dist");
        svc.application.base_path = Some("docs".into());
        svc.application.output_directory = "out".into();
        let cmd = Astro.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "astro build --base /docs/ --outDir out");
    }

    #[test]
    fn the_build_runs_with_watts_config_around_the_apps_own() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("my app");
        let svc_dir = app.join("web/site");
        touch(&app, "node_modules/.bin/astro");
        touch(&app, "node_modules/astro/package.json");
        touch(&svc_dir, "astro.config.ts");
        let svc = service(&svc_dir, Kind::Astro);
        let cmd = Astro.build_command(&svc).unwrap().unwrap();
        let n = cmd.argv.len();
        assert_eq!(cmd.argv[n - 2..], ["--config", HOOK_CONFIG]);
        let written = std::fs::read_to_string(svc_dir.join(HOOK_CONFIG)).unwrap();
        assert!(written.contains("watt:reproducible"), "{written}");
        let env: std::collections::BTreeMap<_, _> = cmd.env.iter().cloned().collect();
        assert_eq!(
            env["WATT_ASTRO_USER_CONFIG"],
            format!(
                "file://{}/my%20app/web/site/astro.config.ts",
                dir.path().display()
            )
        );
        // Astro is installed at the app root, which holds the service: one root to rewrite.
        assert_eq!(
            env["WATT_ASTRO_ROOTS"],
            serde_json::json!([app.to_str().unwrap()]).to_string()
        );
    }

    #[test]
    fn an_apps_own_build_command_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Astro);
        svc.application.commands.build = Some("npm run build".into());
        let cmd = Astro.build_command(&svc).unwrap().unwrap();
        assert!(!cmd.argv.iter().any(|a| a == "--config"), "{:?}", cmd.argv);
        assert!(!dir.path().join(HOOK_CONFIG).exists());
    }

    #[test]
    fn no_output_says_where_to_look() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), Kind::Astro);
        let err = Astro.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(
            err.contains("\"web\"")
                && err.contains("dist/")
                && err.contains("astro build")
                && err.contains("application.outputDirectory"),
            "{err}"
        );
    }
}
