//! Canary selection end to end through the core: attachment to primaries, ingress-nginx's precedence
//! (session, header, cookie, weight) and its quirks.

use super::context::{decide, service_of, TestContext};
use super::decide::{host_rule, ingress, load_table, path, single_host};
use crate::config::load;
use crate::decide::canary::CanaryRule;
use crate::decide::{Decision, RouteTable};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

const HOST: &str = "shop.test";

fn primary() -> Value {
    single_host(
        "ns",
        "shop",
        json!({}),
        HOST,
        vec![
            path("/", "Prefix", "web"),
            path("/api", "Prefix", "api"),
            path("/v1", "Exact", "api"),
        ],
    )
}

/// A canary Ingress created after the primary on `HOST` `/api` (Prefix) to `api-v2`.
fn canary(annotations: Value) -> Value {
    let mut a = json!({"nginx.ingress.kubernetes.io/canary": "true"});
    if let (Some(map), Some(extra)) = (a.as_object_mut(), annotations.as_object()) {
        map.extend(extra.clone());
    }
    ingress(
        "ns",
        "shop-canary",
        "2024-02-01T00:00:00Z",
        a,
        json!([host_rule(Some(HOST), vec![path("/api", "Prefix", "api-v2")])]),
    )
}

fn table(annotations: Value) -> RouteTable {
    load_table(vec![primary(), canary(annotations)], "ingress-nginx")
}

/// Where `GET /api/x` goes with this context, and the rule that decided.
fn route(t: &RouteTable, ctx: &mut TestContext) -> (String, Option<CanaryRule>) {
    let d = decide(t, HOST, "/api/x", ctx);
    let rule = d.trace().canary.map(|c| c.rule);
    (service_of(&d), rule)
}

fn go(t: &RouteTable, ctx: TestContext) -> String {
    route(t, &mut { ctx }).0
}

#[wasm_bindgen_test(unsupported = test)]
fn by_header_always_never_and_other_values() {
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}));
    let mut ctx = TestContext::new().header("x-canary", b"always");
    assert_eq!(
        route(&t, &mut ctx),
        ("api-v2".into(), Some(CanaryRule::HeaderAlways))
    );
    let mut ctx = TestContext::new().header("x-canary", b"never");
    assert_eq!(route(&t, &mut ctx), ("api".into(), Some(CanaryRule::HeaderNever)));
    // Any other value falls through to the weight (0 here): primary, without drawing.
    let mut ctx = TestContext::new().header("x-canary", b"Always");
    assert_eq!(route(&t, &mut ctx), ("api".into(), Some(CanaryRule::Weight)));
    assert_eq!(ctx.draws, 0);
    assert_eq!(go(&t, TestContext::new()), "api");
}

#[wasm_bindgen_test(unsupported = test)]
fn by_header_value_makes_always_ordinary() {
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
                         "nginx.ingress.kubernetes.io/canary-by-header-value": "beta"}));
    assert_eq!(go(&t, TestContext::new().header("x-canary", b"beta")), "api-v2");
    // Exact and case-sensitive; `always` is nothing special once a value is set.
    assert_eq!(go(&t, TestContext::new().header("x-canary", b"Beta")), "api");
    assert_eq!(go(&t, TestContext::new().header("x-canary", b"always")), "api");
    assert_eq!(go(&t, TestContext::new().header("x-canary", b"betamax")), "api");
}

#[wasm_bindgen_test(unsupported = test)]
fn by_header_pattern_and_an_invalid_pattern() {
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
                         "nginx.ingress.kubernetes.io/canary-by-header-pattern": "^(beta|gamma)-[0-9]+$"}));
    assert_eq!(
        go(&t, TestContext::new().header("x-canary", b"gamma-12")),
        "api-v2"
    );
    assert_eq!(go(&t, TestContext::new().header("x-canary", b"delta-12")), "api");
    assert_eq!(go(&t, TestContext::new().header("x-canary", b"\xff\xfe")), "api");
    // Unanchored unless the pattern anchors itself, as ngx.re.match.
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
                         "nginx.ingress.kubernetes.io/canary-by-header-pattern": "beta"}));
    assert_eq!(
        go(&t, TestContext::new().header("x-canary", b"my-beta-user")),
        "api-v2"
    );
    // ingress-nginx's e2e: a pattern that does not compile sends requests with the header to the
    // primary at once, even when the cookie says always.
    let annotations = json!({"nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
                             "nginx.ingress.kubernetes.io/canary-by-header-pattern": "[][**da?$&*",
                             "nginx.ingress.kubernetes.io/canary-by-cookie": "canary"});
    let c = load(
        json!({"kind": "List", "items": [primary(), canary(annotations)]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.field.ends_with("canary-by-header-pattern") && w.message.contains("go to the primary")));
    let mut ctx = TestContext::new()
        .header("x-canary", b"DoCanary")
        .cookie("canary=always");
    assert_eq!(
        route(&c.table, &mut ctx),
        ("api".into(), Some(CanaryRule::InvalidPattern))
    );
    assert_eq!(go(&c.table, TestContext::new().cookie("canary=always")), "api-v2");
}

