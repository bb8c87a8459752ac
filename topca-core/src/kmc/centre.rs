//! Two-person key recovery (密钥恢复, SPEC §5), as Dogtag's key recovery agents:
//! a KMC administrator asks, a different one approves, and the holder alone
//! receives a single-use, expiring authorization code by mail and uses it to
//! receive the escrowed encryption key again, enveloped for one of their own
//! signing certificates that existed before the recovery was asked for.
//!
//! Separation of duties: both agents must hold the kmc role and no other (an
//! administrator who can also create administrators or issue certificates could
//! supply the second person or the receiving certificate alone), their roles are
//! read from the store at each step, and an administrator created or given the
//! kmc role through the console waits out a quarantine before acting as an agent.
//! No approver ever sees the code; every step is audited and mailed to the holder.

use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::{
    EnvelopedKey, MasterKey, NewRecovery, Recovery, RecoveryCode, RecoveryId, RecoveryState,
};
use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::{BACKDATE, CertificateAuthority},
    certificate::Certificate,
    error::{Error, KmcError, StoreError},
    lifecycle::CertificateUsage,
    mail::{Envelope, Mail, Mailer, RecoveryStep},
    ra::{AdminRole, EncryptionDelivery, KmcOps, Language},
    secret::OneTimeCode,
    store::{CertificateRecord, CertificateStatus, EscrowRecord, Page, RaStore, RecoveryQuery},
};

/// Limits the KMC enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmcPolicy {
    /// How long an authorization code works.
    pub code_lifetime: Duration,
    /// Authorization codes tried before a recovery locks.
    pub max_attempts: u8,
    /// Symbols in the secret part of a code (12 ≈ 59 bits).
    pub code_symbols: usize,
    /// How long an administrator created or given the kmc role through the
    /// console waits before taking part in a key recovery.
    pub quarantine: Duration,
}

impl Default for KmcPolicy {
    fn default() -> Self {
        Self {
            code_lifetime: Duration::from_secs(3 * 86_400),
            max_attempts: 5,
            code_symbols: 12,
            quarantine: Duration::from_secs(86_400),
        }
    }
}

/// The key management centre over one CA's store.
pub struct KeyManagementCentre<'a> {
    store: &'a dyn RaStore,
    mailer: &'a dyn Mailer,
    ca: &'a CertificateAuthority,
    master: &'a MasterKey,
    policy: KmcPolicy,
}

impl<'a> KeyManagementCentre<'a> {
    /// A KMC over `store`, mailing through `mailer`, with escrowed keys sealed
    /// under `master`; `ca` supplies time and randomness.
    pub fn new(
        store: &'a dyn RaStore,
        mailer: &'a dyn Mailer,
        ca: &'a CertificateAuthority,
        master: &'a MasterKey,
        policy: KmcPolicy,
    ) -> Self {
        Self {
            store,
            mailer,
            ca,
            master,
            policy,
        }
    }

    /// The keys escrowed for a holder e-mail, newest first (ciphertext only).
    pub fn escrowed_keys(&self, _ops: &KmcOps, email: &str) -> Result<Vec<EscrowRecord>, Error> {
        Ok(self.store.escrowed_keys_by_email(email)?)
    }

