//! The operator's view of issuances that did not finish: serials reserved with
//! their TBSCertificate before signing whose certificate was never stored (a
//! crash, a lost database connection or a refused write between the signature
//! and the record). Such a certificate may exist outside: OCSP answers
//! "revoked" for its serial (RFC 6960 §2.2), and the operator can see who asked
//! for what (`topca-server issuance unfinished`).

use std::path::Path;

use topca_core::{
    audit::Actor,
    format_utc,
    store::{IssuanceStore, Reservation},
};
use topca_store::DieselStore;

use crate::setup::{Options, SetupError};

/// Most reservations listed at once.
pub const LIST_LIMIT: usize = 1_000;

/// Opens the database named by `database` (a URL), else the one of `options`,
/// without creating anything: a SQLite file that does not exist is an error.
pub fn open_existing(options: &Options, database: Option<&str>) -> Result<DieselStore, SetupError> {
    let url = match database.map(str::to_owned).or(options.database_url.clone()) {
        Some(url) => url,
        None => {
            let path = options.data_dir.join("topca.db");
            if !Path::new(&path).is_file() {
                return Err(SetupError::Usage(format!(
                    "there is no database at {}; give --data-dir or --database",
                    path.display()
                )));
            }
            format!("sqlite://{}", path.display())
        }
    };
    Ok(DieselStore::open(&url)?)
}

/// One line per reservation never marked issued, oldest first: serial, when,
/// profile, requester and the account and request it was for; or one line
/// saying there is none.
pub fn unfinished_report(store: &dyn IssuanceStore) -> Result<Vec<String>, topca_core::Error> {
    let open = store.unfinished_issuances(LIST_LIMIT)?;
    if open.is_empty() {
        return Ok(vec![
            "no unfinished issuance: every reserved serial was issued".to_owned(),
        ]);
    }
    let mut lines = vec![format!(
        "{} unfinished issuance(s) (reserved and possibly signed, never recorded as issued; OCSP answers revoked for them):",
        open.len()
    )];
    lines.extend(open.iter().map(describe));
    if open.len() == LIST_LIMIT {
        lines.push(format!("(the oldest {LIST_LIMIT} are shown)"));
    }
    Ok(lines)
}

fn describe(reservation: &Reservation) -> String {
    let requester = match &reservation.requester {
        Actor::User(email) => format!("user {email}"),
        Actor::Admin(name) => format!("administrator {name}"),
        Actor::System => "TopCA".to_owned(),
        Actor::Client(name) => format!("machine client {name}"),
    };
    let mut line = format!(
        "{}  reserved {}  profile {}  requested by {requester}",
        reservation.serial,
        format_utc(reservation.reserved_at),
        reservation.profile.label(),
    );
    if let Some(account) = reservation.account {
        line.push_str(&format!("  account {}", account.0));
    }
    if let Some(request) = reservation.request {
        line.push_str(&format!("  request {}", request.0));
    }
    line
}
