//! A family brought to this server from its archive, over HTTP: the operator hands out a one-time invitation
//! (`cartable archive invite`), whoever holds it sends the archive (the web UI's import page does the same). The
//! invitation is used up before the import runs and given back if the archive is refused, so one invitation lets in
//! one family.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use cartable_consent::{Action, Resource, Role};
use cartable_sdk::{ArchiveImported, ErrorResponse, SignInInvitation};
use cartable_vault::{ImportReport, InvitationKind};
use futures::StreamExt;

use super::error::{ApiError, ApiResult};
use super::extract::ApiPath;
use super::{ApiState, public_link};
use crate::archive::{UploadError, import_upload};
use crate::auth::{hash_token, new_secret};

/// How long the guardians' sign-in links an import hands out may be used.
const SIGN_IN_DAYS: i64 = 7;

/// The header that carries the passphrase of an archive encrypted with one.
pub(crate) const PASSPHRASE_HEADER: &str = cartable_sdk::ARCHIVE_PASSPHRASE_HEADER;

/// Imports a family from its archive (the zip `cartable archive export` writes, or its age file with the
/// passphrase in `Cartable-Archive-Passphrase`). Everything is checked before anything is written; the family
/// keeps its id and its whole ledger, which gains an `import` entry. The answer gives each guardian a one-time link
/// to choose a sign-in name and password.
#[utoipa::path(
    post, path = "/api/v1/imports/{token}", tag = "archive",
    params(("token" = String, Path, description = "the operator's one-time import invitation")),
    request_body(content = Vec<u8>, content_type = "application/zip", description = "the archive's bytes"),
    responses(
        (status = 201, description = "imported", body = ArchiveImported),
        (status = 400, description = "the archive was refused: why, in words (nothing was written)", body = ErrorResponse),
        (status = 404, description = "no such invitation, or used, or expired", body = ErrorResponse),
        (status = 413, description = "larger than the server accepts", body = ErrorResponse),
    )
)]
pub async fn import_archive(State(state): State<ApiState>, ApiPath(token): ApiPath<String>, headers: HeaderMap, body: Body) -> ApiResult<(StatusCode, Json<ArchiveImported>)> {
    let passphrase = match headers.get(PASSPHRASE_HEADER) {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::invalid("the passphrase must be text"))?.to_owned()),
        None => None,
    };
    let stream = body.into_data_stream().map(|chunk| chunk.map_err(|e| e.to_string()));
    let report = receive(&state, &token, &headers, stream, passphrase).await.map_err(|e| match e {
        Refusal::Invitation => ApiError::not_found("no such invitation: it may have been used or have expired"),
        Refusal::Upload(UploadError::TooLarge(limit)) => ApiError::too_large(limit),
        Refusal::Upload(UploadError::Refused(why)) => ApiError::invalid(format!("the archive was refused, nothing was written: {why}")),
        Refusal::Upload(UploadError::Server(e)) => ApiError::internal(&e),
        Refusal::Vault(e) => e.into(),
    })?;
    let (report, invitations) = report;
    Ok((
        StatusCode::CREATED,
        Json(ArchiveImported {
            family_id: cartable_sdk::FamilyId(report.family.as_uuid()),
            members: report.members as u64,
            records: report.records,
            files: report.files,
            grants: report.grants as u64,
            prohibitions: report.prohibitions as u64,
            ledger_entries: report.ledger_entries,
            services_registered: report.services_registered.iter().map(|s| super::wire_service(*s)).collect(),
            invitations,
        }),
    ))
}

/// Why an import over HTTP did not happen.
pub(crate) enum Refusal {
    /// The invitation is unknown, used or expired.
    Invitation,
    Upload(UploadError),
    Vault(cartable_vault::Error),
}

impl From<cartable_vault::Error> for Refusal {
    fn from(e: cartable_vault::Error) -> Self {
        match e {
            cartable_vault::Error::InvitationInvalid => Refusal::Invitation,
            e => Refusal::Vault(e),
        }
    }
}

/// Takes the invitation, receives and imports the archive, and gives the invitation back if it did not import;
/// then invites each guardian to sign in. Shared by the API and the web UI's import page.
pub(crate) async fn receive<S>(state: &ApiState, token: &str, headers: &HeaderMap, body: S, passphrase: Option<String>) -> Result<(ImportReport, Vec<SignInInvitation>), Refusal>
where
    S: futures::Stream<Item = Result<bytes::Bytes, String>> + Unpin,
{
    let settings = state.settings();
    let Some(folder) = settings.uploads_dir.clone() else {
        return Err(Refusal::Upload(UploadError::Refused("this server takes no imports over HTTP".to_owned())));
    };
    if token.len() > 128 {
        return Err(Refusal::Invitation);
    }
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > settings.max_archive_bytes) {
        return Err(Refusal::Upload(UploadError::TooLarge(settings.max_archive_bytes)));
    }
    let vault = state.vault();
    let token_hash = hash_token(token);
    vault.take_import_invitation(&token_hash).await?;
    let passphrase = passphrase.filter(|p| !p.is_empty()).map(age::secrecy::SecretString::from);
    let report = match import_upload(vault, &folder, body, settings.max_archive_bytes, passphrase).await {
        Ok(report) => report,
        Err(e) => {
            vault.give_back_import_invitation(&token_hash).await?;
            match &e {
                UploadError::Server(detail) => tracing::error!(error = %detail.root_cause(), "an import over HTTP failed"),
                // The reason may name an entry (a file's name): not logged.
                _ => tracing::info!("an archive sent over HTTP was refused"),
            }
            return Err(Refusal::Upload(e));
        }
    };
    tracing::info!(family = %report.family, records = report.records, files = report.files, "family imported from its archive over HTTP");
    let read = vault.as_operator(report.family, Action::Read, Resource::Family).await?;
    let mut invitations = Vec::new();
    for member in vault.list_members(&read).await?.into_iter().filter(|m| m.role == Role::Guardian) {
        let secret = new_secret();
        let expires_at = time::OffsetDateTime::now_utc() + time::Duration::days(SIGN_IN_DAYS);
        vault.create_invitation(InvitationKind::GuardianSignIn(report.family, member.id), &hash_token(&secret), expires_at).await?;
        invitations.push(SignInInvitation {
            member_id: cartable_sdk::MemberId(member.id.as_uuid()),
            name: member.name,
            link: public_link(settings, headers, &format!("/invitation/{secret}")),
        });
    }
    Ok((report, invitations))
}
