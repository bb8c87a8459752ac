//! The browsable API page at `/api/docs`: Swagger UI, vendored from npm's
//! `swagger-ui-dist` (`topca-server/vendor/swagger-ui`, Apache-2.0; refreshed by
//! `scripts/vendor-swagger-ui`), on this server's description. No file comes
//! from elsewhere at run time, and the page runs under the server's
//! Content-Security-Policy: its start-up is a served file (`init.js`), not an
//! inline script.

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::tags;
use crate::AppError;

/// The vendored Swagger UI release (in its files' names, so they are cached for good).
macro_rules! swagger_ui_version {
    () => {
        "5.36.0"
    };
}

const BUNDLE: &str = concat!("swagger-ui-bundle-", swagger_ui_version!(), ".js");
const STYLE: &str = concat!("swagger-ui-", swagger_ui_version!(), ".css");
const INIT: &str = "init.js";

/// The page: Swagger UI's files by their release names, then its start-up script.
#[derive(askama::Template)]
#[template(path = "api/docs.html")]
struct DocsPage {
    style: &'static str,
    bundle: &'static str,
    init: &'static str,
}

/// Revalidated on every use: the page and its start-up script name the release.
const NO_CACHE: &str = "no-cache";
/// A release's files never change under their name.
const FOREVER: &str = "public, max-age=31536000, immutable";

/// The API page.
#[utoipa::path(get, path = "/api/docs", tag = tags::DESCRIPTION,
    responses((status = 200, description = "Swagger UI on /api/v1/openapi.json", content_type = "text/html", body = String)))]
pub(super) async fn page() -> Response {
    let page = DocsPage {
        style: STYLE,
        bundle: BUNDLE,
        init: INIT,
    };
    let mut response = crate::html::render(StatusCode::OK, &page, None);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    response
}

/// A file of the API page: Swagger UI's script and style sheet, and the script
/// that starts it.
#[utoipa::path(get, path = "/api/docs/{file}", tag = tags::DESCRIPTION,
    params(("file" = String, Path, description = "`init.js`, or a file of the vendored Swagger UI named with its release")),
    responses(
        (status = 200, description = "The file",
            content((String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "No such file"),
    ))]
pub(super) async fn file(Path(file): Path<String>) -> Result<Response, AppError> {
    let (content_type, cache, body): (_, _, &'static [u8]) = match file.as_str() {
        BUNDLE => (
            "text/javascript; charset=utf-8",
            FOREVER,
            include_bytes!("../../vendor/swagger-ui/swagger-ui-bundle.js"),
        ),
        STYLE => (
            "text/css; charset=utf-8",
            FOREVER,
            include_bytes!("../../vendor/swagger-ui/swagger-ui.css"),
        ),
        INIT => (
            "text/javascript; charset=utf-8",
            NO_CACHE,
            include_bytes!("docs/init.js"),
        ),
        _ => {
            return Err(AppError::new(StatusCode::NOT_FOUND, "no such file").zh("没有该文件"));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response())
}
