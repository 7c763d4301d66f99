//! Config resolution against fixture apps built in temp dirs.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use watt_pack::config::{
    resolve, ConfigError, Detection, EntrypointReason, Kind, ResolvedApp, ResolvedService,
};

/// Writes `files` (path → contents) under a fresh temp dir; a path ending in `/` is a folder.
fn write_into(base: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let full = base.join(path);
        if path.ends_with('/') {
            fs::create_dir_all(&full).unwrap();
        } else {
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(&full, contents).unwrap();
        }
    }
}

fn app(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_into(dir.path(), files);
    dir
}

fn canon(path: impl AsRef<Path>) -> PathBuf {
    fs::canonicalize(path).unwrap()
}

fn ok(dir: &Path) -> ResolvedApp {
    match resolve(dir) {
        Ok(app) => app,
        Err(e) => panic!("resolve failed: {e}"),
    }
}

fn err(dir: &Path) -> (ConfigError, String) {
    match resolve(dir) {
        Ok(app) => panic!("expected an error, got {app:#?}"),
        Err(e) => {
            let msg = e.to_string();
            (e, msg)
        }
    }
}

fn ids(app: &ResolvedApp) -> Vec<&str> {
    app.services.iter().map(|s| s.id.as_str()).collect()
}

fn service<'a>(app: &'a ResolvedApp, id: &str) -> &'a ResolvedService {
    app.services
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no service {id} in {:?}", ids(app)))
}

/// Files of a fixture: (path, contents).
type Files<'a> = &'a [(&'a str, &'a str)];
/// A detection case: name, files of the service folder, expected kind and rule.
type DetectCase = (String, Vec<(String, String)>, Kind, Detection);

const RUNTIME_SCHEMA: &str = "https://schemas.platformatic.dev/@platformatic/runtime/3.0.0.json";
const WATTPM_SCHEMA: &str = "https://schemas.platformatic.dev/wattpm/3.0.0.json";

// ---------------------------------------------------------------- lists and autoload

#[test]
fn v3_applications_and_v2_services_and_web_spellings() {
    for key in ["applications", "services", "web"] {
        let config = format!(
            r#"{{ "$schema": "{WATTPM_SCHEMA}", "entrypoint": "a",
                "{key}": [ {{ "id": "a", "path": "./svc/a" }}, {{ "id": "b", "path": "svc/b" }} ] }}"#
        );
        let dir = app(&[
            ("watt.json", &config),
            ("svc/a/index.js", ""),
            ("svc/b/index.js", ""),
        ]);
        let resolved = ok(dir.path());
        assert_eq!(ids(&resolved), ["a", "b"], "{key}");
        assert_eq!(
            service(&resolved, "a").path,
            canon(dir.path().join("svc/a")),
            "{key}"
        );
        assert_eq!(
            service(&resolved, "b").path,
            canon(dir.path().join("svc/b")),
            "{key}"
        );
    }
}

#[test]
fn all_three_lists_merge_in_watts_order() {
    let dir = app(&[
        (
            "watt.json",
            &format!(
                r#"{{ "$schema": "{RUNTIME_SCHEMA}", "entrypoint": "w", "web": [{{ "id": "w", "path": "w" }}],
                     "services": [{{ "id": "s", "path": "s" }}],
                     "applications": [{{ "id": "a", "path": "a" }}] }}"#
            ),
        ),
        ("a/x.js", ""),
        ("s/x.js", ""),
        ("w/x.js", ""),
    ]);
    assert_eq!(ids(&ok(dir.path())), ["a", "s", "w"]);
}

#[test]
fn autoload_with_exclude_and_mappings_sorted_by_folder_name() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/wattpm/3.0.0.json",
                 "entrypoint": "delta",
                 "autoload": { "path": "web", "exclude": ["c"],
                   "mappings": { "d": { "id": "delta", "env": { "MAPPED": "yes" },
                                        "config": "custom.json" } } } }"#,
        ),
        ("web/b/index.js", ""),
        ("web/a/index.js", ""),
        ("web/c/index.js", ""),
        ("web/C-upper/index.js", ""),
        ("web/d/custom.json", r#"{ "module": "@platformatic/vite" }"#),
        ("web/d/watt.json", r#"{ "module": "@platformatic/next" }"#),
        ("web/README.md", "not a folder"),
    ]);
    let resolved = ok(dir.path());
    // Byte order: upper case sorts first; `c` excluded; `d` renamed; files ignored.
    assert_eq!(ids(&resolved), ["C-upper", "a", "b", "delta"]);
    let delta = service(&resolved, "delta");
    assert_eq!(delta.path, canon(dir.path().join("web/d")));
    assert_eq!(delta.env.get("MAPPED").map(String::as_str), Some("yes"));
    assert_eq!(
        delta.kind,
        Kind::Vite,
        "mapping `config` wins over the folder's watt.json"
    );
    assert_eq!(
        delta.config_file.as_deref(),
        Some(canon(dir.path().join("web/d/custom.json")).as_path())
    );
}

#[test]
fn autoloaded_service_config_is_found_in_its_folder() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "entrypoint": "api", "autoload": { "path": "web" } }"#,
        ),
        (
            "web/api/platformatic.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/service/3.0.0.json" }"#,
        ),
    ]);
    let resolved = ok(dir.path());
    let api = service(&resolved, "api");
    assert_eq!(
        api.config_file.as_deref(),
        Some(canon(dir.path().join("web/api/platformatic.json")).as_path())
    );
    assert_eq!(api.kind, Kind::Service);
    assert_eq!(
        api.config["$schema"],
        "https://schemas.platformatic.dev/@platformatic/service/3.0.0.json"
    );
}

#[test]
fn explicit_entry_and_autoloaded_folder_with_same_path_merge() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "entrypoint": "z",
                 "applications": [ { "id": "z", "path": "other/z" },
                                   { "id": "b", "path": "./web/b/", "env": { "FROM": "explicit" } } ],
                 "autoload": { "path": "./web", "mappings": { "b": { "id": "b", "env": { "FROM": "mapping" }, "nodeOptions": "--x" } } } }"#,
        ),
        ("other/z/index.js", ""),
        ("web/a/index.js", ""),
        ("web/b/index.js", ""),
    ]);
    let resolved = ok(dir.path());
    // The merged entry keeps the explicit entry's place; the autoloaded `a` is appended.
    assert_eq!(ids(&resolved), ["z", "b", "a"]);
    let b = service(&resolved, "b");
    assert_eq!(b.path, canon(dir.path().join("web/b")));
    assert_eq!(b.env.get("FROM").map(String::as_str), Some("explicit"));
    assert_eq!(
        b.node_options.as_deref(),
        Some("--x"),
        "mapping keys the entry lacks are kept"
    );
}

