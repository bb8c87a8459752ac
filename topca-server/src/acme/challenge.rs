//! Validation, outside the request that started it: a task waits for one of
//! a bounded number of places and, within a time limit, for http-01 (RFC 8555
//! §8.3) fetches `http://IDENTIFIER:PORT/.well-known/acme-challenge/TOKEN` and
//! compares the body with the key authorization (the port is 80 unless the
//! server was told otherwise; redirects are not followed), for dns-01 (§8.4)
//! asks the resolver for the TXT records of `_acme-challenge.IDENTIFIER` and
//! looks for the key authorization's SHA-256 digest, for tls-alpn-01 (RFC
//! 8737) checks the certificate shown over `acme-tls/1` ([`super::tls_alpn`]);
//! then it records the
//! challenge, its authorization and its order. An IP address identifier (RFC
//! 8738) is validated at the address itself: http-01 with the address as
//! `Host` (an IPv6 one in brackets), tls-alpn-01 with its reverse-DNS name as
//! SNI; dns-01 is never used for it.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use topca_core::store::{AcmeChallenge, AcmeOrder, AcmeStatus, AcmeStore};

use super::{AcmeProblem, dns, tls_alpn};
use crate::AppState;

/// The most bytes of an answer read.
const MAX_ANSWER: u64 = 16 * 1024;

/// The challenge types offered: http-01 (not for wildcards), dns-01 and
/// tls-alpn-01 (not for wildcards).
pub(super) const HTTP_01: &str = "http-01";
/// See [`HTTP_01`].
pub(super) const DNS_01: &str = "dns-01";
/// See [`HTTP_01`] (RFC 8737; not for wildcards).
pub(super) const TLS_ALPN_01: &str = "tls-alpn-01";

/// A challenge to validate.
pub(super) struct Validation {
    /// The challenge, marked processing.
    pub challenge: AcmeChallenge,
    /// The DNS name validated (without the `*.` of a wildcard).
    pub identifier: String,
    /// `token.thumbprint`: the body expected (http-01), or what the TXT
    /// record holds the SHA-256 digest of (dns-01).
    pub key_authorization: String,
    /// The order the challenge belongs to.
    pub order: String,
}

/// Starts validating in the background (from a thread of the runtime).
pub(super) fn start(state: Arc<AppState>, validation: Validation) {
    tokio::runtime::Handle::current().spawn(validate(state, validation));
}

async fn validate(state: Arc<AppState>, validation: Validation) {
    let outcome = match Arc::clone(&state.acme.validations).acquire_owned().await {
        Ok(_permit) => {
            let checked =
                tokio::time::timeout(state.acme.timeout, check(&state, &validation)).await;
            checked.unwrap_or_else(|_| {
                Err(AcmeProblem::connection(format!(
                    "{} did not answer within {} seconds",
                    validation.identifier,
                    state.acme.timeout.as_secs()
                )))
            })
        }
        Err(_) => Err(AcmeProblem::connection("the server is stopping")),
    };
    let recorded = tokio::task::spawn_blocking(move || record(&state, validation, outcome)).await;
    if let Ok(Err(problem)) = recorded {
        tracing::warn!(detail = %problem.detail, "ACME: a validation could not be recorded");
    }
}

