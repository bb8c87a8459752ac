//! Querying and revoking the account's server certificates (manual 3.4, 3.5):
//! by contact e-mail or server name, filtered by status and end of validity,
//! paged; a certificate is revoked by picking it from the results, then giving
//! its password and a reason.

use std::{sync::Arc, time::SystemTime};

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;
use topca_core::{
    format_utc,
    lifecycle::{CertificateUsage, RevocationReason},
    ra::{AccountId, CertificateQuery, HolderQuery, StatusFilter},
    store::{CertificateRecord, CertificateStatus, CertificateStore},
};

use super::{CentreAccount, error_page_home, load_account};
use crate::{
    AppError, AppState,
    html::{Chrome, Lang, Pager, csrf_ok, csrf_token, form_expired, render, url_encode},
    limits::ClientAddr,
    state::blocking,
};

/// Certificates per page of results.
const PAGE_ROWS: u64 = 50;
/// The longest e-mail or server name searched for.
const MAX_SEARCH: usize = 254;

#[derive(Deserialize)]
pub(super) struct QueryParams {
    account: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    page: Option<String>,
    /// Opened as 吊销服务器证书: the same search, titled for revocation.
    #[serde(default)]
    revoke: String,
}

/// The search a query page was asked for, checked.
struct Search {
    email: String,
    name: String,
    status: Option<StatusFilter>,
    status_raw: &'static str,
    from: Option<(String, SystemTime)>,
    until: Option<(String, SystemTime)>,
    page: Option<u64>,
    revoke: bool,
}

impl Search {
    fn parse(q: &QueryParams) -> Result<Self, AppError> {
        let bad = |key| AppError::localized(StatusCode::BAD_REQUEST, key);
        let email = q.email.trim().to_owned();
        let name = q.name.trim().to_owned();
        if email.chars().count() > MAX_SEARCH || name.chars().count() > MAX_SEARCH {
            return Err(bad("server.query.too_long"));
        }
        let (status, status_raw) = match q.status.trim() {
            "" => (None, ""),
            "valid" => (Some(StatusFilter::Valid), "valid"),
            "revoked" => (Some(StatusFilter::Revoked), "revoked"),
            "expired" => (Some(StatusFilter::Expired), "expired"),
            _ => return Err(bad("server.query.bad_status")),
        };
        let day = |raw: &str, end: bool| -> Result<Option<(String, SystemTime)>, AppError> {
            let raw = raw.trim();
            if raw.is_empty() {
                return Ok(None);
            }
            let start =
                topca_core::parse_utc_day(raw).ok_or_else(|| bad("server.query.bad_date"))?;
            // The end of a day is the start of the next one, less a second.
            let at = if end {
                start + std::time::Duration::from_secs(86_399)
            } else {
                start
            };
            Ok(Some((raw.to_owned(), at)))
        };
        let page = match q.page.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(p.parse().map_err(|_| bad("server.query.bad_page"))?),
        };
        Ok(Self {
            email,
            name,
            status,
            status_raw,
            from: day(&q.from, false)?,
            until: day(&q.until, true)?,
            page,
            revoke: !q.revoke.is_empty(),
        })
    }

    fn holder(&self) -> Option<HolderQuery> {
        if !self.email.is_empty() {
            Some(HolderQuery::Email(self.email.clone()))
        } else if !self.name.is_empty() {
            Some(HolderQuery::Name(self.name.clone()))
        } else {
            None
        }
    }

    /// The results' URL without the page number.
    fn base(&self, account: u64) -> String {
        let mut url = format!(
            "/TopCA/serverEnroll/query?account={account}&email={}&name={}&status={}",
            url_encode(&self.email),
            url_encode(&self.name),
            self.status_raw
        );
        for (key, day) in [("from", &self.from), ("until", &self.until)] {
            if let Some((raw, _)) = day {
                url.push_str(&format!("&{key}={}", url_encode(raw)));
            }
        }
        if self.revoke {
            url.push_str("&revoke=1");
        }
        url
    }
}

/// One certificate of the results.
struct Row {
    serial: String,
    name: String,
    email: String,
    not_after: String,
    status: String,
    /// The revocation page of a certificate still valid.
    revoke: Option<String>,
}

