//! Decision tests for the redirects to HTTPS: ssl-redirect's default on hosts with TLS (exact and
//! wildcard, host-level across Ingresses), force-ssl-redirect, preserve-trailing-slash, the ACME exemption,
//! unmatched paths, and `X-Forwarded-Proto` / `X-Forwarded-Host` read only with `useForwardedHeaders`.

use crate::config::load;
use crate::decide::{Reason, Request, RouteTable};
use crate::tests::context::TestContext;
use crate::tests::decide::{host_rule, ingress, path, summary};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

const ANN: &str = "nginx.ingress.kubernetes.io/";

/// An Ingress of namespace `web` with annotations (short names), rules and a `tls` section.
fn ing(name: &str, created: &str, annotations: &[(&str, &str)], rules: Value, tls: Value) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (format!("{ANN}{k}"), json!(v)))
        .collect();
    let mut ingress = ingress("web", name, created, Value::Object(annotations), rules);
    ingress["spec"]["tls"] = tls;
    ingress
}

fn table(items: Vec<Value>, settings: Value) -> RouteTable {
    let cfg = json!({"ingresses": {"kind": "List", "items": items}, "settings": settings});
    match load(cfg.to_string().as_bytes()) {
        Ok(c) => c.table,
        Err(d) => panic!("config refused: {d:?}"),
    }
}

/// The decision for `<scheme>://<host><p>` with `ctx`, as [`summary`] prints it.
fn ask(t: &RouteTable, scheme: &str, host: &str, p: &str, ctx: &mut TestContext) -> String {
    let request = Request {
        scheme,
        authority: host,
        path: p,
    };
    summary(t.decide_with(&request, ctx), p)
}

fn http(t: &RouteTable, host: &str, p: &str) -> String {
    ask(t, "http", host, p, &mut TestContext::new())
}

fn https(t: &RouteTable, host: &str, p: &str) -> String {
    ask(t, "https", host, p, &mut TestContext::new())
}

/// shop.test has TLS (listed by `shop`); `extra` adds paths to it without TLS of its own, one with
/// ssl-redirect "false"; `*.wild.test` has a wildcard certificate; plain.test has none, force.test forces.
fn scenario(settings: Value) -> RouteTable {
    let shop = ing(
        "shop",
        "2024-01-01T00:00:00Z",
        &[],
        json!([host_rule(
            Some("shop.test"),
            vec![path("/", "Prefix", "web"), path("/app", "Prefix", "app")]
        )]),
        json!([{"hosts": ["shop.test"], "secretName": "shop-tls"}]),
    );
    let extra = ing(
        "extra",
        "2024-01-02T00:00:00Z",
        &[],
        json!([host_rule(
            Some("shop.test"),
            vec![path("/extra", "Prefix", "extra")]
        )]),
        json!([]),
    );
    let open = ing(
        "open",
        "2024-01-03T00:00:00Z",
        &[("ssl-redirect", "false")],
        json!([host_rule(
            Some("shop.test"),
            vec![path("/open", "Prefix", "open")]
        )]),
        json!([]),
    );
    let acme = ing(
        "acme",
        "2024-01-04T00:00:00Z",
        &[],
        json!([host_rule(
            Some("shop.test"),
            vec![path("/.well-known/acme-challenge/token1", "Exact", "solver")]
        )]),
        json!([]),
    );
    let keep = ing(
        "keep",
        "2024-01-05T00:00:00Z",
        &[("preserve-trailing-slash", "true")],
        json!([host_rule(
            Some("shop.test"),
            vec![path("/keep", "Prefix", "keep")]
        )]),
        json!([]),
    );
    let wild = ing(
        "wild",
        "2024-01-06T00:00:00Z",
        &[],
        json!([
            host_rule(Some("*.wild.test"), vec![path("/", "Prefix", "wild")]),
            host_rule(Some("wild.test"), vec![path("/", "Prefix", "apex")])
        ]),
        json!([{"hosts": ["*.wild.test"], "secretName": "wild-tls"}]),
    );
    let plain = ing(
        "plain",
        "2024-01-07T00:00:00Z",
        &[],
        json!([host_rule(Some("plain.test"), vec![path("/", "Prefix", "plain")])]),
        json!([]),
    );
    let force = ing(
        "force",
        "2024-01-08T00:00:00Z",
        &[("force-ssl-redirect", "true")],
        json!([host_rule(Some("force.test"), vec![path("/", "Prefix", "forced")])]),
        json!([]),
    );
    table(vec![shop, extra, open, acme, keep, wild, plain, force], settings)
}

