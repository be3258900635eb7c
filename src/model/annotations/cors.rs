//! CORS: `enable-cors` and the `cors-*` annotations, read as ingress-nginx reads them
//! (`internal/ingress/annotations/cors`). A value its validators refuse is an error here (ingress-nginx
//! fell back to its default silently: `*` for a refused origin list).

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;

pub const DEFAULT_METHODS: &str = "GET, PUT, POST, DELETE, PATCH, OPTIONS";
pub const DEFAULT_HEADERS: &str =
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
pub const DEFAULT_MAX_AGE: i64 = 1_728_000;

/// `enable-cors: "true"` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOptions {
    pub origins: AllowedOrigins,
    /// `cors-allow-methods`, as written.
    pub methods: String,
    /// `cors-allow-headers`, as written.
    pub headers: String,
    /// `cors-allow-credentials` (default true).
    pub credentials: bool,
    /// `cors-expose-headers`, as written; None when unset.
    pub expose_headers: Option<String>,
    /// `cors-max-age`, in seconds.
    pub max_age: i64,
}

/// `cors-allow-origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `*` (the default): every request, with or without `Origin`, gets `Access-Control-Allow-Origin: *`.
    Any,
    /// `scheme://host[:port]`, `scheme://*.host[:port]` (one label) or `null`, lower-cased.
    List(Vec<String>),
}

pub(super) const NAMES: &[&str] = &[
    "enable-cors",
    "cors-allow-origin",
    "cors-allow-methods",
    "cors-allow-headers",
    "cors-allow-credentials",
    "cors-expose-headers",
    "cors-max-age",
];

/// Reads the CORS annotations; None unless `enable-cors` is true.
pub(super) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<CorsOptions> {
    if !a.bool("enable-cors", diags).unwrap_or(false) {
        for name in &NAMES[1..] {
            if a.get(name).is_some() {
                diags.warning(
                    a.id,
                    &field_of(name),
                    "has no effect without enable-cors: \"true\"",
                );
            }
        }
        return None;
    }
    Some(CorsOptions {
        origins: origins(a, diags),
        methods: list(a, "cors-allow-methods", DEFAULT_METHODS, &METHODS, diags),
        headers: list(a, "cors-allow-headers", DEFAULT_HEADERS, &HEADERS, diags),
        credentials: a.bool("cors-allow-credentials", diags).unwrap_or(true),
        expose_headers: a
            .get("cors-expose-headers")
            .map(|_| list(a, "cors-expose-headers", "", &EXPOSE_HEADERS, diags))
            .filter(|v| !v.is_empty()),
        max_age: a.int("cors-max-age", diags).unwrap_or(DEFAULT_MAX_AGE),
    })
}

fn origins(a: &Annotations<'_>, diags: &mut Diagnostics) -> AllowedOrigins {
    let Some(value) = a.get("cors-allow-origin") else {
        return AllowedOrigins::Any;
    };
    let field = field_of("cors-allow-origin");
    let entries: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if entries.contains(&"*") {
        if entries.len() > 1 {
            diags.warning(
                a.id,
                &field,
                "lists \"*\": every origin is allowed and the other entries have no effect",
            );
        }
        return AllowedOrigins::Any;
    }
    let mut list = Vec::new();
    for entry in entries {
        if origin_entry(entry) {
            list.push(entry.to_ascii_lowercase());
        } else {
            diags.error(
                a.id,
                &field,
                format!(
                    "{entry:?} is not an origin: scheme://host[:port], scheme://*.host[:port] (one label), null or *"
                ),
            );
        }
    }
    if list.is_empty() && !value.split(',').any(|o| !o.trim().is_empty()) {
        diags.error(a.id, &field, format!("{value:?} lists no origin"));
    }
    AllowedOrigins::List(list)
}

