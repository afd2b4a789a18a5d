//! The family's side, for scripts and tools: a guardian or a child signed in with a password.
//!
//! Every call is decided by the family's rules for the signed-in member and written to the family's ledger.

use std::fmt;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};

use crate::client::{Auth, ByteStream, Client, FileDownload, check, data_paths, decode, file_download, upload_body};
use crate::error::SdkError;
use crate::wire::{
    AccessReport, Checkpoint, Collection, Collections, ConsistencyProof, Family, FamilyId, GrantId, GrantList, GrantOutcome, GrantView,
    InclusionProof, LedgerPage, Login, MemberCreated, MemberId, NewMember, NewProhibition, Prohibitions, Record,
    RecordCreated, RecordId, RecordPage, SearchOptions, SearchResults, SessionInfo,
};

/// A signed-in member's session (the cookie and its CSRF token).
pub struct FamilySession {
    client: Client,
    cookie: String,
    info: SessionInfo,
}

impl fmt::Debug for FamilySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FamilySession").field("info", &self.info).finish_non_exhaustive()
    }
}

const SESSION_COOKIE: &str = "cartable_session";

impl Client {
    /// Signs a guardian or a child in. Failed attempts are slowed down and, repeated, locked out for a while
    /// ([`SdkError::RateLimited`]).
    pub async fn sign_in(&self, member_id: MemberId, password: &str) -> Result<FamilySession, SdkError> {
        let login = Login { member_id, password: password.to_owned() };
        let response = check(self.request(reqwest::Method::POST, "/api/v1/session", Auth::None).json(&login).send().await?).await?;
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next()?.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('=').map(str::to_owned))
            .ok_or_else(|| SdkError::Protocol("the sign-in came without a session cookie".to_owned()))?;
        let info: SessionInfo = decode(response).await?;
        Ok(FamilySession { client: self.clone(), cookie, info })
    }
}

impl FamilySession {
    pub fn member_id(&self) -> MemberId {
        self.info.member_id
    }

    pub fn family_id(&self) -> FamilyId {
        self.info.family_id
    }

    /// `guardian` or `child`.
    pub fn role(&self) -> &str {
        &self.info.role
    }

