//! Server-rendered pages: askama templates (`templates/`, escaped by default)
//! in one layout with navigation, breadcrumbs and a footer; the two languages
//! ([`crate::i18n`]); CSRF tokens; page links for long lists.

use askama::Template;
use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use topca_core::{OsRandom, RandomSource};

pub use crate::i18n::Lang;

/// What the layout shows around every page: its title, the breadcrumbs between
/// the home page and it, and the scripts it needs besides the pages' own.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The page's title (the `<title>` and the heading).
    pub title: String,
    /// The way from the home page (`/`, always first) to this page.
    pub crumbs: Vec<Crumb>,
    /// Further scripts (versioned URLs from [`crate::assets::versioned`]).
    pub scripts: Vec<String>,
}

/// One step of the breadcrumbs.
#[derive(Debug, Clone)]
pub struct Crumb {
    /// What the step is called.
    pub label: String,
    /// Where it links; empty for the current page.
    pub href: String,
}

impl Chrome {
    /// A page titled `title`, reached from the home page through `crumbs`
    /// (label, link) and ending at itself.
    pub fn new(title: impl Into<String>, crumbs: &[(&str, &str)]) -> Self {
        let title = title.into();
        let mut steps: Vec<Crumb> = crumbs
            .iter()
            .map(|(label, href)| Crumb {
                label: (*label).to_owned(),
                href: (*href).to_owned(),
            })
            .collect();
        steps.push(Crumb {
            label: title.clone(),
            href: String::new(),
        });
        Self {
            title,
            crumbs: steps,
            scripts: Vec::new(),
        }
    }

    /// The style sheet's versioned URL.
    pub fn style(&self) -> String {
        crate::assets::versioned(crate::assets::STYLE)
    }

    /// The pages' script's versioned URL.
    pub fn script(&self) -> String {
        crate::assets::versioned(crate::assets::SCRIPT)
    }

    /// The server's version, shown in the footer.
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

/// Page links over a list of `total` rows shown `per_page` at a time.
#[derive(Debug, Clone)]
pub struct Pager {
    /// The page shown, from 1.
    pub page: u64,
    /// Rows per page.
    pub per_page: u64,
    /// Rows in all.
    pub total: u64,
    /// The list's URL with its other query parameters (filters, search).
    pub base: String,
}

impl Pager {
    /// Page `page` (from 1; 0 counts as 1, beyond the last as the last) of `total`
    /// rows at `base`.
    pub fn new(page: Option<u64>, per_page: u64, total: u64, base: impl Into<String>) -> Self {
        let mut pager = Self {
            page: 1,
            per_page: per_page.max(1),
            total,
            base: base.into(),
        };
        pager.page = page.unwrap_or(1).clamp(1, pager.pages());
        pager
    }

    /// How many pages there are (at least 1).
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.per_page).max(1)
    }

    /// The rows to skip for this page.
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.per_page
    }

    /// The link to page `page`.
    pub fn href(&self, page: u64) -> String {
        let join = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{join}page={page}", self.base)
    }

    /// The link to the page before, if any.
    pub fn previous(&self) -> Option<String> {
        (self.page > 1).then(|| self.href(self.page - 1))
    }

    /// The link to the page after, if any.
    pub fn next(&self) -> Option<String> {
        (self.page < self.pages()).then(|| self.href(self.page + 1))
    }
}

/// `template` rendered as the answer, with `status` and a new CSRF cookie if any.
/// A template that cannot render (a bug, never input) answers 500.
pub fn render(
    status: StatusCode,
    template: &impl Template,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let mut response = match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            let error = crate::AppError::internal_because("render a page", &e);
            let mut response = (error.status, error.message.clone()).into_response();
            response.extensions_mut().insert(error);
            return response;
        }
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// An error shown as a page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: Lang,
    page: Chrome,
    message: &'a str,
    back: &'a str,
}

/// The landing page at `/`: both centres and the CA downloads.
#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    t: Lang,
    page: Chrome,
}

/// `GET /`: the landing page.
pub async fn landing(headers: HeaderMap) -> Response {
    let t = Lang::of(&headers);
    let page = Chrome {
        title: t.s("landing.title").to_owned(),
        ..Chrome::default()
    };
    render(StatusCode::OK, &Landing { t, page }, None)
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The CSRF token of this browser (double-submit cookie), and a `Set-Cookie`
/// header when it is new.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(token) = cookie(headers, "topca_csrf").filter(|t| t.len() == 32) {
        return (token, None);
    }
    let mut random = [0u8; 16];
    let token: String = match OsRandom.fill(&mut random) {
        Ok(()) => random.iter().map(|b| format!("{b:02x}")).collect(),
        Err(_) => String::new(),
    };
    let header = HeaderValue::from_str(&format!(
        "topca_csrf={token}; Path=/TopCA; HttpOnly; SameSite=Strict"
    ))
    .ok();
    (token, header)
}

/// Whether a posted form's `csrf` field matches the browser's cookie.
pub fn csrf_ok(headers: &HeaderMap, posted: &str) -> bool {
    cookie(headers, "topca_csrf").is_some_and(|c| c.len() == 32 && c == posted)
}

/// An error shown as a page with the message, keeping the status.
pub fn error_page(lang: Lang, error: &crate::AppError) -> Response {
    error_page_back(lang, error, "/")
}

/// [`error_page`] whose "back" link goes to `back` (the page the user came from).
pub fn error_page_back(lang: Lang, error: &crate::AppError, back: &str) -> Response {
    let message = match (lang, &error.message_zh) {
        (Lang::Zh, Some(zh)) => zh.as_str(),
        _ => error.message.as_str(),
    };
    let page = Chrome {
        title: lang.s("common.not_done").to_owned(),
        ..Chrome::default()
    };
    let mut response = render(
        error.status,
        &ErrorPage {
            t: lang,
            page,
            message,
            back,
        },
        None,
    );
    error.add_retry_after(&mut response);
    // Left for [`crate::problem::render`], which logs an internal failure.
    response.extensions_mut().insert(error.clone());
    response
}

/// The page shown when a form's CSRF token does not match.
pub fn form_expired(lang: Lang) -> Response {
    error_page(
        lang,
        &crate::AppError::localized(StatusCode::BAD_REQUEST, "common.form_expired"),
    )
}

/// `text` percent-encoded for a URL's query or path (UTF-8, unreserved kept).
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
