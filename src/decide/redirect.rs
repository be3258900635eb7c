//! The redirects the annotations ask for, and their `Location`s as ingress-nginx writes them:
//!
//! - `permanent-redirect` / `temporal-redirect` (a location's `return <code> <url>`): exactly the URL, no
//!   request path or query appended; a URL that is a path gets the request's scheme and host, as nginx's
//!   `absolute_redirect` writes it (host without port: `port_in_redirect off`);
//! - `app-root` (the server's `if ($uri = /) { return 302 $scheme://$http_host<app-root>; }`): the Host
//!   header as sent, query dropped;
//! - `from-to-www-redirect` (`ngx_srv_redirect.lua`): `<scheme>://<to>:<port><request_uri>` with one
//!   trailing `/` of the request URI removed, status 308 (`http-redirect-code`).

use super::policy::Outcome;
use super::request_host::route_host;
use super::{trace, Decision, HostMatch, Reason, Request, Target};
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
        format!(
            "{}://{}{}",
            scheme(target.https),
            route_host(target.authority),
            redirect.url
        )
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

/// The answer of a `www.` counterpart redirecting to host `to`.
pub(crate) fn www_redirect<'t>(request: &Request<'_>, to: &str) -> Decision<'t> {
    Decision::Redirect {
        status: WWW_REDIRECT_STATUS,
        location: www_location(
            request.scheme.eq_ignore_ascii_case("https"),
            request.authority,
            to,
            request.path,
        ),
        headers: Vec::new(),
        trace: trace(HostMatch::WwwCounterpart, None, Reason::WwwRedirect),
    }
}

/// `Location` of an `app-root` redirect.
fn app_root_location(scheme: &str, authority: &str, app_root: &str) -> String {
    format!("{scheme}://{authority}{app_root}")
}

/// `Location` of a www redirect to host `to` for a request to `authority` with this path (query
/// included): the port is the request's, else the scheme's default (nginx's `$server_port`: the port the
/// client reached).
fn www_location(https: bool, authority: &str, to: &str, request_path: &str) -> String {
    let port = authority
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(if https { "443" } else { "80" });
    let uri = request_path.strip_suffix('/').unwrap_or(request_path);
    format!("{}://{to}:{port}{uri}", scheme(https))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn www_locations_as_the_lua_writes_them() {
        assert_eq!(
            www_location(false, "www.a.com", "a.com", "/foo"),
            "http://a.com:80/foo"
        );
        assert_eq!(www_location(true, "www.a.com", "a.com", "/"), "https://a.com:443");
        assert_eq!(
            www_location(false, "www.a.com:8080", "a.com", "/x/?q=1"),
            "http://a.com:8080/x/?q=1"
        );
        assert_eq!(
            www_location(false, "www.a.com", "a.com", "/x/?q=/"),
            "http://a.com:80/x/?q="
        );
        assert_eq!(www_location(false, "[::1]", "a.com", "/x/"), "http://a.com:80/x");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn app_root_keeps_the_host_as_sent() {
        assert_eq!(
            app_root_location("http", "Foo.com:8080", "/app"),
            "http://Foo.com:8080/app"
        );
    }
}
