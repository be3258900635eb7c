//! CORS per request, as ingress-nginx's template answers it (`nginx.tmpl`, `define "CORS"`): a request
//! whose `Origin` is allowed (every request when the origins are `*`) gets the CORS headers on its
//! response; an `OPTIONS` request among them is a preflight and gets 204 from the filter without
//! reaching the backend. A request from another origin goes on without CORS headers.

use super::RequestContext;
use crate::model::annotations::cors::{AllowedOrigins, CorsOptions};
use crate::work;
use std::collections::HashSet;

/// One route's CORS settings, compiled.
#[derive(Debug)]
pub struct Cors {
    /// None: every origin (`*`).
    origins: Option<HashSet<String>>,
    /// The headers after `Access-Control-Allow-Origin`, in ingress-nginx's order.
    headers: Vec<(&'static str, String)>,
}

/// What CORS makes of one request.
#[derive(Debug, PartialEq, Eq)]
pub enum CorsAnswer {
    /// Not a CORS request of an allowed origin: nothing to add.
    None,
    /// Add these headers to whatever answers the request.
    Headers(Vec<(&'static str, String)>),
    /// A preflight: answer 204 with these headers.
    Preflight(Vec<(&'static str, String)>),
}

impl Cors {
    pub fn new(options: &CorsOptions) -> Cors {
        let mut headers = Vec::with_capacity(5);
        if options.credentials {
            headers.push(("access-control-allow-credentials", "true".to_string()));
        }
        headers.push(("access-control-allow-methods", options.methods.clone()));
        headers.push(("access-control-allow-headers", options.headers.clone()));
        if let Some(expose) = &options.expose_headers {
            headers.push(("access-control-expose-headers", expose.clone()));
        }
        headers.push(("access-control-max-age", options.max_age.to_string()));
        let origins = match &options.origins {
            AllowedOrigins::Any => None,
            AllowedOrigins::List(list) => Some(list.iter().cloned().collect()),
        };
        Cors { origins, headers }
    }

    /// The CORS answer to the request `ctx` describes: reads `Origin` (unless every origin is allowed)
    /// and `:method`.
    pub(crate) fn answer(&self, ctx: &mut dyn RequestContext) -> CorsAnswer {
        let allow_origin = match &self.origins {
            None => "*".to_string(),
            Some(allowed) => match ctx.header("origin").and_then(|o| String::from_utf8(o).ok()) {
                Some(origin) if allows(allowed, &origin) => origin,
                _ => return CorsAnswer::None,
            },
        };
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        headers.push(("access-control-allow-origin", allow_origin));
        headers.extend(self.headers.iter().cloned());
        // The template also sets `Content-Type: text/plain charset=UTF-8` and `Content-Length: 0` on the
        // 204; HTTP forbids a Content-Length there and Envoy sends neither on a 204, so they are left out.
        if ctx.header(":method").as_deref() == Some(b"OPTIONS") {
            return CorsAnswer::Preflight(headers);
        }
        CorsAnswer::Headers(headers)
    }
}

/// Whether `origin` is one of `allowed` (lower-cased entries), compared case-insensitively as
/// ingress-nginx's `~*` regex does; an entry `scheme://*.rest` stands for any one label
/// (`[A-Za-z0-9-]+`) before `.rest`. Two set lookups, whatever the number of entries.
fn allows(allowed: &HashSet<String>, origin: &str) -> bool {
    work::add(origin.len());
    let origin = origin.to_ascii_lowercase();
    if allowed.contains(&origin) {
        return true;
    }
    let Some(host_start) = origin.find("://").map(|i| i + 3) else {
        return false;
    };
    let host = &origin[host_start..];
    let label_end = host
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(host.len());
    if label_end == 0 || !host[label_end..].starts_with('.') {
        return false;
    }
    work::add(origin.len());
    let wildcard = format!("{}*{}", &origin[..host_start], &host[label_end..]);
    allowed.contains(&wildcard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::context::TestContext;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn cors(origins: &[&str]) -> Cors {
        Cors::new(&CorsOptions {
            origins: if origins == ["*"] {
                AllowedOrigins::Any
            } else {
                AllowedOrigins::List(origins.iter().map(|o| o.to_string()).collect())
            },
            methods: "GET, POST".into(),
            headers: "X-A".into(),
            credentials: true,
            expose_headers: Some("X-B".into()),
            max_age: 60,
        })
    }

    fn origin_allowed(c: &Cors, origin: &str) -> Option<String> {
        let mut ctx = TestContext::new().header("origin", origin.as_bytes());
        match c.answer(&mut ctx) {
            CorsAnswer::Headers(h) => Some(h[0].1.clone()),
            _ => None,
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn origins_match_like_ingress_nginx() {
        let c = cors(&[
            "https://origin.cors.com:8080",
            "http://*.origin.com:8080",
            "null",
            "tauri://localhost",
        ]);
        for (origin, allowed) in [
            ("https://origin.cors.com:8080", true),
            ("HTTPS://Origin.Cors.com:8080", true),
            ("https://origin.cors.com", false),
            ("http://origin.cors.com:8080", false),
            ("http://abc.origin.com:8080", true),
            ("http://bar-foo.origin.com:8080", true),
            ("http://origin.com:8080", false),
            ("http://a.b.origin.com:8080", false),
            ("http://abc.origin.com", false),
            ("http://a_b.origin.com:8080", false),
            ("null", true),
            ("https://annull", false),
            ("xhttps://origin.cors.com:8080", false),
            ("tauri://localhost", true),
            ("", false),
        ] {
            let echoed = origin_allowed(&c, origin);
            assert_eq!(echoed.is_some(), allowed, "{origin}");
            if let Some(echoed) = echoed {
                assert_eq!(echoed, origin, "the origin is echoed as sent");
            }
        }
        let mut no_origin = TestContext::new();
        assert_eq!(c.answer(&mut no_origin), CorsAnswer::None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn headers_in_ingress_nginx_order_and_the_preflight() {
        let c = cors(&["*"]);
        let mut ctx = TestContext::new();
        let expected = vec![
            ("access-control-allow-origin", "*".to_string()),
            ("access-control-allow-credentials", "true".to_string()),
            ("access-control-allow-methods", "GET, POST".to_string()),
            ("access-control-allow-headers", "X-A".to_string()),
            ("access-control-expose-headers", "X-B".to_string()),
            ("access-control-max-age", "60".to_string()),
        ];
        assert_eq!(c.answer(&mut ctx), CorsAnswer::Headers(expected.clone()));
        assert!(!ctx.reads.contains(&"origin".to_string()), "* needs no Origin");
        let mut options = TestContext::new().header(":method", b"OPTIONS");
        assert_eq!(c.answer(&mut options), CorsAnswer::Preflight(expected));
    }
}
