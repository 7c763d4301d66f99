//! Path arithmetic, in one place for the config, the tree, the closure, the frameworks and the
//! checks: lexical joins (Node's `path.resolve`), relative paths, confinement, and artifact
//! paths (`/`-separated, relative to the artifact root). Nothing here touches the file system:
//! links are followed by whoever knows where they live (the host, or a [`crate::tree::Tree`]).

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

// ---- host paths ----

/// Node's `path.resolve(base, p)`: `.` and `..` are folded on the words, before the file
/// system is asked, so `./x/../a` means `a` even when `x` does not exist (`..` at `/` stays).
pub fn resolve(base: &Path, p: impl AsRef<Path>) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(p).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `dir/text` with `.` and `..` applied to the words, or `None` when the walk leaves `root` on
/// the way (even if it comes back) or `text` is absolute: a link text that stays valid when
/// `root` is copied elsewhere.
pub fn join_inside(root: &Path, dir: &Path, text: &Path) -> Option<PathBuf> {
    if !dir.starts_with(root) {
        return None;
    }
    let mut p = dir.to_path_buf();
    for c in text.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !p.pop() || !p.starts_with(root) {
                    return None;
                }
            }
            Component::Normal(n) => p.push(n),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(p)
}

/// The relative path from folder `from` to `to`, both absolute and free of `.`/`..`; `.` when
/// they are the same.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The text to give a link at `link` (inside `root`) whose real target is `real` (inside
/// `root`). Keeps the original `text` when it is relative and reaches `real` without leaving
/// root or passing through other links, which is exactly when it still works once the tree is
/// copied elsewhere; otherwise points straight at `real`.
pub fn portable_link_text(root: &Path, link: &Path, text: &Path, real: &Path) -> PathBuf {
    let Some(dir) = link.parent() else {
        return text.to_path_buf();
    };
    if text.is_relative() && join_inside(root, dir, text).is_some_and(|p| p == real) {
        return text.to_path_buf();
    }
    relative(dir, real)
}

/// `path` relative to `root` when inside it (empty for `root` itself), else `path` itself (for
/// messages about folders outside root, where the absolute path is the useful one).
pub fn rel_or_whole(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// [`rel_or_whole`] for messages, where the root itself is `.` rather than nothing.
pub fn shown(root: &Path, path: &Path) -> PathBuf {
    let rel = rel_or_whole(root, path);
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

// ---- artifact paths ----

/// `a/b`, where either may be empty.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// The folder holding `path` (`""` for a top-level entry).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// `a/b/../c` → `a/c`; `..` at the top stays at the top (as Node's resolution from `/` does).
pub fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

/// `a//./b` → `a/b`; `None` for an empty path or one with `..` anywhere (what may be inserted
/// into an artifact).
pub fn clean(path: &str) -> Option<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    (!parts.is_empty() && !parts.contains(&"..")).then(|| parts.join("/"))
}

/// Artifact path of `host` (inside `host_root`) placed under `prefix`.
pub fn artifact_path(prefix: &str, host_root: &Path, host: &Path) -> Result<String> {
    let rel = host
        .strip_prefix(host_root)
        .with_context(|| format!("{} is not inside {}", host.display(), host_root.display()))?;
    let mut out = prefix.to_string();
    for c in rel.components() {
        let Component::Normal(part) = c else {
            bail!("unexpected path component in {}", rel.display());
        };
        let Some(part) = part.to_str() else {
            bail!("{} has a name that is not UTF-8; rename it", host.display());
        };
        out = join(&out, part);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_folds_dots_like_node() {
        assert_eq!(resolve(Path::new("/r/a"), "./x/../b"), Path::new("/r/a/b"));
        assert_eq!(resolve(Path::new("/r/a"), "/abs/./p"), Path::new("/abs/p"));
        assert_eq!(resolve(Path::new("/"), "../../x"), Path::new("/x"));
    }

    #[test]
    fn join_inside_refuses_walks_that_leave_the_root() {
        let root = Path::new("/w/app");
        let dir = Path::new("/w/app/node_modules");
        assert_eq!(
            join_inside(root, dir, Path::new(".pnpm/x")),
            Some(PathBuf::from("/w/app/node_modules/.pnpm/x"))
        );
        assert_eq!(
            join_inside(root, dir, Path::new("../lib")),
            Some(PathBuf::from("/w/app/lib"))
        );
        assert_eq!(join_inside(root, dir, Path::new("../../app/lib")), None);
        assert_eq!(join_inside(root, dir, Path::new("/w/app/lib")), None);
        assert_eq!(
            join_inside(root, Path::new("/elsewhere"), Path::new("x")),
            None
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/r/node_modules/@a"), Path::new("/r/packages/s")),
            Path::new("../../packages/s")
        );
        assert_eq!(
            relative(
                Path::new("/r/node_modules"),
                Path::new("/r/node_modules/.pnpm/x")
            ),
            Path::new(".pnpm/x")
        );
        assert_eq!(
            relative(
                Path::new("/r/web/shop"),
                Path::new("/r/node_modules/next/dist/bin/next")
            ),
            Path::new("../../node_modules/next/dist/bin/next")
        );
        assert_eq!(
            relative(Path::new("/r/a"), Path::new("/r/a")),
            Path::new(".")
        );
    }

    #[test]
    fn link_text_kept_when_portable_else_rewritten() {
        let root = Path::new("/w/app");
        let link = Path::new("/w/app/node_modules/x");
        let real = Path::new("/w/app/node_modules/.pnpm/x@1/node_modules/x");
        let pnpm = Path::new(".pnpm/x@1/node_modules/x");
        assert_eq!(portable_link_text(root, link, pnpm, real), pnpm);
        // Leaves root and comes back: breaks once root is copied under another name.
        let detour = Path::new("../../app/node_modules/.pnpm/x@1/node_modules/x");
        assert_eq!(portable_link_text(root, link, detour, real), pnpm);
        let absolute = Path::new("/w/app/node_modules/.pnpm/x@1/node_modules/x");
        assert_eq!(portable_link_text(root, link, absolute, real), pnpm);
        // Goes through another link: the text does not lead to `real` by itself.
        assert_eq!(portable_link_text(root, link, Path::new("y"), real), pnpm);
    }

    #[test]
    fn shown_paths_are_relative_inside_and_whole_outside() {
        let root = Path::new("/w/app");
        assert_eq!(shown(root, Path::new("/w/app")), Path::new("."));
        assert_eq!(shown(root, Path::new("/w/app/a/b")), Path::new("a/b"));
        assert_eq!(shown(root, Path::new("/w/lib")), Path::new("/w/lib"));
        assert_eq!(rel_or_whole(root, Path::new("/w/app")), Path::new(""));
    }

    #[test]
    fn artifact_paths() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "b/c"), "a/b/c");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(normalize("a/./b/../c//d"), "a/c/d");
        assert_eq!(normalize("../a"), "a");
        assert_eq!(clean("a//./b/").as_deref(), Some("a/b"));
        assert_eq!(clean("a/../b"), None);
        assert_eq!(clean("./"), None);
        assert_eq!(
            artifact_path("app", Path::new("/w"), Path::new("/w/web/x.js")).unwrap(),
            "app/web/x.js"
        );
        assert!(artifact_path("app", Path::new("/w"), Path::new("/v/x")).is_err());
    }
}
