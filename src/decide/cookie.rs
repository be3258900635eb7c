//! Reading one cookie out of a request's `Cookie` header, as bytes (a client may send anything there).
//! One pass over the header, whatever it holds.

/// Which of several cookies with the same name counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    /// nginx's `$cookie_<name>` (what `canary-by-cookie` reads).
    First,
    /// lua-resty-cookie, which ingress-nginx's sticky balancer uses: later pairs overwrite earlier ones.
    Last,
}

/// The value of cookie `name` in `header` (`a=1; b=2`), or None. Names compare exactly; the value runs
/// to the next `;`, without surrounding spaces or tabs.
pub fn find<'h>(header: &'h [u8], name: &str, occurrence: Occurrence) -> Option<&'h [u8]> {
    let mut found = None;
    for pair in header.split(|&b| b == b';') {
        let pair = trim(pair);
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            continue;
        };
        if &pair[..eq] == name.as_bytes() {
            found = Some(trim(&pair[eq + 1..]));
            if occurrence == Occurrence::First {
                break;
            }
        }
    }
    found
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn finds_the_named_cookie() {
        let h = b"a=1; route=abc|def;b=2 ;\tc = 3";
        assert_eq!(find(h, "route", Occurrence::Last), Some(&b"abc|def"[..]));
        assert_eq!(find(h, "b", Occurrence::First), Some(&b"2"[..]));
        assert_eq!(find(h, "rout", Occurrence::First), None);
        // A space before `=` belongs to the name, as lua-resty-cookie reads it.
        assert_eq!(find(h, "c", Occurrence::First), None);
        assert_eq!(find(h, "c ", Occurrence::First), Some(&b"3"[..]));
        assert_eq!(find(b"", "a", Occurrence::First), None);
        assert_eq!(find(b"a", "a", Occurrence::First), None);
        assert_eq!(find(b"a=", "a", Occurrence::First), Some(&b""[..]));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn first_or_last_of_repeated_names() {
        let h = b"x=never; x=always";
        assert_eq!(find(h, "x", Occurrence::First), Some(&b"never"[..]));
        assert_eq!(find(h, "x", Occurrence::Last), Some(&b"always"[..]));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bytes_that_are_not_utf8_are_just_bytes() {
        let h = b"s=\xff\xfe; t=ok";
        assert_eq!(find(h, "s", Occurrence::Last), Some(&b"\xff\xfe"[..]));
        assert_eq!(find(h, "t", Occurrence::Last), Some(&b"ok"[..]));
    }
}
