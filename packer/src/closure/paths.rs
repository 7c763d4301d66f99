//! Path arithmetic on real, absolute paths (no file system access).
use std::path::{Component, Path, PathBuf};

/// `path` relative to `root` when inside it, else `path` itself (for messages about folders
/// outside root, where the absolute path is the useful one).
pub(super) fn rel(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// [`rel`] for messages, where the root itself is `.` rather than nothing.
pub(super) fn shown(root: &Path, path: &Path) -> PathBuf {
    let rel = rel(root, path);
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// The text to give a link at `link` (inside `root`) whose real target is `real` (inside
/// `root`). Keeps the original `text` when it is relative and reaches `real` without leaving
/// root or passing through other links, which is exactly when it still works once the tree is
/// copied elsewhere; otherwise points straight at `real`.
pub(super) fn portable_link_text(root: &Path, link: &Path, text: &Path, real: &Path) -> PathBuf {
    let Some(dir) = link.parent() else {
        return text.to_path_buf();
    };
    if text.is_relative() && lexical_join(root, dir, text).is_some_and(|p| p == real) {
        return text.to_path_buf();
    }
    relative(dir, real)
}

/// `dir/text` with `.` and `..` applied to the words, or `None` when that leaves `root`.
fn lexical_join(root: &Path, dir: &Path, text: &Path) -> Option<PathBuf> {
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

/// The relative path from folder `from` to `to`, both absolute and free of `.`/`..`.
pub(super) fn relative(from: &Path, to: &Path) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
