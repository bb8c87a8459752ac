//! TopCA mail: the [`topca_core::mail::Mailer`] that really sends, with lettre.
//!
//! - [`MailConfig`] picks the transport from a URL: a file outbox
//!   (`file:///var/lib/topca/outbox`, one `.eml` per message, the embedded default)
//!   or SMTP (`smtp://host:25`, `smtp://user:pass@host:587?tls=required` for
//!   STARTTLS, `smtps://user:pass@host:465` for implicit TLS).
//! - [`render`] turns each [`topca_core::mail::Mail`] into a subject and a body, in
//!   Simplified Chinese by default and in English for English accounts.
//! - [`LettreMailer`] builds the message (UTF-8, RFC 2047 headers) and sends it.
//!
//! Secrets (PINs, authorization codes, confirmation links) appear in the message
//! body only: never in an error, a log line or a `Debug` output.

mod config;
mod mailer;
mod outbox;
mod render;
mod smtp;

pub use config::{MailConfig, SetupError, Transport};
pub use mailer::LettreMailer;
pub use render::{MAX_GIVEN, Rendered, render};
