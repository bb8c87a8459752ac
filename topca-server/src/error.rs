//! Errors as HTTP answers: a status, a stable machine code and a sentence a
//! person understands. The API renders them as `application/problem+json`
//! ([`crate::problem`]), the centres as a page. Never a stack trace: the detail of
//! an internal failure goes to the log only, under a correlation id.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use topca_core::{
    EncodingError, Error, KeyError, PolicyError, RaError, StoreError, error::KmcError,
};

/// A failed request: the status, the code and the message to show.
#[derive(Debug, Clone)]
pub struct AppError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in English words.
    pub message: String,
    /// Seconds after which trying again may succeed (sent as `Retry-After`), for
    /// answers that refuse because of a limit (429, 503).
    pub retry_after: Option<u64>,
    /// The stable machine code: an [`Error::code`] or one of [`SERVER_CODES`].
    pub code: &'static str,
    /// What went wrong, in Chinese, when known.
    pub message_zh: Option<String>,
    /// The full cause of an internal failure, for the log only.
    pub detail: Option<String>,
}

/// The codes the server itself gives (besides [`topca_core::error_code::CODES`]),
/// each with the status it answers and an English and a Chinese title.
pub const SERVER_CODES: &[(&str, u16, &str, &str)] = &[
    ("bad_request", 400, "Bad request", "请求无效"),
    ("unauthorized", 401, "Not logged in", "未登录"),
    ("forbidden", 403, "Forbidden", "禁止访问"),
    ("not_found", 404, "Not found", "未找到"),
    (
        "method_not_allowed",
        405,
        "Method not allowed",
        "不支持该方法",
    ),
    ("request_timeout", 408, "Request timeout", "请求超时"),
    ("conflict", 409, "Conflict", "冲突"),
    ("payload_too_large", 413, "Payload too large", "请求体过大"),
    (
        "unsupported_media_type",
        415,
        "Unsupported media type",
        "不支持的媒体类型",
    ),
    (
        "unprocessable",
        422,
        "Unprocessable content",
        "无法处理的内容",
    ),
    ("rate_limited", 429, "Too many requests", "请求过于频繁"),
    (
        "internal_error",
        500,
        "Internal server error",
        "服务器内部错误",
    ),
    ("bad_gateway", 502, "Bad gateway", "上游服务失败"),
    ("unavailable", 503, "Service unavailable", "服务暂不可用"),
];

/// The generic code, English and Chinese title for `status`.
pub fn generic(status: StatusCode) -> (&'static str, &'static str, &'static str) {
    let found = SERVER_CODES
        .iter()
        .find(|(_, s, _, _)| *s == status.as_u16())
        .or_else(|| {
            let fallback = if status.is_server_error() { 500 } else { 400 };
            SERVER_CODES.iter().find(|(_, s, _, _)| *s == fallback)
        });
    match found {
        Some((code, _, en, zh)) => (code, en, zh),
        None => ("internal_error", "Internal server error", "服务器内部错误"),
    }
}

impl AppError {
    /// An error with `status` and `message`, under the status's generic code.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            code: generic(status).0,
            message_zh: None,
            detail: None,
        }
    }

    /// An error with `status` whose message is the catalogue text of `key`, in
    /// English and in Chinese ([`crate::i18n`]).
    pub fn localized(status: StatusCode, key: &str) -> Self {
        let (en, zh) = crate::i18n::both(key);
        Self::new(status, en).zh(zh)
    }

    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// This error with its Chinese message.
    pub fn zh(mut self, message: impl Into<String>) -> Self {
        self.message_zh = Some(message.into());
        self
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
        Self {
            detail: Some(format!("could not {what}")),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the server could not {what}; please try again later"),
            )
            .zh("服务器内部错误，请稍后重试")
        }
    }

    /// A 500 for a failure that is not the user's, its `cause` kept in the
    /// detail: logged once with the correlation id, never shown to the user.
    pub fn internal_because(what: &str, cause: &dyn std::fmt::Display) -> Self {
        Self {
            detail: Some(format!("could not {what}: {cause}")),
            ..Self::internal(what)
        }
    }

    /// Whether this is the server's failure rather than the caller's (5xx): it is
    /// logged with its correlation id.
    pub fn is_internal(&self) -> bool {
        self.status.is_server_error()
    }
}

