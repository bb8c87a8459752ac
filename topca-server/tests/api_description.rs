//! The API description covers the API the router serves: every `/api/` route and
//! each of its methods is an operation of `/api/v1/openapi.json`, and every
//! operation there is served. The routes are found in the crate's sources (every
//! `.route(` call, its path a literal or a constant) and their methods asked of
//! the router itself: a request with a method no route takes is answered 405
//! with `Allow` listing the methods the route serves. Also: the bearer scheme,
//! the problem documents of every error answer, and the browsable page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::Arc,
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use common::{options, send};
use serde_json::Value;
use topca_server::{headers::CONTENT_SECURITY_POLICY, problem::PROBLEM_JSON, setup::start};

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

/// The string literal at the start of `text` (after blanks), if there is one.
fn literal(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('"')?;
    rest.find('"').map(|end| &rest[..end])
}

/// The value of `const NAME: &str = "…";` in any of `files`.
fn constant<'a>(files: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let declaration = format!("const {name}: &str =");
    files.iter().find_map(|(_, text)| {
        let at = text.find(&declaration)?;
        literal(&text[at + declaration.len()..])
    })
}

/// The path of every `.route(` call in the crate's sources: a literal, or a
/// constant resolved from its declaration. Fails on any other first argument,
/// so a route cannot hide from this test.
fn routed_paths() -> BTreeSet<String> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut paths = BTreeSet::new();
    for (file, text) in &files {
        for call in [".nest(", ".nest_service(", ".route_service("] {
            assert!(
                !text.contains(call),
                "{file} uses {call}: teach this test to read it"
            );
        }
        for (at, _) in text.match_indices(".route(") {
            let argument = &text[at + ".route(".len()..];
            let path = literal(argument).map(str::to_owned).or_else(|| {
                let name: String = argument
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let name = name.rsplit("::").next().unwrap_or_default();
                constant(&files, name).map(str::to_owned)
            });
            let Some(path) = path else {
                panic!(
                    "{file}: cannot read the path of .route({}",
                    &argument[..argument.len().min(60)]
                )
            };
            paths.insert(path);
        }
    }
    assert!(
        paths.len() > 40,
        "only {} routes found in the sources",
        paths.len()
    );
    paths
        .into_iter()
        .filter(|p| p.starts_with("/api/"))
        .collect()
}

/// `template` with every `{parameter}` filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "0123456789abcdef0123456789abcdef"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods the router serves on `template` (HEAD, which axum adds to GET,
/// left out), from the `Allow` of its 405 to a method no route takes.
async fn served_methods(app: &Router, template: &str) -> BTreeSet<String> {
    let request = Request::builder()
        .method(Method::TRACE)
        .uri(concrete(template))
        .body(Body::empty())
        .unwrap();
    let (status, _, headers) = send(app, request).await;
    assert_eq!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{template} is routed in the sources but the router does not serve it"
    );
    let allow = headers
        .get(header::ALLOW)
        .unwrap_or_else(|| panic!("{template}: a 405 without Allow"))
        .to_str()
        .unwrap();
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

async fn app() -> (tempfile::TempDir, Router) {
    let data = tempfile::tempdir().unwrap();
    let (state, _) = start(&options(data.path())).unwrap();
    let app = topca_server::router(Arc::new(state));
    (data, app)
}

async fn description(app: &Router) -> Value {
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(app, request).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every operation of the description: (method in capitals, path) → operation.
fn operations(description: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in description["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.insert(
                    (method.to_ascii_uppercase(), path.clone()),
                    operation.clone(),
                );
            }
        }
    }
    out
}

