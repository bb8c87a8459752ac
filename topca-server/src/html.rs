//! Server-rendered pages: one layout, escaping, the two languages, CSRF tokens.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use topca_core::{OsRandom, RandomSource};

/// The page language: Simplified Chinese unless the `topca_lang=en` cookie says English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language chosen by the request's cookie.
    pub fn of(headers: &HeaderMap) -> Self {
        if cookie(headers, "topca_lang").as_deref() == Some("en") {
            Self::En
        } else {
            Self::Zh
        }
    }

    /// `zh` or `en`, as chosen.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }
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

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
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

/// A complete page: title, body (already escaped HTML), language switch.
pub fn page(lang: Lang, title: &str, body: &str, set_cookie: Option<HeaderValue>) -> Response {
    page_with_status(StatusCode::OK, lang, title, body, set_cookie)
}

/// [`page`] with another status (an error page keeps its 4xx).
pub fn page_with_status(
    status: StatusCode,
    lang: Lang,
    title: &str,
    body: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let (html_lang, switch) = match lang {
        Lang::Zh => ("zh-CN", r#"<a href="/TopCA/lang?to=en">English</a>"#),
        Lang::En => ("en", r#"<a href="/TopCA/lang?to=zh">中文</a>"#),
    };
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — TopCA</title>
<link rel="stylesheet" href="{style}">
<script src="{script}" defer></script>
</head><body>
<header><h1>TopCA</h1><nav>{switch}</nav></header>
<h2>{title}</h2>
{body}
</body></html>"#,
        title = escape(title),
        style = crate::assets::STYLE,
        script = crate::assets::SCRIPT,
    );
    let mut response = (status, Html(html)).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// An error shown as a page with the message, keeping the status.
pub fn error_page(lang: Lang, error: &crate::AppError) -> Response {
    let body = format!(
        r#"<p class="error" id="error">{}</p><p><a href="/TopCA/userEnroll" class="back">{}</a></p>"#,
        escape(&error.message),
        lang.t("返回", "Back")
    );
    let mut response = page_with_status(
        error.status,
        lang,
        lang.t("操作未完成", "Not done"),
        &body,
        None,
    );
    error.add_retry_after(&mut response);
    // Left for [`crate::problem::render`], which logs an internal failure.
    response.extensions_mut().insert(error.clone());
    response
}

/// The log-in by account: a keyword box whose matches (O or OU, Chinese included)
/// appear as the user types (`assets/page.js`), each linking to `home` with the
/// account's id.
pub fn account_search(lang: Lang, home: &str) -> String {
    format!(
        r#"<p>{intro}</p>
<label for="keyword">{label}</label>
<input id="keyword" autocomplete="off" placeholder="{placeholder}">
<ul id="accounts" data-home="{home}"></ul>"#,
        intro = lang.t(
            "请输入您所在单位（O）或部门（OU）的关键字，然后从列表中选择。",
            "Type a keyword of your organisation (O) or unit (OU), then pick it from the list."
        ),
        label = lang.t("单位或部门关键字", "Organisation or unit keyword"),
        placeholder = lang.t("例如：天诚", "e.g. Example"),
    )
}

/// The page shown when a form's CSRF token does not match.
pub fn form_expired(lang: Lang) -> Response {
    error_page(
        lang,
        &crate::AppError::bad_request(lang.t(
            "表单已过期，请刷新页面后重新提交。",
            "The form expired; reload the page and submit again.",
        )),
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
