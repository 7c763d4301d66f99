//! Nitro (`nitropack` 2, `nitro` 3) the way Watt's Nitro capability runs it in production
//! (packages/nitro/lib/capability.js `#startProduction`): it imports the node-server build,
//! `<nitro.outputDirectory | application.outputDirectory | .output>/<nitro.entrypoint |
//! server/index.mjs>`, and serves with the server that file listens with; it builds with
//! `application.commands.build`, else the Nitro CLI's `build`, with `NITRO_APP_BASE_URL` set to
//! the base path. watt runs that command's steps itself (`nitro_build.mjs`) to add one rollup
//! plugin (`nitro_folder_free.mjs`): Nitro names handlers by a hash of their absolute paths,
//! so without it the same app built in two folders differed.
//!
//! An app with a Vite config is Watt's `NitroViteCapability` (same file): Nitro as a Vite
//! plugin, built as Watt's Vite capability builds (`vite build`, `build.outDir` =
//! `application.outputDirectory`, `.output` by default for this kind, see
//! packages/nitro/lib/schema.js) and run from the same server build.
//!
//! Watt's own `@platformatic/nitro` is not on the npm registry (wattpm 3.67 names it, every
//! version answers 404), so there is no capability package to ship: the stub does what it does,
//! natively. The entry runs as a node process whose `listen()` the launcher redirects, and the
//! output ships as it is: Nitro traces the dependencies its server reaches into
//! `server/node_modules`, so the service's own dependencies do not ship.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::output::{base_flag, command_line};
use super::{
    configured_build, find_package, vite, BuildCommand, Framework, Package, StartPlan,
    StaticAssetsPlan,
};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Nitro;

/// The `nitro build` watt runs (`node --input-type=module -e`): the CLI's build steps with a
/// rollup plugin that keeps the build folder out of the output; see the files.
const BUILD_DRIVER: &str = concat!(
    include_str!("nitro_folder_free.mjs"),
    include_str!("nitro_build.mjs")
);

/// The `vite build` watt runs for an app with Nitro's Vite plugin; see [`vite_build`].
const VITE_BUILD_DRIVER: &str = concat!(
    include_str!("nitro_folder_free.mjs"),
    include_str!("nitro_vite_build.mjs")
);

/// The packages Watt looks for, in its order (`resolveNitroPackage`).
const PACKAGES: &[&str] = &["nitro", "nitropack"];

/// Watt runs an app with a Vite config through `NitroViteCapability` (Nitro as a Vite plugin).
const VITE_CONFIGS: &[&str] = &[
    "vite.config.js",
    "vite.config.mjs",
    "vite.config.cjs",
    "vite.config.ts",
    "vite.config.mts",
    "vite.config.cts",
];

impl Framework for Nitro {
    fn name(&self) -> &'static str {
        "nitro"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Nitro
    }

    fn build_command(&self, svc: &ResolvedService) -> Result<Option<BuildCommand>> {
        if vite_config(svc).is_some() {
            // NitroViteCapability.build: the command as it is (no NITRO_APP_BASE_URL), else
            // ViteCapability.build with `build.outDir` = `application.outputDirectory`.
            if let Some(cmd) = configured_build(svc) {
                return Ok(Some(cmd));
            }
            let out = text(svc, "/application/outputDirectory").unwrap_or_else(|| ".output".into());
            return vite_build(svc, &out).map(Some);
        }
        let base = svc
            .application
            .base_path
            .clone()
            .unwrap_or_else(|| "/".into());
        let mut env = vec![("NITRO_APP_BASE_URL".to_string(), base)];
        if let Some(mut cmd) = configured_build(svc) {
            cmd.env = env;
            return Ok(Some(cmd));
        }
        let Some(dir) = nitro_package(svc) else {
            bail!(
                "service \"{}\" is a nitro application but neither `nitro` nor `nitropack` \
                 resolves from {}; install the app's dependencies, or set \
                 application.commands.build",
                svc.id,
                svc.path.display()
            );
        };
        env.push(("WATT_NITRO_DIR".into(), dir.display().to_string()));
        Ok(Some(BuildCommand {
            display: "nitro build".into(),
            argv: vec![
                "node".into(),
                "--input-type=module".into(),
                "-e".into(),
                BUILD_DRIVER.into(),
            ],
            env,
        }))
    }

    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
        let (out_rel, entry_rel) = output(svc);
        // Nitro serves its public files itself in both flavours: with Vite, under the
        // `baseURL` of its own config (Vite's `base` and NITRO_APP_BASE_URL do not move it).
        let capability = match vite_config(svc) {
            Some(_) => "NitroVite",
            None => "Nitro",
        };
        server_build(
            svc,
            app,
            capability,
            "nitro.outputDirectory / nitro.entrypoint",
            &out_rel,
            &entry_rel,
            None,
        )
    }
}

