//! Config file discovery and parsing (JSON, JSON5, YAML, TOML), as Watt's
//! `packages/foundation/lib/configuration.js` does it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ConfigError;

/// Watt's `knownConfigurationFilesExtensions`, in order (`tml` is TOML too).
pub const CONFIG_EXTENSIONS: [&str; 6] = ["json", "json5", "yaml", "yml", "toml", "tml"];

/// Watt's default suffixes; `composer` is kept by Watt for v2 compatibility.
pub const CONFIG_SUFFIXES: [&str; 6] = [
    "runtime",
    "service",
    "application",
    "db",
    "gateway",
    "composer",
];

/// The file names Watt recognises, in its lookup order (`listRecognizedConfigurationFiles`):
/// for each extension `watt.<ext>` then `platformatic.<ext>`, so `platformatic.json` beats
/// `watt.json5`; then the same for every suffix.
pub fn recognized_config_files() -> Vec<String> {
    let mut names = Vec::with_capacity(CONFIG_EXTENSIONS.len() * 2 * (CONFIG_SUFFIXES.len() + 1));
    for ext in CONFIG_EXTENSIONS {
        names.push(format!("watt.{ext}"));
        names.push(format!("platformatic.{ext}"));
    }
    for suffix in CONFIG_SUFFIXES {
        for ext in CONFIG_EXTENSIONS {
            names.push(format!("watt.{suffix}.{ext}"));
            names.push(format!("platformatic.{suffix}.{ext}"));
        }
    }
    names
}

/// The first recognised config file in `dir`, if any.
pub fn find_config_file(dir: &Path) -> Option<PathBuf> {
    recognized_config_files()
        .into_iter()
        .map(|name| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Reads and parses a config file by its extension.
pub fn load_config_file(path: &Path) -> Result<Value, ConfigError> {
    let text = read_text(path)?;
    parse_config_text(path, &text)
}

pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `package.json` in `dir`: `Null` when there is none, a syntax error when it is broken.
pub fn load_package_json(dir: &Path) -> Result<Value, ConfigError> {
    let path = dir.join("package.json");
    if !path.is_file() {
        return Ok(Value::Null);
    }
    let text = read_text(&path)?;
    parse_json(&path, &text)
}

pub fn parse_config_text(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match ext {
        "json" => parse_json(path, text),
        "json5" => parse_json5(path, text),
        "yaml" | "yml" => parse_yaml(path, text),
        "toml" | "tml" => parse_toml(path, text),
        other => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "unknown config file extension `.{other}`; use one of {}",
                CONFIG_EXTENSIONS.map(|e| format!(".{e}")).join(", ")
            ),
        }),
    }
}

fn parse_json(path: &Path, text: &str) -> Result<Value, ConfigError> {
    // Watt uses JSON.parse, which accepts a leading BOM only as a syntax error; we are lenient.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_location(&e.to_string(), e.line(), e.column()),
    })
}

fn parse_json5(path: &Path, text: &str) -> Result<Value, ConfigError> {
    json5::from_str::<Value>(text).map_err(|e| {
        let json5::Error::Message { msg, location } = e;
        let message = pest_message(&msg);
        match location {
            Some(loc) => ConfigError::Syntax {
                path: path.to_path_buf(),
                line: loc.line,
                column: loc.column,
                message,
            },
            None => ConfigError::SyntaxNoLocation {
                path: path.to_path_buf(),
                message,
            },
        }
    })
}

fn parse_yaml(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let quoted = quote_yaml_placeholders(text);
    serde_yaml::from_str::<Value>(&quoted).map_err(|e| match e.location() {
        Some(loc) => ConfigError::Syntax {
            path: path.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message: one_line(&strip_location(&e.to_string(), loc.line(), loc.column())),
        },
        None => ConfigError::SyntaxNoLocation {
            path: path.to_path_buf(),
            message: one_line(&e.to_string()),
        },
    })
}

