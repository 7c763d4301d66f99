//! Why an installed production package is not in the artifact. Every package the lockfile
//! lists as installed and not dev-only, but that does not ship, gets one [`Reason`], computed
//! from the same closures `pack` uses: what each service's dependencies reach with Watt's
//! runtime packages cut (what ships) and without the cut (what Watt's own runtime would add).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use super::npm::Lockfile;
use crate::closure::{production_closure, Closure, ClosureRequest};
use crate::config::ResolvedService;

/// What one service's (or the app root's) dependencies reach.
pub(crate) struct Reach {
    /// The service, or `None` for the app root's package.json (no service runs it).
    service: Option<(String, String)>,
    /// Whether its closure ships (else only its framework's output does).
    ships: bool,
    /// name@version reached with Watt's runtime packages cut: what ships for it.
    cut: BTreeSet<(String, Option<String>)>,
    /// … and without the cut.
    full: BTreeSet<(String, Option<String>)>,
}

impl Reach {
    /// `shipped`: the closure of `req` that ships, when one does (pack computed it already);
    /// otherwise the closure is computed here, only for explaining.
    pub fn of(
        svc: Option<&ResolvedService>,
        req: &ClosureRequest<'_>,
        shipped: Option<&Closure>,
    ) -> Reach {
        let names = |c: &Closure| -> BTreeSet<(String, Option<String>)> {
            c.packages
                .iter()
                .map(|p| (p.name.clone(), p.version.clone()))
                .collect()
        };
        // A closure that cannot be computed reaches nothing here: its packages then come out
        // `unexplained`, never silently explained (the build itself reports real misses).
        let computed = |req: &ClosureRequest<'_>| {
            production_closure(req)
                .map(|c| names(&c))
                .unwrap_or_default()
        };
        let full = computed(&ClosureRequest {
            exclude: &[],
            ..*req
        });
        Reach {
            service: svc.map(|s| (s.id.clone(), s.kind.to_string())),
            ships: shipped.is_some(),
            cut: shipped.map_or_else(|| computed(req), names),
            full,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// In the lockfile, not on disk (an optional dependency for another platform).
    NotInstalled,
    /// A dependency of services that ship their framework's output instead of their
    /// `node_modules` (Next's standalone trace, static files): that output does not load it.
    FrameworkOutput,
    /// Reached only through Watt's runtime packages, which watt-stub replaces.
    WattRuntime,
    /// A service's own package whose package.json does not ship: the service ships only its
    /// build output (static files), or nothing (the stub serves it, like a gateway).
    ServiceOutput,
    /// Listed only by the app root's package.json, which no service runs.
    RootOnly,
    /// No service's dependencies or imports reach it.
    Unreached,
    /// A closure says it ships, yet it is not in the artifact: a bug.
    Unexplained,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Omitted {
    pub name: String,
    pub version: String,
    /// Where it is installed, relative to the app root.
    pub path: String,
    pub reason: Reason,
    /// The services concerned (`framework-output`: whose output leaves it out; `unexplained`:
    /// whose closure has it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    pub why: String,
}

/// A service whose own package.json does not ship: (id, kind, folder relative to the root).
pub(crate) type UnshippedService = (String, String, String);

pub(crate) fn explain(
    root: &Path,
    unshipped: &[UnshippedService],
    lock: &Lockfile,
    shipped: &BTreeSet<(String, Option<String>)>,
    reach: &[Reach],
) -> Vec<Omitted> {
    let mut out = Vec::new();
    if !lock.lists_installed {
        return out;
    }
    for ((name, version), locked) in &lock.packages {
        let key = (name.clone(), version.clone());
        if locked.dev || shipped.contains(&key) {
            continue;
        }
        let path = locked.path.clone().unwrap_or_default();
        let with =
            |f: &dyn Fn(&Reach) -> bool| -> Vec<&Reach> { reach.iter().filter(|r| f(r)).collect() };
        let ids = |rs: &[&Reach]| -> Vec<String> {
            rs.iter()
                .filter_map(|r| r.service.as_ref().map(|(id, _)| id.clone()))
                .collect()
        };
        let shipping = with(&|r| r.ships && r.service.is_some() && r.cut.contains(&key));
        let output = with(&|r| !r.ships && r.service.is_some() && r.cut.contains(&key));
        let own: Vec<&UnshippedService> = unshipped.iter().filter(|u| u.2 == path).collect();
        let (reason, services, why) =
            if !root.join(&path).is_dir() {
                (
                    Reason::NotInstalled,
                    vec![],
                    "in the lockfile but not installed (an optional dependency for another \
                 platform)"
                        .to_string(),
                )
            } else if !own.is_empty() {
                (
                    Reason::ServiceOutput,
                    own.iter().map(|u| u.0.clone()).collect(),
                    format!(
                    "the package of a service ({}) that ships only its build output, or nothing \
                     (the stub serves it), not its package.json",
                    own.iter().map(|u| u.1.as_str()).collect::<Vec<_>>().join(", ")
                ),
                )
            } else if !shipping.is_empty() {
                (
                    Reason::Unexplained,
                    ids(&shipping),
                    "the closure of these services holds it, yet the artifact does not".to_string(),
                )
            } else if !output.is_empty() {
                let kinds: BTreeSet<&str> = output
                    .iter()
                    .filter_map(|r| r.service.as_ref().map(|(_, k)| k.as_str()))
                    .collect();
                (
                    Reason::FrameworkOutput,
                    ids(&output),
                    format!(
                        "a dependency of services that ship their framework's build output ({}), \
                     which does not load it",
                        kinds.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                )
            } else if reach.iter().any(|r| r.full.contains(&key))
                && !reach.iter().any(|r| r.cut.contains(&key))
            {
                (
                    Reason::WattRuntime,
                    vec![],
                    "reached only through Watt's runtime packages, which watt-stub replaces"
                        .to_string(),
                )
            } else if reach
                .iter()
                .any(|r| r.service.is_none() && r.cut.contains(&key))
            {
                (
                    Reason::RootOnly,
                    vec![],
                    "listed only by the app root's package.json, which no service runs".to_string(),
                )
            } else {
                (
                    Reason::Unreached,
                    vec![],
                    "no service's dependencies or imports reach it".to_string(),
                )
            };
        out.push(Omitted {
            name: name.clone(),
            version: version.clone().unwrap_or_default(),
            path,
            reason,
            services,
            why,
        });
    }
    out
}
