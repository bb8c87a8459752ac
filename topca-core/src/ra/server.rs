//! Server certificates (服务器证书): application from a CSR, the RA's review of
//! exactly what would be signed, approval, and each account's name policy.
//!
//! The review and the issuance build the certificate through one function
//! ([`RegistrationAuthority::server_issue_request`]) and the CA's own checked
//! path, so the names an administrator is shown are the names that are signed.

use der::Decode;
use x509_cert::{TbsCertificate, ext::pkix::SubjectAltName};

use super::{
    Account, AccountId, Holder, RaOps, RegistrationAuthority, Request, RequestId, request_target,
    server_policy::ServerPolicy,
};
use crate::{
    audit::{Actor, AuditAction, Outcome},
    ca::IssueRequest,
    csr::CertificateRequest,
    error::{Error, PolicyError, RaError},
    issuance::{Requester, sign_recorded},
    lifecycle::{CertificateUsage, RequestKind, VerificationMode},
    mail::Mail,
    name::{DistinguishedName, SubjectAltNames, display_name},
    oid,
    preview::general_name,
    profile::{Profile, ProfileKind},
    secret::PasswordHash,
    store::{NewRequest, Opening, RequestChange},
};

/// What approving a server application would sign, read back from the exact
/// TBSCertificate the CA encodes for it (only serial and validity differ at
/// approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReview {
    /// The request.
    pub request: Request,
    /// The subject, `C=CN, O=…, CN=…`.
    pub subject: String,
    /// Every subjectAltName, in certificate order, as OpenSSL prints them
    /// (`DNS:…`, `IP:…`, `email:…`, `URI:…`).
    pub names: Vec<String>,
    /// The key, algorithm and size (for example `RSA-2048`, `ECDSA P-256`).
    pub key: String,
    /// Why the account's policy would refuse it today, if it would.
    pub refusal: Option<String>,
}

/// What a server certificate applied for with a CSR would carry, shown to the
/// applicant before the application is registered (nothing is stored).
#[derive(Debug)]
pub struct ServerPreview {
    /// The subject the CA would sign: `C=CN`, the CSR's province and city, the
    /// account's O and OU, the server name as CN.
    pub subject: DistinguishedName,
    /// Every subjectAltName (the CSR's, with the server name added).
    pub alt_names: SubjectAltNames,
    /// The key, algorithm and size (for example `RSA-2048`, `ECDSA P-256`).
    pub key: String,
    /// Why the account's policy or the CA's key rules would refuse it, if they would.
    pub refusal: Option<Error>,
}

