//! One process at a time on a data directory: the running server holds an
//! advisory lock (`flock`) on `DATA_DIR/topca.lock` for as long as it runs, and
//! writes its process id there. A second server on the same data directory, and
//! `restore`, take the same lock and are refused while it is held. The lock goes
//! with the process, however it ends, so a crash leaves nothing to clean up.

use std::{
    fs::{File, TryLockError},
    io::Write as _,
    path::{Path, PathBuf},
};

use crate::{
    files::{file_error, make_dir},
    setup::SetupError,
};

/// The lock file of a data directory.
pub fn lock_file(dir: &Path) -> PathBuf {
    dir.join("topca.lock")
}

/// The held lock on a data directory; released when dropped (or when the
/// process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of the data directory `dir` (made, mode 0700, when
    /// missing), or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, SetupError> {
        make_dir(dir)?;
        let path = lock_file(dir);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(|e| file_error(&path, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(SetupError::Usage(format!(
                    "another TopCA process{} is using the data directory {} (it holds {}); stop it first",
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (process {holder})")
                    },
                    dir.display(),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(file_error(&path, &e)),
        }
        file.set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_all())
            .map_err(|e| file_error(&path, &e))?;
        Ok(Self { _file: file })
    }
}
