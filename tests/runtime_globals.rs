//! `globalThis.platformatic` at run time, as Watt's worker provides it: a Fastify service that
//! logs through Watt's logger, calls `setOpenapiSchema` when ready and sets custom readiness and
//! health checks, which the health server's `/ready` and `/status` follow; two services
//! exchanging `messaging.send`/`notify`/`handle` and a value through `sharedContext`. The same
//! routes answer the same under `wattpm start` (tests/fixtures/runtime-globals).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use watt_e2e::*;

fn json_get(url: &str) -> Value {
    let (status, body) = get(url);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// What the app answers, asked the same way under the stub and under Watt: the routes, then the
/// health server while the custom checks change their minds.
fn answers(base: &str, health: &str) -> Vec<Value> {
    let mut out = Vec::new();
    out.push(json_get(&format!("{base}/globals")));
    // api puts `askedBy` into the shared context, then asks pong, whose handler reads it back
    // next to the value pong put in when it started.
    out.push(json_get(&format!("{base}/ask")));
    out.push(json_get(&format!("{base}/context")));
    // A notification is not answered: its note shows up in pong's list a little later.
    let deadline = Instant::now() + Duration::from_secs(10);
    let notes = loop {
        let notes = json_get(&format!("{base}/notes"));
        if notes != json!([]) || Instant::now() > deadline {
            break notes;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    out.push(notes);
    out.push(json_get(&format!("{base}/clone")));
    // A send nobody handles rejects.
    out.push(json_get(&format!("{base}/unhandled")));

    let probe = |path: &str| {
        let r = request(&format!("{health}{path}"), &[]);
        json!([r.status, r.text()])
    };
    out.push(probe("/ready"));
    json_get(&format!("{base}/readiness/off"));
    out.push(probe("/ready"));
    json_get(&format!("{base}/readiness/on"));
    out.push(probe("/ready"));
    json_get(&format!("{base}/health/off"));
    out.push(probe("/status"));
    json_get(&format!("{base}/health/on"));
    out.push(probe("/status"));
    out
}

fn expected() -> Vec<Value> {
    vec![
        json!({
            "applicationId": "api",
            "isEntrypoint": true,
            "isBuilding": false,
            "closing": false,
            "rootIsFileUrl": true,
            "events": "function",
            "logger": true,
            "setters": ["setBasePath", "setOpenapiSchema", "setGraphqlSchema",
                "setConnectionString", "setCustomHealthCheck", "setCustomReadinessCheck"],
            "messaging": ["send", "notify", "handle"],
            "sharedContext": ["get", "update"],
        }),
        json!({ "pong": 42, "context": { "pong": "up", "askedBy": "api" } }),
        json!({ "pong": "up", "askedBy": "api" }),
        json!(["hello from api"]),
        json!({
            "kinds": { "when": "Date", "tags": "Set", "big": "bigint", "bytes": "Uint8Array",
                "nested": "Map:true" },
            "backIsMap": true,
            "backDate": "1970-01-01T00:00:01.000Z",
            "backBig": "1180591620717411303424",
        }),
        json!({ "failed": true }),
        // The readiness check's own body, then its 503 and body while it says no.
        json!([200, "api ready"]),
        json!([503, "api draining"]),
        json!([200, "api ready"]),
        json!([500, "ERR"]),
        json!([200, "OK"]),
    ]
}

fn wait_for(url: &str, watt: &mut Running) {
    watt.wait_ready(url, Duration::from_secs(60));
}

#[test]
fn services_see_watts_globals_talk_through_messaging_and_feed_the_health_checks() {
    let app = installed_fixture("runtime-globals");
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("globals.tar.zst");
    build_archive(&app, &archive);
    let root = work.path().join("x");
    extract(&archive, &root);

    let (port, health_port) = (free_port(), free_port());
    let mut cmd = Command::new(root.join("watt-stub"));
    cmd.current_dir(&root)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("PORT", port.to_string())
        .env("PLT_METRICS_PORT", health_port.to_string());
    let mut stub = Running::start(cmd);
    let (base, health) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{health_port}"),
    );
    wait_for(&format!("{health}/ready"), &mut stub);
    let packed = answers(&base, &health);
    assert_eq!(packed, expected(), "{}", stub.logs());
    // Where the process serves: the public address for the entrypoint.
    assert_eq!(
        json_get(&format!("{base}/address")),
        json!({ "host": "127.0.0.1", "port": port })
    );
    // The logger writes the service's lines (pino's JSON, tagged by the stub), from the onReady
    // hook that published the OpenAPI schema, and for Fastify as its loggerInstance.
    let logs = stub.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("api published its OpenAPI schema"))
        .unwrap_or_else(|| panic!("no log line from the onReady hook\n{logs}"));
    let line: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(
        (&line["name"], &line["level"], &line["probe"]),
        (&json!("api"), &json!(30), &json!("globals"))
    );
    assert!(
        logs.contains(r#""msg":"request completed""#) && logs.contains(r#""url":"/ask""#),
        "{logs}"
    );
    assert!(
        logs.contains(r#""msg":"pong is up","name":"pong""#),
        "{logs}"
    );
    let (code, left) = stub.stop(Duration::from_secs(12));
    assert_eq!(code, Some(0), "{}", stub.logs());
    assert!(left.is_empty(), "processes left behind: {left:?}");
    // SIGTERM closed the app the way Watt does: Fastify's onClose hooks ran and logged.
    assert!(
        stub.logs().contains("api ran its onClose hook"),
        "{}",
        stub.logs()
    );

    // The same app under Watt itself.
    let (port, health_port) = (free_port(), free_port());
    let mut cmd = wattpm(&app);
    cmd.arg("start")
        .env("PORT", port.to_string())
        .env("PLT_METRICS_PORT", health_port.to_string());
    let mut watt = Running::start(cmd);
    let (base, health) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{health_port}"),
    );
    wait_for(&format!("{health}/ready"), &mut watt);
    let under_watt = answers(&base, &health);
    watt.stop(Duration::from_secs(20));
    assert_eq!(under_watt, expected(), "{}", watt.logs());
    assert!(
        watt.logs().contains("api ran its onClose hook"),
        "Watt itself runs the onClose hook on stop\n{}",
        watt.logs()
    );
}
