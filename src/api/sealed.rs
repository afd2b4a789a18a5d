//! Sealed delivery over HTTP: a service's instances publish KeyPackages and are retired, fetch their grant's
//! mailbox, and receive every data response as an MLS message of the grant's group (`cartable_sdk::sealed`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cartable_sdk::{ErrorCode, ErrorResponse, InstanceRetired, KeyPackagesPublished, MailboxMessage, MailboxMessageKind, PublishKeyPackages, SealedMailbox, sealed};
use cartable_vault::{MailboxKind, Permit, Sealer};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Caller, JsonBody, ServiceAuth};
use super::{ApiState, wire_grant};

/// The most mailbox messages one fetch returns.
const MAILBOX_PAGE: u32 = 100;

/// Publishes KeyPackages of one of the service's instances. From the first one on, the service is sealed: every
/// data response under its grants is an MLS message its instances open, and a token alone reads nothing.
#[utoipa::path(
    post, path = "/api/v1/sealed/instances/{instance}/key-packages", tag = "sealed",
    params(("instance" = String, Path, description = "the instance's name: 1 to 64 letters, digits, `.`, `_`, `-`")),
    request_body = PublishKeyPackages,
    security(("service_basic" = [])),
    responses(
        (status = 200, description = "published", body = KeyPackagesPublished),
        (status = 400, description = "a KeyPackage that does not verify or names another instance, a bad name, a retired instance, too many (`invalid_request`)", body = ErrorResponse),
        (status = 401, description = "wrong service credentials", body = ErrorResponse),
    )
)]
pub async fn publish_key_packages(
    State(state): State<ApiState>,
    ServiceAuth(service): ServiceAuth,
    ApiPath(instance): ApiPath<String>,
    JsonBody(body): JsonBody<PublishKeyPackages>,
) -> ApiResult<Json<KeyPackagesPublished>> {
    let key_packages = body
        .key_packages
        .iter()
        .enumerate()
        .map(|(i, b64)| base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| ApiError::invalid(format!("KeyPackage {i} is not base64"))))
        .collect::<ApiResult<Vec<_>>>()?;
    let published = state.vault().publish_key_packages(service, &instance, &key_packages).await?;
    tracing::info!(service = %service, count = key_packages.len(), "key packages published");
    Ok(Json(KeyPackagesPublished { instance, available: published.available }))
}

/// Retires one of the service's instances: it is taken out of the group of every grant of the service at once (a
/// commit each, and a ledger entry each), and opens nothing sealed after. Its name is not used again.
#[utoipa::path(
    delete, path = "/api/v1/sealed/instances/{instance}", tag = "sealed",
    params(("instance" = String, Path, description = "the instance's name")),
    security(("service_basic" = [])),
    responses(
        (status = 200, description = "retired", body = InstanceRetired),
        (status = 400, description = "no instance of that name (`invalid_request`)", body = ErrorResponse),
        (status = 401, description = "wrong service credentials", body = ErrorResponse),
    )
)]
pub async fn retire_instance(State(state): State<ApiState>, ServiceAuth(service): ServiceAuth, ApiPath(instance): ApiPath<String>) -> ApiResult<Json<InstanceRetired>> {
    let groups_left = state.vault().retire_instance(service, &instance).await?;
    tracing::info!(service = %service, groups_left, "instance retired");
    Ok(Json(InstanceRetired { instance, groups_left }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MailboxQuery {
    /// Messages after this sequence number (`next_after`, or the last `seq` applied); from the start without it.
    after: Option<u64>,
}

/// The mailbox of the access token's grant: the Welcomes and commits its group's instances apply, in order, with the
/// vault's signature key (an instance joins only a group whose Welcome that key signed). Fetching it brings the
/// group up to date first: made when the grant is in force and an instance of the service has a KeyPackage,
/// joined by the instances published since, emptied once the grant has ended. Ciphertexts only.
#[utoipa::path(
    get, path = "/api/v1/sealed/mailbox", tag = "sealed",
    params(MailboxQuery),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "the mailbox from `after` on", body = SealedMailbox),
        (status = 401, description = "no, unknown or expired access token", body = ErrorResponse),
        (status = 404, description = "the grant has no group: its service has published no KeyPackage (`not_found`)", body = ErrorResponse),
    )
)]
pub async fn mailbox(State(state): State<ApiState>, caller: Caller, ApiQuery(query): ApiQuery<MailboxQuery>) -> ApiResult<Json<SealedMailbox>> {
    let Caller::Service(token) = caller else {
        return Err(ApiError::unauthorized("a grant's mailbox is its service's: send the access token"));
    };
    let after = query.after.unwrap_or(0);
    let Some(mailbox) = state.vault().sealed_mailbox(token.family, token.grant, after, MAILBOX_PAGE).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "this grant has no sealed group: publish KeyPackages of an instance first"));
    };
    let full = mailbox.messages.len() as u32 == MAILBOX_PAGE;
    let b64 = base64::engine::general_purpose::STANDARD;
    let messages: Vec<MailboxMessage> = mailbox
        .messages
        .into_iter()
        .map(|m| MailboxMessage {
            seq: m.seq,
            kind: match m.kind {
                MailboxKind::Welcome => MailboxMessageKind::Welcome,
                MailboxKind::Commit => MailboxMessageKind::Commit,
            },
            epoch: m.epoch,
            message: b64.encode(&m.message),
        })
        .collect();
    let next_after = full.then(|| messages.last().map(|m| m.seq)).flatten();
    Ok(Json(SealedMailbox {
        grant_id: wire_grant(token.grant),
        vault_key: b64.encode(&mailbox.vault_key),
        epoch: mailbox.epoch,
        members: mailbox.members,
        messages,
        next_after,
    }))
}

