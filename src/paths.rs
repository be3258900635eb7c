//! Request paths: splitting off the query, and the canonical form routes are matched on.
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

/// A request path in canonical form.
#[derive(Debug)]
pub struct RequestPath<'a> {
    path: Cow<'a, str>,
}

impl<'a> RequestPath<'a> {
    pub fn normalize(raw: &'a str) -> Option<RequestPath<'a>> {
        if !raw.starts_with('/') {
            return None;
        }
        Some(RequestPath { path: Cow::Borrowed(raw) })
    }

    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether canonicalization changed the path the client sent.
    pub fn changed(&self, raw: &str) -> bool {
        self.path != raw
    }
}
