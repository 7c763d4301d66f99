//! From the manifest to a boot plan: validation, each service's environment (see `env`: env
//! files and the stub's own environment in Watt's order) with Watt placeholders resolved from
//! it, the public address, and the start order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use watt_manifest::{start_order, AppManifest, Start, DEFAULT_HOSTNAME, DEFAULT_PORT};

use crate::env::RuntimeEnv;

pub struct Plan {
    /// The artifact root: every path in the manifest is relative to it.
    pub root: PathBuf,
    /// The manifest with every placeholder resolved. Each service's `env` is everything it
    /// gets on top of the stub's own environment (env files already applied; `dotenv` empty).
    pub manifest: AppManifest,
    /// The run-time env file read for the runtime level, if any.
    pub env_file: Option<PathBuf>,
    /// Index of the entrypoint in `manifest.services`.
    pub entrypoint: usize,
    /// Start order: each level's services depend only on earlier levels; the entrypoint alone is last.
    pub levels: Vec<Vec<usize>>,
    pub host: String,
    pub port: u16,
}

/// Read and parse the manifest; the root is its (absolute) folder.
pub fn read_manifest(path: &Path) -> Result<(PathBuf, AppManifest)> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the app manifest {}; pass --manifest PATH or set WATT_MANIFEST",
            path.display()
        )
    })?;
    let manifest =
        AppManifest::from_json(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let path = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let root = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Ok((root, manifest))
}

impl Plan {
    pub fn load(path: &Path) -> Result<Plan> {
        let (root, manifest) = read_manifest(path)?;
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Plan::new(root, manifest, &env).with_context(|| format!("{}", path.display()))
    }

    pub fn new(root: PathBuf, mut m: AppManifest, env: &HashMap<String, String>) -> Result<Plan> {
        check_paths(&m)?;
        let (entrypoint, levels) = start_order(&m)?;
        if m.node.loader.is_some() && (m.node.library_path.is_none() || m.node.shim.is_none()) {
            // Without the shim, `process.execPath` would be the loader and every fork would fail.
            bail!("node.loader needs node.libraryPath and node.shim too; rebuild the app with `watt build`");
        }
        let cwd = std::env::current_dir().ok();
        let rt = RuntimeEnv::load(&root, &m, env, cwd.as_deref());
        resolve_all(&mut m, &root, &rt, env);
        let host = match m.server.hostname.as_deref() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => DEFAULT_HOSTNAME.to_string(),
        };
        let port = public_port(rt.vars.get("PORT"), m.server.port.as_deref())?;
        Ok(Plan {
            root,
            manifest: m,
            entrypoint,
            levels,
            host,
            port,
            env_file: rt.file,
        })
    }
}

/// The public port: `PORT`, what platforms (Heroku, Cloud Run, …) set, else the config's
/// `server.port` (placeholders resolved), else 3042; never `HOSTNAME`, which Docker and
/// Kubernetes set to the container's name. A value that is set but no port is refused, as Watt's
/// schema refuses it: falling back would listen where nobody looks.
fn public_port(env: Option<&String>, config: Option<&str>) -> Result<u16> {
    for (name, value) in [("PORT", env.map(String::as_str)), ("server.port", config)] {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        return value.parse::<u16>().map_err(|_| {
            let fix = if name == "PORT" {
                "set PORT to the port to listen on, or unset it to use the config's server.port"
            } else {
                "set server.port in the app's Watt config (or the variable it names) to the port \
                 to listen on, or set PORT"
            };
            anyhow::anyhow!("{name} is {value:?}, which is not a port (0 to 65535); {fix}")
        });
    }
    Ok(DEFAULT_PORT)
}

/// The start levels (`watt_manifest::start_order`, the rule `watt build` checked too), after
/// the checks only a manifest can fail.
fn start_order(m: &AppManifest) -> Result<(usize, Vec<Vec<usize>>)> {
    for s in &m.services {
        if matches!(&s.start, Start::Command { argv } if argv.is_empty()) {
            bail!("service {:?} has an empty start command", s.id);
        }
    }
    let nodes: Vec<start_order::Node> = m
        .services
        .iter()
        .map(|s| start_order::Node {
            id: &s.id,
            dependencies: &s.dependencies,
        })
        .collect();
    Ok(start_order::levels(&nodes, &m.entrypoint)?)
}

