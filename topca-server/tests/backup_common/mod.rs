//! What the backup and restore tests share: CAs on real files, snapshots of
//! folders, and the server binary.
#![allow(dead_code)] // each test file uses its own part of these helpers

use std::{
    collections::BTreeMap,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use topca_core::ra::AdminRole;
use topca_server::{
    backup::Manifest,
    restore::RestoreRequest,
    setup::{Options, add_admin, start},
};

use crate::common;

pub const PASSWORD: &str = "backup-test-password";

/// A started CA in `parent/name` (stopped again), with the administrator `first`.
pub fn ca(parent: &Path, name: &str, first: &str) -> Options {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let options = common::options(&dir);
    drop(start(&options).unwrap());
    add_admin(&options, first, PASSWORD, vec![AdminRole::SuperAdmin]).unwrap();
    options
}

/// A restore of `backup` into `target` with the target's own secrets.
pub fn request<'a>(backup: &'a Path, target: &'a Path) -> RestoreRequest<'a> {
    RestoreRequest {
        backup,
        target,
        database_url: None,
        master_key_file: None,
        ca_passphrase_file: None,
    }
}

/// Every file and folder under `dir` (but the advisory lock file): mode and content.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "topca.lock") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                pending.push(path.clone());
                found.insert(path, (mode, Vec::new()));
            } else {
                found.insert(path.clone(), (mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    found
}

/// Folders and files private to the owner: 0700 and 0600.
pub fn assert_private(dir: &Path) {
    assert_eq!(
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for (path, (mode, _)) in tree(dir) {
        let wanted = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} has mode {mode:03o}", path.display());
    }
}

/// The names in `parent`, sorted.
pub fn names(parent: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A copy of the backup folder `from` at `to`, to tamper with.
pub fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The manifest of the backup folder `backup`.
pub fn manifest(backup: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(backup.join("MANIFEST.json")).unwrap()).unwrap()
}

/// The server binary with `args`.
pub fn server(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_topca-server"));
    command.args(args);
    command
}
