//! End to end: the redirects and host names of ingress-nginx's annotations in a real Envoy, under both
//! semantics profiles: app-root (302 for `/` of the whole host, before any path), permanent and temporal
//! redirects (exactly their URL, their codes), the `www.` counterpart's 308 (from-to-www-redirect),
//! server-alias names serving every path of their host, and the Host sent upstream (upstream-vhost).
//! The cases of ingress-nginx's e2e tests (`test/e2e/annotations/{approot,redirect,fromtowwwredirect,
//! alias,upstreamvhost}.go`) are here with their hosts and expectations.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Map, Value};
use support::http::{self, Response};
use support::scenario::{ingress, path, rule, Checks, Expect, Scenario};

fn annotations(pairs: &[(&str, &str)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), json!(v)))
        .collect();
    Value::Object(map)
}

/// An Ingress in namespace `web` with one rule for `host`, created at `created` (older wins conflicts).
fn host_ingress(name: &str, created: &str, pairs: &[(&str, &str)], host: &str, paths: Vec<Value>) -> Value {
    let mut i = ingress(
        Some("web"),
        name,
        annotations(pairs),
        json!({"rules": [rule(Some(host), paths)]}),
    );
    i["metadata"]["creationTimestamp"] = json!(created);
    i
}

fn ingresses() -> Vec<Value> {
    vec![
        // approot.go: app-root /foo on a host whose only path is `/`.
        host_ingress(
            "approot",
            "2024-01-01T00:00:00Z",
            &[("app-root", "/foo")],
            "approot.bar.com",
            vec![path("/", "Prefix", "approot-svc", 80)],
        ),
        // i2gw's "no root path still redirects to app-root": the Ingress has no `/` path.
        host_ingress(
            "approot-no-root",
            "2024-01-01T00:00:01Z",
            &[("app-root", "/app")],
            "noroot.bar.com",
            vec![path("/app", "Prefix", "approot-svc", 80)],
        ),
        // redirect.go: permanent-redirect, then with permanent-redirect-code 302.
        host_ingress(
            "permanent",
            "2024-01-01T00:00:02Z",
            &[("permanent-redirect", "http://redirect.example.com")],
            "redirect",
            vec![path("/something", "Prefix", "echo", 80)],
        ),
        host_ingress(
            "permanent-code",
            "2024-01-01T00:00:03Z",
            &[
                ("permanent-redirect", "https://another-domain.example.com/"),
                ("permanent-redirect-code", "302"),
            ],
            "redirect",
            vec![path("/coded", "Prefix", "echo", 80)],
        ),
        // temporal-redirect wins over permanent-redirect; its code 307.
        host_ingress(
            "temporal",
            "2024-01-01T00:00:04Z",
            &[
                (
                    "temporal-redirect",
                    "https://temporal.example.com/maintenance?from=ingress",
                ),
                ("temporal-redirect-code", "307"),
                ("permanent-redirect", "https://never.example.com"),
            ],
            "redirect",
            vec![path("/temporal", "Prefix", "echo", 80)],
        ),
        // The host's other paths are not redirected.
        host_ingress(
            "plain",
            "2024-01-01T00:00:05Z",
            &[],
            "redirect",
            vec![path("/plain", "Prefix", "echo", 80)],
        ),
        // fromtowwwredirect.go: the www counterpart answers 308 to the host.
        host_ingress(
            "fromtowww",
            "2024-01-01T00:00:06Z",
            &[("from-to-www-redirect", "true")],
            "fromtowwwredirect.bar.com",
            vec![path("/", "Prefix", "www-svc", 80)],
        ),
        // alias.go: two Ingresses of one host, the alias on the second serves the first's path too.
        host_ingress(
            "app-a",
            "2024-01-01T00:00:07Z",
            &[],
            "foo",
            vec![path("/app-a", "Prefix", "alias-a", 80)],
        ),
        host_ingress(
            "app-b",
            "2024-01-01T00:00:08Z",
            &[("server-alias", "bar, *.aliases.test")],
            "foo",
            vec![path("/app-b", "Prefix", "alias-b", 80)],
        ),
        // upstreamvhost.go: the Host the upstream sees.
        host_ingress(
            "upstreamvhost",
            "2024-01-01T00:00:09Z",
            &[("upstream-vhost", "upstreamvhost.bar.com")],
            "upstreamvhost.foo.com",
            vec![path("/", "Prefix", "vhost-svc", 80)],
        ),
        host_ingress(
            "upstreamvhost-templated",
            "2024-01-01T00:00:10Z",
            &[("upstream-vhost", "$service_name.$namespace.svc.cluster.local")],
            "templated.foo.com",
            vec![path("/", "Prefix", "vhost-svc", 80)],
        ),
    ]
}

/// The filter's redirect: the status, exactly this `Location`, no body, no upstream's answer.
fn redirect(status: u16, location: &str) -> Expect {
    Expect::redirect(status, location)
}

