//! Astro (to be written).

use anyhow::{bail, Result};

use super::{Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Astro;

impl Framework for Astro {
    fn name(&self) -> &'static str {
        "astro"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Astro)
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        bail!("service \"{}\": packing Astro is not supported yet", svc.id)
    }
}
