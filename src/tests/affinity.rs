//! Cookie session affinity through the core: the cookie ingress-nginx would send, when it is sent, what
//! Envoy is told, and how canaries stay sticky.

use super::context::{decide, header, service_of, TestContext};
use super::decide::{host_rule, ingress, path, single_host};
use crate::config::{load, Compiled};
use crate::decide::affinity::{
    backend_key, endpoint_key, ResponseWork, Session, HASH_HEADER, SESSION_HEADER,
};
use crate::decide::canary::CanaryRule;
use crate::decide::{Decision, Forward, RouteTable};
use crate::encoding::base64;
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

const HOST: &str = "app.test";

fn sticky(extra: Value) -> Value {
    let mut a = json!({"nginx.ingress.kubernetes.io/affinity": "cookie"});
    if let (Some(map), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    single_host("ns", "app", a, HOST, vec![path("/app", "Prefix", "app")])
}

fn compiled(items: Vec<Value>, endpoints: Value) -> Compiled {
    let cfg = json!({"ingresses": {"kind": "List", "items": items}, "endpoints": endpoints});
    match load(cfg.to_string().as_bytes()) {
        Ok(c) => c,
        Err(d) => panic!("refused: {d:?}"),
    }
}

fn table(items: Vec<Value>) -> RouteTable {
    compiled(items, json!({})).table
}

fn forward<'t>(t: &'t RouteTable, p: &str, ctx: &mut TestContext) -> Forward<'t> {
    match decide(t, HOST, p, ctx) {
        Decision::Forward(f) => f,
        other => panic!("{other:?}"),
    }
}

fn set_cookie(f: &Forward<'_>) -> Option<String> {
    match &f.response {
        Some(ResponseWork::SetCookie(c)) => Some(c.clone()),
        _ => None,
    }
}

const APP_KEY_NAME: &str = "ns-app-80";

#[wasm_bindgen_test(unsupported = test)]
fn balanced_new_session_gets_a_cookie_and_a_hash_key() {
    let t = table(vec![sticky(json!({}))]);
    let mut ctx = TestContext::new().randoms(&[0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]);
    let f = forward(&t, "/app/x", &mut ctx);
    let key = "0123456789abcdeffedcba9876543210";
    assert_eq!(header(&f, HASH_HEADER), Some(key));
    assert_eq!(
        set_cookie(&f).as_deref(),
        Some(
            format!(
                "INGRESSCOOKIE={key}|{}; Path=/app; HttpOnly",
                backend_key(APP_KEY_NAME)
            )
            .as_str()
        )
    );
    assert_eq!(f.trace.session, Some(Session::New));
}

