//! End to end: canary Ingresses in a real Envoy, each rule and each precedence case of ingress-nginx's
//! balancer, weights checked statistically with bounded counts (0 and 100 exact, 50 within 35-65% of
//! 400 requests), and a sticky canary that keeps its clients through the session cookie.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::fleet::{cookie_pair, endpoint, get, service, set_cookies, Fleet};
use support::scenario::{ingress, path, rule};

/// Each host has its own primary service (`main-<host>`, two endpoints) and canary (`canary-<host>`):
/// a canary diverts its primary *service*, so hosts must not share one.
const HOSTS: &[(&str, &[(&str, &str)])] = &[
    ("always.test", &[("canary-by-header", "X-Canary")]),
    (
        "value.test",
        &[
            ("canary-by-header", "X-Canary"),
            ("canary-by-header-value", "beta"),
        ],
    ),
    (
        "pattern.test",
        &[
            ("canary-by-header", "X-Canary"),
            ("canary-by-header-pattern", "^(beta|gamma)-[0-9]+$"),
        ],
    ),
    (
        "badpattern.test",
        &[
            ("canary-by-header", "X-Canary"),
            ("canary-by-header-pattern", "[][**da?$&*"),
            ("canary-by-cookie", "CanaryByCookie"),
        ],
    ),
    (
        "cookie.test",
        &[
            ("canary-by-header", "X-Canary"),
            ("canary-by-cookie", "CanaryByCookie"),
        ],
    ),
    ("w0.test", &[("canary-weight", "0")]),
    ("w100.test", &[("canary-weight", "100")]),
    ("w50.test", &[("canary-weight", "50")]),
    (
        "w100of200.test",
        &[("canary-weight", "100"), ("canary-weight-total", "200")],
    ),
    ("sticky.test", &[("canary-weight", "50")]),
];

fn slug(host: &str) -> String {
    host.trim_end_matches(".test").to_string()
}

