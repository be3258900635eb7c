//! End to end: the filter's own behaviour in a real Envoy — counters, bytes that are not UTF-8 (where
//! Envoy refuses them and where they reach the filter), a configuration Envoy must refuse, and an empty
//! configuration.
//!
//! Needs the release `.wasm` (`cargo build --target wasm32-wasip1 --release --lib`, or `./build.sh`) and an
//! Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::envoy::{validate_yaml, Envoy, TempDir};
use support::scenario::{
    echo_ingress, game_ingress, ingress, is_filter_reply, path, render, rule, Checks, Expect, Scenario,
};
use support::{h2, http};

const V1: &str = "v1.echo.test";
const V2: &str = "v2.echo.test";
const SLASH: &str = "slash.test";
/// The body of Envoy's own 400 (its codec's), unlike the filter's `reply_body(400)`.
const ENVOY_BAD_REQUEST: &str = "Bad Request";

const RELOAD_STATS: [&str; 3] = [
    "wasm.ingress_wasm.vm_reload",
    "wasm.ingress_wasm.vm_reload_success",
    "wasm.ingress_wasm.vm_reload_failure",
];

fn small_config() -> Vec<Value> {
    let slash = ingress(
        Some("web"),
        "slash",
        json!({}),
        json!({"rules": [rule(Some(SLASH), vec![path("/dir/", "Exact", "dir-svc", 80)])]}),
    );
    vec![echo_ingress("echo-v1", V1), echo_ingress("echo-v2", V2), slash]
}

fn reloads(envoy: &Envoy) -> Vec<(String, Option<u64>)> {
    RELOAD_STATS
        .iter()
        .map(|s| (s.to_string(), envoy.stat(s)))
        .collect()
}

