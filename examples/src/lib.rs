//! Runnable examples of embedding `topca-core`; see the `examples/` folder:
//!
//! - `embed_ra`: the registration authority embedded with an in-memory store and
//!   a terminal mailer: account, application, approval, retrieval with the PIN.
//! - `issue_certificate`: create a root and an issuing CA, issue a TLS server
//!   certificate, print the chain and the certificate.
