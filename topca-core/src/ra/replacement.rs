//! Replacement of a holder's certificate (证书替换): a link mailed to the holder,
//! the certificate chosen and revoked, and its replacement applied for.

use std::time::Duration;

use crate::{
    audit::{Actor, AuditAction, Outcome},
    csr::CertificateRequest,
    error::{Error, RaError},
    lifecycle::{RequestKind, RequestState, RevocationReason, VerificationMode},
    mail::Mail,
    secret::OneTimeCode,
    store::{CertificateRecord, CertificateStatus, NewRequest, Opening, RequestChange, Revocation},
};

use super::{
    AccountId, PinInput, RegistrationAuthority, Request, RequestRef, Retrieved, already_revoked,
    request_target,
};

/// What became of a confirmed replacement.
#[derive(Debug)]
pub enum ReplacementOutcome {
    /// Automatic account: the replacement was issued at once.
    Issued(Box<Retrieved>),
    /// Approval account: the request waits for the RA; a PIN follows by mail.
    AwaitingApproval(Box<Request>),
}

impl RegistrationAuthority<'_> {
    /// Step 1 of a replacement (证书替换): the holder gives their name and e-mail;
    /// if they hold a valid certificate in the account, a single-use confirmation
    /// link is mailed to that address.
    pub fn start_replacement(
        &self,
        account: AccountId,
        name: &str,
        email: &str,
    ) -> Result<RequestRef, Error> {
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        let now = self.ca.environment().clock().now();
        let newest = self
            .store
            .certificates_by_email(email)?
            .into_iter()
            .find(|c| {
                c.account == Some(account.id)
                    && c.holder_name == name.trim()
                    && c.status == CertificateStatus::Valid
                    && c.not_after > now
            })
            .ok_or(RaError::UnknownCertificate)?;
        let (original, _) = self.load(newest.request.ok_or(RaError::UnknownCertificate)?)?;
        let token = OneTimeCode::generate(self.policy.pin_symbols, self.ca.environment().random())?;
        let request = self.store.submit_request(NewRequest {
            reference: self.new_reference()?,
            account: account.id,
            kind: RequestKind::Replacement,
            holder: original.holder.clone(),
            password: original.password.clone(),
            submitted_at: now,
            csr: None,
            previous_serial: None,
            opening: Opening::AwaitingConfirmation(token.hash, now + Duration::from_secs(86_400)),
        })?;
        let actor = Actor::User(request.holder.email.clone());
        self.audit(
            actor,
            AuditAction::RequestSubmitted,
            request_target(&request),
            Outcome::Success,
            "replacement",
        )?;
        let link = format!(
            "{}/replace/confirm?token={}",
            account.settings.service_url.trim_end_matches('/'),
            PinInput::format(&request.reference.0, &token.clear)
        );
        let mail = Mail::ReplacementConfirmation {
            request: request.reference.clone(),
            holder: request.holder.name.clone(),
            link: zeroize::Zeroizing::new(link),
        };
        self.send(&account, &request, mail)?;
        Ok(request.reference)
    }

    /// Step 2: the confirmation link was opened. Checks its token and lists the
    /// holder's valid certificates in the account, one of which will be replaced.
    pub fn confirm_replacement(
        &self,
        token: &str,
    ) -> Result<(Request, Vec<CertificateRecord>), Error> {
        let (request, candidates, _) = self.open_replacement(token)?;
        Ok((request, candidates))
    }

    /// [`Self::confirm_replacement`], with the number of this attempt.
    fn open_replacement(
        &self,
        token: &str,
    ) -> Result<(Request, Vec<CertificateRecord>, u32), Error> {
        let (request, count) = self.check_replacement_token(token)?;
        let now = self.ca.environment().clock().now();
        let candidates = self
            .store
            .certificates_by_email(&request.holder.email)?
            .into_iter()
            .filter(|c| {
                c.account == Some(request.account)
                    && c.holder_name == request.holder.name
                    && c.status == CertificateStatus::Valid
                    && c.not_after > now
            })
            .collect();
        Ok((request, candidates, count))
    }

    /// Steps 3 and 4: revokes the chosen certificate (user password and reason; it
    /// becomes unusable at once) and applies for its replacement, which keeps the
    /// holder details and the original end of validity. In automatic mode the
    /// replacement is issued at once for the key in `csr`; otherwise the request
    /// waits for the RA and is retrieved with a mailed PIN.
    pub fn replace(
        &self,
        token: &str,
        serial: &str,
        password: &str,
        reason: RevocationReason,
        csr: Option<&CertificateRequest>,
    ) -> Result<ReplacementOutcome, Error> {
        if !RevocationReason::FOR_HOLDERS.contains(&reason) {
            return Err(RaError::ReasonNotAllowed.into());
        }
        let (mut request, candidates, count) = self.open_replacement(token)?;
        let chosen = candidates
            .into_iter()
            .find(|c| c.serial.eq_ignore_ascii_case(serial.trim()))
            .ok_or(RaError::UnknownCertificate)?;
        if !request.password_matches(password) {
            let target = request_target(&request);
            return Err(self
                .attempt_failed(
                    &request,
                    count,
                    (AuditAction::CertificateRevoked, target),
                    "replacement: wrong user password",
                    |attempts_left| RaError::WrongPinOrPassword { attempts_left },
                )?
                .into());
        }
        let account = self
            .store
            .account(request.account)?
            .ok_or(RaError::UnknownAccount)?;
        let automatic = account.settings.verification == VerificationMode::Automatic;
        if automatic && csr.is_none() {
            return Err(RaError::InvalidField {
                field: "certificate request",
                problem: "is required to issue the replacement at once".into(),
            }
            .into());
        }
        // Everything is checked: the original is revoked in the same write that
        // moves the request on (and, in automatic mode, issues the replacement).
        let revocation = Revocation {
            serial: chosen.serial.clone(),
            at: self.ca.environment().clock().now(),
            reason,
        };
        request.state = request.state.confirm()?;
        request.previous_serial = Some(chosen.serial.clone());
        request.pin = None;
        request.pin_expires = None;
        let outcome = match csr {
            Some(csr) if automatic => {
                request.state = request.state.approve()?;
                let certificate = self.issue_user_certificate(
                    request,
                    &account,
                    csr.public_key(),
                    Some(revocation),
                )?;
                ReplacementOutcome::Issued(Box::new(certificate))
            }
            _ => {
                let audit = vec![self.audit_record(
                    Actor::User(request.holder.email.clone()),
                    AuditAction::CertificateRevoked,
                    chosen.serial,
                    reason.label(),
                )];
                ReplacementOutcome::AwaitingApproval(Box::new(
                    self.store
                        .commit_request(RequestChange {
                            revoke: Some(revocation),
                            audit,
                            ..RequestChange::update(request)
                        })
                        .map_err(already_revoked)?,
                ))
            }
        };
        Ok(outcome)
    }

    /// Checks a replacement confirmation token (`reference-secret`); the attempt
    /// is counted first, and wrong tokens count like wrong PINs. Returns the
    /// request and the number of this attempt.
    fn check_replacement_token(&self, token: &str) -> Result<(Request, u32), Error> {
        let input = PinInput::parse(token)?;
        let reference = RequestRef::parse(input.reference).ok_or(RaError::UnknownRequest)?;
        let (mut request, _) = self.load_by_reference(&reference)?;
        if request.kind != RequestKind::Replacement
            || request.state != RequestState::AwaitingConfirmation
        {
            return Err(RaError::WrongState(request.state.label()).into());
        }
        if request
            .pin_expires
            .is_some_and(|end| self.ca.environment().clock().now() >= end)
        {
            request.state = request.state.expire()?;
            request.pin = None;
            self.store.update_request(&request)?;
            return Err(RaError::PinExpired.into());
        }
        let count = self.count_attempt(&request, "replacement link")?;
        if !request.pin.is_some_and(|hash| hash.matches(input.secret)) {
            let target = request_target(&request);
            return Err(self
                .attempt_failed(
                    &request,
                    count,
                    (AuditAction::RetrievalFailed, target),
                    "replacement link: wrong token",
                    |attempts_left| RaError::WrongPinOrPassword { attempts_left },
                )?
                .into());
        }
        Ok((request, count))
    }
}
