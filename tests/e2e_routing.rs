//! End to end: the built filter in a real Envoy, real upstreams, requests over loopback. The Kubernetes
//! path and host tables under both semantics profiles, the seed Ingresses, rewrite-target and
//! x-forwarded-prefix. (Client-supplied cluster headers: `e2e_security.rs`.)
//!
//! Needs the release `.wasm` (`cargo build --target wasm32-wasip1 --release --lib`, or `./build.sh`) and an
//! Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::scenario::{echo_ingress, game_ingress, ingress, path, rule, Checks, Expect, Scenario};

/// Namespace of the table Ingresses.
const NS: &str = "paths";

/// The Service a table path goes to: `prefix-aaa-bbb`, `exact-foo-slash`, `prefix-root`, ...
fn service(kind: &str, p: &str) -> String {
    let trimmed = p.trim_start_matches('/');
    let slug = match trimmed.strip_suffix('/') {
        _ if trimmed.is_empty() => "root".to_string(),
        Some(base) => format!("{}-slash", base.replace('/', "-")),
        None => trimmed.replace('/', "-"),
    };
    format!("{}-{slug}", kind.to_ascii_lowercase())
}

/// One row of the path examples table (K8S-DOC "Examples", semantics reference §1.2).
struct Row {
    n: u32,
    /// (pathType, path)
    paths: &'static [(&'static str, &'static str)],
    /// (request path, the (pathType, path) that answers; None = no match)
    requests: &'static [(&'static str, Option<(&'static str, &'static str)>)],
}

const ROWS: &[Row] = &[
    Row {
        n: 1,
        paths: &[("Prefix", "/")],
        requests: &[
            ("/", Some(("Prefix", "/"))),
            ("/anything/deeper", Some(("Prefix", "/"))),
            ("/foo?x=1&y=2", Some(("Prefix", "/"))),
        ],
    },
    Row {
        n: 2,
        paths: &[("Exact", "/foo")],
        requests: &[("/foo", Some(("Exact", "/foo")))],
    },
    Row {
        n: 3,
        paths: &[("Exact", "/foo")],
        requests: &[("/bar", None)],
    },
    Row {
        n: 4,
        paths: &[("Exact", "/foo")],
        requests: &[("/foo/", None)],
    },
    Row {
        n: 5,
        paths: &[("Exact", "/foo/")],
        requests: &[("/foo", None)],
    },
    Row {
        n: 6,
        paths: &[("Prefix", "/foo")],
        requests: &[
            ("/foo", Some(("Prefix", "/foo"))),
            ("/foo/", Some(("Prefix", "/foo"))),
        ],
    },
    Row {
        n: 7,
        paths: &[("Prefix", "/foo/")],
        requests: &[
            ("/foo", Some(("Prefix", "/foo/"))),
            ("/foo/", Some(("Prefix", "/foo/"))),
        ],
    },
    Row {
        n: 8,
        paths: &[("Prefix", "/aaa/bb")],
        requests: &[("/aaa/bbb", None)],
    },
    Row {
        n: 9,
        paths: &[("Prefix", "/aaa/bbb")],
        requests: &[("/aaa/bbb", Some(("Prefix", "/aaa/bbb")))],
    },
    Row {
        n: 10,
        paths: &[("Prefix", "/aaa/bbb/")],
        requests: &[("/aaa/bbb", Some(("Prefix", "/aaa/bbb/")))],
    },
    Row {
        n: 11,
        paths: &[("Prefix", "/aaa/bbb")],
        requests: &[("/aaa/bbb/", Some(("Prefix", "/aaa/bbb")))],
    },
    Row {
        n: 12,
        paths: &[("Prefix", "/aaa/bbb")],
        requests: &[
            ("/aaa/bbb/ccc", Some(("Prefix", "/aaa/bbb"))),
            ("/aaa/bbb/ccc?q=1", Some(("Prefix", "/aaa/bbb"))),
        ],
    },
    Row {
        n: 13,
        paths: &[("Prefix", "/aaa/bbb")],
        requests: &[("/aaa/bbbxyz", None)],
    },
    Row {
        n: 14,
        paths: &[("Prefix", "/"), ("Prefix", "/aaa")],
        requests: &[("/aaa/ccc", Some(("Prefix", "/aaa")))],
    },
    Row {
        n: 15,
        paths: &[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")],
        requests: &[("/aaa/bbb", Some(("Prefix", "/aaa/bbb")))],
    },
    Row {
        n: 16,
        paths: &[("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")],
        requests: &[("/ccc", Some(("Prefix", "/")))],
    },
    // "No, uses default backend": no default backend in this config (404); see k8s_default_backend_row.
    Row {
        n: 17,
        paths: &[("Prefix", "/aaa")],
        requests: &[("/ccc", None)],
    },
    Row {
        n: 18,
        paths: &[("Prefix", "/foo"), ("Exact", "/foo")],
        requests: &[("/foo", Some(("Exact", "/foo")))],
    },
];

fn row_host(n: u32) -> String {
    format!("row{n}.paths.test")
}

fn row_ingress(row: &Row) -> Value {
    let host = row_host(row.n);
    let paths = row
        .paths
        .iter()
        .map(|(kind, p)| path(p, kind, &service(kind, p), 80))
        .collect();
    ingress(
        Some(NS),
        &format!("row{}", row.n),
        json!({}),
        json!({"rules": [rule(Some(&host), paths)]}),
    )
}

/// The host-wildcard table (K8S-DOC, semantics reference §1.3): `*.foo.com`.
fn wildcard_ingress() -> Value {
    let paths = vec![path("/", "Prefix", "wildcard-foo-com", 80)];
    ingress(
        Some(NS),
        "wildcard",
        json!({}),
        json!({"rules": [rule(Some("*.foo.com"), paths)]}),
    )
}

const WILDCARD_ROWS: &[(&str, bool)] = &[
    ("bar.foo.com", true),
    ("baz.bar.foo.com", false),
    ("foo.com", false),
];

fn table_ingresses() -> Vec<Value> {
    let mut all: Vec<Value> = ROWS.iter().map(row_ingress).collect();
    all.push(wildcard_ingress());
    all
}

/// ingress-nginx answers 301 where a path ending in `/` is requested without it (reference §2.3).
fn nginx_expectation(row: &Row, request: &str, k8s: &Expect) -> Expect {
    let slash_paths: Vec<&str> = row
        .paths
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| p.len() > 1 && p.ends_with('/'))
        .collect();
    if slash_paths.iter().any(|p| p.strip_suffix('/') == Some(request)) {
        return Expect::redirect(301, &format!("http://{}{request}/", row_host(row.n)));
    }
    k8s.clone()
}

