//! Sealed mode: one instance of a service, an MLS member (crate `cartable-sealed`) of its grants' groups, whose
//! state is saved encrypted under a key the service supplies, and the opening of sealed responses.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::{Buf as _, Bytes, BytesMut};
use cartable_sealed::{JoinError, Processed, ServiceMember};
use futures::StreamExt as _;
use zeroize::Zeroizing;

use crate::client::ByteStream;
use crate::error::SdkError;
use crate::wire::{GrantId, MailboxMessageKind, SealedMailbox, ServiceId, sealed};

/// KeyPackages published at a time: one is used each time the instance joins a grant's group.
pub(crate) const KEY_PACKAGES: usize = 8;

/// One instance of a service in sealed mode: its MLS identity (a credential naming `service:<id>/<name>` and an
/// Ed25519 key), the groups of the grants it joined, and where its state is saved (encrypted with ChaCha20-Poly1305
/// under the 32-byte key given; the file is written whole and renamed into place, owner-only). Keep the key apart
/// from the file: together they open every response the instance can.
///
/// Cheap to clone; clones share the state. Give it to [`crate::Service::with_instance`]: the calling code is then
/// the same as in plain mode, and every response is opened here.
#[derive(Clone)]
pub struct Instance {
    inner: Arc<Mutex<State>>,
    /// Openings take turns here, awaited: a response waiting for its turn leaves its thread to other work rather
    /// than blocking it on the state's lock.
    turn: Arc<tokio::sync::Mutex<()>>,
    name: Arc<str>,
}

