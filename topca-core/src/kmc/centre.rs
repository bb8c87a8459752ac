//! Two-person key recovery (密钥恢复, SPEC §5): a KMC administrator asks, a
//! different one approves, the holder receives a single-use, expiring
//! authorization code by mail and uses it to receive the escrowed encryption key
//! again, enveloped for a signing certificate of their choice.

use std::time::Duration;

use zeroize::Zeroizing;

use super::{EnvelopedKey, MasterKey, NewRecovery, Recovery, RecoveryId, RecoveryState};
use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::CertificateAuthority,
    certificate::Certificate,
    error::{Error, KmcError, StoreError},
    lifecycle::CertificateUsage,
    mail::{Envelope, Mail, Mailer},
    ra::{EncryptionDelivery, KmcOps, Language, PinInput},
    secret::OneTimeCode,
    store::{CertificateStatus, EscrowRecord, RaStore},
};

/// Limits the KMC enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmcPolicy {
    /// How long an authorization code works.
    pub code_lifetime: Duration,
    /// Wrong codes before a recovery locks.
    pub max_attempts: u8,
    /// Symbols in the secret part of a code (12 ≈ 59 bits).
    pub code_symbols: usize,
}

impl Default for KmcPolicy {
    fn default() -> Self {
        Self {
            code_lifetime: Duration::from_secs(3 * 86_400),
            max_attempts: 5,
            code_symbols: 12,
        }
    }
}

