//! Service output: split into whole lines, tagged with the service id, and handed to one writer
//! thread behind a bounded buffer, so a stdout nobody reads (a paused pipe, a log driver under
//! back-pressure) never stalls the async threads: lines that do not fit are dropped, counted
//! (`/metrics`) and reported once. The writer writes whole lines only, so they never
//! interleave. The last lines of every service are kept for crash reports.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// Bytes of lines waiting for stdout before new lines are dropped.
const BUFFER: usize = 8 << 20;

/// Lines dropped because stdout was not read fast enough.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

struct Queue {
    lines: VecDeque<String>,
    bytes: usize,
    /// The writer is writing a batch it took.
    busy: bool,
}

struct Writer {
    queue: Mutex<Queue>,
    /// Signalled when lines arrive, and when the writer finished a batch.
    changed: Condvar,
    colour: bool,
}

fn writer() -> &'static Writer {
    static WRITER: OnceLock<&'static Writer> = OnceLock::new();
    WRITER.get_or_init(|| {
        let w: &'static Writer = Box::leak(Box::new(Writer {
            queue: Mutex::new(Queue {
                lines: VecDeque::new(),
                bytes: 0,
                busy: false,
            }),
            changed: Condvar::new(),
            colour: std::io::stdout().is_terminal(),
        }));
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_loop(w));
        if let Err(e) = spawned {
            eprintln!("watt-stub: cannot start the log writer ({e}); service output is lost");
        }
        w
    })
}

fn write_loop(w: &'static Writer) {
    let mut stdout = std::io::stdout();
    let mut reported = false;
    loop {
        let batch: Vec<String> = {
            let mut q = w.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.busy = false;
            w.changed.notify_all();
            while q.lines.is_empty() {
                q = w.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            q.busy = true;
            q.bytes = 0;
            q.lines.drain(..).collect()
        };
        let mut out = Vec::with_capacity(batch.iter().map(|l| l.len()).sum());
        for line in &batch {
            out.extend_from_slice(line.as_bytes());
        }
        // A closed stdout must not take the app down: drop the lines.
        let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
        let dropped = DROPPED.load(Ordering::Relaxed);
        if dropped > 0 && !reported {
            reported = true;
            eprintln!(
                "watt-stub: {dropped} log lines dropped so far because stdout is not read fast \
                 enough; further drops are only counted (watt_log_lines_dropped_total in /metrics)"
            );
        }
    }
}

/// Queue one whole line (with its newline) for stdout, or drop it if the buffer is full.
fn write_line(line: String) {
    let w = writer();
    let mut q = w.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.bytes + line.len() > BUFFER {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    q.bytes += line.len();
    q.lines.push_back(line);
    w.changed.notify_all();
}

/// Wait until every queued line is written, at most `limit` (stdout may never drain).
pub fn flush(limit: Duration) {
    let w = writer();
    let until = Instant::now() + limit;
    let mut q = w.queue.lock().unwrap_or_else(|e| e.into_inner());
    while !q.lines.is_empty() || q.busy {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        q = w
            .changed
            .wait_timeout(q, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
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
    let mut out = if writer().colour {
        colour_tag(id, line)
    } else {
        tag(id, line)
    };
    out.push('\n');
    write_line(out);
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

/// On a terminal: text lines get a coloured `[id]`, one colour per service.
fn colour_tag(id: &str, line: &str) -> String {
    let tagged = tag(id, line);
    let prefix = format!("[{id}] ");
    match tagged.strip_prefix(&prefix) {
        Some(rest) => {
            let hue = id
                .bytes()
                .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
                % 6;
            format!("\x1b[{}m[{id}]\x1b[0m {rest}", 31 + hue)
        }
        None => tagged,
    }
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
