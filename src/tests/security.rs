//! Decision tests for hostile requests and configurations: bounded work per request, fail-closed access
//! annotations, rewrites that cannot escape their target, cluster names that cannot collide. They run
//! natively and on wasm32-unknown-unknown under Node.

use crate::config::load;
use crate::decide::{Decision, Reason, Request, RouteTable};
use crate::model::settings::MAX_MAX_PATH_BYTES;
use crate::tests::decide::{game, go, ingress, load_table, path, single_host};
use crate::work;
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

/// Ingresses with `rules` Prefix paths nested under `/a` (`/a`, `/a/a`, ...) and as many Exact paths, on
/// an exact and a wildcard host and without host, plus `rules` regex paths on another host.
fn many_rules(rules: usize) -> Vec<Value> {
    let mut literal = Vec::new();
    for depth in 1..=rules {
        literal.push(path(&"/a".repeat(depth), "Prefix", "nested"));
        literal.push(path(&format!("/exact/{depth}"), "Exact", "exact"));
    }
    let regex: Vec<Value> = (0..rules)
        .map(|i| path(&format!("/r{i}/(a|b)+/x(.*)"), "ImplementationSpecific", "regex"))
        .collect();
    let rules_json = json!([
        {"host": "lit.test", "http": {"paths": literal.clone()}},
        {"host": "*.wild.test", "http": {"paths": literal.clone()}},
        {"http": {"paths": literal}},
    ]);
    vec![
        ingress("ns", "literal", "2024-01-01T00:00:00Z", json!({}), rules_json),
        single_host(
            "ns",
            "regex",
            json!({"nginx.ingress.kubernetes.io/use-regex": "true",
                   "nginx.ingress.kubernetes.io/rewrite-target": "/$2"}),
            "re.test",
            regex,
        ),
    ]
}

fn table(items: Vec<Value>, semantics: &str) -> RouteTable {
    let mut t = load_table(items, semantics);
    t.max_path_bytes = MAX_MAX_PATH_BYTES;
    t
}

/// Bytes hashed or scanned by the matchers for one decision.
fn work_of(t: &RouteTable, host: &str, path: &str) -> usize {
    work::take();
    let _ = t.decide(&Request {
        scheme: "http",
        authority: host,
        path,
    });
    work::take()
}

