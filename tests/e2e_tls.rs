//! End to end: Envoy terminates TLS for the hosts of `spec.tls` as `render envoy --tls-listen --tls-dir`
//! renders it, and the filter redirects plain HTTP to HTTPS as ingress-nginx does.
//!
//! Certificates come from a CA the test makes with `openssl`; the HTTPS client is `curl --resolve
//! --cacert`, so every request verifies the certificate for the SNI name it asks for, and `openssl
//! s_client` says which certificate a name gets when it would not verify (the default certificate).
//! Checked: one certificate per SNI name (two hosts, a wildcard, the default certificate for unknown names
//! and for clients without SNI), the Host header routing over HTTPS whatever the SNI name, `:scheme` https
//! seen by the filter (no redirect over HTTPS, over HTTP/1.1 and HTTP/2), the 308 redirects on HTTP with
//! their exact `Location`, and `X-Forwarded-Proto` / `X-Forwarded-Host` honoured only with
//! `settings.useForwardedHeaders`. A path no rule matches on a TLS host redirects to HTTPS under the
//! `ingress-nginx` profile only, and the seeds' example.com (k8s/examples/seeds.yaml) is served over
//! HTTPS with its `tls-secret`.
//!
//! Needs the release `.wasm`, an Envoy binary (see `support::envoy`), `openssl` and `curl`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde::Deserialize;
use serde_json::{json, Value};
use support::envoy::TempDir;
use support::h2;
use support::http::{self, Response};
use support::scenario::{ingress, is_filter_reply, path, rule, Checks, Expect, Scenario};
use support::tls::{https_get, presented_certificate, Pki};

const NS: &str = "tls";
const A: &str = "a.tls.test";
const B: &str = "b.tls.test";
const WILD: &str = "*.wild.test";
const OTHER: &str = "other.test";
const FORCE: &str = "force.test";
const PLAIN: &str = "plain.test";
const CHALLENGE: &str = "/.well-known/acme-challenge/token-1";

/// The CA and the Secrets the Ingresses name: one per host, a wildcard, and the default certificate.
fn pki(dir: &TempDir) -> Pki {
    let pki = Pki::new(&dir.path.join("pki"));
    pki.secret(NS, "a-cert", &[A]);
    pki.secret(NS, "b-cert", &[B]);
    pki.secret(NS, "wild-cert", &[WILD]);
    pki.secret(NS, "default-cert", &["default.tls.test", OTHER]);
    pki
}

fn annotated(name: &str, annotations: &[(&str, &str)], rules: Vec<Value>, tls: Value) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (format!("nginx.ingress.kubernetes.io/{k}"), json!(v)))
        .collect();
    ingress(
        Some(NS),
        name,
        Value::Object(annotations),
        json!({"rules": rules, "tls": tls}),
    )
}

fn ingresses() -> Vec<Value> {
    vec![
        // Two hosts, each with its own certificate.
        annotated(
            "shop",
            &[],
            vec![
                rule(Some(A), vec![path("/", "Prefix", "alpha", 80)]),
                rule(Some(B), vec![path("/", "Prefix", "beta", 80)]),
            ],
            json!([{"hosts": [A], "secretName": "a-cert"}, {"hosts": [B], "secretName": "b-cert"}]),
        ),
        // Paths on a TLS host from Ingresses without a tls section: host-level TLS applies to them.
        annotated(
            "keep",
            &[("preserve-trailing-slash", "true")],
            vec![rule(Some(A), vec![path("/keep", "Prefix", "keep", 80)])],
            json!([]),
        ),
        annotated(
            "open",
            &[("ssl-redirect", "false")],
            vec![rule(Some(A), vec![path("/open", "Prefix", "open", 80)])],
            json!([]),
        ),
        annotated(
            "solver",
            &[],
            vec![rule(Some(A), vec![path(CHALLENGE, "Exact", "acme-solver", 80)])],
            json!([]),
        ),
        annotated(
            "wild",
            &[],
            vec![rule(Some(WILD), vec![path("/", "Prefix", "wild", 80)])],
            json!([{"hosts": [WILD], "secretName": "wild-cert"}]),
        ),
        // A tls entry without hosts: the default certificate, and its Ingress's own host has TLS.
        annotated(
            "fallback",
            &[],
            vec![rule(Some(OTHER), vec![path("/", "Prefix", "other", 80)])],
            json!([{"secretName": "default-cert"}]),
        ),
        annotated(
            "forced",
            &[("force-ssl-redirect", "true")],
            vec![rule(Some(FORCE), vec![path("/", "Prefix", "forced", 80)])],
            json!([]),
        ),
        annotated(
            "plain",
            &[],
            vec![rule(Some(PLAIN), vec![path("/", "Prefix", "plain", 80)])],
            json!([]),
        ),
    ]
}

