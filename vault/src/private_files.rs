//! Folders and files only the vault's owner may read: folders 0700, files 0600 (on Unix).
//!
//! The data folder holds argon2 hashes, grant metadata and ciphertext; none of it is for other local users, and
//! a umask of 022 would otherwise make all of it world-readable.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents with mode 0700, and tightens `dir` itself to 0700 if it already
/// existed with a looser mode. For folders the vault owns (the data folder, `keys/`, `blobs/` and its folders).
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    create_private_dirs(dir)?;
    tighten(dir, 0o700)
}

/// Creates `dir` and any missing parents with mode 0700, leaving existing folders as they are (for folders the
/// operator chose, such as the parent of a master key file kept elsewhere).
pub(crate) fn create_private_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Options that create a file with mode 0600 (the mode applies only when the file is created).
pub(crate) fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Tightens an existing file to 0600 if its mode is looser; a missing file is no error.
pub(crate) fn tighten_file(path: &Path) -> io::Result<()> {
    match tighten(path, 0o600) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Sets `mode` on `path` when group or others have any access to it.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let current = fs::metadata(path)?.permissions().mode();
    if current & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}
