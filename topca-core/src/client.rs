//! Machine clients (机器客户端): programs that issue certificates for an
//! account in one call with an API token instead of a holder's PIN and password.
//!
//! A token is 256 random bits shown once as `topca_` and base64url. Only its
//! SHA-256 is stored: a 256-bit random value cannot be guessed from its hash, so
//! no key or memory-hard hash is needed, and the check costs one hash and one
//! indexed look-up per request, on every node alike (no cache, so a revocation
//! counts from the next request). A client is scoped to one account: its names
//! must pass the account's server policy and the client's own suffixes, its
//! profile must be one the client may use, its validity is the shortest of the
//! client's, the account's and the profile's. [`Clients::issue_batch`] issues
//! up to [`MAX_BATCH`] at a time.

use std::time::SystemTime;

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

mod batch;
mod group;

pub use batch::{BatchRequest, MAX_BATCH, Templates};
pub use group::SingleRequest;

use crate::{
    audit::{Actor, AuditAction, AuditRecord, Outcome},
    ca::{CertificateAuthority, IssueRequest},
    certificate::Certificate,
    clock::Clock,
    csr::CertificateRequest,
    error::{Error, PolicyError, RaError, StoreError},
    issuance::{Requester, sign_recorded},
    lifecycle::CertificateUsage,
    name::{DistinguishedName, SubjectAltNames},
    ocsp::{OcspCache, OcspResponder},
    profile::{Profile, ProfileKind},
    ra::{Account, AccountId, ServerPolicy, server_name},
    random::RandomSource,
    store::{AccountStore, CertificateRecord, CertificateStatus, ClientStore, IssuanceStore},
};

/// What every token starts with, so that secret scanners and people recognise it.
pub const TOKEN_PREFIX: &str = "topca_";
/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// The longest client name.
pub const MAX_NAME: usize = 64;

/// A client's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId(pub u64);

/// A machine client as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineClient {
    /// Its number.
    pub id: ClientId,
    /// Its unique name (letters, digits, `.`, `-`, `_`).
    pub name: String,
    /// The account it issues for.
    pub account: AccountId,
    /// The profiles it may use; the first is its default.
    pub profiles: Vec<ProfileKind>,
    /// Domain suffixes its names must end in (on top of the account's policy);
    /// empty: the account's policy alone.
    pub allowed_names: Vec<String>,
    /// The longest validity it may get, in days.
    pub validity_days: u32,
    /// SHA-256 of its token's random bytes.
    pub token_hash: [u8; 32],
    /// When it was added.
    pub created: SystemTime,
    /// When it was revoked, if it was.
    pub revoked: Option<SystemTime>,
}

/// A client to add (the store numbers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// Its name.
    pub name: String,
    /// The account.
    pub account: AccountId,
    /// Its profiles, default first.
    pub profiles: Vec<ProfileKind>,
    /// Its own name suffixes.
    pub allowed_names: Vec<String>,
    /// Its longest validity, in days.
    pub validity_days: u32,
    /// SHA-256 of its token's random bytes.
    pub token_hash: [u8; 32],
    /// When.
    pub created: SystemTime,
}

/// A freshly made token: shown once, never stored.
pub struct ClientToken(Zeroizing<String>);

impl ClientToken {
    /// 256 random bits from `random`, with their hash.
    pub fn generate(random: &dyn RandomSource) -> Result<(Self, [u8; 32]), Error> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        random.fill(bytes.as_mut())?;
        let text = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
        );
        Ok((
            Self(Zeroizing::new(text)),
            Sha256::digest(bytes.as_ref()).into(),
        ))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The hash to look a presented token up by, or `None` when it is not shaped
/// like a token (it then matches no client).
pub fn token_hash(presented: &str) -> Option<[u8; 32]> {
    let encoded = presented.trim().strip_prefix(TOKEN_PREFIX)?;
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()?,
    );
    (bytes.len() == TOKEN_BYTES).then(|| Sha256::digest(bytes.as_slice()).into())
}

/// The profile named on the command line or in a request: `tls-server`,
/// `tls-client` or `short-lived` (the ones a machine client may be given).
pub fn profile_by_name(name: &str) -> Option<ProfileKind> {
    match name.trim().to_ascii_lowercase().as_str() {
        "tls-server" | "tls server" => Some(ProfileKind::TlsServer),
        "tls-client" | "tls client" => Some(ProfileKind::TlsClient),
        "short-lived" | "short lived" => Some(ProfileKind::ShortLivedTlsServer),
        _ => None,
    }
}

/// The short name of a machine client's profile (`tls-server`, `tls-client`,
/// `short-lived`).
pub fn profile_name(kind: ProfileKind) -> &'static str {
    match kind {
        ProfileKind::TlsClient => "tls-client",
        ProfileKind::ShortLivedTlsServer => "short-lived",
        _ => "tls-server",
    }
}