/// Every path of the manifest must name something inside the artifact: relative, without `..`
/// (an absolute static `dir` would serve the host's files).
fn check_paths(m: &AppManifest) -> Result<()> {
    let mut paths: Vec<(String, &str)> = vec![("node.binary".into(), m.node.binary.as_str())];
    for (field, p) in [
        ("node.loader", &m.node.loader),
        ("node.libraryPath", &m.node.library_path),
        ("node.shim", &m.node.shim),
    ] {
        if let Some(p) = p {
            paths.push((field.into(), p));
        }
    }
    for (i, s) in m.services.iter().enumerate() {
        let at = |f: &str| format!("services[{i}] ({:?}).{f}", s.id);
        paths.push((at("root"), &s.root));
        match &s.start {
            Start::Node { entry, fastify } => {
                paths.push((at("start.entry"), entry));
                if let Some(f) = fastify {
                    paths.push((at("start.fastify"), f));
                }
            }
            Start::FastifyPlugins { fastify, plugins } => {
                paths.push((at("start.fastify"), fastify));
                for (j, p) in plugins.iter().enumerate() {
                    paths.push((at(&format!("start.plugins[{j}].path")), &p.path));
                }
            }
            Start::RequestHandler {
                build,
                runtime_package,
                ..
            } => {
                paths.push((at("start.build"), build));
                paths.push((at("start.runtimePackage"), runtime_package));
            }
            Start::Static { dir, .. } => paths.push((at("start.dir"), dir)),
            Start::Capability { package, config } => {
                paths.push((at("start.package"), package));
                paths.push((at("start.config"), config));
            }
            Start::Gateway { .. } | Start::Command { .. } => {}
        }
        for (j, p) in s.preload.iter().enumerate() {
            paths.push((at(&format!("preload[{j}]")), p));
        }
        if let Some(a) = &s.static_assets {
            paths.push((at("staticAssets.dir"), &a.dir));
        }
    }
    for (field, p) in paths {
        let path = Path::new(p);
        let outside = path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
        if outside {
            bail!(
                "manifest field {field} is {p:?}: every path must be relative to the artifact \
                 and stay inside it; rebuild the app with `watt build`"
            );
        }
    }
    Ok(())
}

fn resolve_all(m: &mut AppManifest, root: &Path, rt: &RuntimeEnv, real: &HashMap<String, String>) {
    for value in [
        &mut m.server.hostname,
        &mut m.server.port,
        &mut m.health.hostname,
        &mut m.health.port,
    ]
    .into_iter()
    .flatten()
    {
        *value = resolve(value, &rt.vars);
    }
    for s in &mut m.services {
        // `env{}` lives in the runtime config: its placeholders see the runtime level.
        for v in s.env.values_mut() {
            *v = resolve(v, &rt.vars);
        }
        let mut vars = rt.for_service(root, &s.dotenv, s.env_file.as_deref());
        vars.extend(s.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Start::FastifyPlugins { plugins, .. } = &mut s.start {
            for p in plugins {
                resolve_json(&mut p.options, &vars);
            }
        }
        s.env = vars
            .into_iter()
            .filter(|(k, v)| real.get(k) != Some(v))
            .collect();
        s.dotenv.clear();
    }
}

fn resolve_json(v: &mut serde_json::Value, env: &HashMap<String, String>) {
    match v {
        serde_json::Value::String(s) => *s = resolve(s, env),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| resolve_json(v, env)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| resolve_json(v, env)),
        _ => {}
    }
}

