//! Decision tests of the whole core (config -> compile -> decide). They run natively and, through
//! wasm-bindgen-test, on wasm32-unknown-unknown under Node.

use crate::config::load;
use crate::decide::{Backend, Decision, Request, RouteTable};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

/// A backend with the default cluster name.
pub(crate) fn backend(ns: &str, svc: &str, port: &str) -> Backend {
    Backend {
        namespace: ns.into(),
        service: svc.into(),
        port: port.into(),
        cluster: format!("{ns}/{svc}:{port}"),
        unavailable: false,
        port_name: None,
    }
}

pub(crate) fn path(p: &str, t: &str, svc: &str) -> Value {
    json!({"path": p, "pathType": t, "backend": {"service": {"name": svc, "port": {"number": 80}}}})
}

pub(crate) fn ingress(ns: &str, name: &str, created: &str, annotations: Value, rules: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created, "annotations": annotations},
        "spec": {"rules": rules}})
}

/// An Ingress created 2024-01-01 with one rule for `host`.
pub(crate) fn single_host(ns: &str, name: &str, annotations: Value, host: &str, paths: Vec<Value>) -> Value {
    ingress(
        ns,
        name,
        "2024-01-01T00:00:00Z",
        annotations,
        json!([host_rule(Some(host), paths)]),
    )
}

pub(crate) fn host_rule(host: Option<&str>, paths: Vec<Value>) -> Value {
    let mut r = json!({"http": {"paths": paths}});
    if let Some(h) = host {
        r["host"] = json!(h);
    }
    r
}

pub(crate) fn load_table(items: Vec<Value>, semantics: &str) -> RouteTable {
    let cfg = json!({"ingresses": {"kind": "List", "items": items}, "settings": {"semantics": semantics}});
    match load(cfg.to_string().as_bytes()) {
        Ok(c) => c.table,
        Err(d) => panic!("config refused: {d:?}"),
    }
}

/// `service path` for a forward (the path the backend sees), `404`, or `301 <location>`.
pub(crate) fn go(t: &RouteTable, host: &str, p: &str) -> String {
    let decision = t.decide(&Request {
        scheme: "http",
        authority: host,
        path: p,
    });
    summary(decision, p)
}

/// A decision for request path `p` as [`go`] prints it.
pub(crate) fn summary(decision: Decision<'_>, p: &str) -> String {
    match decision {
        Decision::Forward(f) => {
            let svc = f
                .cluster
                .split('/')
                .nth(1)
                .unwrap_or("")
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            format!("{svc} {}", f.path.unwrap_or_else(|| p.to_string()))
        }
        Decision::Redirect { status, location, .. } => format!("{status} {location}"),
        Decision::NotFound(_) => "404".to_string(),
        Decision::Reject { status, .. } | Decision::Respond { status, .. } => format!("{status}"),
    }
}

/// The Kubernetes documentation's path examples: (paths, request, expected service or 404).
/// One row of the table: the (pathType, path) list, the request path, the expected backend.
type SpecRow = (Vec<(&'static str, &'static str)>, &'static str, &'static str);

