//! 查询用户证书 and 吊销用户证书 (manual 2.5, 2.7): the account's certificates
//! of a holder (by e-mail or name), filtered by status and by the end of
//! validity, a page at a time; a certificate picked from the list opens its
//! revocation page (user password and reason).

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use askama::Template;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    format_utc,
    lifecycle::RevocationReason,
    ra::{AccountId, CertificateQuery, HolderQuery, StatusFilter},
    store::{CertificateRecord, CertificateStatus, CertificateStore},
};

use super::extract::{PageForm, PageQuery, holder_source};
use super::{PAGE_ROWS, chrome, refuse};
use crate::{
    AppError, AppState,
    html::{self, Chrome, Lang, Pager, csrf_ok, csrf_token, form_expired, url_encode},
    limits::ClientAddr,
    state::blocking,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/userEnroll/query", get(query))
        .route("/TopCA/userEnroll/revoke", get(revoke_page).post(revoke))
}

/// The longest "ends within N days" filter (ten years).
const MAX_DAYS: u64 = 3650;

const DAY: Duration = Duration::from_secs(86_400);

#[derive(Deserialize)]
struct QueryParams {
    account: u64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    within: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    page: Option<u64>,
}

/// One row of the results.
pub(super) struct Row {
    pub(super) serial: String,
    pub(super) holder: String,
    pub(super) usage: String,
    pub(super) until: String,
    pub(super) status: String,
    /// Whether it can still be revoked (valid, not expired).
    pub(super) active: bool,
}

impl Row {
    pub(super) fn of(t: Lang, c: &CertificateRecord, now: SystemTime) -> Self {
        let expired = c.status == CertificateStatus::Valid && c.not_after <= now;
        let status = if expired {
            t.s("values.status.expired").to_owned()
        } else {
            t.value("status", c.status)
        };
        Self {
            serial: c.serial.clone(),
            holder: c.holder_name.clone(),
            usage: t.value("usage", c.usage),
            until: format_utc(c.not_after),
            status,
            active: c.status == CertificateStatus::Valid && !expired,
        }
    }
}

#[derive(Template)]
#[template(path = "user/query.html")]
struct QueryPage {
    t: Lang,
    page: Chrome,
    account: u64,
    email: String,
    name: String,
    status: String,
    within: String,
    from: String,
    until: String,
    /// Whether a search was made.
    searched: bool,
    rows: Vec<Row>,
    pager: Pager,
}

/// The status and end-of-validity filters of a query.
struct Filters {
    status: Option<StatusFilter>,
    from: Option<SystemTime>,
    until: Option<SystemTime>,
}

/// The filters of `q` at `now`, or the catalogue key of the refusal.
fn filters(q: &QueryParams, now: SystemTime) -> Result<Filters, &'static str> {
    let status = match q.status.trim() {
        "" | "all" => None,
        "valid" => Some(StatusFilter::Valid),
        "revoked" => Some(StatusFilter::Revoked),
        "expired" => Some(StatusFilter::Expired),
        _ => return Err("user.query.bad_status"),
    };
    let day = |text: &str| -> Result<Option<SystemTime>, &'static str> {
        if text.trim().is_empty() {
            Ok(None)
        } else {
            topca_core::parse_utc_day(text)
                .map(Some)
                .ok_or("user.query.bad_date")
        }
    };
    let mut from = day(&q.from)?;
    // The last day counts whole.
    let mut until = day(&q.until)?.map(|d| d + DAY - Duration::from_secs(1));
    if !q.within.trim().is_empty() {
        let days: u64 = q
            .within
            .trim()
            .parse()
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or("user.query.bad_days")?;
        let end = now + DAY * u32::try_from(days).map_err(|_| "user.query.bad_days")?;
        from = Some(from.map_or(now, |f| f.max(now)));
        until = Some(until.map_or(end, |u| u.min(end)));
    }
    if let (Some(f), Some(u)) = (from, until)
        && f > u
    {
        return Err("user.query.empty_range");
    }
    Ok(Filters {
        status,
        from,
        until,
    })
}

