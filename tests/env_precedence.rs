//! Placeholders and service environments filled in Watt's order (3.67: `loadEnv` in
//! packages/foundation/lib/configuration.js, the worker in packages/runtime/lib/worker/main.js):
//! baked `.env` values (`watt build --dotenv`) < a run-time env file in the extracted artifact
//! < the real environment, and a service's own env file over the runtime's. Checked over HTTP
//! on the booted artifact.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use watt_e2e::*;

struct Built {
    _work: tempfile::TempDir,
    root: PathBuf,
    /// What `watt build` printed.
    log: String,
}

fn build(extra: &[&str]) -> Built {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_tree(&repo().join("tests/fixtures/secrets"), &app, "022");
    let archive = work.path().join("a.tar.zst");
    let o = watt_build(&app, &archive, extra);
    assert!(o.status.success(), "watt build failed\n{}", text(&o));
    let root = work.path().join("artifact");
    extract(&archive, &root);
    Built {
        _work: work,
        root,
        log: text(&o),
    }
}

/// Boot, read the variables `api` echoes, and where the public port listens; then stop.
fn boot(root: &Path, env: &[(&str, &str)]) -> (serde_json::Value, Vec<String>) {
    let port = free_port();
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut app = Running::start(cmd);
    let url = format!("http://127.0.0.1:{port}/");
    app.wait_ready(&url, Duration::from_secs(30));
    let (status, body) = get(&url);
    assert_eq!(status, 200, "{body}");
    let listening = listen_addresses(port);
    let (code, _) = app.stop(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", app.logs());
    (serde_json::from_str(&body).unwrap(), listening)
}

/// Local addresses of the listening TCP sockets on `port` (from /proc/net/tcp{,6}).
fn listen_addresses(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // st 0A = LISTEN.
            if cols.len() > 3 && cols[3] == "0A" {
                if let Some((addr, p)) = cols[1].split_once(':') {
                    if u16::from_str_radix(p, 16) == Ok(port) {
                        out.push(addr.to_string());
                    }
                }
            }
        }
    }
    out
}

const LOOPBACK: &str = "0100007F";
const ANY: &str = "00000000";

fn var<'a>(v: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str())
}

#[test]
fn by_default_env_files_are_read_at_run_time_only() {
    let built = build(&[]);
    let root = &built.root;
    // The build says which placeholders only a left-out file fills.
    let warning = built
        .log
        .lines()
        .find(|l| l.starts_with("watt: warning: the config needs values"))
        .unwrap_or_else(|| panic!("no warning about left-out placeholders\n{}", built.log));
    assert!(
        warning.contains("{DATABASE_URL} in watt.json (its value is in .env)")
            && warning.contains("{PLT_SERVER_HOSTNAME} in watt.json"),
        "{warning}"
    );
    // Nothing baked: no value, and the public address falls back to every interface.
    let (env, listening) = boot(root, &[]);
    assert_eq!(var(&env, "DATABASE_URL"), None, "{env}");
    assert_eq!(var(&env, "DB_FROM_PLACEHOLDER"), Some(""), "{env}");
    assert_eq!(listening, vec![ANY.to_string()]);

    // A .env beside watt-stub: placeholders and services get its values, and the app binds
    // where it asked (loopback).
    std::fs::write(
        root.join(".env"),
        "DATABASE_URL=postgres://from-the-run-time-file\nPLT_SERVER_HOSTNAME=127.0.0.1\nLAYER=runtime-file\n",
    )
    .unwrap();
    let (env, listening) = boot(root, &[]);
    assert_eq!(
        var(&env, "DATABASE_URL"),
        Some("postgres://from-the-run-time-file")
    );
    assert_eq!(
        var(&env, "DB_FROM_PLACEHOLDER"),
        Some("postgres://from-the-run-time-file")
    );
    assert_eq!(var(&env, "LAYER"), Some("runtime-file"));
    assert_eq!(listening, vec![LOOPBACK.to_string()]);

    // A service's own .env (mounted into its folder) overrides the runtime file's keys…
    std::fs::write(
        root.join("app/web/api/.env"),
        "LAYER=service-run-time-file\n",
    )
    .unwrap();
    let (env, _) = boot(root, &[]);
    assert_eq!(var(&env, "LAYER"), Some("service-run-time-file"));
    // …and the real environment wins over both, placeholders included.
    let (env, listening) = boot(
        root,
        &[
            ("DATABASE_URL", "postgres://real"),
            ("LAYER", "real"),
            ("PLT_SERVER_HOSTNAME", "0.0.0.0"),
        ],
    );
    assert_eq!(var(&env, "DATABASE_URL"), Some("postgres://real"));
    assert_eq!(var(&env, "DB_FROM_PLACEHOLDER"), Some("postgres://real"));
    assert_eq!(var(&env, "LAYER"), Some("real"));
    assert_eq!(listening, vec![ANY.to_string()]);
}

