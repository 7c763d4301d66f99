//! The artifact as an in-memory file tree: every path it will hold, mapped to where its bytes
//! come from. Sinks (archive today, OCI layers later) only ever see a `Tree`, so every output
//! format packs the same content, and determinism is decided here: paths are kept sorted, parent
//! folders are explicit, and nothing about the host (owner, mtime, umask) is recorded.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::paths;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Read from this host file when the sink writes the tree.
    Path(PathBuf),
    Bytes(Arc<[u8]>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    /// A folder every user may write to, sticky (mode 1777): an image's empty `/tmp`.
    ScratchDir,
    File {
        source: Source,
        executable: bool,
    },
    Symlink {
        target: String,
    },
}

/// Paths are relative, `/`-separated, without `.` or `..` components.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

/// What to do with a symlink met while walking a host folder into the tree.
#[derive(Debug, Clone, Copy)]
pub struct LinkPolicy<'a> {
    /// Links must resolve (lexically) inside this host folder to be kept as links.
    pub confine_to: &'a Path,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keep only the entries `keep` accepts (parent folders of kept entries stay).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Entry) -> bool) {
        self.entries.retain(|p, e| keep(p, e));
    }

    /// Add every entry of `other` (same merge rules as [`Tree::insert`]).
    pub fn merge(&mut self, other: &Tree) -> Result<()> {
        for (path, entry) in other.entries() {
            self.insert(path, entry.clone())?;
        }
        Ok(())
    }

    /// Insert an entry and its parent folders. The same path added twice must mean the same
    /// thing: two services sharing a hoisted package is fine, two different files is a bug.
    pub fn insert(&mut self, path: &str, entry: Entry) -> Result<()> {
        let Some(path) = paths::clean(path) else {
            bail!("invalid artifact path {path:?}");
        };
        let mut parent = String::new();
        for part in path.split('/').take(path.split('/').count() - 1) {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            match self.entries.get(&parent) {
                None => {
                    self.entries.insert(parent.clone(), Entry::Dir);
                }
                Some(Entry::Dir | Entry::ScratchDir) => {}
                Some(_) => bail!("cannot place {path} in the artifact: {parent} is not a folder"),
            }
        }
        match self.entries.get(&path) {
            None => {
                self.entries.insert(path, entry);
            }
            Some(existing) if *existing == entry => {}
            Some(Entry::Dir) if entry == Entry::Dir => {}
            Some(Entry::ScratchDir) if entry == Entry::Dir => {}
            Some(Entry::Dir) if entry == Entry::ScratchDir => {
                self.entries.insert(path, entry);
            }
            Some(existing) => bail!(
                "two different things would be packed at {path}: {} and {}",
                describe(existing),
                describe(&entry)
            ),
        }
        Ok(())
    }

    pub fn add_bytes(
        &mut self,
        path: &str,
        bytes: impl Into<Arc<[u8]>>,
        executable: bool,
    ) -> Result<()> {
        self.insert(
            path,
            Entry::File {
                source: Source::Bytes(bytes.into()),
                executable,
            },
        )
    }

    pub fn add_file(&mut self, path: &str, source: &Path) -> Result<()> {
        let meta =
            fs::metadata(source).with_context(|| format!("cannot read {}", source.display()))?;
        self.insert(
            path,
            Entry::File {
                source: Source::Path(source.to_path_buf()),
                executable: is_executable(&meta),
            },
        )
    }

    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.insert(
            path,
            Entry::Symlink {
                target: target.to_string(),
            },
        )
    }

    /// Copy a host folder into the tree at `dest`, in sorted order, never following symlinks.
    /// `skip` sees each path relative to `source` and prunes it (and everything below) when true.
    /// A symlink is kept as a link when it is relative and stays inside `policy.confine_to`;
    /// anything else fails naming the link, because following it would ship host files the
    /// user never asked for and dropping it would break the app at run time.
    pub fn add_dir(
        &mut self,
        source: &Path,
        dest: &str,
        policy: LinkPolicy<'_>,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        self.insert(dest, Entry::Dir)?;
        self.walk(source, Path::new(""), dest, policy, skip)
    }

    fn walk(
        &mut self,
        root: &Path,
        rel: &Path,
        dest: &str,
        policy: LinkPolicy<'_>,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        let dir = root.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("cannot read folder {}", dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read folder {}", dir.display()))?;
        names.sort();
        for name in names {
            let child_rel = rel.join(&name);
            if skip(&child_rel) {
                continue;
            }
            let host = root.join(&child_rel);
            let child_dest = paths::artifact_path(dest, root, &host)?;
            let meta = fs::symlink_metadata(&host)
                .with_context(|| format!("cannot read {}", host.display()))?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = fs::read_link(&host)
                    .with_context(|| format!("cannot read link {}", host.display()))?;
                check_link(&host, &target, policy.confine_to)?;
                let Some(target) = target.to_str() else {
                    bail!("link {} has a target that is not UTF-8", host.display());
                };
                self.add_symlink(&child_dest, target)?;
            } else if ft.is_dir() {
                self.insert(&child_dest, Entry::Dir)?;
                self.walk(root, &child_rel, dest, policy, skip)?;
            } else if ft.is_file() {
                self.insert(
                    &child_dest,
                    Entry::File {
                        source: Source::Path(host),
                        executable: is_executable(&meta),
                    },
                )?;
            }
            // Sockets, fifos and devices are never part of an app: leave them out.
        }
        Ok(())
    }
}

