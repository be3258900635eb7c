//! CORS through the core: the headers of normal responses, the preflight answered by the filter, and
//! the CORS headers on the answers of the phases after it.

use super::context::{decide, TestContext};
use super::decide::{load_table, path, single_host};
use crate::decide::policy::Outcome;
use crate::decide::{Decision, HostMatch, Reason, RouteTable, Trace};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

const HOST: &str = "cors.foo.com";

fn table(extra: &[(&str, &str)]) -> RouteTable {
    let mut a = json!({"nginx.ingress.kubernetes.io/enable-cors": "true"});
    for (k, v) in extra {
        a[format!("nginx.ingress.kubernetes.io/{k}")] = json!(v);
    }
    let plain = single_host(
        "ns",
        "plain",
        json!({}),
        "plain.test",
        vec![path("/", "Prefix", "web")],
    );
    load_table(
        vec![
            single_host("ns", "cors", a, HOST, vec![path("/", "Prefix", "web")]),
            plain,
        ],
        "ingress-nginx",
    )
}

fn request(method: &str, origin: Option<&str>) -> TestContext {
    let ctx = TestContext::new().header(":method", method.as_bytes());
    match origin {
        Some(o) => ctx.header("origin", o.as_bytes()),
        None => ctx,
    }
}

fn owned(headers: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    headers.iter().map(|(n, v)| (*n, v.to_string())).collect()
}

fn defaults(origin: &str) -> Vec<(&'static str, String)> {
    owned(&[
        ("access-control-allow-origin", origin),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, PUT, POST, DELETE, PATCH, OPTIONS"),
        (
            "access-control-allow-headers",
            "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
        ),
        ("access-control-max-age", "1728000"),
    ])
}

