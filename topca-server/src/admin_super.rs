//! The super administrator's page: administrators (create, roles, unlock, bind a
//! log-in certificate) and CA operations (the chain, a CRL now, the CRL
//! schedule, the audit chain, a database backup); and certificate log-in for
//! every administrator over HTTPS.

use std::sync::{Arc, atomic::Ordering};

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use topca_core::{
    Certificate, OsRandom,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    format_utc,
    ra::{
        AdminRole, Administrator,
        admin::{self, AdminChange, AdminRecord},
    },
    store::{AdminStore, AuditStore, contains_folded},
};

use crate::{
    AppError, AppState,
    admin::{MIN_PASSWORD, console_crumb, password_long_enough, password_too_short, role_label},
    admin_list::{ListQuery, ROWS, pager},
    admin_session::{console_csrf, console_form, console_session, enter_console, start_session},
    crl_sync::{self, CrlKind},
    html::{Chrome, Lang, Pager, error_page, render, url_encode},
    pki,
    state::{CRL_SCHEDULE, blocking},
    tls::Peer,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/login/certificate", get(certificate_login))
        .route("/TopCA/admin/super", get(super_page))
        .route("/TopCA/admin/super/admins", post(create_admin))
        .route("/TopCA/admin/super/admins/{name}/roles", post(set_roles))
        .route("/TopCA/admin/super/admins/{name}/unlock", post(unlock))
        .route(
            "/TopCA/admin/super/admins/{name}/certificate",
            post(bind_certificate),
        )
        .merge(crate::admin_credentials::routes())
        .route("/TopCA/admin/super/crl", post(crl_now))
        .route("/TopCA/admin/super/crl-schedule", post(crl_schedule))
        .route("/TopCA/admin/super/backup", get(backup))
}

/// Certificate log-in: the client certificate of the TLS connection, checked by
/// [`admin::login_with_certificate`].
async fn certificate_login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let t = Lang::of(&headers);
    let presented = request
        .extensions()
        .get::<axum::extract::ConnectInfo<Peer>>()
        .and_then(|info| info.0.certificate.clone());
    let Some(der) = presented else {
        return error_page(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "super.login.no_certificate"),
        );
    };
    let opened = blocking(&state, move |s| {
        let admin = admin::login_with_certificate(&s.store, &s.ca, &der)?;
        start_session(s, &admin)
    })
    .await;
    match opened {
        Ok(token) => enter_console(&state, &token),
        Err(e) => error_page(t, &e),
    }
}

/// The role boxes of the forms: (form field, role).
const ROLES: [(&str, AdminRole); 3] = [
    ("super", AdminRole::SuperAdmin),
    ("ra", AdminRole::RaAdmin),
    ("kmc", AdminRole::KmcAdmin),
];

/// The role boxes with their words, ticked for the roles in `current`.
fn role_boxes(t: Lang, current: &[AdminRole]) -> Vec<(&'static str, &'static str, bool)> {
    ROLES
        .iter()
        .map(|(field, role)| (*field, role_label(t, *role), current.contains(role)))
        .collect()
}

/// An administrator as the super administrator's page lists them.
struct AdminRow {
    name: String,
    /// The name as a URL path segment.
    path: String,
    roles: String,
    boxes: Vec<(&'static str, &'static str, bool)>,
    locked: bool,
    /// The start of the bound certificate's fingerprint.
    fingerprint: Option<String>,
}

impl AdminRow {
    fn of(t: Lang, a: AdminRecord, now: std::time::SystemTime) -> Self {
        let roles: Vec<&str> = a.roles.iter().map(|r| role_label(t, *r)).collect();
        Self {
            path: url_encode(&a.name),
            roles: roles.join(t.s("super.console.separator")),
            boxes: role_boxes(t, &a.roles),
            locked: a.locked_until.is_some_and(|until| now < until),
            fingerprint: a
                .certificate
                .map(|f| f.get(..16).map_or_else(|| f.clone(), str::to_owned)),
            name: a.name,
        }
    }
}

/// The super administrator's page.
#[derive(Template)]
#[template(path = "admin/super.html")]
struct SuperPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    query: String,
    admins: Vec<AdminRow>,
    pager: Pager,
    min_password: usize,
    new_boxes: Vec<(&'static str, &'static str, bool)>,
    /// The CA chain: (subject, valid until).
    chain: Vec<(String, String)>,
    crl_number: String,
    crl_this_update: String,
    crl_next_update: String,
    minutes: u64,
    audit_ok: bool,
    audit_verdict: String,
}

