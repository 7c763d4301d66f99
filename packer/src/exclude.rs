//! What never ships: the default deny list (secrets and clutter), the app's `.wattignore` and
//! `.dockerignore`, and `--include` overrides. Every folder the packer walks into the artifact
//! asks [`ShipRules::skips`] about each entry, so the same rules cover service sources,
//! framework outputs (Next's standalone tracing copies `.env*` files) and workspace packages.
//!
//! Paths are matched as they will sit below the artifact's `app/` folder (relative to the app
//! root), so a rule means the same thing for a source folder and for a copy a framework made.
//! Files inside installed packages (below a `node_modules` folder) are left alone: they are what
//! their authors published, and some need their `*.pem` bundles at run time.
//!
//! Order, first match wins: `--include` (gitignore syntax, relative to the app root) → default
//! deny list → `.wattignore` (gitignore syntax; in the app root and in each service folder) →
//! `.dockerignore` (Docker's rules: patterns anchored at the folder holding the file), which
//! prunes only a service's sources, never the build output watt made (a `.dockerignore` written
//! for an in-container build lists `dist` or `.next` because that build recreates them).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

use crate::config::{ResolvedApp, ResolvedService};

/// Why a path was left out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Secret-like (named in the build's warning): what it looks like.
    Secret(&'static str),
    /// Clutter from the default deny list (`.git`, `.DS_Store`, editor and coverage folders).
    Clutter,
    /// A `.wattignore` or `.dockerignore` line: the file it is in.
    IgnoreFile(PathBuf),
}

/// Where a walked folder comes from, which decides whether `.dockerignore` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A service's own folder, shipped whole.
    Source,
    /// Anything a build produced or a framework picked (output folders, copies, packages).
    Output,
}

/// Secret-like names, any depth (gitignore syntax). `.npmrc` and `.yarnrc.yml` are decided by
/// their contents in [`secret_by_content`].
const SECRETS: &[(&str, &str)] = &[
    (".env", "an env file"),
    (".env.*", "an env file"),
    ("!.env.example", ""),
    ("!.env.sample", ""),
    ("*.pem", "a key or certificate"),
    ("*.key", "a private key"),
    ("id_rsa*", "an SSH key"),
    ("id_ed25519*", "an SSH key"),
    (".aws/", "cloud credentials"),
    (".ssh/", "SSH keys"),
];

/// Clutter, any depth. (`coverage/` only directly in a service folder or the app root: deeper,
/// it may be an app's own route folder.)
const CLUTTER: &[&str] = &[
    ".git",
    ".DS_Store",
    ".idea/",
    ".vscode/",
    "*.swp",
    "*.swo",
    ".nyc_output/",
];

/// Registry credentials in `.npmrc` (`//host/:_authToken=…`, `_auth`, `_password`) and
/// `.yarnrc.yml` (`npmAuthToken`, `npmAuthIdent`).
const TOKEN_KEYS: &[&str] = &[
    "_authtoken",
    "_auth",
    "_password",
    "npmauthtoken",
    "npmauthident",
];

pub struct ShipRules {
    root: PathBuf,
    includes: Gitignore,
    secrets: Gitignore,
    clutter: Gitignore,
    /// `.wattignore` files, deepest folder last.
    wattignore: Vec<Gitignore>,
    /// `.dockerignore` files (translated to gitignore lines), deepest folder last.
    dockerignore: Vec<Gitignore>,
    /// Folders directly holding a `coverage/` that is clutter: the app root and service folders.
    coverage_parents: Vec<PathBuf>,
    /// Env files an `envfile` key names (relative to the app root), whatever their name.
    named_env_files: Vec<PathBuf>,
    excluded: Mutex<BTreeMap<String, Reason>>,
}

