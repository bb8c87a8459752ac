//! An in-memory store for tests and small embeddings. One mutex makes every method
//! atomic; updates are compare-and-set on the request version.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

mod batch;
mod issuance;

use crate::{
    audit::{AuditEntry, AuditKey, AuditRecord},
    error::StoreError,
    kmc::{NewRecovery, Recovery, RecoveryId, RecoveryState},
    lifecycle::RequestState,
    ra::admin::AdminRecord,
    ra::{Account, AccountId, AccountSettings, Request, RequestId, RequestRef, ServerPolicy},
    store::{
        AccountStore, AdminSession, AdminStore, AuditStore, CertificateRecord, CertificateStatus,
        CertificateStore, CrlRecord, CrlStore, EscrowRecord, EscrowStore, LoginAttempt, NewRequest,
        OutboxStore, Page, QueuedMail, RecoveryQuery, RequestChange, RequestStore, Reservation,
        Revocation, SessionStore, check_reserved, escrow_matches, tbs_sha256,
    },
};

/// Everything in memory, behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    audit_key: Option<AuditKey>,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: BTreeMap<AccountId, Account>,
    requests: BTreeMap<RequestId, Request>,
    /// Holder-secret attempts per (request, source): count and end of window.
    attempts: BTreeMap<(RequestId, String), (u32, SystemTime)>,
    certificates: BTreeMap<String, CertificateRecord>,
    /// Serials reserved before signing, by serial.
    reservations: BTreeMap<String, Reservation>,
    audit: Vec<AuditEntry>,
    crls: Vec<CrlRecord>,
    escrow: BTreeMap<String, EscrowRecord>,
    /// In the order they were made.
    recoveries: Vec<Recovery>,
    admins: BTreeMap<String, AdminRecord>,
    settings: BTreeMap<String, String>,
    sessions: BTreeMap<[u8; 32], AdminSession>,
    server_policies: BTreeMap<AccountId, ServerPolicy>,
    outbox: BTreeMap<u64, QueuedMail>,
    next_mail: u64,
    /// Forgets the compare-and-set, to show the conformance suite catches it.
    #[cfg(test)]
    last_writer_wins: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// This store, MACing new audit entries under `key` (see [`crate::audit`]).
    pub fn with_audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Some(key);
        self
    }

    fn certificates_where(
        &self,
        keep: impl Fn(&CertificateRecord) -> bool,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let mut found: Vec<CertificateRecord> = self
            .lock()?
            .certificates
            .values()
            .filter(|c| keep(c))
            .cloned()
            .collect();
        found.sort_by_key(|c| std::cmp::Reverse(c.not_before));
        Ok(found)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("a thread panicked while holding the store".into()))
    }
}

impl Inner {
    /// Checks everything `change` needs before anything is written, so a refusal
    /// leaves the store as it was.
    fn check(&self, change: &RequestChange) -> Result<(), StoreError> {
        let stored = self
            .requests
            .get(&change.request.id)
            .ok_or(StoreError::NotFound)?;
        #[cfg(test)]
        let stale = stored.version != change.request.version && !self.last_writer_wins;
        #[cfg(not(test))]
        let stale = stored.version != change.request.version;
        if stale {
            return Err(StoreError::Conflict);
        }
        if let Some(revocation) = &change.revoke {
            let record = self
                .certificates
                .get(&revocation.serial.to_ascii_uppercase())
                .ok_or(StoreError::NotFound)?;
            if record.status != CertificateStatus::Valid {
                return Err(StoreError::AlreadyRevoked(record.serial.clone()));
            }
        }
        for (i, record) in change.issued.iter().enumerate() {
            let repeated = change.issued[..i].iter().any(|r| r.serial == record.serial);
            if repeated || self.certificates.contains_key(&record.serial) {
                return Err(StoreError::DuplicateSerial(record.serial.clone()));
            }
            check_reserved(
                &record.serial,
                &tbs_sha256(&record.der)?,
                self.reservations.get(&record.serial),
            )?;
        }
        if let Some(escrow) = &change.escrow
            && self.escrow.contains_key(&escrow.encryption_serial)
        {
            return Err(StoreError::DuplicateSerial(
                escrow.encryption_serial.clone(),
            ));
        }
        Ok(())
    }

