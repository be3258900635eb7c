//! Services and EndpointSlices in the CLI's input (`kubectl get ingress,service,endpointslice -A -o json`).
//!
//! Services go into the plugin configuration (`services`), where the filter's own loader resolves named
//! ports and marks backends whose Service is missing ([`ingress_wasm::model::service`]): `check`, `explain`
//! and the filter judge the same list. Only the Services a backend names are kept, and only the fields
//! routing reads, so the filter's configuration stays small; the list is there (perhaps empty) whenever
//! the input had Services at all, which is what makes a missing one a warning and a 503.
//!
//! EndpointSlices never reach the filter: they become the clusters' endpoints, as `--endpoints` entries
//! keyed `namespace/service:port` (the Service's port number) with the ready endpoints' addresses on
//! the slice's port of the same name.

use ingress_wasm::model::annotations::PREFIX;
use ingress_wasm::Diagnostic;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The Services and EndpointSlices found in the input files.
#[derive(Default)]
pub struct FoundServices {
    /// Whether any Service was given (then the configuration lists Services, possibly none).
    seen: bool,
    /// By `namespace/name`, trimmed to what routing reads.
    by_name: BTreeMap<String, Value>,
    slices: Vec<(Value, String)>,
}

/// Whether a document or List item is a Kubernetes Service.
pub fn is_service(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("Service")
        && value.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Whether a document or List item is an EndpointSlice (`discovery.k8s.io/v1`).
pub fn is_endpoint_slice(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("EndpointSlice")
        && value.get("apiVersion").and_then(Value::as_str) == Some("discovery.k8s.io/v1")
}

fn str_at<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

fn namespace_of(value: &Value) -> &str {
    str_at(value, &["metadata", "namespace"]).unwrap_or("default")
}

impl FoundServices {
    /// Keeps a Service found at `place` (the first of a name counts).
    pub fn add_service(&mut self, service: &Value, place: &str, notes: &mut Vec<Diagnostic>) {
        self.seen = true;
        let name = str_at(service, &["metadata", "name"]).unwrap_or("");
        let key = format!("{}/{name}", namespace_of(service));
        if self.by_name.contains_key(&key) {
            notes.push(Diagnostic::warning(
                place,
                "metadata.name",
                format!("Service {key} is given again; the first counts"),
            ));
            return;
        }
        // Values are copied as they are, so the loader judges their types as the filter will.
        let mut spec = Map::new();
        if let Some(Value::Object(given)) = service.get("spec") {
            for field in ["type", "externalName", "sessionAffinity"] {
                if let Some(v) = given.get(field) {
                    spec.insert(field.into(), v.clone());
                }
            }
            match given.get("ports") {
                Some(Value::Array(ports)) => {
                    let kept: Vec<Value> = ports
                        .iter()
                        .map(|p| {
                            let mut port = Map::new();
                            for field in ["name", "port"] {
                                if let Some(v) = p.get(field) {
                                    port.insert(field.into(), v.clone());
                                }
                            }
                            Value::Object(port)
                        })
                        .collect();
                    spec.insert("ports".into(), Value::Array(kept));
                }
                Some(other) => {
                    spec.insert("ports".into(), other.clone());
                }
                None => {}
            }
        }
        let metadata = service.get("metadata").cloned().unwrap_or(Value::Null);
        let mut kept_metadata = Map::new();
        for field in ["name", "namespace"] {
            if let Some(v) = metadata.get(field) {
                kept_metadata.insert(field.into(), v.clone());
            }
        }
        self.by_name.insert(
            key,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": kept_metadata, "spec": spec}),
        );
    }

    /// Keeps an EndpointSlice found at `place`.
    pub fn add_slice(&mut self, slice: &Value, place: &str) {
        self.slices.push((slice.clone(), place.to_string()));
    }

    /// The configuration's `services`: those the Ingresses' backends name; None when the input had no
    /// Service.
    pub fn referenced(&self, ingresses: &[Value]) -> Option<Value> {
        if !self.seen {
            return None;
        }
        let names = backend_services(ingresses);
        let kept: Vec<Value> = self
            .by_name
            .iter()
            .filter(|(key, _)| names.contains(*key))
            .map(|(_, service)| service.clone())
            .collect();
        Some(Value::Array(kept))
    }

    /// The EndpointSlices' endpoints as `--endpoints` entries; a slice whose Service or port is not in
    /// the input is noted and left out.
    pub fn slice_endpoints(&self, notes: &mut Vec<Diagnostic>) -> BTreeMap<String, Vec<String>> {
        let mut endpoints: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (slice, place) in &self.slices {
            let namespace = namespace_of(slice);
            let slice_name = str_at(slice, &["metadata", "name"]).unwrap_or("");
            let object = format!("EndpointSlice {namespace}/{slice_name}");
            let Some(service) = str_at(slice, &["metadata", "labels", "kubernetes.io/service-name"]) else {
                notes.push(Diagnostic::warning(
                    place,
                    "metadata.labels.kubernetes.io/service-name",
                    format!("{object} names no Service; skipped"),
                ));
                continue;
            };
            let Some(ports) = self
                .by_name
                .get(&format!("{namespace}/{service}"))
                .map(service_ports)
            else {
                notes.push(Diagnostic::warning(
                    place,
                    "metadata.labels.kubernetes.io/service-name",
                    format!(
                        "{object}: Service {namespace}/{service} is not in the input, so its port numbers are \
                         unknown; skipped"
                    ),
                ));
                continue;
            };
            let addresses = ready_addresses(slice);
            let slice_ports = slice
                .get("ports")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for (j, port) in slice_ports.iter().enumerate() {
                let name = port.get("name").and_then(Value::as_str).unwrap_or("");
                let Some(target) = port
                    .get("port")
                    .and_then(Value::as_u64)
                    .filter(|p| (1..=65535).contains(p))
                else {
                    notes.push(Diagnostic::warning(
                        place,
                        format!("ports[{j}].port"),
                        format!("{object}: not a port number; skipped"),
                    ));
                    continue;
                };
                let Some((_, number)) = ports.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                let entry = endpoints
                    .entry(format!("{namespace}/{service}:{number}"))
                    .or_default();
                for address in &addresses {
                    let endpoint = if address.contains(':') {
                        format!("[{address}]:{target}")
                    } else {
                        format!("{address}:{target}")
                    };
                    if !entry.contains(&endpoint) {
                        entry.push(endpoint);
                    }
                }
            }
        }
        endpoints
    }
}

/// A kept Service's ports as (name, number); an unnamed port has the name "".
fn service_ports(service: &Value) -> Vec<(String, u64)> {
    let ports = service.pointer("/spec/ports").and_then(Value::as_array);
    ports
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            Some((name.to_string(), p.get("port")?.as_u64()?))
        })
        .collect()
}

