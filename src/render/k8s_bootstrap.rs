//! The Envoy bootstrap of the Kubernetes Deployment: [`super::dynamic::bootstrap`], whose listeners,
//! clusters and filter configuration come from the directory `ingress-wasm sync` keeps current (one
//! atomic swap per update, the kubelet's `..data` symlink layout), plus what only the pod needs: the
//! admin interface on loopback, a `ready` listener that exposes nothing of the admin but `/ready`, for
//! the kubelet's readiness probe, and a limit on downstream connections.

use super::dynamic;
use serde_json::{json, Value};

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
    /// The directory `ingress-wasm sync --out` writes, as Envoy sees it.
    pub xds_dir: &'a str,
    /// Admin port, bound to 127.0.0.1 only: `/drain_listeners` and `/quitquitquit` must not be reachable
    /// from the cluster network.
    pub admin_port: u16,
    /// Port of the `ready` listener (all addresses), whose only route is `/ready`.
    pub ready_port: u16,
}

/// The bootstrap: sync's dynamic bootstrap with the admin on loopback, the `ready` listener and the
/// connection limit.
pub fn watched_bootstrap(opts: &WatchedBootstrap<'_>) -> Value {
    let mut root = dynamic::bootstrap(opts.xds_dir, Some(&("127.0.0.1".to_string(), opts.admin_port)));
    if let Some(map) = root.as_object_mut() {
        map.insert(
            "static_resources".into(),
            json!({
                "listeners": [ready_listener(opts.ready_port)],
                "clusters": [admin_cluster(opts.admin_port)],
            }),
        );
        map.insert(
            "overload_manager".into(),
            json!({
                "resource_monitors": [{
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }],
            }),
        );
    }
    root
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
        // Exactly what `ingress-wasm sync --bootstrap` writes, plus the pod's parts.
        let synced = dynamic::bootstrap("/config/xds", None);
        assert_eq!(root["dynamic_resources"], synced["dynamic_resources"]);
        assert_eq!(root["node"], synced["node"]);
        let lds = &root["dynamic_resources"]["lds_config"]["path_config_source"];
        assert_eq!(lds["path"], format!("/config/xds/{}", dynamic::LDS_FILE));
        assert_eq!(lds["watched_directory"]["path"], "/config/xds");
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
}
