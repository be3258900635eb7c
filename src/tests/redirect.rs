//! Redirects and host names through the core: app-root, permanent/temporal redirects, from-to-www,
//! server-alias and upstream-vhost, in ingress-nginx's order.

use super::context::TestContext;
use super::decide::{go, host_rule, ingress, load_table, path, single_host};
use crate::config::load;
use crate::decide::{Decision, HostMatch, Reason, Request, RouteTable, Trace};
use crate::work;
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

fn annotations(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), json!(v)))
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// `go` with the scheme given.
fn go_scheme(t: &RouteTable, scheme: &str, host: &str, p: &str) -> String {
    match t.decide(&Request {
        scheme,
        authority: host,
        path: p,
    }) {
        Decision::Redirect { status, location, .. } => format!("{status} {location}"),
        other => format!("{other:?}"),
    }
}

/// The trace of `GET http://host/path`.
fn trace_of(t: &RouteTable, host: &str, p: &str) -> Trace {
    t.decide(&Request {
        scheme: "http",
        authority: host,
        path: p,
    })
    .trace()
}

fn created(ns: &str, name: &str, when: &str, a: Value, host: &str, paths: Vec<Value>) -> Value {
    ingress(ns, name, when, a, json!([host_rule(Some(host), paths)]))
}

#[wasm_bindgen_test(unsupported = test)]
fn app_root_answers_slash_of_the_whole_host() {
    for semantics in ["ingress-nginx", "kubernetes"] {
        let app = created(
            "ns",
            "app",
            "2024-01-01T00:00:00Z",
            annotations(&[("app-root", "/app1")]),
            "approot.bar.com",
            vec![path("/api", "Prefix", "api")],
        );
        // Another Ingress of the host serves `/` itself: app-root still answers `/` first.
        let root = created(
            "ns",
            "root",
            "2024-02-01T00:00:00Z",
            json!({}),
            "approot.bar.com",
            vec![path("/", "Prefix", "web")],
        );
        let t = load_table(vec![app, root], semantics);
        let host = "approot.bar.com";
        assert_eq!(
            go(&t, host, "/"),
            "302 http://approot.bar.com/app1",
            "{semantics}"
        );
        assert_eq!(
            go(&t, host, "/?a=b"),
            "302 http://approot.bar.com/app1",
            "{semantics}"
        );
        assert_eq!(
            go(&t, "ApProot.bar.com:8080", "/"),
            "302 http://ApProot.bar.com:8080/app1"
        );
        assert_eq!(
            go_scheme(&t, "https", host, "/"),
            "302 https://approot.bar.com/app1"
        );
        assert_eq!(go(&t, host, "/app1"), "web /app1");
        assert_eq!(go(&t, host, "/api/x"), "api /api/x");
        let d = trace_of(&t, host, "/");
        assert_eq!(d.reason, Reason::AppRoot);
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn app_root_comes_before_the_location_s_own_redirect() {
    let t = load_table(
        vec![single_host(
            "ns",
            "both",
            annotations(&[
                ("app-root", "/start"),
                ("permanent-redirect", "https://elsewhere.test/"),
            ]),
            "both.test",
            vec![path("/", "Prefix", "web")],
        )],
        "ingress-nginx",
    );
    assert_eq!(go(&t, "both.test", "/"), "302 http://both.test/start");
    assert_eq!(go(&t, "both.test", "/start"), "301 https://elsewhere.test/");
}

#[wasm_bindgen_test(unsupported = test)]
fn the_seeds_chatforyou_app_root_redirects_slash_to_itself() {
    let t = load_table(vec![super::decide::chatforyou()], "ingress-nginx");
    assert_eq!(
        go(&t, "myproject.project.io", "/"),
        "302 http://myproject.project.io/"
    );
    assert_eq!(
        go(&t, "myproject.project.io", "/chatforyouio/x"),
        "chatforyou-io-svc /x"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn permanent_and_temporal_redirects_send_exactly_their_url() {
    let moved = created(
        "ns",
        "moved",
        "2024-01-01T00:00:00Z",
        annotations(&[("permanent-redirect", "http://redirect.example.com")]),
        "redirect",
        vec![path("/something", "Prefix", "echo")],
    );
    let coded = created(
        "ns",
        "coded",
        "2024-01-02T00:00:00Z",
        annotations(&[
            ("permanent-redirect", "/new?x=1"),
            ("permanent-redirect-code", "308"),
        ]),
        "redirect",
        vec![path("/coded", "Exact", "echo")],
    );
    let temporal = created(
        "ns",
        "temporal",
        "2024-01-03T00:00:00Z",
        annotations(&[
            ("temporal-redirect", "https://t.example.com/a"),
            ("permanent-redirect", "https://p.example.com"),
            ("temporal-redirect-code", "307"),
        ]),
        "redirect",
        vec![path("/temporal", "Prefix", "echo")],
    );
    let plain = created(
        "ns",
        "plain",
        "2024-01-04T00:00:00Z",
        json!({}),
        "redirect",
        vec![path("/plain", "Prefix", "echo")],
    );
    let t = load_table(vec![moved, coded, temporal, plain], "ingress-nginx");
    assert_eq!(
        go(&t, "redirect", "/something"),
        "301 http://redirect.example.com"
    );
    assert_eq!(
        go(&t, "redirect", "/something/deep?q=1"),
        "301 http://redirect.example.com"
    );
    // A path gets the request's scheme and host, without port (nginx's absolute_redirect).
    assert_eq!(go(&t, "Redirect:8080", "/coded"), "308 http://redirect/new?x=1");
    assert_eq!(
        go_scheme(&t, "https", "redirect", "/coded"),
        "308 https://redirect/new?x=1"
    );
    assert_eq!(go(&t, "redirect", "/temporal/x"), "307 https://t.example.com/a");
    assert_eq!(go(&t, "redirect", "/plain"), "echo /plain");
    let d = trace_of(&t, "redirect", "/temporal");
    assert_eq!(d.reason, Reason::TemporalRedirect);
    assert_eq!(
        d.route.map(|r| t.routes()[r].ingress.as_str()),
        Some("ns/temporal")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn the_www_counterpart_redirects_to_the_host() {
    let bare = single_host(
        "ns",
        "bare",
        annotations(&[("from-to-www-redirect", "true")]),
        "fromtowwwredirect.bar.com",
        vec![path("/", "Prefix", "web")],
    );
    let www = single_host(
        "ns",
        "www",
        annotations(&[("from-to-www-redirect", "true")]),
        "www.other.com",
        vec![path("/", "Prefix", "other")],
    );
    for semantics in ["ingress-nginx", "kubernetes"] {
        let t = load_table(vec![bare.clone(), www.clone()], semantics);
        let w = "www.fromtowwwredirect.bar.com";
        assert_eq!(go(&t, w, "/foo"), "308 http://fromtowwwredirect.bar.com:80/foo");
        assert_eq!(
            go(&t, w, "/foo/?a=1"),
            "308 http://fromtowwwredirect.bar.com:80/foo/?a=1"
        );
        assert_eq!(
            go(&t, "WWW.fromtowwwredirect.bar.com:8080", "/x/"),
            "308 http://fromtowwwredirect.bar.com:8080/x"
        );
        assert_eq!(
            go_scheme(&t, "https", w, "/"),
            "308 https://fromtowwwredirect.bar.com:443"
        );
        assert_eq!(go(&t, "fromtowwwredirect.bar.com", "/foo"), "web /foo");
        assert_eq!(go(&t, "other.com", "/x"), "308 http://www.other.com:80/x");
        assert_eq!(go(&t, "www.other.com", "/x"), "other /x");
        let d = trace_of(&t, w, "/");
        assert_eq!(
            (d.host, d.reason),
            (HostMatch::WwwCounterpart, Reason::WwwRedirect)
        );
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn a_www_counterpart_with_rules_of_its_own_is_not_redirected() {
    let bare = single_host(
        "ns",
        "bare",
        annotations(&[("from-to-www-redirect", "true")]),
        "a.com",
        vec![path("/", "Prefix", "web")],
    );
    let www = single_host(
        "ns",
        "www",
        json!({}),
        "www.a.com",
        vec![path("/", "Prefix", "www")],
    );
    let cfg = json!({"kind": "List", "items": [bare, www]});
    let compiled = load(cfg.to_string().as_bytes()).unwrap();
    assert_eq!(go(&compiled.table, "www.a.com", "/x"), "www /x");
    let warnings: Vec<String> = compiled.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "ns/bare: metadata.annotations.nginx.ingress.kubernetes.io/from-to-www-redirect: www.a.com is a host of its own Ingress rules"
        )),
        "{warnings:?}"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn server_aliases_serve_every_path_of_the_host() {
    let a = created(
        "ns",
        "app-a",
        "2024-01-01T00:00:00Z",
        json!({}),
        "foo",
        vec![path("/app-a", "Prefix", "a")],
    );
    let b = created(
        "ns",
        "app-b",
        "2024-01-02T00:00:00Z",
        annotations(&[("server-alias", "bar, .wild.test, www.*, other, *.wild.test")]),
        "foo",
        vec![path("/app-b", "Prefix", "b")],
    );
    // `other` and `*.wild.test` are rule hosts of their own: those aliases are dropped.
    let other = single_host("ns", "other", json!({}), "other", vec![path("/", "Prefix", "o")]);
    let wildcard = single_host(
        "ns",
        "wild",
        json!({}),
        "*.wild.test",
        vec![path("/", "Prefix", "w")],
    );
    for semantics in ["ingress-nginx", "kubernetes"] {
        let t = load_table(
            vec![a.clone(), b.clone(), other.clone(), wildcard.clone()],
            semantics,
        );
        assert_eq!(go(&t, "bar", "/app-a"), "a /app-a", "{semantics}");
        assert_eq!(go(&t, "Bar:8080", "/app-b/x"), "b /app-b/x");
        assert_eq!(go(&t, "other", "/app-a"), "o /app-a");
        // nginx: a `.suffix` alias beats a wildcard rule host (ingress-nginx writes those as regexes).
        assert_eq!(go(&t, "x.wild.test", "/app-a"), "a /app-a");
        assert_eq!(go(&t, "wild.test", "/app-a"), "a /app-a");
        assert_eq!(go(&t, "x.y.wild.test", "/app-b"), "b /app-b");
        assert_eq!(go(&t, "www.example.org", "/app-a"), "a /app-a");
        assert_eq!(go(&t, "baz", "/app-a"), "404");
        let d = trace_of(&t, "bar", "/app-a");
        assert_eq!(d.host, HostMatch::Alias);
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn only_the_first_ingress_with_aliases_gives_a_host_its_aliases() {
    let first = created(
        "ns",
        "first",
        "2024-01-01T00:00:00Z",
        annotations(&[("server-alias", "one")]),
        "foo",
        vec![path("/a", "Prefix", "a")],
    );
    let second = created(
        "ns",
        "second",
        "2024-01-02T00:00:00Z",
        annotations(&[("server-alias", "two")]),
        "foo",
        vec![path("/b", "Prefix", "b")],
    );
    let cfg = json!({"kind": "List", "items": [second, first]});
    let compiled = load(cfg.to_string().as_bytes()).unwrap();
    assert_eq!(go(&compiled.table, "one", "/b"), "b /b");
    assert_eq!(go(&compiled.table, "two", "/b"), "404");
    let warnings: Vec<String> = compiled.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec!["ns/second: metadata.annotations.nginx.ingress.kubernetes.io/server-alias: foo already has the aliases of the older Ingress ns/first; these are ignored"]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn app_root_applies_to_the_aliases_too() {
    let t = load_table(
        vec![single_host(
            "ns",
            "app",
            annotations(&[("app-root", "/app"), ("server-alias", "alias.test")]),
            "main.test",
            vec![path("/app", "Prefix", "web")],
        )],
        "ingress-nginx",
    );
    assert_eq!(go(&t, "alias.test", "/"), "302 http://alias.test/app");
}

#[wasm_bindgen_test(unsupported = test)]
fn upstream_vhost_is_the_host_sent_upstream() {
    let fixed = single_host(
        "ns",
        "fixed",
        annotations(&[("upstream-vhost", "upstreamvhost.bar.com")]),
        "upstreamvhost.foo.com",
        vec![path("/", "Prefix", "echo")],
    );
    let templated = single_host(
        "web",
        "templated",
        annotations(&[(
            "upstream-vhost",
            "$service_name.$namespace.svc.cluster.local:${service_port}",
        )]),
        "templated.test",
        vec![path("/", "Prefix", "echo")],
    );
    let per_request = single_host(
        "web",
        "per-request",
        annotations(&[("upstream-vhost", "$host.internal-$http_host")]),
        "request.test",
        vec![path("/", "Prefix", "echo")],
    );
    let t = load_table(vec![fixed, templated, per_request], "ingress-nginx");
    let host_sent = |host: &str| match t.decide_with(
        &Request {
            scheme: "http",
            authority: host,
            path: "/x",
        },
        &mut TestContext::new(),
    ) {
        Decision::Forward(f) => f
            .headers
            .iter()
            .find(|(n, _)| *n == ":authority")
            .map(|(_, v)| v.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        host_sent("upstreamvhost.foo.com").as_deref(),
        Some("upstreamvhost.bar.com")
    );
    assert_eq!(
        host_sent("templated.test").as_deref(),
        Some("echo.web.svc.cluster.local:80")
    );
    assert_eq!(
        host_sent("Request.test:8080").as_deref(),
        Some("request.test.internal-Request.test:8080")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn alias_lookups_of_hostile_hosts_stay_cheap() {
    let t = load_table(
        vec![single_host(
            "ns",
            "aliased",
            annotations(&[("server-alias", "*.a.test, b.*, .c.test")]),
            "main.test",
            vec![path("/", "Prefix", "web")],
        )],
        "ingress-nginx",
    );
    for host in ["a.".repeat(30_000), format!("{}a.test", "x.".repeat(120))] {
        work::take();
        let _ = go(&t, &host, "/");
        let work = work::take();
        // Label by label, but never past a DNS name's 253 bytes.
        assert!(
            work <= 4 * host.len() + 253 * 127,
            "{} bytes of host cost {work} bytes of matching",
            host.len()
        );
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn the_host_s_root_location_carries_the_first_ingress_s_redirect() {
    // ingress-nginx gives the host's root location `/` the annotations of the first Ingress naming the
    // host: a path no rule matches answers its redirect rather than 404.
    let moved = created(
        "ns",
        "moved",
        "2024-01-01T00:00:00Z",
        annotations(&[("permanent-redirect", "https://new.example.com/")]),
        "old.test",
        vec![path("/a", "Exact", "echo")],
    );
    let later = created(
        "ns",
        "later",
        "2024-02-01T00:00:00Z",
        json!({}),
        "old.test",
        vec![path("/kept", "Prefix", "kept")],
    );
    let nginx = load_table(vec![moved.clone(), later.clone()], "ingress-nginx");
    assert_eq!(go(&nginx, "old.test", "/a"), "301 https://new.example.com/");
    assert_eq!(
        go(&nginx, "old.test", "/elsewhere"),
        "301 https://new.example.com/"
    );
    assert_eq!(go(&nginx, "old.test", "/kept/x"), "kept /kept/x");
    assert_eq!(
        trace_of(&nginx, "old.test", "/elsewhere").reason,
        Reason::PermanentRedirect
    );
    let kubernetes = load_table(vec![moved, later], "kubernetes");
    assert_eq!(go(&kubernetes, "old.test", "/elsewhere"), "404");
}
