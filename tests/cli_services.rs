//! The `ingress-wasm` command line with Services and EndpointSlices in the input
//! (`kubectl get ingress,service,endpointslice -A -o json`): `check` and `explain` judge named ports and
//! missing Services as the filter does, `render envoy` turns ExternalName Services into DNS clusters,
//! ClientIP affinity into source-IP hashing and EndpointSlices into endpoints; each rendered config is
//! validated with `envoy --mode validate` (Envoy and the built module are found as the end-to-end tests
//! find them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::bootstrap::{cluster, cluster_names};
use support::cli::Output;

const SERVICES: &str = "k8s/examples/services.json";
const EXTERNAL_NAME: &str = "k8s/examples/external-name.yaml";

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    support::cli::run(args, stdin.unwrap_or("").as_bytes())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ingress-wasm-cli-services-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders `files` (plus `extra` arguments) into a scratch directory, validates the result with Envoy
/// and returns it.
fn render_validated(name: &str, files: &[&str], extra: &[&str]) -> (Value, String) {
    let dir = scratch(name);
    let out = dir.display().to_string();
    let wasm = support::envoy::wasm_module().display().to_string();
    let mut args = vec!["render", "envoy"];
    args.extend_from_slice(files);
    args.extend_from_slice(&["--wasm", &wasm, "--listen", "127.0.0.1:10000", "-o", &out]);
    args.extend_from_slice(extra);
    let result = run(&args, None);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let config = dir.join("envoy.yaml");
    let validation = support::envoy::validate(&config);
    assert!(
        validation.success,
        "envoy --mode validate failed:\n{}",
        validation.output
    );
    let yaml = std::fs::read_to_string(&config).unwrap();
    (serde_yaml_ng::from_str(&yaml).unwrap(), result.stderr)
}

fn addresses(cluster: &Value) -> Vec<String> {
    let endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"].as_array();
    endpoints
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|e| {
            let a = &e["endpoint"]["address"]["socket_address"];
            format!("{}:{}", a["address"].as_str().unwrap(), a["port_value"])
        })
        .collect()
}

#[test]
fn check_warns_about_a_missing_service_and_resolves_named_ports() {
    let out = run(&["check", SERVICES], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr.trim(),
        "warning: shop/shop: spec.rules[0].http.paths[2].backend.service.name: service shop/legacy is not among \
         the Services of the configuration: its requests answer 503"
    );
    assert_eq!(
        out.stdout.trim(),
        "1 Ingress, 4 routes, 0 denied routes, 0 errors, 1 warning"
    );
    let out = run(
        &["explain", SERVICES, "--url", "http://shop.example.com/", "--json"],
        None,
    );
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        json["cluster"], "shop/web:80",
        "the named port http is Service port 80: {json}"
    );
    assert_eq!(
        json["route"]["backend"],
        serde_json::json!({"namespace": "shop", "service": "web", "port": "80", "portName": "http"})
    );
    let out = run(
        &[
            "explain",
            SERVICES,
            "--url",
            "http://shop.example.com/legacy/x",
            "--json",
        ],
        None,
    );
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (&json["decision"], &json["status"], &json["reason"]),
        (
            &Value::from("reject"),
            &Value::from(503),
            &Value::from("backend-unavailable")
        ),
        "{json}"
    );
}

#[test]
fn check_accepts_seed_004s_external_name_example() {
    let out = run(&["check", EXTERNAL_NAME], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("1 Ingress, 1 route, 0 denied routes, 0 errors"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains("skipped"),
        "the Services are read, not skipped: {}",
        out.stderr
    );
}

#[test]
fn a_malformed_service_is_an_error_naming_it_and_a_named_port_it_lacks_a_warning() {
    let input = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: front, namespace: shop}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: ext, port: {number: 80}}}}
      - {path: /web, pathType: Prefix, backend: {service: {name: web, port: {name: grpc}}}}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
";
    let out = run(&["check", "-"], Some(input));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "error: Service shop/ext: spec.externalName: a Service of type ExternalName needs a DNS name (lower case) here"
        ),
        "{}",
        out.stderr
    );
    let fixed = input.replace(
        "{type: ExternalName}",
        "{type: ExternalName, externalName: ext.example.org}",
    );
    let out = run(&["check", "-"], Some(&fixed));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "warning: shop/front: spec.rules[0].http.paths[1].backend.service.port.name: service shop/web has no port \
             named \"grpc\": its requests answer 503"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn render_envoy_with_services_and_endpoint_slices() {
    let (root, _) = render_validated("slices", &[SERVICES], &[]);
    assert_eq!(
        cluster_names(&root),
        ["shop/cart:8080", "shop/docs:443", "shop/web:80"],
        "no cluster for the missing Service"
    );
    let web = cluster(&root, "shop/web:80");
    assert_eq!(
        addresses(web),
        ["10.244.1.10:8000", "10.244.2.11:8000"],
        "ready endpoints on the slice's port named like the Service's"
    );
    assert_eq!(web["type"], "STATIC");
    let cart = cluster(&root, "shop/cart:8080");
    assert_eq!(cart["lb_policy"], "RING_HASH");
    assert_eq!(addresses(cart), ["10.244.1.20:8080", "10.244.2.21:8080"]);
    let docs = cluster(&root, "shop/docs:443");
    assert_eq!(
        (&docs["type"], addresses(docs)),
        (
            &Value::from("STRICT_DNS"),
            vec!["docs.example.org:443".to_string()]
        )
    );
    let route = &root["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
    assert_eq!(
        route["hash_policy"],
        serde_json::json!([{"connection_properties": {"source_ip": true}}])
    );
    // The filter gets the trimmed Services, nothing of the slices.
    let wasm = root["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"][0]["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap();
    let plugin: Value = serde_json::from_str(wasm).unwrap();
    assert_eq!(
        plugin["services"].as_array().unwrap().len(),
        3,
        "{}",
        plugin["services"]
    );
    assert!(
        !wasm.contains("EndpointSlice") && !wasm.contains("clusterIP") && !wasm.contains("uid"),
        "{wasm}"
    );

    // --endpoints wins over the slices for the backends it names.
    let dir = scratch("endpoints-file");
    let file = dir.join("endpoints.json");
    std::fs::write(&file, r#"{"shop/web:80": ["10.1.2.3:8080"]}"#).unwrap();
    let file = file.display().to_string();
    let (root, _) = render_validated("slices-overridden", &[SERVICES], &["--endpoints", &file]);
    assert_eq!(addresses(cluster(&root, "shop/web:80")), ["10.1.2.3:8080"]);
    assert_eq!(addresses(cluster(&root, "shop/cart:8080")).len(), 2);
}

#[test]
fn render_envoy_makes_seed_004s_external_name_a_dns_cluster() {
    let (root, _) = render_validated("external-name", &[EXTERNAL_NAME], &[]);
    let c = cluster(&root, "nginx/chatforyou-io-svc:8443");
    assert_eq!(c["type"], "STRICT_DNS");
    assert_eq!(
        addresses(c),
        ["chatforyou-io-service.chatforyou-io.svc.cluster.local:8443"]
    );
}