async fn super_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let query = q.search();
    let wanted = query.clone();
    let loaded = blocking(&state, move |s| {
        // Administrators are few: the list is read whole, then one page kept.
        let admins: Vec<AdminRecord> = admin::list_admins(&s.store, &ops)?
            .into_iter()
            .filter(|a| contains_folded(&a.name, &wanted))
            .collect();
        let chain = s.verify_audit();
        let crl = pki::current(s)?;
        Ok((admins, chain, crl))
    })
    .await;
    let (admins, chain, crl) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return error_page(t, &e),
    };
    let now = state.ca.environment().clock().now();
    let pager = pager(
        q.page(),
        admins.len() as u64,
        "/TopCA/admin/super",
        &[("q", &query)],
    );
    let admins = admins
        .into_iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(ROWS as usize)
        .map(|a| AdminRow::of(t, a, now))
        .collect();
    let (audit_ok, audit_verdict) = match chain {
        Ok(verified) => (true, verified.summary(t)),
        Err(finding) => (false, finding.summary(t)),
    };
    let view = SuperPage {
        t,
        page: Chrome::new(t.s("super.console.super"), &[console_crumb(t)]),
        csrf: console_csrf(&headers),
        query,
        admins,
        pager,
        min_password: MIN_PASSWORD,
        new_boxes: role_boxes(t, &[]),
        chain: state
            .ca
            .chain()
            .into_iter()
            .map(|c| (c.subject_text(), format_utc(c.not_after())))
            .collect(),
        crl_number: crl.info.number.to_string(),
        crl_this_update: format_utc(crl.info.this_update),
        crl_next_update: format_utc(crl.info.next_update),
        minutes: state.crl_schedule_minutes.load(Ordering::Relaxed),
        audit_ok,
        audit_verdict,
    };
    render(StatusCode::OK, &view, None)
}

/// The roles ticked on a form.
#[derive(Deserialize)]
struct RoleBoxes {
    #[serde(default, rename = "super")]
    super_admin: Option<String>,
    #[serde(default)]
    ra: Option<String>,
    #[serde(default)]
    kmc: Option<String>,
}

impl RoleBoxes {
    fn roles(&self) -> Vec<AdminRole> {
        [
            (&self.super_admin, AdminRole::SuperAdmin),
            (&self.ra, AdminRole::RaAdmin),
            (&self.kmc, AdminRole::KmcAdmin),
        ]
        .into_iter()
        .filter(|(ticked, _)| ticked.is_some())
        .map(|(_, role)| role)
        .collect()
    }
}

#[derive(Deserialize)]
struct NewAdminForm {
    csrf: String,
    name: String,
    password: String,
    #[serde(flatten)]
    roles: RoleBoxes,
}

