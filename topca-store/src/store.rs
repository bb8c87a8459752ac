//! The diesel store: one pool per backend, every trait method one transaction.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use diesel::{
    connection::SimpleConnection,
    prelude::*,
    r2d2::{ConnectionManager, CustomizeConnection, Pool},
    result::{DatabaseErrorKind, Error as DieselError},
};
use topca_core::{StoreError, audit::AuditKey};

use crate::{
    error::{OpenError, mask_password},
    migrate::{Migrated, migrate_postgres, migrate_sqlite},
};

/// TopCA's storage on SQLite or PostgreSQL.
pub struct DieselStore {
    pools: Pools,
    /// The database URL, password masked.
    url: String,
    /// The key new audit entries are MACed under (plain hashes without it).
    audit_key: Option<AuditKey>,
    /// This process's one SQLite writing connection (taken from the pool on
    /// first use, and again should it break). Writers wait for it here, woken
    /// as soon as it is free, instead of in SQLite's busy handler, which sleeps
    /// 1 ms, then 2, 5, 10 ms and more between tries of the lock (between
    /// processes, such as the command line's, the busy timeout still applies).
    /// And as no other connection of this process writes, its page cache
    /// stays valid from one transaction to the next, where a pooled
    /// connection's is emptied whenever another one has written.
    sqlite_writer: Arc<Mutex<Option<SqlitePooled>>>,
    /// Set by each SQLite write transaction, cleared by the checkpoint thread.
    sqlite_written: Arc<std::sync::atomic::AtomicBool>,
    /// SQLite's WAL checkpoints, off the writers' path.
    _checkpoints: Option<checkpoint::Checkpointer>,
}

/// A connection of the SQLite pool.
type SqlitePooled = diesel::r2d2::PooledConnection<ConnectionManager<SqliteConnection>>;

enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

/// SQLite connection settings: a busy timeout (writers queue instead of
/// failing), WAL (readers never wait for the writer), foreign keys on, no
/// checkpoint on commit (the store's [`checkpoint::Checkpointer`] does them).
///
/// The busy timeout comes first: on a new database file the pool's connections
/// switch it to WAL at the same moment, and a connection refused there without
/// a timeout is retried by r2d2 only 200 ms later (a fresh start waited for it).
#[derive(Debug)]
struct SqliteSettings;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSettings {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
             PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Creates the empty file `path` with mode 0600 (Unix). An existing file is left
/// as it is, or is an error with `new_only`.
fn create_private(path: &std::path::Path, new_only: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !new_only => Ok(()),
        Err(e) => Err(e),
    }
}

impl DieselStore {
    /// Opens (creating and migrating as needed) the database at `url`:
    /// `sqlite:///path/to/topca.db`, `sqlite://relative.db` or a plain file path
    /// for SQLite; `postgres://user:password@host:port/database` for PostgreSQL.
    pub fn open(url: &str) -> Result<Self, OpenError> {
        let url = url.trim();
        let masked = mask_password(url);
        let connect = |reason: String| OpenError::Connect {
            url: masked.clone(),
            reason,
        };
        let sqlite_writer = Arc::default();
        let sqlite_written = Arc::default();
        let (pools, migrated, checkpoints) =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                let pool = Pool::builder()
                    .max_size(8)
                    .connection_timeout(Duration::from_secs(10))
                    .build(ConnectionManager::<PgConnection>::new(url))
                    .map_err(|e| connect(clean(&e.to_string(), url)))?;
                let mut conn = pool
                    .get()
                    .map_err(|e| connect(clean(&e.to_string(), url)))?;
                let migrated = migrate_postgres(&mut conn).map_err(|e| OpenError::Migration {
                    url: masked.clone(),
                    reason: e.to_string(),
                })?;
                (Pools::Postgres(pool), migrated, None)
            } else {
                let path = match url.strip_prefix("sqlite://") {
                    Some(path) => path,
                    None if !url.contains("://") && !url.is_empty() => url,
                    None => return Err(OpenError::Url(masked)),
                };
                if path.is_empty() {
                    return Err(OpenError::Url(masked));
                }
                let folder = std::path::Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty());
                if folder.is_some_and(|f| !f.is_dir()) {
                    return Err(connect("its folder does not exist".into()));
                }
                // SQLite gives its WAL and shared-memory files the database's mode.
                if path != ":memory:" {
                    create_private(std::path::Path::new(path), false)
                        .map_err(|e| connect(e.to_string()))?;
                }
                let pool = Pool::builder()
                    .max_size(8)
                    .connection_timeout(Duration::from_secs(30))
                    .connection_customizer(Box::new(SqliteSettings))
                    .build(ConnectionManager::<SqliteConnection>::new(path))
                    .map_err(|e| connect(e.to_string()))?;
                let mut conn = pool.get().map_err(|e| connect(e.to_string()))?;
                let migrated = migrate_sqlite(&mut conn).map_err(|e| OpenError::Migration {
                    url: masked.clone(),
                    reason: e.to_string(),
                })?;
                drop(conn);
                let checkpoints = checkpoint::Checkpointer::start(
                    pool.clone(),
                    Arc::clone(&sqlite_writer),
                    Arc::clone(&sqlite_written),
                )
                .map_err(|e| connect(format!("cannot start its checkpoint thread: {e}")))?;
                (Pools::Sqlite(pool), migrated, Some(checkpoints))
            };
        if let Migrated::Newer(found) = migrated {
            let known = match pools {
                Pools::Sqlite(_) => crate::migrate::SQLITE.len(),
                Pools::Postgres(_) => crate::migrate::POSTGRES.len(),
            };
            return Err(OpenError::NewerSchema {
                url: masked,
                found,
                known: i64::try_from(known).unwrap_or(i64::MAX),
            });
        }
        Ok(Self {
            pools,
            url: masked,
            audit_key: None,
            sqlite_writer,
            sqlite_written,
            _checkpoints: checkpoints,
        })
    }

    /// This store, MACing new audit entries under `key` (see [`topca_core::audit`]).
    pub fn with_audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Some(key);
        self
    }

    /// The database URL, password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes a consistent copy of a SQLite database to `path` (`VACUUM INTO`), while
    /// the server runs. PostgreSQL databases are backed up with `pg_dump`.
    pub fn backup_sqlite(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let Pools::Sqlite(pool) = &self.pools else {
            return Err(StoreError::Backend(
                "this is a PostgreSQL database: back it up with pg_dump".into(),
            ));
        };
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Backend("the backup path is not valid UTF-8".into()))?;
        // An empty file made now, mode 0600, that SQLite fills: a copy of the
        // database is as private as the database.
        if let Err(e) = create_private(path, true) {
            return Err(StoreError::Backend(
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    format!("{target} exists already; nothing was written")
                } else {
                    format!("{target}: {e}")
                },
            ));
        }
        let copied = pool.get().map_err(pool_error).and_then(|mut conn| {
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target)
                .execute(&mut *conn)
                .map_err(backend)
        });
        if copied.is_err() {
            let _ = std::fs::remove_file(path);
        }
        copied.map(drop)
    }

    /// The schema version of this database: the newest this TopCA knows, since
    /// opening applied what was missing and refused a newer one.
    pub fn schema_version(&self) -> usize {
        match self.pools {
            Pools::Sqlite(_) => crate::migrate::SQLITE.len(),
            Pools::Postgres(_) => crate::migrate::POSTGRES.len(),
        }
    }

    /// Whether this store is on PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        matches!(self.pools, Pools::Postgres(_))
    }
}

