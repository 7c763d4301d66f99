//! `.env` files, read the same way by the packer (build time) and the stub (run time). Watt
//! reads them with Node's `util.parseEnv` (runtime:
//! `loadEnv` in `packages/foundation/lib/configuration.js`; services:
//! `packages/runtime/lib/worker/main.js`), so the parser is a port of Node's
//! `Dotenv::ParseContent` (`src/node_dotenv.cc`, Node 22/24, without the unreleased sections):
//! no variable expansion, `export ` prefix dropped, `#` comments outside quotes, `'…'`, `"…"`
//! and `` `…` `` quotes that may span lines, `\n` expanded in double quotes only.

use std::collections::BTreeMap;

/// Node's `trim_spaces`: spaces, tabs and newlines, nothing else.
fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n'])
}

/// The variables of a `.env` file's text, as Node's `util.parseEnv` returns them.
pub fn parse(input: &str) -> BTreeMap<String, String> {
    let lines: String = input.chars().filter(|&c| c != '\r').collect();
    let mut store = BTreeMap::new();
    let mut content = trim(&lines);

    while !content.is_empty() {
        if content.starts_with('\n') || content.starts_with('#') {
            content = match content.find('\n') {
                Some(nl) => &content[nl + 1..],
                None => "",
            };
            continue;
        }

        let Some(eq_or_nl) = content.find(['=', '\n']) else {
            break;
        };
        if content.as_bytes()[eq_or_nl] == b'\n' {
            content = trim(&content[eq_or_nl + 1..]);
            continue;
        }

        let mut key = trim(&content[..eq_or_nl]);
        content = &content[eq_or_nl + 1..];

        if content.is_empty() || content.starts_with('\n') {
            store.insert(key.to_string(), String::new());
            continue;
        }

        content = trim(content);

        if key.is_empty() {
            continue;
        }
        if let Some(rest) = key.strip_prefix("export ") {
            key = trim(rest);
        }

        if content.is_empty() {
            store.insert(key.to_string(), String::new());
            break;
        }

        let quote = content.as_bytes()[0];
        if quote == b'"' || quote == b'\'' || quote == b'`' {
            match content[1..].find(quote as char).map(|i| i + 1) {
                Some(close) => {
                    let value = &content[1..close];
                    let value = if quote == b'"' {
                        value.replace("\\n", "\n")
                    } else {
                        value.to_string()
                    };
                    store.insert(key.to_string(), value);
                    content = match content[close + 1..].find('\n') {
                        Some(nl) => &content[close + 1 + nl + 1..],
                        None => "",
                    };
                    continue;
                }
                None => match content.find('\n') {
                    // An unclosed quote: the rest of the line, quote included, is the value.
                    Some(nl) => {
                        store.insert(key.to_string(), content[..nl].to_string());
                        content = &content[nl + 1..];
                    }
                    None => {
                        store.insert(key.to_string(), content.to_string());
                        break;
                    }
                },
            }
        } else {
            let (line, rest) = match content.find('\n') {
                Some(nl) => (&content[..nl], &content[nl + 1..]),
                None => (content, ""),
            };
            let value = match line.find('#') {
                Some(hash) => &line[..hash],
                None => line,
            };
            store.insert(key.to_string(), trim(value).to_string());
            content = rest;
        }

        content = trim(content);
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_parse_env_rules() {
        let text = "\
# comment
A=1
export B = two words # trailing
C=\"line\\nnext\"
D='single \\n kept'
E=`back`
F=
G=\"multi
line\"
H=\"unclosed
I=a=b
  J  =  spaced  \r
K=x#y
";
        let env = parse(text);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("line\nnext"));
        assert_eq!(get("D"), Some("single \\n kept"));
        assert_eq!(get("E"), Some("back"));
        assert_eq!(get("F"), Some(""));
        assert_eq!(get("G"), Some("multi\nline"));
        assert_eq!(get("H"), Some("\"unclosed"));
        assert_eq!(get("I"), Some("a=b"));
        assert_eq!(get("J"), Some("spaced"));
        assert_eq!(get("K"), Some("x"));
        assert_eq!(env.len(), 11);
    }
}
