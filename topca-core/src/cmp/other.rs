//! Revocation (rr, RFC 9483 §4.2) and general messages (genm, §4.3).

use der::Decode;

use super::{
    Failure, FailureInfo,
    asn1::{self, InfoTypeAndValue, RevDetails},
    credential::TransactionState,
    message::{self, Reply},
    responder::{Incoming, Responder},
};
use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    lifecycle::RevocationReason,
    observe,
    store::{
        AccountStore, CertificateStatus, CertificateStore, CmpStore, IssuanceStore, RequestStore,
        Revocation,
    },
};

/// id-ce-cRLReasons.
const REASON_CODE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.21");

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The reason of a RevDetails' crlEntryDetails (unspecified when absent); only
/// the reasons a holder may give.
fn reason(details: &RevDetails) -> Result<RevocationReason, Failure> {
    let Some(ext) = details
        .crl_entry_details
        .as_ref()
        .and_then(|e| e.iter().find(|e| e.extn_id == REASON_CODE))
    else {
        return Ok(RevocationReason::Unspecified);
    };
    // CRLReason ::= ENUMERATED: 0x0A 0x01 code.
    let reason = match ext.extn_value.as_bytes() {
        [0x0A, 0x01, code] => RevocationReason::from_code(*code),
        _ => None,
    };
    match reason {
        Some(r)
            if r == RevocationReason::Unspecified || RevocationReason::FOR_HOLDERS.contains(&r) =>
        {
            Ok(r)
        }
        _ => Err(Failure::new(
            FailureInfo::BadRequest,
            "a reason a holder may not give",
        )),
    }
}

impl<S> Responder<'_, S>
where
    S: CmpStore + IssuanceStore + AccountStore + CertificateStore + RequestStore,
{
    /// rr (11): revokes one certificate of the sender's account.
    pub(super) fn revoke(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
    ) -> Result<Vec<u8>, Failure> {
        let details: Vec<RevDetails> = Vec::from_der(incoming.body)
            .map_err(|_| Failure::new(FailureInfo::BadDataFormat, "unreadable RevReqContent"))?;
        let [details] = details.as_slice() else {
            return Err(Failure::new(
                FailureInfo::BadRequest,
                "exactly one revocation per message",
            ));
        };
        let serial = details
            .cert_details
            .serial_number
            .as_ref()
            .map(|s| hex_upper(s.as_bytes()))
            .ok_or_else(|| Failure::new(FailureInfo::BadCertId, "no serialNumber"))?;
        let reason = reason(details)?;
        let unknown = || {
            Failure::new(
                FailureInfo::BadCertId,
                "no certificate of yours has this serial number",
            )
        };
        let record = self.store.certificate(&serial)?.ok_or_else(unknown)?;
        if record.account.is_none() || record.account != incoming.sender.account() {
            return Err(unknown());
        }
        if record.status == CertificateStatus::Revoked {
            return Err(Failure::new(
                FailureInfo::CertRevoked,
                "the certificate is revoked already",
            ));
        }
        let mut transaction = self.begin(incoming, reply, TransactionState::Open)?;
        let now = self.ca.environment().clock().now();
        let audit = AuditRecord {
            at: now,
            actor: Actor::Client(incoming.sender.name()),
            action: AuditAction::CertificateRevoked,
            target: serial.clone(),
            outcome: Outcome::Success,
            detail: reason.label().to_owned(),
        };
        let started = std::time::Instant::now();
        let revoked = self.store.revoke_certificate(
            &Revocation {
                serial: serial.clone(),
                at: now,
                reason,
            },
            audit,
        );
        self.ca
            .environment()
            .observer()
            .revocation(observe::Outcome::of(&revoked), started.elapsed());
        revoked?;
        transaction.serial = Some(serial);
        transaction.state = TransactionState::Closed;
        self.store.update_cmp_transaction(&transaction)?;
        Ok(message::rev_rep())
    }

    /// genm (21, RFC 9483 §4.3): each InfoTypeAndValue asked for is answered:
    /// id-it-caCerts with the CA chain; id-it-rootCaCert (or
    /// id-it-rootCaKeyUpdate) with an id-it-rootCaKeyUpdate without value, as
    /// TopCA's root has no key update; id-it-certReqTemplate with a template
    /// naming the issuing CA. Unknown types are left out; a genm asking for
    /// nothing TopCA knows gets the CA certificates.
    pub(super) fn general(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
    ) -> Result<Vec<u8>, Failure> {
        let asked: Vec<InfoTypeAndValue> = Vec::from_der(incoming.body)
            .map_err(|_| Failure::new(FailureInfo::BadDataFormat, "unreadable GenMsgContent"))?;
        let chain = self.ca.chain();
        let mut itavs = Vec::new();
        for itav in &asked {
            let kind = itav.info_type;
            let answer = if kind == asn1::CA_CERTS {
                message::ca_certs_itav(&chain)
            } else if kind == asn1::ROOT_CA_CERT || kind == asn1::ROOT_CA_KEY_UPDATE {
                message::empty_itav(&asn1::ROOT_CA_KEY_UPDATE)
            } else if kind == asn1::CERT_REQ_TEMPLATE {
                message::cert_req_template_itav(
                    &self.ca.certificate().subject_der().map_err(Failure::from)?,
                )
            } else {
                continue;
            };
            if !itavs.contains(&answer) {
                itavs.push(answer);
            }
        }
        if itavs.is_empty() {
            itavs.push(message::ca_certs_itav(&chain));
        }
        self.begin(incoming, reply, TransactionState::Closed)?;
        Ok(message::genp(&itavs))
    }
}
