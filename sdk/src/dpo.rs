//! The DPO's side: the consent register across the families of their remit, receipts with proofs, the state of
//! each log, exports and the record of processing. A DPO reads registers, never a family's data.

use std::fmt;

use futures::StreamExt as _;

use crate::client::{Auth, ByteStream, Client, check, decode};
use crate::error::SdkError;
use crate::wire::{DpoId, DpoLogin, DpoSessionInfo, FamilyId, LogStatuses, ProcessingRecord, RegisterFilter, RegisterPage, RegisterReceipt, ServiceId};

/// A signed-in DPO's session (the cookie and its CSRF token).
pub struct DpoSession {
    client: Client,
    cookie: String,
    info: DpoSessionInfo,
}

impl fmt::Debug for DpoSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpoSession").field("info", &self.info).finish_non_exhaustive()
    }
}

const DPO_SESSION_COOKIE: &str = "cartable_dpo_session";

impl Client {
    /// Signs a DPO in with the name and password chosen when accepting their invitation; failures are limited as
    /// members' are ([`SdkError::RateLimited`]).
    pub async fn sign_in_dpo(&self, login: &str, password: &str) -> Result<DpoSession, SdkError> {
        let body = DpoLogin { login: login.to_owned(), password: password.to_owned() };
        let response = check(self.request(reqwest::Method::POST, "/api/v1/dpo/session", Auth::None).json(&body).send().await?).await?;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next()?.trim().strip_prefix(DPO_SESSION_COOKIE)?.strip_prefix('=').map(str::to_owned))
            .ok_or_else(|| SdkError::Protocol("the sign-in came without a session cookie".to_owned()))?;
        let info: DpoSessionInfo = decode(response).await?;
        Ok(DpoSession { client: self.clone(), cookie, info })
    }
}

impl DpoSession {
    pub fn dpo_id(&self) -> DpoId {
        self.info.dpo_id
    }

    /// The service this DPO answers for; `None`: the operator's DPO.
    pub fn service_id(&self) -> Option<ServiceId> {
        self.info.service_id
    }

    fn auth(&self) -> Auth<'_> {
        Auth::DpoSession { cookie: &self.cookie, csrf: &self.info.csrf_token }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str, filter: Option<&RegisterFilter>) -> Result<T, SdkError> {
        let mut builder = self.client.request(reqwest::Method::GET, path, self.auth());
        if let Some(filter) = filter {
            builder = builder.query(filter);
        }
        decode(check(builder.send().await?).await?).await
    }

    /// A page of the register (families in id order, each log oldest first); `next_after` goes into the next
    /// filter's `after`.
    pub async fn register(&self, filter: &RegisterFilter) -> Result<RegisterPage, SdkError> {
        self.get("/api/v1/register", Some(filter)).await
    }

    /// One entry's receipt and its inclusion proof (C2SP tlog-proof), to check offline.
    pub async fn receipt(&self, family: FamilyId, index: u64) -> Result<RegisterReceipt, SdkError> {
        self.get(&format!("/api/v1/register/{family}/{index}"), None).await
    }

    /// Each log's size, a fresh checkpoint and whether it extends what this DPO was shown before.
    pub async fn logs(&self) -> Result<LogStatuses, SdkError> {
        self.get("/api/v1/register/logs", None).await
    }

    /// Verifies every log of the remit.
    pub async fn verify_all(&self) -> Result<LogStatuses, SdkError> {
        self.client.call::<(), LogStatuses>(reqwest::Method::POST, "/api/v1/register/verify", self.auth(), None, &[]).await
    }

    /// The record of processing activities (GDPR art. 30).
    pub async fn processing(&self) -> Result<ProcessingRecord, SdkError> {
        self.get("/api/v1/register/processing", None).await
    }

    /// The register as a stream of bytes: `csv` or `jsonl`.
    pub async fn export(&self, format: &str, filter: &RegisterFilter) -> Result<ByteStream, SdkError> {
        let builder = self.client.request(reqwest::Method::GET, &format!("/api/v1/register/export/{format}"), self.auth()).query(filter);
        let response = check(builder.send().await?).await?;
        Ok(Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(SdkError::from))))
    }

    /// Signs out: the session ends on the server.
    pub async fn sign_out(self) -> Result<(), SdkError> {
        check(self.client.request(reqwest::Method::DELETE, "/api/v1/dpo/session", self.auth()).send().await?).await?;
        Ok(())
    }
}
