//! Cartable's SDK: the wire types of the HTTP API (always) and an async client for services (feature `client`).
//!
//! A service's life with a family's data, in the shape of GNAP (RFC 9635):
//!
//! 1. it registers once and keeps its [`ServiceCredentials`] (the secret is shown once);
//! 2. it asks a family for access to a child's collections, for a purpose and a duration, and gets a pending
//!    request with a continuation handle;
//! 3. a guardian (and the child, where the age rules say so) approves or denies, in Cartable;
//! 4. the service long-polls the continuation and receives an access token bound to the grant;
//! 5. it lists, reads and writes records and files within the grant; each call is decided by the family's
//!    rules at that moment and written to the family's consent ledger;
//! 6. once the grant is revoked or expires, the next call fails with [`SdkError::Revoked`] or
//!    [`SdkError::Expired`].
//!
//! In sealed mode, the way for a service with this SDK, each instance of the service has an MLS identity (an
//! [`Instance`], its state saved encrypted under a key the service supplies): every response under a grant is
//! encrypted to the grant's MLS group and opened by the SDK, so a token copied from a log reads nothing, and a
//! revocation takes the instances out of the group. The calls are the same as in plain mode (a `Service` without an
//! instance), which stays for clients without MLS.
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn demo() -> Result<(), cartable_sdk::SdkError> {
//! use std::time::Duration;
//! use cartable_sdk::{Client, Instance, NewAccessRequest};
//!
//! let client = Client::new("http://127.0.0.1:8080")?;
//! let credentials = client.register_service("Tutorat Plus").await?;
//! // The instance's state file, and its key from the service's secret store.
//! # let key = [7u8; 32];
//! let instance = Instance::open(credentials.service_id, "web-1", "/var/lib/tutorat/web-1.mls", key)?;
//! let service = client.service(credentials).with_instance(instance).await?;
//! # let (family_id, child_id) = ("0190c2b4-5c1e-7000-8000-000000000001".parse().unwrap(), "0190c2b4-5c1e-7000-8000-000000000002".parse().unwrap());
//! let pending = service
//!     .request_access(&NewAccessRequest {
//!         family_id,
//!         child_id,
//!         doctypes: vec!["edu.grades".into()],
//!         actions: vec!["read".into(), "list".into()],
//!         purpose: "suivi scolaire".into(),
//!         legal_basis: "consent".into(),
//!         duration_days: 90,
//!     })
//!     .await?;
//! // A guardian approves in Cartable meanwhile.
//! let access = service.wait_for_approval(&pending, Duration::from_secs(600)).await?;
//! let page = access.list_records("edu.grades", None, 50).await?;
//! for summary in page.records {
//!     let record = access.read_record(summary.record_id).await?;
//!     println!("{}", record.body);
//! }
//! # Ok(()) }
//! ```
//!
//! The client never exposes the HTTP library it is built on: its errors are [`SdkError`]s, its streams are
//! plain `futures` streams of bytes.

pub mod wire;

pub use wire::{file_headers, sealed};

pub use wire::{
    ImportProblem, ImportedCollection, ImportedFile, RecordsImported,
    ARCHIVE_PASSPHRASE_HEADER, AccessReport, ArchiveImported, SignInInvitation, AccessRequestCreated, AccessToken, Checkpoint, Collection, Collections, ConsistencyProof, Continuation,
    ContinuationToken, ContinueResponse, DpoId, DpoLogin, DpoSessionInfo, ErrorBody, ErrorCode, ErrorResponse, Family,
    FamilyId, FileInfo, GrantId, GrantList, GrantOutcome, GrantView, InclusionProof, InvalidId, LedgerEntry, LedgerKey,
    LedgerPage, LogStatus, LogStatuses, Login, Member, MemberCreated, MemberId, NewAccessRequest, NewMember, NewProhibition,
    PersonCategories, ProcessingActivity, ProcessingRecord, Prohibition, Prohibitions, Record, RecordCreated, RecordId,
    RecordPage, RecordSummary, RegisterEntry, ReportEntry, RegisterFilter, RegisterPage, RegisterReceipt, RegisterService, RequestStatus,
    FacetCount, Highlight, InstanceRetired, KeyPackagesPublished, MailboxMessage, MailboxMessageKind, PublishKeyPackages, SealedMailbox, SearchHit, SearchOptions, SearchResults, ServiceCredentials, ServiceId, SessionInfo,
};

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
mod dpo;
#[cfg(feature = "client")]
mod family;
#[cfg(feature = "client")]
mod instance;

#[cfg(feature = "client")]
pub use client::{Access, AccessState, ByteStream, Client, FileDownload, PendingRequest, Service};
#[cfg(feature = "client")]
pub use error::{SdkError, TransportError};
#[cfg(feature = "client")]
pub use dpo::DpoSession;
#[cfg(feature = "client")]
pub use family::FamilySession;
#[cfg(feature = "client")]
pub use instance::Instance;