/// The routes of `routes` that `present` denies, as `METHOD /path`.
fn absent<'a>(
    routes: impl Iterator<Item = &'a (String, String)>,
    present: impl Fn(&(String, String)) -> bool,
) -> Vec<String> {
    routes
        .filter(|route| !present(route))
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_and_method_the_router_serves_is_described_and_nothing_else() {
    let (_data, app) = app().await;
    let described = operations(&description(&app).await);
    let mut served = BTreeSet::new();
    for template in routed_paths() {
        for method in served_methods(&app, &template).await {
            served.insert((method, template.clone()));
        }
    }
    let missing = absent(served.iter(), |route| described.contains_key(route));
    assert!(
        missing.is_empty(),
        "served but missing from the description: {missing:#?}"
    );
    let unserved = absent(described.keys(), |route| served.contains(route));
    assert!(
        unserved.is_empty(),
        "described but not served: {unserved:#?}"
    );
    assert!(
        served.len() >= 40,
        "only {} operations served",
        served.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_take_the_bearer_token_and_every_error_is_a_problem_document() {
    let (_data, app) = app().await;
    let description = description(&app).await;
    assert!(
        description["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        description["openapi"]
    );
    let scheme = &description["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let problem = &description["components"]["schemas"]["Problem"];
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "type",
        "title",
        "status",
        "detail",
        "code",
        "correlation_id",
    ] {
        assert!(required.contains(field), "Problem lacks {field}");
    }

    let mut ids = BTreeSet::new();
    for ((method, path), operation) in operations(&description) {
        let route = format!("{method} {path}");
        assert!(
            ids.insert(operation["operationId"].as_str().unwrap().to_owned()),
            "{route}: operationId used twice"
        );
        assert!(
            !operation["tags"].as_array().unwrap().is_empty(),
            "{route} has no tag"
        );
        let bearer = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let admin = path.starts_with("/api/v1/admin/") && route != "POST /api/v1/admin/sessions";
        assert_eq!(bearer, admin, "{route}: bearer scheme required: {bearer}");
        let responses = operation["responses"].as_object().unwrap();
        if admin {
            assert!(responses.contains_key("401") && responses.contains_key("403"));
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{route} lacks {status}");
            }
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{route} has no success answer"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"][PROBLEM_JSON]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{route} {status} is not a problem document"
                );
            }
            if status == "429" {
                assert!(response["headers"].get("Retry-After").is_some());
            }
        }
    }
    let logout = &description["paths"]["/api/v1/admin/sessions/current"]["delete"];
    assert!(logout["responses"].get("204").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_loads_only_files_of_this_server_under_the_policy_with_cache_headers() {
    let (_data, app) = app().await;
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let (status, body, headers) = send(&app, get("/api/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let page = String::from_utf8(body).unwrap();
    let scripts: Vec<&str> = page.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 2, "{page}");
    let mut files = Vec::new();
    for script in scripts {
        let tag = &script[..script.find('>').unwrap()];
        let src = tag
            .split("src=\"")
            .nth(1)
            .unwrap_or_else(|| panic!("an inline script: {script}"));
        assert!(
            script[script.find('>').unwrap() + 1..].starts_with("</script>"),
            "a script with inline code: {script}"
        );
        files.push(src[..src.find('"').unwrap()].to_owned());
    }
    let href = page.split("stylesheet\" href=\"").nth(1).unwrap();
    files.push(href[..href.find('"').unwrap()].to_owned());
    for file in files {
        assert!(file.starts_with("/api/docs/"), "{file}");
        let (status, body, headers) = send(&app, get(&file)).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert!(body.len() > 100, "{file}");
        let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
        let cache = headers[header::CACHE_CONTROL].to_str().unwrap();
        if file.ends_with(".css") {
            assert!(content_type.starts_with("text/css"), "{file}");
        } else {
            assert!(content_type.starts_with("text/javascript"), "{file}");
        }
        if file.contains("swagger-ui") {
            assert!(cache.contains("immutable"), "{file}: {cache}");
        } else {
            assert_eq!(cache, "no-cache", "{file}");
            let init = String::from_utf8(body).unwrap();
            assert!(init.contains("/api/v1/openapi.json"));
        }
    }
    let (status, _, headers) = send(&app, get("/api/docs/..%2f..%2fCargo.toml")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
}
