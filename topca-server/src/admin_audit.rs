//! The audit log for administrators, page and API: each administrator reads the
//! entries of their own areas (RA, KMC; super administrators everything),
//! newest first, one page at a time from the store, filtered by action, actor,
//! date range and text, with the verdict on the whole hash chain.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use askama::Template;
use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::{Deserialize, Serialize};
use topca_core::{
    audit::{Actor, AuditAction, AuditEntry, Outcome},
    format_utc,
    ra::Administrator,
    store::{AuditQuery, AuditStore},
};

use crate::{
    AppError, AppState,
    admin::console_crumb,
    admin_list::{ROWS, page_number, pager, search_text},
    admin_session::{api_session, console_admin},
    html::{Chrome, Lang, Pager, error_page, render},
    i18n::snake_case,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/audit", get(audit_page))
        .route("/api/v1/admin/audit", get(audit_api))
        .merge(crate::admin_checkpoints::routes())
}

/// The most entries one API answer gives.
const API_ROWS: u64 = 1000;

/// Every action, in the order of their numbers.
fn all_actions() -> impl Iterator<Item = AuditAction> {
    (1..=u16::from(u8::MAX)).filter_map(AuditAction::from_code)
}

/// The name of `action` in URLs and catalogue keys (`certificate_revoked`).
fn action_name(action: AuditAction) -> String {
    snake_case(&format!("{action:?}"))
}

/// The catalogue words of `action`.
fn action_label(t: Lang, action: AuditAction) -> String {
    let key = ["audit.action.", &action_name(action)].concat();
    t.s(&key).to_owned()
}

/// The audit filter of the page and the API, as the query string gives it.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditFilter {
    /// An action's name (`certificate_revoked`); empty for every action.
    #[serde(default)]
    kind: String,
    /// Text the actor's name contains.
    #[serde(default)]
    actor: String,
    /// Text the target or the detail contains (`target` is its older name).
    #[serde(default, alias = "target")]
    q: String,
    /// The first day shown, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    from: String,
    /// The last day shown, `YYYY-MM-DD` (UTC), included.
    #[serde(default)]
    until: String,
    /// The page (the console), from 1.
    #[serde(default)]
    page: String,
}

/// One day.
const DAY: Duration = Duration::from_secs(86_400);

impl AuditFilter {
    /// The store's query for what `admin` may read, or why the filter is refused.
    fn query(&self, admin: &Administrator) -> Result<AuditQuery, AppError> {
        let kind = self.kind.trim();
        let mut actions: Vec<AuditAction> = all_actions()
            .filter(|a| admin.reads_audit(a.area()))
            .collect();
        if !kind.is_empty() {
            if !all_actions().any(|a| action_name(a) == kind) {
                return Err(AppError::localized(
                    StatusCode::BAD_REQUEST,
                    "audit.filter.bad_kind",
                ));
            }
            actions.retain(|a| action_name(*a) == kind);
        }
        let date = |text: &str| -> Result<Option<SystemTime>, AppError> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            topca_core::parse_utc_day(text).map(Some).ok_or_else(|| {
                AppError::localized(StatusCode::BAD_REQUEST, "audit.filter.bad_date")
            })
        };
        let from = date(&self.from)?;
        let until = date(&self.until)?.and_then(|day| day.checked_add(DAY));
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            return Err(AppError::localized(
                StatusCode::BAD_REQUEST,
                "audit.filter.bad_range",
            ));
        }
        Ok(AuditQuery {
            actions,
            actor: search_text(&self.actor),
            text: search_text(&self.q),
            from,
            until,
        })
    }
}

/// An entry as the page shows it.
struct EntryRow {
    sequence: u64,
    code: u16,
    at: String,
    actor: String,
    action: String,
    target: String,
    outcome: &'static str,
    outcome_class: &'static str,
    detail: String,
    /// The detail has no known form: shown as recorded.
    detail_recorded: bool,
}

impl EntryRow {
    fn of(t: Lang, e: AuditEntry) -> Self {
        let record = e.record;
        let (outcome, outcome_class) = match record.outcome {
            Outcome::Success => (t.s("audit.outcome.success"), "success"),
            Outcome::Failure => (t.s("audit.outcome.failure"), "failure"),
        };
        let (detail, detail_recorded) = crate::audit_detail::localize(t, &record.detail);
        Self {
            sequence: e.sequence,
            code: record.action.code(),
            at: format_utc(record.at),
            actor: match record.actor {
                Actor::User(name) | Actor::Admin(name) => name,
                Actor::System => t.s("audit.log.system").to_owned(),
                Actor::Client(name) => t.f1("audit.log.client", name),
            },
            action: action_label(t, record.action),
            target: crate::audit_detail::localize(t, &record.target).0,
            outcome,
            outcome_class,
            detail,
            detail_recorded,
        }
    }
}

