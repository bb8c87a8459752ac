//! Orders, authorizations and challenges (RFC 8555 §7.4, §7.5): an order names
//! DNS identifiers that the ACME profile's policy allows (wildcards if the
//! account's policy allows them), and IP address identifiers (RFC 8738) when
//! the account's server policy allows IP addresses (`unsupportedIdentifier`
//! otherwise); it may select one of the directory's certificate profiles
//! ([`super::profiles`]). Each identifier gets an authorization with http-01,
//! dns-01 and tls-alpn-01 challenges (a wildcard only dns-01, an IP address
//! no dns-01), one of which the client answers to start its validation
//! ([`super::challenge`]).

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, Uri},
    response::Response,
};
use serde_json::{Value, json};
use topca_core::{
    SubjectAltNames,
    client::{MachineClient, profile_name},
    format_rfc3339,
    ra::ServerPolicy,
    store::{
        AccountStore, AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder, AcmeStatus,
        AcmeStore,
    },
};

use super::{
    AcmeProblem, Reply, base, challenge, limits, profile_client, profiles, random_id, signed,
};
use crate::AppState;

/// How long an order and its authorizations stay open.
const ORDER_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most identifiers one order may name.
const MAX_IDENTIFIERS: usize = 100;

/// The URL of order `id`.
pub(super) fn order_url(state: &AppState, id: &str) -> String {
    format!("{}/order/{id}", base(state))
}

fn authorization_url(state: &AppState, id: &str) -> String {
    format!("{}/authz/{id}", base(state))
}

/// The order as the protocol shows it.
pub(super) fn order_view(state: &AppState, order: &AcmeOrder) -> Value {
    let mut view = json!({
        "status": order.status.label(),
        "expires": format_rfc3339(order.expires),
        "identifiers": order
            .identifiers
            .iter()
            .map(|name| identifier_view(name))
            .collect::<Vec<_>>(),
        "authorizations": order
            .authorizations
            .iter()
            .map(|id| authorization_url(state, id))
            .collect::<Vec<_>>(),
        "finalize": format!("{}/finalize", order_url(state, &order.id)),
    });
    if let Some(kind) = order.profile {
        view["profile"] = json!(profile_name(kind));
    }
    if order.certificate.is_some() {
        view["certificate"] = json!(format!("{}/cert/{}", base(state), order.id));
    }
    if let Some(error) = order
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
    {
        view["error"] = error;
    }
    view
}

fn challenge_view(state: &AppState, challenge: &AcmeChallenge) -> Value {
    let mut view = json!({
        "type": challenge.kind,
        "url": format!("{}/chall/{}", base(state), challenge.id),
        "status": challenge.status.label(),
        "token": challenge.token,
    });
    if let Some(at) = challenge.validated {
        view["validated"] = json!(format_rfc3339(at));
    }
    if let Some(error) = challenge
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
    {
        view["error"] = error;
    }
    view
}

/// The name an authorization validates: its identifier without the `*.` of
/// a wildcard (RFC 8555 §7.1.4).
fn validated_name(identifier: &str) -> &str {
    identifier.strip_prefix("*.").unwrap_or(identifier)
}

/// Whether a stored identifier is an IP address (RFC 8738): a DNS identifier
/// never parses as one (such names are refused when ordered).
pub(super) fn is_ip(identifier: &str) -> bool {
    identifier.parse::<IpAddr>().is_ok()
}

/// An identifier as the protocol shows it: `{"type": "ip"|"dns", "value"}`.
fn identifier_view(name: &str) -> Value {
    let kind = if is_ip(name) { "ip" } else { "dns" };
    json!({"type": kind, "value": name})
}

fn authorization_view(state: &AppState, authorization: &AcmeAuthorization) -> Value {
    let mut view = json!({
        "status": authorization.status.label(),
        "expires": format_rfc3339(authorization.expires),
        "identifier": identifier_view(validated_name(&authorization.identifier)),
        "challenges": authorization
            .challenges
            .iter()
            .map(|c| challenge_view(state, c))
            .collect::<Vec<_>>(),
    });
    if authorization.identifier.starts_with("*.") {
        view["wildcard"] = json!(true);
    }
    view
}

/// The challenges of a new authorization of `name`: http-01, dns-01 and
/// tls-alpn-01, only dns-01 for a wildcard, no dns-01 for an IP address
/// (RFC 8738 §7).
fn challenges(
    state: &AppState,
    authorization: &str,
    name: &str,
) -> Result<Vec<AcmeChallenge>, AcmeProblem> {
    let kinds: &[&str] = if name.starts_with("*.") {
        &[challenge::DNS_01]
    } else if is_ip(name) {
        &[challenge::HTTP_01, challenge::TLS_ALPN_01]
    } else {
        &[
            challenge::HTTP_01,
            challenge::DNS_01,
            challenge::TLS_ALPN_01,
        ]
    };
    kinds
        .iter()
        .map(|kind| {
            Ok(AcmeChallenge {
                id: random_id(state)?,
                authorization: authorization.to_owned(),
                kind: (*kind).to_owned(),
                token: random_id(state)?,
                status: AcmeStatus::Pending,
                validated: None,
                error: None,
            })
        })
        .collect()
}

