//! Bulk issuance (批量制证) by an RA administrator, one line at a time: a holder's
//! own key (from a CSR) or a key the CA makes, each through the normal issuance
//! (record before sign, audit, the account's profile). A holder already
//! registered in the account — an open request or a valid certificate for the same
//! e-mail — is refused, in bulk as in pre-registration.
//!
//! The RA administrator's action is the approval the account's verification mode
//! asks for (as the approve button and central issuance are); dual-certificate
//! accounts are refused, since their encryption half is delivered to the holder
//! at retrieval.

use crate::{
    audit::{Actor, AuditAction, Outcome},
    error::{Error, RaError},
    key::PublicKey,
    lifecycle::{CertificateType, RequestKind, RequestState},
    mail::Mail,
    secret::{OneTimeCode, PasswordHash},
    store::{CertificateStatus, NewRequest, Opening},
};

use super::{
    Account, AccountId, GeneratedKeyDelivery, Holder, RaOps, RegistrationAuthority, Request,
    Retrieved, request_target,
};

/// Symbols of the password made for a PKCS#12 file of a bulk line (about 98 bits).
const BULK_PASSWORD_SYMBOLS: usize = 20;

/// The request states of a holder who is registered and not yet served.
const OPEN_STATES: [RequestState; 3] = [
    RequestState::Submitted,
    RequestState::Approved,
    RequestState::AwaitingConfirmation,
];

impl RegistrationAuthority<'_> {
    /// Refuses [`RaError::AlreadyRegistered`] when `email` has an open request or a
    /// valid, unexpired certificate in `account`.
    pub(super) fn check_not_registered(&self, account: &Account, email: &str) -> Result<(), Error> {
        let email = email.trim().to_lowercase();
        for state in OPEN_STATES {
            if self
                .store
                .requests_in_state(account.id, state)?
                .iter()
                .any(|r| r.holder.email.to_lowercase() == email)
            {
                return Err(RaError::AlreadyRegistered.into());
            }
        }
        let now = self.ca.environment().clock().now();
        if self.store.certificates_by_email(&email)?.iter().any(|c| {
            c.account == Some(account.id)
                && c.status == CertificateStatus::Valid
                && c.not_after > now
        }) {
            return Err(RaError::AlreadyRegistered.into());
        }
        Ok(())
    }

    /// A single-certificate account for bulk issuance, and the holder checked and
    /// not yet registered in it.
    fn bulk_target(&self, account: AccountId, holder: Holder) -> Result<(Account, Holder), Error> {
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        if account.settings.certificate_type == CertificateType::Dual {
            return Err(RaError::BulkNeedsSingle.into());
        }
        let holder = holder.validated()?;
        self.check_not_registered(&account, &holder.email)?;
        Ok((account, holder))
    }

    /// A request for `holder`, approved by the RA administrator (audited with
    /// `detail`), ready to be issued: the approval is stored with the issuance,
    /// in its one atomic write.
    pub(super) fn approved_by_admin(
        &self,
        ops: &RaOps,
        account: &Account,
        (holder, password): (Holder, Option<PasswordHash>),
        detail: &str,
    ) -> Result<Request, Error> {
        let mut request = self.store.submit_request(NewRequest {
            reference: self.new_reference()?,
            account: account.id,
            kind: RequestKind::Application,
            holder,
            password,
            submitted_at: self.ca.environment().clock().now(),
            csr: None,
            previous_serial: None,
            opening: Opening::Submitted,
        })?;
        request.state = request.state.approve()?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RequestApproved,
            request_target(&request),
            Outcome::Success,
            detail,
        )?;
        Ok(request)
    }

    /// Issues a bulk line for the holder's own key (from their CSR).
    pub fn issue_bulk_for_key(
        &self,
        ops: &RaOps,
        account: AccountId,
        holder: Holder,
        public_key: &PublicKey,
    ) -> Result<Retrieved, Error> {
        let (account, holder) = self.bulk_target(account, holder)?;
        let request = self.approved_by_admin(ops, &account, (holder, None), "bulk issuance")?;
        self.issue_user_certificate(request, &account, public_key, None)
    }

    /// Issues a bulk line with a key the CA makes, packaged as PKCS#12 under a new
    /// random password that becomes the holder's user password and is mailed to
    /// the holder only (the file goes through the administrator: two channels).
    pub fn issue_bulk_with_generated_key(
        &self,
        ops: &RaOps,
        account: AccountId,
        holder: Holder,
    ) -> Result<GeneratedKeyDelivery, Error> {
        let (account, holder) = self.bulk_target(account, holder)?;
        let env = self.ca.environment();
        let password = OneTimeCode::generate(BULK_PASSWORD_SYMBOLS, env.random())?.clear;
        let hash = PasswordHash::create(&password, env.random())?;
        let request =
            self.approved_by_admin(ops, &account, (holder, Some(hash)), "bulk issuance")?;
        let (reference, name) = (request.reference.clone(), request.holder.name.clone());
        let delivery = self.deliver_generated_key(request.clone(), &account, &password)?;
        let mail = Mail::Pkcs12Password {
            request: reference,
            holder: name,
            serial: delivery.certificate.serial_hex(),
            password,
        };
        self.send(&account, &request, mail)?;
        Ok(delivery)
    }
}
