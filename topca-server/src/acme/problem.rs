//! ACME errors (RFC 8555 §6.7): problem documents of type
//! `urn:ietf:params:acme:error:…`, sent as `application/problem+json`.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// The prefix of every ACME error type.
const PREFIX: &str = "urn:ietf:params:acme:error:";

/// The algorithms a JWS may be signed with, as `badSignatureAlgorithm` lists them.
pub(super) const ALGORITHMS: [&str; 4] = ["ES256", "ES384", "RS256", "EdDSA"];

/// An ACME error answer.
#[derive(Debug, Clone)]
pub(crate) struct AcmeProblem {
    /// The RFC's error type, without its prefix (`badNonce`).
    pub kind: &'static str,
    /// What went wrong in this case.
    pub detail: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// Seconds after which a rate-limited client may try again.
    pub retry_after: Option<u64>,
}

impl AcmeProblem {
    fn new(kind: &'static str, status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            status,
            retry_after: None,
        }
    }

    /// Over a rate limit for `seconds` more.
    pub fn rate_limited(detail: impl Into<String>, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new("rateLimited", StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }

    /// The request is not what the protocol allows.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new("malformed", StatusCode::BAD_REQUEST, detail)
    }

    /// No such object (as `malformed`, with 404).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            "malformed",
            StatusCode::NOT_FOUND,
            format!("no such {what}"),
        )
    }

    /// The nonce is unknown, spent or expired: the client retries with the
    /// fresh one of this answer.
    pub fn bad_nonce() -> Self {
        Self::new(
            "badNonce",
            StatusCode::BAD_REQUEST,
            "the nonce is unknown, expired or already used; retry with the Replay-Nonce of this answer",
        )
    }

    /// The profile takes new accounts only with an external account binding.
    pub fn external_account_required() -> Self {
        Self::new(
            "externalAccountRequired",
            StatusCode::UNAUTHORIZED,
            "this ACME profile requires an external account binding (ask the RA for an EAB key)",
        )
    }

    /// The order names a certificate profile the directory does not offer
    /// (draft-ietf-acme-profiles §4).
    pub fn invalid_profile(detail: impl Into<String>) -> Self {
        Self::new("invalidProfile", StatusCode::BAD_REQUEST, detail)
    }

    /// The DNS lookup of a dns-01 validation failed.
    pub fn dns(detail: impl Into<String>) -> Self {
        Self::new("dns", StatusCode::BAD_REQUEST, detail)
    }

    /// The client may not do this.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new("unauthorized", StatusCode::FORBIDDEN, detail)
    }

    /// The profile's policy refuses an identifier.
    pub fn rejected_identifier(detail: impl Into<String>) -> Self {
        Self::new("rejectedIdentifier", StatusCode::BAD_REQUEST, detail)
    }

    /// An identifier type the server does not take.
    pub fn unsupported_identifier(detail: impl Into<String>) -> Self {
        Self::new("unsupportedIdentifier", StatusCode::BAD_REQUEST, detail)
    }

    /// The CSR is unacceptable.
    pub fn bad_csr(detail: impl Into<String>) -> Self {
        Self::new("badCSR", StatusCode::BAD_REQUEST, detail)
    }

    /// The JWS algorithm or key type is not one the server takes.
    pub fn bad_signature_algorithm(detail: impl Into<String>) -> Self {
        Self::new("badSignatureAlgorithm", StatusCode::BAD_REQUEST, detail)
    }

    /// The JWK is not a usable public key.
    pub fn bad_public_key(detail: impl Into<String>) -> Self {
        Self::new("badPublicKey", StatusCode::BAD_REQUEST, detail)
    }

    /// `onlyReturnExisting` or a `kid` named no account.
    pub fn account_does_not_exist() -> Self {
        Self::new(
            "accountDoesNotExist",
            StatusCode::BAD_REQUEST,
            "no account has this key",
        )
    }

    /// Finalize came before every authorization was valid, or twice.
    pub fn order_not_ready(detail: impl Into<String>) -> Self {
        Self::new("orderNotReady", StatusCode::FORBIDDEN, detail)
    }

    /// The change would take what another object holds (409).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new("malformed", StatusCode::CONFLICT, detail)
    }

    /// The validation could not reach the identifier.
    pub fn connection(detail: impl Into<String>) -> Self {
        Self::new("connection", StatusCode::BAD_REQUEST, detail)
    }

    /// The identifier answered, but not with the key authorization.
    pub fn incorrect_response(detail: impl Into<String>) -> Self {
        Self::new("incorrectResponse", StatusCode::BAD_REQUEST, detail)
    }

    /// A contact the server does not take.
    pub fn invalid_contact(detail: impl Into<String>) -> Self {
        Self::new("invalidContact", StatusCode::BAD_REQUEST, detail)
    }

    /// A revocation reason the server does not take.
    pub fn bad_revocation_reason() -> Self {
        Self::new(
            "badRevocationReason",
            StatusCode::BAD_REQUEST,
            "use reason 0, 1, 3, 4 or 5",
        )
    }

    /// The certificate is revoked already.
    pub fn already_revoked() -> Self {
        Self::new(
            "alreadyRevoked",
            StatusCode::BAD_REQUEST,
            "the certificate is already revoked",
        )
    }

    /// A failure of the server (logged under `what`).
    pub fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "ACME: {what} failed");
        Self::new(
            "serverInternal",
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the server could not {what}"),
        )
    }

    /// The problem document.
    pub fn document(&self) -> Value {
        let mut doc = json!({
            "type": format!("{PREFIX}{}", self.kind),
            "detail": self.detail,
            "status": self.status.as_u16(),
        });
        if self.kind == "badSignatureAlgorithm" {
            doc["algorithms"] = json!(ALGORITHMS);
        }
        doc
    }
}

impl From<topca_core::StoreError> for AcmeProblem {
    fn from(e: topca_core::StoreError) -> Self {
        Self::internal("reach the database", &e)
    }
}
