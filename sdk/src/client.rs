//! The async client: a service registers, asks for access, waits for the family's decision, then works within
//! its grant.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::SdkError;
use crate::instance::Instance;
use crate::wire::{
    AccessRequestCreated, Continuation, ContinueResponse, ErrorResponse, FamilyId, FileInfo, GrantId, MemberId,
    NewAccessRequest, Record, RecordCreated, RecordId, RecordPage, RegisterService, RequestStatus, ServiceCredentials,
    ServiceId, file_headers,
};

/// A stream of a file's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, SdkError>> + Send>>;

/// The longest long poll the client asks for; the server may cut it shorter.
const LONG_POLL: Duration = Duration::from_secs(30);
/// Refresh an access token this long before it expires.
const REFRESH_MARGIN: time::Duration = time::Duration::seconds(5);

/// A connection to one Cartable server. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<str>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    Basic { id: ServiceId, secret: &'a str },
    Bearer(&'a str),
    Gnap(&'a str),
    Session { cookie: &'a str, csrf: &'a str },
    DpoSession { cookie: &'a str, csrf: &'a str },
}

impl Client {
    /// A client for the server at `base_url` (`http://host:port`, or `https://…` with the `tls` feature).
    pub fn new(base_url: &str) -> Result<Client, SdkError> {
        let base = base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SdkError::InvalidRequest {
                code: crate::ErrorCode::InvalidRequest,
                message: format!("`{base}` is not an http:// or https:// address"),
            });
        }
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build()?;
        Ok(Client { http, base: base.into() })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Registers a new service. Keep the returned secret: it is shown once.
    pub async fn register_service(&self, name: &str) -> Result<ServiceCredentials, SdkError> {
        self.register(&RegisterService { name: name.to_owned(), description: None }).await
    }

    /// Registers a new service with a description families read beside its name when it asks them (one line, at
    /// most 500 characters). Keep the returned secret: it is shown once.
    pub async fn register_described_service(&self, name: &str, description: &str) -> Result<ServiceCredentials, SdkError> {
        self.register(&RegisterService { name: name.to_owned(), description: Some(description.to_owned()) }).await
    }

    async fn register(&self, body: &RegisterService) -> Result<ServiceCredentials, SdkError> {
        self.call(reqwest::Method::POST, "/api/v1/services", Auth::None, Some(body), &[]).await
    }

    /// Acts as the service with these credentials.
    pub fn service(&self, credentials: ServiceCredentials) -> Service {
        Service { client: self.clone(), credentials, instance: None }
    }

    /// Resumes work under a grant from a saved [`AccessState`] (e.g. after a restart).
    pub fn resume(&self, state: AccessState) -> Access {
        Access { client: self.clone(), state: Arc::new(Mutex::new(state)), auto_refresh: true, instance: None, publisher: None }
    }

    /// Imports a family from its archive with the operator's one-time invitation (the `token` of the link
    /// `cartable archive invite` prints), streaming `content` (the zip, or its age file with `passphrase`). Nothing
    /// is written unless all of it checks; the answer holds each guardian's link to sign in again.
    pub async fn import_archive<S, E>(&self, token: &str, content: S, passphrase: Option<&str>) -> Result<crate::wire::ArchiveImported, SdkError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let mut request = self
            .request(reqwest::Method::POST, &format!("/api/v1/imports/{}", encode_segment(token)), Auth::None)
            .header("content-type", "application/zip")
            .body(upload_body(content));
        if let Some(passphrase) = passphrase {
            request = request.header(crate::wire::ARCHIVE_PASSPHRASE_HEADER, passphrase);
        }
        decode(check(request.send().await?).await?).await
    }

    /// The server's OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value, SdkError> {
        self.call::<(), _>(reqwest::Method::GET, "/api/v1/openapi.json", Auth::None, None, &[]).await
    }

    // --- plumbing -------------------------------------------------------------------------------------------

    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str, auth: Auth<'_>) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match auth {
            Auth::None => builder,
            Auth::Basic { id, secret } => builder.basic_auth(id.to_string(), Some(secret)),
            Auth::Bearer(token) => builder.header("authorization", format!("Bearer {token}")),
            Auth::Gnap(handle) => builder.header("authorization", format!("GNAP {handle}")),
            Auth::Session { cookie, csrf } => builder.header("cookie", format!("cartable_session={cookie}")).header("x-csrf-token", csrf),
            Auth::DpoSession { cookie, csrf } => builder.header("cookie", format!("cartable_dpo_session={cookie}")).header("x-csrf-token", csrf),
        }
    }

    /// Sends a request with an optional JSON body and decodes a JSON answer, or the error.
    pub(crate) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&B>,
        query: &[(&str, String)],
    ) -> Result<T, SdkError> {
        let mut builder = self.request(method, path, auth);
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let response = check(builder.send().await?).await?;
        decode(response).await
    }
}

