//! The two catalogues (`i18n/zh-CN`, `i18n/en`) parse, hold the same keys with
//! the same placeholders, and hold every key the templates and the code use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use topca_server::i18n::{CATALOGUE_FILES, parse_catalogue};

/// Both catalogues: key → text.
fn catalogues() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut zh = BTreeMap::new();
    let mut en = BTreeMap::new();
    for (area, zh_text, en_text) in CATALOGUE_FILES {
        for (lang, text, into) in [("zh-CN", zh_text, &mut zh), ("en", en_text, &mut en)] {
            let entries = parse_catalogue(area, text)
                .unwrap_or_else(|e| panic!("i18n/{lang}/{area}.toml does not parse: {e}"));
            for (key, value) in entries {
                assert!(!value.trim().is_empty(), "{lang}: {key} is empty");
                assert!(
                    into.insert(key.clone(), value).is_none(),
                    "{lang}: {key} twice"
                );
            }
        }
    }
    (zh, en)
}

fn placeholders(text: &str) -> BTreeSet<&'static str> {
    ["{0}", "{1}"]
        .into_iter()
        .filter(|p| text.contains(p))
        .collect()
}

#[test]
fn both_catalogues_hold_the_same_keys_and_placeholders() {
    let (zh, en) = catalogues();
    let only_zh: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
    let only_en: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
    assert!(
        only_zh.is_empty(),
        "missing from the en catalogue: {only_zh:?}"
    );
    assert!(
        only_en.is_empty(),
        "missing from the zh-CN catalogue: {only_en:?}"
    );
    for (key, zh_text) in &zh {
        assert_eq!(
            placeholders(zh_text),
            placeholders(&en[key]),
            "{key}: the two languages use different placeholders"
        );
    }
    assert!(zh.len() > 40, "the catalogues hold {} keys", zh.len());
}

/// Every file under `dir` whose name ends with one of `endings`.
fn files(dir: &Path, endings: &[&str], into: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, endings, into);
        } else if endings.iter().any(|e| path.to_string_lossy().ends_with(e)) {
            into.push(path);
        }
    }
}

/// The string literals that follow each `call` in `text`, up to 200 characters on.
fn literals_after<'a>(text: &'a str, call: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(call) {
        rest = &rest[at + call.len()..];
        let mut end = rest.len().min(200);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let window = &rest[..end];
        if let Some(open) = window.find('"')
            && let Some(len) = window[open + 1..].find('"')
        {
            found.push(&window[open + 1..open + 1 + len]);
        }
    }
    found
}

#[test]
fn every_key_used_is_in_both_catalogues() {
    let (zh, en) = catalogues();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    files(&root.join("templates"), &[".html"], &mut sources);
    files(&root.join("src"), &[".rs"], &mut sources);
    let mut used = 0;
    let mut missing = BTreeSet::new();
    for path in &sources {
        let text = fs::read_to_string(path).unwrap();
        for call in [".s(", ".f1(", ".f2(", "localized("] {
            for key in literals_after(&text, call) {
                // Only catalogue keys: `area.name`, lower case.
                let is_key = key.contains('.')
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c));
                if !is_key {
                    continue;
                }
                used += 1;
                if !zh.contains_key(key) || !en.contains_key(key) {
                    missing.insert(format!("{key} (in {})", path.display()));
                }
            }
        }
        for kind in literals_after(&text, ".value(") {
            let prefix = format!("values.{kind}.");
            if !zh.keys().any(|k| k.starts_with(&prefix)) {
                missing.insert(format!("values.{kind}.* (in {})", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys missing from a catalogue: {missing:#?}"
    );
    assert!(used > 30, "only {used} uses of catalogue keys were found");
}