    /// Stores a checked certificate and closes its reservation.
    fn store_issued(&mut self, record: CertificateRecord) {
        if let Some(reservation) = self.reservations.get_mut(&record.serial) {
            reservation.issued = true;
        }
        self.certificates.insert(record.serial.clone(), record);
    }

    /// Chains `record` after the newest audit entry.
    fn append_audit(&mut self, record: AuditRecord, key: Option<&AuditKey>) -> AuditEntry {
        let entry = AuditEntry::append(self.audit.last(), record, key);
        self.audit.push(entry.clone());
        entry
    }

    fn revoke(&mut self, revocation: &Revocation) -> Result<CertificateRecord, StoreError> {
        let record = self
            .certificates
            .get_mut(&revocation.serial.to_ascii_uppercase())
            .ok_or(StoreError::NotFound)?;
        if record.status != CertificateStatus::Valid {
            return Err(StoreError::AlreadyRevoked(record.serial.clone()));
        }
        record.status = CertificateStatus::Revoked;
        record.revocation = Some((revocation.at, revocation.reason));
        Ok(record.clone())
    }
}

impl AccountStore for MemoryStore {
    fn create_account(&self, settings: AccountSettings) -> Result<Account, StoreError> {
        let mut inner = self.lock()?;
        let id = AccountId(inner.accounts.keys().next_back().map_or(1, |k| k.0 + 1));
        let account = Account { id, settings };
        inner.accounts.insert(id, account.clone());
        Ok(account)
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(self.lock()?.accounts.get(&id).cloned())
    }

    fn update_account(&self, account: &Account) -> Result<Account, StoreError> {
        let mut inner = self.lock()?;
        let stored = inner
            .accounts
            .get_mut(&account.id)
            .ok_or(StoreError::NotFound)?;
        *stored = account.clone();
        Ok(account.clone())
    }

    fn search_accounts(&self, keyword: &str, limit: usize) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .lock()?
            .accounts
            .values()
            .filter(|a| a.settings.matches_keyword(keyword))
            .take(limit)
            .cloned()
            .collect())
    }

    fn server_policy(&self, account: AccountId) -> Result<Option<ServerPolicy>, StoreError> {
        Ok(self.lock()?.server_policies.get(&account).cloned())
    }

    fn put_server_policy(
        &self,
        account: AccountId,
        policy: &ServerPolicy,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if !inner.accounts.contains_key(&account) {
            return Err(StoreError::NotFound);
        }
        inner.server_policies.insert(account, policy.clone());
        Ok(())
    }
}

impl RequestStore for MemoryStore {
    fn submit_request(&self, new: NewRequest) -> Result<Request, StoreError> {
        let mut inner = self.lock()?;
        let id = RequestId(inner.requests.keys().next_back().map_or(1, |k| k.0 + 1));
        if inner
            .requests
            .values()
            .any(|r| r.reference == new.reference)
        {
            return Err(StoreError::Conflict);
        }
        let request = new.into_request(id);
        inner.requests.insert(id, request.clone());
        Ok(request)
    }

    fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError> {
        Ok(self.lock()?.requests.get(&id).cloned())
    }

    fn request_by_reference(&self, reference: &RequestRef) -> Result<Option<Request>, StoreError> {
        Ok(self
            .lock()?
            .requests
            .values()
            .find(|r| &r.reference == reference)
            .cloned())
    }

    fn requests_in_state(
        &self,
        account: AccountId,
        state: RequestState,
    ) -> Result<Vec<Request>, StoreError> {
        Ok(self
            .lock()?
            .requests
            .values()
            .filter(|r| r.account == account && r.state == state)
            .cloned()
            .collect())
    }

    fn commit_request(&self, change: RequestChange) -> Result<Request, StoreError> {
        let mut inner = self.lock()?;
        inner.check(&change)?;
        if let Some(revocation) = &change.revoke {
            inner.revoke(revocation)?;
        }
        for record in change.issued {
            inner.store_issued(record);
        }
        if let Some(escrow) = change.escrow {
            inner
                .escrow
                .insert(escrow.encryption_serial.clone(), escrow);
        }
        let mut updated = change.request;
        updated.version = inner
            .requests
            .get(&updated.id)
            .map_or(updated.version, |r| r.version)
            + 1;
        inner.requests.insert(updated.id, updated.clone());
        for record in change.audit {
            inner.append_audit(record, self.audit_key.as_ref());
        }
        Ok(updated)
    }

