//! How a family's log is stored: entries (each with the clear columns the filters read) and the tree's perfect
//! subtree hashes. `store_batch` is the one implementation of storing entries and nodes, for a batch of any size
//! inside the caller's transaction: [`append_family`] for drafts (a state change's single entry, [`append`], is a
//! batch of one; the group commit, `queue.rs`, hands it the batches it gathers), [`append_verbatim`] for entries kept
//! byte for byte elsewhere (an imported family's log).
//!
//! INVARIANT: a family's log stays linear with no gap. Each append moves the family's head row first, which takes
//! the family's write lock (a row lock on PostgreSQL, the database lock on SQLite), so appends by other
//! transactions and processes wait their turn; the tree's new nodes are computed in memory from the frontier (the
//! perfect subtrees the next leaf needs), read from the database or kept by the caller and checked against the head.

use std::collections::HashMap;

use cartable_consent::FamilyId;
use cartable_consent::ledger::{self as tlog, Actor, Hash, NodeKey, Receipt, ReceiptDraft};
use sqlx::Row;

use crate::db::{Backend, to_millis};
use crate::error::{Error, Result};

/// The most rows per multi-row insert (a power of two): at 8 values a row, far under both backends' parameter limits.
const ROWS_PER_INSERT: usize = 128;
/// Up to this many rows go in one statement of exactly that many rows.
const EXACT_ROWS: usize = 32;

/// What became of a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// In the log at this index, committed.
    At(u64),
    /// Not appended: the family's policies changed since the decision was made; decide again.
    Stale,
}

/// What the ledger's filters look at, kept in clear columns beside each entry (ids and the event's name only).
pub(crate) struct EntryColumns {
    pub(crate) event: &'static str,
    pub(crate) subject: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) service: Option<String>,
}

impl EntryColumns {
    pub(crate) fn of(receipt: &Receipt) -> Self {
        let actor = match receipt.actor {
            Actor::Guardian(m) | Actor::Child(m) | Actor::OperatorFor(m) => Some(m.to_string()),
            Actor::Service(_) | Actor::Dpo(_) | Actor::Operator | Actor::System => None,
        };
        EntryColumns {
            event: receipt.event.as_str(),
            subject: receipt.principal.map(|m| m.to_string()),
            actor,
            service: receipt.service.map(|s| s.to_string()),
        }
    }
}

/// Appends one entry to the family's log inside `tx` (the caller's state change commits with it); returns its index.
/// A batch of one of [`append_family`], with no policy version: it is never stale.
pub(crate) async fn append(tx: &mut sqlx::Transaction<'_, sqlx::Any>, backend: Backend, draft: ReceiptDraft) -> Result<u64> {
    let family = draft.family();
    let (outcomes, _) = append_family(tx, backend, family, vec![(None, draft)], None).await?;
    match outcomes.first() {
        Some(Appended::At(index)) => Ok(*index),
        // INVARIANT: an append without a policy version is never stale.
        _ => Err(Error::LedgerBroken { family, index: 0, reason: "an unconditional append was refused".to_owned() }),
    }
}