// --- sealed responses -------------------------------------------------------------------------------------------

/// What seals this caller's responses: `Some` for a sealed service's token, `None` for everyone else (a member's
/// session, a service without MLS). A sealed service's data is never answered in the clear: without a group (no
/// KeyPackage left for any instance) the answer is 409.
pub(crate) async fn sealer_for(state: &ApiState, caller: &Caller, permit: &Permit) -> ApiResult<Option<Sealer>> {
    let Caller::Service(token) = caller else { return Ok(None) };
    if !token.sealed {
        return Ok(None);
    }
    match state.vault().sealer(permit, token.grant).await? {
        Some(sealer) => Ok(Some(sealer)),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "this service's data is sealed and the grant has no group yet: publish KeyPackages of an instance, then fetch the mailbox",
        )),
    }
}

/// The path and query a sealed answer is bound to.
pub(crate) fn bound_path(uri: &Uri) -> &str {
    uri.path_and_query().map_or_else(|| uri.path(), |pq| pq.as_str())
}

/// A JSON answer, sealed when `sealer` is given.
pub(crate) async fn respond<T: Serialize>(sealer: Option<Sealer>, uri: &Uri, value: &T) -> ApiResult<Response> {
    let Some(sealer) = sealer else { return Ok(Json(value).into_response()) };
    let json = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| ApiError::internal(&"a response does not serialize"))?);
    let plain = zeroize::Zeroizing::new(sealed::bind(bound_path(uri), &json));
    let message = sealer.seal(&plain).await?;
    let mut response = (StatusCode::OK, message.message).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(sealed::MESSAGE_TYPE));
    headers.insert(sealed::EPOCH_HEADER, HeaderValue::from(message.epoch));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A streamed answer (a file, an archive) sealed chunk by chunk: its head (the path and `head`'s JSON), then the
/// body's bytes in chunks of at most 64 KiB, then the end. A failure while sealing or reading ends the stream before
/// its end frame, which the SDK reports as cut short.
pub(crate) async fn sealed_stream(sealer: Sealer, uri: &Uri, head: &serde_json::Value, body: Body) -> ApiResult<Response> {
    let mut first = vec![sealed::HEAD];
    first.extend_from_slice(&sealed::bind(bound_path(uri), head.to_string().as_bytes()));
    let first = sealer.seal(&first).await?;
    let epoch = first.epoch;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        if sender.send(Ok(sealed::frame(&first.message))).await.is_err() {
            return;
        }
        let mut data = body.into_data_stream();
        let mut pending: Vec<u8> = Vec::with_capacity(sealed::CHUNK_BYTES);
        let seal_chunk = |bytes: &[u8]| {
            let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
            plain.push(sealed::CHUNK);
            plain.extend_from_slice(bytes);
            plain
        };
        loop {
            match data.next().await {
                Some(Ok(bytes)) => {
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= sealed::CHUNK_BYTES {
                        let plain = seal_chunk(&pending[..sealed::CHUNK_BYTES]);
                        pending.drain(..sealed::CHUNK_BYTES);
                        if !send_sealed(&sealer, &sender, &plain).await {
                            return;
                        }
                    }
                }
                Some(Err(_)) => {
                    let _ = sender.send(Err(std::io::Error::other("the stream broke off"))).await;
                    return;
                }
                None => break,
            }
        }
        let mut tail = Vec::with_capacity(2);
        if !pending.is_empty() {
            tail.push(seal_chunk(&pending));
        }
        zeroize::Zeroize::zeroize(&mut pending[..]);
        tail.push(zeroize::Zeroizing::new(vec![sealed::END]));
        for plain in &tail {
            if !send_sealed(&sealer, &sender, plain).await {
                return;
            }
        }
    });
    let body = Body::from_stream(futures::stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) }));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(sealed::STREAM_TYPE));
    headers.insert(sealed::EPOCH_HEADER, HeaderValue::from(epoch));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Seals one plaintext of a stream and sends its frame; `false` when the stream must stop (the client went away, or
/// sealing failed, which breaks the body so the client never takes it for whole).
async fn send_sealed(sealer: &Sealer, sender: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>, plain: &[u8]) -> bool {
    match sealer.seal(plain).await {
        Ok(m) => sender.send(Ok(sealed::frame(&m.message))).await.is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "a sealed stream could not be sealed to its end");
            let _ = sender.send(Err(std::io::Error::other("sealing failed"))).await;
            false
        }
    }
}
