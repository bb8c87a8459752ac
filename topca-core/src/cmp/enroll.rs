//! Enrollment: ir, cr and kur (CRMF with a signature proof of possession),
//! p10cr (PKCS#10), and the certConf that closes them (RFC 9483 §4.1, §4.1.4).

use der::{Decode, Encode, asn1::Int};
use x509_cert::ext::pkix::SubjectAltName;

use super::{
    Failure, FailureInfo,
    asn1::{self, CertReqMsg, CertRequest, CertStatus, PopoSigningKey},
    credential::TransactionState,
    message::{self, Protect, Reply, tag},
    responder::{Incoming, Responder, Sender},
};
use crate::{
    algorithm::SignatureAlgorithm,
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    certificate::Certificate,
    csr::CertificateRequest,
    key::PublicKey,
    lifecycle::RevocationReason,
    name::SubjectAltNames,
    store::{AccountStore, CertificateStore, CmpStore, IssuanceStore, RequestStore, Revocation},
};

fn template_error(text: &str) -> Failure {
    Failure::new(FailureInfo::BadCertTemplate, text)
}

fn bad_pop(text: &str) -> Failure {
    Failure::new(FailureInfo::BadPop, text)
}

/// The names asked for in a template's subjectAltName extension.
fn alt_names(template: &asn1::CertTemplate) -> Result<SubjectAltNames, Failure> {
    let Some(extensions) = &template.extensions else {
        return Ok(SubjectAltNames::default());
    };
    let mut names = SubjectAltNames::default();
    for ext in extensions
        .iter()
        .filter(|e| e.extn_id == crate::oid::SUBJECT_ALT_NAME)
    {
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
            .map_err(|_| template_error("unreadable subjectAltName"))?;
        let found = SubjectAltNames::from_general_names(&san.0)
            .map_err(|e| template_error(&e.to_string()))?;
        for dns in found.dns_names {
            names
                .add_host(&dns)
                .map_err(|e| template_error(&e.to_string()))?;
        }
        for ip in found.ip_addresses {
            if !names.ip_addresses.contains(&ip) {
                names.ip_addresses.push(ip);
            }
        }
    }
    Ok(names)
}

/// Checks a signature proof of possession (RFC 4211 §4.1): `popo` is
/// `signature [1] POPOSigningKey` over the DER of `cert_req`, by `key`.
fn check_pop(
    popo: Option<&der::asn1::AnyRef<'_>>,
    cert_req: &[u8],
    key: &PublicKey,
) -> Result<SignatureAlgorithm, Failure> {
    let popo = popo.ok_or_else(|| bad_pop("no proof of possession"))?;
    match asn1::explicit_inner(popo) {
        Some((1, _)) => {}
        _ => return Err(bad_pop("only a signature proof of possession is accepted")),
    }
    // [1] IMPLICIT POPOSigningKey: the SEQUENCE's content under tag [1].
    if popo.value().first() == Some(&0xA0) {
        return Err(bad_pop(
            "poposkInput is not accepted: give subject and key in the template",
        ));
    }
    let signing = PopoSigningKey::from_der(&asn1::tlv(0x30, popo.value()))
        .map_err(|_| bad_pop("unreadable POPOSigningKey"))?;
    let algorithm = SignatureAlgorithm::from_oid(signing.algorithm.oid)
        .map_err(|_| Failure::new(FailureInfo::BadAlg, "unsupported POP signature algorithm"))?;
    let signature = signing
        .signature
        .as_bytes()
        .ok_or_else(|| bad_pop("unreadable POP signature"))?;
    key.verify(algorithm, cert_req, signature)
        .map_err(|_| bad_pop("the proof of possession does not verify"))?;
    Ok(algorithm)
}

