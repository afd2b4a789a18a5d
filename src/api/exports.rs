//! A family's archive over HTTP (GDPR art. 20): a guardian or an adult child downloads what the family's rules show
//! them, a service what its `export` grant covers. Every part is decided and logged for the caller, as the command
//! line's export is for the operator, so the download is an access in the ledger it carries.
//!
//! What the caller may have is decided before the first byte goes out (a refusal is a 403, not a broken
//! download); the archive is then written on a blocking thread into a bounded channel that is the response's body,
//! so memory does not grow with the family and nothing of it is written to disk.

use std::sync::Mutex;

use anyhow::anyhow;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cartable_consent::{AccessRequest, Action, Doctype, FamilyId, MemberId, Resource};
use cartable_export::Scope;
use cartable_sdk::ErrorResponse;
use cartable_vault::Permit;

use super::data::decide;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, Caller};
use super::imports::PASSPHRASE_HEADER;
use super::{ApiState, family_id};
use crate::archive::{Exporter, Sealing, write_archive};

/// Chunks in flight between the archive's thread and the response: a slow reader slows the writer down.
const CHANNEL_CHUNKS: usize = 8;
/// The size of the chunks the response is sent in.
const CHUNK_BYTES: usize = 256 * 1024;

/// Downloads the family's archive, as the caller may see it (`docs/archive-format.md`): a guardian who manages
/// every child gets the whole family (an archive another server imports); a guardian whose adult child keeps their
/// own data, or an adult child, gets their view (`scope: member`, the ledger's entries they see, each with its
/// inclusion proof); a service gets the collections its `export` grant covers (`scope: service`). With a
/// passphrase in `Cartable-Archive-Passphrase`, the archive is an age file encrypted to it.
#[utoipa::path(
    get, path = "/api/v1/families/{family}/archive", tag = "archive",
    params(("family" = String, Path, description = "family id")),
    security(("access_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "the archive (a zip, or an age file with a passphrase), streamed; for a sealed service, a sealed stream of it (`cartable_sdk::sealed`)", content((Vec<u8> = "application/zip"), (Vec<u8> = "application/octet-stream"), (Vec<u8> = "application/vnd.cartable.sealed-stream"))),
        (status = 400, description = "a passphrase shorter than 8 characters", body = ErrorResponse),
        (status = 403, description = "refused; logged", body = ErrorResponse),
        (status = 404, description = "no such family", body = ErrorResponse),
    )
)]
pub async fn export_archive(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(family): ApiPath<cartable_sdk::FamilyId>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let passphrase = match headers.get(PASSPHRASE_HEADER) {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::invalid("the passphrase must be text"))?.to_owned()),
        None => None,
    };
    // Checked before anything is decided: a bad passphrase changes nothing, not even the ledger.
    check_passphrase(passphrase.as_deref())?;
    let (exporter, sealer) = plan(&state, caller, family_id(family)).await?;
    let response = stream_planned(&state, exporter, family_id(family), passphrase)?;
    match sealer {
        // A sealed service's archive is a sealed stream of the zip (its name in the head).
        Some(sealer) => {
            let name = response.headers().get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let head = serde_json::json!({ "content_disposition": name });
            super::sealed::sealed_stream(sealer, &uri, &head, response.into_body()).await
        }
        None => Ok(response),
    }
}

/// Decides what `caller` may have of the family's archive, then streams it (encrypted to `passphrase`, if one is
/// given). Shared by the API and the web UI's download.
pub(crate) async fn stream_archive(state: &ApiState, caller: Caller, family: FamilyId, passphrase: Option<String>) -> ApiResult<Response> {
    check_passphrase(passphrase.as_deref())?;
    let (exporter, _) = plan(state, caller, family).await?;
    stream_planned(state, exporter, family, passphrase)
}

fn check_passphrase(passphrase: Option<&str>) -> ApiResult<()> {
    match passphrase.filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() < 8 => Err(ApiError::invalid("the passphrase must be at least 8 characters")),
        _ => Ok(()),
    }
}

