//! Every command README.md and docs/*.md show is run here, against the release binaries, so
//! the docs cannot drift from what `watt` and `watt-stub` do.
//!
//! What a fenced block's info string means:
//!
//! - ```` ```sh ````: one bash script (`set -euo pipefail`); it must exit 0.
//! - ```` ```console ````: `$ ` lines are commands (a trailing `\` continues one), each run by
//!   bash with stderr merged into stdout, as a terminal shows them; each must exit 0. The lines
//!   after a command are output it must print: in that order, each matching one line of the
//!   real output, whitespace runs counting as one space and `…` standing for any text (a line
//!   of only `…` elides lines). Lines the page does not show may appear in between.
//! - `serve=URL` after `sh`: the block ends in a server (`watt-stub`) that keeps running, as in
//!   a terminal: it runs in the background until URL answers 200, stays up for the blocks
//!   after it, and is stopped with SIGTERM, which must end it with status 0, when the next
//!   `serve` block starts or the page ends.
//! - `registry` after `sh`/`console`: the block talks to a registry at `localhost:5000`, which
//!   the test starts (Debian's docker-registry, no auth) before the page's first such block.
//! - `skip-test=KEY`: not run; KEY must be one of [`SKIPS`], which says why it cannot run here.
//!   Each page prints what it skipped, and `fences_are_marked_and_flags_exist` the totals.
//! - `text`, `json`, `yaml`, `dockerfile`, `dotenv`: output, syntax or files; not run.
//!
//! A fence without a language, or with one of bash's other names, fails the test: a command
//! must not hide in a block nobody runs. Every flag of a `watt`/`watt-stub` command in a block
//! that is not run (usage summaries, skipped blocks) and in inline code must appear in that
//! command's `--help`, so a flag that disappears fails here even where nothing runs it.
//!
//! Each page runs in its own sandbox, in the order the page shows its blocks: a working folder
//! where `examples/<name>` is the installed example (as in a clone after `npm ci`) under a
//! private overlay, so the page may change it; `watt` and `watt-stub` copied side by side into
//! a folder first on PATH (WATT_STUB unset: watt must find the stub next to itself); node from
//! ci/setup.sh; an empty HOME (no registry credentials); and private network and mount
//! namespaces, so the fixed ports the docs use (3042, 9090, 5000) never meet another test's.
//! The other tools the pages run (curl, skopeo, docker-registry, kubernetes-validate) are the
//! ones ci/test.sh installs; a missing one fails the block that needs it, saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use watt_e2e::*;

/// Why a block cannot run here, by the key its fence names, and what runs in its place when a
/// later block needs what it leaves behind.
const SKIPS: &[Skip] = &[
    Skip {
        key: "npm",
        why: "installs watt-pack from the npm registry, where this build is not published; \
              tests/npm_package.rs installs the packages ci/npm-pack.sh makes and runs \
              `npx watt build`",
        stand_in: None,
    },
    Skip {
        key: "release",
        why: "needs a published release tarball; tests/release_tarball.rs makes one with \
              `cargo xtask release`, checks it with `sha256sum -c` and starts its binaries",
        stand_in: None,
    },
    Skip {
        key: "cargo-install",
        why: "rebuilds the workspace into ~/.cargo/bin; ci/test.sh builds the same binaries with \
              the same flags, and this test runs those",
        stand_in: None,
    },
    Skip {
        key: "ci-scripts",
        why: "ci/test.sh runs the suite this test is part of, and tests/quickstart.rs runs \
              ci/quickstart.sh on a fresh clone; the command quickstart ends with runs here in \
              their place",
        stand_in: Some("watt build examples/api -o api.tar.zst"),
    },
    Skip {
        key: "kubectl",
        why: "needs a Kubernetes cluster; docs/images.md checks the same files with \
              kubernetes-validate, as packer/tests/k8s.rs does",
        stand_in: None,
    },
    Skip {
        key: "container-engine",
        why: "publishing a port (-p) needs container networking this machine lacks; \
              tests/image_api.rs runs the same image read-only under podman and Docker",
        stand_in: None,
    },
];

struct Skip {
    key: &'static str,
    why: &'static str,
    stand_in: Option<&'static str>,
}

