//! What the SBOM reads about npm packages: a package.json's name, version and license, and the
//! app's lockfile (`package-lock.json` or `pnpm-lock.yaml`): integrity hashes, tarball URLs and
//! which installed packages are production ones.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// The fields of a package.json the SBOM shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PackageJson {
    pub name: Option<String>,
    pub version: Option<String>,
    pub license: Option<String>,
    /// The names in `dependencies` and `optionalDependencies`, for the dependency graph.
    pub declares: Vec<String>,
}

impl PackageJson {
    pub fn parse(bytes: &[u8], path: &str) -> Result<PackageJson> {
        let json: Value =
            serde_json::from_slice(bytes).with_context(|| format!("{path} is not valid JSON"))?;
        let string = |v: &Value| v.as_str().map(str::to_owned);
        // `license` is an SPDX expression today; old packages use `{ "type": … }` or a
        // `licenses` array.
        let license = match json.get("license") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("type").and_then(string),
            _ => {
                let all: Vec<String> = json
                    .get("licenses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.get("type").and_then(string).or_else(|| string(l)))
                    .collect();
                match all.len() {
                    0 => None,
                    1 => all.into_iter().next(),
                    _ => Some(format!("({})", all.join(" OR "))),
                }
            }
        };
        let mut declares: Vec<String> = ["dependencies", "optionalDependencies"]
            .iter()
            .filter_map(|k| json.get(k).and_then(Value::as_object))
            .flat_map(|deps| deps.keys().cloned())
            .collect();
        declares.sort();
        declares.dedup();
        Ok(PackageJson {
            name: json.get("name").and_then(string),
            version: json.get("version").and_then(string),
            license,
            declares,
        })
    }
}

/// One package the lockfile records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Locked {
    pub integrity: Option<String>,
    pub resolved: Option<String>,
    /// Installed only for development (npm's `dev`; pnpm's `dev: true`).
    pub dev: bool,
    /// The folder it is installed at, relative to the app root (npm only).
    pub path: Option<String>,
}

/// (name, version) → what the lockfile says (the first entry of a name@version wins; they
/// agree). Workspace packages may have no version.
#[derive(Debug, Default)]
pub(crate) struct Lockfile {
    pub packages: BTreeMap<(String, Option<String>), Locked>,
    /// Whether the universe of installed production packages is known (npm's lockfile lists
    /// every folder; for pnpm only hashes are read).
    pub lists_installed: bool,
}

impl Lockfile {
    /// The app root's lockfile; none (or an unreadable one) gives an empty table: the SBOM then
    /// carries no lockfile hashes, which is what there is to say.
    pub fn read(root: &Path) -> Result<Lockfile> {
        let npm = root.join("package-lock.json");
        if npm.is_file() {
            let text = std::fs::read_to_string(&npm)
                .with_context(|| format!("cannot read {}", npm.display()))?;
            let json: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", npm.display()))?;
            return Ok(Self::from_npm(&json));
        }
        let pnpm = root.join("pnpm-lock.yaml");
        if pnpm.is_file() {
            let text = std::fs::read_to_string(&pnpm)
                .with_context(|| format!("cannot read {}", pnpm.display()))?;
            let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
                .with_context(|| format!("{} is not valid YAML", pnpm.display()))?;
            return Ok(Self::from_pnpm(&yaml));
        }
        Ok(Lockfile::default())
    }

