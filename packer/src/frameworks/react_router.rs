//! :Remix:React Router / Remix (to be written).

use anyhow::{bail, Result};

use super::{Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct ReactRouter;

impl Framework for ReactRouter {
    fn name(&self) -> &'static str {
        "react-router"
    }

    fn handles(&self, kind: Kind) -> bool {
        matches!(kind, Kind::ReactRouter | Kind::Remix)
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        bail!(
            "service \"{}\": packing :Remix:React Router / Remix is not supported yet",
            svc.id
        )
    }
}
