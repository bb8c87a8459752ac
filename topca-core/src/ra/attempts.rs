//! Attempts at holder secrets — the mailed PIN, the passcode authorization code,
//! the replacement link and the user password — and the RA's unlock.
//!
//! Every attempt is counted in the store before the secret is checked (one atomic
//! increment, so concurrent guesses all count), per request and client address,
//! for [`super::RaPolicy::lockout`]. When a source has spent
//! [`super::RaPolicy::max_attempts`] the request is locked for that source only
//! until its window ends or an RA administrator unlocks the request. Every failure
//! and every refused attempt is audited.

use crate::{
    audit::{Actor, AuditAction, Outcome},
    error::{Error, RaError},
    lifecycle::RequestState,
};

use super::{RaOps, RegistrationAuthority, Request, RequestRef, request_target};

impl RegistrationAuthority<'_> {
    /// Counts an attempt at a secret of `request` from this RA's source before the
    /// secret is checked, and returns its number; an attempt over the limit is
    /// refused and audited (the secret is not even looked at).
    pub(super) fn count_attempt(&self, request: &Request, what: &str) -> Result<u32, Error> {
        let now = self.ca.environment().clock().now();
        let count =
            self.store
                .count_holder_attempt(request.id, &self.source, now, self.policy.lockout)?;
        if count > u32::from(self.policy.max_attempts) {
            self.audit(
                Actor::User(request.holder.email.clone()),
                AuditAction::RequestLocked,
                request_target(request),
                Outcome::Failure,
                &format!(
                    "{what}: attempt {count} from {} refused while locked",
                    self.source_label()
                ),
            )?;
            return Err(RaError::Locked.into());
        }
        Ok(count)
    }

    /// Audits a wrong secret (attempt `count` from this source) as `action` on
    /// `target`, and returns the error to show: `wrong` with the attempts left,
    /// or [`RaError::Locked`] when that was the last one.
    pub(super) fn attempt_failed(
        &self,
        request: &Request,
        count: u32,
        (action, target): (AuditAction, String),
        what: &str,
        wrong: impl FnOnce(u8) -> RaError,
    ) -> Result<RaError, Error> {
        let max = u32::from(self.policy.max_attempts);
        let locked = count >= max;
        let action = if locked {
            AuditAction::RequestLocked
        } else {
            action
        };
        self.audit(
            Actor::User(request.holder.email.clone()),
            action,
            target,
            Outcome::Failure,
            &format!(
                "{what}: attempt {count} of {max} from {}",
                self.source_label()
            ),
        )?;
        Ok(if locked {
            RaError::Locked
        } else {
            wrong(u8::try_from(max - count).unwrap_or(u8::MAX))
        })
    }

    /// The holder proved a secret of `request`: this source's count starts again.
    pub(super) fn attempt_succeeded(&self, request: &Request) -> Result<(), Error> {
        Ok(self
            .store
            .clear_holder_attempts(request.id, Some(&self.source))?)
    }

    /// Unlocks a request (RA administrator), found by the reference the holder
    /// gives: every source's failed attempts are forgotten, and a request an
    /// earlier version locked for everyone is approved again (a replacement waits
    /// for its link again; resend the PIN if it has none). Audited.
    pub fn unlock(&self, ops: &RaOps, reference: &RequestRef) -> Result<Request, Error> {
        let (mut request, _) = self.load_by_reference(reference)?;
        self.store.clear_holder_attempts(request.id, None)?;
        if request.state == RequestState::Locked {
            request.state = request.state.unlock(request.kind)?;
            request = self.store.update_request(&request)?;
        }
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RequestUnlocked,
            request_target(&request),
            Outcome::Success,
            &format!("reference {reference}"),
        )?;
        Ok(request)
    }

    fn source_label(&self) -> &str {
        if self.source.is_empty() {
            "an unnamed source"
        } else {
            &self.source
        }
    }
}
