//! Before any framework builds: every service config is loaded by its capability's own
//! `loadConfiguration`, the call Watt's runtime makes when it creates the service
//! (`packages/basic/lib/creation.js`, then e.g. `packages/db/index.js`: placeholders filled,
//! older config versions upgraded, the capability's JSON schema checked by
//! `packages/foundation/lib/configuration.js` `validate`). A config Watt would refuse at start
//! fails the build here, with the file and each schema error, instead of booting an artifact
//! that dies (or, for a kind the stub runs natively, runs a config Watt never would).
//!
//! The installed capability decides, so the rules are those of the version the app pinned.
//! A failure that an unset variable may explain (Watt fills it with `''`, as here) is a
//! warning: the variable may be set where the artifact runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{detect, ResolvedApp};
use crate::frameworks::find_package;

const SCRIPT: &str = include_str!("schema_check.mjs");

/// One config to load: what the script is given.
#[derive(Debug, Serialize)]
struct Job {
    id: String,
    package: String,
    root: PathBuf,
    config: PathBuf,
}

/// What the script found for one job.
#[derive(Debug, Deserialize)]
struct Outcome {
    id: String,
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    skipped: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<SchemaError>,
    #[serde(default)]
    missing: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SchemaError {
    path: String,
    message: String,
    extra: Option<String>,
}

/// The services whose config names a capability (`module` or `$schema`) that resolves from the
/// service folder; the others are checked by nothing Watt would run either.
fn jobs(app: &ResolvedApp) -> Vec<(Job, String)> {
    app.services
        .iter()
        .filter_map(|svc| {
            let config = svc.config_file.clone()?;
            let module = detect::declared_module(&svc.config)?.module;
            // A service folder holding a whole Watt app's file is not an application config.
            if module == "@platformatic/runtime" {
                return None;
            }
            let dir = find_package(&svc.path, &module)?;
            let version = std::fs::read(dir.join("package.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("version")?.as_str().map(str::to_string))
                .unwrap_or_else(|| "?".into());
            let job = Job {
                id: svc.id.clone(),
                package: module.clone(),
                root: svc.path.clone(),
                config,
            };
            Some((job, format!("{module} {version}")))
        })
        .collect()
}

/// Configs the check loaded, or could not: `judge` decides once each service's start plan is
/// known, because a capability that cannot load matters only where the stub starts it.
#[derive(Debug, Default)]
pub struct Unloaded {
    /// (service id, what went wrong, with the file).
    failures: Vec<(String, String)>,
}

impl Unloaded {
    /// Fails where a service the stub starts through its capability package (the `through`
    /// ids) could not load its config; warns for the others, which the stub runs natively.
    pub fn judge<'a>(self, through: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let through: Vec<&str> = through.into_iter().collect();
        let mut errors = Vec::new();
        for (id, problem) in self.failures {
            if through.contains(&id.as_str()) {
                errors.push(format!("service \"{id}\": {problem}"));
            } else {
                eprintln!(
                    "watt: warning: service \"{id}\": {problem}. watt runs this service without \
                     its capability package, but `wattpm start` would not start it"
                );
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        let mut msg = crate::verify::listed(
            &errors,
            "service",
            "would fail when the artifact starts, in its capability package",
        );
        msg.push_str(
            "\nThe artifact runs these services through their own package on the bundled node; \
             check that package supports that node (`--node` picks another) and build again",
        );
        bail!(msg)
    }
}

/// Loads every service config as Watt would at start, with `node` (the one the artifact
/// carries), from the app root (where `wattpm start` runs, so a `.env` there counts as it does
/// for Watt). Fails naming each config the capability's schema refuses; warns where an unset
/// variable may be the cause; returns the configs whose capability could not load them.
pub fn check(node: &Path, app: &ResolvedApp) -> Result<Unloaded> {
    let jobs = jobs(app);
    let mut unloaded = Unloaded::default();
    if jobs.is_empty() {
        return Ok(unloaded);
    }
    let started = std::time::Instant::now();
    let out = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    let list: Vec<&Job> = jobs.iter().map(|(j, _)| j).collect();
    let run = Command::new(node)
        .arg("--input-type=module")
        .arg("-e")
        .arg(SCRIPT)
        .arg("--")
        .arg(serde_json::to_string(&list)?)
        .arg(out.path())
        .current_dir(&app.root)
        .output()
        .with_context(|| format!("cannot run {} to check the service configs", node.display()))?;
    let outcomes: Vec<Outcome> = std::fs::read(out.path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .with_context(|| {
            format!(
                "checking the service configs with node failed ({}):\n{}",
                run.status,
                tail(&String::from_utf8_lossy(&run.stderr), 20)
            )
        })?;

    let mut errors = Vec::new();
    for o in &outcomes {
        let Some((job, capability)) = jobs.iter().find(|(j, _)| j.id == o.id) else {
            continue;
        };
        if o.ok {
            continue;
        }
        let file = shown(&app.root, &job.config);
        let problem = format!("{file} {}", describe(o, capability));
        if let Some(why) = &o.skipped {
            eprintln!(
                "watt: warning: service \"{}\": {file} was not checked: {why}",
                o.id
            );
        } else if o.errors.is_empty() {
            unloaded.failures.push((o.id.clone(), problem));
        } else if o.missing.is_empty() {
            errors.push(format!("service \"{}\": {problem}", o.id));
        } else {
            let one = o.missing.len() == 1;
            eprintln!(
                "watt: warning: service \"{}\": {problem}\n  {} {} not set at build time and \
                 became \"\" as Watt fills unset variables; set {} where the artifact runs, or \
                 the service will fail to start",
                o.id,
                o.missing.join(", "),
                if one { "is" } else { "are" },
                if one { "it" } else { "them" },
            );
        }
    }
    eprintln!(
        "watt: checked {} service config{} with their capabilities' loadConfiguration in {} ms",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        started.elapsed().as_millis()
    );
    if errors.is_empty() {
        return Ok(unloaded);
    }
    let mut msg = crate::verify::listed(
        &errors,
        "service config",
        "would be refused by Watt at start",
    );
    msg.push_str(
        "\nFix the keys named above (the capability's JSON schema lists what each key takes) and \
         build again",
    );
    bail!(msg)
}

/// What went wrong, in Watt's words: each schema error as `path: message`, else the error.
fn describe(o: &Outcome, capability: &str) -> String {
    if o.errors.is_empty() {
        let code = o
            .code
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        return format!(
            "cannot be loaded by {capability}{code}: {}",
            o.message.trim()
        );
    }
    let mut s = format!("does not validate against {capability}'s schema:");
    for e in &o.errors {
        let extra = e
            .extra
            .as_deref()
            .map(|x| format!(" (`{x}`)"))
            .unwrap_or_default();
        s.push_str(&format!("\n    - {}: {}{extra}", e.path, e.message));
    }
    s
}

fn shown(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_errors_read_as_watt_prints_them_with_the_offending_key() {
        let o = Outcome {
            id: "api".into(),
            ok: false,
            skipped: None,
            code: Some("PLT_CONFIGURATION_DOES_NOT_VALIDATE_AGAINST_SCHEMA".into()),
            message: "The configuration does not validate against the configuration schema".into(),
            errors: vec![
                SchemaError {
                    path: "/server".into(),
                    message: "must NOT have additional properties".into(),
                    extra: Some("hostnam".into()),
                },
                SchemaError {
                    path: "/db/connectionString".into(),
                    message: "must be string".into(),
                    extra: None,
                },
            ],
            missing: vec![],
        };
        assert_eq!(
            describe(&o, "@platformatic/db 3.67.0"),
            "does not validate against @platformatic/db 3.67.0's schema:\
             \n    - /server: must NOT have additional properties (`hostnam`)\
             \n    - /db/connectionString: must be string"
        );
    }

    #[test]
    fn other_load_failures_keep_their_code_and_message() {
        let o = Outcome {
            id: "api".into(),
            ok: false,
            skipped: None,
            code: Some("PLT_CANNOT_PARSE_CONFIG_FILE".into()),
            message: "Cannot parse config file. Unexpected token\n".into(),
            errors: vec![],
            missing: vec![],
        };
        assert_eq!(
            describe(&o, "@platformatic/service 3.54.0"),
            "cannot be loaded by @platformatic/service 3.54.0 (PLT_CANNOT_PARSE_CONFIG_FILE): \
             Cannot parse config file. Unexpected token"
        );
    }
}