#[wasm_bindgen_test(unsupported = test)]
fn hosts_with_tls_redirect_plain_http_as_ingress_nginx_does() {
    let t = scenario(json!({}));
    // Location: https://<host without port><request URI>, the query kept, the URI's last '/' removed.
    assert_eq!(http(&t, "shop.test", "/"), "308 https://shop.test");
    assert_eq!(
        http(&t, "shop.test:8080", "/cart?item=1&n=2"),
        "308 https://shop.test/cart?item=1&n=2"
    );
    assert_eq!(http(&t, "Shop.Test", "/app/"), "308 https://Shop.Test/app");
    assert_eq!(
        http(&t, "shop.test", "/app/?x=1"),
        "308 https://shop.test/app/?x=1"
    );
    // Over HTTPS nothing redirects.
    assert_eq!(https(&t, "shop.test", "/"), "web /");
    assert_eq!(https(&t, "shop.test", "/app/x"), "app /app/x");
    // Host-level: an Ingress without a tls section of its own redirects on a host with TLS...
    assert_eq!(http(&t, "shop.test", "/extra/1"), "308 https://shop.test/extra/1");
    // ... unless it says ssl-redirect "false".
    assert_eq!(http(&t, "shop.test", "/open/1"), "open /open/1");
    // preserve-trailing-slash keeps the slash.
    assert_eq!(http(&t, "shop.test", "/keep/"), "308 https://shop.test/keep/");
    // The ACME challenge location never redirects; a challenge path that only `/` serves does, as in
    // ingress-nginx (it compares the location's path).
    assert_eq!(
        http(&t, "shop.test", "/.well-known/acme-challenge/token1"),
        "solver /.well-known/acme-challenge/token1"
    );
    assert_eq!(
        http(&t, "shop.test", "/.well-known/acme-challenge/other"),
        "308 https://shop.test/.well-known/acme-challenge/other"
    );
    // Wildcard certificates cover one label.
    assert_eq!(http(&t, "a.wild.test", "/x"), "308 https://a.wild.test/x");
    assert_eq!(http(&t, "a.b.wild.test", "/x"), "404");
    assert_eq!(http(&t, "wild.test", "/x"), "apex /x");
    // No TLS, no redirect; force-ssl-redirect redirects anyway, but not over HTTPS.
    assert_eq!(http(&t, "plain.test", "/x"), "plain /x");
    assert_eq!(http(&t, "force.test", "/x/?y=/"), "308 https://force.test/x/?y=");
    assert_eq!(https(&t, "force.test", "/x"), "forced /x");
}

#[wasm_bindgen_test(unsupported = test)]
fn the_decision_says_why() {
    let t = scenario(json!({}));
    let why = |host: &str| {
        let d = t.decide(&Request {
            scheme: "http",
            authority: host,
            path: "/",
        });
        (d.trace().reason, d.trace().route.is_some())
    };
    assert_eq!(why("shop.test"), (Reason::SslRedirect, true));
    assert_eq!(why("force.test"), (Reason::ForceSslRedirect, true));
    assert!(t.tls().covers("shop.test") && t.tls().covers("x.wild.test"));
    assert!(!t.tls().covers("wild.test") && !t.tls().covers("plain.test"));
}

#[wasm_bindgen_test(unsupported = test)]
fn unmatched_paths_of_a_tls_host_redirect_first() {
    // ingress-nginx: the host's root location (from the first Ingress naming the host) answers a path
    // no rule matches, and redirects to HTTPS before its 404.
    let t = scenario(json!({}));
    let only_app = ing(
        "only-app",
        "2024-01-01T00:00:00Z",
        &[],
        json!([host_rule(Some("app.test"), vec![path("/app", "Prefix", "app")])]),
        json!([{"hosts": ["app.test"], "secretName": "app-tls"}]),
    );
    let no_redirect = ing(
        "no-redirect",
        "2024-01-01T00:00:00Z",
        &[("ssl-redirect", "false")],
        json!([host_rule(Some("quiet.test"), vec![path("/app", "Prefix", "app")])]),
        json!([{"hosts": ["quiet.test"], "secretName": "quiet-tls"}]),
    );
    let t2 = table(vec![only_app, no_redirect], json!({}));
    assert_eq!(http(&t2, "app.test", "/nowhere"), "308 https://app.test/nowhere");
    assert_eq!(https(&t2, "app.test", "/nowhere"), "404");
    assert_eq!(http(&t2, "quiet.test", "/nowhere"), "404");
    assert_eq!(http(&t, "plain.test", "/"), "plain /");
    // The kubernetes profile has no root location: unmatched paths are 404 over HTTP too.
    let k8s = ing(
        "k8s",
        "2024-01-01T00:00:00Z",
        &[],
        json!([host_rule(Some("app.test"), vec![path("/app", "Prefix", "app")])]),
        json!([{"hosts": ["app.test"], "secretName": "app-tls"}]),
    );
    let t3 = table(vec![k8s], json!({"semantics": "kubernetes"}));
    assert_eq!(http(&t3, "app.test", "/nowhere"), "404");
    assert_eq!(http(&t3, "app.test", "/app/"), "308 https://app.test/app");
}