/// The audit log page.
#[derive(Template)]
#[template(path = "audit/log.html")]
struct AuditPage {
    t: Lang,
    page: Chrome,
    chain_ok: bool,
    verdict: String,
    kinds: Vec<(String, String)>,
    kind: String,
    actor: String,
    text: String,
    from: String,
    until: String,
    rows: Vec<EntryRow>,
    pager: Pager,
}

/// The audit log, newest first, filtered and paged, with the result of
/// verifying the whole hash chain; only the entries of the administrator's
/// areas ([`Administrator::reads_audit`]).
async fn audit_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let t = Lang::of(&headers);
    let admin = match console_admin(&state, &headers).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(t),
    };
    let query = match filter.query(&admin) {
        Ok(query) => query,
        Err(e) => return error_page_back(t, &e),
    };
    let kind = filter.kind.trim().to_owned();
    let (from, until) = (
        filter.from.trim().to_owned(),
        filter.until.trim().to_owned(),
    );
    let params = [
        ("kind", kind.clone()),
        ("actor", query.actor.clone()),
        ("q", query.text.clone()),
        ("from", from.clone()),
        ("until", until.clone()),
    ];
    let requested = page_number(&filter.page);
    let found = blocking(&state, move |s| {
        let total = s
            .store
            .audit_page(&query, 0, 0)
            .map_err(topca_core::Error::from)?
            .total;
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let pager = pager(requested, total, "/TopCA/admin/audit", &borrowed);
        let entries = s
            .store
            .audit_page(&query, pager.offset(), ROWS)
            .map_err(topca_core::Error::from)?;
        let verdict = s.verify_audit();
        Ok((pager, entries.rows, query, verdict))
    })
    .await;
    let (pager, entries, query, verdict) = match found {
        Ok(found) => found,
        Err(e) => return error_page(t, &e),
    };
    let (chain_ok, verdict) = match verdict {
        Ok(verified) => (true, verified.summary(t)),
        Err(finding) => (false, finding.summary(t)),
    };
    let view = AuditPage {
        t,
        page: Chrome::new(t.s("audit.log.title"), &[console_crumb(t)]),
        chain_ok,
        verdict,
        kinds: all_actions()
            .filter(|a| admin.reads_audit(a.area()))
            .map(|a| (action_name(a), action_label(t, a)))
            .collect(),
        kind,
        actor: query.actor,
        text: query.text,
        from,
        until,
        rows: entries.into_iter().map(|e| EntryRow::of(t, e)).collect(),
        pager,
    };
    render(StatusCode::OK, &view, None)
}

/// A refused filter, with a link back to the unfiltered log.
fn error_page_back(t: Lang, error: &AppError) -> Response {
    crate::html::error_page_back(t, error, "/TopCA/admin/audit")
}

/// An audit entry as the API gives it.
#[derive(Serialize, utoipa::ToSchema)]
struct EntryView {
    sequence: u64,
    at: String,
    actor: String,
    action: String,
    target: String,
    success: bool,
    detail: String,
}

/// The audit entries the bearer's roles may read and the filter selects,
/// newest first (at most [`API_ROWS`]).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = crate::api::tags::AUDIT,
    params(AuditFilter), security(("bearer" = [])),
    responses(
        (status = 200, description = "The entries, newest first (at most 1,000)", body = Vec<EntryView>),
        (status = 400, description = "An unknown action, a date that is not YYYY-MM-DD, or a range that ends before it starts"),
    ))]
async fn audit_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<Vec<EntryView>>, AppError> {
    let admin = api_session(&state, &headers).await?;
    let query = filter.query(&admin)?;
    let entries = blocking(&state, move |s| {
        Ok(s.store
            .audit_page(&query, 0, API_ROWS)
            .map_err(topca_core::Error::from)?)
    })
    .await?;
    Ok(Json(
        entries
            .rows
            .into_iter()
            .map(|e| EntryView {
                sequence: e.sequence,
                at: format_utc(e.record.at),
                actor: e.record.actor.to_parts().1.to_owned(),
                action: format!("{:?}", e.record.action),
                target: e.record.target,
                success: e.record.outcome == Outcome::Success,
                detail: e.record.detail,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_utc_days_and_nonsense_is_not_a_date() {
        let day = |text| {
            topca_core::parse_utc_day(text)
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        assert_eq!(day("1970-01-01"), Some(0));
        assert_eq!(day("2023-11-14"), Some(1_699_920_000));
        assert_eq!(day("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "1969-12-31",
            "x",
            "2023-1",
            "",
        ] {
            assert_eq!(day(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_action_has_words_in_both_catalogues() {
        let mut seen = 0;
        for action in all_actions() {
            for t in [Lang::Zh, Lang::En] {
                let key = ["audit.action.", &action_name(action)].concat();
                assert_ne!(action_label(t, action), key, "{key} is missing");
            }
            seen += 1;
        }
        assert!(seen >= 23, "{seen} actions");
    }
}
