//! `sync --input - --watch`: stdin as a stream of JSON documents, each a complete input (e.g. the
//! output of `kubectl get ingress -A -o json` run in a loop). Each document is handed on as its exact
//! bytes, so the input reader judges it as it would judge a file (duplicate keys included).

use serde::de::IgnoredAny;
use std::io::Read;

pub struct Documents<R> {
    reader: R,
    buffer: Vec<u8>,
    eof: bool,
}

impl<R: Read> Documents<R> {
    pub fn new(reader: R) -> Self {
        Documents {
            reader,
            buffer: Vec::new(),
            eof: false,
        }
    }

    /// The next complete document; None at end of input. `Err` on a read error or a document that is
    /// not JSON (the stream cannot be resynchronised after that).
    pub fn next_document(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            let start = self.buffer.iter().position(|b| !b.is_ascii_whitespace());
            let Some(start) = start else {
                self.buffer.clear();
                if self.eof || !self.fill()? {
                    return Ok(None);
                }
                continue;
            };
            let text = &self.buffer[start..];
            let mut stream = serde_json::Deserializer::from_slice(text).into_iter::<IgnoredAny>();
            match stream.next() {
                Some(Ok(_)) => {
                    let end = start + stream.byte_offset();
                    let document = self.buffer[start..end].to_vec();
                    self.buffer.drain(..end);
                    return Ok(Some(document));
                }
                Some(Err(e)) if e.is_eof() && !self.eof => {
                    self.fill()?;
                }
                Some(Err(e)) => return Err(format!("<stdin>: invalid JSON: {e}")),
                None => return Ok(None),
            }
        }
    }

    /// Reads more; false at end of input.
    fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self
            .reader
            .read(&mut chunk)
            .map_err(|e| format!("<stdin>: cannot read: {e}"))?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// A reader that hands out one byte at a time, as a slow pipe would.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn documents_are_split_whatever_the_chunks() {
        let input = b" {\"a\": [1, {\"b\": \"}\"}]}\n\n{\"kind\": \"List\",\n \"items\": []}  ";
        let mut docs = Documents::new(Trickle(input));
        assert_eq!(
            docs.next_document().unwrap().unwrap(),
            b"{\"a\": [1, {\"b\": \"}\"}]}"
        );
        assert_eq!(
            docs.next_document().unwrap().unwrap(),
            b"{\"kind\": \"List\",\n \"items\": []}"
        );
        assert_eq!(docs.next_document().unwrap(), None);
        let mut bad = Documents::new(&b"{\"a\": 1} nope"[..]);
        assert!(bad.next_document().unwrap().is_some());
        assert!(bad.next_document().is_err());
        let mut cut = Documents::new(&b"{\"a\": "[..]);
        assert!(cut.next_document().is_err());
    }
}