impl std::fmt::Debug for DieselStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DieselStore({})", self.url)
    }
}

/// A driver message with the URL (and so any password in it) masked.
fn clean(message: &str, url: &str) -> String {
    message.replace(url, &mask_password(url))
}

/// What a transaction body can fail with.
enum TxError {
    Store(StoreError),
    Db(DieselError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<TxError> for StoreError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Store(e) => e,
            TxError::Db(e) => backend(e),
        }
    }
}

/// A database failure as the store reports it (diesel's messages carry no values).
fn backend(e: DieselError) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn pool_error(e: diesel::r2d2::PoolError) -> StoreError {
    StoreError::Backend(format!("no database connection: {e}"))
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// `e` as [`StoreError::Conflict`] when it is a unique violation (a name or key
/// taken already), else as the database failure it is.
fn conflict_if_unique(e: DieselError) -> TxError {
    if is_unique_violation(&e) {
        TxError::Store(StoreError::Conflict)
    } else {
        TxError::Db(e)
    }
}

/// Runs `$body` with `$c`, a connection of whichever backend the store uses.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite(pool) => {
                let mut guard = pool.get().map_err(pool_error)?;
                let $c = &mut *guard;
                $body
            }
            Pools::Postgres(pool) => {
                let mut guard = pool.get().map_err(pool_error)?;
                let $c = &mut *guard;
                $body
            }
        }
    };
}

/// Runs `$body` (returning `Result<_, TxError>`) in a write transaction: on SQLite
/// on the store's one writing connection, in a transaction that takes the
/// write lock at once (`BEGIN IMMEDIATE`). A body must not write through the
/// store again (the writing connection is held).
macro_rules! write {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite(pool) => {
                let mut writer = $store
                    .sqlite_writer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut conn = match writer.take() {
                    Some(conn) => conn,
                    None => pool.get().map_err(pool_error)?,
                };
                let result = {
                    let c: &mut SqliteConnection = &mut conn;
                    c.immediate_transaction(|$c| -> Result<_, TxError> { $body })
                };
                if !diesel::r2d2::R2D2Connection::is_broken(&mut *conn) {
                    *writer = Some(conn);
                }
                $store
                    .sqlite_written
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                result.map_err(StoreError::from)
            }
            Pools::Postgres(pool) => {
                let mut guard = pool.get().map_err(pool_error)?;
                let conn: &mut PgConnection = &mut guard;
                conn.transaction(|$c| -> Result<_, TxError> { $body })
                    .map_err(StoreError::from)
            }
        }
    };
}

mod accounts;
mod acme;
mod acme_eab;
mod acme_limits;
mod admins;
mod audit;
mod batch;
mod certificates;
mod checkpoint;
mod clients;
mod cmp;
mod crls;
mod escrow;
mod health;
mod issuance;
mod listing;
mod ocsp;
mod outbox;
mod requests;
mod sessions;

pub use health::PoolUse;