/// Order `id` if `account` placed it (another's is as unknown as a missing one).
pub(super) fn own_order(
    state: &AppState,
    account: &AcmeAccount,
    id: &str,
) -> Result<AcmeOrder, AcmeProblem> {
    let order = state
        .store
        .acme_order(id)?
        .filter(|o| o.account == account.id)
        .ok_or_else(|| AcmeProblem::not_found("order"))?;
    let open = matches!(order.status, AcmeStatus::Pending | AcmeStatus::Ready);
    if open && order.expires <= state.ca.environment().clock().now() {
        // Past its time: invalid from now on (RFC 8555 §7.1.6).
        let expired = AcmeOrder {
            status: AcmeStatus::Invalid,
            ..order.clone()
        };
        state.store.update_acme_order(&expired, order.status)?;
        return Ok(expired);
    }
    Ok(order)
}

/// The identifiers of a newOrder payload: DNS names in lower case and, when
/// `ip_allowed`, IP addresses in their canonical text; sorted, once each.
fn identifiers(payload: &Value, ip_allowed: bool) -> Result<Vec<String>, AcmeProblem> {
    let list = payload
        .get("identifiers")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| AcmeProblem::malformed("identifiers must be a non-empty array"))?;
    if list.len() > MAX_IDENTIFIERS {
        return Err(AcmeProblem::rejected_identifier(format!(
            "an order names at most {MAX_IDENTIFIERS} identifiers"
        )));
    }
    let mut names = Vec::with_capacity(list.len());
    for identifier in list {
        let kind = identifier.get("type").and_then(Value::as_str);
        let value = identifier
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| AcmeProblem::malformed("an identifier has no value"))?;
        match kind {
            Some("dns") => names.push(dns_name(value)?),
            Some("ip") if ip_allowed => names.push(ip_address(value)?),
            Some("ip") => {
                return Err(AcmeProblem::unsupported_identifier(
                    "IP address identifiers are not enabled for this ACME directory \
                     (its account's server policy does not allow IP addresses)",
                ));
            }
            _ => {
                return Err(AcmeProblem::unsupported_identifier(
                    "only dns and ip identifiers are taken",
                ));
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// `value` as a DNS identifier: lower case, without a final dot.
fn dns_name(value: &str) -> Result<String, AcmeProblem> {
    let name = value.trim_end_matches('.').to_ascii_lowercase();
    let mut probe = SubjectAltNames::default();
    if probe.add_host(&name).is_err() || !probe.ip_addresses.is_empty() {
        return Err(AcmeProblem::rejected_identifier(format!(
            "{value:?} is not a DNS name"
        )));
    }
    probe
        .dns_names
        .pop()
        .ok_or_else(|| AcmeProblem::rejected_identifier(format!("{value:?} is not a DNS name")))
}

/// `value` as an IP identifier (RFC 8738 §3: an IPv4 address in dotted
/// decimal, an IPv6 address as RFC 5952 writes it): its canonical text. An
/// address no certificate should name (unspecified, multicast, broadcast) is
/// refused.
fn ip_address(value: &str) -> Result<String, AcmeProblem> {
    let shown: String = value.chars().take(64).collect();
    let address: IpAddr = value
        .parse()
        .map_err(|_| AcmeProblem::malformed(format!("{shown:?} is not an IP address")))?;
    let unusable = address.is_unspecified()
        || address.is_multicast()
        || matches!(address, IpAddr::V4(v4) if v4.is_broadcast());
    if unusable {
        return Err(AcmeProblem::rejected_identifier(format!(
            "{address} cannot be certified"
        )));
    }
    Ok(address.to_string())
}

/// Checks `names` against the account's server `policy` and the profile's own
/// name suffixes, as machine-client issuance will.
fn check_policy(
    client: &MachineClient,
    policy: &ServerPolicy,
    names: &[String],
) -> Result<(), AcmeProblem> {
    let mut alt = SubjectAltNames::default();
    for name in names {
        alt.add_host(name)
            .map_err(|e| AcmeProblem::rejected_identifier(e.to_string()))?;
    }
    policy
        .check(&alt)
        .map_err(|e| AcmeProblem::rejected_identifier(e.to_string()))?;
    if !client.allowed_names.is_empty() {
        ServerPolicy {
            allowed_domains: client.allowed_names.clone(),
            ..policy.clone()
        }
        .check(&alt)
        .map_err(|e| AcmeProblem::rejected_identifier(e.to_string()))?;
    }
    Ok(())
}

/// `POST /acme/new-order`.
pub(super) async fn new_order(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, |s, request| {
        let account = request.account()?.clone();
        let client = profile_client(s, &account.profile)
            .map_err(|_| AcmeProblem::unauthorized("this ACME profile is disabled"))?;
        let payload = request.json()?;
        if payload.get("notBefore").is_some() || payload.get("notAfter").is_some() {
            return Err(AcmeProblem::malformed(
                "notBefore and notAfter are not taken: the profile sets the validity",
            ));
        }
        let profile = profiles::selected(&client, &payload)?;
        let policy = s.store.server_policy(client.account)?.unwrap_or_default();
        let names = identifiers(&payload, policy.allow_ip_addresses)?;
        check_policy(&client, &policy, &names)?;
        limits::count_new_order(s, s.acme.order_limits, &account.id, &names)?;
        let expires = s.ca.environment().clock().now() + ORDER_LIFETIME;
        let order_id = random_id(s)?;
        let mut authorizations = Vec::with_capacity(names.len());
        for name in &names {
            let id = random_id(s)?;
            authorizations.push(AcmeAuthorization {
                challenges: challenges(s, &id, name)?,
                id,
                order: order_id.clone(),
                identifier: name.clone(),
                status: AcmeStatus::Pending,
                expires,
            });
        }
        let order = AcmeOrder {
            id: order_id,
            account: account.id.clone(),
            identifiers: names,
            profile: Some(profile),
            status: AcmeStatus::Pending,
            expires,
            error: None,
            certificate: None,
            authorizations: authorizations.iter().map(|a| a.id.clone()).collect(),
        };
        s.store.create_acme_order(&order, &authorizations)?;
        Ok(Reply::json(StatusCode::CREATED, order_view(s, &order)).at(order_url(s, &order.id)))
    })
    .await
}

/// `POST /acme/order/{id}` (POST-as-GET).
pub(super) async fn order(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let order = own_order(s, request.account()?, &id)?;
        Ok(Reply::json(StatusCode::OK, order_view(s, &order)).at(order_url(s, &order.id)))
    })
    .await
}

