//! The app manifest: what `watt build` writes next to the packed services and what `watt-stub`
//! reads to boot them. It is the only contract between the two programs, so it is versioned
//! (`schemaVersion`) and its JSON Schema is checked in (`schema/app-manifest.v1.json`).
//!
//! Conventions:
//! - every path is relative to the artifact root (the folder that holds the manifest) and uses `/`;
//! - maps are `BTreeMap`s so the serialised manifest is byte-stable;
//! - strings documented as "placeholder-aware" may contain Watt's `{NAME}` placeholders, which the
//!   stub replaces from its own environment when it starts (never at build time).

pub mod build_info;
pub mod dotenv;
pub mod start_order;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema version this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// File name of the manifest inside an artifact.
pub const MANIFEST_FILE: &str = "watt-manifest.json";

/// Public address used when neither the config nor the environment names one.
pub const DEFAULT_HOSTNAME: &str = "0.0.0.0";
pub const DEFAULT_PORT: u16 = 3042;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppManifest {
    /// Always [`SCHEMA_VERSION`] for this crate.
    pub schema_version: u32,
    /// Name of the app (root package.json `name`, else the app folder's name).
    pub name: String,
    /// The Node.js runtime the services run on.
    pub node: NodeRuntime,
    /// Id of the service that serves the public address.
    pub entrypoint: String,
    pub server: Server,
    pub graceful_shutdown: GracefulShutdown,
    /// The health and metrics server (Watt's `metrics` / `healthProbes`).
    #[serde(default)]
    pub health: Health,
    /// Services in the order the config lists them; `dependencies` give the start order.
    pub services: Vec<Service>,
    /// The runtime's `.env` values baked in at build time (`watt build --dotenv`; empty by
    /// default). Defaults under a run-time env file and the real environment.
    #[serde(default)]
    pub dotenv: BTreeMap<String, String>,
    /// Where the stub looks first for the runtime's env file at run time (the app's `envfile`,
    /// else `app/.env`); then `.env` beside the manifest, then in the working directory.
    #[serde(default)]
    pub env_file: Option<String>,
    /// Paths (relative to `app/`) the ignore rules left out, with why: `secret: …`, `clutter`,
    /// or the ignore file that listed them. Names only; for `watt inspect`.
    #[serde(default)]
    pub excluded: BTreeMap<String, String>,
}

/// How to execute `node`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRuntime {
    /// The real node executable.
    pub binary: String,
    /// A bundled dynamic loader (`ld-linux-*.so.*`). When set, node is started as
    /// `<loader> --library-path <libraryPath> --argv0 node <binary> …` so the artifact does not
    /// depend on the host's libc; `process.execPath` is then pointed at `shim`.
    pub loader: Option<String>,
    /// Folder with the shared libraries node links, used together with `loader`.
    pub library_path: Option<String>,
    /// A `node` command that starts the bundled runtime (a link to the stub, which execs the loader).
    /// Put first on the services' `PATH` and used as `process.execPath`.
    pub shim: Option<String>,
    /// `node --version` of the bundled binary, e.g. `v24.21.0`.
    pub version: String,
}

/// The public address. Both fields are placeholder-aware; `PORT` in the stub's environment
/// overrides `port`; an empty or unresolved value falls back to the defaults above.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    pub hostname: Option<String>,
    pub port: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GracefulShutdown {
    /// Budget for stopping the whole app.
    pub runtime_ms: u64,
    /// Budget for one service to exit after SIGTERM before it gets SIGKILL.
    pub application_ms: u64,
}

impl Default for GracefulShutdown {
    fn default() -> Self {
        // Watt's defaults.
        Self {
            runtime_ms: 30_000,
            application_ms: 10_000,
        }
    }
}

/// Default port of the health server (Watt's).
pub const DEFAULT_HEALTH_PORT: u16 = 9090;

