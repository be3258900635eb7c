//! Error pages from another Service: `custom-http-errors` and `default-backend`, read as ingress-nginx
//! reads them (`internal/ingress/annotations/{customhttperrors,defaultbackend}`).

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;
use crate::model::ingress::is_dns_label;

/// The error-page annotations of one Ingress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPageOptions {
    /// `custom-http-errors`: the statuses (4xx, 5xx) whose responses come from the default backend
    /// instead, sorted, without duplicates.
    pub codes: Vec<u16>,
    /// `default-backend`: a Service of the Ingress's namespace that answers when the location's own
    /// backend cannot be reached, and the `custom-http-errors`.
    pub default_backend: Option<String>,
}

pub(super) const NAMES: &[&str] = &["custom-http-errors", "default-backend"];

pub(super) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> ErrorPageOptions {
    ErrorPageOptions {
        codes: codes(a, diags),
        default_backend: default_backend(a, diags),
    }
}

/// `custom-http-errors`: a comma-separated list of 4xx and 5xx codes, spaces ignored (ingress-nginx's
/// `^(?:[4,5]\d{2},?)*$` after removing spaces).
fn codes(a: &Annotations<'_>, diags: &mut Diagnostics) -> Vec<u16> {
    let name = "custom-http-errors";
    let Some(value) = a.get(name) else {
        return Vec::new();
    };
    let mut codes: Vec<u16> = Vec::new();
    for entry in value
        .split(',')
        .map(|e| e.replace(' ', ""))
        .filter(|e| !e.is_empty())
    {
        match entry.parse::<u16>() {
            Ok(code @ 400..=599) if entry.len() == 3 => {
                // Sorted without duplicates; no sort call (the list is short, a sort costs module bytes).
                if let Err(at) = codes.binary_search(&code) {
                    codes.insert(at, code);
                }
            }
            _ => {
                diags.error(
                    a.id,
                    &field_of(name),
                    format!("{entry:?} is not an HTTP status from 400 to 599 (the value is a comma-separated list, e.g. \"404,503\")"),
                );
                return Vec::new();
            }
        }
    }
    codes
}

/// `default-backend`: the name of a Service (a DNS-1035 label) in the Ingress's namespace.
fn default_backend(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<String> {
    let name = "default-backend";
    let value = a.get(name)?;
    let first_is_letter = value.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if is_dns_label(value) && first_is_letter {
        Some(value.to_string())
    } else {
        diags.error(
            a.id,
            &field_of(name),
            format!("{value:?} is not a Service name (lower-case letters, digits and '-', starting with a letter)"),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::model::annotations::tests::parse_all;
    use wasm_bindgen_test::wasm_bindgen_test;

    const CODES: &str = "nginx.ingress.kubernetes.io/custom-http-errors";
    const BACKEND: &str = "nginx.ingress.kubernetes.io/default-backend";

    #[wasm_bindgen_test(unsupported = test)]
    fn codes_are_a_list_of_error_statuses() {
        for (value, want) in [
            ("404,500", vec![404, 500]),
            ("503, 404 ,503", vec![404, 503]),
            ("599,", vec![599]),
        ] {
            let (o, msgs) = parse_all(&[(CODES, value)]);
            assert!(msgs.is_empty(), "{msgs:?}");
            assert_eq!(o.error_pages.codes, want, "{value}");
        }
        for bad in ["404;500", "302", "600", "404404", "4o4", ",00"] {
            let (o, msgs) = parse_all(&[(CODES, bad)]);
            assert!(o.error_pages.codes.is_empty(), "{bad}");
            assert_eq!(msgs.len(), 1, "{bad}: {msgs:?}");
            assert!(
                msgs[0].starts_with(
                    "ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/custom-http-errors: "
                ),
                "{msgs:?}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn default_backend_is_a_service_name() {
        let (o, msgs) = parse_all(&[(BACKEND, "error-pages")]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(o.error_pages.default_backend.as_deref(), Some("error-pages"));
        for bad in ["Error", "ns/svc", "svc:80", "1svc", "svc-"] {
            let (o, msgs) = parse_all(&[(BACKEND, bad)]);
            assert_eq!(o.error_pages.default_backend, None, "{bad}");
            assert!(
                msgs[0].contains("default-backend: ") && msgs[0].contains("is not a Service name"),
                "{msgs:?}"
            );
        }
    }
}
