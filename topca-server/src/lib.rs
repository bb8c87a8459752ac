//! TopCA reference server: the user and server certificate enrollment centres
//! (`/TopCA/userEnroll`, `/TopCA/serverEnroll`) as web pages and a REST API.
//!
//! Not written yet: until then the crate is empty, and the README's "run" command
//! runs the `issue_certificate` example instead.
