//! `ssl-redirect`, `force-ssl-redirect` and `preserve-trailing-slash` (ingress-nginx
//! `internal/ingress/annotations/rewrite`): booleans, read with Go's `strconv.ParseBool`; defaults `true`,
//! `false`, `false`. A value that is not a boolean is an error (ingress-nginx fell back to the default).
//! What they do per request: [`crate::decide::ssl_redirect`].

use super::Annotations;
use crate::decide::ssl_redirect::SslRedirect;
use crate::diagnostics::Diagnostics;

/// The annotations this module reads (without the prefix).
pub(super) const NAMES: &[&str] = &["ssl-redirect", "force-ssl-redirect", "preserve-trailing-slash"];

/// Reads annotation `name` (one of [`NAMES`]) into `options`.
pub(super) fn read(options: &mut SslRedirect, name: &str, a: &Annotations<'_>, diags: &mut Diagnostics) {
    let Some(value) = a.bool(name, diags) else {
        return;
    };
    match name {
        "ssl-redirect" => options.ssl_redirect = value,
        "force-ssl-redirect" => options.force = value,
        "preserve-trailing-slash" => options.preserve_trailing_slash = value,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_all;
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn defaults_and_values() {
        let (o, msgs) = parse_all(&[]);
        assert!(msgs.is_empty());
        assert_eq!(o.ssl_redirect, SslRedirect::DEFAULT);
        let (o, msgs) = parse_all(&[
            ("nginx.ingress.kubernetes.io/ssl-redirect", "false"),
            ("nginx.ingress.kubernetes.io/force-ssl-redirect", "True"),
            ("nginx.ingress.kubernetes.io/preserve-trailing-slash", "1"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(
            o.ssl_redirect,
            SslRedirect {
                ssl_redirect: false,
                force: true,
                preserve_trailing_slash: true
            }
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn not_a_boolean_is_an_error() {
        let (o, msgs) = parse_all(&[("nginx.ingress.kubernetes.io/force-ssl-redirect", "yes")]);
        assert_eq!(
            msgs,
            ["ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/force-ssl-redirect: \"yes\" is not a boolean (use \"true\" or \"false\")"]
        );
        assert!(!o.ssl_redirect.force);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn ignored_on_a_canary() {
        let (o, msgs) = parse_all(&[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "10"),
            ("nginx.ingress.kubernetes.io/force-ssl-redirect", "true"),
        ]);
        assert!(!o.ssl_redirect.force);
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].contains("force-ssl-redirect: ignored on a canary Ingress"),
            "{msgs:?}"
        );
    }
}
