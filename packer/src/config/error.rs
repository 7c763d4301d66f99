//! Config resolution errors. Each message is printed verbatim to the user (`error: {err}`), so each
//! names the file or folder at fault and says what to change.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    /// A parse error for which the parser gave no position.
    #[error("{}: {message}", path.display())]
    SyntaxNoLocation { path: PathBuf, message: String },

    #[error(
        "no Watt config file in {}: looked for {}; create a watt.json there",
        dir.display(),
        describe_tried(tried)
    )]
    NoConfigFile { dir: PathBuf, tried: Vec<String> },

    /// A value of the wrong type or shape; `message` names the key.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },

    #[error(
        "service \"{id}\": path {} does not exist (set in {}); fix the service's `path` there",
        path.display(),
        config.display()
    )]
    ServicePathMissing {
        id: String,
        path: PathBuf,
        config: PathBuf,
    },

    #[error(
        "service \"{id}\": config file {} does not exist (set in {}); fix the service's `config` there",
        path.display(),
        config.display()
    )]
    ServiceConfigMissing {
        id: String,
        path: PathBuf,
        config: PathBuf,
    },

    #[error(
        "service \"{id}\" has no path, only the URL {url} (in {}) and {} does not exist; \
         run `wattpm resolve` to clone it, or set `path`",
        config.display(),
        expected.display()
    )]
    ExternalNotResolved {
        id: String,
        url: String,
        expected: PathBuf,
        config: PathBuf,
    },

    #[error(
        "service id \"{id}\" is defined twice in {}: {first} and {second}; \
         ids must be unique, rename one (an autoloaded folder can be renamed with \
         `autoload.mappings` or skipped with `autoload.exclude`)",
        config.display()
    )]
    DuplicateId {
        id: String,
        first: String,
        second: String,
        config: PathBuf,
    },

    #[error(
        "entrypoint \"{entrypoint}\" (in {}) names no service; known services: {}",
        config.display(),
        known.join(", ")
    )]
    UnknownEntrypoint {
        entrypoint: String,
        config: PathBuf,
        known: Vec<String>,
    },

    #[error(
        "cannot choose an entrypoint among the services {} ({}); set \"entrypoint\" to one of them in {}",
        ids.join(", "),
        why,
        config.display()
    )]
    NoEntrypoint {
        ids: Vec<String>,
        why: String,
        config: PathBuf,
    },

    #[error(
        "{} defines no services; add `applications` (or `autoload`) to it",
        config.display()
    )]
    NoServices { config: PathBuf },

    #[error(
        "cannot tell what kind of service \"{id}\" is ({}): no config file with a known `module` \
         or `$schema`, no known framework in package.json, no JS/TS files; add a watt.json there \
         with \"$schema\": \"https://schemas.platformatic.dev/@platformatic/node/3.0.0.json\" \
         (or the capability it uses)",
        path.display()
    )]
    UndetectableKind { id: String, path: PathBuf },

    #[error(
        "service \"{id}\" uses {module} (from {source_of}), which watt-pack cannot pack; \
         supported: @platformatic/node, service, gateway (composer), db, next, astro, remix, \
         react-router, vite, nest, nuxt, tanstack, nitro"
    )]
    UnsupportedModule {
        id: String,
        module: String,
        source_of: String,
    },

    #[error(
        "env file {} (`envfile` in {}) does not exist; create it or fix `envfile`",
        path.display(),
        config.display()
    )]
    EnvFileMissing { path: PathBuf, config: PathBuf },

    #[error(
        "preload {} (in {}) does not exist; fix `preload` there",
        path.display(),
        config.display()
    )]
    PreloadMissing { path: PathBuf, config: PathBuf },
}

/// The base names in full, the suffixed variants as a pattern: 84 names would drown the message.
fn describe_tried(tried: &[String]) -> String {
    let base: Vec<&str> = tried
        .iter()
        .map(String::as_str)
        .filter(|name| name.matches('.').count() == 1)
        .collect();
    if base.len() == tried.len() {
        return base.join(", ");
    }
    format!(
        "{}, then watt.<suffix>.<ext> / platformatic.<suffix>.<ext> for suffix {}",
        base.join(", "),
        super::files::CONFIG_SUFFIXES.join(", ")
    )
}
