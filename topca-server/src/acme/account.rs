//! Accounts (RFC 8555 §7.3): made from a key under one ACME profile, found
//! again by the same key (`onlyReturnExisting`), their contact changed,
//! deactivated, and their key rolled over (§7.3.5). A profile with EAB keys
//! takes new accounts only with an external account binding (§7.3.4).
//! Creation, key rollover and deactivation are audited in the transaction
//! that stores them, as done by the profile's machine client.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, Uri},
    response::Response,
};
use serde_json::{Value, json};
use topca_core::{
    StoreError,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    store::{AcmeAccount, AcmeEabStore, AcmeStatus, AcmeStore},
};

use super::{
    AcmeProblem, Reply, Signer, account_url, base, client_name, eab,
    jws::{Jwk, Jws},
    order::order_url,
    profile_client, random_id, signed,
};
use crate::AppState;

/// The audit entry of `action` on `account`, done through its profile's
/// machine client; `detail` in one of the log's known forms.
fn audit(
    state: &AppState,
    account: &AcmeAccount,
    action: AuditAction,
    detail: String,
) -> AuditRecord {
    AuditRecord {
        at: state.ca.environment().clock().now(),
        actor: Actor::Client(client_name(&account.profile)),
        action,
        target: format!("ACME account {}", account.id),
        outcome: Outcome::Success,
        detail,
    }
}

/// The most contacts an account may give.
const MAX_CONTACTS: usize = 4;

/// The most orders the orders list shows.
const MAX_LISTED: usize = 1_000;

/// The account as the protocol shows it.
fn view(state: &AppState, account: &AcmeAccount) -> Value {
    json!({
        "status": account.status.label(),
        "contact": account.contact,
        "orders": format!("{}/orders", account_url(state, &account.id)),
    })
}

/// `POST /acme/acct/{id}/orders` (POST-as-GET): the account's orders that are
/// not invalid.
pub(super) async fn orders(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let account = request.account()?;
        if account.id != id {
            return Err(AcmeProblem::unauthorized("this is another account"));
        }
        let orders: Vec<String> = s
            .store
            .acme_orders_of(&account.id, MAX_LISTED)?
            .iter()
            .map(|order| order_url(s, order))
            .collect();
        Ok(Reply::json(StatusCode::OK, json!({ "orders": orders })))
    })
    .await
}

/// The `contact` of `payload`: `mailto:` URLs of plain addresses.
fn contacts(payload: &Value) -> Result<Vec<String>, AcmeProblem> {
    let Some(list) = payload.get("contact") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| AcmeProblem::malformed("contact is not an array"))?;
    if list.len() > MAX_CONTACTS {
        return Err(AcmeProblem::invalid_contact(format!(
            "give at most {MAX_CONTACTS} contacts"
        )));
    }
    list.iter()
        .map(|c| {
            let url = c
                .as_str()
                .ok_or_else(|| AcmeProblem::malformed("a contact is not a string"))?;
            let address = url
                .strip_prefix("mailto:")
                .ok_or_else(|| AcmeProblem::invalid_contact("only mailto: contacts are taken"))?;
            let plain = address.len() <= 254
                && address.matches('@').count() == 1
                && !address.starts_with('@')
                && !address.ends_with('@')
                && address
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, ',' | '?' | '<' | '>'));
            if !plain {
                return Err(AcmeProblem::invalid_contact(format!(
                    "{url:?} is not one plain e-mail address"
                )));
            }
            Ok(url.to_owned())
        })
        .collect()
}

/// `POST /acme/new-account`: an account under the default profile.
pub(super) async fn new_default_account(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    create(state, uri, body, String::new()).await
}

/// `POST /acme/{profile}/new-account`.
pub(super) async fn new_account(
    State(state): State<Arc<AppState>>,
    Path(profile): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    create(state, uri, body, profile).await
}

async fn create(state: Arc<AppState>, uri: Uri, body: Bytes, profile: String) -> Response {
    let url = format!("{}{}", state.base_url, uri.path());
    signed(state, uri, body, move |s, request| {
        profile_client(s, &profile)?;
        let Signer::Key(key) = &request.signer else {
            return Err(AcmeProblem::malformed(
                "newAccount is signed with the account's key as jwk",
            ));
        };
        let payload = request.json()?;
        let thumbprint = key.thumbprint();
        if let Some(existing) = s.store.acme_account_by_thumbprint(&thumbprint)? {
            return existing_account(s, existing, &profile);
        }
        if payload.get("onlyReturnExisting") == Some(&Value::Bool(true)) {
            return Err(AcmeProblem::account_does_not_exist());
        }
        let binding = match payload.get("externalAccountBinding") {
            Some(binding) => Some(eab::check(s, binding, key, &url, &profile)?),
            None if s.store.acme_profile_has_eab_keys(&profile)? => {
                return Err(AcmeProblem::external_account_required());
            }
            None => None,
        };
        let account = AcmeAccount {
            id: random_id(s)?,
            profile: profile.clone(),
            thumbprint,
            jwk: key.text().to_owned(),
            contact: contacts(&payload)?,
            status: AcmeStatus::Valid,
            created: s.ca.environment().clock().now(),
        };
        let created = audit(
            s,
            &account,
            AuditAction::AcmeAccountCreated,
            format!("ACME profile {}", client_name(&profile)),
        );
        let stored = match &binding {
            None => s.store.create_acme_account(&account, created),
            Some(kid) => match s.store.create_acme_account_bound(&account, kid, created) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    return Err(AcmeProblem::unauthorized(
                        "unknown or used EAB key identifier",
                    ));
                }
                Err(e) => Err(e),
            },
        };
        match stored {
            Ok(()) => {}
            // The same key registered at the same moment: that account.
            Err(StoreError::Conflict) => {
                let existing = s
                    .store
                    .acme_account_by_thumbprint(&account.thumbprint)?
                    .ok_or_else(AcmeProblem::account_does_not_exist)?;
                return existing_account(s, existing, &profile);
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account = %account.id, profile = %profile, "ACME account created");
        Ok(Reply::json(StatusCode::CREATED, view(s, &account)).at(account_url(s, &account.id)))
    })
    .await
}

