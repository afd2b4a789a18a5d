//! Files as they are (PDF report cards, scans) into one collection, under their names: all in one run, so a file
//! that cannot be read leaves none of the others behind; a file already in the collection (the same bytes) is a
//! duplicate and is not stored again.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use cartable_consent::ledger::ImportFormat;
use cartable_consent::{Doctype, MemberId};
use cartable_vault::{Permit, Vault};
use serde::Serialize;

use super::{CollectionReport, Progress};

/// What a run of files did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FilesReport {
    pub(crate) format: &'static str,
    pub(crate) imported: u64,
    pub(crate) duplicates: u64,
    /// Each file given, in order: its name and its new record, or none for a duplicate.
    pub(crate) files: Vec<ImportedFile>,
    pub(crate) collections: Vec<CollectionReport>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ImportedFile {
    pub(crate) name: String,
    pub(crate) record_id: Option<cartable_consent::RecordId>,
}

/// Checks that every path is a file that can be opened, then stores them all in one run under `permit` (a permit to
/// write the collection of `child` and `doctype`).
pub(crate) async fn import_files(vault: &Vault, permit: Permit, child: MemberId, doctype: Doctype, paths: &[PathBuf], progress: &dyn Progress) -> anyhow::Result<FilesReport> {
    if paths.is_empty() {
        return Err(anyhow!("no file to import"));
    }
    let mut named = Vec::with_capacity(paths.len());
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            return Err(anyhow!("{} is not a file", path.display()));
        }
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| anyhow!("{}: a file name must be UTF-8", path.display()))?;
        named.push((path.clone(), name.to_owned()));
    }
    let mut import = vault.begin_record_import(vec![permit], ImportFormat::Files).await?;
    progress.writing();
    let mut files = Vec::with_capacity(named.len());
    for (path, name) in named {
        let added = async {
            let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            import.add_file(child, doctype, &name, Box::new(file)).await.with_context(|| format!("{name} was not imported"))
        }
        .await;
        match added {
            Ok(record_id) => files.push(ImportedFile { name, record_id }),
            Err(e) => {
                import.abort().await;
                return Err(e.context("nothing was imported"));
            }
        }
        progress.item(false);
    }
    let done = import.commit().await?;
    Ok(FilesReport {
        format: ImportFormat::Files.as_str(),
        imported: done.imported(),
        duplicates: done.duplicates(),
        files,
        collections: done.collections.into_iter().map(CollectionReport::from).collect(),
    })
}
