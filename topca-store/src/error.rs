//! Why a database could not be opened.

use thiserror::Error;

/// Why a database could not be opened. URLs in messages have their password masked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is not a database URL TopCA understands.
    #[error(
        "the database URL {0} is not valid; use sqlite:///path/to/topca.db (or a file path) or postgres://user:password@host/database"
    )]
    Url(String),
    /// The database cannot be reached or opened.
    #[error(
        "cannot open the database {url}: {reason}. Check that the server is running and reachable, and that the user, password and database name are right (for SQLite: that the folder exists and is writable)"
    )]
    Connect {
        /// The URL, password masked.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// The database was written by a newer TopCA.
    #[error(
        "the database {url} has schema version {found}, newer than this TopCA knows ({known}); use a newer TopCA, or restore a backup made for this version. Nothing was changed"
    )]
    NewerSchema {
        /// The URL, password masked.
        url: String,
        /// The version found.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// A migration failed.
    #[error("upgrading the database {url} failed: {reason}; nothing was changed")]
    Migration {
        /// The URL, password masked.
        url: String,
        /// What the database said.
        reason: String,
    },
}

/// `scheme://user:****@host…`: the URL with any password replaced.
pub(crate) fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:****@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}
