//! `nginx.ingress.kubernetes.io/*` annotations -> typed options per Ingress.
//!
//! Supported here: `rewrite-target`, `use-regex`, `x-forwarded-prefix`. Invalid values are errors (the
//! configuration is refused; ingress-nginx silently used the default). Annotations that restrict who may
//! reach a path, or how (authentication, source ranges, rate limits, WAF, and snippets with access
//! directives), fail closed while they are not enforced: every path of their Ingress answers 503, as
//! ingress-nginx answers for a denied location. Every other ingress-nginx annotation is warned about as
//! not yet supported, never dropped silently. Canary Ingresses are not served yet: all their traffic
//! stays on the primary, as if the canary did not exist.

use crate::decide::rewrite::Template;
use crate::diagnostics::Diagnostics;
use crate::model::ingress::Ingress;

pub const PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// The options one Ingress sets.
#[derive(Debug, Clone, Default)]
pub struct IngressOptions {
    pub rewrite_target: Option<Template>,
    pub use_regex: bool,
    pub x_forwarded_prefix: Option<Template>,
    /// `canary: "true"`: not served yet (warned).
    pub canary: bool,
    /// Access-control annotations (full keys) this gateway does not enforce: the Ingress fails closed.
    pub unenforced: Vec<String>,
}

impl IngressOptions {
    /// Whether `path` of this Ingress is rewritten (ingress-nginx `needsRewrite`: target set and != path).
    pub fn rewrites(&self, path: &str) -> bool {
        self.rewrite_target.as_ref().is_some_and(|t| t.as_str() != path)
    }
}

/// Annotations this project does not implement yet (ingress-nginx names, without the prefix).
const NOT_YET_SUPPORTED: &[&str] = &[
    "affinity",
    "affinity-canary-behavior",
    "affinity-mode",
    "app-root",
    "backend-protocol",
    "canary-by-cookie",
    "canary-by-header",
    "canary-by-header-pattern",
    "canary-by-header-value",
    "canary-weight",
    "canary-weight-total",
    "client-body-buffer-size",
    "connection-proxy-header",
    "cors-allow-credentials",
    "cors-allow-headers",
    "cors-allow-methods",
    "cors-allow-origin",
    "cors-expose-headers",
    "cors-max-age",
    "custom-headers",
    "custom-http-errors",
    "default-backend",
    "enable-access-log",
    "enable-cors",
    "enable-opentelemetry",
    "enable-rewrite-log",
    "force-ssl-redirect",
    "from-to-www-redirect",
    "http2-push-preload",
    "load-balance",
    "mirror-host",
    "mirror-request-body",
    "mirror-target",
    "opentelemetry-trust-incoming-span",
    "permanent-redirect",
    "permanent-redirect-code",
    "preserve-trailing-slash",
    "proxy-body-size",
    "proxy-buffer-size",
    "proxy-buffering",
    "proxy-buffers-number",
    "proxy-connect-timeout",
    "proxy-cookie-domain",
    "proxy-cookie-path",
    "proxy-http-version",
    "proxy-max-temp-file-size",
    "proxy-next-upstream",
    "proxy-next-upstream-timeout",
    "proxy-next-upstream-tries",
    "proxy-read-timeout",
    "proxy-redirect-from",
    "proxy-redirect-to",
    "proxy-request-buffering",
    "proxy-send-timeout",
    "proxy-ssl-ciphers",
    "proxy-ssl-name",
    "proxy-ssl-protocols",
    "proxy-ssl-secret",
    "proxy-ssl-server-name",
    "proxy-ssl-verify",
    "proxy-ssl-verify-depth",
    "server-alias",
    "service-upstream",
    "session-cookie-change-on-failure",
    "session-cookie-conditional-samesite-none",
    "session-cookie-domain",
    "session-cookie-expires",
    "session-cookie-max-age",
    "session-cookie-name",
    "session-cookie-path",
    "session-cookie-samesite",
    "session-cookie-secure",
    "ssl-ciphers",
    "ssl-passthrough",
    "ssl-prefer-server-ciphers",
    "ssl-redirect",
    "temporal-redirect",
    "temporal-redirect-code",
    "upstream-hash-by",
    "upstream-hash-by-subset",
    "upstream-hash-by-subset-size",
    "upstream-vhost",
];

