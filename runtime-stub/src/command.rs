//! From a service of the plan to the command that runs one of its processes: program, argv,
//! environment and folder. Pure: nothing is spawned here, so every rule is unit-tested.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Value};
use watt_manifest::{Service, Start};

use crate::node::Node;

/// What to execute.
#[derive(Debug, PartialEq)]
pub struct Spec {
    pub program: PathBuf,
    /// `argv[0]`.
    pub arg0: OsString,
    pub args: Vec<OsString>,
    /// The whole environment (the process gets nothing else).
    pub env: BTreeMap<OsString, OsString>,
    pub cwd: PathBuf,
}

/// What every command of the app shares.
pub struct Context<'a> {
    pub root: &'a Path,
    pub node: &'a Node,
    /// The embedded JS (see `js_files`).
    pub launcher: &'a Path,
    pub preload: &'a Path,
    /// `WATT_MESH`: id → {host, port}.
    pub mesh_env: &'a str,
    /// The stub's own environment.
    pub base_env: &'a BTreeMap<OsString, OsString>,
    /// Id of the app's entrypoint service.
    pub entrypoint: &'a str,
    /// The public address (the entrypoint's `host`/`port` in `globalThis.platformatic`).
    pub public_host: &'a str,
    pub public_port: u16,
    /// Every service of the app: a capability process answers its gateway's
    /// `getApplicationMeta`/`listApplications` from them.
    pub services: &'a [Service],
}

/// A process service started by the embedded launcher, which serves on the socket the stub
/// passes as fd 3. A plain command (not `node …`) binds by itself.
pub fn launched(start: &Start) -> bool {
    match start {
        Start::Command { argv } => argv.first().is_some_and(|a| a == "node"),
        Start::Static { .. } | Start::Gateway { .. } => false,
        _ => true,
    }
}

pub fn has_process(start: &Start) -> bool {
    !matches!(start, Start::Static { .. } | Start::Gateway { .. })
}

/// The command of worker `worker` of service `s`, which serves HTTP on `port`.
pub fn command(s: &Service, port: u16, worker: u32, ctx: &Context) -> Result<Spec> {
    let root = ctx.root;
    // The stub's environment, `.env` values it lacks, then the config's `env`, then ours.
    let mut env = ctx.base_env.clone();
    for (k, v) in &s.dotenv {
        env.entry(k.into()).or_insert_with(|| v.into());
    }
    env.extend(s.env.iter().map(|(k, v)| (k.into(), v.into())));
    // Express and friends print stack traces to clients unless told they run in production.
    env.entry("NODE_ENV".into())
        .or_insert_with(|| "production".into());
    env.insert("PORT".into(), port.to_string().into());
    env.insert("WATT_MESH".into(), ctx.mesh_env.into());
    env.insert("PLT_WORKER_ID".into(), worker.to_string().into());
    let mut node_options = env.remove(OsStr::new("NODE_OPTIONS")).unwrap_or_default();
    if !node_options.is_empty() {
        node_options.push(" ");
    }
    node_options.push(format!(
        "--require {}",
        quote(&ctx.preload.to_string_lossy())
    ));
    env.insert("NODE_OPTIONS".into(), node_options);
    if let Some(exec_path) = &ctx.node.exec_path {
        env.insert("WATT_NODE_EXEC_PATH".into(), exec_path.into());
    }
    // `node` on PATH is the bundled one.
    let rest = env
        .remove(OsStr::new("PATH"))
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut dirs = vec![ctx.node.bin_dir.clone()];
    dirs.extend(std::env::split_paths(&rest));
    env.insert("PATH".into(), std::env::join_paths(dirs)?);

    let (program, arg0, args) = match &s.start {
        Start::Command { argv } if !launched(&s.start) => (
            PathBuf::from(&argv[0]),
            OsString::from(&argv[0]),
            argv[1..].iter().map(OsString::from).collect(),
        ),
        start => {
            let (program, mut args) = ctx.node.argv();
            if let Start::Command { .. } = start {
                args.extend(["--require".into(), ctx.launcher.into()]);
            }
            args.extend(s.node_options.iter().map(OsString::from));
            for p in &s.preload {
                args.extend(["--import".into(), root.join(p).into()]);
            }
            match start {
                Start::Command { argv } => args.extend(argv[1..].iter().map(OsString::from)),
                _ => args.push(ctx.launcher.into()),
            }
            let is_entrypoint = s.id == ctx.entrypoint;
            let mut launch = launch_config(s, root, is_entrypoint);
            let (host, port) = if is_entrypoint {
                (ctx.public_host, ctx.public_port)
            } else {
                ("127.0.0.1", port)
            };
            launch["globals"] = globals(s, root, worker, host, port, is_entrypoint);
            if let Start::Capability { .. } = start {
                launch["start"]["applications"] = applications(ctx.services);
            }
            env.insert("WATT_LAUNCH".into(), launch.to_string().into());
            (program, OsString::from("node"), args)
        }
    };
    Ok(Spec {
        program,
        arg0,
        args,
        env,
        cwd: root.join(&s.root),
    })
}