/// What an HTTPS answer should be: 200 from `service`, which saw `path` and `x-forwarded-proto: https`.
fn expect_backend(c: &mut Checks, what: &str, r: Result<Response, String>, service: &str, path: &str) {
    let ok = match &r {
        Ok(r) => {
            r.status == 200
                && r.echo().is_some_and(|e| {
                    e.service == service && e.path == path && e.header("x-forwarded-proto") == Some("https")
                })
        }
        Err(_) => false,
    };
    c.that(ok, || {
        format!(
            "{what}: expected 200 from {service} with path {path} over https, got {}",
            match &r {
                Ok(r) => r.summary(),
                Err(e) => e.clone(),
            }
        )
    });
}

#[test]
fn envoy_terminates_tls_per_sni_name_and_http_redirects() {
    let dir = TempDir::new("tls-pki");
    let pki = pki(&dir);
    let s = Scenario::start_https("tls", ingresses(), None, &pki.secrets);
    let tls = s.envoy.listener_addr("ingress_https");
    let mut c = Checks::default();

    // Each SNI name gets its certificate (curl verifies it for that name) and the Host header routes.
    for (sni, service) in [
        (A, "alpha"),
        (B, "beta"),
        ("x.wild.test", "wild"),
        (OTHER, "other"),
    ] {
        let r = https_get(tls, sni, "/p?q=1", &pki.ca, &[]);
        expect_backend(&mut c, &format!("https://{sni}"), r, service, "/p?q=1");
    }
    for (sni, cn) in [
        (Some(A), A),
        (Some(B), B),
        (Some("x.wild.test"), WILD),
        (Some(OTHER), "default.tls.test"),
        (Some("unknown.test"), "default.tls.test"),
        (None, "default.tls.test"),
    ] {
        let got = presented_certificate(tls, sni);
        c.that(got == cn, || {
            format!("SNI {sni:?}: certificate {got:?}, expected {cn:?}")
        });
    }
    // A name no certificate is for gets the default one, which does not verify for it.
    let r = https_get(tls, "unknown.test", "/", &pki.ca, &[]);
    c.that(matches!(&r, Err(e) if e.starts_with("curl exit 60")), || {
        format!("unknown.test: expected curl's certificate error 60, got {r:?}")
    });
    // The SNI name picks the certificate, the Host header the route (the spec's rule).
    let r = https_get(tls, A, "/via-a", &pki.ca, &["-H", &format!("Host: {B}")]);
    expect_backend(&mut c, "SNI a, Host b", r, "beta", "/via-a");
    // The filter sees :scheme https: no redirect over HTTPS, HTTP/2 included, force-ssl-redirect too.
    let r = https_get(tls, A, "/h2", &pki.ca, &["--http2"]);
    expect_backend(&mut c, "HTTP/2 over TLS", r, "alpha", "/h2");
    let r = https_get(tls, A, "/spoof", &pki.ca, &["-H", "X-Forwarded-Proto: http"]);
    expect_backend(&mut c, "X-Forwarded-Proto: http over TLS", r, "alpha", "/spoof");
    let r = https_get(tls, A, "/x", &pki.ca, &["-H", &format!("Host: {FORCE}")]);
    expect_backend(&mut c, "force-ssl-redirect over TLS", r, "forced", "/x");

    // Plain HTTP: 308 to https://<host without port><URI>, the query kept, the URI's last '/' removed.
    let port = s.addr().port();
    let redirects = [
        (A, "/", "https://a.tls.test"),
        (A, "/cart?item=1&n=2", "https://a.tls.test/cart?item=1&n=2"),
        (A, "/dir/", "https://a.tls.test/dir"),
        (A, "/dir/?next=1", "https://a.tls.test/dir/?next=1"),
        (B, "/b", "https://b.tls.test/b"),
        ("x.wild.test", "/w", "https://x.wild.test/w"),
        (OTHER, "/o", "https://other.test/o"),
        (A, "/keep/", "https://a.tls.test/keep/"),
        (FORCE, "/", "https://force.test"),
        (FORCE, "/f?x=1", "https://force.test/f?x=1"),
    ];
    for (host, p, location) in redirects {
        c.expect(&s, "redirect", host, p, &Expect::redirect(308, location));
        let with_port = format!("{host}:{port}");
        c.expect(
            &s,
            "redirect, Host with port",
            &with_port,
            p,
            &Expect::redirect(308, location),
        );
    }
    // ssl-redirect "false", the ACME challenge, a host without TLS: served over HTTP.
    c.expect(
        &s,
        "ssl-redirect false",
        A,
        "/open/x",
        &Expect::backend("open", "/open/x"),
    );
    c.expect(
        &s,
        "acme challenge",
        A,
        CHALLENGE,
        &Expect::backend("acme-solver", CHALLENGE),
    );
    c.expect(&s, "no tls", PLAIN, "/x", &Expect::backend("plain", "/x"));
    // An HTTP/2 client cannot claim https on the plain listener: Envoy pins :scheme per listener.
    let fields: [(&[u8], &[u8]); 4] = [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", A.as_bytes()),
        (b":path", b"/h2c"),
    ];
    let r = h2::send(s.addr(), &fields);
    c.that(
        matches!(&r, Ok(r) if r.status == 308 && r.echo().is_none()),
        || format!("h2c with :scheme https: expected 308, got {r:?}"),
    );
    // Without useForwardedHeaders a client's X-Forwarded-Proto changes nothing (Envoy overwrites it).
    let r = http::get_with(s.addr(), A, "/cart", &[("x-forwarded-proto", b"https")]);
    c.check(
        &s.cluster_header,
        "X-Forwarded-Proto: https, untrusted",
        A,
        "/cart",
        &r,
        &Expect::redirect(308, "https://a.tls.test/cart"),
    );
    let redirected = s
        .envoy
        .prometheus("ingress_wasm_requests_redirected")
        .unwrap_or(0);
    c.that(redirected >= 22, || {
        format!("requests_redirected counted {redirected}")
    });
    c.finish(Some(&s.envoy));
}