impl RegistrationAuthority<'_> {
    /// Applies for a server certificate from a verified CSR (申请服务器证书):
    /// only for accounts with administrator approval, only once the subscriber
    /// agreement is accepted, only for a key the CA certifies and names the
    /// account's [`ServerPolicy`] allows. `email` is the contact address,
    /// corrected on the form if the CSR's was wrong; `password` protects revocation.
    pub fn apply_server(
        &self,
        account: AccountId,
        csr: &CertificateRequest,
        email: &str,
        password: &str,
        agreement_accepted: bool,
    ) -> Result<Request, Error> {
        let account = self.server_account(account)?;
        if !agreement_accepted {
            return Err(RaError::AgreementNotAccepted.into());
        }
        let subject = csr.subject();
        let server_name = server_name(csr).ok_or(PolicyError::NoServerName)?;
        let holder = Holder {
            name: server_name,
            email: email.to_owned(),
            phone: None,
            state: subject.state.clone(),
            locality: subject.locality.clone(),
        }
        .validated()?;
        let (issue, profile) = server_issue_request(csr, &holder, &account)?;
        profile.check_key(&issue.public_key)?;
        self.server_policy(account.id)?.check(&issue.alt_names)?;
        let password = PasswordHash::create(password, self.ca.environment().random())?;
        let request = self.store.submit_request(NewRequest {
            reference: self.new_reference()?,
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

    /// The account `id`, refused unless its requests are approved by an
    /// administrator (the only mode that issues server certificates).
    fn server_account(&self, id: AccountId) -> Result<Account, Error> {
        let account = self.store.account(id)?.ok_or(RaError::UnknownAccount)?;
        if account.settings.verification != VerificationMode::Manual {
            return Err(RaError::ServerNeedsApproval.into());
        }
        Ok(account)
    }

    /// What applying for a server certificate with `csr` under `account` would
    /// sign, and why the application would be refused now, if it would: the
    /// same function builds it as [`Self::apply_server`] does.
    pub fn preview_server(
        &self,
        account: AccountId,
        csr: &CertificateRequest,
    ) -> Result<ServerPreview, Error> {
        let account = self.server_account(account)?;
        let subject = csr.subject();
        let holder = Holder {
            name: server_name(csr).ok_or(PolicyError::NoServerName)?,
            email: String::new(),
            phone: None,
            state: subject.state.clone(),
            locality: subject.locality.clone(),
        };
        let (issue, profile) = server_issue_request(csr, &holder, &account)?;
        let refusal = profile
            .check_key(&issue.public_key)
            .err()
            .map(Error::from)
            .or_else(|| match self.server_policy(account.id) {
                Ok(policy) => policy.check(&issue.alt_names).err().map(Error::from),
                Err(e) => Some(e),
            });
        Ok(ServerPreview {
            key: issue.public_key.kind().to_string(),
            subject: issue.subject,
            alt_names: issue.alt_names,
            refusal,
        })
    }

    /// What approving the server application `id` would sign: subject, every
    /// alternative name and the key, from the TBSCertificate the CA prepares for
    /// it, and whether the account's policy would refuse it now. A request whose
    /// key the CA would not certify is refused with that error.
    pub fn review_server(&self, id: RequestId) -> Result<ServerReview, Error> {
        let (request, account) = self.load(id)?;
        if request.kind != RequestKind::ServerApplication {
            return Err(RaError::WrongState("not a server application").into());
        }
        let (issue, profile) = self.stored_issue_request(&request, &account)?;
        let key = issue.public_key.kind().to_string();
        let refusal = self
            .server_policy(account.id)?
            .check(&issue.alt_names)
            .err()
            .map(|e| e.to_string());
        // The CA's checked path: a key it would not certify is refused here.
        let prepared = self.ca.prepare(issue, &profile)?;
        let tbs = TbsCertificate::from_der(prepared.tbs_der())
            .map_err(crate::error::EncodingError::from)?;
        let mut names = Vec::new();
        for ext in tbs.extensions().into_iter().flatten() {
            if ext.extn_id == oid::SUBJECT_ALT_NAME {
                let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                    .map_err(crate::error::EncodingError::from)?;
                names.extend(san.0.iter().map(general_name));
            }
        }
        Ok(ServerReview {
            subject: display_name(tbs.subject()),
            names,
            key,
            refusal,
            request,
        })
    }

    /// An account's server certificate policy (the default until one is set).
    pub fn server_policy(&self, account: AccountId) -> Result<ServerPolicy, Error> {
        self.store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        Ok(self.store.server_policy(account)?.unwrap_or_default())
    }

    /// Sets an account's server certificate policy (RA administrator), audited
    /// with the policy before and after. Pending applications are checked
    /// against it again when they are approved.
    pub fn set_server_policy(
        &self,
        ops: &RaOps,
        account: AccountId,
        policy: ServerPolicy,
    ) -> Result<ServerPolicy, Error> {
        let policy = policy.validated()?;
        let before = self.server_policy(account)?;
        self.store.put_server_policy(account, &policy)?;
        self.audit(
            Actor::Admin(ops.admin().into()),
            AuditAction::AccountUpdated,
            format!("account {}", account.0),
            Outcome::Success,
            &format!(
                "server policy {}; was {}",
                describe(&policy),
                describe(&before)
            ),
        )?;
        Ok(policy)
    }

    /// Approves a server application: checks the key and the account's current
    /// policy, issues the TLS server certificate from the stored CSR (recorded
    /// before it is signed), stores it, closes the request and audits both in one
    /// write, and mails the certificate.
    pub(super) fn issue_server_certificate(
        &self,
        ops: &RaOps,
        mut request: Request,
        account: &Account,
    ) -> Result<Request, Error> {
        request.state = request.state.approve()?;
        let (issue, profile) = self.stored_issue_request(&request, account)?;
        self.server_policy(account.id)?.check(&issue.alt_names)?;
        let actor = Actor::Admin(ops.admin().into());
        let requester = Requester {
            actor: actor.clone(),
            account: Some(account.id),
            request: Some(request.id),
        };
        let certificate = sign_recorded(self.ca, self.store, issue, &profile, &requester)?;
        request.state = request.state.issue()?;
        request.issued_serial = Some(certificate.serial_hex());
        let record = self.record(&certificate, account, &request, CertificateUsage::Server);
        let target = request_target(&request);
        let audit = vec![
            self.audit_record(
                actor.clone(),
                AuditAction::RequestApproved,
                target.clone(),
                "",
            ),
            self.audit_record(
                actor,
                AuditAction::CertificateIssued,
                certificate.serial_hex(),
                &target,
            ),
        ];
        let request = self.store.commit_request(RequestChange {
            issued: vec![record],
            audit,
            ..RequestChange::update(request)
        })?;
        let mail = Mail::ServerCertificateIssued {
            request: request.reference.clone(),
            server: request.holder.name.clone(),
            serial: certificate.serial_hex(),
            pem: certificate.to_pem(),
        };
        self.send(account, &request, mail)?;
        Ok(request)
    }

    /// [`server_issue_request`] for a stored server application.
    fn stored_issue_request(
        &self,
        request: &Request,
        account: &Account,
    ) -> Result<(IssueRequest, Profile), Error> {
        let csr_der = request
            .csr
            .as_deref()
            .ok_or(RaError::WrongState("missing its CSR"))?;
        let csr = CertificateRequest::from_der(csr_der)?;
        server_issue_request(&csr, &request.holder, account)
    }
}

/// The one place a server certificate's contents are decided: the CSR's key and
/// alternative names plus the server name, under a subject made from the
/// account (O, OU) and the holder (CN, ST, L), for the TLS server profile.
fn server_issue_request(
    csr: &CertificateRequest,
    holder: &Holder,
    account: &Account,
) -> Result<(IssueRequest, Profile), Error> {
    let mut alt_names = csr.alt_names().clone();
    alt_names.add_host(&holder.name)?;
    let days = account
        .settings
        .validity_days
        .min(ProfileKind::TlsServer.max_validity_days());
    let subject = DistinguishedName {
        country: Some("CN".to_owned()),
        state: holder.state.clone(),
        locality: holder.locality.clone(),
        organization: Some(account.settings.organization.clone()),
        organizational_units: vec![account.settings.unit.clone()],
        common_name: Some(holder.name.clone()),
        email: None,
    };
    Ok((
        IssueRequest {
            subject,
            public_key: csr.public_key().clone(),
            alt_names,
            not_after: None,
        },
        Profile::new(ProfileKind::TlsServer, days)?,
    ))
}

fn describe(policy: &ServerPolicy) -> String {
    format!(
        "domains [{}], wildcards {}, IP addresses {}, at most {} names",
        policy.allowed_domains.join(", "),
        if policy.allow_wildcards {
            "allowed"
        } else {
            "refused"
        },
        if policy.allow_ip_addresses {
            "allowed"
        } else {
            "refused"
        },
        policy.max_names
    )
}

/// The name a server certificate is for: the CSR's CN when it is a host name,
/// else its first DNS name or IP address (machine clients' too).
pub(crate) fn server_name(csr: &CertificateRequest) -> Option<String> {
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
