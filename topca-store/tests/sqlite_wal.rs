//! SQLite's WAL under writes that never pause: the store checkpoints it on a
//! thread of its own, and the WAL is wholly copied often enough that writing
//! starts again at its beginning. A WAL only ever checkpointed passively
//! while writes go on would grow by every write, without end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod common;

use std::time::{Duration, Instant};

use common::{new_request, record, reserve};
use topca_store::DieselStore;

/// Writes reservations, one transaction each, for `how_long`.
fn write_for(store: &DieselStore, how_long: Duration) -> usize {
    let request = new_request(store, "wal@example.cn");
    let started = Instant::now();
    let mut written = 0;
    while started.elapsed() < how_long {
        reserve(store, &record(&request));
        written += 1;
    }
    written
}

#[test]
fn the_wal_does_not_grow_without_end_under_steady_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let store = DieselStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let wal = dir.path().join("wal.db-wal");
    let size = || std::fs::metadata(&wal).map_or(0, |m| m.len());

    let first = write_for(&store, Duration::from_secs(1));
    let after_one = size();
    let rest = write_for(&store, Duration::from_secs(3));
    let after_four = size();
    assert!(first > 50 && rest > 150, "{first} then {rest} writes");
    // Four times the writes, in a WAL that restarts at least every
    // checkpoint: no bigger than the first second's, give or take.
    assert!(
        after_four < after_one * 3,
        "the WAL grew from {after_one} bytes after 1 s of writes to {after_four} after 4 s"
    );
}

#[test]
fn dropping_the_store_closes_the_database_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closed.db");
    let store = DieselStore::open(&format!("sqlite://{}", path.display())).unwrap();
    write_for(&store, Duration::from_millis(300));
    assert!(dir.path().join("closed.db-wal").exists());
    drop(store);
    // The last connection closed: SQLite copied the WAL back and removed it
    // (a restore moves the data directory's files right after).
    assert!(!dir.path().join("closed.db-wal").exists());
    assert!(!dir.path().join("closed.db-shm").exists());
}