    fn count_holder_attempt(
        &self,
        request: RequestId,
        source: &str,
        now: SystemTime,
        window: Duration,
    ) -> Result<u32, StoreError> {
        let mut inner = self.lock()?;
        if !inner.requests.contains_key(&request) {
            return Err(StoreError::NotFound);
        }
        let entry = inner
            .attempts
            .entry((request, source.to_owned()))
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 = entry.0.saturating_add(1);
        Ok(entry.0)
    }

    fn clear_holder_attempts(
        &self,
        request: RequestId,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        self.lock()?
            .attempts
            .retain(|(id, from), _| *id != request || source.is_some_and(|s| s != from));
        Ok(())
    }
}

impl CertificateStore for MemoryStore {
    fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        Ok(self
            .lock()?
            .certificates
            .get(&serial.to_ascii_uppercase())
            .cloned())
    }

    fn certificates_by_email(&self, email: &str) -> Result<Vec<CertificateRecord>, StoreError> {
        let email = email.trim().to_lowercase();
        self.certificates_where(|c| c.email.to_lowercase() == email)
    }

    fn certificates_by_holder_name(
        &self,
        name: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let name = name.trim();
        self.certificates_where(|c| c.holder_name == name)
    }

    fn certificates_ending_between(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let mut found = self.certificates_where(|c| {
            c.status == CertificateStatus::Valid && c.not_after >= from && c.not_after < to
        })?;
        found.sort_by_key(|c| c.not_after);
        Ok(found)
    }

    fn revoke_certificate(
        &self,
        revocation: &Revocation,
        audit: AuditRecord,
    ) -> Result<CertificateRecord, StoreError> {
        let mut inner = self.lock()?;
        let revoked = inner.revoke(revocation)?;
        inner.append_audit(audit, self.audit_key.as_ref());
        Ok(revoked)
    }

    fn for_each_revoked(
        &self,
        since: Option<SystemTime>,
        visit: &mut dyn FnMut(&Revocation) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let revoked: Vec<Revocation> = self
            .lock()?
            .certificates
            .values()
            .filter_map(|c| {
                let (at, reason) = c.revocation?;
                let wanted = since.is_none_or(|since| at >= since);
                wanted.then(|| Revocation {
                    serial: c.serial.clone(),
                    at,
                    reason,
                })
            })
            .collect();
        revoked.iter().try_for_each(visit)
    }

    fn revoked_since(&self, since: SystemTime) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .certificates
            .values()
            .any(|c| c.revocation.is_some_and(|(at, _)| at >= since)))
    }
}

impl CrlStore for MemoryStore {
    fn put_crl(&self, crl: CrlRecord) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.crls.iter().any(|c| c.number >= crl.number) {
            return Err(StoreError::Conflict);
        }
        inner.crls.push(crl);
        Ok(())
    }

    fn latest_crl(&self, delta: bool) -> Result<Option<CrlRecord>, StoreError> {
        Ok(self
            .lock()?
            .crls
            .iter()
            .rev()
            .find(|c| c.delta_base.is_some() == delta)
            .cloned())
    }

    fn latest_crl_info(&self, delta: bool) -> Result<Option<crate::crl::CrlInfo>, StoreError> {
        Ok(self.latest_crl(delta)?.as_ref().map(CrlRecord::info))
    }
}

impl EscrowStore for MemoryStore {
    fn escrowed_key(&self, encryption_serial: &str) -> Result<Option<EscrowRecord>, StoreError> {
        Ok(self
            .lock()?
            .escrow
            .get(&encryption_serial.to_ascii_uppercase())
            .cloned())
    }

    fn escrowed_keys_by_email(&self, email: &str) -> Result<Vec<EscrowRecord>, StoreError> {
        let email = email.trim().to_lowercase();
        let mut found: Vec<EscrowRecord> = self
            .lock()?
            .escrow
            .values()
            .filter(|e| e.email.to_lowercase() == email)
            .cloned()
            .collect();
        found.sort_by_key(|e| std::cmp::Reverse(e.escrowed_at));
        Ok(found)
    }

    fn create_recovery(
        &self,
        new: NewRecovery,
        audit: AuditRecord,
    ) -> Result<Recovery, StoreError> {
        let mut inner = self.lock()?;
        if inner.recoveries.iter().any(|r| r.id == new.id) {
            return Err(StoreError::Conflict);
        }
        let recovery = new.into_recovery();
        inner.recoveries.push(recovery.clone());
        inner.append_audit(audit, self.audit_key.as_ref());
        Ok(recovery)
    }

