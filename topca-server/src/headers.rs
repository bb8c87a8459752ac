//! Security headers on every answer (pages, API, errors, files) and the
//! attributes of every cookie the server sets, in one layer ([`secure`]).
//!
//! - `Content-Security-Policy`: scripts, styles, fetches and form posts from this
//!   origin only, no inline script or style (the pages load [`crate::assets`]),
//!   WebAssembly compiled only from this origin's files (`'wasm-unsafe-eval'`:
//!   the browser SM2 key generator; it allows no JavaScript `eval`),
//!   no plug-ins, no framing;
//! - `X-Frame-Options: DENY` for browsers without `frame-ancestors`;
//! - `X-Content-Type-Options: nosniff`;
//! - `Referrer-Policy: same-origin` (the language switch returns to the page it
//!   came from; other sites never see the pages' addresses);
//! - under HTTPS (a TLS connection, or a public URL in `https://` behind a TLS
//!   proxy) `Strict-Transport-Security`, and `Secure` on every cookie;
//! - every cookie `HttpOnly` (no script reads them) and `SameSite` (`Lax` unless
//!   the handler chose).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};

use crate::{AppState, serve::OverTls};

/// The Content-Security-Policy of every answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// `Strict-Transport-Security` under HTTPS: one year.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Adds the security headers and cookie attributes to the answer of `request`.
pub async fn secure(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let https =
        request.extensions().get::<OverTls>().is_some() || state.base_url.starts_with("https://");
    let mut response = next.run(request).await;
    apply(&mut response, https);
    response
}

/// Adds the security headers and cookie attributes to `response` (`https`: the
/// client reaches the server over HTTPS).
pub fn apply(response: &mut Response, https: bool) {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    harden_cookies(headers, https);
}

/// Gives every `Set-Cookie` `HttpOnly`, a `SameSite` and, under HTTPS, `Secure`.
fn harden_cookies(headers: &mut HeaderMap, https: bool) {
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, harden(cookie, https));
    }
}

/// One cookie with the attributes it lacks.
fn harden(cookie: HeaderValue, https: bool) -> HeaderValue {
    let Ok(text) = cookie.to_str() else {
        return cookie;
    };
    let has = |attribute: &str| {
        text.split(';').skip(1).any(|a| {
            a.trim()
                .split('=')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(attribute))
        })
    };
    let mut out = text.to_owned();
    if !has("HttpOnly") {
        out.push_str("; HttpOnly");
    }
    if !has("SameSite") {
        out.push_str("; SameSite=Lax");
    }
    if https && !has("Secure") {
        out.push_str("; Secure");
    }
    HeaderValue::from_str(&out).unwrap_or(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardened(cookie: &'static str, https: bool) -> String {
        harden(HeaderValue::from_static(cookie), https)
            .to_str()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    #[test]
    fn cookies_get_httponly_samesite_and_under_https_secure_once() {
        assert_eq!(
            hardened("topca_lang=en; Path=/TopCA; Max-Age=31536000", false),
            "topca_lang=en; Path=/TopCA; Max-Age=31536000; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            hardened("topca_admin=x; Path=/; HttpOnly; SameSite=Strict", true),
            "topca_admin=x; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            hardened(
                "topca_admin=x; Path=/; HttpOnly; SameSite=Strict; Secure",
                true
            ),
            "topca_admin=x; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn a_cookie_value_naming_an_attribute_does_not_count_as_it() {
        assert_eq!(
            hardened("Secure=1; Path=/", true),
            "Secure=1; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
