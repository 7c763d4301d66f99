//! The relay: what `globalThis.platformatic` needs from the rest of the app (js/globals.cjs),
//! carried between each service process and the stub over a unix socket the process gets as
//! fd 5, one JSON object a line. It stands in for Watt's worker ITC
//! (packages/runtime/lib/worker/messaging.js, worker/shared-context.js, runtime.js
//! `updateSharedContext`, `getCustomReadinessChecks`):
//!
//! - `messaging.send(to, name, data)` reaches a handler service `to` registered (its workers
//!   in turn) and its answer comes back; `notify` reaches every worker of `to`, unanswered;
//! - `sharedContext`: one object for the whole app, kept here; an update is merged (or
//!   replaces it with `overwrite`), sent to every process, then answered;
//! - the health server asks every process for its custom readiness or health check.
//!
//! Messages (process → stub): `send {id,to,name,data}`, `notify {to,name,data}`,
//! `context.get {id}`, `context.update {id,context,overwrite}`, `reply {id,data|error}` (to a
//! `request` or `check`). Stub → process: `request {id,from,name,data}`, `notify
//! {from,name,data}`, `reply {id,data|error}`, `context {data}`, `check {id,kind}`. Every
//! message has its type in `t`.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Watt's default `metrics.healthChecksTimeout`: a process that does not answer in time fails
/// the check.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// A longer line ends the connection: a process cannot grow the stub without bound.
const MAX_LINE: u64 = 16 << 20;

/// Which custom check the health server asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    Readiness,
    Health,
}

#[derive(Clone, Default)]
pub struct Relay(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    context: Map<String, Value>,
    /// By worker (process) id.
    conns: BTreeMap<u64, Conn>,
    /// Requests the stub forwarded or sent itself, by the id the stub gave them.
    pending: HashMap<u64, Waiter>,
    next: u64,
    /// Round-robin position per service.
    turn: HashMap<Arc<str>, usize>,
}

struct Conn {
    svc: Arc<str>,
    tx: mpsc::UnboundedSender<String>,
}

enum Waiter {
    /// A `send` of worker `from` (its own id `id`), answered by worker `target`.
    Forward { from: u64, id: Value, target: u64 },
    /// A check the health server asked worker `target` for.
    Local {
        target: u64,
        tx: oneshot::Sender<Value>,
    },
}

impl Waiter {
    fn target(&self) -> u64 {
        match self {
            Waiter::Forward { target, .. } | Waiter::Local { target, .. } => *target,
        }
    }
}

impl State {
    fn post(&self, worker: u64, msg: &Value) {
        if let Some(c) = self.conns.get(&worker) {
            let _ = c.tx.send(format!("{msg}\n"));
        }
    }