#[wasm_bindgen_test(unsupported = test)]
fn by_cookie_after_the_header() {
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
                         "nginx.ingress.kubernetes.io/canary-by-cookie": "canary"}));
    assert_eq!(go(&t, TestContext::new().cookie("a=1; canary=always")), "api-v2");
    assert_eq!(go(&t, TestContext::new().cookie("canary=never")), "api");
    assert_eq!(go(&t, TestContext::new().cookie("canary=badcookievalue")), "api");
    // nginx's $cookie_<name>: the first of repeated cookies.
    assert_eq!(
        go(&t, TestContext::new().cookie("canary=never; canary=always")),
        "api"
    );
    // The header comes first.
    let ctx = TestContext::new()
        .header("x-canary", b"never")
        .cookie("canary=always");
    assert_eq!(go(&t, ctx), "api");
    let ctx = TestContext::new()
        .header("x-canary", b"other")
        .cookie("canary=always");
    assert_eq!(go(&t, ctx), "api-v2");
}

#[wasm_bindgen_test(unsupported = test)]
fn by_weight_with_the_draw_from_the_glue() {
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-weight": "30"}));
    // draw = 1 + random % 100: 29 -> 30 (canary, 30 <= 30); 30 -> 31 (primary).
    let mut ctx = TestContext::new().randoms(&[29]);
    assert_eq!(route(&t, &mut ctx), ("api-v2".into(), Some(CanaryRule::Weight)));
    assert_eq!(go(&t, TestContext::new().randoms(&[30])), "api");
    assert_eq!(go(&t, TestContext::new().randoms(&[130])), "api");
    // 0 and 100 never draw.
    for (weight, service) in [("0", "api"), ("100", "api-v2"), ("250", "api-v2")] {
        let t = table(json!({"nginx.ingress.kubernetes.io/canary-weight": weight}));
        let mut ctx = TestContext::new().randoms(&[0]);
        assert_eq!(route(&t, &mut ctx).0, service, "weight {weight}");
        assert_eq!(ctx.draws, 0);
    }
    // A total above 100 is used; below 100 it counts as 100.
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-weight": "100",
                         "nginx.ingress.kubernetes.io/canary-weight-total": "200"}));
    assert_eq!(go(&t, TestContext::new().randoms(&[99])), "api-v2");
    assert_eq!(go(&t, TestContext::new().randoms(&[100])), "api");
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-weight": "40",
                         "nginx.ingress.kubernetes.io/canary-weight-total": "50"}));
    assert_eq!(go(&t, TestContext::new().randoms(&[45])), "api");
}