#[test]
fn forwarded_headers_are_trusted_only_with_the_setting() {
    let dir = TempDir::new("tls-fwd-pki");
    let pki = pki(&dir);
    let settings = json!({"useForwardedHeaders": true});
    let s = Scenario::start_https("tls-fwd", ingresses(), Some(settings), &pki.secrets);
    let tls = s.envoy.listener_addr("ingress_https");
    let mut c = Checks::default();

    // A balancer that terminated TLS says so: no redirect, and the upstream sees its X-Forwarded-Proto.
    let r = http::get_with(s.addr(), A, "/cart", &[("x-forwarded-proto", b"https")]);
    let ok = r.status == 200
        && r.echo()
            .is_some_and(|e| e.service == "alpha" && e.header("x-forwarded-proto") == Some("https"));
    c.that(ok, || {
        format!("balancer said https: expected alpha, got {}", r.summary())
    });
    // It says the client used HTTP: redirect to the host it names, without its port (ingress-nginx's e2e).
    let r = http::get_with(
        s.addr(),
        A,
        "/",
        &[
            ("x-forwarded-proto", b"http"),
            ("x-forwarded-host", b"example.com:80"),
        ],
    );
    c.check(
        &s.cluster_header,
        "balancer said http",
        A,
        "/",
        &r,
        &Expect::redirect(308, "https://example.com"),
    );
    // Nothing forwarded: the connection's scheme counts.
    c.expect(
        &s,
        "no X-Forwarded-Proto",
        A,
        "/x",
        &Expect::redirect(308, "https://a.tls.test/x"),
    );
    let r = https_get(tls, A, "/y", &pki.ca, &[]);
    expect_backend(&mut c, "no X-Forwarded-Proto over TLS", r, "alpha", "/y");
    // Even over TLS, the trusted balancer's word wins.
    let r = https_get(tls, A, "/z", &pki.ca, &["-H", "X-Forwarded-Proto: http"]);
    c.that(
        matches!(&r, Ok(r) if r.status == 308 && r.header("location") == Some("https://a.tls.test/z")),
        || format!("X-Forwarded-Proto: http over TLS, trusted: expected 308, got {r:?}"),
    );
    c.finish(Some(&s.envoy));
}