/// The addresses of a slice's ready endpoints (a missing `ready` counts as ready, as the API says).
fn ready_addresses(slice: &Value) -> Vec<String> {
    let endpoints = slice.get("endpoints").and_then(Value::as_array);
    let mut addresses = Vec::new();
    for endpoint in endpoints.map_or(&[][..], Vec::as_slice) {
        if endpoint.pointer("/conditions/ready").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let list = endpoint.get("addresses").and_then(Value::as_array);
        for address in list
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(Value::as_str)
        {
            addresses.push(address.to_string());
        }
    }
    addresses
}

/// `namespace/name` of every Service an Ingress's backends (rules, default backend, the
/// `default-backend` annotation) name.
fn backend_services(ingresses: &[Value]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for ingress in ingresses {
        let namespace = namespace_of(ingress);
        let mut add = |name: Option<&str>| {
            if let Some(name) = name {
                names.insert(format!("{namespace}/{name}"));
            }
        };
        add(str_at(ingress, &["spec", "defaultBackend", "service", "name"]));
        add(str_at(
            ingress,
            &["metadata", "annotations", &format!("{PREFIX}default-backend")],
        ));
        let rules = ingress.pointer("/spec/rules").and_then(Value::as_array);
        for rule in rules.map_or(&[][..], Vec::as_slice) {
            let paths = rule.pointer("/http/paths").and_then(Value::as_array);
            for path in paths.map_or(&[][..], Vec::as_slice) {
                add(str_at(path, &["backend", "service", "name"]));
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn service(ns: &str, name: &str, ports: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"clusterIP": "10.0.0.1", "ports": ports}})
    }

    fn ingress(ns: &str, service: &str) -> Value {
        json!({"kind": "Ingress", "metadata": {"name": "i", "namespace": ns},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"name": "http"}}}}]}}]}})
    }

    #[test]
    fn only_referenced_services_and_routing_fields_are_kept() {
        let mut found = FoundServices::default();
        let mut notes = Vec::new();
        found.add_service(
            &service(
                "shop",
                "web",
                json!([{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]),
            ),
            "f",
            &mut notes,
        );
        found.add_service(&service("shop", "unused", json!([])), "f", &mut notes);
        let kept = found.referenced(&[ingress("shop", "web")]).unwrap();
        assert_eq!(
            kept,
            json!([{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"ports": [{"name": "http", "port": 80}]}}])
        );
        assert_eq!(FoundServices::default().referenced(&[]), None);
        assert_eq!(found.referenced(&[]), Some(json!([])));
    }

    #[test]
    fn slices_give_ready_endpoints_on_the_service_port_of_the_same_name() {
        let mut found = FoundServices::default();
        let mut notes = Vec::new();
        found.add_service(
            &service(
                "shop",
                "web",
                json!([{"name": "http", "port": 80}, {"name": "admin", "port": 9000}]),
            ),
            "f",
            &mut notes,
        );
        found.add_slice(
            &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
                "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9999}],
                "endpoints": [
                    {"addresses": ["10.1.0.1"], "conditions": {"ready": true}},
                    {"addresses": ["10.1.0.2"], "conditions": {"ready": false}},
                    {"addresses": ["fd00::3"]}
                ]}),
            "f",
        );
        found.add_slice(
            &json!({"metadata": {"name": "x", "namespace": "shop", "labels": {"kubernetes.io/service-name": "gone"}}}),
            "g",
        );
        let endpoints = found.slice_endpoints(&mut notes);
        assert_eq!(endpoints["shop/web:80"], ["10.1.0.1:8080", "[fd00::3]:8080"]);
        assert_eq!(endpoints["shop/web:9000"], ["10.1.0.1:9999", "[fd00::3]:9999"]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0]
                .to_string()
                .contains("Service shop/gone is not in the input"),
            "{notes:?}"
        );
    }
}
