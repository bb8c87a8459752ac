//! Limits on wrong CMP/EST shared secrets. A secret carries about 119 bits, so
//! the limit is not what keeps it safe; it slows a guesser and keeps the log
//! readable. Failures count per (client address, reference) and per client
//! address: a reference over its limit is refused from that address only, so a
//! guesser elsewhere cannot lock the holder out (a lock per address alone would
//! lock out every device behind one NAT, and a lock per reference alone would
//! let anyone lock out any holder). The counts are kept on each node; with
//! N nodes behind a balancer a guesser gets at most N times the limit.
//!
//! Over the limit, CMP answers a signed error (notAuthorized) and EST 429 with
//! `Retry-After`, before the secret is checked. Each failure is counted in the
//! metrics and audited, at most [`crate::limits::Limits::shared_secret_audit_per_source`]
//! entries per address and window (the moment a limit is reached always is).

use topca_core::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    cmp::SecretGuard,
    store::AuditStore,
};

use crate::{AppState, limits::ClientAddr};

/// Which protocol a shared secret was tried with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A CMP MAC (PasswordBasedMac, PBMAC1).
    Cmp,
    /// EST's HTTP Basic.
    Est,
}

impl Protocol {
    fn is_est(self) -> bool {
        self == Self::Est
    }

    fn label(self) -> &'static str {
        match self {
            Self::Cmp => "cmp",
            Self::Est => "est",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Cmp => "CMP",
            Self::Est => "EST",
        }
    }
}

/// The limit for one request: its source address and protocol.
pub struct SourceGuard<'a> {
    state: &'a AppState,
    source: String,
    protocol: Protocol,
}

impl<'a> SourceGuard<'a> {
    /// The guard of a request from `client` over `protocol`.
    pub fn new(state: &'a AppState, client: ClientAddr, protocol: Protocol) -> Self {
        Self {
            state,
            source: client.key(),
            protocol,
        }
    }

    /// The key of `reference` tried from this source.
    fn pair(&self, reference: &str) -> String {
        // A reference is short text; a long one is cut so that keys stay small.
        let reference: String = reference.chars().take(64).collect();
        format!("{} {reference}", self.source)
    }

    /// Audits a failure (rate-limited per source; `reached` always).
    fn audit(&self, reference: &str, reached: bool) {
        let limits = &self.state.limits;
        if !reached
            && limits
                .shared_secret_audit_per_source
                .hit(&self.source)
                .is_err()
        {
            return;
        }
        let reference: String = reference
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let detail = if reached {
            format!("too many wrong secrets from {}", self.source)
        } else {
            format!("wrong secret from {}", self.source)
        };
        let record = AuditRecord {
            at: self.state.ca.environment().clock().now(),
            actor: Actor::Client(format!("{}-ref-{reference}", self.protocol.label())),
            action: AuditAction::RetrievalFailed,
            target: format!("{} credential {reference}", self.protocol.name()),
            outcome: Outcome::Failure,
            detail,
        };
        if let Err(e) = self.state.store.append_audit(record) {
            tracing::warn!(error = %e, "could not audit a wrong shared secret");
        }
    }
}

impl SecretGuard for SourceGuard<'_> {
    fn may_try(&self, reference: &str) -> Result<(), u64> {
        let limits = &self.state.limits;
        let checked = limits
            .shared_secret_per_reference
            .peek(&self.pair(reference))
            .and_then(|()| limits.shared_secret_per_source.peek(&self.source));
        if checked.is_err() {
            self.state
                .metrics
                .shared_secret(self.protocol.is_est(), true);
        }
        checked
    }

    fn failed(&self, reference: &str) {
        let limits = &self.state.limits;
        self.state
            .metrics
            .shared_secret(self.protocol.is_est(), false);
        let pair = self.pair(reference);
        // Over a limit already, the hit is refused and changes nothing.
        let counted = limits.shared_secret_per_reference.hit(&pair).is_ok()
            & limits.shared_secret_per_source.hit(&self.source).is_ok();
        let reached = counted
            && (limits.shared_secret_per_reference.peek(&pair).is_err()
                || limits.shared_secret_per_source.peek(&self.source).is_err());
        self.audit(reference, reached);
    }
}