#[test]
fn explicit_entry_and_autoloaded_folder_with_different_paths_is_an_error() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "applications": [ { "id": "api", "path": "./elsewhere" } ],
                 "autoload": { "path": "web" } }"#,
        ),
        ("elsewhere/index.js", ""),
        ("web/api/index.js", ""),
    ]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::DuplicateId { .. }), "{msg}");
    assert!(msg.contains("\"api\""), "{msg}");
    assert!(
        msg.contains(&dir.path().join("elsewhere").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains(&dir.path().join("web").join("api").display().to_string()),
        "{msg}"
    );
}

#[test]
fn duplicate_ids_are_errors() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{ "applications": [ { "id": "x", "path": "one" } ], "web": [ { "id": "x", "path": "two" } ] }"#,
            &["applications[0]", "one", "web[0]", "two"],
        ),
        (
            r#"{ "autoload": { "path": "web", "mappings": { "one": { "id": "x" }, "two": { "id": "x" } } } }"#,
            &["web/one", "web/two"],
        ),
    ];
    for (config, needles) in cases {
        let dir = app(&[
            ("watt.json", config),
            ("one/index.js", ""),
            ("two/index.js", ""),
            ("web/one/index.js", ""),
            ("web/two/index.js", ""),
        ]);
        let (e, msg) = err(dir.path());
        assert!(matches!(e, ConfigError::DuplicateId { .. }), "{msg}");
        assert!(msg.contains("service id \"x\""), "{msg}");
        for needle in *needles {
            assert!(msg.contains(needle), "{needle} missing from: {msg}");
        }
    }
}

#[test]
fn disabled_services_are_dropped() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "applications": [
                   { "id": "on", "path": "on" },
                   { "id": "off", "path": "off", "enabled": false },
                   { "id": "prod-off", "path": "off", "enabled": { "production": false, "development": true } },
                   { "id": "str-off", "path": "off", "enabled": "false" } ] }"#,
        ),
        ("on/index.js", ""),
        ("off/index.js", ""),
    ]);
    let resolved = ok(dir.path());
    assert_eq!(ids(&resolved), ["on"]);
    assert_eq!(resolved.entrypoint_reason, EntrypointReason::OnlyService);
}

#[test]
fn missing_service_path_names_id_path_and_config() {
    let dir = app(&[(
        "watt.json",
        r#"{ "applications": [ { "id": "ghost", "path": "./nope" } ] }"#,
    )]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::ServicePathMissing { .. }), "{msg}");
    assert!(msg.contains("\"ghost\""), "{msg}");
    assert!(msg.contains("nope"), "{msg}");
    assert!(
        msg.contains(&canon(dir.path()).join("watt.json").display().to_string()),
        "{msg}"
    );
}

