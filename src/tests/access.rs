//! Decision tests for access control and body limits (config -> compile -> decide): source ranges, basic
//! authentication, `proxy-body-size`, their phase order and their defaults from the settings. They run
//! natively and on wasm32-unknown-unknown under Node.

use crate::config::load;
use crate::decide::{Decision, Reason, RouteTable};
use crate::tests::context::{decide, TestContext};
use crate::tests::decide::{path, single_host};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

const HOST: &str = "shop.test";
const P: &str = "nginx.ingress.kubernetes.io/";

/// `basic-auth` in namespace `shop`: user `foo`, password `bar` (`htpasswd -nbm foo bar`).
fn secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "basic-auth", "namespace": "shop"},
           "data": {"auth": "Zm9vOiRhcHIxJDBlbm1PdkRPJEpZRzFHVTZaRnNKS2VhUWpneG9QaDEK"}})
}

fn shop(name: &str, annotations: Value, prefix: &str) -> Value {
    single_host(
        "shop",
        name,
        annotations,
        HOST,
        vec![path(prefix, "Prefix", name)],
    )
}

fn table(items: Vec<Value>, settings: Value) -> RouteTable {
    let cfg = json!({"ingresses": items, "settings": settings, "secrets": [secret()]});
    match load(cfg.to_string().as_bytes()) {
        Ok(c) => c.table,
        Err(d) => panic!("config refused: {d:?}"),
    }
}

/// Every annotation of this family on one Ingress, plus a plain one.
fn shop_table(settings: Value) -> RouteTable {
    let guarded = shop(
        "admin",
        json!({format!("{P}auth-type"): "basic", format!("{P}auth-secret"): "basic-auth",
               format!("{P}auth-realm"): "Shop admins",
               format!("{P}denylist-source-range"): "10.1.0.0/16",
               format!("{P}allowlist-source-range"): "10.0.0.0/8, 2001:db8::/32",
               format!("{P}proxy-body-size"): "8k"}),
        "/admin",
    );
    table(vec![guarded, shop("web", json!({}), "/")], settings)
}

const FOO_BAR: &[u8] = b"Basic Zm9vOmJhcg==";

