//! WAL checkpoints of a SQLite store on a thread of their own.
//!
//! By default SQLite copies the WAL back into the database file (a checkpoint,
//! with an `fsync` of both files) inside the commit that grows the WAL past
//! 1,000 pages. Under load that commit's writer then waits for the disk while
//! holding the write lock, and every other writer waits with it. Here the
//! pool's connections never checkpoint on commit; a thread checkpoints every
//! [`CHECKPOINT_EVERY`] in which this process wrote: first passively, while this process's writers go
//! on, which copies nearly all of the WAL; then, holding the writer (see
//! [`super::DieselStore`]), the few pages written meanwhile, so that the WAL
//! is wholly copied and the next transaction writes it again from its start
//! (a WAL only ever checkpointed passively under steady writes would grow
//! without end). It ends when the store is dropped; closing the last
//! connection checkpoints what is left.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc::{self, RecvTimeoutError},
    },
    time::Duration,
};

use diesel::{
    connection::SimpleConnection,
    r2d2::{ConnectionManager, Pool},
    sqlite::SqliteConnection,
};

use super::SqlitePooled;

/// How often the WAL is checkpointed.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The checkpointing thread of one store, stopped when this is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    /// Dropped first: the thread sees the channel closed and ends.
    stop: Option<mpsc::Sender<()>>,
    /// Joined on drop, so that the thread's hold on the pool is gone with the
    /// store: the database is closed (its `-wal` and `-shm` files removed) when
    /// the store is dropped, not some time later (a restore moves the files
    /// right after).
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A checkpoint that panicked has nothing more to give back.
            let _ = thread.join();
        }
    }
}

impl Checkpointer {
    /// Starts checkpointing the database of `pool`, whose writing
    /// connection is `writer`, after each period in which `written` was set.
    pub(super) fn start(
        pool: Pool<ConnectionManager<SqliteConnection>>,
        writer: Arc<Mutex<Option<SqlitePooled>>>,
        written: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // Idle: no checkpoint, no lock taken (another process
                    // writing to the file meanwhile finds it as it left it).
                    if !written.swap(false, Ordering::Relaxed) {
                        continue;
                    }
                    // A failure (the pool exhausted, the disk full) is retried at
                    // the next round; writers go on meanwhile.
                    if let Ok(mut conn) = pool.get() {
                        let _ = conn.batch_execute(CHECKPOINT);
                    }
                    let mut writing = writer.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(conn) = writing.as_mut() {
                        let _ = conn.batch_execute(CHECKPOINT);
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A checkpoint that waits for no one: what a reader still uses stays in the WAL.
const CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE);";