/// Turns an error response into its [`SdkError`]; passes a success through.
pub(crate) async fn check(response: reqwest::Response) -> Result<reqwest::Response, SdkError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.bytes().await?;
    match serde_json::from_slice::<ErrorResponse>(&bytes) {
        Ok(e) => Err(SdkError::from_response(status.as_u16(), e.error.code, e.error.message, retry_after)),
        Err(_) => Err(SdkError::Protocol(format!("status {} without an error body", status.as_u16()))),
    }
}

pub(crate) async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, SdkError> {
    let bytes = response.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| SdkError::Protocol(format!("cannot decode the response: {e}")))
}

/// A registered service: in plain mode, or in sealed mode with its [`Instance`] (see [`Service::with_instance`]).
#[derive(Clone)]
pub struct Service {
    client: Client,
    credentials: ServiceCredentials,
    instance: Option<Instance>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service").field("service_id", &self.credentials.service_id).finish_non_exhaustive()
    }
}

/// A request waiting for the family's decision. Keep it (it is serializable) to continue later.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    pub request_id: GrantId,
    pub family_id: FamilyId,
    pub child_id: MemberId,
    pub continuation: Continuation,
}

impl fmt::Debug for PendingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingRequest")
            .field("request_id", &self.request_id)
            .field("family_id", &self.family_id)
            .field("child_id", &self.child_id)
            .finish_non_exhaustive()
    }
}

impl Service {
    pub fn id(&self) -> ServiceId {
        self.credentials.service_id
    }

