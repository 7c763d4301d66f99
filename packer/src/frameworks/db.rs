//! Platformatic DB (`@platformatic/db`): SQL mapper, migrations, generated REST and GraphQL.
//! Nothing of it is rewritten natively: the capability runs through its own package
//! ([`super::capability`]), migrations applied at start when `migrations.autoApply` says so
//! (packages/db/lib/application.js), a relative SQLite path resolved against the service root
//! (packages/db/lib/config.js), which must therefore be writable at run time.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{capability, Framework, Package};
use crate::config::{fill_placeholders, Kind, ResolvedApp, ResolvedService};

pub struct Db;

impl Framework for Db {
    fn name(&self) -> &'static str {
        "db"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Db
    }

    fn package(&self, svc: &ResolvedService, _app: &ResolvedApp) -> Result<Package> {
        if let Some(file) = sqlite_file(svc).filter(|f| f.is_file()) {
            eprintln!(
                "watt: warning: service \"{}\": its SQLite database {} ships as it is now; \
                 delete it before the build for an artifact that starts from its migrations",
                svc.id,
                file.display()
            );
        }
        capability::package(
            svc,
            &["@platformatic/db"],
            "Platformatic DB has no native counterpart".into(),
            Vec::new(),
        )
    }
}

/// The SQLite file `db.connectionString` names inside the service folder, resolved as Watt does
/// (placeholders from the config `env`, the environment, then `.env`; relative to the config's
/// folder), if it is one.
fn sqlite_file(svc: &ResolvedService) -> Option<PathBuf> {
    let raw = svc.config.pointer("/db/connectionString")?.as_str()?;
    let env = |k: &str| {
        svc.env
            .get(k)
            .cloned()
            .or_else(|| std::env::var(k).ok())
            .or_else(|| svc.dotenv.values.get(k).cloned())
    };
    let (url, _) = fill_placeholders(raw, &env);
    let path = url.strip_prefix("sqlite://")?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let base = svc
        .config_file
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(&svc.path);
    let file = base.join(path);
    file.starts_with(&svc.path).then_some(file)
}

#[cfg(test)]
mod tests {
    use super::super::output::testing::service;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sqlite_file_is_found_through_placeholders_and_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Db);
        svc.config_file = Some(dir.path().join("platformatic.json"));
        svc.config = json!({ "db": { "connectionString": "{WATT_TEST_DB_URL_UNSET_123}" } });
        svc.dotenv.values.insert(
            "WATT_TEST_DB_URL_UNSET_123".into(),
            "sqlite://./data/db.sqlite".into(),
        );
        assert_eq!(sqlite_file(&svc), Some(dir.path().join("./data/db.sqlite")));
        svc.config = json!({ "db": { "connectionString": "sqlite://:memory:" } });
        assert_eq!(sqlite_file(&svc), None);
        svc.config = json!({ "db": { "connectionString": "postgres://h/db" } });
        assert_eq!(sqlite_file(&svc), None);
    }
}
