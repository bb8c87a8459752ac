//! Errors as HTTP answers: a status and a sentence a person understands, as JSON
//! for the API and as a page for the centres. Never a stack trace.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use topca_core::{Error, RaError, StoreError, error::KmcError};

/// A failed request: the status and the message to show.
#[derive(Debug)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in words.
    pub message: String,
    /// Seconds after which trying again may succeed (sent as `Retry-After`), for
    /// answers that refuse because of a limit (429, 503).
    pub retry_after: Option<u64>,
}

impl AppError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A refusal because of a limit (`status` 429 or 503) that lifts after
    /// `retry_after` seconds.
    pub fn limited(status: StatusCode, message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(status, message)
        }
    }

    /// Adds this error's `Retry-After` header, if it has one, to `response`.
    pub fn add_retry_after(&self, response: &mut Response) {
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
    }

    /// A 500 for a failure that is not the user's (details stay in the log).
    pub fn internal(what: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the server could not {what}; please try again later"),
        )
    }
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::Conflict) => StatusCode::CONFLICT,
            Error::Mail(_) | Error::Kmc(KmcError::CodeNotMailed) => StatusCode::BAD_GATEWAY,
            Error::Ra(
                RaError::UnknownAccount | RaError::UnknownRequest | RaError::UnknownCertificate,
            )
            | Error::Kmc(KmcError::UnknownRecovery) => StatusCode::NOT_FOUND,
            Error::Ra(RaError::NotPermitted(_))
            | Error::Kmc(KmcError::NotAnAgent(_) | KmcError::AgentQuarantined { .. }) => {
                StatusCode::FORBIDDEN
            }
            Error::Ra(RaError::NoSession) => StatusCode::UNAUTHORIZED,
            Error::Ra(
                RaError::Locked
                | RaError::WrongPinOrPassword { .. }
                | RaError::WrongPassword
                | RaError::WrongLogin,
            ) => StatusCode::FORBIDDEN,
            Error::Random => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        self.add_retry_after(&mut response);
        response
    }
}