fn spec_rows() -> Vec<SpecRow> {
    vec![
        (vec![("Prefix", "/")], "/anything/at/all", "p0"),
        (vec![("Exact", "/foo")], "/foo", "p0"),
        (vec![("Exact", "/foo")], "/bar", "404"),
        (vec![("Exact", "/foo")], "/foo/", "404"),
        (vec![("Exact", "/foo/")], "/foo", "404"),
        (vec![("Prefix", "/foo")], "/foo", "p0"),
        (vec![("Prefix", "/foo")], "/foo/", "p0"),
        (vec![("Prefix", "/foo/")], "/foo", "p0"),
        (vec![("Prefix", "/foo/")], "/foo/", "p0"),
        (vec![("Prefix", "/aaa/bb")], "/aaa/bbb", "404"),
        (vec![("Prefix", "/aaa/bbb")], "/aaa/bbb", "p0"),
        (vec![("Prefix", "/aaa/bbb/")], "/aaa/bbb", "p0"),
        (vec![("Prefix", "/aaa/bbb")], "/aaa/bbb/", "p0"),
        (vec![("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", "p0"),
        (vec![("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", "404"),
        (vec![("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", "p1"),
        (
            vec![("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")],
            "/aaa/bbb",
            "p2",
        ),
        (
            vec![("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")],
            "/ccc",
            "p0",
        ),
        (vec![("Prefix", "/aaa")], "/ccc", "404"),
        (vec![("Prefix", "/foo"), ("Exact", "/foo")], "/foo", "p1"),
    ]
}

fn spec_table(semantics: &str) -> RouteTable {
    let rules: Vec<Value> = spec_rows()
        .iter()
        .enumerate()
        .map(|(i, (paths, _, _))| {
            let ps = paths
                .iter()
                .enumerate()
                .map(|(j, (t, p))| path(p, t, &format!("p{j}")))
                .collect();
            host_rule(Some(&format!("row{i}.paths.test")), ps)
        })
        .collect();
    load_table(
        vec![ingress(
            "default",
            "spec",
            "2024-01-01T00:00:00Z",
            json!({}),
            json!(rules),
        )],
        semantics,
    )
}

#[wasm_bindgen_test(unsupported = test)]
fn kubernetes_profile_matches_the_spec_table() {
    let t = spec_table("kubernetes");
    for (i, (_, request, expected)) in spec_rows().iter().enumerate() {
        let got = go(&t, &format!("row{i}.paths.test"), request);
        let want = if *expected == "404" {
            "404".to_string()
        } else {
            format!("{expected} {request}")
        };
        assert_eq!(got, want, "row {i}: {request}");
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn ingress_nginx_profile_differs_only_by_trailing_slash_redirects() {
    let t = spec_table("ingress-nginx");
    for (i, (_, request, expected)) in spec_rows().iter().enumerate() {
        let host = format!("row{i}.paths.test");
        let got = go(&t, &host, request);
        let want = match i {
            // Prefix `/foo/` and `/aaa/bbb/`, Exact `/foo/`: nginx answers 301 to the slashed path.
            4 | 7 | 11 => format!("301 http://{host}{request}/"),
            _ if *expected == "404" => "404".to_string(),
            _ => format!("{expected} {request}"),
        };
        assert_eq!(got, want, "row {i}: {request}");
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn wildcard_hosts_cover_one_label() {
    for profile in ["kubernetes", "ingress-nginx"] {
        let t = load_table(
            vec![ingress(
                "default",
                "w",
                "2024-01-01T00:00:00Z",
                json!({}),
                json!([
                    host_rule(Some("*.foo.com"), vec![path("/", "Prefix", "wild")]),
                    host_rule(Some("exact.foo.com"), vec![path("/", "Prefix", "exact")])
                ]),
            )],
            profile,
        );
        assert_eq!(go(&t, "bar.foo.com", "/x"), "wild /x");
        assert_eq!(go(&t, "BAR.Foo.com:8080", "/x"), "wild /x");
        assert_eq!(go(&t, "bar.foo.com.", "/x"), "wild /x");
        assert_eq!(go(&t, "baz.bar.foo.com", "/x"), "404");
        assert_eq!(go(&t, "foo.com", "/x"), "404");
        assert_eq!(go(&t, "exact.foo.com", "/x"), "exact /x");
    }
}

pub(crate) fn game() -> Value {
    ingress(
        "game-prod",
        "game-ingress",
        "2024-01-01T00:00:00Z",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/"}),
        json!([host_rule(
            None,
            vec![
                path("/lobby", "Prefix", "game-lobby"),
                path("/room", "Prefix", "game-room"),
                path("/chat", "Prefix", "game-chat"),
                path("/ranking", "Prefix", "game-ranking"),
            ]
        )]),
    )
}

#[wasm_bindgen_test(unsupported = test)]
fn seed_game_rewrite_target_root() {
    for profile in ["ingress-nginx", "kubernetes"] {
        let t = load_table(vec![game()], profile);
        assert_eq!(go(&t, "localhost", "/lobby"), "game-lobby /");
        assert_eq!(go(&t, "localhost:10000", "/room/42"), "game-room /");
        assert_eq!(go(&t, "game.example.com", "/chat/x?y=1"), "game-chat /?y=1");
        assert_eq!(go(&t, "localhost", "/ranking"), "game-ranking /");
        assert_eq!(go(&t, "localhost", "/other"), "404");
    }
    // ingress-nginx: rewrite forces case-insensitive, start-anchored regex matching for the host.
    let t = load_table(vec![game()], "ingress-nginx");
    assert_eq!(go(&t, "localhost", "/LOBBY"), "game-lobby /");
    assert_eq!(go(&t, "localhost", "/lobbyist"), "game-lobby /");
    let k = load_table(vec![game()], "kubernetes");
    assert_eq!(go(&k, "localhost", "/LOBBY"), "404");
    assert_eq!(go(&k, "localhost", "/lobbyist"), "404");
}

pub(crate) fn chatforyou() -> Value {
    single_host(
        "nginx",
        "chatforyou-io-ingress",
        json!({"nginx.ingress.kubernetes.io/app-root": "/",
               "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
               "nginx.ingress.kubernetes.io/session-cookie-name": "route",
               "nginx.ingress.kubernetes.io/use-regex": "true"}),
        "myproject.project.io",
        vec![path("/chatforyouio(/|$)(.*)", "Prefix", "chatforyou-io-svc")],
    )
}

#[wasm_bindgen_test(unsupported = test)]
fn seed_chatforyou_regex_rewrite() {
    let t = load_table(vec![chatforyou()], "ingress-nginx");
    assert_eq!(
        go(&t, "myproject.project.io", "/chatforyouio/user/create"),
        "chatforyou-io-svc /user/create"
    );
    assert_eq!(
        go(&t, "myproject.project.io", "/chatforyouio"),
        "chatforyou-io-svc /"
    );
    assert_eq!(
        go(&t, "myproject.project.io", "/chatforyouio/"),
        "chatforyou-io-svc /"
    );
    assert_eq!(go(&t, "myproject.project.io", "/other"), "404");
}

#[wasm_bindgen_test(unsupported = test)]
fn seed_echo_hosts() {
    let echo = |v: &str| {
        let mut i = ingress(
            "default",
            &format!("echo-{v}"),
            "2024-01-01T00:00:00Z",
            json!({}),
            json!([host_rule(
                Some(&format!("{v}.echo.192.168.49.5.sslip.io")),
                vec![path("/", "Prefix", &format!("echo-{v}"))]
            )]),
        );
        i["metadata"].as_object_mut().unwrap().remove("namespace");
        i
    };
    let t = load_table(vec![echo("v1"), echo("v2")], "ingress-nginx");
    assert_eq!(
        go(&t, "v1.echo.192.168.49.5.sslip.io", "/hello"),
        "echo-v1 /hello"
    );
    assert_eq!(go(&t, "v2.echo.192.168.49.5.sslip.io", "/"), "echo-v2 /");
    assert_eq!(go(&t, "v3.echo.192.168.49.5.sslip.io", "/"), "404");
    assert!(t
        .routes()
        .iter()
        .any(|r| r.backend.cluster == "default/echo-v1:80"));
}

#[wasm_bindgen_test(unsupported = test)]
fn use_regex_is_host_wide_in_ingress_nginx() {
    let plain = single_host(
        "a",
        "plain",
        json!({}),
        "h.test",
        vec![path("/headers", "Exact", "exact")],
    );
    let regex = ingress(
        "b",
        "regex",
        "2024-01-02T00:00:00Z",
        json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
        json!([host_rule(
            Some("h.test"),
            vec![path("/api/[0-9]+", "ImplementationSpecific", "api")]
        )]),
    );
    let t = load_table(vec![plain.clone(), regex.clone()], "ingress-nginx");
    // BLOG-5: an Exact path becomes a case-insensitive prefix regex once any Ingress of the host uses regex.
    assert!(t.routes().iter().all(|r| r.regex));
    assert_eq!(go(&t, "h.test", "/HEADERS/more"), "exact /HEADERS/more");
    assert_eq!(go(&t, "h.test", "/api/12/x"), "api /api/12/x");
    assert_eq!(go(&t, "h.test", "/api/x"), "404");
    let k = load_table(vec![plain, regex], "kubernetes");
    assert_eq!(go(&k, "h.test", "/HEADERS/more"), "404");
    assert_eq!(go(&k, "h.test", "/headers"), "exact /headers");
    assert_eq!(go(&k, "h.test", "/api/12/x"), "api /api/12/x");
}

#[wasm_bindgen_test(unsupported = test)]
fn regex_first_match_is_longest_path_first() {
    // ingress-path-matching.md warning: a longer regex beats a shorter literal path.
    let i = single_host(
        "a",
        "r",
        json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
        "h.test",
        vec![
            path("/foo/bar/bar", "Prefix", "literal"),
            path("/foo/bar/[A-Z0-9]{3}", "ImplementationSpecific", "regex"),
        ],
    );
    let t = load_table(vec![i], "ingress-nginx");
    assert_eq!(go(&t, "h.test", "/foo/bar/bar"), "regex /foo/bar/bar");
}

#[wasm_bindgen_test(unsupported = test)]
fn dollar_anchors_the_end() {
    let i = single_host(
        "a",
        "r",
        json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
        "h.test",
        vec![path("/$", "ImplementationSpecific", "root")],
    );
    let t = load_table(vec![i], "ingress-nginx");
    assert_eq!(go(&t, "h.test", "/"), "root /");
    assert_eq!(go(&t, "h.test", "/hostname"), "404");
}

#[wasm_bindgen_test(unsupported = test)]
fn oldest_ingress_wins_duplicates() {
    let old = single_host("a", "old", json!({}), "h.test", vec![path("/x", "Prefix", "old")]);
    let new = ingress(
        "a",
        "new",
        "2024-06-01T00:00:00Z",
        json!({}),
        json!([host_rule(Some("h.test"), vec![path("/x", "Prefix", "new")])]),
    );
    let cfg = json!({"kind": "List", "items": [new, old]});
    let c = load(cfg.to_string().as_bytes()).unwrap();
    assert_eq!(go(&c.table, "h.test", "/x"), "old /x");
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].to_string().starts_with("a/new: spec.rules[0].http.paths[0]: Prefix path \"/x\" on h.test is already served by the older a/old"));
}

#[wasm_bindgen_test(unsupported = test)]
fn hostless_rules_and_default_backends() {
    let named = single_host(
        "a",
        "named",
        json!({}),
        "foo.com",
        vec![path("/a", "Prefix", "named")],
    );
    let hostless = ingress(
        "a",
        "hostless",
        "2024-01-02T00:00:00Z",
        json!({}),
        json!([host_rule(None, vec![path("/b", "Prefix", "hostless")])]),
    );
    let mut catch_all = ingress("a", "catch-all", "2024-01-03T00:00:00Z", json!({}), json!([]));
    catch_all["spec"] = json!({"defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}}});
    let items = vec![named, hostless, catch_all];
    let n = load_table(items.clone(), "ingress-nginx");
    // ingress-nginx: host-less rules serve only hosts nobody names.
    assert_eq!(go(&n, "foo.com", "/b"), "404");
    assert_eq!(go(&n, "other.com", "/b"), "hostless /b");
    assert_eq!(go(&n, "other.com", "/zzz"), "fallback /zzz");
    let k = load_table(items, "kubernetes");
    // kubernetes: host-less rules apply to every host; unmatched requests go to the default backend.
    assert_eq!(go(&k, "foo.com", "/b"), "hostless /b");
    assert_eq!(go(&k, "foo.com", "/zzz"), "fallback /zzz");
    assert_eq!(go(&k, "", "/a"), "fallback /a");
}

#[wasm_bindgen_test(unsupported = test)]
fn host_default_backend_from_first_ingress_naming_it() {
    let mut first = single_host(
        "a",
        "first",
        json!({}),
        "foo.com",
        vec![path("/a", "Prefix", "a")],
    );
    first["spec"]["defaultBackend"] = json!({"service": {"name": "foo-default", "port": {"number": 80}}});
    let t = load_table(vec![first], "ingress-nginx");
    assert_eq!(go(&t, "foo.com", "/a/1"), "a /a/1");
    assert_eq!(go(&t, "foo.com", "/zzz"), "foo-default /zzz");
    assert_eq!(go(&t, "bar.com", "/zzz"), "404");
}

#[wasm_bindgen_test(unsupported = test)]
fn x_forwarded_prefix_with_rewrite() {
    let i = single_host(
        "a",
        "x",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/foo", "nginx.ingress.kubernetes.io/x-forwarded-prefix": "/test/value"}),
        "h.test",
        vec![path("/", "Prefix", "svc")],
    );
    let t = load_table(vec![i], "ingress-nginx");
    match t.decide(&Request {
        scheme: "http",
        authority: "h.test",
        path: "/bar?q=1",
    }) {
        Decision::Forward(f) => {
            assert_eq!(f.path.as_deref(), Some("/foo?q=1"));
            assert_eq!(f.headers, vec![("x-forwarded-prefix", "/test/value".to_string())]);
        }
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn requests_are_decided_on_the_canonical_path() {
    let i = single_host(
        "a",
        "x",
        json!({}),
        "h.test",
        vec![
            path("/public", "Prefix", "public"),
            path("/admin", "Prefix", "admin"),
        ],
    );
    let t = load_table(vec![i], "kubernetes");
    assert_eq!(go(&t, "h.test", "/public/../admin"), "admin /admin");
    assert_eq!(go(&t, "h.test", "/%61dmin?x"), "admin /admin?x");
    assert_eq!(go(&t, "h.test", "//admin"), "admin /admin");
    assert_eq!(go(&t, "h.test", "/public%2f..%2fadmin"), "404");
    assert_eq!(go(&t, "h.test", "/adminx"), "404");
    assert_eq!(go(&t, "h.test", "*"), "400");
}

#[wasm_bindgen_test(unsupported = test)]
fn bad_config_is_refused_with_every_problem_named() {
    let mut bad = game();
    bad["spec"]["rules"][0]["http"]["paths"][2]["pathType"] = json!("Prefx");
    let regex = single_host(
        "b",
        "regex",
        json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
        "h.test",
        vec![path("/(?=look)", "ImplementationSpecific", "x")],
    );
    let capture = single_host(
        "c",
        "capture",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/$1"}),
        "c.test",
        vec![path("/plain", "Prefix", "x")],
    );
    let cfg = json!({"kind": "List", "items": [bad, regex, capture]});
    let errors: Vec<String> = load(cfg.to_string().as_bytes())
        .unwrap_err()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.contains(
        &"game-prod/game-ingress: spec.rules[0].http.paths[2].pathType: unknown value \"Prefx\"".to_string()
    ));
    assert!(errors.iter().any(|e| e.starts_with(
        "b/regex: spec.rules[0].http.paths[0].path: \"/(?=look)\" look-around ((?=, (?!, (?<=, (?<!) is not supported"
    )));
    assert!(errors.iter().any(
        |e| e.starts_with("c/capture: metadata.annotations.nginx.ingress.kubernetes.io/rewrite-target: ")
    ));
}

#[wasm_bindgen_test(unsupported = test)]
fn empty_and_foreign_class_configs_route_nothing() {
    let t = load(b"").unwrap().table;
    assert_eq!(go(&t, "any", "/"), "404");
    let mut other = game();
    other["spec"]["ingressClassName"] = json!("istio");
    let t = load(json!({"kind": "List", "items": [other]}).to_string().as_bytes())
        .unwrap()
        .table;
    assert_eq!(go(&t, "any", "/lobby"), "404");
}

#[wasm_bindgen_test(unsupported = test)]
fn cluster_template_and_header_settings() {
    let cfg = json!({"ingresses": game(), "settings": {"clusterTemplate": "outbound|{port}||{service}.{namespace}.svc.cluster.local", "clusterHeader": "x-route"}});
    let t = load(cfg.to_string().as_bytes()).unwrap().table;
    assert_eq!(t.cluster_header(), "x-route");
    match t.decide(&Request {
        scheme: "http",
        authority: "x",
        path: "/lobby",
    }) {
        Decision::Forward(f) => assert_eq!(f.cluster, "outbound|80||game-lobby.game-prod.svc.cluster.local"),
        other => panic!("{other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn absurd_input_gets_a_defined_answer() {
    let mut t = load_table(vec![game(), chatforyou()], "ingress-nginx");
    t.max_path_bytes = crate::model::settings::MAX_MAX_PATH_BYTES;
    let long_path = format!("/lobby/{}", "a/".repeat(45_000));
    assert_eq!(go(&t, "localhost", &long_path), "game-lobby /");
    let long_regex_path = format!("/chatforyouio/{}", "x".repeat(5_000));
    assert!(go(&t, "myproject.project.io", &long_regex_path).starts_with("chatforyou-io-svc /xxx"));
    let long_host = "h".repeat(70_000);
    assert_eq!(go(&t, &long_host, "/lobby"), "game-lobby /");
    assert_eq!(go(&t, "", "/lobby"), "game-lobby /");
    assert_eq!(go(&t, "[::1", "/room"), "game-room /");
    assert_eq!(go(&t, ":::::", "/nothing"), "404");
    assert_eq!(go(&t, "localhost", ""), "400");
    assert_eq!(go(&t, "localhost", "/a\u{0}b"), "400");
    // A rewrite longer than the cap is refused, not forwarded.
    let huge = single_host(
        "a",
        "huge",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/$1/$1", "nginx.ingress.kubernetes.io/use-regex": "true"}),
        "h.test",
        vec![path("/(.*)", "ImplementationSpecific", "svc")],
    );
    let t = load_table(vec![huge], "ingress-nginx");
    assert_eq!(go(&t, "h.test", &format!("/{}", "y".repeat(5000))), "500");
}
