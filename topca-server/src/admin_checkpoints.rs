//! The audit checkpoints for super administrators: every signed checkpoint of
//! the data directory's file, newest first, searchable by entry number or head
//! hash, each with whether its signature verifies under the issuing CA.

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use topca_core::{audit_checkpoint::hex, format_utc, ra::Administrator};

use crate::{
    AppError, AppState,
    admin::console_crumb,
    admin_list::{ListQuery, ROWS, pager},
    admin_session::console_session,
    audit_log::checkpoints,
    html::{Chrome, Lang, Pager, error_page, render},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/TopCA/admin/audit/checkpoints", get(checkpoints_page))
}

/// A checkpoint as the page shows it.
struct CheckpointRow {
    sequence: u64,
    at: String,
    head: String,
    valid: bool,
}

/// The checkpoints page.
#[derive(Template)]
#[template(path = "audit/checkpoints.html")]
struct CheckpointsPage {
    t: Lang,
    page: Chrome,
    query: String,
    rows: Vec<CheckpointRow>,
    pager: Pager,
}

async fn checkpoints_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::super_ops).await {
        return refused.page(t);
    }
    let query = q.search().to_lowercase();
    let wanted = query.clone();
    let requested = q.page();
    let found = blocking(&state, move |s| {
        let all = checkpoints(&s.data_dir)
            .map_err(|e| AppError::internal_because("read the audit checkpoints", &e))?;
        let matching: Vec<_> = all
            .into_iter()
            .rev()
            .map(|c| (hex(&c.head), c))
            .filter(|(head, c)| c.sequence.to_string().contains(&wanted) || head.contains(&wanted))
            .collect();
        let pager = pager(
            requested,
            matching.len() as u64,
            "/TopCA/admin/audit/checkpoints",
            &[("q", &wanted)],
        );
        let rows = matching
            .into_iter()
            .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
            .take(ROWS as usize)
            .map(|(head, c)| CheckpointRow {
                sequence: c.sequence,
                at: format_utc(c.at),
                valid: c.verify(s.ca.certificate()).is_ok(),
                head,
            })
            .collect();
        Ok((pager, rows))
    })
    .await;
    let (pager, rows) = match found {
        Ok(found) => found,
        Err(e) => return error_page(t, &e),
    };
    let view = CheckpointsPage {
        t,
        page: Chrome::new(t.s("audit.checkpoints.title"), &[console_crumb(t)]),
        query,
        rows,
        pager,
    };
    render(StatusCode::OK, &view, None)
}
