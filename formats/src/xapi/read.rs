//! Statements read from a byte stream one at a time: a single object, an array, or one statement per line.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufReader, Read};
use std::ops::ControlFlow;
use std::rc::Rc;

use serde::de::{self, Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;

use super::json::Tracked;
use super::records::{self, InvalidStatement, ValidStatement};

/// Where a statement was found in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The statement's rank in the input, from 0.
    pub index: u64,
    /// The line (from 1) of the statement's first byte.
    pub line: u64,
}

/// One statement as read, not yet validated: any JSON value (validation says whether it is an object).
#[derive(Debug, Clone, PartialEq)]
pub struct RawStatement {
    /// With the last of a repeated key's values.
    pub value: Value,
    pub position: Position,
    /// The JSON paths of keys given more than once in one object, which `value` cannot show.
    pub repeated_keys: Vec<String>,
}

impl RawStatement {
    /// [`validate`](super::validate), and a `property.repeated` violation for each key given twice.
    pub fn validate(self) -> Result<ValidStatement, InvalidStatement> {
        records::validate_with_repeated(self.value, self.repeated_keys)
    }
}

/// How much one statement may take, so that memory stays bounded per statement whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// The most bytes of input one statement may span (with the separators before it).
    pub max_statement_bytes: u64,
}

impl ReadLimits {
    /// 1 MiB: statements carry attachments' metadata, never their content, so real ones are a few KiB.
    pub const STANDARD: ReadLimits = ReadLimits { max_statement_bytes: 1024 * 1024 };
}

/// Why the input could not be read to its end; the statements handed out before it stay valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("statement {index} is not well-formed JSON at line {line} column {column}: {reason}")]
    Malformed { index: u64, line: u64, column: u64, reason: String },
    #[error("statement {index} is nested deeper than 128 levels at line {line} column {column}")]
    TooDeep { index: u64, line: u64, column: u64 },
    #[error("the input ends inside statement {index} at line {line} column {column}")]
    Truncated { index: u64, line: u64, column: u64 },
    #[error("statement {index} is larger than {limit} bytes")]
    TooLarge { index: u64, limit: u64 },
    #[error("the input could not be read")]
    Io(#[source] io::Error),
}

/// Hands each statement of `input` to `on_statement` in order, keeping only one in memory at a time, and returns how
/// many were handed out. The shape is told by the first byte that is not whitespace (after an optional UTF-8 byte
/// order mark): `[` is an array of statements; anything else is a sequence of values separated by whitespace, which
/// covers one statement and JSON lines alike. `ControlFlow::Break` stops reading at once.
pub fn read_statements<R: Read>(
    input: R,
    limits: ReadLimits,
    mut on_statement: impl FnMut(RawStatement) -> ControlFlow<()>,
) -> Result<u64, ReadError> {
    let progress = Rc::new(Progress::new(limits.max_statement_bytes));
    let mut reader = Counting { inner: BufReader::with_capacity(64 * 1024, input), progress: progress.clone() };
    let Some(first) = first_significant_byte(&mut reader).map_err(|e| progress.io_error(e))? else { return Ok(0) };
    let peeked = [first];
    let mut de = serde_json::Deserializer::from_reader((&peeked[..]).chain(reader));
    if first == b'[' {
        let handed = Cell::new(0);
        let visitor = ArrayVisitor { progress: &progress, on_statement: &mut on_statement, handed: &handed };
        match de.deserialize_seq(visitor) {
            Ok(()) => {}
            Err(_) if progress.stopped.get() => return Ok(handed.get()),
            Err(e) => return Err(progress.error(e)),
        }
        de.end().map_err(|e| progress.error(e))?;
        Ok(handed.get())
    } else {
        let mut handed = 0;
        for tracked in de.into_iter::<Tracked>() {
            let Tracked { value, repeated } = tracked.map_err(|e| progress.error(e))?;
            let position = progress.next_statement();
            handed += 1;
            if on_statement(RawStatement { value, position, repeated_keys: repeated }).is_break() {
                break;
            }
        }
        Ok(handed)
    }
}

/// Skips whitespace and a leading byte order mark; the first other byte, or `None` for an empty input.
fn first_significant_byte(reader: &mut impl Read) -> io::Result<Option<u8>> {
    let mut byte = [0u8];
    let mut read = 0u64;
    let mut bom = 0;
    loop {
        if reader.read(&mut byte)? == 0 {
            return Ok(None);
        }
        read += 1;
        match byte[0] {
            // INVARIANT: the mark is only skipped whole and only at the very start.
            0xEF if read == 1 => bom = 1,
            0xBB if bom == 1 && read == 2 => bom = 2,
            0xBF if bom == 2 && read == 3 => bom = 3,
            b' ' | b'\t' | b'\r' | b'\n' if bom == 0 || bom == 3 => {}
            other => return Ok(Some(other)),
        }
    }
}

/// What the counting reader has seen: lines, the bytes of the statement in progress, where it started.
struct Progress {
    limit: u64,
    line: Cell<u64>,
    statement_bytes: Cell<u64>,
    /// The line of the statement in progress's first byte, once seen.
    start_line: Cell<Option<u64>>,
    index: Cell<u64>,
    over_limit: Cell<bool>,
    stopped: Cell<bool>,
}