impl ShipRules {
    /// The rules for `app`; `includes` are `--include` globs (gitignore syntax, relative to the
    /// app root). A malformed ignore file is an error naming the file and line.
    pub fn new(app: &ResolvedApp, includes: &[String]) -> Result<Self> {
        let root = app.root.clone();
        let mut inc = GitignoreBuilder::new(&root);
        for glob in includes {
            inc.add_line(None, glob)
                .with_context(|| format!("--include {glob:?} is not a valid glob"))?;
        }
        let includes = inc.build().context("cannot compile the --include globs")?;

        let mut sec = GitignoreBuilder::new(&root);
        for (line, _) in SECRETS {
            sec.add_line(None, line)?;
        }
        let mut clu = GitignoreBuilder::new(&root);
        for line in CLUTTER {
            clu.add_line(None, line)?;
        }

        let mut folders: Vec<PathBuf> = vec![root.clone()];
        for s in &app.services {
            if s.path.starts_with(&root) && !folders.contains(&s.path) {
                folders.push(s.path.clone());
            }
        }
        // Shallow folders first, so the deepest matching file decides (as nested .gitignore do).
        folders.sort_by_key(|f| f.components().count());
        let mut wattignore = Vec::new();
        let mut dockerignore = Vec::new();
        for dir in &folders {
            let file = dir.join(".wattignore");
            if file.is_file() {
                let mut b = GitignoreBuilder::new(dir);
                if let Some(e) = b.add(&file) {
                    return Err(e).with_context(|| format!("cannot read {}", file.display()));
                }
                wattignore.push(
                    b.build()
                        .with_context(|| format!("cannot read {}", file.display()))?,
                );
            }
            let file = dir.join(".dockerignore");
            if file.is_file() {
                dockerignore.push(docker_rules(dir, &file)?);
            }
        }
        Ok(Self {
            root,
            includes,
            secrets: sec.build()?,
            clutter: clu.build()?,
            wattignore,
            dockerignore,
            coverage_parents: folders,
            named_env_files: crate::env_files::named_files(app),
            excluded: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether the entry at `host` (a file, folder or link on this machine), which would ship
    /// at `logical` (relative to the app root), stays out. Records what it leaves out.
    pub fn skips(&self, logical: &Path, host: &Path, origin: Origin) -> bool {
        match self.decide(logical, host, origin) {
            Some(reason) => {
                let key = logical.to_string_lossy().into_owned();
                if let Ok(mut excluded) = self.excluded.lock() {
                    excluded.entry(key).or_insert(reason);
                }
                true
            }
            None => false,
        }
    }

    fn decide(&self, logical: &Path, host: &Path, origin: Origin) -> Option<Reason> {
        if logical
            .components()
            .any(|c| c == Component::Normal("node_modules".as_ref()))
        {
            return None;
        }
        let is_dir = std::fs::symlink_metadata(host).is_ok_and(|m| m.is_dir());
        let path = self.root.join(logical);
        if self
            .includes
            .matched_path_or_any_parents(&path, is_dir)
            .is_ignore()
        {
            return None;
        }
        if let Match::Ignore(glob) = self.secrets.matched(&path, is_dir) {
            let what = SECRETS
                .iter()
                .find(|(line, _)| *line == glob.original())
                .map_or("a secret", |(_, what)| what);
            return Some(Reason::Secret(what));
        }
        if self.named_env_files.iter().any(|f| f == logical) {
            return Some(Reason::Secret("an env file (envfile)"));
        }
        if let Some(what) = secret_by_content(host, is_dir) {
            return Some(Reason::Secret(what));
        }
        if self.clutter.matched(&path, is_dir).is_ignore()
            || (is_dir
                && logical.file_name().is_some_and(|n| n == "coverage")
                && path
                    .parent()
                    .is_some_and(|p| self.coverage_parents.iter().any(|f| f == p)))
        {
            return Some(Reason::Clutter);
        }
        let files: &[&Vec<Gitignore>] = match origin {
            Origin::Source => &[&self.wattignore, &self.dockerignore],
            Origin::Output => &[&self.wattignore],
        };
        for matchers in files {
            // The deepest file that says something about the path decides.
            for m in matchers.iter().rev() {
                if !path.starts_with(m.path()) {
                    continue;
                }
                match m.matched_path_or_any_parents(&path, is_dir) {
                    Match::Ignore(glob) => {
                        return Some(Reason::IgnoreFile(
                            glob.from().map(Path::to_path_buf).unwrap_or_default(),
                        ))
                    }
                    Match::Whitelist(_) => break,
                    Match::None => {}
                }
            }
        }
        None
    }

    /// What was left out, by path relative to the app root.
    pub fn excluded(&self) -> BTreeMap<String, Reason> {
        self.excluded.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// What was left out with why, as the manifest records it (names only).
    pub fn excluded_for_manifest(&self) -> BTreeMap<String, String> {
        self.excluded()
            .into_iter()
            .map(|(path, reason)| {
                let why = match reason {
                    Reason::Secret(what) => format!("secret: {what}"),
                    Reason::Clutter => "clutter".to_string(),
                    Reason::IgnoreFile(f) => f
                        .strip_prefix(&self.root)
                        .unwrap_or(&f)
                        .display()
                        .to_string(),
                };
                (path, why)
            })
            .collect()
    }

    /// The build's report: each secret-like file named once, the rest counted.
    pub fn warnings(&self) -> Vec<String> {
        let excluded = self.excluded();
        let mut out = Vec::new();
        let secrets: Vec<_> = excluded
            .iter()
            .filter_map(|(p, r)| match r {
                Reason::Secret(what) => Some((p, *what)),
                _ => None,
            })
            .collect();
        if !secrets.is_empty() {
            let mut msg = format!(
                "watt: left out {} secret-like file(s) (the default deny list; `--include GLOB` \
                 ships one anyway):",
                secrets.len()
            );
            for (path, what) in secrets {
                msg.push_str(&format!("\n  {path} ({what})"));
            }
            out.push(msg);
        }
        let mut by_file: BTreeMap<String, usize> = BTreeMap::new();
        for reason in excluded.values() {
            let key = match reason {
                Reason::Secret(_) => continue,
                Reason::Clutter => {
                    "the default deny list (.git, .DS_Store, editor and coverage folders)"
                        .to_string()
                }
                Reason::IgnoreFile(f) => f
                    .strip_prefix(&self.root)
                    .unwrap_or(f)
                    .display()
                    .to_string(),
            };
            *by_file.entry(key).or_default() += 1;
        }
        for (file, n) in by_file {
            out.push(format!("watt: left out {n} path(s) matched by {file}"));
        }
        out
    }
}

/// `.npmrc` / `.yarnrc.yml` files that hold registry credentials.
fn secret_by_content(host: &Path, is_dir: bool) -> Option<&'static str> {
    if is_dir {
        return None;
    }
    let name = host.file_name()?.to_str()?;
    if name != ".npmrc" && name != ".yarnrc.yml" {
        return None;
    }
    // Unreadable: leave it out rather than ship what could not be checked.
    let Ok(text) = std::fs::read_to_string(host) else {
        return Some("a registry config that could not be read");
    };
    let has_token = text.lines().any(|line| {
        let line = line.trim().to_ascii_lowercase();
        if line.starts_with('#') || line.starts_with(';') {
            return false;
        }
        // npm: `//registry/:_authToken=…` or a bare `_auth=…`; yarn: `npmAuthToken: …`, also
        // nested in `npmScopes:` / `npmRegistries:` blocks.
        let key = line.split(['=', ':']).next().unwrap_or("").trim();
        TOKEN_KEYS.iter().any(|t| {
            key == *t || line.contains(&format!(":{t}=")) || line.contains(&format!(":{t} ="))
        })
    });
    has_token.then_some("a registry config holding an auth token")
}

/// A `.dockerignore` as gitignore rules: Docker anchors every pattern at the folder of the file
/// (`foo` means `./foo` only, not `**/foo`) and cleans `./` and leading slashes.
fn docker_rules(dir: &Path, file: &Path) -> Result<Gitignore> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut b = GitignoreBuilder::new(dir);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (neg, pat) = match line.strip_prefix('!') {
            Some(p) => ("!", p.trim()),
            None => ("", line),
        };
        let pat = pat.trim_start_matches("./").trim_start_matches('/');
        if pat.is_empty() || pat == "." {
            continue;
        }
        let anchored = if pat.starts_with("**") {
            format!("{neg}{pat}")
        } else {
            format!("{neg}/{pat}")
        };
        b.add_line(Some(file.to_path_buf()), &anchored)
            .with_context(|| format!("{}:{}: invalid pattern {raw:?}", file.display(), n + 1))?;
    }
    b.build()
        .with_context(|| format!("cannot read {}", file.display()))
}

/// The rules for one service's walked folders: its own folder is a source, and below it the
/// build output (`application.outputDirectory`, `build/`) is not.
pub struct ServiceFilter<'a> {
    pub rules: &'a ShipRules,
    pub svc: &'a ResolvedService,
}

