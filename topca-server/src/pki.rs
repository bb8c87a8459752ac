//! The CA's public material at stable URLs: chain (PEM, PKCS#7, DER), the
//! current CRL (DER, and a page listing it), and the OCSP responder (RFC 6960,
//! GET and POST).

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use topca_core::{crl::Crl, format_utc, store::CertificateStore};

use crate::{
    AppError, AppState,
    crl_sync::{self, CRL_VALIDITY, CrlKind, DELTA_VALIDITY},
    html::{Chrome, Lang, Pager, render},
    state::blocking,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/ca/chain.pem", get(chain_pem))
        .route("/TopCA/ca/certChain.p7b", get(chain_p7b))
        .route("/TopCA/ca/issuing.cer", get(issuing_der))
        .route("/TopCA/ca/root.cer", get(root_der))
        .route("/TopCA/crl/current.crl", get(current_crl))
        .route("/TopCA/crl/delta.crl", get(delta_crl))
        .route("/TopCA/crl", get(crl_page))
        .route("/TopCA/ca", get(install_page))
        .route("/TopCA/certificates/{file}", get(certificate_file))
        .merge(crate::ocsp_http::routes())
}

fn file(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn chain_pem(State(state): State<Arc<AppState>>) -> Response {
    file(
        "application/x-pem-file",
        "chain.pem",
        state.ca.chain_pem().into_bytes(),
    )
}

async fn chain_p7b(State(state): State<Arc<AppState>>) -> Result<Response, AppError> {
    let der = state.ca.chain_pkcs7_der()?;
    Ok(file(
        "application/x-pkcs7-certificates",
        "certChain.p7b",
        der,
    ))
}

async fn issuing_der(State(state): State<Arc<AppState>>) -> Response {
    file(
        "application/pkix-cert",
        "issuing.cer",
        state.ca.certificate().der().to_vec(),
    )
}

async fn root_der(State(state): State<Arc<AppState>>) -> Response {
    file(
        "application/pkix-cert",
        "root.cer",
        state.root.der().to_vec(),
    )
}

/// The current CRL: this node's copy while it is fresh (less than half its life
/// used) and no newer one is stored, else the newest stored one or a new one
/// (see [`crl_sync::serve`]).
pub(crate) fn current(state: &AppState) -> Result<Crl, AppError> {
    let now = state.ca.environment().clock().now();
    crl_sync::serve(state, CrlKind::Full, &|c| {
        now < c.info.this_update + CRL_VALIDITY / 2
    })
}

/// The current delta CRL over the current full CRL, made anew after a revocation
/// or halfway through its life.
pub(crate) fn current_delta(state: &AppState) -> Result<Crl, AppError> {
    let base = current(state)?;
    let now = state.ca.environment().clock().now();
    crl_sync::serve(state, CrlKind::Delta, &|c| {
        c.info.delta_base == Some(base.info.number) && now < c.info.this_update + DELTA_VALIDITY / 2
    })
}

async fn delta_crl(State(state): State<Arc<AppState>>) -> Result<Response, AppError> {
    if !state.publishes_deltas() {
        return Err(AppError::new(
            axum::http::StatusCode::NOT_FOUND,
            "this CA does not publish delta CRLs",
        ));
    }
    let crl = blocking(&state, current_delta).await?;
    Ok(file("application/pkix-crl", "delta.crl", crl.der))
}

async fn current_crl(State(state): State<Arc<AppState>>) -> Result<Response, AppError> {
    let crl = blocking(&state, current).await?;
    Ok(file("application/pkix-crl", "current.crl", crl.der))
}

async fn crl_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<CrlQuery>,
) -> Result<Response, AppError> {
    let t = Lang::of(&headers);
    let query: String =
        q.q.unwrap_or_default()
            .trim()
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .take(64)
            .collect::<String>()
            .to_ascii_uppercase();
    let wanted = query.clone();
    // A page that is not a number shows the first one.
    let requested_page = q.page.as_deref().and_then(|p| p.trim().parse().ok());
    let (crl, rows, pager) = blocking(&state, move |state| {
        let crl = current(state)?;
        // Every revocation is visited once; only the page asked for is kept.
        let mut matching = Vec::new();
        state
            .store
            .for_each_revoked(None, &mut |r| {
                if r.serial.to_ascii_uppercase().contains(&wanted) {
                    matching.push((r.serial.clone(), r.at, r.reason));
                }
                Ok(())
            })
            .map_err(topca_core::Error::from)?;
        let base = if wanted.is_empty() {
            "/TopCA/crl".to_owned()
        } else {
            format!("/TopCA/crl?q={wanted}")
        };
        let pager = Pager::new(requested_page, CRL_PAGE_ROWS, matching.len() as u64, base);
        let rows: Vec<_> = matching
            .into_iter()
            .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
            .take(CRL_PAGE_ROWS as usize)
            .collect();
        Ok((crl, rows, pager))
    })
    .await?;
    let page = Chrome::new(
        t.s("pki.crl.title"),
        &[(t.s("common.ca_downloads"), "/TopCA/ca")],
    );
    let rows = rows
        .into_iter()
        .map(|(serial, at, reason)| RevokedRow {
            serial,
            at: format_utc(at),
            reason: t.value("reason", reason),
        })
        .collect();
    let view = CrlPage {
        t,
        page,
        issuer: state.ca.certificate().subject_text(),
        number: crl.info.number.to_string(),
        this_update: format_utc(crl.info.this_update),
        next_update: format_utc(crl.info.next_update),
        entries: crl.entries,
        query,
        rows,
        pager,
    };
    Ok(render(StatusCode::OK, &view, None))
}

