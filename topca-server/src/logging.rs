//! Logs: the subscriber the binary installs ([`init`]) and the request layer
//! ([`requests`]) that gives every request an id and logs it once.
//!
//! Every request is logged at `info` with its method, route template (never the
//! raw path, which carries serials and request numbers), status, latency and
//! request id; a `401`, `403` or `429` answer is logged at `warn` as a security
//! event. Query strings, headers and bodies are never logged, so PINs,
//! passwords, codes and session cookies cannot reach a log line. Audit entries
//! are logged by the store when they commit (target `topca::audit`).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
};

/// The header carrying a request's id, from the client or made here.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client request id kept; a longer one is replaced.
pub const MAX_REQUEST_ID: usize = 64;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, for collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("the log format {other:?} is not text or json")),
        }
    }
}

/// A request's id, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Installs the process's log subscriber, writing to standard error: the level
/// from `RUST_LOG` when set, else `level` (a filter such as `info` or
/// `topca=debug,info`), else `info`. Fails when the filter does not parse or a
/// subscriber is installed already.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(from_env) => EnvFilter::try_new(&from_env)
            .map_err(|e| format!("RUST_LOG {from_env:?} is not a log filter: {e}"))?,
        None => {
            let level = level.unwrap_or("info");
            EnvFilter::try_new(level)
                .map_err(|e| format!("the log level {level:?} is not a log filter: {e}"))?
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

/// The request layer: fixes the request id (the client's `x-request-id` when it
/// is short and plain, else a new one), sets it on the request (extension and
/// header, for the handlers and the error pages) and on the response, and logs
/// the request once it is answered.
pub async fn requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_id(v))
        .map_or_else(new_id, str::to_owned);
    let header = HeaderValue::from_str(&id).ok();
    if let Some(value) = &header {
        request.headers_mut().insert(REQUEST_ID, value.clone());
    }
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(value) = header {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if is_security_event(status) {
        tracing::warn!(
            target: "topca::security",
            method = %method,
            route = %route,
            status = status.as_u16(),
            latency_ms,
            request_id = %id,
            "request refused"
        );
    }
    tracing::info!(
        target: "topca::request",
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms,
        request_id = %id,
        "request"
    );
    response
}

/// Whether an answer is a security event: not authenticated, not allowed, or
/// over a rate limit.
fn is_security_event(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    )
}

/// Whether a client's request id is kept: 1 to [`MAX_REQUEST_ID`] characters of
/// `A-Z a-z 0-9 . _ -`, so it cannot forge log lines or headers.
pub fn acceptable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new request id: 16 random bytes in hex, or (should the system's random
/// source fail) the time and a counter, which are unique within the process.
fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if topca_core::RandomSource::fill(&topca_core::OsRandom, &mut bytes).is_ok() {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = String::with_capacity(2 * bytes.len());
        for b in bytes {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        return id;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_that_are_long_or_unusual_are_replaced() {
        assert!(acceptable_id("abc-DEF_1.2"));
        assert!(acceptable_id(&"a".repeat(MAX_REQUEST_ID)));
        assert!(!acceptable_id(&"a".repeat(MAX_REQUEST_ID + 1)));
        assert!(!acceptable_id(""));
        assert!(!acceptable_id("a b"));
        assert!(!acceptable_id("a\nlevel=error"));
        assert!(!acceptable_id("ä"));
    }

    #[test]
    fn new_ids_are_acceptable_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert!(acceptable_id(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn log_formats_parse() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
