//! Which `.env` values an artifact carries, and where the running app finds the rest.
//!
//! By default none: env files are secrets more often than not, so `watt build` leaves their
//! values out of the manifest, lists the names it left out, and records where the stub looks
//! for the files at run time (the same places inside the artifact where Watt reads them in the
//! app). `watt build --dotenv` bakes the values in, as defaults under a run-time file and the
//! real environment. The files themselves never ship (see `exclude`), unless `--include`d.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{EnvFile, ResolvedApp, ResolvedService};
use crate::pack::APP_DIR;
use crate::paths::artifact_path;

/// The manifest's runtime-level fields: baked values and the run-time file's place.
pub fn runtime_fields(app: &ResolvedApp, bake: bool) -> (BTreeMap<String, String>, Option<String>) {
    fields(&app.root, &app.dotenv, bake)
}

/// The manifest's fields for one service.
pub fn service_fields(
    app: &ResolvedApp,
    svc: &ResolvedService,
    bake: bool,
) -> (BTreeMap<String, String>, Option<String>) {
    fields(&app.root, &svc.dotenv, bake)
}

fn fields(root: &Path, file: &EnvFile, bake: bool) -> (BTreeMap<String, String>, Option<String>) {
    let values = if bake {
        file.values.clone()
    } else {
        BTreeMap::new()
    };
    (values, in_artifact(root, &file.path))
}

/// Where `path` sits in the artifact, when it is inside the app.
fn in_artifact(root: &Path, path: &Path) -> Option<String> {
    path.starts_with(root)
        .then(|| artifact_path(APP_DIR, root, path).ok())
        .flatten()
}

/// Env files named by an `envfile` key, relative to the app root: they never ship, whatever
/// their name.
pub fn named_files(app: &ResolvedApp) -> Vec<std::path::PathBuf> {
    std::iter::once(&app.dotenv)
        .chain(app.services.iter().map(|s| &s.dotenv))
        .filter(|f| f.named)
        .filter_map(|f| f.path.strip_prefix(&app.root).ok())
        .map(Path::to_path_buf)
        .collect()
}

/// What `watt build` says about env files: names only, never values.
pub fn report(app: &ResolvedApp, bake: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(above) = crate::config::dotenv_above_root(&app.root) {
        out.push(format!(
            "watt: {} is above the app root and is not read (Watt would read it when the app \
             has no .env of its own); put what the app needs in {} or in the environment",
            above.display(),
            app.root.join(".env").display()
        ));
    }
    let mut files: Vec<(String, &EnvFile)> = Vec::new();
    if !app.dotenv.values.is_empty() {
        files.push(("the runtime".into(), &app.dotenv));
    }
    for s in &app.services {
        // A single-service app's folder is the root: one file, listed once.
        if !s.dotenv.values.is_empty() && s.dotenv.path != app.dotenv.path {
            files.push((format!("service \"{}\"", s.id), &s.dotenv));
        }
    }
    if files.is_empty() {
        return out;
    }
    let shown = |f: &EnvFile| {
        f.path
            .strip_prefix(&app.root)
            .unwrap_or(&f.path)
            .display()
            .to_string()
    };
    let mut msg = if bake {
        "watt: baked these env file values into watt-manifest.json (--dotenv), as defaults under \
         a run-time env file and the real environment:"
            .to_string()
    } else {
        "watt: left these env file values out of the artifact (names only):".to_string()
    };
    for (owner, f) in &files {
        let keys: Vec<&str> = f.values.keys().map(String::as_str).collect();
        msg.push_str(&format!("\n  {} ({owner}): {}", shown(f), keys.join(", ")));
    }
    if !bake {
        let mut places = vec![format!(
            "{} or .env beside watt-stub (the runtime's)",
            in_artifact(&app.root, &app.dotenv.path).unwrap_or_else(|| format!("{APP_DIR}/.env"))
        )];
        for (owner, f) in files.iter().skip_while(|(o, _)| o == "the runtime") {
            match in_artifact(&app.root, &f.path) {
                Some(p) => places.push(format!("{p} ({owner})")),
                None => places.push(format!(
                    "nowhere for {owner}: its envfile {} is outside the app",
                    f.path.display()
                )),
            }
        }
        msg.push_str(&format!(
            "\n  the running app reads them from the real environment, or from env files the \
             stub finds in the extracted artifact: {}; real variables win over the service's \
             file, which wins over the runtime's (Watt's order). `watt build --dotenv` bakes \
             them in instead",
            places.join(", ")
        ));
    }
    out.push(msg);
    if !bake {
        out.extend(needed_but_left_out(app));
    }
    out
}