/// Counters, and requests carrying bytes that are not UTF-8: Envoy refuses them in the Host, lets them
/// through in headers the filter does not read and, over HTTP/2, in the query of `:path`, which the filter
/// reads: it answers its own 400. The VM survives all of them.
#[test]
fn counters_and_non_utf8_headers() {
    let mut scenario = Scenario::start("filter", small_config(), None);
    let header = scenario.cluster_header.clone();
    let reloads_before = reloads(&scenario.envoy);
    let mut c = Checks::default();
    let (mut routed, mut not_found, mut redirected, mut rejected) = (0u64, 0u64, 0u64, 0u64);

    for (host, p) in [(V1, "/"), (V2, "/a"), (V1, "/b?c=d")] {
        c.expect(
            &scenario,
            "routed",
            host,
            p,
            &Expect::backend(if host == V1 { "echo-v1" } else { "echo-v2" }, p),
        );
        routed += 1;
    }
    for (host, p) in [("unknown.test", "/"), ("other.test", "/x")] {
        c.expect(&scenario, "not found", host, p, &Expect::NotFound);
        not_found += 1;
    }
    c.expect(
        &scenario,
        "trailing slash",
        SLASH,
        "/dir",
        &Expect::redirect(301, "http://slash.test/dir/"),
    );
    redirected += 1;

    // Header values that are not UTF-8 in headers the filter does not read: routed as usual.
    let bad: &[u8] = b"session=\xff\xfe; other=\xc3\x28";
    let r = http::get_with(scenario.addr(), V1, "/cookie", &[("cookie", bad)]);
    c.check(
        &header,
        "non-UTF-8 cookie",
        V1,
        "/cookie",
        &r,
        &Expect::backend("echo-v1", "/cookie"),
    );
    routed += 1;
    let r = http::get_with(
        scenario.addr(),
        V2,
        "/custom",
        &[("x-custom", b"\xff\xfe\xfd"), ("x-more", b"caf\xe9")],
    );
    c.check(
        &header,
        "non-UTF-8 custom header",
        V2,
        "/custom",
        &r,
        &Expect::backend("echo-v2", "/custom"),
    );
    routed += 1;

    // A Host (or a request line) that is not UTF-8 never reaches the filter: Envoy 1.40's HTTP/1 codec
    // answers its own 400, whose body is not the filter's, and the filter counts nothing. (Over HTTP/2
    // Envoy closes the connection for such an :authority.)
    let counted = scenario.envoy.filter_counters();
    for (what, host, p) in [
        ("Host", &b"v1.echo.test\xff"[..], &b"/"[..]),
        ("request-line path", b"v1.echo.test", b"/caf\xe9"),
        ("request-line query", b"v1.echo.test", b"/?q=\xff"),
    ] {
        let r = http::send(scenario.addr(), &http::get_request(host, p, &[]));
        let envoys = r.status == 400 && r.body_text() == ENVOY_BAD_REQUEST && r.echo().is_none();
        c.that(envoys, || {
            format!(
                "non-UTF-8 {what}: expected Envoy's own 400 {ENVOY_BAD_REQUEST:?}, got {}",
                r.summary()
            )
        });
    }
    let after = scenario.envoy.filter_counters();
    c.that(after == counted, || {
        format!("requests Envoy refused reached the filter: {counted:?} -> {after:?}")
    });

    // Over HTTP/2 they reach the filter in `:path`: normalize_path percent-encodes the path part first
    // (routed as usual), but leaves the query alone, and the filter answers its own 400 for it.
    let r = h2::get(scenario.addr(), V1.as_bytes(), b"/caf\xe9\xff", &[]);
    c.check(
        &header,
        "HTTP/2 path not UTF-8",
        V1,
        "/caf\\xe9\\xff",
        &r,
        &Expect::backend("echo-v1", "/caf%E9%FF"),
    );
    routed += 1;
    for query in [&b"/q?x=\xff\xfe"[..], b"/q?name=caf\xe9", b"/q?x=\xc3\x28"] {
        let r = h2::get(scenario.addr(), V2.as_bytes(), query, &[]);
        c.filter_reply(
            &format!("HTTP/2 query not UTF-8 {:?}", String::from_utf8_lossy(query)),
            &r,
            400,
        );
        rejected += 1;
    }
    let r = h2::get(scenario.addr(), V2.as_bytes(), b"/q?x=caf%C3%A9", &[]);
    c.check(
        &header,
        "HTTP/2 query percent-encoded",
        V2,
        "/q?x=caf%C3%A9",
        &r,
        &Expect::backend("echo-v2", "/q?x=caf%C3%A9"),
    );
    routed += 1;

    // Envoy's own 404 (no route for `OPTIONS *`) is not the filter's, and the harness tells them apart.
    let r = http::send(
        scenario.addr(),
        b"OPTIONS * HTTP/1.1\r\nhost: v1.echo.test\r\nconnection: close\r\n\r\n",
    );
    c.that(r.status == 404 && !is_filter_reply(&r, 404), || {
        format!("OPTIONS *: expected Envoy's own 404, got {}", r.summary())
    });

    // The VM is still there: normal requests keep working.
    for (host, p, service) in [
        (V1, "/after", "echo-v1"),
        (V2, "/after", "echo-v2"),
        (V1, "/again", "echo-v1"),
    ] {
        c.expect(
            &scenario,
            "after bad bytes",
            host,
            p,
            &Expect::backend(service, p),
        );
        routed += 1;
    }
    assert!(scenario.envoy.running(), "Envoy died:\n{}", scenario.envoy.log());
    let log = scenario.envoy.log();
    if log.contains("panicked") || log.contains("RuntimeError") {
        c.fail(format!("the VM failed:\n{log}"));
    }
    let reloads_after = reloads(&scenario.envoy);
    if reloads_after != reloads_before || reloads_after.iter().any(|(_, v)| *v != Some(0)) {
        c.fail(format!(
            "VM reload stats (all 0 expected): {reloads_before:?} -> {reloads_after:?}"
        ));
    }

    // Counters, as Prometheus shows them.
    for (name, want) in [
        ("ingress_wasm_requests_routed", routed),
        ("ingress_wasm_requests_not_found", not_found),
        ("ingress_wasm_requests_redirected", redirected),
        ("ingress_wasm_requests_rejected", rejected),
    ] {
        let got = scenario.envoy.prometheus(name);
        if got != Some(want) {
            c.fail(format!("{name}: expected {want}, got {got:?}"));
        }
    }
    let plain = scenario.envoy.stat("wasmcustom.ingress_wasm.requests_routed");
    if plain != Some(routed) {
        c.fail(format!(
            "/stats wasmcustom.ingress_wasm.requests_routed: expected {routed}, got {plain:?}"
        ));
    }
    c.finish(Some(&scenario.envoy));
}

