//! The filter in an Istio ingress gateway: a `WasmPlugin` (extensions.istio.io/v1alpha1) carrying the
//! plugin configuration with Istio's cluster names, and what makes the gateway route by the filter's
//! cluster header. Istio generates the gateway's routes from Gateways and VirtualServices, so a
//! `Gateway` opens the port, a `VirtualService` gives it one catch-all route named [`ROUTE_NAME`], and an
//! `EnvoyFilter` merges `cluster_header` into that route: the cluster the filter names (an Istio
//! `outbound|port||service.namespace.svc.<domain>` cluster) is the one Envoy forwards to. Should the patch
//! not apply, the route's placeholder destination has no cluster and answers 503: nothing is routed
//! around the filter.

use super::k8s::Manifest;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Name of the VirtualService's route, which the EnvoyFilter patches.
pub const ROUTE_NAME: &str = "ingress-wasm";
/// The VirtualService's destination, which only serves when the EnvoyFilter did not apply (503).
pub const PLACEHOLDER_HOST: &str = "ingress-wasm-unpatched.invalid";
/// `pluginName` (Envoy's `root_id`), as in the Envoy bootstrap.
pub const PLUGIN_NAME: &str = super::envoy::PLUGIN_NAME;
/// The values `failStrategy` takes (istio/api `extensions/v1alpha1/wasm.proto`).
pub const FAIL_STRATEGIES: [&str; 3] = ["FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD"];
/// The values `phase` takes.
pub const PHASES: [&str; 4] = ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"];

/// Istio's name of the cluster of a Service port, as a cluster template.
pub fn istio_cluster_template(cluster_domain: &str) -> String {
    format!("outbound|{{port}}||{{service}}.{{namespace}}.svc.{cluster_domain}")
}

/// What [`manifests`] needs.
#[derive(Debug, Clone)]
pub struct IstioOptions<'a> {
    /// Name of every object.
    pub name: &'a str,
    /// Namespace of the gateway (and of the objects: WasmPlugin and EnvoyFilter select its pods there).
    pub namespace: &'a str,
    /// Labels of the gateway's pods.
    pub selector: &'a BTreeMap<String, String>,
    /// `oci://`, `file://`, `http(s)://`.
    pub url: &'a str,
    /// What Istio compares the fetched module against: the image's manifest digest for `oci://`, the
    /// module's sha256 otherwise.
    pub sha256: &'a str,
    pub fail_strategy: &'a str,
    pub phase: &'a str,
    /// The plugin configuration, its `clusterTemplate` Istio's.
    pub plugin_config: &'a Value,
    pub cluster_header: &'a str,
    /// The Gateway's HTTP port (the Service port of the gateway).
    pub port: u16,
}

/// `wasmplugin.yaml`, `gateway.yaml` (Gateway and VirtualService) and `envoyfilter.yaml`.
pub fn manifests(opts: &IstioOptions<'_>) -> Vec<Manifest> {
    let labels = json!({"app.kubernetes.io/name": "ingress-wasm", "app.kubernetes.io/instance": opts.name});
    let metadata = json!({"name": opts.name, "namespace": opts.namespace, "labels": labels});
    let plugin = json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": opts.selector},
            "url": opts.url,
            "sha256": opts.sha256,
            "imagePullPolicy": "IfNotPresent",
            "pluginName": PLUGIN_NAME,
            "phase": opts.phase,
            "failStrategy": opts.fail_strategy,
            // No `match`: Istio counts a gateway's listeners as CLIENT traffic
            // (pilot/pkg/model/extensions.go, workloadModeForListenerClass), so `mode: SERVER` would
            // leave the gateway without the filter.
            "type": "HTTP",
            "pluginConfig": opts.plugin_config,
        },
    });
    let gateway = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": metadata,
        "spec": {
            "selector": opts.selector,
            "servers": [{"port": {"number": opts.port, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
        },
    });
    let virtual_service = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": metadata,
        "spec": {
            "hosts": ["*"],
            "gateways": [opts.name],
            "http": [{
                "name": ROUTE_NAME,
                "route": [{"destination": {"host": PLACEHOLDER_HOST, "port": {"number": 80}}}],
            }],
        },
    });
    let envoy_filter = json!({
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": metadata,
        "spec": {
            "workloadSelector": {"labels": opts.selector},
            "configPatches": [{
                "applyTo": "HTTP_ROUTE",
                "match": {
                    "context": "GATEWAY",
                    "routeConfiguration": {"vhost": {"route": {"name": ROUTE_NAME}}},
                },
                "patch": {
                    "operation": "MERGE",
                    "value": {
                        // `cluster_header` replaces the route's `cluster` (one of a oneof).
                        "route": {"cluster_header": opts.cluster_header},
                        "request_headers_to_remove": [opts.cluster_header],
                    },
                },
            }],
        },
    });
    vec![
        Manifest {
            file: "wasmplugin.yaml".into(),
            objects: vec![plugin],
        },
        Manifest {
            file: "gateway.yaml".into(),
            objects: vec![gateway, virtual_service],
        },
        Manifest {
            file: "envoyfilter.yaml".into(),
            objects: vec![envoy_filter],
        },
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_route_the_virtual_service_names_is_the_one_the_envoy_filter_patches() {
        let selector = BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]);
        let config = json!({"ingresses": []});
        let files = manifests(&IstioOptions {
            name: "ingress-wasm",
            namespace: "istio-system",
            selector: &selector,
            url: "oci://registry.test/ingress-wasm:1",
            sha256: "ab",
            fail_strategy: "FAIL_RELOAD",
            phase: "UNSPECIFIED_PHASE",
            plugin_config: &config,
            cluster_header: "x-ingress-cluster",
            port: 80,
        });
        let vs = &files[1].objects[1];
        let patch = &files[2].objects[0]["spec"]["configPatches"][0];
        assert_eq!(
            vs["spec"]["http"][0]["name"],
            patch["match"]["routeConfiguration"]["vhost"]["route"]["name"]
        );
        assert_eq!(
            patch["patch"]["value"]["route"]["cluster_header"],
            "x-ingress-cluster"
        );
        assert_eq!(files[0].objects[0]["spec"]["pluginConfig"], config);
        assert!(files[0].objects[0]["spec"].get("match").is_none());
        assert_eq!(
            istio_cluster_template("cluster.local"),
            "outbound|{port}||{service}.{namespace}.svc.cluster.local"
        );
    }
}
