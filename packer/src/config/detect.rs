//! Capability ("kind") detection, following Watt:
//! - `module` / `$schema` → module name: `extractModuleFromSchemaUrl` in
//!   `packages/foundation/lib/configuration.js`;
//! - package.json dependencies → module name: `applicationTypes` / `detectApplicationType` in
//!   `packages/foundation/lib/module.js`;
//! - JS/TS files anywhere outside `node_modules` → `@platformatic/node`
//!   (`hasJavascriptFiles` in `packages/foundation/lib/file-system.js`).

use std::path::Path;

use serde_json::Value;

use super::{Detection, Kind};

/// Watt's `applicationTypes`, in order (first match wins). The capabilities watt-pack cannot
/// pack are kept so that an app using one is reported, not silently taken for plain Node.
pub const DEPENDENCY_ORDER: &[(&str, &[&str])] = &[
    ("@platformatic/nest", &["@nestjs/core"]),
    ("@platformatic/next", &["next"]),
    ("@platformatic/remix", &["@remix-run/dev"]),
    ("@platformatic/astro", &["astro"]),
    ("@platformatic/react-router", &["@react-router/dev"]),
    ("@platformatic/nuxt", &["nuxt"]),
    ("@platformatic/tanstack", &["@tanstack/react-start"]),
    // Nitro apps often also depend on Vite, and Vite sits under most frontend frameworks.
    ("@platformatic/nitro", &["nitro", "nitropack"]),
    ("@platformatic/vite", &["vite"]),
    (
        "@platformatic/gateway",
        &["@platformatic/gateway", "@platformatic/composer"],
    ),
    ("@platformatic/service", &["@platformatic/service"]),
    ("@platformatic/db", &["@platformatic/db"]),
    ("@platformatic/php", &["@platformatic/php"]),
    ("@platformatic/ai-warp", &["@platformatic/ai-warp"]),
    ("@platformatic/pg-hooks", &["@platformatic/pg-hooks"]),
    (
        "@platformatic/rabbitmq-hooks",
        &["@platformatic/rabbitmq-hooks"],
    ),
    ("@platformatic/kafka-hooks", &["@platformatic/kafka-hooks"]),
];

/// What the config file declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Module name without a version, e.g. `@platformatic/next`.
    pub module: String,
    pub detection: Detection,
}

/// Watt's `extractModuleFromSchemaUrl`: a string `module` wins; else a `$schema` of one of
/// the three known URL forms. `wattpm` schemas mean `@platformatic/runtime`.
pub fn declared_module(config: &Value) -> Option<Declared> {
    if let Some(module) = config.get("module").and_then(Value::as_str) {
        return Some(Declared {
            module: strip_version(module).to_string(),
            detection: Detection::Module(module.to_string()),
        });
    }
    let url = config.get("$schema").and_then(Value::as_str)?;
    let name = module_from_schema_url(url)?;
    let module = if name == "wattpm" {
        "@platformatic/runtime".to_string()
    } else {
        format!("@platformatic/{name}")
    };
    Some(Declared {
        module,
        detection: Detection::Schema(url.to_string()),
    })
}

/// The three URL forms Watt accepts (`knownConfigurationFilesSchemas`):
/// - `https://platformatic.dev/schemas/v<ver>/<module>` (v1/v2),
/// - `https://schemas.platformatic.dev/@platformatic/<module>/<ver>.json`,
/// - `https://schemas.platformatic.dev/wattpm/<ver>.json`.
///
/// Watt's patterns are not anchored at the end so a query string may follow; we drop it.
fn module_from_schema_url(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("https://platformatic.dev/schemas/") {
        let (version, module) = rest.split_once('/')?;
        let module = module.split(['?', '#']).next().unwrap_or_default();
        if version.is_empty() || module.is_empty() {
            return None;
        }
        return Some(module.to_string());
    }
    if let Some(rest) = url.strip_prefix("https://schemas.platformatic.dev/@platformatic/") {
        let (module, file) = rest.rsplit_once('/')?;
        versioned_json(file)?;
        return (!module.is_empty()).then(|| module.to_string());
    }
    if let Some(rest) = url.strip_prefix("https://schemas.platformatic.dev/wattpm/") {
        versioned_json(rest)?;
        return Some("wattpm".to_string());
    }
    None
}

