//! Watt config resolution: finds the root config of an app folder, lists its services, tells each
//! one's kind and environment and picks the entrypoint, the way Watt 3 (`wattpm` 3.67) does.
//! See `model` for the output. Placeholders such as `{PORT}` are kept raw everywhere: the packed
//! app resolves them when it starts. The one exception is a service `path`, which is needed to
//! pack: its placeholders come from the build's environment (then `.env`).

pub mod detect;
mod dotenv;
mod error;
mod files;
mod honoured;
mod model;
mod runtime;
mod services;
mod supervision;
mod values;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use dotenv::{above_root as dotenv_above_root, parse as parse_dotenv, EnvFile};
pub use error::ConfigError;
pub use files::{find_config_file, recognized_config_files};
pub use honoured::{gateway_beyond_routing, service_beyond_plugins, ConfigWarning};
pub use model::*;
pub use values::fill_placeholders;

use runtime::RuntimeLevel;
use services::Entry;
use values::At;

use crate::paths;

/// Resolves the Watt app whose root config is in `dir`.
pub fn resolve(dir: &Path) -> Result<ResolvedApp, ConfigError> {
    let root = services::canonical(dir)?;
    let config_file = files::find_config_file(&root).ok_or_else(|| ConfigError::NoConfigFile {
        dir: root.clone(),
        tried: files::recognized_config_files(),
    })?;
    let raw = files::load_config_file(&config_file)?;
    let Some(obj) = raw.as_object() else {
        return Err(ConfigError::Invalid {
            path: config_file,
            message: "must hold an object at the top level".into(),
        });
    };
    let root_package = files::load_package_json(&root)?;

    let plan = if is_runtime_config(&raw) {
        runtime_plan(obj, &root, &config_file)?
    } else {
        single_service_plan(obj, &root, &config_file, &root_package)?
    };
    if plan.entries.is_empty() {
        return Err(ConfigError::NoServices {
            config: config_file,
        });
    }

    let services = plan
        .entries
        .iter()
        .map(|entry| services::resolve_service(entry, &plan.runtime, &plan.external_base))
        .collect::<Result<Vec<_>, _>>()?;

    let (entrypoint, entrypoint_reason) =
        choose_entrypoint(&services, plan.entrypoint.as_deref(), &config_file)?;
    // The stub refuses at boot what cannot start in any order; refuse it here, before building.
    let nodes: Vec<watt_manifest::start_order::Node> = services
        .iter()
        .map(|s| watt_manifest::start_order::Node {
            id: &s.id,
            dependencies: &s.dependencies,
        })
        .collect();
    watt_manifest::start_order::levels(&nodes, &entrypoint).map_err(|e| ConfigError::Invalid {
        path: config_file.clone(),
        message: e.to_string(),
    })?;

    let mut warnings = plan.warnings;
    for (entry, svc) in plan.entries.iter().zip(&services) {
        warnings.extend(honoured::entry(&entry.fields, &entry.origin, &config_file));
        if let (Some(file), Some(obj)) = (&svc.config_file, svc.config.as_object()) {
            // A single-service root config is also where the runtime's `envfile` is read.
            let extra: &[&str] = if *file == config_file {
                &["envfile"]
            } else {
                &[]
            };
            warnings.extend(honoured::service(obj, svc.kind, file, extra));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    warnings.retain(|w| seen.insert((w.file.clone(), w.key.clone())));

    let name = root_package
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".to_string());

    Ok(ResolvedApp {
        config_file,
        root,
        name,
        entrypoint,
        entrypoint_reason,
        server: plan.runtime.server,
        graceful_shutdown: plan.runtime.graceful_shutdown,
        supervision: plan.supervision,
        dotenv: plan.runtime.dotenv.clone(),
        services,
        warnings,
    })
}

struct Plan {
    runtime: RuntimeLevel,
    entries: Vec<Entry>,
    entrypoint: Option<String>,
    supervision: SupervisionConfig,
    /// Where `wattpm resolve` clones services that only have a `url`.
    external_base: PathBuf,
    /// Unhonoured runtime-level keys.
    warnings: Vec<ConfigWarning>,
}

/// Watt treats the root config as a runtime when its `module`/`$schema` says
/// `@platformatic/runtime` (`wattpm` schemas included) and wraps anything else as a
/// single service. A config without a recognisable `module`/`$schema` (a local schema path,
/// say) but with service lists is a runtime config too: Watt would wrap it and then fail.
fn is_runtime_config(raw: &Value) -> bool {
    match detect::declared_module(raw) {
        Some(declared) => declared.module == "@platformatic/runtime",
        None => ["applications", "services", "web", "autoload"]
            .iter()
            .any(|key| raw.get(key).is_some()),
    }
}

fn runtime_plan(
    obj: &Map<String, Value>,
    root: &Path,
    config_file: &Path,
) -> Result<Plan, ConfigError> {
    let at = |key: &'static str| At {
        file: config_file,
        key,
    };
    let envfile = values::opt_string(obj, "envfile", at("envfile"))?;
    let server = values::opt_object(obj, "server", at("server"))?;
    let runtime = RuntimeLevel::read(root, config_file, obj, envfile, server)?;
    let external_base = paths::resolve(
        root,
        values::opt_string(
            obj,
            "resolvedApplicationsBasePath",
            at("resolvedApplicationsBasePath"),
        )?
        .unwrap_or_else(|| "external".to_string()),
    );
    let entries = services::collect_entries(obj, root, config_file, &external_base)?;
    let entrypoint =
        values::opt_string(obj, "entrypoint", at("entrypoint"))?.filter(|e| !e.is_empty());
    let supervision = supervision::read(obj, &entries, config_file)?;
    Ok(Plan {
        runtime,
        entries,
        entrypoint,
        supervision,
        external_base,
        warnings: honoured::runtime(obj, "", config_file),
    })
}

/// Watt's `wrapInRuntimeConfig` (`packages/runtime/lib/config.js`): the folder is the only
/// service, its id the package.json name without scope (else `main`); runtime settings come from
/// the config's `runtime` block, the entry's from `runtime.application`.
fn single_service_plan(
    obj: &Map<String, Value>,
    root: &Path,
    config_file: &Path,
    root_package: &Value,
) -> Result<Plan, ConfigError> {
    let at = |key: &'static str| At {
        file: config_file,
        key,
    };
    let empty = Map::new();
    let rt = values::opt_object(obj, "runtime", at("runtime"))?.unwrap_or(&empty);
    // `runtime.server` replaces the config's own `server` wholesale, as Watt's spread does.
    let server = match values::opt_object(rt, "server", at("runtime.server"))? {
        Some(server) => Some(server),
        None => values::opt_object(obj, "server", at("server"))?,
    };
    let envfile = match values::opt_string(obj, "envfile", at("envfile"))? {
        Some(file) => Some(file),
        None => values::opt_string(rt, "envfile", at("runtime.envfile"))?,
    };
    let runtime = RuntimeLevel::read(root, config_file, rt, envfile, server)?;

    let id = root_package
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(|name| match name.strip_prefix('@') {
            Some(scoped) => scoped
                .split_once('/')
                .map_or(scoped, |(_, n)| n)
                .to_string(),
            None => name.to_string(),
        })
        .unwrap_or_else(|| "main".to_string());

    let mut fields = Map::new();
    if let Some(application) = values::opt_object(rt, "application", at("runtime.application"))? {
        for (key, value) in application {
            if !matches!(key.as_str(), "id" | "path" | "config" | "url") {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    fields.insert("id".into(), Value::String(id.clone()));
    if let Some(name) = config_file.file_name() {
        fields.insert(
            "config".into(),
            Value::String(name.to_string_lossy().into_owned()),
        );
    }
    let entries = vec![Entry {
        id,
        fields,
        origin: "runtime.application".into(),
        autoload_path: Some(root.to_path_buf()),
    }];
    let supervision = supervision::read(rt, &entries, config_file)?;
    let mut warnings: Vec<ConfigWarning> = honoured::runtime(rt, "runtime.", config_file)
        .into_iter()
        .filter(|w| w.key != "runtime.application")
        .collect();
    if let Some(application) = rt.get("application").and_then(Value::as_object) {
        warnings.extend(honoured::entry(
            application,
            "runtime.application",
            config_file,
        ));
    }
    Ok(Plan {
        warnings,
        runtime,
        supervision,
        entries,
        // Watt names the only service as entrypoint; reported as such rather than as explicit.
        entrypoint: None,
        external_base: root.join("external"),
    })
}

/// Watt's `transform`: the explicit `entrypoint`; else the only service; else the only gateway.
/// Watt counts as gateways only services whose config file says `@platformatic/gateway`; we count
/// v2's `@platformatic/composer` too, which in v3 is the same capability.
fn choose_entrypoint(
    services: &[ResolvedService],
    explicit: Option<&str>,
    config_file: &Path,
) -> Result<(String, EntrypointReason), ConfigError> {
    let ids = || services.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    if let Some(entrypoint) = explicit {
        if services.iter().any(|s| s.id == entrypoint) {
            return Ok((entrypoint.to_string(), EntrypointReason::Explicit));
        }
        return Err(ConfigError::UnknownEntrypoint {
            entrypoint: entrypoint.to_string(),
            config: config_file.to_path_buf(),
            known: ids(),
        });
    }
    if let [only] = services {
        return Ok((only.id.clone(), EntrypointReason::OnlyService));
    }
    let gateways: Vec<&ResolvedService> = services
        .iter()
        .filter(|s| {
            s.kind == Kind::Gateway
                && s.config_file.is_some()
                && matches!(s.detected_by, Detection::Module(_) | Detection::Schema(_))
        })
        .collect();
    if let [gateway] = gateways.as_slice() {
        return Ok((gateway.id.clone(), EntrypointReason::OnlyGateway));
    }
    let why = if gateways.is_empty() {
        "no `entrypoint` is set and none of them is a gateway".to_string()
    } else {
        format!(
            "no `entrypoint` is set and there are {} gateways: {}",
            gateways.len(),
            gateways
                .iter()
                .map(|g| g.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(ConfigError::NoEntrypoint {
        ids: ids(),
        why,
        config: config_file.to_path_buf(),
    })
}