fn parse_toml(path: &Path, text: &str) -> Result<Value, ConfigError> {
    toml::from_str::<Value>(text).map_err(|e| {
        let message = one_line(e.message());
        match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                ConfigError::Syntax {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message,
                }
            }
            None => ConfigError::SyntaxNoLocation {
                path: path.to_path_buf(),
                message,
            },
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// serde_json and serde_yaml append " at line L column C" to their messages; we print the
/// location as `file:L:C:` instead.
fn strip_location(message: &str, line: usize, column: usize) -> String {
    message
        .replacen(&format!(" at line {line} column {column}"), "", 1)
        .trim()
        .to_string()
}

/// Errors are printed as one `file:line:col: message` line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// json5 (through pest) renders a multi-line report with the offending line drawn in; the
/// useful part is the `= expected …` line, the position we print ourselves.
fn pest_message(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("= "))
        .unwrap_or(msg)
        .trim()
        .to_string()
}

/// Watt's `parseYAML` wraps every `{NAME}` outside a quoted string in single quotes before
/// parsing, so that `port: {PORT}` is the string `{PORT}` and not a YAML flow mapping.
/// Same rules: names are digits, or a letter/`$`/`_` followed by word characters, `-`, `$`
/// and `.`; quoted strings are `'…'`/`"…"` on one line with backslash escapes.
pub fn quote_yaml_placeholders(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let strings = quoted_spans(bytes);
    let mut out = String::with_capacity(raw.len() + 16);
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if let Some(end) = brace_name_end(bytes, i + 1) {
                // Watt's check is inclusive at both ends of the string match.
                let inside = strings.iter().any(|&(s, e)| i >= s && i <= e);
                if !inside {
                    out.push_str(&raw[copied..i]);
                    out.push('\'');
                    out.push_str(&raw[i..=end]);
                    out.push('\'');
                    copied = end + 1;
                }
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&raw[copied..]);
    out
}

/// Index of the closing `}` when `bytes[start..]` is a placeholder name followed by `}`.
fn brace_name_end(bytes: &[u8], start: usize) -> Option<usize> {
    let first = *bytes.get(start)?;
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut j = start;
    if first.is_ascii_digit() {
        while bytes.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
    } else if first.is_ascii_alphabetic() || first == b'$' || first == b'_' {
        j += 1;
        while bytes
            .get(j)
            .is_some_and(|&b| is_word(b) || b == b'-' || b == b'$' || b == b'.')
        {
            j += 1;
        }
    } else {
        return None;
    }
    (bytes.get(j) == Some(&b'}')).then_some(j)
}

/// Spans `(start, end_exclusive)` of `'…'` / `"…"` strings as Watt's
/// `/(["'])(?:(?=(\\?))\2.)*?\1/g` finds them: scanning left to right, a string does not
/// cross a newline and a backslash escapes the next character.
fn quoted_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let quote = bytes[i];
        if quote == b'"' || quote == b'\'' {
            let mut j = i + 1;
            let mut closed = None;
            while j < bytes.len() && bytes[j] != b'\n' {
                if bytes[j] == quote {
                    closed = Some(j);
                    break;
                }
                if bytes[j] == b'\\' {
                    if bytes.get(j + 1).is_none_or(|&b| b == b'\n') {
                        break;
                    }
                    j += 1;
                }
                j += 1;
            }
            if let Some(close) = closed {
                spans.push((i, close + 1));
                i = close + 1;
                continue;
            }
        }
        i += 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_placeholders_are_quoted_outside_strings_only() {
        assert_eq!(quote_yaml_placeholders("port: {PORT}"), "port: '{PORT}'");
        assert_eq!(
            quote_yaml_placeholders("host: \"{HOST}\"\nx: {a.b}"),
            "host: \"{HOST}\"\nx: '{a.b}'"
        );
        assert_eq!(quote_yaml_placeholders("a: { b: 1 }"), "a: { b: 1 }");
        assert_eq!(quote_yaml_placeholders("a: 'x {Y}'"), "a: 'x {Y}'");
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 0), (1, 1));
    }

    #[test]
    fn names_follow_watts_order() {
        let names = recognized_config_files();
        assert_eq!(
            &names[..4],
            [
                "watt.json",
                "platformatic.json",
                "watt.json5",
                "platformatic.json5"
            ]
        );
        assert_eq!(names[12], "watt.runtime.json");
        assert_eq!(names.len(), 84);
        assert_eq!(
            names.last().map(String::as_str),
            Some("platformatic.composer.tml")
        );
    }
}
