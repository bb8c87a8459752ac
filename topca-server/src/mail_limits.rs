//! Mail abuse limits: anyone may apply, revoke, renew or replace, and each of
//! these mails someone. Before such a request runs, one mail is counted for the
//! client's address ([`crate::limits::Limits::mail_per_source`]) and one for each
//! address the request would mail ([`crate::limits::Limits::mail_per_address`]):
//! the `email` it gives, and the holder of the certificate its `serial` names.
//! Over a limit the request is refused (429 with `Retry-After`) before anything
//! is stored or sent.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use topca_core::store::CertificateStore;

use crate::{
    AppError, AppState,
    html::{Lang, error_page},
    limits::ClientAddr,
};

/// The largest body a mailing request may have (a CSR and a few fields).
const MAX_BODY: usize = 256 * 1024;

/// Whether a `POST` to `path` can make the CA send a mail for an anonymous
/// client.
fn mails(path: &str) -> bool {
    const PAGES: [&str; 7] = [
        "/TopCA/userEnroll/apply",
        "/TopCA/userEnroll/revoke",
        "/TopCA/userEnroll/renew",
        "/TopCA/userEnroll/replace",
        "/TopCA/userEnroll/replace/confirm",
        "/TopCA/serverEnroll/apply",
        "/TopCA/serverEnroll/revoke",
    ];
    const PER_ACCOUNT: [&str; 5] = [
        "/applications",
        "/revocations",
        "/server-applications",
        "/renewals",
        "/replacements",
    ];
    PAGES.contains(&path)
        || path == "/api/v1/replacements"
        || (path.starts_with("/api/v1/accounts/") && PER_ACCOUNT.iter().any(|s| path.ends_with(s)))
}

/// Counts the mails a request may cause against the limits, refusing it when
/// one is reached; other requests pass untouched.
pub(crate) async fn limit(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || !mails(request.uri().path()) {
        return next.run(request).await;
    }
    let client = ClientAddr::of(request.extensions());
    let api = request.uri().path().starts_with("/api/");
    let lang = Lang::of(request.headers());
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let error = AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            if api {
                "the request is too large"
            } else {
                "请求内容过大。"
            },
        )
        .zh("请求内容过大。");
        return refuse(api, lang, &error);
    };
    let (emails, serials) = recipients(&parts.headers, &bytes);
    let checked = {
        let state = Arc::clone(&state);
        tokio::task::spawn_blocking(move || count(&state, client, emails, &serials)).await
    };
    match checked {
        Ok(Ok(())) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(seconds)) => {
            let error = AppError::limited(
                StatusCode::TOO_MANY_REQUESTS,
                if api {
                    "too many mails were asked for from this address or to this recipient; try again later"
                } else {
                    "此地址或此收件人的邮件请求过多，请稍后再试。"
                },
                seconds,
            )
            .zh("此地址或此收件人的邮件请求过多，请稍后再试。");
            refuse(api, lang, &error)
        }
        Err(_) => refuse(api, lang, &AppError::internal("check the mail limits")),
    }
}

fn refuse(api: bool, lang: Lang, error: &AppError) -> Response {
    if api {
        // Rendered as a problem document by `crate::problem::render`.
        error.clone().into_response()
    } else {
        error_page(lang, error)
    }
}

/// The `email` and `serial` fields of a JSON or form body (the new address of a
/// renewal is its `email` too).
fn recipients(headers: &HeaderMap, body: &Bytes) -> (Vec<String>, Vec<String>) {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let fields: Vec<(String, String)> = if json {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            _ => Vec::new(),
        }
    } else {
        serde_urlencoded::from_bytes(body).unwrap_or_default()
    };
    let mut emails = Vec::new();
    let mut serials = Vec::new();
    for (name, value) in fields {
        let value = value.trim().to_owned();
        if value.is_empty() {
            continue;
        }
        match name.as_str() {
            "email" | "new_email" => emails.push(value.to_lowercase()),
            "serial" | "signing_serial" => serials.push(value),
            _ => {}
        }
    }
    (emails, serials)
}

/// One mail for the client and one for each recipient; `Err(seconds)` when a
/// limit is reached.
fn count(
    state: &AppState,
    client: ClientAddr,
    mut emails: Vec<String>,
    serials: &[String],
) -> Result<(), u64> {
    for serial in serials.iter().take(4) {
        if let Ok(Some(record)) = state.store.certificate(&serial.to_uppercase()) {
            emails.push(record.email.to_lowercase());
        }
    }
    emails.sort();
    emails.dedup();
    state.limits.mail_per_source.hit(&client.key())?;
    for email in &emails {
        state.limits.mail_per_address.hit(email)?;
    }
    Ok(())
}
