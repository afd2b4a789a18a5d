//! Records and files: encrypted JSON documents, and blobs streamed through age.

use std::io::Read;

use cartable_consent::{Action, Doctype, FamilyId, MemberId, Principal, RecordId, Resource};

use crate::Permit;
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::db::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::vault::{Vault, parse_id};

/// Bodies larger than this go to the blob store instead of the database row.
const INLINE_BODY_LIMIT: usize = 64 * 1024;
/// The largest record body accepted: records are documents; files are for anything bigger.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const MAX_PAGE: u32 = 1000;

/// A record ready to insert: id, inline ciphertext or blob key, plaintext size.
type Prepared = (RecordId, Option<Vec<u8>>, Option<String>, i64);

/// A record to store: `body` must be a JSON object.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub child: MemberId,
    pub doctype: Doctype,
    /// Who wrote it: `operator`, `member:<id>` or `service:<id>`.
    pub source: String,
    pub body: serde_json::Value,
}

/// A file's metadata, stored encrypted beside its blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

/// A record as its reader sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordDocument {
    pub id: RecordId,
    pub doctype: Doctype,
    pub child: MemberId,
    pub source: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    pub body: serde_json::Value,
}

/// A line of a listing: no contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    pub id: RecordId,
    pub doctype: Doctype,
    pub child: MemberId,
    pub kind: String,
    pub version: i64,
    pub size: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Which records to list, one page at a time (by id, which sorts by creation).
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub child: Option<MemberId>,
    pub doctype: Option<Doctype>,
    pub after: Option<RecordId>,
    pub limit: Option<u32>,
}

fn check(permit: &Permit, action: Action) -> Result<()> {
    if permit.action() != action {
        return Err(Error::PermitMismatch("action"));
    }
    Ok(())
}

impl Vault {
    /// What the rules need to know about a record: its child and doctype (clear columns, no decryption).
    pub async fn record_resource(&self, family: FamilyId, id: RecordId) -> Result<Resource> {
        let row = sqlx::query("SELECT child_id, doctype FROM records WHERE id = $1 AND family_id = $2")
            .bind(id.to_string())
            .bind(family.to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::RecordNotFound(id))?;
        Ok(Resource::Record { id, child: parse_id(&row.get::<String, _>(0))?, doctype: parse_id(&row.get::<String, _>(1))? })
    }

    /// Stores one record; the permit must be for writing to the record's collection.
    pub async fn put_record(&self, permit: &Permit, record: NewRecord) -> Result<RecordId> {
        Ok(self.put_records(permit, vec![record]).await?.remove(0))
    }

