//! What a service's own code loads: starting from the files it runs (its entry, plugins,
//! preloads), every file reached through relative imports inside the service folder, and every
//! bare specifier those files name. The closure ships the packages named; `verify` then checks
//! each specifier resolves inside the artifact.

mod aliases;
mod lexer;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

pub use lexer::{imports, How, Import};

/// One bare specifier (`fastify`, `@scope/pkg/sub`, `#internal`) in one reached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BareImport {
    /// The importing file (host path).
    pub file: PathBuf,
    pub specifier: String,
    pub how: How,
    pub line: usize,
    pub in_try: bool,
}

/// A relative import that names no file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFile {
    pub file: PathBuf,
    pub specifier: String,
    pub line: usize,
    pub in_try: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Reached {
    /// Every file read, sorted.
    pub files: Vec<PathBuf>,
    /// In file order, then source order.
    pub bare: Vec<BareImport>,
    pub missing_files: Vec<MissingFile>,
}

impl Reached {
    /// The package names the bare specifiers load, each with the folder the first file
    /// importing it is in (where Node starts looking), sorted by name.
    pub fn packages(&self) -> Vec<(String, PathBuf)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for b in &self.bare {
            let Some(name) = package_name(&b.specifier) else {
                continue;
            };
            if seen.insert(name.to_string()) {
                let dir = b.file.parent().unwrap_or(Path::new("/")).to_path_buf();
                out.push((name.to_string(), dir));
            }
        }
        out.sort();
        out
    }
}

/// Extensions of files Node runs as code (TypeScript through its type stripping).
const CODE_EXTS: &[&str] = &["js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx"];
/// What `require('./x')` tries after the exact name, in Node's order (TypeScript last, for
/// services that rely on type stripping with extensionless imports through a loader).
const PROBE_EXTS: &[&str] = &["js", "json", "node", "mjs", "cjs", "ts", "mts", "cts"];

/// Follows the relative imports of `entries` inside `confine` (a service folder), never into a
/// `node_modules` folder, and collects what each reached file imports.
/// `confine` must be canonical; so are the files reached.
pub fn reach(entries: &[PathBuf], confine: &Path) -> Reached {
    let mut out = Reached::default();
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<PathBuf> = entries.iter().cloned().collect();
    while let Some(file) = queue.pop_front() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !CODE_EXTS.contains(&ext) {
            continue;
        }
        let source = String::from_utf8_lossy(&bytes);
        let typescript = matches!(ext, "ts" | "mts" | "cts" | "tsx");
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        for import in imports(&source, typescript) {
            let spec = import.specifier.as_str();
            if is_builtin(spec) || is_url(spec) {
                continue;
            }
            if is_relative(spec) {
                let rel = spec.strip_prefix("file://").unwrap_or(spec);
                let rel = rel.split(['?', '#']).next().unwrap_or(rel);
                match resolve_file(&dir.join(rel)).and_then(|f| std::fs::canonicalize(f).ok()) {
                    Some(found) => {
                        if found.starts_with(confine) && !in_node_modules(&found, confine) {
                            queue.push_back(found);
                        }
                    }
                    None => out.missing_files.push(MissingFile {
                        file: file.clone(),
                        specifier: import.specifier.clone(),
                        line: import.line,
                        in_try: import.in_try,
                    }),
                }
                continue;
            }
            out.bare.push(BareImport {
                file: file.clone(),
                specifier: import.specifier,
                how: import.how,
                line: import.line,
                in_try: import.in_try,
            });
        }
    }
    out.files = seen.into_iter().collect();
    out
}

