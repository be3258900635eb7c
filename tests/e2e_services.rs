//! End to end: Services and EndpointSlices in the input, through the CLI (`ingress-wasm render envoy` on a
//! `kubectl get ingress,service,endpointslice -o json` file) into a real Envoy. Named ports reach the
//! upstream of the Service's port, the EndpointSlices' ready endpoints are the clusters' endpoints, seed
//! 004's cross-namespace ExternalName Service routes by DNS (`*.localhost` resolves to 127.0.0.1), a backend
//! whose Service is missing answers the filter's 503 while the other paths are served, and
//! `sessionAffinity: ClientIP` keeps a client on one endpoint of a multi-endpoint Service.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use support::bootstrap::{cluster, cluster_names};
use support::echo_server::EchoServer;
use support::envoy::{wasm_module, Envoy, TempDir};
use support::http::{self, Response};
use support::scenario::{is_filter_reply, TEST_CLUSTER_DOMAIN};

/// The cluster domain of the rendered Services: `.invalid` never resolves (RFC 6761), so a request can
/// only reach an upstream through what the Services and EndpointSlices say, never through a fallback to
/// the Service's own DNS name.
const UNRESOLVABLE_DOMAIN: &str = "cluster.invalid";

/// Renders `input` (written as `cluster.json`) with the CLI and starts Envoy on the result; also returns
/// the rendered config and what the CLI printed on stderr.
fn render_and_start(label: &str, input: &Value) -> (Envoy, Value, String) {
    let dir = TempDir::new(&format!("{label}-input"));
    let file = dir.path.join("cluster.json");
    std::fs::write(&file, serde_json::to_string_pretty(input).unwrap()).unwrap();
    let out = dir.path.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_ingress-wasm"))
        .args(["render", "envoy"])
        .arg(&file)
        .arg("--wasm")
        .arg(wasm_module())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--cluster-domain", UNRESOLVABLE_DOMAIN])
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{label}: render envoy failed:\n{stderr}");
    let yaml = std::fs::read_to_string(out.join("envoy.yaml")).unwrap();
    let rendered: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    (Envoy::start(label, &yaml), rendered, stderr)
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

fn service(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// An EndpointSlice of Service `ns/service` with one port (`name`, the servers' port, which they share) and one ready
/// endpoint per server, plus one endpoint that is not ready (which must never be used).
fn slice(ns: &str, service: &str, port_name: &str, servers: &[&EchoServer]) -> Value {
    let port = servers[0].addr.port();
    let mut endpoints: Vec<Value> = servers
        .iter()
        .map(|s| json!({"addresses": [s.addr.ip().to_string()], "conditions": {"ready": true}}))
        .collect();
    endpoints.push(json!({"addresses": ["127.0.0.9"], "conditions": {"ready": false}}));
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-x1"), "namespace": ns,
            "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": endpoints})
}

fn backend_path(path: &str, service: &str, port: Value) -> Value {
    json!({"path": path, "pathType": "Prefix", "backend": {"service": {"name": service, "port": port}}})
}

fn ingress(ns: &str, name: &str, host: &str, paths: Vec<Value>) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": paths}}]}})
}

/// The echo upstream's `service` and `endpoint`, or a summary of what answered instead.
fn answered_by(r: &Response) -> (String, String) {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    match (v["service"].as_str(), v["endpoint"].as_str()) {
        (Some(service), Some(endpoint)) if r.status == 200 => (service.to_string(), endpoint.to_string()),
        _ => panic!("no echo upstream answered: {}", r.summary()),
    }
}