/// A status filter choice.
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

/// 查询服务器证书 / 吊销服务器证书.
#[derive(Template)]
#[template(path = "server/query.html")]
struct QueryPage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
    email: String,
    name: String,
    statuses: Vec<Choice>,
    from: String,
    until: String,
    revoke: bool,
    searched: bool,
    rows: Vec<Row>,
    pager: Pager,
}

/// The status shown for `record` at `now`.
fn status_of(t: Lang, record: &CertificateRecord, now: SystemTime) -> String {
    let key = match record.status {
        CertificateStatus::Revoked => "values.status.revoked",
        CertificateStatus::Valid if record.not_after <= now => "values.status.expired",
        CertificateStatus::Valid => "values.status.valid",
    };
    t.s(key).to_owned()
}

pub(super) async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<QueryParams>,
) -> Response {
    let t = Lang::of(&headers);
    let account = match load_account(&state, t, q.account.as_deref()).await {
        Ok(a) => a,
        Err(e) => return error_page_home(t, &e, None),
    };
    let search = match Search::parse(&q) {
        Ok(s) => s,
        Err(e) => return error_page_home(t, &e, Some(&account)),
    };
    let found = match search.holder() {
        None => Vec::new(),
        Some(holder) => {
            let query = CertificateQuery {
                holder,
                status: search.status,
                not_after_from: search.from.as_ref().map(|(_, at)| *at),
                not_after_until: search.until.as_ref().map(|(_, at)| *at),
            };
            let id = AccountId(account.id);
            let found = blocking(&state, move |s| Ok(s.ra().query(id, &query)?)).await;
            match found {
                Ok(found) => found
                    .into_iter()
                    .filter(|c| c.usage == CertificateUsage::Server)
                    .collect(),
                Err(e) => return error_page_home(t, &e, Some(&account)),
            }
        }
    };
    let now = state.ca.environment().clock().now();
    let pager = Pager::new(
        search.page,
        PAGE_ROWS,
        found.len() as u64,
        search.base(account.id),
    );
    let rows = found
        .iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(PAGE_ROWS as usize)
        .map(|c| Row {
            serial: c.serial.clone(),
            name: c.holder_name.clone(),
            email: c.email.clone(),
            not_after: format_utc(c.not_after),
            status: status_of(t, c, now),
            revoke: (c.status == CertificateStatus::Valid).then(|| {
                format!(
                    "/TopCA/serverEnroll/revoke?account={}&serial={}",
                    account.id, c.serial
                )
            }),
        })
        .collect();
    let statuses = [
        ("", "server.query.any_status"),
        ("valid", "values.status.valid"),
        ("revoked", "values.status.revoked"),
        ("expired", "values.status.expired"),
    ]
    .into_iter()
    .map(|(value, key)| Choice {
        value,
        label: t.s(key).to_owned(),
        selected: value == search.status_raw,
    })
    .collect();
    let title = if search.revoke {
        "server.revoke.title"
    } else {
        "server.query.title"
    };
    let page = account.chrome(t, t.s(title));
    let view = QueryPage {
        t,
        page,
        account,
        searched: search.holder().is_some(),
        email: search.email,
        name: search.name,
        statuses,
        from: search.from.map(|(raw, _)| raw).unwrap_or_default(),
        until: search.until.map(|(raw, _)| raw).unwrap_or_default(),
        revoke: search.revoke,
        rows,
        pager,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
pub(super) struct RevokeParams {
    account: Option<String>,
    #[serde(default)]
    serial: String,
}

/// The server certificate `serial` of `account`, else "unknown certificate"
/// (whether it does not exist, belongs to another account or is no server
/// certificate).
async fn server_certificate(
    state: &Arc<AppState>,
    account: u64,
    serial: &str,
) -> Result<CertificateRecord, AppError> {
    let unknown = || {
        AppError::from(topca_core::Error::Ra(
            topca_core::RaError::UnknownCertificate,
        ))
    };
    let serial = serial.trim().to_ascii_uppercase();
    if serial.is_empty() || serial.len() > 64 || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    let record = blocking(state, move |s| {
        s.store
            .certificate(&serial)
            .map_err(|e| AppError::from(topca_core::Error::from(e)))
    })
    .await?;
    record
        .filter(|r| r.account == Some(AccountId(account)) && r.usage == CertificateUsage::Server)
        .ok_or_else(unknown)
}

/// A reason to choose.
struct Reason {
    code: u8,
    label: String,
}

/// The picked certificate, its password and a reason.
#[derive(Template)]
#[template(path = "server/revoke.html")]
struct RevokePage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
    csrf: String,
    serial: String,
    subject: String,
    not_before: String,
    not_after: String,
    status: String,
    valid: bool,
    reasons: Vec<Reason>,
}

pub(super) async fn revoke_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<RevokeParams>,
) -> Response {
    let t = Lang::of(&headers);
    let account = match load_account(&state, t, q.account.as_deref()).await {
        Ok(a) => a,
        Err(e) => return error_page_home(t, &e, None),
    };
    let record = match server_certificate(&state, account.id, &q.serial).await {
        Ok(r) => r,
        Err(e) => return error_page_home(t, &e, Some(&account)),
    };
    let now = state.ca.environment().clock().now();
    let (csrf, cookie) = csrf_token(&headers);
    let reasons = RevocationReason::FOR_HOLDERS
        .iter()
        .map(|r| Reason {
            code: r.code(),
            label: t.value("reason", r),
        })
        .collect();
    let page = account.chrome(t, t.s("server.revoke.title"));
    let view = RevokePage {
        t,
        page,
        account,
        csrf,
        status: status_of(t, &record, now),
        valid: record.status == CertificateStatus::Valid,
        serial: record.serial,
        subject: record.subject,
        not_before: format_utc(record.not_before),
        not_after: format_utc(record.not_after),
        reasons,
    };
    render(StatusCode::OK, &view, cookie)
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    csrf: String,
    account: Option<String>,
    serial: String,
    password: String,
    reason: String,
}