#[test]
fn missing_service_config_file_is_an_error() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "applications": [ { "id": "a", "path": "a", "config": "missing.json" } ] }"#,
        ),
        ("a/index.js", ""),
    ]);
    let (e, msg) = err(dir.path());
    assert!(
        matches!(e, ConfigError::ServiceConfigMissing { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("missing.json") && msg.contains("\"a\""),
        "{msg}"
    );
}

#[test]
fn url_only_entries_use_the_resolved_external_folder() {
    let config =
        r#"{ "applications": [ { "id": "remote", "url": "https://github.com/x/y.git" } ] }"#;
    let dir = app(&[("watt.json", config), ("external/remote/index.js", "")]);
    assert_eq!(
        service(&ok(dir.path()), "remote").path,
        canon(dir.path().join("external/remote"))
    );

    let dir = app(&[("watt.json", config)]);
    let (e, msg) = err(dir.path());
    assert!(
        matches!(e, ConfigError::ExternalNotResolved { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("wattpm resolve") && msg.contains("\"remote\""),
        "{msg}"
    );
}

#[test]
fn placeholder_service_path_comes_from_the_build_environment_or_is_refused() {
    let dir = app(&[(
        "watt.json",
        r#"{ "applications": [ { "id": "a", "path": "{WATT_PACK_TEST_UNSET_DIR}" } ] }"#,
    )]);
    let (_, msg) = err(dir.path());
    assert!(
        msg.contains("{WATT_PACK_TEST_UNSET_DIR}")
            && msg.contains("applications[0].path")
            && msg.contains("WATT_PACK_TEST_UNSET_DIR is set neither"),
        "{msg}"
    );

    // Set (here through .env, below the real environment): the folder it names.
    let dir = app(&[
        (
            "watt.json",
            r#"{ "applications": [ { "id": "a", "path": "{WATT_PACK_TEST_SVC_DIR}/a" } ] }"#,
        ),
        (".env", "WATT_PACK_TEST_SVC_DIR=svc\n"),
        ("svc/a/index.js", ""),
    ]);
    assert_eq!(
        ok(dir.path()).services[0].path,
        canon(dir.path().join("svc/a"))
    );

    // Watt sets PLT_ROOT to the config's folder itself, so it is known at pack time.
    let dir = app(&[
        (
            "watt.json",
            r#"{ "preload": "{PLT_ROOT}/p.js", "applications": [ { "id": "a", "path": "{PLT_ROOT}/svc/a" } ] }"#,
        ),
        ("svc/a/index.js", ""),
        ("p.js", ""),
    ]);
    let resolved = ok(dir.path());
    assert_eq!(resolved.services[0].path, canon(dir.path().join("svc/a")));
    assert_eq!(
        resolved.services[0].preload,
        [canon(dir.path().join("p.js"))]
    );
}

#[test]
fn empty_runtime_is_an_error() {
    let dir = app(&[(
        "watt.json",
        r#"{ "$schema": "https://schemas.platformatic.dev/wattpm/3.0.0.json", "applications": [] }"#,
    )]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::NoServices { .. }), "{msg}");
}

// ---------------------------------------------------------------- entrypoint

#[test]
fn entrypoint_choice() {
    let gateway_v3 =
        r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/gateway/3.0.0.json" }"#;
    let composer_v2 =
        r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/composer/2.0.0.json" }"#;
    let composer_v1 = r#"{ "$schema": "https://platformatic.dev/schemas/v1.20.0/composer" }"#;
    let gateway_module = r#"{ "module": "@platformatic/gateway" }"#;
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        EntrypointReason,
    );
    let cases: &[Case] = &[
        (
            "explicit",
            r#""entrypoint": "b","#,
            &[("web/a/index.js", ""), ("web/b/index.js", "")],
            "b",
            EntrypointReason::Explicit,
        ),
        (
            "only service",
            "",
            &[("web/a/index.js", "")],
            "a",
            EntrypointReason::OnlyService,
        ),
        (
            "only gateway ($schema v3)",
            "",
            &[("web/a/index.js", ""), ("web/gw/watt.json", gateway_v3)],
            "gw",
            EntrypointReason::OnlyGateway,
        ),
        (
            "only gateway (module)",
            "",
            &[("web/a/index.js", ""), ("web/gw/watt.json", gateway_module)],
            "gw",
            EntrypointReason::OnlyGateway,
        ),
        (
            "only composer (v2 schema)",
            "",
            &[
                ("web/a/index.js", ""),
                ("web/gw/platformatic.json", composer_v2),
            ],
            "gw",
            EntrypointReason::OnlyGateway,
        ),
        (
            "only composer (v1 schema)",
            "",
            &[
                ("web/a/index.js", ""),
                ("web/gw/platformatic.composer.json", composer_v1),
            ],
            "gw",
            EntrypointReason::OnlyGateway,
        ),
    ];
    for (name, entrypoint, files, expected, reason) in cases {
        let config = format!(r#"{{ {entrypoint} "autoload": {{ "path": "web" }} }}"#);
        let dir = app(&[("watt.json", config.as_str())]);
        write_into(dir.path(), files);
        let resolved = ok(dir.path());
        assert_eq!(resolved.entrypoint, *expected, "{name}");
        assert_eq!(resolved.entrypoint_reason, *reason, "{name}");
    }
}

#[test]
fn no_entrypoint_lists_ids_and_says_what_to_set() {
    let gateway = r#"{ "module": "@platformatic/gateway" }"#;
    let cases: &[(&str, Files, &str)] = &[
        (
            "no gateway",
            &[("web/a/index.js", ""), ("web/b/index.js", "")],
            "none of them is a gateway",
        ),
        (
            "two gateways",
            &[("web/a/watt.json", gateway), ("web/b/watt.json", gateway)],
            "2 gateways: a, b",
        ),
        (
            // Watt only counts gateways declared by a config file.
            "gateway by dependency only",
            &[
                ("web/a/index.js", ""),
                (
                    "web/b/package.json",
                    r#"{ "dependencies": { "@platformatic/gateway": "^3" } }"#,
                ),
            ],
            "none of them is a gateway",
        ),
    ];
    for (name, files, why) in cases {
        let dir = app(&[("watt.json", r#"{ "autoload": { "path": "web" } }"#)]);
        write_into(dir.path(), files);
        let (e, msg) = err(dir.path());
        assert!(
            matches!(e, ConfigError::NoEntrypoint { .. }),
            "{name}: {msg}"
        );
        assert!(msg.contains("a, b"), "{name}: {msg}");
        assert!(msg.contains(why), "{name}: {msg}");
        assert!(msg.contains("set \"entrypoint\""), "{name}: {msg}");
        assert!(msg.contains("watt.json"), "{name}: {msg}");
    }
}

#[test]
fn unknown_entrypoint_lists_known_ids() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "entrypoint": "nope", "autoload": { "path": "web" } }"#,
        ),
        ("web/api/index.js", ""),
        ("web/front/index.js", ""),
    ]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::UnknownEntrypoint { .. }), "{msg}");
    assert!(msg.contains("\"nope\""), "{msg}");
    assert!(msg.contains("api, front"), "{msg}");
}

// ---------------------------------------------------------------- detection

