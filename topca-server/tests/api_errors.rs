//! API errors: a domain refusal is a 4xx problem document with its stable code, in
//! the request's language; an internal failure (signing) is a 500 with a
//! correlation id that is logged with the full cause, never a 400; framework
//! refusals have the same shape; the README lists every code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    routing::get,
};
use common::{options, send};
use topca_core::{Error, KeyError, error_code::CODES};
use topca_server::{AppError, problem::PROBLEM_JSON, setup::start};

fn problem(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

fn content_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_error_is_a_problem_document_with_its_code_in_both_languages() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let unknown = |language: Option<&str>| {
        let mut request = Request::get("/api/v1/certificates/00ff/preview");
        if let Some(language) = language {
            request = request.header(header::ACCEPT_LANGUAGE, language);
        }
        request.body(Body::empty()).unwrap()
    };

    let (status, body, headers) = send(&app, unknown(None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type(&headers), PROBLEM_JSON);
    let english = problem(&body);
    assert_eq!(english["code"], "certificate_unknown");
    assert_eq!(english["status"], 404);
    assert_eq!(english["type"], "urn:topca:error:certificate_unknown");
    assert_eq!(english["detail"], "the certificate was not found");
    assert_eq!(english["title"], "Not found");
    assert!(english["correlation_id"].as_str().unwrap().len() >= 16);

    let (_, body, _) = send(&app, unknown(Some("zh-CN,zh;q=0.9,en;q=0.8"))).await;
    let chinese = problem(&body);
    assert_eq!(chinese["code"], "certificate_unknown");
    assert_eq!(chinese["detail"], "未找到该证书");
    assert_eq!(chinese["title"], "未找到");

    // English preferred over Chinese by weight.
    let (_, body, _) = send(&app, unknown(Some("zh;q=0.3, en;q=0.9"))).await;
    assert_eq!(problem(&body)["detail"], "the certificate was not found");

    // A client's request id becomes the correlation id.
    let (_, body, _) = send(
        &app,
        Request::get("/api/v1/certificates/00ff/preview")
            .header("x-request-id", "req-4711")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(problem(&body)["correlation_id"], "req-4711");

    // An administrator route without a session: 401 with its code.
    let (status, body, headers) = send(
        &app,
        Request::get("/api/v1/admin/requests")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type(&headers), PROBLEM_JSON);
    assert_eq!(problem(&body)["status"], 401);

    // Pages keep their HTML error pages.
    let (_, _, headers) = send(
        &app,
        Request::get("/TopCA/no-such-page")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        headers
            .get(header::CONTENT_TYPE)
            .is_none_or(|v| !v.to_str().unwrap().starts_with(PROBLEM_JSON))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_a_handler_are_problem_documents_too() {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    let cases = [
        (
            Request::get("/api/v1/no-such-route")
                .body(Body::empty())
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Request::delete("/api/v1/accounts")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Request::post("/api/v1/retrievals")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"pin\": 5}"))
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            Request::post("/api/v1/retrievals")
                .body(Body::from("pin=1"))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (request, status, code) in cases {
        let (got, body, headers) = send(&app, request).await;
        assert_eq!(got, status, "{code}");
        assert_eq!(content_type(&headers), PROBLEM_JSON, "{code}");
        let document = problem(&body);
        assert_eq!(document["code"], code);
        assert_eq!(document["status"], status.as_u16());
        assert!(!document["detail"].as_str().unwrap().is_empty());
    }
}

/// Records the fields of every event, as text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("{}", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

async fn failing_signature() -> Result<(), AppError> {
    Err(Error::Key(KeyError::Signing).into())
}

#[tokio::test(flavor = "current_thread")]
async fn a_signing_failure_is_a_500_with_a_logged_correlation_id() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let app = Router::new()
        .route("/api/v1/sign", get(failing_signature))
        .route("/TopCA/sign", get(failing_signature))
        .layer(axum::middleware::from_fn(topca_server::problem::render));

    let (status, body, headers) = send(
        &app,
        Request::get("/api/v1/sign").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(content_type(&headers), PROBLEM_JSON);
    let document = problem(&body);
    assert_eq!(document["code"], "signing_failed");
    let id = document["correlation_id"].as_str().unwrap().to_owned();
    let logs = recorder.0.lock().unwrap().clone();
    let line = logs
        .iter()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("no log line names {id}: {logs:?}"));
    assert!(line.starts_with("ERROR"), "{line}");
    assert!(
        line.contains("signing_failed") && line.contains("Signing"),
        "{line}"
    );

    // A page failing the same way is logged too, and keeps its own body.
    let (status, _, _) = send(
        &app,
        Request::get("/TopCA/sign")
            .header("x-request-id", "page-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        recorder
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("page-1") && l.contains("/TopCA/sign"))
    );
}

#[test]
fn internal_failures_are_never_400() {
    let internal = [
        Error::Key(KeyError::Signing),
        Error::Key(KeyError::Generation),
        Error::Kmc(topca_core::KmcError::WrongMasterKey),
        Error::Encoding(topca_core::EncodingError::Crl("x".into())),
        Error::Random,
    ];
    for error in internal {
        let code = error.code();
        assert_eq!(
            AppError::from(error).status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{code}"
        );
    }
    let database = AppError::from(Error::Store(topca_core::StoreError::Backend("down".into())));
    assert_eq!(database.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(database.code, "database_unavailable");
}

#[test]
fn the_readme_lists_every_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("<!-- error codes -->")
        .nth(1)
        .expect("the README marks its table of error codes");
    let listed: std::collections::BTreeSet<&str> = section
        .lines()
        .take_while(|l| !l.starts_with("<!-- end error codes -->"))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let mut expected: std::collections::BTreeSet<&str> = CODES.iter().copied().collect();
    expected.extend(topca_server::error::SERVER_CODES.iter().map(|c| c.0));
    assert_eq!(listed, expected);
}