#[wasm_bindgen_test(unsupported = test)]
fn per_request_work_is_linear_in_the_request_and_independent_of_the_rules() {
    for semantics in ["ingress-nginx", "kubernetes"] {
        let small = table(many_rules(10), semantics);
        let large = table(many_rules(300), semantics);
        for len in [8 * 1024, 60 * 1024] {
            // The worst shape for element-wise matching: as many elements as the length allows, each a
            // prefix rule; and the regex paths' worst: long runs their repetition keeps matching.
            let nested = "/a".repeat(len / 2);
            let regex = format!("/r0/{}x{}", "ab".repeat(len / 4), "c".repeat(len / 4));
            let requests = [
                ("lit.test", nested.clone()),
                ("x.wild.test", nested.clone()),
                ("other.test", nested.clone()),
                ("lit.test", format!("/exact/{}", "9".repeat(len))),
                ("re.test", regex.clone()),
                ("re.test", format!("/r999/{}", "a".repeat(len))),
            ];
            for (host, p) in &requests {
                let request_size = host.len() + p.len();
                for t in [&small, &large] {
                    let work = work_of(t, host, p);
                    // Each matcher reads the path at most a small fixed number of times.
                    assert!(
                        work <= 4 * request_size,
                        "{semantics}: {host} + {} bytes of path cost {work} bytes of matching",
                        p.len()
                    );
                }
                let (s, l) = (work_of(&small, host, p), work_of(&large, host, p));
                assert!(
                    l <= s + p.len(),
                    "{semantics}: {host}: 300 rules cost {l} bytes of matching, 10 rules {s}"
                );
            }
        }
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn paths_longer_than_the_limit_answer_414() {
    let t = load_table(vec![game()], "ingress-nginx");
    let at_limit = format!("/lobby/{}", "a".repeat(8192 - 7));
    assert_eq!(go(&t, "x", &at_limit), "game-lobby /");
    assert_eq!(go(&t, "x", &format!("{at_limit}b")), "414");
    // The query counts: nginx limits the whole request line.
    assert_eq!(go(&t, "x", &format!("/lobby?{}", "q".repeat(8192))), "414");
    let cfg = json!({"ingresses": game(), "settings": {"maxPathBytes": 65536}});
    let raised = load(cfg.to_string().as_bytes()).unwrap().table;
    assert_eq!(go(&raised, "x", &format!("{at_limit}b")), "game-lobby /");
    match raised.decide(&Request {
        scheme: "http",
        authority: "x",
        path: &format!("/{}", "a".repeat(65536)),
    }) {
        Decision::Reject { status, trace } => assert_eq!((status, trace.reason), (414, Reason::PathTooLong)),
        other => panic!("{other:?}"),
    }
}

fn admin(annotations: Value) -> Value {
    let mut admin = single_host(
        "shop",
        "admin",
        annotations,
        "shop.test",
        vec![path("/admin", "Prefix", "admin")],
    );
    admin["spec"]["defaultBackend"] = json!({"service": {"name": "admin", "port": {"number": 80}}});
    admin
}

fn public() -> Value {
    single_host(
        "shop",
        "public",
        json!({}),
        "shop.test",
        vec![path("/", "Prefix", "web")],
    )
}

/// An escape assembled by decoding (`%6` + `%31` -> `%61`) would route on `/%61dmin` (the public `/`)
/// and reach an upstream that decodes it once more as `/admin`: refused with 400 instead.
#[wasm_bindgen_test(unsupported = test)]
fn double_decoding_cannot_reach_a_denied_path() {
    let t = load_table(
        vec![
            admin(json!({"nginx.ingress.kubernetes.io/auth-type": "basic"})),
            public(),
        ],
        "ingress-nginx",
    );
    assert_eq!(go(&t, "shop.test", "/%61dmin"), "503");
    assert_eq!(go(&t, "shop.test", "/%6%31dmin"), "400");
    assert_eq!(go(&t, "shop.test", "/%%36%31dmin"), "400");
}

#[wasm_bindgen_test(unsupported = test)]
fn access_annotations_that_are_not_enforced_fail_closed() {
    let restricting = [
        json!({"nginx.ingress.kubernetes.io/auth-type": "basic", "nginx.ingress.kubernetes.io/auth-secret": "basic-auth"}),
        // Enforced, but with a value ingress-nginx denies the location for.
        json!({"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/33"}),
        json!({"nginx.ingress.kubernetes.io/allowlist-source-range": "10.0.0.0/8,"}),
        json!({"nginx.ingress.kubernetes.io/denylist-source-range": "1.2.3.4/32 5.6.7.8"}),
        json!({"nginx.ingress.kubernetes.io/auth-url": "http://auth.svc/verify"}),
        json!({"nginx.ingress.kubernetes.io/auth-tls-secret": "shop/ca"}),
        json!({"nginx.ingress.kubernetes.io/limit-rps": "5"}),
        json!({"nginx.ingress.kubernetes.io/satisfy": "any"}),
        json!({"nginx.ingress.kubernetes.io/enable-modsecurity": "true"}),
        json!({"nginx.ingress.kubernetes.io/configuration-snippet": "allow 10.0.0.0/8;\ndeny all;"}),
        json!({"nginx.ingress.kubernetes.io/server-snippet": "if ($arg_x) { return 403; }"}),
    ];
    for annotations in restricting {
        let key = annotations
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap();
        let compiled = load(
            json!({"kind": "List", "items": [admin(annotations.clone()), public()]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let t = &compiled.table;
        assert_eq!(go(t, "shop.test", "/admin"), "503", "{annotations}");
        assert_eq!(go(t, "shop.test", "/admin/users"), "503", "{annotations}");
        // The rest of the configuration keeps working.
        assert_eq!(go(t, "shop.test", "/cart"), "web /cart", "{annotations}");
        let warning = compiled
            .warnings
            .iter()
            .find(|w| w.object == "shop/admin" && w.field.starts_with("metadata.annotations."))
            .map(|w| w.to_string())
            .unwrap_or_default();
        assert!(
            warning.contains("answers 503 (fail closed)"),
            "{annotations}: {warning}"
        );
        let route = t.routes().iter().find(|r| r.path == "/admin").unwrap();
        assert!(route.unenforced.contains(&key), "{key}");
        assert!(t
            .routes()
            .iter()
            .filter(|r| r.ingress == "shop/public")
            .all(|r| r.unenforced.is_empty()));
    }
    // The denied Ingress's default backend is denied too.
    let t = load_table(
        vec![admin(json!({"nginx.ingress.kubernetes.io/auth-type": "basic"}))],
        "kubernetes",
    );
    assert_eq!(go(&t, "elsewhere.test", "/"), "503");
    // Behaviour-only annotations and harmless snippets stay warnings.
    for harmless in [
        json!({"nginx.ingress.kubernetes.io/proxy-read-timeout": "30"}),
        json!({"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers \"X-Frame-Options: DENY\";"}),
        json!({"nginx.ingress.kubernetes.io/enable-cors": "true"}),
    ] {
        let t = load_table(vec![admin(harmless.clone())], "ingress-nginx");
        assert_eq!(go(&t, "shop.test", "/admin"), "admin /admin", "{harmless}");
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn rewrite_captures_cannot_leave_the_target() {
    let img = single_host(
        "cdn",
        "img",
        json!({"nginx.ingress.kubernetes.io/use-regex": "true",
               "nginx.ingress.kubernetes.io/rewrite-target": "/cdn/images/$1"}),
        "cdn.test",
        vec![path("/img(.*)", "ImplementationSpecific", "cdn")],
    );
    let t = load_table(vec![img], "ingress-nginx");
    assert_eq!(go(&t, "cdn.test", "/img../secret"), "400");
    // Dot segments of the request itself are resolved before matching, as Envoy does.
    assert_eq!(go(&t, "cdn.test", "/img/./x/../y"), "cdn /cdn/images/y");
    assert_eq!(
        go(&t, "cdn.test", "/img/a/b.png?x=1"),
        "cdn /cdn/images/a/b.png?x=1"
    );
    assert_eq!(go(&t, "cdn.test", "/img..png"), "cdn /cdn/images/..png");
}

#[wasm_bindgen_test(unsupported = test)]
fn cluster_names_cannot_collide() {
    let a = single_host(
        "a-b",
        "one",
        json!({}),
        "one.test",
        vec![path("/", "Prefix", "c")],
    );
    let b = single_host(
        "a",
        "two",
        json!({}),
        "two.test",
        vec![path("/", "Prefix", "b-c")],
    );
    let cfg = |template: &str| {
        json!({"ingresses": {"kind": "List", "items": [a.clone(), b.clone()]},
               "settings": {"clusterTemplate": template}})
    };
    let errors = load(cfg("{namespace}-{service}-{port}").to_string().as_bytes()).unwrap_err();
    let message = errors
        .iter()
        .find(|d| d.is_error())
        .map(|d| d.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("gets the cluster name \"a-b-c-80\" of service"),
        "{message}"
    );
    assert!(
        message.contains("service a/b-c port 80") && message.contains("service a-b/c port 80"),
        "{message}"
    );
    assert!(message.contains("settings.clusterTemplate"), "{message}");
    let errors = load(cfg("{service}:{port}").to_string().as_bytes()).unwrap_err();
    assert!(
        errors[0].to_string().starts_with("settings: clusterTemplate: "),
        "{errors:?}"
    );
    assert!(load(cfg("{namespace}/{service}:{port}").to_string().as_bytes()).is_ok());
}

#[wasm_bindgen_test(unsupported = test)]
fn tls_hosts_load_without_warnings_and_malformed_tls_is_refused() {
    // The filter cannot know whether a listener terminates TLS (`render envoy` warns when none does): it
    // loads spec.tls as the hosts ssl-redirect protects.
    let mut shop = public();
    shop["spec"]["tls"] = json!([{"hosts": ["shop.test", "*.shop.test"], "secretName": "shop-tls"}]);
    let compiled = load(json!({"kind": "List", "items": [shop]}).to_string().as_bytes()).unwrap();
    assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
    assert!(compiled.table.tls().covers("shop.test") && compiled.table.tls().covers("a.shop.test"));
    let mut bad = public();
    bad["spec"]["tls"] = json!([{"hosts": "shop.test"}]);
    let errors = load(json!({"kind": "List", "items": [bad]}).to_string().as_bytes()).unwrap_err();
    assert!(
        errors[0]
            .to_string()
            .starts_with("shop/public: spec.tls[0].hosts: must be a list"),
        "{errors:?}"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn perl_only_regex_features_are_refused_with_the_field_named() {
    let refused = |p: &str| {
        let ing = single_host(
            "ns",
            "re",
            json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
            "re.test",
            vec![path(p, "ImplementationSpecific", "svc")],
        );
        load(json!({"kind": "List", "items": [ing]}).to_string().as_bytes())
            .unwrap_err()
            .iter()
            .find(|d| d.is_error())
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    assert!(refused("/a(?<=b)").contains("ns/re: spec.rules[0].http.paths[0].path: \"/a(?<=b)\" look-around"));
    assert!(
        refused("/(a)\\1").contains("ns/re: spec.rules[0].http.paths[0].path: \"/(a)\\\\1\" backreferences")
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn control_characters_in_the_query_or_host_are_refused() {
    // Found by the decide fuzz target: an HTTPS redirect copied a NUL of the query into `Location`.
    let tls = ingress(
        "ns",
        "tls",
        "2024-01-01T00:00:00Z",
        json!({}),
        json!([{"host": "example.com", "http": {"paths": [path("/", "Prefix", "web")]}}]),
    );
    let mut tls = tls;
    tls["spec"]["tls"] = json!([{"hosts": ["example.com"], "secretName": "s"}]);
    let t = load_table(vec![tls], "ingress-nginx");
    assert!(
        go(&t, "example.com", "/foo?a=b").starts_with("308 "),
        "{}",
        go(&t, "example.com", "/foo?a=b")
    );
    for (host, p) in [
        ("example.com", "/foo?\0\0?"),
        ("example.com", "/foo?a=\r\nSet-Cookie:x"),
        ("example.com", "/foo?\x7f"),
        ("example.com\0", "/foo"),
        ("example.com\n", "/foo"),
    ] {
        assert_eq!(go(&t, host, p), "400", "{host:?} {p:?}");
    }
}
