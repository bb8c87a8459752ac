//! ACME v2 (RFC 8555): certbot and other ACME clients get, renew and revoke
//! certificates under an RA account.
//!
//! An ACME profile is bound to an RA account through a machine client: the
//! client named `acme` is the default profile (`/acme/directory`), `acme-NAME`
//! the profile `/acme/NAME/directory`. The client's account, name suffixes,
//! profile and validity are the ACME profile's policy, and revoking the client
//! disables the profile. Issuance goes through the machine clients' path
//! ([`topca_core::client::Clients`]), so ACME certificates are recorded before
//! signing, stored under the account, audited, and in CRLs and OCSP like any other.
//!
//! One module per step: [`directory`] (directory, nonces), [`account`] (new
//! account, update, deactivation, key rollover), [`eab`] (external account
//! binding), [`order`] (orders, authorizations, challenges), [`challenge`]
//! (http-01, dns-01 and tls-alpn-01 validation, outside the request; [`dns`]
//! asks the resolver, [`tls_alpn`] checks the certificate), [`finalize`] (CSR and certificate), [`revoke`], [`renewal`]
//! (ARI); [`profiles`] lists and selects a directory's certificate profiles,
//! [`limits`] counts new orders in the store; [`jws`] verifies
//! requests and [`problem`] words the errors. Nonces and every object live in
//! the store, so any node answers any request.

mod account;
mod challenge;
mod directory;
mod dns;
pub mod eab;
mod finalize;
mod jws;
mod limits;
mod nonce;
mod order;
mod problem;
mod profiles;
pub mod renewal;
mod revoke;
mod tls_alpn;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::DefaultBodyLimit,
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::Value;
use topca_core::{
    client::MachineClient,
    store::{AcmeAccount, AcmeStatus, AcmeStore, ClientStore},
};

use crate::AppState;
pub(crate) use problem::AcmeProblem;

/// The largest ACME request body (a CSR of a large RSA key fits).
const MAX_BODY: usize = 64 * 1024;

/// The ACME side of the server's state: where http-01 validation connects
/// and how many validations may run at once.
#[derive(Debug)]
pub struct AcmeRuntime {
    /// The port http-01 validation connects to on the identifier (80; tests
    /// point it at their own listener).
    pub http01_port: u16,
    /// The DNS resolver dns-01 validation asks (`None`: the first
    /// nameserver of `/etc/resolv.conf`; `TOPCA_ACME_DNS_RESOLVER`).
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// The port tls-alpn-01 validation connects to (443;
    /// `TOPCA_ACME_TLS_ALPN_PORT` points it elsewhere).
    pub tls_alpn_port: u16,
    /// Bounds the validations running at once.
    pub validations: Arc<tokio::sync::Semaphore>,
    /// How long one validation may take.
    pub timeout: Duration,
    /// New orders allowed an hour, counted in the store (every node alike).
    pub order_limits: OrderLimits,
}

/// New orders allowed an hour, whichever node takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLimits {
    /// Per ACME account.
    pub per_account: u32,
    /// Per identifier, whichever account.
    pub per_identifier: u32,
}

impl Default for OrderLimits {
    /// 300 an hour per account, 50 per identifier.
    fn default() -> Self {
        Self {
            per_account: 300,
            per_identifier: 50,
        }
    }
}

impl AcmeRuntime {
    /// At most 16 validations at once, 10 seconds each, on `http01_port`
    /// (tls-alpn-01 on 443); new orders an hour as `limits` allow.
    pub fn new(http01_port: u16, limits: OrderLimits) -> Self {
        Self {
            http01_port,
            dns_resolver: None,
            tls_alpn_port: 443,
            validations: Arc::new(tokio::sync::Semaphore::new(16)),
            timeout: Duration::from_secs(10),
            order_limits: limits,
        }
    }
}

/// The ACME routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/acme/directory", get(directory::default_directory))
        .route("/acme/{profile}/directory", get(directory::directory))
        .route(
            "/acme/new-nonce",
            get(directory::get_nonce).head(directory::head_nonce),
        )
        .route("/acme/new-account", post(account::new_default_account))
        .route("/acme/{profile}/new-account", post(account::new_account))
        .route("/acme/acct/{id}", post(account::account))
        .route("/acme/acct/{id}/orders", post(account::orders))
        .route("/acme/key-change", post(account::key_change))
        .route("/acme/new-order", post(order::new_order))
        .route("/acme/order/{id}", post(order::order))
        .route("/acme/order/{id}/finalize", post(finalize::finalize))
        .route("/acme/authz/{id}", post(order::authorization))
        .route("/acme/chall/{id}", post(order::challenge))
        .route("/acme/cert/{id}", post(finalize::certificate))
        .route("/acme/revoke-cert", post(revoke::revoke))
        .route("/acme/renewal-info/{id}", get(renewal::renewal_info))
        .route_layer(DefaultBodyLimit::max(MAX_BODY))
        .route_layer(axum::middleware::from_fn(refusals))
}

