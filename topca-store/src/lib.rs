//! TopCA storage: the diesel implementation (SQLite embedded, PostgreSQL for
//! several nodes) of the storage traits defined in `topca-core`.
//!
//! The storage traits themselves, and this crate's implementation of them, are not
//! written yet: until then the crate is empty and nothing depends on it.
