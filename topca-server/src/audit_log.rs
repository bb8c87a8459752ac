//! The audit log's anchor outside the database: signed checkpoints appended to
//! `DATA_DIR/audit/checkpoints` (mode 0600), the latest served at
//! `GET /TopCA/audit/checkpoint` for an external witness, made on demand (super
//! administrator page and API, `topca-server audit checkpoint`) and by the
//! background task when the log grew; and the verification `topca-server audit
//! verify` and the console share: every entry against the audit key, the log
//! against the latest checkpoint of the file.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use topca_core::{
    Certificate, SigningKey,
    audit::{AuditKey, ChainReport, verify_chain},
    audit_checkpoint::{Checkpoint, hex},
    error::AuditError,
    ra::Administrator,
    store::AuditStore,
};

use crate::{
    AppError, AppState,
    admin_session::{api_session, console_form, forbidden},
    files::{ca_files, file_error, make_dir, read},
    html::{Lang, error_page},
    setup::{Options, SetupError, ca_passphrase, master_key, open_store},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/audit/checkpoint", get(latest_api))
        .route("/TopCA/admin/super/audit-checkpoint", post(checkpoint_now))
        .route("/api/v1/admin/audit/checkpoints", post(checkpoint_api))
}

/// The checkpoint file of the data directory `dir`.
pub fn checkpoint_file(dir: &Path) -> PathBuf {
    dir.join("audit").join("checkpoints")
}

/// Signs the current head of `store`'s audit log with `key` (the issuing CA's)
/// and appends the checkpoint to the file of `dir`.
pub fn write_checkpoint(
    dir: &Path,
    store: &dyn AuditStore,
    key: &SigningKey,
) -> Result<Checkpoint, SetupError> {
    let entries = store.audit_entries().map_err(topca_core::Error::from)?;
    let checkpoint = Checkpoint::sign(entries.last(), SystemTime::now(), key)
        .map_err(topca_core::Error::from)?;
    make_dir(&dir.join("audit"))?;
    let path = checkpoint_file(dir);
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut file| {
            writeln!(file, "{}", checkpoint.to_line())?;
            file.sync_all()
        })
        .map_err(|e| file_error(&path, &e))?;
    Ok(checkpoint)
}

/// The newest checkpoint of the file of `dir`, if one was made.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, SetupError> {
    let path = checkpoint_file(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Checkpoint::latest_in(&text).map_err(topca_core::Error::from)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(&path, &e)),
    }
}

/// What a verification found: the chain report and the checkpoint it was held to.
#[derive(Debug)]
pub struct Verified {
    /// The chain.
    pub chain: ChainReport,
    /// The latest checkpoint of the file, if any.
    pub checkpoint: Option<Checkpoint>,
}

/// Verifies `store`'s audit log under `key` and against the latest checkpoint in
/// the file of `dir`, whose signature must verify with the CA certificate `ca`.
pub fn verify(
    dir: &Path,
    store: &dyn AuditStore,
    ca: &Certificate,
    key: &AuditKey,
) -> Result<Verified, AuditFinding> {
    let checkpoint = latest_checkpoint(dir).map_err(AuditFinding::Unreadable)?;
    if let Some(checkpoint) = &checkpoint {
        checkpoint.verify(ca)?;
    }
    let entries = store
        .audit_entries()
        .map_err(|e| AuditFinding::Unreadable(topca_core::Error::from(e).into()))?;
    let head = checkpoint.as_ref().map(|c| (c.sequence, c.head));
    let chain = verify_chain(&entries, Some(key), head)?;
    Ok(Verified { chain, checkpoint })
}

/// Why the audit log did not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditFinding {
    /// The log or a checkpoint was tampered with.
    #[error(transparent)]
    Tampered(#[from] AuditError),
    /// The log or the checkpoint file could not be read.
    #[error(transparent)]
    Unreadable(SetupError),
}

impl Verified {
    /// The verdict in English, for the command line.
    pub fn describe(&self) -> String {
        self.summary(Lang::En)
    }

    /// One line for people, in `lang`.
    pub(crate) fn summary(&self, lang: Lang) -> String {
        let mut parts = vec![lang.f1("audit.verdict.intact", self.chain.entries)];
        if self.chain.unkeyed > 0 {
            parts.push(lang.f1("audit.verdict.unkeyed", self.chain.unkeyed));
        }
        parts.push(match &self.checkpoint {
            Some(c) => lang.f1("audit.verdict.checkpoint", c.sequence),
            None => lang.s("audit.verdict.no_checkpoint").to_owned(),
        });
        parts.join(" ")
    }
}

