//! External account binding (RFC 8555 §7.3.4). An RA administrator makes an
//! EAB key for an ACME profile (`topca-server acme eab add --profile NAME`):
//! a key identifier and a 256-bit HMAC key, shown once, the HMAC key sealed
//! under the KMC master key (the MAC needs it in clear, so it cannot be
//! hashed). From its first key on, the profile takes new accounts only with a
//! binding: a JWS over the account's key, MACed with the EAB key, for the
//! newAccount URL. A key binds one account, and only under its own profile,
//! whose RA account (through its machine client) the ACME account then uses.

use serde_json::Value;
use topca_core::{
    Clock, OsRandom, SystemClock,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    error::{RaError, StoreError},
    kmc::MasterKey,
    ra::AccountId,
    random::RandomSource,
    store::{AcmeEabKey, AcmeEabStore, ClientStore},
};

use super::{AcmeProblem, client_name, jws};
use crate::{
    AppState,
    setup::{Options, SetupError, master_key, open_store},
};

/// What a sealed HMAC key is bound to.
fn binding(id: &str) -> String {
    format!("acme eab key {id}")
}

/// Makes an EAB key for ACME profile `profile` ("" or "default": the default
/// profile), whose machine client must exist and be live; returns the lines
/// to print, the HMAC key among them (once).
pub fn add(options: &Options, profile: &str) -> Result<Vec<String>, SetupError> {
    let profile = profile_of(profile);
    let store = open_store(options)?;
    let master = master_key(&options.data_dir)?;
    let client = client_name(profile);
    if profile_account(&store, profile)?.is_none() {
        return Err(SetupError::Usage(format!(
            "there is no live machine client {client:?}: make the ACME profile first \
             (topca-server client add {client} --account ID --allowed-names ...)"
        )));
    }
    let random = OsRandom;
    let (id, hmac) = make(&store, &master, &random, profile, "command line")?;
    let directory = if profile.is_empty() {
        "/acme/directory".to_owned()
    } else {
        format!("/acme/{profile}/directory")
    };
    Ok(vec![
        format!("EAB key for the ACME profile {directory} (the HMAC key is shown this once):"),
        format!("key id:   {id}"),
        format!("hmac key: {hmac}"),
        format!(
            "certbot ... --server https://HOST{directory} --eab-kid {id} --eab-hmac-key {hmac}"
        ),
    ])
}

/// The RA account whose policy ACME profile `profile` ("" for the default)
/// issues under: its machine client's, `None` when that client is missing or
/// revoked.
pub fn profile_account<S: ClientStore>(
    store: &S,
    profile: &str,
) -> Result<Option<AccountId>, topca_core::Error> {
    Ok(store
        .client_by_name(&client_name(profile))?
        .filter(|c| c.revoked.is_none())
        .map(|c| c.account))
}

/// The profile named `name` as keys store it: "" for `default` or nothing.
pub fn profile_of(name: &str) -> &str {
    let name = name.trim();
    if name == "default" { "" } else { name }
}

/// Revokes key `id` (audited `ClientRevoked` by `actor`): it binds no
/// account from then on, and the ACME account it bound, if it was used, is
/// deactivated in the same transaction (it can no longer order, on any node).
/// [`RaError::UnknownCredential`] for an unknown key, [`RaError::WrongState`]
/// for one revoked already.
pub fn revoke<S: AcmeEabStore>(
    store: &S,
    clock: &dyn Clock,
    actor: Actor,
    id: &str,
) -> Result<AcmeEabKey, topca_core::Error> {
    let id = id.trim();
    let known = store.acme_eab_key(id)?.ok_or(RaError::UnknownCredential)?;
    let now = clock.now();
    let detail = match &known.account {
        Some(account) => format!("ACME account {account} deactivated"),
        None => format!("ACME profile {}", client_name(&known.profile)),
    };
    let audit = AuditRecord {
        at: now,
        actor,
        action: AuditAction::ClientRevoked,
        target: format!("ACME EAB key {}", known.id),
        outcome: Outcome::Success,
        detail,
    };
    store
        .revoke_acme_eab_key(&known.id, now, audit)
        .map_err(|e| match e {
            StoreError::NotFound => topca_core::Error::from(RaError::UnknownCredential),
            StoreError::Conflict => RaError::WrongState("revoked already").into(),
            other => other.into(),
        })
}

/// Makes and stores (audited, by administrator `admin`) a key for
/// `profile`: its identifier and its HMAC key, base64url.
pub fn make<S: AcmeEabStore>(
    store: &S,
    master: &MasterKey,
    random: &dyn RandomSource,
    profile: &str,
    admin: &str,
) -> Result<(String, String), topca_core::Error> {
    let mut id = [0u8; 16];
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    random
        .fill(&mut id)
        .and_then(|()| random.fill(&mut *key))
        .map_err(|_| topca_core::error::KmcError::Random)?;
    let id = jws::b64(&id);
    let sealed_key = master.seal_bytes(&*key, &binding(&id), random)?;
    let now = SystemClock.now();
    let made = AcmeEabKey {
        id: id.clone(),
        profile: profile.to_owned(),
        sealed_key,
        created: now,
        account: None,
        revoked: None,
    };
    let audit = AuditRecord {
        at: now,
        actor: Actor::Admin(admin.to_owned()),
        action: AuditAction::ClientAdded,
        target: format!("ACME EAB key {id}"),
        outcome: Outcome::Success,
        detail: format!("ACME profile {}", client_name(profile)),
    };
    store.create_acme_eab_key(&made, audit)?;
    Ok((id, jws::b64(&*key)))
}

/// Checks the `externalAccountBinding` of a newAccount payload signed with
/// `account_key` for `url` under `profile`: the identifier of the EAB key
/// to spend, or the problem (`malformed` for a wrong shape, `unauthorized`
/// for an unknown, foreign or used key or a wrong MAC).
pub(super) fn check(
    state: &AppState,
    binding_jws: &Value,
    account_key: &jws::Jwk,
    url: &str,
    profile: &str,
) -> Result<String, AcmeProblem> {
    let body = serde_json::to_vec(binding_jws)
        .map_err(|_| AcmeProblem::malformed("externalAccountBinding is not a JWS"))?;
    let inner = jws::Jws::parse(&body)?;
    let kid = inner
        .text("kid")
        .ok_or_else(|| AcmeProblem::malformed("the external account binding has no kid"))?;
    if inner.header.contains_key("nonce") {
        return Err(AcmeProblem::malformed(
            "the external account binding must not carry a nonce",
        ));
    }
    if inner.text("url") != Some(url) {
        return Err(AcmeProblem::unauthorized(format!(
            "the external account binding's url must be {url}"
        )));
    }
    let payload: Value = serde_json::from_slice(&inner.payload).map_err(|_| {
        AcmeProblem::malformed("the external account binding's payload is not a JWK")
    })?;
    if jws::Jwk::parse(&payload)?.thumbprint() != account_key.thumbprint() {
        return Err(AcmeProblem::unauthorized(
            "the external account binding is for another account key",
        ));
    }
    let refused = || AcmeProblem::unauthorized("unknown or used EAB key identifier");
    let key = state.store.acme_eab_key(kid)?.ok_or_else(refused)?;
    if key.profile != profile || key.account.is_some() || key.revoked.is_some() {
        return Err(refused());
    }
    let hmac = state
        .master
        .open_bytes(&key.sealed_key, &binding(&key.id))
        .map_err(|e| AcmeProblem::internal("open the EAB key", &e))?;
    inner.verify_mac(&hmac)?;
    Ok(key.id)
}
