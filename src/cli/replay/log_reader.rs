//! Reading an access log line by line in constant memory: a file or stdin, plain or gzip (detected by
//! its magic bytes; concatenated members, as logrotate writes them, are read through).

use super::line_error::{LineError, LineErrorKind};
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

/// Longer lines are counted as unparseable and skipped (a real line carries a request line and some
/// headers; nginx's own header buffers stop far below this).
pub const MAX_LINE_BYTES: usize = 1 << 20;

const BUFFER_BYTES: usize = 256 << 10;

pub struct LogLines {
    reader: Box<dyn BufRead>,
    buffer: Vec<u8>,
    /// 1-based number of the line last returned.
    pub number: u64,
    /// The log's name in messages.
    pub name: String,
}

impl LogLines {
    pub fn open(path: &str) -> Result<LogLines, String> {
        let (name, raw): (String, Box<dyn Read>) = if path == "-" {
            ("<stdin>".to_string(), Box::new(io::stdin()))
        } else {
            let file = File::open(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
            (path.to_string(), Box::new(file))
        };
        let mut plain = BufReader::with_capacity(BUFFER_BYTES, raw);
        let head = plain
            .fill_buf()
            .map_err(|e| format!("{name}: cannot read: {e}"))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn BufRead> = if gzip {
            Box::new(BufReader::with_capacity(BUFFER_BYTES, MultiGzDecoder::new(plain)))
        } else {
            Box::new(plain)
        };
        Ok(LogLines {
            reader,
            buffer: Vec::with_capacity(4096),
            number: 0,
            name,
        })
    }

    /// The next line, without its end of line, and its number; None at the end; Err when the log cannot
    /// be read on (a cut gzip stream).
    pub fn next_line(&mut self) -> Option<io::Result<(u64, Result<&str, LineError>)>> {
        self.buffer.clear();
        let mut too_long = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if available.is_empty() {
                if self.buffer.is_empty() && !too_long {
                    return None;
                }
                break;
            }
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if self.buffer.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                self.buffer.clear();
            } else if !too_long {
                self.buffer.extend_from_slice(chunk);
            }
            self.reader.consume(used);
            if done {
                break;
            }
        }
        self.number += 1;
        if too_long {
            let error = LineError::new(LineErrorKind::TooLong, format!("over {MAX_LINE_BYTES} bytes"));
            return Some(Ok((self.number, Err(error))));
        }
        if self.buffer.last() == Some(&b'\r') {
            self.buffer.pop();
        }
        let text = std::str::from_utf8(&self.buffer)
            .map_err(|e| LineError::new(LineErrorKind::NotUtf8, e.to_string()));
        Some(Ok((self.number, text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(bytes: &[u8]) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("replay-reader-{}-{}", std::process::id(), bytes.len()));
        std::fs::write(&dir, bytes).unwrap();
        let mut log = LogLines::open(dir.to_str().unwrap()).unwrap();
        let mut out = Vec::new();
        while let Some(line) = log.next_line() {
            out.push(match line {
                Ok((_, Ok(text))) => text.to_string(),
                Ok((_, Err(e))) => format!("bad: {}", e.kind.as_str()),
                Err(e) => format!("io: {e}"),
            });
            if out.last().is_some_and(|l| l.starts_with("io:")) {
                break;
            }
        }
        let _ = std::fs::remove_file(&dir);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_lines() {
        assert_eq!(lines_of(b"a\r\nb\n\nc"), vec!["a", "b", "", "c"]);
        assert_eq!(lines_of(b"x\xff\n"), vec!["bad: is not UTF-8"]);
        let mut long = vec![b'a'; MAX_LINE_BYTES + 1];
        long.extend_from_slice(b"\nok\n");
        assert_eq!(lines_of(&long), vec!["bad: is too long", "ok"]);
    }

    #[test]
    fn gzip_members_and_a_cut_stream() {
        let mut two = gzip(b"a\nb\n");
        two.extend(gzip(b"c\n"));
        assert_eq!(lines_of(&two), vec!["a", "b", "c"]);
        let whole = gzip(&b"line\n".repeat(1000));
        let lines = lines_of(&whole[..whole.len() - 10]);
        assert!(lines.last().unwrap().starts_with("io:"), "{lines:?}");
    }
}
