//! Renewal of a certificate in its renewal window (更新用户证书).

use std::time::Duration;

use crate::{
    audit::{Actor, AuditAction, Outcome},
    error::{Error, RaError},
    lifecycle::{RequestKind, VerificationMode},
    store::{CertificateRecord, CertificateStatus, NewRequest, Opening},
};

use super::{AccountId, HolderUpdate, RegistrationAuthority, Request, request_target};

impl RegistrationAuthority<'_> {
    /// The account's valid certificates of `email` that end within the renewal
    /// window (更新用户证书 lists them to pick from).
    pub fn renewable(
        &self,
        account: AccountId,
        email: &str,
    ) -> Result<Vec<CertificateRecord>, Error> {
        let now = self.ca.environment().clock().now();
        Ok(self
            .store
            .certificates_by_email(email)?
            .into_iter()
            .filter(|c| c.account == Some(account) && self.in_renewal_window(c, now))
            .collect())
    }

    /// Submits the renewal of a certificate in its renewal window, authenticated by
    /// the user password of the original application. The holder's details may be
    /// changed (变更证书持有者信息) but not O and OU. The renewal is approved like
    /// an application and retrieved with a mailed PIN. Password attempts count
    /// against the original request per source, and failures are audited.
    pub fn apply_renewal(
        &self,
        account: AccountId,
        serial: &str,
        password: &str,
        update: &HolderUpdate,
    ) -> Result<Request, Error> {
        let record = self
            .store
            .certificate(serial.trim())?
            .filter(|c| c.account == Some(account))
            .ok_or(RaError::UnknownCertificate)?;
        if !self.in_renewal_window(&record, self.ca.environment().clock().now()) {
            return Err(RaError::NotRenewable {
                days: self.policy.renewal_window_days,
            }
            .into());
        }
        let (original, account) = self.load(record.request.ok_or(RaError::UnknownCertificate)?)?;
        let count = self.count_attempt(&original, "renewal")?;
        if !original.password_matches(password) {
            return Err(self
                .attempt_failed(
                    &original,
                    count,
                    (AuditAction::RequestSubmitted, record.serial.clone()),
                    "renewal: wrong user password",
                    |_| RaError::WrongPassword,
                )?
                .into());
        }
        self.attempt_succeeded(&original)?;
        let holder = update
            .apply(&original.holder, &account.settings)?
            .validated()?;
        let request = self.store.submit_request(NewRequest {
            reference: self.new_reference()?,
            account: account.id,
            kind: RequestKind::Renewal,
            holder,
            password: original.password.clone(),
            submitted_at: self.ca.environment().clock().now(),
            csr: None,
            previous_serial: Some(record.serial.clone()),
            opening: Opening::Submitted,
        })?;
        let actor = Actor::User(request.holder.email.clone());
        self.audit(
            actor,
            AuditAction::RequestSubmitted,
            request_target(&request),
            Outcome::Success,
            &format!("renewal of {}", record.serial),
        )?;
        if account.settings.verification == VerificationMode::Automatic {
            return self.approve_request(Actor::System, request, &account);
        }
        Ok(request)
    }

    fn in_renewal_window(&self, record: &CertificateRecord, now: std::time::SystemTime) -> bool {
        let window = Duration::from_secs(u64::from(self.policy.renewal_window_days) * 86_400);
        record.status == CertificateStatus::Valid
            && record.not_after > now
            && record.not_after <= now + window
    }
}
