//! Request paths: splitting off the query, and the canonical form routes are matched on.
//!
//! Envoy's HTTP connection manager is configured to normalize paths before the filter runs
//! (`normalize_path`, `merge_slashes`), so in Envoy this is a re-check that normally changes nothing. The
//! CLI gets raw input, and the filter must decide on the same path it forwards: when canonicalization
//! changes anything, the canonical path is what goes upstream.

use std::borrow::Cow;

/// Splits `:path` into the path and the query string (with its `?`; empty if none). A `#fragment`
/// never reaches routing.
pub fn split_query(raw: &str) -> (&str, &str) {
    let raw = match raw.find('#') {
        Some(i) => &raw[..i],
        None => raw,
    };
    match raw.find('?') {
        Some(i) => (&raw[..i], &raw[i..]),
        None => (raw, ""),
    }
}

/// A request path in canonical form: starts with `/`, no `.`/`..` segments, no repeated slashes, `\` read
/// as `/`, percent-escapes of unreserved characters decoded (as Envoy's `normalize_path` does; `%2F`
/// stays encoded).
#[derive(Debug)]
pub struct RequestPath<'a> {
    path: Cow<'a, str>,
}

impl<'a> RequestPath<'a> {
    /// None when the input is not an origin-form path or carries control characters.
    pub fn normalize(raw: &'a str) -> Option<RequestPath<'a>> {
        if !raw.starts_with('/') || raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return None;
        }
        if is_canonical(raw) {
            return Some(RequestPath {
                path: Cow::Borrowed(raw),
            });
        }
        let decoded = decode_unreserved(&raw.replace('\\', "/"));
        let mut segments: Vec<&str> = Vec::new();
        let mut trailing_slash = decoded.ends_with('/');
        for segment in decoded.split('/') {
            match segment {
                "" => {}
                "." => trailing_slash = true,
                ".." => {
                    segments.pop();
                    trailing_slash = true;
                }
                s => {
                    segments.push(s);
                    trailing_slash = false;
                }
            }
        }
        if decoded.ends_with('/') {
            trailing_slash = true;
        }
        let mut path = String::with_capacity(decoded.len());
        for s in &segments {
            path.push('/');
            path.push_str(s);
        }
        if trailing_slash || path.is_empty() {
            path.push('/');
        }
        // Decoding must not assemble a new escape (`/%6%31dmin` -> `/%61dmin`): the next decoder on the
        // way upstream would read `/admin` where routing saw another path. Refused (400), never decoded
        // twice: no client sends such a path except to confuse.
        if has_unreserved_escape(&path) {
            return None;
        }
        Some(RequestPath {
            path: Cow::Owned(path),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The canonical path when it differs from the input (None: the input was canonical already), without
    /// copying it again.
    pub fn into_changed(self) -> Option<String> {
        match self.path {
            Cow::Borrowed(_) => None,
            Cow::Owned(path) => Some(path),
        }
    }

    /// Whether canonicalization changed the path the client sent.
    pub fn changed(&self, raw: &str) -> bool {
        self.path != raw
    }
}

fn is_canonical(path: &str) -> bool {
    let b = path.as_bytes();
    if b.contains(&b'\\') || b.contains(&b'%') || path.contains("//") {
        return false;
    }
    !path.split('/').any(|s| s == "." || s == "..")
}

/// Whether `s` has a `%XX` escape of an unreserved character (what [`decode_unreserved`] decodes).
fn has_unreserved_escape(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| {
        w[0] == b'%' && matches!((hex(w[1]), hex(w[2])), (Some(h), Some(l)) if is_unreserved(h * 16 + l))
    })
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986: ALPHA DIGIT - . _ ~); others stay escaped.
fn decode_unreserved(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = h * 16 + l;
                if is_unreserved(c) {
                    out.push(char::from(c));
                    i += 3;
                    continue;
                }
            }
        }
        // Copy one whole UTF-8 character.
        let len = utf8_len(bytes[i]);
        out.push_str(s.get(i..i + len).unwrap_or(""));
        i += len.max(1);
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn norm(p: &str) -> Option<String> {
        RequestPath::normalize(p).map(|p| p.as_str().to_string())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn splits_query_and_fragment() {
        assert_eq!(split_query("/a?b=1#f"), ("/a", "?b=1"));
        assert_eq!(split_query("/a#f?x"), ("/a", ""));
        assert_eq!(split_query("/a"), ("/a", ""));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn canonical_paths_are_borrowed() {
        let p = RequestPath::normalize("/a/b/").unwrap();
        assert!(matches!(p.path, Cow::Borrowed(_)));
        assert!(!p.changed("/a/b/"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn path_confusion_matrix() {
        assert_eq!(norm("//admin").as_deref(), Some("/admin"));
        assert_eq!(norm("/./admin").as_deref(), Some("/admin"));
        assert_eq!(norm("/public/../admin").as_deref(), Some("/admin"));
        assert_eq!(norm("/public/%2e%2e/admin").as_deref(), Some("/admin"));
        assert_eq!(norm("/%61dmin").as_deref(), Some("/admin"));
        assert_eq!(
            norm("/public%2f..%2fadmin").as_deref(),
            Some("/public%2f..%2fadmin")
        );
        assert_eq!(norm("/\\admin").as_deref(), Some("/admin"));
        assert_eq!(norm("/..;/admin").as_deref(), Some("/..;/admin"));
        assert_eq!(norm("/a/.."), Some("/".to_string()));
        assert_eq!(norm("/a/b/.").as_deref(), Some("/a/b/"));
        assert_eq!(norm("/../../x").as_deref(), Some("/x"));
        assert_eq!(norm("/%"), Some("/%".to_string()));
        assert_eq!(norm("/%4"), Some("/%4".to_string()));
        assert_eq!(norm("/é/%41"), Some("/é/A".to_string()));
        assert_eq!(norm("*"), None);
        assert_eq!(norm("http://h/a"), None);
        assert_eq!(norm("/a\nb"), None);
        assert_eq!(norm("/admin%00").as_deref(), Some("/admin%00"));
    }

    /// Found by the `request_path` fuzz target: `/%4%61` normalized to `/%4a`, which normalizes to `/J`.
    #[wasm_bindgen_test(unsupported = test)]
    fn decoding_never_assembles_an_escape() {
        assert_eq!(norm("/%4%61"), None);
        assert_eq!(norm("/%6%31dmin"), None);
        assert_eq!(norm("/%%36%31dmin"), None);
        assert_eq!(norm("/a/%2e%2e/%6%31"), None);
        // Escapes that stay escaped, or decode to no new escape, are fine.
        assert_eq!(norm("/%2561dmin").as_deref(), Some("/%2561dmin"));
        assert_eq!(norm("/%%2F").as_deref(), Some("/%%2F"));
        assert_eq!(norm("/%4/%61").as_deref(), Some("/%4/a"));
    }
}
