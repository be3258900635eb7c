//! Host names: validating rule hosts and reducing a request's `:authority` to the name routes match.

use std::borrow::Cow;

/// Checks an Ingress rule host as the API server does: a lower-case DNS name, optionally with `*.` as the
/// whole first label; no port, no trailing dot, no bare `*`.
pub fn validate_rule_host(host: &str) -> Result<(), &'static str> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.is_empty() || host == "*" {
        return Err("is not a valid host: a wildcard must be followed by a domain (e.g. *.foo.com)");
    }
    if host.len() > 253 {
        return Err("is longer than 253 characters");
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(
                "is not a valid host: expected a DNS name like foo.bar.com or *.foo.com, without port",
            );
        }
    }
    Ok(())
}

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

    #[wasm_bindgen_test(unsupported = test)]
    fn rule_hosts() {
        assert!(validate_rule_host("foo.bar.com").is_ok());
        assert!(validate_rule_host("*.foo.com").is_ok());
        for bad in ["*", "*.", "foo.com:80", "a..b", "a.*.b", "foo.com.", "a b"] {
            assert!(validate_rule_host(bad).is_err(), "{bad}");
        }
    }
}
