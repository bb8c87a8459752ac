//! Several nodes of one CA on a PostgreSQL database made for the test.

use std::{os::unix::fs::PermissionsExt, path::Path, sync::Arc};

use diesel::{Connection, PgConnection, connection::SimpleConnection};
use topca_core::{OsRandom, RandomSource};
use topca_server::{
    AppState,
    nodes::{JoinSecrets, join},
    setup::{Options, start},
};

/// A database created on the test PostgreSQL server, dropped afterwards.
pub struct TempPostgres {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl TempPostgres {
    /// A new database on `TOPCA_TEST_POSTGRES_URL`; `None` (skip) without it,
    /// a panic without it under `CI=true`.
    pub fn create(label: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("TOPCA_TEST_POSTGRES_URL") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and TOPCA_TEST_POSTGRES_URL is not set: PostgreSQL is missing");
            }
            eprintln!("skipping PostgreSQL: TOPCA_TEST_POSTGRES_URL is not set");
            return None;
        };
        let mut random = [0u8; 6];
        OsRandom.fill(&mut random).unwrap();
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("topca_cluster_{label}_{suffix}");
        let mut conn = PgConnection::establish(&admin).unwrap();
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub fn node_options(dir: &Path, url: &str) -> Options {
    std::fs::create_dir_all(dir).unwrap();
    let mut options = super::options(dir);
    options.database_url = Some(url.to_owned());
    options
}

/// Two nodes of one CA on `pg`: the first made it, the second joined it.
pub fn two_nodes(root: &Path, pg: &TempPostgres) -> (Arc<AppState>, Arc<AppState>) {
    let (a, b) = (root.join("a"), root.join("b"));
    let (first, _) = start(&node_options(&a, &pg.url)).unwrap();
    let secrets = b.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
    for file in ["ca-passphrase", "kmc-master.key"] {
        std::fs::copy(a.join("secrets").join(file), secrets.join(file)).unwrap();
        std::fs::set_permissions(secrets.join(file), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    join(&b, &pg.url, &JoinSecrets::given(&b).unwrap()).unwrap();
    let (second, _) = start(&node_options(&b, &pg.url)).unwrap();
    (Arc::new(first), Arc::new(second))
}
