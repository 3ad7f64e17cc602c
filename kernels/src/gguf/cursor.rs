//! A bounds-checked little-endian reader over the file bytes.

use super::error::GgufError;

/// Position in a byte slice; every read checks the remaining length first.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    pub(crate) fn take(
        &mut self,
        n: u64,
        what: impl Fn() -> String,
    ) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what: what(),
                offset: self.pos as u64,
                need: n,
                have: self.remaining(),
            });
        }
        let n = n as usize;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let b = self.take(N as u64, || what.to_string())?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A string value of metadata `key`; messages are only formatted on error, since a
    /// tokenizer array holds hundreds of thousands of them.
    pub(crate) fn string_of(&mut self, key: &str) -> Result<String, GgufError> {
        let len = u64::from_le_bytes(
            self.take(8, || format!("length of string value of `{key}`"))?
                .try_into()
                .unwrap_or([0; 8]),
        );
        let offset = self.pos as u64;
        let bytes = self.take(len, || format!("string value of `{key}`"))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::BadUtf8 {
            what: format!("string value of `{key}`"),
            offset,
        })
    }

    /// A GGUF string: u64 length, then that many UTF-8 bytes.
    pub(crate) fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(&format!("length of {what}"))?;
        let offset = self.pos as u64;
        let bytes = self.take(len, || what.to_string())?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::BadUtf8 {
            what: what.to_string(),
            offset,
        })
    }
}
