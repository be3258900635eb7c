//! The redirects the annotations ask for, and their `Location`s as ingress-nginx writes them:
//!
//! - `permanent-redirect` / `temporal-redirect` (a location's `return <code> <url>`): exactly the URL, no
//!   request path or query appended; a URL that is a path gets the request's scheme and host, as nginx's
//!   `absolute_redirect` writes it (host without port: `port_in_redirect off`);
//! - `app-root` (the server's `if ($uri = /) { return 302 $scheme://$http_host<app-root>; }`): the Host
//!   header as sent, query dropped;
//! - `from-to-www-redirect` (`ngx_srv_redirect.lua`): `<scheme>://<to>:<port><request_uri>` with one
//!   trailing `/` of the request URI removed, status 308 (`http-redirect-code`); with
//!   `settings.useForwardedHeaders`, `X-Forwarded-Proto` and `X-Forwarded-Port` give scheme and port.

use super::policy::Outcome;
use super::{trace, Decision, HostMatch, Reason, Request, RequestContext, Target};
use crate::model::annotations::redirect::LocationRedirect;

/// ingress-nginx's default `http-redirect-code`, the status of its www redirects.
pub const WWW_REDIRECT_STATUS: u16 = 308;

fn scheme(https: bool) -> &'static str {
    if https {
        "https"
    } else {
        "http"
    }
}

/// The answer of a location with `permanent-redirect` or `temporal-redirect`.
pub(crate) fn location_redirect(redirect: &LocationRedirect, target: &Target<'_, '_>) -> Outcome {
    let location = if redirect.url.starts_with('/') {
        format!("{}://{}{}", scheme(target.https), target.host, redirect.url)
    } else {
        redirect.url.clone()
    };
    Outcome::Redirect {
        status: redirect.status,
        location,
        reason: if redirect.temporal {
            Reason::TemporalRedirect
        } else {
            Reason::PermanentRedirect
        },
    }
}

/// The answer to `/` of a host with `app-root`.
pub(crate) fn app_root_redirect<'t>(request: &Request<'_>, app_root: &str, host: HostMatch) -> Decision<'t> {
    Decision::Redirect {
        status: 302,
        location: app_root_location(request.scheme, request.authority, app_root),
        headers: Vec::new(),
        trace: trace(host, None, Reason::AppRoot),
    }
}

/// The answer of a `www.` counterpart redirecting to host `to`. `forwarded`: `X-Forwarded-Proto` and
/// `X-Forwarded-Port` are trusted (only `http` / `https` and a port number are taken from them).
pub(crate) fn www_redirect<'t>(
    request: &Request<'_>,
    to: &str,
    forwarded: bool,
    ctx: &mut dyn RequestContext,
) -> Decision<'t> {
    let mut https = request.scheme.eq_ignore_ascii_case("https");
    let mut port = authority_port(request.authority).map(str::to_string);
    if forwarded {
        match ctx.header("x-forwarded-proto").as_deref() {
            Some(b"https") => https = true,
            Some(b"http") => https = false,
            _ => {}
        }
        let forwarded_port = ctx
            .header("x-forwarded-port")
            .and_then(|p| String::from_utf8(p).ok());
        if let Some(p) = forwarded_port.filter(|p| is_port(p)) {
            port = Some(p);
        }
    }
    let port = port.as_deref().unwrap_or(if https { "443" } else { "80" });
    let uri = request.path.strip_suffix('/').unwrap_or(request.path);
    Decision::Redirect {
        status: WWW_REDIRECT_STATUS,
        location: format!("{}://{to}:{port}{uri}", scheme(https)),
        headers: Vec::new(),
        trace: trace(HostMatch::WwwCounterpart, None, Reason::WwwRedirect),
    }
}

fn is_port(text: &str) -> bool {
    (1..=5).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// The port of an `:authority`, if it names one (nginx's `$server_port`: the port the client reached).
fn authority_port(authority: &str) -> Option<&str> {
    authority
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| is_port(port))
}

/// `Location` of an `app-root` redirect.
fn app_root_location(scheme: &str, authority: &str, app_root: &str) -> String {
    format!("{scheme}://{authority}{app_root}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::context::TestContext;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn www(scheme: &str, authority: &str, path: &str, forwarded: Option<(&str, &str)>) -> String {
        let request = Request {
            scheme,
            authority,
            path,
        };
        let mut ctx = TestContext::new();
        if let Some((proto, port)) = forwarded {
            ctx = ctx
                .header("x-forwarded-proto", proto.as_bytes())
                .header("x-forwarded-port", port.as_bytes());
        }
        match www_redirect(&request, "a.com", forwarded.is_some(), &mut ctx) {
            Decision::Redirect { location, .. } => location,
            other => panic!("{other:?}"),
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn www_locations_as_the_lua_writes_them() {
        assert_eq!(www("http", "www.a.com", "/foo", None), "http://a.com:80/foo");
        assert_eq!(www("https", "www.a.com", "/", None), "https://a.com:443");
        assert_eq!(
            www("http", "www.a.com:8080", "/x/?q=1", None),
            "http://a.com:8080/x/?q=1"
        );
        assert_eq!(www("http", "www.a.com", "/x/?q=/", None), "http://a.com:80/x/?q=");
        assert_eq!(www("http", "[::1]", "/x/", None), "http://a.com:80/x");
        // Trusted forwarded headers: their scheme and port; anything else in them is not taken.
        assert_eq!(
            www("http", "www.a.com", "/x", Some(("https", "443"))),
            "https://a.com:443/x"
        );
        assert_eq!(
            www("http", "www.a.com:80", "/x", Some(("https", "8443"))),
            "https://a.com:8443/x"
        );
        assert_eq!(
            www("http", "www.a.com", "/x", Some(("javascript", "1/x"))),
            "http://a.com:80/x"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn app_root_keeps_the_host_as_sent() {
        assert_eq!(
            app_root_location("http", "Foo.com:8080", "/app"),
            "http://Foo.com:8080/app"
        );
    }
}
