//! An archive sent over HTTP, imported: its bytes are written as they arrive to a file under the data folder that is
//! an age stream to a key of this import's only, kept in memory (so no plaintext of it reaches the disk, and the
//! file is unreadable once the process is gone), then read back seekable for the import, and removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use cartable_vault::{ImportReport, Vault};
use futures::{Stream, StreamExt};

use super::import::{ImportProgress, import_archive};
use super::verify::{ReadSeek, open_reader};

/// Why an upload did not import.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// The body was larger than the limit.
    #[error("the archive is larger than this server takes ({0} bytes)")]
    TooLarge(u64),
    /// The archive was refused: the reason is safe to show the person who sent it (never logged: it may name an
    /// entry, and so a file's name).
    #[error("{0}")]
    Refused(String),
    /// Something failed on the server's side.
    #[error("the import failed on the server")]
    Server(anyhow::Error),
}

/// The temporary, sealed copy of an upload; removed when dropped.
struct Sealed {
    path: PathBuf,
    identity: age::x25519::Identity,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Receives `body` (at most `limit` bytes) into a sealed file under `folder`, then imports it (`passphrase` for an
/// archive that is itself encrypted).
pub(crate) async fn import_upload<S, E>(
    vault: &Vault,
    folder: &Path,
    body: S,
    limit: u64,
    passphrase: Option<age::secrecy::SecretString>,
) -> Result<ImportReport, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let sealed = receive(folder, body, limit).await?;
    let (vault, handle) = (vault.clone(), tokio::runtime::Handle::current());
    tokio::task::spawn_blocking(move || {
        let file = std::io::BufReader::new(std::fs::File::open(&sealed.path).map_err(|e| UploadError::Server(e.into()))?);
        let outer = age::Decryptor::new(file).map_err(|e| UploadError::Server(e.into()))?;
        let plain = outer.decrypt(std::iter::once(&sealed.identity as &dyn age::Identity)).map_err(|e| UploadError::Server(e.into()))?;
        let mut archive = open_reader(Box::new(plain) as Box<dyn ReadSeek>, passphrase).map_err(|e| UploadError::Refused(e.to_string()))?;
        let report = import_archive(&handle, &vault, &mut archive, None, &Quiet);
        drop(archive);
        drop(sealed);
        report.map_err(refused_or_failed)
    })
    .await
    .map_err(|e| UploadError::Server(e.into()))?
}

/// The body into the sealed file, chunk by chunk (a blocking write per chunk, off the runtime's threads).
async fn receive<S, E>(folder: &Path, mut body: S, limit: u64) -> Result<Sealed, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let folder = folder.to_owned();
    let path = folder.join(format!("{}.age", uuid::Uuid::new_v4().simple()));
    let sealed = Sealed { path: path.clone(), identity };
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Bytes>(4);
    let writer = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        private_folder(&folder)?;
        let file = std::fs::OpenOptions::new().write(true).create_new(true).mode_private().open(&path).context("the upload's sealed file")?;
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).map_err(|e| anyhow!("{e}"))?;
        let mut out = encryptor.wrap_output(std::io::BufWriter::new(file))?;
        for chunk in receiver {
            out.write_all(&chunk)?;
        }
        out.finish()?.flush()?;
        Ok(())
    });
    let mut seen = 0u64;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                seen += bytes.len() as u64;
                if seen > limit {
                    failure = Some(UploadError::TooLarge(limit));
                    break;
                }
                if sender.send(bytes).is_err() {
                    break;
                }
            }
            Err(e) => {
                failure = Some(UploadError::Refused(format!("the upload was interrupted: {e}")));
                break;
            }
        }
    }
    drop(sender);
    let written = writer.await.map_err(|e| UploadError::Server(e.into()))?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    written.map_err(UploadError::Server)?;
    Ok(sealed)
}

/// An import's errors: the archive's (shown to its sender) or the server's.
fn refused_or_failed(e: anyhow::Error) -> UploadError {
    match e.downcast_ref::<cartable_vault::Error>() {
        Some(cartable_vault::Error::InvalidInput(_) | cartable_vault::Error::Contended(_)) | None => UploadError::Refused(e.to_string()),
        Some(_) => UploadError::Server(e),
    }
}

/// No progress to show: the request waits for the answer.
struct Quiet;

impl ImportProgress for Quiet {
    fn phase(&self, _: &'static str) {}
    fn done(&self, _: u64) {}
}

/// The folder of sealed uploads, 0700.
fn private_folder(folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder).context("the uploads' folder")?;
    #[cfg(unix)]
    std::fs::set_permissions(folder, std::os::unix::fs::PermissionsExt::from_mode(0o700)).context("the uploads' folder")?;
    Ok(())
}

trait ModePrivate {
    fn mode_private(&mut self) -> &mut Self;
}

impl ModePrivate for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600);
        self
    }
}

