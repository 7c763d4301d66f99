//! Each service's environment, layered the way Watt 3.67 layers it:
//!
//! - runtime level (`loadEnv`, `packages/foundation/lib/configuration.js`): the env file gives
//!   defaults, the real environment wins: `{ ...envFile, ...process.env }`. Here the env file
//!   layer is the `.env` values baked at build time (`watt build --dotenv`) overlaid by the
//!   first run-time file found: the manifest's `envFile` (`app/.env`, or the app's `envfile`),
//!   `.env` in the artifact root (beside `watt-stub`), `.env` in the working directory — Watt's
//!   upward search from the config folder, then its working-directory fallback. The runtime
//!   config's placeholders (`server`, `env{}`) resolve from this merge, with `PLT_ROOT` set to
//!   the app folder as Watt sets it.
//! - service level (`packages/runtime/lib/worker/main.js`): the service's env file (baked,
//!   overlaid by `app/<root>/.env` or its `envfile` at run time) sets a variable that is unset
//!   *or only came from the runtime's env file*; then runtime `env{}` and the application's
//!   `env{}` are assigned over everything. The service config's placeholders (plugin options)
//!   resolve from the result.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use watt_manifest::{dotenv, AppManifest};

/// The app folder inside the artifact (the runtime config's folder): where `PLT_ROOT` points.
const APP_DIR: &str = "app";

/// The runtime level: the merged environment and which keys only an env file gave.
pub struct RuntimeEnv {
    pub vars: HashMap<String, String>,
    fallback: HashSet<String>,
    /// The run-time env file read, if any (reported at start-up).
    pub file: Option<PathBuf>,
}

/// Reads a `.env` file; a missing or unreadable one is no file (Watt ignores a missing one).
fn read(path: &Path) -> Option<BTreeMap<String, String>> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| dotenv::parse(&t))
}

impl RuntimeEnv {
    pub fn load(
        root: &Path,
        m: &AppManifest,
        real: &HashMap<String, String>,
        cwd: Option<&Path>,
    ) -> Self {
        let candidates = m
            .env_file
            .iter()
            .map(|f| root.join(f))
            .chain([root.join(".env")])
            .chain(cwd.map(|d| d.join(".env")));
        let mut file = None;
        let mut from_files = m.dotenv.clone();
        for candidate in candidates {
            if let Some(values) = read(&candidate) {
                from_files.extend(values);
                file = Some(candidate);
                break;
            }
        }
        let fallback = from_files
            .keys()
            .filter(|k| !real.contains_key(*k))
            .cloned()
            .collect();
        let mut vars: HashMap<String, String> = from_files.into_iter().collect();
        vars.extend(real.iter().map(|(k, v)| (k.clone(), v.clone())));
        // Watt adds it to the same object its workers inherit.
        vars.insert(
            "PLT_ROOT".into(),
            root.join(APP_DIR).to_string_lossy().into_owned(),
        );
        RuntimeEnv {
            vars,
            fallback,
            file,
        }
    }

    /// A service's environment before its `env{}`: the runtime's, with the service's env file
    /// (baked values overlaid by the run-time file at `env_file`) setting what is unset or came
    /// only from the runtime's env file.
    pub fn for_service(
        &self,
        root: &Path,
        baked: &BTreeMap<String, String>,
        env_file: Option<&str>,
    ) -> HashMap<String, String> {
        let mut own = baked.clone();
        if let Some(values) = env_file.and_then(|f| read(&root.join(f))) {
            own.extend(values);
        }
        let mut vars = self.vars.clone();
        for (k, v) in own {
            if !vars.contains_key(&k) || self.fallback.contains(&k) {
                vars.insert(k, v);
            }
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(env_file: Option<&str>, baked: &[(&str, &str)]) -> AppManifest {
        let json = format!(
            r#"{{"schemaVersion":1,"name":"t","entrypoint":"a",
            "node":{{"binary":"n","loader":null,"libraryPath":null,"shim":null,"version":"v24"}},
            "server":{{"hostname":null,"port":null}},
            "gracefulShutdown":{{"runtimeMs":1,"applicationMs":1}},"services":[],
            "envFile":{},"dotenv":{}}}"#,
            serde_json::to_string(&env_file).unwrap(),
            serde_json::to_string(&baked.iter().cloned().collect::<BTreeMap<_, _>>()).unwrap()
        );
        AppManifest::from_json(json.as_bytes()).unwrap()
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn watts_order_baked_then_run_time_file_then_real_environment() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("app/web/api")).unwrap();
        std::fs::write(
            root.join("app/.env"),
            "FILE=runtime-file\nBOTH=runtime-file\n",
        )
        .unwrap();
        std::fs::write(
            root.join("app/web/api/.env"),
            "SVC=service-file\nBOTH=service-file\nREAL=no\n",
        )
        .unwrap();
        let m = manifest(
            Some("app/.env"),
            &[("BAKED", "baked"), ("FILE", "baked"), ("REAL", "baked")],
        );
        let rt = RuntimeEnv::load(root, &m, &vars(&[("REAL", "real")]), None);
        assert_eq!(rt.file, Some(root.join("app/.env")));
        assert_eq!(rt.vars["BAKED"], "baked");
        assert_eq!(
            rt.vars["FILE"], "runtime-file",
            "the run-time file over baked values"
        );
        assert_eq!(rt.vars["REAL"], "real", "the real environment wins");
        assert_eq!(rt.vars["PLT_ROOT"], root.join("app").to_string_lossy());

        let baked = [("SVC_BAKED".to_string(), "b".to_string())].into();
        let svc = rt.for_service(root, &baked, Some("app/web/api/.env"));
        assert_eq!(svc["SVC"], "service-file");
        assert_eq!(svc["SVC_BAKED"], "b");
        assert_eq!(
            svc["BOTH"], "service-file",
            "a service's file overrides the runtime's"
        );
        assert_eq!(svc["REAL"], "real", "but never a real variable");
    }

    #[test]
    fn the_search_falls_back_to_the_artifact_root_then_the_working_directory() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("artifact");
        let cwd = d.path().join("cwd");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::write(cwd.join(".env"), "WHERE=cwd\n").unwrap();
        let m = manifest(Some("app/.env"), &[]);
        let rt = RuntimeEnv::load(&root, &m, &HashMap::new(), Some(&cwd));
        assert_eq!(rt.vars["WHERE"], "cwd");
        std::fs::write(root.join(".env"), "WHERE=beside-the-stub\n").unwrap();
        let rt = RuntimeEnv::load(&root, &m, &HashMap::new(), Some(&cwd));
        assert_eq!(rt.vars["WHERE"], "beside-the-stub");
        assert_eq!(rt.file, Some(root.join(".env")));
    }
}
