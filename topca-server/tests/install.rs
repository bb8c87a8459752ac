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

/// Every file and folder under `dir` with its permission bits.
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        found.push((
            path.clone(),
            metadata.permissions().mode() & 0o777,
            metadata.is_dir(),
        ));
        if metadata.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs the server binary with `args` under umask 022 (the usual default, which
/// makes files readable by everyone unless their mode is given).
fn with_umask_022(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_topca-server"))
        .args(args);
    command
}

/// Posts `json` to `url` over real HTTP (Python's standard library): the status.
fn post_http(url: &str, json: &serde_json::Value) -> u16 {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request as u\n\
             r = u.Request(sys.argv[1], data=sys.argv[2].encode(), headers={'content-type': 'application/json'})\n\
             try:\n    print(u.urlopen(r).status)\n\
             except u.HTTPError as e:\n    print(e.code)",
            url,
            &json.to_string(),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn with_umask_022_every_file_the_server_writes_is_0600_and_every_folder_0700() {
    use std::io::BufRead;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let dir = data.to_str().unwrap();
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = with_umask_022(&[
        "--data-dir",
        dir,
        "--listen",
        &listen,
        "--algorithm",
        "p256",
        "--demo",
    ])
    .env("TOPCA_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::inherit())
    .spawn()
    .unwrap();
    let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("TopCA is running")),
        "the server did not start"
    );
    // An automatic demo account (number 1): the PIN mail goes to the outbox at once.
    let status = post_http(
        &format!("http://{listen}/api/v1/accounts/1/applications"),
        &serde_json::json!({"name": "张三", "email": "zhangsan@example.cn", "password": "张三的口令-2026"}),
    );
    let backup = data.join("backup");
    let backed_up = with_umask_022(&["backup", backup.to_str().unwrap(), "--data-dir", dir])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, 200);
    assert!(backed_up.status.success(), "{backed_up:?}");

    let found = modes(&data);
    let mails = found
        .iter()
        .filter(|(p, ..)| p.extension().is_some_and(|x| x == "eml"))
        .count();
    assert!(mails >= 1, "no mail in the outbox: {found:?}");
    for name in [
        "topca.db",
        "backup/topca.db",
        "backup/MANIFEST.json",
        "backup/ca/issuing.key",
        "secrets/ca-passphrase",
        "secrets/kmc-master.key",
        "ca/root.pem",
        "ca/issuing.key",
    ] {
        assert!(
            found.iter().any(|(p, ..)| *p == data.join(name)),
            "{name} missing"
        );
    }
    for (path, mode, is_dir) in &found {
        let wanted = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, wanted, "{} has mode {mode:03o}", path.display());
    }
}

#[test]
fn a_database_or_secret_readable_by_others_stops_the_start_with_the_chmod_that_fixes_it() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    // Options made once: the helper makes an existing folder private.
    let opts = options(&data);
    drop(start(&opts).unwrap());

    for (path, mode, fix) in [
        (data.join("topca.db"), 0o644, "chmod 600"),
        (
            data.join("secrets").join("kmc-master.key"),
            0o640,
            "chmod 600",
        ),
        (data.join("ca").join("issuing.key"), 0o604, "chmod 600"),
        (data.join("secrets"), 0o750, "chmod 700"),
        (data.clone(), 0o755, "chmod 700"),
    ] {
        chmod(&path, mode);
        let refused = start(&opts)
            .err()
            .unwrap_or_else(|| panic!("{} at {mode:o} started", path.display()))
            .to_string();
        let command = format!("{fix} '{}'", path.display());
        assert!(refused.contains(&command), "{refused}");
        assert!(refused.contains("other users"), "{refused}");
        chmod(&path, if fix == "chmod 700" { 0o700 } else { 0o600 });
    }
    // Fixed as told, it starts again.
    assert!(start(&opts).is_ok());
}