/// The register of machine clients: adding, finding, revoking and
/// authenticating them (no CA key needed, so the command line can do it).
pub struct ClientRegistry<'a, S> {
    store: &'a S,
    random: &'a dyn RandomSource,
    clock: &'a dyn Clock,
}

impl<'a, S> ClientRegistry<'a, S>
where
    S: ClientStore + AccountStore,
{
    /// The clients of `store`, tokens drawn from `random`, times from `clock`.
    pub fn new(store: &'a S, random: &'a dyn RandomSource, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            random,
            clock,
        }
    }

    /// Adds a client for `account` and returns it with its token (audited as
    /// `ClientAdded` by `actor`). The name must be new and plain; the profiles
    /// default to TLS server; the suffixes are checked like an account's domains;
    /// the validity defaults to the account's and may not exceed it.
    pub fn add(
        &self,
        actor: Actor,
        name: &str,
        account: AccountId,
        profiles: Vec<ProfileKind>,
        allowed_names: Vec<String>,
        validity_days: Option<u32>,
    ) -> Result<(MachineClient, ClientToken), Error> {
        let name = checked_name(name)?;
        let account = self
            .store
            .account(account)?
            .ok_or(RaError::UnknownAccount)?;
        let profiles = if profiles.is_empty() {
            vec![ProfileKind::TlsServer]
        } else {
            profiles
        };
        let allowed_names = ServerPolicy {
            allowed_domains: allowed_names,
            ..ServerPolicy::default()
        }
        .validated()?
        .allowed_domains;
        let validity_days = validity_days.unwrap_or(account.settings.validity_days);
        if validity_days == 0 || validity_days > account.settings.validity_days {
            return Err(RaError::InvalidField {
                field: "validity days",
                problem: format!(
                    "must be between 1 and the account's {} days",
                    account.settings.validity_days
                ),
            }
            .into());
        }
        let (token, token_hash) = ClientToken::generate(self.random)?;
        let now = self.clock.now();
        let audit = audit_record(
            now,
            actor,
            AuditAction::ClientAdded,
            format!("client {name}"),
            format!(
                "account {}, profiles {}, names [{}], {validity_days} days",
                account.id.0,
                profiles
                    .iter()
                    .map(|p| profile_name(*p))
                    .collect::<Vec<_>>()
                    .join(", "),
                allowed_names.join(", ")
            ),
        );
        let client = self.store.create_client(
            NewClient {
                name,
                account: account.id,
                profiles,
                allowed_names,
                validity_days,
                token_hash,
                created: now,
            },
            audit,
        )?;
        Ok((client, token))
    }

    /// Revokes the client named `name` or numbered `name` (audited as
    /// `ClientRevoked` by `actor`); its token stops working at once on every node.
    pub fn revoke(&self, actor: Actor, name: &str) -> Result<MachineClient, Error> {
        let client = self.find(name)?;
        if client.revoked.is_some() {
            return Err(RaError::WrongState("revoked already").into());
        }
        let audit = audit_record(
            self.clock.now(),
            actor,
            AuditAction::ClientRevoked,
            format!("client {}", client.name),
            String::new(),
        );
        Ok(self.store.revoke_client(client.id, audit.at, audit)?)
    }

    /// The client named `name`, or numbered `name` when it is all digits.
    pub fn find(&self, name: &str) -> Result<MachineClient, Error> {
        let name = name.trim();
        let by_id = match name.parse::<u64>() {
            Ok(id) => self.store.client(ClientId(id))?,
            Err(_) => None,
        };
        let found = match by_id {
            Some(client) => Some(client),
            None => self.store.client_by_name(name)?,
        };
        Ok(found.ok_or(RaError::UnknownClient)?)
    }

    /// The live client whose token is `presented`: unknown, malformed and
    /// revoked tokens are one refusal, found by one hash and one look-up (the
    /// stored hash compared again in constant time).
    pub fn authenticate(&self, presented: &str) -> Result<MachineClient, Error> {
        let hash = token_hash(presented).unwrap_or([0; 32]);
        live_client(&hash, self.store.client_by_token(&hash))
    }

    /// [`Self::authenticate`] for each of `presented`, in order, each distinct
    /// token looked up once (calls issued together mostly share one client).
    pub fn authenticate_each(&self, presented: &[&str]) -> Vec<Result<MachineClient, Error>> {
        let mut looked_up: Vec<(&str, [u8; 32], Found)> = Vec::new();
        presented
            .iter()
            .map(|&token| {
                if let Some((_, hash, found)) = looked_up.iter().find(|(t, _, _)| *t == token) {
                    return live_client(hash, found.clone());
                }
                let hash = token_hash(token).unwrap_or([0; 32]);
                let found = self.store.client_by_token(&hash);
                looked_up.push((token, hash, found.clone()));
                live_client(&hash, found)
            })
            .collect()
    }

    /// Clients by number, `limit` from `offset`, and how many there are.
    pub fn list(&self, offset: usize, limit: usize) -> Result<(Vec<MachineClient>, u64), Error> {
        Ok((
            self.store.clients(offset, limit)?,
            self.store.count_clients()?,
        ))
    }
}

