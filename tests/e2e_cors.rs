//! End to end: CORS (`enable-cors` and the `cors-*` annotations) in a real Envoy, as ingress-nginx's
//! template answers it: the CORS headers on responses to allowed origins (replacing the upstream's own),
//! nothing for other origins, the preflight (`OPTIONS` from an allowed origin) answered 204 by the filter
//! without reaching the backend, and the CORS headers on a redirect of the same location. The origin
//! cases of ingress-nginx's `test/e2e/annotations/cors.go` are here with their values.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Map, Value};
use support::h2;
use support::http::{self, Response};
use support::scenario::{ingress, path, rule, Checks, Scenario};

const DEFAULT_HEADERS: &str =
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
const DEFAULT_METHODS: &str = "GET, PUT, POST, DELETE, PATCH, OPTIONS";

fn cors_ingress(name: &str, host: &str, pairs: &[(&str, &str)]) -> Value {
    let mut map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), json!(v)))
        .collect();
    map.insert("nginx.ingress.kubernetes.io/enable-cors".into(), json!("true"));
    ingress(
        Some("web"),
        name,
        Value::Object(map),
        json!({"rules": [rule(Some(host), vec![path("/", "Prefix", "cors-svc", 80)])]}),
    )
}

fn ingresses() -> Vec<Value> {
    vec![
        cors_ingress("defaults", "defaults.cors.test", &[]),
        cors_ingress(
            "origins",
            "origins.cors.test",
            &[
                (
                    "cors-allow-origin",
                    "https://origin-123.cors.com:8080,   ,http://*.origin.com:8080, null, tauri://localhost:3000,",
                ),
                ("cors-allow-methods", "POST, GET"),
                ("cors-allow-headers", "DNT, User-Agent"),
                ("cors-expose-headers", "X-CustomResponseHeader, X-CustomSecondHeader"),
                ("cors-allow-credentials", "false"),
                ("cors-max-age", "200"),
            ],
        ),
        cors_ingress(
            "redirected",
            "redirected.cors.test",
            &[("permanent-redirect", "https://elsewhere.test/")],
        ),
        ingress(
            Some("web"),
            "plain",
            json!({}),
            json!({"rules": [rule(Some("plain.cors.test"), vec![path("/", "Prefix", "plain-svc", 80)])]}),
        ),
    ]
}

