//! The registration authority: accounts, applications, approval with a mailed PIN,
//! and retrieval with PIN + user password (manual chapter 2, SPEC §2.1–2.2).
//!
//! The RA holds only what it needs: a store ([`RaStore`]), a mailer and the issuing
//! CA. Time and randomness come from the CA's [`crate::Environment`].

mod account;
pub mod admin;
mod attempts;
mod bulk;
mod bulk_issue;
mod dual;
mod issue;
mod operator;
mod passcode;
mod query;
mod renewal;
mod replacement;
mod request;
mod retrieve;
mod revoke;
mod server;
mod server_policy;
pub mod session;

use std::time::Duration;

pub use account::{Account, AccountId, AccountSettings, Language};
pub use bulk::{FirstLines, RowError, parse_holders};
pub use dual::{EncryptionDelivery, Retrieved};
pub use operator::{AdminRole, Administrator, KmcOps, RaOps, SuperOps};
pub use query::{CertificateQuery, HolderQuery, StatusFilter};
pub use replacement::ReplacementOutcome;
pub use request::{Holder, HolderUpdate, PinInput, Request, RequestId, RequestRef};
pub(crate) use server::server_name;
pub use server::{ServerPreview, ServerReview};
pub use server_policy::{DEFAULT_MAX_NAMES, MAX_NAMES_CEILING, ServerPolicy};

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::CertificateAuthority,
    certificate::Certificate,
    error::{Error, RaError, StoreError},
    kmc::MasterKey,
    lifecycle::{RequestKind, RequestState, VerificationMode},
    mail::{Envelope, Mail, Mailer},
    secret::{OneTimeCode, PasswordHash},
    store::{CertificateRecord, NewRequest, Opening, RaStore},
};

/// A certificate issued for a key the CA generated, and the PKCS#12 file that
/// carries the key, the certificate and the chain.
#[derive(Debug)]
pub struct GeneratedKeyDelivery {
    /// The signing certificate.
    pub certificate: Certificate,
    /// The encryption half, for a dual account (enveloped for the generated key).
    pub encryption: Option<EncryptionDelivery>,
    /// The PKCS#12 file, protected by the user password.
    pub pkcs12: zeroize::Zeroizing<Vec<u8>>,
}

/// The result of a bulk pre-registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkReport {
    /// The public references of the requests created, in file order.
    pub registered: Vec<RequestRef>,
    /// Rows not registered, with their reasons.
    pub rejected: Vec<RowError>,
}

/// Limits the RA enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaPolicy {
    /// How long a mailed PIN works.
    pub pin_lifetime: Duration,
    /// Attempts at a request's PIN, code, link or user password one client
    /// address may make within [`Self::lockout`]; the request is locked for that
    /// address when they are spent.
    pub max_attempts: u8,
    /// How long a client's attempts at one request are counted, and so how long
    /// a lockout lasts.
    pub lockout: Duration,
    /// Symbols in the secret part of a PIN (12 ≈ 59 bits).
    pub pin_symbols: usize,
    /// Most accounts a keyword search returns.
    pub search_limit: usize,
    /// Certificates ending within this many days can be renewed.
    pub renewal_window_days: u32,
}

impl Default for RaPolicy {
    fn default() -> Self {
        Self {
            pin_lifetime: Duration::from_secs(7 * 86_400),
            max_attempts: 5,
            lockout: Duration::from_secs(15 * 60),
            pin_symbols: 12,
            search_limit: 20,
            renewal_window_days: 30,
        }
    }
}

/// The registration authority over one issuing CA.
pub struct RegistrationAuthority<'a> {
    store: &'a dyn RaStore,
    mailer: &'a dyn Mailer,
    ca: &'a CertificateAuthority,
    policy: RaPolicy,
    kmc: Option<&'a MasterKey>,
    /// The client address holder secrets come from; attempts count per source.
    source: String,
}

impl<'a> RegistrationAuthority<'a> {
    /// An RA over `store`, mailing through `mailer`, issuing from `ca`.
    pub fn new(
        store: &'a dyn RaStore,
        mailer: &'a dyn Mailer,
        ca: &'a CertificateAuthority,
        policy: RaPolicy,
    ) -> Self {
        Self {
            store,
            mailer,
            ca,
            policy,
            kmc: None,
            source: String::new(),
        }
    }

    /// Names the client (its address) the holder secrets checked through this RA
    /// come from: failed attempts lock a request for that source only, so a
    /// stranger's guesses do not lock the holder out. Without it every attempt
    /// counts under one unnamed source.
    pub fn for_client(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Lets the RA issue dual certificates: encryption keys are escrowed under
    /// `master`, the KMC master key. Without it, dual accounts cannot retrieve.
    pub fn with_kmc(mut self, master: &'a MasterKey) -> Self {
        self.kmc = Some(master);
        self
    }

    /// Creates an account (RA administrator).
    pub fn create_account(&self, ops: &RaOps, settings: AccountSettings) -> Result<Account, Error> {
        settings.validate()?;
        let account = self.store.create_account(settings)?;
        let target = format!(
            "account {} ({} / {})",
            account.id.0, account.settings.organization, account.settings.unit
        );
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::AccountCreated,
            target,
            Outcome::Success,
            "",
        )?;
        Ok(account)
    }