/// A client looked up by its token's hash (`None`: no such token).
type Found = Result<Option<MachineClient>, StoreError>;

/// The client `found` for the token hashing to `hash` when it is live (the
/// stored hash compared again in constant time, not revoked); any other
/// outcome of the look-up but a store failure is the one refusal.
fn live_client(hash: &[u8; 32], found: Found) -> Result<MachineClient, Error> {
    match found? {
        Some(client) if bool::from(client.token_hash.ct_eq(hash)) && client.revoked.is_none() => {
            Ok(client)
        }
        _ => Err(RaError::ClientTokenRefused.into()),
    }
}

/// Issuance for authenticated machine clients.
pub struct Clients<'a, S> {
    ca: &'a CertificateAuthority,
    store: &'a S,
    /// Signs each certificate's OCSP response with it and keeps it, when set.
    ocsp: Option<IssuedOcsp<'a>>,
}

/// Where the OCSP responses of newly issued certificates are signed and kept
/// (see [`Clients::presigning_ocsp`]).
struct IssuedOcsp<'a> {
    responder: &'a OcspResponder<'a>,
    cache: &'a OcspCache,
}

impl<'a, S> Clients<'a, S>
where
    S: IssuanceStore + AccountStore,
{
    /// Issues with `ca` into `store`.
    pub fn new(ca: &'a CertificateAuthority, store: &'a S) -> Self {
        Self {
            ca,
            store,
            ocsp: None,
        }
    }

    /// Also signs each certificate's "good" OCSP response with `responder`
    /// as the certificate is signed, stores it in the certificate's own
    /// transaction and keeps it in `cache` once committed: the responses are
    /// served pre-signed from the first request, and no background job reads
    /// the certificates back to sign them. A response that fails to sign is
    /// left to that job.
    pub fn presigning_ocsp(
        mut self,
        responder: &'a OcspResponder<'a>,
        cache: &'a OcspCache,
    ) -> Self {
        self.ocsp = Some(IssuedOcsp { responder, cache });
        self
    }

    /// What `client` would ask the CA to sign for `csr` under `profile` (its
    /// default when `None`), after every policy check: the profile is one of
    /// the client's, every name passes the account's policy and the client's
    /// suffixes, the key is one the profile certifies.
    pub fn issue_request(
        &self,
        client: &MachineClient,
        csr: &CertificateRequest,
        profile: Option<ProfileKind>,
    ) -> Result<(IssueRequest, Profile, Account), Error> {
        let account = self
            .store
            .account(client.account)?
            .ok_or(RaError::UnknownAccount)?;
        let policy = self.store.server_policy(account.id)?.unwrap_or_default();
        let (request, profile) = checked_request(client, &account, &policy, csr, profile)?;
        Ok((request, profile, account))
    }

    /// Issues for `client` from `csr`: checks it ([`Self::issue_request`]),
    /// records the serial and TBSCertificate, signs, stores the certificate
    /// under the account with a `CertificateIssued` entry by the client.
    pub fn issue(
        &self,
        client: &MachineClient,
        csr: &CertificateRequest,
        profile: Option<ProfileKind>,
    ) -> Result<Certificate, Error> {
        let (request, profile, account) = self.issue_request(client, csr, profile)?;
        let actor = Actor::Client(client.name.clone());
        let requester = Requester {
            actor: actor.clone(),
            account: Some(account.id),
            request: None,
        };
        let certificate = sign_recorded(self.ca, self.store, request, &profile, &requester)?;
        let (record, audit) = self.records(client, &account, &certificate, profile.kind());
        self.store.store_certificate(record, audit)?;
        Ok(certificate)
    }

    /// The store record of `certificate` issued for `client`, and its audit entry.
    fn records(
        &self,
        client: &MachineClient,
        account: &Account,
        certificate: &Certificate,
        kind: ProfileKind,
    ) -> (CertificateRecord, AuditRecord) {
        let record = CertificateRecord {
            serial: certificate.serial_hex(),
            account: Some(account.id),
            request: None,
            holder_name: certificate.subject().common_name.unwrap_or_default(),
            email: String::new(),
            subject: certificate.subject_text(),
            issuer: certificate.issuer_text(),
            usage: CertificateUsage::Server,
            not_before: certificate.not_before(),
            not_after: certificate.not_after(),
            status: CertificateStatus::Valid,
            revocation: None,
            der: certificate.der().to_vec(),
        };
        let audit = audit_record(
            self.ca.environment().clock().now(),
            Actor::Client(client.name.clone()),
            AuditAction::CertificateIssued,
            certificate.serial_hex(),
            format!("{} for account {}", profile_name(kind), account.id.0),
        );
        (record, audit)
    }
}

