//! The one reaper: every child's status goes through `waitpid(-1)` here and is dispatched by
//! pid (a per-child wait would see ECHILD once a global one stole its status). Unknown pids are
//! orphans handed to us (PID 1 or subreaper): reaping is all they need.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(Signal),
}

impl Exit {
    /// The exit code a shell would report.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s as i32,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with code {c}"),
            Exit::Signal(s) => write!(f, "was killed by {s}"),
        }
    }
}

/// Which child is whose. Spawning holds the lock from `fork` until the pid is registered, and
/// the reaper holds it while it waits, so on any number of threads no exit goes unattributed.
pub struct Pids<K>(Arc<Mutex<HashMap<i32, K>>>);

impl<K> Clone for Pids<K> {
    fn clone(&self) -> Self {
        Pids(self.0.clone())
    }
}

impl<K> Default for Pids<K> {
    fn default() -> Self {
        Pids(Arc::default())
    }
}

impl<K> Pids<K> {
    pub fn lock(&self) -> MutexGuard<'_, HashMap<i32, K>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reap until the SIGCHLD stream ends, telling `exited` about every registered child.
pub async fn run<K>(
    mut sigchld: tokio::signal::unix::Signal,
    pids: Pids<K>,
    exited: impl Fn(K, Exit),
) {
    loop {
        let mut known = Vec::new();
        {
            let mut pids = pids.lock();
            loop {
                let (pid, exit) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
                    Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Exit::Signal(sig)),
                    Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                    Ok(_) | Err(Errno::EINTR) => continue,
                    Err(_) => break,
                };
                if let Some(k) = pids.remove(&pid.as_raw()) {
                    known.push((k, exit));
                }
            }
        }
        for (k, exit) in known {
            exited(k, exit);
        }
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

/// Processes whose parent is `pid`, from /proc.
pub fn children_of(pid: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let child: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            (stat_field(&stat, 4)?.parse::<i32>().ok()? == pid.as_raw())
                .then_some(Pid::from_raw(child))
        })
        .collect()
}

/// Field `n` (1-based, as in proc(5)) of a `/proc/<pid>/stat` line; `comm` (field 2) may hold
/// spaces and parentheses, so fields are counted after its closing one.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(n.checked_sub(3)?)
}

#[cfg(test)]
mod tests {
    use super::stat_field;

    #[test]
    fn stat_fields_are_counted_after_comm() {
        let stat =
            "42 (we (ird) name) S 7 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0 999 123 45";
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_field(stat, 4), Some("7"));
        assert_eq!(stat_field(stat, 14), Some("250"));
        assert_eq!(stat_field(stat, 15), Some("30"));
        assert_eq!(stat_field(stat, 22), Some("999"));
        assert_eq!(stat_field(stat, 2), None);
    }
}