/// Refusals made before a handler runs (a body over [`MAX_BODY`], a method
/// the route does not take) as ACME problem documents too.
async fn refusals(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes()
                .starts_with(crate::problem::PROBLEM_JSON.as_bytes())
        });
    if !status.is_client_error() || problem {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("the body is over {MAX_BODY} bytes"),
        StatusCode::METHOD_NOT_ALLOWED => "this resource does not take this method".to_owned(),
        _ => "the request is not one this resource takes".to_owned(),
    };
    let problem = AcmeProblem {
        status,
        ..AcmeProblem::malformed(detail)
    };
    let mut answer = (status, axum::Json(problem.document())).into_response();
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::problem::PROBLEM_JSON),
    );
    answer
}

/// The machine-client name that binds ACME profile `profile` ("": default).
fn client_name(profile: &str) -> String {
    if profile.is_empty() {
        "acme".to_owned()
    } else {
        format!("acme-{profile}")
    }
}

/// The live machine client behind ACME profile `profile`.
fn profile_client(state: &AppState, profile: &str) -> Result<MachineClient, AcmeProblem> {
    let plain = profile
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain || profile.len() > 48 {
        return Err(AcmeProblem::not_found("ACME profile"));
    }
    state
        .store
        .client_by_name(&client_name(profile))?
        .filter(|c| c.revoked.is_none())
        .ok_or_else(|| AcmeProblem::not_found("ACME profile"))
}

/// The base of every ACME URL of this server.
fn base(state: &AppState) -> String {
    format!("{}/acme", state.base_url)
}

/// The URL of the directory of `profile`.
fn directory_url(state: &AppState, profile: &str) -> String {
    if profile.is_empty() {
        format!("{}/directory", base(state))
    } else {
        format!("{}/{profile}/directory", base(state))
    }
}

/// The URL of account `id` (its `kid`).
fn account_url(state: &AppState, id: &str) -> String {
    format!("{}/acct/{id}", base(state))
}

/// 128 random bits, base64url: identifiers, tokens and nonces.
fn random_id(state: &AppState) -> Result<String, AcmeProblem> {
    let mut bytes = [0u8; 16];
    state
        .ca
        .environment()
        .random()
        .fill(&mut bytes)
        .map_err(|e| AcmeProblem::internal("draw random bits", &e))?;
    Ok(jws::b64(&bytes))
}

/// Who signed a request.
pub(crate) enum Signer {
    /// A key given in the header (`jwk`): new accounts, revocation by the
    /// certificate's key.
    Key(jws::Jwk),
    /// The valid account a `kid` named.
    Account(AcmeAccount),
}

/// A request whose JWS verified, whose URL matched and whose nonce was spent.
pub(crate) struct Signed {
    /// The payload (empty: POST-as-GET).
    pub payload: Vec<u8>,
    /// Its signer.
    pub signer: Signer,
}

impl Signed {
    /// The signing account, or `unauthorized` for a bare key.
    pub fn account(&self) -> Result<&AcmeAccount, AcmeProblem> {
        match &self.signer {
            Signer::Account(account) => Ok(account),
            Signer::Key(_) => Err(AcmeProblem::malformed(
                "this request must name its account with kid, not jwk",
            )),
        }
    }

    /// Whether this is POST-as-GET (an empty payload).
    pub fn is_get(&self) -> bool {
        self.payload.is_empty()
    }

    /// The payload as a JSON object (`{}` for POST-as-GET).
    pub fn json(&self) -> Result<Value, AcmeProblem> {
        if self.payload.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        let value: Value = serde_json::from_slice(&self.payload)
            .map_err(|_| AcmeProblem::malformed("the payload is not JSON"))?;
        if !value.is_object() {
            return Err(AcmeProblem::malformed("the payload is not a JSON object"));
        }
        Ok(value)
    }
}

