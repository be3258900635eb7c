//! `ssl-redirect`, `force-ssl-redirect` and `preserve-trailing-slash`, as ingress-nginx's `lua_ingress.lua`
//! (`redirect_to_https`) applies them at the end of the rewrite phase, after `rewrite-target`:
//!
//! - never on a location whose Ingress path starts with `/.well-known/acme-challenge` (the ConfigMap's
//!   `no-tls-redirect-locations`, compared with the location's path, not the request's);
//! - `force-ssl-redirect: "true"`: every request that came over HTTP;
//! - `ssl-redirect` (default `"true"`): every request that came over HTTP for a host with a certificate
//!   ([`TlsHosts::covers`]: the host or `*.<parent>` in some `spec.tls`). TLS is host-level: one Ingress
//!   listing the host turns the redirect on for every path of the host, unless the path's own Ingress
//!   says `ssl-redirect: "false"`.
//!
//! The answer is `http-redirect-code` (308) with `Location: https://<host without port><request URI>`: the
//! request URI as the filter received it, query included, its last `/` removed unless
//! `preserve-trailing-slash` (so `GET /` redirects to `https://host`). The host is the `Host` header's.
//!
//! "Came over HTTP" is `:scheme`, which the rendered listeners pin (`http` on the plain one, `https` where
//! Envoy terminates TLS). With `settings.useForwardedHeaders` (a trusted load balancer in front) it is
//! `X-Forwarded-Proto` instead, and the host comes from the first `X-Forwarded-Host`, as ingress-nginx's
//! `use-forwarded-headers` does; without that setting neither header is read.

use super::{trace, Decision, HostMatch, Reason, RequestContext, RouteId, RouteTable, Target};
use crate::compile::tls::TlsHosts;

/// ingress-nginx's `http-redirect-code` default: the status of an HTTP-to-HTTPS redirect.
pub const HTTP_REDIRECT_CODE: u16 = 308;

/// ingress-nginx's `no-tls-redirect-locations` default: locations whose path starts with it never redirect
/// (ACME HTTP-01 challenges must be answered over HTTP).
pub const NO_TLS_REDIRECT_LOCATION: &str = "/.well-known/acme-challenge";

/// Longest `X-Forwarded-Host` value used as the redirect's host.
const MAX_FORWARDED_HOST: usize = 255;

/// The redirect options of one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslRedirect {
    /// `ssl-redirect` (default true): redirect HTTP requests for hosts with TLS.
    pub ssl_redirect: bool,
    /// `force-ssl-redirect` (default false): redirect every HTTP request, TLS or not.
    pub force: bool,
    /// `preserve-trailing-slash` (default false): keep the request URI's last `/` in the `Location`.
    pub preserve_trailing_slash: bool,
}

impl SslRedirect {
    /// ingress-nginx's defaults (the ConfigMap's `ssl-redirect: "true"`).
    pub const DEFAULT: SslRedirect = SslRedirect {
        ssl_redirect: true,
        force: false,
        preserve_trailing_slash: false,
    };
}

impl Default for SslRedirect {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RouteTable {
    /// The hosts with TLS (`spec.tls`) and where their certificates come from.
    pub fn tls(&self) -> &TlsHosts {
        &self.tls
    }

    /// Whether `X-Forwarded-Proto` and `X-Forwarded-Host` are trusted (`settings.useForwardedHeaders`).
    pub fn uses_forwarded_headers(&self) -> bool {
        self.use_forwarded_headers
    }