    fn auth(&self) -> Auth<'_> {
        Auth::Session { cookie: &self.cookie, csrf: &self.info.csrf_token }
    }

    fn family_path(&self, rest: &str) -> String {
        format!("/api/v1/families/{}{rest}", self.info.family_id)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, SdkError> {
        self.client.call::<(), T>(reqwest::Method::GET, path, self.auth(), None, query).await
    }

    async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(&self, path: &str, body: Option<&B>) -> Result<T, SdkError> {
        self.client.call(reqwest::Method::POST, path, self.auth(), body, &[]).await
    }

    /// Signs out: the session ends on the server.
    pub async fn sign_out(self) -> Result<(), SdkError> {
        check(self.client.request(reqwest::Method::DELETE, "/api/v1/session", self.auth()).send().await?).await?;
        Ok(())
    }

    /// The family's name and members (guardians).
    pub async fn family(&self) -> Result<Family, SdkError> {
        self.get(&self.family_path(""), &[]).await
    }

    pub async fn add_member(&self, member: &NewMember) -> Result<MemberId, SdkError> {
        Ok(self.post::<_, MemberCreated>(&self.family_path("/members"), Some(member)).await?.member_id)
    }

    /// The family's collections and their sizes (guardians).
    pub async fn collections(&self) -> Result<Vec<Collection>, SdkError> {
        Ok(self.get::<Collections>(&self.family_path("/collections"), &[]).await?.collections)
    }

    pub async fn list_records(&self, child: MemberId, doctype: &str, after: Option<RecordId>, limit: u32) -> Result<RecordPage, SdkError> {
        let (records, _) = data_paths(self.info.family_id, child, doctype);
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        self.get(&records, &query).await
    }

    pub async fn read_record(&self, id: RecordId) -> Result<Record, SdkError> {
        self.get(&self.family_path(&format!("/records/{id}")), &[]).await
    }

    /// Searches what this member may see of the family (all words must match; `"a phrase"`, `-word`, `prefix*`).
    pub async fn search(&self, words: &str, options: &SearchOptions) -> Result<SearchResults, SdkError> {
        self.get(&self.family_path("/search"), &options.query_pairs(words)).await
    }

    pub async fn write_record(&self, child: MemberId, doctype: &str, body: &serde_json::Value) -> Result<RecordId, SdkError> {
        let (records, _) = data_paths(self.info.family_id, child, doctype);
        Ok(self.post::<_, RecordCreated>(&records, Some(body)).await?.record_id)
    }

    pub async fn upload_file<S, E>(&self, child: MemberId, doctype: &str, name: &str, content: S) -> Result<RecordId, SdkError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let (_, files) = data_paths(self.info.family_id, child, doctype);
        let response = self
            .client
            .request(reqwest::Method::POST, &files, self.auth())
            .query(&[("name", name)])
            .header("content-type", "application/octet-stream")
            .body(upload_body(content))
            .send()
            .await?;
        Ok(decode::<RecordCreated>(check(response).await?).await?.record_id)
    }

    /// Imports xAPI statements (one, an array, or one a line) as `child`'s `edu.activity` records (and the grades
    /// they report as `edu.grades`). A refused import writes nothing and comes back with `written: false` and its
    /// problems; `partial` keeps the valid statements instead.
    pub async fn import_xapi(&self, child: MemberId, statements: Bytes, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        self.import(child, "xapi", "application/json", statements, partial).await
    }

    /// Imports an Open Badge (2.0 assertion, 3.0 credential, CLR 2.0; JSON, VC-JWT, or baked PNG or SVG) as `child`'s
    /// `edu.certificates`, with what its signature check found (never "verified" unless it was checked).
    pub async fn import_badge(&self, child: MemberId, credential: Bytes, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        self.import(child, "badges", "application/octet-stream", credential, partial).await
    }

    /// Imports a OneRoster 1.1 / 1.2 CSV set (zipped at its root) for the pupils `map` names (`(sourcedId, child)`;
    /// nobody is matched by name): their enrollments as `edu.enrollments`, their results as `edu.grades`. Other
    /// pupils' rows are dropped by the server, never stored.
    pub async fn import_oneroster(&self, set: Bytes, map: &[(&str, MemberId)], partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        let response = self
            .client
            .request(reqwest::Method::POST, &crate::client::roster_path(self.info.family_id), self.auth())
            .query(&crate::client::roster_query(map, partial))
            .header("content-type", "application/zip")
            .body(set)
            .send()
            .await?;
        crate::client::import_answer(response).await
    }

    /// Imports files as they are (`(name, bytes)`) into one of `child`'s collections, all of them or none; the same
    /// bytes already there are a duplicate (`record_id` null in `files`).
    pub async fn import_files(&self, child: MemberId, doctype: &str, files: Vec<(String, Bytes)>) -> Result<crate::wire::RecordsImported, SdkError> {
        let path = crate::client::import_path(self.info.family_id, child, "files");
        let response = self.client.request(reqwest::Method::POST, &path, self.auth()).query(&[("doctype", doctype)]).multipart(crate::client::files_form(files)).send().await?;
        decode(check(response).await?).await
    }

    async fn import(&self, child: MemberId, format: &str, content_type: &str, bytes: Bytes, partial: bool) -> Result<crate::wire::RecordsImported, SdkError> {
        let path = crate::client::import_path(self.info.family_id, child, format);
        let response = self
            .client
            .request(reqwest::Method::POST, &path, self.auth())
            .query(&[("partial", partial.to_string())])
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await?;
        crate::client::import_answer(response).await
    }

    pub async fn download_file(&self, id: RecordId) -> Result<FileDownload, SdkError> {
        let response = self.client.request(reqwest::Method::GET, &self.family_path(&format!("/files/{id}")), self.auth()).send().await?;
        file_download(check(response).await?)
    }

    /// Downloads the family's archive as this member may see it (`docs/archive-format.md`): the whole family for a
    /// guardian who manages every child, their view otherwise. With a passphrase, the archive is an age file
    /// encrypted to it. The bytes arrive as a stream; a download that breaks off ends in an error.
    pub async fn download_archive(&self, passphrase: Option<&str>) -> Result<ByteStream, SdkError> {
        let mut request = self.client.request(reqwest::Method::GET, &self.family_path("/archive"), self.auth());
        if let Some(passphrase) = passphrase {
            request = request.header(crate::wire::ARCHIVE_PASSPHRASE_HEADER, passphrase);
        }
        let response = check(request.send().await?).await?;
        Ok(Box::pin(response.bytes_stream().map_err(SdkError::from)))
    }

    /// Every request and grant of the family, oldest first.
    pub async fn grants(&self) -> Result<Vec<GrantView>, SdkError> {
        Ok(self.get::<GrantList>(&self.family_path("/grants"), &[]).await?.grants)
    }

    /// Approves a request; the outcome says whose approval is still missing, if any.
    pub async fn approve(&self, grant: GrantId) -> Result<GrantOutcome, SdkError> {
        self.post::<(), _>(&self.family_path(&format!("/grants/{grant}/approve")), None).await
    }

    pub async fn deny(&self, grant: GrantId) -> Result<GrantOutcome, SdkError> {
        self.post::<(), _>(&self.family_path(&format!("/grants/{grant}/deny")), None).await
    }

    /// The adult child confirms a grant a guardian approved alone before their majority.
    pub async fn confirm(&self, grant: GrantId) -> Result<GrantOutcome, SdkError> {
        self.post::<(), _>(&self.family_path(&format!("/grants/{grant}/confirm")), None).await
    }

    /// Revokes a grant: the service's next call is refused.
    pub async fn revoke(&self, grant: GrantId) -> Result<GrantOutcome, SdkError> {
        self.client.call::<(), _>(reqwest::Method::DELETE, &self.family_path(&format!("/grants/{grant}")), self.auth(), None, &[]).await
    }

    /// Never share `doctype` of the minors, whatever a grant says (a guardian's prohibition).
    pub async fn forbid(&self, doctype: &str) -> Result<Prohibitions, SdkError> {
        self.post(&self.family_path("/prohibitions"), Some(&NewProhibition { doctype: doctype.to_owned(), child_id: None })).await
    }

    /// An adult child's own prohibition over their own data (`child` is the adult, signed in).
    pub async fn forbid_own(&self, doctype: &str, child: MemberId) -> Result<Prohibitions, SdkError> {
        self.post(&self.family_path("/prohibitions"), Some(&NewProhibition { doctype: doctype.to_owned(), child_id: Some(child) })).await
    }

    /// Lifts a prohibition: the family's (`child` `None`) or an adult child's own. Whoever may set it may lift it.
    pub async fn lift_prohibition(&self, doctype: &str, child: Option<MemberId>) -> Result<Prohibitions, SdkError> {
        let mut path = self.family_path(&format!("/prohibitions/{doctype}"));
        if let Some(child) = child {
            path.push_str(&format!("?child={child}"));
        }
        self.client.call::<(), _>(reqwest::Method::DELETE, &path, self.auth(), None, &[]).await
    }

    pub async fn prohibitions(&self) -> Result<Prohibitions, SdkError> {
        self.get(&self.family_path("/prohibitions"), &[]).await
    }

    /// A page of the family's consent ledger, oldest first, after entry `after`.
    pub async fn ledger(&self, after: Option<u64>, limit: u32) -> Result<LedgerPage, SdkError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        self.get(&self.family_path("/ledger/entries"), &query).await
    }

    /// A fresh signed checkpoint of the family's ledger.
    /// A child's consent history with proofs (GDPR art. 15), for a guardian of a minor or the child themself.
    pub async fn access_report(&self, child: MemberId) -> Result<AccessReport, SdkError> {
        self.get(&self.family_path(&format!("/children/{child}/access-report")), &[]).await
    }

    pub async fn checkpoint(&self) -> Result<Checkpoint, SdkError> {
        self.get(&self.family_path("/ledger/checkpoint"), &[]).await
    }

    pub async fn inclusion_proof(&self, index: u64) -> Result<InclusionProof, SdkError> {
        self.get(&self.family_path(&format!("/ledger/entries/{index}/proof")), &[]).await
    }

    pub async fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof, SdkError> {
        self.get(&self.family_path("/ledger/consistency"), &[("old", old_size.to_string()), ("new", new_size.to_string())]).await
    }
}
