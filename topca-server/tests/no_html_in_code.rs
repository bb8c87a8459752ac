//! No page is built by string formatting: every HTML tag of the server's pages
//! lives in `templates/`, where askama escapes each value. This test reads the
//! server's code and fails on a string literal that holds an HTML tag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::{fs, path::Path};

/// Tags that only a page would hold.
/// Tags that only a page would hold (case matters: `Option<T>` is no tag).
const TAGS: &[&str] = &[
    "<a ",
    "<p>",
    "<p ",
    "<tr>",
    "<tr ",
    "<td>",
    "<td ",
    "<th>",
    "<th ",
    "<table",
    "<div",
    "<li>",
    "<li ",
    "<ul>",
    "<ul ",
    "<ol>",
    "<form",
    "<input",
    "<label",
    "<h1",
    "<h2",
    "<h3",
    "<section",
    "<br",
    "<span",
    "<button",
    "<select",
    "<option",
    "<pre>",
    "<code>",
    "<strong>",
    "<script",
    "<html",
    "<body",
    "<main",
    "<nav",
    "<details",
    "<summary",
    "<textarea",
    "<img ",
    "<em>",
];

fn rust_files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn no_html_is_built_in_code() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if TAGS.iter().any(|tag| code.contains(tag)) {
                found.push(format!("{}:{}: {}", path.display(), number + 1, code));
            }
        }
    }
    assert!(
        found.is_empty(),
        "HTML built in code (move it to templates/):\n{}",
        found.join("\n")
    );
}