    fn auth(&self) -> Auth<'_> {
        Auth::Basic { id: self.credentials.service_id, secret: &self.credentials.secret }
    }

    /// Sealed mode, the SDK's way for a service with MLS: every response under its grants is encrypted to its
    /// grant's group, which this instance joins, and opened here (the calling code is the same as in plain mode).
    /// Publishes fresh KeyPackages of the instance; from then on the server answers the service's data sealed only,
    /// so a token copied from a log or a proxy reads nothing. Other instances of the service are other `Instance`s
    /// (each its own state), each given to a `Service` of its own.
    pub async fn with_instance(mut self, instance: Instance) -> Result<Service, SdkError> {
        self.instance = Some(instance);
        self.publish_key_packages(crate::instance::KEY_PACKAGES).await?;
        Ok(self)
    }

    /// The instance of sealed mode, if any.
    pub fn instance(&self) -> Option<&Instance> {
        self.instance.as_ref()
    }

    /// Publishes `n` fresh KeyPackages of this service's instance (one is used at each grant it joins); returns how
    /// many the server holds unused.
    pub async fn publish_key_packages(&self, n: usize) -> Result<u32, SdkError> {
        let Some(instance) = &self.instance else {
            return Err(SdkError::Sealed { message: "this service has no instance: give it one with `with_instance`".to_owned() });
        };
        let body = crate::wire::PublishKeyPackages { key_packages: instance.key_packages(n)? };
        let path = format!("/api/v1/sealed/instances/{}/key-packages", encode_segment(instance.name()));
        let published: crate::wire::KeyPackagesPublished = self.client.call(reqwest::Method::POST, &path, self.auth(), Some(&body), &[]).await?;
        Ok(published.available)
    }

    /// Retires one of the service's instances (by name): it is taken out of every grant's group at once and opens
    /// nothing sealed after; its name is not used again.
    pub async fn retire_instance(&self, name: &str) -> Result<crate::wire::InstanceRetired, SdkError> {
        let path = format!("/api/v1/sealed/instances/{}", encode_segment(name));
        self.client.call::<(), _>(reqwest::Method::DELETE, &path, self.auth(), None, &[]).await
    }

    /// Resumes work under a grant from a saved [`AccessState`] (e.g. after a restart), in this service's mode.
    pub fn resume(&self, state: AccessState) -> Access {
        let mut access = self.client.resume(state);
        access.instance = self.instance.clone();
        access.publisher = self.instance.is_some().then(|| self.clone());
        access
    }

    /// Asks a family for access to one child's collections.
    pub async fn request_access(&self, request: &NewAccessRequest) -> Result<PendingRequest, SdkError> {
        let created: AccessRequestCreated =
            self.client.call(reqwest::Method::POST, "/api/v1/access-requests", self.auth(), Some(request), &[]).await?;
        Ok(PendingRequest {
            request_id: created.request_id,
            family_id: request.family_id,
            child_id: request.child_id,
            continuation: created.continuation,
        })
    }

    /// One continuation: waits up to `wait` (at most what the server allows) for a decision, and returns the
    /// request's status, with an access token if it is approved.
    pub async fn poll(&self, pending: &PendingRequest, wait: Duration) -> Result<ContinueResponse, SdkError> {
        continue_request(&self.client, &pending.continuation.uri, &pending.continuation.access_token.value, wait).await
    }

    /// Long-polls until the family decides, or `timeout` passes. Approval gives an [`Access`]; a denial is
    /// [`SdkError::Denied`]; a request revoked or expired before approval is [`SdkError::Revoked`] or
    /// [`SdkError::Expired`]; no decision in time is [`SdkError::Timeout`].
    pub async fn wait_for_approval(&self, pending: &PendingRequest, timeout: Duration) -> Result<Access, SdkError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(SdkError::Timeout);
            }
            let answer = self.poll(pending, left.min(LONG_POLL)).await?;
            match answer.status {
                RequestStatus::Pending => continue,
                RequestStatus::Approved => {
                    let state = AccessState::from_answer(pending, answer)?;
                    let access = self.resume(state);
                    if access.instance.is_some() {
                        // Join the grant's group now, rather than at the first response.
                        access.sync().await?;
                    }
                    return Ok(access);
                }
                other => return Err(status_error(other)),
            }
        }
    }
}

fn status_error(status: RequestStatus) -> SdkError {
    match status {
        RequestStatus::Denied => SdkError::Denied { code: crate::ErrorCode::Denied, message: "the family denied the request".to_owned() },
        RequestStatus::Revoked => SdkError::Revoked { message: "the family revoked the grant".to_owned() },
        RequestStatus::Expired => SdkError::Expired { message: "the grant has expired".to_owned() },
        RequestStatus::Pending | RequestStatus::Approved => SdkError::Protocol(format!("unexpected status {status:?}")),
    }
}

async fn continue_request(client: &Client, uri: &str, handle: &str, wait: Duration) -> Result<ContinueResponse, SdkError> {
    let seconds = wait.as_secs().min(LONG_POLL.as_secs());
    let response = client
        .request(reqwest::Method::POST, uri, Auth::Gnap(handle))
        .query(&[("wait", seconds.to_string())])
        .timeout(Duration::from_secs(seconds + 30))
        .send()
        .await?;
    decode(check(response).await?).await
}

/// Everything needed to work under a grant, and to resume after a restart: keep it as secret as a password.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessState {
    pub request_id: GrantId,
    pub family_id: FamilyId,
    pub child_id: MemberId,
    pub continue_uri: String,
    pub continue_handle: String,
    pub access_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub token_expires_at: OffsetDateTime,
}

