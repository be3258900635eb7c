//! End to end: what a hostile request or an unenforced access annotation gets in a real Envoy running
//! the built module — 414 past the path limit, Envoy's own 431 past the header budget, 503 (fail closed)
//! for Ingresses whose access annotations are not enforced, 400 for a rewrite a capture would escape,
//! client headers with underscores dropped before any upstream sees them, and client copies of the
//! cluster header that never choose the cluster.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::http::{self, Response};
use support::scenario::{echo_ingress, ingress, path, rule, Checks, Expect, Scenario};

const SHOP: &str = "shop.test";
const CDN: &str = "cdn.test";
/// The body of Envoy's own 431.
const ENVOY_431: &str = "Request Header Fields Too Large";

fn scenario() -> Scenario {
    let admin = ingress(
        Some("shop"),
        "admin",
        json!({"nginx.ingress.kubernetes.io/auth-url": "http://auth.shop.svc.cluster.local/verify"}),
        json!({"rules": [rule(Some(SHOP), vec![path("/admin", "Prefix", "admin", 80)])]}),
    );
    let allowlisted = ingress(
        Some("shop"),
        "reports",
        json!({"nginx.ingress.kubernetes.io/limit-rps": "5"}),
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

#[test]
fn hostile_requests_and_unenforced_access_annotations() {
    let s = scenario();
    let mut c = Checks::default();

    // Access annotations the gateway does not enforce: the Ingress's paths fail closed, the rest serves.
    for p in ["/admin", "/admin/users", "/reports/q3"] {
        c.filter_reply(
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
    // The filter says at load which Ingress fails closed, and for which annotation.
    let log = s.envoy.log();
    for (ingress, annotation) in [("shop/admin", "auth-url"), ("shop/reports", "limit-rps")] {
        c.that(
            log.lines().any(|l| {
                l.contains(ingress) && l.contains(annotation) && l.contains("answers 503 (fail closed)")
            }),
            || format!("Envoy's log does not say that {ingress} fails closed for {annotation}"),
        );
    }

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
    c.filter_reply("path of 8 KiB + 1", &s.get(SHOP, &format!("{at_limit}b")), 414);
    c.filter_reply("30 KiB of /a/a/...", &s.get(SHOP, &"/a".repeat(15 * 1024)), 414);
    let huge = s.get(SHOP, &"/a".repeat(30 * 1024));
    c.that(
        huge.status == 431 && huge.body_text() == ENVOY_431 && huge.echo().is_none(),
        || {
            format!(
                "60 KiB path: expected Envoy's own 431 {ENVOY_431:?}, got {}",
                huge.summary()
            )
        },
    );
    c.expect(
        &s,
        "after the hostile requests",
        SHOP,
        "/cart",
        &Expect::backend("web", "/cart"),
    );

    // Rewrite captures: a dot segment would leave the target: 400; ordinary captures rewrite.
    c.filter_reply("capture with ..", &s.get(CDN, "/img../secret"), 400);
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
    c.check(
        &s.cluster_header,
        "underscore header",
        SHOP,
        "/cart",
        &r,
        &Expect::backend("web", "/cart"),
    );
    if let Some(echo) = r.echo() {
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
    c.finish(Some(&s.envoy));
}

const V1: &str = "v1.spoof.test";
const V2: &str = "v2.spoof.test";
const SLASH: &str = "slash.spoof.test";
/// A cluster no backend has.
const NO_CLUSTER: &[u8] = b"attacker/none:1";

fn spoof_ingresses() -> Vec<Value> {
    let slash = ingress(
        Some("web"),
        "slash",
        json!({}),
        json!({"rules": [rule(Some(SLASH), vec![path("/dir/", "Exact", "dir", 80)])]}),
    );
    vec![echo_ingress("echo-v1", V1), echo_ingress("echo-v2", V2), slash]
}

/// Request headers as (name, raw value).
type Headers = Vec<(String, Vec<u8>)>;

/// The copies of the cluster header a client may send, naming `other` (another backend's cluster).
fn spoofs(header: &str, other: &[u8]) -> Vec<(&'static str, Headers)> {
    let mixed = "X-Ingress-Cluster";
    assert!(mixed.eq_ignore_ascii_case(header), "the default cluster header");
    let h = |name: &str, value: &[u8]| (name.to_string(), value.to_vec());
    vec![
        ("none", vec![]),
        ("another backend's cluster", vec![h(header, other)]),
        ("a cluster that does not exist", vec![h(header, NO_CLUSTER)]),
        ("two copies", vec![h(header, other), h(header, NO_CLUSTER)]),
        ("mixed case", vec![h(mixed, other)]),
        (
            "upper and mixed case",
            vec![h(&header.to_ascii_uppercase(), other), h(mixed, NO_CLUSTER)],
        ),
        ("empty", vec![h(header, b"")]),
        ("empty, then another's", vec![h(header, b""), h(header, other)]),
    ]
}

fn get_spoofed(s: &Scenario, host: &str, p: &str, headers: &Headers) -> Response {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    http::get_with(s.addr(), host, p, &headers)
}

/// A client never chooses the cluster: whatever copies of the cluster header it sends (another backend's
/// cluster, one that does not exist, two of them, in any case, empty), the request goes where the filter
/// decided and the filter's answers stay its own. With the route as rendered no upstream sees the header;
/// with the header taken out of the route's `request_headers_to_remove`, the upstream sees exactly the one
/// value the filter wrote: Envoy's replace drops every client copy, which is why the filter needs no
/// separate removal.
#[test]
fn a_client_cannot_choose_the_cluster() {
    let s = Scenario::start("spoof", spoof_ingresses(), None);
    let header = s.cluster_header.clone();
    let cluster_of = |service: &str| -> String {
        let found = s.upstreams.iter().find(|(_, u)| u.name == service);
        found.map(|(cluster, _)| cluster.clone()).unwrap()
    };
    let (v1, v2) = (cluster_of("echo-v1"), cluster_of("echo-v2"));
    let mut c = Checks::default();
    for (host, service, other) in [(V1, "echo-v1", &v2), (V2, "echo-v2", &v1)] {
        for (label, headers) in spoofs(&header, other.as_bytes()) {
            let what = format!("spoof {label}, to {host}");
            let r = get_spoofed(&s, host, "/spoof", &headers);
            c.check(
                &header,
                &what,
                host,
                "/spoof",
                &r,
                &Expect::backend(service, "/spoof"),
            );
            // Decisions that are not a forward are the filter's own replies, spoofed or not.
            let r = get_spoofed(&s, "unknown.spoof.test", "/x", &headers);
            c.check(&header, &what, "unknown.spoof.test", "/x", &r, &Expect::NotFound);
            let r = get_spoofed(&s, SLASH, "/dir", &headers);
            let redirect = Expect::redirect(301, &format!("http://{SLASH}/dir/"));
            c.check(&header, &what, SLASH, "/dir", &r, &redirect);
        }
    }
    c.finish(Some(&s.envoy));

    // The same without Envoy's removal of the header toward the upstream, which then sees what the router
    // used.
    let s = Scenario::start_with("spoof-unstripped", spoof_ingresses(), None, |bootstrap| {
        let route = &mut bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0];
        let removed = route["request_headers_to_remove"]
            .as_array_mut()
            .and_then(|list| {
                let at = list.iter().position(|h| h == &json!(header))?;
                Some(list.remove(at))
            });
        assert!(removed.is_some(), "the rendered route removes {header}: {route}");
    });
    let mut c = Checks::default();
    for (host, service, own, other) in [(V1, "echo-v1", &v1, &v2), (V2, "echo-v2", &v2, &v1)] {
        for (label, headers) in spoofs(&header, other.as_bytes()) {
            let r = get_spoofed(&s, host, "/spoof", &headers);
            let echo = r.echo().filter(|e| r.status == 200 && e.service == service);
            let seen = echo.as_ref().and_then(|e| e.header(&header));
            c.that(seen == Some(own.as_str()), || {
                format!(
                    "spoof {label}, to {host}: expected {service} to see exactly {header}: {own}; \
                     it saw {seen:?} in {}",
                    r.summary()
                )
            });
        }
    }
    c.finish(Some(&s.envoy));
}
