//! EST (RFC 7030) at `/.well-known/est/`: `cacerts`, `csrattrs`,
//! `simpleenroll`, `simplereenroll` and `serverkeygen`, the client
//! authenticated by HTTP Basic with a CMP credential (reference as the user
//! name, secret as the password) or by a TLS client certificate this CA issued
//! to an account (valid, not revoked). Issuance is the CMP path's: the
//! account's policy, recorded before signing, stored, audited, in the CRL and
//! OCSP. Serve it over HTTPS (`--tls`), as RFC 7030 requires: Basic sends the
//! secret. A CSR's challengePassword, when present, must be the connection's
//! channel binding (RFC 9266 `tls-exporter`, base64; see [`ChannelBinding`]).

use std::sync::Arc;

use axum::{
    Extension, Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use topca_core::{
    CertificateRequest, KeyAlgorithm, ProfileKind, SigningKey,
    cmp::{
        CmpCredential, SecretGuard,
        credential::{authenticate, issue},
        est::{self as checks, CertificateHolder, KeyDelivery},
        queue::{self, Queued},
    },
    kmc::{EnvelopeFormat, EnvelopedKey},
    pkcs7,
    ra::AccountId,
};

use crate::{
    AppError, AppState,
    limits::ClientAddr,
    secret_limits::{Protocol, SourceGuard},
    state::blocking,
    tls::{ChannelBinding, Peer},
};

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
        .route("/.well-known/est/simplereenroll", post(reenroll))
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
        "EST needs HTTP Basic authentication with a CMP credential (reference and secret), or a TLS client certificate this CA issued to an account, valid and not revoked\n",
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

/// The credential of `Authorization: Basic …`, if it is one; 429 with
/// `Retry-After` when its reference is over the wrong-secret limit from this
/// address (see [`crate::secret_limits`]).
async fn credential(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    addr: ClientAddr,
) -> Result<Option<CmpCredential>, AppError> {
    let Some((reference, secret)) = basic(headers) else {
        return Ok(None);
    };
    blocking(state, move |s| {
        let guard = SourceGuard::new(s, addr, Protocol::Est);
        let reference = reference.trim();
        guard.may_try(reference).map_err(|seconds| {
            AppError::limited(
                StatusCode::TOO_MANY_REQUESTS,
                "too many wrong secrets from your address for this reference; please wait and try again",
                seconds,
            )
        })?;
        let clock = s.ca.environment().clock();
        match authenticate(&s.store, &s.master, clock, reference, &secret) {
            Ok(credential) => Ok(Some(credential)),
            Err(topca_core::Error::Ra(topca_core::RaError::ClientTokenRefused)) => {
                guard.failed(reference);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// Who an EST request comes from.
enum Client {
    /// A CMP credential, by HTTP Basic.
    Credential(CmpCredential),
    /// The holder of a TLS client certificate.
    Certificate(Box<CertificateHolder>),
}

impl Client {
    fn account(&self) -> AccountId {
        match self {
            Self::Credential(c) => c.account,
            Self::Certificate(h) => h.account,
        }
    }

    /// How the audit log names it.
    fn actor(&self) -> String {
        match self {
            Self::Credential(c) => format!("est-ref-{}", c.reference),
            Self::Certificate(h) => format!("est-cert-{}", h.serial),
        }
    }
}

/// What the connection tells about the client: its TLS certificate and the
/// channel binding.
type Connection = (
    Option<Extension<ConnectInfo<Peer>>>,
    Option<Extension<ChannelBinding>>,
);

/// The client of a request: HTTP Basic when sent (it alone decides), else the
/// TLS client certificate; `None` when neither authenticates.
async fn client(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    peer: Option<&Peer>,
    addr: ClientAddr,
) -> Result<Option<Client>, AppError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(credential(state, headers, addr)
            .await?
            .map(Client::Credential));
    }
    let Some(der) = peer.and_then(|p| p.certificate.clone()) else {
        return Ok(None);
    };
    blocking(state, move |s| {
        Ok(checks::holder_of(&s.ca, &s.store, &der)?.map(|h| Client::Certificate(Box::new(h))))
    })
    .await
}

/// The request's client and CSR, its channel binding checked: `Err(answer)`
/// when refused.
async fn client_and_csr(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    (peer, binding): &Connection,
    addr: ClientAddr,
    body: &[u8],
) -> Result<Result<(Client, CertificateRequest), Response>, AppError> {
    let Some(client) = client(state, headers, peer.as_ref().map(|p| &p.0.0), addr).await? else {
        return Ok(Err(unauthorized()));
    };
    let csr = csr_of(body)?;
    if !checks::channel_bound(&csr, binding.as_ref().map(|b| &b.0.0[..])) {
        return Err(AppError::bad_request(
            "the CSR's challengePassword is not this TLS connection's channel binding (RFC 9266 tls-exporter, base64)",
        ));
    }
    Ok(Ok((client, csr)))
}

/// Seconds an EST client waits before asking again for a request waiting
/// for approval.
const RETRY_AFTER: &str = "5";

/// Simple enrollment under an RA administrator's approval (RFC 7030 §4.2.3),
/// for a client authenticated as for simple enrollment (HTTP Basic or a TLS
/// client certificate): `202` with `Retry-After` until the request (found
/// again by its CSR and client) is approved, then the certificate; `403`
/// once it is rejected.
async fn enroll_after_approval(
    State(state): State<Arc<AppState>>,
    connection: Connection,
    headers: HeaderMap,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Response, AppError> {
    let (client, csr) = match client_and_csr(&state, &headers, &connection, addr, &body).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let queued = blocking(&state, move |s| {
        let env = s.ca.environment();
        Ok(queue::enroll_after_approval(
            &s.ra(),
            &s.store,
            client.account(),
            &client.actor(),
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

/// Simple enrollment (RFC 7030 §4.2.1): a PKCS#10 request in, the
/// certificate out, for the authenticated client's account.
async fn enroll(
    State(state): State<Arc<AppState>>,
    connection: Connection,
    headers: HeaderMap,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Response, AppError> {
    let (client, csr) = match client_and_csr(&state, &headers, &connection, addr, &body).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    issue_for(&state, client, csr, ProfileKind::TlsServer).await
}

/// Simple re-enrollment (RFC 7030 §4.2.2): with a TLS client certificate the
/// new certificate keeps its subject, alternative names (the CSR may not ask
/// for others) and kind (a TLS client certificate renews as one); with HTTP
/// Basic it is a simple enrollment.
async fn reenroll(
    State(state): State<Arc<AppState>>,
    connection: Connection,
    headers: HeaderMap,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Response, AppError> {
    let (client, csr) = match client_and_csr(&state, &headers, &connection, addr, &body).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let (csr, profile) = match &client {
        Client::Certificate(holder) => (
            checks::reenrollment(&holder.certificate, &csr)?,
            checks::reenrollment_profile(&holder.certificate),
        ),
        Client::Credential(_) => (csr, ProfileKind::TlsServer),
    };
    issue_for(&state, client, csr, profile).await
}

/// Issues `csr` under `profile` for `client`'s account and answers the
/// certificate.
async fn issue_for(
    state: &Arc<AppState>,
    client: Client,
    csr: CertificateRequest,
    profile: ProfileKind,
) -> Result<Response, AppError> {
    let certificate = blocking(state, move |s| {
        Ok(issue(
            &s.ca,
            &s.store,
            client.account(),
            &client.actor(),
            &csr,
            profile,
        )?)
    })
    .await?;
    let der = pkcs7::certs_only_der(std::slice::from_ref(certificate.x509()))
        .map_err(|e| AppError::internal_because("encode the certificate", &e))?;
    Ok(certs_only(&der))
}

/// The boundary of a `serverkeygen` answer's parts.
const BOUNDARY: &str = "topca-est-serverkeygen";

/// The media type of an enveloped server-generated key (RFC 7030 §4.4.2).
const SERVER_GENERATED_KEY: &str = "application/pkcs7-mime; smime-type=server-generated-key";

/// Server-side key generation (RFC 7030 §4.4): a key of the CSR's kind made
/// here, certified with the CSR's subject and names for the client's account,
/// and returned with its certificate as `multipart/mixed`: the key, then the
/// certificate. The key is PKCS#8 protected by TLS only, unless the CSR
/// carries an AsymmetricDecryptKeyIdentifier attribute: then it is a CMS
/// EnvelopedData to the TLS client certificate's key (RSA: RSAES-OAEP key
/// transport; ECDSA: ECDH key agreement). Symmetric envelopes
/// (DecryptKeyIdentifier) are not offered. The key is not kept.
async fn serverkeygen(
    State(state): State<Arc<AppState>>,
    connection: Connection,
    headers: HeaderMap,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Response, AppError> {
    let (client, csr) = match client_and_csr(&state, &headers, &connection, addr, &body).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let recipient = match (checks::key_delivery(&csr), &client) {
        (KeyDelivery::Clear, _) => None,
        (KeyDelivery::Symmetric, _) => {
            return Err(AppError::bad_request(
                "keys enveloped under a symmetric key (DecryptKeyIdentifier) are not offered: ask with AsymmetricDecryptKeyIdentifier over a TLS client certificate",
            ));
        }
        (KeyDelivery::Asymmetric, Client::Certificate(holder)) => {
            let kind = holder.certificate.public_key().map(|k| k.kind()).ok();
            if kind.and_then(EnvelopeFormat::for_signing_key)
                != Some(EnvelopeFormat::CmsEnvelopedData)
            {
                return Err(AppError::bad_request(
                    "the key can be enveloped only to an RSA or ECDSA client certificate",
                ));
            }
            Some(holder.certificate.clone())
        }
        (KeyDelivery::Asymmetric, Client::Credential(_)) => {
            return Err(AppError::bad_request(
                "an enveloped key (AsymmetricDecryptKeyIdentifier) is encrypted to the TLS client certificate: present one",
            ));
        }
    };
    let (certificate, key_der) = blocking(&state, move |s| {
        let kind = csr.public_key().kind();
        let algorithm = KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.kind() == kind)
            .ok_or_else(|| AppError::bad_request("the CSR's key type cannot be generated here"))?;
        let random = s.ca.environment().random();
        let key = SigningKey::generate(algorithm, random).map_err(topca_core::Error::from)?;
        let request = CertificateRequest::from_checked_parts(
            csr.subject_name().clone(),
            key.public_key().clone(),
            key.signature_algorithm(),
            csr.alt_names().clone(),
        );
        let certificate = issue(
            &s.ca,
            &s.store,
            client.account(),
            &client.actor(),
            &request,
            ProfileKind::TlsServer,
        )?;
        let key_der = match &recipient {
            None => zeroize::Zeroizing::new(
                key.to_pkcs8_der()
                    .map_err(topca_core::Error::from)?
                    .to_vec(),
            ),
            Some(recipient) => zeroize::Zeroizing::new(
                EnvelopedKey::seal(&key, recipient, random)
                    .map_err(topca_core::Error::from)?
                    .der,
            ),
        };
        Ok((certificate, (key_der, recipient.is_some())))
    })
    .await?;
    let (key_der, enveloped) = key_der;
    let key_type = if enveloped {
        SERVER_GENERATED_KEY
    } else {
        "application/pkcs8"
    };
    let certs = pkcs7::certs_only_der(std::slice::from_ref(certificate.x509()))
        .map_err(|e| AppError::internal_because("encode the certificate", &e))?;
    let key_part = zeroize::Zeroizing::new(base64_lines(&key_der));
    let body = format!(
        "--{BOUNDARY}\r\nContent-Type: {key_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
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
