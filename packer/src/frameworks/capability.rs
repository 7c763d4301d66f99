//! Capabilities watt-pack does not rewrite natively run through their own package, as Watt's
//! runtime runs them (packages/runtime/lib/worker/controller.js: `pkg.create(path, config,
//! context)`, `capability.init()`, `capability.start({ listen })`): the package ships with its
//! dependencies, even though it is one of Watt's runtime packages, and the stub's launcher
//! creates and starts it in the service's one process (runtime-stub/js/capability.cjs), its
//! `listen()` redirected to the stub's socket.

use anyhow::{bail, Result};

use super::{find_package, Package, StartPlan};
use crate::config::ResolvedService;

/// The service shipped whole, started by the first of `packages` it resolves. `why` says why
/// this path was taken, for the build's output.
pub fn package(
    svc: &ResolvedService,
    packages: &[&str],
    why: String,
    waits_for: Vec<String>,
) -> Result<Package> {
    let Some((name, dir)) = packages
        .iter()
        .find_map(|p| find_package(&svc.path, p).map(|d| (*p, d)))
    else {
        bail!(
            "service \"{}\" is a {} application and runs through its own package, but {} cannot \
             be resolved from {}; add it to the service's dependencies and install",
            svc.id,
            svc.kind,
            packages.join(" or "),
            svc.path.display()
        );
    };
    let Some(config) = svc.config_file.clone() else {
        bail!(
            "service \"{}\" is a {} application but has no config file; {name} needs one \
             (platformatic.json or watt.json in {})",
            svc.id,
            svc.kind,
            svc.path.display()
        );
    };
    Ok(Package {
        ship: vec![svc.path.clone()],
        ship_verbatim: Vec::new(),
        ship_as: Vec::new(),
        extra_dependencies: vec![name.to_string()],
        ship_dependencies: true,
        start: StartPlan::Capability {
            name: name.to_string(),
            package: dir,
            config,
            why,
            waits_for,
        },
        static_assets: None,
    })
}
