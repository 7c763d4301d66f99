//! Compile-time path aliases: the `compilerOptions.paths` keys (`"~/*": ["./app/*"]`, `"@/*"`)
//! of the tsconfig.json or jsconfig.json that governs a source file. tsc or the framework's
//! bundler resolves them; Node never sees them. A shipped source file importing `~/lib/db`
//! therefore names no package, and is no miss to warn about. (`baseUrl` alone also lets
//! `lib/db` name a file, but that reads like a package, which Node may well find: left to the
//! import check.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How deep `extends` is followed; real configs chain two or three.
const MAX_EXTENDS: usize = 8;

/// The aliases of each folder's governing config (the keys of its `paths`: `~/*`, `@lib/*`,
/// `config`), read once per folder.
#[derive(Default)]
pub(super) struct Aliases {
    by_dir: BTreeMap<PathBuf, Rc<[String]>>,
}

impl Aliases {
    /// Whether `spec`, imported by `file`, is one of its config's aliases rather than a package.
    pub(super) fn covers(&mut self, file: &Path, spec: &str) -> bool {
        let Some(dir) = file.parent() else {
            return false;
        };
        self.keys(dir).iter().any(|key| key_matches(key, spec))
    }

    /// The nearest tsconfig.json or jsconfig.json from `dir` up, not above the first folder
    /// holding a package.json (a config beyond the package governs other code).
    fn keys(&mut self, dir: &Path) -> Rc<[String]> {
        if let Some(k) = self.by_dir.get(dir) {
            return Rc::clone(k);
        }
        let found = ["tsconfig.json", "jsconfig.json"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file());
        let keys = match found {
            Some(file) => read(&file, MAX_EXTENDS).unwrap_or_default().into(),
            None => match dir.parent() {
                Some(up) if !dir.join("package.json").is_file() => self.keys(up),
                _ => Rc::from([]),
            },
        };
        self.by_dir.insert(dir.to_path_buf(), Rc::clone(&keys));
        keys
    }
}

/// A config file and what it extends by relative path; its own `paths` replace the extended
/// ones', as in tsc. A file that does not parse has no aliases.
fn read(file: &Path, depth: usize) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    let json: serde_json::Value = json5::from_str(&text).ok()?;
    let dir = file.parent()?;
    let mut inherited = Vec::new();
    if depth > 0 {
        let extends = match json.get("extends") {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => vec![],
        };
        // Later entries of an `extends` array win; a package's config (`@tsconfig/node20`)
        // has no aliases of the app's.
        for base in extends.into_iter().filter(|b| b.starts_with('.')) {
            let mut path = dir.join(base);
            if !path.is_file() {
                let mut with = path.into_os_string();
                with.push(".json");
                path = with.into();
            }
            if let Some(keys) = read(&path, depth - 1) {
                if !keys.is_empty() {
                    inherited = keys;
                }
            }
        }
    }
    let paths: Vec<String> = json
        .get("compilerOptions")
        .and_then(|o| o.get("paths"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    Some(if paths.is_empty() { inherited } else { paths })
}

/// tsc's rule: a key without `*` matches itself; with one, any text in its place.
fn key_matches(key: &str, spec: &str) -> bool {
    match key.split_once('*') {
        None => key == spec,
        Some((prefix, suffix)) => {
            spec.len() >= prefix.len() + suffix.len()
                && spec.starts_with(prefix)
                && spec.ends_with(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn aliases_come_from_the_governing_config_and_what_it_extends() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "tsconfig.base.json",
            r#"{ "compilerOptions": { "paths": { "@shared/*": ["packages/shared/*"] } } }"#,
        );
        // JSONC, as tsc reads it: comments and trailing commas.
        write(
            root,
            "web/remix/tsconfig.json",
            "{\n  // the app's own\n  \"extends\": \"../../tsconfig.base\",\n  \
             \"compilerOptions\": { \"paths\": { \"~/*\": [\"./app/*\"], \"env\": [\"./env.ts\"], }, },\n}\n",
        );
        write(root, "web/remix/package.json", "{}");
        let route = write(root, "web/remix/app/routes/index.tsx", "");
        write(
            root,
            "web/api/tsconfig.json",
            r#"{ "extends": "../../tsconfig.base.json", "compilerOptions": { "strict": true } }"#,
        );
        write(root, "web/api/package.json", "{}");
        write(root, "web/api/src/lib/db.ts", "");
        let plugin = write(root, "web/api/src/plugins/a.ts", "");
        write(root, "web/plain/package.json", "{}");
        let plain = write(root, "web/plain/index.js", "");

        let mut a = Aliases::default();
        assert!(a.covers(&route, "~/models/user.server"));
        assert!(a.covers(&route, "env"));
        assert!(!a.covers(&route, "envy"));
        assert!(!a.covers(&route, "@remix-run/node"));
        // Its own `paths` replaced the base's.
        assert!(!a.covers(&route, "@shared/x"));
        assert!(a.covers(&plugin, "@shared/x"));
        assert!(!a.covers(&plugin, "lib/db"));
        assert!(!a.covers(&plugin, "fastify"));
        // No config within its package: nothing is an alias, even with one above.
        assert!(!a.covers(&plain, "@shared/x"));
    }

    #[test]
    fn a_star_stands_for_any_text_and_a_plain_key_for_itself() {
        assert!(key_matches("~/*", "~/a/b"));
        assert!(key_matches("@app/*.js", "@app/x.js"));
        assert!(!key_matches("@app/*.js", "@app/x.ts"));
        assert!(!key_matches("~/*", "~"));
        assert!(key_matches("config", "config"));
        assert!(!key_matches("config", "config/x"));
    }
}
