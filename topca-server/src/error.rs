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
}

impl AppError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 500 for a failure that is not the user's (details stay in the log).
    pub fn internal(what: &str) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the server could not {what}; please try again later"),
        }
    }
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::Conflict) => StatusCode::CONFLICT,
            Error::Mail(_) => StatusCode::BAD_GATEWAY,
            Error::Ra(
                RaError::UnknownAccount | RaError::UnknownRequest | RaError::UnknownCertificate,
            )
            | Error::Kmc(KmcError::UnknownRecovery) => StatusCode::NOT_FOUND,
            Error::Ra(RaError::NotPermitted(_)) => StatusCode::FORBIDDEN,
            Error::Ra(
                RaError::Locked
                | RaError::WrongPinOrPassword { .. }
                | RaError::WrongPassword
                | RaError::WrongLogin
                | RaError::LoginLocked,
            ) => StatusCode::FORBIDDEN,
            Error::Random => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}