async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<QueryParams>,
) -> Response {
    let t = Lang::of(&headers);
    let account = q.account;
    let back = format!("/TopCA/userEnroll/query?account={account}");
    let now = state.ca.environment().clock().now();
    let Filters {
        status,
        from,
        until,
    } = match filters(&q, now) {
        Ok(f) => f,
        Err(key) => {
            return refuse(t, &AppError::localized(StatusCode::BAD_REQUEST, key), &back);
        }
    };
    let holder = if let Some(email) = super::optional(&q.email) {
        Some(HolderQuery::Email(email))
    } else {
        super::optional(&q.name).map(HolderQuery::Name)
    };
    let searched = holder.is_some();
    let found = match holder {
        Some(holder) => {
            let query = CertificateQuery {
                holder,
                status,
                not_after_from: from,
                not_after_until: until,
            };
            match blocking(&state, move |s| {
                Ok(s.ra().query(AccountId(account), &query)?)
            })
            .await
            {
                Ok(found) => found,
                Err(e) => return refuse(t, &e, &back),
            }
        }
        None => Vec::new(),
    };
    let base = format!(
        "/TopCA/userEnroll/query?account={account}&email={}&name={}&status={}&within={}&from={}&until={}",
        url_encode(q.email.trim()),
        url_encode(q.name.trim()),
        url_encode(q.status.trim()),
        url_encode(q.within.trim()),
        url_encode(q.from.trim()),
        url_encode(q.until.trim()),
    );
    let pager = Pager::new(q.page, PAGE_ROWS, found.len() as u64, base);
    let rows = found
        .iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX))
        .map(|c| Row::of(t, c, now))
        .collect();
    let template = QueryPage {
        t,
        page: chrome(t, t.s("user.query.title"), Some(account)),
        account,
        email: q.email,
        name: q.name,
        status: q.status,
        within: q.within,
        from: q.from,
        until: q.until,
        searched,
        rows,
        pager,
    };
    html::render(StatusCode::OK, &template, None)
}

#[derive(Deserialize)]
struct RevokeQuery {
    account: u64,
    serial: String,
}

/// A revocation reason a holder may give.
pub(super) struct Reason {
    pub(super) code: u8,
    pub(super) label: String,
}

/// The reasons a holder may give, in the page's language.
pub(super) fn reasons(t: Lang) -> Vec<Reason> {
    RevocationReason::FOR_HOLDERS
        .iter()
        .map(|r| Reason {
            code: r.code(),
            label: t.value("reason", *r),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "user/revoke.html")]
struct RevokePage {
    t: Lang,
    page: Chrome,
    csrf: String,
    account: u64,
    row: Row,
    subject: String,
    reasons: Vec<Reason>,
}

/// The certificate `serial` if it was issued under `account`.
fn of_account(state: &AppState, account: u64, serial: &str) -> Result<CertificateRecord, AppError> {
    let serial = serial.trim().to_ascii_uppercase();
    state
        .store
        .certificate(&serial)
        .map_err(topca_core::Error::from)?
        .filter(|c| c.account == Some(AccountId(account)))
        .ok_or_else(|| {
            AppError::from(topca_core::Error::Ra(
                topca_core::RaError::UnknownCertificate,
            ))
        })
}

/// The revocation page of a certificate picked from the query list.
async fn revoke_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<RevokeQuery>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/userEnroll/query?account={}", q.account);
    let account = q.account;
    let record = match blocking(&state, move |s| of_account(s, account, &q.serial)).await {
        Ok(r) => r,
        Err(e) => return refuse(t, &e, &back),
    };
    let now = state.ca.environment().clock().now();
    let (csrf, cookie) = csrf_token(&headers);
    let template = RevokePage {
        t,
        page: chrome(t, t.s("user.revoke.title"), Some(account)),
        csrf,
        account,
        subject: record.subject.clone(),
        row: Row::of(t, &record, now),
        reasons: reasons(t),
    };
    html::render(StatusCode::OK, &template, cookie)
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    account: u64,
    serial: String,
    password: String,
    reason: u8,
}

#[derive(Template)]
#[template(path = "user/revoked.html")]
struct RevokedPage {
    t: Lang,
    page: Chrome,
    serial: String,
    back: String,
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<RevokeForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!(
        "/TopCA/userEnroll/revoke?account={}&serial={}",
        form.account,
        url_encode(&form.serial)
    );
    if !csrf_ok(&headers, &form.csrf) {
        return form_expired(t);
    }
    let source = match holder_source(&state, client) {
        Ok(source) => source,
        Err(e) => return refuse(t, &e, &back),
    };
    let Some(reason) = RevocationReason::from_code(form.reason)
        .filter(|r| RevocationReason::FOR_HOLDERS.contains(r))
    else {
        return refuse(
            t,
            &AppError::localized(StatusCode::BAD_REQUEST, "user.revoke.choose_reason"),
            &back,
        );
    };
    let password = zeroize::Zeroizing::new(form.password);
    let (account, serial) = (AccountId(form.account), form.serial);
    let result = state
        .hashing
        .run(&state, move |s| {
            let revoked = s
                .ra()
                .for_client(source)
                .revoke(account, &serial, &password, reason)?;
            s.crl_changed();
            Ok(revoked)
        })
        .await;
    match result {
        Ok(revoked) => {
            let template = RevokedPage {
                t,
                page: chrome(t, t.s("user.revoke.title"), Some(account.0)),
                serial: revoked.serial,
                back: format!("/TopCA/userEnroll/query?account={}", account.0),
            };
            html::render(StatusCode::OK, &template, None)
        }
        Err(e) => refuse(t, &e, &back),
    }
}
