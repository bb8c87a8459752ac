//! The file outbox: each message a complete `.eml` file in one directory, written
//! to a temporary name and renamed, so a reader never sees half a message. The
//! directory is made with mode 0700 and each file with mode 0600 (mails carry
//! PINs and codes): no other local user can read them, whatever the umask.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

use topca_core::MailError;

/// Writes messages into a directory.
#[derive(Debug)]
pub(crate) struct Outbox {
    dir: PathBuf,
    counter: AtomicU64,
}

impl Outbox {
    /// An outbox in `dir`, created (mode 0700) if missing.
    pub(crate) fn open(dir: &Path) -> Result<Self, MailError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| outbox_error(dir, &e))?;
        Ok(Self {
            dir: dir.to_owned(),
            counter: AtomicU64::new(0),
        })
    }

    /// Stores one formatted message as `<time>-<pid>-<n>.eml` (names sort by time).
    pub(crate) fn store(&self, message: &[u8]) -> Result<PathBuf, MailError> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{nanos:020}-{}-{n:06}", std::process::id());
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let target = self.dir.join(format!("{name}.eml"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&temporary)
            .and_then(|mut f| f.write_all(message).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&temporary, &target));
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(outbox_error(&self.dir, &e));
        }
        Ok(target)
    }
}

impl Outbox {
    /// Writes, syncs and removes an empty probe file: the folder takes mail.
    pub(crate) fn probe(&self) -> Result<(), MailError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let probe = self
            .dir
            .join(format!(".probe-{}-{n:06}.tmp", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&probe).and_then(|f| f.sync_all());
        let removed = fs::remove_file(&probe);
        written
            .and(removed)
            .map_err(|e| outbox_error(&self.dir, &e))
    }
}

fn outbox_error(dir: &Path, error: &std::io::Error) -> MailError {
    MailError::Outbox(format!("{} ({error})", dir.display()))
}