/// Revoked certificates listed per page of the CRL page.
const CRL_PAGE_ROWS: u64 = 100;

#[derive(Deserialize)]
struct CrlQuery {
    /// All or part of a serial number.
    q: Option<String>,
    /// The page, from 1.
    page: Option<String>,
}

/// One revoked certificate on the CRL page.
struct RevokedRow {
    serial: String,
    at: String,
    reason: String,
}

/// The CRL page: the current CRL's facts and its entries, searchable and paged.
#[derive(Template)]
#[template(path = "pki/crl.html")]
struct CrlPage {
    t: Lang,
    page: Chrome,
    issuer: String,
    number: String,
    this_update: String,
    next_update: String,
    entries: u64,
    query: String,
    rows: Vec<RevokedRow>,
    pager: Pager,
}

/// One file of the install page: what it is, and for a single certificate
/// whose it is and its fingerprint to check.
struct Download {
    id: &'static str,
    href: &'static str,
    label: String,
    what: String,
    subject: Option<String>,
    fingerprint: Option<String>,
}

/// How to install the CA chain on each platform, with every download.
#[derive(Template)]
#[template(path = "pki/install.html")]
struct InstallPage {
    t: Lang,
    page: Chrome,
    files: Vec<Download>,
    /// Whether the CA signs with SM2 (OpenSSL needs the signer ID).
    sm2: bool,
}

async fn install_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let issuing = state.ca.certificate();
    let file = |(id, href): (&'static str, &'static str),
                (label, what): (&str, &str),
                subject,
                fingerprint| Download {
        id,
        href,
        label: t.s(label).to_owned(),
        what: t.s(what).to_owned(),
        subject,
        fingerprint,
    };
    let files = vec![
        file(
            ("root-cer", "/TopCA/ca/root.cer"),
            ("pki.install.root", "pki.install.root_what"),
            Some(state.root.subject_text()),
            Some(state.root.sha256_fingerprint()),
        ),
        file(
            ("issuing-cer", "/TopCA/ca/issuing.cer"),
            ("pki.install.issuing", "pki.install.issuing_what"),
            Some(issuing.subject_text()),
            Some(issuing.sha256_fingerprint()),
        ),
        file(
            ("chain-pem", "/TopCA/ca/chain.pem"),
            ("pki.install.chain_pem", "pki.install.chain_pem_what"),
            None,
            None,
        ),
        file(
            ("chain-p7b", "/TopCA/ca/certChain.p7b"),
            ("pki.install.chain_p7b", "pki.install.chain_p7b_what"),
            None,
            None,
        ),
        file(
            ("crl-file", "/TopCA/crl/current.crl"),
            ("pki.install.crl", "pki.install.crl_what"),
            None,
            None,
        ),
    ];
    let sm2 = issuing
        .public_key()
        .is_ok_and(|k| matches!(k.kind(), topca_core::KeyKind::Sm2));
    let page = Chrome::new(t.s("pki.install.title"), &[]);
    render(
        StatusCode::OK,
        &InstallPage {
            t,
            page,
            files,
            sm2,
        },
        None,
    )
}

/// An issued certificate by serial: `SERIAL.pem` or `SERIAL.cer` (DER).
async fn certificate_file(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let (serial, pem) = match (name.strip_suffix(".pem"), name.strip_suffix(".cer")) {
        (Some(serial), _) => (serial.to_owned(), true),
        (None, Some(serial)) => (serial.to_owned(), false),
        _ => return Err(AppError::bad_request("ask for SERIAL.pem or SERIAL.cer")),
    };
    let record = blocking(&state, move |s| {
        s.store
            .certificate(&serial)
            .map_err(topca_core::Error::from)?
            .ok_or_else(|| {
                AppError::from(topca_core::Error::Ra(
                    topca_core::RaError::UnknownCertificate,
                ))
            })
    })
    .await?;
    if pem {
        let pem = topca_core::Certificate::from_der(&record.der)
            .map_err(|e| crate::AppError::internal_because("read the certificate", &e))?
            .to_pem();
        Ok(file("application/x-pem-file", &name, pem.into_bytes()))
    } else {
        Ok(file("application/pkix-cert", &name, record.der))
    }
}