    /// Stores records in one transaction (importers); the permit must cover their one collection.
    pub async fn put_records(&self, permit: &Permit, records: Vec<NewRecord>) -> Result<Vec<RecordId>> {
        check(permit, Action::Write)?;
        let family = permit.family();
        let Some(first) = records.first() else { return Ok(Vec::new()) };
        let (child, doctype) = (first.child, first.doctype);
        match permit.resource() {
            Resource::Collection { child: c, doctype: d } if c == child && d == doctype => {}
            Resource::Family => {}
            _ => return Err(Error::PermitMismatch("collection")),
        }
        if records.iter().any(|r| r.child != child || r.doctype != doctype) {
            return Err(Error::InvalidInput("a batch of records must all belong to one collection".to_owned()));
        }
        self.child(family, child).await?;
        let key = self.family_key(family).await?;
        let now = to_millis(OffsetDateTime::now_utc());
        // Validate everything before any work, so a bad record in a batch changes nothing.
        let mut plains = Vec::with_capacity(records.len());
        for r in &records {
            if !r.body.is_object() {
                return Err(Error::InvalidInput("a record body must be a JSON object".to_owned()));
            }
            validate_source(&r.source)?;
            let plain = zeroize::Zeroizing::new(serde_json::to_vec(&r.body).map_err(|_| Error::InvalidInput("the record body is not valid JSON".to_owned()))?);
            if plain.len() > MAX_BODY_BYTES {
                return Err(Error::InvalidInput(format!("a record body may be at most {MAX_BODY_BYTES} bytes; store larger content as a file")));
            }
            plains.push((RecordId::new(), plain));
        }
        // Encrypt before the transaction (it is the slow part and needs no lock), on every core: each record costs
        // one X25519 agreement.
        let blobs = self.inner.blobs.clone();
        let prepared = tokio::task::spawn_blocking(move || -> Vec<Result<Prepared>> {
            let encrypt_one = |(id, plain): &(RecordId, zeroize::Zeroizing<Vec<u8>>)| -> Result<Prepared> {
                if plain.len() > INLINE_BODY_LIMIT {
                    blobs.put(&key, family, *id, &mut plain.as_slice())?;
                    Ok((*id, None, Some(id.to_string()), plain.len() as i64))
                } else {
                    Ok((*id, Some(key.encrypt(plain)?), None, plain.len() as i64))
                }
            };
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            if plains.len() < 32 || threads == 1 {
                return plains.iter().map(encrypt_one).collect();
            }
            let chunk = plains.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = plains.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(encrypt_one).collect::<Vec<_>>())).collect();
                handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(Error::Io("an encryption thread failed".to_owned()))])).collect()
            })
        })
        .await
        .map_err(|_| Error::Io("encryption was interrupted".to_owned()))?;
        let mut ok = Vec::with_capacity(prepared.len());
        let mut failure = None;
        for p in prepared {
            match p {
                Ok(p) => ok.push(p),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            for (id, _, blob_key, _) in &ok {
                if blob_key.is_some() {
                    self.inner.blobs.delete(family, *id);
                }
            }
            return Err(e);
        }
        let prepared = ok;
        let result = async {
            let mut tx = self.write_tx().await?;
            let collection = ensure_collection(&mut tx, family, child, doctype, now).await?;
            for ((id, body_enc, blob_key, size), r) in prepared.iter().zip(&records) {
                let row = RecordRow { id: *id, family, collection: &collection, child, doctype, kind: "record", source: &r.source, now };
                insert_record(&mut tx, &row, body_enc.clone(), blob_key.clone(), *size).await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            for (id, _, blob_key, _) in &prepared {
                if blob_key.is_some() {
                    self.inner.blobs.delete(family, *id);
                }
            }
            return Err(e);
        }
        Ok(prepared.into_iter().map(|p| p.0).collect())
    }

    /// Reads one record; the permit must be for reading that record.
    pub async fn get_record(&self, permit: &Permit) -> Result<RecordDocument> {
        check(permit, Action::Read)?;
        let Resource::Record { id, .. } = permit.resource() else { return Err(Error::PermitMismatch("record")) };
        let row = self.record_row(permit.family(), id).await?;
        self.open_record_row(permit, row).await
    }

    /// A record's row, still encrypted: what [`Vault::open_record_row`] opens once a permit allows it.
    pub(crate) async fn record_row(&self, family: FamilyId, id: RecordId) -> Result<sqlx::any::AnyRow> {
        sqlx::query(
            "SELECT child_id, doctype, kind, source, version, body_enc, blob_key, created_at, updated_at FROM records WHERE id = $1 AND family_id = $2",
        )
        .bind(id.to_string())
        .bind(family.to_string())
        .fetch_optional(self.pool())
        .await?
        .ok_or(Error::RecordNotFound(id))
    }

    /// Decrypts a row of [`Vault::record_row`]; the permit must be for reading that record.
    pub(crate) async fn open_record_row(&self, permit: &Permit, row: sqlx::any::AnyRow) -> Result<RecordDocument> {
        check(permit, Action::Read)?;
        let Resource::Record { id, .. } = permit.resource() else { return Err(Error::PermitMismatch("record")) };
        let family = permit.family();
        let key = self.family_key(family).await?;
        let plain = match (row.get::<Option<Vec<u8>>, _>(5), row.get::<Option<String>, _>(6)) {
            (Some(enc), _) => key.decrypt(&enc)?,
            (None, Some(_)) => {
                let blobs = self.inner.blobs.clone();
                let key = key.clone();
                tokio::task::spawn_blocking(move || -> Result<zeroize::Zeroizing<Vec<u8>>> {
                    let mut out = zeroize::Zeroizing::new(Vec::new());
                    blobs.open_reader(&key, family, id)?.read_to_end(&mut out).map_err(|_| Error::BlobCorrupt)?;
                    Ok(out)
                })
                .await
                .map_err(|_| Error::Io("a blob read was interrupted".to_owned()))??
            }
            (None, None) => return Err(Error::BlobCorrupt),
        };
        let decoded: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| Error::Decrypt)?;
        let kind: String = row.get(2);
        let (file, body) = if kind == "file" {
            let info: FileInfo = serde_json::from_value(decoded).map_err(|_| Error::Decrypt)?;
            (Some(info), serde_json::json!({}))
        } else {
            (None, decoded)
        };
        Ok(RecordDocument {
            id,
            child: parse_id(&row.get::<String, _>(0))?,
            doctype: parse_id(&row.get::<String, _>(1))?,
            source: row.get(3),
            version: row.get(4),
            created_at: from_millis(row.get(7)),
            updated_at: from_millis(row.get(8)),
            file,
            body,
        })
    }

    /// Lists records without their contents; the permit must be for listing the collection (or the family).
    pub async fn list_records(&self, permit: &Permit, filter: &RecordFilter) -> Result<Vec<RecordSummary>> {
        check(permit, Action::List)?;
        let family = permit.family();
        let (child, doctype) = match permit.resource() {
            Resource::Collection { child, doctype } => {
                if filter.child.is_some_and(|c| c != child) || filter.doctype.is_some_and(|d| d != doctype) {
                    return Err(Error::PermitMismatch("collection"));
                }
                (Some(child), Some(doctype))
            }
            Resource::Family => (filter.child, filter.doctype),
            _ => return Err(Error::PermitMismatch("collection")),
        };
        // A family-wide listing shows only the collections the principal could list one by one: a guardian
        // does not see an adult child's data through the family. The family-wide decision is the one logged.
        let visible = match (permit.resource(), permit.principal()) {
            (Resource::Family, Principal::Member(_)) => Some(self.listable_collections(permit).await?),
            _ => None,
        };
        if visible.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT id, doctype, child_id, kind, version, size, created_at FROM records \
             WHERE family_id = $1 AND ($2 IS NULL OR child_id = $2) AND ($3 IS NULL OR doctype = $3) AND ($4 IS NULL OR id > $4)",
        );
        if let Some(visible) = &visible {
            // Placeholders only: the values are bound below.
            let clauses: Vec<String> = (0..visible.len()).map(|i| format!("(child_id = ${} AND doctype = ${})", 6 + 2 * i, 7 + 2 * i)).collect();
            sql.push_str(&format!(" AND ({})", clauses.join(" OR ")));
        }
        sql.push_str(" ORDER BY id LIMIT $5");
        let limit = filter.limit.unwrap_or(100).clamp(1, MAX_PAGE) as i64;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(family.to_string())
            .bind(child.map(|c| c.to_string()))
            .bind(doctype.map(|d| d.as_str().to_owned()))
            .bind(filter.after.map(|a| a.to_string()))
            .bind(limit);
        for (c, d) in visible.iter().flatten() {
            query = query.bind(c.to_string()).bind(d.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(RecordSummary {
                    id: parse_id(&row.get::<String, _>(0))?,
                    doctype: parse_id(&row.get::<String, _>(1))?,
                    child: parse_id(&row.get::<String, _>(2))?,
                    kind: row.get(3),
                    version: row.get(4),
                    size: row.get(5),
                    created_at: from_millis(row.get(6)),
                })
            })
            .collect()
    }

    /// The collections a permit's principal may list, each decided by the same rules (not logged one by one).
    pub(crate) async fn listable_collections(&self, permit: &Permit) -> Result<Vec<(MemberId, Doctype)>> {
        let rules = self.rules(permit.family()).await?;
        let mut out = Vec::new();
        for child in rules.members.iter().filter(|m| m.role == cartable_consent::Role::Child) {
            for doctype in Doctype::ALL {
                let request = cartable_consent::AccessRequest {
                    principal: permit.principal(),
                    action: Action::List,
                    resource: Resource::Collection { child: child.id, doctype },
                    now: permit.decided_at(),
                };
                if self.inner.authorizer.authorize(&rules.compiled, &request).is_allowed() {
                    out.push((child.id, doctype));
                }
            }
        }
        Ok(out)
    }

    /// Streams a file into the vault, encrypted on the way; never holds it whole in memory.
    pub async fn put_file(
        &self,
        permit: &Permit,
        child: MemberId,
        doctype: Doctype,
        source: String,
        name: String,
        content: Box<dyn Read + Send>,
    ) -> Result<RecordId> {
        check(permit, Action::Write)?;
        let family = permit.family();
        match permit.resource() {
            Resource::Collection { child: c, doctype: d } if c == child && d == doctype => {}
            Resource::Family => {}
            _ => return Err(Error::PermitMismatch("collection")),
        }
        validate_source(&source)?;
        let name = validate_file_name(&name)?;
        self.child(family, child).await?;
        let key = self.family_key(family).await?;
        let id = RecordId::new();
        let blobs = self.inner.blobs.clone();
        let blob_key = key.clone();
        let (size, digest) = tokio::task::spawn_blocking(move || {
            let mut content = content;
            blobs.put(&blob_key, family, id, &mut content)
        })
        .await
        .map_err(|_| Error::Io("a blob write was interrupted".to_owned()))??;
        let info = FileInfo { name, size, sha256: hex(&digest) };
        let meta = zeroize::Zeroizing::new(serde_json::to_vec(&info).expect("file info serializes"));
        let now = to_millis(OffsetDateTime::now_utc());
        let result = async {
            let mut tx = self.write_tx().await?;
            let collection = ensure_collection(&mut tx, family, child, doctype, now).await?;
            let row = RecordRow { id, family, collection: &collection, child, doctype, kind: "file", source: &source, now };
            insert_record(&mut tx, &row, Some(key.encrypt(&meta)?), Some(id.to_string()), size as i64).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            self.inner.blobs.delete(family, id);
            return Err(e);
        }
        Ok(id)
    }

    /// Opens a file for reading: its metadata and a reader of its plaintext (blocking reads: use it on a
    /// blocking thread). The permit must be for reading that record.
    pub async fn open_file(&self, permit: &Permit) -> Result<(FileInfo, Box<dyn Read + Send>)> {
        let doc = self.get_record(permit).await?;
        let info = doc.file.ok_or_else(|| Error::InvalidInput(format!("record `{}` is not a file", doc.id)))?;
        let key = self.family_key(permit.family()).await?;
        let reader = self.inner.blobs.open_reader(&key, permit.family(), doc.id)?;
        Ok((info, reader))
    }
}

