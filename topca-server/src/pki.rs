//! The CA's public material at stable URLs: chain (PEM, PKCS#7, DER), the
//! current CRL (DER, and a page listing it), and the OCSP responder (RFC 6960,
//! GET and POST).

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use topca_core::{
    crl::{self, Crl},
    format_utc,
    ocsp::{OcspResponder, OcspSigner},
    store::CertificateStore,
};

use crate::{
    AppError, AppState,
    html::{Lang, escape, page},
    state::blocking,
};

/// How long a full CRL is valid; a new one is made at the latest halfway through.
const CRL_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How long a delta CRL is valid.
const DELTA_VALIDITY: Duration = Duration::from_secs(3600);
/// How long an OCSP answer stays fresh.
const OCSP_VALIDITY: Duration = Duration::from_secs(3600);

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/TopCA/ca/chain.pem", get(chain_pem))
        .route("/TopCA/ca/certChain.p7b", get(chain_p7b))
        .route("/TopCA/ca/issuing.cer", get(issuing_der))
        .route("/TopCA/ca/root.cer", get(root_der))
        .route("/TopCA/crl/current.crl", get(current_crl))
        .route("/TopCA/crl/delta.crl", get(delta_crl))
        .route("/TopCA/crl", get(crl_page))
        .route("/TopCA/ocsp", axum::routing::post(ocsp_post))
        .route("/TopCA/ocsp/{request}", get(ocsp_get))
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

/// The current CRL: the cached one while it is fresh (less than half its life
/// used, no revocation since), else a new one from the store.
pub(crate) fn current(state: &AppState) -> Result<Crl, AppError> {
    let mut cached = state
        .crl
        .lock()
        .map_err(|_| AppError::internal("read the CRL"))?;
    let now = state.ca.environment().clock().now();
    let fresh = cached
        .as_ref()
        .is_some_and(|c| now < c.info.this_update + CRL_VALIDITY / 2);
    if !fresh {
        *cached = Some(crl::publish(&state.ca, &state.store, CRL_VALIDITY)?);
    }
    cached
        .clone()
        .ok_or_else(|| AppError::internal("make the CRL"))
}

/// The current delta CRL over the current full CRL, made anew after a revocation
/// or halfway through its life.
pub(crate) fn current_delta(state: &AppState) -> Result<Crl, AppError> {
    let base = current(state)?;
    let mut cached = state
        .delta_crl
        .lock()
        .map_err(|_| AppError::internal("read the delta CRL"))?;
    let now = state.ca.environment().clock().now();
    let fresh = cached.as_ref().is_some_and(|c| {
        c.info.delta_base == Some(base.info.number) && now < c.info.this_update + DELTA_VALIDITY / 2
    });
    if !fresh {
        *cached = Some(crl::publish_delta(&state.ca, &state.store, DELTA_VALIDITY)?);
    }
    cached
        .clone()
        .ok_or_else(|| AppError::internal("make the delta CRL"))
}

async fn delta_crl(State(state): State<Arc<AppState>>) -> Result<Response, AppError> {
    if !state.publishes_deltas() {
        return Err(AppError {
            status: axum::http::StatusCode::NOT_FOUND,
            message: "this CA does not publish delta CRLs".into(),
        });
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
) -> Result<Response, AppError> {
    let lang = Lang::of(&headers);
    let (crl, rows) = blocking(&state, |state| {
        let crl = current(state)?;
        let mut rows = String::new();
        state
            .store
            .for_each_revoked(None, &mut |r| {
                rows.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&r.serial),
                    format_utc(r.at),
                    escape(r.reason.label())
                ));
                Ok(())
            })
            .map_err(topca_core::Error::from)?;
        Ok((crl, rows))
    })
    .await?;
    let body = format!(
        r#"<table><tr><th>{issuer}</th><td>{issuer_v}</td></tr>
<tr><th>{number}</th><td>{n}</td></tr><tr><th>{this}</th><td>{tu}</td></tr>
<tr><th>{next}</th><td>{nu}</td></tr><tr><th>{count}</th><td id="entries">{e}</td></tr></table>
<p><a href="/TopCA/crl/current.crl">{download}</a></p>
<h3>{revoked}</h3><table id="revoked"><tr><th>{serial}</th><th>{date}</th><th>{reason}</th></tr>{rows}</table>"#,
        issuer = lang.t("颁发者", "Issuer"),
        issuer_v = escape(&state.ca.certificate().subject_text()),
        number = lang.t("CRL 编号", "CRL number"),
        n = crl.info.number,
        this = lang.t("本次更新", "This update"),
        tu = format_utc(crl.info.this_update),
        next = lang.t("下次更新", "Next update"),
        nu = format_utc(crl.info.next_update),
        count = lang.t("吊销证书数", "Revoked certificates"),
        e = crl.entries,
        download = lang.t("下载 CRL（current.crl）", "Download the CRL (current.crl)"),
        revoked = lang.t("已吊销的证书", "Revoked certificates"),
        serial = lang.t("序列号", "Serial"),
        date = lang.t("吊销日期", "Revoked on"),
        reason = lang.t("原因", "Reason"),
    );
    Ok(page(
        lang,
        lang.t("证书吊销列表", "Certificate revocation list"),
        &body,
        None,
    ))
}

/// Answers one DER OCSP request; replaces the responder certificate when due.
fn answer(state: &AppState, request: &[u8]) -> Result<Vec<u8>, AppError> {
    let now = state.ca.environment().clock().now();
    let due = state
        .ocsp
        .read()
        .map(|s| s.due_for_rotation(now))
        .map_err(|_| AppError::internal("answer OCSP"))?;
    if due {
        let next = OcspSigner::issue(&state.ca, state.algorithm, 30)?;
        if let Ok(mut signer) = state.ocsp.write() {
            *signer = next;
        }
    }
    let signer = state
        .ocsp
        .read()
        .map_err(|_| AppError::internal("answer OCSP"))?;
    Ok(OcspResponder::new(&state.ca, &signer, &state.store, OCSP_VALIDITY).respond(request))
}

fn ocsp_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response")], body).into_response()
}

async fn ocsp_post(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, AppError> {
    let response = blocking(&state, move |state| answer(state, &body)).await?;
    Ok(ocsp_response(response))
}

async fn ocsp_get(
    State(state): State<Arc<AppState>>,
    Path(request): Path<String>,
) -> Result<Response, AppError> {
    // RFC 6960 appendix A.1: the DER request, base64, URL-encoded (axum decoded it).
    let der = base64::engine::general_purpose::STANDARD
        .decode(request.trim())
        .unwrap_or_default();
    let response = blocking(&state, move |state| answer(state, &der)).await?;
    Ok(ocsp_response(response))
}