/// What `client` of `account` (whose server policy is `policy`) would ask the
/// CA to sign for `csr` under `profile`: see [`Clients::issue_request`].
fn checked_request(
    client: &MachineClient,
    account: &Account,
    policy: &ServerPolicy,
    csr: &CertificateRequest,
    profile: Option<ProfileKind>,
) -> Result<(IssueRequest, Profile), Error> {
    let kind = match profile {
        Some(kind) if client.profiles.contains(&kind) => kind,
        Some(_) => return Err(RaError::ProfileNotAllowed.into()),
        None => *client.profiles.first().ok_or(RaError::ProfileNotAllowed)?,
    };
    let name = server_name(csr).ok_or(PolicyError::NoServerName)?;
    let mut alt_names: SubjectAltNames = csr.alt_names().clone();
    alt_names.add_host(&name)?;
    policy.check(&alt_names)?;
    if !client.allowed_names.is_empty() {
        ServerPolicy {
            allowed_domains: client.allowed_names.clone(),
            ..policy.clone()
        }
        .check(&alt_names)?;
    }
    let days = client
        .validity_days
        .min(account.settings.validity_days)
        .min(kind.max_validity_days());
    let profile = Profile::new(kind, days)?;
    profile.check_key(csr.public_key())?;
    let subject = DistinguishedName {
        country: Some("CN".to_owned()),
        state: None,
        locality: None,
        organization: Some(account.settings.organization.clone()),
        organizational_units: vec![account.settings.unit.clone()],
        common_name: Some(name),
        email: None,
    };
    let request = IssueRequest {
        subject,
        public_key: csr.public_key().clone(),
        alt_names,
        not_after: None,
    };
    Ok((request, profile))
}

/// A successful action's audit record.
fn audit_record(
    at: SystemTime,
    actor: Actor,
    action: AuditAction,
    target: String,
    detail: String,
) -> AuditRecord {
    AuditRecord {
        at,
        actor,
        action,
        target,
        outcome: Outcome::Success,
        detail,
    }
}

/// `name` trimmed, or why it cannot name a client.
fn checked_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let starts_with_letter = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if name.is_empty() || name.len() > MAX_NAME || !plain || !starts_with_letter {
        return Err(RaError::InvalidField {
            field: "client name",
            problem: format!(
                "use 1 to {MAX_NAME} letters, digits, '.', '-' or '_', starting with a letter"
            ),
        }
        .into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting;

    impl RandomSource for Counting {
        fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
            for (i, b) in dest.iter_mut().enumerate() {
                *b = u8::try_from(i).unwrap_or(0);
            }
            Ok(())
        }
    }

    #[test]
    fn a_token_is_prefixed_base64url_and_hashes_back_to_its_stored_hash() {
        let (token, hash) = ClientToken::generate(&Counting).unwrap();
        assert!(token.as_str().starts_with(TOKEN_PREFIX));
        assert_eq!(token.as_str().len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(token.as_str()), Some(hash));
        assert_eq!(token_hash(&format!(" {} ", token.as_str())), Some(hash));
    }

    #[test]
    fn malformed_tokens_have_no_hash() {
        let (token, _) = ClientToken::generate(&Counting).unwrap();
        let body = token.as_str().trim_start_matches(TOKEN_PREFIX);
        for bad in [
            "",
            body,
            "topca_",
            "topca_!!!!",
            &token.as_str()[..token.as_str().len() - 1],
            &format!("{}AA", token.as_str()),
        ] {
            assert_eq!(token_hash(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_names_are_plain_and_short() {
        assert_eq!(checked_name(" web-01.ops ").unwrap(), "web-01.ops");
        for bad in ["", "1web", "a b", "<x>", &"a".repeat(MAX_NAME + 1)] {
            assert!(checked_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_two_tls_profiles_have_names() {
        assert_eq!(profile_by_name("TLS-Server"), Some(ProfileKind::TlsServer));
        assert_eq!(profile_by_name("tls-client"), Some(ProfileKind::TlsClient));
        assert_eq!(profile_by_name("sub-ca"), None);
        assert_eq!(profile_name(ProfileKind::TlsClient), "tls-client");
    }
}
