//! `explain`'s account of how a forwarded request reaches its backend: the cluster's protocol, connect
//! timeout and Service (`backend-protocol`, `proxy-connect-timeout`, `service-upstream`), and the
//! location's Envoy route (read and send timeouts, error pages).

use ingress_wasm::decide::upstream::{ClusterSettings, LocationProfile};
use ingress_wasm::decide::{RouteInfo, RouteTable};
use ingress_wasm::model::annotations::upstream::{DEFAULT_READ_TIMEOUT, DEFAULT_SEND_TIMEOUT};
use serde_json::{json, Value};

/// The cluster's settings and the location's profile for a request forwarded to `cluster` by `route`.
fn settings(
    table: &RouteTable,
    cluster: &str,
    route: Option<&RouteInfo>,
) -> (ClusterSettings, LocationProfile) {
    let cluster_settings = table.cluster_settings(cluster).copied().unwrap_or_default();
    let profile = route
        .and_then(|r| r.policy.as_ref()?.upstream)
        .and_then(|u| table.location_profiles().get(u.profile))
        .cloned()
        .unwrap_or_default();
    (cluster_settings, profile)
}

/// Text lines (`cluster:`, `location:`, `errors:`), for what differs from ingress-nginx's defaults.
pub(super) fn lines(table: &RouteTable, cluster: &str, route: Option<&RouteInfo>) -> Vec<String> {
    let (c, profile) = settings(table, cluster, route);
    let mut lines = Vec::new();
    if c != ClusterSettings::default() {
        let service = if c.service_upstream {
            ", through the Service's cluster IP (service-upstream)"
        } else {
            ""
        };
        lines.push(format!(
            "cluster:  {}, connect timeout {} s{service}",
            c.protocol.as_str(),
            c.connect_timeout
        ));
    }
    if (profile.read_timeout, profile.send_timeout) != (DEFAULT_READ_TIMEOUT, DEFAULT_SEND_TIMEOUT) {
        lines.push(format!(
            "location: read timeout {} s, send timeout {} s",
            profile.read_timeout, profile.send_timeout
        ));
    }
    if let Some(pages) = &profile.error_pages {
        let b = &pages.backend;
        let from = format!("service {}/{} port {}", b.namespace, b.service, b.port);
        if !pages.codes.is_empty() {
            let codes: Vec<String> = pages.codes.iter().map(u16::to_string).collect();
            lines.push(format!(
                "errors:   {} answered by {from} (GET / with X-Code)",
                codes.join(", ")
            ));
        }
        if pages.when_unreachable {
            lines.push(format!(
                "errors:   when the backend cannot be reached, {from} answers (X-Code: 503)"
            ));
        }
    }
    lines
}

/// The same for `--json`: `{"clusterSettings": {...}, "location": {...}}`.
pub(super) fn json(table: &RouteTable, cluster: &str, route: Option<&RouteInfo>) -> (Value, Value) {
    let (c, profile) = settings(table, cluster, route);
    let error_pages = profile.error_pages.as_ref().map(|pages| {
        json!({
            "codes": pages.codes,
            "whenUnreachable": pages.when_unreachable,
            "backend": {"namespace": pages.backend.namespace, "service": pages.backend.service,
                        "port": pages.backend.port, "cluster": pages.backend.cluster},
        })
    });
    (
        json!({
            "protocol": c.protocol.as_str(),
            "connectTimeout": c.connect_timeout,
            "serviceUpstream": c.service_upstream,
        }),
        json!({
            "readTimeout": profile.read_timeout,
            "sendTimeout": profile.send_timeout,
            "errorPages": error_pages,
        }),
    )
}
