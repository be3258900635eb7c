//! End to end: source ranges, basic authentication and `proxy-body-size` in a real Envoy running the
//! built module. The rows follow ingress-nginx's e2e tests (`test/e2e/annotations/ipdenylist.go`,
//! `ipallowlist.go`, `auth.go`, `proxy.go`): 403 for a refused client, with the client taken from
//! `X-Forwarded-For` only when `settings.trustedHops` says so; 401 with the realm, 200 with the right
//! password (the upstream never sees it), 503 for a missing Secret; 413 for a declared or a streamed body
//! over the limit.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ingress_wasm::encoding::base64;
use serde_json::{json, Value};
use support::http::{self, Response};
use support::scenario::{ingress, is_filter_reply, path, rule, Checks, Expect, Scenario};

const HOST: &str = "access.test";
const P: &str = "nginx.ingress.kubernetes.io/";
/// The filter's counter of passwords hashed by basic authentication.
const PASSWORD_HASHES: &str = "wasmcustom.ingress_wasm.password_hashes";

fn on_host(name: &str, annotations: Value, prefix: &str) -> Value {
    ingress(
        Some("web"),
        name,
        annotations,
        json!({"rules": [rule(Some(HOST), vec![path(prefix, "Prefix", name, 80)])]}),
    )
}

/// `GET path` with extra headers.
fn get(s: &Scenario, path: &str, headers: &[(&str, &[u8])]) -> Response {
    http::get_with(s.addr(), HOST, path, headers)
}

/// `GET path` from the client `X-Forwarded-For` names.
fn from(s: &Scenario, path: &str, client: &str) -> Response {
    get(s, path, &[("x-forwarded-for", client.as_bytes())])
}

fn basic(user: &str, password: &str) -> Vec<u8> {
    format!(
        "Basic {}",
        base64::encode(format!("{user}:{password}").as_bytes())
    )
    .into_bytes()
}

/// A request with a body: `Content-Length`, or chunked (all chunks in the same write as the headers).
fn post(s: &Scenario, path: &str, body: usize, chunked: bool) -> Response {
    let mut request = format!("POST {path} HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n");
    if chunked {
        request.push_str("transfer-encoding: chunked\r\n\r\n");
        for chunk in vec![b'x'; body].chunks(1000) {
            request.push_str(&format!(
                "{:x}\r\n{}\r\n",
                chunk.len(),
                String::from_utf8_lossy(chunk)
            ));
        }
        request.push_str("0\r\n\r\n");
    } else {
        request.push_str(&format!("content-length: {body}\r\n\r\n{}", "x".repeat(body)));
    }
    http::send(s.addr(), request.as_bytes())
}

#[test]
fn source_ranges_from_trusted_forwarded_for() {
    let deny_only = on_host(
        "deny",
        json!({format!("{P}denylist-source-range"): "18.0.0.0/8, 56.0.0.1"}),
        "/deny",
    );
    let both = on_host(
        "both",
        json!({format!("{P}denylist-source-range"): "18.1.0.0/16, 56.0.0.0/8",
               format!("{P}whitelist-source-range"): "18.0.0.0/8, 55.0.0.0/8, 2001:db8::/32"}),
        "/both",
    );
    let invalid = on_host(
        "invalid",
        json!({format!("{P}allowlist-source-range"): "18.0.0.0/8, 300.0.0.1"}),
        "/invalid",
    );
    let open = on_host("open", json!({}), "/");
    let s = Scenario::start(
        "access-ranges",
        vec![deny_only, both, invalid, open],
        Some(json!({"trustedHops": 1, "denylistSourceRange": "99.0.0.0/8"})),
    );
    let mut c = Checks::default();
    let backend = |service: &str, p: &str| Expect::backend(service, p);
    for (p, client, expected) in [
        ("/deny", "18.2.3.4", None),
        ("/deny", "56.0.0.1", None),
        ("/deny", "56.0.0.2", Some("deny")),
        ("/deny", "2001:db8::1", Some("deny")),
        // The annotation replaces the settings' denylist.
        ("/deny", "99.0.0.1", Some("deny")),
        ("/both", "18.1.0.1", None),
        ("/both", "56.0.0.1", None),
        ("/both", "18.0.0.1", Some("both")),
        ("/both", "55.0.0.1", Some("both")),
        ("/both", "2001:db8::7", Some("both")),
        ("/both", "10.0.0.1", None),
        ("/both", "2001:db9::1", None),
        // The settings' denylist where no annotation says otherwise.
        ("/", "99.0.0.1", None),
        ("/", "18.2.3.4", Some("open")),
    ] {
        let what = format!("GET {p} from {client}");
        let r = from(&s, p, client);
        match expected {
            Some(service) => c.check(&s.cluster_header, &what, HOST, p, &r, &backend(service, p)),
            None => c.filter_reply(&what, &r, 403),
        }
    }
    // Only the hop in front of Envoy is trusted: what the client wrote before it does not count.
    c.filter_reply(
        "a client's own X-Forwarded-For entry",
        &from(&s, "/both", "18.0.0.1, 10.0.0.1"),
        403,
    );
    c.expect(
        &s,
        "no X-Forwarded-For: the peer 127.0.0.1",
        HOST,
        "/deny",
        &backend("deny", "/deny"),
    );
    c.filter_reply(
        "an invalid list denies the location",
        &from(&s, "/invalid", "18.0.0.1"),
        503,
    );
    c.finish(Some(&s.envoy));
}

