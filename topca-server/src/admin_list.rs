//! What the console's lists share: the page number and search text read from
//! the query string without ever refusing them (a page that is not a number is
//! the first; beyond the last, the last), and the list's link with its filters
//! for the page links.

use serde::Deserialize;

use crate::html::{Pager, url_encode};

/// Rows per page of the console's lists.
pub(crate) const ROWS: u64 = 50;

/// The longest search text kept (characters); the rest is cut.
const MAX_SEARCH: usize = 200;

/// A list's search box and page, as the query string gives them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    /// The search text.
    #[serde(default)]
    pub(crate) q: String,
    /// The page, from 1 (kept as text: a bad value shows the first page).
    #[serde(default)]
    pub(crate) page: String,
}

impl ListQuery {
    /// The search text, trimmed and cut to a sane length.
    pub(crate) fn search(&self) -> String {
        search_text(&self.q)
    }

    /// The page asked for, if it is a number.
    pub(crate) fn page(&self) -> Option<u64> {
        page_number(&self.page)
    }
}

/// `text` trimmed and cut to [`MAX_SEARCH`] characters.
pub(crate) fn search_text(text: &str) -> String {
    text.trim().chars().take(MAX_SEARCH).collect()
}

/// The page number in `text`, if it is one (a number too large for any list
/// is the last page).
pub(crate) fn page_number(text: &str) -> Option<u64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Some(text.parse().unwrap_or(u64::MAX))
    } else {
        None
    }
}

/// `path` with the non-empty `params` as its query string (values encoded).
pub(crate) fn href(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| [*name, "=", &url_encode(value)].concat())
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        [path, "?", &query.join("&")].concat()
    }
}

/// The pager over `total` rows of the list at `path` filtered by `params`.
pub(crate) fn pager(page: Option<u64>, total: u64, path: &str, params: &[(&str, &str)]) -> Pager {
    Pager::new(page, ROWS, total, href(path, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pages_fall_back_and_links_keep_the_filters_encoded() {
        assert_eq!(page_number("x"), None);
        assert_eq!(page_number("-1"), None);
        assert_eq!(page_number(" 3 "), Some(3));
        assert_eq!(page_number("99999999999999999999999"), Some(u64::MAX));
        assert_eq!(
            href("/a", &[("q", "<b>&"), ("state", "")]),
            "/a?q=%3Cb%3E%26"
        );
        let pager = pager(Some(0), 120, "/a", &[("q", "x")]);
        assert_eq!((pager.page, pager.pages()), (1, 3));
        assert_eq!(pager.href(2), "/a?q=x&page=2");
        assert_eq!(pager.offset(), 0);
        let last = super::pager(Some(u64::MAX), 120, "/a", &[]);
        assert_eq!((last.page, last.offset()), (3, 100));
    }
}
