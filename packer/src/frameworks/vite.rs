//! Vite (to be written).

use anyhow::{bail, Result};

use super::{Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Vite;

impl Framework for Vite {
    fn name(&self) -> &'static str {
        "vite"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Vite)
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        bail!("service \"{}\": packing Vite is not supported yet", svc.id)
    }
}
