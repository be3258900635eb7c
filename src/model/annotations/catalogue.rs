//! Every `nginx.ingress.kubernetes.io/*` annotation ingress-nginx knows (its documentation and its code,
//! release controller-v1.15.1), with what ingress-wasm does with it. The README's compatibility table is
//! this list (a test keeps them equal), and the parser asks it what to say about annotations no family
//! parser reads.

/// What ingress-wasm does with an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// As ingress-nginx does.
    Supported,
    /// Supported with the differences the note gives.
    Partly,
    /// Restricts access and is not enforced: every path of its Ingress answers 503.
    FailsClosed,
    /// Not supported yet: warned about and ignored (it only changes behaviour, never access).
    Ignored,
    /// Raw nginx configuration: never supported (fails closed when it uses access directives).
    Never,
}

impl Support {
    /// The word the README table uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::Partly => "partly",
            Support::FailsClosed => "fails closed",
            Support::Ignored => "ignored",
            Support::Never => "never",
        }
    }
}

/// One annotation (without the `nginx.ingress.kubernetes.io/` prefix).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub support: Support,
    /// How it is supported, or why not. Native builds only: the CLI shows it (warnings, the README
    /// table); the Wasm module does without these ~6 KB of text (its warnings name the annotation).
    #[cfg(not(target_arch = "wasm32"))]
    note: &'static str,
}

impl Entry {
    /// How it is supported, or why not (empty in the Wasm module).
    pub fn note(&self) -> &'static str {
        #[cfg(not(target_arch = "wasm32"))]
        return self.note;
        #[cfg(target_arch = "wasm32")]
        return "";
    }
}

#[cfg(not(target_arch = "wasm32"))]
const fn e(name: &'static str, support: Support, note: &'static str) -> Entry {
    Entry { name, support, note }
}

#[cfg(target_arch = "wasm32")]
const fn e(name: &'static str, support: Support, _note: &'static str) -> Entry {
    Entry { name, support }
}

use Support::{FailsClosed, Ignored, Never, Partly, Supported};

const AUTH_EXTERNAL: &str = "external authentication (auth-url) is not implemented";
const AUTH_TLS: &str = "client-certificate authentication is not implemented";
const RATE: &str = "rate and connection limits are not implemented";
const WAF: &str = "ModSecurity is not available in Envoy";
const BUFFERS: &str = "nginx buffering; Envoy streams";
const PROXY_SSL: &str = "upstream TLS verification and client certificates are not implemented (backend-protocol HTTPS does not verify, as ingress-nginx's default)";
const HASH_BY: &str = "hash-based load balancing on nginx variables is not implemented";
const MIRROR: &str = "request mirroring is not implemented";