/// Checks the challenge the way its type says.
async fn check(state: &AppState, validation: &Validation) -> Result<(), AcmeProblem> {
    let name = &validation.identifier;
    let token = &validation.challenge.token;
    match validation.challenge.kind.as_str() {
        DNS_01 if super::order::is_ip(name) => Err(AcmeProblem::malformed(
            "dns-01 cannot validate an IP address (RFC 8738 §7)",
        )),
        DNS_01 => {
            let resolver = dns::resolver(state.acme.dns_resolver).map_err(AcmeProblem::dns)?;
            let mut id = [0u8; 2];
            state
                .ca
                .environment()
                .random()
                .fill(&mut id)
                .map_err(|e| AcmeProblem::internal("draw random bits", &e))?;
            let record = format!("_acme-challenge.{name}");
            let records = dns::txt(resolver, &record, u16::from_be_bytes(id))
                .await
                .map_err(AcmeProblem::dns)?;
            let expected =
                super::jws::b64(&Sha256::digest(validation.key_authorization.as_bytes()));
            if records.iter().any(|r| r.trim() == expected) {
                Ok(())
            } else {
                Err(AcmeProblem::incorrect_response(format!(
                    "{record} has no TXT record with the key authorization's digest"
                )))
            }
        }
        TLS_ALPN_01 => tls_alpn::check(
            name,
            state.acme.tls_alpn_port,
            &validation.key_authorization,
        )
        .await
        .map_err(AcmeProblem::incorrect_response),
        _ => match fetch(name, state.acme.http01_port, token).await {
            Ok(body) if body.trim() == validation.key_authorization => Ok(()),
            Ok(_) => Err(AcmeProblem::incorrect_response(format!(
                "http://{}/.well-known/acme-challenge/{token} did not answer the key authorization",
                host_header(name)
            ))),
            Err(why) => Err(AcmeProblem::connection(why)),
        },
    }
}

/// `host` as an HTTP `Host` names it: an IPv6 address in brackets (RFC 8738 §3).
fn host_header(host: &str) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_owned(),
    }
}

/// Fetches the challenge's file from `host` on `port`: the body of a 200 answer.
async fn fetch(host: &str, port: u16, token: &str) -> Result<String, String> {
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} could not be resolved: {e}"))?;
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return exchange(stream, host, token).await,
            Err(e) => last = format!("could not connect to {address}: {e}"),
        }
    }
    Err(last)
}

async fn exchange(mut stream: TcpStream, host: &str, token: &str) -> Result<String, String> {
    let request = format!(
        "GET /.well-known/acme-challenge/{token} HTTP/1.0\r\nHost: {}\r\n\
         User-Agent: TopCA-ACME\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        host_header(host)
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{host} did not answer in HTTP"))?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("none");
    if status != "200" {
        return Err(format!("{host} answered with status {status}"));
    }
    Ok(body.to_owned())
}

/// Records the outcome on the challenge and its authorization, and moves the
/// order on: ready when every authorization is valid, invalid when one failed.
fn record(
    state: &AppState,
    validation: Validation,
    outcome: Result<(), AcmeProblem>,
) -> Result<(), AcmeProblem> {
    let mut challenge = validation.challenge;
    let failure = outcome.err().map(|p| p.document().to_string());
    let status = if failure.is_some() {
        AcmeStatus::Invalid
    } else {
        challenge.validated = Some(state.ca.environment().clock().now());
        AcmeStatus::Valid
    };
    challenge.status = status;
    challenge.error.clone_from(&failure);
    if !state
        .store
        .update_acme_challenge(&challenge, AcmeStatus::Processing, status)?
    {
        return Ok(());
    }
    let Some(order) = state.store.acme_order(&validation.order)? else {
        return Ok(());
    };
    if failure.is_some() {
        let invalid = AcmeOrder {
            status: AcmeStatus::Invalid,
            error: failure,
            ..order
        };
        state
            .store
            .update_acme_order(&invalid, AcmeStatus::Pending)?;
    } else {
        ready_if_authorized(state, order)?;
    }
    Ok(())
}

/// `order`, moved from pending to ready once every authorization is valid.
/// The validator does this after recording a challenge; finalize does it too,
/// so a client that saw its authorization valid never meets the moment in
/// between (the authorization and the order are two writes).
pub(super) fn ready_if_authorized(
    state: &AppState,
    order: AcmeOrder,
) -> Result<AcmeOrder, AcmeProblem> {
    if order.status != AcmeStatus::Pending {
        return Ok(order);
    }
    for id in &order.authorizations {
        match state.store.acme_authorization(id)? {
            Some(a) if a.status == AcmeStatus::Valid => {}
            _ => return Ok(order),
        }
    }
    let ready = AcmeOrder {
        status: AcmeStatus::Ready,
        ..order
    };
    // Compare and set: whoever moves it first, the order is ready.
    state.store.update_acme_order(&ready, AcmeStatus::Pending)?;
    Ok(ready)
}
