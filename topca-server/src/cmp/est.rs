//! EST (RFC 7030) at `/.well-known/est/`: `cacerts`, `csrattrs`,
//! `simpleenroll` and `simplereenroll`, the client authenticated by HTTP
//! Basic with a CMP credential (reference as the user name, secret as the
//! password). Issuance is the CMP path's: the credential's account policy,
//! recorded before signing, stored, audited, in the CRL and OCSP. Serve it
//! over HTTPS (`--tls`), as RFC 7030 requires: Basic sends the secret.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use topca_core::{
    CertificateRequest, KeyAlgorithm, ProfileKind, SigningKey,
    cmp::{
        CmpCredential,
        credential::{authenticate, issue},
        queue::{self, Queued},
    },
    pkcs7,
};

use crate::{AppError, AppState, state::blocking};

/// The media type of EST certificate answers.
const CERTS_ONLY: &str = "application/pkcs7-mime; smime-type=certs-only";
/// The largest request (a base64 CSR of a 16,384-bit RSA key fits).
const MAX_BODY: usize = 64 * 1024;

/// The EST routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/.well-known/est/cacerts", get(cacerts))
        .route("/.well-known/est/csrattrs", get(csrattrs))
        .route("/.well-known/est/simpleenroll", post(enroll))
        .route("/.well-known/est/simplereenroll", post(enroll))
        .route("/.well-known/est/serverkeygen", post(serverkeygen))
        .route(
            "/.well-known/est/approval/simpleenroll",
            post(enroll_after_approval),
        )
        .route_layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Base64 with line breaks, as EST sends DER.
fn base64_lines(der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(text.len() + text.len() / 64 + 1);
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push('\n');
    out
}

fn certs_only(der: &[u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, CERTS_ONLY),
            (
                header::HeaderName::from_static("content-transfer-encoding"),
                "base64",
            ),
        ],
        base64_lines(der),
    )
        .into_response()
}

/// The CA certificates (RFC 7030 §4.1): the issuing CA and its root.
async fn cacerts(State(state): State<Arc<AppState>>) -> Result<Response, AppError> {
    let chain: Vec<_> = state.ca.chain().iter().map(|c| c.x509().clone()).collect();
    let der = pkcs7::certs_only_der(&chain)
        .map_err(|e| AppError::internal_because("encode the CA certificates", &e))?;
    Ok(certs_only(&der))
}

/// CSR attributes (RFC 7030 §4.5): none are required.
async fn csrattrs() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `user:password` of `Authorization: Basic …`.
fn basic(headers: &HeaderMap) -> Option<(String, zeroize::Zeroizing<String>)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((
        user.to_owned(),
        zeroize::Zeroizing::new(password.to_owned()),
    ))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"TopCA EST\"")],
        "EST needs HTTP Basic authentication with a CMP credential (reference and secret)\n",
    )
        .into_response()
}

/// The PKCS#10 request of an EST body: base64 DER (line breaks allowed), or PEM.
fn csr_of(body: &[u8]) -> Result<CertificateRequest, AppError> {
    let compact: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let parsed = match base64::engine::general_purpose::STANDARD.decode(&compact) {
        Ok(der) => CertificateRequest::from_der(&der),
        Err(_) => CertificateRequest::parse(body),
    };
    parsed.map_err(|e| AppError::bad_request(format!("the PKCS#10 request is refused: {e}")))
}

/// The credential of `Authorization: Basic …`, if it is one.
async fn credential(
    state: &Arc<AppState>,
    headers: &HeaderMap,
) -> Result<Option<CmpCredential>, AppError> {
    let Some((reference, secret)) = basic(headers) else {
        return Ok(None);
    };
    blocking(state, move |s| {
        Ok(authenticate(&s.store, &s.master, &reference, &secret).ok())
    })
    .await
}

/// Seconds an EST client waits before asking again for a request waiting
/// for approval.
const RETRY_AFTER: &str = "5";

