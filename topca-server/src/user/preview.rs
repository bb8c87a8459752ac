//! 证书预览 (manual 2.12): the holder's certificates (found by e-mail, a page
//! at a time), each opening its general and detailed views, field names and
//! purposes in the page's language.

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::get,
};
use serde::Deserialize;
use topca_core::{
    Certificate, format_utc,
    ra::{AccountId, CertificateQuery, HolderQuery},
    store::CertificateStore,
};

use super::extract::PageQuery;
use super::{PAGE_ROWS, chrome, refuse, retrieve::FromAccount};
use crate::{
    AppError, AppState,
    html::{self, Chrome, Lang, Pager, url_encode},
    state::blocking,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/userEnroll/preview", get(preview_list))
        .route("/TopCA/userEnroll/preview/{serial}", get(preview_one))
}

#[derive(Deserialize)]
struct ByEmail {
    account: u64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    page: Option<u64>,
}

/// One certificate of the list.
struct Item {
    serial: String,
    subject: String,
    until: String,
    status: String,
}

#[derive(Template)]
#[template(path = "user/preview_list.html")]
struct ListPage {
    t: Lang,
    page: Chrome,
    account: u64,
    email: String,
    searched: bool,
    items: Vec<Item>,
    pager: Pager,
}

/// Preview: the holder's certificates (refreshable), each opening its views.
async fn preview_list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PageQuery(q): PageQuery<ByEmail>,
) -> Response {
    let t = Lang::of(&headers);
    let account = q.account;
    let email = q.email.trim().to_owned();
    let found = if email.is_empty() {
        Vec::new()
    } else {
        let query = CertificateQuery {
            holder: HolderQuery::Email(email.clone()),
            status: None,
            not_after_from: None,
            not_after_until: None,
        };
        match blocking(&state, move |s| {
            Ok(s.ra().query(AccountId(account), &query)?)
        })
        .await
        {
            Ok(found) => found,
            Err(e) => {
                return refuse(
                    t,
                    &e,
                    &format!("/TopCA/userEnroll/preview?account={account}"),
                );
            }
        }
    };
    let now = state.ca.environment().clock().now();
    let base = format!(
        "/TopCA/userEnroll/preview?account={account}&email={}",
        url_encode(&email)
    );
    let pager = Pager::new(q.page, PAGE_ROWS, found.len() as u64, base);
    let items = found
        .iter()
        .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX))
        .map(|c| {
            let row = super::query::Row::of(t, c, now);
            Item {
                serial: c.serial.clone(),
                subject: c.subject.clone(),
                until: format_utc(c.not_after),
                status: row.status,
            }
        })
        .collect();
    let template = ListPage {
        t,
        page: chrome(t, t.s("user.preview.title"), Some(account)),
        account,
        searched: !email.is_empty(),
        email,
        items,
        pager,
    };
    html::render(StatusCode::OK, &template, None)
}

/// One field of the detailed view.
struct Field {
    name: String,
    critical: bool,
    summary: String,
    value: String,
}

#[derive(Template)]
#[template(path = "user/preview_one.html")]
struct OnePage {
    t: Lang,
    page: Chrome,
    subject: String,
    issuer: String,
    from: String,
    to: String,
    serial: String,
    purposes: String,
    fields: Vec<Field>,
}

/// The catalogue text of an English `name` the preview gives, under `area`
/// (`user.preview.field`, `user.preview.purpose`); a name the catalogue does
/// not know (an unnamed extension's OID) is shown as it is.
fn translated(t: Lang, area: &str, name: &str) -> String {
    let snake: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let key = format!("{area}.{snake}");
    match t.s(&key) {
        text if text == key => name.to_owned(),
        text => text.to_owned(),
    }
}

async fn preview_one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    PageQuery(q): PageQuery<FromAccount>,
) -> Response {
    let t = Lang::of(&headers);
    let back = q.account.map_or_else(
        || super::CENTRE.to_owned(),
        |a| format!("/TopCA/userEnroll/preview?account={a}"),
    );
    let record = blocking(&state, move |s| {
        s.store
            .certificate(&serial.trim().to_ascii_uppercase())
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| {
                AppError::from(topca_core::Error::Ra(
                    topca_core::RaError::UnknownCertificate,
                ))
            })
    })
    .await;
    let record = match record {
        Ok(r) => r,
        Err(e) => return refuse(t, &e, &back),
    };
    let certificate = match Certificate::from_der(&record.der) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                t,
                &AppError::internal_because("read the certificate", &e),
                &back,
            );
        }
    };
    let view = certificate.preview();
    let general = view.general;
    let fields = view
        .fields
        .into_iter()
        .map(|f| {
            // Usages are words the catalogue knows; other values are data.
            let usages = matches!(f.name.as_str(), "Key usage" | "Extended key usage");
            let words = |text: String| {
                if usages {
                    text.split(", ")
                        .map(|w| translated(t, "user.preview.purpose", w))
                        .collect::<Vec<_>>()
                        .join(t.s("user.preview.separator"))
                } else {
                    text
                }
            };
            Field {
                name: translated(t, "user.preview.field", &f.name),
                critical: f.critical == Some(true),
                summary: words(f.summary),
                value: words(f.value),
            }
        })
        .collect();
    let purposes = general
        .purposes
        .iter()
        .map(|p| translated(t, "user.preview.purpose", p))
        .collect::<Vec<_>>()
        .join(t.s("user.preview.separator"));
    let mut page = chrome(t, t.s("user.preview.title"), q.account);
    if let Some(account) = q.account
        && let Some(last) = page.crumbs.last_mut()
    {
        // The list comes before the certificate.
        last.href = format!("/TopCA/userEnroll/preview?account={account}");
        page.crumbs.push(html::Crumb {
            label: general.serial_hex.clone(),
            href: String::new(),
        });
    }
    let template = OnePage {
        t,
        page,
        subject: general.subject,
        issuer: general.issuer,
        from: general.not_before,
        to: general.not_after,
        serial: general.serial_hex,
        purposes,
        fields,
    };
    html::render(StatusCode::OK, &template, None)
}
