//! The registration authority: accounts, applications, approval with a mailed PIN,
//! and retrieval with PIN + user password (manual chapter 2, SPEC §2.1–2.2).
//!
//! The RA holds only what it needs: a store ([`RaStore`]), a mailer and the issuing
//! CA. Time and randomness come from the CA's [`crate::Environment`].

mod account;
pub mod admin;
mod bulk;
mod dual;
mod operator;
mod query;
mod request;

use std::time::Duration;

pub use account::{Account, AccountId, AccountSettings, Language};
pub use bulk::{RowError, parse_holders};
pub use dual::{EncryptionDelivery, Retrieved};
pub use operator::{AdminRole, Administrator, KmcOps, RaOps, SuperOps};
pub use query::{CertificateQuery, HolderQuery, StatusFilter};
pub use request::{Holder, HolderUpdate, PinInput, Request, RequestId};

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::{CertificateAuthority, IssueRequest},
    certificate::Certificate,
    csr::CertificateRequest,
    error::{Error, RaError, StoreError},
    kmc::MasterKey,
    lifecycle::{
        CertificateType, CertificateUsage, RequestKind, RequestState, RevocationReason,
        VerificationMode,
    },
    mail::{Envelope, Mail, Mailer},
    name::SubjectAltNames,
    profile::{Profile, ProfileKind},
    secret::{OneTimeCode, PasswordHash},
    store::{
        CertificateRecord, CertificateStatus, NewRequest, Opening, RaStore, RequestChange,
        Revocation,
    },
};

/// What became of a confirmed replacement.
#[derive(Debug)]
pub enum ReplacementOutcome {
    /// Automatic account: the replacement was issued at once.
    Issued(Box<Retrieved>),
    /// Approval account: the request waits for the RA; a PIN follows by mail.
    AwaitingApproval(Box<Request>),
}

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
    /// Requests created, in file order.
    pub registered: Vec<RequestId>,
    /// Rows not registered, with their reasons.
    pub rejected: Vec<RowError>,
}

