//! Demonstration data: three accounts of [`DEMO_ORGANIZATION`] (two of them with
//! automatic approval), made only when the data directory's first start asks for
//! them (`--demo`), and only once.
//!
//! The choice is kept in the database ([`DEMO_SETTING`]): a CA first started
//! without `--demo` refuses `--demo` later, and the demo accounts, once made, are
//! never made again (an RA administrator who changed or retired them keeps them
//! that way). Pages mark the demo accounts "演示".

use topca_core::{
    KeyAlgorithm, OsRandom,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    client::{ClientToken, NewClient},
    lifecycle::{CertificateType, VerificationMode},
    profile::ProfileKind,
    ra::{AccountId, AccountSettings, Language},
    store::{AccountStore, AdminStore, ClientStore},
};
use topca_store::DieselStore;

use crate::setup::SetupError;

/// The demo accounts' organisation.
pub const DEMO_ORGANIZATION: &str = "TopCA 演示单位";

/// The domain the demo server account's certificates may name (its policy's
/// only allowed domain).
pub const DEMO_SERVER_DOMAIN: &str = "example.cn";

/// The name the demo ACME profile issues for (ACME clients on this machine).
pub const DEMO_ACME_NAME: &str = "localhost";

/// The setting recording whether this CA holds demonstration data (`on`/`off`),
/// written at the first start.
pub const DEMO_SETTING: &str = "demo_data";

/// The setting listing the demo accounts' numbers (comma-separated).
const DEMO_ACCOUNTS: &str = "demo_accounts";

/// The demo accounts of this CA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoAccounts {
    /// Every demo account, the automatic single-certificate one first.
    pub accounts: Vec<AccountId>,
}

impl DemoAccounts {
    /// Whether `id` is a demo account.
    pub fn contains(&self, id: AccountId) -> bool {
        self.accounts.contains(&id)
    }

    /// The first demo account (automatic approval, single certificate).
    pub fn first(&self) -> Option<AccountId> {
        self.accounts.first().copied()
    }
}

/// Records at the first start whether this CA holds demonstration data, makes the
/// demo accounts then (with `demo`), and returns them on every start. `--demo` on
/// a CA first started without it is refused.
pub fn prepare(
    store: &DieselStore,
    demo: bool,
    algorithm: KeyAlgorithm,
    base_url: &str,
) -> Result<DemoAccounts, SetupError> {
    let recorded = store
        .setting(DEMO_SETTING)
        .map_err(topca_core::Error::from)?;
    let on = match recorded.as_deref() {
        Some("on") => true,
        Some(_) if demo => {
            return Err(SetupError::Usage(
                "this data directory was first started without --demo: demonstration accounts \
                 are never added to a real CA. Start it without --demo, or give --demo with a \
                 new --data-dir"
                    .into(),
            ));
        }
        Some(_) => false,
        None => {
            // A data directory from before the choice was recorded keeps the
            // demo accounts it already has, and gets none otherwise.
            let earlier: Vec<AccountId> = store
                .search_accounts(DEMO_ORGANIZATION, 10)
                .map_err(topca_core::Error::from)?
                .into_iter()
                .filter(|a| a.settings.organization == DEMO_ORGANIZATION)
                .map(|a| a.id)
                .collect();
            let made = if !earlier.is_empty() {
                earlier
            } else if demo {
                create(store, algorithm, base_url)?
            } else {
                Vec::new()
            };
            let on = !made.is_empty();
            let list: Vec<String> = made.iter().map(|id| id.0.to_string()).collect();
            store
                .put_setting(DEMO_ACCOUNTS, &list.join(","))
                .map_err(topca_core::Error::from)?;
            store
                .put_setting(DEMO_SETTING, if on { "on" } else { "off" })
                .map_err(topca_core::Error::from)?;
            on
        }
    };
    if !on {
        return Ok(DemoAccounts::default());
    }
    let accounts = store
        .setting(DEMO_ACCOUNTS)
        .map_err(topca_core::Error::from)?
        .unwrap_or_default()
        .split(',')
        .filter_map(|n| n.trim().parse().ok().map(AccountId))
        .collect();
    Ok(DemoAccounts { accounts })
}

/// Makes the three demo accounts.
fn create(
    store: &DieselStore,
    algorithm: KeyAlgorithm,
    base_url: &str,
) -> Result<Vec<AccountId>, SetupError> {
    // Ed25519 has no TLS server or dual-certificate use here: P-256 instead.
    let usable = if algorithm == KeyAlgorithm::Ed25519 {
        KeyAlgorithm::EcdsaP256
    } else {
        algorithm
    };
    [
        (
            "演示部门",
            CertificateType::Single,
            VerificationMode::Automatic,
            "userEnroll",
            algorithm,
        ),
        (
            "服务器证书",
            CertificateType::Single,
            VerificationMode::Manual,
            "serverEnroll",
            usable,
        ),
        (
            "双证书部门",
            CertificateType::Dual,
            VerificationMode::Automatic,
            "userEnroll",
            usable,
        ),
    ]
    .into_iter()
    .map(
        |(unit, certificate_type, verification, centre, algorithm)| {
            store
                .create_account(AccountSettings {
                    organization: DEMO_ORGANIZATION.into(),
                    unit: unit.into(),
                    certificate_type,
                    verification,
                    algorithm,
                    validity_days: 365,
                    service_url: format!("{base_url}/TopCA/{centre}"),
                    language: Language::Chinese,
                })
                .and_then(|account| {
                    if verification == VerificationMode::Manual {
                        // The demo server account may name the documentation
                        // domain, and `localhost` for the demo ACME profile,
                        // wildcards included (`*.localhost` over dns-01).
                        let policy = topca_core::ra::ServerPolicy {
                            allowed_domains: vec![DEMO_SERVER_DOMAIN.into(), DEMO_ACME_NAME.into()],
                            allow_wildcards: true,
                            ..Default::default()
                        };
                        store.put_server_policy(account.id, &policy)?;
                        enable_acme(store, account.id)?;
                    }
                    Ok(account.id)
                })
                .map_err(|e| SetupError::Ca(e.into()))
        },
    )
    .collect()
}

/// Enables the default ACME profile (`/acme/directory`) for the demo server
/// account, for the name [`DEMO_ACME_NAME`] only: the machine client `acme`
/// whose token is never shown (ACME clients sign with their own keys).
fn enable_acme(store: &DieselStore, account: AccountId) -> Result<(), topca_core::StoreError> {
    let (_, token_hash) = ClientToken::generate(&OsRandom)
        .map_err(|e| topca_core::StoreError::Backend(e.to_string()))?;
    let now = std::time::SystemTime::now();
    store.create_client(
        NewClient {
            name: "acme".into(),
            account,
            profiles: vec![ProfileKind::TlsServer],
            allowed_names: vec![DEMO_ACME_NAME.into()],
            validity_days: 90,
            token_hash,
            created: now,
        },
        AuditRecord {
            at: now,
            actor: Actor::System,
            action: AuditAction::ClientAdded,
            target: "client acme".into(),
            outcome: Outcome::Success,
            detail: format!("account {}", account.0),
        },
    )?;
    Ok(())
}
