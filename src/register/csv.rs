//! The register as CSV and as JSON lines, streamed: a task walks the logs batch by batch and hands each batch's
//! bytes to a bounded channel, so memory does not grow with the register.
//!
//! CSV (RFC 4180, written by the `csv` crate; a header line, then one line per entry), its columns:
//!
//! | column | what |
//! |---|---|
//! | `family_id` | the family whose log holds the entry |
//! | `index` | the entry's position in that log, from 0 |
//! | `receipt_id` | the receipt's id |
//! | `time` | when (RFC 3339, UTC, seconds) |
//! | `event` | `request`, `approve`, `confirm`, `deny`, `revoke`, `expire`, `policy_change`, `access_allowed`, `access_denied`, `export`, `import`, `erasure`, `majority_transition`, `record_write`, `records_import`, `sealed_membership` |
//! | `actor_kind`, `actor_id` | who acted: `guardian`, `child`, `service`, `dpo` (with their id), `operator`, `operator_for` (with the member's id), `system` |
//! | `subject_id` | the child the entry is about |
//! | `service_id`, `grant_id` | the service and the grant it names |
//! | `legal_basis` | `consent`, `contract`, `legal-obligation`, `vital-interest`, `public-task`, `legitimate-interest` |
//! | `data_categories` | doctypes, separated by spaces |
//! | `action` | what an access asked (`read`, `list`, `search`, `write`, `export`, `manage`) |
//! | `grant_actions` | what a grant lets its grantee do, separated by spaces |
//! | `record_id`, `record_version` | the record of an access or a write |
//! | `valid_from`, `valid_until` | when a grant is in force (RFC 3339) |
//! | `purpose_digest` | SHA-256 of the grant's salted purpose (the purpose stays with the family's encrypted data) |
//! | `prohibition` | `set` or `lifted`, for a policy change |
//! | `import_format`, `imported`, `duplicates`, `rejected` | for records imported: the format (`xapi`, `oneroster`, `open_badges`, `files`) and the counts |
//! | `reasons` | the policies behind a decision, separated by spaces |
//!
//! JSON lines: one `{"family_id", "index", "receipt"}` object a line, the receipt as hashed into the log.

use bytes::Bytes;
use cartable_consent::ledger::{Actor, ProhibitionChange};
use cartable_vault::Vault;
use futures::SinkExt as _;
use futures::channel::mpsc;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::{Query, Reader, Row, Walk};

/// The formats the register is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::JsonLines => "application/jsonl",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }
}

/// One CSV line; the field names are the header.
#[derive(Serialize)]
struct Line {
    family_id: String,
    index: u64,
    receipt_id: String,
    time: String,
    event: &'static str,
    actor_kind: &'static str,
    actor_id: String,
    subject_id: String,
    service_id: String,
    grant_id: String,
    legal_basis: &'static str,
    data_categories: String,
    action: &'static str,
    grant_actions: String,
    record_id: String,
    record_version: Option<u64>,
    valid_from: String,
    valid_until: String,
    purpose_digest: String,
    prohibition: &'static str,
    import_format: &'static str,
    imported: Option<u64>,
    duplicates: Option<u64>,
    rejected: Option<u64>,
    reasons: String,
}

fn text<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn line(row: &Row) -> Line {
    let r = &row.entry.receipt;
    let (actor_kind, actor_id) = match r.actor {
        Actor::Guardian(m) => ("guardian", m.to_string()),
        Actor::Child(m) => ("child", m.to_string()),
        Actor::Service(s) => ("service", s.to_string()),
        Actor::Dpo(d) => ("dpo", d.to_string()),
        Actor::Operator => ("operator", String::new()),
        Actor::OperatorFor(m) => ("operator_for", m.to_string()),
        Actor::System => ("system", String::new()),
    };
    let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    Line {
        family_id: row.family.to_string(),
        index: row.entry.index,
        receipt_id: r.receipt_id.to_string(),
        time: time(r.time),
        event: r.event.as_str(),
        actor_kind,
        actor_id,
        subject_id: text(r.principal),
        service_id: text(r.service),
        grant_id: text(r.grant),
        legal_basis: r.legal_basis.map_or("", |l| l.as_str()),
        data_categories: r.data_categories.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(" "),
        action: r.action.map_or("", |a| a.as_str()),
        grant_actions: r.grant_actions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" "),
        record_id: text(r.resource),
        record_version: r.record_version,
        valid_from: r.validity.map(|v| time(v.from)).unwrap_or_default(),
        valid_until: r.validity.and_then(|v| v.until).map(time).unwrap_or_default(),
        purpose_digest: r.purpose_digest.clone().unwrap_or_default(),
        prohibition: match r.prohibition {
            Some(ProhibitionChange::Set) => "set",
            Some(ProhibitionChange::Lifted) => "lifted",
            None => "",
        },
        import_format: r.import.map_or("", |i| i.format.as_str()),
        imported: r.import.map(|i| i.imported),
        duplicates: r.import.map(|i| i.duplicates),
        rejected: r.import.map(|i| i.rejected),
        reasons: r.reasons.join(" "),
    }
}

