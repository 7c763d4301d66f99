//! What the stub supervises with: `restartOnError` and `workers` (runtime defaults, each
//! application's own value winning), and the health server from `metrics` / `healthProbes`.
//! Meanings follow Watt's `packages/runtime/lib/runtime.js` (`#getApplicationRestartOnError`)
//! and `packages/foundation/lib/schema.js`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::services::Entry;
use super::values::{self, At};
use super::{ConfigError, HealthConfig, ServiceSupervision, SupervisionConfig};

/// First restart delay for `restartOnError: true` (or unset): Watt restarts at once in
/// production; the stub starts its backoff here.
pub const DEFAULT_RESTART_MS: u64 = 100;

pub fn read(
    rt: &Map<String, Value>,
    entries: &[Entry],
    file: &Path,
) -> Result<SupervisionConfig, ConfigError> {
    let at = |key: &'static str| At { file, key };
    let runtime_restart = restart_on_error(rt.get("restartOnError"), at("restartOnError"))?;
    let runtime_workers = workers(rt.get("workers"), at("workers"))?;
    let mut services = BTreeMap::new();
    for e in entries {
        let key = |name: &str| format!("{}.{name}", e.origin);
        let (rk, wk) = (key("restartOnError"), key("workers"));
        let restart = restart_on_error(e.fields.get("restartOnError"), At { file, key: &rk })?;
        let workers = workers(e.fields.get("workers"), At { file, key: &wk })?;
        services.insert(
            e.id.clone(),
            ServiceSupervision {
                restart_on_error_ms: restart.or(runtime_restart).unwrap_or(DEFAULT_RESTART_MS),
                workers: workers.or(runtime_workers).unwrap_or(1),
            },
        );
    }
    Ok(SupervisionConfig {
        health: health(rt, file)?,
        services,
    })
}

/// `true` → the default delay; `false`, `0` → never restart; below 10 ms (Watt's "immediate")
/// → the default delay too; otherwise that many ms.
fn restart_on_error(v: Option<&Value>, at: At<'_>) -> Result<Option<u64>, ConfigError> {
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::Bool(true)) => Some(DEFAULT_RESTART_MS),
        Some(Value::Bool(false)) => Some(0),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(ms) if ms <= 0.0 => Some(0),
            Some(ms) if ms < 10.0 => Some(DEFAULT_RESTART_MS),
            Some(ms) => Some(ms as u64),
            None => return Err(at.invalid("must be a boolean or a number of milliseconds")),
        },
        Some(_) => return Err(at.invalid("must be a boolean or a number of milliseconds")),
    })
}

/// A number ≥ 1, a string holding one, or `{ static: n }` (dynamic workers start at
/// `minimum`, else `static`).
fn workers(v: Option<&Value>, at: At<'_>) -> Result<Option<u32>, ConfigError> {
    let bad = || at.invalid("must be a number of workers (at least 1) or `{ \"static\": n }`");
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if values::has_placeholder(s) => {
            return Err(at.invalid(&format!(
                "is \"{s}\": watt-pack needs the number when packing, a placeholder cannot be used here"
            )))
        }
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(Value::Object(o)) => ["static", "minimum"]
            .iter()
            .find_map(|k| o.get(*k))
            .and_then(Value::as_u64)
            .or(Some(1)),
        Some(_) => None,
    };
    match n {
        Some(n @ 1..=1024) => Ok(Some(n as u32)),
        _ => Err(bad()),
    }
}