/// The health server: `/ready`, `/status` and (unless `metrics` is off) `/metrics`, on
/// `hostname:port` (Watt's defaults: `0.0.0.0:9090`). Both fields are placeholder-aware;
/// `WATT_HEALTH_ADDR` (`host:port`, or `off`) in the stub's environment overrides them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Health {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub port: Option<String>,
    /// Serve `/metrics` (Watt's `metrics: false` turns it off, the probes stay).
    #[serde(default = "yes")]
    pub metrics: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn default_restart_ms() -> u64 {
    DEFAULT_RESTART_MS
}

impl Default for Health {
    fn default() -> Self {
        Self {
            enabled: true,
            hostname: None,
            port: None,
            metrics: true,
        }
    }
}

/// First restart delay of a crashed service when `restartOnError` is `true` (or unset); it
/// doubles on every crash in a row.
pub const DEFAULT_RESTART_MS: u64 = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// Unique id; also the mesh host name `<id>.plt.local`.
    pub id: String,
    /// Watt capability the service was detected as (`node`, `service`, …). Informational.
    pub kind: String,
    /// Working directory of the service's process.
    pub root: String,
    pub start: Start,
    /// Ids of the services that must be ready before this one starts.
    pub dependencies: Vec<String>,
    /// Variables always set for the service (config `env`). Placeholder-aware.
    pub env: BTreeMap<String, String>,
    /// The service's own `.env`/`envfile` values baked in at build time (`--dotenv`; empty by
    /// default). Watt's rule: they override the runtime's env file values, never real variables.
    pub dotenv: BTreeMap<String, String>,
    /// The service's env file the stub reads at run time (`app/<root>/.env`, or its `envfile`),
    /// relative to the artifact root; over the baked `dotenv`, under real variables.
    #[serde(default)]
    pub env_file: Option<String>,
    /// Extra node flags (config `nodeOptions`, split into words).
    pub node_options: Vec<String>,
    /// Modules loaded before the service (config `preload`).
    pub preload: Vec<String>,
    /// URL path prefix the service is built for (`application.basePath`, e.g. `/shop`), if any.
    #[serde(default)]
    pub base_path: Option<String>,
    /// Client files the stub serves itself in front of the service's process: a request whose
    /// path names a file here is answered by the stub, everything else goes to the process.
    #[serde(default)]
    pub static_assets: Option<StaticAssets>,
    /// Watt's `restartOnError` for this service (its own, else the runtime's): `0` never
    /// restarts a crashed process; otherwise the first backoff delay in ms, doubling per crash.
    #[serde(default = "default_restart_ms")]
    pub restart_on_error_ms: u64,
    /// Processes serving the service's one listener (Watt's `workers`).
    #[serde(default = "one")]
    pub workers: u32,
    /// The service's Watt config as written (placeholders kept), for `globalThis.platformatic.config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// What Watt's runtime answers a gateway asking for this service's `getApplicationMeta`
    /// (its capability's `getMeta().gateway`), for a gateway run through its own package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_meta: Option<GatewayMeta>,
}

/// A service's `getMeta().gateway` as Watt's capabilities give it (packages/*/lib/capability.js);
/// the stub adds `tcp` and `url` (the mesh's `http://<id>.plt.local`) at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayMeta {
    /// The prefix the service wants to be proxied under (its base path, `""` for the root),
    /// if it has one; else a gateway uses `/<id>`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Built for absolute URLs: a gateway forwards paths with the prefix kept.
    pub wants_absolute_urls: bool,
    /// A request for the bare prefix is forwarded as `<prefix>/`.
    pub needs_root_trailing_slash: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticAssets {
    /// Folder of files, relative to the artifact root.
    pub dir: String,
    /// URL path the folder is mounted at (`/`, or the service's base path).
    pub url_prefix: String,
}

/// One gateway route: requests whose path starts with `prefix` (on a segment boundary) go to
/// `service`, with `prefix` replaced by `rewritePrefix` (Watt's rule: empty for most services;
/// the app's own base path for apps built for absolute URLs: Next, Astro, Remix, Vite, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayRoute {
    /// `` (everything) or `/segment[/segment…]` without a trailing slash.
    pub prefix: String,
    /// Target service id.
    pub service: String,
    /// `` or `/segment…` without a trailing slash.
    pub rewrite_prefix: String,
}

