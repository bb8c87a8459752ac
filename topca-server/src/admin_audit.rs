//! The audit log for administrators, page and API: each administrator reads the
//! entries of their own areas (RA, KMC; super administrators everything), with
//! the verdict on the whole hash chain.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use serde::{Deserialize, Serialize};
use topca_core::{audit::AuditEntry, ra::Administrator, store::AuditStore};

use crate::{
    AppError, AppState,
    admin_session::{api_session, console_admin},
    html::{Lang, error_page, escape, page},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/audit", get(audit_page))
        .route("/api/v1/admin/audit", get(audit_api))
}

/// The entries `admin` may read that match `filter`, newest first.
fn readable<'a>(
    entries: &'a [AuditEntry],
    admin: &'a Administrator,
    filter: &AuditFilter,
) -> impl Iterator<Item = &'a AuditEntry> + 'a {
    let actor = filter.actor.trim().to_lowercase();
    let target = filter.target.trim().to_lowercase();
    entries.iter().rev().filter(move |e| {
        let (_, who) = e.record.actor.to_parts();
        admin.reads_audit(e.record.action.area())
            && who.to_lowercase().contains(&actor)
            && e.record.target.to_lowercase().contains(&target)
    })
}

/// The audit filter of the page and the API (text the actor and the target contain).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditFilter {
    /// Text the actor contains.
    #[serde(default)]
    actor: String,
    /// Text the target contains.
    #[serde(default)]
    target: String,
}

/// The audit log, newest first, filtered by actor and target text, with the
/// result of verifying the whole hash chain; only the entries of the
/// administrator's areas ([`Administrator::reads_audit`]).
async fn audit_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let lang = Lang::of(&headers);
    let admin = match console_admin(&state, &headers).await {
        Ok(admin) => admin,
        Err(refused) => return refused.page(lang),
    };
    let entries = match blocking(&state, |s| {
        Ok(s.store.audit_entries().map_err(topca_core::Error::from)?)
    })
    .await
    {
        Ok(entries) => entries,
        Err(e) => return error_page(lang, &e),
    };
    let verdict = match blocking(&state, |s| Ok(s.verify_audit())).await {
        Ok(Ok(verified)) => format!(
            r#"<p class="ok" id="chain">{}</p>"#,
            escape(&verified.summary(lang))
        ),
        Ok(Err(finding)) => format!(
            r#"<p class="error" id="chain">{}</p>"#,
            escape(&finding.to_string())
        ),
        Err(e) => return error_page(lang, &e),
    };
    let rows: String = readable(&entries, &admin, &filter)
        .take(500)
        .map(|e| {
            let (_, who) = e.record.actor.to_parts();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{:?}</td><td>{}</td></tr>",
                e.sequence,
                topca_core::format_utc(e.record.at),
                escape(who),
                e.record.action,
                escape(&e.record.target),
                e.record.outcome,
                escape(&e.record.detail)
            )
        })
        .collect();
    let body = format!(
        r#"{verdict}<form method="get" action="/TopCA/admin/audit">
<label for="actor">{actor_l}</label><input id="actor" name="actor" value="{actor}">
<label for="target">{target_l}</label><input id="target" name="target" value="{target}">
<button type="submit">{filter_l}</button></form>
<table id="audit"><tr><th>#</th><th>{time}</th><th>{who}</th><th>{what}</th><th>{on}</th><th>{outcome}</th><th>{detail}</th></tr>{rows}</table>"#,
        actor_l = lang.t("操作者", "Actor"),
        actor = escape(&filter.actor),
        target_l = lang.t("对象", "Target"),
        target = escape(&filter.target),
        filter_l = lang.t("筛选", "Filter"),
        time = lang.t("时间", "Time"),
        who = lang.t("操作者", "Actor"),
        what = lang.t("操作", "Action"),
        on = lang.t("对象", "Target"),
        outcome = lang.t("结果", "Outcome"),
        detail = lang.t("说明", "Detail"),
    );
    page(lang, lang.t("审计日志", "Audit log"), &body, None)
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

/// The audit entries the bearer's roles may read, newest first (at most 1,000).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = crate::api::tags::AUDIT,
    params(AuditFilter), security(("bearer" = [])),
    responses((status = 200, description = "The entries, newest first", body = Vec<EntryView>)))]
async fn audit_api(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<Vec<EntryView>>, AppError> {
    let admin = api_session(&state, &headers).await?;
    let entries = blocking(&state, |s| {
        Ok(s.store.audit_entries().map_err(topca_core::Error::from)?)
    })
    .await?;
    Ok(Json(
        readable(&entries, &admin, &filter)
            .take(1000)
            .map(|e| EntryView {
                sequence: e.sequence,
                at: topca_core::format_utc(e.record.at),
                actor: e.record.actor.to_parts().1.to_owned(),
                action: format!("{:?}", e.record.action),
                target: e.record.target.clone(),
                success: e.record.outcome == topca_core::audit::Outcome::Success,
                detail: e.record.detail.clone(),
            })
            .collect(),
    ))
}
