//! The super administrator's page: administrators (create, roles, unlock, bind a
//! log-in certificate) and CA operations (the chain, a CRL now, the CRL
//! schedule, the audit chain, a database backup); and certificate log-in for
//! every administrator over HTTPS.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Form, Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use topca_core::{
    Certificate, OsRandom,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ra::{
        AdminRole, Administrator,
        admin::{self, AdminChange, AdminRecord},
    },
    store::{AdminStore, AuditStore},
};

use crate::{
    AppError, AppState,
    admin::{MIN_PASSWORD, password_long_enough},
    admin_session::{console_csrf, console_form, console_session, enter_console, start_session},
    crl_sync::{self, CrlKind},
    html::{Lang, error_page, escape, page, url_encode},
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
    let lang = Lang::of(&headers);
    let presented = request
        .extensions()
        .get::<axum::extract::ConnectInfo<Peer>>()
        .and_then(|info| info.0.certificate.clone());
    let Some(der) = presented else {
        return error_page(
            lang,
            &AppError::bad_request(lang.t(
                "浏览器没有出示证书。证书登录需要通过 HTTPS 访问本服务，并在浏览器中安装本 CA 签发、已由超级管理员绑定的证书。",
                "The browser presented no certificate. Certificate log-in needs this server over HTTPS and a certificate from this CA, bound to you by a super administrator, installed in the browser.",
            )),
        );
    };
    let opened = blocking(&state, move |s| {
        let admin = admin::login_with_certificate(&s.store, &s.ca, &der)?;
        start_session(s, &admin)
    })
    .await;
    match opened {
        Ok(token) => enter_console(&state, &token),
        Err(e) => error_page(lang, &e),
    }
}

fn role_label(lang: Lang, role: AdminRole) -> &'static str {
    match role {
        AdminRole::SuperAdmin => lang.t("超级管理员", "super administrator"),
        AdminRole::RaAdmin => lang.t("RA 管理员", "RA administrator"),
        AdminRole::KmcAdmin => lang.t("KMC 管理员", "KMC administrator"),
    }
}

const ROLES: [(AdminRole, &str); 3] = [
    (AdminRole::SuperAdmin, "super"),
    (AdminRole::RaAdmin, "ra"),
    (AdminRole::KmcAdmin, "kmc"),
];

fn role_boxes(lang: Lang, prefix: &str, current: &[AdminRole]) -> String {
    ROLES
        .iter()
        .map(|(role, name)| {
            let checked = if current.contains(role) { " checked" } else { "" };
            format!(
                r#"<label class="inline"><input type="checkbox" name="{name}" value="on" id="{prefix}-{name}"{checked}> {}</label>"#,
                role_label(lang, *role)
            )
        })
        .collect()
}

fn admin_row(lang: Lang, csrf: &str, a: &AdminRecord, now: std::time::SystemTime) -> String {
    let name = url_encode(&a.name);
    let roles: Vec<&str> = a.roles.iter().map(|r| role_label(lang, *r)).collect();
    let locked = if a.locked_until.is_some_and(|until| now < until) {
        format!(
            r#"{} <form method="post" action="/TopCA/admin/super/admins/{name}/unlock"><input type="hidden" name="csrf" value="{csrf}"><button>{}</button></form>"#,
            lang.t("已锁定", "locked"),
            lang.t("解锁", "Unlock")
        )
    } else {
        lang.t("正常", "active").to_owned()
    };
    let certificate = match &a.certificate {
        Some(fingerprint) => format!(
            r#"<code>{}…</code> <form method="post" action="/TopCA/admin/super/admins/{name}/certificate"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="pem" value=""><button>{}</button></form>"#,
            escape(fingerprint.get(..16).unwrap_or(fingerprint)),
            lang.t("解除绑定", "Unbind")
        ),
        None => format!(
            r#"<form method="post" action="/TopCA/admin/super/admins/{name}/certificate"><input type="hidden" name="csrf" value="{csrf}"><textarea name="pem" rows="2" required placeholder="-----BEGIN CERTIFICATE-----" aria-label="{label}"></textarea><button>{bind}</button></form>"#,
            label = lang.t("登录证书（PEM）", "Log-in certificate (PEM)"),
            bind = lang.t("绑定证书", "Bind the certificate")
        ),
    };
    format!(
        r#"<tr data-admin="{attr}"><td>{display}</td><td class="roles">{roles}</td><td>{locked}</td><td>{certificate}</td>
<td><form method="post" action="/TopCA/admin/super/admins/{name}/roles"><input type="hidden" name="csrf" value="{csrf}">{boxes}<button>{save}</button></form></td>
<td>{credentials}</td></tr>"#,
        credentials = crate::admin_credentials::forms(lang, csrf, &name),
        attr = escape(&a.name),
        display = escape(&a.name),
        roles = roles.join(", "),
        boxes = role_boxes(lang, &format!("roles-{}", escape(&a.name)), &a.roles),
        save = lang.t("修改角色", "Change roles"),
    )
}

