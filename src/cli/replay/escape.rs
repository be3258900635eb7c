//! Undoing nginx's escaping of logged values (`log_format ... escape=`): `default` writes `"`, `\` and
//! bytes outside 0x20..0x7e as `\xHH`; `json` (ingress-nginx's `log-format-escape-json`) writes JSON string
//! escapes; `none` (`log-format-escape-none`) writes values as they are.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Escape {
    Default,
    Json,
    None,
}

impl Escape {
    /// The value as the request carried it. Bytes that do not form UTF-8 become U+FFFD.
    pub fn unescape(self, value: &str) -> Cow<'_, str> {
        if self == Escape::None || !value.contains('\\') {
            return Cow::Borrowed(value);
        }
        let bytes = value.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let (decoded, used) = match (self, bytes.get(i..)) {
                (Escape::Default, Some([b'\\', b'x', h, l, ..])) => hex_byte(*h, *l),
                (Escape::Json, Some([b'\\', b'u', a, b, c, d, ..])) => json_unit(&[*a, *b, *c, *d]),
                (Escape::Json, Some([b'\\', e, ..])) => json_short(*e),
                _ => (None, 0),
            };
            match decoded {
                Some(Decoded::Byte(b)) => {
                    out.push(b);
                    i += used;
                }
                Some(Decoded::Char(c)) => {
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    i += used;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }
}

/// What one escape stood for: a raw byte (`\xHH`) or a character (`\uXXXX`).
enum Decoded {
    Byte(u8),
    Char(char),
}

fn hex_byte(h: u8, l: u8) -> (Option<Decoded>, usize) {
    let byte = hex(h)
        .zip(hex(l))
        .and_then(|(h, l)| u8::try_from(h << 4 | l).ok());
    match byte {
        Some(byte) => (Some(Decoded::Byte(byte)), 4),
        None => (None, 0),
    }
}

fn json_unit(digits: &[u8; 4]) -> (Option<Decoded>, usize) {
    let value = digits
        .iter()
        .try_fold(0u32, |acc, &d| hex(d).map(|d| acc << 4 | d));
    match value.and_then(char::from_u32) {
        Some(c) => (Some(Decoded::Char(c)), 6),
        // A lone surrogate: nginx only writes \u00XX for control bytes, so this is not its output.
        None => (None, 0),
    }
}

fn json_short(e: u8) -> (Option<Decoded>, usize) {
    let byte = match e {
        b'"' | b'\\' | b'/' => e,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'f' => 0x0c,
        _ => return (None, 0),
    };
    (Some(Decoded::Byte(byte)), 2)
}

fn hex(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_escapes_are_bytes() {
        assert_eq!(Escape::Default.unescape("/a\\x22b"), "/a\"b");
        assert_eq!(Escape::Default.unescape("caf\\xC3\\xA9"), "café");
        assert_eq!(Escape::Default.unescape("\\x5C\\x"), "\\\\x");
        assert!(matches!(Escape::Default.unescape("/plain"), Cow::Borrowed(_)));
        // Not a default escape: kept.
        assert_eq!(Escape::Default.unescape("a\\\"b"), "a\\\"b");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(Escape::Json.unescape("a\\\"b\\\\c\\u0001\\n"), "a\"b\\c\u{1}\n");
        assert_eq!(Escape::Json.unescape("\\x41"), "\\x41");
        assert_eq!(Escape::Json.unescape("\\ud800"), "\\ud800");
    }

    #[test]
    fn none_keeps_everything() {
        assert_eq!(Escape::None.unescape("a\\x22"), "a\\x22");
    }
}
