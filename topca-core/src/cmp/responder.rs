//! One CMP request in, one protected answer out: parsing, the protection
//! check (MAC with a credential's secret, or a signature by a certificate this
//! CA issued) and the dispatch by message type.

use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{
    CmpCredential, Failure, FailureInfo,
    asn1::{self, Header, RawMessage},
    credential::{CmpTransaction, SecretGuard, TransactionState, live, note_use},
    message::{self, NO_NAME, Protect, Reply},
    protection,
};
use crate::{
    algorithm::SignatureAlgorithm,
    ca::CertificateAuthority,
    certificate::Certificate,
    kmc::MasterKey,
    profile::ProfileKind,
    ra::{AccountId, RegistrationAuthority},
    store::{
        AccountStore, CertificateRecord, CertificateStatus, CertificateStore, CmpStore,
        IssuanceStore, RequestStore,
    },
};

/// The largest request accepted (a request with a 16,384-bit RSA key and a
/// few certificates fits).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Who sent a request whose protection verified.
pub(super) enum Sender {
    /// A MAC credential.
    Credential(CmpCredential),
    /// A certificate this CA issued, valid now.
    Certificate {
        /// Its record.
        record: CertificateRecord,
        /// The certificate.
        certificate: Box<Certificate>,
    },
}

impl Sender {
    /// The account it acts for.
    pub(super) fn account(&self) -> Option<AccountId> {
        match self {
            Self::Credential(c) => Some(c.account),
            Self::Certificate { record, .. } => record.account,
        }
    }

    /// How transactions and the audit log name it.
    pub(super) fn name(&self) -> String {
        match self {
            Self::Credential(c) => format!("cmp-ref-{}", c.reference),
            Self::Certificate { record, .. } => format!("cmp-cert-{}", record.serial),
        }
    }
}

/// A request whose protection verified.
pub(super) struct Incoming<'m> {
    /// Its header.
    pub header: Header,
    /// The PKIBody tag number.
    pub body_tag: u32,
    /// The body's content (the inner TLV).
    pub body: &'m [u8],
    /// Its sender.
    pub sender: Sender,
}

/// What the server does after an answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    /// A certificate was revoked (the CRL should be refreshed).
    pub revoked: bool,
}

/// Answers CMP requests for the RA, issuing with `ca` into `store`.
pub struct Responder<'a, S> {
    pub(super) ca: &'a CertificateAuthority,
    pub(super) store: &'a S,
    master: &'a MasterKey,
    pub(super) profile: ProfileKind,
    /// The RA that registers requests waiting for approval (the approval path).
    approval: Option<&'a RegistrationAuthority<'a>>,
    /// The limit on wrong MACs for the request's source, if any.
    guard: Option<&'a dyn SecretGuard>,
}

