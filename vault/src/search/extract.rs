//! The text of a file, for the index: plain text read here; a PDF's read by a child process (a hostile PDF can make
//! any parser loop, exhaust memory or overflow its stack, which no `catch_unwind` stops), with its time, memory and
//! output bounded. A file whose text cannot be read is still stored and found by its name; it is marked unreadable.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of a file read to index its text: a bigger one is found by its name only, and marked unreadable.
pub(crate) const MAX_FILE_BYTES: u64 = 32 << 20;
/// The most text kept of one file.
pub(crate) const MAX_TEXT_BYTES: usize = 1 << 20;
/// How long a PDF's text may take before its extractor is killed.
const PDF_TIME: Duration = Duration::from_secs(15);

/// The program that extracts a PDF's text: it reads the PDF on its standard input and writes the text, UTF-8, on
/// its standard output, exiting with 0; it limits its own memory and CPU time (`cartable` runs itself with a hidden
/// command that does). `None` in [`crate::VaultConfig`]: PDFs are stored and found by name only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextExtractor {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// What reading a file's text gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileText {
    /// Text to index.
    Text(String),
    /// A file of a kind whose text is not indexed (an image, an archive): found by its name.
    NotText,
    /// A file that should have had text but whose text could not be read (broken, hostile, too big, timed out, or
    /// a PDF without any text, such as scanned pages).
    Unreadable,
}

/// The kind of text a file holds, from its first bytes and its name.
pub(crate) fn is_pdf(head: &[u8]) -> bool {
    head.starts_with(b"%PDF-")
}

pub(crate) fn is_plain_text_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    [".txt", ".text", ".md", ".csv"].iter().any(|ext| lower.ends_with(ext))
}

/// Plain text: UTF-8 (a BOM dropped), at most [`MAX_TEXT_BYTES`] kept, cut at a character boundary.
pub(crate) fn plain_text(bytes: &[u8]) -> FileText {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let cut = &bytes[..bytes.len().min(MAX_TEXT_BYTES)];
    match std::str::from_utf8(cut) {
        Ok(text) => FileText::Text(text.to_owned()),
        // A cut through a character at the end is fine; invalid UTF-8 before it is not text.
        Err(e) if cut.len() < bytes.len() && e.error_len().is_none() => FileText::Text(String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()),
        Err(_) => FileText::Unreadable,
    }
}

/// A PDF's text through the extractor, bounded in time and output; any failure is `Unreadable`.
pub(crate) async fn pdf_text(extractor: Option<&TextExtractor>, pdf: Vec<u8>) -> FileText {
    let Some(extractor) = extractor else { return FileText::Unreadable };
    match tokio::time::timeout(PDF_TIME, run(extractor, pdf)).await {
        // A PDF without a word of text (scanned pages, or what a broken one leaves) is not searchable: said so.
        Ok(Some(text)) if text.trim().is_empty() => FileText::Unreadable,
        Ok(Some(text)) => FileText::Text(text),
        Ok(None) => FileText::Unreadable,
        Err(_) => {
            tracing::info!("a PDF's text extraction timed out; the file is stored, not indexed");
            FileText::Unreadable
        }
    }
}

async fn run(extractor: &TextExtractor, pdf: Vec<u8>) -> Option<String> {
    let mut child = tokio::process::Command::new(&extractor.program)
        .args(&extractor.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Killed when the timeout drops this future.
        .kill_on_drop(true)
        .spawn()
        .inspect_err(|e| tracing::warn!(error = %e, "the PDF text extractor could not be started"))
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let mut stdout = child.stdout.take()?;
    let feed = async move {
        // The child may stop reading (a parse error): a broken pipe here is its answer, not ours.
        let _ = stdin.write_all(&pdf).await;
        drop(stdin);
    };
    let mut text = Vec::new();
    let read = async {
        let mut limited = (&mut stdout).take(MAX_TEXT_BYTES as u64 + 1);
        limited.read_to_end(&mut text).await.ok()
    };
    let ((), read) = tokio::join!(feed, read);
    read?;
    let status = child.wait().await.ok()?;
    if !status.success() {
        tracing::info!(status = ?status.code(), "a PDF's text could not be read; the file is stored, not indexed");
        return None;
    }
    text.truncate(MAX_TEXT_BYTES);
    match String::from_utf8(text) {
        Ok(text) => Some(text),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_utf8_or_unreadable() {
        assert_eq!(plain_text("\u{feff}élève".as_bytes()), FileText::Text("élève".to_owned()));
        assert_eq!(plain_text(b"\xff\xfe binary"), FileText::Unreadable);
        let long = "é".repeat(MAX_TEXT_BYTES);
        let FileText::Text(cut) = plain_text(long.as_bytes()) else { panic!("long text is text") };
        assert!(cut.len() <= MAX_TEXT_BYTES && cut.chars().all(|c| c == 'é'));
        assert!(is_pdf(b"%PDF-1.7\n"));
        assert!(is_plain_text_name("Notes.TXT") && !is_plain_text_name("photo.jpg"));
    }

    #[tokio::test]
    async fn an_extractor_that_fails_or_hangs_gives_unreadable() {
        let failing = TextExtractor { program: "false".into(), args: vec![] };
        assert_eq!(pdf_text(Some(&failing), b"%PDF-1.4".to_vec()).await, FileText::Unreadable);
        let missing = TextExtractor { program: "/nonexistent/extractor".into(), args: vec![] };
        assert_eq!(pdf_text(Some(&missing), b"%PDF-1.4".to_vec()).await, FileText::Unreadable);
        assert_eq!(pdf_text(None, b"%PDF-1.4".to_vec()).await, FileText::Unreadable);
        let echo = TextExtractor { program: "cat".into(), args: vec![] };
        assert_eq!(pdf_text(Some(&echo), "bulletin".as_bytes().to_vec()).await, FileText::Text("bulletin".to_owned()));
    }
}
