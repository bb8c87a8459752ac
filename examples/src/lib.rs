//! Runnable examples of embedding `topca-core`; see the `examples/` folder:
//!
//! - `issue_certificate`: create a root and an issuing CA, issue a TLS server
//!   certificate, print the chain and the certificate.
