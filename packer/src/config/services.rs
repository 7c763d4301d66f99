//! Service entries: `applications[]` + `services[]` + `web[]`, `autoload`, the merge of the two,
//! `enabled`, and each service's folder, config, kind and environment. Follows `transform` and
//! `prepareApplication` in Watt's `packages/runtime/lib/config.js`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::runtime::RuntimeLevel;
use super::values::{self, At};
use super::{
    detect, dotenv, files, ApplicationBlock, Commands, ConfigError, Detection, NodeBlock,
    ResolvedService,
};
use crate::paths;

/// One service as the runtime config declares it, before its folder is looked at.
pub struct Entry {
    pub id: String,
    /// The entry's keys (an explicit entry's keys win over an autoloaded folder's).
    pub fields: Map<String, Value>,
    /// Where it was declared, for messages: `applications[0]`, `autoload`.
    pub origin: String,
    /// The folder found by `autoload` (absolute), when the entry comes from there.
    pub autoload_path: Option<PathBuf>,
}

impl Entry {
    fn describe(&self, root: &Path) -> String {
        match (
            self.fields.get("path").and_then(Value::as_str),
            &self.autoload_path,
        ) {
            (Some(path), _) => format!(
                "{} (path {})",
                self.origin,
                paths::resolve(root, values::expand_plt_root(path, root)).display()
            ),
            (None, Some(path)) => format!("the autoloaded folder {}", path.display()),
            (None, None) => match self.fields.get("url").and_then(Value::as_str) {
                Some(url) => format!("{} (URL {url})", self.origin),
                None => self.origin.clone(),
            },
        }
    }
}

/// The v3 spelling and both v2 ones, in Watt's merge order.
const LIST_KEYS: [&str; 3] = ["applications", "services", "web"];

pub fn collect_entries(
    rt: &Map<String, Value>,
    root: &Path,
    config_file: &Path,
    external_base: &Path,
) -> Result<Vec<Entry>, ConfigError> {
    let mut entries = Vec::new();
    for list_key in LIST_KEYS {
        let items = match rt.get(list_key) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(At {
                    file: config_file,
                    key: list_key,
                }
                .invalid("must be a list"))
            }
        };
        for (index, item) in items.iter().enumerate() {
            let origin = format!("{list_key}[{index}]");
            let at = At {
                file: config_file,
                key: &origin,
            };
            let fields = values::as_object(item, at)?.clone();
            let id_key = format!("{origin}.id");
            let id = values::opt_string(&fields, "id", At { key: &id_key, ..at })?
                .filter(|id| !id.is_empty())
                .ok_or_else(|| at.invalid("needs an `id`"))?;
            entries.push(Entry {
                id,
                fields,
                origin,
                autoload_path: None,
            });
        }
    }

    if let Some(autoload) = values::opt_object(
        rt,
        "autoload",
        At {
            file: config_file,
            key: "autoload",
        },
    )? {
        add_autoloaded(&mut entries, autoload, root, config_file, external_base)?;
    }

    // Packing is for production, so `enabled: { production: false }` drops the entry.
    entries.retain(|entry| is_enabled(&entry.fields));

    check_unique_ids(&entries, root, config_file)?;
    Ok(entries)
}

