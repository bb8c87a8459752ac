//! The RA's issuance for one account by hand: passcode pre-registration (one
//! holder, or a CSV file with a per-row report; repeats and holders registered
//! already are refused) and central issuance with a key made by the CA (PKCS#12
//! download, under the password the administrator sets).

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::post,
};
use base64::Engine;
use serde::Deserialize;
use topca_core::ra::{AccountId, Administrator, Holder};
use zeroize::Zeroizing;

use crate::{
    AppState,
    admin_ra::{Done, account_chrome},
    admin_session::console_form,
    html::{Chrome, error_page_back, render},
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/TopCA/admin/ra/accounts/{id}/preregistrations",
            post(preregister_one),
        )
        .route(
            "/TopCA/admin/ra/accounts/{id}/preregistrations/csv",
            post(preregister_csv),
        )
        .route(
            "/TopCA/admin/ra/accounts/{id}/central-issuance",
            post(issue_centrally),
        )
}

/// A holder as the account page's forms post it.
#[derive(Deserialize)]
struct HolderForm {
    csrf: String,
    name: String,
    email: String,
    #[serde(default)]
    phone: String,
}

impl HolderForm {
    /// The holder the form names.
    fn holder(self) -> Holder {
        Holder {
            name: self.name,
            email: self.email,
            phone: Some(self.phone).filter(|p| !p.trim().is_empty()),
            state: None,
            locality: None,
        }
    }
}

async fn preregister_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<HolderForm>,
) -> Response {
    let t = Lang::of(&headers);
    let back = format!("/TopCA/admin/ra/accounts/{id}");
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let holder = form.holder();
    let done = blocking(&state, move |s| {
        Ok(s.ra().preregister(&ops, AccountId(id), holder)?)
    })
    .await;
    match done {
        Ok(request) => Done::page(
            t,
            t.s("ra.preregister.title"),
            (
                "registered",
                t.f2(
                    "ra.preregister.done",
                    format!("{} <{}>", request.holder.name, request.holder.email),
                    &request.reference,
                ),
            ),
            back,
        ),
        Err(e) => error_page_back(t, &e, &back),
    }
}

#[derive(Deserialize)]
struct CsvForm {
    csrf: String,
    csv: String,
}

/// A row the CSV upload did not register.
struct Rejected {
    line: usize,
    reason: String,
}

#[derive(Template)]
#[template(path = "ra/csv_report.html")]
struct CsvReport {
    t: Lang,
    page: Chrome,
    id: u64,
    registered: usize,
    rejected: Vec<Rejected>,
}

/// Registers the good rows and reports each bad one by line.
async fn preregister_csv(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CsvForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let csv = form.csv;
    let report = match blocking(&state, move |s| {
        Ok(s.ra().preregister_csv(&ops, AccountId(id), &csv)?)
    })
    .await
    {
        Ok(report) => report,
        Err(e) => return error_page_back(t, &e, &format!("/TopCA/admin/ra/accounts/{id}")),
    };
    let view = CsvReport {
        t,
        page: account_chrome(t, t.s("ra.preregister.csv_title"), id),
        id,
        registered: report.registered.len(),
        rejected: report
            .rejected
            .into_iter()
            .map(|r| Rejected {
                line: r.line,
                reason: if t == Lang::Zh { r.reason_zh } else { r.reason },
            })
            .collect(),
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
struct CentralForm {
    #[serde(flatten)]
    holder: HolderForm,
    password: String,
}

#[derive(Template)]
#[template(path = "ra/central.html")]
struct Central {
    t: Lang,
    page: Chrome,
    id: u64,
    serial: String,
    /// The PKCS#12 file, base64.
    p12: Zeroizing<String>,
    pem: String,
}

/// Issues with a CA-made key; the PKCS#12 file is offered for download once.
async fn issue_centrally(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(form): Form<CentralForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.holder.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    let holder = form.holder.holder();
    let password = Zeroizing::new(form.password);
    let delivery = state
        .hashing
        .run(&state, move |s| {
            Ok(s.ra()
                .issue_centrally(&ops, AccountId(id), holder, &password)?)
        })
        .await;
    match delivery {
        Ok(delivery) => {
            let view = Central {
                t,
                page: account_chrome(t, t.s("ra.central.title"), id),
                id,
                serial: delivery.certificate.serial_hex(),
                p12: Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(&*delivery.pkcs12),
                ),
                pem: delivery.certificate.to_pem(),
            };
            render(StatusCode::OK, &view, None)
        }
        Err(e) => error_page_back(t, &e, &format!("/TopCA/admin/ra/accounts/{id}")),
    }
}
