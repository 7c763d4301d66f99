//! Platformatic DB (`@platformatic/db`): SQL mapper, migrations, generated REST and GraphQL.
//! Nothing of it is rewritten natively: the capability runs through its own package
//! ([`super::capability`]), migrations applied at start when `migrations.autoApply` says so
//! (packages/db/lib/application.js), a relative SQLite path resolved against the service root
//! (packages/db/lib/config.js), which must therefore be writable at run time.

use anyhow::Result;

use super::{capability, Framework, Package};
use crate::config::{Kind, ResolvedApp, ResolvedService};

pub struct Db;

impl Framework for Db {
    fn name(&self) -> &'static str {
        "db"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Db
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        capability::package(
            svc,
            &["@platformatic/db"],
            "Platformatic DB has no native counterpart".into(),
            Vec::new(),
        )
    }
}
