//! Issuance for requests: the user certificate (and the encryption half of a
//! dual account, escrowed) when a holder retrieves, and the TLS server
//! certificate when the RA approves a server application.

use crate::{
    audit::{Actor, AuditAction},
    ca::IssueRequest,
    certificate::Certificate,
    error::{Error, RaError},
    issuance::{Requester, sign_recorded},
    lifecycle::{CertificateType, CertificateUsage, RequestKind},
    name::SubjectAltNames,
    profile::{Profile, ProfileKind},
    store::{CertificateRecord, CertificateStatus, RequestChange, Revocation},
};

use super::{
    Account, RegistrationAuthority, Request, Retrieved, already_revoked, dual, request_target,
};

impl RegistrationAuthority<'_> {
    /// Issues the user signing certificate of an approved request for `public_key`
    /// (and for a dual account the encryption certificate, its key escrowed), stores
    /// them, revokes what `revoke` names, closes the request and audits all of
    /// it, in one atomic write; each certificate's serial and TBSCertificate are
    /// recorded before it is signed. A replacement ends when the certificate it
    /// replaces ended.
    pub(super) fn issue_user_certificate(
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
        let actor = Actor::User(request.holder.email.clone());
        let requester = Requester {
            actor: actor.clone(),
            account: Some(account.id),
            request: Some(request.id),
        };
        let certificate = sign_recorded(
            self.ca,
            self.store,
            IssueRequest {
                subject: subject.clone(),
                public_key: public_key.clone(),
                alt_names: SubjectAltNames::default(),
                not_after,
            },
            &profile,
            &requester,
        )?;
        let target = request_target(&request);
        let mut audit = Vec::new();
        if let Some(revocation) = &revoke {
            audit.push(self.audit_record(
                actor.clone(),
                AuditAction::CertificateRevoked,
                revocation.serial.clone(),
                revocation.reason.label(),
            ));
        }
        audit.push(self.audit_record(
            actor.clone(),
            AuditAction::CertificateIssued,
            certificate.serial_hex(),
            &target,
        ));
        let mut issued =
            vec![self.record(&certificate, account, &request, CertificateUsage::Signing)];
        let (encryption, escrow) = match self.kmc.filter(|_| dual) {
            Some(master) => {
                let half = dual::make_encryption_half(
                    (self.ca, self.store),
                    master,
                    account,
                    (subject, &requester),
                    &request.holder.email,
                    &certificate,
                    not_after,
                )?;
                let serial = half.delivery.certificate.serial_hex();
                issued.push(self.record(
                    &half.delivery.certificate,
                    account,
                    &request,
                    CertificateUsage::Encryption,
                ));
                audit.push(self.audit_record(
                    actor,
                    AuditAction::CertificateIssued,
                    serial.clone(),
                    &target,
                ));
                audit.push(self.audit_record(
                    Actor::System,
                    AuditAction::KeyEscrowed,
                    serial,
                    &format!("signing certificate {}", certificate.serial_hex()),
                ));
                (Some(half.delivery), Some(half.escrow))
            }
            None => (None, None),
        };
        request.state = request.state.issue()?;
        request.pin = None;
        request.pin_expires = None;
        request.issued_serial = Some(certificate.serial_hex());
        self.store
            .commit_request(RequestChange {
                request,
                revoke,
                issued,
                escrow,
                audit,
            })
            .map_err(already_revoked)?;
        Ok(Retrieved {
            certificate,
            encryption,
        })
    }

    /// The store record of a certificate issued for `request`.
    pub(super) fn record(
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
}