#[wasm_bindgen_test(unsupported = test)]
fn attaches_to_the_primary_backend_everywhere_it_serves() {
    let t = table(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x-canary"}));
    let always = || TestContext::new().header("x-canary", b"always");
    // Exact /v1 routes to the same service as Prefix /api: ingress-nginx's balancer is per upstream.
    assert_eq!(service_of(&decide(&t, HOST, "/v1", &mut always())), "api-v2");
    // Other services are untouched, and tables read the header only where a canary could act.
    let mut ctx = always();
    assert_eq!(service_of(&decide(&t, HOST, "/", &mut ctx)), "web");
    assert!(ctx.reads.is_empty(), "{:?}", ctx.reads);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_table_without_canaries_or_affinity_reads_nothing() {
    let t = load_table(vec![primary()], "ingress-nginx");
    let mut ctx = TestContext::new().header("x-canary", b"always").cookie("a=b");
    for p in ["/", "/api/x", "/v1", "/nowhere"] {
        decide(&t, HOST, p, &mut ctx);
    }
    assert!(ctx.reads.is_empty() && ctx.draws == 0, "{:?}", ctx.reads);
}

#[wasm_bindgen_test(unsupported = test)]
fn alone_a_canary_routes_nothing_and_mismatches_are_warned() {
    // ingress-nginx's e2e: a canary without a primary answers 404 even with `always`.
    let alone = load(json!({"kind": "List", "items": [canary(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x"}))]}).to_string().as_bytes()).unwrap();
    let mut ctx = TestContext::new().header("x", b"always");
    assert_eq!(service_of(&decide(&alone.table, HOST, "/api", &mut ctx)), "404");
    assert!(alone
        .warnings
        .iter()
        .any(|w| w.field == "spec.rules[0].http.paths[0]"
            && w.message
                .contains("no primary Ingress serves Prefix path \"/api\"")));
    // Same path, other pathType: no match either.
    let mut other_type = canary(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x"}));
    other_type["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("Exact");
    let c = load(
        json!({"kind": "List", "items": [primary(), other_type]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(go(&c.table, TestContext::new().header("x", b"always")), "api");
    // A second canary for the same primary is ignored, with a warning naming it.
    let mut second = canary(json!({"nginx.ingress.kubernetes.io/canary-by-header": "y"}));
    second["metadata"]["name"] = json!("shop-canary-2");
    second["metadata"]["creationTimestamp"] = json!("2024-03-01T00:00:00Z");
    second["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = json!("api-v3");
    let first = canary(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x"}));
    let c = load(
        json!({"kind": "List", "items": [primary(), second, first]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(go(&c.table, TestContext::new().header("y", b"always")), "api");
    assert_eq!(go(&c.table, TestContext::new().header("x", b"always")), "api-v2");
    assert!(c.warnings.iter().any(
        |w| w.object == "ns/shop-canary-2" && w.message.contains("already has the canary ns/shop-canary")
    ));
}

#[wasm_bindgen_test(unsupported = test)]
fn the_canary_inherits_the_primary_location() {
    // rewrite-target of the primary applies to canaried requests; the canary's own is ignored (warned).
    let primary = single_host(
        "ns",
        "shop",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/"}),
        HOST,
        vec![path("/api", "Prefix", "api")],
    );
    let canary = canary(json!({"nginx.ingress.kubernetes.io/canary-by-header": "x",
                               "nginx.ingress.kubernetes.io/rewrite-target": "/other"}));
    let c = load(
        json!({"kind": "List", "items": [primary, canary]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    match decide(
        &c.table,
        HOST,
        "/api/x?q=1",
        &mut TestContext::new().header("x", b"always"),
    ) {
        Decision::Forward(f) => {
            assert!(f.cluster.contains("api-v2"));
            assert_eq!(f.path.as_deref(), Some("/?q=1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.warnings.iter().any(|w| w.object == "ns/shop-canary"
        && w.field.ends_with("rewrite-target")
        && w.message.contains("ignored on a canary Ingress")));
}

#[wasm_bindgen_test(unsupported = test)]
fn a_catch_all_canary_and_the_kubernetes_profile() {
    let primary = ingress(
        "ns",
        "all",
        "2024-01-01T00:00:00Z",
        json!({}),
        json!([host_rule(None, vec![path("/", "Prefix", "web")])]),
    );
    let mut canary = ingress(
        "ns",
        "all-canary",
        "2024-02-01T00:00:00Z",
        json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-by-header": "x"}),
        json!([]),
    );
    canary["spec"] = json!({"defaultBackend": {"service": {"name": "web-v2", "port": {"number": 80}}}});
    for semantics in ["ingress-nginx", "kubernetes"] {
        let t = load_table(vec![primary.clone(), canary.clone()], semantics);
        let mut ctx = TestContext::new().header("x", b"always");
        assert_eq!(
            service_of(&decide(&t, "any.test", "/page", &mut ctx)),
            "web-v2",
            "{semantics}"
        );
        assert_eq!(
            service_of(&decide(&t, "any.test", "/page", &mut TestContext::new())),
            "web"
        );
    }
}