/// `WATT_LAUNCH`: what launcher.cjs starts, with absolute paths.
pub fn launch_config(s: &Service, root: &Path, is_entrypoint: bool) -> Value {
    let abs = |p: &str| root.join(p).to_string_lossy().into_owned();
    let start = match &s.start {
        Start::Node { entry, fastify } => {
            json!({ "type": "node", "entry": abs(entry), "fastify": fastify.as_deref().map(abs) })
        }
        Start::FastifyPlugins { fastify, plugins } => {
            let plugins: Vec<_> = plugins
                .iter()
                .map(|p| json!({ "path": abs(&p.path), "prefix": p.prefix, "options": p.options }))
                .collect();
            json!({ "type": "fastifyPlugins", "fastify": abs(fastify), "plugins": plugins })
        }
        Start::Command { .. } => json!({ "type": "command" }),
        Start::RequestHandler {
            build,
            runtime,
            runtime_package,
        } => json!({
            "type": "requestHandler",
            "build": abs(build),
            "runtime": runtime,
            "runtimePackage": abs(runtime_package),
        }),
        Start::Capability { package, config } => json!({
            "type": "capability",
            "package": abs(package),
            "config": abs(config),
            "root": abs(&s.root),
            "isEntrypoint": is_entrypoint,
        }),
        // No process.
        Start::Static { .. } | Start::Gateway { .. } => json!(null),
    };
    json!({ "id": s.id, "start": start })
}

/// id → the service's `getMeta()` as Watt's runtime hands it to a gateway asking
/// `getApplicationMeta` (packages/runtime/lib/runtime.js): `{gateway: {…, tcp, url}}`, the URL
/// the mesh serves it at; `{}` for a service whose capability has none.
fn applications(services: &[Service]) -> Value {
    let all = services.iter().map(|s| {
        let meta = match &s.gateway_meta {
            Some(m) => {
                let mut g = json!({
                    "wantsAbsoluteUrls": m.wants_absolute_urls,
                    "needsRootTrailingSlash": m.needs_root_trailing_slash,
                    "tcp": true,
                    "url": format!("http://{}.plt.local", s.id),
                });
                if let Some(p) = &m.prefix {
                    g["prefix"] = json!(p);
                }
                json!({ "gateway": g })
            }
            None => json!({}),
        };
        (s.id.clone(), meta)
    });
    Value::Object(all.collect())
}