/// Sorted by name.
pub const CATALOGUE: &[Entry] = &[
    e("affinity", Supported, "`cookie`: ingress-nginx's session cookie, Envoy picks the endpoint"),
    e("affinity-canary-behavior", Supported, "`sticky` copies the primary's affinity to the canary; `legacy` gives it none"),
    e("affinity-mode", Partly, "`balanced` hashes with Envoy's Maglev (balanced sessions reshuffle once at migration); `persistent` needs the endpoints in the configuration (`render --endpoints`), else it is balanced"),
    e("allowlist-source-range", Supported, "403 outside the ranges; client address from Envoy (`settings.trustedHops`)"),
    e("app-root", Supported, "302 for `/` of the host"),
    e("auth-always-set-cookie", FailsClosed, AUTH_EXTERNAL),
    e("auth-cache-duration", FailsClosed, AUTH_EXTERNAL),
    e("auth-cache-key", FailsClosed, AUTH_EXTERNAL),
    e("auth-keepalive", FailsClosed, AUTH_EXTERNAL),
    e("auth-keepalive-requests", FailsClosed, AUTH_EXTERNAL),
    e("auth-keepalive-share-vars", FailsClosed, AUTH_EXTERNAL),
    e("auth-keepalive-timeout", FailsClosed, AUTH_EXTERNAL),
    e("auth-method", FailsClosed, AUTH_EXTERNAL),
    e("auth-proxy-set-headers", FailsClosed, AUTH_EXTERNAL),
    e("auth-realm", Supported, "the realm of `WWW-Authenticate`"),
    e("auth-request-redirect", FailsClosed, AUTH_EXTERNAL),
    e("auth-response-headers", FailsClosed, AUTH_EXTERNAL),
    e("auth-secret", Supported, "htpasswd from a Secret in the input or `--secrets-dir`"),
    e("auth-secret-type", Supported, "`auth-file` or `auth-map`"),
    e("auth-signin", FailsClosed, AUTH_EXTERNAL),
    e("auth-signin-redirect-param", FailsClosed, AUTH_EXTERNAL),
    e("auth-snippet", FailsClosed, AUTH_EXTERNAL),
    e("auth-tls-error-page", FailsClosed, AUTH_TLS),
    e("auth-tls-match-cn", FailsClosed, AUTH_TLS),
    e("auth-tls-pass-certificate-to-upstream", FailsClosed, AUTH_TLS),
    e("auth-tls-secret", FailsClosed, AUTH_TLS),
    e("auth-tls-verify-client", FailsClosed, AUTH_TLS),
    e("auth-tls-verify-depth", FailsClosed, AUTH_TLS),
    e("auth-type", Partly, "`basic` (bcrypt up to cost 10, apr1, MD5-crypt, SHA, SSHA, plain); `digest` fails closed"),
    e("auth-url", FailsClosed, AUTH_EXTERNAL),
    e("backend-protocol", Partly, "HTTP, HTTPS (no verification), GRPC (h2c), GRPCS; AUTO_HTTP and FCGI fall back to HTTP (warned); per service"),
    e("canary", Supported, "attaches to the primary with the same host, path and pathType"),
    e("canary-by-cookie", Supported, "`always` / `never`"),
    e("canary-by-header", Supported, "`always` / `never`, or with a value or pattern"),
    e("canary-by-header-pattern", Partly, "RE2 syntax: look-around and backreferences count as invalid, which sends to the primary"),
    e("canary-by-header-value", Supported, "exact, case-sensitive"),
    e("canary-weight", Supported, "uniform draw per request"),
    e("canary-weight-total", Supported, "below 100 counts as 100, as in ingress-nginx"),
    e("client-body-buffer-size", Partly, "validated only: Envoy streams request bodies, so there is no buffer to size"),
    e("configuration-snippet", Never, "raw nginx configuration; fails closed when it uses access directives"),
    e("connection-proxy-header", Ignored, "Envoy manages the upstream Connection header"),
    e("cors-allow-credentials", Supported, "CORS"),
    e("cors-allow-headers", Supported, "CORS"),
    e("cors-allow-methods", Supported, "CORS"),
    e("cors-allow-origin", Supported, "origin list with `*`, one-label wildcards, ports and `null`"),
    e("cors-expose-headers", Supported, "CORS"),
    e("cors-max-age", Supported, "CORS"),
    e("custom-headers", Ignored, "response headers from a ConfigMap are not implemented"),
    e("custom-http-errors", Partly, "Envoy's custom_response sends the error to the default backend with ingress-nginx's X-Code headers; the filter's own replies are not replaced"),
    e("default-backend", Partly, "the error backend of custom-http-errors and of unreachable services; the Service port comes from the Ingresses (else 80, warned)"),
    e("denylist-source-range", Supported, "403 inside the ranges, before the allowlist"),
    e("disable-proxy-intercept-errors", Ignored, "error interception is only what custom-http-errors asks for"),
    e("enable-access-log", Ignored, "Envoy's access log is configured in Envoy"),
    e("enable-cors", Supported, "preflight answered 204 by the filter, CORS headers on responses"),
    e("enable-global-auth", Ignored, "no global external authentication, so nothing to turn off"),
    e("enable-modsecurity", FailsClosed, WAF),
    e("enable-opentelemetry", Ignored, "tracing is configured in Envoy"),
    e("enable-owasp-core-rules", FailsClosed, WAF),
    e("enable-rewrite-log", Ignored, "nginx's rewrite log"),
    e("fastcgi-index", Ignored, "FastCGI backends are not supported"),
    e("fastcgi-params-configmap", Ignored, "FastCGI backends are not supported"),
    e("force-ssl-redirect", Supported, "308 to HTTPS, TLS or not"),
    e("from-to-www-redirect", Supported, "the www counterpart answers 308"),
    e("global-rate-limit", FailsClosed, RATE),
    e("global-rate-limit-ignored-cidrs", FailsClosed, RATE),
    e("global-rate-limit-key", FailsClosed, RATE),
    e("global-rate-limit-window", FailsClosed, RATE),
    e("http2-push-preload", Ignored, "HTTP/2 server push is gone from browsers and Envoy"),
    e("limit-allowlist", FailsClosed, RATE),
    e("limit-burst-multiplier", FailsClosed, RATE),
    e("limit-connections", FailsClosed, RATE),
    e("limit-rate", FailsClosed, RATE),
    e("limit-rate-after", FailsClosed, RATE),
    e("limit-rpm", FailsClosed, RATE),
    e("limit-rps", FailsClosed, RATE),
    e("limit-whitelist", FailsClosed, RATE),
    e("load-balance", Ignored, "Envoy's cluster load balancing (round robin; Maglev with affinity)"),
    e("mirror-host", Ignored, MIRROR),
    e("mirror-request-body", Ignored, MIRROR),
    e("mirror-target", Ignored, MIRROR),
    e("modsecurity-snippet", FailsClosed, WAF),
    e("modsecurity-transaction-id", FailsClosed, WAF),
    e("opentelemetry-operation-name", Ignored, "tracing is configured in Envoy"),
    e("opentelemetry-trust-incoming-span", Ignored, "tracing is configured in Envoy"),
    e("permanent-redirect", Supported, "Location exactly the annotation's URL"),
    e("permanent-redirect-code", Supported, "300-308, else 301"),
    e("preserve-trailing-slash", Supported, "keeps the last `/` in the HTTPS redirect"),
    e("proxy-body-size", Partly, "413 for a declared length over the limit (default 1m, `settings.proxyBodySize`); a streamed body is cut once it passes the limit, after part of it reached the upstream"),
    e("proxy-buffer-size", Ignored, BUFFERS),
    e("proxy-buffering", Ignored, BUFFERS),
    e("proxy-buffers-number", Ignored, BUFFERS),
    e("proxy-busy-buffers-size", Ignored, BUFFERS),
    e("proxy-connect-timeout", Supported, "the cluster's connect timeout (per service)"),
    e("proxy-cookie-domain", Ignored, "rewriting upstream cookies is not implemented"),
    e("proxy-cookie-path", Ignored, "rewriting upstream cookies is not implemented"),
    e("proxy-http-version", Ignored, "Envoy speaks HTTP/1.1 or HTTP/2 upstream (backend-protocol)"),
    e("proxy-max-temp-file-size", Ignored, BUFFERS),
    e("proxy-next-upstream", Ignored, "retries are not rendered"),
    e("proxy-next-upstream-timeout", Ignored, "retries are not rendered"),
    e("proxy-next-upstream-tries", Ignored, "retries are not rendered"),
    e("proxy-read-timeout", Supported, "Envoy's per-try idle timeout (504)"),
    e("proxy-redirect-from", Ignored, "rewriting upstream Location headers is not implemented"),
    e("proxy-redirect-to", Ignored, "rewriting upstream Location headers is not implemented"),
    e("proxy-request-buffering", Ignored, BUFFERS),
    e("proxy-send-timeout", Partly, "no Envoy counterpart: the stream idle timeout is the larger of send and read plus 5 s"),
    e("proxy-ssl-ciphers", Ignored, PROXY_SSL),
    e("proxy-ssl-name", Ignored, PROXY_SSL),
    e("proxy-ssl-protocols", Ignored, PROXY_SSL),
    e("proxy-ssl-secret", Ignored, PROXY_SSL),
    e("proxy-ssl-server-name", Ignored, PROXY_SSL),
    e("proxy-ssl-verify", Ignored, PROXY_SSL),
    e("proxy-ssl-verify-depth", Ignored, PROXY_SSL),
    e("relative-redirects", Ignored, "redirects keep ingress-nginx's absolute Locations"),
    e("rewrite-target", Supported, "static or with `$1`-`$9` captures, bounded and refused when a capture climbs out"),
    e("satisfy", FailsClosed, "combines access rules nginx's way; not implemented"),
    e("server-alias", Partly, "exact names and nginx's `*.x`, `.x` and `x.*` forms; regex aliases are ignored (warned)"),
    e("server-snippet", Never, "raw nginx configuration; fails closed when it uses access directives"),
    e("service-upstream", Supported, "the cluster targets the Service's DNS name"),
    e("session-cookie-change-on-failure", Partly, "no retries are rendered: a persistent session moves only when its endpoint is gone"),
    e("session-cookie-conditional-samesite-none", Supported, "ingress-nginx's user-agent list"),
    e("session-cookie-domain", Supported, "affinity cookie"),
    e("session-cookie-expires", Supported, "nginx's date format"),
    e("session-cookie-max-age", Supported, "affinity cookie"),
    e("session-cookie-name", Supported, "affinity cookie"),
    e("session-cookie-path", Supported, "default: the Ingress path matched"),
    e("session-cookie-samesite", Supported, "`None`, `Lax`, `Strict` spelled exactly"),
    e("session-cookie-secure", Supported, "also on every HTTPS request"),
    e("ssl-ciphers", Ignored, "the HTTPS listener keeps Envoy's cipher suites"),
    e("ssl-passthrough", Ignored, "TLS passthrough is not rendered; TLS is terminated by Envoy"),
    e("ssl-prefer-server-ciphers", Ignored, "the HTTPS listener keeps Envoy's cipher suites"),
    e("ssl-redirect", Supported, "308 to HTTPS on hosts with TLS"),
    e("stream-snippet", Never, "raw nginx configuration; fails closed when it uses access directives"),
    e("temporal-redirect", Supported, "Location exactly the annotation's URL; wins over permanent-redirect"),
    e("temporal-redirect-code", Supported, "300-307, else 302"),
    e("upstream-hash-by", Ignored, HASH_BY),
    e("upstream-hash-by-subset", Ignored, HASH_BY),
    e("upstream-hash-by-subset-size", Ignored, HASH_BY),
    e("upstream-vhost", Supported, "the Host sent upstream"),
    e("use-port-in-redirects", Ignored, "redirects follow ingress-nginx's default (no port)"),
    e("use-regex", Supported, "host-wide in the ingress-nginx profile; RE2 syntax"),
    e("whitelist-source-range", Supported, "alias of allowlist-source-range"),
    e("x-forwarded-prefix", Supported, "with rewrite-target, as ingress-nginx"),
];