/// The bare imports of the code files below `dirs` that `reached` did not reach: files that
/// ship but that nothing the service starts imports by a literal path (routes loaded by
/// `@fastify/autoload`, scripts). Whether they run is unknown, so the caller ships what they
/// import when it is installed and no devDependency, and only warns about misses. Tests,
/// mocks, `*.test.*`, `*.spec.*`, `*.config.*` and type declarations are left out: they never
/// run in production. So are the compile-time aliases of a file's tsconfig (`aliases.rs`):
/// such a file is a source some build compiles, and the alias names no package.
pub fn loose(dirs: &[PathBuf], reached: &Reached) -> Vec<BareImport> {
    const MAX_FILES: usize = 10_000;
    let reached: BTreeSet<&Path> = reached.files.iter().map(PathBuf::as_path).collect();
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.iter().filter(|d| d.is_dir()).cloned().collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                let skip = name.starts_with('.')
                    || matches!(
                        name.as_str(),
                        "node_modules" | "test" | "tests" | "__tests__" | "__mocks__"
                    );
                if !skip {
                    stack.push(e.path());
                }
            } else if ft.is_file() && runs_in_production(&name) {
                let path = std::fs::canonicalize(e.path()).unwrap_or_else(|_| e.path());
                if !reached.contains(path.as_path()) && files.len() < MAX_FILES {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    let mut aliases = aliases::Aliases::default();
    let mut out = Vec::new();
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        let typescript = matches!(ext, "ts" | "mts" | "cts" | "tsx");
        for import in imports(&String::from_utf8_lossy(&bytes), typescript) {
            if package_name(&import.specifier).is_some()
                && !aliases.covers(&file, &import.specifier)
            {
                out.push(BareImport {
                    file: file.clone(),
                    specifier: import.specifier,
                    how: import.how,
                    line: import.line,
                    in_try: import.in_try,
                });
            }
        }
    }
    out
}

fn runs_in_production(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    CODE_EXTS.contains(&ext)
        && !stem.ends_with(".d")
        && !stem.ends_with(".test")
        && !stem.ends_with(".spec")
        && !stem.ends_with(".config")
        && !stem.contains(".config.")
}

fn in_node_modules(file: &Path, confine: &Path) -> bool {
    file.strip_prefix(confine)
        .map(|rel| rel.components().any(|c| c.as_os_str() == "node_modules"))
        .unwrap_or(true)
}

/// Node's file lookup for a relative specifier or a package's `main`: as is, with an
/// extension, a folder's package.json `main`, or its `index`.
pub(crate) fn resolve_file(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    for ext in PROBE_EXTS {
        let mut with = path.as_os_str().to_owned();
        with.push(format!(".{ext}"));
        let with = PathBuf::from(with);
        if with.is_file() {
            return Some(with);
        }
    }
    if path.is_dir() {
        if let Some(main) = std::fs::read_to_string(path.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("main").and_then(|m| m.as_str()).map(str::to_string))
        {
            if let Some(found) = resolve_file(&path.join(main)) {
                return Some(found);
            }
        }
        for ext in PROBE_EXTS {
            let index = path.join(format!("index.{ext}"));
            if index.is_file() {
                return Some(index);
            }
        }
    }
    None
}

pub fn is_relative(spec: &str) -> bool {
    spec.starts_with("./")
        || spec.starts_with("../")
        || spec == "."
        || spec == ".."
        || spec.starts_with('/')
        || spec.starts_with("file://")
}

