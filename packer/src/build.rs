//! Runs the services' own build commands: concurrently, each with its output streamed to the
//! terminal prefixed by the service id and kept whole in a log file. The first failure stops
//! the other builds (their process groups are terminated) and is reported with the service,
//! the command, its exit status and the end of its log.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::frameworks::BuildCommand;

pub struct BuildJob {
    pub id: String,
    pub dir: PathBuf,
    pub command: BuildCommand,
    /// Folders put first on PATH (the service's and the app's `node_modules/.bin`, as npm does).
    pub bin_dirs: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "service \"{id}\" failed to build: `{command}` {status}\n  log: {log}\n  last lines:\n{tail}",
    log = log.display(),
    tail = tail.iter().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n")
)]
pub struct BuildFailure {
    pub id: String,
    pub command: String,
    /// "exited with code 2" / "was killed by signal 9" / "could not start: …".
    pub status: String,
    pub log: PathBuf,
    pub tail: Vec<String>,
}

const TAIL_LINES: usize = 20;

/// Run every job, at most `parallel` at once. Returns the first failure.
pub fn run_builds(
    jobs: Vec<BuildJob>,
    log_dir: &Path,
    parallel: usize,
) -> Result<(), BuildFailure> {
    if jobs.is_empty() {
        return Ok(());
    }
    let queue = Mutex::new(VecDeque::from(jobs));
    let failed = AtomicBool::new(false);
    let first: Mutex<Option<BuildFailure>> = Mutex::new(None);
    let running: Mutex<Vec<i32>> = Mutex::new(Vec::new());
    let terminal = Arc::new(Mutex::new(()));
    let workers = parallel
        .max(1)
        .min(queue.lock().map(|q| q.len()).unwrap_or(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let Some(job) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                if let Err(f) = run_one(&job, log_dir, &running, &failed, &terminal) {
                    if !failed.swap(true, Ordering::SeqCst) {
                        // Stop the others: their results no longer matter and they hold the cores.
                        for pgid in running.lock().map(|r| r.clone()).unwrap_or_default() {
                            let _ = nix::sys::signal::killpg(
                                nix::unistd::Pid::from_raw(pgid),
                                nix::sys::signal::Signal::SIGTERM,
                            );
                        }
                        if let Ok(mut first) = first.lock() {
                            *first = Some(f);
                        }
                    }
                    return;
                }
            });
        }
    });
    match first.into_inner().ok().flatten() {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn run_one(
    job: &BuildJob,
    log_dir: &Path,
    running: &Mutex<Vec<i32>>,
    failed: &AtomicBool,
    terminal: &Arc<Mutex<()>>,
) -> Result<(), BuildFailure> {
    let log_path = log_dir.join(format!("{}.build.log", job.id));
    let failure = |status: String, tail: Vec<String>| BuildFailure {
        id: job.id.clone(),
        command: job.command.display.clone(),
        status,
        log: log_path.clone(),
        tail,
    };
    let log = std::fs::create_dir_all(log_dir)
        .and_then(|_| File::create(&log_path))
        .map_err(|e| {
            failure(
                format!("could not start: cannot create its log file: {e}"),
                Vec::new(),
            )
        })?;
    let log = Arc::new(Mutex::new(log));
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));

    eprintln!("watt: building {} ({})", job.id, job.command.display);
    let started = Instant::now();
    let mut cmd = Command::new(&job.command.argv[0]);
    cmd.args(&job.command.argv[1..])
        .current_dir(&job.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut path = job.bin_dirs.clone();
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    if let Ok(joined) = std::env::join_paths(path) {
        cmd.env("PATH", joined);
    }
    cmd.envs(job.command.env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd
        .spawn()
        .map_err(|e| failure(format!("could not start: {e}"), Vec::new()))?;
    let pgid = child.id() as i32;
    if let Ok(mut r) = running.lock() {
        r.push(pgid);
    }
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let (log, tail, terminal, id) =
            (log.clone(), tail.clone(), terminal.clone(), job.id.clone());
        std::thread::spawn(move || pump(stream, &id, &log, &tail, &terminal))
    })
    .collect();
    let status = child.wait();
    for p in pumps {
        let _ = p.join();
    }
    if let Ok(mut r) = running.lock() {
        r.retain(|p| *p != pgid);
    }
    let tail: Vec<String> = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let status =
        status.map_err(|e| failure(format!("could not be waited for: {e}"), tail.clone()))?;
    if status.success() {
        eprintln!(
            "watt: built {} in {:.1}s",
            job.id,
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if failed.load(Ordering::SeqCst) {
        // Terminated because another build failed first: that one is the error to report.
        return Err(failure(
            "was stopped because another build failed".into(),
            tail,
        ));
    }
    Err(failure(describe(status), tail))
}

fn pump(
    stream: Box<dyn Read + Send>,
    id: &str,
    log: &Mutex<File>,
    tail: &Mutex<VecDeque<String>>,
    terminal: &Mutex<()>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Ok(mut f) = log.lock() {
            let _ = f.write_all(&buf);
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if let Ok(_guard) = terminal.lock() {
            eprintln!("[{id}] {line}");
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.to_string());
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("failed ({status})"),
    }
}

/// Where build logs go for an app.
pub fn log_dir(app_root: &Path) -> PathBuf {
    app_root.join(".watt").join("logs")
}