/// The placeholders the config needs whose only value is in an env file that does not ship:
/// without the variable where the app runs (or the file mounted where the stub looks), each
/// fills with `""`, which for a connection string is a crash loop at boot.
fn needed_but_left_out(app: &ResolvedApp) -> Option<String> {
    let mut needed: BTreeMap<String, (String, String)> = BTreeMap::new();
    let shown = |p: &Path| p.strip_prefix(&app.root).unwrap_or(p).display().to_string();
    let mut note = |text: &str, used_in: &str, files: &[&EnvFile]| {
        let (_, names) = crate::config::fill_placeholders(text, &|_| None);
        for name in names {
            if std::env::var_os(&name).is_some() {
                continue;
            }
            if let Some(f) = files.iter().find(|f| f.values.contains_key(&name)) {
                needed
                    .entry(name)
                    .or_insert_with(|| (used_in.to_string(), shown(&f.path)));
            }
        }
    };
    let root_config = shown(&app.config_file);
    for v in [&app.server.hostname, &app.server.port]
        .into_iter()
        .flatten()
    {
        note(v, &root_config, &[&app.dotenv]);
    }
    for svc in &app.services {
        let files = [&svc.dotenv, &app.dotenv];
        for v in svc.env.values() {
            note(v, &root_config, &files);
        }
        let used_in = svc
            .config_file
            .as_deref()
            .map_or(root_config.clone(), shown);
        note(&svc.config.to_string(), &used_in, &files);
    }
    if needed.is_empty() {
        return None;
    }
    let list: Vec<String> = needed
        .iter()
        .map(|(name, (used_in, file))| format!("{{{name}}} in {used_in} (its value is in {file})"))
        .collect();
    Some(format!(
        "watt: warning: the config needs values the artifact does not carry: {}; set them where \
         the app runs, mount the env file where the stub reads it (above), or build with \
         --dotenv, else they are empty at boot",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::frameworks::testing;

    fn app_with_env(root: &Path) -> ResolvedApp {
        let mut svc = testing::service(&root.join("web/api"), Kind::Node);
        svc.id = "api".into();
        svc.dotenv = EnvFile {
            path: root.join("web/api/.env"),
            named: false,
            values: [("DATABASE_URL".to_string(), "postgres://secret".to_string())].into(),
        };
        let mut app = testing::app(&svc);
        app.root = root.to_path_buf();
        app.dotenv = EnvFile {
            path: root.join(".env"),
            named: false,
            values: [("PLT_SERVER_HOSTNAME".to_string(), "127.0.0.1".to_string())].into(),
        };
        app
    }

    #[test]
    fn values_stay_out_unless_baked_and_the_report_names_keys_only() {
        let d = tempfile::tempdir().unwrap();
        let app = app_with_env(d.path());
        let (values, file) = service_fields(&app, &app.services[0], false);
        assert!(values.is_empty());
        assert_eq!(file.as_deref(), Some("app/web/api/.env"));
        let (values, file) = runtime_fields(&app, true);
        assert_eq!(values["PLT_SERVER_HOSTNAME"], "127.0.0.1");
        assert_eq!(file.as_deref(), Some("app/.env"));

        let text = report(&app, false).join("\n");
        assert!(
            text.contains("DATABASE_URL") && text.contains("PLT_SERVER_HOSTNAME"),
            "{text}"
        );
        assert!(
            text.contains("app/web/api/.env (service \"api\")"),
            "{text}"
        );
        assert!(text.contains("--dotenv"), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("127.0.0.1"),
            "{text}"
        );
        // Nothing in the config uses them: no warning.
        assert!(!text.contains("warning"), "{text}");
    }

    #[test]
    fn a_placeholder_whose_only_value_stays_out_is_a_warning_naming_it_and_its_file() {
        let d = tempfile::tempdir().unwrap();
        let mut app = app_with_env(d.path());
        let svc = &mut app.services[0];
        svc.config_file = Some(d.path().join("web/api/platformatic.json"));
        svc.config = serde_json::json!({ "db": { "connectionString": "{DATABASE_URL}" } });
        // Set in the environment of the build: not the env file's to provide.
        svc.env.insert(
            "HOME_DIR".into(),
            "{WATT_TEST_SURELY_UNSET_VAR}/{HOME}".into(),
        );
        let text = report(&app, false).join("\n");
        let warning = text
            .lines()
            .find(|l| l.starts_with("watt: warning:"))
            .unwrap_or_else(|| panic!("no warning in {text}"));
        assert!(
            warning.contains(
                "{DATABASE_URL} in web/api/platformatic.json (its value is in web/api/.env)"
            ),
            "{warning}"
        );
        assert!(
            !warning.contains("HOME") && !warning.contains("secret"),
            "{warning}"
        );
        // Baked in, they are carried: no warning.
        let text = report(&app, true).join("\n");
        assert!(!text.contains("warning"), "{text}");
    }
}
