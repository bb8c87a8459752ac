//! The RA's holders and certificates page: search by holder e-mail or name (the
//! list paged, each certificate revocable from its row with a chosen reason).

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use topca_core::{
    lifecycle::RevocationReason,
    ra::Administrator,
    store::{CertificateRecord, CertificateStatus, CertificateStore},
};

use crate::{
    AppState,
    admin::revoke,
    admin_session::{console_csrf, console_form, console_session},
    html::{Chrome, Pager, error_page_back, render, url_encode},
    i18n::Lang,
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/admin/ra/certificates", get(certificates_page))
        .route(
            "/TopCA/admin/ra/certificates/{serial}/revoke",
            post(revoke_page),
        )
}

/// Certificates per page.
const PAGE_ROWS: u64 = 50;

/// The reasons an administrator may give (RFC 5280; removeFromCRL is not one).
const REASONS: [RevocationReason; 8] = [
    RevocationReason::Unspecified,
    RevocationReason::KeyCompromise,
    RevocationReason::AffiliationChanged,
    RevocationReason::Superseded,
    RevocationReason::CessationOfOperation,
    RevocationReason::CertificateHold,
    RevocationReason::PrivilegeWithdrawn,
    RevocationReason::CaCompromise,
];

#[derive(Deserialize)]
struct CertificateSearch {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    page: Option<u64>,
}

/// One certificate of the list.
struct Row {
    serial: String,
    holder: String,
    email: String,
    subject: String,
    usage: String,
    not_after: String,
    status: String,
    valid: bool,
}

/// A reason of the revocation picker: (code, label).
struct Reason {
    code: u8,
    label: String,
}

#[derive(Template)]
#[template(path = "ra/certificates.html")]
struct CertificatesPage {
    t: Lang,
    page: Chrome,
    csrf: String,
    email: String,
    name: String,
    searched: bool,
    rows: Vec<Row>,
    reasons: Vec<Reason>,
    pager: Pager,
    /// This list's address (with its page), where a revocation comes back to.
    back: String,
}

fn row(t: Lang, c: CertificateRecord) -> Row {
    let valid = c.status == CertificateStatus::Valid;
    Row {
        status: t.value(
            "status",
            if valid {
                CertificateStatus::Valid
            } else {
                CertificateStatus::Revoked
            },
        ),
        usage: t.value("usage", c.usage),
        not_after: topca_core::format_utc(c.not_after),
        serial: c.serial,
        holder: c.holder_name,
        email: c.email,
        subject: c.subject,
        valid,
    }
}

/// Search holders' certificates by e-mail or name; revoke from the list.
async fn certificates_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(search): Query<CertificateSearch>,
) -> Response {
    let t = Lang::of(&headers);
    if let Err(refused) = console_session(&state, &headers, Administrator::ra_ops).await {
        return refused.page(t);
    }
    let email = search.email.trim().to_owned();
    let name = search.name.trim().to_owned();
    let searched = !(email.is_empty() && name.is_empty());
    let found = if searched {
        let (email, name) = (email.clone(), name.clone());
        blocking(&state, move |s| {
            let mut found = if email.is_empty() {
                Vec::new()
            } else {
                s.store
                    .certificates_by_email(&email)
                    .map_err(topca_core::Error::from)?
            };
            if !name.is_empty() {
                for c in s
                    .store
                    .certificates_by_holder_name(&name)
                    .map_err(topca_core::Error::from)?
                {
                    if !found.iter().any(|f| f.serial == c.serial) {
                        found.push(c);
                    }
                }
            }
            Ok(found)
        })
        .await
    } else {
        Ok(Vec::new())
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => return error_page_back(t, &e, "/TopCA/admin/ra/certificates"),
    };
    let base = format!(
        "/TopCA/admin/ra/certificates?email={}&name={}",
        url_encode(&email),
        url_encode(&name)
    );
    let pager = Pager::new(search.page, PAGE_ROWS, found.len() as u64, base);
    let rows = found
        .into_iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(PAGE_ROWS as usize)
        .map(|c| row(t, c))
        .collect();
    let view = CertificatesPage {
        t,
        page: Chrome::new(
            t.s("ra.certificates.title"),
            &[(t.s("ra.console"), "/TopCA/admin")],
        ),
        csrf: console_csrf(&headers),
        email,
        name,
        searched,
        rows,
        reasons: REASONS
            .iter()
            .map(|r| Reason {
                code: r.code(),
                label: t.value("reason", *r),
            })
            .collect(),
        back: pager.href(pager.page),
        pager,
    };
    render(StatusCode::OK, &view, None)
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    reason: u8,
    #[serde(default)]
    back: String,
}

async fn revoke_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let t = Lang::of(&headers);
    let ops = match console_form(&state, &headers, &form.csrf, Administrator::ra_ops).await {
        Ok(ops) => ops,
        Err(refused) => return refused.page(t),
    };
    // Only our own search pages are followed back.
    let back = if form.back.starts_with("/TopCA/admin/ra/certificates?") {
        form.back
    } else {
        "/TopCA/admin/ra/certificates".to_owned()
    };
    match revoke(&state, ops, serial, form.reason).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => error_page_back(t, &e, &back),
    }
}
