//! A OneRoster CSV set (a folder, or a zip of it) for the pupils the operator maps to children: their enrollments
//! as `edu.enrollments` and their results as `edu.grades`, keyed by the rows' `sourcedId`s; other pupils' rows are
//! read and dropped, never stored.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::anyhow;
use cartable_consent::ledger::ImportFormat;
use cartable_consent::{Doctype, MemberId};
use cartable_formats::oneroster::{self, ReadLimits};

use super::{Item, Problem, Read, Source};

/// Where a set is read from.
pub(crate) enum Set {
    /// A folder holding `manifest.csv` and the rest, or a zip of them (at its root).
    Path(PathBuf),
    /// A zip held in memory (an upload).
    Zip(bytes::Bytes),
}

/// The most bytes one file of a zipped set may inflate to.
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

pub(crate) struct Roster {
    pub(crate) set: Set,
    /// `sourcedId` → child.
    pub(crate) children: HashMap<String, MemberId>,
}

impl Source for Roster {
    fn format(&self) -> ImportFormat {
        ImportFormat::OneRoster
    }

    fn read(&self, each: &mut dyn FnMut(Read)) -> anyhow::Result<()> {
        let roster = match &self.set {
            Set::Path(path) if path.is_dir() => {
                let dir = path.clone();
                let mut open = move |name: &str| -> std::io::Result<Option<Box<dyn std::io::Read>>> {
                    match std::fs::File::open(dir.join(name)) {
                        Ok(file) => Ok(Some(Box::new(file))),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e),
                    }
                };
                oneroster::read_set(&mut open, &self.children, ReadLimits::STANDARD)
            }
            Set::Path(path) => {
                let file = std::fs::File::open(path).map_err(|e| anyhow!("the set cannot be read ({})", e.kind()))?;
                read_zip(file, &self.children)?
            }
            Set::Zip(bytes) => read_zip(std::io::Cursor::new(bytes.clone()), &self.children)?,
        }
        .map_err(|e| anyhow!("the OneRoster set cannot be read: {e}"))?;
        for problem in roster.problems {
            let path = match &problem.column {
                Some(column) => format!("{}:{column}", problem.file),
                None => problem.file.clone(),
            };
            // A row is about no collection in particular: the report counts it, the entries do not.
            each(Read::Problem(Problem { line: problem.line, rule: problem.rule.to_owned(), path, message: problem.message }, None));
        }
        for (child, record) in roster.records {
            let doctype = Doctype::from_str(record.doctype).map_err(|e| anyhow!("{e}"))?;
            each(Read::Item(Item { child, doctype, key: record.dedupe_key, body: record.body }));
        }
        Ok(())
    }
}

/// A set zipped at its root: each file read whole (a set's files are small) and bounded, so a zip bomb stops there.
fn read_zip(zip: impl std::io::Read + std::io::Seek, children: &HashMap<String, MemberId>) -> anyhow::Result<Result<oneroster::Roster<MemberId>, oneroster::OneRosterError>> {
    let mut archive = zip::ZipArchive::new(zip).map_err(|_| anyhow!("the set is neither a folder nor a zip"))?;
    let mut open = move |name: &str| -> std::io::Result<Option<Box<dyn std::io::Read>>> {
        let mut entry = match archive.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "an entry of the zip cannot be read")),
        };
        let mut bytes = Vec::new();
        (&mut entry).take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "an entry of the zip is too large"));
        }
        Ok(Some(Box::new(std::io::Cursor::new(bytes))))
    };
    Ok(oneroster::read_set(&mut open, children, ReadLimits::STANDARD))
}