impl<S> Responder<'_, S>
where
    S: CmpStore + IssuanceStore + AccountStore + CertificateStore + RequestStore,
{
    /// ir (0), cr (2) or kur (7): one CertReqMsg with a new key and a
    /// signature POP. A kur must be signed with the certificate it updates.
    pub(super) fn enroll(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
        protect: &Protect,
    ) -> Result<Vec<u8>, Failure> {
        let key_update = incoming.body_tag == 7;
        let old = match (&incoming.sender, key_update) {
            (Sender::Certificate { certificate, .. }, true) => Some(certificate.as_ref()),
            (Sender::Credential(_), true) => {
                return Err(Failure::new(
                    FailureInfo::WrongIntegrity,
                    "a key update must be signed with the certificate it updates",
                ));
            }
            _ => None,
        };
        let messages: Vec<CertReqMsg<'_>> = Vec::from_der(incoming.body)
            .map_err(|_| Failure::new(FailureInfo::BadDataFormat, "unreadable CertReqMessages"))?;
        let [message] = messages.as_slice() else {
            return Err(Failure::new(
                FailureInfo::BadRequest,
                "exactly one certificate request per message",
            ));
        };
        let cert_req = message
            .cert_req
            .to_der()
            .map_err(|_| Failure::new(FailureInfo::BadDataFormat, "unreadable CertRequest"))?;
        let request = CertRequest::from_der(&cert_req)
            .map_err(|_| Failure::new(FailureInfo::BadDataFormat, "unreadable CertRequest"))?;
        let template = &request.cert_template;
        let spki = template.public_key.as_ref().ok_or_else(|| {
            template_error("the template has no public key (central key generation is not offered)")
        })?;
        let key = spki
            .to_der()
            .ok()
            .and_then(|d| PublicKey::from_spki_der(&d).ok())
            .ok_or_else(|| Failure::new(FailureInfo::BadAlg, "unsupported public key"))?;
        let algorithm = check_pop(message.popo.as_ref(), &cert_req, &key)?;
        let subject = match (&template.subject, old) {
            (Some(subject), _) => subject.clone(),
            (None, Some(old)) => old.x509().tbs_certificate().subject().clone(),
            (None, None) => return Err(template_error("the template has no subject")),
        };
        if let Some(old) = old {
            if old.public_key().is_ok_and(|k| k == key) {
                return Err(template_error("a key update needs a new key"));
            }
            self.check_old_cert_id(&request, old)?;
        }
        let csr =
            CertificateRequest::from_checked_parts(subject, key, algorithm, alt_names(template)?);
        let answer_tag = match incoming.body_tag {
            0 => tag::IP,
            2 => tag::CP,
            _ => tag::KUP,
        };
        self.issue_and_answer(
            incoming,
            reply,
            protect,
            &csr,
            &request.cert_req_id,
            answer_tag,
        )
    }

    /// A kur's oldCertID control, when present, names the signer's certificate.
    fn check_old_cert_id(&self, request: &CertRequest, old: &Certificate) -> Result<(), Failure> {
        let Some(controls) = &request.controls else {
            return Ok(());
        };
        for control in controls.iter().filter(|c| c.info_type == asn1::OLD_CERT_ID) {
            // CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER }
            let matches = control
                .info_value
                .as_ref()
                .and_then(|v| v.to_der().ok())
                .is_some_and(|der| {
                    let serial = old.x509().tbs_certificate().serial_number().as_bytes();
                    der.windows(serial.len()).any(|w| w == serial)
                });
            if !matches {
                return Err(Failure::new(
                    FailureInfo::BadCertId,
                    "oldCertID does not name the signing certificate",
                ));
            }
        }
        Ok(())
    }

    /// p10cr (4): a PKCS#10 request, its signature the POP.
    pub(super) fn enroll_p10(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
        protect: &Protect,
    ) -> Result<Vec<u8>, Failure> {
        let csr = CertificateRequest::from_der(incoming.body).map_err(|e| {
            Failure::new(
                FailureInfo::BadPop,
                format!("the PKCS#10 request is refused: {e}"),
            )
        })?;
        // RFC 9483 §4.1.4: the certReqId of a p10cr answer is -1.
        let id = super::poll::p10_id()?;
        self.issue_and_answer(incoming, reply, protect, &csr, &id, tag::CP)
    }

    /// Begins the transaction, issues `csr` for the sender's account under the
    /// responder's profile, and answers with the certificate.
    fn issue_and_answer(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
        protect: &Protect,
        csr: &CertificateRequest,
        cert_req_id: &Int,
        answer_tag: u8,
    ) -> Result<Vec<u8>, Failure> {
        let account_id = incoming.sender.account().ok_or_else(|| {
            Failure::new(
                FailureInfo::NotAuthorized,
                "the signer's certificate belongs to no account",
            )
        })?;
        let mut transaction = self.begin(incoming, reply, TransactionState::Open)?;
        let certificate = super::credential::issue(
            self.ca,
            self.store,
            account_id,
            &incoming.sender.name(),
            csr,
            self.profile,
        )?;
        reply.implicit_confirm = asked_implicit_confirm(&incoming.header);
        transaction.serial = Some(certificate.serial_hex());
        transaction.state = if reply.implicit_confirm {
            TransactionState::Closed
        } else {
            TransactionState::Waiting
        };
        self.store.update_cmp_transaction(&transaction)?;
        let ca_pubs = self.ca_pubs(protect);
        Ok(message::cert_rep(
            answer_tag,
            cert_req_id,
            &certificate,
            &ca_pubs,
        ))
    }

    /// certConf (24): the requester accepts (or rejects) the certificate of
    /// its transaction; the recipNonce must be TopCA's last senderNonce. A
    /// rejected certificate is revoked.
    pub(super) fn confirm(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
    ) -> Result<Vec<u8>, Failure> {
        let mut transaction = self
            .store
            .cmp_transaction(&reply.transaction_id)?
            .ok_or_else(|| Failure::new(FailureInfo::BadRequest, "no such transaction"))?;
        if transaction.sender != incoming.sender.name() {
            return Err(Failure::new(
                FailureInfo::NotAuthorized,
                "another sender's transaction",
            ));
        }
        if transaction.state != TransactionState::Waiting {
            return Err(Failure::new(
                FailureInfo::TransactionIdInUse,
                "this transaction waits for no confirmation",
            ));
        }
        let nonce = incoming.header.recip_nonce.as_ref().map(|n| n.as_bytes());
        if nonce != Some(transaction.nonce.as_slice()) {
            return Err(Failure::new(
                FailureInfo::BadRecipientNonce,
                "the recipNonce is not the senderNonce of the answer",
            ));
        }
        let statuses: Vec<CertStatus> = Vec::from_der(incoming.body)
            .map_err(|_| Failure::new(FailureInfo::BadDataFormat, "unreadable certConf"))?;
        if let Some(serial) = &transaction.serial {
            let issued = self.store.certificate(serial)?.ok_or_else(|| {
                Failure::new(FailureInfo::SystemFailure, "the certificate is gone")
            })?;
            if statuses
                .iter()
                .any(|s| !is_hash_of(s.cert_hash.as_bytes(), &issued.der))
            {
                return Err(Failure::new(
                    FailureInfo::BadCertId,
                    "the certHash is not the hash of the certificate issued",
                ));
            }
        }
        let rejected = statuses
            .iter()
            .any(|s| s.status_info.as_ref().is_some_and(|i| i.status == 2));
        if let (true, Some(serial)) = (rejected, &transaction.serial) {
            let now = self.ca.environment().clock().now();
            let audit = AuditRecord {
                at: now,
                actor: Actor::Client(incoming.sender.name()),
                action: AuditAction::CertificateRevoked,
                target: serial.clone(),
                outcome: Outcome::Success,
                detail: "rejected in the CMP certConf".to_owned(),
            };
            self.store.revoke_certificate(
                &Revocation {
                    serial: serial.clone(),
                    at: now,
                    reason: RevocationReason::CessationOfOperation,
                },
                audit,
            )?;
        }
        transaction.state = TransactionState::Closed;
        transaction.nonce = reply.sender_nonce.clone();
        self.store.update_cmp_transaction(&transaction)?;
        Ok(message::pki_conf())
    }
}

/// Whether the header's generalInfo asks for implicit confirmation.
fn asked_implicit_confirm(header: &asn1::Header) -> bool {
    header
        .general_info
        .as_ref()
        .is_some_and(|info| info.iter().any(|i| i.info_type == asn1::IMPLICIT_CONFIRM))
}

/// Whether `hash` is the hash of `der` under one of the hashes a client may
/// use for a certHash (that of the certificate's signature: SHA-256, SHA-384,
/// SHA-512 or SM3), compared in constant time.
fn is_hash_of(hash: &[u8], der: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let candidates = [
        <sha2::Sha256 as sha2::Digest>::digest(der).to_vec(),
        <sha2::Sha384 as sha2::Digest>::digest(der).to_vec(),
        <sha2::Sha512 as sha2::Digest>::digest(der).to_vec(),
        <sm3::Sm3 as sm3::Digest>::digest(der).to_vec(),
    ];
    candidates
        .iter()
        .any(|c| bool::from(c.as_slice().ct_eq(hash)))
}