/// Every page the docs have; `every_page_is_tested` keeps this in step with docs/*.md.
const PAGES: &[&str] = &[
    "README.md",
    "docs/configuration.md",
    "docs/dependencies.md",
    "docs/frameworks.md",
    "docs/images.md",
    "docs/reproducibility.md",
    "docs/runtime.md",
    "docs/security.md",
];

/// Languages whose blocks are shown, not run.
const NOT_RUN: &[&str] = &["text", "json", "yaml", "dockerfile", "dotenv"];

/// How long one block may take: a few `watt build`s on a loaded two-core machine.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(900);
/// How long a served app and the registry may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The stub's default `gracefulShutdown.runtime` is 30 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

#[test]
fn readme() {
    run_page("README.md");
}

#[test]
fn configuration() {
    run_page("docs/configuration.md");
}

#[test]
fn dependencies() {
    run_page("docs/dependencies.md");
}

#[test]
fn frameworks() {
    run_page("docs/frameworks.md");
}

#[test]
fn images() {
    run_page("docs/images.md");
}

#[test]
fn reproducibility() {
    run_page("docs/reproducibility.md");
}

#[test]
fn runtime() {
    run_page("docs/runtime.md");
}

#[test]
fn security() {
    run_page("docs/security.md");
}

#[test]
fn every_page_is_tested() {
    let mut found = vec!["README.md".to_string()];
    for e in std::fs::read_dir(repo().join("docs")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            found.push(format!("docs/{name}"));
        }
    }
    found.sort();
    let mut listed: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "a page of the docs is not in PAGES (give it a #[test] too), or PAGES names a missing one"
    );
}