    fn reply_error(&self, worker: u64, id: &Value, message: String) {
        self.post(
            worker,
            &json!({ "t": "reply", "id": id, "error": { "message": message, "code": "PLT_RUNTIME_MESSAGING_ERROR" } }),
        );
    }

    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The next worker of service `svc` with a channel, in turn.
    fn pick(&mut self, svc: &str) -> Option<u64> {
        let workers: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| &*c.svc == svc)
            .map(|(w, _)| *w)
            .collect();
        if workers.is_empty() {
            return None;
        }
        let turn = self.turn.entry(svc.into()).or_default();
        *turn = (*turn + 1) % workers.len();
        Some(workers[*turn])
    }

    fn handle(&mut self, worker: u64, m: Value) {
        let Some(from) = self.conns.get(&worker).map(|c| c.svc.clone()) else {
            return;
        };
        let id = m.get("id").cloned().unwrap_or(Value::Null);
        match m.get("t").and_then(Value::as_str).unwrap_or_default() {
            "send" => {
                let to = m.get("to").and_then(Value::as_str).unwrap_or_default();
                let Some(target) = self.pick(to) else {
                    return self.reply_error(
                        worker,
                        &id,
                        format!(
                            "Cannot send a message to application \"{to}\": No workers available"
                        ),
                    );
                };
                let sid = self.id();
                self.pending.insert(
                    sid,
                    Waiter::Forward {
                        from: worker,
                        id,
                        target,
                    },
                );
                self.post(
                    target,
                    &json!({ "t": "request", "id": sid, "from": &*from, "name": m["name"], "data": m.get("data") }),
                );
            }
            "notify" => {
                let to = m.get("to").and_then(Value::as_str).unwrap_or_default();
                let msg = json!({ "t": "notify", "from": &*from, "name": m["name"], "data": m.get("data") });
                for c in self.conns.values().filter(|c| &*c.svc == to) {
                    let _ = c.tx.send(format!("{msg}\n"));
                }
            }
            "reply" => {
                let Some(waiter) = id.as_u64().and_then(|sid| self.pending.remove(&sid)) else {
                    return;
                };
                match waiter {
                    Waiter::Forward { from, id, .. } => {
                        let mut answer = json!({ "t": "reply", "id": id });
                        for key in ["data", "error"] {
                            if let Some(v) = m.get(key) {
                                answer[key] = v.clone();
                            }
                        }
                        self.post(from, &answer);
                    }
                    Waiter::Local { tx, .. } => {
                        let _ = tx.send(m.get("data").cloned().unwrap_or(Value::Null));
                    }
                }
            }
            "context.get" => {
                let data = Value::Object(self.context.clone());
                self.post(worker, &json!({ "t": "reply", "id": id, "data": data }));
            }
            "context.update" => {
                if m.get("overwrite") == Some(&Value::Bool(true)) {
                    self.context.clear();
                }
                // Object.assign, as Watt's runtime merges it.
                if let Some(update) = m.get("context").and_then(Value::as_object) {
                    self.context
                        .extend(update.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                let data = Value::Object(self.context.clone());
                // Every process first, the one that asked too, then the answer: once its update
                // resolves, every process sees the new value.
                let push = format!("{}\n", json!({ "t": "context", "data": data }));
                for c in self.conns.values() {
                    let _ = c.tx.send(push.clone());
                }
                self.post(worker, &json!({ "t": "reply", "id": id, "data": data }));
            }
            _ => {}
        }
    }
}

impl Relay {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serve the stub's end of worker `worker`'s channel, until the process and whatever
    /// inherited it closed theirs (or the worker is detached).
    pub fn attach(&self, worker: u64, svc: Arc<str>, stream: UnixStream) -> Result<()> {
        stream
            .set_nonblocking(true)
            .context("cannot set up a service's relay socket")?;
        let stream = tokio::net::UnixStream::from_std(stream)
            .context("cannot set up a service's relay socket")?;
        let (read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        self.state().conns.insert(worker, Conn { svc, tx });
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let relay = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read);
            loop {
                let mut line = String::new();
                match (&mut lines).take(MAX_LINE).read_line(&mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) if !line.ends_with('\n') => break,
                    Ok(_) => {}
                }
                if let Ok(m) = serde_json::from_str::<Value>(&line) {
                    relay.state().handle(worker, m);
                }
            }
            relay.detach(worker);
        });
        Ok(())
    }

    /// Worker `worker` is gone: what it was asked fails now rather than at a timeout.
    pub fn detach(&self, worker: u64) {
        let mut st = self.state();
        let Some(conn) = st.conns.remove(&worker) else {
            return;
        };
        let lost: Vec<u64> = st
            .pending
            .iter()
            .filter(|(_, w)| w.target() == worker)
            .map(|(sid, _)| *sid)
            .collect();
        for sid in lost {
            if let Some(Waiter::Forward { from, id, .. }) = st.pending.remove(&sid) {
                st.reply_error(
                    from,
                    &id,
                    format!(
                        "Cannot send a message to application \"{}\": its process exited before answering",
                        conn.svc
                    ),
                );
            }
        }
    }

    /// Every process's answer to its custom check (`true` where none was set; `false` for a
    /// process that does not answer within [`CHECK_TIMEOUT`]).
    pub async fn checks(&self, kind: Check) -> Vec<Value> {
        let kind_name = match kind {
            Check::Readiness => "readiness",
            Check::Health => "health",
        };
        let waits: Vec<(u64, oneshot::Receiver<Value>)> = {
            let mut st = self.state();
            let workers: Vec<u64> = st.conns.keys().copied().collect();
            workers
                .into_iter()
                .map(|target| {
                    let sid = st.id();
                    let (tx, rx) = oneshot::channel();
                    st.pending.insert(sid, Waiter::Local { target, tx });
                    st.post(
                        target,
                        &json!({ "t": "check", "id": sid, "kind": kind_name }),
                    );
                    (sid, rx)
                })
                .collect()
        };
        let deadline = tokio::time::Instant::now() + CHECK_TIMEOUT;
        let mut out = Vec::with_capacity(waits.len());
        for (sid, rx) in waits {
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(v)) => out.push(v),
                _ => {
                    self.state().pending.remove(&sid);
                    out.push(Value::Bool(false));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Write};

    /// A process's end of its channel.
    struct Peer(std::io::BufReader<UnixStream>);

    impl Peer {
        fn connect(relay: &Relay, worker: u64, svc: &str) -> Peer {
            let (ours, theirs) = UnixStream::pair().unwrap();
            relay.attach(worker, svc.into(), ours).unwrap();
            theirs
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            Peer(std::io::BufReader::new(theirs))
        }

        fn send(&mut self, m: Value) {
            writeln!(self.0.get_mut(), "{m}").unwrap();
        }

        fn recv(&mut self) -> Value {
            let mut line = String::new();
            self.0.read_line(&mut line).unwrap();
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_reaches_the_handler_and_its_answer_comes_back() {
        let relay = Relay::default();
        let mut api = Peer::connect(&relay, 1, "api");
        let mut pong = Peer::connect(&relay, 2, "pong");
        tokio::task::spawn_blocking(move || {
            api.send(
                json!({ "t": "send", "id": 7, "to": "pong", "name": "ping", "data": { "n": 1 } }),
            );
            let req = pong.recv();
            assert_eq!(req["t"], "request");
            assert_eq!(req["from"], "api");
            assert_eq!(req["name"], "ping");
            assert_eq!(req["data"], json!({ "n": 1 }));
            pong.send(json!({ "t": "reply", "id": req["id"], "data": { "n": 2 } }));
            assert_eq!(
                api.recv(),
                json!({ "t": "reply", "id": 7, "data": { "n": 2 } })
            );

            api.send(json!({ "t": "send", "id": 8, "to": "nobody", "name": "x" }));
            let err = api.recv();
            assert_eq!(err["id"], 8);
            assert!(err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("No workers available"));
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_shared_context_is_merged_and_reaches_every_process_before_the_answer() {
        let relay = Relay::default();
        let mut a = Peer::connect(&relay, 1, "a");
        let mut b = Peer::connect(&relay, 2, "b");
        tokio::task::spawn_blocking(move || {
            a.send(json!({ "t": "context.update", "id": 1, "context": { "x": 1 } }));
            assert_eq!(a.recv(), json!({ "t": "context", "data": { "x": 1 } }));
            assert_eq!(
                a.recv(),
                json!({ "t": "reply", "id": 1, "data": { "x": 1 } })
            );
            assert_eq!(b.recv(), json!({ "t": "context", "data": { "x": 1 } }));
            b.send(json!({ "t": "context.update", "id": 4, "context": { "y": 2 } }));
            assert_eq!(b.recv()["data"], json!({ "x": 1, "y": 2 }));
            assert_eq!(b.recv()["id"], 4);
            b.send(
                json!({ "t": "context.update", "id": 5, "context": { "z": 3 }, "overwrite": true }),
            );
            assert_eq!(b.recv()["data"], json!({ "z": 3 }));
            b.recv();
            a.send(json!({ "t": "context.get", "id": 2 }));
            // The broadcasts come first, in order.
            assert_eq!(a.recv()["data"], json!({ "x": 1, "y": 2 }));
            assert_eq!(a.recv()["data"], json!({ "z": 3 }));
            assert_eq!(
                a.recv(),
                json!({ "t": "reply", "id": 2, "data": { "z": 3 } })
            );
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_are_asked_of_every_process_and_a_silent_one_fails() {
        let relay = Relay::default();
        let mut a = Peer::connect(&relay, 1, "a");
        let _silent = Peer::connect(&relay, 2, "b");
        let answering = tokio::task::spawn_blocking(move || {
            let q = a.recv();
            assert_eq!(q["kind"], "readiness");
            a.send(
                json!({ "t": "reply", "id": q["id"], "data": { "status": false, "body": "no" } }),
            );
        });
        let started = std::time::Instant::now();
        let got = relay.checks(Check::Readiness).await;
        answering.await.unwrap();
        assert_eq!(
            got,
            vec![json!({ "status": false, "body": "no" }), json!(false)]
        );
        assert!(started.elapsed() >= CHECK_TIMEOUT);
    }
}
