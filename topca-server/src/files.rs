//! Files of the data directory, for first start ([`crate::setup`]) and CA
//! initialisation ([`crate::ca_init`]) alike: where the CA files are, reading and
//! writing them, errors naming the file.
//!
//! Everything the server makes is private to its user whatever the umask:
//! folders are created with mode 0700 and files with mode 0600 (the mode is given
//! when the file is created, so no other user can open it in between), and
//! [`check_private`] refuses a data directory that others can read.

use std::path::{Path, PathBuf};

use crate::setup::SetupError;

/// The files of an initialised CA: `ca/root.pem`, `ca/issuing.pem`,
/// `ca/issuing.key` (or `ca/issuing.pkcs11` when the key is in a token, see
/// [`crate::hsm`]). The CA counts as initialised when all three exist.
pub(crate) fn ca_files(dir: &Path) -> [PathBuf; 3] {
    let ca = dir.join("ca");
    let token = ca.join(crate::hsm::KEY_URI_FILE);
    let key = if token.exists() {
        token
    } else {
        ca.join("issuing.key")
    };
    [ca.join("root.pem"), ca.join("issuing.pem"), key]
}

/// Creates the folder `path` and its missing parents, mode 0700.
pub(crate) fn make_dir(path: &Path) -> Result<(), SetupError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|e| file_error(path, &e))
}

/// The text of the file `path`.
pub(crate) fn read(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|e| file_error(path, &e))
}

/// Writes `content` to `path`, a file created with mode 0600 if missing.
pub(crate) fn write(path: &Path, content: impl AsRef<[u8]>) -> Result<(), SetupError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(content.as_ref()))
        .map_err(|e| file_error(path, &e))
}

/// A new file at `path` (replacing any), created with mode 0600, open for writing.
pub fn create_private(path: &Path) -> Result<std::fs::File, SetupError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(path, &e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| file_error(path, &e))
}

/// Refuses to go on when the data directory `dir`, its `secrets/` (and the files
/// in it), its CA keys, its outbox or the SQLite database `database` (with its
/// WAL files) can be read or entered by users other than the server's own; the
/// error gives the `chmod` that fixes it. Missing paths are fine (a first start
/// makes them private).
#[cfg(unix)]
pub(crate) fn check_private(dir: &Path, database: Option<&Path>) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    let mut paths = vec![dir.to_owned(), dir.join("secrets"), dir.join("outbox")];
    for folder in ["secrets", "ca"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(folder)) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| folder == "secrets" || p.extension().is_some_and(|x| x == "key"))
                .collect();
            found.sort();
            paths.extend(found);
        }
    }
    if let Some(database) = database {
        paths.push(database.to_owned());
        for suffix in ["-wal", "-shm"] {
            paths.push(PathBuf::from(format!("{}{suffix}", database.display())));
        }
    }
    for path in paths {
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let wanted = if metadata.is_dir() { "700" } else { "600" };
            return Err(SetupError::Exposed {
                path: path.display().to_string(),
                mode: format!("{mode:03o}"),
                fix: format!("chmod {wanted} '{}'", path.display()),
            });
        }
    }
    Ok(())
}

/// Refuses to go on when others can read the data directory (Unix only).
#[cfg(not(unix))]
pub(crate) fn check_private(_: &Path, _: Option<&Path>) -> Result<(), SetupError> {
    Ok(())
}

/// What went wrong with the file `path`.
pub(crate) fn file_error(path: &Path, error: &std::io::Error) -> SetupError {
    SetupError::File {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}