struct State {
    member: ServiceMember,
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    /// The last mailbox message applied, per grant (kept in memory: after a restart the mailbox is read again from
    /// the start, and what the state already holds is skipped).
    applied: HashMap<GrantId, u64>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Instance {
    /// The instance `name` of `service` (1 to 64 letters, digits, `.`, `_`, `-`), its state at `path`: read back
    /// when the file exists (with the same key), made and saved otherwise.
    pub fn open(service: ServiceId, name: &str, path: impl AsRef<Path>, key: [u8; 32]) -> Result<Instance, SdkError> {
        let path = path.as_ref().to_path_buf();
        let key = Zeroizing::new(key);
        let identity = format!("service:{service}/{name}").into_bytes();
        let member = match std::fs::read(&path) {
            Ok(saved) => {
                let member = ServiceMember::restore(&saved, &key).map_err(|e| SdkError::Sealed { message: format!("the instance's saved state does not open: {e}") })?;
                if member.identity() != identity.as_slice() {
                    return Err(SdkError::Sealed { message: "the saved state is another instance's".to_owned() });
                }
                member
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                ServiceMember::new(&identity).map_err(|e| SdkError::Sealed { message: format!("cannot make the instance's identity: {e}") })?
            }
            Err(e) => return Err(SdkError::Sealed { message: format!("cannot read the instance's state: {e}") }),
        };
        let instance = Instance {
            inner: Arc::new(Mutex::new(State { member, path, key, applied: HashMap::new() })),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            name: name.into(),
        };
        instance.lock().save()?;
        Ok(instance)
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the instance is in the group of `grant`.
    pub fn is_member(&self, grant: GrantId) -> bool {
        self.lock().member.is_member(grant.to_string().as_bytes())
    }

    /// The epoch the instance is at in the group of `grant`.
    pub fn epoch(&self, grant: GrantId) -> Option<u64> {
        self.lock().member.epoch(grant.to_string().as_bytes())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().expect("instance state lock")
    }

    /// Fresh KeyPackages to publish, base64; the state holding their private keys is saved first.
    pub(crate) fn key_packages(&self, n: usize) -> Result<Vec<String>, SdkError> {
        let mut state = self.lock();
        let packages = state.member.key_packages(n).map_err(|e| SdkError::Sealed { message: format!("cannot make KeyPackages: {e}") })?;
        state.save()?;
        Ok(packages.iter().map(|p| base64::engine::general_purpose::STANDARD.encode(p)).collect())
    }

    /// Where the instance stands in `grant`'s mailbox.
    pub(crate) fn applied(&self, grant: GrantId) -> u64 {
        self.lock().applied.get(&grant).copied().unwrap_or(0)
    }

    /// Applies a page of `grant`'s mailbox: joins from a Welcome meant for this instance (signed by the vault's
    /// key the page names), applies the commits past its epoch. Returns how many Welcomes it joined from.
    pub(crate) fn apply(&self, grant: GrantId, mailbox: &SealedMailbox) -> Result<usize, SdkError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let group = grant.to_string().into_bytes();
        let vault_key = b64.decode(&mailbox.vault_key).map_err(|_| SdkError::Protocol("the vault's key is not base64".to_owned()))?;
        let mut state = self.lock();
        let mut joined = 0;
        let mut changed = false;
        for message in &mailbox.messages {
            let bytes = b64.decode(&message.message).map_err(|_| SdkError::Protocol("a mailbox message is not base64".to_owned()))?;
            match message.kind {
                MailboxMessageKind::Welcome if !state.member.is_member(&group) => match state.member.join(&bytes, &vault_key) {
                    Ok(_) => {
                        joined += 1;
                        changed = true;
                    }
                    // A Welcome for another instance (or for a KeyPackage this state no longer holds).
                    Err(JoinError::Refused(_)) | Err(JoinError::AlreadyMember) => {}
                    Err(e) => return Err(SdkError::Sealed { message: format!("a Welcome was refused: {e}") }),
                },
                MailboxMessageKind::Welcome => {}
                MailboxMessageKind::Commit => match state.member.epoch(&group) {
                    Some(epoch) if message.epoch > epoch => match state.member.process(&bytes) {
                        Ok(Processed::Epoch(_)) | Ok(Processed::Removed) => changed = true,
                        Err(e) => return Err(SdkError::Sealed { message: format!("a commit of the grant's group was refused: {e}") }),
                    },
                    // Already applied, or from before this instance joined.
                    _ => {}
                },
            }
            state.applied.insert(grant, message.seq);
        }
        if changed {
            state.save()?;
        }
        Ok(joined)
    }

    /// Opens one sealed message of `grant`'s group.
    pub(crate) async fn open_message(&self, grant: GrantId, message: &[u8]) -> Result<Zeroizing<Vec<u8>>, SdkError> {
        let group = grant.to_string().into_bytes();
        let _turn = self.turn.lock().await;
        let mut state = self.lock();
        state
            .member
            .open(&group, message)
            .map(Zeroizing::new)
            .map_err(|e| SdkError::Sealed { message: format!("a sealed response does not open for this instance: {e}") })
    }
}

impl State {
    /// Writes the state encrypted, whole, then renames it into place (owner-only).
    fn save(&self) -> Result<(), SdkError> {
        let saved = self.member.save(&self.key).map_err(|e| SdkError::Sealed { message: format!("cannot save the instance's state: {e}") })?;
        let io = |e: std::io::Error| SdkError::Sealed { message: format!("cannot save the instance's state: {e}") };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(&saved).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }
}

/// The plaintext of a sealed response, checked to answer `path`.
pub(crate) async fn open_bound(instance: &Instance, grant: GrantId, message: &[u8], path: &str) -> Result<Zeroizing<Vec<u8>>, SdkError> {
    let plain = instance.open_message(grant, message).await?;
    let body = sealed::unbind(&plain, path).ok_or_else(|| SdkError::Sealed { message: "a sealed response answers another request".to_owned() })?;
    Ok(Zeroizing::new(body.to_vec()))
}

/// A sealed stream opened frame by frame: its head (checked to answer `path`), then its bytes. The stream is an
/// error if it ends before its end frame, or if anything follows it.
/// Brings the instance up to date with its grant's mailbox (the stream's chunks may be sealed in an epoch that
/// began after its head: the vault renewed its leaf, or the grant ended).
pub(crate) type Resync = Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), SdkError>> + Send + Sync>;