/// Why a path of the tree leads to no entry of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The link at `link` points (`target`) above the artifact root or at an absolute path.
    Escapes { link: String, target: String },
    /// Nothing is at `path` (reached after following the links on the way).
    Missing { path: String },
    /// More than [`MAX_LINKS`] links in a row: a cycle.
    Cycle,
}

/// Links followed in one resolution before it is called a cycle (Linux's `MAXSYMLINKS`).
pub const MAX_LINKS: usize = 40;

impl Tree {
    /// `path` with every link on the way followed through the tree itself (as the kernel does
    /// once the artifact is extracted), and what is there.
    pub fn resolve(&self, path: &str) -> Result<(String, &Entry), Unresolved> {
        static ROOT: Entry = Entry::Dir;
        // Words still to walk, last first; `..` after a link applies to where the link led.
        let mut todo: Vec<String> = path.rsplit('/').map(str::to_string).collect();
        let mut at: Vec<String> = Vec::new();
        let mut last_link: Option<(String, String)> = None;
        let mut hops = 0;
        while let Some(word) = todo.pop() {
            match word.as_str() {
                "" | "." => continue,
                ".." => {
                    if at.pop().is_none() {
                        let (link, target) =
                            last_link.unwrap_or_else(|| (path.to_string(), path.to_string()));
                        return Err(Unresolved::Escapes { link, target });
                    }
                    continue;
                }
                _ => at.push(word),
            }
            let here = at.join("/");
            match self.entries.get(&here) {
                None => return Err(Unresolved::Missing { path: here }),
                Some(Entry::Symlink { target }) => {
                    hops += 1;
                    if hops > MAX_LINKS {
                        return Err(Unresolved::Cycle);
                    }
                    if target.starts_with('/') {
                        return Err(Unresolved::Escapes {
                            link: here,
                            target: target.clone(),
                        });
                    }
                    at.pop();
                    todo.extend(target.rsplit('/').map(str::to_string));
                    last_link = Some((here, target.clone()));
                }
                Some(_) => {}
            }
        }
        let here = at.join("/");
        match self.entries.get(&here) {
            Some(entry) => Ok((here, entry)),
            None if here.is_empty() => Ok((here, &ROOT)),
            None => Err(Unresolved::Missing { path: here }),
        }
    }

    /// Every link of the tree must lead, through the tree, to an entry of it: checking each
    /// link's text alone lets a chain of in-root links leave the root, and a link to a file
    /// that was not shipped would ship dangling. The error names every such link.
    pub fn check_links(&self) -> Result<()> {
        let mut broken = Vec::new();
        for (path, entry) in &self.entries {
            let Entry::Symlink { target } = entry else {
                continue;
            };
            let why = match self.resolve(path) {
                Ok(_) => continue,
                Err(Unresolved::Escapes { link, .. }) if link == *path => {
                    "which leads outside the artifact".to_string()
                }
                Err(Unresolved::Escapes { link, target: t }) => {
                    format!("which leads outside the artifact through the link {link} (→ {t})")
                }
                Err(Unresolved::Missing { path: missing }) => format!(
                    "but {missing} is not in the artifact (it was not shipped: left out by the \
                     ignore rules, or not part of what a service needs)"
                ),
                Err(Unresolved::Cycle) => "which is a cycle of links".to_string(),
            };
            broken.push(format!("{path} is a symlink to {target}, {why}"));
        }
        if broken.is_empty() {
            return Ok(());
        }
        let more = broken.len().saturating_sub(10);
        broken.truncate(10);
        let mut msg = format!(
            "the artifact would hold {} symlink(s) that do not resolve inside it:\n  {}",
            broken.len() + more,
            broken.join("\n  ")
        );
        if more > 0 {
            msg.push_str(&format!("\n  … and {more} more"));
        }
        msg.push_str(
            "\nReplace each link with the files it should point to, point it at a shipped \
             file, or ship its target (`--include`, when the ignore rules left it out)",
        );
        bail!(msg)
    }
}

