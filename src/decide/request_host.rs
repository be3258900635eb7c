//! The request's host: its `:authority` reduced to the name routes match, and the parent a wildcard covers.

use std::borrow::Cow;

/// The host part of an `:authority` as routes see it: lower-cased, port and one trailing dot removed.
/// IPv6 literals keep their brackets (`[::1]:8080` -> `[::1]`).
pub fn route_host(authority: &str) -> Cow<'_, str> {
    let without_port = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        match authority.rfind(':') {
            Some(colon) if authority[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => &authority[..colon],
            _ => authority,
        }
    };
    let name = without_port.strip_suffix('.').unwrap_or(without_port);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// The parent domain a single-label wildcard would cover: `bar.foo.com` -> `foo.com`.
/// None for names with fewer than two labels.
pub fn wildcard_parent(host: &str) -> Option<&str> {
    let dot = host.find('.')?;
    let (first, parent) = (&host[..dot], &host[dot + 1..]);
    if first.is_empty() || parent.is_empty() {
        return None;
    }
    Some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn authority_to_route_host() {
        assert_eq!(route_host("Foo.COM:8080"), "foo.com");
        assert_eq!(route_host("foo.com."), "foo.com");
        assert_eq!(route_host("foo.com.:80"), "foo.com");
        assert_eq!(route_host("[::1]:10000"), "[::1]");
        assert_eq!(route_host(""), "");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wildcard_parent_is_one_label_up() {
        assert_eq!(wildcard_parent("bar.foo.com"), Some("foo.com"));
        assert_eq!(wildcard_parent("baz.bar.foo.com"), Some("bar.foo.com"));
        assert_eq!(wildcard_parent("com"), None);
    }
}
