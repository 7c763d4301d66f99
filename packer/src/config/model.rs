//! What config resolution produces: a Watt application with every service located, typed and
//! given its environment. `watt resolve --json` prints this; `watt build` consumes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedApp {
    /// The root config file that was read (absolute).
    pub config_file: PathBuf,
    /// The folder holding it (absolute, canonical): the app root.
    pub root: PathBuf,
    /// App name: root package.json `name`, else the root folder's name.
    pub name: String,
    pub entrypoint: String,
    /// How the entrypoint was chosen, for `watt resolve` output.
    pub entrypoint_reason: EntrypointReason,
    pub server: ServerConfig,
    pub graceful_shutdown: GracefulShutdownConfig,
    /// `restartOnError`, `workers`, `metrics` / `healthProbes` (see `supervision.rs`).
    pub supervision: SupervisionConfig,
    /// The runtime's env file (`.env` in the app root, or the config's `envfile`).
    pub dotenv: super::EnvFile,
    /// Services in config order: `applications`, `services`, `web`, then autoloaded folders
    /// sorted by name (merged entries keep the explicit entry's position).
    pub services: Vec<ResolvedService>,
    /// Config keys watt-pack does not act on, each naming its file.
    pub warnings: Vec<super::ConfigWarning>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntrypointReason {
    Explicit,
    OnlyService,
    OnlyGateway,
}

/// `server` block, values kept raw: placeholders such as `{PORT}` stay unresolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerConfig {
    pub hostname: Option<String>,
    /// A number in the config becomes its decimal string.
    pub port: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisionConfig {
    pub health: HealthConfig,
    /// By service id; a service missing here gets the defaults.
    pub services: BTreeMap<String, ServiceSupervision>,
}

/// The stub's health server. Placeholders kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthConfig {
    pub enabled: bool,
    pub hostname: Option<String>,
    pub port: Option<String>,
    pub metrics: bool,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            hostname: None,
            port: None,
            metrics: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSupervision {
    /// `0`: never restart; otherwise the first backoff delay.
    pub restart_on_error_ms: u64,
    pub workers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulShutdownConfig {
    pub runtime_ms: u64,
    pub application_ms: u64,
}

impl Default for GracefulShutdownConfig {
    fn default() -> Self {
        Self {
            runtime_ms: 30_000,
            application_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedService {
    pub id: String,
    /// Service folder (absolute, canonical).
    pub path: PathBuf,
    /// The service's own config file (`watt.json`, `platformatic.json`, … in the service folder,
    /// or the entry's `config`), if any.
    pub config_file: Option<PathBuf>,
    /// That file's parsed contents (`Null` when there is none).
    pub config: serde_json::Value,
    /// The service folder's package.json (`Null` when there is none).
    pub package_json: serde_json::Value,
    pub kind: Kind,
    pub detected_by: Detection,
    pub dependencies: Vec<String>,
    /// Always-set variables: runtime `env{}` overlaid by the service's `env{}`. Placeholders kept.
    pub env: BTreeMap<String, String>,
    /// The service's own env file (`.env` in its folder, or its `envfile`): over the runtime's
    /// `.env`, under real variables. Shipped only with `watt build --dotenv`.
    pub dotenv: super::EnvFile,
    pub node_options: Option<String>,
    /// Preload modules (runtime `preload` then the service's), absolute paths.
    pub preload: Vec<PathBuf>,
    /// The `application` block of the service config.
    pub application: ApplicationBlock,
    /// The `node` block of the service config.
    pub node: NodeBlock,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationBlock {
    pub base_path: Option<String>,
    /// Defaults to `dist`.
    pub output_directory: String,
    pub commands: Commands,
}

impl Default for ApplicationBlock {
    fn default() -> Self {
        Self {
            base_path: None,
            output_directory: "dist".into(),
            commands: Commands::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Commands {
    pub build: Option<String>,
    pub production: Option<String>,
    pub development: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeBlock {
    pub main: Option<String>,
    pub absolute_url: bool,
    pub dispatch_via_http: bool,
}

/// Watt's capability ("application type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Node,
    Service,
    Gateway,
    Db,
    Next,
    Astro,
    Remix,
    ReactRouter,
    Vite,
    Nest,
    Nuxt,
    Tanstack,
    Nitro,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Gateway => "gateway",
            Kind::Db => "db",
            Kind::Next => "next",
            Kind::Astro => "astro",
            Kind::Remix => "remix",
            Kind::ReactRouter => "react-router",
            Kind::Vite => "vite",
            Kind::Nest => "nest",
            Kind::Nuxt => "nuxt",
            Kind::Tanstack => "tanstack",
            Kind::Nitro => "nitro",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of Watt's detection rules decided the kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "value", rename_all = "kebab-case")]
pub enum Detection {
    /// The service config's `module`, e.g. `@platformatic/next`.
    Module(String),
    /// The service config's `$schema` URL.
    Schema(String),
    /// A package.json dependency, e.g. `next`.
    Dependency(String),
    /// No marker, but the folder has JS/TS files.
    JsFiles,
}