/// A configuration the core refuses makes `on_configure` fail: `envoy --mode validate` exits non-zero and
/// says which object and field are wrong.
#[test]
fn invalid_config_is_refused_by_envoy_validate() {
    let config = ingress_wasm::config::plugin_config(vec![game_ingress("Prefx")], None);
    assert!(
        ingress_wasm::config::load_value(&config).is_err(),
        "the core must refuse pathType Prefx"
    );
    let rendered = render(&config, &[], "x-ingress-cluster", &BTreeMap::new());
    let dir = TempDir::new("invalid");
    let validation = validate_yaml(
        &dir,
        "envoy.yaml",
        &ingress_wasm::render::envoy::to_yaml(&rendered),
    );
    assert!(
        !validation.success,
        "envoy --mode validate accepted an invalid config:\n{}",
        validation.output
    );
    let expected = r#"game-prod/game-ingress: spec.rules[0].http.paths[2].pathType: unknown value "Prefx""#;
    assert!(
        validation.output.contains(expected),
        "Envoy's output does not name the field:\n{}",
        validation.output
    );

    // The same Ingress with the typo fixed is accepted.
    let config = ingress_wasm::config::plugin_config(vec![game_ingress("Prefix")], None);
    let rendered = render(&config, &[], "x-ingress-cluster", &BTreeMap::new());
    let validation = validate_yaml(
        &dir,
        "fixed.yaml",
        &ingress_wasm::render::envoy::to_yaml(&rendered),
    );
    assert!(
        validation.success,
        "the fixed config was refused:\n{}",
        validation.output
    );
}

fn plugin_configuration(rendered: &mut Value) -> &mut Value {
    &mut rendered["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"][0]["typed_config"]["config"]
}

/// An empty plugin configuration (what Istio sends without pluginConfig): Envoy starts, every request 404.
#[test]
fn empty_configuration_answers_404() {
    let mut rendered = render(&Value::Null, &[], "x-ingress-cluster", &BTreeMap::new());
    plugin_configuration(&mut rendered)["configuration"]["value"] = json!("");

    // No configuration at all is accepted too.
    let mut absent = rendered.clone();
    plugin_configuration(&mut absent)
        .as_object_mut()
        .unwrap()
        .remove("configuration");
    let dir = TempDir::new("absent");
    let validation = validate_yaml(&dir, "envoy.yaml", &ingress_wasm::render::envoy::to_yaml(&absent));
    assert!(
        validation.success,
        "a plugin without configuration was refused:\n{}",
        validation.output
    );

    let envoy = Envoy::start("empty", &ingress_wasm::render::envoy::to_yaml(&rendered));
    let mut c = Checks::default();
    let requests = [
        ("anything.test", "/"),
        ("localhost", "/lobby"),
        ("x.y.z", "/a/b?c=d"),
    ];
    for (host, p) in requests {
        let r = http::get(envoy.addr, host, p);
        c.check(
            "x-ingress-cluster",
            "empty config",
            host,
            p,
            &r,
            &Expect::NotFound,
        );
    }
    let r = http::get_with(envoy.addr, "a.test", "/", &[("x-ingress-cluster", b"anything")]);
    c.check(
        "x-ingress-cluster",
        "empty config + spoofed cluster",
        "a.test",
        "/",
        &r,
        &Expect::NotFound,
    );
    let got = envoy.prometheus("ingress_wasm_requests_not_found");
    if got != Some(requests.len() as u64 + 1) {
        c.fail(format!(
            "ingress_wasm_requests_not_found: expected {}, got {got:?}",
            requests.len() + 1
        ));
    }
    c.finish(Some(&envoy));
}