    /// The redirect to HTTPS a request to a location (path `location`, options `options`) gets, if any.
    /// `route` is the location's route (None for a host's root location with no route of its own).
    pub(super) fn ssl_redirect(
        &self,
        options: SslRedirect,
        location: &str,
        target: &Target<'_, '_>,
        host: HostMatch,
        route: Option<RouteId>,
        ctx: &mut dyn RequestContext,
    ) -> Option<Decision<'_>> {
        let reason = if options.force {
            Reason::ForceSslRedirect
        } else if options.ssl_redirect && !self.tls.is_empty() {
            Reason::SslRedirect
        } else {
            return None;
        };
        if location.starts_with(NO_TLS_REDIRECT_LOCATION) {
            return None;
        }
        let forwarded_proto = if self.use_forwarded_headers {
            ctx.header("x-forwarded-proto")
        } else {
            None
        };
        let over_http = match forwarded_proto {
            Some(proto) => proto == b"http",
            None => !target.https,
        };
        if !over_http || (reason == Reason::SslRedirect && !self.tls.covers(target.host)) {
            return None;
        }
        let forwarded_host = if self.use_forwarded_headers {
            ctx.header("x-forwarded-host")
                .and_then(|value| first_forwarded_host(&value))
        } else {
            None
        };
        let authority = forwarded_host.as_deref().unwrap_or(target.authority);
        let location = https_location(
            authority,
            target.raw_path,
            target.query,
            options.preserve_trailing_slash,
        )?;
        Some(Decision::Redirect {
            status: HTTP_REDIRECT_CODE,
            location,
            headers: Vec::new(),
            trace: trace(host, route, reason),
        })
    }
}

/// `https://<authority without port><path><query>`, the last `/` of path-and-query removed unless
/// `preserve_trailing_slash` (ingress-nginx strips it from `$request_uri`, query included). None when
/// there is no host to redirect to.
pub fn https_location(
    authority: &str,
    path: &str,
    query: &str,
    preserve_trailing_slash: bool,
) -> Option<String> {
    let host = without_port(authority);
    if host.is_empty() {
        return None;
    }
    let mut uri = format!("{path}{query}");
    if !preserve_trailing_slash && uri.ends_with('/') {
        uri.pop();
    }
    Some(format!("https://{host}{uri}"))
}

/// The host of an authority: up to the first `:` (as ingress-nginx splits `$best_http_host`), an IPv6
/// literal with its brackets.
fn without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The first host of an `X-Forwarded-Host` value (`a.com:80, b.com` -> `a.com:80`), when it is one: letters,
/// digits, `.`, `-`, `_`, `:` and IPv6 brackets only, so the header can never put a path, user info or
/// another scheme into the `Location`.
fn first_forwarded_host(value: &[u8]) -> Option<String> {
    let first = value.split(|&b| b == b',').next()?.trim_ascii();
    let ok = !first.is_empty()
        && first.len() <= MAX_FORWARDED_HOST
        && first
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
    ok.then(|| String::from_utf8_lossy(first).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn locations_as_ingress_nginx_builds_them() {
        let loc = |a: &str, p: &str, q: &str, keep: bool| https_location(a, p, q, keep);
        assert_eq!(loc("foo.com", "/", "", false).as_deref(), Some("https://foo.com"));
        assert_eq!(loc("foo.com", "/", "", true).as_deref(), Some("https://foo.com/"));
        assert_eq!(
            loc("foo.com:8080", "/a/b/", "", false).as_deref(),
            Some("https://foo.com/a/b")
        );
        assert_eq!(
            loc("Foo.com:80", "/a", "?x=1", false).as_deref(),
            Some("https://Foo.com/a?x=1")
        );
        // The query is part of the URI whose last byte goes.
        assert_eq!(
            loc("foo.com", "/a/", "?x=1", false).as_deref(),
            Some("https://foo.com/a/?x=1")
        );
        assert_eq!(
            loc("foo.com", "/a", "?next=/", false).as_deref(),
            Some("https://foo.com/a?next=")
        );
        assert_eq!(
            loc("[::1]:10000", "/a", "", false).as_deref(),
            Some("https://[::1]/a")
        );
        assert_eq!(loc("", "/a", "", false), None);
        assert_eq!(loc(":80", "/a", "", false), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn forwarded_hosts() {
        assert_eq!(
            first_forwarded_host(b"example.com:80").as_deref(),
            Some("example.com:80")
        );
        assert_eq!(first_forwarded_host(b" a.com , b.com").as_deref(), Some("a.com"));
        assert_eq!(first_forwarded_host(b"[::1]:8443").as_deref(), Some("[::1]:8443"));
        for bad in [
            &b""[..],
            b",a.com",
            b"evil.com/path",
            b"u@evil.com",
            b"a b",
            b"a\xffb",
        ] {
            assert_eq!(first_forwarded_host(bad), None, "{bad:?}");
        }
        assert_eq!(first_forwarded_host("a".repeat(300).as_bytes()), None);
    }
}
