//! Installing TopCA: what a first start makes and what later starts keep.
//! Demonstration data only with `--demo`, once, marked 演示, never on a real CA.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{options, send};
use topca_core::{
    lifecycle::VerificationMode,
    ra::AccountId,
    store::{AccountStore, AdminStore},
};
use topca_server::setup::{Options, start};

fn without_demo(dir: &std::path::Path) -> Options {
    Options {
        demo: false,
        ..options(dir)
    }
}

async fn get_text(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let (status, body, _) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_first_start_without_demo_makes_no_account_and_nothing_approves_itself() {
    let data = tempfile::tempdir().unwrap();
    let (state, report) = start(&without_demo(data.path())).unwrap();
    assert_eq!(state.demo_account, None);
    for id in 1..=5 {
        assert!(
            state.store.account(AccountId(id)).unwrap().is_none(),
            "account {id} exists on a CA started without --demo"
        );
    }
    assert!(report.iter().any(|l| l.contains("demo accounts:   none")));
    assert_eq!(
        state.store.setting("demo_data").unwrap().as_deref(),
        Some("off")
    );
    let app = topca_server::router(Arc::new(state));
    let (status, found) = get_text(&app, "/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, "[]");
    // An application to the former demo account's number finds no account.
    let (status, _) = common::post_json(
        &app,
        "/api/v1/accounts/1/applications",
        serde_json::json!({"name": "张三", "email": "zhangsan@example.cn", "password": "张三的口令-2026"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A later start, still without --demo, adds none either.
    let (state, _) = start(&without_demo(data.path())).unwrap();
    assert!(state.store.account(AccountId(1)).unwrap().is_none());
}

#[tokio::test]
async fn demo_accounts_are_made_once_marked_and_never_recreated_after_the_ra_retired_them() {
    let data = tempfile::tempdir().unwrap();
    let (state, report) = start(&options(data.path())).unwrap();
    assert!(report.iter().any(|l| l.contains("演示部门 (automatic)")));
    let demo = state.demo_account.expect("a demo account with --demo");
    assert_eq!(state.demo.accounts.len(), 3);
    let app = topca_server::router(Arc::new(state));

    // Every page and answer showing a demo account marks it.
    let (_, home) = get_text(&app, &format!("/TopCA/userEnroll/home?account={}", demo.0)).await;
    assert!(home.contains("【演示】TopCA 演示单位 / 演示部门"), "{home}");
    let (_, apply) = get_text(&app, &format!("/TopCA/userEnroll/apply?account={}", demo.0)).await;
    assert!(apply.contains("【演示】"), "{apply}");
    let (_, found) = get_text(&app, "/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA").await;
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 3);
    assert!(found.as_array().unwrap().iter().all(|a| a["demo"] == true));
    drop(app);

    // The RA retires the demo accounts (renamed, manual approval); a restart
    // with --demo brings none back.
    let (state, _) = start(&options(data.path())).unwrap();
    for id in state.demo.accounts.clone() {
        let mut account = state.store.account(id).unwrap().unwrap();
        account.settings.organization = "已停用".into();
        account.settings.unit = format!("停用 {}", id.0);
        account.settings.verification = VerificationMode::Manual;
        state.store.update_account(&account).unwrap();
    }
    drop(state);
    let (state, _) = start(&options(data.path())).unwrap();
    assert!(state.store.search_accounts("演示", 10).unwrap().is_empty());
    assert!(state.store.account(AccountId(4)).unwrap().is_none());
    // Still marked: they remain demonstration data, whatever their new name.
    let app = topca_server::router(Arc::new(state));
    let (_, home) = get_text(&app, &format!("/TopCA/userEnroll/home?account={}", demo.0)).await;
    assert!(home.contains("【演示】已停用"), "{home}");
}

#[test]
fn demo_on_a_ca_first_started_without_it_is_refused() {
    let data = tempfile::tempdir().unwrap();
    drop(start(&without_demo(data.path())).unwrap());
    let refused = start(&options(data.path()))
        .err()
        .expect("--demo on a real CA is refused")
        .to_string();
    assert!(
        refused.contains("first started without --demo"),
        "{refused}"
    );
    // Nothing was added by the refused start.
    let (state, _) = start(&without_demo(data.path())).unwrap();
    assert!(state.store.account(AccountId(1)).unwrap().is_none());
}

#[test]
fn the_demo_flag_is_parsed_and_off_by_default() {
    let parsed = Options::parse(["--data-dir".to_owned(), "x".to_owned()]).unwrap();
    assert!(!parsed.demo);
    let parsed = Options::parse(["--demo".to_owned()]).unwrap();
    assert!(parsed.demo);
}
