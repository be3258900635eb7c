//! What a canonical path is, stated independently of the normalizer that produces it.

use ingress_wasm::decide::request_path::RequestPath;

/// Panics unless `path` is canonical: starts with `/`, no `//`, no `\`, no control characters, no `.` or
/// `..` segment, and normalizing it again changes nothing (a second decoding hop, e.g. an upstream that
/// normalizes too, must see the path routing saw).
pub fn assert_canonical(path: &str, what: &str) {
    assert!(path.starts_with('/'), "{what} {path:?} does not start with '/'");
    assert!(!path.contains("//"), "{what} {path:?} has '//'");
    assert!(!path.contains('\\'), "{what} {path:?} has '\\'");
    assert!(
        !path.bytes().any(|b| b < 0x20 || b == 0x7f),
        "{what} {path:?} has a control character"
    );
    assert!(
        !path.split('/').any(|s| s == "." || s == ".."),
        "{what} {path:?} has a dot segment"
    );
    let again = RequestPath::normalize(path).unwrap_or_else(|| panic!("{what} {path:?} does not normalize"));
    assert_eq!(
        again.as_str(),
        path,
        "{what} {path:?} changes when normalized again"
    );
}

/// The elements of a path without trailing slashes: `/a/b/` -> [a, b]; `/` -> [].
pub fn elements(path: &str) -> Vec<&str> {
    let trimmed = path.trim_end_matches('/');
    match trimmed.strip_prefix('/') {
        Some(body) => body.split('/').collect(),
        None if trimmed.is_empty() => Vec::new(),
        None => vec![trimmed],
    }
}