/// The status of a core error: the caller's mistakes are 4xx; failures of the
/// server (signing, encoding, master key, audit log, integrity checks) are 500,
/// an unavailable database 503, an unreachable mail server 502.
fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Store(StoreError::Backend(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Store(StoreError::Conflict) | Error::Ra(RaError::AlreadyRegistered) => {
            StatusCode::CONFLICT
        }
        Error::Store(
            StoreError::DuplicateSerial(_)
            | StoreError::NotReserved(_)
            | StoreError::TbsMismatch(_),
        )
        | Error::Key(
            KeyError::Signing
            | KeyError::Generation
            | KeyError::Encryption
            | KeyError::Decryption
            | KeyError::CertificateKeyMismatch,
        )
        | Error::Encoding(EncodingError::Der(_) | EncodingError::Crl(_))
        | Error::Policy(
            PolicyError::PostIssuanceCheck
            | PolicyError::TemplateCheck
            | PolicyError::IssuerNotValid,
        )
        | Error::Secret(topca_core::SecretError::Hashing | topca_core::SecretError::Random)
        | Error::Kmc(KmcError::WrongMasterKey | KmcError::Damaged | KmcError::Random)
        | Error::Audit(_)
        | Error::Random => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Key(KeyError::TokenLost(_) | KeyError::TooManySessions(_))
        | Error::Kmc(KmcError::Token(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Key(
            KeyError::Pkcs11Uri(_)
            | KeyError::Pkcs11Module(_)
            | KeyError::TokenNotFound(_)
            | KeyError::PinMissing(_)
            | KeyError::WrongPin
            | KeyError::PinLocked
            | KeyError::KeyNotFound(_)
            | KeyError::Pkcs11(_)
            | KeyError::NotExportable
            | KeyError::NotSensitive,
        ) => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Mail(_) | Error::Kmc(KmcError::CodeNotMailed) => StatusCode::BAD_GATEWAY,
        Error::Ra(
            RaError::UnknownAccount | RaError::UnknownRequest | RaError::UnknownCertificate,
        )
        | Error::Kmc(KmcError::UnknownRecovery) => StatusCode::NOT_FOUND,
        Error::Ra(RaError::NotPermitted(_))
        | Error::Kmc(KmcError::NotAnAgent(_) | KmcError::AgentQuarantined { .. }) => {
            StatusCode::FORBIDDEN
        }
        Error::Ra(RaError::NoSession | RaError::ClientTokenRefused) => StatusCode::UNAUTHORIZED,
        Error::Ra(RaError::UnknownClient | RaError::UnknownCredential) => StatusCode::NOT_FOUND,
        Error::Ra(RaError::ProfileNotAllowed) => StatusCode::FORBIDDEN,
        Error::Ra(
            RaError::Locked
            | RaError::WrongPinOrPassword { .. }
            | RaError::WrongPassword
            | RaError::WrongLogin,
        ) => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        let status = status_of(&error);
        let detail = status.is_server_error().then(|| full_cause(&error));
        Self {
            status,
            message: error.to_string(),
            retry_after: None,
            code: error.code(),
            message_zh: Some(error.message_zh()),
            detail,
        }
    }
}

/// `error` and every source under it, for the log.
fn full_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

impl IntoResponse for AppError {
    /// The JSON body `{"error": message}` that the centres' scripts read; under
    /// `/api/` [`crate::problem::render`] turns it into a problem document, in
    /// the request's language, using the copy of the error left in the
    /// response's extensions.
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        self.add_retry_after(&mut response);
        response.extensions_mut().insert(self);
        response
    }
}
