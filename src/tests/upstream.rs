//! Decision tests of the upstream annotations: which Envoy settings each backend and location gets, the
//! location header and original-URI state the filter sets, and the warnings for what one Envoy cluster
//! per backend cannot express. They run natively and on wasm32-unknown-unknown under Node.

use crate::config::load;
use crate::decide::upstream::{
    ClusterSettings, ErrorPages, LocationProfile, LOCATION_HEADER, ORIGINAL_URI_PROPERTY,
};
use crate::decide::{Decision, Forward, Request, RouteTable};
use crate::model::annotations::upstream::BackendProtocol;
use crate::tests::context::header;
use crate::tests::decide::{backend, ingress, path, single_host};
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

const P: &str = "nginx.ingress.kubernetes.io/";

fn annotations(pairs: &[(&str, &str)]) -> Value {
    let map: serde_json::Map<String, Value> =
        pairs.iter().map(|(k, v)| (format!("{P}{k}"), json!(v))).collect();
    Value::Object(map)
}

/// The table and the warnings, as text.
fn load_with_warnings(items: Vec<Value>) -> (RouteTable, Vec<String>) {
    load_in(items, "ingress-nginx")
}

fn load_in(items: Vec<Value>, semantics: &str) -> (RouteTable, Vec<String>) {
    let cfg = json!({"ingresses": {"kind": "List", "items": items}, "settings": {"semantics": semantics}});
    match load(cfg.to_string().as_bytes()) {
        Ok(c) => (c.table, c.warnings.iter().map(ToString::to_string).collect()),
        Err(d) => panic!("config refused: {d:?}"),
    }
}