/// `<ver>.json` (optionally `v<ver>.json`, then an optional query string).
fn versioned_json(file: &str) -> Option<()> {
    let file = file.split(['?', '#']).next().unwrap_or_default();
    let version = file.strip_suffix(".json")?;
    let version = version.strip_prefix('v').unwrap_or(version);
    (!version.is_empty() && !version.contains('/')).then_some(())
}

/// Watt's `splitModuleFromVersion`: `@platformatic/next@3.0.0` → `@platformatic/next`.
fn strip_version(module: &str) -> &str {
    match module.rfind('@') {
        Some(at) if at > 0 => {
            let version = &module[at + 1..];
            let parts: Vec<&str> = version.splitn(3, '.').collect();
            let numeric = parts.len() == 3
                && parts[..2]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                && parts[2].bytes().next().is_some_and(|b| b.is_ascii_digit());
            if numeric {
                &module[..at]
            } else {
                module
            }
        }
        _ => module,
    }
}

/// The capability module a package.json points to, with the dependency that decided it.
/// Watt's `hasDependency` is a truthiness test, so an empty version string does not count.
pub fn module_from_package_json(package_json: &Value) -> Option<(&'static str, &'static str)> {
    let has = |dep: &str| {
        ["dependencies", "devDependencies"].iter().any(|field| {
            package_json
                .get(field)
                .and_then(|deps| deps.get(dep))
                .is_some_and(truthy)
        })
    };
    DEPENDENCY_ORDER
        .iter()
        .find_map(|(module, deps)| deps.iter().find(|dep| has(dep)).map(|dep| (*module, *dep)))
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The kind for a capability module, `None` for the ones watt-pack does not pack.
pub fn kind_of_module(module: &str) -> Option<Kind> {
    let name = module.strip_prefix("@platformatic/")?;
    Some(match name {
        "node" => Kind::Node,
        "service" => Kind::Service,
        // `@platformatic/composer` is v2's name; in v3 it re-exports the gateway.
        "gateway" | "composer" => Kind::Gateway,
        "db" => Kind::Db,
        "next" => Kind::Next,
        "astro" => Kind::Astro,
        "remix" => Kind::Remix,
        "react-router" => Kind::ReactRouter,
        "vite" => Kind::Vite,
        "nest" => Kind::Nest,
        "nuxt" => Kind::Nuxt,
        "tanstack" => Kind::Tanstack,
        "nitro" => Kind::Nitro,
        _ => return None,
    })
}

const JS_EXTENSIONS: [&str; 6] = ["js", "mjs", "cjs", "ts", "mts", "cts"];

/// Watt globs `**/*.{js,mjs,cjs,ts,mts,cts}` ignoring `node_modules`; Node's glob skips dot
/// entries by default, so `.next`, `.git` and the like do not count either. Symlinks are not
/// followed (a link cycle must not hang the packer).
pub fn has_javascript_files(dir: &Path) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                stack.push(entry.path());
            } else if name
                .rsplit_once('.')
                .is_some_and(|(stem, ext)| !stem.is_empty() && JS_EXTENSIONS.contains(&ext))
            {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_url_forms() {
        let cases = [
            (
                "https://schemas.platformatic.dev/@platformatic/next/3.0.0.json",
                Some("next"),
            ),
            (
                "https://schemas.platformatic.dev/@platformatic/react-router/v2.5.1.json?x=1",
                Some("react-router"),
            ),
            (
                "https://platformatic.dev/schemas/v1.0.0/service",
                Some("service"),
            ),
            ("https://platformatic.dev/schemas/v0.40.0/db?x", Some("db")),
            (
                "https://schemas.platformatic.dev/wattpm/3.0.0.json",
                Some("wattpm"),
            ),
            ("https://example.com/next/3.0.0.json", None),
            (
                "https://schemas.platformatic.dev/@platformatic/next/latest",
                None,
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(module_from_schema_url(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn module_version_is_stripped() {
        assert_eq!(
            strip_version("@platformatic/next@3.1.0"),
            "@platformatic/next"
        );
        assert_eq!(strip_version("@platformatic/next"), "@platformatic/next");
        assert_eq!(
            strip_version("@platformatic/next@latest"),
            "@platformatic/next@latest"
        );
    }

    #[test]
    fn empty_dependency_version_does_not_count() {
        let pkg = json!({ "dependencies": { "next": "" , "vite": "5" } });
        assert_eq!(
            module_from_package_json(&pkg),
            Some(("@platformatic/vite", "vite"))
        );
    }
}
