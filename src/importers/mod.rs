//! Importers: an open format read by `cartable-formats`, written into the vault as one record import, the same for
//! the command line and the API.
//!
//! A run reads its input twice. The first pass checks every item and writes nothing: with an item refused, the run
//! stops there unless it is partial. The second pass writes the valid items in batches, inside the one transaction
//! of [`cartable_vault::RecordImport`], so a run is whole or nothing, and an interrupted one leaves nothing. The
//! input must read the same both times; a run that meets anything else writes nothing.

pub(crate) mod badges;
pub(crate) mod files;
pub(crate) mod oneroster;
pub(crate) mod xapi;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use anyhow::anyhow;
use cartable_consent::ledger::ImportFormat;
use cartable_consent::{Doctype, MemberId};
use cartable_vault::{IMPORT_BATCH, ImportItem, ImportedCollection, Permit, Vault};
use serde::Serialize;

/// The most refused items a report lists one by one (the count is always whole).
pub(crate) const MAX_LISTED_PROBLEMS: usize = 1000;
/// A batch of the writing pass ends at [`IMPORT_BATCH`] items or at this many bytes of bodies, whichever comes first:
/// statements may be up to 1 MiB each, and two batches wait in the channel while one is written.
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// One record an input gives, for one child's collection.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) child: MemberId,
    pub(crate) doctype: Doctype,
    /// What makes importing it twice harmless (a statement's id).
    pub(crate) key: String,
    pub(crate) body: serde_json::Value,
}

/// An item refused by its format's rules: where it is, the rule, the place inside it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Problem {
    /// Where the item starts: its line (from 1) in a stream of items (xAPI), or its rank in a document that holds
    /// several (a CLR: 1 for itself, then the credentials it includes).
    pub(crate) line: u64,
    pub(crate) rule: String,
    pub(crate) path: String,
    pub(crate) message: String,
}

/// What a source hands out, in input order.
pub(crate) enum Read {
    Item(Item),
    /// An item refused, and the collection it was meant for when it is known (that collection's ledger entry counts
    /// it; a line of a file about no child in particular counts in the report only).
    Problem(Problem, Option<(MemberId, Doctype)>),
}

/// An input in one format, which can be read from its start as many times as asked (a file, bytes in memory).
pub(crate) trait Source: Send + Sync + 'static {
    fn format(&self) -> ImportFormat;
    /// Reads the whole input, handing each item and problem to `each`; an input that cannot be read to its end (not
    /// the format at all, malformed, truncated) is an error, and what was handed out before it is not imported.
    fn read(&self, each: &mut dyn FnMut(Read)) -> anyhow::Result<()>;
}

/// Told how a run goes, for a progress bar.
pub(crate) trait Progress: Send + Sync {
    /// The run begins its writing pass.
    fn writing(&self) {}
    /// One more item read (valid or not) in the current pass.
    fn item(&self, _refused: bool) {}
}

/// No progress shown (the API).
pub(crate) struct Quiet;
impl Progress for Quiet {}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) format: &'static str,
    /// Whether anything was written: false when the run stopped at its check.
    pub(crate) written: bool,
    pub(crate) imported: u64,
    pub(crate) duplicates: u64,
    pub(crate) rejected: u64,
    /// The first [`MAX_LISTED_PROBLEMS`] items refused, in input order.
    pub(crate) problems: Vec<Problem>,
    pub(crate) collections: Vec<CollectionReport>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CollectionReport {
    pub(crate) child: MemberId,
    pub(crate) doctype: Doctype,
    pub(crate) imported: u64,
    pub(crate) duplicates: u64,
}

impl From<ImportedCollection> for CollectionReport {
    fn from(c: ImportedCollection) -> Self {
        CollectionReport { child: c.child, doctype: c.doctype, imported: c.imported, duplicates: c.duplicates }
    }
}

/// What the first pass found.
struct Checked {
    items: u64,
    collections: BTreeSet<(MemberId, Doctype)>,
    rejected: Vec<(MemberId, Doctype, u64)>,
    refused: u64,
    problems: Vec<Problem>,
}

fn check(source: &dyn Source, progress: &dyn Progress) -> anyhow::Result<Checked> {
    let mut checked = Checked { items: 0, collections: BTreeSet::new(), rejected: Vec::new(), refused: 0, problems: Vec::new() };
    source.read(&mut |read| match read {
        Read::Item(item) => {
            progress.item(false);
            checked.items += 1;
            checked.collections.insert((item.child, item.doctype));
        }
        Read::Problem(problem, meant_for) => {
            progress.item(true);
            checked.refused += 1;
            if let Some((child, doctype)) = meant_for {
                match checked.rejected.iter_mut().find(|(c, d, _)| (*c, *d) == (child, doctype)) {
                    Some((_, _, n)) => *n += 1,
                    None => checked.rejected.push((child, doctype, 1)),
                }
            }
            if checked.problems.len() < MAX_LISTED_PROBLEMS {
                checked.problems.push(problem);
            }
        }
    })?;
    Ok(checked)
}