fn forward<'t>(t: &'t RouteTable, host: &str, p: &str) -> Forward<'t> {
    match t.decide(&Request {
        scheme: "http",
        authority: host,
        path: p,
    }) {
        Decision::Forward(f) => f,
        other => panic!("{host}{p}: {other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn cluster_settings_follow_the_annotations() {
    let (t, warnings) = load_with_warnings(vec![
        single_host(
            "ns",
            "tls",
            annotations(&[("backend-protocol", "HTTPS"), ("proxy-connect-timeout", "12")]),
            "tls.test",
            vec![path("/", "Prefix", "secure")],
        ),
        single_host(
            "ns",
            "grpc",
            annotations(&[("backend-protocol", "grpc"), ("service-upstream", "true")]),
            "grpc.test",
            vec![path("/", "Prefix", "rpc")],
        ),
        single_host(
            "ns",
            "plain",
            json!({}),
            "plain.test",
            vec![path("/", "Prefix", "web")],
        ),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        t.cluster_settings("ns/secure:80"),
        Some(&ClusterSettings {
            protocol: BackendProtocol::Https,
            service_upstream: false,
            connect_timeout: 12,
        })
    );
    assert_eq!(
        t.cluster_settings("ns/rpc:80"),
        Some(&ClusterSettings {
            protocol: BackendProtocol::Grpc,
            service_upstream: true,
            connect_timeout: 5,
        })
    );
    assert_eq!(t.cluster_settings("ns/web:80"), None);
    // Cluster settings need nothing per request.
    assert!(forward(&t, "tls.test", "/").headers.is_empty());
    assert!(t.location_profiles().is_empty());
}

#[wasm_bindgen_test(unsupported = test)]
fn conflicting_cluster_settings_keep_the_oldest_and_name_both_ingresses() {
    let old = ingress(
        "ns",
        "old",
        "2024-01-01T00:00:00Z",
        annotations(&[("backend-protocol", "HTTPS"), ("proxy-connect-timeout", "10")]),
        json!([{"host": "a.test", "http": {"paths": [path("/", "Prefix", "shared")]}}]),
    );
    let new = ingress(
        "ns",
        "new",
        "2024-02-01T00:00:00Z",
        annotations(&[("backend-protocol", "GRPCS"), ("proxy-connect-timeout", "10")]),
        json!([{"host": "b.test", "http": {"paths": [path("/", "Prefix", "shared")]}}]),
    );
    // An Ingress without the annotations asks for nothing and is not a conflict.
    let silent = single_host(
        "ns",
        "silent",
        json!({}),
        "c.test",
        vec![path("/", "Prefix", "shared")],
    );
    let (t, warnings) = load_with_warnings(vec![new, silent, old]);
    assert_eq!(
        warnings,
        vec![
            "ns/new: metadata.annotations.nginx.ingress.kubernetes.io/backend-protocol: service ns/shared port 80 \
             already has backend-protocol HTTPS from the older Ingress ns/old; this one's GRPCS is ignored (Envoy \
             has one cluster per backend)"
        ]
    );
    let settings = t.cluster_settings("ns/shared:80").unwrap();
    assert_eq!(
        (settings.protocol, settings.connect_timeout),
        (BackendProtocol::Https, 10)
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn timeouts_select_a_profile_route_per_distinct_location_setting() {
    let slow = annotations(&[("proxy-read-timeout", "3600"), ("proxy-send-timeout", "120")]);
    let (t, warnings) = load_with_warnings(vec![
        single_host(
            "ns",
            "slow",
            slow.clone(),
            "slow.test",
            vec![path("/", "Prefix", "web")],
        ),
        single_host(
            "ns",
            "slow-too",
            slow,
            "other.test",
            vec![path("/", "Prefix", "api")],
        ),
        single_host(
            "ns",
            "default-values",
            annotations(&[("proxy-read-timeout", "60"), ("proxy-send-timeout", "60")]),
            "defaults.test",
            vec![path("/", "Prefix", "web")],
        ),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        t.location_profiles(),
        &[LocationProfile {
            read_timeout: 3600,
            send_timeout: 120,
            error_pages: None,
        }]
    );
    for host in ["slow.test", "other.test"] {
        let f = forward(&t, host, "/x");
        assert_eq!(header(&f, LOCATION_HEADER), Some("0"), "{host}");
        assert!(f.properties.is_empty());
    }
    // ingress-nginx's defaults need no profile.
    assert_eq!(header(&forward(&t, "defaults.test", "/"), LOCATION_HEADER), None);
}

#[wasm_bindgen_test(unsupported = test)]
fn error_pages_come_from_the_default_backend_with_what_ingress_nginx_tells_it() {
    let (t, warnings) = load_with_warnings(vec![
        single_host(
            "shop",
            "front",
            annotations(&[("custom-http-errors", "404, 503"), ("default-backend", "errors")]),
            "shop.test",
            vec![path("/app", "Prefix", "web")],
        ),
        // The error service's port comes from a route to it.
        single_host(
            "shop",
            "pages",
            json!({}),
            "pages.test",
            vec![json!({
            "path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "errors", "port": {"number": 8080}}}})],
        ),
    ]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let profile = &t.location_profiles()[0];
    assert_eq!(
        profile.error_pages,
        Some(ErrorPages {
            backend: backend("shop", "errors", "8080"),
            codes: vec![404, 503],
            when_unreachable: true,
            namespace: "shop".into(),
            ingress_name: "front".into(),
            service: "web".into(),
            service_port: "80".into(),
        })
    );
    let f = forward(&t, "shop.test", "/app/cart?id=7");
    assert_eq!(header(&f, LOCATION_HEADER), Some("0"));
    assert_eq!(
        f.properties,
        vec![(ORIGINAL_URI_PROPERTY, "/app/cart?id=7".to_string())]
    );
    assert!(t.backends().contains(&backend("shop", "errors", "8080")));
}

#[wasm_bindgen_test(unsupported = test)]
fn a_default_backend_alone_serves_unreachable_backends_without_the_original_uri() {
    let (t, warnings) = load_with_warnings(vec![single_host(
        "ns",
        "maint",
        annotations(&[("default-backend", "maintenance")]),
        "m.test",
        vec![path("/", "Prefix", "app")],
    )]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "ns/maint: metadata.annotations.nginx.ingress.kubernetes.io/default-backend: no Ingress routes to \
             service ns/maintenance"
        ) && warnings[0].ends_with("port 80 is assumed"),
        "{warnings:?}"
    );
    let pages = t.location_profiles()[0].error_pages.clone().unwrap();
    assert_eq!((pages.codes.len(), pages.when_unreachable), (0, true));
    assert_eq!(pages.backend, backend("ns", "maintenance", "80"));
    let f = forward(&t, "m.test", "/");
    assert_eq!(header(&f, LOCATION_HEADER), Some("0"));
    assert!(f.properties.is_empty());
}

#[wasm_bindgen_test(unsupported = test)]
fn custom_errors_without_a_default_backend_use_the_catch_all_or_are_warned() {
    let codes = annotations(&[("custom-http-errors", "500")]);
    let app = single_host("ns", "app", codes, "app.test", vec![path("/", "Prefix", "app")]);
    let (t, warnings) = load_with_warnings(vec![app.clone()]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("custom-http-errors: has no effect: no default backend"),
        "{warnings:?}"
    );
    assert!(t.location_profiles().is_empty());
    assert_eq!(header(&forward(&t, "app.test", "/"), LOCATION_HEADER), None);

    let catch_all = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "fallback", "namespace": "infra"},
        "spec": {"defaultBackend": {"service": {"name": "pages", "port": {"number": 8080}}}}});
    let (t, warnings) = load_with_warnings(vec![app, catch_all]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let pages = t.location_profiles()[0].error_pages.clone().unwrap();
    assert_eq!(pages.backend, backend("infra", "pages", "8080"));
    assert!(!pages.when_unreachable);
}

#[wasm_bindgen_test(unsupported = test)]
fn a_canary_is_reached_with_its_primarys_protocol_and_location() {
    let primary = single_host(
        "ns",
        "main",
        annotations(&[("backend-protocol", "GRPCS"), ("proxy-read-timeout", "5")]),
        "c.test",
        vec![path("/", "Prefix", "stable")],
    );
    let canary = single_host(
        "ns",
        "canary",
        annotations(&[("canary", "true"), ("canary-by-header", "x-canary")]),
        "c.test",
        vec![path("/", "Prefix", "next")],
    );
    let (t, warnings) = load_with_warnings(vec![primary, canary]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        t.cluster_settings("ns/next:80").map(|s| s.protocol),
        Some(BackendProtocol::Grpcs)
    );
    let f = match t.decide_with(
        &Request {
            scheme: "http",
            authority: "c.test",
            path: "/",
        },
        &mut crate::tests::context::TestContext::new().header("x-canary", b"always"),
    ) {
        Decision::Forward(f) => f,
        other => panic!("{other:?}"),
    };
    assert_eq!(f.cluster, "ns/next:80");
    assert_eq!(header(&f, LOCATION_HEADER), Some("0"));
}

#[wasm_bindgen_test(unsupported = test)]
fn service_upstream_with_session_affinity_is_warned() {
    let (t, warnings) = load_with_warnings(vec![single_host(
        "ns",
        "sticky",
        annotations(&[("service-upstream", "true"), ("affinity", "cookie")]),
        "s.test",
        vec![path("/", "Prefix", "web")],
    )]);
    assert!(t.cluster_settings("ns/web:80").unwrap().service_upstream);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .starts_with("ns/sticky: metadata.annotations.nginx.ingress.kubernetes.io/service-upstream: ")
            && warnings[0].contains("cookie session affinity cannot keep a session on one pod"),
        "{warnings:?}"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn the_catch_all_of_each_profile_serves_custom_errors() {
    // An Ingress with rules and a defaultBackend: the catch-all only in the kubernetes profile.
    let app = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "app", "namespace": "ns",
                     "annotations": annotations(&[("custom-http-errors", "502")])},
        "spec": {"defaultBackend": {"service": {"name": "pages", "port": {"number": 80}}},
                 "rules": [{"host": "app.test", "http": {"paths": [path("/", "Prefix", "app")]}}]}});
    let (t, warnings) = load_in(vec![app.clone()], "kubernetes");
    assert!(warnings.is_empty(), "{warnings:?}");
    let pages = t.location_profiles()[0].error_pages.clone().unwrap();
    assert_eq!(pages.backend, backend("ns", "pages", "80"));
    let (t, warnings) = load_in(vec![app], "ingress-nginx");
    assert!(
        warnings[0].contains("custom-http-errors: has no effect"),
        "{warnings:?}"
    );
    assert!(t.location_profiles().is_empty());
}
