//! Typed reads from parsed config values. Watt validates with Ajv's `coerceTypes`, so numbers
//! and booleans are accepted where strings are expected and become their text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;

/// Where a value sits, for messages: the file and a key path such as `applications[2].env`.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub file: &'a Path,
    pub key: &'a str,
}

impl At<'_> {
    pub fn invalid(&self, what: &str) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.to_path_buf(),
            message: format!("`{}` {what}", self.key),
        }
    }
}

pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A scalar as the string Ajv would coerce it to; `None` for arrays and objects.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

pub fn as_object<'v>(value: &'v Value, at: At<'_>) -> Result<&'v Map<String, Value>, ConfigError> {
    value
        .as_object()
        .ok_or_else(|| at.invalid("must be an object"))
}

pub fn opt_object<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    at: At<'_>,
) -> Result<Option<&'v Map<String, Value>>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_object(v, at).map(Some),
    }
}

/// An optional string; numbers and booleans become their text.
pub fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    at: At<'_>,
) -> Result<Option<String>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => scalar_text(v)
            .map(Some)
            .ok_or_else(|| at.invalid("must be a string")),
    }
}

pub fn opt_bool(obj: &Map<String, Value>, key: &str, at: At<'_>) -> Result<bool, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" || s.is_empty() => Ok(false),
        Some(_) => Err(at.invalid("must be true or false")),
    }
}

/// `env{}`: string values (numbers and booleans as text).
pub fn string_map(
    obj: &Map<String, Value>,
    key: &str,
    at: At<'_>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(map) = opt_object(obj, key, at)? else {
        return Ok(BTreeMap::new());
    };
    map.iter()
        .map(|(k, v)| {
            scalar_text(v)
                .map(|text| (k.clone(), text))
                .ok_or_else(|| at.invalid(&format!("value of `{k}` must be a string")))
        })
        .collect()
}

pub fn string_list(
    obj: &Map<String, Value>,
    key: &str,
    at: At<'_>,
) -> Result<Vec<String>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| at.invalid("must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(at.invalid("must be a list of strings")),
    }
}

/// `preload`: one path or a list, resolved against `base`, the runtime config's folder (Watt's
/// `resolvePath` keyword resolves against the folder of the config being validated), each of
/// which must exist.
pub fn preload_list(
    obj: &Map<String, Value>,
    base: &Path,
    at: At<'_>,
) -> Result<Vec<PathBuf>, ConfigError> {
    let raw = match obj.get("preload") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(_)) => string_list(obj, "preload", at)?,
        Some(_) => return Err(at.invalid("must be a path or a list of paths")),
    };
    raw.iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let path = crate::paths::resolve(base, expand_plt_root(p, base));
            std::fs::canonicalize(&path).map_err(|_| ConfigError::PreloadMissing {
                path,
                config: at.file.to_path_buf(),
            })
        })
        .collect()
}

/// Watt sets `PLT_ROOT` to the runtime config's folder before replacing placeholders, so
/// `{PLT_ROOT}/web/api` is a real path at pack time, unlike placeholders read from the
/// environment.
pub fn expand_plt_root(s: &str, root: &Path) -> String {
    let root = root.to_string_lossy();
    s.replace("{{PLT_ROOT}}", &root)
        .replace("{PLT_ROOT}", &root)
}

/// Replaces Watt's placeholders (`{NAME}`, `{{NAME}}`) with `env(NAME)`. Returns the text
/// and the names `env` had no value for (replaced by `""`, as Watt does).
pub fn fill_placeholders(s: &str, env: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut unset = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let inner = after.trim_start_matches('{');
        let braces = after.len() - inner.len();
        let name_len = inner
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let tail = &inner[name_len..];
        let closing = tail.len() - tail.trim_start_matches('}').len();
        if name_len > 0 && braces <= 2 && closing >= 1 {
            let closing = closing.min(2);
            let name = &inner[..name_len];
            match env(name) {
                Some(v) => out.push_str(&v),
                None => unset.push(name.to_string()),
            }
            rest = &inner[name_len + closing..];
        } else {
            out.push_str(&after[..braces]);
            rest = &after[braces..];
        }
    }
    out.push_str(rest);
    (out, unset)
}

/// Watt's placeholder pattern `\{{1,2}([a-z0-9_]+)\}{1,2}` (case-insensitive): does `s` use one?
pub fn has_placeholder(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        if b != b'{' {
            return false;
        }
        let name_len = bytes[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        name_len > 0 && bytes.get(i + 1 + name_len) == Some(&b'}')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_like_watt() {
        let env = |k: &str| (k == "A").then(|| "x".to_string());
        let (text, unset) = fill_placeholders("{A}-{{A}}-{B}-{}-{a b}-{", &env);
        assert_eq!(text, "x-x--{}-{a b}-{");
        assert_eq!(unset, ["B"]);
    }

    #[test]
    fn placeholder_pattern() {
        assert!(has_placeholder("{PORT}"));
        assert!(has_placeholder("http://{{host_1}}:80"));
        assert!(!has_placeholder("{not-a-name}"));
        assert!(!has_placeholder("{}"));
        assert!(!has_placeholder("plain"));
    }
}