impl<'a, S> Responder<'a, S>
where
    S: CmpStore + IssuanceStore + AccountStore + CertificateStore + RequestStore,
{
    /// A responder issuing with `ca` into `store`, secrets opened with
    /// `master`, under `profile` (`/.well-known/cmp/p/{profile}`).
    pub fn new(
        ca: &'a CertificateAuthority,
        store: &'a S,
        master: &'a MasterKey,
        profile: ProfileKind,
    ) -> Self {
        Self {
            ca,
            store,
            master,
            profile,
            approval: None,
            guard: None,
        }
    }

    /// With a limit on wrong MACs: a reference over it is refused
    /// (notAuthorized) before its MAC is checked, and every unknown or
    /// revoked reference and wrong MAC is counted.
    pub fn with_guard(mut self, guard: &'a dyn SecretGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// On the approval path: p10cr requests become server applications of
    /// `ra` that an administrator approves while the client polls.
    pub fn with_approval(mut self, ra: &'a RegistrationAuthority<'a>) -> Self {
        self.approval = Some(ra);
        self
    }

    /// The trust anchor for `caPubs` of a MAC-protected enrollment, else none.
    pub(super) fn ca_pubs(&self, protect: &Protect) -> Vec<&'a Certificate> {
        match protect {
            Protect::Mac { .. } => self.ca.chain().last().copied().into_iter().collect(),
            Protect::Signature => Vec::new(),
        }
    }

    /// The DER answer to the DER `request`: the response, or a protected
    /// error message; empty only when not even an error can be protected
    /// (the CA's key fails).
    pub fn respond(&self, request: &[u8]) -> (Vec<u8>, Effects) {
        let now = self.ca.environment().clock().now();
        let mut reply = Reply {
            pvno: 2,
            recipient: NO_NAME.to_vec(),
            transaction_id: Vec::new(),
            recip_nonce: None,
            sender_nonce: self.nonce(),
            implicit_confirm: false,
        };
        let mut protect = Protect::Signature;
        let mut effects = Effects::default();
        let body = self
            .answer(request, &mut reply, &mut protect, &mut effects)
            .unwrap_or_else(|failure| message::error(&failure));
        let encoded = message::encode(self.ca, &reply, &body, &protect, now).or_else(|f| {
            // A MAC answer that cannot be made (never for a verified MAC):
            // a signed error instead.
            message::encode(
                self.ca,
                &reply,
                &message::error(&f),
                &Protect::Signature,
                now,
            )
        });
        (encoded.unwrap_or_default(), effects)
    }

    /// A fresh 128-bit nonce; empty when the generator fails (the request is
    /// then refused with systemFailure).
    fn nonce(&self) -> Vec<u8> {
        let mut nonce = vec![0u8; 16];
        match self.ca.environment().random().fill(&mut nonce) {
            Ok(()) => nonce,
            Err(_) => Vec::new(),
        }
    }

    fn answer(
        &self,
        request: &[u8],
        reply: &mut Reply,
        protect: &mut Protect,
        effects: &mut Effects,
    ) -> Result<Vec<u8>, Failure> {
        let unreadable =
            |what: &str| Failure::new(FailureInfo::BadDataFormat, format!("unreadable {what}"));
        if reply.sender_nonce.is_empty() {
            return Err(Failure::new(FailureInfo::SystemFailure, "no random nonce"));
        }
        if request.len() > MAX_MESSAGE {
            return Err(Failure::new(
                FailureInfo::BadRequest,
                "the message is too large",
            ));
        }
        let raw = RawMessage::from_der(request).map_err(|_| unreadable("PKIMessage"))?;
        let header_der = raw.header.to_der().map_err(|_| unreadable("PKIHeader"))?;
        let header = Header::from_der(&header_der).map_err(|_| unreadable("PKIHeader"))?;
        reply.recipient = header.sender.to_der().map_err(|_| unreadable("sender"))?;
        reply.transaction_id = header
            .transaction_id
            .as_ref()
            .map(|t| t.as_bytes().to_vec())
            .unwrap_or_default();
        reply.recip_nonce = header.sender_nonce.as_ref().map(|n| n.as_bytes().to_vec());
        if !(2..=3).contains(&header.pvno) {
            return Err(Failure::new(
                FailureInfo::UnsupportedVersion,
                "pvno must be 2 or 3",
            ));
        }
        reply.pvno = header.pvno;
        let (body_tag, body) =
            asn1::explicit_inner(&raw.body).ok_or_else(|| unreadable("PKIBody"))?;
        let body_der = raw.body.to_der().map_err(|_| unreadable("PKIBody"))?;
        let protected = asn1::sequence(&[&header_der, &body_der]);
        let (sender, verified) = self.verify(&header, &raw, &protected)?;
        *protect = verified;
        if reply.transaction_id.is_empty() || !(16..=64).contains(&reply.transaction_id.len()) {
            return Err(Failure::new(
                FailureInfo::BadRequest,
                "the transactionID must have 16 to 64 bytes",
            ));
        }
        if header
            .sender_nonce
            .as_ref()
            .is_none_or(|n| n.as_bytes().len() < 16)
        {
            return Err(Failure::new(
                FailureInfo::BadSenderNonce,
                "the senderNonce must have at least 16 bytes",
            ));
        }
        let incoming = Incoming {
            header,
            body_tag,
            body,
            sender,
        };
        self.dispatch(&incoming, reply, &*protect, effects)
    }

    /// The live credential `reference` whose secret makes `protection` the MAC
    /// of `protected` under `alg`, with that secret.
    fn check_mac(
        &self,
        reference: &str,
        alg: &AlgorithmIdentifierOwned,
        protected: &[u8],
        protection: &[u8],
    ) -> Result<(CmpCredential, Zeroizing<Vec<u8>>), Failure> {
        let credential = live(self.store, reference)?.ok_or_else(unknown_sender)?;
        let secret = credential.secret(self.master)?;
        let secret = Zeroizing::new(secret.as_str().as_bytes().to_vec());
        protection::verify_mac(alg, &secret, protected, protection)?;
        Ok((credential, secret))
    }

    /// Checks the protection and finds the sender: a MAC under a credential's
    /// secret, or a signature by a valid certificate this CA issued.
    fn verify(
        &self,
        header: &Header,
        raw: &RawMessage<'_>,
        protected: &[u8],
    ) -> Result<(Sender, Protect), Failure> {
        let alg = header.protection_alg.as_ref().ok_or_else(|| {
            Failure::new(FailureInfo::WrongIntegrity, "the message is not protected")
        })?;
        let protection = raw
            .protection
            .as_ref()
            .and_then(|p| p.as_bytes())
            .ok_or_else(|| {
                Failure::new(FailureInfo::WrongIntegrity, "the message is not protected")
            })?;
        if protection::is_mac(alg) {
            let reference = header
                .sender_kid
                .as_ref()
                .and_then(|k| std::str::from_utf8(k.as_bytes()).ok())
                .ok_or_else(unknown_sender)?
                .trim();
            if let Some(guard) = self.guard {
                guard.may_try(reference).map_err(|seconds| {
                    Failure::new(
                        FailureInfo::NotAuthorized,
                        format!(
                            "too many wrong secrets from your address for this reference; try again in {seconds} seconds"
                        ),
                    )
                })?;
            }
            let checked = self.check_mac(reference, alg, protected, protection);
            if let (Err(failure), Some(guard)) = (&checked, self.guard)
                && failure.info != FailureInfo::SystemFailure
            {
                guard.failed(reference);
            }
            let (credential, secret) = checked?;
            note_use(self.store, &credential, self.ca.environment().clock().now())?;
            return Ok((
                Sender::Credential(credential),
                Protect::Mac {
                    alg: alg.clone(),
                    secret,
                },
            ));
        }
        let algorithm = SignatureAlgorithm::from_oid(alg.oid)
            .map_err(|_| Failure::new(FailureInfo::BadAlg, "unsupported protection algorithm"))?;
        let signer = raw
            .extra_certs
            .as_ref()
            .and_then(|c| c.first())
            .ok_or_else(|| {
                Failure::new(
                    FailureInfo::SignerNotTrusted,
                    "the signer's certificate must come first in extraCerts",
                )
            })?;
        let signer = signer
            .to_der()
            .ok()
            .and_then(|d| Certificate::from_der(&d).ok())
            .ok_or_else(|| Failure::new(FailureInfo::BadDataFormat, "unreadable extraCerts"))?;
        let record = self.issued_and_valid(&signer)?;
        signer
            .public_key()
            .and_then(|key| key.verify(algorithm, protected, protection))
            .map_err(|_| {
                Failure::new(
                    FailureInfo::BadMessageCheck,
                    "the signature does not verify",
                )
            })?;
        Ok((
            Sender::Certificate {
                record,
                certificate: Box::new(signer),
            },
            Protect::Signature,
        ))
    }

    /// The record of `certificate` when this CA issued it and it is valid now.
    fn issued_and_valid(&self, certificate: &Certificate) -> Result<CertificateRecord, Failure> {
        let untrusted = || {
            Failure::new(
                FailureInfo::SignerNotTrusted,
                "the signer's certificate was not issued by this CA",
            )
        };
        certificate
            .verify_signed_by(
                &self
                    .ca
                    .certificate()
                    .public_key()
                    .map_err(|_| untrusted())?,
            )
            .map_err(|_| untrusted())?;
        let record = self
            .store
            .certificate(&certificate.serial_hex())?
            .filter(|r| r.der == certificate.der())
            .ok_or_else(untrusted)?;
        let now = self.ca.environment().clock().now();
        if record.status != CertificateStatus::Valid
            || now >= record.not_after
            || now < record.not_before
        {
            return Err(Failure::new(
                FailureInfo::SignerNotTrusted,
                "the signer's certificate is revoked or not valid now",
            ));
        }
        Ok(record)
    }

    fn dispatch(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
        protect: &Protect,
        effects: &mut Effects,
    ) -> Result<Vec<u8>, Failure> {
        match (incoming.body_tag, self.approval) {
            (0 | 2 | 7, Some(_)) => Err(Failure::new(
                FailureInfo::BadRequest,
                "requests that wait for approval are sent as p10cr",
            )),
            (4, Some(ra)) => self.apply_for_approval(ra, incoming, reply),
            _ => self.dispatch_now(incoming, reply, protect, effects),
        }
    }

    fn dispatch_now(
        &self,
        incoming: &Incoming<'_>,
        reply: &mut Reply,
        protect: &Protect,
        effects: &mut Effects,
    ) -> Result<Vec<u8>, Failure> {
        match incoming.body_tag {
            0 | 2 | 7 => self.enroll(incoming, reply, protect),
            4 => self.enroll_p10(incoming, reply, protect),
            24 => self.confirm(incoming, reply),
            11 => {
                let body = self.revoke(incoming, reply)?;
                effects.revoked = true;
                Ok(body)
            }
            21 => self.general(incoming, reply),
            25 => self.poll(incoming, reply, protect),
            _ => Err(Failure::new(
                FailureInfo::BadRequest,
                "this message type is not offered (ir, cr, kur, p10cr, certConf, rr, genm are)",
            )),
        }
    }

    /// Begins the transaction of `incoming`: a transactionID is used once.
    pub(super) fn begin(
        &self,
        incoming: &Incoming<'_>,
        reply: &Reply,
        state: TransactionState,
    ) -> Result<CmpTransaction, Failure> {
        let transaction = CmpTransaction {
            id: reply.transaction_id.clone(),
            sender: incoming.sender.name(),
            nonce: reply.sender_nonce.clone(),
            serial: None,
            request: None,
            state,
            started: self.ca.environment().clock().now(),
        };
        match self.store.start_cmp_transaction(&transaction) {
            Ok(()) => Ok(transaction),
            Err(crate::error::StoreError::Conflict) => Err(Failure::new(
                FailureInfo::TransactionIdInUse,
                "this transactionID was used before",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

fn unknown_sender() -> Failure {
    Failure::new(
        FailureInfo::SignerNotTrusted,
        "unknown sender: no CMP credential has this reference (senderKID)",
    )
}