/// A link may stay a link only when it is relative and resolves inside `confine_to`.
pub fn check_link(link: &Path, target: &Path, confine_to: &Path) -> Result<()> {
    if target.is_absolute() {
        bail!(
            "{} is a symlink to the absolute path {}, which will not exist in the artifact; \
             make it relative or replace it with the files",
            link.display(),
            target.display()
        );
    }
    let parent = link.parent().unwrap_or(Path::new(""));
    let resolved = paths::resolve(parent, target);
    if !resolved.starts_with(confine_to) {
        bail!(
            "{} is a symlink to {}, outside the app root {}; the artifact cannot carry it. \
             Move the files inside the app or replace the link with a copy",
            link.display(),
            target.display(),
            confine_to.display()
        );
    }
    Ok(())
}

fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

pub fn describe(e: &Entry) -> String {
    match e {
        Entry::Dir | Entry::ScratchDir => "a folder".into(),
        Entry::File {
            source: Source::Path(p),
            ..
        } => p.display().to_string(),
        Entry::File { .. } => "generated content".into(),
        Entry::Symlink { target } => format!("a link to {target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_explicit_and_order_is_sorted() {
        let mut t = Tree::new();
        t.add_bytes("b/c/d.txt", b"x".to_vec(), false).unwrap();
        t.add_bytes("a.txt", b"y".to_vec(), false).unwrap();
        let paths: Vec<_> = t.entries().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a.txt", "b", "b/c", "b/c/d.txt"]);
    }

    #[test]
    fn conflicting_entries_are_refused_but_identical_ones_merge() {
        let mut t = Tree::new();
        t.add_symlink("x", "y").unwrap();
        t.add_symlink("x", "y").unwrap();
        let err = t.add_bytes("x", b"z".to_vec(), false).unwrap_err();
        assert!(err.to_string().contains("two different things"), "{err}");
    }

    #[test]
    fn links_leaving_the_root_are_refused_with_their_name() {
        let root = Path::new("/app");
        assert!(check_link(Path::new("/app/web/x"), Path::new("../lib/y"), root).is_ok());
        let err =
            check_link(Path::new("/app/web/x"), Path::new("../../etc/passwd"), root).unwrap_err();
        assert!(err.to_string().contains("/app/web/x"), "{err}");
        let err = check_link(Path::new("/app/web/x"), Path::new("/etc/passwd"), root).unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
    }

    #[test]
    fn folders_keep_their_structure_and_skip_what_is_asked() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "a/package.json",
            "a/sub/package.json",
            "a/node_modules/x/i.js",
        ] {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        std::os::unix::fs::symlink("../package.json", d.path().join("a/sub/link")).unwrap();
        let mut t = Tree::new();
        let policy = LinkPolicy {
            confine_to: d.path(),
        };
        t.add_dir(&d.path().join("a"), "app/a", policy, &|rel| {
            rel.ends_with("node_modules")
        })
        .unwrap();
        let paths: Vec<_> = t.entries().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "app",
                "app/a",
                "app/a/package.json",
                "app/a/sub",
                "app/a/sub/link",
                "app/a/sub/package.json"
            ]
        );
        assert_eq!(
            t.get("app/a/sub/link"),
            Some(&Entry::Symlink {
                target: "../package.json".into()
            })
        );
    }

    #[test]
    fn links_resolve_through_the_tree() {
        let mut t = Tree::new();
        t.add_bytes("app/lib/x.js", b"x".to_vec(), false).unwrap();
        t.add_symlink("app/a", "lib").unwrap();
        t.add_symlink("app/b", "a/x.js").unwrap();
        assert_eq!(
            t.resolve("app/b").map(|(p, _)| p),
            Ok("app/lib/x.js".to_string())
        );
        t.check_links().unwrap();

        // Each link's text stays inside (`app/web/up/../../etc` is `app/etc`), the chain does not.
        t.add_symlink("app/web/up", "..").unwrap();
        t.add_symlink("app/web/out", "up/../../etc").unwrap();
        let err = t.check_links().unwrap_err().to_string();
        assert!(
            err.contains(
                "app/web/out is a symlink to up/../../etc, which leads outside the artifact \
                 through the link app/web/up (→ ..)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_link_to_what_was_not_shipped_is_named() {
        let mut t = Tree::new();
        t.add_bytes("app/api/index.js", b"x".to_vec(), false)
            .unwrap();
        t.add_symlink("app/api/config", "../shared/config.json")
            .unwrap();
        t.add_symlink("app/api/loop", "loop").unwrap();
        let err = t.check_links().unwrap_err().to_string();
        assert!(
            err.contains("app/api/config is a symlink to ../shared/config.json, but app/shared is not in the artifact"),
            "{err}"
        );
        assert!(
            err.contains("app/api/loop is a symlink to loop, which is a cycle"),
            "{err}"
        );
    }

    #[test]
    fn paths_cannot_escape() {
        let mut t = Tree::new();
        assert!(t.add_bytes("../x", b"".to_vec(), false).is_err());
        assert!(t.add_bytes("", b"".to_vec(), false).is_err());
    }
}