    fn recovery(&self, id: RecoveryId) -> Result<Option<Recovery>, StoreError> {
        Ok(self.lock()?.recoveries.iter().find(|r| r.id == id).cloned())
    }

    fn recoveries_in_state(&self, state: RecoveryState) -> Result<Vec<Recovery>, StoreError> {
        Ok(self
            .lock()?
            .recoveries
            .iter()
            .filter(|r| r.state == state)
            .cloned()
            .collect())
    }

    fn update_recovery(
        &self,
        recovery: &Recovery,
        audit: Vec<AuditRecord>,
    ) -> Result<Recovery, StoreError> {
        let mut inner = self.lock()?;
        let stored = inner
            .recoveries
            .iter_mut()
            .find(|r| r.id == recovery.id)
            .ok_or(StoreError::NotFound)?;
        if stored.version != recovery.version {
            return Err(StoreError::Conflict);
        }
        let mut updated = recovery.clone();
        updated.version += 1;
        *stored = updated.clone();
        for record in audit {
            inner.append_audit(record, self.audit_key.as_ref());
        }
        Ok(updated)
    }

    fn count_recovery_attempt(&self, id: RecoveryId) -> Result<Option<Recovery>, StoreError> {
        let mut inner = self.lock()?;
        let Some(stored) = inner.recoveries.iter_mut().find(|r| r.id == id) else {
            return Ok(None);
        };
        if stored.failed_attempts < u8::MAX {
            stored.failed_attempts += 1;
            stored.version += 1;
        }
        Ok(Some(stored.clone()))
    }

    fn escrowed_keys_page(
        &self,
        text: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<EscrowRecord>, StoreError> {
        let inner = self.lock()?;
        let mut found: Vec<&EscrowRecord> = inner
            .escrow
            .values()
            .filter(|e| escrow_matches(e, text))
            .collect();
        found.sort_by_key(|e| std::cmp::Reverse(e.escrowed_at));
        Ok(Page::of(found.into_iter().cloned(), offset, limit))
    }

    fn recoveries_page(
        &self,
        query: &RecoveryQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Recovery>, StoreError> {
        let inner = self.lock()?;
        let matching = inner
            .recoveries
            .iter()
            .rev()
            .filter(|r| query.matches(r))
            .cloned();
        Ok(Page::of(matching, offset, limit))
    }
}

impl AuditStore for MemoryStore {
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        Ok(self.lock()?.append_audit(record, self.audit_key.as_ref()))
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.lock()?.audit.clone())
    }
}

impl OutboxStore for MemoryStore {
    fn queue_mail(
        &self,
        recipient: &str,
        sealed: &[u8],
        due: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        inner.next_mail += 1;
        let id = inner.next_mail;
        inner.outbox.insert(
            id,
            QueuedMail {
                id,
                recipient: recipient.to_owned(),
                sealed: sealed.to_vec(),
                attempts: 0,
                next_attempt: due,
            },
        );
        Ok(id)
    }

    fn due_mails(&self, now: SystemTime, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        Ok(self
            .lock()?
            .outbox
            .values()
            .filter(|m| m.next_attempt <= now)
            .take(limit)
            .cloned()
            .collect())
    }

    fn claim_due_mails(
        &self,
        now: SystemTime,
        until: SystemTime,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut inner = self.lock()?;
        let mut claimed = Vec::new();
        for mail in inner
            .outbox
            .values_mut()
            .filter(|m| m.next_attempt <= now)
            .take(limit)
        {
            claimed.push(mail.clone());
            mail.next_attempt = until;
        }
        Ok(claimed)
    }

    fn mail_sent(&self, id: u64) -> Result<(), StoreError> {
        self.lock()?.outbox.remove(&id);
        Ok(())
    }

    fn mail_failed(&self, id: u64, next: SystemTime) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let mail = inner.outbox.get_mut(&id).ok_or(StoreError::NotFound)?;
        mail.attempts = mail.attempts.saturating_add(1);
        mail.next_attempt = next;
        Ok(())
    }
}

