//! The checked-in JSON Schema is generated from the types; this test fails when they drift.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test -p watt-manifest`.

use std::path::Path;

#[test]
fn checked_in_schema_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/app-manifest.v1.json");
    let generated = watt_manifest::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is out of date with the manifest types; run `UPDATE_SCHEMA=1 cargo test -p watt-manifest`",
        path.display()
    );
}

#[test]
fn manifest_round_trips_and_rejects_other_versions() {
    let json = br#"{
      "schemaVersion": 1, "name": "demo",
      "node": {"binary": "runtime/lib/node", "loader": null, "libraryPath": null, "shim": null, "version": "v24.0.0"},
      "entrypoint": "api",
      "server": {"hostname": "{PLT_SERVER_HOSTNAME}", "port": "{PORT}"},
      "gracefulShutdown": {"runtimeMs": 30000, "applicationMs": 10000},
      "services": [{
        "id": "api", "kind": "node", "root": "app/web/api",
        "start": {"type": "node", "entry": "app/web/api/index.js", "fastify": null},
        "dependencies": [], "env": {"A": "{X}"}, "dotenv": {}, "nodeOptions": [], "preload": []
      }]
    }"#;
    let m = watt_manifest::AppManifest::from_json(json).unwrap();
    assert_eq!(m.service("api").unwrap().root, "app/web/api");
    let again = watt_manifest::AppManifest::from_json(&m.to_json()).unwrap();
    assert_eq!(m, again);

    let v2 = String::from_utf8_lossy(json).replace("\"schemaVersion\": 1", "\"schemaVersion\": 2");
    let err = watt_manifest::AppManifest::from_json(v2.as_bytes()).unwrap_err();
    assert!(err.contains("schemaVersion 2"), "{err}");
}