/// `data:`, `http:` and other URL schemes (not `file:`): nothing to find on disk.
fn is_url(spec: &str) -> bool {
    match spec.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme != "file"
                && scheme != "node"
                && scheme.bytes().all(|b| b.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// Node's built-in modules (`require('module').builtinModules` of Node 24, plus the ones that
/// exist only with the `node:` prefix).
pub fn is_builtin(spec: &str) -> bool {
    if spec.starts_with("node:") {
        return true;
    }
    const BUILTINS: &[&str] = &[
        "_http_agent",
        "_http_client",
        "_http_common",
        "_http_incoming",
        "_http_outgoing",
        "_http_server",
        "_stream_duplex",
        "_stream_passthrough",
        "_stream_readable",
        "_stream_transform",
        "_stream_wrap",
        "_stream_writable",
        "_tls_common",
        "_tls_wrap",
        "assert",
        "assert/strict",
        "async_hooks",
        "buffer",
        "child_process",
        "cluster",
        "console",
        "constants",
        "crypto",
        "dgram",
        "diagnostics_channel",
        "dns",
        "dns/promises",
        "domain",
        "events",
        "fs",
        "fs/promises",
        "http",
        "http2",
        "https",
        "inspector",
        "inspector/promises",
        "module",
        "net",
        "os",
        "path",
        "path/posix",
        "path/win32",
        "perf_hooks",
        "process",
        "punycode",
        "querystring",
        "readline",
        "readline/promises",
        "repl",
        "stream",
        "stream/consumers",
        "stream/promises",
        "stream/web",
        "string_decoder",
        "sys",
        "timers",
        "timers/promises",
        "tls",
        "trace_events",
        "tty",
        "url",
        "util",
        "util/types",
        "v8",
        "vm",
        "wasi",
        "worker_threads",
        "zlib",
    ];
    BUILTINS.contains(&spec)
}

/// The package a bare specifier loads: `@scope/name` or `name`, without the subpath. `None`
/// for builtins, relative paths, URLs and `#imports`.
pub fn package_name(spec: &str) -> Option<&str> {
    if is_builtin(spec) || is_relative(spec) || is_url(spec) || spec.starts_with('#') {
        return None;
    }
    let end = if spec.starts_with('@') {
        let first = spec.find('/')?;
        spec[first + 1..]
            .find('/')
            .map_or(spec.len(), |i| first + 1 + i)
    } else {
        spec.find('/').unwrap_or(spec.len())
    };
    let name = &spec[..end];
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_drop_the_subpath() {
        assert_eq!(package_name("fastify"), Some("fastify"));
        assert_eq!(package_name("lit/decorators.js"), Some("lit"));
        assert_eq!(
            package_name("@platformatic/control"),
            Some("@platformatic/control")
        );
        assert_eq!(package_name("@a/b/c/d"), Some("@a/b"));
        assert_eq!(package_name("@a"), None);
        assert_eq!(package_name("node:fs"), None);
        assert_eq!(package_name("fs/promises"), None);
        assert_eq!(package_name("./x"), None);
        assert_eq!(package_name("#db"), None);
        assert_eq!(package_name("data:text/javascript,1"), None);
    }

    #[test]
    fn reach_follows_relative_imports_inside_the_service_only() {
        let d = tempfile::tempdir().unwrap();
        let svc = d.path().join("svc");
        let write = |rel: &str, text: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "svc/index.js",
            "import './lib/a.js'\nimport x from 'x'\nrequire('./dir')",
        );
        write(
            "svc/lib/a.js",
            "import y from 'y/sub'\nimport '../missing.js'",
        );
        write("svc/dir/index.js", "require('z')\nrequire('fs')");
        write("svc/unreached.js", "import 'never'");
        write("svc/node_modules/p/index.js", "import 'inside-a-package'");
        write("svc/eslint.config.js", "import 'dev-only'");
        write(
            "svc/lib/b.ts",
            "import type T from 't'\nimport { n } from '../node_modules/p/index.js'",
        );
        write("outside.js", "import 'outside'");
        std::fs::write(svc.join("lib/a.js"), "import y from 'y/sub'\nimport '../missing.js'\nimport './b.ts'\nimport '../../outside.js'").unwrap();
        let svc = std::fs::canonicalize(&svc).unwrap();
        let r = reach(&[svc.join("index.js")], &svc);
        let bare: Vec<_> = r.bare.iter().map(|b| b.specifier.as_str()).collect();
        assert_eq!(bare, ["x", "y/sub", "z"]);
        assert_eq!(r.missing_files.len(), 1, "{:?}", r.missing_files);
        assert_eq!(r.missing_files[0].specifier, "../missing.js");
        let names: Vec<_> = r.packages().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["x", "y", "z"]);

        // Shipped files nothing imports, minus what never runs in production.
        write("svc/routes/users.js", "import 'autoloaded-dep'");
        write("svc/test/a.test.js", "import 'test-only'");
        write("svc/lib/x.spec.ts", "import 'spec-only'");
        write("svc/types.d.ts", "import 'types-only'");
        // A source a build compiles, through its tsconfig's aliases.
        write(
            "svc/tsconfig.json",
            r#"{ "compilerOptions": { "paths": { "~/*": ["./src/*"] } } }"#,
        );
        write(
            "svc/src/page.tsx",
            "import db from '~/db'\nimport r from 'react'",
        );
        let loose: Vec<_> = loose(std::slice::from_ref(&svc), &r)
            .into_iter()
            .map(|b| b.specifier)
            .collect();
        assert_eq!(loose, ["autoloaded-dep", "react", "never"]);
    }
}
