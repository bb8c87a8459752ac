//! `topca-server client add|list|revoke`: machine clients from the command line
//! (the operator adds them; the token is printed once and only its hash kept).

use topca_core::{
    OsRandom, SystemClock,
    audit::Actor,
    client::{ClientRegistry, MachineClient, profile_by_name, profile_name},
    format_utc,
    ra::AccountId,
};

use crate::setup::{Options, SetupError, open_store};

/// Most clients `client list` prints.
pub const LIST_LIMIT: usize = 1_000;

/// What `client add` asks for.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// The client's name.
    pub name: String,
    /// The account it issues for.
    pub account: u64,
    /// Profiles, comma-separated (`tls-server`, `tls-client`, `short-lived`);
    /// empty: TLS server.
    pub profiles: String,
    /// Domain suffixes, comma-separated; empty: the account's policy alone.
    pub allowed_names: String,
    /// The longest validity; `None`: the account's.
    pub validity_days: Option<u32>,
}

/// The operator acting from the command line, as the audit log names them.
fn operator() -> Actor {
    Actor::Admin("command line".to_owned())
}

/// Adds a client; returns the lines to print, the token among them (once).
pub fn add(options: &Options, spec: &ClientSpec) -> Result<Vec<String>, SetupError> {
    let profiles = spec
        .profiles
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            profile_by_name(p).ok_or_else(|| {
                SetupError::Usage(format!(
                    "unknown profile {p:?}; use tls-server, tls-client or short-lived"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let allowed_names = spec
        .allowed_names
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let store = open_store(options)?;
    let registry = ClientRegistry::new(&store, &OsRandom, &SystemClock);
    let (client, token) = registry.add(
        operator(),
        &spec.name,
        AccountId(spec.account),
        profiles,
        allowed_names,
        spec.validity_days,
    )?;
    Ok(vec![
        format!(
            "machine client {} added: {}",
            client.name,
            describe(&client)
        ),
        "its API token (shown this once; only its hash is kept):".to_owned(),
        token.as_str().to_owned(),
    ])
}

/// One line per client, oldest first.
pub fn list(options: &Options) -> Result<Vec<String>, SetupError> {
    let store = open_store(options)?;
    let registry = ClientRegistry::new(&store, &OsRandom, &SystemClock);
    let (clients, total) = registry.list(0, LIST_LIMIT)?;
    if clients.is_empty() {
        return Ok(vec!["no machine client".to_owned()]);
    }
    let mut lines: Vec<String> = clients
        .iter()
        .map(|c| format!("{}  {}  {}", c.id.0, c.name, describe(c)))
        .collect();
    if total > clients.len() as u64 {
        lines.push(format!(
            "(the first {} of {total} are shown)",
            clients.len()
        ));
    }
    Ok(lines)
}

/// Revokes the client named (or numbered) `name`.
pub fn revoke(options: &Options, name: &str) -> Result<String, SetupError> {
    let store = open_store(options)?;
    let registry = ClientRegistry::new(&store, &OsRandom, &SystemClock);
    let client = registry.revoke(operator(), name)?;
    Ok(format!(
        "machine client {} revoked: its token is refused from now on",
        client.name
    ))
}

/// A client's scope and state, on one line.
pub fn describe(client: &MachineClient) -> String {
    let profiles: Vec<&str> = client.profiles.iter().map(|p| profile_name(*p)).collect();
    let names = if client.allowed_names.is_empty() {
        "the account's policy".to_owned()
    } else {
        client.allowed_names.join(",")
    };
    let state = match client.revoked {
        Some(at) => format!("revoked {}", format_utc(at)),
        None => "active".to_owned(),
    };
    format!(
        "account {}  profiles {}  names {}  {} days  added {}  {}",
        client.account.0,
        profiles.join(","),
        names,
        client.validity_days,
        format_utc(client.created),
        state
    )
}
