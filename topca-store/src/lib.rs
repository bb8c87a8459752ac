//! TopCA storage on diesel: SQLite (embedded, the default) or PostgreSQL
//! (several TopCA nodes on one database), chosen by the database URL.
//!
//! ```no_run
//! let store = topca_store::DieselStore::open("sqlite:///var/lib/topca/topca.db")?;
//! // or DieselStore::open("postgres://topca:secret@db.example.cn/topca")?
//! topca_core::conformance::run(&store)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The store implements every storage trait of `topca-core` and passes its
//! conformance suite on both backends. Each trait method is one transaction;
//! request and recovery updates are compare-and-set on their version; serials
//! are primary keys; SQLite runs in WAL mode with a busy timeout, its write
//! transactions go through one connection per process and take the write lock
//! when they begin (`BEGIN IMMEDIATE`), and its WAL is checkpointed on a
//! thread of its own.
//! Migrations are embedded and run on open; a database written by a newer TopCA
//! is refused, never altered.

mod error;
mod migrate;
mod rows;
mod schema;
mod store;

pub use error::OpenError;
pub use store::{DieselStore, PoolUse};