/// `application.commands.build`, else the `vite build` of an app built with Nitro's Vite plugin
/// (TanStack Start, Nitro with a Vite config): Watt's `ViteCapability.build()`, which is what
/// Vite's CLI runs too (`createBuilder(…).buildApp()`, `base` = the base path with a trailing
/// slash, `build.outDir` = `out_dir`), run by `nitro_vite_build.mjs` to add the plugins that
/// keep the build folder out of the server build.
pub(super) fn vite_build(svc: &ResolvedService, out_dir: &str) -> Result<BuildCommand> {
    if let Some(cmd) = configured_build(svc) {
        return Ok(cmd);
    }
    let Some(dir) = find_package(&svc.path, "vite") else {
        bail!(
            "service \"{}\" is a {} application but `vite` does not resolve from {}; install \
             the app's dependencies (`npm install`), or set application.commands.build",
            svc.id,
            svc.kind,
            svc.path.display()
        );
    };
    let mut env = vec![
        ("WATT_VITE_DIR".to_string(), dir.display().to_string()),
        ("WATT_VITE_OUT_DIR".to_string(), out_dir.to_string()),
    ];
    env.extend(base_flag(svc).map(|base| ("WATT_VITE_BASE".to_string(), base)));
    Ok(BuildCommand {
        // The flags the driver applies, as `vite build` takes them.
        display: command_line("vite", &vite::build_args(svc, out_dir)),
        argv: vec![
            "node".into(),
            "--input-type=module".into(),
            "-e".into(),
            VITE_BUILD_DRIVER.into(),
        ],
        env,
    })
}

/// The Vite config Watt's `hasViteConfigFile` finds (`vite.configFile`, else the first of
/// [`VITE_CONFIGS`] in the service folder): with one, Watt runs the app as `NitroViteCapability`.
pub fn vite_config(svc: &ResolvedService) -> Option<String> {
    match svc.config.get("vite").and_then(|v| v.get("configFile")) {
        Some(Value::Bool(false)) => None,
        Some(Value::String(f)) => Some(f.clone()).filter(|f| svc.path.join(f).is_file()),
        _ => VITE_CONFIGS
            .iter()
            .find(|f| svc.path.join(f).is_file())
            .map(|f| f.to_string()),
    }
}

/// The plan for a Nitro node-server build at `<out_rel>/<entry_rel>` in the service, which
/// `capability` (Watt's Nitro, Nuxt or TanStack capability) imports in production: the
/// server folder and `public/` ship as built, the asset manifest's clock pinned.
///
/// `public_at`: a base path at which the stub serves `<out_rel>/public` in front of the server
/// (TanStack Start: Nitro's Vite plugin mounts the client build at `/` of the server whatever
/// Vite's `base`, while the pages ask for `<base>/assets/…`).
pub(super) fn server_build(
    svc: &ResolvedService,
    app: &ResolvedApp,
    capability: &str,
    setting: &str,
    out_rel: &str,
    entry_rel: &str,
    public_at: Option<String>,
) -> Result<Package> {
    let out = svc.path.join(out_rel);
    let entry = out.join(entry_rel);
    if !entry.is_file() {
        bail!(
            "service \"{}\": the Nitro server {} is not there after the build; build it \
             with the node-server preset (Nitro's default) into {out_rel}/, or set \
             {setting} to where it is",
            svc.id,
            entry.display()
        );
    }
    eprintln!(
        "watt: service \"{}\" ({}): its Nitro server build {out_rel}/{entry_rel} runs \
         natively, as Watt's {capability} capability imports it (no @platformatic/{} needed)",
        svc.id, svc.kind, svc.kind
    );
    // `nitro.json` (build date, for Nitro's deploy tooling) is read by nothing at run time.
    let server = entry.parent().unwrap_or(&out).to_path_buf();
    let public = Some(out.join("public")).filter(|p| p.is_dir() && !p.starts_with(&server));
    let mut ship_verbatim = vec![server.clone()];
    ship_verbatim.extend(public.clone());
    let ship_as = pinned_asset_times(svc, &app.root, &server)?;
    Ok(Package {
        ship: Vec::new(),
        ship_verbatim,
        ship_as,
        extra_dependencies: Vec::new(),
        ship_dependencies: false,
        start: StartPlan::Node {
            entry,
            fastify: None,
        },
        static_assets: public
            .zip(public_at)
            .map(|(dir, url_prefix)| StaticAssetsPlan { dir, url_prefix }),
    })
}