fn add_autoloaded(
    entries: &mut Vec<Entry>,
    autoload: &Map<String, Value>,
    root: &Path,
    config_file: &Path,
    external_base: &Path,
) -> Result<(), ConfigError> {
    let at = |key: &'static str| At {
        file: config_file,
        key,
    };
    let path = values::opt_string(autoload, "path", at("autoload.path"))?
        .ok_or_else(|| at("autoload").invalid("needs a `path`"))?;
    let exclude = values::string_list(autoload, "exclude", at("autoload.exclude"))?;
    let mappings = values::opt_object(autoload, "mappings", at("autoload.mappings"))?;

    let dir = paths::resolve(root, values::expand_plt_root(&path, root));
    let io_error = |source| ConfigError::Io {
        path: dir.clone(),
        source,
    };
    // Node's readdir returns names sorted (libuv sorts scandir results); sorting here keeps
    // the order stable on every filesystem.
    let mut folders = Vec::new();
    for dirent in std::fs::read_dir(&dir).map_err(io_error)? {
        let dirent = dirent.map_err(io_error)?;
        // Dirent.isDirectory() is false for a symlink, even to a folder: Watt skips those.
        let is_dir = dirent.file_type().map_err(io_error)?.is_dir();
        let name = dirent.file_name().to_string_lossy().into_owned();
        if is_dir && !exclude.contains(&name) {
            folders.push((name, dirent.path()));
        }
    }
    folders.sort();

    for (name, folder) in folders {
        let mapping_key = format!("autoload.mappings.{name}");
        let mut fields = Map::new();
        if let Some(mapping) = mappings.and_then(|m| m.get(&name)) {
            let mapping = values::as_object(
                mapping,
                At {
                    file: config_file,
                    key: &mapping_key,
                },
            )?;
            for (key, value) in mapping {
                // The schema forbids them in a mapping: the folder is the path.
                if key != "path" && key != "url" {
                    fields.insert(key.clone(), value.clone());
                }
            }
        }
        let id = values::opt_string(
            &fields,
            "id",
            At {
                file: config_file,
                key: &format!("{mapping_key}.id"),
            },
        )?
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| name.clone());
        fields.insert("id".into(), Value::String(id.clone()));

        let autoloaded = Entry {
            id: id.clone(),
            fields,
            origin: "autoload".into(),
            autoload_path: Some(folder.clone()),
        };

        let Some(existing) = entries.iter_mut().find(|e| e.id == id) else {
            entries.push(autoloaded);
            continue;
        };
        if is_enabled(&existing.fields) {
            if let Some(conflict) = conflicting_source(existing, &folder, root, external_base) {
                return Err(ConfigError::DuplicateId {
                    id,
                    first: conflict,
                    second: format!("the autoloaded folder {}", folder.display()),
                    config: config_file.to_path_buf(),
                });
            }
        }
        // `{ ...autoloaded, ...explicit }`: the explicit entry keeps its place and its keys.
        let mut merged = autoloaded.fields;
        for (key, value) in std::mem::take(&mut existing.fields) {
            merged.insert(key, value);
        }
        existing.fields = merged;
        existing.autoload_path = Some(folder);
    }
    Ok(())
}

/// Watt's `conflictingApplicationSource`: an explicit entry and an autoloaded folder with one id
/// are one service only when they point to the same folder. Returns the explicit entry's
/// description when they do not.
fn conflicting_source(
    existing: &Entry,
    folder: &Path,
    root: &Path,
    external_base: &Path,
) -> Option<String> {
    let same = |a: &Path, b: &Path| canonical_or_plain(a) == canonical_or_plain(b);
    if let Some(path) = existing.fields.get("path").and_then(Value::as_str) {
        // An unreplaced placeholder: Watt has nothing to compare either.
        let path = values::expand_plt_root(path, root);
        if path.starts_with('{') && path.ends_with('}') {
            return None;
        }
        if same(&paths::resolve(root, &path), folder) {
            return None;
        }
        return Some(existing.describe(root));
    }
    if let Some(url) = existing.fields.get("url").and_then(Value::as_str) {
        if same(&external_base.join(&existing.id), folder) {
            return None;
        }
        return Some(format!("{} (URL {url})", existing.origin));
    }
    // Two autoloaded folders mapped to one id.
    match &existing.autoload_path {
        Some(path) if !same(path, folder) => Some(existing.describe(root)),
        _ => None,
    }
}

fn canonical_or_plain(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Watt's `isApplicationEnabled`, for the production environment.
fn is_enabled(fields: &Map<String, Value>) -> bool {
    match fields.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s != "false",
        Some(Value::Object(by_env)) => by_env
            .get("production")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        Some(_) => true,
    }
}