/// The entry of annotation `name` (without the prefix).
pub fn lookup(name: &str) -> Option<&'static Entry> {
    CATALOGUE
        .binary_search_by(|entry| entry.name.cmp(name))
        .ok()
        .and_then(|i| CATALOGUE.get(i))
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_named;
    use super::super::{
        access, affinity, auth, body_size, canary, cors, error_pages, hosts, redirect, ssl_redirect,
        upstream, PREFIX,
    };
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[cfg(not(target_arch = "wasm32"))]
    const TABLE_BEGIN: &str =
        "<!-- annotation table: generated from src/model/annotations/catalogue.rs -->\n";
    #[cfg(not(target_arch = "wasm32"))]
    const TABLE_END: &str = "<!-- end of annotation table -->";

    /// The README's compatibility table (native only: the Wasm build has no notes).
    #[cfg(not(target_arch = "wasm32"))]
    fn markdown_table() -> String {
        let mut table = String::from("| annotation | ingress-wasm | how, or why not |\n|---|---|---|\n");
        for entry in CATALOGUE {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                entry.name,
                entry.support.as_str(),
                entry.note().replace('|', "\\|")
            ));
        }
        table
    }

    /// Every name a parser of this module reads.
    fn parsed_names() -> Vec<&'static str> {
        let families: [&[&'static str]; 10] = [
            access::NAMES,
            affinity::NAMES,
            auth::NAMES,
            canary::NAMES,
            cors::NAMES,
            error_pages::NAMES,
            hosts::NAMES,
            redirect::NAMES,
            ssl_redirect::NAMES,
            upstream::NAMES,
        ];
        let mut names: Vec<&'static str> = families.concat();
        names.extend([
            body_size::NAME,
            "rewrite-target",
            "use-regex",
            "x-forwarded-prefix",
        ]);
        names
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn sorted_unique_and_explained() {
        for pair in CATALOGUE.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} / {}", pair[0].name, pair[1].name);
        }
        #[cfg(not(target_arch = "wasm32"))]
        assert!(CATALOGUE.iter().all(|e| !e.note().is_empty()));
        assert!(lookup("rewrite-target").is_some() && lookup("rewrite-targt").is_none());
        assert!(CATALOGUE.len() >= 140, "{}", CATALOGUE.len());
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn readme_table_is_the_catalogue() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split_once(TABLE_BEGIN)
            .and_then(|(_, rest)| rest.split_once(TABLE_END))
            .map(|(table, _)| table);
        let expected = markdown_table();
        assert_eq!(
            table,
            Some(expected.as_str()),
            "README.md's annotation table differs from the catalogue; between the markers it should read:\n{TABLE_BEGIN}{expected}{TABLE_END}"
        );
    }

    /// The catalogue says "supported" or "partly" exactly for the names a parser reads.
    #[wasm_bindgen_test(unsupported = test)]
    fn supported_entries_are_the_parsed_names() {
        let parsed = parsed_names();
        for entry in CATALOGUE {
            let supported = matches!(entry.support, Support::Supported | Support::Partly);
            assert_eq!(
                supported,
                parsed.contains(&entry.name),
                "{}: the catalogue says {}",
                entry.name,
                entry.support.as_str()
            );
        }
        for name in parsed {
            assert!(
                lookup(name).is_some(),
                "{name} is parsed but not in the catalogue"
            );
        }
    }

    /// What the parser does with each entry is what the catalogue says.
    #[wasm_bindgen_test(unsupported = test)]
    fn parser_follows_the_catalogue() {
        for entry in CATALOGUE {
            let (options, messages) = parse_named(&[(entry.name, "deny all;")]);
            let about: Vec<&String> = messages.iter().filter(|m| m.contains(entry.name)).collect();
            let says = |text: &str| about.iter().any(|m| m.contains(text));
            let key = format!("{PREFIX}{}", entry.name);
            match entry.support {
                Support::Supported | Support::Partly => {
                    assert!(
                        !says("unknown") && !says("not yet supported"),
                        "{}: {about:?}",
                        entry.name
                    )
                }
                Support::Ignored => assert!(says("not yet supported"), "{}: {about:?}", entry.name),
                Support::Never => assert!(says("never supported"), "{}: {about:?}", entry.name),
                Support::FailsClosed => {
                    assert!(options.unenforced.contains(&key), "{}: {about:?}", entry.name)
                }
            }
        }
    }
}
