//! Decision tests of the configuration's Services: named ports resolve to numbers, a backend whose
//! Service (or port) is missing is a warning and a 503 while the other paths are served. They run
//! natively and on wasm32-unknown-unknown under Node.

use crate::config::load;
use crate::decide::{Decision, Reason, Request, RouteTable};
use crate::tests::decide::single_host;
use serde_json::{json, Value};
use wasm_bindgen_test::wasm_bindgen_test;

fn service(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn named(p: &str, svc: &str, port: &str) -> Value {
    json!({"path": p, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"name": port}}}})
}

fn numbered(p: &str, svc: &str, port: u16) -> Value {
    json!({"path": p, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": port}}}})
}

/// The shop Ingress: /web by port name, /api by number, /gone to a Service that does not exist.
fn shop() -> Value {
    single_host(
        "shop",
        "front",
        json!({}),
        "shop.example",
        vec![
            named("/web", "web", "http"),
            numbered("/api", "api", 8080),
            numbered("/gone", "gone", 80),
            named("/admin", "web", "admin"),
        ],
    )
}

fn load_with(items: Vec<Value>, services: Option<Value>) -> (RouteTable, Vec<String>) {
    let mut cfg = json!({"ingresses": {"kind": "List", "items": items}});
    if let Some(services) = services {
        cfg["services"] = services;
    }
    match load(cfg.to_string().as_bytes()) {
        Ok(c) => (c.table, c.warnings.iter().map(ToString::to_string).collect()),
        Err(d) => panic!("config refused: {d:?}"),
    }
}

/// The cluster a request is forwarded to, or the status and reason of the filter's own answer.
fn outcome(t: &RouteTable, p: &str) -> String {
    match t.decide(&Request {
        scheme: "http",
        authority: "shop.example",
        path: p,
    }) {
        Decision::Forward(f) => f.cluster.to_string(),
        Decision::Reject { status, trace } => format!("{status} {:?}", trace.reason),
        other => format!("{other:?}"),
    }
}

fn shop_services() -> Value {
    json!([
        service(
            "shop",
            "web",
            json!({"ports": [{"name": "http", "port": 8000}, {"name": "metrics", "port": 9100}]})
        ),
        service("shop", "api", json!({"ports": [{"port": 8080}]})),
    ])
}

#[wasm_bindgen_test(unsupported = test)]
fn named_ports_become_the_services_numbers_in_cluster_names() {
    let (t, warnings) = load_with(vec![shop()], Some(shop_services()));
    assert_eq!(outcome(&t, "/web/x"), "shop/web:8000");
    assert_eq!(outcome(&t, "/api"), "shop/api:8080");
    assert!(
        t.backends()
            .iter()
            .any(|b| b.cluster == "shop/web:8000" && b.port == "8000" && b.written_port() == "http"),
        "ingress-nginx's upstream name keeps the port name: {:?}",
        t.backends()
    );
    assert!(
        warnings.contains(
            &"shop/front: spec.rules[0].http.paths[3].backend.service.port.name: service shop/web has no \
              port named \"admin\": its requests answer 503"
                .to_string()
        ),
        "{warnings:#?}"
    );
    assert_eq!(outcome(&t, "/admin"), "503 BackendUnavailable");
}

#[wasm_bindgen_test(unsupported = test)]
fn a_missing_service_answers_503_and_the_other_paths_are_served() {
    let (t, warnings) = load_with(vec![shop()], Some(shop_services()));
    assert_eq!(outcome(&t, "/gone/page"), "503 BackendUnavailable");
    assert_eq!(outcome(&t, "/api/v1"), "shop/api:8080");
    assert!(
        warnings.contains(
            &"shop/front: spec.rules[0].http.paths[2].backend.service.name: service shop/gone is not among \
              the Services of the configuration: its requests answer 503"
                .to_string()
        ),
        "{warnings:#?}"
    );
    assert!(t.backends().iter().any(|b| b.service == "gone" && b.unavailable));
}

#[wasm_bindgen_test(unsupported = test)]
fn without_services_backends_are_taken_as_written() {
    let (t, warnings) = load_with(vec![shop()], None);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(outcome(&t, "/web"), "shop/web:http");
    assert_eq!(outcome(&t, "/gone"), "shop/gone:80");
}

#[wasm_bindgen_test(unsupported = test)]
fn external_name_services_need_no_ports_and_a_numbered_port_outside_the_service_is_503() {
    let ing = single_host(
        "nginx",
        "chatforyou-io-ingress",
        json!({}),
        "myproject.project.io",
        vec![
            numbered("/chat", "chatforyou-io-svc", 8443),
            numbered("/api", "api", 81),
        ],
    );
    let services = json!([
        service(
            "nginx",
            "chatforyou-io-svc",
            json!({"type": "ExternalName", "externalName": "chatforyou-io-service.chatforyou-io.svc.cluster.local"})
        ),
        service("nginx", "api", json!({"ports": [{"name": "http", "port": 80}]})),
    ]);
    let (t, warnings) = load_with(vec![ing], Some(services));
    let decide = |p: &str| match t.decide(&Request {
        scheme: "http",
        authority: "myproject.project.io",
        path: p,
    }) {
        Decision::Forward(f) => f.cluster.to_string(),
        Decision::Reject { status, .. } => status.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(decide("/chat"), "nginx/chatforyou-io-svc:8443");
    assert_eq!(decide("/api"), "503");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("port.number: service nginx/api has no port 81"),
        "{warnings:#?}"
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn a_canary_to_a_missing_service_answers_503_when_chosen() {
    let primary = single_host(
        "shop",
        "main",
        json!({}),
        "shop.example",
        vec![numbered("/api", "api", 8080)],
    );
    let canary = single_host(
        "shop",
        "canary",
        json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "100"}),
        "shop.example",
        vec![numbered("/api", "api-next", 8080)],
    );
    let (t, warnings) = load_with(vec![primary, canary], Some(shop_services()));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("shop/canary: spec.rules[0].http.paths[0].backend.service.name")),
        "{warnings:#?}"
    );
    assert_eq!(outcome(&t, "/api"), "503 BackendUnavailable");
}

#[wasm_bindgen_test(unsupported = test)]
fn a_bad_service_is_refused_by_the_loader() {
    let cfg =
        json!({"ingresses": [shop()], "services": [service("shop", "web", json!({"type": "ExternalName"}))]});
    let Err(problems) = load(cfg.to_string().as_bytes()) else {
        panic!("a Service of type ExternalName without externalName was accepted");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.to_string().starts_with("Service shop/web: spec.externalName:")),
        "{problems:?}"
    );
    let _ = Reason::BackendUnavailable;
}
