//! Lists read one page at a time: the audit log filtered by action, actor, time
//! and text; escrowed keys and key recoveries searched by text. Each store
//! method answers the page asked for and how many rows match in all, so a
//! console never loads a whole table; the trait's default filters in memory and
//! the database store runs the same filter as one query.

use std::time::SystemTime;

use crate::{
    audit::{AuditAction, AuditRecord},
    kmc::{Recovery, RecoveryState},
    store::EscrowRecord,
};

/// One page of a longer list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// How many rows match in all (on every page).
    pub total: u64,
    /// The rows of this page.
    pub rows: Vec<T>,
}

impl<T> Page<T> {
    /// The page of `matching` (already in display order) that starts after
    /// `offset` rows and holds at most `limit`.
    pub fn of(matching: impl Iterator<Item = T>, offset: u64, limit: u64) -> Self {
        let mut total = 0u64;
        let mut rows = Vec::new();
        for row in matching {
            if total >= offset && (rows.len() as u64) < limit {
                rows.push(row);
            }
            total += 1;
        }
        Self { total, rows }
    }
}

/// Whether `haystack` contains `needle`, ignoring case; an empty needle is in
/// every haystack.
pub fn contains_folded(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// What the audit log is filtered by; every condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The actions shown: what the reader may read, narrowed by the kind they
    /// picked. Empty shows nothing.
    pub actions: Vec<AuditAction>,
    /// Text the actor's name contains (case ignored; empty for any).
    pub actor: String,
    /// Text the target or the detail contains (case ignored; empty for any).
    pub text: String,
    /// Entries at or after this time.
    pub from: Option<SystemTime>,
    /// Entries before this time.
    pub until: Option<SystemTime>,
}

impl AuditQuery {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.actions.contains(&record.action)
            && contains_folded(record.actor.to_parts().1, &self.actor)
            && (contains_folded(&record.target, &self.text)
                || contains_folded(&record.detail, &self.text))
            && self.from.is_none_or(|from| record.at >= from)
            && self.until.is_none_or(|until| record.at < until)
    }
}

/// What a list of key recoveries is filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryQuery {
    /// Only recoveries in this state (any without).
    pub state: Option<RecoveryState>,
    /// Text the serial, the holder's name or e-mail, or the requester contains
    /// (case ignored; empty for any).
    pub text: String,
}

impl RecoveryQuery {
    /// Whether `recovery` passes the filter.
    pub fn matches(&self, recovery: &Recovery) -> bool {
        self.state.is_none_or(|state| recovery.state == state)
            && [
                &recovery.encryption_serial,
                &recovery.email,
                &recovery.holder_name,
                &recovery.requested_by,
            ]
            .into_iter()
            .any(|field| contains_folded(field, &self.text))
    }
}

/// Whether the escrowed key `record` matches the search `text`: its serials or
/// its holder's e-mail contain it (case ignored; empty for every key).
pub fn escrow_matches(record: &EscrowRecord, text: &str) -> bool {
    [
        &record.encryption_serial,
        &record.signing_serial,
        &record.email,
    ]
    .into_iter()
    .any(|field| contains_folded(field, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_counts_every_match_and_keeps_only_its_rows() {
        let page = Page::of(1..=10, 3, 4);
        assert_eq!(page.total, 10);
        assert_eq!(page.rows, [4, 5, 6, 7]);
        let beyond = Page::of(1..=10, 50, 4);
        assert_eq!((beyond.total, beyond.rows.len()), (10, 0));
    }

    #[test]
    fn text_matches_ignore_case_and_an_empty_needle_matches_all() {
        assert!(contains_folded("Key compromise", "KEY"));
        assert!(contains_folded("王管理员", "管理"));
        assert!(contains_folded("anything", ""));
        assert!(!contains_folded("abc", "%"));
    }
}