/// Fast, and runs nothing but `--help`: every fence says what it is, every skip names a known
/// reason, every documented `watt`/`watt-stub` flag exists.
#[test]
fn fences_are_marked_and_flags_exist() {
    let mut help = Help::default();
    let mut problems = Vec::new();
    let mut skipped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut commands = 0;
    for page in PAGES {
        let doc = parse_page(page);
        problems.extend(doc.problems.iter().cloned());
        for b in &doc.blocks {
            *counts.entry(b.lang.clone()).or_default() += 1;
            if let Some(skip) = b.skip {
                skipped
                    .entry(skip.key)
                    .or_default()
                    .push(format!("{page}:{}", b.line));
            }
            if b.skip.is_some() || NOT_RUN.contains(&b.lang.as_str()) {
                for (line, cmd) in watt_commands_in_block(b) {
                    commands += 1;
                    problems.extend(
                        help.check(&cmd)
                            .into_iter()
                            .map(|p| format!("{page}:{line}: `{cmd}`: {p}")),
                    );
                }
            }
        }
        for (line, cmd) in &doc.inline {
            commands += 1;
            problems.extend(
                help.check(cmd)
                    .into_iter()
                    .map(|p| format!("{page}:{line}: `{cmd}`: {p}")),
            );
        }
    }
    eprintln!("fenced blocks by language: {counts:?}");
    eprintln!("watt/watt-stub commands checked against --help without running: {commands}");
    let total: usize = skipped.values().map(Vec::len).sum();
    eprintln!("{total} block(s) not run:");
    for (key, at) in &skipped {
        eprintln!("  {key} ({}): {}", at.len(), at.join(", "));
        eprintln!("    why: {}", skip(key).unwrap().why);
    }
    for s in SKIPS {
        if !skipped.contains_key(s.key) {
            problems.push(format!(
                "skip-test={} is used by no block: drop it from SKIPS",
                s.key
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Reading the pages

struct Block {
    line: usize,
    lang: String,
    skip: Option<&'static Skip>,
    serve: Option<String>,
    registry: bool,
    body: String,
}

struct Page {
    blocks: Vec<Block>,
    /// Inline code spans that are `watt …`/`watt-stub …` commands, with their line.
    inline: Vec<(usize, String)>,
    problems: Vec<String>,
}

fn skip(key: &str) -> Option<&'static Skip> {
    SKIPS.iter().find(|s| s.key == key)
}

fn parse_page(page: &str) -> Page {
    let path = repo().join(page);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse(page, &text)
}

fn parse(page: &str, text: &str) -> Page {
    let mut out = Page {
        blocks: Vec::new(),
        inline: Vec::new(),
        problems: Vec::new(),
    };
    let mut lines = text.lines().enumerate();
    // Paragraphs of prose with their first line: a code span may wrap onto the next line.
    let mut prose: Vec<(usize, String)> = Vec::new();
    let mut in_paragraph = false;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        if !trimmed.starts_with("```") {
            if trimmed.is_empty() {
                in_paragraph = false;
            } else if in_paragraph {
                let last = prose.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(trimmed);
            } else {
                prose.push((i + 1, trimmed.to_string()));
                in_paragraph = true;
            }
            continue;
        }
        in_paragraph = false;
        let indent = line.len() - trimmed.len();
        let fence = trimmed.len() - trimmed.trim_start_matches('`').len();
        let info = trimmed[fence..].trim();
        let mut body = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            let t = l.trim_start();
            if t.starts_with(&"`".repeat(fence)) && t.trim_matches('`').is_empty() {
                closed = true;
                break;
            }
            // Fences inside list items are indented; their lines are, by as much.
            let cut = l.len() - l.trim_start().len();
            body.push_str(&l[cut.min(indent)..]);
            body.push('\n');
        }
        let at = format!("{page}:{}", i + 1);
        if !closed {
            out.problems.push(format!("{at}: fence never closed"));
        }
        match block(i + 1, info, body) {
            Ok(b) => out.blocks.push(b),
            Err(e) => out.problems.push(format!("{at}: {e}")),
        }
    }
    for (line, span) in prose
        .iter()
        .flat_map(|(n, p)| spans(p).map(move |s| (*n, s)))
    {
        if span.starts_with("watt ") || span.starts_with("watt-stub ") {
            out.inline.push((line, span));
        }
    }
    out
}

fn block(line: usize, info: &str, body: String) -> Result<Block, String> {
    let mut words = info.split_whitespace();
    let lang = words.next().unwrap_or("").to_string();
    match lang.as_str() {
        "" => return Err("a fence without a language: `sh`/`console` run, `text` is shown".into()),
        "bash" | "shell" | "zsh" | "sh-session" | "shell-session" | "shellsession" => {
            return Err(format!(
                "`{lang}`: commands go in `sh` (a script) or `console` (with output), which run"
            ))
        }
        "sh" | "console" => {}
        l if NOT_RUN.contains(&l) => {}
        l => {
            return Err(format!(
                "unknown language `{l}` (known: sh, console, {NOT_RUN:?})"
            ))
        }
    }
    let mut b = Block {
        line,
        lang,
        skip: None,
        serve: None,
        registry: false,
        body,
    };
    for w in words {
        let runs = b.lang == "sh" || b.lang == "console";
        match w.split_once('=') {
            Some(("skip-test", key)) if runs => {
                b.skip = Some(skip(key).ok_or_else(|| {
                    let keys: Vec<_> = SKIPS.iter().map(|s| s.key).collect();
                    format!("skip-test={key}: not a known reason ({keys:?})")
                })?);
            }
            Some(("serve", url)) if b.lang == "sh" => b.serve = Some(url.to_string()),
            None if w == "registry" && runs => b.registry = true,
            _ => return Err(format!("`{w}` means nothing after `{}`", b.lang)),
        }
    }
    if b.skip.is_some() && (b.serve.is_some() || b.registry) {
        return Err("a skipped block needs no server".into());
    }
    Ok(b)
}

/// The inline code spans of a paragraph (`` `x` `` and ``` `` a `b` `` ```), as CommonMark
/// pairs them: a run of backticks closes at the next run of the same length; one never closed
/// is literal text.
fn spans(text: &str) -> impl Iterator<Item = String> + '_ {
    let run_at = |s: &str| s.len() - s.trim_start_matches('`').len();
    let mut rest = text;
    std::iter::from_fn(move || loop {
        let start = rest.find('`')?;
        let ticks = run_at(&rest[start..]);
        let after = &rest[start + ticks..];
        let close = "`".repeat(ticks);
        let mut from = 0;
        let end = loop {
            match after[from..].find(&close) {
                Some(p) if run_at(&after[from + p..]) == ticks => break Some(from + p),
                Some(p) => from += p + run_at(&after[from + p..]),
                None => break None,
            }
        };
        match end {
            Some(end) => {
                rest = &after[end + ticks..];
                return Some(after[..end].trim().to_string());
            }
            None => rest = after,
        }
    })
}

/// The `watt …`/`watt-stub …` command lines of a block, with their line in the page; a
/// usage summary's indented lines continue the command above them.
fn watt_commands_in_block(b: &Block) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut continuing = false;
    for (i, raw) in b.body.lines().enumerate() {
        let line = raw.trim().trim_start_matches("$ ");
        let line = line.split(" #").next().unwrap_or(line);
        if line.starts_with("watt ") || line.starts_with("watt-stub ") || line == "watt-stub" {
            out.push((b.line + 1 + i, line.to_string()));
            continuing = true;
        } else if continuing && raw.starts_with(char::is_whitespace) && !line.is_empty() {
            let last = out.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line);
        } else {
            continuing = false;
        }
    }
    out
}