/// The answer for a key that has an account already.
fn existing_account(
    state: &AppState,
    existing: AcmeAccount,
    profile: &str,
) -> Result<Reply, AcmeProblem> {
    if existing.profile != profile {
        return Err(AcmeProblem::unauthorized(
            "this key has an account under another ACME profile",
        ));
    }
    if existing.status != AcmeStatus::Valid {
        return Err(AcmeProblem::unauthorized("the account is deactivated"));
    }
    Ok(Reply::json(StatusCode::OK, view(state, &existing)).at(account_url(state, &existing.id)))
}

/// `POST /acme/acct/{id}`: the account (POST-as-GET), a new contact, or
/// `{"status": "deactivated"}`.
pub(super) async fn account(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let account = request.account()?.clone();
        if account.id != id {
            return Err(AcmeProblem::unauthorized("this is another account"));
        }
        let payload = request.json()?;
        let mut updated = account.clone();
        if payload.get("contact").is_some() {
            updated.contact = contacts(&payload)?;
        }
        match payload.get("status") {
            None => {}
            Some(Value::String(status)) if status == "deactivated" => {
                updated.status = AcmeStatus::Deactivated;
            }
            Some(_) => {
                return Err(AcmeProblem::malformed(
                    "an account's status can only be set to deactivated",
                ));
            }
        }
        if updated != account {
            let deactivated = (updated.status != account.status).then(|| {
                audit(
                    s,
                    &updated,
                    AuditAction::AcmeAccountDeactivated,
                    format!("ACME profile {}", client_name(&updated.profile)),
                )
            });
            s.store.update_acme_account(&updated, deactivated)?;
        }
        Ok(Reply::json(StatusCode::OK, view(s, &updated)).at(account_url(s, &updated.id)))
    })
    .await
}

/// `POST /acme/key-change`: the account's key is replaced by the one that
/// signed the inner JWS, which names the account and its old key.
pub(super) async fn key_change(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let account = request.account()?.clone();
        let inner = Jws::parse(&request.payload)?;
        inner.algorithm()?;
        let new_key =
            Jwk::parse(inner.header.get("jwk").ok_or_else(|| {
                AcmeProblem::malformed("the inner JWS carries the new key as jwk")
            })?)?;
        inner.verify(&new_key)?;
        if inner.text("url") != Some(format!("{}/key-change", base(s)).as_str()) {
            return Err(AcmeProblem::malformed(
                "the inner JWS's url must be the outer one's",
            ));
        }
        let payload: Value = serde_json::from_slice(&inner.payload)
            .map_err(|_| AcmeProblem::malformed("the inner payload is not JSON"))?;
        if payload.get("account").and_then(Value::as_str)
            != Some(account_url(s, &account.id).as_str())
        {
            return Err(AcmeProblem::unauthorized(
                "the inner payload names another account",
            ));
        }
        let old_key = Jwk::parse(
            payload
                .get("oldKey")
                .ok_or_else(|| AcmeProblem::malformed("the inner payload has no oldKey"))?,
        )?;
        if old_key.thumbprint() != account.thumbprint {
            return Err(AcmeProblem::unauthorized("oldKey is not the account's key"));
        }
        let mut updated = account;
        updated.thumbprint = new_key.thumbprint();
        updated.jwk = new_key.text().to_owned();
        // The thumbprint in hex, as the log shows key and certificate digests.
        let thumbprint: String = super::jws::unb64(&updated.thumbprint, "the thumbprint")?
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let rolled = audit(
            s,
            &updated,
            AuditAction::AcmeAccountKeyChanged,
            format!("new key thumbprint {thumbprint}"),
        );
        match s.store.update_acme_account(&updated, Some(rolled)) {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(AcmeProblem::conflict("the new key is another account's"));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Reply::json(StatusCode::OK, view(s, &updated)).at(account_url(s, &updated.id)))
    })
    .await
}