/// Which request-handler package serves a framework's server build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HandlerRuntime {
    /// `@react-router/node`'s `createRequestListener`.
    ReactRouter,
    /// `@remix-run/node` / `@remix-run/express` request handler.
    Remix,
}

/// How the launcher starts a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Start {
    /// Import a Node module and start whatever it is, following Watt's node capability:
    /// a `create()`/`build()` export returning a Fastify/Express/Koa app or `http.Server` is
    /// listened on by the launcher; a default-exported Fastify plugin is registered into a
    /// Fastify made from `fastify`; otherwise the module's own `listen()` is redirected.
    #[serde(rename_all = "camelCase")]
    Node {
        entry: String,
        /// The `fastify` package the service resolves, for the plugin shape.
        fastify: Option<String>,
    },
    /// An `@platformatic/service` application: a Fastify instance with these plugins.
    #[serde(rename_all = "camelCase")]
    FastifyPlugins {
        fastify: String,
        plugins: Vec<Plugin>,
    },
    /// A framework's server build (`build/server/index.js`) served through a request handler
    /// from the app's own runtime package, by a `node:http` server the launcher creates.
    #[serde(rename_all = "camelCase")]
    RequestHandler {
        /// The server build module.
        build: String,
        runtime: HandlerRuntime,
        /// Folder of the runtime package (`node_modules/@react-router/node`, …).
        runtime_package: String,
    },
    /// Files served by the stub itself, no process: static sites, SPAs.
    #[serde(rename_all = "camelCase")]
    Static {
        dir: String,
        /// Answer paths that name no file with `index.html` (single-page apps).
        spa_fallback: bool,
    },
    /// A reverse proxy served by the stub itself (Watt's gateway / composer).
    #[serde(rename_all = "camelCase")]
    Gateway { routes: Vec<GatewayRoute> },
    /// A capability run through its own package (`@platformatic/db`, `@platformatic/gateway`, …)
    /// the way Watt's runtime runs it: `create(root, config, context)`, `init()`,
    /// `start({ listen: true })` in the launcher's process, `stop()` on SIGTERM.
    #[serde(rename_all = "camelCase")]
    Capability {
        /// Folder of the capability package, relative to the artifact root.
        package: String,
        /// The service's config file, relative to the artifact root.
        config: String,
    },
    /// `application.commands.production`, executed directly (no shell). An `argv[0]` of `node`
    /// means the bundled runtime, with the launcher preloaded so `listen()` is still redirected.
    #[serde(rename_all = "camelCase")]
    Command { argv: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plugin {
    /// A module file, relative to the artifact root.
    pub path: String,
    /// Route prefix for everything the plugin registers (from nested plugin folders).
    pub prefix: Option<String>,
    /// Options passed to the plugin. String values are placeholder-aware.
    pub options: serde_json::Value,
}

/// The JSON Schema of [`AppManifest`], pretty-printed with a trailing newline, exactly as
/// checked in at `schema/app-manifest.v1.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(AppManifest);
    let mut out = serde_json::to_string_pretty(&schema).expect("a schema always serialises");
    out.push('\n');
    out
}

impl AppManifest {
    /// Canonical bytes: pretty JSON, stable field order, trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("the manifest always serialises");
        out.push(b'\n');
        out
    }

    /// Parse and check the version, with an error that says what to do.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Version {
            schema_version: Option<u32>,
        }
        let v: Version = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        match v.schema_version {
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(format!(
                    "manifest schemaVersion {other} is not supported by this watt-stub \
                     (it reads version {SCHEMA_VERSION}); rebuild the app with a matching `watt`"
                ))
            }
            None => return Err("manifest has no schemaVersion".into()),
        }
        serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest: {e}"))
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }
}
