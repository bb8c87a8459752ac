//! Embedded migrations: schema version N is `MIGRATIONS[N - 1]`, per backend.
//! The applied version is kept in `topca_schema`; a database at a version this
//! binary does not know is refused. On PostgreSQL several nodes may start at
//! once: the whole check-and-apply runs under a session advisory lock, so one
//! node migrates and the others then find the schema current. On SQLite each
//! step's write transaction already serialises the writers.

use diesel::{connection::SimpleConnection, prelude::*};

use crate::schema::topca_schema;

/// SQLite migrations, oldest first.
pub(crate) const SQLITE: &[&str] = &[
    include_str!("../migrations/sqlite/2026-11-24-000001_initial/up.sql"),
    include_str!("../migrations/sqlite/2026-11-24-000002_admins/up.sql"),
    include_str!("../migrations/sqlite/2026-11-27-000003_admin_certificates_settings/up.sql"),
    include_str!("../migrations/sqlite/2026-12-05-000004_kmc_dual_control/up.sql"),
    include_str!("../migrations/sqlite/2026-12-05-000005_admin_sessions/up.sql"),
    include_str!("../migrations/sqlite/2026-12-05-000006_holder_attempts/up.sql"),
    include_str!("../migrations/sqlite/2026-12-05-000007_mail_outbox/up.sql"),
    include_str!("../migrations/sqlite/2026-12-05-000008_account_policy/up.sql"),
    include_str!("../migrations/sqlite/2026-12-05-000009_issuances/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000010_machine_clients/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000011_ocsp_responses/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000012_acme/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000013_cmp/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000014_acme_eab/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000015_acme_profiles_limits/up.sql"),
    include_str!("../migrations/sqlite/2026-12-06-000016_credential_revocation/up.sql"),
    include_str!("../migrations/sqlite/2026-12-07-000017_certificates_not_before/up.sql"),
];
/// PostgreSQL migrations, oldest first.
pub(crate) const POSTGRES: &[&str] = &[
    include_str!("../migrations/postgres/2026-11-24-000001_initial/up.sql"),
    include_str!("../migrations/postgres/2026-11-24-000002_admins/up.sql"),
    include_str!("../migrations/postgres/2026-11-27-000003_admin_certificates_settings/up.sql"),
    include_str!("../migrations/postgres/2026-12-05-000004_kmc_dual_control/up.sql"),
    include_str!("../migrations/postgres/2026-12-05-000005_admin_sessions/up.sql"),
    include_str!("../migrations/postgres/2026-12-05-000006_holder_attempts/up.sql"),
    include_str!("../migrations/postgres/2026-12-05-000007_mail_outbox/up.sql"),
    include_str!("../migrations/postgres/2026-12-05-000008_account_policy/up.sql"),
    include_str!("../migrations/postgres/2026-12-05-000009_issuances/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000010_machine_clients/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000011_ocsp_responses/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000012_acme/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000013_cmp/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000014_acme_eab/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000015_acme_profiles_limits/up.sql"),
    include_str!("../migrations/postgres/2026-12-06-000016_credential_revocation/up.sql"),
    include_str!("../migrations/postgres/2026-12-07-000017_certificates_not_before/up.sql"),
];

/// What [`migrate`] found or did.
pub(crate) enum Migrated {
    /// At the newest version (after applying what was missing).
    Current,
    /// The database is newer than this binary.
    Newer(i64),
}

/// Defines `$name(conn)`: applies the missing migrations of `$steps` to a
/// `$conn`, one transaction each.
macro_rules! migrator {
    ($name:ident, $conn:ty, $steps:expr) => {
        pub(crate) fn $name(conn: &mut $conn) -> Result<Migrated, diesel::result::Error> {
            let known = i64::try_from($steps.len()).unwrap_or(i64::MAX);
            // No schema table yet (an error) means a new database.
            let current = topca_schema::table
                .select(diesel::dsl::max(topca_schema::version))
                .first::<Option<i64>>(conn)
                .map_or(0, |v| v.unwrap_or(0));
            if current > known {
                return Ok(Migrated::Newer(current));
            }
            let done = usize::try_from(current).unwrap_or(0);
            for (index, sql) in $steps.iter().enumerate().skip(done) {
                let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
                conn.transaction(|c| {
                    c.batch_execute(sql)?;
                    c.batch_execute(&format!(
                        "DELETE FROM topca_schema; INSERT INTO topca_schema (version) VALUES ({version});"
                    ))
                })?;
            }
            Ok(Migrated::Current)
        }
    };
}

migrator!(migrate_sqlite, diesel::SqliteConnection, SQLITE);
migrator!(apply_postgres, diesel::PgConnection, POSTGRES);

/// The advisory lock key every TopCA node takes while migrating ("topcamig").
const MIGRATION_LOCK: i64 = 0x746F_7063_616D_6967;

/// Applies the missing PostgreSQL migrations while holding the migration advisory
/// lock on this connection (waiting for a node that migrates now), released after.
pub(crate) fn migrate_postgres(
    conn: &mut diesel::PgConnection,
) -> Result<Migrated, diesel::result::Error> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let migrated = apply_postgres(conn);
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let migrated = migrated?;
    unlocked?;
    Ok(migrated)
}
