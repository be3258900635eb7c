//! Arbitrary `:path` values through `split_query` and `RequestPath::normalize`. Checks: the query split
//! loses nothing but the fragment; a normalized path is canonical (starts with '/', no `//`, no `\`, no
//! dot segment, no control character) and normalizing it again changes nothing; only paths that do not
//! start with '/', carry control characters, or whose decoding would assemble a new escape are refused.
#![no_main]

use ingress_wasm::decide::request_path::{split_query, RequestPath};
use ingress_wasm_fuzz::canonical::assert_canonical;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = split_query(raw);
    let before_fragment = raw.split('#').next().unwrap_or("");
    assert_eq!(
        format!("{path}{query}"),
        before_fragment,
        "split_query lost bytes of {raw:?}"
    );
    assert!(
        !path.contains(['?', '#']),
        "path part {path:?} keeps a '?' or '#'"
    );
    assert!(query.is_empty() || query.starts_with('?'), "query {query:?}");
    match RequestPath::normalize(path) {
        Some(p) => {
            assert_canonical(p.as_str(), "normalized");
            assert_eq!(p.changed(path), p.as_str() != path);
        }
        None => assert!(
            !path.starts_with('/') || path.bytes().any(|b| b < 0x20 || b == 0x7f) || assembles_escape(path),
            "refused {path:?}"
        ),
    }
});

/// Whether decoding the escapes of unreserved characters once leaves an escape of one (`%6%31` -> `%61`).
fn assembles_escape(path: &str) -> bool {
    let unreserved = |c: u8| c.is_ascii_alphanumeric() || b"-._~".contains(&c);
    let escaped = |w: &[u8]| {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (w, hex(w[1]), hex(w[2])) {
            ([b'%', ..], Some(h), Some(l)) => u8::try_from(h * 16 + l).ok().filter(|c| unreserved(*c)),
            _ => None,
        }
    };
    let b = path.as_bytes();
    let mut once = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b.get(i..i + 3).and_then(escaped) {
            Some(c) => {
                once.push(c);
                i += 3;
            }
            None => {
                once.push(b[i]);
                i += 1;
            }
        }
    }
    once.windows(3).any(|w| escaped(w).is_some())
}
