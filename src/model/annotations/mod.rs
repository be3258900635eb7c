//! `nginx.ingress.kubernetes.io/*` annotations -> typed options per Ingress.
//!
//! Supported here: `rewrite-target`, `use-regex`, `x-forwarded-prefix`, the canary family ([`canary`]),
//! cookie session affinity ([`affinity`]), how locations reach their backends ([`upstream`]), error
//! pages from a default backend ([`error_pages`]), the redirects to HTTPS ([`ssl_redirect`]), source ranges
//! ([`access`]), basic authentication ([`auth`]) and `proxy-body-size` ([`body_size`]). Invalid values
//! are errors (the configuration is refused; ingress-nginx silently used the default), except in
//! access-control annotations, where a value ingress-nginx would deny the location for denies every path
//! of the Ingress (503) as it did. Annotations that restrict who may reach a path, or how (other
//! authentication, rate limits, WAF, and snippets with access directives), fail closed while they are
//! not enforced: every path of their Ingress answers 503, as ingress-nginx answers for a denied location.
//! Every other ingress-nginx annotation is warned about as not yet supported (the [`catalogue`] says
//! why), never dropped silently. On a canary Ingress only the canary annotations and
//! `affinity-canary-behavior` count: the rest come from the primary Ingress, as ingress-nginx documents.
//!
//! Redirects ([`redirect`]), host names ([`hosts`]) and CORS ([`cors`]) have a module each.

pub mod access;
pub mod affinity;
pub mod auth;
pub mod body_size;
pub mod canary;
pub mod catalogue;
pub mod cors;
pub mod error_pages;
pub mod hosts;
pub mod redirect;
pub mod ssl_redirect;
pub mod upstream;

use crate::decide::basic_auth::BasicAuth;
use crate::decide::body_size::BodyLimit;
use crate::decide::rewrite::Template;
use crate::decide::ssl_redirect::SslRedirect;
use crate::diagnostics::Diagnostics;
use crate::model::ingress::Ingress;
use crate::model::secret::Secrets;
use affinity::AffinityOptions;
use canary::CanaryOptions;
use catalogue::Support;
use cors::CorsOptions;
use error_pages::ErrorPageOptions;
use hosts::HostOptions;
use redirect::RedirectOptions;
use std::collections::BTreeMap;
use upstream::UpstreamOptions;

pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// The options one Ingress sets.
#[derive(Debug, Clone)]
pub struct IngressOptions {
    pub rewrite_target: Option<Template>,
    pub use_regex: bool,
    pub x_forwarded_prefix: Option<Template>,
    /// `canary: "true"` and its rules: this Ingress diverts its primary's traffic and routes nothing itself.
    pub canary: Option<CanaryOptions>,
    /// `affinity: cookie`.
    pub affinity: Option<AffinityOptions>,
    /// `affinity-canary-behavior` (read on canary Ingresses).
    pub canary_behavior: affinity::CanaryBehavior,
    /// `allowlist-source-range` / `denylist-source-range` ([`access`]).
    pub source_ranges: access::SourceRangeOptions,
    /// `auth-type: basic` with the users of its `auth-secret` ([`auth`]).
    pub basic_auth: Option<BasicAuth>,
    /// `proxy-body-size` ([`body_size`]); None: the settings' default.
    pub body_limit: Option<BodyLimit>,
    /// Access-control annotations (full keys) this gateway does not enforce, or whose value denies the
    /// location as in ingress-nginx: the Ingress fails closed.
    pub unenforced: Vec<String>,
    /// `backend-protocol`, `service-upstream`, the proxy timeouts, `client-body-buffer-size`.
    pub upstream: UpstreamOptions,
    /// `custom-http-errors`, `default-backend`.
    pub error_pages: ErrorPageOptions,
    /// `app-root`, `permanent-redirect`, `temporal-redirect` (+ codes).
    pub redirect: RedirectOptions,
    /// `server-alias`, `from-to-www-redirect`, `upstream-vhost`.
    pub hosts: HostOptions,
    /// `enable-cors` and the `cors-*` settings.
    pub cors: Option<CorsOptions>,
    /// `ssl-redirect`, `force-ssl-redirect`, `preserve-trailing-slash`.
    pub ssl_redirect: SslRedirect,
}