/// Limits the RA enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaPolicy {
    /// How long a mailed PIN works.
    pub pin_lifetime: Duration,
    /// Wrong PIN or password attempts before a request locks.
    pub max_attempts: u8,
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
        }
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

    /// Applies for a server certificate from a verified CSR (申请服务器证书):
    /// only for accounts with administrator approval, only once the subscriber
    /// agreement is accepted. `email` is the contact address, corrected on the
    /// form if the CSR's was wrong; `password` protects revocation.
    pub fn apply_server(
        &self,
        account: AccountId,
        csr: &CertificateRequest,
        email: &str,
        password: &str,
        agreement_accepted: bool,
    ) -> Result<Request, Error> {
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        if account.settings.verification != VerificationMode::Manual {
            return Err(RaError::ServerNeedsApproval.into());
        }
        if !agreement_accepted {
            return Err(RaError::AgreementNotAccepted.into());
        }
        let subject = csr.subject();
        let server_name = server_name(csr).ok_or(crate::error::PolicyError::NoServerName)?;
        let holder = Holder {
            name: server_name,
            email: email.to_owned(),
            phone: None,
            state: subject.state.clone(),
            locality: subject.locality.clone(),
        }
        .validated()?;
        let password = PasswordHash::create(password, self.ca.environment().random())?;
        let request = self.store.submit_request(NewRequest {
            account: account.id,
            kind: RequestKind::ServerApplication,
            holder,
            password: Some(password),
            submitted_at: self.ca.environment().clock().now(),
            csr: Some(csr.der().to_vec()),
            previous_serial: None,
            opening: Opening::Submitted,
        })?;
        self.confirm_submission(&account, &request, &request.holder.name)?;
        Ok(request)
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
            request: request.id,
            holder: request.holder.name.clone(),
            reason: reason.to_owned(),
        };
        self.send(&account, &request, mail)?;
        Ok(request)
    }

    /// Retrieves the certificate of an approved request with the mailed PIN and the
    /// user password (获取用户证书), for the key in `csr`. Wrong attempts count;
    /// the request locks after [`RaPolicy::max_attempts`].
    pub fn retrieve(
        &self,
        pin: &str,
        password: &str,
        csr: &CertificateRequest,
    ) -> Result<Retrieved, Error> {
        let (request, account) = self.authenticate_retrieval(pin, password)?;
        self.issue_user_certificate(request, &account, csr.public_key(), None)
    }

    /// Retrieves with a key pair the CA generates (account algorithm), delivered
    /// with the certificate and its chain as a PKCS#12 file protected by the user
    /// password. The private key is not kept.
    pub fn retrieve_with_generated_key(
        &self,
        pin: &str,
        password: &str,
    ) -> Result<GeneratedKeyDelivery, Error> {
        let (request, account) = self.authenticate_retrieval(pin, password)?;
        self.deliver_generated_key(request, &account, password)
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
        let mut request = self.store.submit_request(NewRequest {
            account: account.id,
            kind: RequestKind::Application,
            holder,
            password: Some(hash),
            submitted_at: self.ca.environment().clock().now(),
            csr: None,
            previous_serial: None,
            opening: Opening::Submitted,
        })?;
        // Approved and issued in the one atomic write of the issuance.
        request.state = request.state.approve()?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::RequestApproved,
            request_target(&request),
            Outcome::Success,
            "central issuance",
        )?;
        self.deliver_generated_key(request, &account, password)
    }

    /// Generates a key pair of the account's algorithm, issues its certificate for
    /// `request` and packages key, certificate and chain as PKCS#12 under `password`.
    fn deliver_generated_key(
        &self,
        request: Request,
        account: &Account,
        password: &str,
    ) -> Result<GeneratedKeyDelivery, Error> {
        let env = self.ca.environment();
        let key = crate::key::SigningKey::generate(account.settings.algorithm, env.random())?;
        let holder = request.holder.name.clone();
        let issued = self.issue_user_certificate(request, account, key.public_key(), None)?;
        let chain = self.ca.chain();
        let pkcs12 = crate::pkcs12::encode(
            &key,
            &issued.certificate,
            &chain,
            &holder,
            password,
            env.random(),
        )?;
        Ok(GeneratedKeyDelivery {
            certificate: issued.certificate,
            encryption: issued.encryption,
            pkcs12,
        })
    }

    /// Checks a retrieval's PIN and user password; wrong attempts count and lock.
    fn authenticate_retrieval(
        &self,
        pin: &str,
        password: &str,
    ) -> Result<(Request, Account), Error> {
        self.check_pin(pin, |request| request.password_matches(password))
    }

    /// Checks a passcode authorization code (as `reference-code`); no password yet.
    fn check_code(&self, pin: &str) -> Result<(Request, Account), Error> {
        self.check_pin(pin, |_| true)
    }

    /// Checks that `pin` opens an approved, unexpired request and that `also`
    /// holds for it; a failure of either counts as a wrong attempt.
    fn check_pin(
        &self,
        pin: &str,
        also: impl Fn(&Request) -> bool,
    ) -> Result<(Request, Account), Error> {
        let pin = PinInput::parse(pin)?;
        let (mut request, account) = self.load(pin.request).map_err(|e| match e {
            Error::Ra(RaError::UnknownRequest) => RaError::InvalidField {
                field: "PIN",
                problem: "is not a PIN from the approval mail".into(),
            }
            .into(),
            other => other,
        })?;
        match request.state {
            RequestState::Approved => {}
            RequestState::Locked => return Err(RaError::Locked.into()),
            RequestState::Expired => return Err(RaError::PinExpired.into()),
            other => return Err(RaError::WrongState(other.label()).into()),
        }
        let now = self.ca.environment().clock().now();
        if request.pin_expires.is_some_and(|end| now >= end) {
            request.state = request.state.expire()?;
            request.pin = None;
            self.store.update_request(&request)?;
            return Err(RaError::PinExpired.into());
        }
        let pin_ok = request.pin.is_some_and(|hash| hash.matches(pin.secret));
        // The second check runs even when the PIN is wrong, so timing tells nothing.
        let password_ok = also(&request);
        if !(pin_ok && password_ok) {
            return Err(self.count_failure(request)?.into());
        }
        Ok((request, account))
    }

    /// Issues the user signing certificate of an approved request for `public_key`
    /// (and for a dual account the encryption certificate, its key escrowed), stores
    /// them, revokes what `revoke` names and closes the request, in one atomic
    /// write. A replacement ends when the certificate it replaces ended.
    fn issue_user_certificate(
        &self,
        mut request: Request,
        account: &Account,
        public_key: &crate::key::PublicKey,
        revoke: Option<Revocation>,
    ) -> Result<Retrieved, Error> {
        let dual = account.settings.certificate_type == CertificateType::Dual;
        if dual {
            dual::check_dual(self.kmc, account, public_key)?;
        }
        let not_after = match (request.kind, &request.previous_serial) {
            (RequestKind::Replacement, Some(serial)) => Some(
                self.store
                    .certificate(serial)?
                    .ok_or(RaError::UnknownCertificate)?
                    .not_after,
            ),
            _ => None,
        };
        let profile = Profile::new(ProfileKind::UserSigning, account.settings.validity_days)?;
        let subject = request.holder.subject(&account.settings);
        let certificate = self.ca.issue(
            IssueRequest {
                subject: subject.clone(),
                public_key: public_key.clone(),
                alt_names: SubjectAltNames::default(),
                not_after,
            },
            &profile,
        )?;
        let mut issued =
            vec![self.record(&certificate, account, &request, CertificateUsage::Signing)];
        let (encryption, escrow) = match self.kmc.filter(|_| dual) {
            Some(master) => {
                let half = dual::make_encryption_half(
                    self.ca,
                    master,
                    account,
                    subject,
                    &request.holder.email,
                    &certificate,
                    not_after,
                )?;
                issued.push(self.record(
                    &half.delivery.certificate,
                    account,
                    &request,
                    CertificateUsage::Encryption,
                ));
                (Some(half.delivery), Some(half.escrow))
            }
            None => (None, None),
        };
        request.state = request.state.issue()?;
        request.pin = None;
        request.pin_expires = None;
        request.issued_serial = Some(certificate.serial_hex());
        let request = self
            .store
            .commit_request(RequestChange {
                request,
                revoke,
                issued,
                escrow,
            })
            .map_err(already_revoked)?;
        let actor = Actor::User(request.holder.email.clone());
        self.audit(
            actor.clone(),
            AuditAction::CertificateIssued,
            certificate.serial_hex(),
            Outcome::Success,
            &request_target(&request),
        )?;
        if let Some(half) = &encryption {
            let serial = half.certificate.serial_hex();
            self.audit(
                actor.clone(),
                AuditAction::CertificateIssued,
                serial.clone(),
                Outcome::Success,
                &request_target(&request),
            )?;
            self.audit(
                Actor::System,
                AuditAction::KeyEscrowed,
                serial,
                Outcome::Success,
                &format!("signing certificate {}", certificate.serial_hex()),
            )?;
        }
        Ok(Retrieved {
            certificate,
            encryption,
        })
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

    /// Revokes one of an account's certificates on its holder's word: the user
    /// password set at application and an RFC 5280 reason (吊销用户证书). The
    /// holder is mailed a notice; the revocation stands even if the mail fails.
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
        if !request.password_matches(password) {
            self.audit(
                actor,
                AuditAction::CertificateRevoked,
                record.serial,
                Outcome::Failure,
                "wrong user password",
            )?;
            return Err(RaError::WrongPassword.into());
        }
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

    /// Revokes `serial` now, audits it for `actor` and mails the holder; the
    /// revocation stands even if the mail fails (the failure is audited).
    fn revoke_and_notify(
        &self,
        actor: Actor,
        serial: &str,
        reason: RevocationReason,
        account: &Account,
        request: &Request,
    ) -> Result<CertificateRecord, Error> {
        let now = self.ca.environment().clock().now();
        let revoked = self
            .store
            .revoke_certificate(&Revocation {
                serial: serial.to_owned(),
                at: now,
                reason,
            })
            .map_err(already_revoked)?;
        self.audit(
            actor,
            AuditAction::CertificateRevoked,
            revoked.serial.clone(),
            Outcome::Success,
            reason.label(),
        )?;
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
    /// an application and retrieved with a mailed PIN.
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
        if !original.password_matches(password) {
            return Err(RaError::WrongPassword.into());
        }
        let holder = update
            .apply(&original.holder, &account.settings)?
            .validated()?;
        let request = self.store.submit_request(NewRequest {
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

    /// Step 1 of a replacement (证书替换): the holder gives their name and e-mail;
    /// if they hold a valid certificate in the account, a single-use confirmation
    /// link is mailed to that address.
    pub fn start_replacement(
        &self,
        account: AccountId,
        name: &str,
        email: &str,
    ) -> Result<RequestId, Error> {
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
            PinInput::format(request.id, &token.clear)
        );
        let mail = Mail::ReplacementConfirmation {
            request: request.id,
            holder: request.holder.name.clone(),
            link: zeroize::Zeroizing::new(link),
        };
        self.send(&account, &request, mail)?;
        Ok(request.id)
    }

    /// Step 2: the confirmation link was opened. Checks its token and lists the
    /// holder's valid certificates in the account, one of which will be replaced.
    pub fn confirm_replacement(
        &self,
        token: &str,
    ) -> Result<(Request, Vec<CertificateRecord>), Error> {
        let (request, _) = self.check_replacement_token(token)?;
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
        Ok((request, candidates))
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
        let (mut request, candidates) = self.confirm_replacement(token)?;
        let chosen = candidates
            .into_iter()
            .find(|c| c.serial.eq_ignore_ascii_case(serial.trim()))
            .ok_or(RaError::UnknownCertificate)?;
        if !request.password_matches(password) {
            return Err(self.count_failure(request)?.into());
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
        let actor = Actor::User(request.holder.email.clone());
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
            _ => ReplacementOutcome::AwaitingApproval(Box::new(
                self.store
                    .commit_request(RequestChange {
                        revoke: Some(revocation),
                        ..RequestChange::update(request)
                    })
                    .map_err(already_revoked)?,
            )),
        };
        self.audit(
            actor,
            AuditAction::CertificateRevoked,
            chosen.serial,
            Outcome::Success,
            reason.label(),
        )?;
        Ok(outcome)
    }

    /// Checks a replacement confirmation token; wrong tokens count like wrong PINs.
    fn check_replacement_token(&self, token: &str) -> Result<(Request, Account), Error> {
        let input = PinInput::parse(token)?;
        let (mut request, account) = self.load(input.request)?;
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
        if !request.pin.is_some_and(|hash| hash.matches(input.secret)) {
            return Err(self.count_failure(request)?.into());
        }
        Ok((request, account))
    }

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
        let env = self.ca.environment();
        let code = OneTimeCode::generate(self.policy.pin_symbols, env.random())?;
        let now = env.clock().now();
        let request = self.store.submit_request(NewRequest {
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
            request: request.id,
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
        for (line, holder) in holders {
            match self.preregister(ops, account, holder) {
                Ok(request) => registered.push(request.id),
                Err(Error::Ra(RaError::NotPasscodeAccount | RaError::UnknownAccount)) => {
                    return Err(RaError::NotPasscodeAccount.into());
                }
                Err(e) => rejected.push(RowError {
                    line,
                    reason: e.to_string(),
                }),
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
        let pin = PinInput::format(
            RequestId(
                reference
                    .trim()
                    .parse()
                    .map_err(|_| RaError::InvalidField {
                        field: "reference number",
                        problem: "is not a number from the passcode mail".into(),
                    })?,
            ),
            code,
        );
        let (mut request, account) = self.check_code(&pin)?;
        if request.password.is_some() {
            return Err(RaError::WrongState("not a passcode pre-registration").into());
        }
        request.password = Some(password);
        self.issue_user_certificate(request, &account, csr.public_key(), None)
    }

    /// Approves a server application: issues the TLS server certificate from the
    /// stored CSR, stores it, closes the request and mails the certificate.
    fn issue_server_certificate(
        &self,
        ops: &RaOps,
        mut request: Request,
        account: &Account,
    ) -> Result<Request, Error> {
        request.state = request.state.approve()?;
        let csr_der = request
            .csr
            .as_deref()
            .ok_or(RaError::WrongState("missing its CSR"))?;
        let csr = CertificateRequest::from_der(csr_der)?;
        let mut alt_names = csr.alt_names().clone();
        alt_names.add_host(&request.holder.name)?;
        let days = account
            .settings
            .validity_days
            .min(ProfileKind::TlsServer.max_validity_days());
        let subject = crate::name::DistinguishedName {
            country: Some("CN".to_owned()),
            state: request.holder.state.clone(),
            locality: request.holder.locality.clone(),
            organization: Some(account.settings.organization.clone()),
            organizational_units: vec![account.settings.unit.clone()],
            common_name: Some(request.holder.name.clone()),
            email: None,
        };
        let certificate = self.ca.issue(
            IssueRequest {
                subject,
                public_key: csr.public_key().clone(),
                alt_names,
                not_after: None,
            },
            &Profile::new(ProfileKind::TlsServer, days)?,
        )?;
        request.state = request.state.issue()?;
        request.issued_serial = Some(certificate.serial_hex());
        let record = self.record(&certificate, account, &request, CertificateUsage::Server);
        let request = self.store.commit_request(RequestChange {
            issued: vec![record],
            ..RequestChange::update(request)
        })?;
        let actor = Actor::Admin(ops.admin().into());
        self.audit(
            actor.clone(),
            AuditAction::RequestApproved,
            request_target(&request),
            Outcome::Success,
            "",
        )?;
        self.audit(
            actor,
            AuditAction::CertificateIssued,
            certificate.serial_hex(),
            Outcome::Success,
            &request_target(&request),
        )?;
        let mail = Mail::ServerCertificateIssued {
            request: request.id,
            server: request.holder.name.clone(),
            serial: certificate.serial_hex(),
            pem: certificate.to_pem(),
        };
        self.send(account, &request, mail)?;
        Ok(request)
    }

    /// The store record of a certificate issued for `request`.
    fn record(
        &self,
        certificate: &Certificate,
        account: &Account,
        request: &Request,
        usage: CertificateUsage,
    ) -> CertificateRecord {
        CertificateRecord {
            serial: certificate.serial_hex(),
            account: Some(account.id),
            request: Some(request.id),
            holder_name: request.holder.name.clone(),
            email: request.holder.email.clone(),
            subject: certificate.subject_text(),
            issuer: certificate.issuer_text(),
            usage,
            not_before: certificate.not_before(),
            not_after: certificate.not_after(),
            status: CertificateStatus::Valid,
            revocation: None,
            der: certificate.der().to_vec(),
        }
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
            request: request.id,
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
        request.failed_attempts = 0;
        let request = self.store.update_request(&request)?;
        self.audit(
            actor,
            action,
            request_target(&request),
            Outcome::Success,
            "",
        )?;
        let mail = Mail::RequestApproved {
            request: request.id,
            kind: request.kind,
            holder: request.holder.name.clone(),
            pin: zeroize::Zeroizing::new(PinInput::format(request.id, &code.clear)),
            retrieve_url: format!(
                "{}/retrieve",
                account.settings.service_url.trim_end_matches('/')
            ),
        };
        self.send(account, &request, mail)?;
        Ok(request)
    }

    /// Counts a wrong attempt, locking the request at the limit; returns the error to show.
    fn count_failure(&self, mut request: Request) -> Result<RaError, Error> {
        request.failed_attempts = request.failed_attempts.saturating_add(1);
        let locked = request.failed_attempts >= self.policy.max_attempts;
        if locked {
            request.state = request.state.lock()?;
            request.pin = None;
        }
        let request = self.store.update_request(&request)?;
        let actor = Actor::User(request.holder.email.clone());
        let action = if locked {
            AuditAction::RequestLocked
        } else {
            AuditAction::RetrievalFailed
        };
        self.audit(
            actor,
            action,
            request_target(&request),
            Outcome::Failure,
            "wrong PIN or password",
        )?;
        Ok(if locked {
            RaError::Locked
        } else {
            RaError::WrongPinOrPassword {
                attempts_left: self.policy.max_attempts - request.failed_attempts,
            }
        })
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
            at: self.ca.environment().clock().now(),
            actor,
            action,
            target,
            outcome,
            detail: detail.to_owned(),
        })?;
        Ok(())
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

/// The name a server certificate is for: the CSR's CN when it is a host name,
/// else its first DNS name or IP address.
fn server_name(csr: &CertificateRequest) -> Option<String> {
    let cn_host = csr.subject().common_name.as_ref().and_then(|cn| {
        let mut names = SubjectAltNames::default();
        names
            .add_host(cn)
            .ok()
            .map(|()| cn.trim().to_ascii_lowercase())
    });
    cn_host
        .or_else(|| csr.alt_names().dns_names.first().cloned())
        .or_else(|| {
            csr.alt_names()
                .ip_addresses
                .first()
                .map(|ip| ip.to_string())
        })
}