fn response_headers(d: &Decision<'_>) -> Vec<(&'static str, String)> {
    match d {
        Decision::Forward(f) => f.response_headers.clone(),
        other => panic!("expected a forward, got {other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn every_response_gets_the_defaults_with_a_star() {
    let t = table(&[]);
    let d = decide(&t, HOST, "/x", &mut request("GET", None));
    assert_eq!(response_headers(&d), defaults("*"));
    let d = decide(&t, HOST, "/x", &mut request("POST", Some("https://any.test")));
    assert_eq!(response_headers(&d), defaults("*"));
    // Another Ingress's routes pay nothing: no header is even read.
    let mut ctx = request("GET", Some("https://any.test"));
    ctx.reads.clear();
    let d = decide(&t, "plain.test", "/x", &mut ctx);
    assert!(response_headers(&d).is_empty());
    assert!(ctx.reads.is_empty(), "{:?}", ctx.reads);
}

#[wasm_bindgen_test(unsupported = test)]
fn the_preflight_is_answered_204_without_the_backend() {
    let t = table(&[
        (
            "cors-allow-origin",
            "https://origin.cors.com:8080, http://*.origin.com",
        ),
        ("cors-allow-credentials", "false"),
        ("cors-expose-headers", "X-CustomResponseHeader"),
        ("cors-max-age", "200"),
        ("cors-allow-methods", "POST, GET"),
        ("cors-allow-headers", "DNT, User-Agent"),
    ]);
    let allowed = owned(&[
        ("access-control-allow-origin", "http://a-b.origin.com"),
        ("access-control-allow-methods", "POST, GET"),
        ("access-control-allow-headers", "DNT, User-Agent"),
        ("access-control-expose-headers", "X-CustomResponseHeader"),
        ("access-control-max-age", "200"),
    ]);
    match decide(
        &t,
        HOST,
        "/x",
        &mut request("OPTIONS", Some("http://a-b.origin.com")),
    ) {
        Decision::Respond {
            status,
            headers,
            trace,
        } => {
            assert_eq!(status, 204);
            assert_eq!(headers, allowed);
            assert_eq!(trace.reason, Reason::CorsPreflight);
        }
        other => panic!("{other:?}"),
    }
    let d = decide(&t, HOST, "/x", &mut request("GET", Some("http://a-b.origin.com")));
    assert_eq!(response_headers(&d), allowed);
    // Another origin: proxied, preflight or not, without CORS headers.
    for method in ["OPTIONS", "GET"] {
        for origin in [
            Some("https://origin.cors.com"),
            Some("http://a.b.origin.com"),
            None,
        ] {
            let d = decide(&t, HOST, "/x", &mut request(method, origin));
            assert!(response_headers(&d).is_empty(), "{method} {origin:?}");
        }
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn the_preflight_comes_before_the_redirect_which_carries_the_cors_headers() {
    let t = table(&[("permanent-redirect", "https://elsewhere.test/")]);
    let d = decide(&t, HOST, "/x", &mut request("OPTIONS", Some("https://a.test")));
    assert!(matches!(d, Decision::Respond { status: 204, .. }), "{d:?}");
    match decide(&t, HOST, "/x", &mut request("GET", Some("https://a.test"))) {
        Decision::Redirect {
            status,
            location,
            headers,
            ..
        } => {
            assert_eq!((status, location.as_str()), (301, "https://elsewhere.test/"));
            assert_eq!(headers, defaults("*"));
        }
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn later_phases_answer_with_the_cors_headers() {
    // A denial of a phase after the CORS one (source ranges, basic auth) keeps its own headers first.
    let trace = Trace {
        host: HostMatch::Exact,
        route: Some(0),
        reason: Reason::ExactPath,
        canary: None,
        session: None,
    };
    let mut cors = defaults("*");
    let denial = Outcome::Respond {
        status: 401,
        headers: owned(&[("www-authenticate", "Basic realm=\"r\"")]),
        reason: Reason::ExactPath,
    };
    match denial.into_decision(trace, &mut cors) {
        Some(Decision::Respond { headers, .. }) => {
            let mut expected = owned(&[("www-authenticate", "Basic realm=\"r\"")]);
            expected.extend(defaults("*"));
            assert_eq!(headers, expected);
        }
        other => panic!("{other:?}"),
    }
    assert!(cors.is_empty());
}

#[wasm_bindgen_test(unsupported = test)]
fn invalid_origin_lists_refuse_the_configuration() {
    let bad: Value = json!({"kind": "List", "items": [single_host(
        "ns",
        "cors",
        json!({"nginx.ingress.kubernetes.io/enable-cors": "true",
               "nginx.ingress.kubernetes.io/cors-allow-origin": "origin.cors.com:8080, https://ok.test"}),
        HOST,
        vec![path("/", "Prefix", "web")],
    )]});
    let errors = crate::config::load(bad.to_string().as_bytes()).err().unwrap();
    assert_eq!(
        errors[0].to_string(),
        "ns/cors: metadata.annotations.nginx.ingress.kubernetes.io/cors-allow-origin: \"origin.cors.com:8080\" is not \
         an origin: scheme://host[:port], scheme://*.host[:port] (one label), null or *"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn the_redirect_to_https_carries_the_cors_headers_and_the_preflight_comes_first() {
    let mut tls = single_host(
        "ns",
        "cors",
        json!({"nginx.ingress.kubernetes.io/enable-cors": "true"}),
        HOST,
        vec![path("/", "Prefix", "web")],
    );
    tls["spec"]["tls"] = json!([{"hosts": [HOST], "secretName": "cert"}]);
    let t = load_table(vec![tls], "ingress-nginx");
    match decide(&t, HOST, "/x", &mut request("GET", Some("https://a.test"))) {
        Decision::Redirect { status, headers, .. } => assert_eq!((status, headers), (308, defaults("*"))),
        other => panic!("{other:?}"),
    }
    let d = decide(&t, HOST, "/x", &mut request("OPTIONS", Some("https://a.test")));
    assert!(matches!(d, Decision::Respond { status: 204, .. }), "{d:?}");
}