fn run_tables(scenario: &Scenario, nginx: bool) -> Checks {
    let mut checks = Checks::default();
    for row in ROWS {
        let host = row_host(row.n);
        for (request, answer) in row.requests {
            let k8s = match answer {
                Some((kind, p)) => Expect::backend(&service(kind, p), request),
                None => Expect::NotFound,
            };
            let expect = if nginx {
                nginx_expectation(row, request, &k8s)
            } else {
                k8s
            };
            checks.expect(scenario, &format!("row {}", row.n), &host, request, &expect);
        }
    }
    for (host, matches) in WILDCARD_ROWS {
        for request in ["/", "/some/page"] {
            let expect = if *matches {
                Expect::backend("wildcard-foo-com", request)
            } else {
                Expect::NotFound
            };
            checks.expect(
                scenario,
                &format!("wildcard *.foo.com vs {host}"),
                host,
                request,
                &expect,
            );
        }
    }
    checks
}

#[test]
fn kubernetes_path_and_host_tables() {
    let scenario = Scenario::start(
        "k8s-tables",
        table_ingresses(),
        Some(json!({"semantics": "kubernetes"})),
    );
    let checks = run_tables(&scenario, false);
    checks.finish(Some(&scenario.envoy));
}

#[test]
fn ingress_nginx_path_and_host_tables() {
    let scenario = Scenario::start("nginx-tables", table_ingresses(), None);
    let mut checks = run_tables(&scenario, true);
    // The documented differences, spelled out.
    checks.expect(
        &scenario,
        "row 10",
        &row_host(10),
        "/aaa/bbb",
        &Expect::redirect(301, "http://row10.paths.test/aaa/bbb/"),
    );
    checks.expect(
        &scenario,
        "row 5",
        &row_host(5),
        "/foo",
        &Expect::redirect(301, "http://row5.paths.test/foo/"),
    );
    // The redirect keeps the port of the Host header and the query.
    checks.expect(
        &scenario,
        "row 10 with port",
        "row10.paths.test:8080",
        "/aaa/bbb?x=1",
        &Expect::redirect(301, "http://row10.paths.test:8080/aaa/bbb/?x=1"),
    );
    checks.finish(Some(&scenario.envoy));
}

/// Row 17 ("No, uses default backend") with a default backend configured, kubernetes semantics.
#[test]
fn kubernetes_default_backend_row() {
    let row = ROWS.iter().find(|r| r.n == 17).unwrap();
    let fallback = ingress(
        Some(NS),
        "fallback",
        json!({}),
        json!({"defaultBackend": {"service": {"name": "default-http-backend", "port": {"number": 80}}}}),
    );
    let scenario = Scenario::start(
        "k8s-default",
        vec![row_ingress(row), fallback],
        Some(json!({"semantics": "kubernetes"})),
    );
    let mut checks = Checks::default();
    let host = row_host(17);
    checks.expect(
        &scenario,
        "row 17",
        &host,
        "/ccc",
        &Expect::backend("default-http-backend", "/ccc"),
    );
    checks.expect(
        &scenario,
        "row 17",
        &host,
        "/aaa/x",
        &Expect::backend("prefix-aaa", "/aaa/x"),
    );
    checks.expect(
        &scenario,
        "unknown host",
        "nowhere.test",
        "/aaa",
        &Expect::backend("default-http-backend", "/aaa"),
    );
    checks.finish(Some(&scenario.envoy));
}