/// Authorization `id` with its order, if `account` placed the order.
fn own_authorization(
    state: &AppState,
    account: &AcmeAccount,
    id: &str,
) -> Result<(AcmeAuthorization, AcmeOrder), AcmeProblem> {
    let authorization = state
        .store
        .acme_authorization(id)?
        .ok_or_else(|| AcmeProblem::not_found("authorization"))?;
    let order = own_order(state, account, &authorization.order)
        .map_err(|_| AcmeProblem::not_found("authorization"))?;
    Ok((authorization, order))
}

/// `POST /acme/authz/{id}`: the authorization (POST-as-GET), or
/// `{"status": "deactivated"}`, which also ends its order.
pub(super) async fn authorization(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let (mut authorization, order) = own_authorization(s, request.account()?, &id)?;
        let payload = request.json()?;
        match payload.get("status") {
            None => {}
            Some(Value::String(status)) if status == "deactivated" => {
                s.store
                    .set_acme_authorization_status(&authorization.id, AcmeStatus::Deactivated)?;
                authorization.status = AcmeStatus::Deactivated;
                for from in [AcmeStatus::Pending, AcmeStatus::Ready] {
                    let ended = AcmeOrder {
                        status: AcmeStatus::Invalid,
                        ..order.clone()
                    };
                    s.store.update_acme_order(&ended, from)?;
                }
            }
            Some(_) => {
                return Err(AcmeProblem::malformed(
                    "an authorization's status can only be set to deactivated",
                ));
            }
        }
        Ok(Reply::json(
            StatusCode::OK,
            authorization_view(s, &authorization),
        ))
    })
    .await
}

/// `POST /acme/chall/{id}`: `{}` starts the validation of a pending
/// challenge (answered at once, validated outside the request);
/// POST-as-GET shows it.
pub(super) async fn challenge(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    signed(state, uri, body, move |s, request| {
        let account = request.account()?.clone();
        let mut challenge = s
            .store
            .acme_challenge(&id)?
            .ok_or_else(|| AcmeProblem::not_found("challenge"))?;
        let (authorization, order) = own_authorization(s, &account, &challenge.authorization)
            .map_err(|_| AcmeProblem::not_found("challenge"))?;
        request.json()?;
        let startable = challenge.status == AcmeStatus::Pending
            && authorization.status == AcmeStatus::Pending
            && order.status == AcmeStatus::Pending;
        if !request.is_get() && startable {
            let processing = AcmeChallenge {
                status: AcmeStatus::Processing,
                ..challenge.clone()
            };
            if s.store.update_acme_challenge(
                &processing,
                AcmeStatus::Pending,
                AcmeStatus::Pending,
            )? {
                challenge::start(
                    Arc::clone(s),
                    challenge::Validation {
                        challenge: processing.clone(),
                        identifier: validated_name(&authorization.identifier).to_owned(),
                        key_authorization: format!("{}.{}", processing.token, account.thumbprint),
                        order: order.id.clone(),
                    },
                );
                challenge = processing;
            }
        }
        Ok(Reply::json(StatusCode::OK, challenge_view(s, &challenge))
            .link(&authorization_url(s, &authorization.id), "up"))
    })
    .await
}