/// The bytes of one batch; the CSV header comes with the first.
fn encode(rows: &[Row], format: Format, first: bool) -> std::io::Result<Vec<u8>> {
    match format {
        Format::Csv => {
            let mut writer = ::csv::WriterBuilder::new().has_headers(first).from_writer(Vec::with_capacity(rows.len() * 400));
            for row in rows {
                writer.serialize(line(row)).map_err(std::io::Error::other)?;
            }
            writer.into_inner().map_err(|e| std::io::Error::other(e.to_string()))
        }
        Format::JsonLines => {
            let mut out = Vec::with_capacity(rows.len() * 600);
            for row in rows {
                let entry = cartable_sdk::RegisterEntry {
                    family_id: cartable_sdk::FamilyId(row.family.as_uuid()),
                    index: row.entry.index,
                    receipt: serde_json::to_value(&row.entry.receipt).map_err(std::io::Error::other)?,
                };
                serde_json::to_writer(&mut out, &entry).map_err(std::io::Error::other)?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

/// The header line of an empty CSV export (the first batch carries it otherwise).
fn header() -> Vec<u8> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    // Serializing needs a value: the header of a line is written before it, then the line is dropped.
    let blank = Line {
        family_id: String::new(),
        index: 0,
        receipt_id: String::new(),
        time: String::new(),
        event: "",
        actor_kind: "",
        actor_id: String::new(),
        subject_id: String::new(),
        service_id: String::new(),
        grant_id: String::new(),
        legal_basis: "",
        data_categories: String::new(),
        action: "",
        grant_actions: String::new(),
        record_id: String::new(),
        record_version: None,
        valid_from: String::new(),
        valid_until: String::new(),
        purpose_digest: String::new(),
        prohibition: "",
        import_format: "",
        imported: None,
        duplicates: None,
        rejected: None,
        reasons: String::new(),
    };
    let _ = writer.serialize(blank);
    let bytes = writer.into_inner().unwrap_or_default();
    let end = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
    bytes[..end].to_vec()
}

/// The export as a stream of byte chunks, one per batch of entries; an error ends the stream (a client sees a
/// truncated body). Each family's register is decided for `reader` when the walk reaches it.
pub fn export(vault: Vault, reader: Reader, query: Query, format: Format) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (mut tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let result: Result<(), std::io::Error> = async {
            let mut walk = Walk::new(&vault, reader, query).await.map_err(std::io::Error::other)?;
            let mut first = true;
            while let Some(rows) = walk.next_rows().await.map_err(std::io::Error::other)? {
                let bytes = encode(&rows, format, first)?;
                first = false;
                if tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                    // The reader went away: stop reading the logs.
                    return Ok(());
                }
            }
            if first && format == Format::Csv {
                let _ = tx.send(Ok(Bytes::from(header()))).await;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "register export stopped");
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_of_an_empty_export_names_every_column() {
        let header = String::from_utf8(header()).unwrap();
        assert!(header.starts_with("family_id,index,receipt_id,time,event,actor_kind,actor_id,subject_id,"));
        assert!(header.ends_with("purpose_digest,prohibition,import_format,imported,duplicates,rejected,reasons\n"));
        assert_eq!(header.lines().count(), 1);
    }
}