impl AuditFinding {
    /// What was found, for people, in `lang`.
    pub(crate) fn summary(&self, lang: Lang) -> String {
        let what = match (self, lang) {
            (Self::Tampered(e), Lang::Zh) => topca_core::Error::from(e.clone()).message_zh(),
            (Self::Tampered(e), Lang::En) => e.to_string(),
            (Self::Unreadable(_), _) => lang.s("audit.checkpoints.unreadable").to_owned(),
        };
        lang.f1("audit.verdict.broken", what)
    }
}

/// Every checkpoint of the file of `dir`, oldest first (none before the first
/// is made).
pub(crate) fn checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, SetupError> {
    let path = checkpoint_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(&path, &e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(Checkpoint::from_line(l).map_err(topca_core::Error::from)?))
        .collect()
}

/// `topca-server audit verify`: the log of the CA of `options` under the audit
/// key derived from the KMC master key, against the latest checkpoint of the file.
pub fn verify_offline(options: &Options) -> Result<Verified, AuditFinding> {
    let dir = &options.data_dir;
    let [_, issuing, _] = ca_files(dir);
    let ca = read(&issuing)
        .and_then(|pem| Ok(Certificate::from_pem(&pem).map_err(topca_core::Error::from)?))
        .map_err(AuditFinding::Unreadable)?;
    let key = AuditKey::derive(&master_key(dir).map_err(AuditFinding::Unreadable)?);
    let store = open_store(options).map_err(AuditFinding::Unreadable)?;
    verify(dir, &store, &ca, &key)
}

/// `topca-server audit checkpoint`: signs the current head with the issuing CA's
/// key (its passphrase from the environment or `secrets/`) and appends it.
pub fn checkpoint_offline(options: &Options) -> Result<Checkpoint, SetupError> {
    let dir = &options.data_dir;
    let [_, _, key_path] = ca_files(dir);
    let passphrase = ca_passphrase(dir)?;
    let key = crate::hsm::load_ca_key(&key_path, &passphrase)?;
    let store = open_store(options)?;
    write_checkpoint(dir, &store, &key)
}

/// Makes a checkpoint when the log grew since the latest one (background task).
pub(crate) fn checkpoint_if_grown(state: &AppState) -> Result<(), SetupError> {
    let newest = state
        .store
        .audit_entries()
        .map_err(topca_core::Error::from)?
        .last()
        .map_or(0, |e| e.sequence);
    let covered = latest_checkpoint(&state.data_dir)?.map_or(0, |c| c.sequence);
    if newest > covered {
        write_checkpoint(&state.data_dir, &state.store, state.ca.key())?;
    }
    Ok(())
}

/// A checkpoint as the endpoint serves it.
#[derive(Serialize, utoipa::ToSchema)]
struct CheckpointView {
    sequence: u64,
    head: String,
    time: u64,
    /// Hexadecimal signature over `message` by the issuing CA's key.
    signature: String,
    /// Hexadecimal bytes signed.
    message: String,
}

impl From<&Checkpoint> for CheckpointView {
    fn from(c: &Checkpoint) -> Self {
        Self {
            sequence: c.sequence,
            head: hex(&c.head),
            time: c
                .at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            signature: hex(&c.signature),
            message: hex(&c.message()),
        }
    }
}

fn setup_error(_: SetupError) -> AppError {
    AppError::internal("read or write the audit checkpoint")
}

/// The latest checkpoint (public: it reveals only the sequence, head, time and
/// signature).
async fn latest_api(State(state): State<Arc<AppState>>) -> Result<Json<CheckpointView>, AppError> {
    let latest = blocking(&state, |s| {
        latest_checkpoint(&s.data_dir).map_err(setup_error)
    })
    .await?;
    latest
        .as_ref()
        .map(|c| Json(CheckpointView::from(c)))
        .ok_or_else(|| {
            AppError::new(
                StatusCode::NOT_FOUND,
                "no audit checkpoint has been made yet",
            )
        })
}

/// Makes a checkpoint now (super administrators).
#[utoipa::path(post, path = "/api/v1/admin/audit/checkpoints", tag = crate::api::tags::AUDIT, security(("bearer" = [])),
    responses((status = 200, description = "The checkpoint made", body = CheckpointView)))]
async fn checkpoint_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<CheckpointView>, AppError> {
    api_session(&state, &headers)
        .await?
        .super_ops()
        .map_err(forbidden)?;
    let made = blocking(&state, |s| {
        write_checkpoint(&s.data_dir, &s.store, s.ca.key()).map_err(setup_error)
    })
    .await?;
    Ok(Json(CheckpointView::from(&made)))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// Makes a checkpoint now from the super administrator page.
async fn checkpoint_now(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_form(&state, &headers, &form.csrf, Administrator::super_ops).await
    {
        return refused.page(lang);
    }
    let made = blocking(&state, |s| {
        write_checkpoint(&s.data_dir, &s.store, s.ca.key()).map_err(setup_error)
    })
    .await;
    match made {
        Ok(_) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}
