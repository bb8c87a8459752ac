//! TopCA mail: the lettre implementation (SMTP, and a file outbox by default) of
//! the mail trait defined in `topca-core`.
//!
//! The mail trait and this crate's implementation are not written yet: until then
//! the crate is empty and nothing depends on it.