/// Asked about every entry the packer walks into the artifact.
pub trait Filter {
    /// `origin` is the walked folder's; `logical` (relative to the app root, as shipped) and
    /// `host` are the entry's.
    fn skips(&self, logical: &Path, host: &Path, origin: Origin) -> bool;
}

/// Ships everything (tests of the layout).
pub struct KeepAll;

impl Filter for KeepAll {
    fn skips(&self, _: &Path, _: &Path, _: Origin) -> bool {
        false
    }
}

impl Filter for ServiceFilter<'_> {
    fn skips(&self, logical: &Path, host: &Path, origin: Origin) -> bool {
        let origin = match origin {
            Origin::Source
                if [self.svc.application.output_directory.as_str(), "build"]
                    .iter()
                    .any(|out| host.starts_with(self.svc.path.join(out))) =>
            {
                Origin::Output
            }
            o => o,
        };
        self.rules.skips(logical, host, origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::frameworks::testing;
    use std::fs;

    fn write(p: &Path, text: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn app(root: &Path) -> ResolvedApp {
        let mut svc = testing::service(&root.join("web/api"), Kind::Node);
        svc.id = "api".into();
        let mut app = testing::app(&svc);
        app.root = root.to_path_buf();
        app
    }

    fn skipped(rules: &ShipRules, root: &Path, rel: &str, origin: Origin) -> bool {
        rules.skips(Path::new(rel), &root.join(rel), origin)
    }

    #[test]
    fn default_deny_list() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let files = [
            ("web/api/.env", true),
            ("web/api/.env.production", true),
            ("web/api/.env.example", false),
            ("web/api/.env.sample", false),
            ("web/api/certs/server.pem", true),
            ("web/api/tls.key", true),
            ("web/api/id_rsa.pub", true),
            ("web/api/.DS_Store", true),
            ("web/api/routes/index.js", false),
            ("web/api/routes/coverage/index.js", false),
            ("web/api/node_modules/x/.env", false),
            ("web/api/node_modules/ca/root.pem", false),
            ("web/api/.npmrc", true),
            ("web/api/sub/.npmrc", false),
        ];
        for (f, _) in files {
            write(&root.join(f), "x");
        }
        write(
            &root.join("web/api/.npmrc"),
            "//registry.npmjs.org/:_authToken=npm_secret\n",
        );
        write(&root.join("web/api/sub/.npmrc"), "save-exact=true\n");
        for dir in [
            "web/api/.aws",
            "web/api/.ssh",
            "web/api/.git",
            "web/api/coverage",
            "web/api/.vscode",
        ] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        let rules = ShipRules::new(&app(root), &[]).unwrap();
        for (f, want) in files {
            assert_eq!(skipped(&rules, root, f, Origin::Source), want, "{f}");
        }
        for dir in [
            "web/api/.aws",
            "web/api/.ssh",
            "web/api/.git",
            "web/api/coverage",
            "web/api/.vscode",
        ] {
            assert!(skipped(&rules, root, dir, Origin::Output), "{dir}");
        }
        let warnings = rules.warnings().join("\n");
        for named in [
            "web/api/.env",
            "web/api/.npmrc (a registry config holding an auth token)",
            "web/api/.aws (cloud credentials)",
        ] {
            assert!(warnings.contains(named), "{warnings}");
        }
        assert!(
            !warnings.contains("web/api/.DS_Store"),
            "clutter is counted, not named: {warnings}"
        );
    }

    #[test]
    fn yarnrc_with_a_token_is_a_secret() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(".yarnrc.yml");
        write(&f, "npmScopes:\n  acme:\n    npmAuthToken: abc\n");
        assert!(secret_by_content(&f, false).is_some());
        write(&f, "nodeLinker: node-modules\n");
        assert!(secret_by_content(&f, false).is_none());
    }

    #[test]
    fn include_overrides_and_ignore_files_apply() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(&root.join(".wattignore"), "fixtures/\n");
        write(&root.join("web/api/.wattignore"), "*.log\n!keep.log\n");
        write(
            &root.join("web/api/.dockerignore"),
            "dist\nREADME.md\n# c\n",
        );
        for f in [
            "web/api/a.log",
            "web/api/keep.log",
            "web/api/README.md",
            "web/api/dist/index.js",
            "web/api/docs/README.md",
        ] {
            write(&root.join(f), "x");
        }
        fs::create_dir_all(root.join("web/api/fixtures")).unwrap();
        let rules = ShipRules::new(&app(root), &["web/api/.env.production".to_string()]).unwrap();
        write(&root.join("web/api/.env.production"), "X=1");
        assert!(!skipped(
            &rules,
            root,
            "web/api/.env.production",
            Origin::Source
        ));
        assert!(skipped(&rules, root, "web/api/fixtures", Origin::Source));
        assert!(skipped(&rules, root, "web/api/a.log", Origin::Source));
        assert!(!skipped(&rules, root, "web/api/keep.log", Origin::Source));
        // Docker anchors at the file's folder; and never prunes build output.
        assert!(skipped(&rules, root, "web/api/README.md", Origin::Source));
        assert!(!skipped(
            &rules,
            root,
            "web/api/docs/README.md",
            Origin::Source
        ));
        assert!(!skipped(&rules, root, "web/api/README.md", Origin::Output));
        let app = app(root);
        let filter = ServiceFilter {
            rules: &rules,
            svc: &app.services[0],
        };
        let dist = root.join("web/api/dist");
        assert!(!filter.skips(Path::new("web/api/dist"), &dist, Origin::Source));
    }

    #[test]
    fn a_bad_ignore_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join(".wattignore"), "ok\n{a,b\n");
        let err = ShipRules::new(&app(d.path()), &[]).err().unwrap();
        assert!(format!("{err:#}").contains(".wattignore"), "{err:#}");
    }
}