/// What js/globals.cjs makes `globalThis.platformatic` of, with the values Watt's
/// capabilities give them (packages/basic/lib/capability.js, node/lib/capability.js,
/// next/lib/capability.js): `basePath` is `/x/` or unset for node services and for the
/// kinds whose `init()` registers `ensureTrailingSlash(cleanBasePath(…))` (nitro, nuxt,
/// tanstack: packages/{nitro,nuxt,tanstack}/lib/capability.js), `/x` or `''` for the other
/// frontend kinds, unset for the others; `config` keeps its placeholders (filled in the
/// process, from its environment).
fn globals(s: &Service, root: &Path, worker: u32, host: &str, port: u16, entry: bool) -> Value {
    let clean = s
        .base_path
        .as_deref()
        .map(|p| format!("/{}", p.trim_matches('/')))
        .filter(|p| p != "/");
    let frontend = matches!(
        s.kind.as_str(),
        "next" | "astro" | "remix" | "vite" | "react-router" | "nuxt" | "tanstack"
    );
    let base_path = match s.kind.as_str() {
        "node" | "nitro" | "nuxt" | "tanstack" => json!(clean.map(|p| format!("{p}/"))),
        _ if frontend => json!(clean.unwrap_or_default()),
        _ => Value::Null,
    };
    json!({
        "applicationId": s.id,
        "workerId": worker,
        "root": root.join(&s.root),
        "basePath": base_path,
        "config": s.config.clone().unwrap_or_else(|| json!({})),
        "host": host,
        "port": port,
        "isEntrypoint": entry,
        "wantsAbsoluteUrls": frontend,
    })
}