#[wasm_bindgen_test(unsupported = test)]
fn the_location_keeps_the_uri_the_client_sent() {
    // rewrite-target changes what the upstream sees, not where the client is sent.
    let rewritten = ing(
        "rw",
        "2024-01-01T00:00:00Z",
        &[("rewrite-target", "/")],
        json!([host_rule(
            Some("rw.test"),
            vec![path("/api", "Prefix", "api"), path("/dir/", "Prefix", "dir")]
        )]),
        json!([{"hosts": ["rw.test"], "secretName": "rw-tls"}]),
    );
    // A rewrite the filter would refuse does not stand in the way of the redirect (nginx's rewrite never
    // fails; the redirect does not use its result).
    let cdn = ing(
        "cdn",
        "2024-01-01T00:00:00Z",
        &[("use-regex", "true"), ("rewrite-target", "/cdn/images/$1")],
        json!([host_rule(
            Some("cdn.test"),
            vec![path("/img(.*)", "ImplementationSpecific", "cdn")]
        )]),
        json!([{"hosts": ["cdn.test"], "secretName": "cdn-tls"}]),
    );
    let slash = ing(
        "slash",
        "2024-01-01T00:00:00Z",
        &[],
        json!([host_rule(
            Some("slash.test"),
            vec![path("/dir/", "Prefix", "dir")]
        )]),
        json!([{"hosts": ["slash.test"], "secretName": "slash-tls"}]),
    );
    let t = table(vec![rewritten, cdn, slash], json!({}));
    assert_eq!(
        http(&t, "rw.test", "/api/v1?q=1"),
        "308 https://rw.test/api/v1?q=1"
    );
    assert_eq!(https(&t, "rw.test", "/api/v1?q=1"), "api /?q=1");
    // nginx's trailing-slash redirect (301) comes first, in find-config.
    assert_eq!(http(&t, "slash.test", "/dir"), "301 http://slash.test/dir/");
    assert_eq!(http(&t, "slash.test", "/dir/x"), "308 https://slash.test/dir/x");
    assert_eq!(
        http(&t, "cdn.test", "/img../secret"),
        "308 https://cdn.test/img../secret"
    );
    assert_eq!(https(&t, "cdn.test", "/img../secret"), "400");
    assert_eq!(https(&t, "cdn.test", "/img/a.png"), "cdn /cdn/images/a.png");
}

