//! Next.js (to be written).

use anyhow::{bail, Result};

use super::{Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Next;

impl Framework for Next {
    fn name(&self) -> &'static str {
        "next"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Next)
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        bail!(
            "service \"{}\": packing Next.js is not supported yet",
            svc.id
        )
    }
}
