//! Embeds the registration authority: an issuing CA, an in-memory store and a mailer
//! that prints to the terminal; an account, an application, the RA's approval, and
//! the holder retrieving the certificate with the mailed PIN and their password.
//!
//! ```text
//! cargo run -p topca-examples --example embed_ra
//! ```

use std::{error::Error, sync::Mutex};

use der::Encode;
use topca_core::{
    CertificateAuthority, CertificateRequest, DistinguishedName, Environment, KeyAlgorithm,
    MailError, OsRandom, Profile, ProfileKind, Signature, SigningKey,
    lifecycle::{CertificateType, VerificationMode},
    mail::{Envelope, Mail, Mailer},
    memory::MemoryStore,
    ra::{
        AccountSettings, AdminRole, Administrator, Holder, Language, RaPolicy,
        RegistrationAuthority,
    },
};
use x509_cert::builder::{Builder, RequestBuilder};

/// A mailer that prints what it would send (a real deployment uses topca-mail),
/// and keeps the last PIN as the holder would keep the mail.
#[derive(Default)]
struct TerminalMailer {
    last_pin: Mutex<Option<String>>,
}

impl Mailer for TerminalMailer {
    fn send(&self, envelope: &Envelope) -> Result<(), MailError> {
        match &envelope.mail {
            Mail::RequestApproved { pin, .. } => {
                println!("mail to {}: approved, PIN {}", envelope.to, pin.as_str());
                if let Ok(mut last) = self.last_pin.lock() {
                    *last = Some(pin.to_string());
                }
            }
            other => println!("mail to {}: {other:?}", envelope.to),
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let ca = CertificateAuthority::create_root(
        SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom)?,
        &DistinguishedName::with_common_name("Example SM2 CA")
            .country("CN")
            .organization("天诚安信"),
        &Profile::new(ProfileKind::RootCa, 3650)?,
        Environment::system(),
    )?;
    let store = MemoryStore::new();
    let mailer = TerminalMailer::default();
    let ra = RegistrationAuthority::new(&store, &mailer, &ca, RaPolicy::default());

    // An administrator the application has authenticated, acting with the RA role.
    let ops = Administrator {
        name: "ra-admin".into(),
        roles: vec![AdminRole::RaAdmin],
    }
    .ra_ops()?;

    // The RA administrator opens a certificate service for a department.
    let account = ra.create_account(
        &ops,
        AccountSettings {
            organization: "天诚安信".into(),
            unit: "技术部".into(),
            certificate_type: CertificateType::Single,
            verification: VerificationMode::Manual,
            algorithm: KeyAlgorithm::Sm2,
            validity_days: 365,
            service_url: "http://127.0.0.1:8080/TopCA/userEnroll".into(),
            language: Language::Chinese,
        },
    )?;

    // A holder applies, protecting the request with a user password.
    let holder = Holder {
        name: "张三".into(),
        email: "zhangsan@example.com".into(),
        phone: None,
        state: None,
        locality: None,
    };
    let request = ra.apply(account.id, holder, "张三的用户口令-2026")?;

    // The administrator approves; the PIN goes out by mail.
    ra.approve(&ops, request.id)?;
    let pin = mailer
        .last_pin
        .lock()
        .map_err(|_| "mailer lock")?
        .clone()
        .ok_or("no PIN was mailed")?;

    // The holder makes a key pair and a CSR (here with TopCA's own key type, which
    // any RustCrypto builder accepts), and retrieves the certificate.
    let holder_key = SigningKey::generate(KeyAlgorithm::Sm2, &OsRandom)?;
    let csr_der = RequestBuilder::new(DistinguishedName::with_common_name("张三").to_name()?)?
        .build::<_, Signature>(&holder_key)?
        .to_der()?;
    let certificate = ra
        .retrieve(
            &pin,
            "张三的用户口令-2026",
            &CertificateRequest::from_der(&csr_der)?,
        )?
        .certificate;
    println!(
        "issued {} to {}",
        certificate.serial_hex(),
        certificate.subject_text()
    );
    print!("{}", certificate.to_pem());
    Ok(())
}