#[test]
fn without_trusted_hops_the_peer_is_the_client() {
    let local = on_host(
        "local",
        json!({format!("{P}allowlist-source-range"): "127.0.0.1"}),
        "/local",
    );
    let tens = on_host(
        "tens",
        json!({format!("{P}allowlist-source-range"): "10.0.0.0/8"}),
        "/tens",
    );
    let s = Scenario::start("access-peer", vec![local, tens], None);
    let mut c = Checks::default();
    let r = from(&s, "/local", "10.0.0.1");
    c.check(
        &s.cluster_header,
        "peer 127.0.0.1, forged 10.0.0.1",
        HOST,
        "/local",
        &r,
        &Expect::backend("local", "/local"),
    );
    c.filter_reply(
        "a forged X-Forwarded-For is not the client",
        &from(&s, "/tens", "10.0.0.1"),
        403,
    );
    c.finish(Some(&s.envoy));
}

/// Users `foo` (bcrypt, `htpasswd -nbB -C 5 foo bar`), `apr` (`htpasswd -nbm`), `sha` (`htpasswd -nbs`),
/// `slow` (bcrypt cost 10, Go's default), all with password `bar`, and `broken` with an empty hash.
const USERS: &str = "foo:$2y$05$NUqUsqIYl6gNznB15YgNA.A7GxzNhja7uelaIByAgy4VYiY9ptIlm
apr:$apr1$oA/EFxp/$zgPEFUjM2hl0uR9mlNkdc/
sha:{SHA}Ys23Ag/5IOWqZCw9QGaVDdHwH00=
slow:$2y$10$uFu8LLfU9jFtq.WGsQWyh.S.HvgTCAimw1/NTCo/lfGAH/XCWbuQK
broken:
";

fn auth_scenario() -> Scenario {
    let auth = |name: &str, secret: &str, extra: Value| {
        let mut annotations = json!({format!("{P}auth-type"): "basic", format!("{P}auth-secret"): secret,
                                     format!("{P}auth-realm"): "test auth"});
        annotations
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        on_host(name, annotations, &format!("/{name}"))
    };
    let ingresses = vec![
        auth("file", "basic-auth", json!({})),
        auth(
            "map",
            "web/users",
            json!({format!("{P}auth-secret-type"): "auth-map"}),
        ),
        auth("missing", "something", json!({})),
        on_host("open", json!({}), "/"),
    ];
    let secrets = json!([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "basic-auth", "namespace": "web"},
         "data": {"auth": base64::encode(USERS.as_bytes())}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "users", "namespace": "web"},
         "stringData": {"foo": "$apr1$oA/EFxp/$zgPEFUjM2hl0uR9mlNkdc/"}},
    ]);
    Scenario::start_with_secrets("access-auth", ingresses, None, secrets)
}