impl IngressOptions {
    /// Whether `path` of this Ingress is rewritten (ingress-nginx `needsRewrite`: target set and != path).
    pub fn rewrites(&self, path: &str) -> bool {
        self.rewrite_target.as_ref().is_some_and(|t| t.as_str() != path)
    }
}

/// Whether annotation `name` (without the prefix) restricts access and is not enforced: what the catalogue
/// says, and for names it does not know any `auth-*` or `limit-*` (a newer access annotation fails closed
/// rather than open).
pub fn restricts_access(name: &str) -> bool {
    match catalogue::lookup(name) {
        Some(entry) => entry.support == Support::FailsClosed,
        None => name.starts_with("auth-") || name.starts_with("limit-"),
    }
}

/// nginx directives that restrict access: a snippet that uses one fails closed.
const ACCESS_DIRECTIVES: &[&str] = &[
    "allow",
    "deny",
    "auth_basic",
    "auth_basic_user_file",
    "auth_request",
    "auth_jwt",
    "satisfy",
    "limit_req",
    "limit_conn",
    "limit_except",
    "access_by_lua",
    "access_by_lua_block",
    "access_by_lua_file",
    "modsecurity",
    "modsecurity_rules",
    "modsecurity_rules_file",
];

/// The first access-restricting directive of an nginx snippet (`return 4xx` counts), if any.
pub fn snippet_access_directive(snippet: &str) -> Option<String> {
    snippet
        .split([';', '{', '}'])
        .map(|statement| statement.split_whitespace().collect::<Vec<_>>())
        .find_map(|words| match words.as_slice() {
            [directive, ..] if ACCESS_DIRECTIVES.contains(directive) => Some((*directive).to_string()),
            ["return", code, ..] if code.len() == 3 && code.starts_with('4') => {
                Some(format!("return {code}"))
            }
            _ => None,
        })
}

const FAIL_CLOSED: &str =
    "restricts access and is not enforced by ingress-wasm yet: every path of this Ingress answers 503 (fail closed)";

/// The `nginx.ingress.kubernetes.io/*` annotations of one Ingress, by name without the prefix, values
/// trimmed (ingress-nginx trims them); empty values count as absent, as in ingress-nginx.
pub(crate) struct Annotations<'a> {
    pub(crate) id: &'a str,
    values: BTreeMap<&'a str, &'a str>,
}

/// `metadata.annotations.nginx.ingress.kubernetes.io/<name>`: the field a diagnostic names.
pub(crate) fn field_of(name: &str) -> String {
    format!("metadata.annotations.{PREFIX}{name}")
}

impl<'a> Annotations<'a> {
    fn new(id: &'a str, ingress: &'a Ingress) -> Self {
        let values = ingress
            .annotations
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix(PREFIX)?, value.trim())))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        Annotations { id, values }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.values.get(name).copied()
    }

    /// A boolean annotation (Go's `strconv.ParseBool`); a value that is not one is an error.
    pub(crate) fn bool(&self, name: &str, diags: &mut Diagnostics) -> Option<bool> {
        let value = self.get(name)?;
        let parsed = parse_bool(value);
        if parsed.is_none() {
            diags.error(
                self.id,
                &field_of(name),
                format!("{value:?} is not a boolean (use \"true\" or \"false\")"),
            );
        }
        parsed
    }

    /// A whole-number annotation (Go's `strconv.Atoi`); a value that is not one is an error.
    pub(crate) fn int(&self, name: &str, diags: &mut Diagnostics) -> Option<i64> {
        let value = self.get(name)?;
        let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
        let parsed = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| value.parse::<i64>().ok())
            .flatten();
        if parsed.is_none() {
            diags.error(
                self.id,
                &field_of(name),
                format!("{value:?} is not a whole number"),
            );
        }
        parsed
    }
}