/// A request over HTTP/1.1; `headers` after Host.
fn send(s: &Scenario, method: &str, host: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = format!("{method} /api HTTP/1.1\r\nhost: {host}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("content-length: 0\r\nconnection: close\r\n\r\n");
    http::send(s.addr(), request.as_bytes())
}

fn cors_headers(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| n.starts_with("access-control-"))
        .cloned()
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn defaults() -> Vec<(String, String)> {
    owned(&[
        ("access-control-allow-origin", "*"),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", DEFAULT_METHODS),
        ("access-control-allow-headers", DEFAULT_HEADERS),
        ("access-control-max-age", "1728000"),
    ])
}

fn listed(origin: &str) -> Vec<(String, String)> {
    owned(&[
        ("access-control-allow-origin", origin),
        ("access-control-allow-methods", "POST, GET"),
        ("access-control-allow-headers", "DNT, User-Agent"),
        (
            "access-control-expose-headers",
            "X-CustomResponseHeader, X-CustomSecondHeader",
        ),
        ("access-control-max-age", "200"),
    ])
}

/// Whether the echo upstream answered (and with which method it saw the request).
fn upstream_method(r: &Response) -> Option<String> {
    r.echo().map(|e| e.method)
}

#[test]
fn cors_headers_and_the_preflight_as_ingress_nginx_answers_them() {
    let s = Scenario::start("cors", ingresses(), None);
    let mut c = Checks::default();

    // Defaults: `*` for every request, Origin or not, replacing the upstream's own CORS header.
    for origin in [None, Some("https://any.test")] {
        let mut headers = vec![(
            "x-echo-response-header",
            "Access-Control-Allow-Origin: https://upstream.test",
        )];
        headers.extend(origin.map(|o| ("origin", o)));
        let r = send(&s, "GET", "defaults.cors.test", &headers);
        c.that(r.status == 200 && cors_headers(&r) == defaults(), || {
            format!(
                "defaults, origin {origin:?}: {:?} {}",
                cors_headers(&r),
                r.summary()
            )
        });
    }

    // The preflight: 204 from the filter, the CORS headers, no body, the backend never asked.
    let r = send(
        &s,
        "OPTIONS",
        "defaults.cors.test",
        &[
            ("origin", "https://any.test"),
            ("access-control-request-method", "PUT"),
        ],
    );
    c.that(
        r.status == 204
            && cors_headers(&r) == defaults()
            && r.body.is_empty()
            && r.header("x-echo-service").is_none(),
        || {
            format!(
                "preflight: {:?} {:?} {}",
                cors_headers(&r),
                r.headers,
                r.summary()
            )
        },
    );

    // An origin list: allowed origins are echoed (wildcard label, port, null, custom schemes).
    for origin in [
        "https://origin-123.cors.com:8080",
        "http://abc.origin.com:8080",
        "http://bar-foo.origin.com:8080",
        "null",
        "tauri://localhost:3000",
    ] {
        let r = send(&s, "GET", "origins.cors.test", &[("origin", origin)]);
        c.that(
            upstream_method(&r).as_deref() == Some("GET") && cors_headers(&r) == listed(origin),
            || format!("allowed origin {origin}: {:?} {}", cors_headers(&r), r.summary()),
        );
        let r = send(&s, "OPTIONS", "origins.cors.test", &[("origin", origin)]);
        c.that(r.status == 204 && cors_headers(&r) == listed(origin), || {
            format!("preflight from {origin}: {:?} {}", cors_headers(&r), r.summary())
        });
    }
    // Other origins (and none) reach the backend, preflight or not, without CORS headers.
    for origin in [
        Some("https://unknown.cors.com:8080"),
        Some("http://abc.origin.com"),
        Some("http://a.b.origin.com:8080"),
        Some("http://origin.com:8080"),
        Some("origin-123.cors.com:8080"),
        None,
    ] {
        for method in ["GET", "OPTIONS"] {
            let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
            let r = send(&s, method, "origins.cors.test", &headers);
            c.that(
                upstream_method(&r).as_deref() == Some(method) && cors_headers(&r).is_empty(),
                || format!("{method} from {origin:?}: {:?} {}", cors_headers(&r), r.summary()),
            );
        }
    }

    // The preflight comes before the location's redirect, and the redirect carries the CORS headers.
    let r = send(
        &s,
        "OPTIONS",
        "redirected.cors.test",
        &[("origin", "https://a.test")],
    );
    c.that(r.status == 204 && cors_headers(&r) == defaults(), || {
        format!("preflight before the redirect: {}", r.summary())
    });
    let r = send(&s, "GET", "redirected.cors.test", &[("origin", "https://a.test")]);
    c.that(
        r.status == 301
            && r.header("location") == Some("https://elsewhere.test/")
            && cors_headers(&r) == defaults(),
        || format!("redirect with CORS: {:?} {}", cors_headers(&r), r.summary()),
    );

    // Another Ingress's routes: no CORS.
    let r = send(&s, "OPTIONS", "plain.cors.test", &[("origin", "https://a.test")]);
    c.that(
        upstream_method(&r).as_deref() == Some("OPTIONS") && cors_headers(&r).is_empty(),
        || format!("plain: {}", r.summary()),
    );

    // Over HTTP/2 (what browsers use) the preflight is answered the same (the client decodes the status
    // and body only).
    let r = h2::send(
        s.addr(),
        &[
            (b":method", b"OPTIONS"),
            (b":scheme", b"http"),
            (b":authority", b"origins.cors.test"),
            (b":path", b"/api"),
            (b"origin", b"http://abc.origin.com:8080"),
        ],
    )
    .unwrap();
    c.that(r.status == 204 && r.body.is_empty(), || {
        format!("h2 preflight: {} {:?}", r.status, r.body_text())
    });
    c.finish(Some(&s.envoy));
}