impl Progress {
    fn new(limit: u64) -> Progress {
        Progress {
            limit,
            line: Cell::new(1),
            statement_bytes: Cell::new(0),
            start_line: Cell::new(None),
            index: Cell::new(0),
            over_limit: Cell::new(false),
            stopped: Cell::new(false),
        }
    }

    fn saw(&self, byte: u8) -> io::Result<()> {
        if self.start_line.get().is_none() && !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']') {
            self.start_line.set(Some(self.line.get()));
        }
        if byte == b'\n' {
            self.line.set(self.line.get() + 1);
        }
        let bytes = self.statement_bytes.get() + 1;
        self.statement_bytes.set(bytes);
        if bytes > self.limit {
            self.over_limit.set(true);
            return Err(io::Error::other("statement over the size limit"));
        }
        Ok(())
    }

    /// The position of the statement just parsed; the counts start again for the next one.
    fn next_statement(&self) -> Position {
        let position = Position { index: self.index.get(), line: self.start_line.take().unwrap_or(self.line.get()) };
        self.index.set(position.index + 1);
        self.statement_bytes.set(0);
        position
    }

    fn io_error(&self, error: io::Error) -> ReadError {
        if self.over_limit.get() { ReadError::TooLarge { index: self.index.get(), limit: self.limit } } else { ReadError::Io(error) }
    }

    fn error(&self, error: serde_json::Error) -> ReadError {
        let (index, line, column) = (self.index.get(), error.line() as u64, error.column() as u64);
        match error.classify() {
            serde_json::error::Category::Io => self.io_error(error.into()),
            serde_json::error::Category::Eof => ReadError::Truncated { index, line, column },
            // serde_json names its recursion limit in its message only; the text has been stable since 1.0.
            _ if error.to_string().starts_with("recursion limit exceeded") => ReadError::TooDeep { index, line, column },
            _ => ReadError::Malformed { index, line, column, reason: reason_of(&error) },
        }
    }
}

/// serde_json's message without the position it appends (the error carries it apart).
fn reason_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Counts what the parser takes, byte by byte (serde_json reads a `Read` one byte at a time).
struct Counting<R> {
    inner: R,
    progress: Rc<Progress>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            self.progress.saw(byte)?;
        }
        Ok(n)
    }
}

struct ArrayVisitor<'a, F> {
    progress: &'a Progress,
    on_statement: &'a mut F,
    handed: &'a Cell<u64>,
}

impl<'de, F: FnMut(RawStatement) -> ControlFlow<()>> Visitor<'de> for ArrayVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of statements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(Tracked { value, repeated }) = seq.next_element::<Tracked>()? {
            let position = self.progress.next_statement();
            self.handed.set(self.handed.get() + 1);
            if (self.on_statement)(RawStatement { value, position, repeated_keys: repeated }).is_break() {
                self.progress.stopped.set(true);
                return Err(de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> Result<Vec<RawStatement>, ReadError> {
        let mut out = Vec::new();
        read_statements(input, ReadLimits::STANDARD, |s| {
            out.push(s);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    #[test]
    fn the_three_shapes_give_values_with_their_lines() {
        let one = read_all(b"\n\n  {\"a\": 1}\n").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].position, Position { index: 0, line: 3 });

        let array = read_all(b"[\n{\"a\": 1},\n\n {\"a\": 2}\n]").unwrap();
        assert_eq!(array.iter().map(|s| s.position.line).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(array[1].value["a"], 2);

        let lines = read_all(b"{\"a\": 1}\n{\"a\": 2}\r\n\n{\"a\": 3}").unwrap();
        assert_eq!(lines.iter().map(|s| (s.position.index, s.position.line)).collect::<Vec<_>>(), [(0, 1), (1, 2), (2, 4)]);
    }

    #[test]
    fn a_byte_order_mark_and_an_empty_input_are_fine() {
        assert_eq!(read_all(b"\xEF\xBB\xBF[{\"a\": 1}]").unwrap().len(), 1);
        assert!(read_all(b"").unwrap().is_empty());
        assert!(read_all(b" \n ").unwrap().is_empty());
        assert!(read_all(b"[]").unwrap().is_empty());
    }

    #[test]
    fn a_break_stops_reading() {
        let mut seen = 0;
        let handed = read_statements(&b"[{}, {}, {}]"[..], ReadLimits::STANDARD, |_| {
            seen += 1;
            ControlFlow::Break(())
        });
        assert_eq!((handed.unwrap(), seen), (1, 1));
    }

    #[test]
    fn an_oversized_statement_is_refused_by_index() {
        let big = format!("[{{}}, {{\"a\": \"{}\"}}]", "x".repeat(2000));
        let limits = ReadLimits { max_statement_bytes: 1000 };
        let err = read_statements(big.as_bytes(), limits, |_| ControlFlow::Continue(())).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { index: 1, limit: 1000 }), "{err:?}");
    }

    #[test]
    fn trailing_garbage_after_an_array_is_malformed() {
        let err = read_all(b"[{}] x").unwrap_err();
        assert!(matches!(err, ReadError::Malformed { line: 1, .. }), "{err:?}");
    }
}