/// Rewritten copies in `.watt/nitro/<id>/` of the server files whose public-asset manifest
/// holds the build's clock (`"mtime": "<when Nitro copied the file>"`, sent as
/// Last-Modified), with the artifact's one timestamp instead, each with where it ships.
fn pinned_asset_times(
    svc: &ResolvedService,
    root: &Path,
    server: &Path,
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let secs = crate::pack::mtime_from_env()?;
    let stamp = humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    )
    .to_string();
    let mut files = Vec::new();
    let mut stack = vec![server.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("service \"{}\": cannot read {}", svc.id, dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() && entry.file_name() != "node_modules" {
                stack.push(path);
            } else if ty.is_file() && path.extension().is_some_and(|e| e == "mjs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let scratch = root.join(".watt/nitro").join(&svc.id);
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let Some(pinned) = pin_mtimes(&text, &stamp) else {
            continue;
        };
        let rel = file.strip_prefix(server).unwrap_or(&file);
        let copy = scratch.join(rel);
        if let Some(parent) = copy.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&copy, pinned)
            .with_context(|| format!("cannot write {}", copy.display()))?;
        let dest = file.strip_prefix(root).with_context(|| {
            format!(
                "service \"{}\": {} is outside the app root",
                svc.id,
                file.display()
            )
        })?;
        out.push((copy, dest.to_path_buf()));
    }
    Ok(out)
}