/// A double-quoted word for NODE_OPTIONS.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use watt_manifest::NodeRuntime;

    fn service(start: Start) -> Service {
        Service {
            id: "api".into(),
            kind: "node".into(),
            root: "app/api".into(),
            start,
            dependencies: vec![],
            env: [
                ("FROM_CONFIG".into(), "c".into()),
                ("BOTH".into(), "config".into()),
            ]
            .into(),
            dotenv: [
                ("FROM_DOTENV".into(), "d".into()),
                ("REAL".into(), "dotenv".into()),
            ]
            .into(),
            node_options: vec!["--max-old-space-size=256".into()],
            preload: vec!["app/api/otel.mjs".into()],
            base_path: None,
            static_assets: None,
            env_file: None,
            restart_on_error_ms: 100,
            workers: 1,
            config: Some(json!({ "application": { "basePath": "/{PREFIX}" } })),
            gateway_meta: None,
        }
    }

    fn node(loader: bool) -> Node {
        let m = NodeRuntime {
            binary: "runtime/lib/node".into(),
            loader: loader.then(|| "runtime/lib/ld.so".into()),
            library_path: loader.then(|| "runtime/lib".into()),
            shim: loader.then(|| "runtime/bin/node".into()),
            version: "v24".into(),
        };
        Node::new(Path::new("/a"), &m)
    }

    fn spec(start: Start, node: &Node, base: &[(&str, &str)]) -> Spec {
        let base_env = base.iter().map(|(k, v)| (k.into(), v.into())).collect();
        let ctx = Context {
            root: Path::new("/a"),
            node,
            launcher: Path::new("/t/launcher.cjs"),
            preload: Path::new("/t/pre \"load\".cjs"),
            mesh_env: r#"{"api":{}}"#,
            base_env: &base_env,
            entrypoint: "api",
            public_host: "0.0.0.0",
            public_port: 8080,
            services: &[],
        };
        command(&service(start), 4321, 1, &ctx).unwrap()
    }

    fn env<'a>(s: &'a Spec, k: &str) -> Option<&'a str> {
        s.env.get(OsStr::new(k)).and_then(|v| v.to_str())
    }

    fn args(s: &Spec) -> Vec<&str> {
        s.args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn environment_layers_real_over_dotenv_and_config_over_all() {
        let s = spec(
            Start::Node {
                entry: "app/api/i.js".into(),
                fastify: None,
            },
            &node(false),
            &[
                ("REAL", "real"),
                ("BOTH", "real"),
                ("NODE_OPTIONS", "--x"),
                ("PATH", "/usr/bin"),
            ],
        );
        assert_eq!(env(&s, "REAL"), Some("real"));
        assert_eq!(env(&s, "FROM_DOTENV"), Some("d"));
        assert_eq!(env(&s, "BOTH"), Some("config"));
        assert_eq!(env(&s, "FROM_CONFIG"), Some("c"));
        assert_eq!(env(&s, "PORT"), Some("4321"));
        assert_eq!(env(&s, "PLT_WORKER_ID"), Some("1"));
        assert_eq!(env(&s, "NODE_ENV"), Some("production"));
        assert_eq!(
            env(&s, "NODE_OPTIONS"),
            Some(r#"--x --require "/t/pre \"load\".cjs""#)
        );
        assert_eq!(env(&s, "PATH"), Some("/a/runtime/lib:/usr/bin"));
        assert_eq!(s.cwd, Path::new("/a/app/api"));
        let launch: serde_json::Value =
            serde_json::from_str(env(&s, "WATT_LAUNCH").unwrap()).unwrap();
        assert_eq!(launch["start"]["entry"], "/a/app/api/i.js");
        // globalThis.platformatic's data: the entrypoint's public address, the worker's slot,
        // the config with its placeholders (the process fills them from its environment).
        let g = &launch["globals"];
        assert_eq!(g["applicationId"], "api");
        assert_eq!(g["workerId"], 1);
        assert_eq!(g["root"], "/a/app/api");
        assert_eq!((&g["host"], &g["port"]), (&json!("0.0.0.0"), &json!(8080)));
        assert_eq!(g["isEntrypoint"], true);
        assert_eq!(g["basePath"], Value::Null);
        assert_eq!(g["config"]["application"]["basePath"], "/{PREFIX}");
    }

    #[test]
    fn nitro_nuxt_and_tanstack_get_the_base_path_their_capabilities_register() {
        let mut svc = service(Start::Node {
            entry: "i.js".into(),
            fastify: None,
        });
        svc.base_path = Some("/app".into());
        let base =
            |svc: &Service| globals(svc, Path::new("/a"), 0, "h", 1, false)["basePath"].clone();
        for kind in ["nitro", "nuxt", "tanstack", "node"] {
            svc.kind = kind.into();
            assert_eq!(base(&svc), "/app/", "{kind}");
        }
        svc.kind = "vite".into();
        assert_eq!(base(&svc), "/app");
        svc.kind = "tanstack".into();
        svc.base_path = None;
        assert_eq!(base(&svc), Value::Null);
    }

    #[test]
    fn node_env_set_by_anyone_is_kept() {
        let s = spec(
            Start::Node {
                entry: "i.js".into(),
                fastify: None,
            },
            &node(false),
            &[("NODE_ENV", "staging")],
        );
        assert_eq!(env(&s, "NODE_ENV"), Some("staging"));
    }

    #[test]
    fn launched_services_run_node_with_their_options_and_the_launcher() {
        let s = spec(
            Start::Node {
                entry: "i.js".into(),
                fastify: None,
            },
            &node(true),
            &[],
        );
        assert_eq!(s.program, Path::new("/a/runtime/lib/ld.so"));
        assert_eq!(
            args(&s),
            [
                "--library-path",
                "/a/runtime/lib",
                "--argv0",
                "node",
                "/a/runtime/lib/node",
                "--max-old-space-size=256",
                "--import",
                "/a/app/api/otel.mjs",
                "/t/launcher.cjs"
            ]
        );
        assert_eq!(env(&s, "WATT_NODE_EXEC_PATH"), Some("/a/runtime/bin/node"));
    }

    #[test]
    fn node_commands_get_the_launcher_preloaded_and_other_commands_run_as_is() {
        let argv = |a: &[&str]| Start::Command {
            argv: a.iter().map(|s| s.to_string()).collect(),
        };
        let s = spec(argv(&["node", "server.js", "--x"]), &node(false), &[]);
        assert_eq!(s.program, Path::new("/a/runtime/lib/node"));
        assert_eq!(
            args(&s),
            [
                "--require",
                "/t/launcher.cjs",
                "--max-old-space-size=256",
                "--import",
                "/a/app/api/otel.mjs",
                "server.js",
                "--x"
            ]
        );
        let s = spec(argv(&["./bin/serve", "-p", "1"]), &node(false), &[]);
        assert_eq!(
            (s.program.to_str(), args(&s)),
            (Some("./bin/serve"), vec!["-p", "1"])
        );
        assert_eq!(env(&s, "WATT_LAUNCH"), None);
    }
}