/// A TLS host with only `/app`. Over HTTP, ingress-nginx answers a path no rule matches from the host's
/// root location, which redirects to HTTPS first; the kubernetes profile has no root location: the
/// filter's 404. The host's own path redirects under both (the host has TLS in both).
#[test]
fn unmatched_path_of_a_tls_host_redirects_only_under_ingress_nginx() {
    const APP: &str = "app.tls.test";
    for semantics in ["ingress-nginx", "kubernetes"] {
        let app = annotated(
            "app",
            &[],
            vec![rule(Some(APP), vec![path("/app", "Prefix", "app", 80)])],
            json!([{"hosts": [APP], "secretName": "app-cert"}]),
        );
        let settings = json!({ "semantics": semantics });
        let s = Scenario::start(&format!("tls-unmatched-{semantics}"), vec![app], Some(settings));
        let mut c = Checks::default();
        let unmatched = match semantics {
            "ingress-nginx" => Expect::redirect(308, "https://app.tls.test/nowhere?x=1"),
            _ => Expect::NotFound,
        };
        c.expect(&s, semantics, APP, "/nowhere?x=1", &unmatched);
        c.expect(
            &s,
            semantics,
            APP,
            "/app/x?x=1",
            &Expect::redirect(308, "https://app.tls.test/app/x?x=1"),
        );
        c.finish(Some(&s.envoy));
    }
}

/// The Ingresses of k8s/examples/seeds.yaml, as the file has them.
fn seeds() -> Vec<Value> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/k8s/examples/seeds.yaml");
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// The seeds' `default/example-ingress` (example.com, `/api` to api-service, TLS from Secret
/// `tls-secret`), with a certificate for example.com made by the test as that Secret.
#[test]
fn the_seeds_example_com_over_https() {
    const EXAMPLE: &str = "example.com";
    let dir = TempDir::new("tls-seeds-pki");
    let pki = Pki::new(&dir.path.join("pki"));
    pki.secret("default", "tls-secret", &[EXAMPLE]);
    let s = Scenario::start_https("tls-seeds", seeds(), None, &pki.secrets);
    let tls = s.envoy.listener_addr("ingress_https");
    let mut c = Checks::default();

    // curl verifies the certificate for SNI example.com against the test's CA; its Host has the port.
    let r = https_get(tls, EXAMPLE, "/api/users", &pki.ca, &[]);
    let authority = format!("{EXAMPLE}:{}", tls.port());
    let echo = r.as_ref().ok().and_then(Response::echo);
    let host = echo.as_ref().and_then(|e| e.header("host"));
    c.that(host == Some(authority.as_str()), || {
        format!("https://{authority}/api/users: upstream saw host {host:?}")
    });
    expect_backend(
        &mut c,
        "https://example.com/api/users",
        r,
        "api-service",
        "/api/users",
    );
    let r = https_get(tls, EXAMPLE, "/other", &pki.ca, &[]);
    c.that(matches!(&r, Ok(r) if is_filter_reply(r, 404)), || {
        format!("https://example.com/other: expected the filter's 404, got {r:?}")
    });
    // Plain HTTP: 308 to HTTPS, the query kept.
    c.expect(
        &s,
        "example.com over http",
        EXAMPLE,
        "/api/users?page=2",
        &Expect::redirect(308, "https://example.com/api/users?page=2"),
    );
    c.finish(Some(&s.envoy));
}