/// Imports `source`: checks it, asks `permit` for each collection it writes (the caller decides how: the operator's
/// or a member's or a service's decision, logged), then writes it. With an item refused and `partial` false, nothing
/// is written and the report says why.
pub(crate) async fn run<F, Fut>(vault: &Vault, source: Arc<dyn Source>, partial: bool, progress: Arc<dyn Progress>, mut permit: F) -> anyhow::Result<Report>
where
    F: FnMut(MemberId, Doctype) -> Fut,
    Fut: Future<Output = anyhow::Result<Permit>>,
{
    let format = source.format();
    let checked = {
        let (source, progress) = (source.clone(), progress.clone());
        tokio::task::spawn_blocking(move || check(&*source, &*progress)).await.map_err(|_| anyhow!("the import's check stopped"))??
    };
    let mut report = Report {
        format: format.as_str(),
        written: false,
        imported: 0,
        duplicates: 0,
        rejected: checked.refused,
        problems: checked.problems,
        collections: Vec::new(),
    };
    if checked.refused > 0 && !partial {
        return Ok(report);
    }
    // Every collection the run may write, refused items' included: their entries count them.
    let mut targets = checked.collections.clone();
    targets.extend(checked.rejected.iter().map(|(c, d, _)| (*c, *d)));
    if targets.is_empty() {
        return Ok(report);
    }
    let mut permits = Vec::with_capacity(targets.len());
    for (child, doctype) in &targets {
        permits.push(permit(*child, *doctype).await?);
    }
    let mut import = vault.begin_record_import(permits, format).await?;
    for (child, doctype, n) in &checked.rejected {
        import.count_rejected(*child, *doctype, *n)?;
    }
    progress.writing();

    // The second pass reads on a blocking thread and hands batches over a small channel: the writer's pace
    // bounds what is held in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(2);
    let reader = {
        let (source, progress) = (source.clone(), progress.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, u64)> {
            let (mut items, mut refused, mut batch, mut bytes, mut stopped) = (0u64, 0u64, Vec::with_capacity(IMPORT_BATCH), 0usize, false);
            source.read(&mut |read| {
                if stopped {
                    return;
                }
                match read {
                    Read::Item(item) => {
                        progress.item(false);
                        items += 1;
                        bytes += json_size(&item.body);
                        batch.push(item);
                        if batch.len() == IMPORT_BATCH || bytes >= BATCH_BYTES {
                            bytes = 0;
                            if tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                                stopped = true;
                            }
                        }
                    }
                    Read::Problem(..) => {
                        progress.item(true);
                        refused += 1;
                    }
                }
            })?;
            if !batch.is_empty() {
                let _ = tx.blocking_send(batch);
            }
            Ok((items, refused))
        })
    };
    let written = async {
        while let Some(batch) = rx.recv().await {
            for ((child, doctype), group) in group_by_collection(batch) {
                if !targets.contains(&(child, doctype)) {
                    return Err(anyhow!("the input changed while it was imported; nothing was imported"));
                }
                import.add(child, doctype, group).await?;
            }
        }
        Ok(())
    }
    .await;
    // A writer that stopped early must not leave the reader blocked on a full channel.
    drop(rx);
    let read = reader.await.map_err(|_| anyhow!("the import's reader stopped"));
    let same = matches!(&read, Ok(Ok((items, refused))) if *items == checked.items && *refused == checked.refused);
    match (written, read) {
        (Ok(()), Ok(Ok(_))) if same => {}
        (Err(e), _) | (Ok(()), Err(e)) | (Ok(()), Ok(Err(e))) => {
            import.abort().await;
            return Err(e);
        }
        (Ok(()), Ok(Ok(_))) => {
            import.abort().await;
            return Err(anyhow!("the input changed while it was imported; nothing was imported"));
        }
    }
    let done = import.commit().await?;
    report.written = true;
    report.imported = done.imported();
    report.duplicates = done.duplicates();
    report.collections = done.collections.into_iter().map(CollectionReport::from).collect();
    Ok(report)
}

/// The bytes of a value as JSON, counted without writing them anywhere.
fn json_size(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A batch split by collection, keeping each collection's items in input order.
fn group_by_collection(batch: Vec<Item>) -> Vec<((MemberId, Doctype), Vec<ImportItem>)> {
    let mut groups: Vec<((MemberId, Doctype), Vec<ImportItem>)> = Vec::new();
    for item in batch {
        let at = (item.child, item.doctype);
        let entry = ImportItem { key: item.key, body: item.body };
        match groups.iter_mut().find(|(k, _)| *k == at) {
            Some((_, list)) => list.push(entry),
            None => groups.push((at, vec![entry])),
        }
    }
    groups
}