#[wasm_bindgen_test(unsupported = test)]
fn forwarded_headers_only_with_the_setting() {
    for trusted in [false, true] {
        let t = scenario(json!({"useForwardedHeaders": trusted}));
        let mut ctx = TestContext::new()
            .header("x-forwarded-proto", b"https")
            .header("x-forwarded-host", b"example.com:80");
        let got = ask(&t, "http", "shop.test", "/cart", &mut ctx);
        if trusted {
            // The balancer terminated TLS: no redirect.
            assert_eq!(got, "web /cart");
        } else {
            assert_eq!(got, "308 https://shop.test/cart");
            assert!(ctx.reads.is_empty(), "read {:?} without the setting", ctx.reads);
        }
        // The balancer says the client used HTTP: redirect, to the host it names (without its port).
        let mut ctx = TestContext::new()
            .header("x-forwarded-proto", b"http")
            .header("x-forwarded-host", b"example.com:80, other.test");
        let got = ask(&t, "https", "shop.test", "/cart", &mut ctx);
        assert_eq!(
            got,
            if trusted {
                "308 https://example.com/cart"
            } else {
                "web /cart"
            }
        );
        // A forwarded host that is not one is ignored: the Host header is used.
        let mut ctx = TestContext::new()
            .header("x-forwarded-proto", b"http")
            .header("x-forwarded-host", b"evil.test/phish");
        let got = ask(&t, "http", "shop.test", "/cart", &mut ctx);
        assert_eq!(got, "308 https://shop.test/cart");
        // Without X-Forwarded-Proto the connection's scheme counts.
        assert_eq!(
            ask(&t, "https", "shop.test", "/", &mut TestContext::new()),
            "web /"
        );
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn which_hosts_have_tls() {
    // An entry without hosts is the default certificate and covers its own Ingress's rule hosts that no
    // entry lists; a canary's tls section is ignored; the older Ingress keeps a host two entries list.
    let default_cert = ing(
        "defaults",
        "2024-01-01T00:00:00Z",
        &[],
        json!([
            host_rule(Some("own.test"), vec![path("/", "Prefix", "own")]),
            host_rule(Some("listed-elsewhere.test"), vec![path("/", "Prefix", "own")])
        ]),
        json!([{"secretName": "wildcard-cert"}]),
    );
    let other = ing(
        "other",
        "2024-01-02T00:00:00Z",
        &[],
        json!([host_rule(Some("other.test"), vec![path("/", "Prefix", "other")])]),
        json!([{"hosts": ["listed.test"], "secretName": "listed"}]),
    );
    let later = ing(
        "later",
        "2024-01-03T00:00:00Z",
        &[],
        json!([]),
        json!([{"hosts": ["listed.test"], "secretName": "another"},
               {"hosts": ["listed-elsewhere.test"], "secretName": "explicit"}]),
    );
    let canary = ing(
        "canary",
        "2024-01-04T00:00:00Z",
        &[("canary", "true"), ("canary-by-header", "x-canary")],
        json!([host_rule(
            Some("other.test"),
            vec![path("/", "Prefix", "other-canary")]
        )]),
        json!([{"hosts": ["other.test"], "secretName": "canary-cert"}]),
    );
    let cfg = json!({"ingresses": [default_cert, other, later, canary]});
    let compiled = load(cfg.to_string().as_bytes()).unwrap();
    let t = &compiled.table;
    assert!(t.tls().covers("own.test"));
    assert!(t.tls().covers("listed.test"));
    assert!(!t.tls().covers("other.test"), "only the canary lists it");
    let (host, entry) = t.tls().lookup("listed.test").unwrap();
    assert_eq!(
        (host.as_str(), entry.ingress.as_str()),
        ("listed.test", "web/other")
    );
    assert_eq!(entry.secret_id().as_deref(), Some("web/listed"));
    let (_, own) = t.tls().lookup("own.test").unwrap();
    assert_eq!(
        (own.ingress.as_str(), own.field.as_str()),
        ("web/defaults", "spec.tls[0]")
    );
    let (_, listed) = t.tls().lookup("listed-elsewhere.test").unwrap();
    assert_eq!(
        (listed.ingress.as_str(), listed.field.as_str()),
        ("web/later", "spec.tls[1]"),
        "a listed host takes the listing entry's certificate"
    );
    assert_eq!(
        t.tls().default_entry().map(|e| e.ingress.as_str()),
        Some("web/defaults")
    );
    let warnings: Vec<String> = compiled.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("web/later: spec.tls[0].hosts: listed.test already has the certificate of secret web/listed from the older web/other spec.tls[0]")),
        "{warnings:#?}"
    );
    assert_eq!(http(t, "own.test", "/"), "308 https://own.test");
    assert_eq!(http(t, "other.test", "/"), "other /");
}

#[wasm_bindgen_test(unsupported = test)]
fn the_default_certificate_is_the_oldest_hostless_entry_with_a_secret() {
    let own = |name: &str, created: &str, host: &str, tls: Value| {
        ing(
            name,
            created,
            &[],
            json!([host_rule(Some(host), vec![path("/", "Prefix", name)])]),
            tls,
        )
    };
    let items = vec![
        own("a", "2024-01-01T00:00:00Z", "a.test", json!([{}])),
        own(
            "b",
            "2024-01-02T00:00:00Z",
            "b.test",
            json!([{"secretName": "b-default"}]),
        ),
        own(
            "c",
            "2024-01-03T00:00:00Z",
            "c.test",
            json!([{"secretName": "c-default"}]),
        ),
    ];
    let cfg = json!({"ingresses": items});
    let compiled = load(cfg.to_string().as_bytes()).unwrap();
    let tls = compiled.table.tls();
    let default = tls.default_entry().unwrap();
    assert_eq!(
        (default.ingress.as_str(), default.secret_id().as_deref()),
        ("web/b", Some("web/b-default"))
    );
    // Each covers its own Ingress's hosts; an entry without secretName too (the default serves them).
    for (host, ingress) in [("a.test", "web/a"), ("b.test", "web/b"), ("c.test", "web/c")] {
        assert_eq!(tls.lookup(host).map(|(_, e)| e.ingress.as_str()), Some(ingress));
    }
    let warnings: Vec<String> = compiled.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["web/c: spec.tls[0]: the default certificate (a tls entry without hosts) is already the certificate \
          of secret web/b-default of the older web/b spec.tls[0]; this one serves only this Ingress's own hosts"]
    );
    assert_eq!(http(&compiled.table, "a.test", "/x"), "308 https://a.test/x");
}