/// `status reason` of a local reply, or `forward <service>`.
fn outcome(t: &RouteTable, p: &str, ctx: &mut TestContext) -> String {
    match decide(t, HOST, p, ctx) {
        Decision::Forward(f) => format!("forward {}", f.cluster),
        Decision::Respond { status, trace, .. } | Decision::Reject { status, trace } => {
            format!("{status} {:?}", trace.reason)
        }
        other => format!("{other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn phases_in_nginx_order() {
    let t = shop_table(json!({}));
    let inside = || TestContext::new().client("10.2.3.4");
    let big_body = |ctx: TestContext| ctx.with_body().header("content-length", b"8193");
    // find-config (413) before access (403) before auth (401).
    assert_eq!(
        outcome(&t, "/admin", &mut big_body(TestContext::new().client("10.1.0.1"))),
        "413 BodyTooLarge"
    );
    assert_eq!(
        outcome(&t, "/admin", &mut TestContext::new().client("10.1.0.1")),
        "403 SourceDenied"
    );
    assert_eq!(
        outcome(&t, "/admin", &mut TestContext::new().client("192.168.0.1")),
        "403 SourceDenied"
    );
    assert_eq!(outcome(&t, "/admin", &mut inside()), "401 Unauthorized");
    let mut ok = inside().header("authorization", FOO_BAR);
    assert_eq!(outcome(&t, "/admin", &mut ok), "forward shop/admin:80");
    let mut v6 = TestContext::new()
        .client("2001:db8::7")
        .header("authorization", FOO_BAR);
    assert_eq!(outcome(&t, "/admin", &mut v6), "forward shop/admin:80");
    // The plain Ingress beside it: no ranges, no auth, the default 1m limit.
    assert_eq!(
        outcome(&t, "/", &mut TestContext::new().client("192.168.0.1")),
        "forward shop/web:80"
    );
    assert_eq!(
        outcome(&t, "/", &mut big_body(TestContext::new())),
        "forward shop/web:80"
    );
    let mut two_megs = TestContext::new()
        .with_body()
        .header("content-length", b"2097152");
    assert_eq!(outcome(&t, "/", &mut two_megs), "413 BodyTooLarge");
}

#[wasm_bindgen_test(unsupported = test)]
fn replies_and_what_the_upstream_gets() {
    let t = shop_table(json!({}));
    let mut ctx = TestContext::new().client("10.2.3.4");
    match decide(&t, HOST, "/admin/x", &mut ctx) {
        Decision::Respond {
            status: 401, headers, ..
        } => {
            assert_eq!(
                headers,
                vec![("www-authenticate", "Basic realm=\"Shop admins\"".to_string())]
            );
        }
        other => panic!("{other:?}"),
    }
    let mut ctx = TestContext::new()
        .client("10.2.3.4")
        .header("authorization", FOO_BAR);
    match decide(&t, HOST, "/admin/x", &mut ctx) {
        Decision::Forward(f) => {
            // The credentials never reach the upstream; a streamed body is counted against 8k.
            assert_eq!(f.headers, vec![("authorization", String::new())]);
            assert_eq!(f.body_limit.map(|l| l.0), Some(8192));
            assert_eq!(f.trace.reason, Reason::PrefixPath);
        }
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn global_settings_and_their_overrides() {
    let settings = json!({"allowlistSourceRange": "192.168.0.0/16", "denylistSourceRange": "192.168.9.0/24",
                          "proxyBodySize": "0"});
    let t = shop_table(settings.clone());
    // The plain Ingress gets the global ranges and no body limit.
    let from = |ip: &str| TestContext::new().client(ip);
    assert_eq!(outcome(&t, "/", &mut from("192.168.1.1")), "forward shop/web:80");
    assert_eq!(outcome(&t, "/", &mut from("192.168.9.1")), "403 SourceDenied");
    assert_eq!(outcome(&t, "/", &mut from("10.2.3.4")), "403 SourceDenied");
    let mut huge = from("192.168.1.1")
        .with_body()
        .header("content-length", b"99999999999");
    assert_eq!(outcome(&t, "/", &mut huge), "forward shop/web:80");
    // The annotated Ingress replaces both lists with its own.
    let mut admin = from("10.2.3.4").header("authorization", FOO_BAR);
    assert_eq!(outcome(&t, "/admin", &mut admin), "forward shop/admin:80");
    assert_eq!(
        outcome(&t, "/admin", &mut from("192.168.1.1")),
        "403 SourceDenied"
    );
    // An Ingress with only a denylist keeps the global allowlist.
    let deny_only = shop(
        "deny",
        json!({format!("{P}denylist-source-range"): "192.168.1.1"}),
        "/deny",
    );
    let t = table(vec![deny_only], settings);
    assert_eq!(outcome(&t, "/deny", &mut from("192.168.1.1")), "403 SourceDenied");
    assert_eq!(
        outcome(&t, "/deny", &mut from("192.168.9.1")),
        "forward shop/deny:80"
    );
    assert_eq!(outcome(&t, "/deny", &mut from("10.0.0.1")), "403 SourceDenied");
}

#[wasm_bindgen_test(unsupported = test)]
fn only_routes_with_rules_read_the_request() {
    let t = table(vec![shop("web", json!({}), "/")], json!({"proxyBodySize": "0"}));
    let mut ctx = TestContext::new().with_body().header("authorization", FOO_BAR);
    assert_eq!(outcome(&t, "/", &mut ctx), "forward shop/web:80");
    assert!(ctx.reads.is_empty(), "{:?}", ctx.reads);
    assert!(t.routes()[0].policy.is_none());
    // The default limit reads the length only when a body follows.
    let t = table(vec![shop("web", json!({}), "/")], json!({}));
    let mut get = TestContext::new();
    outcome(&t, "/", &mut get);
    assert!(get.reads.is_empty(), "{:?}", get.reads);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_missing_secret_or_an_invalid_list_denies_with_503() {
    for annotations in [
        json!({format!("{P}auth-type"): "basic", format!("{P}auth-secret"): "other"}),
        json!({format!("{P}allowlist-source-range"): "10.0.0.0/8, 300.0.0.1"}),
    ] {
        let t = table(vec![shop("admin", annotations.clone(), "/admin")], json!({}));
        let mut ctx = TestContext::new()
            .client("10.0.0.1")
            .header("authorization", FOO_BAR);
        assert_eq!(
            outcome(&t, "/admin", &mut ctx),
            "503 AccessNotEnforced",
            "{annotations}"
        );
    }
}