/// Watt's placeholders: what the regex `\{{1,2}([a-z0-9_]+)\}{1,2}` (case-insensitive) matches is
/// replaced by the variable named by the group; unset → empty string.
pub fn resolve(s: &str, env: &HashMap<String, String>) -> String {
    let b = s.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = String::with_capacity(s.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        // Like the regex: try two opening braces, then one; the name must follow directly.
        let open = if b.get(i + 1) == Some(&b'{') && b.get(i + 2).is_some_and(|&c| is_name(c)) {
            2
        } else if b.get(i + 1).is_some_and(|&c| is_name(c)) {
            1
        } else {
            i += 1;
            continue;
        };
        let start = i + open;
        let end = start + b[start..].iter().take_while(|&&c| is_name(c)).count();
        let close = b[end..].iter().take(2).take_while(|&&c| c == b'}').count();
        if close == 0 {
            i += 1;
            continue;
        }
        out.push_str(&s[copied..i]);
        out.push_str(env.get(&s[start..end]).map_or("", String::as_str));
        i = end + close;
        copied = i;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        [("PORT", "8080"), ("A", "x"), ("lower", "y")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    #[test]
    fn placeholders_follow_watts_regex() {
        let e = env();
        for (input, want) in [
            ("{PORT}", "8080"),
            ("{{PORT}}", "8080"),
            ("{PORT}}", "8080"),
            ("{{{PORT}}}", "{8080}"),
            ("http://{A}:{PORT}/x", "http://x:8080/x"),
            ("{lower}{UNSET}!", "y!"),
            ("{}", "{}"),
            ("{ A }", "{ A }"),
            ("{A", "{A"),
            ("{A-B}", "{A-B}"),
            ("é{A}ü", "éxü"),
            ("", ""),
        ] {
            assert_eq!(resolve(input, &e), want, "{input}");
        }
    }

    fn manifest(services: &str, entrypoint: &str) -> AppManifest {
        let json = format!(
            r#"{{"schemaVersion":1,"name":"t","entrypoint":"{entrypoint}",
            "node":{{"binary":"n","loader":null,"libraryPath":null,"shim":null,"version":"v24"}},
            "server":{{"hostname":"{{H}}","port":"{{PORT}}"}},
            "gracefulShutdown":{{"runtimeMs":1,"applicationMs":1}},"services":[{services}]}}"#
        );
        AppManifest::from_json(json.as_bytes()).unwrap()
    }

    fn svc(id: &str, deps: &[&str]) -> String {
        format!(
            r#"{{"id":"{id}","kind":"node","root":".","start":{{"type":"node","entry":"i.js","fastify":null}},
            "dependencies":{deps:?},"env":{{"E":"{{A}}-{{{{NOPE}}}}"}},"dotenv":{{}},"nodeOptions":[],"preload":[]}}"#
        )
    }

    fn plan(services: &[String], entry: &str, env: &HashMap<String, String>) -> Result<Plan> {
        Plan::new("/r".into(), manifest(&services.join(","), entry), env)
    }

    #[test]
    fn levels_put_dependencies_first_and_the_entrypoint_last() {
        let s = [
            svc("gw", &[]),
            svc("a", &["b"]),
            svc("b", &[]),
            svc("c", &[]),
        ];
        let p = plan(&s, "gw", &env()).unwrap();
        assert_eq!(p.levels, vec![vec![2, 3], vec![1], vec![0]]);
        assert_eq!(p.manifest.services[1].env["E"], "x-");
        assert_eq!((p.host.as_str(), p.port), ("0.0.0.0", 8080));
    }

    #[test]
    fn bad_graphs_are_explained() {
        let cases = [
            (vec![svc("a", &["zz"])], "a", "not a service"),
            (vec![svc("a", &[])], "b", "entrypoint \"b\""),
            (
                vec![svc("a", &["b"]), svc("b", &["a"]), svc("e", &[])],
                "e",
                "cycle",
            ),
            (
                vec![svc("e", &[]), svc("a", &["e"])],
                "e",
                "nothing may depend on it",
            ),
            (vec![svc("a", &[]), svc("a", &[])], "a", "unique"),
        ];
        for (services, entry, want) in cases {
            let err = plan(&services, entry, &env())
                .err()
                .expect(want)
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn paths_outside_the_artifact_are_refused_naming_the_field() {
        let e = env();
        let ok = plan(&[svc("a", &[])], "a", &e);
        assert!(ok.is_ok());
        for (bad, field) in [
            (
                svc("a", &[]).replace(r#""entry":"i.js""#, r#""entry":"/etc/passwd""#),
                "services[0] (\"a\").start.entry",
            ),
            (
                svc("a", &[]).replace(r#""root":".""#, r#""root":"app/../..""#),
                "services[0] (\"a\").root",
            ),
            (
                svc("a", &[]).replace(
                    r#""start":{"type":"node","entry":"i.js","fastify":null}"#,
                    r#""start":{"type":"static","dir":"/","spaFallback":false}"#,
                ),
                "services[0] (\"a\").start.dir",
            ),
            (
                svc("a", &[]).replace(r#""preload":[]"#, r#""preload":["../x.mjs"]"#),
                "services[0] (\"a\").preload[0]",
            ),
        ] {
            let err = plan(&[bad], "a", &e).err().expect(field).to_string();
            assert!(err.contains(&format!("manifest field {field}")), "{err}");
        }
        let mut m = manifest(&svc("a", &[]), "a");
        m.node.binary = "/usr/bin/node".into();
        let err = Plan::new("/r".into(), m, &e)
            .err()
            .expect("binary")
            .to_string();
        assert!(
            err.contains("manifest field node.binary is \"/usr/bin/node\""),
            "{err}"
        );
    }

    #[test]
    fn port_comes_from_port_env_then_config_then_default() {
        let mut e = env();
        e.insert("H".into(), "127.0.0.1".into());
        let p = plan(&[svc("a", &[])], "a", &e).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 8080));
        // Unset, the config's `{PORT}` is empty: the default.
        e.remove("PORT");
        assert_eq!(plan(&[svc("a", &[])], "a", &e).unwrap().port, DEFAULT_PORT);
        e.insert("PORT".into(), " ".into());
        assert_eq!(plan(&[svc("a", &[])], "a", &e).unwrap().port, DEFAULT_PORT);
    }

    #[test]
    fn a_port_that_is_set_but_no_port_is_refused_not_replaced() {
        for bad in ["nope", "65536", "-1", "80.5"] {
            let mut e = env();
            e.insert("PORT".into(), bad.into());
            let Err(err) = plan(&[svc("a", &[])], "a", &e) else {
                panic!("PORT={bad:?} accepted");
            };
            let err = format!("{err:#}");
            assert!(
                err.contains(&format!("PORT is {bad:?}, which is not a port")),
                "{err}"
            );
        }
        // PORT wins, so the config's value matters only without it.
        assert_eq!(
            super::public_port(Some(&"8081".into()), Some("x")).unwrap(),
            8081
        );
        let err = super::public_port(None, Some("http"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.port is \"http\"") && err.contains("Watt config"),
            "{err}"
        );
    }
}
