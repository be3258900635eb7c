//! The Envoy bootstrap of the Kubernetes Deployment: listeners and clusters come from files in a watched
//! directory (filesystem xDS), which the sync sidecar keeps current with one atomic swap per update
//! (the kubelet's `..data` symlink layout). Only what never changes is static: the admin interface on
//! loopback and a `ready` listener that exposes nothing of the admin but `/ready`, for the kubelet's
//! readiness probe.
//!
//! This is the one place that names the xDS files; when `ingress-wasm sync` renders its own bootstrap,
//! this function is what switches to it.

use serde_json::{json, Value};

/// File of the listeners (LDS) inside the watched directory.
pub const LDS_FILE: &str = "lds.yaml";
/// File of the clusters (CDS) inside the watched directory.
pub const CDS_FILE: &str = "cds.yaml";
/// Name of the listener that serves `/ready` to the kubelet.
pub const READY_LISTENER: &str = "ready";
/// Name of the cluster that reaches the admin interface on loopback.
pub const ADMIN_CLUSTER: &str = "admin";
/// Downstream connections Envoy accepts at most (the overload manager refuses more instead of running
/// out of memory or file descriptors).
pub const MAX_DOWNSTREAM_CONNECTIONS: u64 = 50_000;

/// Where the bootstrap finds its parts.
#[derive(Debug, Clone)]
pub struct WatchedBootstrap<'a> {
    /// The watched directory holding [`LDS_FILE`] and [`CDS_FILE`].
    pub xds_dir: &'a str,
    /// Admin port, bound to 127.0.0.1 only: `/drain_listeners` and `/quitquitquit` must not be reachable
    /// from the cluster network.
    pub admin_port: u16,
    /// Port of the `ready` listener (all addresses), whose only route is `/ready`.
    pub ready_port: u16,
}

/// The bootstrap: dynamic listeners and clusters from the watched directory, the admin on loopback, the
/// `ready` listener and the connection limit.
pub fn watched_bootstrap(opts: &WatchedBootstrap<'_>) -> Value {
    let source = |file: &str| {
        json!({
            "resource_api_version": "V3",
            "path_config_source": {
                "path": format!("{}/{file}", opts.xds_dir),
                "watched_directory": {"path": opts.xds_dir},
            },
        })
    };
    json!({
        "node": {"id": "ingress-wasm", "cluster": "ingress-wasm"},
        "dynamic_resources": {
            "lds_config": source(LDS_FILE),
            "cds_config": source(CDS_FILE),
        },
        "static_resources": {
            "listeners": [ready_listener(opts.ready_port)],
            "clusters": [admin_cluster(opts.admin_port)],
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": opts.admin_port}}},
        "overload_manager": {
            "resource_monitors": [{
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                    "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                },
            }],
        },
    })
}

/// `GET /ready` forwarded to the admin interface (200 `LIVE` once the listeners and clusters are
/// loaded, 503 before); every other path answers 404.
fn ready_listener(port: u16) -> Value {
    json!({
        "name": READY_LISTENER,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": READY_LISTENER,
                "route_config": {
                    "name": READY_LISTENER,
                    "virtual_hosts": [{
                        "name": READY_LISTENER,
                        "domains": ["*"],
                        "routes": [
                            {"match": {"path": "/ready"}, "route": {"cluster": ADMIN_CLUSTER}},
                            {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                        ],
                    }],
                },
                "http_filters": [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                }],
            },
        }]}],
    })
}

fn admin_cluster(port: u16) -> Value {
    json!({
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": port},
            }}}]}],
        },
    })
}

/// An xDS file as the filesystem subscription reads it: a `DiscoveryResponse` holding `resources` of
/// `type_url` (listeners for LDS, clusters for CDS).
pub fn discovery_response(type_url: &str, resources: &[Value]) -> Value {
    let typed: Vec<Value> = resources
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(map) = r.as_object_mut() {
                map.insert("@type".into(), json!(type_url));
            }
            r
        })
        .collect();
    json!({"version_info": "0", "resources": typed})
}

/// `type_url` of listeners in [`discovery_response`].
pub const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// `type_url` of clusters in [`discovery_response`].
pub const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn listeners_and_clusters_come_from_the_watched_directory() {
        let root = watched_bootstrap(&WatchedBootstrap {
            xds_dir: "/config/xds",
            admin_port: 9901,
            ready_port: 8081,
        });
        for (key, file) in [("lds_config", "lds.yaml"), ("cds_config", "cds.yaml")] {
            let source = &root["dynamic_resources"][key]["path_config_source"];
            assert_eq!(source["path"], format!("/config/xds/{file}"));
            assert_eq!(source["watched_directory"]["path"], "/config/xds");
        }
        assert_eq!(
            root["admin"]["address"]["socket_address"],
            json!({"address": "127.0.0.1", "port_value": 9901})
        );
        let ready = &root["static_resources"]["listeners"][0];
        assert_eq!(ready["address"]["socket_address"]["port_value"], 8081);
        let routes = &ready["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
            ["virtual_hosts"][0]["routes"];
        assert_eq!(routes[0]["match"], json!({"path": "/ready"}));
        assert_eq!(routes[0]["route"]["cluster"], "admin");
        assert_eq!(routes[1]["direct_response"]["status"], 404);
    }

    #[test]
    fn discovery_responses_type_their_resources() {
        let file = discovery_response(CLUSTER_TYPE, &[json!({"name": "a"})]);
        assert_eq!(file["resources"], json!([{"@type": CLUSTER_TYPE, "name": "a"}]));
    }
}
