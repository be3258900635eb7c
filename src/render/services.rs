//! What the configuration's Services (`services`, [`crate::model::service`]) change in the rendered
//! Envoy: an `ExternalName` Service's backend is a DNS cluster to its external name, and a Service with
//! `sessionAffinity: ClientIP` gets a consistent-hash cluster that the route feeds with the client's
//! address, so one client stays on one endpoint. Backends whose Service is missing get no cluster: the
//! filter answers their requests 503 itself.

use crate::decide::Backend;
use crate::diagnostics::Diagnostics;
use crate::model::service::Services;
use serde_json::{json, Value};

/// The Services the filter's configuration carries (problems were reported when it was loaded).
pub fn services_of(plugin_config: &Value) -> Services {
    Services::parse(plugin_config.get("services"), &mut Diagnostics::default())
}

/// `externalName:port` for a backend of an ExternalName Service.
pub fn external_endpoint(services: &Services, backend: &Backend) -> Option<String> {
    let service = services.get(&backend.namespace, &backend.service)?;
    let name = service.external_name.as_ref()?;
    Some(format!("{name}:{}", backend.port))
}

/// Whether the backend's Service asks for `sessionAffinity: ClientIP`.
pub fn client_ip_affinity(services: &Services, backend: &Backend) -> bool {
    services
        .get(&backend.namespace, &backend.service)
        .is_some_and(|s| s.client_ip_affinity)
}

/// The route's hash policy entry for ClientIP affinity: the client's address (`source.address`, the one
/// `trustedHops` chooses). It comes after the filter's affinity header, which is terminal, so cookie
/// affinity keeps its own key; clusters that do not hash ignore it.
pub fn source_ip_hash() -> Value {
    json!({"connection_properties": {"source_ip": true}})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use crate::render::envoy::{affinity_by_cluster, bootstrap, EnvoyOptions};
    use crate::render::upstream::Upstreams;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    fn path(p: &str, svc: &str, port: Value) -> Value {
        json!({"path": p, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": port}}})
    }

    /// Renders the Ingress of namespace `nginx` with these paths and Services, as `render envoy` does.
    fn render(paths: Vec<Value>, services: Value) -> Value {
        render_with(json!({}), paths, services)
    }

    fn render_with(annotations: Value, paths: Vec<Value>, services: Value) -> Value {
        let config = json!({
            "ingresses": [{"kind": "Ingress", "metadata": {"name": "i", "namespace": "nginx", "annotations": annotations},
                "spec": {"rules": [{"host": "a.example", "http": {"paths": paths}}]}}],
            "services": services,
        });
        let table = crate::config::load_value(&config).unwrap().table;
        bootstrap(&EnvoyOptions {
            plugin_config: &config,
            backends: &table.backends(),
            cluster_header: "x-ingress-cluster",
            wasm_path: "f.wasm",
            listen: ("127.0.0.1".into(), 0),
            admin: None,
            endpoints: &BTreeMap::from([("nginx/web:80".to_string(), vec!["10.0.0.1:8080".to_string()])]),
            affinity: &affinity_by_cluster(&table),
            upstream: &Upstreams::default(),
            tls: None,
        })
        .unwrap()
    }

    fn clusters(root: &Value) -> BTreeMap<String, Value> {
        let list = root["static_resources"]["clusters"].as_array().unwrap();
        list.iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), c.clone()))
            .collect()
    }

    fn route(root: &Value) -> &Value {
        &root["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            ["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    }

    #[test]
    fn external_name_client_ip_and_missing_services() {
        let root = render(
            vec![
                path("/ext", "ext", json!({"number": 8443})),
                path("/web", "web", json!({"name": "http"})),
                path("/gone", "gone", json!({"number": 80})),
            ],
            json!([
                {"kind": "Service", "metadata": {"name": "ext", "namespace": "nginx"},
                    "spec": {"type": "ExternalName", "externalName": "chat.other.svc.cluster.local"}},
                {"kind": "Service", "metadata": {"name": "web", "namespace": "nginx"},
                    "spec": {"sessionAffinity": "ClientIP", "ports": [{"name": "http", "port": 80}]}},
            ]),
        );
        let clusters = clusters(&root);
        assert_eq!(
            clusters.keys().collect::<Vec<_>>(),
            ["nginx/ext:8443", "nginx/web:80"],
            "the missing Service gets no cluster"
        );
        let ext = &clusters["nginx/ext:8443"];
        assert_eq!(ext["type"], "STRICT_DNS");
        assert_eq!(
            ext["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"],
            json!({"address": "chat.other.svc.cluster.local", "port_value": 8443})
        );
        assert_eq!(ext.get("lb_policy"), None);
        let web = &clusters["nginx/web:80"];
        assert_eq!(web["lb_policy"], "RING_HASH");
        assert_eq!(web["type"], "STATIC", "the endpoints of the resolved port: {web}");
        assert_eq!(
            route(&root)["hash_policy"],
            json!([{"connection_properties": {"source_ip": true}}])
        );
    }

    #[test]
    fn without_client_ip_affinity_the_route_does_not_hash() {
        let root = render(
            vec![path("/web", "web", json!({"number": 80}))],
            json!([{"kind": "Service", "metadata": {"name": "web", "namespace": "nginx"},
                "spec": {"ports": [{"port": 80}]}}]),
        );
        assert_eq!(route(&root).get("hash_policy"), None);
        assert_eq!(clusters(&root)["nginx/web:80"].get("lb_policy"), None);
    }

    #[test]
    fn cookie_affinity_keeps_its_own_key_next_to_client_ip() {
        let root = render_with(
            json!({"nginx.ingress.kubernetes.io/affinity": "cookie"}),
            vec![
                path("/web", "web", json!({"number": 80})),
                path("/ext", "ext", json!({"number": 80})),
            ],
            json!([
                {"kind": "Service", "metadata": {"name": "web", "namespace": "nginx"},
                    "spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}},
                {"kind": "Service", "metadata": {"name": "ext", "namespace": "nginx"},
                    "spec": {"type": "ExternalName", "externalName": "ext.example.org"}},
            ]),
        );
        assert_eq!(
            route(&root)["hash_policy"],
            json!([
                {"header": {"header_name": crate::decide::affinity::HASH_HEADER}, "terminal": true},
                {"connection_properties": {"source_ip": true}},
            ])
        );
        assert_eq!(clusters(&root)["nginx/web:80"]["lb_policy"], "MAGLEV");
    }
}
