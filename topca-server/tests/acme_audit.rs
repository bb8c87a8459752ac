//! ACME accounts in the audit log: creation, key rollover and deactivation
//! are each one entry by the directory's machine client, written with the
//! change, and the RA's audit page shows them in the page language (no
//! English words on the Chinese page, the English forms on the English one).
//! A refused rollover or a replayed request adds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod acme_client;
mod common;

use acme_client::{Acme, BASE, Client};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use base64::Engine;
use common::{ADMIN_PASSWORD, admins, log_in, send};
use serde_json::{Value, json};
use topca_core::{
    KeyAlgorithm, SigningKey,
    audit::{Actor, AuditAction},
    ra::AdminRole,
    store::AuditStore,
};

/// The ACME account entries of the log: (action, actor, target, detail).
fn acme_entries(acme: &Acme) -> Vec<(AuditAction, Actor, String, String)> {
    acme.state
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.record)
        .filter(|r| r.target.starts_with("ACME account "))
        .map(|r| (r.action, r.actor, r.target, r.detail))
        .collect()
}

/// The audit page of `kind` as the RA administrator sees it, in `lang`.
async fn audit_page(acme: &Acme, token: &str, kind: &str, lang: &str) -> String {
    let (status, body, _) = send(
        &acme.app,
        Request::get(format!("/TopCA/admin/audit?kind={kind}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::COOKIE, format!("topca_lang={lang}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn account_creation_key_rollover_and_deactivation_are_audited_in_the_page_language() {
    let acme = Acme::start().await;
    admins(&acme.state, &[("ra", AdminRole::RaAdmin)]);
    let mut client = Client::new(KeyAlgorithm::EcdsaP256);
    acme.register(&mut client).await;
    let kid = client.kid.clone().unwrap();
    let id = kid.rsplit('/').next().unwrap().to_owned();
    let target = format!("ACME account {id}");
    let by = Actor::Client("acme".into());
    assert_eq!(
        acme_entries(&acme),
        [(
            AuditAction::AcmeAccountCreated,
            by.clone(),
            target.clone(),
            "ACME profile acme".to_owned()
        )]
    );
    // Finding the account again by its key is no new account.
    let again =
        Client::from_key(SigningKey::from_pkcs8_der(&client.key.to_pkcs8_der().unwrap()).unwrap());
    let (status, _, _) = acme
        .post(
            &again,
            "/acme/new-account",
            Some(&json!({"termsOfServiceAgreed": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(acme_entries(&acme).len(), 1);

    // A rollover to a key that does not sign the inner JWS: refused, not logged.
    let new = Client::new(KeyAlgorithm::Ed25519);
    let stranger = Client::new(KeyAlgorithm::EcdsaP384);
    let forged = stranger.jws_with(
        json!({"alg": new.alg, "jwk": new.jwk, "url": format!("{BASE}/acme/key-change")}),
        Some(&json!({"account": kid, "oldKey": client.jwk})),
    );
    let forged: Value = serde_json::from_slice(&forged).unwrap();
    let (status, _, _) = acme.post(&client, "/acme/key-change", Some(&forged)).await;
    assert_ne!(status, StatusCode::OK);
    assert_eq!(acme_entries(&acme).len(), 1);

    let inner = new.jws_with(
        json!({"alg": new.alg, "jwk": new.jwk, "url": format!("{BASE}/acme/key-change")}),
        Some(&json!({"account": kid, "oldKey": client.jwk})),
    );
    let inner: Value = serde_json::from_slice(&inner).unwrap();
    let (status, _, body) = acme.post(&client, "/acme/key-change", Some(&inner)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut rolled = new;
    rolled.kid = Some(kid.clone());
    // A contact change is not one of the audited changes.
    let (status, _, _) = acme
        .post(
            &rolled,
            &kid,
            Some(&json!({"contact": ["mailto:ops@localhost"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = acme
        .post(&rolled, &kid, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Deactivated: a second deactivation is refused and not logged.
    let (status, _, _) = acme
        .post(&rolled, &kid, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let entries = acme_entries(&acme);
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert_eq!(
        entries[1],
        (
            AuditAction::AcmeAccountKeyChanged,
            by.clone(),
            target.clone(),
            format!(
                "new key thumbprint {}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(rolled.thumbprint())
                    .unwrap()
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<String>()
            )
        )
    );
    assert_eq!(
        entries[2],
        (
            AuditAction::AcmeAccountDeactivated,
            by,
            target,
            "ACME profile acme".to_owned()
        )
    );

    let (status, json) = log_in(&acme.app, "ra", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let token = json["token"].as_str().unwrap();
    for (kind, chinese, english) in [
        (
            "acme_account_created",
            "创建 ACME 账户",
            "ACME account created",
        ),
        (
            "acme_account_key_changed",
            "更换 ACME 账户密钥",
            "ACME account key changed",
        ),
        (
            "acme_account_deactivated",
            "停用 ACME 账户",
            "ACME account deactivated",
        ),
    ] {
        let page = audit_page(&acme, token, kind, "zh-CN").await;
        assert_eq!(page.matches("<tr data-action=").count(), 1, "{kind}");
        assert!(page.contains(chinese), "{kind}: {page}");
        assert!(page.contains(&format!("ACME 账户 {id}")), "{kind}");
        assert!(page.contains("机器客户端 acme"), "{kind}");
        for english_word in ["ACME account", "ACME profile", "new key", "machine client"] {
            assert!(
                !page.contains(english_word),
                "{kind}: {english_word} on the Chinese page"
            );
        }
        let page = audit_page(&acme, token, kind, "en").await;
        assert!(page.contains(english), "{kind}");
        assert!(page.contains(&format!("ACME account {id}")), "{kind}");
    }
    let page = audit_page(&acme, token, "acme_account_key_changed", "zh-CN").await;
    assert!(page.contains("新密钥指纹"), "{page}");
    let page = audit_page(&acme, token, "acme_account_created", "zh-CN").await;
    assert!(page.contains("ACME 配置 acme"), "{page}");
}