#[test]
fn redirects_and_host_names_as_ingress_nginx_answers_them() {
    for semantics in ["ingress-nginx", "kubernetes"] {
        let scenario = Scenario::start(
            &format!("redirects-{semantics}"),
            ingresses(),
            Some(json!({"semantics": semantics})),
        );
        let mut c = Checks::default();
        let s = &scenario;
        let label = |what: &str| format!("{semantics}: {what}");

        // app-root: `/` of the whole host, query dropped, the Host as sent; other paths go on.
        let approot = redirect(302, "http://approot.bar.com/foo");
        c.expect(s, &label("app-root"), "approot.bar.com", "/", &approot);
        c.expect(s, &label("app-root"), "approot.bar.com", "/?a=b", &approot);
        c.expect(
            s,
            &label("app-root"),
            "approot.bar.com:8080",
            "/",
            &redirect(302, "http://approot.bar.com:8080/foo"),
        );
        c.expect(
            s,
            &label("app-root"),
            "approot.bar.com",
            "/foo",
            &Expect::backend("approot-svc", "/foo"),
        );
        c.expect(
            s,
            &label("app-root without a / path"),
            "noroot.bar.com",
            "/",
            &redirect(302, "http://noroot.bar.com/app"),
        );
        c.expect(
            s,
            &label("app-root without a / path"),
            "noroot.bar.com",
            "/app/x",
            &Expect::backend("approot-svc", "/app/x"),
        );

        // permanent-redirect / temporal-redirect: exactly the URL, nothing of the request appended.
        let moved = redirect(301, "http://redirect.example.com");
        c.expect(s, &label("permanent-redirect"), "redirect", "/something", &moved);
        c.expect(
            s,
            &label("permanent-redirect"),
            "redirect",
            "/something/else?q=1",
            &moved,
        );
        c.expect(
            s,
            &label("permanent-redirect-code"),
            "redirect",
            "/coded",
            &redirect(302, "https://another-domain.example.com/"),
        );
        c.expect(
            s,
            &label("temporal-redirect"),
            "redirect",
            "/temporal/x",
            &redirect(307, "https://temporal.example.com/maintenance?from=ingress"),
        );
        c.expect(
            s,
            &label("no redirect"),
            "redirect",
            "/plain",
            &Expect::backend("echo", "/plain"),
        );
        // A path no rule matches: ingress-nginx's root location carries the first Ingress's redirect.
        let unmatched = match semantics {
            "ingress-nginx" => moved.clone(),
            _ => Expect::NotFound,
        };
        c.expect(s, &label("root location"), "redirect", "/nothing", &unmatched);

        // from-to-www-redirect: 308 to <scheme>://<host>:<port><request URI without its last />.
        let www = "www.fromtowwwredirect.bar.com";
        c.expect(
            s,
            &label("www"),
            www,
            "/foo",
            &redirect(308, "http://fromtowwwredirect.bar.com:80/foo"),
        );
        c.expect(
            s,
            &label("www"),
            www,
            "/foo/?x=1",
            &redirect(308, "http://fromtowwwredirect.bar.com:80/foo/?x=1"),
        );
        c.expect(
            s,
            &label("www"),
            "www.fromtowwwredirect.bar.com:8080",
            "/",
            &redirect(308, "http://fromtowwwredirect.bar.com:8080"),
        );
        c.expect(
            s,
            &label("www: the host itself"),
            "fromtowwwredirect.bar.com",
            "/foo",
            &Expect::backend("www-svc", "/foo"),
        );

        // server-alias: every path of the host, whichever Ingress gave the alias; the upstream sees the
        // Host as sent (Checks::expect checks it).
        for host in ["foo", "bar", "x.aliases.test", "x.y.aliases.test"] {
            c.expect(
                s,
                &label("server-alias"),
                host,
                "/app-a",
                &Expect::backend("alias-a", "/app-a"),
            );
            c.expect(
                s,
                &label("server-alias"),
                host,
                "/app-b",
                &Expect::backend("alias-b", "/app-b"),
            );
        }
        c.expect(s, &label("not an alias"), "baz", "/app-a", &Expect::NotFound);

        // upstream-vhost: the Host header the upstream gets.
        for (host, sent) in [
            ("upstreamvhost.foo.com", "upstreamvhost.bar.com"),
            ("templated.foo.com", "vhost-svc.web.svc.cluster.local"),
        ] {
            let r = scenario.get(host, "/x");
            let seen = r.echo().and_then(|e| e.header("host").map(str::to_string));
            c.that(seen.as_deref() == Some(sent), || {
                format!("{semantics}: upstream-vhost on {host}: the upstream saw Host {seen:?}, expected {sent}: {}", r.summary())
            });
        }
        c.finish(Some(&scenario.envoy));
        let counted = scenario.envoy.prometheus("ingress_wasm_requests_redirected");
        assert!(
            counted.is_some_and(|n| n >= 11),
            "{semantics}: redirects counted: {counted:?}"
        );
    }
}

/// A request over HTTP/1.1 with this method and headers.
fn send(s: &Scenario, method: &str, host: &str, path: &str) -> Response {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nuser-agent: ingress-wasm-e2e\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    http::send(s.addr(), request.as_bytes())
}

#[test]
fn redirects_answer_every_method_before_the_backend() {
    let scenario = Scenario::start("redirects-methods", ingresses(), None);
    for method in ["POST", "DELETE", "OPTIONS"] {
        let r = send(&scenario, method, "redirect", "/something");
        assert_eq!(
            (r.status, r.header("location"), r.echo().is_none()),
            (301, Some("http://redirect.example.com"), true),
            "{method}: {}",
            r.summary()
        );
        let r = send(&scenario, method, "approot.bar.com", "/");
        assert_eq!(r.status, 302, "{method}: {}", r.summary());
    }
}