/// Appends one family's drafts inside `tx` with a handful of statements whatever their number: the one
/// implementation of storing entries and tree nodes (`ledger::append` is a batch of one). A draft with a policy
/// version is stored only if that version is still the family's (else it is answered stale, to be decided again).
pub(crate) async fn append_family(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    family: FamilyId,
    jobs: Vec<(Option<i64>, ReceiptDraft)>,
    known: Option<&Frontier>,
) -> Result<(Vec<Appended>, Frontier)> {
    let family_text = family.to_string();
    // Move the head first, by as many entries as there are drafts: that takes the family's write lock (SQLite's
    // is already held; PostgreSQL locks the row), so from here on no one else can append to this family, nor change
    // its policies (which logs an entry), until we commit. Then the family's version: on SQLite in the same
    // statement (the write lock was taken before anything was read); on PostgreSQL in the next one, whose snapshot
    // is taken after the lock was granted, so that it sees a change whose transaction held the lock before us.
    let k = jobs.len() as i64;
    let (first, current): (u64, Option<i64>) = match backend {
        Backend::Sqlite => {
            let row = sqlx::query("UPDATE ledger_heads SET size = size + $1 WHERE family_id = $2 RETURNING size, (SELECT version FROM families WHERE id = $2)")
                .bind(k)
                .bind(&family_text)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(Error::FamilyNotFound(family))?;
            ((row.get::<i64, _>(0) - k) as u64, row.get(1))
        }
        Backend::Postgres => {
            let size: i64 = sqlx::query("UPDATE ledger_heads SET size = size + $1 WHERE family_id = $2 RETURNING size")
                .bind(k)
                .bind(&family_text)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(Error::FamilyNotFound(family))?
                .get(0);
            let version = sqlx::query("SELECT version FROM families WHERE id = $1").bind(&family_text).fetch_optional(&mut **tx).await?.map(|r| r.get(0));
            ((size - k) as u64, version)
        }
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut drafts = Vec::with_capacity(jobs.len());
    for (version, draft) in jobs {
        match version {
            // Decided under policies no longer in force (or of a family now erased): not logged; decide again.
            Some(v) if Some(v) != current => outcomes.push(None),
            _ => {
                outcomes.push(Some(drafts.len()));
                drafts.push(draft);
            }
        }
    }
    if drafts.len() as i64 != k {
        // Some drafts were stale: the head moves by the others only.
        sqlx::query("UPDATE ledger_heads SET size = $1 WHERE family_id = $2").bind((first + drafts.len() as u64) as i64).bind(&family_text).execute(&mut **tx).await?;
    }
    if drafts.is_empty() {
        let frontier = match known {
            Some(f) if f.size == first => f.clone(),
            _ => Frontier { size: u64::MAX, nodes: Vec::new() },
        };
        return Ok((outcomes.into_iter().map(|_| Appended::Stale).collect(), frontier));
    }
    let entries = drafts
        .into_iter()
        .map(|draft| {
            let created_at = to_millis(draft.time());
            let receipt = draft.into_receipt();
            (receipt.canonical_bytes(), created_at, EntryColumns::of(&receipt))
        })
        .collect();
    let frontier = store_batch(tx, family, first, entries, known).await?;
    let outcomes = outcomes.into_iter().map(|o| o.map_or(Appended::Stale, |i| Appended::At(first + i as u64))).collect();
    Ok((outcomes, frontier))
}

/// Appends entries kept elsewhere, byte for byte (a family's log brought from its archive), inside `tx`: each must
/// be a canonical receipt of this family. The tree's nodes are computed here, as for any append. `known` is the
/// frontier the previous batch returned.
pub(crate) async fn append_verbatim(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    family: FamilyId,
    entries: Vec<Vec<u8>>,
    known: Option<&Frontier>,
) -> Result<Frontier> {
    let k = entries.len() as i64;
    let size: i64 = sqlx::query("UPDATE ledger_heads SET size = size + $1 WHERE family_id = $2 RETURNING size")
        .bind(k)
        .bind(family.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::FamilyNotFound(family))?
        .get(0);
    let first = (size - k) as u64;
    let mut rows = Vec::with_capacity(entries.len());
    for (offset, bytes) in entries.into_iter().enumerate() {
        let index = first + offset as u64;
        let receipt = Receipt::from_canonical(&bytes).map_err(|e| Error::LedgerBroken { family, index, reason: format!("the entry is not a canonical receipt: {e}") })?;
        if receipt.family != family {
            return Err(Error::LedgerBroken { family, index, reason: "the entry belongs to another family".to_owned() });
        }
        let columns = EntryColumns::of(&receipt);
        rows.push((bytes, to_millis(receipt.time), columns));
    }
    store_batch(tx, family, first, rows, known).await
}

/// Stores entries from index `first` on (the head already moved past them) and the tree nodes they complete,
/// computed from the frontier before them (`known`, or read from the tree); returns the frontier after them.
async fn store_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    family: FamilyId,
    first: u64,
    batch: Vec<(Vec<u8>, i64, EntryColumns)>,
    known: Option<&Frontier>,
) -> Result<Frontier> {
    let family_text = family.to_string();
    let mut nodes: HashMap<NodeKey, Hash> = HashMap::new();
    // The frontier before this batch: every left sibling a new leaf needs is in it or computed in this batch.
    match known {
        Some(frontier) if frontier.size == first => nodes.extend(frontier.nodes.iter().copied()),
        _ => {
            for key in tlog::root_keys(first) {
                let row = sqlx::query("SELECT hash FROM ledger_nodes WHERE family_id = $1 AND level = $2 AND idx = $3")
                    .bind(&family_text)
                    .bind(key.level as i64)
                    .bind(key.index as i64)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or_else(|| Error::LedgerBroken { family, index: key.index << key.level, reason: "a tree node is missing".to_owned() })?;
                nodes.insert(key, to_hash(family, key.index << key.level, row.get(0))?);
            }
        }
    }
    let mut entries: Vec<(i64, Vec<u8>, i64, EntryColumns)> = Vec::with_capacity(batch.len());
    let mut new_nodes: Vec<(NodeKey, Hash)> = Vec::with_capacity(2 * batch.len());
    for (offset, (bytes, created_at, columns)) in batch.into_iter().enumerate() {
        let index = first + offset as u64;
        let siblings = tlog::append_plan(index)
            .into_iter()
            .map(|key| nodes.get(&key).copied().ok_or_else(|| Error::LedgerBroken { family, index: key.index << key.level, reason: "a tree node is missing".to_owned() }))
            .collect::<Result<Vec<_>>>()?;
        let completed = tlog::append(index, tlog::leaf_hash(&bytes), &siblings).map_err(|e| Error::LedgerBroken { family, index, reason: e.to_string() })?;
        for (key, hash) in completed {
            nodes.insert(key, hash);
            new_nodes.push((key, hash));
        }
        entries.push((index as i64, bytes, created_at, columns));
    }
    let end = first + entries.len() as u64;
    for chunk in chunks(&entries) {
        let sql = multi_row("INSERT INTO ledger_entries (family_id, idx, entry, created_at, event, subject_id, actor_id, service_id) VALUES ", chunk.len(), 8);
        // Only placeholders are spliced into the text: no value reaches the SQL.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (index, bytes, created_at, columns) in chunk {
            query = query
                .bind(&family_text)
                .bind(*index)
                .bind(bytes.clone())
                .bind(*created_at)
                .bind(columns.event)
                .bind(columns.subject.clone())
                .bind(columns.actor.clone())
                .bind(columns.service.clone());
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in chunks(&new_nodes) {
        let sql = multi_row("INSERT INTO ledger_nodes (family_id, level, idx, hash) VALUES ", chunk.len(), 4);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, hash) in chunk {
            query = query.bind(&family_text).bind(key.level as i64).bind(key.index as i64).bind(hash.to_vec());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(Frontier { size: end, nodes: tlog::root_keys(end).into_iter().filter_map(|key| nodes.get(&key).map(|h| (key, *h))).collect() })
}

/// A stored hash, which must be 32 bytes; `index` is the first entry the node covers.
pub(super) fn to_hash(family: FamilyId, index: u64, bytes: Vec<u8>) -> Result<Hash> {
    bytes.try_into().map_err(|_| Error::LedgerBroken { family, index, reason: "a stored hash is not 32 bytes".to_owned() })
}

/// A family's frontier: the perfect subtrees of its tree at `size`, all an append needs to read.
#[derive(Debug, Clone)]
pub(crate) struct Frontier {
    size: u64,
    nodes: Vec<(NodeKey, Hash)>,
}

/// Splits rows into chunks for multi-row inserts: one chunk of up to 32 rows (the usual batch), larger ones in
/// chunks of 128, 64, … rows, so that the statements come in a few shapes that stay in the connection's cache.
fn chunks<T>(rows: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let size = match rest.len() {
            n if n <= EXACT_ROWS => n,
            n if n >= ROWS_PER_INSERT => ROWS_PER_INSERT,
            n => 1 << (usize::BITS - 1 - n.leading_zeros()),
        };
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

/// `prefix` followed by `rows` groups of `columns` numbered placeholders.
fn multi_row(prefix: &str, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 6);
    sql.push_str(prefix);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let placeholders: Vec<String> = (1..=columns).map(|c| format!("${}", columns * r + c)).collect();
        sql.push_str(&format!("({})", placeholders.join(", ")));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_into_a_few_shapes() {
        let rows = [0u8; 300];
        let sizes: Vec<usize> = chunks(&rows).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![128, 128, 32, 12]);
        assert_eq!(chunks(&rows[..20]).len(), 1);
        assert_eq!(chunks(&rows[..100]).iter().map(|c| c.len()).collect::<Vec<_>>(), vec![64, 32, 4]);
        assert!(chunks::<u8>(&[]).is_empty());
        assert_eq!(multi_row("X ", 2, 4), "X ($1, $2, $3, $4), ($5, $6, $7, $8)");
    }

}
