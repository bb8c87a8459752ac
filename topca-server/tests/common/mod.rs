//! What the server's integration tests share.

use std::path::Path;

use topca_server::setup::Options;

/// Options for a server on `dir` with embedded defaults: SQLite, the outbox, a
/// P-256 CA, plain HTTP.
pub fn options(dir: &Path) -> Options {
    Options {
        data_dir: dir.to_owned(),
        listen: "127.0.0.1:8080".parse().unwrap(),
        algorithm: topca_core::KeyAlgorithm::EcdsaP256,
        database_url: None,
        mail_url: None,
        mail_from: "TopCA <ca@localhost>".into(),
        mail_trusted_ca: None,
        public_url: None,
        delta_crl: false,
        tls: topca_server::tls::TlsSource::Off,
        crl_refresh: std::time::Duration::from_secs(600),
    }
}