    /// lockfileVersion 2 and 3: `packages` keyed by install folder (`node_modules/a`,
    /// `node_modules/a/node_modules/b`, `web/api` for a workspace).
    fn from_npm(json: &Value) -> Lockfile {
        let mut out = Lockfile {
            lists_installed: true,
            ..Default::default()
        };
        let Some(packages) = json.get("packages").and_then(Value::as_object) else {
            out.lists_installed = false;
            return out;
        };
        // A workspace's entry may lack `name`: the link npm made for it says it.
        let linked: BTreeMap<&str, &str> = packages
            .iter()
            .filter(|(_, e)| e.get("link").and_then(Value::as_bool) == Some(true))
            .filter_map(|(path, e)| {
                let name = path.rsplit_once("node_modules/")?.1;
                Some((e.get("resolved")?.as_str()?, name))
            })
            .collect();
        for (path, entry) in packages {
            // The root project, and the links npm puts in node_modules for workspaces (their
            // target folder has its own entry).
            if path.is_empty() || entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    path.rsplit_once("node_modules/")
                        .map(|(_, n)| n.to_string())
                })
                .or_else(|| linked.get(path.as_str()).map(|n| n.to_string()));
            let Some(name) = name else {
                continue;
            };
            let version = entry.get("version").and_then(Value::as_str);
            let s = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_owned);
            out.packages
                .entry((name, version.map(str::to_owned)))
                .or_insert(Locked {
                    integrity: s("integrity"),
                    resolved: s("resolved"),
                    dev: entry.get("dev").and_then(Value::as_bool) == Some(true),
                    path: Some(path.clone()),
                });
        }
        out
    }

    /// `packages:` keyed `/name@version` (v6) or `name@version` (v9), peers in parentheses.
    fn from_pnpm(yaml: &serde_yaml::Value) -> Lockfile {
        let mut out = Lockfile::default();
        let Some(packages) = yaml.get("packages").and_then(|p| p.as_mapping()) else {
            return out;
        };
        for (key, entry) in packages {
            let Some(key) = key.as_str() else { continue };
            let key = key.trim_start_matches('/');
            let key = key.split('(').next().unwrap_or(key);
            // The name may start with `@` (a scope): the version follows the last `@` after it.
            let Some(at) = key.get(1..).and_then(|k| k.rfind('@')).map(|i| i + 1) else {
                continue;
            };
            let (name, version) = (&key[..at], &key[at + 1..]);
            let integrity = entry
                .get("resolution")
                .and_then(|r| r.get("integrity"))
                .and_then(|i| i.as_str())
                .map(str::to_owned);
            out.packages
                .entry((name.to_string(), Some(version.to_string())))
                .or_insert(Locked {
                    integrity,
                    resolved: None,
                    dev: entry.get("dev").and_then(|d| d.as_bool()) == Some(true),
                    path: None,
                });
        }
        out
    }

    pub fn get(&self, name: &str, version: Option<&str>) -> Option<&Locked> {
        self.packages
            .get(&(name.to_string(), version.map(str::to_owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_in_every_shape_package_json_has_held() {
        let l = |j: &str| PackageJson::parse(j.as_bytes(), "p").unwrap().license;
        assert_eq!(l(r#"{"license":"MIT"}"#).as_deref(), Some("MIT"));
        assert_eq!(l(r#"{"license":{"type":"ISC"}}"#).as_deref(), Some("ISC"));
        assert_eq!(
            l(r#"{"licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}"#).as_deref(),
            Some("(MIT OR Apache-2.0)")
        );
        assert_eq!(l(r#"{}"#), None);
    }

    #[test]
    fn npm_lockfiles_give_hashes_and_dev_flags_by_name_and_version() {
        let lock = Lockfile::from_npm(&serde_json::json!({
            "lockfileVersion": 3,
            "packages": {
                "": { "name": "app" },
                "node_modules/api": { "resolved": "web/api", "link": true },
                "web/api": { "name": "api", "version": "1.0.0" },
                "node_modules/gw": { "resolved": "web/gw", "link": true },
                "web/gw": { "dependencies": {} },
                "node_modules/@fastify/static": { "version": "8.1.0", "integrity": "sha512-AA==", "resolved": "https://r/x.tgz" },
                "node_modules/a/node_modules/ms": { "version": "2.0.0", "dev": true },
                "node_modules/alias": { "name": "real", "version": "3.0.0" },
            }
        }));
        let s = lock.get("@fastify/static", Some("8.1.0")).unwrap();
        assert_eq!(s.integrity.as_deref(), Some("sha512-AA=="));
        assert_eq!(s.path.as_deref(), Some("node_modules/@fastify/static"));
        assert!(lock.get("ms", Some("2.0.0")).unwrap().dev);
        assert!(lock.get("api", Some("1.0.0")).is_some());
        assert_eq!(
            lock.get("gw", None).unwrap().path.as_deref(),
            Some("web/gw")
        );
        assert!(lock.get("real", Some("3.0.0")).is_some());
        assert!(lock.get("alias", Some("3.0.0")).is_none());
    }

    #[test]
    fn pnpm_lockfiles_give_hashes() {
        let yaml: serde_yaml::Value = serde_yaml::from_str(
            "packages:\n  /ms@2.1.3:\n    resolution: {integrity: sha512-AA==}\n  '@types/node@22.0.0(x@1)':\n    resolution: {integrity: sha512-BB==}\n    dev: true\n",
        )
        .unwrap();
        let lock = Lockfile::from_pnpm(&yaml);
        assert_eq!(
            lock.get("ms", Some("2.1.3")).unwrap().integrity.as_deref(),
            Some("sha512-AA==")
        );
        assert!(lock.get("@types/node", Some("22.0.0")).unwrap().dev);
    }
}