#[test]
fn dotenv_bakes_values_under_run_time_files_and_the_real_environment() {
    let built = build(&["--dotenv"]);
    let root = &built.root;
    let manifest = std::fs::read_to_string(root.join("watt-manifest.json")).unwrap();
    assert!(
        manifest.contains("root-dotenv-secret-1111"),
        "baked on request"
    );

    // Baked only: the runtime's .env, the service's .env over it, loopback as the app asked.
    let (env, listening) = boot(root, &[]);
    assert_eq!(
        var(&env, "DATABASE_URL"),
        Some("postgres://app:root-dotenv-secret-1111@db/app")
    );
    assert_eq!(var(&env, "DB_FROM_PLACEHOLDER"), var(&env, "DATABASE_URL"));
    assert_eq!(var(&env, "LAYER"), Some("service-file"));
    assert_eq!(var(&env, "SVC_ONLY"), Some("svc-dotenv-secret-2222"));
    assert_eq!(var(&env, "ONLY_ROOT"), Some("root"));
    assert_eq!(
        var(&env, "PROD_TOKEN"),
        None,
        ".env.production is not Watt's"
    );
    assert_eq!(listening, vec![LOOPBACK.to_string()]);

    // A run-time file in app/ (where Watt reads the runtime's .env) overrides baked values.
    std::fs::write(root.join("app/.env"), "DATABASE_URL=postgres://run-time\n").unwrap();
    let (env, _) = boot(root, &[]);
    assert_eq!(var(&env, "DATABASE_URL"), Some("postgres://run-time"));
    assert_eq!(
        var(&env, "DB_FROM_PLACEHOLDER"),
        Some("postgres://run-time")
    );
    assert_eq!(
        var(&env, "ONLY_ROOT"),
        Some("root"),
        "baked keys the file lacks stay"
    );

    // The real environment wins over everything.
    let (env, _) = boot(
        root,
        &[("SVC_ONLY", "real"), ("DATABASE_URL", "postgres://real")],
    );
    assert_eq!(var(&env, "SVC_ONLY"), Some("real"));
    assert_eq!(var(&env, "DB_FROM_PLACEHOLDER"), Some("postgres://real"));
}

/// The fixture under Watt itself (`wattpm start`, 3.67 from examples/api) and the artifact built
/// with `--dotenv` give the service the same variables, real environment included.
#[test]
fn watt_itself_fills_the_same_values() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_tree(&repo().join("tests/fixtures/secrets"), &app, "022");
    let watt_deps = example("api").join("node_modules");
    std::os::unix::fs::symlink(&watt_deps, app.join("node_modules")).unwrap();
    let real = [("SVC_ONLY", "from-the-real-environment")];

    let port = free_port();
    let mut cmd = Command::new(node_bin());
    cmd.arg(watt_deps.join("wattpm/bin/cli.js"))
        .arg("start")
        .current_dir(&app)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", work.path())
        .env("PORT", port.to_string())
        .env("PLT_MANAGEMENT_API", "false");
    for (k, v) in real {
        cmd.env(k, v);
    }
    let mut watt = Running::start(cmd);
    let url = format!("http://127.0.0.1:{port}/");
    watt.wait_ready(&url, Duration::from_secs(60));
    let (status, body) = get(&url);
    assert_eq!(status, 200, "{body}");
    let under_watt: serde_json::Value = serde_json::from_str(&body).unwrap();
    drop(watt);

    let built = build(&["--dotenv"]);
    let (packed, _) = boot(&built.root, &real);
    assert_eq!(packed, under_watt, "the artifact and Watt disagree");
    assert_eq!(var(&packed, "SVC_ONLY"), Some("from-the-real-environment"));
    assert_eq!(var(&packed, "LAYER"), Some("service-file"));
}
