//! `globalThis.platformatic` during builds, as Watt provides it.
//!
//! Watt runs every build command with a preload in `NODE_OPTIONS` (`packages/basic/lib/
//! worker/child-manager.js` `inject()` adds `--import child-process.js`, which calls
//! `updateGlobals({ ...data, events })` and registers `logger` and the setters), with the data
//! of `getChildManagerContext()` plus `isBuilding: true` (`packages/basic/lib/capability.js`
//! `buildWithCommand`). Apps read it through `@platformatic/globals` (`getGlobal()`,
//! `isBuilding()`, `getBasePath()`, …), which throws for a field not registered in the
//! `Symbol.for('plt.globals.fields')` set, so the preload registers every field there too.
//!
//! Here the preload is a `data:` module (nothing is written to the app) reading its data from
//! `WATT_BUILD_GLOBALS`; every node process the build starts (Next's workers too) inherits both.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::config::{Kind, ResolvedApp, ResolvedService};
use crate::frameworks::{find_package, normalize_prefix, BuildCommand};

/// The variable carrying the globals' data (JSON) to the preload.
pub const DATA_VAR: &str = "WATT_BUILD_GLOBALS";

/// Sets `globalThis.platformatic` before any user code runs. Setters are no-ops at build time
/// (there is no running service for them to feed), `logger` writes to stderr, which the build
/// log keeps.
const PRELOAD: &str = r#"import { EventEmitter } from 'node:events'
const data = JSON.parse(process.env.WATT_BUILD_GLOBALS || '{}')
const fields = Symbol.for('plt.globals.fields')
const g = (globalThis.platformatic ??= {})
g[fields] ??= new Set()
const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
const min = Math.max(0, levels.indexOf(data.logLevel || 'info'))
function makeLogger (bindings) {
  const logger = { level: levels[min], child: b => makeLogger({ ...bindings, ...b }) }
  levels.forEach((level, i) => {
    logger[level] = (...args) => {
      if (i < min) return
      const msg = args.map(a => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')
      process.stderr.write(`[${bindings.name}] ${level}: ${msg}\n`)
    }
  })
  return logger
}
const noop = () => {}
const events = new EventEmitter()
events.emitAndNotify = events.emit.bind(events)
const values = {
  ...data,
  events,
  logger: makeLogger({ name: data.applicationId }),
  closing: false,
  setOpenapiSchema: noop,
  setGraphqlSchema: noop,
  setConnectionString: noop,
  setBasePath: noop,
  setCustomHealthCheck: noop,
  setCustomReadinessCheck: noop,
  notifyConfig: noop
}
for (const [key, value] of Object.entries(values)) {
  g[key] = value
  g[fields].add(key)
}
"#;

/// Adds the preload and its data to a service's build command.
pub fn apply(command: &mut BuildCommand, app: &ResolvedApp, svc: &ResolvedService) {
    let data = build_globals(app, svc, &|k| std::env::var(k).ok());
    // A framework may already set NODE_OPTIONS for its build (Next's base path hook): keep it.
    let existing = command
        .env
        .iter()
        .position(|(k, _)| k == "NODE_OPTIONS")
        .map(|i| command.env.remove(i).1)
        .or_else(|| std::env::var("NODE_OPTIONS").ok());
    command
        .env
        .push(("NODE_OPTIONS".into(), node_options(existing.as_deref())));
    command.env.push((DATA_VAR.into(), data.to_string()));
}

/// `existing` with the preload appended (after the user's own flags, as Watt does not reorder
/// them either). Every `--import=data:` module already there (a framework's build hook) and the
/// preload become one `--import` of a module importing them in order: Next 15.5 rebuilds its
/// build workers' NODE_OPTIONS keeping one value per flag (`formatNodeOptions` in
/// next/dist/server/lib/utils.js), which would drop all but the last `--import`.
pub fn node_options(existing: Option<&str>) -> String {
    let existing = existing.unwrap_or("");
    let data: Vec<&str> = existing
        .split_ascii_whitespace()
        .filter(|t| t.starts_with("--import=data:"))
        .collect();
    let mut rest = existing.to_string();
    for t in &data {
        rest = rest.replacen(t, "", 1);
    }
    let preload = format!("data:text/javascript;base64,{}", base64(PRELOAD));
    let module = if data.is_empty() {
        preload
    } else {
        let imports: String = data
            .iter()
            .map(|t| &t["--import=".len()..])
            .chain(std::iter::once(preload.as_str()))
            .map(|url| format!("import {};\n", serde_json::Value::from(url)))
            .collect();
        format!("data:text/javascript;base64,{}", base64(&imports))
    };
    let rest = rest.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
    match rest.is_empty() {
        true => format!("--import={module}"),
        false => format!("{rest} --import={module}"),
    }
}

/// The fields Watt's `getChildManagerContext()` gives a build, with the values they have here.
/// `config` is the service's config with `{PLACEHOLDERS}` filled from the build environment
/// (then its `.env` values), as Watt loads it.
pub fn build_globals(
    app: &ResolvedApp,
    svc: &ResolvedService,
    env: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let lookup = |name: &str| {
        env(name)
            .or_else(|| svc.dotenv.values.get(name).cloned())
            .or_else(|| app.dotenv.values.get(name).cloned())
    };
    let config = fill_placeholders(&svc.config, &lookup);
    let base_path = normalize_prefix(svc.application.base_path.as_deref().unwrap_or(""));
    let mut data = json!({
        "isBuilding": true,
        "id": svc.id,
        "applicationId": svc.id,
        "workerId": 0,
        "root": file_url(&svc.path),
        "basePath": base_path,
        "config": if config.is_null() { json!({}) } else { config },
        "applicationConfig": null,
        "runtimeBasePath": null,
        "isEntrypoint": app.entrypoint == svc.id,
        "logLevel": "info",
        "host": true,
        "port": true,
        "wantsAbsoluteUrls": false,
        "exitOnUnhandledErrors": true,
        "reuseTcpPorts": false,
        "executable": "node",
        "runtimeId": std::process::id(),
    });
    let kind = svc.kind;
    let vite_build = kind == Kind::Tanstack
        || (kind == Kind::Nitro
            && crate::frameworks::nitro_vite_config(svc).is_some()
            && svc.application.commands.build.is_none());
    if vite_build {
        // Watt's Vite build runs in its own process after the capability's `init()`, which
        // registers `basePath: ensureTrailingSlash(cleanBasePath(…))` or none
        // (packages/tanstack/lib/capability.js, packages/nitro/lib/capability.js
        // NitroViteCapability); a TanStack `commands.build` gets the same from
        // ViteCapability.build. Vite's getMeta wants absolute URLs.
        data["basePath"] = trailing_slash(&base_path);
        data["wantsAbsoluteUrls"] = json!(true);
    }
    if kind == Kind::Nitro && crate::frameworks::nitro_vite_config(svc).is_some() {
        // NitroViteCapability.getChildManagerContext.
        data["exitOnUnhandledErrors"] = json!(false);
    }
    if matches!(svc.kind, crate::config::Kind::Nuxt) {
        // packages/nuxt/lib/capability.js: `ensureTrailingSlash(cleanBasePath(…))` or none.
        data["basePath"] = trailing_slash(&base_path);
        data["wantsAbsoluteUrls"] = json!(!base_path.is_empty());
        data["exitOnUnhandledErrors"] = json!(false);
    }
    if svc.kind == crate::config::Kind::Next {
        // packages/next/lib/capability.js getChildManagerContext.
        data["wantsAbsoluteUrls"] = json!(true);
        data["exitOnUnhandledErrors"] = json!(false);
        if let Some(version) = next_version(&svc.path) {
            data["nextVersion"] = version;
        }
    }
    data
}

/// `ensureTrailingSlash(cleanBasePath(…))` of a normalized base path, `null` for none.
fn trailing_slash(base_path: &str) -> Value {
    match base_path {
        "" => Value::Null,
        p => json!(format!("{p}/")),
    }
}

fn next_version(dir: &Path) -> Option<Value> {
    let pkg = find_package(dir, "next")?.join("package.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(pkg).ok()?).ok()?;
    let version = json.get("version")?.as_str()?;
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten();
    let mut v = Map::new();
    v.insert("major".into(), json!(major));
    if let Some(minor) = minor {
        v.insert("minor".into(), json!(minor));
    }
    Some(Value::Object(v))
}

/// Watt's placeholder rule: `{NAME}` (also `{{NAME}}`), unset names become `""`.
fn fill_placeholders(value: &Value, env: &dyn Fn(&str) -> Option<String>) -> Value {
    match value {
        Value::String(s) => Value::String(fill(s, env)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| fill_placeholders(v, env)).collect())
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), fill_placeholders(v, env)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fill(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    crate::config::fill_placeholders(s, env).0
}

fn file_url(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frameworks::testing;

    #[test]
    fn the_data_names_the_service_and_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = testing::service(dir.path(), Kind::Node);
        svc.config = json!({ "application": { "basePath": "/{PREFIX}/" } });
        svc.application.base_path = Some("/shop/".into());
        let app = testing::app(&svc);
        let env = |k: &str| (k == "PREFIX").then(|| "shop".to_string());
        let g = build_globals(&app, &svc, &env);
        assert_eq!(g["isBuilding"], true);
        assert_eq!(g["applicationId"], "web");
        assert_eq!(g["basePath"], "/shop");
        assert_eq!(g["config"]["application"]["basePath"], "/shop/");
        assert!(g["root"].as_str().unwrap().starts_with("file:///"));
        assert_eq!(g["isEntrypoint"], true);
    }

    #[test]
    fn vite_built_kinds_get_the_base_path_with_a_trailing_slash_as_watt_registers_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = testing::service(dir.path(), Kind::Tanstack);
        let app = testing::app(&svc);
        let none = |_: &str| None;
        assert_eq!(build_globals(&app, &svc, &none)["basePath"], Value::Null);
        svc.application.base_path = Some("/app".into());
        let g = build_globals(&app, &svc, &none);
        assert_eq!(g["basePath"], "/app/");
        assert_eq!(g["wantsAbsoluteUrls"], true);
        // Nitro only in its Vite flavour; the Nitro CLI build keeps the plain base path.
        let mut svc = testing::service(dir.path(), Kind::Nitro);
        svc.application.base_path = Some("/notes".into());
        assert_eq!(build_globals(&app, &svc, &none)["basePath"], "/notes");
        std::fs::write(dir.path().join("vite.config.ts"), "export default {}\n").unwrap();
        let g = build_globals(&app, &svc, &none);
        assert_eq!(g["basePath"], "/notes/");
        assert_eq!(g["exitOnUnhandledErrors"], false);
    }

    #[test]
    fn the_preload_goes_after_the_users_flags() {
        let o = node_options(Some("--max-old-space-size=4096"));
        assert!(o.starts_with("--max-old-space-size=4096 --import=data:text/javascript;base64,"));
        assert_eq!(base64("ab"), "YWI=");
    }

    /// Next 15.5's build workers keep one `--import`: a framework's hook and the preload must
    /// be one flag, and still both run, the hook first.
    #[test]
    fn a_hook_already_there_and_the_preload_are_one_import_that_runs_both() {
        let node = crate::node_runtime::locate(None).expect("node on PATH");
        let hook = format!(
            "--import=data:text/javascript;base64,{}",
            base64("console.log('hook ran')")
        );
        let o = node_options(Some(&format!(
            "--no-warnings {hook} --max-old-space-size=64"
        )));
        assert_eq!(o.matches("--import").count(), 1, "{o}");
        assert!(
            o.starts_with("--no-warnings --max-old-space-size=64 --import="),
            "{o}"
        );
        let out = std::process::Command::new(node)
            .args(["-e", "console.log(typeof globalThis.platformatic)"])
            .env("NODE_OPTIONS", &o)
            .env(DATA_VAR, r#"{"isBuilding":true}"#)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text, "hook ran\nobject\n");
    }
}