pub(crate) async fn open_stream(instance: Instance, grant: GrantId, mut body: ByteStream, path: &str, resync: Resync) -> Result<(Zeroizing<Vec<u8>>, ByteStream), SdkError> {
    let mut buffer = BytesMut::new();
    let head = next_frame(&mut body, &mut buffer).await?.ok_or_else(|| SdkError::Protocol("a sealed stream ended before its head".to_owned()))?;
    let plain = instance.open_message(grant, &head).await?;
    let (tag, rest) = plain.split_first().ok_or_else(|| SdkError::Protocol("an empty sealed frame".to_owned()))?;
    if *tag != sealed::HEAD {
        return Err(SdkError::Protocol("a sealed stream does not start with its head".to_owned()));
    }
    let head = Zeroizing::new(sealed::unbind(rest, path).ok_or_else(|| SdkError::Sealed { message: "a sealed response answers another request".to_owned() })?.to_vec());
    let opening = Opening { body, buffer, instance, grant, resync, ended: false };
    let stream = futures::stream::unfold(opening, |mut opening| async move {
        let item = opening.next_chunk().await?;
        if item.is_err() {
            opening.ended = true;
        }
        Some((item, opening))
    });
    Ok((head, Box::pin(stream)))
}

/// A sealed stream past its head.
struct Opening {
    body: ByteStream,
    buffer: BytesMut,
    instance: Instance,
    grant: GrantId,
    resync: Resync,
    /// Its end frame was read, or it failed: nothing more comes out.
    ended: bool,
}

impl Opening {
    /// The next chunk's bytes; `None` once the end frame was read and nothing follows it.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, SdkError>> {
        if self.ended {
            return None;
        }
        loop {
            let frame = match next_frame(&mut self.body, &mut self.buffer).await {
                Ok(Some(frame)) => frame,
                Ok(None) => return Some(Err(SdkError::Protocol("a sealed stream was cut short".to_owned()))),
                Err(e) => return Some(Err(e)),
            };
            let plain = match self.instance.open_message(self.grant, &frame).await {
                Ok(plain) => plain,
                // Sealed in an epoch this instance has not reached: follow the mailbox, and try once more.
                Err(_) => match (self.resync)().await {
                    Ok(()) => match self.instance.open_message(self.grant, &frame).await {
                        Ok(plain) => plain,
                        Err(e) => return Some(Err(e)),
                    },
                    Err(e) => return Some(Err(e)),
                },
            };
            match plain.split_first() {
                Some((&sealed::CHUNK, bytes)) if !bytes.is_empty() => return Some(Ok(Bytes::copy_from_slice(bytes))),
                Some((&sealed::CHUNK, _)) => continue,
                Some((&sealed::END, [])) => {
                    self.ended = true;
                    return match next_frame(&mut self.body, &mut self.buffer).await {
                        Ok(None) => None,
                        Ok(Some(_)) => Some(Err(SdkError::Protocol("bytes follow a sealed stream's end".to_owned()))),
                        Err(e) => Some(Err(e)),
                    };
                }
                _ => return Some(Err(SdkError::Protocol("a sealed stream's frame is not a chunk or its end".to_owned()))),
            }
        }
    }
}

/// The next frame's message, or `None` at a clean end between frames.
async fn next_frame(body: &mut ByteStream, buffer: &mut BytesMut) -> Result<Option<Vec<u8>>, SdkError> {
    loop {
        if buffer.len() >= 4 {
            let length = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
            if length == 0 || length > sealed::MAX_FRAME {
                return Err(SdkError::Protocol("a sealed frame of an impossible length".to_owned()));
            }
            if buffer.len() >= 4 + length {
                buffer.advance(4);
                return Ok(Some(buffer.split_to(length).to_vec()));
            }
        }
        match body.next().await {
            Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
            Some(Err(e)) => return Err(e),
            None if buffer.is_empty() => return Ok(None),
            None => return Err(SdkError::Protocol("a sealed stream was cut short inside a frame".to_owned())),
        }
    }
}
