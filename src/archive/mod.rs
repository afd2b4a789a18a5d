//! A family's archive (`docs/archive-format.md`), for the command line and the API: written as a stream under the
//! exporter's permits (`export`), checked without importing (`verify`), and imported into a vault (`import`).
//! The container is `cartable-export`'s; what goes in it is decided here.

mod export;
mod import;
mod lines;
mod page;
mod upload;
mod verify;

pub(crate) use export::{ExportSummary, Exporter, OperatorExport, Sealing, write_archive};
pub(crate) use import::{ImportProgress, import_archive};
pub(crate) use upload::{UploadError, import_upload};
pub(crate) use verify::{open_archive, report, verify_archive};