/// The certificate revoked.
#[derive(Template)]
#[template(path = "server/revoked.html")]
struct RevokedPage {
    t: Lang,
    page: Chrome,
    account: CentreAccount,
    serial: String,
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let t = Lang::of(&headers);
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let password = zeroize::Zeroizing::new(form.password);
    let account = match load_account(&state, t, form.account.as_deref()).await {
        Ok(a) => a,
        Err(e) => return error_page_home(t, &e, None),
    };
    let result = revoke_checked(
        &state,
        client,
        &account,
        &form.serial,
        &form.reason,
        password,
    )
    .await;
    match result {
        Ok(serial) => {
            let page = account.chrome(t, t.s("server.revoked.title"));
            render(
                StatusCode::OK,
                &RevokedPage {
                    t,
                    page,
                    account,
                    serial,
                },
                None,
            )
        }
        Err(e) => {
            let back = format!(
                "/TopCA/serverEnroll/revoke?account={}&serial={}",
                account.id,
                url_encode(form.serial.trim())
            );
            crate::html::error_page_back(t, &e, &back)
        }
    }
}

/// Revokes the account's server certificate `serial` with its password: the serial.
async fn revoke_checked(
    state: &Arc<AppState>,
    client: ClientAddr,
    account: &CentreAccount,
    serial: &str,
    reason: &str,
    password: zeroize::Zeroizing<String>,
) -> Result<String, AppError> {
    let source = state.holder_secret_source(client)?;
    let reason = reason
        .trim()
        .parse()
        .ok()
        .and_then(RevocationReason::from_code)
        .ok_or_else(|| AppError::localized(StatusCode::BAD_REQUEST, "server.revoke.no_reason"))?;
    let record = server_certificate(state, account.id, serial).await?;
    let id = AccountId(account.id);
    let revoked = state
        .hashing
        .run(state, move |s| {
            let revoked =
                s.ra()
                    .for_client(source)
                    .revoke(id, &record.serial, &password, reason)?;
            s.crl_changed();
            Ok(revoked)
        })
        .await?;
    Ok(revoked.serial)
}
