//! ACME renewal information (RFC 9773) and the operator's renewal cut-off
//! (`topca-server acme renew-before`): a certificate issued before the cut-off
//! is told to renew now (a window already past) on every node reading the
//! store, one issued after it keeps its window in the last third of its
//! validity, clearing the cut-off restores the windows; every change is
//! audited; bad input is a usage error that changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use std::{path::Path, process::Command, time::SystemTime};

use acme_client::{Acme, BASE, Client, b64, csr};
use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::send;
use serde_json::{Value, json};
use topca_core::{
    Certificate, KeyAlgorithm, audit::AuditAction, format_rfc3339, store::AuditStore,
};

/// Issues a certificate for localhost: its ARI path.
async fn issue(acme: &Acme, client: &Client, file: &str) -> String {
    let order = acme.ready_order(client, &["localhost"]).await;
    let der = csr(acme.dir.path(), file, "/CN=localhost", &["localhost"]);
    let (status, _, order) = acme
        .post(
            client,
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let url = order["certificate"].as_str().unwrap().to_owned();
    let header = client.header(&url, &acme.nonce().await);
    let (_, _, chain) = acme
        .raw(url.trim_start_matches(BASE), client.jws_with(header, None))
        .await;
    let certificate = Certificate::from_pem_chain(&String::from_utf8(chain).unwrap())
        .unwrap()
        .remove(0);
    let hex = certificate.serial_hex();
    let serial: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    format!("/acme/renewal-info/AAEC.{}", b64(&serial))
}

/// Whether the window ARI suggests at `path` has already passed (renew now).
async fn renew_now(acme: &Acme, path: &str) -> bool {
    let (status, body, _) = send(&acme.app, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let info: Value = serde_json::from_slice(&body).unwrap();
    let now = format_rfc3339(SystemTime::now());
    let start = info["suggestedWindow"]["start"]
        .as_str()
        .unwrap()
        .to_owned();
    let end = info["suggestedWindow"]["end"].as_str().unwrap().to_owned();
    assert!(start < end);
    end < now
}

/// `topca-server acme renew-before ARGS` on `dir`: success, what it printed.
fn renew_before(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_topca-server"))
        .args(["acme", "renew-before"])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("TOPCA_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn certificates_issued_before_the_renewal_cut_off_are_told_to_renew_now() {
    let acme = Acme::start().await;
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;
    let before = issue(&acme, &client, "before").await;
    assert!(!renew_now(&acme, &before).await);

    // Bad input: usage errors, nothing set.
    for (args, code) in [
        (&["--issued-before", "yesterday"][..], Some(1)),
        (&["--issued-before", "2026-13-01"][..], Some(1)),
        (&["--issued-before", "now", "--clear"][..], Some(2)),
        (&[][..], Some(2)),
    ] {
        let (status, said) = renew_before(acme.dir.path(), args);
        assert_eq!(status, code, "{args:?}: {said}");
    }
    assert!(!renew_now(&acme, &before).await);

    let (status, said) = renew_before(acme.dir.path(), &["--issued-before", "now"]);
    assert_eq!(status, Some(0), "{said}");
    assert!(
        said.contains("renew every certificate issued before"),
        "{said}"
    );
    assert!(renew_now(&acme, &before).await, "issued before the cut-off");
    // Whole seconds: the next certificate is issued after the cut-off.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = issue(&acme, &client, "after").await;
    assert!(!renew_now(&acme, &after).await, "issued after the cut-off");

    // A day in the future covers both; clearing restores both windows.
    let (status, said) = renew_before(acme.dir.path(), &["--issued-before", "2099-01-01"]);
    assert_eq!(status, Some(0), "{said}");
    assert!(renew_now(&acme, &after).await);
    let (status, said) = renew_before(acme.dir.path(), &["--clear"]);
    assert_eq!(status, Some(0), "{said}");
    assert!(!renew_now(&acme, &before).await);
    assert!(!renew_now(&acme, &after).await);

    let changes: Vec<String> = acme
        .state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.record)
        .filter(|r| r.action == AuditAction::SettingChanged && r.target == "ACME renewal cut-off")
        .map(|r| r.detail)
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(
        changes[0].starts_with("certificates issued before 20"),
        "{changes:?}"
    );
    assert_eq!(
        changes[1],
        "certificates issued before 2099-01-01 00:00 UTC"
    );
    assert_eq!(changes[2], "cleared");
}
