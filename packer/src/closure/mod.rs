//! Production dependency closure of one service: which installed packages production needs, and
//! where each one lands in the artifact.
//!
//! The artifact mirrors the app root (a file at `<root>/x/y` ships at `x/y`), so everything here
//! is about keeping Node's module resolution working after the copy:
//!
//! * Packages are found the way Node finds them: from the requiring package's real folder, up
//!   through every `node_modules` folder. That one rule covers npm's hoisting and nesting, npm
//!   workspaces and pnpm's `.pnpm/<pkg>@<ver>/node_modules/` siblings alike.
//! * Symlinks that stay inside the root (pnpm's store links, workspace links) ship as symlinks,
//!   and the folders they point at ship as real files at their own place.
//! * Anything that lives outside the root (a link escaping it, or a `node_modules` above it) is
//!   copied in as real files at a place where Node, starting from whoever requires it, finds it:
//!   where the disk has it relative to its requirer when that place is free (a package nested
//!   under its requirer stays nested), so that every service of the app makes the same choice
//!   and their closures merge.
//!
//! # What is followed
//!
//! From the service's `dependencies`, `optionalDependencies` (of its package.json, else of the
//! nearest one above it inside root, as Node reads it), the request's extras and every package
//! its code imports (never `devDependencies`); then, for each package reached, its `dependencies`,
//! `optionalDependencies` (skipped when not installed) and installed `peerDependencies`.
//! Optional peers (`peerDependenciesMeta.<name>.optional`) are followed only to packages the
//! rest of the closure ships anyway: package managers never install them for their dependent,
//! so an installed one belongs to someone else (often a devDependency, like typescript) and
//! `npm install --omit=dev` would not have it. Excluded names are only left out as roots from
//! package.json: imported by the service or needed by a shipped package, they ship (when
//! installed; a missing one is no error).
//! A missing required dependency is an error naming it and who requires it.
//!
//! # Contract with the copier
//!
//! For each [`PackageDir`], copy the files under `source` to `dest` recursively, **skipping every
//! folder named `node_modules`** at any depth (which also drops `node_modules/.bin`): the nested
//! packages production needs are entries of their own. Copy symlinks found inside a package as
//! they are. Then create each [`Link`] as a symlink whose text is `target`. Entries may nest
//! (`packages/shared` and `packages/shared/node_modules/ms`); parent folders that no entry
//! names (`node_modules`, `node_modules/.pnpm/x@1/node_modules`) are plain folders to create.

mod manifest;
mod walk;

use std::io;
use std::path::{Path, PathBuf};

/// What to compute the closure of.
#[derive(Debug, Clone, Copy)]
pub struct ClosureRequest<'a> {
    /// App root (canonical). Everything shipped is placed relative to it.
    pub root: &'a Path,
    /// The service folder (canonical, inside root). Its package.json gives the roots: its
    /// `dependencies` and `optionalDependencies`, never `devDependencies`. A service without a
    /// package.json has no roots but `extra`.
    pub service_dir: &'a Path,
    /// Extra package names to include as if listed in `dependencies` (e.g. `fastify` for a
    /// plugin service whose Fastify comes from elsewhere). Missing extras are an error.
    pub extra: &'a [String],
    /// Package names the service's package.json lists that are not roots (Watt's own runtime,
    /// replaced by the stub): e.g. `wattpm`, `@platformatic/runtime`. Never wins over `extra`
    /// (a capability run through its own package), `imported` nor another package's
    /// dependencies: a Watt package ships exactly when something that ships loads it.
    pub exclude: &'a [String],
    /// Package names the service's code imports, each with the folder Node starts looking from
    /// (the importing file's). Roots whatever package.json declares; those not installed are
    /// skipped (the import check reports them with the file).
    pub imported: &'a [(String, PathBuf)],
}

/// Everything one service needs at run time from `node_modules` (and from workspace packages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    /// Sorted by `dest`, no duplicates.
    pub packages: Vec<PackageDir>,
    /// Symlinks to recreate as symlinks (node_modules entries that point elsewhere inside root,
    /// e.g. pnpm's `node_modules/x -> .pnpm/x@1/node_modules/x`, npm workspaces'
    /// `node_modules/@app/shared -> ../../packages/shared`). Sorted by `path`, no duplicates.
    pub links: Vec<Link>,
}

/// One package folder to ship. Copy it following the module's contract: its files, minus every
/// nested `node_modules` folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageDir {
    /// The package.json `name`, or the name it was required by when it has none.
    pub name: String,
    /// The package.json `version`.
    pub version: Option<String>,
    /// Where the package's files go, relative to root.
    pub dest: PathBuf,
    /// Where to read them from (absolute, real). Equal to root.join(dest) unless the package
    /// was reached outside root and is copied in as real files.
    pub source: PathBuf,
}

/// A symlink to recreate in the artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    /// Where the link lives, relative to root.
    pub path: PathBuf,
    /// The link text: always relative, and resolving inside root to a shipped folder. It is the
    /// original text unless that was absolute or went through other links or outside root, in
    /// which case it is rewritten to point straight at the real folder.
    pub target: PathBuf,
}

/// Why no closure could be computed. The messages are shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("service folder {} is not inside the app root {}", service.display(), root.display())]
    ServiceOutsideRoot { service: PathBuf, root: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not valid JSON: {source}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid dependency name `{name}` in {}", manifest.display())]
    InvalidName { name: String, manifest: PathBuf },
    #[error(
        "`{name}` is required by {required_by} but is not installed: no node_modules/{name} in {} \
         or any folder above it. Run `npm install` (or `pnpm install`) in the app root first",
        from.display()
    )]
    Missing {
        name: String,
        required_by: String,
        from: PathBuf,
    },
    #[error(
        "the package `{name}`, needed by the service {} at run time, is not installed: no \
         node_modules/{name} in {} or any folder above it. Add it to the service's \
         `dependencies` and run `npm install` (or `pnpm install`)",
        service.display(), service.display()
    )]
    MissingExtra { name: String, service: PathBuf },
    #[error(
        "{} would have to hold two different packages, {} and {}",
        dest.display(), first.display(), second.display()
    )]
    Conflict {
        dest: PathBuf,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "{} lies under the link {} -> {}, so copying it would write through the link: this \
         node_modules layout is not supported",
        dest.display(), link.display(), target.display()
    )]
    ThroughLink {
        dest: PathBuf,
        link: PathBuf,
        target: PathBuf,
    },
    #[error(
        "node_modules nest too deep at {} while placing `{name}` from {}: a dependency cycle \
         among packages outside the app root?",
        dest.display(), from.display()
    )]
    TooDeep {
        name: String,
        dest: PathBuf,
        from: PathBuf,
    },
}

/// Computes the production closure of `req.service_dir`. See the module docs for the layout.
pub fn production_closure(req: &ClosureRequest) -> Result<Closure, ClosureError> {
    walk::production_closure(req)
}