impl fmt::Debug for AccessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessState")
            .field("request_id", &self.request_id)
            .field("family_id", &self.family_id)
            .field("child_id", &self.child_id)
            .field("token_expires_at", &self.token_expires_at)
            .finish_non_exhaustive()
    }
}

impl AccessState {
    fn from_answer(pending: &PendingRequest, answer: ContinueResponse) -> Result<AccessState, SdkError> {
        let token = answer.access_token.ok_or_else(|| SdkError::Protocol("an approved request came without an access token".to_owned()))?;
        Ok(AccessState {
            request_id: pending.request_id,
            family_id: pending.family_id,
            child_id: pending.child_id,
            continue_uri: pending.continuation.uri.clone(),
            continue_handle: pending.continuation.access_token.value.clone(),
            access_token: token.value,
            token_expires_at: OffsetDateTime::now_utc() + time::Duration::seconds(token.expires_in.min(i64::MAX as u64) as i64),
        })
    }
}

/// Work under one grant: one child's granted collections in one family. Cheap to clone; clones share the token.
///
/// The access token is refreshed (by continuing the request) shortly before it expires, and once more if the
/// server says it has expired; [`Access::set_auto_refresh`] turns that off.
#[derive(Clone)]
pub struct Access {
    client: Client,
    state: Arc<Mutex<AccessState>>,
    auto_refresh: bool,
    /// Sealed mode: the instance that opens the responses.
    instance: Option<Instance>,
    /// Sealed mode, with the service's credentials: replaces the KeyPackages its joins use.
    publisher: Option<Service>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access").field("state", &*self.state.lock().expect("access state lock")).finish()
    }
}

/// A file being downloaded: its metadata, then its bytes as they arrive.
pub struct FileDownload {
    pub info: FileInfo,
    stream: ByteStream,
}

impl fmt::Debug for FileDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileDownload").field("info", &self.info).finish_non_exhaustive()
    }
}

impl FileDownload {
    /// The next chunk, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SdkError> {
        self.stream.next().await.transpose()
    }

    /// The bytes, unchecked.
    pub fn into_stream(self) -> ByteStream {
        self.stream
    }

    /// Writes the whole file to `out`, checking its size and SHA-256 against what the vault recorded; returns
    /// the number of bytes. On a mismatch the error is [`SdkError::Protocol`] and `out` holds a bad copy.
    pub async fn write_to<W: tokio::io::AsyncWrite + Unpin>(mut self, out: &mut W) -> Result<u64, SdkError> {
        use sha2::Digest as _;
        use tokio::io::AsyncWriteExt as _;
        let mut hasher = sha2::Sha256::new();
        let mut written = 0u64;
        while let Some(chunk) = self.chunk().await? {
            hasher.update(&chunk);
            written += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(|e| SdkError::Protocol(format!("cannot write the download: {e}")))?;
        }
        out.flush().await.map_err(|e| SdkError::Protocol(format!("cannot write the download: {e}")))?;
        let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if written != self.info.size || digest != self.info.sha256 {
            return Err(SdkError::Protocol("the downloaded file does not match its recorded size and SHA-256".to_owned()));
        }
        Ok(written)
    }
}

pub(crate) fn data_paths(family: FamilyId, child: MemberId, doctype: &str) -> (String, String) {
    let collection = format!("/api/v1/families/{family}/children/{child}/collections/{}", encode_segment(doctype));
    (format!("{collection}/records"), format!("{collection}/files"))
}

pub(crate) fn import_path(family: FamilyId, child: MemberId, format: &str) -> String {
    format!("/api/v1/families/{family}/children/{child}/imports/{format}")
}

/// The path of a family's OneRoster import.
pub(crate) fn roster_path(family: FamilyId) -> String {
    format!("/api/v1/families/{family}/imports/oneroster")
}