async fn super_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let lang = Lang::of(&headers);
    let ops = match console_session(&state, &headers, Administrator::super_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(lang),
    };
    let (csrf, cookie) = (console_csrf(&headers), None);
    let loaded = blocking(&state, move |s| {
        let admins = admin::list_admins(&s.store, &ops)?;
        let chain = s.verify_audit();
        let crl = pki::current(s)?;
        Ok((admins, chain, crl))
    })
    .await;
    let (admins, chain, crl) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return error_page(lang, &e),
    };
    let now = state.ca.environment().clock().now();
    let rows: String = admins
        .iter()
        .map(|a| admin_row(lang, &csrf, a, now))
        .collect();
    let chain_rows: String = state
        .ca
        .chain()
        .into_iter()
        .map(|c| {
            format!(
                "<li>{} — {} {}</li>",
                escape(&c.subject_text()),
                lang.t("有效期至", "valid until"),
                topca_core::format_utc(c.not_after())
            )
        })
        .collect();
    let audit = match chain {
        Ok(verified) => format!(
            r#"<p class="ok" id="audit-verdict">{}</p>"#,
            escape(&verified.summary(lang))
        ),
        Err(e) => format!(
            r#"<p class="error" id="audit-verdict">{}</p>"#,
            escape(&e.to_string())
        ),
    };
    let body = format!(
        r#"<h3>{admins_t}</h3><table id="admins"><tr><th>{name_l}</th><th>{roles_l}</th><th>{state_l}</th><th>{cert_l}</th><th></th></tr>{rows}</table>
<h3>{new_t}</h3><form method="post" action="/TopCA/admin/super/admins" id="new-admin"><input type="hidden" name="csrf" value="{csrf}">
<label for="new-name">{name_l}</label><input id="new-name" name="name" required>
<label for="new-password">{password_l}</label><input id="new-password" name="password" type="password" minlength="{MIN_PASSWORD}" required>
<p>{boxes}</p><button type="submit" id="create-admin">{create}</button></form>
<form method="post" action="/TopCA/admin/super/sessions/end" id="end-sessions"><input type="hidden" name="csrf" value="{csrf}"><button id="end-all-sessions">{end_all}</button></form>
<h3>{ca_t}</h3><ul id="chain">{chain_rows}</ul><p><a href="/TopCA/ca/chain.pem">chain.pem</a> · <a href="/TopCA/ca/certChain.p7b">certChain.p7b</a></p>
<p id="crl-info">{crl_l} #{number}, {this_l} {this_update}, {next_l} {next_update}</p>
<form method="post" action="/TopCA/admin/super/crl"><input type="hidden" name="csrf" value="{csrf}"><button id="crl-now">{crl_now}</button></form>
<form method="post" action="/TopCA/admin/super/crl-schedule" id="schedule"><input type="hidden" name="csrf" value="{csrf}">
<label for="minutes">{schedule_l}</label><input id="minutes" name="minutes" type="number" min="1" max="1440" value="{minutes}" required>
<button type="submit" id="save-schedule">{save}</button></form>
{audit}<form method="post" action="/TopCA/admin/super/audit-checkpoint"><input type="hidden" name="csrf" value="{csrf}"><button id="audit-checkpoint">{checkpoint_l}</button></form>
<p><a href="/TopCA/admin/audit">{audit_l}</a> · <a href="/TopCA/admin/super/backup" id="backup">{backup_l}</a></p>
<p><a href="/TopCA/admin">{back}</a></p>"#,
        admins_t = lang.t("管理员", "Administrators"),
        checkpoint_l = lang.t("立即签署审计检查点", "Sign an audit checkpoint now"),
        name_l = lang.t("管理员名", "Name"),
        roles_l = lang.t("角色", "Roles"),
        state_l = lang.t("状态", "State"),
        cert_l = lang.t("登录证书", "Log-in certificate"),
        new_t = lang.t("新建管理员", "New administrator"),
        password_l = lang.t(
            &format!("口令（至少 {MIN_PASSWORD} 个字符）"),
            &format!("Password ({MIN_PASSWORD} characters or more)")
        ),
        boxes = role_boxes(lang, "new", &[]),
        create = lang.t("创建管理员", "Create the administrator"),
        end_all = lang.t(
            "结束所有管理员会话（包括自己的，所有人需重新登录）",
            "End every administrator session (yours too; everyone logs in again)"
        ),
        ca_t = lang.t("CA 运维", "CA operations"),
        crl_l = lang.t("当前 CRL", "Current CRL"),
        number = crl.info.number,
        this_l = lang.t("签发于", "issued"),
        this_update = topca_core::format_utc(crl.info.this_update),
        next_l = lang.t("下次更新", "next update"),
        next_update = topca_core::format_utc(crl.info.next_update),
        crl_now = lang.t("立即重新生成 CRL", "Issue a CRL now"),
        schedule_l = lang.t("CRL 刷新周期（分钟）", "CRL schedule (minutes)"),
        minutes = state.crl_schedule_minutes.load(Ordering::Relaxed),
        save = lang.t("保存", "Save"),
        audit_l = lang.t("审计日志", "Audit log"),
        backup_l = lang.t("下载数据库备份", "Download a database backup"),
        back = lang.t("返回控制台", "Back to the console"),
    );
    page(
        lang,
        lang.t("管理员与 CA 运维", "Administrators and CA operations"),
        &body,
        cookie,
    )
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
        return error_page(
            lang,
            &AppError::bad_request(lang.t(
                &format!("管理员口令至少需要 {MIN_PASSWORD} 个字符。"),
                &format!("An administrator password needs {MIN_PASSWORD} characters or more."),
            )),
        );
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
                    &AppError::bad_request(lang.t(
                        "请粘贴一张 PEM 格式的证书（-----BEGIN CERTIFICATE-----）。",
                        "Paste one certificate in PEM form (-----BEGIN CERTIFICATE-----).",
                    )),
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
            &AppError::bad_request(lang.t(
                "CRL 刷新周期必须是 1 到 1440 之间的分钟数。",
                "The CRL schedule must be a number of minutes from 1 to 1440.",
            )),
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
            .map_err(|e| AppError::bad_request(e.to_string()))
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
