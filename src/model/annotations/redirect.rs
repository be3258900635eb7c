//! The redirect annotations: `app-root` (ingress-nginx reads it with rewrite-target,
//! `internal/ingress/annotations/rewrite`), `permanent-redirect`, `permanent-redirect-code`,
//! `temporal-redirect` and `temporal-redirect-code` (`internal/ingress/annotations/redirect`). Values
//! ingress-nginx's validators refuse are errors; codes outside its ranges fall back to its defaults with
//! a warning.

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;

/// What the redirect annotations of one Ingress ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectOptions {
    /// `app-root`: `GET /` on the Ingress's hosts answers 302 to this path (host-wide).
    pub app_root: Option<String>,
    /// `temporal-redirect` or `permanent-redirect`: every path of the Ingress answers this redirect.
    pub location: Option<LocationRedirect>,
}

/// A redirect every request of a location gets instead of reaching the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationRedirect {
    /// The annotation's URL, sent as `Location` exactly (a path gets the request's scheme and host).
    pub url: String,
    pub status: u16,
    pub temporal: bool,
}

pub(super) const NAMES: &[&str] = &[
    "app-root",
    "permanent-redirect",
    "permanent-redirect-code",
    "temporal-redirect",
    "temporal-redirect-code",
];

/// ingress-nginx's `URLIsValidRegex`: letters, digits and `-._~/:,?&=`.
fn url_chars(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/:,?&=".contains(&b))
}

/// `scheme://`, as a URL that names its host starts.
fn has_scheme(value: &str) -> bool {
    value.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    })
}

/// Reads the redirect annotations. `has_rules`: the Ingress has rules (without, ingress-nginx applies
/// neither to the catch-all server its default backend configures).
pub(super) fn parse(a: &Annotations<'_>, has_rules: bool, diags: &mut Diagnostics) -> RedirectOptions {
    // Both are checked, whichever wins.
    let temporal = temporal(a, diags);
    let permanent = permanent(a, diags);
    let options = RedirectOptions {
        app_root: app_root(a, diags),
        location: temporal.or(permanent),
    };
    if a.get("temporal-redirect").is_some() && a.get("permanent-redirect").is_some() {
        diags.warning(
            a.id,
            &field_of("permanent-redirect"),
            "is ignored: temporal-redirect is set too and takes precedence (as in ingress-nginx)",
        );
    }
    for (code, url) in [
        ("permanent-redirect-code", "permanent-redirect"),
        ("temporal-redirect-code", "temporal-redirect"),
    ] {
        if a.get(code).is_some() && a.get(url).is_none() {
            diags.warning(a.id, &field_of(code), format!("has no effect without {url}"));
        }
    }
    if has_rules {
        return options;
    }
    for name in ["app-root", "permanent-redirect", "temporal-redirect"] {
        if a.get(name).is_some() {
            diags.warning(
                a.id,
                &field_of(name),
                "has no effect on an Ingress without rules: ingress-nginx does not apply it to the catch-all \
                 default backend",
            );
        }
    }
    RedirectOptions::default()
}

