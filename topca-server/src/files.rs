//! Files of the data directory, for first start ([`crate::setup`]) and CA
//! initialisation ([`crate::ca_init`]) alike: where the CA files are, and reading
//! and writing files with the permission bits they need, errors naming the file.

use std::path::{Path, PathBuf};

use crate::setup::SetupError;

/// The files of an initialised CA: `ca/root.pem`, `ca/issuing.pem`,
/// `ca/issuing.key`. The CA counts as initialised when all three exist.
pub(crate) fn ca_files(dir: &Path) -> [PathBuf; 3] {
    ["root.pem", "issuing.pem", "issuing.key"].map(|f| dir.join("ca").join(f))
}

/// Creates the folder `path` and its parents.
pub(crate) fn make_dir(path: &Path) -> Result<(), SetupError> {
    std::fs::create_dir_all(path).map_err(|e| file_error(path, &e))
}

/// The text of the file `path`.
pub(crate) fn read(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|e| file_error(path, &e))
}

/// Writes `content` to `path` and sets its permission bits to `mode`.
pub(crate) fn write(path: &Path, content: impl AsRef<[u8]>, mode: u32) -> Result<(), SetupError> {
    std::fs::write(path, content).map_err(|e| file_error(path, &e))?;
    restrict(path, mode)
}

/// Sets the permission bits of a file or folder (Unix; nothing elsewhere).
#[cfg(unix)]
pub(crate) fn restrict(path: &Path, mode: u32) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| file_error(path, &e))
}

/// Sets the permission bits of a file or folder (Unix; nothing elsewhere).
#[cfg(not(unix))]
pub(crate) fn restrict(_: &Path, _: u32) -> Result<(), SetupError> {
    Ok(())
}

/// What went wrong with the file `path`.
pub(crate) fn file_error(path: &Path, error: &std::io::Error) -> SetupError {
    SetupError::File {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}
