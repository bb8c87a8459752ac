//! The diesel store: one pool per backend, every trait method one transaction.

use std::time::{Duration, SystemTime};

use diesel::{
    connection::SimpleConnection,
    prelude::*,
    r2d2::{ConnectionManager, CustomizeConnection, Pool},
    result::{DatabaseErrorKind, Error as DieselError},
};
use topca_core::{
    StoreError,
    audit::{AuditEntry, AuditRecord},
    kmc::{NewRecovery, Recovery, RecoveryId, RecoveryState},
    lifecycle::{RequestState, RevocationReason},
    ra::{
        Account, AccountId, AccountSettings, Request, RequestId, RequestRef, ServerPolicy,
        admin::AdminRecord,
    },
    store::{
        AccountStore, AdminSession, AdminStore, AuditStore, CertificateRecord, CertificateStatus,
        CertificateStore, CrlRecord, CrlStore, EscrowRecord, EscrowStore, LoginAttempt, NewRequest,
        RequestChange, RequestStore, Revocation, SessionStore,
    },
};

use crate::{
    error::{OpenError, mask_password},
    migrate::{Migrated, migrate_postgres, migrate_sqlite},
    rows::{
        AccountRow, AccountValues, AdminRow, AuditRow, CertificateRow, CrlRow, EscrowRow,
        RecoveryRow, RecoveryValues, RequestRow, RequestValues, ServerPolicyRow, SessionRow, id,
        nanos, time,
    },
    schema::{
        account_policies, accounts, admin_sessions, admins, audit_entries, certificates, crls,
        escrowed_keys, holder_attempts, recoveries, requests, settings,
    },
};

/// Revoked certificates read per page by [`CertificateStore::for_each_revoked`].
const REVOKED_PAGE: i64 = 5_000;
/// Attempts at appending an audit entry when another node appends at the same time.
const AUDIT_ATTEMPTS: usize = 50;

/// TopCA's storage on SQLite or PostgreSQL.
pub struct DieselStore {
    pools: Pools,
    /// The database URL, password masked.
    url: String,
}

enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