/// Annotations a canary Ingress keeps as its own (ingress-nginx: "all the other non-canary annotations
/// will be ignored (inherited from the corresponding main ingress) except `load-balance`,
/// `upstream-hash-by`, and annotations related to session affinity").
fn canary_keeps(name: &str) -> bool {
    canary::NAMES.contains(&name)
        || affinity::NAMES.contains(&name)
        || matches!(name, "load-balance" | "upstream-hash-by")
}

/// Reads the options of one Ingress (`secrets`: those the configuration carries, for `auth-secret`).
/// Errors and warnings name `metadata.annotations.<key>`.
pub fn parse(ingress: &Ingress, secrets: &Secrets, diags: &mut Diagnostics) -> IngressOptions {
    let id = ingress.id();
    let a = Annotations::new(&id, ingress);
    let canary = canary::parse(&a, diags);
    let mut unenforced = Vec::new();
    let (source_ranges, basic_auth, body_limit) = if canary.is_some() {
        Default::default()
    } else {
        (
            access::parse(&a, diags, &mut unenforced),
            auth::parse(&a, &ingress.namespace, secrets, diags, &mut unenforced),
            body_size::parse(&a, diags),
        )
    };
    let mut options = IngressOptions {
        rewrite_target: None,
        use_regex: false,
        x_forwarded_prefix: None,
        affinity: affinity::parse(&a, diags),
        canary_behavior: affinity::canary_behavior(&a, diags),
        canary,
        upstream: UpstreamOptions::default(),
        error_pages: ErrorPageOptions::default(),
        source_ranges,
        basic_auth,
        body_limit,
        unenforced,
        redirect: RedirectOptions::default(),
        hosts: HostOptions::default(),
        cors: None,
        ssl_redirect: SslRedirect::DEFAULT,
    };
    if options.canary.is_none() {
        options.upstream = upstream::parse(&a, diags);
        options.error_pages = error_pages::parse(&a, diags);
        options.redirect = redirect::parse(&a, !ingress.rules.is_empty(), diags);
        options.hosts = hosts::parse(&a, diags);
        options.cors = cors::parse(&a, diags);
    }
    for (&name, &value) in &a.values {
        let key = format!("{PREFIX}{name}");
        let field = field_of(name);
        if canary::NAMES.contains(&name) || affinity::NAMES.contains(&name) {
            continue;
        }
        if options.canary.is_some() && !canary_keeps(name) {
            diags.warning(
                &id,
                &field,
                "ignored on a canary Ingress: the primary Ingress's annotations apply to its traffic (as in ingress-nginx)",
            );
            continue;
        }
        if access::NAMES.contains(&name)
            || auth::NAMES.contains(&name)
            || name == body_size::NAME
            || [redirect::NAMES, hosts::NAMES, cors::NAMES]
                .iter()
                .any(|names| names.contains(&name))
        {
            continue;
        }
        match name {
            "rewrite-target" => match Template::parse(value) {
                Ok(t) => options.rewrite_target = Some(t),
                Err(e) => diags.error(&id, &field, e),
            },
            "x-forwarded-prefix" => match Template::parse(value) {
                Ok(t) => options.x_forwarded_prefix = Some(t),
                Err(e) => diags.error(&id, &field, e),
            },
            "use-regex" => options.use_regex = a.bool(name, diags).unwrap_or(false),
            n if upstream::NAMES.contains(&n) || error_pages::NAMES.contains(&n) => {}
            n if ssl_redirect::NAMES.contains(&n) => {
                ssl_redirect::read(&mut options.ssl_redirect, n, &a, diags)
            }
            n if restricts_access(n) => {
                options.unenforced.push(key);
                diags.warning(&id, &field, FAIL_CLOSED);
            }
            n => match catalogue::lookup(n).map(|entry| (entry.support, entry.note())) {
                Some((Support::Never, _)) => match snippet_access_directive(value) {
                    Some(directive) => {
                        options.unenforced.push(key);
                        diags.warning(
                            &id,
                            &field,
                            format!("configuration snippets are never supported, and this one restricts access ({directive}): every path of this Ingress answers 503 (fail closed)"),
                        );
                    }
                    None => diags.warning(
                        &id,
                        &field,
                        "configuration snippets are never supported (raw config injection); ignored",
                    ),
                },
                Some((Support::Ignored, why)) => {
                    let why = if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    };
                    diags.warning(&id, &field, format!("not yet supported{why}; ignored"))
                }
                // Supported names are read by their family's parser above; the catalogue test keeps
                // the two in step, so only unknown names arrive here.
                _ => diags.warning(
                    &id,
                    &field,
                    "unknown ingress-nginx annotation (misspelled?); ignored",
                ),
            },
        }
    }
    if options.x_forwarded_prefix.is_some() && options.rewrite_target.is_none() {
        diags.warning(
            &id,
            &field_of("x-forwarded-prefix"),
            "has effect only together with rewrite-target (as in ingress-nginx)",
        );
    }
    options
}

