//! The byte layout of saved state: length-prefixed fields, read back with bounds checks.
//!
//! Nothing here trusts its input: every length is checked against what is left, so garbage gives
//! [`Malformed`], never a panic or a huge allocation.

use std::collections::HashMap;

use zeroize::Zeroizing;

/// Saved state that does not parse.
#[derive(Debug)]
pub(crate) struct Malformed;

/// Appends fields to a buffer that wipes itself on drop (the state it holds is secret).
pub(crate) struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    pub(crate) fn new(magic: &[u8; 4]) -> Self {
        let mut buf = Zeroizing::new(Vec::new());
        buf.extend_from_slice(magic);
        Self { buf }
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) {
        // INVARIANT: every field written here is far below 4 GiB (MLS state and identities).
        self.u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        self.buf.extend_from_slice(value);
    }

    /// The storage provider's map, in key order so that equal states give equal bytes.
    pub(crate) fn map(&mut self, map: &HashMap<Vec<u8>, Vec<u8>>) {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        self.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
        for (key, value) in entries {
            self.bytes(key);
            self.bytes(value);
        }
    }

    pub(crate) fn finish(self) -> Zeroizing<Vec<u8>> {
        self.buf
    }
}

/// Reads fields back in the order they were written.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading after `magic`, which must open the bytes.
    pub(crate) fn new(bytes: &'a [u8], magic: &[u8; 4]) -> Result<Self, Malformed> {
        match bytes.strip_prefix(magic.as_slice()) {
            Some(rest) => Ok(Self { rest }),
            None => Err(Malformed),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        if self.rest.len() < len {
            return Err(Malformed);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.take(4)?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_be_bytes(array))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub(crate) fn map(&mut self) -> Result<HashMap<Vec<u8>, Vec<u8>>, Malformed> {
        let count = self.u32()? as usize;
        // Each entry takes at least 8 bytes: a count larger than that is a lie, not an allocation.
        if count > self.rest.len() / 8 {
            return Err(Malformed);
        }
        let mut map = HashMap::with_capacity(count);
        for _ in 0..count {
            let key = self.bytes()?.to_vec();
            let value = self.bytes()?.to_vec();
            if map.insert(key, value).is_some() {
                return Err(Malformed);
            }
        }
        Ok(map)
    }

    /// Fails if bytes are left over.
    pub(crate) fn end(self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncations() {
        let mut map = HashMap::new();
        map.insert(b"k1".to_vec(), b"v1".to_vec());
        map.insert(b"k0".to_vec(), Vec::new());
        let mut w = Writer::new(b"TEST");
        w.u32(7);
        w.bytes(b"hello");
        w.map(&map);
        let bytes = w.finish();

        let mut r = Reader::new(&bytes, b"TEST").unwrap();
        assert_eq!(r.u32().unwrap(), 7);
        assert_eq!(r.bytes().unwrap(), b"hello");
        assert_eq!(r.map().unwrap(), map);
        r.end().unwrap();

        for cut in 0..bytes.len() {
            let parsed = Reader::new(&bytes[..cut], b"TEST").and_then(|mut r| {
                r.u32()?;
                r.bytes()?;
                r.map()?;
                r.end()
            });
            assert!(parsed.is_err(), "a cut at {cut} parsed");
        }
        assert!(Reader::new(&bytes, b"NOPE").is_err());
    }

    #[test]
    fn huge_counts_are_refused_without_allocating() {
        let mut bytes = b"TEST".to_vec();
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Reader::new(&bytes, b"TEST").unwrap().map().is_err());
        assert!(Reader::new(&bytes, b"TEST").unwrap().bytes().is_err());
    }
}
