//! Service output: split into whole lines, tagged with the service id, written to the stub's
//! stdout one whole line at a time (the stdout lock is the single writer), with the last lines
//! kept for crash reports.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// Lines kept per service for crash reports.
const TAIL: usize = 50;
/// A "line" longer than this is cut, so a service that never writes a newline cannot grow the
/// stub without bound.
const MAX_LINE: usize = 1 << 20;

#[derive(Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut tail = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }

    pub fn last(&self, n: usize) -> Vec<String> {
        let tail = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter()
            .skip(tail.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}

/// Copy one output stream of a service to stdout, line by line, until EOF.
pub async fn pump(mut pipe: pipe::Receiver, id: Arc<str>, tail: Tail) {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Only the new bytes can hold a newline that was not seen yet.
        let scanned = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        let mut from = scanned;
        while let Some(nl) = buf[from..].iter().position(|&c| c == b'\n') {
            emit(&id, &buf[start..from + nl], &tail);
            start = from + nl + 1;
            from = start;
        }
        buf.drain(..start);
        if buf.len() >= MAX_LINE {
            emit(&id, &buf, &tail);
            buf.clear();
        }
    }
    if !buf.is_empty() {
        emit(&id, &buf, &tail);
    }
}

fn emit(id: &str, line: &[u8], tail: &Tail) {
    let line = String::from_utf8_lossy(line);
    let line = line.strip_suffix('\r').unwrap_or(&line);
    let mut out = tag(id, line);
    out.push('\n');
    // A closed stdout must not take the app down: drop the line.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    tail.push(line.to_string());
}

/// A JSON object line keeps its bytes and gains `"name": id` (pino's field for the logger name)
/// unless it has a name; any other line is prefixed with `[id] `.
pub fn tag(id: &str, line: &str) -> String {
    let trimmed = line.trim_end();
    if trimmed.starts_with('{') && trimmed.ends_with('}') {
        if let Ok(fields) = serde_json::from_str::<BTreeMap<String, serde::de::IgnoredAny>>(trimmed)
        {
            if fields.contains_key("name") {
                return line.to_string();
            }
            let body = trimmed[..trimmed.len() - 1].trim_end();
            let sep = if fields.is_empty() { "" } else { "," };
            let name = serde_json::Value::from(id);
            return format!("{body}{sep}\"name\":{name}}}");
        }
    }
    format!("[{id}] {line}")
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn json_lines_gain_a_name_and_text_lines_a_prefix() {
        assert_eq!(
            tag("api", r#"{"level":30,"msg":"hi"}"#),
            r#"{"level":30,"msg":"hi","name":"api"}"#
        );
        assert_eq!(tag("api", "{}"), r#"{"name":"api"}"#);
        assert_eq!(tag("api", r#"{"name":"x","n":1}"#), r#"{"name":"x","n":1}"#);
        assert_eq!(
            tag("a\"b", r#"{"big":123456789012345678901234567890}"#),
            r#"{"big":123456789012345678901234567890,"name":"a\"b"}"#
        );
        assert_eq!(tag("api", "hello"), "[api] hello");
        assert_eq!(tag("api", "{not json}"), "[api] {not json}");
        assert_eq!(tag("api", "[1,2]"), "[api] [1,2]");
        assert_eq!(tag("api", ""), "[api] ");
    }
}
