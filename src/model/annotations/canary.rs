//! The canary annotations: `canary` and `canary-by-header`, `-by-header-value`, `-by-header-pattern`,
//! `-by-cookie`, `canary-weight`, `canary-weight-total`, read as ingress-nginx reads them
//! (`internal/ingress/annotations/canary`). A value ingress-nginx's validator would refuse is an error
//! here (ingress-nginx ignored the annotation silently); combinations it ignores are warnings.

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;
use crate::model::is_token;

/// Longest header or cookie name a canary may name.
const MAX_NAME: usize = 256;

/// The traffic rules of a canary Ingress (`canary: "true"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanaryOptions {
    /// `canary-by-header`, lower-cased (header names are case-insensitive).
    pub header: Option<String>,
    /// `canary-by-header-value`: the exact (case-sensitive) value that selects the canary.
    pub header_value: Option<String>,
    /// `canary-by-header-pattern`: a regular expression searched in the header's value. Compiled with the
    /// route table; one that does not compile sends such requests to the primary, as in ingress-nginx.
    pub header_pattern: Option<String>,
    /// `canary-by-cookie`: a cookie whose value `always` / `never` selects the canary / the primary.
    pub cookie: Option<String>,
    /// `canary-weight` (negative counts as 0).
    pub weight: u64,
    /// `canary-weight-total`, as the balancer uses it: the annotation only when above 100, else 100.
    pub weight_total: u64,
}

pub(super) const NAMES: &[&str] = &[
    "canary",
    "canary-by-header",
    "canary-by-header-value",
    "canary-by-header-pattern",
    "canary-by-cookie",
    "canary-weight",
    "canary-weight-total",
];

/// ingress-nginx's `BasicCharsRegex`: `^[/-._~a-zA-Z0-9:]*$`.
fn basic_chars(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-._~:".contains(&b))
}

/// Reads the canary annotations. `Ok(None)`: not a canary. Errors name the annotation at fault.
pub(super) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<CanaryOptions> {
    let enabled = a.bool("canary", diags).unwrap_or(false);
    let configured: Vec<&str> = NAMES[1..]
        .iter()
        .copied()
        .filter(|n| a.get(n).is_some())
        .collect();
    if !enabled {
        for name in configured {
            diags.error(
                a.id,
                &field_of(name),
                "is set but canary is not \"true\": set nginx.ingress.kubernetes.io/canary: \"true\" or remove it \
                 (ingress-nginx refuses this combination)",
            );
        }
        return None;
    }
    let mut options = CanaryOptions {
        weight_total: 100,
        ..CanaryOptions::default()
    };
    if let Some(name) = a.get("canary-by-header") {
        if is_token(name, MAX_NAME) {
            options.header = Some(name.to_ascii_lowercase());
        } else {
            diags.error(
                a.id,
                &field_of("canary-by-header"),
                format!("{name:?} is not a header name"),
            );
        }
    }
    if let Some(value) = a.get("canary-by-header-value") {
        if basic_chars(value) {
            options.header_value = Some(value.to_string());
        } else {
            diags.error(
                a.id,
                &field_of("canary-by-header-value"),
                format!(
                    "{value:?} has characters ingress-nginx does not accept (letters, digits, - . _ ~ / :)"
                ),
            );
        }
    }
    if let Some(pattern) = a.get("canary-by-header-pattern") {
        options.header_pattern = Some(pattern.to_string());
    }
    if let Some(cookie) = a.get("canary-by-cookie") {
        if is_token(cookie, MAX_NAME) {
            options.cookie = Some(cookie.to_string());
        } else {
            diags.error(
                a.id,
                &field_of("canary-by-cookie"),
                format!("{cookie:?} is not a cookie name"),
            );
        }
    }
    if let Some(weight) = a.int("canary-weight", diags) {
        options.weight = u64::try_from(weight).unwrap_or(0);
    }
    if let Some(total) = a.int("canary-weight-total", diags) {
        if total > 100 {
            options.weight_total = u64::try_from(total).unwrap_or(100);
        } else if total < 100 {
            diags.warning(
                a.id,
                &field_of("canary-weight-total"),
                format!("{total} is below 100 and counts as 100, as in ingress-nginx"),
            );
        }
    }
    if options.header.is_none() {
        for name in ["canary-by-header-value", "canary-by-header-pattern"] {
            if a.get(name).is_some() {
                diags.warning(a.id, &field_of(name), "has no effect without canary-by-header");
            }
        }
    } else if options.header_value.is_some() && options.header_pattern.is_some() {
        diags.warning(
            a.id,
            &field_of("canary-by-header-pattern"),
            "is ignored because canary-by-header-value is set, as in ingress-nginx",
        );
        options.header_pattern = None;
    }
    if options.header.is_none() && options.cookie.is_none() && options.weight == 0 {
        diags.warning(
            a.id,
            &field_of("canary"),
            "this canary has no canary-by-header, canary-by-cookie or canary-weight: it receives only \
             requests whose session cookie already points at it",
        );
    }
    Some(options)
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_all;
    use wasm_bindgen_test::wasm_bindgen_test;

    const C: &str = "nginx.ingress.kubernetes.io/";

    fn key(name: &str) -> String {
        format!("{C}{name}")
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_every_canary_annotation() {
        let (o, msgs) = parse_all(&[
            (&key("canary"), "true"),
            (&key("canary-by-header"), "X-Canary"),
            (&key("canary-by-header-value"), "yes"),
            (&key("canary-by-cookie"), "canary"),
            (&key("canary-weight"), "30"),
            (&key("canary-weight-total"), "1000"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        let c = o.canary.unwrap();
        assert_eq!(c.header.as_deref(), Some("x-canary"));
        assert_eq!(c.header_value.as_deref(), Some("yes"));
        assert_eq!(c.cookie.as_deref(), Some("canary"));
        assert_eq!((c.weight, c.weight_total), (30, 1000));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn quirks_are_kept_and_said() {
        let (o, msgs) = parse_all(&[
            (&key("canary"), "true"),
            (&key("canary-weight"), "-5"),
            (&key("canary-weight-total"), "50"),
            (&key("canary-by-header-value"), "x"),
        ]);
        let c = o.canary.unwrap();
        assert_eq!((c.weight, c.weight_total), (0, 100));
        assert!(msgs
            .iter()
            .any(|m| m.contains("canary-weight-total: 50 is below 100 and counts as 100")));
        assert!(msgs
            .iter()
            .any(|m| m.contains("canary-by-header-value: has no effect without canary-by-header")));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn invalid_combinations_and_values_are_errors_naming_the_field() {
        let (o, msgs) = parse_all(&[(&key("canary-weight"), "10")]);
        assert!(o.canary.is_none());
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].starts_with("ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/canary-weight: is set but canary is not \"true\""));
        let (_, msgs) = parse_all(&[
            (&key("canary"), "true"),
            (&key("canary-weight"), "ten"),
            (&key("canary-by-header"), "bad header"),
            (&key("canary-by-header-value"), "a b"),
        ]);
        for error in [
            "canary-weight: \"ten\" is not a whole number",
            "canary-by-header: \"bad header\" is not a header name",
            "canary-by-header-value: \"a b\" has characters ingress-nginx does not accept",
        ] {
            assert!(msgs.iter().any(|m| m.contains(error)), "{error}: {msgs:?}");
        }
        let (_, msgs) = parse_all(&[(&key("canary"), "maybe")]);
        assert!(msgs[0].contains("canary: \"maybe\" is not a boolean"), "{msgs:?}");
    }
}