/// Go's `strconv.ParseBool`, which ingress-nginx uses.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::diagnostics::Diagnostics;
    use std::collections::BTreeMap;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// An Ingress with these annotations and one rule (host `h`, no paths).
    pub(crate) fn ingress(annotations: &[(&str, &str)]) -> Ingress {
        Ingress {
            namespace: "ns".into(),
            name: "ing".into(),
            created: None,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            class: None,
            default_backend: None,
            rules: vec![crate::model::ingress::Rule {
                host: Some("h".into()),
                paths: vec![],
            }],
            tls: vec![],
        }
    }

    pub(crate) fn parse_all(a: &[(&str, &str)]) -> (IngressOptions, Vec<String>) {
        let mut d = Diagnostics::default();
        let o = parse(&ingress(a), &Secrets::default(), &mut d);
        (o, d.into_vec().iter().map(|d| d.to_string()).collect())
    }

    /// [`parse_all`] with the annotations named without the prefix.
    pub(crate) fn parse_named(a: &[(&str, &str)]) -> (IngressOptions, Vec<String>) {
        let keyed: Vec<(String, &str)> = a.iter().map(|(k, v)| (format!("{PREFIX}{k}"), *v)).collect();
        let pairs: Vec<(&str, &str)> = keyed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        parse_all(&pairs)
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn supported_annotations() {
        let (o, msgs) = parse_all(&[
            ("nginx.ingress.kubernetes.io/rewrite-target", " /$2 "),
            ("nginx.ingress.kubernetes.io/use-regex", "true"),
            ("nginx.ingress.kubernetes.io/x-forwarded-prefix", "/api"),
            ("kubernetes.io/ingress.class", "nginx"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(o.rewrite_target.unwrap().as_str(), "/$2");
        assert!(o.use_regex);
        assert_eq!(o.x_forwarded_prefix.unwrap().as_str(), "/api");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn invalid_values_are_errors_naming_the_annotation() {
        let (_, msgs) = parse_all(&[
            ("nginx.ingress.kubernetes.io/rewrite-target", "/$host"),
            ("nginx.ingress.kubernetes.io/use-regex", "yes"),
        ]);
        assert_eq!(msgs.len(), 2);
        assert!(
            msgs[0].starts_with("ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/rewrite-target: ")
        );
        assert!(msgs[1].contains("use-regex: \"yes\" is not a boolean"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn others_are_warned_not_dropped() {
        let mut d = Diagnostics::default();
        parse(
            &ingress(&[
                ("nginx.ingress.kubernetes.io/proxy-buffering", "on"),
                (
                    "nginx.ingress.kubernetes.io/configuration-snippet",
                    "more_set_headers x;",
                ),
                ("nginx.ingress.kubernetes.io/rewrite-targt", "/"),
            ]),
            &Secrets::default(),
            &mut d,
        );
        let v = d.into_vec();
        assert!(v.iter().all(|d| !d.is_error()));
        assert_eq!(v.len(), 3);
        assert!(v[0].message.contains("never supported"));
        assert!(v[1].message.contains("not yet supported"));
        assert!(v[2].message.contains("unknown ingress-nginx annotation"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn rewrite_needed_only_when_target_differs() {
        let (o, _) = parse_all(&[("nginx.ingress.kubernetes.io/rewrite-target", "/")]);
        assert!(!o.rewrites("/"));
        assert!(o.rewrites("/lobby"));
    }
}
