//! The `--import` hook watt runs in every node process of a Next build, against the real Next
//! of examples/fullstack: Next's own config loader sees watt's build id and base path exactly
//! when the app's next.config sets none, and the preview keys follow the given secret.

use std::path::Path;
use std::process::Command;

use watt_e2e::*;

const PROBE: &str = r#"
const { createRequire } = require('node:module')
const req = createRequire(process.env.WATT_NEXT_DIR + '/package.json')
;(async () => {
  const loadConfig = req('next/dist/server/config.js').default
  const { PHASE_PRODUCTION_BUILD } = req('next/constants')
  const config = await loadConfig(PHASE_PRODUCTION_BUILD, process.env.WATT_NEXT_DIR)
  const { generatePreviewKeys } = req('next/dist/build/preview-key-utils.js')
  const keys = await generatePreviewKeys({ distDir: process.env.WATT_NEXT_DIR + '/.next', isBuild: true })
  console.log(JSON.stringify({ buildId: await config.generateBuildId(), basePath: config.basePath, keys }))
})()
"#;

fn probe(app: &Path, secret: Option<&str>) -> serde_json::Value {
    let hook =
        std::fs::read_to_string(repo().join("packer/src/frameworks/next_build_hook.mjs")).unwrap();
    let mut cmd = Command::new(node_bin());
    cmd.arg(format!(
        "--import=data:text/javascript,{}",
        urlencode(&hook)
    ))
    .arg("-e")
    .arg(PROBE)
    .current_dir(app)
    .env("WATT_NEXT_DIR", app)
    .env("WATT_NEXT_BUILD_ID", "watt-hashed-id")
    .env("WATT_NEXT_BASE_PATH", "/shop")
    .env("NEXT_TELEMETRY_DISABLED", "1")
    .env_remove("NEXT_SERVER_ACTIONS_ENCRYPTION_KEY");
    if let Some(s) = secret {
        cmd.env("NEXT_SERVER_ACTIONS_ENCRYPTION_KEY", s);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn next_app(dir: &Path, config: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("package.json"),
        r#"{"name":"probe","private":true}"#,
    )
    .unwrap();
    std::fs::write(dir.join("next.config.mjs"), config).unwrap();
    std::os::unix::fs::symlink(
        example("fullstack").join("node_modules"),
        dir.join("node_modules"),
    )
    .unwrap();
}

#[test]
fn watts_defaults_apply_only_where_the_app_sets_nothing() {
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("plain");
    next_app(&plain, "export default {}\n");
    let got = probe(&plain, None);
    assert_eq!(got["buildId"], "watt-hashed-id", "{got}");
    assert_eq!(got["basePath"], "/shop", "{got}");

    let own = work.path().join("own");
    next_app(
        &own,
        "export default { basePath: '/own', generateBuildId: async () => 'apps-own-id' }\n",
    );
    let got = probe(&own, None);
    assert_eq!(
        got["buildId"], "apps-own-id",
        "the app's generateBuildId wins: {got}"
    );
    assert_eq!(got["basePath"], "/own", "{got}");
}

#[test]
fn preview_keys_follow_the_secret_and_are_random_without_one() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("plain");
    next_app(&app, "export default {}\n");
    let a = probe(&app, Some("c2VjcmV0LWE="));
    let b = probe(&app, Some("c2VjcmV0LWE="));
    let c = probe(&app, Some("c2VjcmV0LWI="));
    assert_eq!(a["keys"], b["keys"]);
    assert_ne!(a["keys"], c["keys"]);
    assert_eq!(a["keys"]["previewModeId"].as_str().unwrap().len(), 32);
    assert_eq!(
        a["keys"]["previewModeSigningKey"].as_str().unwrap().len(),
        64
    );
    // No secret: Next's own random keys (its cache is below .next/cache, absent here).
    let r1 = probe(&app, None);
    let _ = std::fs::remove_dir_all(app.join(".next"));
    let r2 = probe(&app, None);
    assert_ne!(r1["keys"], r2["keys"]);
}

/// Next 15.2 writes `defaultConfig.outputFileTracingRoot` while it loads a config (15.5 and 16
/// freeze it and do not): the hook's defaults are exactly as writable as the Next's own, and a
/// frozen copy crashed 15.2 builds. A stand-in `config-shared.js` of each shape.
#[test]
fn the_hooks_defaults_stay_as_writable_as_nexts() {
    let hook =
        std::fs::read_to_string(repo().join("packer/src/frameworks/next_build_hook.mjs")).unwrap();
    const WRITE: &str = r#"'use strict'
const req = require('node:module').createRequire(process.env.WATT_NEXT_DIR + '/package.json')
const shared = req('next/dist/server/config-shared.js')
const frozen = Object.isFrozen(shared.defaultConfig)
if (!frozen) shared.defaultConfig.outputFileTracingRoot = '/written'
console.log(JSON.stringify({ frozen, root: shared.defaultConfig.outputFileTracingRoot ?? null, basePath: shared.defaultConfig.basePath }))
"#;
    for (next_freezes, shared) in [
        (false, "exports.defaultConfig = { basePath: '' }\n"),
        (
            true,
            "exports.defaultConfig = Object.freeze({ basePath: '' })\n",
        ),
    ] {
        let work = tempfile::tempdir().unwrap();
        let app = work.path();
        let next = app.join("node_modules/next");
        std::fs::create_dir_all(next.join("dist/server")).unwrap();
        std::fs::write(app.join("package.json"), r#"{"name":"probe"}"#).unwrap();
        std::fs::write(
            next.join("package.json"),
            r#"{"name":"next","version":"15.2.4"}"#,
        )
        .unwrap();
        std::fs::write(next.join("dist/server/config-shared.js"), shared).unwrap();
        let o = Command::new(node_bin())
            .arg(format!(
                "--import=data:text/javascript,{}",
                urlencode(&hook)
            ))
            .args(["-e", WRITE])
            .current_dir(app)
            .env("WATT_NEXT_DIR", app)
            .env("WATT_NEXT_BASE_PATH", "/shop")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let got: serde_json::Value =
            serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
        assert_eq!(got["frozen"], next_freezes, "{got}");
        if !next_freezes {
            assert_eq!(got["root"], "/written", "{got}");
        }
        assert_eq!(got["basePath"], "/shop", "the hook still applied: {got}");
    }
}