/// `--help` of each command, asked once.
#[derive(Default)]
struct Help(BTreeMap<(String, String), String>);

impl Help {
    fn text(&mut self, program: &str, sub: &str) -> &str {
        self.0
            .entry((program.to_string(), sub.to_string()))
            .or_insert_with(|| {
                let bin = if program == "watt" {
                    watt_bin()
                } else {
                    stub_bin()
                };
                let mut cmd = Command::new(bin);
                if !sub.is_empty() {
                    cmd.arg(sub);
                }
                let o = cmd.arg("--help").output().unwrap();
                assert!(
                    o.status.success(),
                    "{program} {sub} --help failed\n{}",
                    text(&o)
                );
                String::from_utf8_lossy(&o.stdout).into_owned()
            })
    }

    /// What is wrong with one documented command: flags or values its `--help` does not know.
    fn check(&mut self, cmd: &str) -> Vec<String> {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let program = words[0];
        let subs = ["build", "inspect", "k8s", "resolve"];
        // watt-stub has one usage text for all its forms (`healthcheck --help` is a host name).
        let sub = words
            .get(1)
            .copied()
            .filter(|w| program == "watt" && subs.contains(w))
            .unwrap_or("");
        let help = self.text(program, sub).to_string();
        let known: BTreeSet<&str> = help
            .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
            .filter(|w| w.starts_with('-'))
            .collect();
        let mut problems = Vec::new();
        let mut flag: Option<String> = None;
        for w in &words[1..] {
            let w = w.trim_matches(|c: char| "[]…,.;:()`".contains(c));
            if w.starts_with('-') && w.len() > 1 {
                let name = w.split('=').next().unwrap();
                if !known.contains(name) {
                    let which = if sub.is_empty() {
                        program.to_string()
                    } else {
                        format!("{program} {sub}")
                    };
                    problems.push(format!("`{name}` is not a flag of `{which}`"));
                }
                flag = Some(name.to_string());
            } else if let Some(f) = flag.take() {
                // `--format oci|oci-archive`: each value listed must be a possible value.
                if w.contains('|') && help.contains("Possible values") {
                    for v in w.split('|') {
                        if !help.contains(&format!("- {v}:")) {
                            problems.push(format!("`{v}` is not a value of `{f}`"));
                        }
                    }
                }
            }
        }
        problems
    }
}

// ---------------------------------------------------------------------------------------------
// Running a page

/// Pages run one at a time: each builds examples, and two at once only slow each other down on
/// the machines this suite runs on.
static ONE_PAGE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_page(page: &str) {
    let _turn = ONE_PAGE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let doc = parse_page(page);
    assert!(doc.problems.is_empty(), "\n{}", doc.problems.join("\n"));
    let started = Instant::now();
    let mut sandbox = Sandbox::new(&doc);
    let mut ran = 0;
    let mut skipped = Vec::new();
    for b in &doc.blocks {
        let at = format!("{page}:{}", b.line);
        if let Some(s) = b.skip {
            skipped.push(format!("{at} ({})", s.key));
            if let Some(script) = s.stand_in {
                sandbox.run_sh(&format!("{at} (stand-in for skip-test={})", s.key), script);
            }
            continue;
        }
        if b.lang != "sh" && b.lang != "console" {
            continue;
        }
        if b.registry {
            sandbox.start_registry();
        }
        let t = Instant::now();
        match (&b.serve, b.lang.as_str()) {
            (Some(url), _) => sandbox.serve(&at, &b.body, url),
            (None, "sh") => sandbox.run_sh(&at, &b.body),
            _ => sandbox.run_console(&at, &b.body),
        }
        ran += 1;
        eprintln!("{at}: {} ok in {:.1} s", b.lang, t.elapsed().as_secs_f64());
    }
    sandbox.stop_server();
    eprintln!(
        "{page}: {ran} block(s) run in {:.1} s; {} skipped{}{}",
        started.elapsed().as_secs_f64(),
        skipped.len(),
        if skipped.is_empty() { "" } else { ": " },
        skipped.join(", ")
    );
}

