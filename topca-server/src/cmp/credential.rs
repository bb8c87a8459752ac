//! `topca-server cmp-credential add --account ID`, and the demo credential of
//! `--demo`: a reference and a secret for MAC-protected CMP, shown once (the
//! demo's at every start), the secret sealed under the KMC master key.

use topca_core::{
    OsRandom, SystemClock, audit::Actor, cmp::credential, kmc::MasterKey, ra::AccountId,
    store::AdminStore,
};
use topca_store::DieselStore;

use crate::{
    demo::DemoAccounts,
    setup::{Options, SetupError, master_key, open_store},
};

/// The setting naming the demo CMP credential's reference.
const DEMO_SETTING: &str = "demo_cmp_reference";

/// Makes a credential for `account`; returns the lines to print, the secret
/// among them (once).
pub fn add(options: &Options, account: u64) -> Result<Vec<String>, SetupError> {
    let store = open_store(options)?;
    let master = master_key(&options.data_dir)?;
    let (made, secret) = credential::add(
        &store,
        &master,
        &OsRandom,
        &SystemClock,
        Actor::Admin("command line".to_owned()),
        AccountId(account),
    )?;
    Ok(vec![
        format!("CMP credential for account {account} (the secret is shown this once):"),
        format!("reference: {}", made.reference),
        format!("secret:    {}", secret.as_str()),
        format!(
            "openssl cmp -cmd ir -server HOST:PORT -path .well-known/cmp -ref {} -secret pass:{} -newkey KEY.pem -subject /CN=NAME -certout cert.pem",
            made.reference,
            secret.as_str()
        ),
    ])
}

/// The demo CMP credential (made once, for the demo account whose policy
/// allows the demo server domain) as `(reference, secret)`, or `None`
/// without demo data.
pub fn demo(
    store: &DieselStore,
    master: &MasterKey,
    demo: &DemoAccounts,
) -> Result<Option<(String, String)>, SetupError> {
    // The second demo account is the server account (example.cn).
    let Some(account) = demo.accounts.get(1).copied() else {
        return Ok(None);
    };
    let known = store
        .setting(DEMO_SETTING)
        .map_err(topca_core::Error::from)?
        .map(|reference| topca_core::store::CmpStore::cmp_credential(store, &reference))
        .transpose()
        .map_err(topca_core::Error::from)?
        .flatten();
    let made = match known {
        Some(made) => made,
        None => {
            let (made, _) = credential::add(
                store,
                master,
                &OsRandom,
                &SystemClock,
                Actor::System,
                account,
            )?;
            store
                .put_setting(DEMO_SETTING, &made.reference)
                .map_err(topca_core::Error::from)?;
            made
        }
    };
    let secret = made.secret(master)?;
    Ok(Some((made.reference, secret.as_str().to_owned())))
}
