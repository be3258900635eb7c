//! End to end: what a hostile request or an unenforced access annotation gets in a real Envoy running
//! the built module — 414 past the path limit, Envoy's own 431 past the header budget, 503 (fail closed)
//! for Ingresses whose access annotations are not enforced, 400 for a rewrite a capture would escape,
//! and client headers with underscores dropped before any upstream sees them.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ingress_wasm::decide::reply_body;
use serde_json::json;
use support::http::{self, Response};
use support::scenario::{ingress, path, rule, Checks, Expect, Scenario};

const SHOP: &str = "shop.test";
const CDN: &str = "cdn.test";

fn scenario() -> Scenario {
    let admin = ingress(
        Some("shop"),
        "admin",
        json!({"nginx.ingress.kubernetes.io/auth-type": "basic",
               "nginx.ingress.kubernetes.io/auth-secret": "basic-auth"}),
        json!({"rules": [rule(Some(SHOP), vec![path("/admin", "Prefix", "admin", 80)])]}),
    );
    let allowlisted = ingress(
        Some("shop"),
        "reports",
        json!({"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8"}),
        json!({"rules": [rule(Some(SHOP), vec![path("/reports", "Prefix", "reports", 80)])]}),
    );
    let public = ingress(
        Some("shop"),
        "public",
        json!({}),
        json!({"rules": [rule(Some(SHOP), vec![
            path("/", "Prefix", "web", 80),
            path(&"/a".repeat(100), "Prefix", "deep", 80),
        ])]}),
    );
    let cdn = ingress(
        Some("cdn"),
        "images",
        json!({"nginx.ingress.kubernetes.io/use-regex": "true",
               "nginx.ingress.kubernetes.io/rewrite-target": "/cdn/images/$1"}),
        json!({"rules": [rule(Some(CDN), vec![path("/img(.*)", "ImplementationSpecific", "cdn", 80)])]}),
    );
    Scenario::start("security", vec![admin, allowlisted, public, cdn], None)
}

/// Asserts a local reply of the filter: its status and its exact body (Envoy's own replies differ).
fn filter_reply(checks: &mut Checks, what: &str, r: &Response, status: u16) {
    if r.status != status || r.body_text() != reply_body(status) || r.echo().is_some() {
        checks.fail(format!(
            "{what}: expected the filter's {status} {:?}, got {}",
            reply_body(status),
            r.summary()
        ));
    }
}

#[test]
fn hostile_requests_and_unenforced_access_annotations() {
    let s = scenario();
    let mut c = Checks::default();

    // Access annotations the gateway does not enforce: the Ingress's paths fail closed, the rest serves.
    for p in ["/admin", "/admin/users", "/reports/q3"] {
        filter_reply(
            &mut c,
            &format!("unenforced access annotation: GET {p}"),
            &s.get(SHOP, p),
            503,
        );
    }
    c.expect(
        &s,
        "public path beside denied ones",
        SHOP,
        "/cart",
        &Expect::backend("web", "/cart"),
    );

    // Path limit: 8 KiB (nginx's request-line buffer) routes; a byte more answers 414 from the filter,
    // also for the worst shape for element-wise matching; past the header budget Envoy answers 431.
    let deep = "/a".repeat(100);
    let at_limit = format!("{deep}/{}", "b".repeat(8192 - deep.len() - 1));
    c.expect(
        &s,
        "path of 8 KiB",
        SHOP,
        &at_limit,
        &Expect::backend("deep", &at_limit),
    );
    filter_reply(
        &mut c,
        "path of 8 KiB + 1",
        &s.get(SHOP, &format!("{at_limit}b")),
        414,
    );
    filter_reply(
        &mut c,
        "30 KiB of /a/a/...",
        &s.get(SHOP, &"/a".repeat(15 * 1024)),
        414,
    );
    let huge = s.get(SHOP, &"/a".repeat(30 * 1024));
    if huge.status != 431 {
        c.fail(format!(
            "60 KiB path: expected Envoy's 431, got {}",
            huge.summary()
        ));
    }
    c.expect(
        &s,
        "after the hostile requests",
        SHOP,
        "/cart",
        &Expect::backend("web", "/cart"),
    );

    // Rewrite captures: a dot segment would leave the target: 400; ordinary captures rewrite.
    filter_reply(&mut c, "capture with ..", &s.get(CDN, "/img../secret"), 400);
    c.expect(
        &s,
        "capture without dot segment",
        CDN,
        "/img/a/b.png",
        &Expect::backend("cdn", "/cdn/images/a/b.png"),
    );

    // Headers with underscores never reach an upstream (x_forwarded_prefix would pass for the real one).
    let r = http::get_with(
        s.addr(),
        SHOP,
        "/cart",
        &[("x_forwarded_prefix", b"/evil"), ("x-plain", b"kept")],
    );
    match r.echo() {
        Some(echo) => {
            if echo.header("x_forwarded_prefix").is_some() || echo.header("x-forwarded-prefix").is_some() {
                c.fail(format!(
                    "underscore header reached the upstream: {:?}",
                    echo.headers
                ));
            }
            if echo.header("x-plain") != Some("kept") {
                c.fail(format!("ordinary header lost: {:?}", echo.headers));
            }
        }
        None => c.fail(format!(
            "underscore header: expected the web backend, got {}",
            r.summary()
        )),
    }
    c.finish(Some(&s.envoy));
}
