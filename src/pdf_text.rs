//! The child process that reads a PDF's text for the search index (`cartable extract-pdf-text`, hidden): the vault
//! runs it with the PDF on standard input and reads the text on standard output. A hostile PDF can make a parser
//! loop, exhaust memory or overflow its stack; here that ends this process only, which limits its own memory, CPU
//! time and file writes before it reads a byte, and the vault kills it after a while.

use std::io::{Read, Write};
use std::process::ExitCode;

/// The largest PDF read (the vault sends no more).
const MAX_PDF_BYTES: u64 = 32 << 20;
/// The most text written back.
const MAX_TEXT_BYTES: usize = 1 << 20;
/// The most a page's content streams may inflate to.
const MAX_DECOMPRESSED: usize = 64 << 20;
/// The most pages read.
const MAX_PAGES: usize = 2_000;

/// Runs the child: exit 0 with the text on standard output, or 1 (nothing said: standard error is not read).
pub fn child_main() -> ExitCode {
    if limit_this_process().is_err() {
        return ExitCode::FAILURE;
    }
    let mut pdf = Vec::new();
    if std::io::stdin().take(MAX_PDF_BYTES + 1).read_to_end(&mut pdf).is_err() || pdf.len() as u64 > MAX_PDF_BYTES {
        return ExitCode::FAILURE;
    }
    let Some(text) = text_of_pdf(&pdf) else { return ExitCode::FAILURE };
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// 1 GiB of address space, 10 s of CPU, no file written, no core dump.
fn limit_this_process() -> rustix::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = |n: u64| Rlimit { current: Some(n), maximum: Some(n) };
    setrlimit(Resource::As, limit(1 << 30))?;
    setrlimit(Resource::Cpu, limit(10))?;
    setrlimit(Resource::Fsize, limit(0))?;
    setrlimit(Resource::Core, limit(0))
}

/// The text of a PDF, page by page; `None` when it does not parse.
pub fn text_of_pdf(pdf: &[u8]) -> Option<String> {
    let document = lopdf::Document::load_mem(pdf).ok()?;
    let mut text = String::new();
    for page in document.get_pages().keys().take(MAX_PAGES) {
        // A page whose text cannot be read is skipped; the others still count.
        if let Ok(words) = document.extract_text_with_limit(&[*page], MAX_DECOMPRESSED) {
            text.push_str(&words);
            text.push('\n');
        }
        if text.len() >= MAX_TEXT_BYTES {
            break;
        }
    }
    let mut end = text.len().min(MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    Some(text)
}
