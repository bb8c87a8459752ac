//! TopCA benchmarks: criterion benches of raw signing and of certificate issuance per
//! algorithm (`cargo bench -p topca-benches`), and `compare`, which measures the same
//! operations next to `openssl speed` on the same machine in the same run
//! (`scripts/bench` runs both).

pub mod openssl_reference;

use std::error::Error;

use topca_core::{
    CertificateAuthority, DistinguishedName, Environment, IssueRequest, KeyAlgorithm, OsRandom,
    Profile, ProfileKind, SigningKey, SubjectAltNames, profile::CaUrls,
};

/// An issuing CA and a leaf request of one algorithm, ready to issue from.
pub struct IssuanceFixture {
    /// The issuing (intermediate) CA.
    pub ca: CertificateAuthority,
    /// A TLS server request whose key is already known (the CSR was parsed and checked).
    pub request: IssueRequest,
    /// The TLS server profile.
    pub profile: Profile,
}

/// Builds a root, an issuing CA under it and a leaf request, all of `algorithm`.
pub fn issuance_fixture(algorithm: KeyAlgorithm) -> Result<IssuanceFixture, Box<dyn Error>> {
    let root = CertificateAuthority::create_root(
        SigningKey::generate(algorithm, &OsRandom)?,
        &DistinguishedName::with_common_name("Bench Root")
            .country("CN")
            .organization("天诚安信"),
        &Profile::new(ProfileKind::RootCa, 3650)?,
        Environment::system(),
    )?;
    let urls = CaUrls {
        crl: Some("http://ca.example.com/TopCA/crl/current.crl".into()),
        ca_issuers: Some("http://ca.example.com/TopCA/ca/issuing.cer".into()),
        ocsp: Some("http://ca.example.com/TopCA/ocsp".into()),
        delta_crl: None,
    };
    let ca = root.create_subordinate(
        SigningKey::generate(algorithm, &OsRandom)?,
        &DistinguishedName::with_common_name("Bench Issuing CA").organization("天诚安信"),
        &Profile::sub_ca(1825, 0)?,
        urls,
    )?;
    let leaf_key = SigningKey::generate(algorithm, &OsRandom)?;
    let mut alt_names = SubjectAltNames::default();
    alt_names.add_host("www.example.com")?;
    let request = IssueRequest {
        subject: DistinguishedName::with_common_name("www.example.com").organization("天诚安信"),
        public_key: leaf_key.public_key().clone(),
        alt_names,
        not_after: None,
    };
    Ok(IssuanceFixture {
        ca,
        request,
        profile: Profile::new(ProfileKind::TlsServer, 365)?,
    })
}

/// The message raw-signing benches sign (a TBSCertificate is a few hundred bytes).
pub const MESSAGE: [u8; 256] = [0x5a; 256];

/// The `i`-th entry of the CRL benchmark input (the Python reference script
/// `benches/crl_reference.py` builds the same): a 16-byte serial, a fixed revocation
/// time, and a reason cycling through keyCompromise, superseded and unspecified.
pub fn crl_bench_entry(i: u64, serial: &mut [u8; 16]) -> topca_core::crl::CrlEntry<'_> {
    use topca_core::lifecycle::RevocationReason;
    serial[..8].copy_from_slice(&0x4000_0000_0000_0000u64.to_be_bytes());
    serial[8..].copy_from_slice(&i.to_be_bytes());
    topca_core::crl::CrlEntry {
        serial: &serial[..],
        revoked_at: std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(1_795_000_000),
        reason: match i % 3 {
            0 => RevocationReason::KeyCompromise,
            1 => RevocationReason::Superseded,
            _ => RevocationReason::Unspecified,
        },
        invalidity_date: None,
    }
}

/// Builds and signs a CRL of `entries` benchmark entries with `ca`.
pub fn build_bench_crl(
    ca: &CertificateAuthority,
    entries: u64,
) -> Result<topca_core::crl::Crl, Box<dyn Error>> {
    let now = std::time::SystemTime::now();
    let info = topca_core::crl::CrlInfo {
        number: 1,
        this_update: now,
        next_update: now + std::time::Duration::from_secs(86_400),
        delta_base: None,
    };
    let mut writer =
        topca_core::crl::CrlWriter::new(ca, info, usize::try_from(entries).unwrap_or(0))?;
    let mut serial = [0u8; 16];
    for i in 0..entries {
        writer.push(&crl_bench_entry(i, &mut serial))?;
    }
    Ok(writer.finish()?)
}
