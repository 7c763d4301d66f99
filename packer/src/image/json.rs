//! Canonical JSON: keys sorted at every level, no insignificant whitespace. Digests of configs
//! and manifests must not depend on map iteration order.

use anyhow::Result;
use serde_json::{Map, Value};

pub fn canonical(v: &Value) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(&sorted(v))?)
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": null}});
        let text = String::from_utf8(super::canonical(&v).unwrap()).unwrap();
        assert_eq!(text, r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#);
    }
}
