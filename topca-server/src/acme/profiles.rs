//! Certificate profiles of a directory (draft-ietf-acme-profiles): the
//! directory's `meta.profiles` names the profiles its machine client may use
//! (`client add --profile tls-server,short-lived`), a newOrder's `profile`
//! picks one (else the client's first), and finalize issues under it.

use serde_json::{Map, Value, json};
use topca_core::{
    ProfileKind,
    client::{MachineClient, profile_by_name, profile_name},
    store::AccountStore,
};

use super::AcmeProblem;
use crate::AppState;

/// What an ACME client reads about `kind` when its certificates last `days`.
fn description(kind: ProfileKind, days: u32) -> String {
    if kind.no_revocation_info() {
        format!(
            "{}: valid {days} days, no CRL or OCSP pointers (RFC 9608 noRevAvail); renew instead of revoking",
            kind.label()
        )
    } else {
        format!(
            "{}: valid {days} days, revocation published by CRL and OCSP",
            kind.label()
        )
    }
}

/// The directory's `meta.profiles`: each profile `client` may use, by its
/// name, with what its certificates are.
pub(super) fn meta(state: &AppState, client: &MachineClient) -> Result<Value, AcmeProblem> {
    let account_days = state
        .store
        .account(client.account)?
        .map_or(client.validity_days, |a| a.settings.validity_days);
    let mut profiles = Map::new();
    for kind in &client.profiles {
        let days = client
            .validity_days
            .min(account_days)
            .min(kind.max_validity_days());
        profiles.insert(
            profile_name(*kind).to_owned(),
            json!(description(*kind, days)),
        );
    }
    Ok(Value::Object(profiles))
}

/// The profile a newOrder `payload` selects from `client`'s: its `profile`
/// (`invalidProfile` when the directory does not offer it), else the first.
pub(super) fn selected(
    client: &MachineClient,
    payload: &Value,
) -> Result<ProfileKind, AcmeProblem> {
    match payload.get("profile") {
        None | Some(Value::Null) => client
            .profiles
            .first()
            .copied()
            .ok_or_else(|| AcmeProblem::invalid_profile("this directory offers no profile")),
        Some(Value::String(name)) => profile_by_name(name)
            .filter(|kind| client.profiles.contains(kind))
            .ok_or_else(|| {
                let offered: Vec<&str> = client.profiles.iter().map(|k| profile_name(*k)).collect();
                let shown: String = name.chars().take(64).collect();
                AcmeProblem::invalid_profile(format!(
                    "this directory does not offer the profile {shown:?}; it offers {}",
                    offered.join(", ")
                ))
            }),
        Some(_) => Err(AcmeProblem::malformed("profile must be a string")),
    }
}