/// `text` with every `"mtime": "<RFC 3339 time>"` set to `stamp`; `None` when it has none.
fn pin_mtimes(text: &str, stamp: &str) -> Option<String> {
    const KEY: &str = "\"mtime\": \"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find(KEY) {
        let value_start = at + KEY.len();
        out.push_str(&rest[..value_start]);
        let after = &rest[value_start..];
        let end = after.find('"').unwrap_or(0);
        let value = &after[..end];
        let is_time = value.len() >= 20
            && value.as_bytes()[4] == b'-'
            && value.as_bytes()[10] == b'T'
            && value.ends_with('Z');
        if is_time {
            out.push_str(stamp);
            changed |= value != stamp;
        } else {
            out.push_str(value);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Watt's output folder (relative to the service) and entry (relative to that folder).
fn output(svc: &ResolvedService) -> (String, String) {
    let out = text(svc, "/nitro/outputDirectory")
        .or_else(|| text(svc, "/application/outputDirectory"))
        .unwrap_or_else(|| ".output".into());
    let entry = text(svc, "/nitro/entrypoint").unwrap_or_else(|| "server/index.mjs".into());
    (out, entry)
}

/// A non-empty string of the service config, as set (Nitro's defaults are not the other kinds').
fn text(svc: &ResolvedService, ptr: &str) -> Option<String> {
    svc.config
        .pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The Nitro package: the ones package.json declares first, as Watt does, else either.
fn nitro_package(svc: &ResolvedService) -> Option<PathBuf> {
    let declared: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|name| {
            ["dependencies", "devDependencies"]
                .iter()
                .any(|k| svc.package_json.get(k).and_then(|d| d.get(name)).is_some())
        })
        .collect();
    let names = if declared.is_empty() {
        PACKAGES.to_vec()
    } else {
        declared
    };
    names
        .iter()
        .find_map(|n| find_package(Path::new(&svc.path), n))
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::{app, service, touch};
    use super::*;
    use serde_json::json;

    #[test]
    fn the_node_server_build_runs_as_watt_imports_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nitro);
        // Not built: the error names the file Watt would import.
        let err = Nitro.package(&svc, &app(&svc)).unwrap_err().to_string();
        assert!(err.contains(".output/server/index.mjs"), "{err}");
        touch(dir.path(), ".output/server/index.mjs");
        let p = Nitro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Node {
                entry: dir.path().join(".output/server/index.mjs"),
                fastify: None
            }
        );
        assert_eq!(p.ship_verbatim, [dir.path().join(".output/server")]);
        assert!(!p.ship_dependencies);
        // nitro.outputDirectory and nitro.entrypoint move it.
        svc.config = json!({ "nitro": { "outputDirectory": "out", "entrypoint": "srv.mjs" } });
        touch(dir.path(), "out/srv.mjs");
        let p = Nitro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(p.ship_verbatim, [dir.path().join("out")]);
        touch(dir.path(), "out/public/robots.txt");
        let p = Nitro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(p.ship_verbatim, [dir.path().join("out")]);
    }

    #[test]
    fn with_a_vite_config_it_builds_with_vite_and_runs_the_same_server_build() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nitro);
        touch(dir.path(), "node_modules/vite/package.json");
        touch(dir.path(), "vite.config.ts");
        svc.application.base_path = Some("/notes".into());
        // NitroViteCapability.build: Vite's build into application.outputDirectory, `.output`
        // for this kind when unset, without NITRO_APP_BASE_URL.
        let cmd = Nitro.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "vite build --base /notes/ --outDir .output");
        assert!(cmd.argv[3].contains("folderFreeNitro(root)"));
        let names: Vec<&str> = cmd.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["WATT_VITE_DIR", "WATT_VITE_OUT_DIR", "WATT_VITE_BASE"]
        );
        svc.config = json!({ "application": { "outputDirectory": "out" } });
        let cmd = Nitro.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "vite build --base /notes/ --outDir out");
        // A configured command runs as it is, without Nitro's base URL variable.
        svc.application.commands.build = Some("npm run build".into());
        let cmd = Nitro.build_command(&svc).unwrap().unwrap();
        assert_eq!((cmd.display.as_str(), cmd.env.len()), ("npm run build", 0));
        // `vite.configFile: false` is the Nitro CLI again.
        svc.application.commands.build = None;
        svc.config = json!({ "vite": { "configFile": false } });
        let err = Nitro.build_command(&svc).unwrap_err().to_string();
        assert!(err.contains("neither `nitro` nor `nitropack`"), "{err}");

        // Production: nitro.outputDirectory, else application.outputDirectory, else .output.
        svc.config = json!({ "nitro": { "outputDirectory": "srv" } });
        touch(dir.path(), "srv/server/index.mjs");
        touch(dir.path(), "srv/public/hello.txt");
        let p = Nitro.package(&svc, &app(&svc)).unwrap();
        assert_eq!(
            p.start,
            StartPlan::Node {
                entry: dir.path().join("srv/server/index.mjs"),
                fastify: None
            }
        );
        assert_eq!(
            p.ship_verbatim,
            [dir.path().join("srv/server"), dir.path().join("srv/public")]
        );
        assert_eq!(p.static_assets, None);
    }

    #[test]
    fn public_asset_times_are_the_artifacts_not_the_builds() {
        let text = "const assets = {\n  \"/a.txt\": {\n    \"mtime\": \"2026-12-02T00:31:17.877Z\",\n    \"size\": 1\n  },\n  \"/b\": { \"mtime\": \"2026-12-02T00:31:18.000Z\" }, \"mtime\": \"x\"\n};\n";
        let pinned = pin_mtimes(text, "1980-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            pinned.matches("1980-01-01T00:00:00.000Z").count(),
            2,
            "{pinned}"
        );
        assert!(!pinned.contains("2026"), "{pinned}");
        assert!(pinned.contains("\"mtime\": \"x\""), "{pinned}");
        assert_eq!(pin_mtimes(&pinned, "1980-01-01T00:00:00.000Z"), None);
        assert_eq!(pin_mtimes("no assets", "1980-01-01T00:00:00.000Z"), None);
    }

    #[test]
    fn without_commands_build_the_declared_nitro_cli_builds_with_the_base_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Nitro);
        let err = Nitro.build_command(&svc).unwrap_err().to_string();
        assert!(err.contains("neither `nitro` nor `nitropack`"), "{err}");
        touch(dir.path(), "node_modules/nitro/package.json");
        touch(dir.path(), "node_modules/nitropack/package.json");
        svc.package_json = json!({ "devDependencies": { "nitropack": "2.13.6" } });
        svc.application.base_path = Some("/shop".into());
        let cmd = Nitro.build_command(&svc).unwrap().unwrap();
        assert_eq!(cmd.display, "nitro build");
        assert_eq!(cmd.argv[..3], ["node", "--input-type=module", "-e"]);
        assert!(cmd.argv[3].contains("folderFreeNitro(rootDir)"));
        let nitropack = dir.path().join("node_modules/nitropack");
        assert_eq!(
            cmd.env,
            [
                ("NITRO_APP_BASE_URL".to_string(), "/shop".to_string()),
                (
                    "WATT_NITRO_DIR".to_string(),
                    nitropack.display().to_string()
                )
            ]
        );
    }
}