struct Sandbox {
    dir: tempfile::TempDir,
    /// The network namespace's one process, `sleep`, whose /proc entry names the namespace.
    holder: Child,
    server: Option<(String, Running)>,
    registry: Option<Running>,
}

impl Sandbox {
    fn new(doc: &Page) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["work", "bin", "home", "tmp"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        // Copies, not links: `watt` must find the stub beside itself as an installed pair does.
        std::fs::copy(watt_bin(), dir.path().join("bin/watt")).unwrap();
        std::fs::copy(stub_bin(), dir.path().join("bin/watt-stub")).unwrap();

        let mut examples = BTreeSet::new();
        for b in doc.blocks.iter().filter(|b| b.skip.is_none()) {
            for (i, _) in b.body.match_indices("examples/") {
                let name: String = b.body[i + "examples/".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                if !name.is_empty() {
                    examples.insert(name);
                }
            }
        }
        examples.extend(SKIPS.iter().filter_map(|s| s.stand_in).flat_map(|s| {
            s.split_whitespace()
                .filter_map(|w| w.strip_prefix("examples/"))
                .map(String::from)
        }));
        for tool in ["unshare", "nsenter", "curl"] {
            let found = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
                .unwrap_or(false);
            assert!(
                found,
                "{tool} is not installed; apt-get install util-linux curl"
            );
        }
        // `ip` is not on every machine; the ioctl it makes is one line of Python.
        let lo_up = "if command -v ip >/dev/null; then ip link set lo up; else python3 -c '\
import socket, fcntl, struct\n\
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
fcntl.ioctl(s, 0x8914, struct.pack(\"16sH14s\", b\"lo\", 0x1 | 0x8 | 0x40, b\"\"))'; fi";
        // Each example is the installed one under a private overlay: the page may change it
        // (and its builds write into it) without touching the clone's, and nothing is copied.
        // Where overlayfs is refused, a copy does.
        let mut mounts = String::new();
        for name in &examples {
            let lower = example(name);
            let layer = dir.path().join("overlay").join(name);
            let target = dir.path().join("work/examples").join(name);
            for d in [layer.join("upper"), layer.join("work"), target.clone()] {
                std::fs::create_dir_all(d).unwrap();
            }
            mounts.push_str(&format!(
                "{{ mount -t overlay overlay -o 'lowerdir={},upperdir={},workdir={}' '{t}' 2>/dev/null || cp -a '{}/.' '{t}'; }} && ",
                lower.display(),
                layer.join("upper").display(),
                layer.join("work").display(),
                lower.display(),
                t = target.display(),
            ));
        }
        let mut holder = Command::new("unshare")
            .args(["--net", "--mount", "--", "sh", "-c"])
            .arg(format!("{lo_up} && {mounts}echo up && exec sleep 86400"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run unshare");
        let mut first = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(
            first.trim(),
            "up",
            "could not make the sandbox's network and mount namespaces (needs root)"
        );
        Sandbox {
            dir,
            holder,
            server: None,
            registry: None,
        }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// bash running `script` in the sandbox: its folder, PATH, HOME and network namespace.
    fn bash(&self, script: &str) -> Command {
        let file = tempfile::Builder::new()
            .prefix("block-")
            .suffix(".sh")
            .tempfile_in(self.dir.path())
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap();
        // Entering a mount namespace moves to its root, and nsenter's --wd keeps a folder of
        // the namespace left behind, where the overlays are not: cd once inside.
        let script = format!("cd '{}' || exit 1\n{script}", self.work().display());
        std::fs::write(&file, script).unwrap();
        let tools = repo().join(".cache/tools/bin");
        let path = format!(
            "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.path().join("bin").display(),
            tools.display()
        );
        let mut cmd = Command::new("nsenter");
        let ns = format!("/proc/{}/ns", self.holder.id());
        cmd.arg(format!("--net={ns}/net"))
            .arg(format!("--mount={ns}/mnt"))
            .arg("--")
            .arg("bash")
            .arg(&file)
            .current_dir(self.work())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("LANG", "C.UTF-8")
            .env("TZ", "UTC")
            .env("TERM", "dumb")
            .env("NEXT_TELEMETRY_DISABLED", "1")
            .env("ASTRO_TELEMETRY_DISABLED", "1")
            .env("npm_config_update_notifier", "false")
            .stdin(Stdio::null());
        cmd
    }

    /// Run to completion; returns the merged output, failing with it unless status 0.
    fn run(&self, at: &str, shown: &str, script: &str) -> String {
        let mut r = Running::start(self.bash(script));
        let status = r.wait_exit(BLOCK_TIMEOUT);
        let out = format!("{}{}", r.stdout.lock().unwrap(), r.stderr.lock().unwrap());
        match status {
            Some(s) if s.success() => out,
            Some(s) => panic!(
                "{at}: failed ({s})\n--- the block\n{shown}--- its output\n{out}{}",
                self.server_logs()
            ),
            None => panic!(
                "{at}: still running after {BLOCK_TIMEOUT:?}\n--- the block\n{shown}--- its output\n{out}"
            ),
        }
    }

    fn run_sh(&self, at: &str, body: &str) {
        self.run(at, body, &format!("set -euo pipefail\n{body}"));
    }

    fn run_console(&self, at: &str, body: &str) {
        for (cmd, expected) in console_steps(body) {
            let out = self.run(
                at,
                &format!("$ {cmd}\n"),
                &format!("set -o pipefail\n{cmd} 2>&1"),
            );
            if let Err(missing) = matches(&expected, &out) {
                panic!(
                    "{at}: `{cmd}` did not print what the page shows\n--- first line not found, in order\n{missing}\n--- the page shows\n{}\n--- it printed\n{out}",
                    expected.join("\n")
                );
            }
        }
    }

    /// Start a block that ends in a server and wait until `url` answers 200.
    fn serve(&mut self, at: &str, body: &str, url: &str) {
        self.stop_server();
        let mut r = Running::start(self.bash(&format!("set -euo pipefail\n{body}")));
        let t = Instant::now();
        loop {
            if let Some(s) = r.child.try_wait().unwrap() {
                panic!(
                    "{at}: the server exited ({s}) before {url} answered\n{}",
                    r.logs()
                );
            }
            if self.answers(url) {
                break;
            }
            assert!(
                t.elapsed() < READY_TIMEOUT,
                "{at}: {url} did not answer 200 within {READY_TIMEOUT:?}\n{}",
                r.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.server = Some((at.to_string(), r));
    }

    fn answers(&self, url: &str) -> bool {
        self.bash(&format!("exec curl -fsS -o /dev/null --max-time 2 '{url}'"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// SIGTERM to the served `watt-stub`, as a container runtime or Ctrl-C sends it: it must
    /// stop the app and exit 0.
    fn stop_server(&mut self) {
        let Some((at, mut r)) = self.server.take() else {
            return;
        };
        let tree = descendants(r.child.id() as i32);
        let comm = |p: i32| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).map(|c| c.trim().to_string())
        };
        let parent = |p: i32| -> Option<i32> {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
        };
        let stub = tree
            .iter()
            .copied()
            .find(|p| {
                comm(*p).is_ok_and(|c| c == "watt-stub")
                    && parent(*p)
                        .and_then(|pp| comm(pp).ok())
                        .is_none_or(|c| c != "watt-stub")
            })
            .unwrap_or_else(|| panic!("{at}: a serve block must run watt-stub\n{}", r.logs()));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(stub),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = r.wait_exit(STOP_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "{at}: still running {STOP_TIMEOUT:?} after SIGTERM\n{}",
                r.logs()
            )
        });
        assert!(
            status.success(),
            "{at}: watt-stub exited with {status} after SIGTERM, not 0\n{}",
            r.logs()
        );
        let left: Vec<_> = tree.into_iter().filter(|p| alive(*p)).collect();
        assert!(
            left.is_empty(),
            "{at}: processes left behind after SIGTERM: {left:?}"
        );
    }

    fn server_logs(&self) -> String {
        match &self.server {
            Some((at, r)) => format!("\n--- the server started at {at}\n{}", r.logs()),
            None => String::new(),
        }
    }

    /// The registry the docs push to: `localhost:5000`, plain HTTP, no auth.
    fn start_registry(&mut self) {
        if self.registry.is_some() {
            return;
        }
        let dir = self.dir.path().join("registry");
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: localhost:5000\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let mut r = Running::start(self.bash(&format!(
            "command -v docker-registry >/dev/null || {{ echo 'docker-registry is not installed; run ci/containers.sh (ci/test.sh runs it) as root' >&2; exit 1; }}\nexec docker-registry serve '{}'",
            dir.join("config.yml").display()
        )));
        let t = Instant::now();
        while !self.answers("http://localhost:5000/v2/") {
            if let Some(s) = r.child.try_wait().unwrap() {
                panic!("docker-registry exited ({s})\n{}", r.logs());
            }
            assert!(
                t.elapsed() < READY_TIMEOUT,
                "the registry did not start\n{}",
                r.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.registry = Some(r);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A failed block leaves the server and registry up: end them before the namespace.
        self.server = None;
        self.registry = None;
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = self.dir.path();
    }
}

// ---------------------------------------------------------------------------------------------
// Console blocks

/// A console block's commands, each with the lines the page shows it printing.
fn console_steps(body: &str) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for line in body.lines() {
        if continued {
            let (cmd, _) = steps.last_mut().unwrap();
            cmd.push('\n');
            cmd.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push((cmd.to_string(), Vec::new()));
            continued = line.ends_with('\\');
        } else if let Some((_, expected)) = steps.last_mut() {
            expected.push(line.to_string());
        } else {
            panic!("a console block must start with `$ `: {line:?}");
        }
    }
    steps
}

/// Whether every shown line matches a line of `out`, in order; else the first that does not.
fn matches(shown: &[String], out: &str) -> Result<(), String> {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let actual: Vec<String> = out.lines().map(squash).collect();
    let mut next = 0;
    for want in shown {
        let want = squash(want);
        if want.is_empty() || want == "…" {
            continue;
        }
        let parts: Vec<&str> = want.split('…').collect();
        match actual[next..].iter().position(|a| line_matches(&parts, a)) {
            Some(i) => next += i + 1,
            None => return Err(want),
        }
    }
    Ok(())
}

/// `parts` are a shown line split at `…`: the first starts the line, the last ends it, the
/// others appear in order between.
fn line_matches(parts: &[&str], line: &str) -> bool {
    if parts.len() == 1 {
        return line == parts[0];
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn the_matcher_means_what_the_docs_say() {
    let out = "watt: packing\nwatt: wrote api.tar.zst (42.7 MB, 9 layers) in 3.1s\n  run   it\n";
    let ok = |shown: &[&str]| {
        matches(
            &shown.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            out,
        )
    };
    assert!(ok(&["watt: wrote api.tar.zst (…) in …s"]).is_ok());
    assert!(ok(&["…", "watt: packing", "run it"]).is_ok());
    assert!(ok(&["run it", "watt: packing"]).is_err(), "order counts");
    assert!(ok(&["watt: wrote"]).is_err(), "a line matches whole");
    assert!(ok(&["…MB, 9 layers…"]).is_ok());
    let doc = parse(
        "x.md",
        "a `watt build --nope` b\n\n```sh skip-test=npm\nnpx watt\n```\n\n```\nls\n```\n\n- item\n\n  ```console\n  $ watt --version\n  watt …\n  ```\n",
    );
    assert_eq!(doc.inline, vec![(1, "watt build --nope".to_string())]);
    let found: Vec<String> = spans("``a `b` c`` then ` x ` and an unclosed ``` tick").collect();
    assert_eq!(found, ["a `b` c", "x"]);
    assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
    assert_eq!(doc.blocks[0].skip.unwrap().key, "npm");
    assert_eq!(
        console_steps(&doc.blocks[1].body),
        vec![("watt --version".to_string(), vec!["watt …".to_string()])]
    );
    let mut help = Help::default();
    assert_eq!(help.check("watt build --nope").len(), 1);
    assert!(help
        .check("watt build [DIR] [-o OUT] [--dry-run [--json]]")
        .is_empty());
    assert_eq!(help.check("watt build --format oci|tarball").len(), 1);
    assert!(help.check("watt-stub healthcheck [HOST:PORT]").is_empty());
}