fn ingresses() -> Vec<Value> {
    let mut all = Vec::new();
    for (host, rules) in HOSTS {
        let s = slug(host);
        let sticky = *host == "sticky.test";
        let primary_annotations = if sticky {
            json!({"nginx.ingress.kubernetes.io/affinity": "cookie",
                   "nginx.ingress.kubernetes.io/session-cookie-name": "aff"})
        } else {
            json!({})
        };
        let mut primary = ingress(
            Some("shop"),
            &s,
            primary_annotations,
            json!({"rules": [rule(Some(host), vec![path("/info", "Prefix", &format!("main-{s}"), 80)])]}),
        );
        primary["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
        let mut annotations = json!({"nginx.ingress.kubernetes.io/canary": "true"});
        for (name, value) in *rules {
            annotations[format!("nginx.ingress.kubernetes.io/{name}")] = json!(value);
        }
        let mut canary = ingress(
            Some("shop"),
            &format!("{s}-canary"),
            annotations,
            json!({"rules": [rule(Some(host), vec![path("/info", "Prefix", &format!("canary-{s}"), 80)])]}),
        );
        canary["metadata"]["creationTimestamp"] = json!("2024-02-01T00:00:00Z");
        all.push(primary);
        all.push(canary);
    }
    all
}

fn fleet() -> Fleet {
    let names: Vec<(String, String)> = HOSTS
        .iter()
        .map(|(h, _)| (format!("main-{}", slug(h)), format!("canary-{}", slug(h))))
        .collect();
    let mut backends = Vec::new();
    for (main, canary) in &names {
        backends.push(("shop", main.as_str(), 80, 2));
        backends.push(("shop", canary.as_str(), 80, 1));
    }
    Fleet::new(ingresses(), &backends)
}

/// The service that answered `GET /info` on `host` with these headers.
fn served_by(envoy: &support::envoy::Envoy, host: &str, headers: &[(&str, &[u8])]) -> String {
    let r = get(envoy, host, "/info", headers);
    match endpoint(&r) {
        Ok(e) => service(&e).to_string(),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn canary_rules_and_precedence() {
    let fleet = fleet();
    let envoy = fleet.envoy("canary", &[]);
    let mut failures = Vec::new();
    let mut check = |label: &str, host: &str, headers: &[(&str, &[u8])], want: &str| {
        let got = served_by(&envoy, host, headers);
        let want = format!("{want}-{}", slug(host));
        if got != want {
            failures.push(format!("{label} ({host}): expected {want}, got {got}"));
        }
    };
    let none: &[(&str, &[u8])] = &[];
    // canary-by-header: always / never / anything else (weight 0: primary).
    check("no header", "always.test", none, "main");
    check(
        "header always",
        "always.test",
        &[("x-canary", b"always")],
        "canary",
    );
    check(
        "header name is case-insensitive",
        "always.test",
        &[("X-CANARY", b"always")],
        "canary",
    );
    check("header never", "always.test", &[("x-canary", b"never")], "main");
    check("header other", "always.test", &[("x-canary", b"yes")], "main");
    check(
        "header not UTF-8",
        "always.test",
        &[("x-canary", b"\xff\xfe")],
        "main",
    );
    // canary-by-header-value: exact match only; `always` is nothing special.
    check("value match", "value.test", &[("x-canary", b"beta")], "canary");
    check("value case", "value.test", &[("x-canary", b"Beta")], "main");
    check(
        "value makes always ordinary",
        "value.test",
        &[("x-canary", b"always")],
        "main",
    );
    // canary-by-header-pattern.
    check(
        "pattern match",
        "pattern.test",
        &[("x-canary", b"gamma-42")],
        "canary",
    );
    check(
        "pattern miss",
        "pattern.test",
        &[("x-canary", b"gamma-x")],
        "main",
    );
    // A pattern that does not compile: the primary, even with the cookie saying always (ingress-nginx e2e).
    check(
        "invalid pattern wins over the cookie",
        "badpattern.test",
        &[("x-canary", b"DoCanary"), ("cookie", b"CanaryByCookie=always")],
        "main",
    );
    check(
        "invalid pattern, no header: cookie",
        "badpattern.test",
        &[("cookie", b"CanaryByCookie=always")],
        "canary",
    );
    // canary-by-cookie, after the header.
    check(
        "cookie always",
        "cookie.test",
        &[("cookie", b"a=1; CanaryByCookie=always")],
        "canary",
    );
    check(
        "cookie never",
        "cookie.test",
        &[("cookie", b"CanaryByCookie=never")],
        "main",
    );
    check(
        "cookie other",
        "cookie.test",
        &[("cookie", b"CanaryByCookie=badvalue")],
        "main",
    );
    check(
        "header never beats cookie always",
        "cookie.test",
        &[("x-canary", b"never"), ("cookie", b"CanaryByCookie=always")],
        "main",
    );
    check(
        "header always beats cookie never",
        "cookie.test",
        &[("x-canary", b"always"), ("cookie", b"CanaryByCookie=never")],
        "canary",
    );
    // Exact weights.
    for _ in 0..30 {
        check("weight 0", "w0.test", none, "main");
        check("weight 100", "w100.test", none, "canary");
    }
    // Weighted: 50 of 100, and 100 of 200, each over 400 requests.
    for host in ["w50.test", "w100of200.test"] {
        let canary = format!("canary-{}", slug(host));
        let hits = (0..400)
            .filter(|_| served_by(&envoy, host, none) == canary)
            .count();
        if !(140..=260).contains(&hits) {
            failures.push(format!(
                "{host}: {hits} of 400 requests reached the canary, expected 35-65%"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n  {}\n{}",
        failures.len(),
        failures.join("\n  "),
        envoy.log()
    );
}

#[test]
fn a_sticky_canary_keeps_the_clients_it_served() {
    let fleet = fleet();
    let envoy = fleet.envoy("canary-sticky", &[]);
    let mut seen = std::collections::BTreeMap::new();
    // Weight 50: new clients land on both sides; each keeps its side with the cookie it was given.
    for client in 0..20 {
        let first = get(&envoy, "sticky.test", "/info", &[]);
        let first_endpoint = endpoint(&first).unwrap_or_else(|e| panic!("client {client}: {e}"));
        let cookie = cookie_pair(&first, "aff")
            .unwrap_or_else(|| panic!("client {client}: no aff cookie in {:?}", set_cookies(&first)));
        *seen.entry(service(&first_endpoint).to_string()).or_insert(0) += 1;
        for _ in 0..10 {
            let again = get(&envoy, "sticky.test", "/info", &[("cookie", cookie.as_bytes())]);
            assert_eq!(
                endpoint(&again).as_deref(),
                Ok(first_endpoint.as_str()),
                "client {client} with {cookie} moved"
            );
            assert!(set_cookies(&again).is_empty(), "a kept session got a new cookie");
        }
    }
    assert!(
        seen.contains_key("main-sticky") && seen.contains_key("canary-sticky"),
        "20 new clients at weight 50 should reach both sides: {seen:?}"
    );
}