#[test]
fn kind_detection() {
    let module = |m: &str| Detection::Module(m.to_string());
    let schema = |s: &str| Detection::Schema(s.to_string());
    let dep = |d: &str| Detection::Dependency(d.to_string());
    let pkg = |deps: &[&str]| {
        let deps: Vec<String> = deps.iter().map(|d| format!(r#""{d}": "1.0.0""#)).collect();
        format!(r#"{{ "dependencies": {{ {} }} }}"#, deps.join(", "))
    };
    let owned: Vec<DetectCase> = vec![
        // config `module`
        ("module next".into(), vec![("watt.json".into(), r#"{ "module": "@platformatic/next" }"#.into())], Kind::Next, module("@platformatic/next")),
        ("module with version".into(), vec![("watt.json".into(), r#"{ "module": "@platformatic/vite@3.1.0" }"#.into())], Kind::Vite, module("@platformatic/vite@3.1.0")),
        ("module composer".into(), vec![("watt.json".into(), r#"{ "module": "@platformatic/composer" }"#.into())], Kind::Gateway, module("@platformatic/composer")),
        ("module beats $schema".into(), vec![("watt.json".into(), r#"{ "module": "@platformatic/node", "$schema": "https://schemas.platformatic.dev/@platformatic/next/3.0.0.json" }"#.into())], Kind::Node, module("@platformatic/node")),
        // `$schema` URL forms
        ("schema v3".into(), vec![("watt.json".into(), r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/astro/3.0.0.json" }"#.into())], Kind::Astro, schema("https://schemas.platformatic.dev/@platformatic/astro/3.0.0.json")),
        ("schema v2 react-router with v".into(), vec![("watt.json".into(), r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/react-router/v2.60.0.json" }"#.into())], Kind::ReactRouter, schema("https://schemas.platformatic.dev/@platformatic/react-router/v2.60.0.json")),
        ("schema v1".into(), vec![("platformatic.json".into(), r#"{ "$schema": "https://platformatic.dev/schemas/v1.0.0/service" }"#.into())], Kind::Service, schema("https://platformatic.dev/schemas/v1.0.0/service")),
        ("schema v1 db".into(), vec![("platformatic.db.json".into(), r#"{ "$schema": "https://platformatic.dev/schemas/v0.28.0/db" }"#.into())], Kind::Db, schema("https://platformatic.dev/schemas/v0.28.0/db")),
        ("schema autogenerated query".into(), vec![("watt.json".into(), r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/node/3.67.0.json?autogenerated=true" }"#.into())], Kind::Node, schema("https://schemas.platformatic.dev/@platformatic/node/3.67.0.json?autogenerated=true")),
        ("config beats package.json".into(), vec![("watt.json".into(), r#"{ "module": "@platformatic/node" }"#.into()), ("package.json".into(), pkg(&["next"]))], Kind::Node, module("@platformatic/node")),
        ("unknown $schema falls to package.json".into(), vec![("watt.json".into(), r#"{ "$schema": "./schema.json", "application": { "basePath": "/x" } }"#.into()), ("package.json".into(), pkg(&["astro"]))], Kind::Astro, dep("astro")),
        // package.json, one dependency each
        ("nest".into(), vec![("package.json".into(), pkg(&["@nestjs/core"]))], Kind::Nest, dep("@nestjs/core")),
        ("next".into(), vec![("package.json".into(), pkg(&["next"]))], Kind::Next, dep("next")),
        ("remix".into(), vec![("package.json".into(), pkg(&["@remix-run/dev"]))], Kind::Remix, dep("@remix-run/dev")),
        ("astro".into(), vec![("package.json".into(), pkg(&["astro"]))], Kind::Astro, dep("astro")),
        ("react-router".into(), vec![("package.json".into(), pkg(&["@react-router/dev"]))], Kind::ReactRouter, dep("@react-router/dev")),
        ("nuxt".into(), vec![("package.json".into(), pkg(&["nuxt"]))], Kind::Nuxt, dep("nuxt")),
        ("tanstack".into(), vec![("package.json".into(), pkg(&["@tanstack/react-start"]))], Kind::Tanstack, dep("@tanstack/react-start")),
        ("nitro".into(), vec![("package.json".into(), pkg(&["nitro"]))], Kind::Nitro, dep("nitro")),
        ("nitropack".into(), vec![("package.json".into(), pkg(&["nitropack"]))], Kind::Nitro, dep("nitropack")),
        ("vite".into(), vec![("package.json".into(), pkg(&["vite"]))], Kind::Vite, dep("vite")),
        ("gateway".into(), vec![("package.json".into(), pkg(&["@platformatic/gateway"]))], Kind::Gateway, dep("@platformatic/gateway")),
        ("composer".into(), vec![("package.json".into(), pkg(&["@platformatic/composer"]))], Kind::Gateway, dep("@platformatic/composer")),
        ("service".into(), vec![("package.json".into(), pkg(&["@platformatic/service"]))], Kind::Service, dep("@platformatic/service")),
        ("db".into(), vec![("package.json".into(), pkg(&["@platformatic/db"]))], Kind::Db, dep("@platformatic/db")),
        // package.json precedence: Watt's list order, not the package.json order
        ("vite then next".into(), vec![("package.json".into(), pkg(&["vite", "next"]))], Kind::Next, dep("next")),
        ("nest over next".into(), vec![("package.json".into(), pkg(&["next", "@nestjs/core"]))], Kind::Nest, dep("@nestjs/core")),
        ("remix over astro".into(), vec![("package.json".into(), pkg(&["astro", "@remix-run/dev"]))], Kind::Remix, dep("@remix-run/dev")),
        ("astro over react-router".into(), vec![("package.json".into(), pkg(&["@react-router/dev", "astro"]))], Kind::Astro, dep("astro")),
        ("react-router over vite".into(), vec![("package.json".into(), pkg(&["vite", "@react-router/dev"]))], Kind::ReactRouter, dep("@react-router/dev")),
        ("nuxt over nitro".into(), vec![("package.json".into(), pkg(&["nitropack", "nuxt"]))], Kind::Nuxt, dep("nuxt")),
        ("tanstack over vite".into(), vec![("package.json".into(), pkg(&["vite", "@tanstack/react-start"]))], Kind::Tanstack, dep("@tanstack/react-start")),
        ("nitro over vite".into(), vec![("package.json".into(), pkg(&["vite", "nitropack"]))], Kind::Nitro, dep("nitropack")),
        ("vite over gateway".into(), vec![("package.json".into(), pkg(&["@platformatic/gateway", "vite"]))], Kind::Vite, dep("vite")),
        ("gateway over service".into(), vec![("package.json".into(), pkg(&["@platformatic/service", "@platformatic/composer"]))], Kind::Gateway, dep("@platformatic/composer")),
        ("service over db".into(), vec![("package.json".into(), pkg(&["@platformatic/db", "@platformatic/service"]))], Kind::Service, dep("@platformatic/service")),
        ("devDependencies".into(), vec![("package.json".into(), r#"{ "devDependencies": { "vite": "^5" } }"#.into())], Kind::Vite, dep("vite")),
        ("dependencies before devDependencies order".into(), vec![("package.json".into(), r#"{ "dependencies": { "vite": "5" }, "devDependencies": { "next": "15" } }"#.into())], Kind::Next, dep("next")),
        // files
        ("js files".into(), vec![("src/server.mjs".into(), String::new()), ("package.json".into(), r#"{ "dependencies": { "fastify": "5" } }"#.into())], Kind::Node, Detection::JsFiles),
        ("ts only".into(), vec![("src/deep/server.ts".into(), String::new())], Kind::Node, Detection::JsFiles),
    ];
    for (name, files, kind, detection) in &owned {
        let dir = app(&[(
            "watt.json",
            r#"{ "applications": [ { "id": "svc", "path": "svc" } ] }"#,
        )]);
        let files: Vec<(String, &str)> = files
            .iter()
            .map(|(p, c)| (format!("svc/{p}"), c.as_str()))
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        write_into(dir.path(), &files);
        let resolved = ok(dir.path());
        let svc = service(&resolved, "svc");
        assert_eq!(svc.kind, *kind, "{name}");
        assert_eq!(svc.detected_by, *detection, "{name}");
    }
}

#[test]
fn undetectable_service_is_an_error() {
    // JS only under node_modules or a dot folder does not count.
    let dir = app(&[
        (
            "watt.json",
            r#"{ "applications": [ { "id": "empty", "path": "svc" } ] }"#,
        ),
        ("svc/README.md", "hi"),
        ("svc/node_modules/x/index.js", ""),
        ("svc/.cache/y.js", ""),
        (
            "svc/package.json",
            r#"{ "dependencies": { "express": "4", "next": "" } }"#,
        ),
    ]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::UndetectableKind { .. }), "{msg}");
    assert!(msg.contains("\"empty\""), "{msg}");
    assert!(
        msg.contains(&canon(dir.path().join("svc")).display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("$schema"), "{msg}");
}

#[test]
fn unsupported_capability_is_an_error() {
    let cases = [
        (
            "svc/watt.json",
            r#"{ "module": "@platformatic/php" }"#,
            "`module`",
        ),
        (
            "svc/package.json",
            r#"{ "dependencies": { "@platformatic/kafka-hooks": "1" } }"#,
            "the dependency @platformatic/kafka-hooks",
        ),
    ];
    for (file, contents, needle) in cases {
        let dir = app(&[
            (
                "watt.json",
                r#"{ "applications": [ { "id": "x", "path": "svc" } ] }"#,
            ),
            ("svc/index.js", ""),
            (file, contents),
        ]);
        let (e, msg) = err(dir.path());
        assert!(matches!(e, ConfigError::UnsupportedModule { .. }), "{msg}");
        assert!(msg.contains(needle) && msg.contains("\"x\""), "{msg}");
    }
}

// ---------------------------------------------------------------- env

#[test]
fn env_layers_and_precedence() {
    let outer = tempfile::tempdir().unwrap();
    write_into(
        outer.path(),
        &[
            // Above the app root: Watt's upward search would read it, watt never does.
            (".env", "FROM_ABOVE=developer-home\n"),
            (
                "app/.env",
                "FROM_DOTENV=root\nSHARED=root-dotenv\nSVC_OVERRIDES=root\n",
            ),
            (
                "app/watt.json",
                r#"{ "entrypoint": "a",
                     "env": { "RT": "runtime", "BOTH": "runtime", "NUM": 3000, "FLAG": true },
                     "applications": [
                       { "id": "a", "path": "a", "env": { "BOTH": "service" } },
                       { "id": "b", "path": "b", "envfile": "conf/b.env" } ] }"#,
            ),
            ("app/a/index.js", ""),
            ("app/a/.env", "SVC_OVERRIDES=a-dotenv\nONLY_A=1\n"),
            ("app/b/index.js", ""),
            ("app/b/.env", "IGNORED=because-envfile-is-set\n"),
            ("app/conf/b.env", "SVC_OVERRIDES=b-envfile\n"),
        ],
    );
    let root = outer.path().join("app");
    let resolved = ok(&root);
    let a = service(&resolved, "a");
    let b = service(&resolved, "b");
    let get = |m: &std::collections::BTreeMap<String, String>, k: &str| m.get(k).cloned();

    // Always-set layer: runtime env overlaid by the service's env.
    assert_eq!(get(&a.env, "RT").as_deref(), Some("runtime"));
    assert_eq!(get(&a.env, "BOTH").as_deref(), Some("service"));
    assert_eq!(get(&b.env, "BOTH").as_deref(), Some("runtime"));
    assert_eq!(get(&a.env, "NUM").as_deref(), Some("3000"));
    assert_eq!(get(&a.env, "FLAG").as_deref(), Some("true"));

    // The runtime's .env is the app root's; each service has its own file (the stub layers
    // them at run time: service file over runtime file, real variables over both).
    let rt = &resolved.dotenv;
    assert_eq!(rt.path, root.join(".env"));
    assert_eq!(get(&rt.values, "FROM_DOTENV").as_deref(), Some("root"));
    assert_eq!(
        get(&rt.values, "FROM_ABOVE"),
        None,
        "the search stops at the app root"
    );
    assert_eq!(a.dotenv.path, root.join("a/.env"));
    assert!(!a.dotenv.named);
    assert_eq!(
        get(&a.dotenv.values, "SVC_OVERRIDES").as_deref(),
        Some("a-dotenv")
    );
    assert_eq!(get(&a.dotenv.values, "ONLY_A").as_deref(), Some("1"));
    assert_eq!(get(&a.dotenv.values, "FROM_DOTENV"), None);
    assert_eq!(b.dotenv.path, root.join("conf/b.env"));
    assert!(b.dotenv.named);
    assert_eq!(
        get(&b.dotenv.values, "SVC_OVERRIDES").as_deref(),
        Some("b-envfile")
    );
    assert_eq!(get(&b.dotenv.values, "IGNORED"), None);
    // .env values never land in the always-set layer, and env{} never in the .env one.
    assert_eq!(get(&a.env, "FROM_DOTENV"), None);
    assert_eq!(get(&a.dotenv.values, "RT"), None);
    // The build machine's environment is not read.
    for svc in [a, b] {
        assert!(!svc.env.contains_key("PATH") && !svc.dotenv.values.contains_key("PATH"));
        assert!(!svc.env.contains_key("HOME") && !svc.dotenv.values.contains_key("HOME"));
    }
    // `watt resolve --json` shows env file keys, never their values.
    let json = serde_json::to_string(&resolved).unwrap();
    assert!(
        json.contains("FROM_DOTENV") && !json.contains("root-dotenv"),
        "{json}"
    );
}

#[test]
fn runtime_envfile_replaces_the_dotenv_search_and_must_exist() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "envfile": "conf/runtime.env", "applications": [ { "id": "a", "path": "a" } ] }"#,
        ),
        (".env", "FROM=dotenv\nONLY_DOTENV=1\n"),
        ("conf/runtime.env", "FROM=envfile\n"),
        ("a/index.js", ""),
    ]);
    let resolved = ok(dir.path());
    assert!(resolved.dotenv.named);
    assert_eq!(
        resolved.dotenv.values.get("FROM").map(String::as_str),
        Some("envfile")
    );
    assert!(!resolved.dotenv.values.contains_key("ONLY_DOTENV"));

    let dir = app(&[
        (
            "watt.json",
            r#"{ "envfile": "missing.env", "applications": [ { "id": "a", "path": "a" } ] }"#,
        ),
        ("a/index.js", ""),
    ]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::EnvFileMissing { .. }), "{msg}");
    assert!(msg.contains("missing.env"), "{msg}");
}

#[test]
fn placeholders_are_kept_raw() {
    let json = r#"{ "server": { "hostname": "{PLT_SERVER_HOSTNAME}", "port": "{{PORT}}" },
                    "env": { "DB": "postgres://{DB_HOST}/x" },
                    "applications": [ { "id": "a", "path": "a", "env": { "K": "{KEY}" } } ] }"#;
    // Unquoted `{NAME}` in YAML is a string, as Watt quotes it before parsing (a bare
    // `{{NAME}}` would still be a YAML mapping there, so it is quoted here).
    let yaml = "server:\n  hostname: {PLT_SERVER_HOSTNAME}\n  port: '{{PORT}}'\nenv:\n  DB: \"postgres://{DB_HOST}/x\"\n  MID: a-{B}-c\napplications:\n  - id: a\n    path: a\n    env:\n      K: \"{KEY}\"\n";
    let toml = "env = { DB = \"postgres://{DB_HOST}/x\" }\n[server]\nhostname = \"{PLT_SERVER_HOSTNAME}\"\nport = \"{{PORT}}\"\n[[applications]]\nid = \"a\"\npath = \"a\"\nenv = { K = \"{KEY}\" }\n";
    for (name, contents) in [
        ("watt.json", json),
        ("watt.yaml", yaml),
        ("watt.toml", toml),
    ] {
        let dir = app(&[(name, contents), ("a/index.js", "")]);
        let resolved = ok(dir.path());
        assert_eq!(
            resolved.server.hostname.as_deref(),
            Some("{PLT_SERVER_HOSTNAME}"),
            "{name}"
        );
        assert_eq!(resolved.server.port.as_deref(), Some("{{PORT}}"), "{name}");
        let a = &resolved.services[0];
        assert_eq!(
            a.env.get("DB").map(String::as_str),
            Some("postgres://{DB_HOST}/x"),
            "{name}"
        );
        assert_eq!(a.env.get("K").map(String::as_str), Some("{KEY}"), "{name}");
        if name == "watt.yaml" {
            // Watt's YAML pre-pass quotes a bare placeholder even inside a plain scalar, so
            // the quotes end up in the value; packed apps must see what Watt sees.
            assert_eq!(a.env.get("MID").map(String::as_str), Some("a-'{B}'-c"));
        }
    }
}

#[test]
fn numeric_port_becomes_its_string() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "server": { "hostname": "0.0.0.0", "port": 3042 }, "applications": [ { "id": "a", "path": "a" } ] }"#,
        ),
        ("a/index.js", ""),
    ]);
    let resolved = ok(dir.path());
    assert_eq!(resolved.server.port.as_deref(), Some("3042"));
    assert_eq!(resolved.server.hostname.as_deref(), Some("0.0.0.0"));
}

// ---------------------------------------------------------------- other settings

#[test]
fn graceful_shutdown_defaults_and_overrides() {
    let cases = [
        ("", 30_000, 10_000),
        (
            r#""gracefulShutdown": { "runtime": 5000, "application": 2000 },"#,
            5_000,
            2_000,
        ),
        (
            r#""gracefulShutdown": { "runtime": "7000" },"#,
            7_000,
            10_000,
        ),
        // v2 spelling, renamed by Watt's upgrade.
        (
            r#""gracefulShutdown": { "runtime": 9000, "service": 3000 },"#,
            9_000,
            3_000,
        ),
    ];
    for (block, runtime_ms, application_ms) in cases {
        let config = format!(r#"{{ {block} "applications": [ {{ "id": "a", "path": "a" }} ] }}"#);
        let dir = app(&[("watt.json", config.as_str()), ("a/index.js", "")]);
        let gs = ok(dir.path()).graceful_shutdown;
        assert_eq!(
            (gs.runtime_ms, gs.application_ms),
            (runtime_ms, application_ms),
            "{block}"
        );
    }
    let dir = app(&[
        (
            "watt.json",
            r#"{ "gracefulShutdown": { "runtime": "{GRACE}" }, "applications": [ { "id": "a", "path": "a" } ] }"#,
        ),
        ("a/index.js", ""),
    ]);
    let (_, msg) = err(dir.path());
    assert!(
        msg.contains("gracefulShutdown.runtime") && msg.contains("{GRACE}"),
        "{msg}"
    );
}

#[test]
fn application_and_node_blocks_preload_dependencies_node_options() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "preload": "./hooks/runtime.js",
                 "applications": [
                   { "id": "front", "path": "front", "dependencies": ["api"],
                     "nodeOptions": "--max-old-space-size=512", "preload": ["hooks/front.mjs"] },
                   { "id": "api", "path": "api" } ],
                 "entrypoint": "front" }"#,
        ),
        ("hooks/runtime.js", ""),
        ("hooks/front.mjs", ""),
        (
            "front/watt.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/astro/3.0.0.json",
                 "application": { "basePath": "/front", "outputDirectory": "out",
                   "commands": { "build": "astro build", "production": "node server.mjs" } } }"#,
        ),
        (
            "api/watt.json",
            r#"{ "module": "@platformatic/node", "node": { "main": "server.js", "absoluteUrl": true, "dispatchViaHttp": "true" } }"#,
        ),
    ]);
    let resolved = ok(dir.path());
    let front = service(&resolved, "front");
    assert_eq!(front.dependencies, ["api"]);
    assert_eq!(
        front.node_options.as_deref(),
        Some("--max-old-space-size=512")
    );
    assert_eq!(
        front.preload,
        [
            canon(dir.path().join("hooks/runtime.js")),
            canon(dir.path().join("hooks/front.mjs"))
        ]
    );
    assert_eq!(front.application.base_path.as_deref(), Some("/front"));
    assert_eq!(front.application.output_directory, "out");
    assert_eq!(
        front.application.commands.build.as_deref(),
        Some("astro build")
    );
    assert_eq!(
        front.application.commands.production.as_deref(),
        Some("node server.mjs")
    );
    assert_eq!(front.application.commands.development, None);

    let api = service(&resolved, "api");
    assert_eq!(api.preload, [canon(dir.path().join("hooks/runtime.js"))]);
    assert!(api.dependencies.is_empty());
    assert_eq!(api.node.main.as_deref(), Some("server.js"));
    assert!(api.node.absolute_url);
    assert!(api.node.dispatch_via_http);
    assert_eq!(api.application.output_directory, "dist", "default");
    assert_eq!(api.application.base_path, None);
}

#[test]
fn missing_preload_is_an_error() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "preload": ["./nope.js"], "applications": [ { "id": "a", "path": "a" } ] }"#,
        ),
        ("a/index.js", ""),
    ]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::PreloadMissing { .. }), "{msg}");
    assert!(msg.contains("nope.js"), "{msg}");
}

#[test]
fn app_name_from_package_json_else_folder() {
    let config = r#"{ "applications": [ { "id": "a", "path": "a" } ] }"#;
    let dir = app(&[
        ("watt.json", config),
        ("a/index.js", ""),
        ("package.json", r#"{ "name": "@acme/shop" }"#),
    ]);
    assert_eq!(ok(dir.path()).name, "@acme/shop");

    let outer = tempfile::tempdir().unwrap();
    write_into(
        outer.path(),
        &[("my-app/watt.json", config), ("my-app/a/index.js", "")],
    );
    assert_eq!(ok(&outer.path().join("my-app")).name, "my-app");
}

#[test]
fn paths_are_absolute_and_canonical() {
    let outer = tempfile::tempdir().unwrap();
    write_into(
        outer.path(),
        &[
            (
                "real/watt.json",
                r#"{ "applications": [ { "id": "a", "path": "./x/../a" } ] }"#,
            ),
            ("real/a/index.js", ""),
        ],
    );
    std::os::unix::fs::symlink(outer.path().join("real"), outer.path().join("link")).unwrap();
    let resolved = ok(&outer.path().join("link/../link"));
    let real = canon(outer.path().join("real"));
    assert_eq!(resolved.root, real);
    assert_eq!(resolved.config_file, real.join("watt.json"));
    assert_eq!(resolved.services[0].path, real.join("a"));
}

#[test]
fn single_service_config_is_wrapped_like_watt_does() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "$schema": "https://schemas.platformatic.dev/@platformatic/next/3.0.0.json",
                 "runtime": { "env": { "R": "1" }, "gracefulShutdown": { "application": 4000 },
                              "server": { "port": "{PORT}" },
                              "application": { "env": { "S": "2" }, "nodeOptions": "--x" } } }"#,
        ),
        (
            "package.json",
            r#"{ "name": "@acme/storefront", "dependencies": { "next": "15" } }"#,
        ),
    ]);
    let resolved = ok(dir.path());
    assert_eq!(ids(&resolved), ["storefront"]);
    assert_eq!(resolved.entrypoint, "storefront");
    assert_eq!(resolved.entrypoint_reason, EntrypointReason::OnlyService);
    assert_eq!(resolved.server.port.as_deref(), Some("{PORT}"));
    assert_eq!(resolved.graceful_shutdown.application_ms, 4000);
    let svc = &resolved.services[0];
    assert_eq!(svc.path, canon(dir.path()));
    assert_eq!(svc.kind, Kind::Next);
    assert!(matches!(svc.detected_by, Detection::Schema(_)));
    assert_eq!(svc.env.get("R").map(String::as_str), Some("1"));
    assert_eq!(svc.env.get("S").map(String::as_str), Some("2"));
    assert_eq!(svc.node_options.as_deref(), Some("--x"));

    let dir = app(&[
        ("watt.json", r#"{ "module": "@platformatic/node" }"#),
        ("index.js", ""),
    ]);
    assert_eq!(ids(&ok(dir.path())), ["main"]);
}

#[test]
fn root_config_with_a_local_schema_and_lists_is_a_runtime() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "$schema": "./node_modules/wattpm/schema.json", "autoload": { "path": "web" }, "entrypoint": "a" }"#,
        ),
        ("web/a/index.js", ""),
        ("web/b/index.js", ""),
    ]);
    assert_eq!(ids(&ok(dir.path())), ["a", "b"]);
}

// ---------------------------------------------------------------- files and syntax

const MINIMAL_JSON: &str = r#"{ "applications": [ { "id": "a", "path": "a" } ] }"#;

#[test]
fn root_config_name_precedence() {
    // Watt's order: per extension watt then platformatic, then the suffixed names.
    let cases: &[(&[&str], &str)] = &[
        (&["watt.json", "platformatic.json"], "watt.json"),
        (&["platformatic.json", "watt.json5"], "platformatic.json"),
        (&["watt.json5", "watt.yaml"], "watt.json5"),
        (&["watt.yaml", "watt.yml"], "watt.yaml"),
        (&["platformatic.yml", "watt.toml"], "platformatic.yml"),
        (&["watt.toml", "watt.tml"], "watt.toml"),
        (
            &["platformatic.tml", "watt.runtime.json"],
            "platformatic.tml",
        ),
        (
            &["watt.runtime.json", "platformatic.runtime.json"],
            "watt.runtime.json",
        ),
        (
            &["platformatic.runtime.json", "watt.runtime.json5"],
            "platformatic.runtime.json",
        ),
        (
            &["platformatic.runtime.toml", "watt.service.json"],
            "platformatic.runtime.toml",
        ),
        (
            &["watt.service.json", "watt.application.json"],
            "watt.service.json",
        ),
        (
            &["platformatic.db.yaml", "watt.gateway.json"],
            "platformatic.db.yaml",
        ),
        (
            &["watt.gateway.json", "watt.composer.json"],
            "watt.gateway.json",
        ),
        (
            &["platformatic.composer.json"],
            "platformatic.composer.json",
        ),
    ];
    for (present, expected) in cases {
        let dir = app(&[("a/index.js", "")]);
        for name in *present {
            let contents = match Path::new(name).extension().and_then(|e| e.to_str()) {
                Some("yaml" | "yml") => "applications:\n  - id: a\n    path: a\n",
                Some("toml" | "tml") => "[[applications]]\nid = \"a\"\npath = \"a\"\n",
                _ => MINIMAL_JSON,
            };
            fs::write(dir.path().join(name), contents).unwrap();
        }
        let resolved = ok(dir.path());
        assert_eq!(
            resolved.config_file.file_name().unwrap().to_str().unwrap(),
            *expected,
            "{present:?}"
        );
    }
}

#[test]
fn root_config_in_every_format() {
    let cases = [
        ("watt.json", MINIMAL_JSON.to_string()),
        (
            "watt.json5",
            "// JSON5\n{ applications: [ { id: 'a', path: 'a', env: { X: '1', }, }, ], server: { port: 3000 } }".into(),
        ),
        (
            "watt.yml",
            "applications:\n  - id: a\n    path: a\n    env:\n      X: '1'\nserver:\n  port: 3000\n".into(),
        ),
        (
            "watt.toml",
            "[server]\nport = 3000\n\n[[applications]]\nid = \"a\"\npath = \"a\"\nenv = { X = \"1\" }\n".into(),
        ),
        (
            "platformatic.tml",
            "[[applications]]\nid = \"a\"\npath = \"a\"\n".into(),
        ),
    ];
    for (name, contents) in cases {
        let dir = app(&[(name, contents.as_str()), ("a/index.js", "")]);
        let resolved = ok(dir.path());
        assert_eq!(ids(&resolved), ["a"], "{name}");
        if name != "watt.json" && name != "platformatic.tml" {
            assert_eq!(
                resolved.services[0].env.get("X").map(String::as_str),
                Some("1"),
                "{name}"
            );
            assert_eq!(resolved.server.port.as_deref(), Some("3000"), "{name}");
        }
    }
}

#[test]
fn no_config_file_names_folder_and_candidates() {
    let dir = app(&[("a/index.js", ""), ("config.json", "{}")]);
    let (e, msg) = err(dir.path());
    assert!(matches!(e, ConfigError::NoConfigFile { .. }), "{msg}");
    assert!(
        msg.contains(&canon(dir.path()).display().to_string()),
        "{msg}"
    );
    for name in [
        "watt.json",
        "platformatic.json",
        "watt.json5",
        "watt.yaml",
        "watt.toml",
    ] {
        assert!(msg.contains(name), "{name} missing from: {msg}");
    }
    assert!(
        msg.contains("runtime, service, application, db, gateway, composer"),
        "{msg}"
    );
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    // (root file name, root contents, service file, service contents, file at fault, line, column)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, usize, usize);
    let cases: &[Case] = &[
        (
            "watt.json",
            "{\n  \"applications\": [\n    { \"id\": \"a\", \"path\": \"a\" }\n    { \"id\": \"b\" }\n  ]\n}\n",
            "a/index.js",
            "",
            "watt.json",
            4,
            5,
        ),
        (
            "watt.json5",
            "{\n  applications: [\n    { id: 'a', path: 'a' },\n  ],\n  server: { port: },\n}\n",
            "a/index.js",
            "",
            "watt.json5",
            5,
            19,
        ),
        (
            "watt.yaml",
            "applications:\n  - id: a\n   path: a\n",
            "a/index.js",
            "",
            "watt.yaml",
            3,
            4,
        ),
        (
            "watt.toml",
            "[[applications]]\nid = \"a\"\npath = a\n",
            "a/index.js",
            "",
            "watt.toml",
            3,
            8,
        ),
        (
            "watt.json",
            MINIMAL_JSON,
            "a/watt.json",
            "{\n  \"module\": \"@platformatic/node\",\n}\n",
            "a/watt.json",
            3,
            1,
        ),
        (
            "watt.json",
            MINIMAL_JSON,
            "a/watt.json5",
            "{\n  module: '@platformatic/node'\n  x: 1\n}\n",
            // json5 points at the value before the missing comma.
            "a/watt.json5",
            2,
            11,
        ),
        (
            "watt.json",
            MINIMAL_JSON,
            "a/package.json",
            "{ \"name\": \"a\", }",
            "a/package.json",
            1,
            16,
        ),
    ];
    for (root_name, root, svc_name, svc, at_fault, line, column) in cases {
        let dir = app(&[(root_name, root), (svc_name, svc), ("a/index.js", "")]);
        let (e, msg) = err(dir.path());
        assert!(matches!(e, ConfigError::Syntax { .. }), "{at_fault}: {msg}");
        let expected = format!(
            "{}:{line}:{column}: ",
            canon(dir.path()).join(at_fault).display()
        );
        assert!(
            msg.starts_with(&expected),
            "{at_fault}: expected `{expected}…`, got `{msg}`"
        );
        assert!(
            msg.len() > expected.len() + 5,
            "{at_fault}: message too short: {msg}"
        );
        assert!(!msg.contains('\n'), "{at_fault}: one line please: {msg}");
    }
}

#[test]
fn wrong_types_name_the_key_and_file() {
    let cases = [
        (
            r#"{ "applications": { "id": "a" } }"#,
            "`applications` must be a list",
        ),
        (
            r#"{ "applications": [ { "path": "a" } ] }"#,
            "`applications[0]` needs an `id`",
        ),
        (
            r#"{ "applications": [ { "id": "a", "path": "a", "env": { "X": [1] } } ] }"#,
            "`applications[0].env` value of `X` must be a string",
        ),
        (
            r#"{ "applications": [ { "id": "a", "path": "a", "dependencies": "b" } ] }"#,
            "`applications[0].dependencies` must be a list of strings",
        ),
        ("[1, 2]", "must hold an object at the top level"),
    ];
    for (config, needle) in cases {
        let dir = app(&[("watt.json", config), ("a/index.js", "")]);
        let (e, msg) = err(dir.path());
        assert!(matches!(e, ConfigError::Invalid { .. }), "{msg}");
        assert!(msg.contains(needle), "expected `{needle}` in: {msg}");
        assert!(msg.contains("watt.json"), "{msg}");
    }
}

#[test]
fn output_is_deterministic() {
    let dir = app(&[
        (
            "watt.json",
            r#"{ "env": { "Z": "1", "A": "2", "M": "3" }, "autoload": { "path": "web" }, "entrypoint": "b" }"#,
        ),
        ("web/b/index.js", ""),
        ("web/a/index.js", ""),
        ("web/c/index.js", ""),
        (".env", "Y=1\nB=2\n"),
    ]);
    let first = serde_json::to_string(&ok(dir.path())).unwrap();
    let second = serde_json::to_string(&ok(dir.path())).unwrap();
    assert_eq!(first, second);
    let resolved = ok(dir.path());
    let env_keys: Vec<&String> = resolved.services[0].env.keys().collect();
    assert_eq!(env_keys, ["A", "M", "Z"]);
}

#[test]
fn keys_watt_pack_does_not_act_on_are_warnings_naming_key_and_file() {
    let dir = app(&[
        (
            "watt.json",
            r#"{
                "$schema": "https://schemas.platformatic.dev/wattpm/3.0.0.json",
                "entrypoint": "api",
                "workers": { "static": 2, "dynamic": true },
                "server": { "port": 3000, "https": { "key": "k" } },
                "applications": [ { "id": "api", "path": "web/api", "workers": 3, "telemetry": {} } ]
            }"#,
        ),
        (
            "web/api/platformatic.json",
            r#"{
                "$schema": "https://schemas.platformatic.dev/@platformatic/service/3.0.0.json",
                "server": { "healthCheck": { "enabled": true } },
                "plugins": { "paths": ["routes"] }
            }"#,
        ),
        ("web/api/routes/index.js", ""),
    ]);
    let resolved = ok(dir.path());
    let got: Vec<(String, String)> = resolved
        .warnings
        .iter()
        .map(|w| {
            let file = w.file.file_name().unwrap().to_string_lossy().into_owned();
            (w.key.clone(), file)
        })
        .collect();
    let want = [
        ("workers.dynamic", "watt.json"),
        ("server.https", "watt.json"),
        ("applications[0].telemetry", "watt.json"),
        // `server.healthCheck` sends the service through @platformatic/service, which honours it.
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, f)| (k.to_string(), f.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(
        resolved.warnings[0]
            .to_string()
            .contains("fixed number of workers"),
        "{}",
        resolved.warnings[0]
    );
}
