//! Revocation of a holder's certificate (吊销用户证书), by its holder with the
//! user password or by an RA administrator.

use crate::{
    audit::{Actor, AuditAction, Outcome},
    error::{Error, RaError},
    lifecycle::RevocationReason,
    mail::Mail,
    observe,
    store::{CertificateRecord, CertificateStatus, Revocation},
};

use super::{Account, AccountId, RaOps, RegistrationAuthority, Request, already_revoked};

impl RegistrationAuthority<'_> {
    /// Revokes one of an account's certificates on its holder's word: the user
    /// password set at application and an RFC 5280 reason (吊销用户证书). The
    /// holder is mailed a notice; the revocation stands even if the mail fails.
    /// Password attempts count per source like a PIN's (see [`super::RaPolicy`]).
    pub fn revoke(
        &self,
        account: AccountId,
        serial: &str,
        password: &str,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, Error> {
        if !RevocationReason::FOR_HOLDERS.contains(&reason) {
            return Err(RaError::ReasonNotAllowed.into());
        }
        let record = self
            .store
            .certificate(serial.trim())?
            .filter(|c| c.account == Some(account))
            .ok_or(RaError::UnknownCertificate)?;
        if record.status == CertificateStatus::Revoked {
            return Err(RaError::AlreadyRevoked.into());
        }
        let request_id = record.request.ok_or(RaError::UnknownCertificate)?;
        let (request, account) = self.load(request_id)?;
        let actor = Actor::User(request.holder.email.clone());
        let count = self.count_attempt(&request, "revocation")?;
        if !request.password_matches(password) {
            return Err(self
                .attempt_failed(
                    &request,
                    count,
                    (AuditAction::CertificateRevoked, record.serial),
                    "revocation: wrong user password",
                    |_| RaError::WrongPassword,
                )?
                .into());
        }
        self.attempt_succeeded(&request)?;
        self.revoke_and_notify(actor, &record.serial, reason, &account, &request)
    }

    /// Revokes a certificate on an RA administrator's decision (no user password;
    /// any RFC 5280 reason); the holder is mailed a notice.
    pub fn revoke_by_admin(
        &self,
        ops: &RaOps,
        serial: &str,
        reason: RevocationReason,
    ) -> Result<CertificateRecord, Error> {
        let record = self
            .store
            .certificate(serial.trim())?
            .ok_or(RaError::UnknownCertificate)?;
        if record.status == CertificateStatus::Revoked {
            return Err(RaError::AlreadyRevoked.into());
        }
        let request_id = record.request.ok_or(RaError::UnknownCertificate)?;
        let (request, account) = self.load(request_id)?;
        let actor = Actor::Admin(ops.admin().into());
        self.revoke_and_notify(actor, &record.serial, reason, &account, &request)
    }

    /// Revokes `serial` now and audits it for `actor` in one write, and mails the
    /// holder; the revocation stands even if the mail fails (the failure is audited).
    fn revoke_and_notify(
        &self,
        actor: Actor,
        serial: &str,
        reason: RevocationReason,
        account: &Account,
        request: &Request,
    ) -> Result<CertificateRecord, Error> {
        let now = self.ca.environment().clock().now();
        let serial = serial.to_owned();
        let audit = self.audit_record(
            actor,
            AuditAction::CertificateRevoked,
            serial.clone(),
            reason.label(),
        );
        let started = std::time::Instant::now();
        let revoked = self.store.revoke_certificate(
            &Revocation {
                serial,
                at: now,
                reason,
            },
            audit,
        );
        self.ca
            .environment()
            .observer()
            .revocation(observe::Outcome::of(&revoked), started.elapsed());
        let revoked = revoked.map_err(already_revoked)?;
        let notice = Mail::CertificateRevoked {
            serial: revoked.serial.clone(),
            holder: revoked.holder_name.clone(),
            reason,
        };
        if let Err(e) = self.send(account, request, notice) {
            self.audit(
                Actor::System,
                AuditAction::CertificateRevoked,
                revoked.serial.clone(),
                Outcome::Failure,
                &e.to_string(),
            )?;
        }
        Ok(revoked)
    }
}