/// An approved recovery and its authorization code, shown once to the approving
/// administrator and mailed to the holder; only its hash is stored.
#[derive(Debug)]
pub struct ApprovedRecovery {
    /// The recovery request, now approved.
    pub recovery: Recovery,
    /// The authorization code (`number-XXXX-XXXX-XXXX`), in clear.
    pub code: Zeroizing<String>,
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
        let recovery = self.store.create_recovery(NewRecovery {
            encryption_serial: escrow.encryption_serial,
            email: escrow.email,
            holder_name: certificate.holder_name,
            requested_by: ops.admin().to_owned(),
            requested_at: self.ca.environment().clock().now(),
            reason: reason.trim().to_owned(),
        })?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RecoveryRequested,
            &recovery,
            Outcome::Success,
            &recovery.reason,
        )?;
        Ok(recovery)
    }

    /// A second KMC administrator approves: an authorization code is drawn, its
    /// hash stored, and the code mailed to the holder and returned to show once.
    pub fn approve_recovery(
        &self,
        ops: &KmcOps,
        id: RecoveryId,
    ) -> Result<ApprovedRecovery, Error> {
        let mut recovery = self.load(id)?;
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
        let recovery = self.store.update_recovery(&recovery)?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RecoveryApproved,
            &recovery,
            Outcome::Success,
            "",
        )?;
        let code = Zeroizing::new(PinInput::format(&recovery.id.0.to_string(), &code.clear));
        let (language, base) = self.holder_context(&recovery)?;
        let mail = Mail::KeyRecoveryCode {
            recovery: recovery.id,
            holder: recovery.holder_name.clone(),
            serial: recovery.encryption_serial.clone(),
            code: code.clone(),
            expires,
            recover_url: format!("{}/recover", base.trim_end_matches('/')),
        };
        if let Err(e) = self.mailer.send(&Envelope {
            to: recovery.email.clone(),
            language,
            mail,
        }) {
            // The approval stands; the administrator hands the code over another way.
            self.audit(
                Actor::System,
                AuditAction::RecoveryApproved,
                &recovery,
                Outcome::Failure,
                &e.to_string(),
            )?;
        }
        Ok(ApprovedRecovery { recovery, code })
    }

    /// A KMC administrator refuses a recovery request.
    pub fn reject_recovery(
        &self,
        ops: &KmcOps,
        id: RecoveryId,
        reason: &str,
    ) -> Result<Recovery, Error> {
        let mut recovery = self.load(id)?;
        recovery.state = recovery.state.reject()?;
        recovery.decided_by = Some(ops.admin().to_owned());
        let recovery = self.store.update_recovery(&recovery)?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RecoveryRejected,
            &recovery,
            Outcome::Success,
            reason.trim(),
        )?;
        Ok(recovery)
    }

    /// The holder recovers the encryption key and certificate with the mailed
    /// authorization code, choosing one of their valid signing certificates
    /// (`signing_serial`) to envelope the key for. The code works once.
    pub fn recover(&self, code: &str, signing_serial: &str) -> Result<EncryptionDelivery, Error> {
        let wrong = || KmcError::WrongCode {
            attempts_left: self.policy.max_attempts,
        };
        let input = PinInput::parse(code).map_err(|_| wrong())?;
        let number = input.reference.parse().map_err(|_| wrong())?;
        let mut recovery = self
            .store
            .recovery(RecoveryId(number))?
            .ok_or(KmcError::UnknownRecovery)?;
        match recovery.state {
            RecoveryState::Approved => {}
            RecoveryState::Used => return Err(KmcError::CodeUsed.into()),
            RecoveryState::Expired => return Err(KmcError::CodeExpired.into()),
            RecoveryState::Locked => return Err(KmcError::RecoveryLocked.into()),
            other => return Err(KmcError::RecoveryState(other.label()).into()),
        }
        let now = self.ca.environment().clock().now();
        if recovery.code_expires.is_none_or(|end| now >= end) {
            recovery.state = recovery.state.expire()?;
            recovery.code = None;
            self.store.update_recovery(&recovery)?;
            return Err(KmcError::CodeExpired.into());
        }
        if !recovery.code.is_some_and(|hash| hash.matches(input.secret)) {
            return Err(self.count_failure(recovery)?.into());
        }
        let signing = self
            .store
            .certificate(signing_serial.trim())?
            .filter(|c| {
                c.usage == CertificateUsage::Signing
                    && c.status == CertificateStatus::Valid
                    && c.email.eq_ignore_ascii_case(&recovery.email)
            })
            .ok_or(KmcError::NotHoldersSigningCertificate)?;
        let signing = Certificate::from_der(&signing.der)?;
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
        let recovery = self.store.update_recovery(&recovery).map_err(|e| match e {
            StoreError::Conflict => Error::Kmc(KmcError::CodeUsed),
            other => other.into(),
        })?;
        self.audit(
            Actor::User(recovery.email.clone()),
            AuditAction::KeyRecovered,
            &recovery,
            Outcome::Success,
            &format!("enveloped for signing certificate {}", signing.serial_hex()),
        )?;
        Ok(EncryptionDelivery {
            certificate,
            enveloped_key,
        })
    }

    /// Counts a wrong code, locking the recovery at the limit.
    fn count_failure(&self, mut recovery: Recovery) -> Result<KmcError, Error> {
        recovery.failed_attempts = recovery.failed_attempts.saturating_add(1);
        let locked = recovery.failed_attempts >= self.policy.max_attempts;
        if locked {
            recovery.state = recovery.state.lock()?;
            recovery.code = None;
        }
        let recovery = self.store.update_recovery(&recovery)?;
        self.audit(
            Actor::User(recovery.email.clone()),
            AuditAction::KeyRecovered,
            &recovery,
            Outcome::Failure,
            if locked {
                "locked"
            } else {
                "wrong authorization code"
            },
        )?;
        Ok(if locked {
            KmcError::RecoveryLocked
        } else {
            KmcError::WrongCode {
                attempts_left: self.policy.max_attempts - recovery.failed_attempts,
            }
        })
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
        self.store.append_audit(AuditRecord {
            at: self.ca.environment().clock().now(),
            actor,
            action,
            target: format!(
                "recovery {} of certificate {}",
                recovery.id.0, recovery.encryption_serial
            ),
            outcome,
            detail: detail.to_owned(),
        })?;
        Ok(())
    }
}
