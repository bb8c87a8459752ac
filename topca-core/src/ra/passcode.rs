//! Passcode mode (预注册): the RA pre-registers holders, who are mailed a
//! reference and an authorization code and retrieve with them, choosing their
//! user password then.

use crate::{
    audit::{Actor, AuditAction, Outcome},
    csr::CertificateRequest,
    error::{Error, RaError},
    lifecycle::{RequestKind, VerificationMode},
    mail::Mail,
    secret::{OneTimeCode, PasswordHash},
    store::{NewRequest, Opening},
};

use super::{
    AccountId, BulkReport, Holder, RaOps, RegistrationAuthority, Request, Retrieved, RowError,
    bulk, request_target,
};

impl RegistrationAuthority<'_> {
    /// Pre-registers a holder of a passcode-mode account: the request is approved at
    /// once and the holder is mailed a reference number and an authorization code
    /// (valid for the PIN lifetime) to retrieve with, choosing their user password then.
    pub fn preregister(
        &self,
        ops: &RaOps,
        account: AccountId,
        holder: Holder,
    ) -> Result<Request, Error> {
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        if account.settings.verification != VerificationMode::Passcode {
            return Err(RaError::NotPasscodeAccount.into());
        }
        let holder = holder.validated()?;
        self.check_not_registered(&account, &holder.email)?;
        let env = self.ca.environment();
        let code = OneTimeCode::generate(self.policy.pin_symbols, env.random())?;
        let now = env.clock().now();
        let request = self.store.submit_request(NewRequest {
            reference: self.new_reference()?,
            account: account.id,
            kind: RequestKind::Application,
            holder,
            password: None,
            submitted_at: now,
            csr: None,
            previous_serial: None,
            opening: Opening::Preapproved(code.hash, now + self.policy.pin_lifetime),
        })?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RequestApproved,
            request_target(&request),
            Outcome::Success,
            "passcode pre-registration",
        )?;
        let mail = Mail::Passcode {
            request: request.reference.clone(),
            holder: request.holder.name.clone(),
            code: zeroize::Zeroizing::new(code.clear.to_string()),
            retrieve_url: format!(
                "{}/passcode",
                account.settings.service_url.trim_end_matches('/')
            ),
        };
        self.send(&account, &request, mail)?;
        Ok(request)
    }

    /// Pre-registers every good row of a CSV holder list (`name,email[,phone]`);
    /// bad rows — unreadable, invalid, or refused — are reported by line and the
    /// good ones are kept.
    pub fn preregister_csv(
        &self,
        ops: &RaOps,
        account: AccountId,
        csv: &str,
    ) -> Result<BulkReport, Error> {
        let (holders, mut rejected) = bulk::parse_holders(csv);
        let mut registered = Vec::with_capacity(holders.len());
        let mut seen = bulk::FirstLines::default();
        for (line, holder) in holders {
            if let Some(first) = seen.repeat(&holder.email, line) {
                rejected.push(RowError::duplicate(line, first));
                continue;
            }
            match self.preregister(ops, account, holder) {
                Ok(request) => registered.push(request.reference),
                Err(Error::Ra(RaError::NotPasscodeAccount | RaError::UnknownAccount)) => {
                    return Err(RaError::NotPasscodeAccount.into());
                }
                Err(e) => rejected.push(RowError::from_error(line, &e)),
            }
        }
        rejected.sort_by_key(|e| e.line);
        Ok(BulkReport {
            registered,
            rejected,
        })
    }

    /// Retrieves a pre-registered holder's certificate with the mailed reference
    /// number and authorization code, setting the user password that will protect
    /// revocation, renewal and replacement.
    pub fn retrieve_with_passcode(
        &self,
        reference: &str,
        code: &str,
        new_password: &str,
        csr: &CertificateRequest,
    ) -> Result<Retrieved, Error> {
        // The password policy is checked before an attempt is spent.
        let password = PasswordHash::create(new_password, self.ca.environment().random())?;
        let (mut request, account) =
            self.check_secret(("reference number", reference), code, |_| true)?;
        if request.password.is_some() {
            return Err(RaError::WrongState("not a passcode pre-registration").into());
        }
        request.password = Some(password);
        self.issue_user_certificate(request, &account, csr.public_key(), None)
    }
}