/// SQLite connection settings: WAL (readers never wait for the writer), a busy
/// timeout (writers queue instead of failing), foreign keys on.
#[derive(Debug)]
struct SqliteSettings;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSettings {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 30000; \
             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
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
        let (pools, migrated) =
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
                (Pools::Postgres(pool), migrated)
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
                (Pools::Sqlite(pool), migrated)
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
        Ok(Self { pools, url: masked })
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
/// one that takes the write lock at once (`BEGIN IMMEDIATE`).
macro_rules! write {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            Pools::Sqlite(pool) => {
                let mut guard = pool.get().map_err(pool_error)?;
                let conn: &mut SqliteConnection = &mut guard;
                conn.immediate_transaction(|$c| -> Result<_, TxError> { $body })
                    .map_err(StoreError::from)
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

impl AccountStore for DieselStore {
    fn create_account(&self, settings: AccountSettings) -> Result<Account, StoreError> {
        let values = AccountValues::of(&settings)?;
        let new_id: i64 = write!(self, |c| Ok(diesel::insert_into(accounts::table)
            .values(&values)
            .returning(accounts::id)
            .get_result(c)?))?;
        Ok(Account {
            id: AccountId(u64::try_from(new_id).map_err(|_| StoreError::NotFound)?),
            settings,
        })
    }

    fn account(&self, account: AccountId) -> Result<Option<Account>, StoreError> {
        let Ok(key) = id(account.0) else {
            return Ok(None);
        };
        let row = read!(self, |c| accounts::table
            .find(key)
            .select(AccountRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(AccountRow::into_account).transpose()
    }

    fn update_account(&self, account: &Account) -> Result<Account, StoreError> {
        let key = id(account.id.0)?;
        let values = AccountValues::of(&account.settings)?;
        let changed = write!(self, |c| Ok(diesel::update(accounts::table.find(key))
            .set(&values)
            .execute(c)?))?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(account.clone())
    }

    fn search_accounts(&self, keyword: &str, limit: usize) -> Result<Vec<Account>, StoreError> {
        let keyword = keyword.trim().to_lowercase();
        if keyword.is_empty() {
            return Ok(Vec::new());
        }
        let escaped: String = keyword
            .chars()
            .flat_map(|ch| match ch {
                '%' | '_' | '\\' => vec!['\\', ch],
                _ => vec![ch],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<AccountRow> = read!(self, |c| accounts::table
            .filter(accounts::search_text.like(&pattern).escape('\\'))
            .order(accounts::id)
            .limit(limit)
            .select(AccountRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(AccountRow::into_account).collect()
    }

    fn server_policy(&self, account: AccountId) -> Result<Option<ServerPolicy>, StoreError> {
        let Ok(key) = id(account.0) else {
            return Ok(None);
        };
        let row = read!(self, |c| account_policies::table
            .find(key)
            .select(ServerPolicyRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(ServerPolicyRow::into_policy).transpose()
    }

    fn put_server_policy(
        &self,
        account: AccountId,
        policy: &ServerPolicy,
    ) -> Result<(), StoreError> {
        let row = ServerPolicyRow::of(account, policy)?;
        write!(self, |c| {
            let exists: i64 = accounts::table
                .filter(accounts::id.eq(row.account_id))
                .count()
                .get_result(c)?;
            if exists == 0 {
                return Err(TxError::Store(StoreError::NotFound));
            }
            let changed = diesel::update(account_policies::table.find(row.account_id))
                .set(&row)
                .execute(c)?;
            if changed == 0 {
                diesel::insert_into(account_policies::table)
                    .values(&row)
                    .execute(c)?;
            }
            Ok(())
        })
    }
}

impl RequestStore for DieselStore {
    fn submit_request(&self, new: NewRequest) -> Result<Request, StoreError> {
        let mut request = new.into_request(RequestId(0));
        let new_id: i64 = {
            let values = RequestValues::of(&request, 1)?;
            write!(self, |c| diesel::insert_into(requests::table)
                .values(&values)
                .returning(requests::id)
                .get_result(c)
                .map_err(|e| if is_unique_violation(&e) {
                    TxError::Store(StoreError::Conflict)
                } else {
                    TxError::Db(e)
                }))?
        };
        request.id = RequestId(u64::try_from(new_id).map_err(|_| StoreError::NotFound)?);
        Ok(request)
    }

    fn request(&self, request: RequestId) -> Result<Option<Request>, StoreError> {
        let Ok(key) = id(request.0) else {
            return Ok(None);
        };
        let row = read!(self, |c| requests::table
            .find(key)
            .select(RequestRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(RequestRow::into_request).transpose()
    }

    fn request_by_reference(&self, reference: &RequestRef) -> Result<Option<Request>, StoreError> {
        let row = read!(self, |c| requests::table
            .filter(requests::public_ref.eq(&reference.0))
            .select(RequestRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(RequestRow::into_request).transpose()
    }

    fn requests_in_state(
        &self,
        account: AccountId,
        state: RequestState,
    ) -> Result<Vec<Request>, StoreError> {
        let key = id(account.0)?;
        let state = i32::from(state.code());
        let rows: Vec<RequestRow> = read!(self, |c| requests::table
            .filter(requests::account_id.eq(key))
            .filter(requests::state.eq(state))
            .order(requests::id)
            .select(RequestRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(RequestRow::into_request).collect()
    }

    fn commit_request(&self, change: RequestChange) -> Result<Request, StoreError> {
        let RequestChange {
            request,
            revoke,
            issued,
            escrow,
        } = change;
        let key = id(request.id.0)?;
        let version = i64::try_from(request.version).map_err(|_| StoreError::Conflict)?;
        let values = RequestValues::of(&request, request.version + 1)?;
        let revocation = revoke
            .map(|r| Ok::<_, StoreError>((r.serial.to_ascii_uppercase(), nanos(r.at)?, r.reason)))
            .transpose()?;
        let rows = issued
            .into_iter()
            .map(CertificateRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let escrow = escrow.map(EscrowRow::of).transpose()?;
        write!(self, |c| {
            let updated = diesel::update(
                requests::table
                    .filter(requests::id.eq(key))
                    .filter(requests::version.eq(version)),
            )
            .set(&values)
            .execute(c)?;
            if updated == 0 {
                let exists = requests::table.find(key).count().get_result::<i64>(c)? > 0;
                return Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                }
                .into());
            }
            if let Some((serial, at, reason)) = &revocation {
                revoke_in(c, serial, *at, *reason)?;
            }
            for row in &rows {
                diesel::insert_into(certificates::table)
                    .values(row)
                    .execute(c)
                    .map_err(|e| duplicate(e, &row.serial))?;
            }
            if let Some(row) = &escrow {
                diesel::insert_into(escrowed_keys::table)
                    .values(row)
                    .execute(c)
                    .map_err(|e| duplicate(e, &row.encryption_serial))?;
            }
            Ok(())
        })?;
        let mut stored = request;
        stored.version += 1;
        Ok(stored)
    }

    fn count_holder_attempt(
        &self,
        request: RequestId,
        source: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let key = id(request.0).map_err(|_| StoreError::NotFound)?;
        let ends = nanos(now + window)?;
        let now = nanos(now)?;
        let this = holder_attempts::table
            .filter(holder_attempts::request_id.eq(key))
            .filter(holder_attempts::source.eq(source));
        let attempts: i32 = write!(self, |c| {
            if requests::table.find(key).count().get_result::<i64>(c)? == 0 {
                return Err(StoreError::NotFound.into());
            }
            // A window that has ended starts again; the row is created once (a
            // concurrent creator wins, the other finds it), then incremented in
            // place, which the database serialises per row.
            diesel::delete(this.filter(holder_attempts::window_ends.le(now))).execute(c)?;
            diesel::insert_into(holder_attempts::table)
                .values((
                    holder_attempts::request_id.eq(key),
                    holder_attempts::source.eq(source),
                    holder_attempts::attempts.eq(0),
                    holder_attempts::window_ends.eq(ends),
                ))
                .on_conflict_do_nothing()
                .execute(c)?;
            Ok(diesel::update(this)
                .set(holder_attempts::attempts.eq(holder_attempts::attempts + 1))
                .returning(holder_attempts::attempts)
                .get_result(c)?)
        })?;
        u32::try_from(attempts).map_err(|_| StoreError::Backend("negative attempt count".into()))
    }

    fn clear_holder_attempts(
        &self,
        request: RequestId,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = id(request.0)?;
        write!(self, |c| {
            let of_request = holder_attempts::table.filter(holder_attempts::request_id.eq(key));
            match source {
                Some(source) => {
                    diesel::delete(of_request.filter(holder_attempts::source.eq(source)))
                        .execute(c)?
                }
                None => diesel::delete(of_request).execute(c)?,
            };
            Ok(())
        })
    }
}

/// A unique violation on `serial` as [`StoreError::DuplicateSerial`].
fn duplicate(e: DieselError, serial: &str) -> TxError {
    if is_unique_violation(&e) {
        TxError::Store(StoreError::DuplicateSerial(serial.to_owned()))
    } else {
        TxError::Db(e)
    }
}

/// Marks a valid certificate revoked inside the caller's transaction.
macro_rules! revoke_body {
    ($c:ident, $serial:expr, $at:expr, $reason:expr) => {{
        let changed = diesel::update(
            certificates::table
                .filter(certificates::serial.eq($serial))
                .filter(certificates::status.eq(CertificateStatus::Valid as i32)),
        )
        .set((
            certificates::status.eq(CertificateStatus::Revoked as i32),
            certificates::revoked_at.eq(Some($at)),
            certificates::revocation_reason.eq(Some(i32::from($reason.code()))),
        ))
        .execute($c)?;
        if changed == 0 {
            let exists = certificates::table
                .find($serial)
                .count()
                .get_result::<i64>($c)?
                > 0;
            return Err(if exists {
                StoreError::AlreadyRevoked($serial.to_owned())
            } else {
                StoreError::NotFound
            }
            .into());
        }
        Ok(())
    }};
}

/// Revokes inside a transaction, on either backend.
fn revoke_in<C>(c: &mut C, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError>
where
    C: RevokeIn,
{
    c.revoke(serial, at, reason)
}

/// Revocation inside an open transaction, per connection type.
trait RevokeIn {
    fn revoke(&mut self, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError>;
}

impl RevokeIn for SqliteConnection {
    fn revoke(&mut self, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError> {
        let c = self;
        revoke_body!(c, serial, at, reason)
    }
}

impl RevokeIn for PgConnection {
    fn revoke(&mut self, serial: &str, at: i64, reason: RevocationReason) -> Result<(), TxError> {
        let c = self;
        revoke_body!(c, serial, at, reason)
    }
}

impl CertificateStore for DieselStore {
    fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let serial = serial.trim().to_ascii_uppercase();
        let row = read!(self, |c| certificates::table
            .find(&serial)
            .select(CertificateRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(CertificateRow::into_record).transpose()
    }

    fn certificates_by_email(&self, email: &str) -> Result<Vec<CertificateRecord>, StoreError> {
        let email = email.trim().to_lowercase();
        let rows: Vec<CertificateRow> = read!(self, |c| certificates::table
            .filter(certificates::email_lower.eq(&email))
            .order(certificates::not_before.desc())
            .select(CertificateRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(CertificateRow::into_record).collect()
    }

    fn certificates_by_holder_name(
        &self,
        name: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let name = name.trim();
        let rows: Vec<CertificateRow> = read!(self, |c| certificates::table
            .filter(certificates::holder_name.eq(name))
            .order(certificates::not_before.desc())
            .select(CertificateRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(CertificateRow::into_record).collect()
    }

    fn certificates_ending_between(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let (from, to) = (nanos(from)?, nanos(to)?);
        let rows: Vec<CertificateRow> = read!(self, |c| certificates::table
            .filter(certificates::status.eq(CertificateStatus::Valid as i32))
            .filter(certificates::not_after.ge(from))
            .filter(certificates::not_after.lt(to))
            .order(certificates::not_after.asc())
            .select(CertificateRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(CertificateRow::into_record).collect()
    }

    fn revoke_certificate(&self, revocation: &Revocation) -> Result<CertificateRecord, StoreError> {
        let serial = revocation.serial.trim().to_ascii_uppercase();
        let at = nanos(revocation.at)?;
        let row: CertificateRow = write!(self, |c| {
            revoke_in(c, &serial, at, revocation.reason)?;
            Ok(certificates::table
                .find(&serial)
                .select(CertificateRow::as_select())
                .first(c)?)
        })?;
        row.into_record()
    }

    fn for_each_revoked(
        &self,
        since: Option<SystemTime>,
        visit: &mut dyn FnMut(&Revocation) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let since = since.map(nanos).transpose()?.unwrap_or(0);
        let mut after = String::new();
        loop {
            let page: Vec<(String, Option<i64>, Option<i32>)> =
                read!(self, |c| certificates::table
                    .filter(certificates::revoked_at.ge(since))
                    .filter(certificates::serial.gt(&after))
                    .order(certificates::serial)
                    .limit(REVOKED_PAGE)
                    .select((
                        certificates::serial,
                        certificates::revoked_at,
                        certificates::revocation_reason,
                    ))
                    .load(c)
                    .map_err(backend)?);
            let full = i64::try_from(page.len()).unwrap_or(0) == REVOKED_PAGE;
            for (serial, at, reason) in page {
                let (Some(at), Some(reason)) = (at, reason) else {
                    continue;
                };
                let reason = u8::try_from(reason)
                    .ok()
                    .and_then(RevocationReason::from_code)
                    .ok_or_else(|| crate::rows::damaged("revocation reason"))?;
                visit(&Revocation {
                    serial: serial.clone(),
                    at: time(at)?,
                    reason,
                })?;
                after = serial;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

impl AuditStore for DieselStore {
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        // Another node may append at the same moment: the sequence is the primary
        // key, so one of the two fails and retries after the other's entry.
        for _ in 0..AUDIT_ATTEMPTS {
            let attempt = write!(self, |c| {
                let last: Option<AuditRow> = audit_entries::table
                    .order(audit_entries::sequence.desc())
                    .select(AuditRow::as_select())
                    .first(c)
                    .optional()?;
                let last = last.map(AuditRow::into_entry).transpose()?;
                let entry = AuditEntry::append(last.as_ref(), record.clone());
                diesel::insert_into(audit_entries::table)
                    .values(&AuditRow::of(&entry)?)
                    .execute(c)
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            TxError::Store(StoreError::Conflict)
                        } else {
                            TxError::Db(e)
                        }
                    })?;
                Ok(entry)
            });
            match attempt {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = read!(self, |c| audit_entries::table
            .order(audit_entries::sequence)
            .select(AuditRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(AuditRow::into_entry).collect()
    }
}

impl CrlStore for DieselStore {
    fn put_crl(&self, crl: CrlRecord) -> Result<(), StoreError> {
        let row = CrlRow::of(crl)?;
        write!(self, |c| {
            let newest: Option<i64> = crls::table
                .select(diesel::dsl::max(crls::number))
                .first(c)?;
            if newest.is_some_and(|n| n >= row.number) {
                return Err(StoreError::Conflict.into());
            }
            diesel::insert_into(crls::table)
                .values(&row)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        TxError::Store(StoreError::Conflict)
                    } else {
                        TxError::Db(e)
                    }
                })?;
            Ok(())
        })
    }

    fn latest_crl(&self, delta: bool) -> Result<Option<CrlRecord>, StoreError> {
        let row: Option<CrlRow> = read!(self, |c| {
            let query = crls::table
                .order(crls::number.desc())
                .select(CrlRow::as_select());
            if delta {
                query.filter(crls::delta_base.is_not_null()).first(c)
            } else {
                query.filter(crls::delta_base.is_null()).first(c)
            }
            .optional()
            .map_err(backend)?
        });
        row.map(CrlRow::into_record).transpose()
    }
}

impl EscrowStore for DieselStore {
    fn escrowed_key(&self, encryption_serial: &str) -> Result<Option<EscrowRecord>, StoreError> {
        let serial = encryption_serial.trim().to_ascii_uppercase();
        let row = read!(self, |c| escrowed_keys::table
            .find(&serial)
            .select(EscrowRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(EscrowRow::into_record).transpose()
    }

    fn escrowed_keys_by_email(&self, email: &str) -> Result<Vec<EscrowRecord>, StoreError> {
        let email = email.trim().to_lowercase();
        let rows: Vec<EscrowRow> = read!(self, |c| escrowed_keys::table
            .filter(escrowed_keys::email_lower.eq(&email))
            .order(escrowed_keys::escrowed_at.desc())
            .select(EscrowRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(EscrowRow::into_record).collect()
    }

    fn create_recovery(&self, new: NewRecovery) -> Result<Recovery, StoreError> {
        let recovery = new.into_recovery();
        let values = RecoveryValues::of(&recovery, 1)?;
        write!(self, |c| {
            diesel::insert_into(recoveries::table)
                .values(&values)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        TxError::Store(StoreError::Conflict)
                    } else {
                        e.into()
                    }
                })?;
            Ok(())
        })?;
        Ok(recovery)
    }

    fn recovery(&self, recovery: RecoveryId) -> Result<Option<Recovery>, StoreError> {
        let key = recovery.to_hex();
        let row = read!(self, |c| recoveries::table
            .filter(recoveries::public_id.eq(&key))
            .select(RecoveryRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(RecoveryRow::into_recovery).transpose()
    }

    fn recoveries_in_state(&self, state: RecoveryState) -> Result<Vec<Recovery>, StoreError> {
        let state = i32::from(state.code());
        let rows: Vec<RecoveryRow> = read!(self, |c| recoveries::table
            .filter(recoveries::state.eq(state))
            .order(recoveries::id)
            .select(RecoveryRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(RecoveryRow::into_recovery).collect()
    }

    fn update_recovery(&self, recovery: &Recovery) -> Result<Recovery, StoreError> {
        let key = recovery.id.to_hex();
        let version = i64::try_from(recovery.version).map_err(|_| StoreError::Conflict)?;
        let values = RecoveryValues::of(recovery, recovery.version + 1)?;
        write!(self, |c| {
            let updated = diesel::update(
                recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .filter(recoveries::version.eq(version)),
            )
            .set(&values)
            .execute(c)?;
            if updated == 0 {
                let exists = recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .count()
                    .get_result::<i64>(c)?
                    > 0;
                return Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                }
                .into());
            }
            Ok(())
        })?;
        let mut stored = recovery.clone();
        stored.version += 1;
        Ok(stored)
    }

    fn count_recovery_attempt(&self, recovery: RecoveryId) -> Result<Option<Recovery>, StoreError> {
        let key = recovery.to_hex();
        let row = write!(self, |c| {
            // One statement: concurrent attempts each add one, none is lost.
            let counted = diesel::update(
                recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .filter(recoveries::failed_attempts.lt(i32::from(u8::MAX))),
            )
            .set((
                recoveries::failed_attempts.eq(recoveries::failed_attempts + 1),
                recoveries::version.eq(recoveries::version + 1),
            ))
            .returning(RecoveryRow::as_returning())
            .get_result(c)
            .optional()?;
            match counted {
                Some(row) => Ok(Some(row)),
                None => Ok(recoveries::table
                    .filter(recoveries::public_id.eq(&key))
                    .select(RecoveryRow::as_select())
                    .first(c)
                    .optional()?),
            }
        })?;
        row.map(RecoveryRow::into_recovery).transpose()
    }
}

impl AdminStore for DieselStore {
    fn create_admin(&self, admin: AdminRecord) -> Result<(), StoreError> {
        let row = AdminRow::of(&admin, 1)?;
        write!(self, |c| {
            diesel::insert_into(admins::table)
                .values(&row)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        TxError::Store(StoreError::Conflict)
                    } else {
                        TxError::Db(e)
                    }
                })?;
            Ok(())
        })
    }

    fn admin(&self, name: &str) -> Result<Option<AdminRecord>, StoreError> {
        let row = read!(self, |c| admins::table
            .find(name)
            .select(AdminRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(AdminRow::into_record).transpose()
    }

    fn update_admin(&self, admin: &AdminRecord) -> Result<AdminRecord, StoreError> {
        let version = i64::try_from(admin.version).map_err(|_| StoreError::Conflict)?;
        let row = AdminRow::of(admin, admin.version + 1)?;
        write!(self, |c| {
            let updated = diesel::update(
                admins::table
                    .filter(admins::name.eq(&admin.name))
                    .filter(admins::version.eq(version)),
            )
            .set(&row)
            .execute(c)?;
            if updated == 0 {
                let exists = admins::table
                    .find(&admin.name)
                    .count()
                    .get_result::<i64>(c)?
                    > 0;
                return Err(if exists {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                }
                .into());
            }
            Ok(())
        })?;
        let mut stored = admin.clone();
        stored.version += 1;
        Ok(stored)
    }

    fn admins(&self) -> Result<Vec<AdminRecord>, StoreError> {
        let rows: Vec<AdminRow> = read!(self, |c| admins::table
            .select(AdminRow::as_select())
            .load(c)
            .map_err(backend)?);
        let mut all = rows
            .into_iter()
            .map(AdminRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        // Ordered here, not by the database's collation.
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    fn delete_admin(&self, name: &str) -> Result<(), StoreError> {
        write!(self, |c| {
            let deleted = diesel::delete(admins::table.find(name)).execute(c)?;
            if deleted == 0 {
                return Err(StoreError::NotFound.into());
            }
            diesel::delete(admin_sessions::table.filter(admin_sessions::admin.eq(name)))
                .execute(c)?;
            Ok(())
        })
    }

    fn count_login_attempt(
        &self,
        name: &str,
        now: SystemTime,
        max: u8,
        locked_until: SystemTime,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let now = nanos(now)?;
        let until = nanos(locked_until)?;
        let max = i32::from(max);
        // Each step is one UPDATE, atomic on the row: PostgreSQL re-checks the
        // conditions of a waiting UPDATE against the row a concurrent one left.
        let (row, counted) = write!(self, |c| {
            let mine = admins::table.filter(admins::name.eq(name));
            diesel::update(mine.filter(admins::locked_until.le(now)))
                .set((
                    admins::failed_logins.eq(0),
                    admins::locked_until.eq(None::<i64>),
                    admins::version.eq(admins::version + 1),
                ))
                .execute(c)?;
            let counted = diesel::update(mine.filter(admins::locked_until.is_null()))
                .set((
                    admins::failed_logins.eq(admins::failed_logins + 1),
                    admins::version.eq(admins::version + 1),
                ))
                .execute(c)?
                > 0;
            if counted {
                diesel::update(
                    mine.filter(admins::locked_until.is_null())
                        .filter(admins::failed_logins.ge(max)),
                )
                .set(admins::locked_until.eq(Some(until)))
                .execute(c)?;
            }
            let row = admins::table
                .find(name)
                .select(AdminRow::as_select())
                .first(c)
                .optional()?;
            Ok((row, counted))
        })?;
        row.map(|row| {
            Ok(LoginAttempt {
                admin: row.into_record()?,
                counted,
            })
        })
        .transpose()
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(read!(self, |c| settings::table
            .find(name)
            .select(settings::value)
            .first::<String>(c)
            .optional()
            .map_err(backend)?))
    }

    fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        write!(self, |c| {
            diesel::delete(settings::table.find(name)).execute(c)?;
            diesel::insert_into(settings::table)
                .values((settings::name.eq(name), settings::value.eq(value)))
                .execute(c)?;
            Ok(())
        })
    }

    fn requests_anywhere(
        &self,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<Request>, StoreError> {
        let state = i32::from(state.code());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<RequestRow> = read!(self, |c| requests::table
            .filter(requests::state.eq(state))
            .order(requests::id)
            .limit(limit)
            .select(RequestRow::as_select())
            .load(c)
            .map_err(backend)?);
        rows.into_iter().map(RequestRow::into_request).collect()
    }
}

impl SessionStore for DieselStore {
    fn create_session(&self, session: AdminSession) -> Result<(), StoreError> {
        let row = SessionRow::of(&session)?;
        write!(self, |c| {
            diesel::insert_into(admin_sessions::table)
                .values(&row)
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        TxError::Store(StoreError::Conflict)
                    } else {
                        TxError::Db(e)
                    }
                })?;
            Ok(())
        })
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<AdminSession>, StoreError> {
        let row = read!(self, |c| admin_sessions::table
            .find(token_hash.to_vec())
            .select(SessionRow::as_select())
            .first(c)
            .optional()
            .map_err(backend)?);
        row.map(SessionRow::into_session).transpose()
    }

    fn touch_session(&self, token_hash: &[u8; 32], at: SystemTime) -> Result<(), StoreError> {
        let at = nanos(at)?;
        write!(self, |c| {
            diesel::update(admin_sessions::table.find(token_hash.to_vec()))
                .set(admin_sessions::last_used.eq(at))
                .execute(c)?;
            Ok(())
        })
    }

    fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        write!(self, |c| {
            diesel::delete(admin_sessions::table.find(token_hash.to_vec())).execute(c)?;
            Ok(())
        })
    }

    fn end_sessions(&self, admin: Option<&str>) -> Result<u64, StoreError> {
        let ended = write!(self, |c| Ok(match admin {
            Some(name) => {
                diesel::delete(admin_sessions::table.filter(admin_sessions::admin.eq(name)))
                    .execute(c)?
            }
            None => diesel::delete(admin_sessions::table).execute(c)?,
        }))?;
        Ok(ended as u64)
    }

    fn prune_sessions(
        &self,
        used_before: SystemTime,
        opened_before: SystemTime,
    ) -> Result<u64, StoreError> {
        let used = nanos(used_before)?;
        let opened = nanos(opened_before)?;
        let ended = write!(self, |c| Ok(diesel::delete(
            admin_sessions::table.filter(
                admin_sessions::last_used
                    .lt(used)
                    .or(admin_sessions::opened.lt(opened))
            )
        )
        .execute(c)?))?;
        Ok(ended as u64)
    }
}

mod outbox;