/// A OneRoster import's query: each pupil `SOURCEDID=CHILD` (the `map` key repeats), and `partial`.
pub(crate) fn roster_query(map: &[(&str, MemberId)], partial: bool) -> Vec<(&'static str, String)> {
    let mut query: Vec<(&'static str, String)> = map.iter().map(|(sourced_id, child)| ("map", format!("{sourced_id}={child}"))).collect();
    query.push(("partial", partial.to_string()));
    query
}

/// A files import's body: one `file` part for each, under its name.
pub(crate) fn files_form(files: Vec<(String, Bytes)>) -> reqwest::multipart::Form {
    files.into_iter().fold(reqwest::multipart::Form::new(), |form, (name, bytes)| {
        let length = bytes.len() as u64;
        form.part("file", reqwest::multipart::Part::stream_with_length(bytes, length).file_name(name))
    })
}

/// An import's answer: its report, also when it was refused for its content (422, nothing written).
pub(crate) async fn import_answer(response: reqwest::Response) -> Result<crate::wire::RecordsImported, SdkError> {
    if response.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
        return decode(response).await;
    }
    decode(check(response).await?).await
}

/// Whether a response is sealed as `content_type` says.
fn is_sealed(response: &reqwest::Response, content_type: &str) -> bool {
    response.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(content_type)))
}