/// Simple enrollment under an RA administrator's approval (RFC 7030 §4.2.3):
/// `202` with `Retry-After` until the request (found again by its CSR) is
/// approved, then the certificate; `403` once it is rejected.
async fn enroll_after_approval(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let Some(credential) = credential(&state, &headers).await? else {
        return Ok(unauthorized());
    };
    let csr = csr_of(&body)?;
    let queued = blocking(&state, move |s| {
        let env = s.ca.environment();
        Ok(queue::enroll_after_approval(
            &s.ra(),
            &s.store,
            &credential,
            &csr,
            env.clock().now(),
            env.random(),
        )?)
    })
    .await?;
    match queued {
        Queued::Waiting(reference) => Ok((
            StatusCode::ACCEPTED,
            [(header::RETRY_AFTER, RETRY_AFTER)],
            format!(
                "request {} waits for an RA administrator's approval\n",
                reference.0
            ),
        )
            .into_response()),
        Queued::Issued(certificate) => {
            let der = pkcs7::certs_only_der(std::slice::from_ref(certificate.x509()))
                .map_err(|e| AppError::internal_because("encode the certificate", &e))?;
            Ok(certs_only(&der))
        }
        Queued::Rejected(reason) => Err(AppError::new(
            StatusCode::FORBIDDEN,
            format!("an RA administrator rejected the request: {reason}"),
        )),
    }
}

/// Simple (re-)enrollment (RFC 7030 §4.2): a PKCS#10 request in, the
/// certificate out, for the authenticated credential's account.
async fn enroll(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let Some(credential) = credential(&state, &headers).await? else {
        return Ok(unauthorized());
    };
    let csr = csr_of(&body)?;
    let certificate = blocking(&state, move |s| {
        Ok(issue(
            &s.ca,
            &s.store,
            credential.account,
            &format!("est-ref-{}", credential.reference),
            &csr,
            ProfileKind::TlsServer,
        )?)
    })
    .await?;
    let der = pkcs7::certs_only_der(std::slice::from_ref(certificate.x509()))
        .map_err(|e| AppError::internal_because("encode the certificate", &e))?;
    Ok(certs_only(&der))
}

/// The boundary of a `serverkeygen` answer's parts.
const BOUNDARY: &str = "topca-est-serverkeygen";

/// Server-side key generation (RFC 7030 §4.4): a key of the CSR's kind made
/// here, certified with the CSR's subject and names for the credential's
/// account, and returned with its certificate as `multipart/mixed`: the
/// PKCS#8 key (not enveloped: it relies on TLS, so serve EST over HTTPS),
/// then the certificate. The key is not kept.
async fn serverkeygen(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let Some(credential) = credential(&state, &headers).await? else {
        return Ok(unauthorized());
    };
    let csr = csr_of(&body)?;
    let (certificate, pkcs8) = blocking(&state, move |s| {
        let kind = csr.public_key().kind();
        let algorithm = KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.kind() == kind)
            .ok_or_else(|| AppError::bad_request("the CSR's key type cannot be generated here"))?;
        let key = SigningKey::generate(algorithm, s.ca.environment().random())
            .map_err(topca_core::Error::from)?;
        let request = CertificateRequest::from_checked_parts(
            csr.subject_name().clone(),
            key.public_key().clone(),
            key.signature_algorithm(),
            csr.alt_names().clone(),
        );
        let certificate = issue(
            &s.ca,
            &s.store,
            credential.account,
            &format!("est-ref-{}", credential.reference),
            &request,
            ProfileKind::TlsServer,
        )?;
        let pkcs8 = key.to_pkcs8_der().map_err(topca_core::Error::from)?;
        Ok((certificate, pkcs8))
    })
    .await?;
    let certs = pkcs7::certs_only_der(std::slice::from_ref(certificate.x509()))
        .map_err(|e| AppError::internal_because("encode the certificate", &e))?;
    let key_part = zeroize::Zeroizing::new(base64_lines(&pkcs8));
    let body = format!(
        "--{BOUNDARY}\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --{BOUNDARY}\r\nContent-Type: {CERTS_ONLY}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --{BOUNDARY}--\r\n",
        key_part.as_str(),
        base64_lines(&certs),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            format!("multipart/mixed; boundary={BOUNDARY}"),
        )],
        body,
    )
        .into_response())
}