#[test]
fn basic_authentication() {
    let s = auth_scenario();
    let mut c = Checks::default();
    // No credentials, wrong ones, an unknown user, an empty hash: 401 with nginx's challenge.
    for (what, header) in [
        ("no Authorization", None),
        ("wrong password", Some(basic("foo", "baz"))),
        ("unknown user", Some(basic("user", "pass"))),
        ("empty hash", Some(basic("broken", ""))),
        ("not Basic", Some(b"Bearer abc".to_vec())),
    ] {
        let headers: Vec<(&str, &[u8])> = header.iter().map(|h| ("authorization", h.as_slice())).collect();
        let r = get(&s, "/file", &headers);
        c.filter_reply(what, &r, 401);
        c.that(
            r.header("www-authenticate") == Some("Basic realm=\"test auth\""),
            || format!("{what}: WWW-Authenticate {:?}", r.header("www-authenticate")),
        );
    }
    // Every scheme, and the credentials never reach the upstream.
    for user in ["foo", "apr", "sha", "slow"] {
        let r = get(&s, "/file/x", &[("authorization", &basic(user, "bar"))]);
        c.check(
            &s.cluster_header,
            user,
            HOST,
            "/file/x",
            &r,
            &Expect::backend("file", "/file/x"),
        );
        c.that(
            r.echo().is_some_and(|e| e.header("authorization").is_none()),
            || format!("{user}: the upstream saw the credentials"),
        );
    }
    let r = get(&s, "/map", &[("authorization", &basic("foo", "bar"))]);
    c.check(
        &s.cluster_header,
        "auth-map",
        HOST,
        "/map",
        &r,
        &Expect::backend("map", "/map"),
    );
    c.filter_reply(
        "auth-map, wrong password",
        &get(&s, "/map", &[("authorization", &basic("foo", "baz"))]),
        401,
    );
    // ingress-nginx's e2e: a Secret that does not exist: 503.
    c.filter_reply(
        "missing Secret",
        &get(&s, "/missing", &[("authorization", &basic("foo", "bar"))]),
        503,
    );
    // Other Ingresses keep their Authorization header.
    let r = get(&s, "/", &[("authorization", b"Bearer token")]);
    c.that(
        r.echo()
            .and_then(|e| e.header("authorization").map(str::to_string))
            .as_deref()
            == Some("Bearer token"),
        || format!("open route: {}", r.summary()),
    );
    c.finish(Some(&s.envoy));
}

/// bcrypt at cost 10 takes tens of milliseconds on the worker: a wrong password costs one hash, the first
/// right one as much, and the same credentials again nothing (the VM remembers their outcome). Counted
/// by the filter's `password_hashes` counter, so the test does not depend on timing.
#[test]
fn a_slow_hash_is_paid_once_per_credentials() {
    let s = auth_scenario();
    let hashes = || s.envoy.stat(PASSWORD_HASHES).unwrap_or(0);
    let mut c = Checks::default();
    for (user, password, status, hashed) in [
        ("slow", "wrong", 401, 1),
        ("slow", "wrong", 401, 0),
        ("slow", "bar", 200, 1),
        ("slow", "bar", 200, 0),
        ("slow", "bar", 200, 0),
        ("nobody", "bar", 401, 0),
        ("sha", "bar", 200, 1),
        ("sha", "bar", 200, 0),
    ] {
        let before = hashes();
        let r = get(&s, "/file", &[("authorization", &basic(user, password))]);
        let after = hashes();
        c.that(r.status == status && after - before == hashed, || {
            format!(
                "{user}:{password}: expected {status} after {hashed} hash(es), got {} after {}",
                r.summary(),
                after - before
            )
        });
    }
    c.finish(Some(&s.envoy));
}

#[test]
fn body_size_limits() {
    let small = on_host("small", json!({format!("{P}proxy-body-size"): "1k"}), "/small");
    let unlimited = on_host(
        "unlimited",
        json!({format!("{P}proxy-body-size"): "0"}),
        "/unlimited",
    );
    let open = on_host("open", json!({}), "/");
    let s = Scenario::start("access-body", vec![small, unlimited, open], None);
    let mut c = Checks::default();
    let ok = |r: &Response, service: &str| r.status == 200 && r.echo().is_some_and(|e| e.service == service);
    for (what, p, size, chunked, status) in [
        ("1k declared", "/small", 1024, false, 200),
        ("1k + 1 declared", "/small", 1025, false, 413),
        ("1k chunked", "/small", 1024, true, 200),
        ("3k chunked", "/small", 3000, true, 413),
        ("1m declared, default limit", "/", 1 << 20, false, 200),
        ("1m + 1 declared, default limit", "/", (1 << 20) + 1, false, 413),
        ("2m declared, no limit", "/unlimited", 2 << 20, false, 200),
    ] {
        let r = post(&s, p, size, chunked);
        if status == 200 {
            let service = if p == "/" { "open" } else { &p[1..] };
            c.that(ok(&r, service), || {
                format!("{what}: expected 200 from {service}, got {}", r.summary())
            });
        } else {
            c.filter_reply(what, &r, status);
        }
    }
    c.that(is_filter_reply(&post(&s, "/small", 5000, true), 413), || {
        "again".into()
    });
    c.expect(
        &s,
        "after the refused bodies",
        HOST,
        "/small",
        &Expect::backend("small", "/small"),
    );
    c.finish(Some(&s.envoy));
}
