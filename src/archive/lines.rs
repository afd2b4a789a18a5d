//! Streams of lines both ways: a page of lines made at a time as the archive asks for bytes ([`Paged`]), and the
//! lines of an entry handed out one by one as it is read ([`LineSink`]). A collection or a ledger never sits whole in
//! memory.

use std::io::Read;

/// Bytes made a page at a time by `next` (which appends a page to the buffer and says whether another may follow),
/// handed out as the reader asks for them.
pub(crate) struct Paged<F: FnMut(&mut Vec<u8>) -> std::io::Result<bool>> {
    next: F,
    buffer: Vec<u8>,
    at: usize,
    more: bool,
}

impl<F: FnMut(&mut Vec<u8>) -> std::io::Result<bool>> Paged<F> {
    pub(crate) fn new(next: F) -> Self {
        Paged { next, buffer: Vec::new(), at: 0, more: true }
    }
}

impl<F: FnMut(&mut Vec<u8>) -> std::io::Result<bool>> Read for Paged<F> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buffer.len() && self.more {
            self.buffer.clear();
            self.at = 0;
            self.more = (self.next)(&mut self.buffer)?;
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Lines handed to `each` as bytes stream by (an entry read through `copy_verified`), without their newline; the
/// last one, if it has none, by [`LineSink::finish`]. An error `each` returns stops the stream.
pub(crate) struct LineSink<F: FnMut(&[u8]) -> std::io::Result<()>> {
    line: Vec<u8>,
    each: F,
}

impl<F: FnMut(&[u8]) -> std::io::Result<()>> LineSink<F> {
    pub(crate) fn new(each: F) -> Self {
        LineSink { line: Vec::new(), each }
    }

    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            (self.each)(&self.line)?;
        }
        Ok(())
    }
}

impl<F: FnMut(&[u8]) -> std::io::Result<()>> std::io::Write for LineSink<F> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            match part.strip_suffix(b"\n") {
                Some(end) => {
                    self.line.extend_from_slice(end);
                    if !self.line.is_empty() {
                        (self.each)(&self.line)?;
                    }
                    self.line.clear();
                }
                None => self.line.extend_from_slice(part),
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