    /// The escrowed keys whose serials or holder e-mail contain `text`, newest
    /// first, one page (the console's picker; ciphertext only).
    pub fn escrowed_keys_page(
        &self,
        _ops: &KmcOps,
        text: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Page<EscrowRecord>, Error> {
        Ok(self.store.escrowed_keys_page(text, offset, limit)?)
    }

    /// The recovery requests `query` selects, newest first, one page.
    pub fn recoveries_page(
        &self,
        _ops: &KmcOps,
        query: &RecoveryQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<Recovery>, Error> {
        Ok(self.store.recoveries_page(query, offset, limit)?)
    }

    /// Recovery requests in `state`, oldest first (the console's queues).
    pub fn recoveries(&self, _ops: &KmcOps, state: RecoveryState) -> Result<Vec<Recovery>, Error> {
        Ok(self.store.recoveries_in_state(state)?)
    }

    /// A KMC administrator asks to recover the key of an encryption certificate.
    pub fn request_recovery(
        &self,
        ops: &KmcOps,
        encryption_serial: &str,
        reason: &str,
    ) -> Result<Recovery, Error> {
        let serial = encryption_serial.trim().to_ascii_uppercase();
        let escrow = self
            .store
            .escrowed_key(&serial)?
            .ok_or(KmcError::NotEscrowed)?;
        let certificate = self
            .store
            .certificate(&serial)?
            .ok_or(KmcError::NotEscrowed)?;
        let env = self.ca.environment();
        let new = NewRecovery {
            id: RecoveryId::generate(env.random())?,
            encryption_serial: escrow.encryption_serial,
            email: escrow.email,
            holder_name: certificate.holder_name,
            requested_by: ops.admin().to_owned(),
            requested_at: env.clock().now(),
            reason: reason.trim().to_owned(),
        };
        let pending = new.clone().into_recovery();
        self.agent(ops, AuditAction::RecoveryRequested, &pending)?;
        let requested = self.audit_record(
            Actor::Admin(ops.admin().into()),
            AuditAction::RecoveryRequested,
            &pending,
            Outcome::Success,
            &pending.reason,
        );
        let recovery = self.store.create_recovery(new, requested)?;
        self.notify(&recovery, RecoveryStep::Requested)?;
        Ok(recovery)
    }

    /// A second KMC administrator approves: an authorization code is drawn, its
    /// hash stored, and the code mailed to the holder, and only to the holder.
    /// When the mail cannot be sent the approval is withdrawn (the recovery
    /// expires) and [`KmcError::CodeNotMailed`] returned.
    pub fn approve_recovery(&self, ops: &KmcOps, id: RecoveryId) -> Result<Recovery, Error> {
        let mut recovery = self.load(id)?;
        self.agent(ops, AuditAction::RecoveryApproved, &recovery)?;
        if recovery.requested_by == ops.admin() {
            self.audit(
                Actor::Admin(ops.admin().into()),
                AuditAction::RecoveryApproved,
                &recovery,
                Outcome::Failure,
                "the requester cannot approve",
            )?;
            return Err(KmcError::SameAdministrator.into());
        }
        let env = self.ca.environment();
        recovery.state = recovery.state.approve()?;
        let code = OneTimeCode::generate(self.policy.code_symbols, env.random())?;
        let expires = env.clock().now() + self.policy.code_lifetime;
        recovery.decided_by = Some(ops.admin().to_owned());
        recovery.code = Some(code.hash);
        recovery.code_expires = Some(expires);
        recovery.failed_attempts = 0;
        let approved = self.audit_record(
            Actor::Admin(ops.admin().into()),
            AuditAction::RecoveryApproved,
            &recovery,
            Outcome::Success,
            "authorization code mailed to the holder",
        );
        let mut recovery = self.store.update_recovery(&recovery, vec![approved])?;
        let code = Zeroizing::new(RecoveryCode::format(recovery.id, &code.clear));
        let (language, base) = self.holder_context(&recovery)?;
        let mail = Mail::KeyRecoveryCode {
            recovery: recovery.id,
            holder: recovery.holder_name.clone(),
            serial: recovery.encryption_serial.clone(),
            code,
            expires,
            recover_url: format!("{}/recover", base.trim_end_matches('/')),
        };
        if let Err(e) = self.mailer.send(&Envelope {
            to: recovery.email.clone(),
            language,
            mail,
        }) {
            // Nobody else may learn the code: without the mail there is no approval.
            recovery.state = recovery.state.expire()?;
            recovery.code = None;
            let withdrawn = self.audit_record(
                Actor::System,
                AuditAction::RecoveryApproved,
                &recovery,
                Outcome::Failure,
                &format!("approval withdrawn, the code could not be mailed: {e}"),
            );
            self.store.update_recovery(&recovery, vec![withdrawn])?;
            return Err(KmcError::CodeNotMailed.into());
        }
        Ok(recovery)
    }

    /// A KMC administrator refuses a recovery request.
    pub fn reject_recovery(
        &self,
        ops: &KmcOps,
        id: RecoveryId,
        reason: &str,
    ) -> Result<Recovery, Error> {
        let mut recovery = self.load(id)?;
        self.agent(ops, AuditAction::RecoveryRejected, &recovery)?;
        recovery.state = recovery.state.reject()?;
        recovery.decided_by = Some(ops.admin().to_owned());
        let rejected = self.audit_record(
            Actor::Admin(ops.admin().into()),
            AuditAction::RecoveryRejected,
            &recovery,
            Outcome::Success,
            reason.trim(),
        );
        let recovery = self.store.update_recovery(&recovery, vec![rejected])?;
        self.notify(&recovery, RecoveryStep::Rejected)?;
        Ok(recovery)
    }

    /// The holder recovers the encryption key and certificate with the mailed
    /// authorization code, choosing one of their signing certificates
    /// (`signing_serial`) to envelope the key for: valid, issued under the same
    /// account to the same holder, and issued before the recovery was requested.
    /// The code works once. Each attempt is counted in the store before the code
    /// is checked, so concurrent guesses each count.
    pub fn recover(&self, code: &str, signing_serial: &str) -> Result<EncryptionDelivery, Error> {
        let input = RecoveryCode::parse(code).ok_or(KmcError::WrongCode {
            attempts_left: self.policy.max_attempts,
        })?;
        let mut recovery = self
            .store
            .count_recovery_attempt(input.recovery)?
            .ok_or(KmcError::UnknownRecovery)?;
        match recovery.state {
            RecoveryState::Approved => {}
            RecoveryState::Used => return Err(self.refuse(&recovery, KmcError::CodeUsed)?),
            RecoveryState::Expired => return Err(self.refuse(&recovery, KmcError::CodeExpired)?),
            RecoveryState::Locked => {
                return Err(self.refuse(&recovery, KmcError::RecoveryLocked)?);
            }
            other => {
                return Err(self.refuse(&recovery, KmcError::RecoveryState(other.label()))?);
            }
        }
        let now = self.ca.environment().clock().now();
        if recovery.code_expires.is_none_or(|end| now >= end) {
            recovery.state = recovery.state.expire()?;
            recovery.code = None;
            let error = match self.store_final(recovery.clone(), Vec::new()) {
                Ok(_) => KmcError::CodeExpired,
                Err(Error::Kmc(lost)) => lost,
                Err(other) => return Err(other),
            };
            return Err(self.refuse(&recovery, error)?);
        }
        if recovery.failed_attempts > self.policy.max_attempts {
            // Over the limit: counted, but not checked.
            return Err(self.lock(recovery)?.into());
        }
        if !recovery.code.is_some_and(|hash| hash.matches(input.secret)) {
            return Err(self.wrong_code(recovery)?.into());
        }
        let signing = self.holders_signing_certificate(&recovery, signing_serial.trim(), now)?;
        let escrow = self
            .store
            .escrowed_key(&recovery.encryption_serial)?
            .ok_or(KmcError::NotEscrowed)?;
        let key = self.master.open(&escrow.key, &escrow.encryption_serial)?;
        let record = self
            .store
            .certificate(&escrow.encryption_serial)?
            .ok_or(KmcError::NotEscrowed)?;
        let certificate = Certificate::from_der(&record.der)?;
        if certificate.public_key()? != *key.public_key() {
            return Err(KmcError::Damaged.into());
        }
        let enveloped_key = EnvelopedKey::seal(&key, &signing, self.ca.environment().random())?;
        // Spend the code before anything leaves: a concurrent use loses the race.
        recovery.state = recovery.state.spend()?;
        recovery.code = None;
        let signing_serial = signing.serial_hex();
        let recovered = self.audit_record(
            Actor::User(recovery.email.clone()),
            AuditAction::KeyRecovered,
            &recovery,
            Outcome::Success,
            &format!("enveloped for signing certificate {signing_serial}"),
        );
        let recovery = match self.store_final(recovery.clone(), vec![recovered]) {
            Ok(stored) => stored,
            Err(Error::Kmc(lost)) => return Err(self.refuse(&recovery, lost)?),
            Err(other) => return Err(other),
        };
        self.notify(&recovery, RecoveryStep::Delivered { signing_serial })?;
        Ok(EncryptionDelivery {
            certificate,
            enveloped_key,
        })
    }

    /// Checks that the administrator behind `ops` may act as a key recovery
    /// agent now, from the store (not from the session): holds the kmc role and
    /// no other, is not locked out, and is past the quarantine. A refusal is
    /// audited.
    fn agent(&self, ops: &KmcOps, action: AuditAction, recovery: &Recovery) -> Result<(), Error> {
        let now = self.ca.environment().clock().now();
        let refusal = match self.store.admin(ops.admin())? {
            None => Some(KmcError::NotAnAgent("the administrator no longer exists")),
            Some(admin) if admin.roles.iter().any(|r| *r != AdminRole::KmcAdmin) => {
                Some(KmcError::NotAnAgent(
                    "only an administrator holding the kmc role and no other may request or approve one; an administrator who can also create administrators (super) or issue certificates (ra) could act alone",
                ))
            }
            Some(admin) if !admin.roles.contains(&AdminRole::KmcAdmin) => Some(
                KmcError::NotAnAgent("the administrator does not hold the kmc role"),
            ),
            Some(admin) if admin.locked_until.is_some_and(|until| now < until) => {
                Some(KmcError::NotAnAgent("the administrator is locked out"))
            }
            Some(admin) => admin
                .quarantine_from
                .map(|from| from + self.policy.quarantine)
                .filter(|until| now < *until)
                .map(|until| KmcError::AgentQuarantined {
                    until: crate::format_utc(until),
                }),
        };
        let Some(refusal) = refusal else {
            return Ok(());
        };
        self.audit(
            Actor::Admin(ops.admin().into()),
            action,
            recovery,
            Outcome::Failure,
            &refusal.to_string(),
        )?;
        Err(refusal.into())
    }

    /// The signing certificate `serial` if it may receive the key of `recovery`:
    /// a valid signing certificate of the same holder record (the account the
    /// encryption certificate was issued under, and its holder's e-mail and
    /// name), issued before the recovery was requested.
    fn holders_signing_certificate(
        &self,
        recovery: &Recovery,
        serial: &str,
        now: SystemTime,
    ) -> Result<Certificate, Error> {
        let encryption = self
            .store
            .certificate(&recovery.encryption_serial)?
            .ok_or(KmcError::NotEscrowed)?;
        let same_holder = |c: &CertificateRecord| {
            c.account.is_some()
                && c.account == encryption.account
                && c.email.eq_ignore_ascii_case(&encryption.email)
                && c.holder_name == encryption.holder_name
        };
        // Certificates are backdated by BACKDATE and their times kept in whole
        // seconds: one was issued within the second after not_before + BACKDATE.
        // Only a certificate issued in an earlier second than the request is
        // surely older; one of the same second is refused.
        let issued_before = |c: &CertificateRecord| {
            c.not_before + BACKDATE + std::time::Duration::from_secs(1) <= recovery.requested_at
        };
        let found = self.store.certificate(&serial.to_ascii_uppercase())?;
        let refusal = match &found {
            None => Some("no such certificate"),
            Some(c) if c.usage != CertificateUsage::Signing => Some("not a signing certificate"),
            Some(c) if c.status != CertificateStatus::Valid || now >= c.not_after => {
                Some("revoked or expired")
            }
            Some(c) if !same_holder(c) => Some("another holder record"),
            Some(c) if !issued_before(c) => Some("issued after the recovery was requested"),
            Some(_) => None,
        };
        match (found, refusal) {
            (Some(c), None) => Ok(Certificate::from_der(&c.der)?),
            (_, Some(why)) => {
                self.audit(
                    Actor::User(recovery.email.clone()),
                    AuditAction::KeyRecovered,
                    recovery,
                    Outcome::Failure,
                    &format!("signing certificate {serial} refused: {why}"),
                )?;
                Err(KmcError::NotHoldersSigningCertificate.into())
            }
            (None, None) => Err(KmcError::NotHoldersSigningCertificate.into()),
        }
    }

    /// Stores a final change (used, expired, locked) of a recovery whose attempt
    /// counter may have moved meanwhile, with the `audit` entries that tell of
    /// it: retried on a fresh copy while the recovery is still approved.
    fn store_final(
        &self,
        mut recovery: Recovery,
        audit: Vec<AuditRecord>,
    ) -> Result<Recovery, Error> {
        let (state, code) = (recovery.state, recovery.code);
        loop {
            match self.store.update_recovery(&recovery, audit.clone()) {
                Ok(stored) => return Ok(stored),
                Err(StoreError::Conflict) => {
                    let fresh = self.load(recovery.id)?;
                    if fresh.state != RecoveryState::Approved {
                        return Err(match fresh.state {
                            RecoveryState::Locked => KmcError::RecoveryLocked,
                            RecoveryState::Expired => KmcError::CodeExpired,
                            _ => KmcError::CodeUsed,
                        }
                        .into());
                    }
                    recovery = Recovery {
                        state,
                        code,
                        ..fresh
                    };
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// A wrong code: audited, mailed to the holder, and the recovery locked when
    /// the attempt was the last one allowed.
    fn wrong_code(&self, recovery: Recovery) -> Result<KmcError, Error> {
        if recovery.failed_attempts >= self.policy.max_attempts {
            return self.lock(recovery);
        }
        let attempts_left = self.policy.max_attempts - recovery.failed_attempts;
        self.audit(
            Actor::User(recovery.email.clone()),
            AuditAction::KeyRecovered,
            &recovery,
            Outcome::Failure,
            &format!(
                "wrong authorization code (attempt {})",
                recovery.failed_attempts
            ),
        )?;
        self.notify(&recovery, RecoveryStep::WrongCode { attempts_left })?;
        Ok(KmcError::WrongCode { attempts_left })
    }

    /// Locks an approved recovery after its last allowed attempt (or one over
    /// it): audited, and mailed to the holder once, by the attempt that locked it.
    fn lock(&self, mut recovery: Recovery) -> Result<KmcError, Error> {
        let attempt = recovery.failed_attempts;
        recovery.state = recovery.state.lock()?;
        recovery.code = None;
        let locked = self.audit_record(
            Actor::User(recovery.email.clone()),
            AuditAction::KeyRecovered,
            &recovery,
            Outcome::Failure,
            &format!("wrong or unchecked authorization code (attempt {attempt}), locked"),
        );
        let locked_now = match self.store_final(recovery.clone(), vec![locked.clone()]) {
            Ok(stored) => {
                recovery = stored;
                true
            }
            Err(Error::Kmc(KmcError::RecoveryLocked)) => {
                // Locked by a concurrent attempt: this attempt is still told of.
                self.store.append_audit(locked)?;
                false
            }
            Err(other) => return Err(other),
        };
        if locked_now {
            self.notify(&recovery, RecoveryStep::Locked)?;
        }
        Ok(KmcError::RecoveryLocked)
    }

    /// An attempt on a recovery that cannot be used (any more): audited.
    fn refuse(&self, recovery: &Recovery, error: KmcError) -> Result<Error, Error> {
        self.audit(
            Actor::User(recovery.email.clone()),
            AuditAction::KeyRecovered,
            recovery,
            Outcome::Failure,
            &format!(
                "authorization code tried (attempt {}): {error}",
                recovery.failed_attempts
            ),
        )?;
        Ok(error.into())
    }

    /// Mails the holder what happened to the recovery of their key. A mail that
    /// cannot be sent is audited; the step stands.
    fn notify(&self, recovery: &Recovery, step: RecoveryStep) -> Result<(), Error> {
        let (language, _) = self.holder_context(recovery)?;
        let sent = self.mailer.send(&Envelope {
            to: recovery.email.clone(),
            language,
            mail: Mail::KeyRecoveryNotice {
                recovery: recovery.id,
                holder: recovery.holder_name.clone(),
                serial: recovery.encryption_serial.clone(),
                step,
            },
        });
        if let Err(e) = sent {
            self.audit(
                Actor::System,
                AuditAction::KeyRecovered,
                recovery,
                Outcome::Failure,
                &format!("the holder could not be told: {e}"),
            )?;
        }
        Ok(())
    }

    /// The holder's mail language and the centre's base URL, from the account the
    /// encryption certificate was issued under.
    fn holder_context(&self, recovery: &Recovery) -> Result<(Language, String), Error> {
        let account = match self.store.certificate(&recovery.encryption_serial)? {
            Some(record) => match record.account {
                Some(id) => self.store.account(id)?,
                None => None,
            },
            None => None,
        };
        Ok(account.map_or((Language::Chinese, String::new()), |a| {
            (a.settings.language, a.settings.service_url)
        }))
    }

    fn load(&self, id: RecoveryId) -> Result<Recovery, Error> {
        Ok(self.store.recovery(id)?.ok_or(KmcError::UnknownRecovery)?)
    }

    fn audit(
        &self,
        actor: Actor,
        action: AuditAction,
        recovery: &Recovery,
        outcome: Outcome,
        detail: &str,
    ) -> Result<(), Error> {
        self.store
            .append_audit(self.audit_record(actor, action, recovery, outcome, detail))?;
        Ok(())
    }

    /// An audit entry about `recovery`, now (appended with a state change, or alone).
    fn audit_record(
        &self,
        actor: Actor,
        action: AuditAction,
        recovery: &Recovery,
        outcome: Outcome,
        detail: &str,
    ) -> AuditRecord {
        AuditRecord {
            at: self.ca.environment().clock().now(),
            actor,
            action,
            target: format!(
                "recovery {} of certificate {}",
                recovery.id, recovery.encryption_serial
            ),
            outcome,
            detail: detail.to_owned(),
        }
    }
}
