//! Certificate queries (查询用户证书): by e-mail or by user name, with status and
//! validity filters.

use std::time::SystemTime;

use crate::store::{CertificateRecord, CertificateStatus};

/// Whose certificates to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderQuery {
    /// By the holder's e-mail (case-insensitive).
    Email(String),
    /// By the holder's name.
    Name(String),
}

/// Which certificates to keep, by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Not revoked and not expired.
    Valid,
    /// Revoked.
    Revoked,
    /// Not revoked, but past their end of validity.
    Expired,
}

/// A certificate search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateQuery {
    /// Whose certificates.
    pub holder: HolderQuery,
    /// Keep only this status.
    pub status: Option<StatusFilter>,
    /// Keep only certificates ending at or after this time.
    pub not_after_from: Option<SystemTime>,
    /// Keep only certificates ending at or before this time.
    pub not_after_until: Option<SystemTime>,
}

impl CertificateQuery {
    /// Whether `record` passes the filters at time `now`.
    pub fn keeps(&self, record: &CertificateRecord, now: SystemTime) -> bool {
        let status_ok = match self.status {
            None => true,
            Some(StatusFilter::Revoked) => record.status == CertificateStatus::Revoked,
            Some(StatusFilter::Valid) => {
                record.status == CertificateStatus::Valid && record.not_after > now
            }
            Some(StatusFilter::Expired) => {
                record.status == CertificateStatus::Valid && record.not_after <= now
            }
        };
        status_ok
            && self
                .not_after_from
                .is_none_or(|from| record.not_after >= from)
            && self
                .not_after_until
                .is_none_or(|until| record.not_after <= until)
    }
}