/// Streams an archive already decided.
fn stream_planned(state: &ApiState, exporter: CallerExport, family: FamilyId, passphrase: Option<String>) -> ApiResult<Response> {
    check_passphrase(passphrase.as_deref())?;
    let passphrase = passphrase.filter(|p| !p.is_empty()).map(age::secrecy::SecretString::from);
    let sealed = passphrase.is_some();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let (handle, vault) = (tokio::runtime::Handle::current(), state.vault().clone());
    tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(CHUNK_BYTES, Channel(sender.clone()));
        let written = Sealing::new(out, passphrase).map_err(anyhow::Error::from).and_then(|sealing| {
            let (sealing, summary) = write_archive(&handle, &vault, &exporter, family, sealing, &|_| {})?;
            sealing.finish()?.into_inner().map_err(|e| anyhow!("the archive's last bytes: {}", e.error()))?;
            Ok(summary)
        });
        match written {
            Ok(summary) => tracing::info!(family = %family, scope = ?exporter.scope, records = summary.records, files = summary.files, bytes = summary.bytes, "archive downloaded"),
            Err(e) if sender.is_closed() => tracing::info!(family = %family, "an archive's download was abandoned: {}", e.root_cause()),
            Err(e) => {
                tracing::error!(family = %family, "an archive could not be written: {}", e.root_cause());
                // The body ends in an error, so the client sees a broken download, never a short archive.
                let _ = sender.blocking_send(Err(std::io::Error::other("the archive could not be written")));
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|chunk| (chunk, receiver)) }));
    let name = format!("cartable-{family}-{}.zip{}", time::OffsetDateTime::now_utc().date(), if sealed { ".age" } else { "" });
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(if sealed { "application/octet-stream" } else { "application/zip" }));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The response body's end of the channel, as a `Write` for the archive's thread.
struct Channel(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl std::io::Write for Channel {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(bytes)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the caller's archive holds, decided now: the refusals that would end it are answered before it starts.
async fn plan(state: &ApiState, caller: Caller, family: FamilyId) -> ApiResult<(CallerExport, Option<cartable_vault::Sealer>)> {
    let vault = state.vault();
    let mut sealer = None;
    let (scope, decided, collections) = match &caller {
        Caller::Member(_) => {
            let register = decide(state, &caller, family, Action::Read, Resource::Register).await?;
            let read = decide(state, &caller, family, Action::Read, Resource::Family).await?;
            let list = decide(state, &caller, family, Action::List, Resource::Family).await?;
            let now = time::OffsetDateTime::now_utc();
            let (mut collections, mut withheld) = (Vec::new(), 0);
            for info in vault.api().collections(&list).await?.into_iter().filter(|c| c.records > 0) {
                let resource = Resource::Collection { child: info.child, doctype: info.doctype };
                let request = AccessRequest { principal: caller.principal(), action: Action::Export, resource, now };
                // Asked without logging: the export's own decision on each collection is logged as it is read.
                if vault.explain(family, &request).await?.is_allowed() {
                    collections.push((info.child, info.doctype));
                } else {
                    withheld += 1;
                }
            }
            if collections.is_empty() && withheld > 0 {
                return Err(ApiError::denied("the family's rules do not let this member export its data"));
            }
            // Whole when nothing is hidden from them: then another server can import it.
            let scope = if withheld == 0 && vault.register_shows_all(&register).await? { Scope::Family } else { Scope::Member };
            (scope, vec![register, read], collections)
        }
        Caller::Service(token) => {
            let collections: Vec<(MemberId, Doctype)> = token.doctypes.iter().map(|&d| (token.child, d)).collect();
            let Some(&(child, doctype)) = collections.first() else {
                return Err(ApiError::denied("the access token's grant does not cover this"));
            };
            // The first collection's decision, now: a token without `export`, or a grant that ended, is a 403.
            let first = decide(state, &caller, family, Action::Export, Resource::Collection { child, doctype }).await?;
            sealer = super::sealed::sealer_for(state, &caller, &first).await?;
            (Scope::Service, vec![first], collections)
        }
        Caller::Dpo(_) => {
            // Decided all the same, so that the attempt is in the family's ledger; the rules refuse it.
            decide(state, &caller, family, Action::Read, Resource::Family).await?;
            return Err(ApiError::denied("a DPO reads the consent register, never the data: a family's archive is the family's"));
        }
    };
    let exporter = CallerExport {
        handle: tokio::runtime::Handle::current(),
        state: state.clone(),
        caller,
        family,
        scope,
        decided: Mutex::new(decided),
        collections,
    };
    Ok((exporter, sealer))
}

/// An export for a caller of the API: its permits are decided (and logged) for that caller.
struct CallerExport {
    handle: tokio::runtime::Handle,
    state: ApiState,
    caller: Caller,
    family: FamilyId,
    scope: Scope,
    /// Decisions taken before the download started, each used once for the access it was taken for.
    decided: Mutex<Vec<Permit>>,
    collections: Vec<(MemberId, Doctype)>,
}

impl Exporter for CallerExport {
    fn scope(&self) -> Scope {
        self.scope
    }

    fn decide(&self, action: Action, resource: Resource) -> anyhow::Result<Permit> {
        let taken = {
            let mut decided = self.decided.lock().map_err(|_| anyhow!("the export's permits"))?;
            decided.iter().position(|p| p.action() == action && p.resource() == resource).map(|at| decided.swap_remove(at))
        };
        match taken {
            Some(permit) => Ok(permit),
            None => self.handle.block_on(decide(&self.state, &self.caller, self.family, action, resource)).map_err(|e| anyhow!(e.message)),
        }
    }

    fn register(&self) -> anyhow::Result<Option<Permit>> {
        match self.scope {
            Scope::Service => Ok(None),
            Scope::Family | Scope::Member => self.decide(Action::Read, Resource::Register).map(Some),
        }
    }

    fn collections(&self) -> anyhow::Result<Vec<(MemberId, Doctype)>> {
        Ok(self.collections.clone())
    }
}
