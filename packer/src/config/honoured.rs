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
    "application.preferLocalCommands",
    "node.main",
    "node.absoluteUrl",
    "node.dispatchViaHttp",
    "node.disableBuildInDevelopment",
    "server.hostname",
    "server.port",
];

/// What a capability run through its own package (`@platformatic/db`, `@platformatic/gateway`)
/// acts on by itself: its whole config but the telemetry, which needs Watt's runtime.
const CAPABILITY: &[&str] = &[
    "server",
    "plugins",
    "service",
    "clients",
    "basePath",
    "openapi",
    "graphql",
    "db",
    "migrations",
    "types",
    "authorization",
    "gateway",
    "composer",
];

fn kind_keys(kind: Kind, obj: &Map<String, Value>) -> &'static [&'static str] {
    match kind {
        Kind::Service if service_beyond_plugins(obj).is_some() => CAPABILITY,
        Kind::Service => &["plugins.paths"],
        Kind::Gateway if gateway_beyond_routing(obj).is_some() => CAPABILITY,
        Kind::Gateway => &[
            "gateway.applications",
            "gateway.refreshTimeout",
            "composer.services",
            "composer.refreshTimeout",
        ],
        Kind::Db => CAPABILITY,
        Kind::Nest => &["nest"],
        Kind::Vite => &["vite.ssr"],
        _ => &[],
    }
}

/// Why an `@platformatic/service` config needs `@platformatic/service` itself: the first key the
/// native start (a Fastify with `plugins.paths` registered) does not act on and the capability
/// does (`service.openapi`, `server.healthCheck`, `plugins.typescript`, `clients`, …), or `None`.
pub fn service_beyond_plugins(obj: &Map<String, Value>) -> Option<String> {
    let mut out = Vec::new();
    check(
        obj,
        "",
        &[SERVICE, &["plugins.paths"]],
        Path::new(""),
        &mut out,
    );
    out.into_iter()
        .map(|w| w.key)
        .find(|k| {
            let top = k.split(['.', '[']).next().unwrap_or(k);
            CAPABILITY.contains(&top)
        })
        .map(|k| format!("`{k}`"))
}

/// Why a gateway config needs `@platformatic/gateway` itself: the first feature the native
/// gateway (prefix routing to services of the app) does not have, or `None` when it only
/// routes. `refreshTimeout` only matters while developing: Watt polls only outside production.
pub fn gateway_beyond_routing(obj: &Map<String, Value>) -> Option<String> {
    for (block, list) in [("gateway", "applications"), ("composer", "services")] {
        let Some(Value::Object(b)) = obj.get(block) else {
            continue;
        };
        if let Some(k) = b
            .keys()
            .find(|k| *k != list && *k != "refreshTimeout" && !b[*k].is_null())
        {
            return Some(format!("`{block}.{k}`"));
        }
        for (i, entry) in b
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(e) = entry.as_object() else { continue };
            for feature in ["openapi", "graphql"] {
                if e.get(feature)
                    .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
                {
                    return Some(format!(
                        "{feature} composition (`{block}.{list}[{i}].{feature}`)"
                    ));
                }
            }
            if let Some(origin) = e.get("origin").and_then(Value::as_str) {
                if !origin.contains(".plt.local") {
                    return Some(format!(
                        "an application outside the app (`{block}.{list}[{i}].origin` {origin})"
                    ));
                }
            }
        }
    }
    if let Some(Value::Object(server)) = obj.get("server") {
        if let Some(k) = server
            .keys()
            .find(|k| *k != "hostname" && *k != "port" && !server[*k].is_null())
        {
            return Some(format!("`server.{k}`"));
        }
    }
    [
        "plugins", "openapi", "graphql", "service", "clients", "basePath",
    ]
    .iter()
    .find(|k| obj.get(**k).is_some_and(|v| !v.is_null()))
    .map(|k| format!("`{k}`"))
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
    check(
        obj,
        "",
        &[SERVICE, kind_keys(kind, obj), extra],
        file,
        &mut out,
    );
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
        // Beyond plugins.paths, @platformatic/service itself runs it: only what no path acts on.
        assert_eq!(
            service_beyond_plugins(cfg.as_object().unwrap()).as_deref(),
            Some("`server.healthCheck`")
        );
        let w = service(
            cfg.as_object().unwrap(),
            Kind::Service,
            Path::new("s.json"),
            &[],
        );
        assert_eq!(keys(&w), ["application.include"]);
        let plain = json!({ "$schema": "x", "plugins": { "paths": ["p"] }, "application": { "include": ["x"] } });
        assert_eq!(service_beyond_plugins(plain.as_object().unwrap()), None);
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

    #[test]
    fn a_gateway_beyond_routing_runs_its_own_package_and_says_why() {
        let why = |v: Value| gateway_beyond_routing(v.as_object().unwrap());
        // Routing only: the native gateway.
        assert_eq!(
            why(json!({
                "$schema": "x", "server": { "hostname": "h", "port": 1 },
                "gateway": { "applications": [{ "id": "a", "proxy": { "prefix": "/a" } },
                                              { "id": "b", "origin": "http://b.plt.local" }],
                             "refreshTimeout": 0 }
            })),
            None
        );
        let cases = [
            (
                json!({ "gateway": { "applications": [{ "id": "a" }, { "id": "b", "openapi": { "url": "/o" } }] } }),
                "openapi composition (`gateway.applications[1].openapi`)",
            ),
            (
                json!({ "composer": { "services": [{ "id": "a", "graphql": true }] } }),
                "graphql composition (`composer.services[0].graphql`)",
            ),
            (
                json!({ "gateway": { "applications": [{ "id": "a", "origin": "https://example.com" }] } }),
                "an application outside the app (`gateway.applications[0].origin` https://example.com)",
            ),
            (
                json!({ "gateway": { "applications": [], "addEmptySchema": true } }),
                "`gateway.addEmptySchema`",
            ),
            (
                json!({ "server": { "port": 1, "healthCheck": true } }),
                "`server.healthCheck`",
            ),
            (json!({ "plugins": { "paths": ["p"] } }), "`plugins`"),
        ];
        for (config, want) in cases {
            assert_eq!(why(config.clone()).as_deref(), Some(want), "{config}");
            // Run by @platformatic/gateway, those keys are honoured, not warned about.
            let w = service(
                config.as_object().unwrap(),
                Kind::Gateway,
                Path::new("g.json"),
                &[],
            );
            assert!(w.is_empty(), "{config}: {w:?}");
        }
        // Telemetry needs Watt's runtime: unhonoured on both paths.
        let w = service(
            json!({ "gateway": { "applications": [{ "id": "a", "openapi": {} }] }, "telemetry": {} })
                .as_object()
                .unwrap(),
            Kind::Gateway,
            Path::new("g.json"),
            &[],
        );
        assert_eq!(keys(&w), ["telemetry"]);
        // Platformatic DB's own keys are its package's to honour.
        let w = service(
            json!({ "db": { "connectionString": "sqlite://x" }, "migrations": { "autoApply": true },
                    "types": { "autogenerate": false }, "workers": 2 })
                .as_object()
                .unwrap(),
            Kind::Db,
            Path::new("d.json"),
            &[],
        );
        assert_eq!(keys(&w), ["workers"]);
    }
}