async fn create_admin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<NewAdminForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let password = zeroize::Zeroizing::new(form.password);
    if !password_long_enough(&password) {
        return error_page(lang, &password_too_short());
    }
    let roles = form.roles.roles();
    let name = form.name;
    let created = blocking(&state, move |s| {
        Ok(admin::add_admin(
            &s.store,
            &ops,
            &name,
            &password,
            roles,
            &OsRandom,
            s.ca.environment().clock(),
        )?)
    })
    .await;
    match created {
        Ok(_) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

async fn change(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    lang: Lang,
    csrf: &str,
    name: String,
    change: AdminChange,
) -> Response {
    let ops = match console_form(state, headers, csrf, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let done = blocking(state, move |s| {
        Ok(admin::change_admin(&s.store, &ops, &s.ca, &name, change)?)
    })
    .await;
    match done {
        Ok(_) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct RolesForm {
    csrf: String,
    #[serde(flatten)]
    roles: RoleBoxes,
}

async fn set_roles(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<RolesForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let roles = AdminChange::Roles(form.roles.roles());
    change(&state, &headers, lang, &form.csrf, name, roles).await
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn unlock(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = Lang::of(&headers);
    change(
        &state,
        &headers,
        lang,
        &form.csrf,
        name,
        AdminChange::Unlock,
    )
    .await
}

#[derive(Deserialize)]
struct CertificateForm {
    csrf: String,
    /// Empty to unbind.
    pem: String,
}

async fn bind_certificate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CertificateForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let what = if form.pem.trim().is_empty() {
        AdminChange::UnbindCertificate
    } else {
        match Certificate::from_pem(form.pem.trim()) {
            Ok(certificate) => AdminChange::BindCertificate(Box::new(certificate)),
            Err(_) => {
                return error_page(
                    lang,
                    &AppError::localized(StatusCode::BAD_REQUEST, "super.admins.not_a_certificate"),
                );
            }
        }
    };
    change(&state, &headers, lang, &form.csrf, name, what).await
}

/// Issues a full CRL (and a delta CRL when the CA publishes them) now.
async fn crl_now(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = Lang::of(&headers);
    if let Err(refused) = console_form(&state, &headers, &form.csrf, Administrator::super_ops).await
    {
        return refused.page(lang);
    }
    let done = blocking(&state, |s| {
        let now = s.ca.environment().clock().now();
        crl_sync::publish_since(s, CrlKind::Full, now)?;
        if s.publishes_deltas() {
            crl_sync::publish_since(s, CrlKind::Delta, now)?;
        }
        Ok(())
    })
    .await;
    match done {
        Ok(()) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

#[derive(Deserialize)]
struct ScheduleForm {
    csrf: String,
    minutes: String,
}

/// Sets the CRL schedule; kept in the database so it outlives restarts.
async fn crl_schedule(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<ScheduleForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let Some(minutes) = form
        .minutes
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|m| (1..=24 * 60).contains(m))
    else {
        return error_page(
            lang,
            &AppError::localized(StatusCode::BAD_REQUEST, "super.ca.schedule_bad"),
        );
    };
    let done = blocking(&state, move |s| {
        s.store
            .put_setting(CRL_SCHEDULE, &minutes.to_string())
            .map_err(topca_core::Error::from)?;
        s.crl_schedule_minutes.store(minutes, Ordering::Relaxed);
        s.store
            .append_audit(AuditRecord {
                at: s.ca.environment().clock().now(),
                actor: Actor::Admin(ops.admin().to_owned()),
                action: AuditAction::SettingChanged,
                target: CRL_SCHEDULE.to_owned(),
                outcome: Outcome::Success,
                detail: format!("{minutes} minutes"),
            })
            .map_err(topca_core::Error::from)?;
        Ok(())
    })
    .await;
    match done {
        Ok(()) => Redirect::to("/TopCA/admin/super").into_response(),
        Err(e) => error_page(lang, &e),
    }
}

/// A consistent copy of the SQLite database, as a download.
async fn backup(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let copied = blocking(&state, move |s| {
        let dir = tempfile_dir()?;
        let path = dir.join("topca-backup.db");
        let result = s
            .store
            .backup_sqlite(&path)
            .map_err(|e| {
                AppError::bad_request(e.to_string()).zh(Lang::Zh.s("super.audit.backup_failed"))
            })
            .and_then(|()| {
                std::fs::read(&path)
                    .map_err(|e| crate::AppError::internal_because("read the backup", &e))
            });
        let _ = std::fs::remove_dir_all(&dir);
        let bytes = result?;
        s.store
            .append_audit(AuditRecord {
                at: s.ca.environment().clock().now(),
                actor: Actor::Admin(ops.admin().to_owned()),
                action: AuditAction::SettingChanged,
                target: "database backup".into(),
                outcome: Outcome::Success,
                detail: format!("{} bytes downloaded", bytes.len()),
            })
            .map_err(topca_core::Error::from)?;
        Ok(bytes)
    })
    .await;
    match copied {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.sqlite3"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"topca-backup.db\""),
            );
            response
        }
        Err(e) => error_page(lang, &e),
    }
}

/// A fresh private directory for the backup copy.
fn tempfile_dir() -> Result<std::path::PathBuf, AppError> {
    let mut random = [0u8; 8];
    topca_core::RandomSource::fill(&OsRandom, &mut random)
        .map_err(|e| crate::AppError::internal_because("make the backup", &e))?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("topca-backup-{name}"));
    let mut builder = std::fs::DirBuilder::new();
    // Only the server's user may read the copy while it exists.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(|e| crate::AppError::internal_because("make the backup", &e))?;
    Ok(dir)
}
