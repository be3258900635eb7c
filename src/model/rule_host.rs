//! Rule hosts as written in an Ingress: validated as the API server does.

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
    // As the API server (which also reads leading zeros, `010.0.0.1`, as an address).
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() == 4
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("is an IP address: a rule host must be a DNS name");
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(
                "is not a valid host: expected a lower-case DNS name like foo.bar.com or *.foo.com, without port",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn rule_hosts() {
        assert!(validate_rule_host("foo.bar.com").is_ok());
        assert!(validate_rule_host("*.foo.com").is_ok());
        assert!(validate_rule_host("1.2.3.example").is_ok());
        for bad in [
            "*",
            "*.",
            "foo.com:80",
            "a..b",
            "a.*.b",
            "foo.com.",
            "a b",
            "Foo.com",
        ] {
            assert!(validate_rule_host(bad).is_err(), "{bad}");
        }
    }
}
