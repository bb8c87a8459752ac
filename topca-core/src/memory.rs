//! An in-memory store for tests and small embeddings. One mutex makes every method
//! atomic; updates are compare-and-set on the request version.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
    time::SystemTime,
};

use crate::{
    audit::{AuditEntry, AuditRecord},
    error::StoreError,
    lifecycle::{RequestState, RevocationReason},
    ra::{Account, AccountId, AccountSettings, Request, RequestId},
    store::{
        AccountStore, AuditStore, CertificateRecord, CertificateStatus, CertificateStore,
        NewRequest, Opening, RequestStore,
    },
};

/// Everything in memory, behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: BTreeMap<AccountId, Account>,
    requests: BTreeMap<RequestId, Request>,
    certificates: BTreeMap<String, CertificateRecord>,
    audit: Vec<AuditEntry>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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
    fn checked_update(&mut self, request: &Request) -> Result<Request, StoreError> {
        let stored = self
            .requests
            .get_mut(&request.id)
            .ok_or(StoreError::NotFound)?;
        if stored.version != request.version {
            return Err(StoreError::Conflict);
        }
        let mut updated = request.clone();
        updated.version += 1;
        *stored = updated.clone();
        Ok(updated)
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
}

impl RequestStore for MemoryStore {
    fn submit_request(&self, new: NewRequest) -> Result<Request, StoreError> {
        let mut inner = self.lock()?;
        let id = RequestId(inner.requests.keys().next_back().map_or(1, |k| k.0 + 1));
        let request = Request {
            id,
            account: new.account,
            kind: new.kind,
            state: match new.opening {
                Opening::Submitted => RequestState::Submitted,
                Opening::AwaitingConfirmation(..) => RequestState::AwaitingConfirmation,
                Opening::Preapproved(..) => RequestState::Approved,
            },
            holder: new.holder,
            password: new.password,
            pin: match new.opening {
                Opening::Submitted => None,
                Opening::AwaitingConfirmation(code, _) | Opening::Preapproved(code, _) => {
                    Some(code)
                }
            },
            pin_expires: match new.opening {
                Opening::Submitted => None,
                Opening::AwaitingConfirmation(_, end) | Opening::Preapproved(_, end) => Some(end),
            },
            failed_attempts: 0,
            submitted_at: new.submitted_at,
            reject_reason: None,
            issued_serial: None,
            csr: new.csr,
            previous_serial: new.previous_serial,
            version: 1,
        };
        inner.requests.insert(id, request.clone());
        Ok(request)
    }

    fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError> {
        Ok(self.lock()?.requests.get(&id).cloned())
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

    fn update_request(&self, request: &Request) -> Result<Request, StoreError> {
        self.lock()?.checked_update(request)
    }

    fn complete_issuance(
        &self,
        request: &Request,
        certificate: CertificateRecord,
    ) -> Result<Request, StoreError> {
        let mut inner = self.lock()?;
        if inner.certificates.contains_key(&certificate.serial) {
            return Err(StoreError::DuplicateSerial(certificate.serial));
        }
        // Check the version before writing anything, so a conflict leaves no certificate.
        let stored = inner
            .requests
            .get(&request.id)
            .ok_or(StoreError::NotFound)?;
        if stored.version != request.version {
            return Err(StoreError::Conflict);
        }
        let updated = inner.checked_update(request)?;
        inner
            .certificates
            .insert(certificate.serial.clone(), certificate);
        Ok(updated)
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

    fn revoke_certificate(
        &self,
        serial: &str,
        at: SystemTime,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, StoreError> {
        let mut inner = self.lock()?;
        let record = inner
            .certificates
            .get_mut(&serial.to_ascii_uppercase())
            .ok_or(StoreError::NotFound)?;
        if record.status != CertificateStatus::Valid {
            return Err(StoreError::Conflict);
        }
        record.status = CertificateStatus::Revoked;
        record.revocation = Some((at, reason));
        Ok(record.clone())
    }
}

impl AuditStore for MemoryStore {
    fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        let mut inner = self.lock()?;
        let entry = AuditEntry::append(inner.audit.last(), record);
        inner.audit.push(entry.clone());
        Ok(entry)
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.lock()?.audit.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_passes_the_conformance_suite() {
        crate::conformance::run(&MemoryStore::new()).unwrap();
    }

    /// A store that forgets the compare-and-set: last writer wins.
    struct LastWriterWins(MemoryStore);

    impl AccountStore for LastWriterWins {
        fn create_account(&self, settings: AccountSettings) -> Result<Account, StoreError> {
            self.0.create_account(settings)
        }
        fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
            self.0.account(id)
        }
        fn search_accounts(&self, keyword: &str, limit: usize) -> Result<Vec<Account>, StoreError> {
            self.0.search_accounts(keyword, limit)
        }
    }

    impl RequestStore for LastWriterWins {
        fn submit_request(&self, request: NewRequest) -> Result<Request, StoreError> {
            self.0.submit_request(request)
        }
        fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError> {
            self.0.request(id)
        }
        fn requests_in_state(
            &self,
            account: AccountId,
            state: RequestState,
        ) -> Result<Vec<Request>, StoreError> {
            self.0.requests_in_state(account, state)
        }
        fn update_request(&self, request: &Request) -> Result<Request, StoreError> {
            let mut forced = request.clone();
            forced.version = self
                .0
                .request(request.id)?
                .ok_or(StoreError::NotFound)?
                .version;
            self.0.update_request(&forced)
        }
        fn complete_issuance(
            &self,
            request: &Request,
            certificate: CertificateRecord,
        ) -> Result<Request, StoreError> {
            self.0.complete_issuance(request, certificate)
        }
    }

    impl CertificateStore for LastWriterWins {
        fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
            self.0.certificate(serial)
        }
        fn certificates_by_email(&self, email: &str) -> Result<Vec<CertificateRecord>, StoreError> {
            self.0.certificates_by_email(email)
        }
        fn certificates_by_holder_name(
            &self,
            name: &str,
        ) -> Result<Vec<CertificateRecord>, StoreError> {
            self.0.certificates_by_holder_name(name)
        }
        fn revoke_certificate(
            &self,
            serial: &str,
            at: SystemTime,
            reason: RevocationReason,
        ) -> Result<CertificateRecord, StoreError> {
            self.0.revoke_certificate(serial, at, reason)
        }
    }

    impl AuditStore for LastWriterWins {
        fn append_audit(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
            self.0.append_audit(record)
        }
        fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
            self.0.audit_entries()
        }
    }

    #[test]
    fn the_suite_catches_a_store_that_loses_updates() {
        let failure = crate::conformance::run(&LastWriterWins(MemoryStore::new())).unwrap_err();
        assert_eq!(
            failure.check,
            "request updates are compare-and-set on the version"
        );
    }
}
