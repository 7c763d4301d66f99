//! Runtime-level settings that every service inherits: `env`, `.env`/`envfile`, `preload`,
//! `server`, `gracefulShutdown`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::values::{self, At};
use super::{dotenv, ConfigError, GracefulShutdownConfig, ServerConfig};
use crate::paths;

pub struct RuntimeLevel {
    pub root: PathBuf,
    pub config_file: PathBuf,
    pub env: BTreeMap<String, String>,
    pub dotenv: dotenv::EnvFile,
    pub preload: Vec<PathBuf>,
    pub server: ServerConfig,
    pub graceful_shutdown: GracefulShutdownConfig,
}

impl RuntimeLevel {
    /// `rt` is the runtime config object (or, for a single-service config, its `runtime`
    /// block); `envfile` is looked up by the caller because the two cases differ.
    pub fn read(
        root: &Path,
        config_file: &Path,
        rt: &Map<String, Value>,
        envfile: Option<String>,
        server: Option<&Map<String, Value>>,
    ) -> Result<Self, ConfigError> {
        let at = |key: &'static str| At {
            file: config_file,
            key,
        };

        let env = values::string_map(rt, "env", at("env"))?;

        // Watt's `loadEnv`: a custom env file replaces the `.env` search and must exist. The
        // search stops at the app root (see `dotenv`).
        let dotenv = match envfile.filter(|f| !f.is_empty()) {
            Some(name) => {
                let path = paths::resolve(root, name);
                if !path.is_file() {
                    return Err(ConfigError::EnvFileMissing {
                        path,
                        config: config_file.to_path_buf(),
                    });
                }
                dotenv::EnvFile::read(path, true)?
            }
            None => dotenv::EnvFile::read(root.join(".env"), false)?,
        };

        let preload = values::preload_list(rt, root, at("preload"))?;

        let server = match server {
            Some(server) => read_server(server, at("server"))?,
            None => ServerConfig::default(),
        };

        let graceful_shutdown =
            match values::opt_object(rt, "gracefulShutdown", at("gracefulShutdown"))? {
                Some(gs) => read_graceful_shutdown(gs, config_file)?,
                None => GracefulShutdownConfig::default(),
            };

        Ok(Self {
            root: root.to_path_buf(),
            config_file: config_file.to_path_buf(),
            env,
            dotenv,
            preload,
            server,
            graceful_shutdown,
        })
    }
}

fn read_server(server: &Map<String, Value>, at: At<'_>) -> Result<ServerConfig, ConfigError> {
    let key_at = |key: &str| values::join_key(at.key, key);
    let hostname_key = key_at("hostname");
    let port_key = key_at("port");
    Ok(ServerConfig {
        hostname: values::opt_string(
            server,
            "hostname",
            At {
                key: &hostname_key,
                ..at
            },
        )?,
        port: values::opt_string(
            server,
            "port",
            At {
                key: &port_key,
                ..at
            },
        )?,
    })
}

fn read_graceful_shutdown(
    gs: &Map<String, Value>,
    file: &Path,
) -> Result<GracefulShutdownConfig, ConfigError> {
    let defaults = GracefulShutdownConfig::default();
    let read = |key: &str, default: u64| -> Result<u64, ConfigError> {
        let full_key = format!("gracefulShutdown.{key}");
        let at = At {
            file,
            key: &full_key,
        };
        let value = match gs.get(key) {
            None | Some(Value::Null) => return Ok(default),
            Some(v) => v,
        };
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if values::has_placeholder(s) => {
                return Err(at.invalid(&format!(
                    "is \"{s}\": watt-pack needs the number of milliseconds when packing, \
                     a placeholder cannot be used here"
                )))
            }
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            Some(ms) if ms >= 1 => Ok(ms),
            _ => Err(at.invalid("must be a positive number of milliseconds")),
        }
    };
    // v2 called the per-application timeout `service` (Watt's v3.0.0 upgrade renames it).
    let application_key = if gs.contains_key("application") || !gs.contains_key("service") {
        "application"
    } else {
        "service"
    };
    Ok(GracefulShutdownConfig {
        runtime_ms: read("runtime", defaults.runtime_ms)?,
        application_ms: read(application_key, defaults.application_ms)?,
    })
}