/// ingress-nginx's `corsOriginRegex` for one entry: `[a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?`, or `null`.
fn origin_entry(entry: &str) -> bool {
    if entry == "null" {
        return true;
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    let host_port = rest.strip_prefix("*.").unwrap_or(rest);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    !scheme.is_empty()
        && scheme.bytes().all(|b| b.is_ascii_lowercase())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The grammar of a comma-separated list annotation: which tokens it takes.
struct ListGrammar {
    token_byte: fn(u8) -> bool,
    /// A lone `*` counts as a token.
    star: bool,
    /// Separators may stand anywhere (`cors-allow-headers`), not just as `token[,][ ]`.
    free_separators: bool,
    described: &'static str,
}

const METHODS: ListGrammar = ListGrammar {
    token_byte: |b| b.is_ascii_alphabetic(),
    star: false,
    free_separators: false,
    described: "method names (letters) separated by commas",
};

const HEADERS: ListGrammar = ListGrammar {
    token_byte: |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
    star: false,
    free_separators: true,
    described: "header names (letters, digits, - and _) separated by commas",
};

const EXPOSE_HEADERS: ListGrammar = ListGrammar {
    token_byte: |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
    star: true,
    free_separators: false,
    described: "header names (letters, digits, - and _) or * separated by commas",
};

impl ListGrammar {
    /// ingress-nginx's regex for the list: `^((token|\*),?\s?)+$` (`^[token, ]*$` with free separators).
    fn accepts(&self, value: &str) -> bool {
        let b = value.as_bytes();
        if self.free_separators {
            return b.iter().all(|&c| (self.token_byte)(c) || c == b',' || c == b' ');
        }
        let mut i = 0;
        while i < b.len() {
            let start = i;
            if self.star && b[i] == b'*' {
                i += 1;
            } else {
                while i < b.len() && (self.token_byte)(b[i]) {
                    i += 1;
                }
            }
            if i == start {
                return false;
            }
            if b.get(i) == Some(&b',') {
                i += 1;
            }
            if matches!(b.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
        }
        !b.is_empty()
    }
}

/// A list annotation as written, or `default` when unset; a value outside `grammar` is an error.
fn list(
    a: &Annotations<'_>,
    name: &str,
    default: &str,
    grammar: &ListGrammar,
    diags: &mut Diagnostics,
) -> String {
    let Some(value) = a.get(name) else {
        return default.to_string();
    };
    if grammar.accepts(value) {
        return value.to_string();
    }
    diags.error(
        a.id,
        &field_of(name),
        format!("{value:?} is not a list of {}", grammar.described),
    );
    default.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_named;
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn cors(annotations: &[(&str, &str)]) -> (Option<CorsOptions>, Vec<String>) {
        let (o, msgs) = parse_named(annotations);
        (o.cors, msgs)
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn defaults_are_ingress_nginx_defaults() {
        let (c, msgs) = cors(&[("enable-cors", "true")]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(
            c.unwrap(),
            CorsOptions {
                origins: AllowedOrigins::Any,
                methods: "GET, PUT, POST, DELETE, PATCH, OPTIONS".into(),
                headers: "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization".into(),
                credentials: true,
                expose_headers: None,
                max_age: 1_728_000,
            }
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn every_setting_is_read() {
        let (c, msgs) = cors(&[
            ("enable-cors", "true"),
            (
                "cors-allow-origin",
                "https://Origin.cors.com:8080,   ,http://*.origin.com, null,",
            ),
            ("cors-allow-methods", "POST, GET"),
            ("cors-allow-headers", "DNT, User-Agent"),
            ("cors-allow-credentials", "false"),
            ("cors-expose-headers", "*, X-CustomResponseHeader"),
            ("cors-max-age", "200"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        let c = c.unwrap();
        assert_eq!(
            c.origins,
            AllowedOrigins::List(vec![
                "https://origin.cors.com:8080".into(),
                "http://*.origin.com".into(),
                "null".into()
            ])
        );
        assert_eq!(
            (c.methods.as_str(), c.headers.as_str(), c.credentials),
            ("POST, GET", "DNT, User-Agent", false)
        );
        assert_eq!(c.expose_headers.as_deref(), Some("*, X-CustomResponseHeader"));
        assert_eq!(c.max_age, 200);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_star_allows_every_origin() {
        let (c, msgs) = cors(&[("enable-cors", "true"), ("cors-allow-origin", "*, foo.bar.com")]);
        assert_eq!(c.unwrap().origins, AllowedOrigins::Any);
        assert!(msgs[0].contains("the other entries have no effect"), "{msgs:?}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn values_outside_the_validators_are_errors() {
        for (name, value, error) in [
            ("cors-allow-origin", "origin.cors.com:8080", "is not an origin"),
            ("cors-allow-origin", "https://*.*.x.com", "is not an origin"),
            ("cors-allow-origin", "HTTPS://x.com", "is not an origin"),
            ("cors-allow-origin", "https://x.com:", "is not an origin"),
            ("cors-allow-origin", " , ", "lists no origin"),
            ("cors-allow-methods", "GET;DROP", "is not a list of method names"),
            (
                "cors-allow-methods",
                "GET , POST",
                "is not a list of method names",
            ),
            ("cors-allow-headers", "X-A: 1", "is not a list of header names"),
            (
                "cors-expose-headers",
                "X-A\u{7f}",
                "is not a list of header names",
            ),
            ("cors-allow-credentials", "yes", "is not a boolean"),
            ("cors-max-age", "1d", "is not a whole number"),
        ] {
            let (_, msgs) = cors(&[("enable-cors", "true"), (name, value)]);
            assert!(
                msgs.iter()
                    .any(|m| m.contains(&format!("{name}: ")) && m.contains(error)),
                "{name}={value}: {msgs:?}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn settings_without_enable_cors_are_warned() {
        let (c, msgs) = cors(&[("cors-allow-origin", "https://a.com")]);
        assert!(c.is_none());
        assert!(msgs[0].contains("has no effect without enable-cors"), "{msgs:?}");
    }
}