const V1: &str = "v1.echo.192.168.49.5.sslip.io";
const V2: &str = "v2.echo.192.168.49.5.sslip.io";
const CHAT: &str = "myproject.project.io";
const XFP: &str = "xfp.test";
/// Not named by any rule: ingress-nginx serves it from the host-less rules.
const ANY_HOST: &str = "game.example.com";

fn seed_ingresses() -> Vec<Value> {
    let game = game_ingress("Prefix");
    let chat = ingress(
        Some("nginx"),
        "chatforyou-ingress",
        json!({
            "nginx.ingress.kubernetes.io/use-regex": "true",
            "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
            "nginx.ingress.kubernetes.io/app-root": "/",
            "nginx.ingress.kubernetes.io/session-cookie-name": "route",
        }),
        json!({
            "ingressClassName": "nginx",
            "rules": [rule(Some(CHAT), vec![path("/chatforyouio(/|$)(.*)", "Prefix", "chatforyou-io-svc", 8443)])],
        }),
    );
    let xfp = ingress(
        Some("web"),
        "xfp",
        json!({
            "nginx.ingress.kubernetes.io/x-forwarded-prefix": "/test/value",
            "nginx.ingress.kubernetes.io/rewrite-target": "/foo",
        }),
        json!({"rules": [rule(Some(XFP), vec![path("/", "Prefix", "xfp-svc", 80)])]}),
    );
    vec![
        game,
        echo_ingress("echo-v1", V1),
        echo_ingress("echo-v2", V2),
        chat,
        xfp,
    ]
}

/// The seed Ingresses under the default (ingress-nginx) profile, in one Envoy.
#[test]
fn seed_ingresses_and_rewrites() {
    let scenario = Scenario::start("seeds", seed_ingresses(), None);
    let mut c = Checks::default();

    // (a) game: host-less, rewrite-target "/": the whole path becomes "/", the query stays.
    c.expect(
        &scenario,
        "game",
        ANY_HOST,
        "/lobby",
        &Expect::backend("game-lobby", "/"),
    );
    c.expect(
        &scenario,
        "game",
        ANY_HOST,
        "/chat/x?y=1",
        &Expect::backend("game-chat", "/?y=1"),
    );
    c.expect(
        &scenario,
        "game",
        ANY_HOST,
        "/room",
        &Expect::backend("game-room", "/"),
    );
    c.expect(
        &scenario,
        "game",
        "localhost",
        "/ranking/top",
        &Expect::backend("game-ranking", "/"),
    );
    c.expect(&scenario, "game", ANY_HOST, "/other", &Expect::NotFound);

    // (b) echo-v1 / echo-v2: the Host header picks the backend, the path is kept.
    c.expect(&scenario, "echo", V1, "/", &Expect::backend("echo-v1", "/"));
    c.expect(
        &scenario,
        "echo",
        V1,
        "/some/path?q=1",
        &Expect::backend("echo-v1", "/some/path?q=1"),
    );
    c.expect(&scenario, "echo", V2, "/", &Expect::backend("echo-v2", "/"));
    c.expect(
        &scenario,
        "echo",
        V2,
        "/api/v2/items",
        &Expect::backend("echo-v2", "/api/v2/items"),
    );
    c.expect(
        &scenario,
        "echo",
        &format!("{V1}:8080"),
        "/p",
        &Expect::backend("echo-v1", "/p"),
    );

    // (c) chatforyou: use-regex + rewrite-target "/$2".
    c.expect(
        &scenario,
        "chatforyou",
        CHAT,
        "/chatforyouio/user/create",
        &Expect::backend("chatforyou-io-svc", "/user/create"),
    );
    c.expect(
        &scenario,
        "chatforyou",
        CHAT,
        "/chatforyouio",
        &Expect::backend("chatforyou-io-svc", "/"),
    );
    c.expect(
        &scenario,
        "chatforyou",
        CHAT,
        "/chatforyouio/",
        &Expect::backend("chatforyou-io-svc", "/"),
    );

    // app-root "/": ingress-nginx redirects `/` of the host to itself (302, the request's scheme and host).
    c.expect(
        &scenario,
        "chatforyou app-root",
        CHAT,
        "/",
        &Expect::redirect(302, "http://myproject.project.io/"),
    );

    // x-forwarded-prefix with rewrite-target "/foo" on path "/".
    let r = scenario.get(XFP, "/");
    c.check(
        &scenario.cluster_header,
        "x-forwarded-prefix",
        XFP,
        "/",
        &r,
        &Expect::backend("xfp-svc", "/foo"),
    );
    match r.echo() {
        Some(echo) if echo.header("x-forwarded-prefix") == Some("/test/value") => {}
        other => c.fail(format!("x-forwarded-prefix: upstream saw {other:?}")),
    }
    // ... and only there.
    let r = scenario.get(V1, "/");
    c.check(
        &scenario.cluster_header,
        "no x-forwarded-prefix elsewhere",
        V1,
        "/",
        &r,
        &Expect::backend("echo-v1", "/"),
    );
    if r.echo()
        .is_some_and(|e| e.headers.contains_key("x-forwarded-prefix"))
    {
        c.fail(format!("echo-v1 saw an x-forwarded-prefix: {}", r.summary()));
    }
    c.finish(Some(&scenario.envoy));
}