/// Annotations that restrict who may reach a path or how, besides every `auth-*` and `limit-*` one.
const ACCESS_CONTROL: &[&str] = &[
    "allowlist-source-range",
    "whitelist-source-range",
    "denylist-source-range",
    "satisfy",
    "global-rate-limit",
    "global-rate-limit-window",
    "global-rate-limit-key",
    "global-rate-limit-ignored-cidrs",
    "enable-modsecurity",
    "enable-owasp-core-rules",
    "modsecurity-transaction-id",
    "modsecurity-snippet",
];

/// Whether annotation `name` (without the prefix) restricts access.
pub fn restricts_access(name: &str) -> bool {
    name.starts_with("auth-") || name.starts_with("limit-") || ACCESS_CONTROL.contains(&name)
}

/// Annotations that inject raw nginx configuration: never supported, by design.
const SNIPPETS: &[&str] = &["configuration-snippet", "server-snippet", "stream-snippet"];

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

/// Reads the options of one Ingress. Errors and warnings name `metadata.annotations.<key>`.
pub fn parse(ingress: &Ingress, diags: &mut Diagnostics) -> IngressOptions {
    let id = ingress.id();
    let mut options = IngressOptions::default();
    for (key, raw) in &ingress.annotations {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        let field = format!("metadata.annotations.{key}");
        let value = raw.trim();
        match name {
            "rewrite-target" | "x-forwarded-prefix" if value.is_empty() => {}
            "rewrite-target" => match Template::parse(value) {
                Ok(t) => options.rewrite_target = Some(t),
                Err(e) => diags.error(&id, &field, e),
            },
            "x-forwarded-prefix" => match Template::parse(value) {
                Ok(t) => options.x_forwarded_prefix = Some(t),
                Err(e) => diags.error(&id, &field, e),
            },
            "use-regex" => match parse_bool(value) {
                Some(b) => options.use_regex = b,
                None => diags.error(
                    &id,
                    &field,
                    format!("{raw:?} is not a boolean (use \"true\" or \"false\")"),
                ),
            },
            "canary" => match parse_bool(value) {
                Some(b) => options.canary = b,
                None => diags.error(
                    &id,
                    &field,
                    format!("{raw:?} is not a boolean (use \"true\" or \"false\")"),
                ),
            },
            n if restricts_access(n) => {
                options.unenforced.push(key.clone());
                diags.warning(&id, &field, FAIL_CLOSED);
            }
            n if SNIPPETS.contains(&n) => match snippet_access_directive(value) {
                Some(directive) => {
                    options.unenforced.push(key.clone());
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
            n if NOT_YET_SUPPORTED.contains(&n) => diags.warning(&id, &field, "not yet supported; ignored"),
            _ => diags.warning(
                &id,
                &field,
                "unknown ingress-nginx annotation (misspelled?); ignored",
            ),
        }
    }
    if options.x_forwarded_prefix.is_some() && options.rewrite_target.is_none() {
        diags.warning(
            &id,
            &format!("metadata.annotations.{PREFIX}x-forwarded-prefix"),
            "has effect only together with rewrite-target (as in ingress-nginx)",
        );
    }
    if options.canary {
        diags.warning(
            &id,
            &format!("metadata.annotations.{PREFIX}canary"),
            "canary Ingresses are not yet supported; this Ingress is not served and all traffic goes to the primary",
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
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostics;
    use std::collections::BTreeMap;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn ingress(annotations: &[(&str, &str)]) -> Ingress {
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
            rules: vec![],
            tls: vec![],
        }
    }

    fn parse_all(a: &[(&str, &str)]) -> (IngressOptions, Vec<String>) {
        let mut d = Diagnostics::default();
        let o = parse(&ingress(a), &mut d);
        (o, d.into_vec().iter().map(|d| d.to_string()).collect())
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
                ("nginx.ingress.kubernetes.io/app-root", "/app"),
                (
                    "nginx.ingress.kubernetes.io/configuration-snippet",
                    "more_set_headers x;",
                ),
                ("nginx.ingress.kubernetes.io/rewrite-targt", "/"),
            ]),
            &mut d,
        );
        let v = d.into_vec();
        assert!(v.iter().all(|d| !d.is_error()));
        assert_eq!(v.len(), 3);
        assert!(v[0].message.contains("not yet supported"));
        assert!(v[1].message.contains("never supported"));
        assert!(v[2].message.contains("unknown ingress-nginx annotation"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn rewrite_needed_only_when_target_differs() {
        let (o, _) = parse_all(&[("nginx.ingress.kubernetes.io/rewrite-target", "/")]);
        assert!(!o.rewrites("/"));
        assert!(o.rewrites("/lobby"));
    }
}