#[wasm_bindgen_test(unsupported = test)]
fn balanced_existing_session_is_kept_without_a_new_cookie() {
    let t = table(vec![sticky(
        json!({"nginx.ingress.kubernetes.io/session-cookie-name": "route"}),
    )]);
    // Any token works as a key, whatever backend the cookie's second part names (as in ingress-nginx).
    let mut ctx = TestContext::new().cookie("other=1; route=1700000000.123.42.999|deadbeef");
    let f = forward(&t, "/app", &mut ctx);
    assert_eq!(header(&f, HASH_HEADER), Some("1700000000.123.42.999"));
    assert_eq!(f.response, None);
    assert_eq!(f.trace.session, Some(Session::Kept));
    // Forged, garbage, huge or non-UTF-8 keys start a new session; the request still reaches the app.
    let huge = format!("route={}", "a".repeat(5000));
    let bad: [&[u8]; 4] = [b"route=a b|x", b"route=\xff\xfe|x", huge.as_bytes(), b"route=|x"];
    for cookie in bad {
        let mut ctx = TestContext::new().header("cookie", cookie).randoms(&[1, 2]);
        let f = forward(&t, "/app", &mut ctx);
        assert!(f.cluster.contains("/app:"));
        assert_eq!(header(&f, HASH_HEADER), Some("00000000000000010000000000000002"));
        assert!(set_cookie(&f).is_some());
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn every_attribute_in_ingress_nginx_order() {
    let t = table(vec![sticky(json!({
        "nginx.ingress.kubernetes.io/session-cookie-name": "sticky",
        "nginx.ingress.kubernetes.io/session-cookie-path": "/",
        "nginx.ingress.kubernetes.io/session-cookie-expires": "172800",
        "nginx.ingress.kubernetes.io/session-cookie-max-age": "259200",
        "nginx.ingress.kubernetes.io/session-cookie-domain": "app.test",
        "nginx.ingress.kubernetes.io/session-cookie-secure": "true",
        "nginx.ingress.kubernetes.io/session-cookie-samesite": "Strict",
    }))]);
    let mut ctx = TestContext::new().randoms(&[10, 11]);
    ctx.now = 1_700_000_000;
    let f = forward(&t, "/app", &mut ctx);
    let cookie = set_cookie(&f).unwrap();
    let (value, attributes) = cookie.split_once(';').unwrap();
    assert_eq!(
        value,
        format!(
            "sticky=000000000000000a000000000000000b|{}",
            backend_key(APP_KEY_NAME)
        )
    );
    // now + 172800 s = Thu, 16-Nov-23 22:13:20 GMT.
    assert_eq!(
        attributes,
        " Expires=Thu, 16-Nov-23 22:13:20 GMT; Max-Age=259200; Domain=app.test; Path=/; Secure; HttpOnly; SameSite=Strict"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn secure_on_https_and_conditional_samesite_none() {
    let t = table(vec![sticky(json!({
        "nginx.ingress.kubernetes.io/session-cookie-samesite": "None",
        "nginx.ingress.kubernetes.io/session-cookie-conditional-samesite-none": "true",
    }))]);
    let https = t.decide_with(
        &crate::decide::Request {
            scheme: "https",
            authority: HOST,
            path: "/app",
        },
        &mut TestContext::new(),
    );
    let Decision::Forward(f) = https else { panic!() };
    assert!(set_cookie(&f)
        .unwrap()
        .ends_with("; Path=/app; Secure; HttpOnly; SameSite=None"));
    let old_chrome = b"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/59.0.3071 Safari/537.36";
    let mut ctx = TestContext::new().header("user-agent", old_chrome);
    let f = forward(&t, "/app", &mut ctx);
    assert!(set_cookie(&f).unwrap().ends_with("; Path=/app; HttpOnly"));
    let f = forward(
        &t,
        "/app",
        &mut TestContext::new().header("user-agent", b"curl/8"),
    );
    assert!(set_cookie(&f)
        .unwrap()
        .ends_with("; Path=/app; HttpOnly; SameSite=None"));
}

#[wasm_bindgen_test(unsupported = test)]
fn only_routes_of_ingresses_with_affinity_issue_the_cookie() {
    // ingress-nginx's e2e "should not set affinity across all server locations when using separate
    // ingresses": the other Ingress's path to the same service honours the cookie but does not set it.
    let plain = ingress(
        "ns",
        "plain",
        "2024-03-01T00:00:00Z",
        json!({}),
        json!([host_rule(Some(HOST), vec![path("/other", "Prefix", "app")])]),
    );
    let t = table(vec![sticky(json!({})), plain]);
    let f = forward(&t, "/other", &mut TestContext::new());
    assert_eq!(f.response, None);
    assert!(header(&f, HASH_HEADER).is_some());
    let f = forward(&t, "/other", &mut TestContext::new().cookie("INGRESSCOOKIE=k1|x"));
    assert_eq!(header(&f, HASH_HEADER), Some("k1"));
}

#[wasm_bindgen_test(unsupported = test)]
fn persistent_pins_the_endpoint_named_by_the_cookie() {
    let endpoints = json!({"ns/app:80": ["10.0.0.1:8080", "10.0.0.2:8080", "[fd00::3]:8080"]});
    let c = compiled(
        vec![sticky(
            json!({"nginx.ingress.kubernetes.io/affinity-mode": "persistent"}),
        )],
        endpoints,
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let t = &c.table;
    let second = endpoint_key(APP_KEY_NAME, &"10.0.0.2:8080".parse().unwrap());
    let cookie = format!("INGRESSCOOKIE={second}|{}", backend_key(APP_KEY_NAME));
    let f = forward(t, "/app", &mut TestContext::new().cookie(&cookie));
    assert_eq!(
        header(&f, SESSION_HEADER),
        Some(base64::encode(b"10.0.0.2:8080").as_str())
    );
    assert_eq!(f.trace.session, Some(Session::Kept));
    // Envoy names the endpoint on the response only when it chose another one: that becomes the cookie.
    let Some(ResponseWork::PinEndpoint { affinity, attributes }) = f.response.clone() else {
        panic!("{:?}", f.response)
    };
    let v6 = base64::encode(b"[fd00::3]:8080");
    let cookie = t.pinned_cookie(affinity, &attributes, v6.as_bytes()).unwrap();
    let v6_key = endpoint_key(APP_KEY_NAME, &"[fd00::3]:8080".parse().unwrap());
    assert_eq!(
        cookie,
        format!(
            "INGRESSCOOKIE={v6_key}|{}; Path=/app; HttpOnly",
            backend_key(APP_KEY_NAME)
        )
    );
    assert_eq!(t.pinned_cookie(affinity, &attributes, b"garbage!"), None);
    // An unknown endpoint (removed, forged): no pin, so Envoy balances and names the new endpoint.
    let f = forward(
        t,
        "/app",
        &mut TestContext::new().cookie("INGRESSCOOKIE=0123456789abcdef0123456789abcdef|x"),
    );
    assert_eq!(header(&f, SESSION_HEADER), None);
    assert_eq!(f.trace.session, Some(Session::New));
    assert!(matches!(f.response, Some(ResponseWork::PinEndpoint { .. })));
}

#[wasm_bindgen_test(unsupported = test)]
fn persistent_without_endpoints_is_balanced_and_says_so() {
    let c = compiled(
        vec![sticky(
            json!({"nginx.ingress.kubernetes.io/affinity-mode": "persistent"}),
        )],
        json!({}),
    );
    assert!(c.warnings.iter().any(
        |w| w.field.ends_with("affinity-mode") && w.message.contains("needs the endpoints of ns/app:80")
    ));
    let f = forward(&c.table, "/app", &mut TestContext::new());
    assert!(header(&f, HASH_HEADER).is_some() && set_cookie(&f).is_some());
    assert_eq!(c.table.session_headers(), &[HASH_HEADER]);
}

fn canary_of_sticky(behavior: Option<&str>) -> RouteTable {
    canary_of_sticky_with(behavior, &[])
}

/// A weight-1 canary of a sticky primary, with more annotations (names without the prefix).
fn canary_of_sticky_with(behavior: Option<&str>, more: &[(&str, &str)]) -> RouteTable {
    let mut annotations = json!({"nginx.ingress.kubernetes.io/canary": "true",
                                 "nginx.ingress.kubernetes.io/canary-weight": "1"});
    if let Some(b) = behavior {
        annotations["nginx.ingress.kubernetes.io/affinity-canary-behavior"] = json!(b);
    }
    for (name, value) in more {
        annotations[format!("nginx.ingress.kubernetes.io/{name}")] = json!(value);
    }
    let canary = ingress(
        "ns",
        "app-canary",
        "2024-02-01T00:00:00Z",
        annotations,
        json!([host_rule(Some(HOST), vec![path("/app", "Prefix", "app-v2")])]),
    );
    table(vec![
        sticky(json!({"nginx.ingress.kubernetes.io/session-cookie-name": "aff"})),
        canary,
    ])
}

#[wasm_bindgen_test(unsupported = test)]
fn sticky_canary_keeps_its_clients() {
    let t = canary_of_sticky(None);
    // Weight 1 of 100: draw 1 goes to the canary, which issues the cookie with its own backend key.
    let f = forward(&t, "/app", &mut TestContext::new().randoms(&[0, 7, 8]));
    assert!(f.cluster.contains("app-v2"));
    let cookie = set_cookie(&f).unwrap();
    assert!(
        cookie.contains(&format!("|{};", backend_key("ns-app-v2-80"))),
        "{cookie}"
    );
    let value = cookie.split(';').next().unwrap().to_string();
    // From then on the cookie keeps the client on the canary, whatever the draw.
    for draw in [50, 99] {
        let mut ctx = TestContext::new().cookie(&value).randoms(&[draw]);
        let f = forward(&t, "/app", &mut ctx);
        assert!(f.cluster.contains("app-v2"));
        assert_eq!(f.trace.canary.map(|c| c.rule), Some(CanaryRule::CanarySession));
        assert_eq!((f.response, ctx.draws), (None, 0));
    }
    // A primary session stays on the primary.
    let primary = format!("aff=k|{}", backend_key(APP_KEY_NAME));
    let f = forward(&t, "/app", &mut TestContext::new().cookie(&primary));
    assert_eq!(service_of(&Decision::Forward(f.clone())), "app");
    assert_eq!(f.trace.canary.map(|c| c.rule), Some(CanaryRule::PrimarySession));
}

/// ingress-nginx's order: a sticky session decides before the canary's header and cookie rules.
#[wasm_bindgen_test(unsupported = test)]
fn a_session_outranks_the_canary_header_and_cookie() {
    let t = canary_of_sticky_with(
        None,
        &[("canary-by-header", "X-Canary"), ("canary-by-cookie", "beta")],
    );
    let primary = format!("aff=k|{}", backend_key(APP_KEY_NAME));
    let mut ctx = TestContext::new()
        .cookie(&format!("{primary}; beta=always"))
        .header("x-canary", b"always");
    let f = forward(&t, "/app", &mut ctx);
    assert_eq!(service_of(&Decision::Forward(f.clone())), "app");
    assert_eq!(f.trace.canary.map(|c| c.rule), Some(CanaryRule::PrimarySession));
    let canary = format!("aff=k|{}", backend_key("ns-app-v2-80"));
    let mut ctx = TestContext::new()
        .cookie(&format!("{canary}; beta=never"))
        .header("x-canary", b"never");
    let f = forward(&t, "/app", &mut ctx);
    assert!(f.cluster.contains("app-v2"), "{}", f.cluster);
    assert_eq!(f.trace.canary.map(|c| c.rule), Some(CanaryRule::CanarySession));
    // Without a session the header decides.
    let f = forward(&t, "/app", &mut TestContext::new().header("x-canary", b"always"));
    assert!(f.cluster.contains("app-v2"), "{}", f.cluster);
    assert_eq!(f.trace.canary.map(|c| c.rule), Some(CanaryRule::HeaderAlways));
}

#[wasm_bindgen_test(unsupported = test)]
fn legacy_canary_gets_no_affinity() {
    let t = canary_of_sticky(Some("legacy"));
    let f = forward(&t, "/app", &mut TestContext::new().randoms(&[0]));
    assert!(f.cluster.contains("app-v2"));
    assert_eq!((f.response.clone(), header(&f, HASH_HEADER)), (None, None));
    // The primary's sessions are still sticky.
    let f = forward(&t, "/app", &mut TestContext::new().randoms(&[60, 1, 2]));
    assert!(f.cluster.contains("/app:") && set_cookie(&f).is_some());
}
