//! TopCA benchmarks: criterion benches of raw signing and of certificate issuance per
//! algorithm (`cargo bench -p topca-benches`), and `compare`, which measures the same
//! operations next to `openssl speed` on the same machine in the same run
//! (`scripts/bench` runs both).

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