/// The clear columns of a new record row.
struct RecordRow<'a> {
    id: RecordId,
    family: FamilyId,
    collection: &'a str,
    child: MemberId,
    doctype: Doctype,
    kind: &'static str,
    source: &'a str,
    now: i64,
}

async fn insert_record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &RecordRow<'_>,
    body_enc: Option<Vec<u8>>,
    blob_key: Option<String>,
    size: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO records (id, family_id, collection_id, child_id, doctype, kind, source, version, body_enc, blob_key, size, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11, $11)",
    )
    .bind(row.id.to_string())
    .bind(row.family.to_string())
    .bind(row.collection)
    .bind(row.child.to_string())
    .bind(row.doctype.as_str())
    .bind(row.kind)
    .bind(row.source)
    .bind(body_enc)
    .bind(blob_key)
    .bind(size)
    .bind(row.now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn ensure_collection(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    family: FamilyId,
    child: MemberId,
    doctype: Doctype,
    now: i64,
) -> Result<String> {
    sqlx::query(
        "INSERT INTO collections (id, family_id, child_id, doctype, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (family_id, child_id, doctype) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(family.to_string())
    .bind(child.to_string())
    .bind(doctype.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query("SELECT id FROM collections WHERE family_id = $1 AND child_id = $2 AND doctype = $3")
        .bind(family.to_string())
        .bind(child.to_string())
        .bind(doctype.as_str())
        .fetch_one(&mut **tx)
        .await?
        .get(0))
}

fn validate_source(source: &str) -> Result<()> {
    let ok = source == "operator"
        || source.strip_prefix("member:").is_some_and(|id| id.parse::<MemberId>().is_ok())
        || source.strip_prefix("service:").is_some_and(|id| id.parse::<cartable_consent::ServiceId>().is_ok());
    if ok { Ok(()) } else { Err(Error::InvalidInput("a record source is `operator`, `member:<id>` or `service:<id>`".to_owned())) }
}

fn validate_file_name(name: &str) -> Result<String> {
    let name = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput("a file name must be 1 to 255 characters, without control characters".to_owned()));
    }
    crate::text::refuse_format_characters(name, "a file name")?;
    Ok(name.to_owned())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