    /// Changes an account's settings (RA administrator): type, mode, profile,
    /// algorithm, validity, service URL, language. Certificates already issued
    /// keep what they were issued with.
    pub fn update_account(
        &self,
        ops: &RaOps,
        id: AccountId,
        settings: AccountSettings,
    ) -> Result<Account, Error> {
        settings.validate()?;
        let before = self.store.account(id)?.ok_or(RaError::UnknownAccount)?;
        let account = self.store.update_account(&Account { id, settings })?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::AccountUpdated,
            format!(
                "account {} ({} / {})",
                id.0, account.settings.organization, account.settings.unit
            ),
            Outcome::Success,
            &format!(
                "was {} / {}, {:?}, {:?}, {}",
                before.settings.organization,
                before.settings.unit,
                before.settings.certificate_type,
                before.settings.verification,
                before.settings.algorithm.name()
            ),
        )?;
        Ok(account)
    }

    /// Accounts whose O or OU contains `keyword`, for the live login search.
    pub fn search_accounts(&self, keyword: &str) -> Result<Vec<Account>, Error> {
        Ok(self
            .store
            .search_accounts(keyword, self.policy.search_limit)?)
    }

    /// Applies for a user certificate (申请用户证书). Mails a registration
    /// confirmation; in automatic mode the request is approved at once.
    pub fn apply(
        &self,
        account: AccountId,
        holder: Holder,
        password: &str,
    ) -> Result<Request, Error> {
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        let holder = holder.validated()?;
        let password = PasswordHash::create(password, self.ca.environment().random())?;
        let request = self.store.submit_request(NewRequest {
            reference: self.new_reference()?,
            account: account.id,
            kind: RequestKind::Application,
            holder,
            password: Some(password),
            submitted_at: self.ca.environment().clock().now(),
            csr: None,
            previous_serial: None,
            opening: Opening::Submitted,
        })?;
        self.confirm_submission(&account, &request, "")?;
        if account.settings.verification == VerificationMode::Automatic {
            return self.approve_request(Actor::System, request, &account);
        }
        Ok(request)
    }

    /// Approves a submitted request and mails its PIN (RA administrator). If the
    /// mail fails the request stays approved and [`Self::resend_pin`] mails a new PIN.
    ///
    /// A server application is issued at once from its CSR and the certificate is
    /// mailed (the key never left the server, so no PIN is needed).
    pub fn approve(&self, ops: &RaOps, id: RequestId) -> Result<Request, Error> {
        let (request, account) = self.load(id)?;
        if request.kind == RequestKind::ServerApplication {
            return self.issue_server_certificate(ops, request, &account);
        }
        self.approve_request(Actor::Admin(ops.admin().into()), request, &account)
    }

    /// Replaces the PIN of an approved request with a new one and mails it (the
    /// old PIN stops working; audited as [`AuditAction::PinResent`]).
    pub fn resend_pin(&self, ops: &RaOps, id: RequestId) -> Result<Request, Error> {
        let (request, account) = self.load(id)?;
        if request.state != RequestState::Approved {
            return Err(RaError::WrongState(request.state.label()).into());
        }
        self.issue_pin(
            Actor::Admin(ops.admin().into()),
            AuditAction::PinResent,
            request,
            &account,
        )
    }

    /// Rejects a submitted request with a reason, which is mailed to the holder.
    pub fn reject(&self, ops: &RaOps, id: RequestId, reason: &str) -> Result<Request, Error> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(RaError::InvalidField {
                field: "reason",
                problem: "is required".into(),
            }
            .into());
        }
        let (mut request, account) = self.load(id)?;
        request.state = request.state.reject()?;
        request.reject_reason = Some(reason.to_owned());
        let request = self.store.update_request(&request)?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RequestRejected,
            request_target(&request),
            Outcome::Success,
            reason,
        )?;
        let mail = Mail::RequestRejected {
            request: request.reference.clone(),
            holder: request.holder.name.clone(),
            reason: reason.to_owned(),
        };
        self.send(&account, &request, mail)?;
        Ok(request)
    }

    /// Central issuance (管理员集中制证): the RA issues a user certificate on the
    /// holder's behalf with a key the CA generates, delivered as a PKCS#12 file
    /// protected by `password`, which becomes the holder's user password.
    pub fn issue_centrally(
        &self,
        ops: &RaOps,
        account: AccountId,
        holder: Holder,
        password: &str,
    ) -> Result<GeneratedKeyDelivery, Error> {
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        let holder = holder.validated()?;
        let hash = PasswordHash::create(password, self.ca.environment().random())?;
        let request =
            self.approved_by_admin(ops, &account, (holder, Some(hash)), "central issuance")?;
        self.deliver_generated_key(request, &account, password)
    }

    /// Finds an account's certificates by holder e-mail or name, filtered by status
    /// and end of validity (查询用户证书), newest first.
    pub fn query(
        &self,
        account: AccountId,
        query: &CertificateQuery,
    ) -> Result<Vec<CertificateRecord>, Error> {
        let found = match &query.holder {
            HolderQuery::Email(email) => self.store.certificates_by_email(email)?,
            HolderQuery::Name(name) => self.store.certificates_by_holder_name(name)?,
        };
        let now = self.ca.environment().clock().now();
        Ok(found
            .into_iter()
            .filter(|c| c.account == Some(account) && query.keeps(c, now))
            .collect())
    }

    /// Audits a submission and mails the registration confirmation; the request
    /// stands even if the mail cannot be sent now (the failure is audited).
    fn confirm_submission(
        &self,
        account: &Account,
        request: &Request,
        detail: &str,
    ) -> Result<(), Error> {
        let actor = Actor::User(request.holder.email.clone());
        self.audit(
            actor,
            AuditAction::RequestSubmitted,
            request_target(request),
            Outcome::Success,
            detail,
        )?;
        let confirmation = Mail::RegistrationConfirmation {
            request: request.reference.clone(),
            holder: request.holder.name.clone(),
            service_url: account.settings.service_url.clone(),
        };
        if let Err(e) = self.send(account, request, confirmation) {
            self.audit(
                Actor::System,
                AuditAction::RequestSubmitted,
                request_target(request),
                Outcome::Failure,
                &e.to_string(),
            )?;
        }
        Ok(())
    }

    fn approve_request(
        &self,
        actor: Actor,
        mut request: Request,
        account: &Account,
    ) -> Result<Request, Error> {
        request.state = request.state.approve()?;
        self.issue_pin(actor, AuditAction::RequestApproved, request, account)
    }

    /// Draws a PIN, stores its hash with the request, audits, and mails it.
    fn issue_pin(
        &self,
        actor: Actor,
        action: AuditAction,
        mut request: Request,
        account: &Account,
    ) -> Result<Request, Error> {
        let env = self.ca.environment();
        let code = OneTimeCode::generate(self.policy.pin_symbols, env.random())?;
        request.pin = Some(code.hash);
        request.pin_expires = Some(env.clock().now() + self.policy.pin_lifetime);
        let request = self.store.update_request(&request)?;
        self.audit(
            actor,
            action,
            request_target(&request),
            Outcome::Success,
            "",
        )?;
        let mail = Mail::RequestApproved {
            request: request.reference.clone(),
            kind: request.kind,
            holder: request.holder.name.clone(),
            pin: zeroize::Zeroizing::new(PinInput::format(&request.reference.0, &code.clear)),
            retrieve_url: format!(
                "{}/retrieve",
                account.settings.service_url.trim_end_matches('/')
            ),
        };
        self.send(account, &request, mail)?;
        Ok(request)
    }

    /// A new random public reference for a request.
    fn new_reference(&self) -> Result<RequestRef, Error> {
        RequestRef::generate(self.ca.environment().random())
    }

    /// The request a holder names by its public reference, and its account.
    fn load_by_reference(&self, reference: &RequestRef) -> Result<(Request, Account), Error> {
        let request = self
            .store
            .request_by_reference(reference)?
            .ok_or(RaError::UnknownRequest)?;
        let account = self
            .store
            .account(request.account)?
            .ok_or(RaError::UnknownAccount)?;
        Ok((request, account))
    }

    fn load(&self, id: RequestId) -> Result<(Request, Account), Error> {
        let request = self.store.request(id)?.ok_or(RaError::UnknownRequest)?;
        let account = self
            .store
            .account(request.account)?
            .ok_or(RaError::UnknownAccount)?;
        Ok((request, account))
    }

    fn send(&self, account: &Account, request: &Request, mail: Mail) -> Result<(), Error> {
        let envelope = Envelope {
            to: request.holder.email.clone(),
            language: account.settings.language,
            mail,
        };
        Ok(self.mailer.send(&envelope)?)
    }

    fn audit(
        &self,
        actor: Actor,
        action: AuditAction,
        target: String,
        outcome: Outcome,
        detail: &str,
    ) -> Result<(), Error> {
        self.store.append_audit(AuditRecord {
            outcome,
            ..self.audit_record(actor, action, target, detail)
        })?;
        Ok(())
    }

    /// A successful step, now, for the audit log (written with the change it tells of).
    fn audit_record(
        &self,
        actor: Actor,
        action: AuditAction,
        target: String,
        detail: &str,
    ) -> AuditRecord {
        AuditRecord {
            at: self.ca.environment().clock().now(),
            actor,
            action,
            target,
            outcome: Outcome::Success,
            detail: detail.to_owned(),
        }
    }
}

/// A store refusal to revoke twice, as the user sees it.
fn already_revoked(error: StoreError) -> Error {
    match error {
        StoreError::AlreadyRevoked(_) => RaError::AlreadyRevoked.into(),
        other => other.into(),
    }
}

fn request_target(request: &Request) -> String {
    format!("request {}", request.id.0)
}