/// The path and query a response answers (what a sealed one is bound to).
fn answered_path(response: &reqwest::Response) -> String {
    let url = response.url();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Percent-encodes what is not unreserved in a path segment or query value.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a file download's response: metadata from the headers, the body as a stream.
pub(crate) fn file_download(response: reqwest::Response) -> Result<FileDownload, SdkError> {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let name = header(file_headers::NAME).map(|n| percent_decode(&n)).unwrap_or_default();
    let sha256 = header(file_headers::SHA256).ok_or_else(|| SdkError::Protocol("a file download came without its SHA-256".to_owned()))?;
    let size = response.content_length().ok_or_else(|| SdkError::Protocol("a file download came without its length".to_owned()))?;
    let stream = response.bytes_stream().map_err(SdkError::from);
    Ok(FileDownload { info: FileInfo { name, size, sha256 }, stream: Box::pin(stream) })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Streams an upload body from any stream of byte chunks.
pub(crate) fn upload_body<S, E>(content: S) -> reqwest::Body
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    reqwest::Body::wrap_stream(content)
}

impl Access {
    pub fn request_id(&self) -> GrantId {
        self.state().request_id
    }

    pub fn family_id(&self) -> FamilyId {
        self.state().family_id
    }

    pub fn child_id(&self) -> MemberId {
        self.state().child_id
    }

    /// A copy of the state, to save and [`Client::resume`] later.
    pub fn state(&self) -> AccessState {
        self.state.lock().expect("access state lock").clone()
    }

    /// Whether an expired token is refreshed by itself (on by default).
    pub fn set_auto_refresh(&mut self, on: bool) {
        self.auto_refresh = on;
    }

    /// Continues the request for a fresh access token. Fails with [`SdkError::Revoked`] or [`SdkError::Expired`]
    /// once the grant is over. A grant has one live token: the fresh one replaces the previous one, which the
    /// server refuses from then on, also for other `Access` values resumed from the same [`AccessState`] (clones of
    /// this one share the fresh token).
    pub async fn refresh(&self) -> Result<(), SdkError> {
        let (uri, handle) = {
            let s = self.state.lock().expect("access state lock");
            (s.continue_uri.clone(), s.continue_handle.clone())
        };
        let answer = continue_request(&self.client, &uri, &handle, Duration::ZERO).await?;
        match answer.status {
            RequestStatus::Approved => {
                let token = answer.access_token.ok_or_else(|| SdkError::Protocol("an approved request came without an access token".to_owned()))?;
                let mut s = self.state.lock().expect("access state lock");
                s.access_token = token.value;
                s.token_expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(token.expires_in.min(i64::MAX as u64) as i64);
                Ok(())
            }
            other => Err(status_error(other)),
        }
    }

    /// The token to send, refreshed first if it is about to expire.
    async fn token(&self) -> Result<String, SdkError> {
        let (token, expires) = {
            let s = self.state.lock().expect("access state lock");
            (s.access_token.clone(), s.token_expires_at)
        };
        if self.auto_refresh && expires - REFRESH_MARGIN <= OffsetDateTime::now_utc() {
            self.refresh().await?;
            return Ok(self.state.lock().expect("access state lock").access_token.clone());
        }
        Ok(token)
    }

    /// Sends a request built by `build` with the token; on `token_expired`, refreshes once and sends it again.
    async fn send(&self, build: impl Fn(&str) -> reqwest::RequestBuilder) -> Result<reqwest::Response, SdkError> {
        let token = self.token().await?;
        match check(build(&token).send().await?).await {
            Err(SdkError::TokenExpired { .. }) if self.auto_refresh => {
                self.refresh().await?;
                let token = self.state.lock().expect("access state lock").access_token.clone();
                check(build(&token).send().await?).await
            }
            other => other,
        }
    }

    /// One page of a granted collection's records (no contents), oldest first.
    pub async fn list_records(&self, doctype: &str, after: Option<RecordId>, limit: u32) -> Result<RecordPage, SdkError> {
        let (records, _) = data_paths(self.family_id(), self.child_id(), doctype);
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        self.get_data(|t| self.client.request(reqwest::Method::GET, &records, Auth::Bearer(t)).query(&query)).await
    }

    pub async fn read_record(&self, id: RecordId) -> Result<Record, SdkError> {
        let path = format!("/api/v1/families/{}/records/{id}", self.family_id());
        self.get_data(|t| self.client.request(reqwest::Method::GET, &path, Auth::Bearer(t))).await
    }

    /// Searches the collections this access's grant covers (all words must match; `"a phrase"`, `-word`, `prefix*`).
    /// Each search is decided and logged like a read; after a revocation it is refused.
    pub async fn search(&self, words: &str, options: &crate::wire::SearchOptions) -> Result<crate::wire::SearchResults, SdkError> {
        let path = format!("/api/v1/families/{}/search", self.family_id());
        let query = options.query_pairs(words);
        self.get_data(|t| self.client.request(reqwest::Method::GET, &path, Auth::Bearer(t)).query(&query)).await
    }

    /// Imports xAPI statements (one, an array, or one a line) as the child's `edu.activity` records (and the grades
    /// they report as `edu.grades`): the grant must let this service write them. A refused import writes nothing and
    /// comes back with `written: false` and its problems; `partial` keeps the valid statements instead.
    pub async fn import_xapi(&self, statements: Bytes, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        self.import("xapi", "application/json", statements, partial).await
    }

    /// Imports an Open Badge (2.0 assertion, 3.0 credential, CLR 2.0; JSON, VC-JWT, or baked PNG or SVG) as the child's
    /// `edu.certificates`, with what its signature check found; the grant must let this service write them.
    pub async fn import_badge(&self, credential: Bytes, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        self.import("badges", "application/octet-stream", credential, partial).await
    }

    /// Imports a OneRoster 1.1 / 1.2 CSV set (zipped at its root) for the child, who is the pupil `sourced_id` of
    /// the set: their enrollments as `edu.enrollments` and their results as `edu.grades`; other pupils' rows are
    /// dropped by the server, never stored. The grant must let this service write the enrollments (and the grades,
    /// when the set has results).
    pub async fn import_oneroster(&self, set: Bytes, sourced_id: &str, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        let response = self
            .client
            .request(reqwest::Method::POST, &roster_path(self.family_id()), Auth::Bearer(&self.token().await?))
            .query(&roster_query(&[(sourced_id, self.child_id())], partial))
            .header("content-type", "application/zip")
            .body(set)
            .send()
            .await?;
        import_answer(response).await
    }

    /// Imports files as they are (`(name, bytes)`) into one of the child's collections, all of them or none; the same
    /// bytes already there are a duplicate (`record_id` null in `files`).
    pub async fn import_files(&self, doctype: &str, files: Vec<(String, Bytes)>) -> Result<crate::wire::RecordsImported, SdkError> {
        let path = import_path(self.family_id(), self.child_id(), "files");
        let response = self
            .client
            .request(reqwest::Method::POST, &path, Auth::Bearer(&self.token().await?))
            .query(&[("doctype", doctype)])
            .multipart(files_form(files))
            .send()
            .await?;
        decode(check(response).await?).await
    }

    async fn import(&self, format: &str, content_type: &str, bytes: Bytes, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        let path = import_path(self.family_id(), self.child_id(), format);
        let response = self
            .client
            .request(reqwest::Method::POST, &path, Auth::Bearer(&self.token().await?))
            .query(&[("partial", partial.to_string())])
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await?;
        import_answer(response).await
    }

    /// Writes a new record (a JSON object) into a granted collection.
    pub async fn write_record(&self, doctype: &str, body: &serde_json::Value) -> Result<RecordId, SdkError> {
        let (records, _) = data_paths(self.family_id(), self.child_id(), doctype);
        let response = self.send(|t| self.client.request(reqwest::Method::POST, &records, Auth::Bearer(t)).json(body)).await?;
        Ok(decode::<RecordCreated>(response).await?.record_id)
    }

    /// Uploads a file into a granted collection, streaming `content` (never held whole in memory).
    pub async fn upload_file<S, E>(&self, doctype: &str, name: &str, content: S) -> Result<RecordId, SdkError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let (_, files) = data_paths(self.family_id(), self.child_id(), doctype);
        // A stream cannot be sent twice: refresh first rather than after a refusal.
        let token = self.token().await?;
        let response = self
            .client
            .request(reqwest::Method::POST, &files, Auth::Bearer(&token))
            .query(&[("name", name)])
            .header("content-type", "application/octet-stream")
            .body(upload_body(content))
            .send()
            .await?;
        Ok(decode::<RecordCreated>(check(response).await?).await?.record_id)
    }

    /// Starts downloading a file; its bytes arrive as a stream.
    pub async fn download_file(&self, id: RecordId) -> Result<FileDownload, SdkError> {
        let path = format!("/api/v1/families/{}/files/{id}", self.family_id());
        let response = self.send(|t| self.client.request(reqwest::Method::GET, &path, Auth::Bearer(t))).await?;
        if !is_sealed(&response, crate::wire::sealed::STREAM_TYPE) {
            return file_download(response);
        }
        let (head, stream) = self.get_stream(response, |t| self.client.request(reqwest::Method::GET, &path, Auth::Bearer(t))).await?;
        let info: FileInfo = serde_json::from_slice(&head).map_err(|e| SdkError::Protocol(format!("a sealed file's head: {e}")))?;
        Ok(FileDownload { info, stream })
    }

    /// Downloads the archive of what the grant covers (it must allow `export`): the collections it names, as a zip
    /// (`docs/archive-format.md`, `scope: service`). The bytes arrive as a stream.
    pub async fn download_archive(&self) -> Result<ByteStream, SdkError> {
        let path = format!("/api/v1/families/{}/archive", self.family_id());
        let response = self.send(|t| self.client.request(reqwest::Method::GET, &path, Auth::Bearer(t))).await?;
        if !is_sealed(&response, crate::wire::sealed::STREAM_TYPE) {
            return Ok(Box::pin(response.bytes_stream().map_err(SdkError::from)));
        }
        Ok(self.get_stream(response, |t| self.client.request(reqwest::Method::GET, &path, Auth::Bearer(t))).await?.1)
    }

    // --- sealed mode ------------------------------------------------------------------------------------------

    /// Brings this instance up to date with the grant's mailbox: joins the grant's group, applies its commits (an
    /// instance added or retired, the vault's leaf renewed, the grant ended). Done by itself when a response is
    /// sealed in an epoch the instance has not reached; call it to follow the group ahead of time.
    pub async fn sync(&self) -> Result<(), SdkError> {
        let Some(instance) = &self.instance else { return Ok(()) };
        let grant = self.request_id();
        let mut joined = 0;
        loop {
            let after = instance.applied(grant);
            let response = self
                .send(|t| self.client.request(reqwest::Method::GET, "/api/v1/sealed/mailbox", Auth::Bearer(t)).query(&[("after", after.to_string())]))
                .await?;
            let mailbox: crate::wire::SealedMailbox = decode(response).await?;
            joined += instance.apply(grant, &mailbox)?;
            if mailbox.next_after.is_none() {
                break;
            }
        }
        if joined > 0
            && let Some(service) = &self.publisher
        {
            // Replace the KeyPackages used, so that the next grant finds one.
            service.publish_key_packages(joined).await?;
        }
        Ok(())
    }

    /// The instance, and the instance brought to the response's epoch first if it is behind.
    async fn instance_for(&self, response: &reqwest::Response) -> Result<Instance, SdkError> {
        let Some(instance) = self.instance.clone() else {
            return Err(SdkError::Sealed { message: "this service's data is sealed: open it with its instance (`Service::with_instance`)".to_owned() });
        };
        let epoch = response.headers().get(crate::wire::sealed::EPOCH_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let known = instance.epoch(self.request_id());
        if known.is_none() || epoch.zip(known).is_some_and(|(sealed_in, at)| sealed_in > at) {
            self.sync().await?;
        }
        Ok(instance)
    }

    /// Whether the instance is in the grant's group now.
    fn joined(&self) -> bool {
        self.instance.as_ref().is_some_and(|i| i.is_member(self.request_id()))
    }

    /// A data GET's JSON, opened first when it is sealed. A response sealed before this instance was in the grant's
    /// group (it joins while opening it) is asked for once more.
    async fn get_data<T: DeserializeOwned>(&self, build: impl Fn(&str) -> reqwest::RequestBuilder) -> Result<T, SdkError> {
        let was_in = self.joined();
        match self.decode_data(self.send(&build).await?).await {
            Err(SdkError::Sealed { .. }) if !was_in && self.joined() => self.decode_data(self.send(&build).await?).await,
            other => other,
        }
    }

    /// A sealed stream's head and bytes, asked for once more like [`Access::get_data`].
    async fn get_stream(
        &self,
        response: reqwest::Response,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(zeroize::Zeroizing<Vec<u8>>, ByteStream), SdkError> {
        let was_in = self.joined();
        match self.open_stream(response).await {
            Err(SdkError::Sealed { .. }) if !was_in && self.joined() => self.open_stream(self.send(&build).await?).await,
            other => other,
        }
    }

    /// A data response's JSON, opened first when it is sealed.
    async fn decode_data<T: DeserializeOwned>(&self, response: reqwest::Response) -> Result<T, SdkError> {
        if !is_sealed(&response, crate::wire::sealed::MESSAGE_TYPE) {
            return decode(response).await;
        }
        let instance = self.instance_for(&response).await?;
        let path = answered_path(&response);
        let message = response.bytes().await?;
        let plain = crate::instance::open_bound(&instance, self.request_id(), &message, &path).await?;
        serde_json::from_slice(&plain).map_err(|e| SdkError::Protocol(format!("cannot decode the response: {e}")))
    }

    /// A sealed stream's head and bytes.
    async fn open_stream(&self, response: reqwest::Response) -> Result<(zeroize::Zeroizing<Vec<u8>>, ByteStream), SdkError> {
        let instance = self.instance_for(&response).await?;
        let path = answered_path(&response);
        let body: ByteStream = Box::pin(response.bytes_stream().map_err(SdkError::from));
        let access = self.clone();
        let resync: crate::instance::Resync = Arc::new(move || {
            let access = access.clone();
            Box::pin(async move { access.sync().await })
        });
        crate::instance::open_stream(instance, self.request_id(), body, &path, resync).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_names_decoded() {
        assert_eq!(encode_segment("edu.grades"), "edu.grades");
        assert_eq!(encode_segment("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(percent_decode("a%20b%2F%C3%A9"), "a b/é");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn only_http_addresses_are_accepted() {
        assert!(Client::new("ftp://x").is_err());
        assert_eq!(Client::new("http://127.0.0.1:8080/").unwrap().base_url(), "http://127.0.0.1:8080");
    }
}
