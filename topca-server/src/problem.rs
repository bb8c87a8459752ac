//! Errors of the API as RFC 9457 problem documents (`application/problem+json`),
//! with the stable `code`, the message in the request's language and a
//! correlation id; and the log line of every internal failure under that id.
//!
//! [`render`] wraps every route. A handler's [`AppError`] leaves a copy of itself
//! in the response's extensions; under `/api/` it is rendered here in the
//! language of `Accept-Language`. Refusals made before a handler runs (unknown
//! route, wrong method, a body that is not the JSON the route takes, too large)
//! are turned into problem documents too, so every API error has one shape.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use topca_core::{OsRandom, RandomSource};

use crate::{AppError, error::generic};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The request header that carries the correlation id.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest body of a framework refusal read to quote it as the detail.
const REFUSAL_BODY_LIMIT: usize = 2048;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:topca:error:` and the code.
    #[serde(rename = "type")]
    #[schema(example = "urn:topca:error:not_found")]
    pub kind: String,
    /// A short summary of the kind of problem, in the request's language.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this case, in the request's language.
    pub detail: String,
    /// The stable machine code (see the README's table).
    pub code: String,
    /// The id under which the server logged this request; quote it when
    /// reporting an internal failure.
    pub correlation_id: String,
}

/// The language of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

impl Language {
    /// Chinese when the `Accept-Language` entry with the highest weight is a
    /// `zh` tag, English otherwise.
    pub fn of(headers: &HeaderMap) -> Self {
        let Some(value) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Self::En;
        };
        let mut best: Option<(f32, bool)> = None;
        for entry in value.split(',').take(32) {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if tag.is_empty() || weight.is_nan() || weight <= 0.0 {
                continue;
            }
            let zh = tag == "zh" || tag.starts_with("zh-");
            if best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, zh));
            }
        }
        match best {
            Some((_, true)) => Self::Zh,
            _ => Self::En,
        }
    }
}

/// The request's correlation id: its `x-request-id` header when that is a short
/// printable token, else a new random one.
pub fn request_id(headers: &HeaderMap) -> String {
    if let Some(id) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
        && !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return id.to_owned();
    }
    let mut random = [0u8; 16];
    match OsRandom.fill(&mut random) {
        Ok(()) => random.iter().map(|b| format!("{b:02x}")).collect(),
        // Without randomness the id still tells log lines of the same second apart.
        Err(_) => format!(
            "t{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ),
    }
}

/// The problem document of `error` in `language`.
pub fn problem(error: &AppError, language: Language, correlation_id: &str) -> Problem {
    let (_, title_en, title_zh) = generic(error.status);
    let (title, detail) = match language {
        Language::En => (title_en, error.message.clone()),
        Language::Zh => (
            title_zh,
            error
                .message_zh
                .clone()
                .unwrap_or_else(|| format!("{title_zh}：{}", error.message)),
        ),
    };
    Problem {
        kind: format!("urn:topca:error:{}", error.code),
        title: title.to_owned(),
        status: error.status.as_u16(),
        detail,
        code: error.code.to_owned(),
        correlation_id: correlation_id.to_owned(),
    }
}

/// Logs an internal failure with its correlation id and full cause.
pub fn log_internal(error: &AppError, correlation_id: &str, method: &str, path: &str) {
    tracing::error!(
        correlation_id,
        status = error.status.as_u16(),
        code = error.code,
        method,
        path,
        detail = error.detail.as_deref().unwrap_or(&error.message),
        "request failed"
    );
}

/// The middleware: renders API errors as problem documents and logs internal
/// failures (API and pages) with the request's correlation id.
pub async fn render(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let id = request_id(request.headers());
    let language = Language::of(request.headers());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let error = match response.extensions_mut().remove::<AppError>() {
        Some(error) => error,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            if !api || is_problem(response.headers()) {
                return response;
            }
            refusal(&mut response).await
        }
        None => return response,
    };
    if error.is_internal() {
        log_internal(&error, &id, &method, &path);
    }
    if !api {
        return response;
    }
    let mut answer = (error.status, axum::Json(problem(&error, language, &id))).into_response();
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    error.add_retry_after(&mut answer);
    answer
}

fn is_problem(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// An [`AppError`] for a refusal made by the framework (its plain-text body,
/// bounded, as the message).
async fn refusal(response: &mut Response) -> AppError {
    let body = std::mem::replace(response.body_mut(), Body::empty());
    let text = axum::body::to_bytes(body, REFUSAL_BODY_LIMIT)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty() && !t.starts_with('{'));
    let status = response.status();
    let message = text.unwrap_or_else(|| match status {
        StatusCode::NOT_FOUND => "no such API route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take this method".to_owned(),
        _ => generic(status).1.to_owned(),
    });
    let mut error = AppError::new(status, message);
    if status == StatusCode::NOT_FOUND && error.message == "no such API route" {
        error = error.zh("没有该 API 路径");
    }
    error
}