/// Watt itself does not reject two explicit entries with one id (the later silently wins
/// inside the runtime); for a packer that is a config mistake worth stopping on.
fn check_unique_ids(entries: &[Entry], root: &Path, config_file: &Path) -> Result<(), ConfigError> {
    for (i, entry) in entries.iter().enumerate() {
        if let Some(first) = entries[..i].iter().find(|e| e.id == entry.id) {
            return Err(ConfigError::DuplicateId {
                id: entry.id.clone(),
                first: first.describe(root),
                second: entry.describe(root),
                config: config_file.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Looks at the service's folder: config file, package.json, kind, environment.
pub fn resolve_service(
    entry: &Entry,
    rt: &RuntimeLevel,
    external_base: &Path,
) -> Result<ResolvedService, ConfigError> {
    let file = rt.config_file.as_path();
    let key = |name: &str| format!("{}.{name}", entry.origin);
    let path = service_folder(entry, rt, external_base)?;

    let config_file = match values::opt_string(
        &entry.fields,
        "config",
        At {
            file,
            key: &key("config"),
        },
    )? {
        Some(name) if !name.is_empty() => {
            let candidate = paths::resolve(&path, &name);
            if !candidate.is_file() {
                return Err(ConfigError::ServiceConfigMissing {
                    id: entry.id.clone(),
                    path: candidate,
                    config: file.to_path_buf(),
                });
            }
            Some(canonical(&candidate)?)
        }
        // The worker looks for any recognised file when the entry names none
        // (`Controller.init` in `packages/runtime/lib/worker/controller.js`).
        _ => files::find_config_file(&path),
    };
    let config = match &config_file {
        Some(f) => files::load_config_file(f)?,
        None => Value::Null,
    };
    let package_json = files::load_package_json(&path)?;

    let (kind, detected_by) = detect_kind(
        &entry.id,
        &path,
        config_file.as_deref(),
        &config,
        &package_json,
    )?;

    let dependencies = values::string_list(
        &entry.fields,
        "dependencies",
        At {
            file,
            key: &key("dependencies"),
        },
    )?;

    // Watt's worker: runtime `env{}` then the application's, both always set
    // (`Object.assign(process.env, …)`).
    let mut env = rt.env.clone();
    env.extend(values::string_map(
        &entry.fields,
        "env",
        At {
            file,
            key: &key("env"),
        },
    )?);

    // The service's env file overrides the runtime's `.env` values but not real variables
    // (the stub applies that order at run time). `envfile` is resolved against the runtime root
    // (`workerData.dirname`), a missing file is ignored like Watt does; without `envfile`, only
    // the service folder's own `.env` counts.
    let dotenv = match values::opt_string(
        &entry.fields,
        "envfile",
        At {
            file,
            key: &key("envfile"),
        },
    )? {
        Some(name) if !name.is_empty() => {
            dotenv::EnvFile::read(paths::resolve(&rt.root, name), true)?
        }
        _ => dotenv::EnvFile::read(path.join(".env"), false)?,
    };

    let node_options = values::opt_string(
        &entry.fields,
        "nodeOptions",
        At {
            file,
            key: &key("nodeOptions"),
        },
    )?
    .filter(|o| !o.trim().is_empty());

    // Entries live in the runtime config, so their preloads resolve against its folder.
    let mut preload = rt.preload.clone();
    preload.extend(values::preload_list(
        &entry.fields,
        &rt.root,
        At {
            file,
            key: &key("preload"),
        },
    )?);

    let (application, node) = match (&config_file, config.as_object()) {
        (Some(f), Some(obj)) => (read_application_block(obj, f)?, read_node_block(obj, f)?),
        _ => (ApplicationBlock::default(), NodeBlock::default()),
    };

    Ok(ResolvedService {
        id: entry.id.clone(),
        path,
        config_file,
        config,
        package_json,
        kind,
        detected_by,
        dependencies,
        env,
        dotenv,
        node_options,
        preload,
        application,
        node,
    })
}

fn service_folder(
    entry: &Entry,
    rt: &RuntimeLevel,
    external_base: &Path,
) -> Result<PathBuf, ConfigError> {
    let file = rt.config_file.as_path();
    let path_key = format!("{}.path", entry.origin);
    let declared = values::opt_string(
        &entry.fields,
        "path",
        At {
            file,
            key: &path_key,
        },
    )?
    .filter(|p| !p.is_empty())
    .map(|p| values::expand_plt_root(&p, &rt.root));
    // Watt fills a `path` placeholder when it loads the config; the folder is needed now, so
    // it comes from the build's environment (then the `.env` values), like Watt's would.
    let declared = match declared {
        Some(p) if values::has_placeholder(&p) => {
            let lookup = |name: &str| {
                std::env::var(name)
                    .ok()
                    .or_else(|| rt.dotenv.values.get(name).cloned())
            };
            let (filled, unset) = values::fill_placeholders(&p, &lookup);
            if !unset.is_empty() {
                return Err(At {
                    file,
                    key: &path_key,
                }
                .invalid(&format!(
                    "of service \"{}\" is \"{p}\", and {} is set neither in the environment \
                     nor in .env; watt-pack needs the real folder when packing: set it when \
                     running `watt build`",
                    entry.id,
                    unset.join(", ")
                )));
            }
            Some(filled)
        }
        other => other,
    };
    let folder = match (declared, &entry.autoload_path) {
        (Some(p), _) => paths::resolve(&rt.root, p),
        (None, Some(folder)) => folder.clone(),
        (None, None) => {
            let url = values::opt_string(
                &entry.fields,
                "url",
                At {
                    file,
                    key: &path_key,
                },
            )?;
            let expected = external_base.join(&entry.id);
            match url {
                Some(url) if !expected.is_dir() => {
                    return Err(ConfigError::ExternalNotResolved {
                        id: entry.id.clone(),
                        url,
                        expected,
                        config: file.to_path_buf(),
                    })
                }
                Some(_) => expected,
                None => {
                    return Err(At {
                        file,
                        key: &entry.origin,
                    }
                    .invalid(&format!("(service \"{}\") needs a `path`", entry.id)))
                }
            }
        }
    };
    if !folder.is_dir() {
        return Err(ConfigError::ServicePathMissing {
            id: entry.id.clone(),
            path: folder,
            config: file.to_path_buf(),
        });
    }
    canonical(&folder)
}

pub fn canonical(path: &Path) -> Result<PathBuf, ConfigError> {
    std::fs::canonicalize(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Watt's order: the config file's `module`, its `$schema`, package.json dependencies, then
/// any JS/TS file. Where Watt fails on a config file without a usable `module`/`$schema`,
/// we go on to package.json: the config may only hold `application` settings.
fn detect_kind(
    id: &str,
    path: &Path,
    config_file: Option<&Path>,
    config: &Value,
    package_json: &Value,
) -> Result<(super::Kind, Detection), ConfigError> {
    let unsupported = |module: &str, source_of: String| ConfigError::UnsupportedModule {
        id: id.to_string(),
        module: module.to_string(),
        source_of,
    };
    if let (Some(file), Some(declared)) = (config_file, detect::declared_module(config)) {
        let key = match declared.detection {
            Detection::Module(_) => "`module`",
            _ => "`$schema`",
        };
        return match detect::kind_of_module(&declared.module) {
            Some(kind) => Ok((kind, declared.detection)),
            None => Err(unsupported(
                &declared.module,
                format!("{key} in {}", file.display()),
            )),
        };
    }
    if let Some((module, dependency)) = detect::module_from_package_json(package_json) {
        return match detect::kind_of_module(module) {
            Some(kind) => Ok((kind, Detection::Dependency(dependency.to_string()))),
            None => Err(unsupported(
                module,
                format!(
                    "the dependency {dependency} in {}",
                    path.join("package.json").display()
                ),
            )),
        };
    }
    if detect::has_javascript_files(path) {
        return Ok((super::Kind::Node, Detection::JsFiles));
    }
    Err(ConfigError::UndetectableKind {
        id: id.to_string(),
        path: path.to_path_buf(),
    })
}

fn read_application_block(
    config: &Map<String, Value>,
    file: &Path,
) -> Result<ApplicationBlock, ConfigError> {
    let at = |key: &'static str| At { file, key };
    let Some(app) = values::opt_object(config, "application", at("application"))? else {
        return Ok(ApplicationBlock::default());
    };
    let commands = match values::opt_object(app, "commands", at("application.commands"))? {
        Some(c) => Commands {
            build: values::opt_string(c, "build", at("application.commands.build"))?,
            production: values::opt_string(c, "production", at("application.commands.production"))?,
            development: values::opt_string(
                c,
                "development",
                at("application.commands.development"),
            )?,
        },
        None => Commands::default(),
    };
    Ok(ApplicationBlock {
        base_path: values::opt_string(app, "basePath", at("application.basePath"))?,
        output_directory: values::opt_string(
            app,
            "outputDirectory",
            at("application.outputDirectory"),
        )?
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "dist".to_string()),
        commands,
    })
}

fn read_node_block(config: &Map<String, Value>, file: &Path) -> Result<NodeBlock, ConfigError> {
    let at = |key: &'static str| At { file, key };
    let Some(node) = values::opt_object(config, "node", at("node"))? else {
        return Ok(NodeBlock::default());
    };
    Ok(NodeBlock {
        main: values::opt_string(node, "main", at("node.main"))?,
        absolute_url: values::opt_bool(node, "absoluteUrl", at("node.absoluteUrl"))?,
        dispatch_via_http: values::opt_bool(node, "dispatchViaHttp", at("node.dispatchViaHttp"))?,
    })
}