impl AdminStore for MemoryStore {
    fn create_admin(&self, admin: AdminRecord) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.admins.contains_key(&admin.name) {
            return Err(StoreError::Conflict);
        }
        inner.admins.insert(admin.name.clone(), admin);
        Ok(())
    }

    fn admin(&self, name: &str) -> Result<Option<AdminRecord>, StoreError> {
        Ok(self.lock()?.admins.get(name).cloned())
    }

    fn update_admin(&self, admin: &AdminRecord) -> Result<AdminRecord, StoreError> {
        let mut inner = self.lock()?;
        let stored = inner
            .admins
            .get_mut(&admin.name)
            .ok_or(StoreError::NotFound)?;
        if stored.version != admin.version {
            return Err(StoreError::Conflict);
        }
        let mut updated = admin.clone();
        updated.version += 1;
        *stored = updated.clone();
        Ok(updated)
    }

    fn admins(&self) -> Result<Vec<AdminRecord>, StoreError> {
        Ok(self.lock()?.admins.values().cloned().collect())
    }

    fn delete_admin(&self, name: &str) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.admins.remove(name).ok_or(StoreError::NotFound)?;
        inner.sessions.retain(|_, s| s.admin != name);
        Ok(())
    }

    fn count_login_attempt(
        &self,
        name: &str,
        now: SystemTime,
        max: u8,
        locked_until: SystemTime,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let mut inner = self.lock()?;
        let Some(admin) = inner.admins.get_mut(name) else {
            return Ok(None);
        };
        if admin.locked_until.is_some_and(|until| now < until) {
            return Ok(Some(LoginAttempt {
                admin: admin.clone(),
                counted: false,
            }));
        }
        if admin.locked_until.is_some() {
            admin.locked_until = None;
            admin.failed_logins = 0;
        }
        admin.failed_logins = admin.failed_logins.saturating_add(1);
        if admin.failed_logins >= max {
            admin.locked_until = Some(locked_until);
        }
        admin.version += 1;
        Ok(Some(LoginAttempt {
            admin: admin.clone(),
            counted: true,
        }))
    }

    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock()?.settings.get(name).cloned())
    }

    fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.lock()?
            .settings
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn claim_setting(&self, name: &str, value: &str) -> Result<String, StoreError> {
        Ok(self
            .lock()?
            .settings
            .entry(name.to_owned())
            .or_insert_with(|| value.to_owned())
            .clone())
    }

    fn replace_setting(&self, name: &str, expected: &str, value: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        match inner.settings.get_mut(name) {
            Some(held) if held == expected => {
                value.clone_into(held);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn requests_anywhere(
        &self,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<Request>, StoreError> {
        Ok(self
            .lock()?
            .requests
            .values()
            .filter(|r| r.state == state)
            .take(limit)
            .cloned()
            .collect())
    }
}

impl SessionStore for MemoryStore {
    fn create_session(&self, session: AdminSession) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.sessions.contains_key(&session.token_hash) {
            return Err(StoreError::Conflict);
        }
        inner.sessions.insert(session.token_hash, session);
        Ok(())
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<AdminSession>, StoreError> {
        Ok(self.lock()?.sessions.get(token_hash).cloned())
    }

    fn touch_session(&self, token_hash: &[u8; 32], at: SystemTime) -> Result<(), StoreError> {
        if let Some(session) = self.lock()?.sessions.get_mut(token_hash) {
            session.last_used = at;
        }
        Ok(())
    }

    fn end_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.lock()?.sessions.remove(token_hash);
        Ok(())
    }

    fn end_sessions(&self, admin: Option<&str>) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        let before = inner.sessions.len();
        inner
            .sessions
            .retain(|_, s| admin.is_some_and(|name| s.admin != name));
        Ok((before - inner.sessions.len()) as u64)
    }

    fn prune_sessions(
        &self,
        used_before: SystemTime,
        opened_before: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        let before = inner.sessions.len();
        inner
            .sessions
            .retain(|_, s| s.last_used >= used_before && s.opened >= opened_before);
        Ok((before - inner.sessions.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_passes_the_conformance_suite() {
        crate::conformance::run(&MemoryStore::new()).unwrap();
    }

    #[test]
    fn the_suite_catches_a_store_that_loses_updates() {
        let failure = {
            let store = MemoryStore::new();
            store.lock().unwrap().last_writer_wins = true;
            crate::conformance::run(&store).unwrap_err()
        };
        assert_eq!(
            failure.check,
            "request updates are compare-and-set on the version"
        );
    }
}