#[test]
fn named_ports_and_endpoint_slices_reach_the_right_upstream_and_a_missing_service_answers_503() {
    // Service shop/web has two ports; each has its own pods (echo servers), given by EndpointSlices whose
    // ports carry the Service ports' names. Nothing else knows these addresses: only the slices do.
    let web = EchoServer::start("web");
    let metrics = EchoServer::start("web-metrics");
    let api = EchoServer::start("api");
    let input = list(vec![
        ingress(
            "shop",
            "front",
            "shop.example",
            vec![
                backend_path("/web", "web", json!({"name": "http"})),
                backend_path("/metrics", "web", json!({"name": "metrics"})),
                backend_path("/api", "api", json!({"number": 8080})),
                backend_path("/gone", "gone", json!({"number": 80})),
            ],
        ),
        service(
            "shop",
            "web",
            json!({"ports": [{"name": "http", "port": 80, "targetPort": "http"},
                {"name": "metrics", "port": 9100, "targetPort": 9100}]}),
        ),
        service("shop", "api", json!({"ports": [{"port": 8080}]})),
        slice("shop", "web", "http", &[&web]),
        slice("shop", "web", "metrics", &[&metrics]),
        slice("shop", "api", "", &[&api]),
    ]);
    let (envoy, rendered, stderr) = render_and_start("services-named-ports", &input);
    assert!(
        stderr.contains(
            "warning: shop/front: spec.rules[0].http.paths[3].backend.service.name: service shop/gone is not among \
             the Services of the configuration: its requests answer 503"
        ),
        "{stderr}"
    );
    assert_eq!(
        cluster_names(&rendered),
        ["shop/api:8080", "shop/web:80", "shop/web:9100"],
        "clusters named by port number"
    );

    let r = http::get(envoy.addr, "shop.example", "/web/index.html");
    assert_eq!(answered_by(&r), ("web".to_string(), web.addr.to_string()));
    let r = http::get(envoy.addr, "shop.example", "/metrics");
    assert_eq!(
        answered_by(&r),
        ("web-metrics".to_string(), metrics.addr.to_string())
    );
    let r = http::get(envoy.addr, "shop.example", "/api/v1");
    assert_eq!(answered_by(&r), ("api".to_string(), api.addr.to_string()));
    for _ in 0..3 {
        let r = http::get(envoy.addr, "shop.example", "/gone/page");
        assert!(is_filter_reply(&r, 503), "the missing Service: {}", r.summary());
    }
    let r = http::get(envoy.addr, "shop.example", "/api/after");
    assert_eq!(r.status, 200, "the other paths still work: {}", r.summary());
}

#[test]
fn seed_004_external_name_service_routes_across_namespaces() {
    // k8s/examples/external-name.yaml as it is, but with the test's cluster domain (`*.localhost`
    // resolves to 127.0.0.1) and the echo server's port in place of 8443.
    let target = EchoServer::start("chatforyou-io-service");
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/examples/external-name.yaml"),
    )
    .unwrap()
    .replace("svc.cluster.local", TEST_CLUSTER_DOMAIN)
    .replace("8443", &target.addr.port().to_string());
    let items: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&manifest)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .collect();
    let (envoy, rendered, _) = render_and_start("services-external-name", &list(items));
    let cluster = &rendered["static_resources"]["clusters"][0];
    assert_eq!(cluster["type"], "STRICT_DNS");
    assert_eq!(
        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"]["address"],
        "chatforyou-io-service.chatforyou-io.localhost"
    );
    let r = http::get(envoy.addr, "myproject.project.io", "/chatforyouio/user/create");
    let echo = r
        .echo()
        .unwrap_or_else(|| panic!("no upstream answered: {}", r.summary()));
    assert_eq!(
        (echo.service.as_str(), echo.path.as_str()),
        ("chatforyou-io-service", "/user/create")
    );
}

#[test]
fn client_ip_affinity_keeps_a_client_on_one_endpoint() {
    // Two Services with three endpoints each; only `sticky` asks for ClientIP affinity. The same client
    // (127.0.0.1) must always reach one endpoint of `sticky`, while `spread` balances over its endpoints,
    // which shows that the three endpoints are there and healthy.
    let sticky: Vec<EchoServer> = (0..3).map(|_| EchoServer::start("sticky")).collect();
    let spread: Vec<EchoServer> = (0..3).map(|_| EchoServer::start("spread")).collect();
    // Each echo server has its own port, so each gets its own slice (one port per slice).
    let mut items = vec![
        ingress(
            "shop",
            "front",
            "shop.example",
            vec![
                backend_path("/sticky", "sticky", json!({"number": 80})),
                backend_path("/spread", "spread", json!({"number": 80})),
            ],
        ),
        service(
            "shop",
            "sticky",
            json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}),
        ),
        service("shop", "spread", json!({"ports": [{"port": 80}]})),
    ];
    for s in &sticky {
        items.push(slice("shop", "sticky", "", &[s]));
    }
    for s in &spread {
        items.push(slice("shop", "spread", "", &[s]));
    }
    // Distinct slice names, as the API server requires.
    for (i, item) in items.iter_mut().enumerate().skip(3) {
        item["metadata"]["name"] = json!(format!("slice-{i}"));
    }
    let (envoy, rendered, _) = render_and_start("services-client-ip", &list(items));
    let sticky_cluster = cluster(&rendered, "shop/sticky:80");
    assert_eq!(
        sticky_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let endpoints = |path: &str| -> Vec<String> {
        (0..12)
            .map(|_| answered_by(&http::get(envoy.addr, "shop.example", path)).1)
            .collect()
    };
    let mut seen = endpoints("/sticky");
    seen.dedup();
    assert_eq!(seen.len(), 1, "one client, one endpoint: {seen:?}");
    let mut seen = endpoints("/spread");
    seen.sort();
    seen.dedup();
    assert!(
        seen.len() >= 2,
        "without affinity the requests are balanced: {seen:?}"
    );
}