/// Verifies `body` as a JWS for `url`: the algorithm, the key (`jwk` or a
/// valid account's `kid`), the signature, the URL, and then spends the nonce.
fn verify(state: &AppState, body: &[u8], url: &str) -> Result<Signed, AcmeProblem> {
    let jws = jws::Jws::parse(body)?;
    jws.algorithm()?;
    let signer = match (jws.header.get("jwk"), jws.text("kid")) {
        (Some(jwk), None) => Signer::Key(jws::Jwk::parse(jwk)?),
        (None, Some(kid)) => {
            let id = kid
                .strip_prefix(&format!("{}/acct/", base(state)))
                .ok_or_else(AcmeProblem::account_does_not_exist)?;
            let account = state
                .store
                .acme_account(id)?
                .ok_or_else(AcmeProblem::account_does_not_exist)?;
            if account.status != AcmeStatus::Valid {
                return Err(AcmeProblem::unauthorized("the account is deactivated"));
            }
            Signer::Account(account)
        }
        _ => {
            return Err(AcmeProblem::malformed(
                "the protected header needs exactly one of jwk and kid",
            ));
        }
    };
    let key = match &signer {
        Signer::Key(key) => key.clone(),
        Signer::Account(account) => jws::Jwk::from_text(&account.jwk)?,
    };
    jws.verify(&key)?;
    if jws.text("url") != Some(url) {
        return Err(AcmeProblem::unauthorized(format!(
            "the protected header's url must be {url}"
        )));
    }
    let nonce = jws.text("nonce").ok_or_else(AcmeProblem::bad_nonce)?;
    if !nonce::take(state, nonce)? {
        return Err(AcmeProblem::bad_nonce());
    }
    Ok(Signed {
        payload: jws.payload,
        signer,
    })
}

/// A successful ACME answer.
pub(crate) struct Reply {
    retry_after: Option<u64>,
    status: StatusCode,
    location: Option<String>,
    links: Vec<String>,
    body: ReplyBody,
}

enum ReplyBody {
    Json(Value),
    Pem(String),
    Empty,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            retry_after: None,
            status,
            location: None,
            links: Vec::new(),
            body: ReplyBody::Json(body),
        }
    }

    /// 200 with a PEM certificate chain.
    pub fn pem(chain: String) -> Self {
        Self {
            retry_after: None,
            status: StatusCode::OK,
            location: None,
            links: Vec::new(),
            body: ReplyBody::Pem(chain),
        }
    }

    /// 200 without a body.
    pub fn empty() -> Self {
        Self {
            retry_after: None,
            status: StatusCode::OK,
            location: None,
            links: Vec::new(),
            body: ReplyBody::Empty,
        }
    }

    /// With another status.
    pub fn with(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// With a `Location`.
    pub fn at(mut self, url: String) -> Self {
        self.location = Some(url);
        self
    }

    /// With a `Link` of relation `rel`.
    pub fn link(mut self, url: &str, rel: &str) -> Self {
        self.links.push(format!("<{url}>;rel=\"{rel}\""));
        self
    }
}

/// Runs `work` on a verified request for the URL of `uri`, off the async
/// threads, and answers with a fresh nonce whatever the outcome.
async fn signed<F>(state: Arc<AppState>, uri: Uri, body: Bytes, work: F) -> Response
where
    F: FnOnce(&Arc<AppState>, Signed) -> Result<Reply, AcmeProblem> + Send + 'static,
{
    let url = format!("{}{}", state.base_url, uri.path());
    let index = directory_url(&state, "");
    answer(state, index, move |s| work(s, verify(s, &body, &url)?)).await
}

/// Runs `work` off the async threads and answers with a fresh nonce.
async fn answer<F>(state: Arc<AppState>, index: String, work: F) -> Response
where
    F: FnOnce(&Arc<AppState>) -> Result<Reply, AcmeProblem> + Send + 'static,
{
    let done = tokio::task::spawn_blocking(move || {
        let outcome = work(&state);
        (outcome, nonce::fresh(&state))
    })
    .await;
    let (outcome, nonce) = match done {
        Ok(done) => done,
        Err(e) => {
            return respond(
                Err(AcmeProblem::internal("finish the request", &e)),
                None,
                &index,
            );
        }
    };
    respond(outcome, nonce.ok(), &index)
}

/// The HTTP answer of `outcome`, with `nonce` and the directory as `index`.
fn respond(outcome: Result<Reply, AcmeProblem>, nonce: Option<String>, index: &str) -> Response {
    let mut response = match outcome {
        Ok(reply) => {
            let mut response = match reply.body {
                ReplyBody::Json(value) => (reply.status, axum::Json(value)).into_response(),
                ReplyBody::Pem(pem) => (
                    reply.status,
                    [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
                    pem,
                )
                    .into_response(),
                ReplyBody::Empty => reply.status.into_response(),
            };
            let headers = response.headers_mut();
            if let Some(location) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                headers.insert(header::LOCATION, location);
            }
            if let Some(seconds) = reply.retry_after {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            for link in reply.links {
                if let Ok(link) = HeaderValue::from_str(&link) {
                    headers.append(header::LINK, link);
                }
            }
            response
        }
        Err(problem) => {
            let mut response = (problem.status, axum::Json(problem.document())).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::problem::PROBLEM_JSON),
            );
            if let Some(seconds) = problem.retry_after {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
    };
    let headers = response.headers_mut();
    if let Some(nonce) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert("replay-nonce", nonce);
    }
    if let Ok(link) = HeaderValue::from_str(&format!("<{index}>;rel=\"index\"")) {
        headers.append(header::LINK, link);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
