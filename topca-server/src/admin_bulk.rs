//! The RA console's bulk issuance (批量制证) pages: an RA administrator uploads a
//! CSV of holders (the CA makes their keys) or a set of PEM certificate
//! requests for one account, and gets a per-line report and a zip of what was
//! issued. Limits: [`MAX_LINES`] lines and [`MAX_BODY`] bytes per upload, the RA
//! role, the console's CSRF token; one upload runs at a time on a node, so
//! concurrent uploads of the same lines find the holders registered and refuse
//! them rather than issue twice.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Router,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use base64::Engine;
use serde::Deserialize;
use topca_core::ra::{AccountId, Administrator};
use zeroize::Zeroizing;

use crate::{
    AppError, AppState,
    admin_bulk_run::{MAX_BODY, MAX_LINES, Upload, count, run},
    admin_ra::{account_chrome, load_account},
    admin_session::{console_csrf, console_form, console_session},
    html::{Chrome, error_page_back, render},
    i18n::Lang,
};

/// One bulk upload at a time on this node (see the module documentation).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/admin/ra/accounts/{id}/bulk",
            get(bulk_page).post(bulk_upload),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The upload form.
#[derive(Template)]
#[template(path = "ra/bulk.html")]
struct BulkPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    account: u64,
    account_name: String,
    max_lines: usize,
}

/// One line of the report.
struct ReportRow {
    line: usize,
    holder: String,
    serial: String,
    error: String,
}

/// The report of an upload.
#[derive(Template)]
#[template(path = "ra/bulk_report.html")]
struct ReportPage {
    t: Lang,
    page: Chrome,
    account: u64,
    issued: usize,
    refused: usize,
    rows: Vec<ReportRow>,
    /// The zip as a `data:` URL (empty when nothing was issued).
    zip: Zeroizing<String>,
}

async fn bulk_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let account = match load_account(&state, id).await {
        Ok(account) => account,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin/ra/accounts"),
    };
    let view = BulkPage {
        t,
        page: account_chrome(t, t.s("ra.bulk.title"), id),
        csrf: console_csrf(&headers),
        account: id,
        account_name: format!(
            "{}{} / {}",
            state.demo_mark(t, account.id),
            account.settings.organization,
            account.settings.unit
        ),
        max_lines: MAX_LINES,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
struct UploadForm {
    csrf: String,
    /// `holders` or `requests`.
    kind: String,
    text: String,
}

async fn bulk_upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<UploadForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/admin/ra/accounts/{id}/bulk");
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let upload = match form.kind.as_str() {
        "holders" => Upload::Holders,
        "requests" => Upload::Requests,
        _ => {
            let e = AppError::localized(StatusCode::BAD_REQUEST, "ra.bulk.bad_kind");
            return error_page_back(t, &e, &back);
        }
    };
    let lines = count(upload, &form.text);
    if lines == 0 {
        let e = AppError::localized(StatusCode::BAD_REQUEST, "ra.bulk.empty");
        return error_page_back(t, &e, &back);
    }
    if lines > MAX_LINES {
        let e = AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Lang::En.f2("ra.bulk.too_many", lines, MAX_LINES),
        )
        .zh(Lang::Zh.f2("ra.bulk.too_many", lines, MAX_LINES));
        return error_page_back(t, &e, &back);
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let text = form.text;
    let done = state
        .hashing
        .run(&state, move |s| {
            run(s, t, &ops, AccountId(id), upload, &text)
        })
        .await;
    let done = match done {
        Ok(done) => done,
        Err(e) => return error_page_back(t, &e, &back),
    };
    let issued = done.outcomes.iter().filter(|o| o.result.is_ok()).count();
    let rows: Vec<ReportRow> = done
        .outcomes
        .into_iter()
        .map(|o| {
            let (serial, error) = match o.result {
                Ok(serial) => (serial, String::new()),
                Err(error) => (String::new(), error),
            };
            ReportRow {
                line: o.line,
                holder: o.holder,
                serial,
                error,
            }
        })
        .collect();
    let zip = done.zip.map_or_else(Zeroizing::default, |zip| {
        Zeroizing::new(format!(
            "data:application/zip;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&*zip)
        ))
    });
    let view = ReportPage {
        t,
        page: account_chrome(t, t.s("ra.bulk.report_title"), id),
        account: id,
        issued,
        refused: rows.len() - issued,
        rows,
        zip,
    };
    render(StatusCode::OK, &view, None)
}
