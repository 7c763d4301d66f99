//! Nothing is dropped silently: every key of the runtime config, of each `applications[]` entry
//! and of each service's own config is either one watt-pack acts on or a warning naming the key
//! and its file. The key lists follow Watt's JSON schemas (`packages/runtime/schema.json`,
//! `packages/{node,service,gateway,next,astro,vite,remix,react-router}/schema.json`); a key
//! missing from them (a typo) is reported the same way.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::Kind;

/// A config key watt-pack does not act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    /// Dotted key path inside its file, e.g. `server.healthCheck`, `applications[0].workers`.
    pub key: String,
    pub file: PathBuf,
    /// What that means for the packed app.
    pub why: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` in {} is not honoured by watt-pack: {}",
            self.key,
            self.file.display(),
            self.why
        )
    }
}

/// Runtime-level keys watt-pack acts on. A key listed with children (`server.hostname`) is
/// honoured only in those children; `watch` and `inspectorOptions` only matter in development,
/// which a packed app never runs in.
const RUNTIME: &[&str] = &[
    "$schema",
    "module",
    "applications",
    "services",
    "web",
    "autoload",
    "entrypoint",
    "env",
    "envfile",
    "preload",
    "gracefulShutdown",
    "restartOnError",
    "workers.static",
    "workers.minimum",
    "metrics.enabled",
    "metrics.hostname",
    "metrics.port",
    "healthProbes.enabled",
    "healthProbes.hostname",
    "healthProbes.port",
    "resolvedApplicationsBasePath",
    "server.hostname",
    "server.port",
    "watch",
    "inspectorOptions",
];

/// Keys of an `applications[]` entry (or an `autoload.mappings` value). `useHttp` is what the
/// stub always does: services talk over HTTP on loopback.
const ENTRY: &[&str] = &[
    "id",
    "path",
    "config",
    "url",
    "gitBranch",
    "enabled",
    "env",
    "envfile",
    "dependencies",
    "nodeOptions",
    "preload",
    "useHttp",
    "restartOnError",
    "workers.static",
    "workers.minimum",
];

/// Keys of a service's own config every kind honours.
const SERVICE: &[&str] = &[
    "$schema",
    "module",
    "runtime",
    "watch",
    "application.basePath",
    "application.outputDirectory",
    "application.commands.build",
    "application.commands.production",
    "application.commands.development",
    "node.main",
    "node.absoluteUrl",
    "node.dispatchViaHttp",
    "node.disableBuildInDevelopment",
    "server.hostname",
    "server.port",
];

fn kind_keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Service => &["plugins.paths"],
        Kind::Gateway => &["gateway.applications", "composer.services"],
        Kind::Vite => &["vite.ssr"],
        _ => &[],
    }
}

/// What an unhonoured key costs, for the keys users meet most.
fn why(key: &str) -> &'static str {
    let top = key.split(['.', '[']).next().unwrap_or(key);
    let last = key.rsplit('.').next().unwrap_or(key);
    match (top, last) {
        ("workers", _) | (_, "workers") | ("workersRestartDelay", _) => {
            "only a fixed number of workers (`workers`, `workers.static`/`minimum`) is honoured"
        }
        ("metrics", _) | ("healthProbes", _) => {
            "the stub's health server honours only `enabled`, `hostname` and `port`"
        }
        ("health", _) | (_, "health") => "custom health options are not applied",
        (_, "healthCheck") => "the service's health check route is not served",
        ("telemetry", _) | (_, "telemetry") => "no OpenTelemetry tracing is set up",
        ("logger", _) => {
            "the stub relays and tags each service's log lines but applies no pino options"
        }
        ("httpCache", _) | ("cache", _) => "no HTTP cache is set up",
        ("management", _) | ("managementApi", _) => "there is no management API",
        ("server", _) => "the stub binds the public port itself; this server option is not applied",
        ("gateway", _) | ("composer", _) => {
            "the native gateway only routes by prefix (no OpenAPI/GraphQL composition, hooks)"
        }
        ("plugins", _) => "only plugins.paths is registered",
        _ => "watt-pack does not act on it yet",
    }
}

/// The unhonoured keys of `obj` (in file order), given the honoured dotted paths.
fn check(
    obj: &Map<String, Value>,
    prefix: &str,
    honoured: &[&[&str]],
    file: &Path,
    out: &mut Vec<ConfigWarning>,
) {
    walk(obj, "", prefix, honoured, file, out)
}

fn walk(
    obj: &Map<String, Value>,
    path: &str,
    prefix: &str,
    honoured: &[&[&str]],
    file: &Path,
    out: &mut Vec<ConfigWarning>,
) {
    for (key, value) in obj {
        let dotted = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let list = honoured.iter().flat_map(|l| l.iter());
        let mut exact = false;
        let mut parent = false;
        for h in list {
            if *h == dotted {
                exact = true;
            } else if h.starts_with(&dotted) && h[dotted.len()..].starts_with('.') {
                parent = true;
            }
        }
        if exact {
            continue;
        }
        if parent {
            // A scalar where children are honoured is the key's short form (`workers: 2`,
            // `metrics: false`), which the reader of those children takes too.
            if let Value::Object(inner) = value {
                walk(inner, &dotted, prefix, honoured, file, out);
            }
            continue;
        }
        if value.is_null() {
            continue;
        }
        let key = format!("{prefix}{dotted}");
        out.push(ConfigWarning {
            why: why(&key).to_string(),
            key,
            file: file.to_path_buf(),
        });
    }
}

/// The runtime config's (or a single-service config's `runtime` block's) unhonoured keys.
pub fn runtime(obj: &Map<String, Value>, prefix: &str, file: &Path) -> Vec<ConfigWarning> {
    let mut out = Vec::new();
    check(obj, prefix, &[RUNTIME], file, &mut out);
    out
}

/// An `applications[]` entry's unhonoured keys; `origin` is where it was declared.
pub fn entry(fields: &Map<String, Value>, origin: &str, file: &Path) -> Vec<ConfigWarning> {
    let mut out = Vec::new();
    check(fields, &format!("{origin}."), &[ENTRY], file, &mut out);
    out
}

/// A service config's unhonoured keys. `extra` adds keys honoured where the config sits (a
/// single-service root config's `envfile`, `server`).
pub fn service(
    obj: &Map<String, Value>,
    kind: Kind,
    file: &Path,
    extra: &[&str],
) -> Vec<ConfigWarning> {
    let mut out = Vec::new();
    check(obj, "", &[SERVICE, kind_keys(kind), extra], file, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(w: &[ConfigWarning]) -> Vec<&str> {
        w.iter().map(|w| w.key.as_str()).collect()
    }

    #[test]
    fn runtime_keys_are_honoured_or_named() {
        let cfg = json!({
            "$schema": "x", "entrypoint": "a", "applications": [],
            "server": { "hostname": "h", "port": 1, "https": {} },
            "workers": { "static": 2, "dynamic": true }, "metrics": { "port": 9090, "auth": {} },
            "restartOnError": 2000, "logger": { "level": "info" },
            "watch": false, "typo": 1
        });
        let w = runtime(cfg.as_object().unwrap(), "", Path::new("watt.json"));
        assert_eq!(
            keys(&w),
            [
                "server.https",
                "workers.dynamic",
                "metrics.auth",
                "logger",
                "typo"
            ]
        );
        assert!(w[1].why.contains("fixed number"), "{}", w[1].why);
        assert!(
            w[1].to_string().contains("`workers.dynamic` in watt.json"),
            "{}",
            w[1]
        );
        let short = json!({ "workers": 2, "metrics": false });
        assert!(runtime(short.as_object().unwrap(), "", Path::new("watt.json")).is_empty());
    }

    #[test]
    fn service_keys_depend_on_the_kind() {
        let cfg = json!({
            "$schema": "x",
            "server": { "healthCheck": { "enabled": true } },
            "plugins": { "paths": ["p"], "typescript": true },
            "service": { "openapi": true },
            "application": { "basePath": "/a", "include": ["x"] }
        });
        let w = service(
            cfg.as_object().unwrap(),
            Kind::Service,
            Path::new("s.json"),
            &[],
        );
        assert_eq!(
            keys(&w),
            [
                "server.healthCheck",
                "plugins.typescript",
                "service",
                "application.include"
            ]
        );
        let w = service(
            cfg.as_object().unwrap(),
            Kind::Node,
            Path::new("s.json"),
            &[],
        );
        assert!(keys(&w).contains(&"plugins"), "{w:?}");
        let e = entry(
            json!({ "id": "a", "path": "a", "workers": 3, "telemetry": {} })
                .as_object()
                .unwrap(),
            "applications[0]",
            Path::new("watt.json"),
        );
        assert_eq!(keys(&e), ["applications[0].telemetry"]);
    }
}
