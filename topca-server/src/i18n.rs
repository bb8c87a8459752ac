//! The pages' two languages. Every user-visible string of a page comes from a
//! catalogue: `i18n/zh-CN/*.toml` and `i18n/en/*.toml`, one file per area (its
//! name is the first part of every key it holds: `user.toml`'s `apply_title` is
//! `user.apply_title`; TOML tables add further parts). Both catalogues hold the
//! same keys, as `tests/i18n_catalogues.rs` checks, together with every key the
//! templates and the code use.

use std::{collections::HashMap, fmt::Display, sync::LazyLock};

use axum::http::HeaderMap;

/// The page language: Simplified Chinese unless the `topca_lang=en` cookie says English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

macro_rules! catalogue {
    ($area:literal) => {
        (
            $area,
            include_str!(concat!("../i18n/zh-CN/", $area, ".toml")),
            include_str!(concat!("../i18n/en/", $area, ".toml")),
        )
    };
}

/// The catalogue files, by area: (area, zh-CN text, en text).
pub const CATALOGUE_FILES: &[(&str, &str, &str)] = &[
    catalogue!("common"),
    catalogue!("values"),
    catalogue!("errors"),
    catalogue!("landing"),
    catalogue!("user"),
    catalogue!("server"),
    catalogue!("pki"),
    catalogue!("install"),
    catalogue!("ra"),
    catalogue!("kmc"),
    catalogue!("super"),
    catalogue!("audit"),
    catalogue!("clients"),
];

/// One language's strings by key.
type Catalogue = HashMap<String, String>;

/// Both catalogues, parsed once. A file that does not parse leaves its keys out
/// (the page then shows the key); `tests/i18n_catalogues.rs` fails on it first.
static CATALOGUES: LazyLock<(Catalogue, Catalogue)> = LazyLock::new(|| {
    let mut zh = Catalogue::new();
    let mut en = Catalogue::new();
    for (area, zh_text, en_text) in CATALOGUE_FILES {
        for (text, into) in [(zh_text, &mut zh), (en_text, &mut en)] {
            match parse_catalogue(area, text) {
                Ok(entries) => into.extend(entries),
                Err(e) => tracing::error!(area, error = %e, "a catalogue does not parse"),
            }
        }
    }
    (zh, en)
});

/// The `key → text` entries of the catalogue file of `area`.
pub fn parse_catalogue(area: &str, text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut entries = Vec::new();
    flatten(area, &table, &mut entries)?;
    Ok(entries)
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    into: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (name, value) in table {
        let key = format!("{prefix}.{name}");
        match value {
            toml::Value::String(text) => into.push((key, text.clone())),
            toml::Value::Table(inner) => flatten(&key, inner, into)?,
            _ => {
                return Err(format!(
                    "{key}: only strings and tables belong in a catalogue"
                ));
            }
        }
    }
    Ok(())
}

impl Lang {
    /// The language chosen by the request's cookie.
    pub fn of(headers: &HeaderMap) -> Self {
        if crate::html::cookie(headers, "topca_lang").as_deref() == Some("en") {
            Self::En
        } else {
            Self::Zh
        }
    }

    /// The text of `key` in this language (the key itself if a catalogue lacks it,
    /// which the catalogue test prevents).
    pub fn s(self, key: &str) -> &str {
        let (zh, en) = &*CATALOGUES;
        let catalogue = match self {
            Self::Zh => zh,
            Self::En => en,
        };
        catalogue.get(key).map_or(key, String::as_str)
    }

    /// The text of `key` with `{0}` replaced by `first`.
    pub fn f1(self, key: &str, first: impl Display) -> String {
        self.s(key).replace("{0}", &first.to_string())
    }

    /// The text of `key` with `{0}` and `{1}` replaced by `first` and `second`.
    pub fn f2(self, key: &str, first: impl Display, second: impl Display) -> String {
        self.f1(key, first).replace("{1}", &second.to_string())
    }

    /// The catalogue text of `value` of `kind` (`values.toml`): an enum variant by
    /// its name in snake_case, e.g. `t.value("reason", RevocationReason::KeyCompromise)`
    /// is `values.reason.key_compromise`.
    pub fn value(self, kind: &str, value: impl std::fmt::Debug) -> String {
        let key = format!("values.{kind}.{}", snake_case(&format!("{value:?}")));
        self.s(&key).to_owned()
    }

    /// The `lang` attribute of the page: `zh-CN` or `en`.
    pub fn html_lang(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// The other language, as the switch link names it: (cookie value, its own name).
    pub fn other(self) -> (&'static str, &'static str) {
        match self {
            Self::Zh => ("en", "English"),
            Self::En => ("zh", "中文"),
        }
    }
}

/// The catalogue text of `key` in both languages: (English, Chinese).
pub fn both(key: &str) -> (String, String) {
    (Lang::En.s(key).to_owned(), Lang::Zh.s(key).to_owned())
}

/// `KeyCompromise` as `key_compromise`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}