fn app_root(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<String> {
    let value = a.get("app-root")?;
    let field = field_of("app-root");
    let problem = if has_scheme(value) {
        Some("must be a path, not an absolute URL (ingress-nginx ignores absolute URLs)")
    } else if !value.starts_with('/') {
        Some("must be a path starting with '/'")
    } else if value.contains('$') {
        Some("nginx variables are not supported in app-root (write the path itself)")
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/:".contains(&b))
    {
        Some("has characters ingress-nginx does not accept (letters, digits, - . _ ~ / :)")
    } else {
        None
    };
    if let Some(problem) = problem {
        diags.error(a.id, &field, format!("{value:?} {problem}"));
        return None;
    }
    if value == "/" {
        diags.warning(
            a.id,
            &field,
            "\"/\" redirects / to itself: every request for / of this Ingress's hosts loops (as in ingress-nginx)",
        );
    }
    Some(value.to_string())
}

/// The redirect code annotation `name`: its value within `range`, else `default` (warned).
fn code(
    a: &Annotations<'_>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    default: u16,
    diags: &mut Diagnostics,
) -> u16 {
    let Some(code) = a.int(name, diags) else {
        return default;
    };
    let Some(code) = u16::try_from(code)
        .ok()
        .filter(|c| range.contains(&i64::from(*c)))
    else {
        diags.warning(
            a.id,
            &field_of(name),
            format!(
                "{code} is outside {}-{}: {default} is used, as in ingress-nginx",
                range.start(),
                range.end()
            ),
        );
        return default;
    };
    if matches!(code, 300 | 304 | 305 | 306) {
        diags.warning(
            a.id,
            &field_of(name),
            format!(
                "{code} is not a redirect status for nginx (it answered {code} with the URL as the body and no \
                 Location); ingress-wasm answers {code} with the Location header"
            ),
        );
    }
    code
}

/// A redirect URL: ingress-nginx's characters, else an error.
fn url(a: &Annotations<'_>, name: &str, diags: &mut Diagnostics) -> Option<String> {
    let value = a.get(name)?;
    if !url_chars(value) {
        diags.error(
            a.id,
            &field_of(name),
            format!(
                "{value:?} has characters ingress-nginx does not accept in a URL (letters, digits, - . _ ~ / : , ? & =; \
                 no percent-encoding or nginx variables)"
            ),
        );
        return None;
    }
    Some(value.to_string())
}

fn temporal(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<LocationRedirect> {
    let url = url(a, "temporal-redirect", diags)?;
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        diags.error(
            a.id,
            &field_of("temporal-redirect"),
            format!("{url:?} must be an absolute http:// or https:// URL (ingress-nginx refuses other URLs)"),
        );
        return None;
    }
    Some(LocationRedirect {
        url,
        status: code(a, "temporal-redirect-code", 300..=307, 302, diags),
        temporal: true,
    })
}

fn permanent(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<LocationRedirect> {
    let url = url(a, "permanent-redirect", diags)?;
    if !url.starts_with('/') && !has_scheme(&url) {
        diags.warning(
            a.id,
            &field_of("permanent-redirect"),
            format!(
                "{url:?} is neither an absolute URL nor a path: it is sent as the Location as is, and clients resolve \
                 it against the request's URL (as with ingress-nginx)"
            ),
        );
    }
    Some(LocationRedirect {
        url,
        status: code(a, "permanent-redirect-code", 300..=308, 301, diags),
        temporal: false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_named;
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn redirect(annotations: &[(&str, &str)]) -> (RedirectOptions, Vec<String>) {
        let (o, msgs) = parse_named(annotations);
        (o.redirect, msgs)
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn temporal_beats_permanent_and_codes_fall_back_to_the_defaults() {
        let (o, msgs) = redirect(&[
            ("permanent-redirect", "https://p.example.com"),
            ("temporal-redirect", "https://t.example.com/x?a=b"),
            ("temporal-redirect-code", "308"),
        ]);
        let l = o.location.unwrap();
        assert_eq!(
            (l.url.as_str(), l.status, l.temporal),
            ("https://t.example.com/x?a=b", 302, true)
        );
        assert!(
            msgs.iter().any(|m| m.contains("permanent-redirect: is ignored")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("308 is outside 300-307: 302 is used")),
            "{msgs:?}"
        );
        let (o, _) = redirect(&[
            ("temporal-redirect", "http://t"),
            ("temporal-redirect-code", "307"),
        ]);
        assert_eq!(o.location.unwrap().status, 307);
        let (o, msgs) = redirect(&[("permanent-redirect", "/new"), ("permanent-redirect-code", "308")]);
        assert_eq!(o.location.unwrap().status, 308);
        assert!(msgs.is_empty(), "{msgs:?}");
        let (o, msgs) = redirect(&[
            ("permanent-redirect", "http://p"),
            ("permanent-redirect-code", "309"),
        ]);
        assert_eq!(o.location.unwrap().status, 301);
        assert!(
            msgs.iter()
                .any(|m| m.contains("309 is outside 300-308: 301 is used")),
            "{msgs:?}"
        );
        let (o, msgs) = redirect(&[
            ("permanent-redirect", "http://p"),
            ("permanent-redirect-code", "300"),
        ]);
        assert_eq!(o.location.unwrap().status, 300);
        assert!(
            msgs.iter()
                .any(|m| m.contains("300 is not a redirect status for nginx")),
            "{msgs:?}"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn urls_outside_ingress_nginx_validators_are_errors() {
        for (name, value, error) in [
            (
                "permanent-redirect",
                "https://x.com/$host",
                "has characters ingress-nginx does not accept",
            ),
            ("permanent-redirect", "https://x.com/a%20b", "has characters"),
            (
                "temporal-redirect",
                "ftp://x.com",
                "must be an absolute http:// or https:// URL",
            ),
            (
                "temporal-redirect",
                "/relative",
                "must be an absolute http:// or https:// URL",
            ),
            (
                "permanent-redirect-code",
                "moved",
                "\"moved\" is not a whole number",
            ),
        ] {
            let mut annotations = vec![(name, value)];
            if name.ends_with("-code") {
                annotations.push(("permanent-redirect", "http://x"));
            }
            let (_, msgs) = redirect(&annotations);
            assert!(
                msgs.iter()
                    .any(|m| m.contains(&format!("{name}: ")) && m.contains(error)),
                "{name}={value}: {msgs:?}"
            );
        }
        let (o, msgs) = redirect(&[("permanent-redirect", "elsewhere")]);
        assert!(o.location.is_some());
        assert!(msgs[0].contains("neither an absolute URL nor a path"), "{msgs:?}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn app_root_is_a_path() {
        let (o, msgs) = redirect(&[("app-root", "/app1")]);
        assert_eq!(o.app_root.as_deref(), Some("/app1"));
        assert!(msgs.is_empty(), "{msgs:?}");
        for (value, error) in [
            ("http://x.com/app", "must be a path, not an absolute URL"),
            ("app", "must be a path starting with '/'"),
            ("/$host", "nginx variables are not supported"),
            ("/a?b", "has characters ingress-nginx does not accept"),
        ] {
            let (o, msgs) = redirect(&[("app-root", value)]);
            assert!(o.app_root.is_none());
            assert!(msgs.iter().any(|m| m.contains(error)), "{value}: {msgs:?}");
        }
        let (o, msgs) = redirect(&[("app-root", "/")]);
        assert_eq!(o.app_root.as_deref(), Some("/"));
        assert!(msgs[0].contains("redirects / to itself"), "{msgs:?}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_ingress_without_rules_redirects_nothing() {
        let mut ingress = super::super::tests::ingress(&[
            ("nginx.ingress.kubernetes.io/permanent-redirect", "http://x"),
            ("nginx.ingress.kubernetes.io/app-root", "/app"),
        ]);
        ingress.rules.clear();
        let mut diags = Diagnostics::default();
        let o = super::super::parse(&ingress, &crate::model::secret::Secrets::default(), &mut diags);
        assert_eq!(o.redirect, RedirectOptions::default());
        let msgs: Vec<String> = diags.into_vec().iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs.iter()
                .all(|m| m.contains("has no effect on an Ingress without rules")),
            "{msgs:?}"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn codes_without_urls_are_warned() {
        let (o, msgs) = redirect(&[("temporal-redirect-code", "307")]);
        assert!(o.location.is_none());
        assert!(
            msgs[0].contains("has no effect without temporal-redirect"),
            "{msgs:?}"
        );
    }
}