/// `metrics: false` turns `/metrics` off; `healthProbes: false` with it turns the server off.
/// `hostname`/`port` from `metrics`, else `healthProbes`; placeholders stay for the stub.
fn health(rt: &Map<String, Value>, file: &Path) -> Result<HealthConfig, ConfigError> {
    let mut h = HealthConfig::default();
    let mut probes = true;
    for key in ["healthProbes", "metrics"] {
        match rt.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(on)) => set(&mut h, &mut probes, key, *on),
            Some(Value::String(s)) => set(&mut h, &mut probes, key, s.trim() != "false"),
            Some(Value::Object(o)) => {
                let on = o.get("enabled").is_none_or(|v| {
                    v.as_bool().unwrap_or(true) && v.as_str().is_none_or(|s| s.trim() != "false")
                });
                set(&mut h, &mut probes, key, on);
                let (hk, pk) = (format!("{key}.hostname"), format!("{key}.port"));
                let hostname = values::opt_string(o, "hostname", At { file, key: &hk })?;
                let port = values::opt_string(o, "port", At { file, key: &pk })?;
                // `metrics` wins over `healthProbes` (read second).
                h.hostname = hostname.or(h.hostname.take());
                h.port = port.or(h.port.take());
            }
            Some(_) => {
                let k = key.to_string();
                return Err(At { file, key: &k }.invalid("must be a boolean or an object"));
            }
        }
    }
    h.enabled = probes || h.metrics;
    Ok(h)
}

fn set(h: &mut HealthConfig, probes: &mut bool, key: &str, on: bool) {
    match key {
        "metrics" => h.metrics = on,
        _ => *probes = on,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_json(rt: Value, apps: Value) -> Result<SupervisionConfig, ConfigError> {
        let entries: Vec<Entry> = apps
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, a)| Entry {
                id: a["id"].as_str().unwrap().into(),
                fields: a.as_object().unwrap().clone(),
                origin: format!("applications[{i}]"),
                autoload_path: None,
            })
            .collect();
        read(
            rt.as_object().unwrap(),
            &entries,
            Path::new("/app/watt.json"),
        )
    }

    #[test]
    fn restart_on_error_and_workers_follow_watt_with_the_application_winning() {
        let s = read_json(
            json!({ "restartOnError": 2000, "workers": 2 }),
            json!([
                { "id": "a" },
                { "id": "b", "restartOnError": false, "workers": { "static": 3 } },
                { "id": "c", "restartOnError": true, "workers": "4" },
                { "id": "d", "restartOnError": 2 }
            ]),
        )
        .unwrap();
        let got: Vec<(u64, u32)> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| (s.services[*id].restart_on_error_ms, s.services[*id].workers))
            .collect();
        assert_eq!(got, [(2000, 2), (0, 3), (100, 4), (100, 2)]);
        let s = read_json(json!({}), json!([{ "id": "a" }])).unwrap();
        assert_eq!(
            (s.services["a"].restart_on_error_ms, s.services["a"].workers),
            (DEFAULT_RESTART_MS, 1)
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (rt, apps, want) in [
            (json!({ "workers": 0 }), json!([]), "`workers`"),
            (
                json!({}),
                json!([{ "id": "a", "workers": "{N}" }]),
                "`applications[0].workers` is \"{N}\"",
            ),
            (
                json!({}),
                json!([{ "id": "a", "restartOnError": "x" }]),
                "`applications[0].restartOnError`",
            ),
            (json!({ "metrics": 3 }), json!([]), "`metrics`"),
        ] {
            let err = read_json(rt, apps).expect_err(want).to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn the_health_server_comes_from_metrics_and_health_probes() {
        let h = |rt: Value| read_json(rt, json!([])).unwrap().health;
        assert_eq!(h(json!({})), HealthConfig::default());
        let m = h(json!({ "metrics": { "hostname": "{H}", "port": 9191 } }));
        assert_eq!(
            (m.hostname.as_deref(), m.port.as_deref()),
            (Some("{H}"), Some("9191"))
        );
        assert!(m.enabled && m.metrics);
        let off = h(json!({ "metrics": false }));
        assert!(off.enabled && !off.metrics);
        let none = h(json!({ "metrics": false, "healthProbes": false }));
        assert!(!none.enabled);
        let p = h(json!({ "healthProbes": { "port": "{HP}" } }));
        assert_eq!(p.port.as_deref(), Some("{HP}"));
    }
}
