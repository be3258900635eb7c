//! Envoy's side of the upstream annotations: per backend, how its cluster connects
//! (`backend-protocol`, `service-upstream`, `proxy-connect-timeout`); per location, the route that
//! carries its timeouts and error pages.
//!
//! Routes, in order of matching:
//! 1. one per default backend of error pages, selected by an internal host and the marker header the
//!    error-page redirect adds; a client's copy of the marker is dropped before anything else runs (early
//!    header mutation), so only Envoy's redirect reaches these routes. The Wasm filter is disabled there;
//!    the backend sees the original `Host`.
//! 2. one per location profile, selected by the filter's [`LOCATION_HEADER`];
//! 3. the default route, with ingress-nginx's default timeouts.
//!
//! Timeouts: nginx's `proxy_read_timeout` is the longest wait for the next bytes of the response; Envoy's
//! per-try idle timeout is exactly that (504 when it fires) and the route's total timeout is disabled
//! (nginx has none). `proxy_send_timeout` (the longest pause while writing the request to the backend)
//! has no Envoy counterpart: the stream idle timeout (no bytes either way) is set to the larger of the two
//! plus 5 s, so a stalled upload ends and the read timeout still answers first.
//!
//! Error pages (`custom-http-errors`, `default-backend`): the filter cannot send a request to a second
//! backend, so Envoy's `custom_response` filter does: a response with one of the codes is replaced by the
//! default backend's answer to `GET /` with ingress-nginx's `X-Code`, `X-Format`, `X-Original-URI`,
//! `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` (and the request's `X-Request-ID`);
//! with `default-backend`, a request whose backend cannot be reached (Envoy's own 503 for no healthy
//! endpoint or a refused connection, marked by a local-reply mapper) goes there with its path and
//! `X-Code: 503`. A 2xx answer of the default backend is sent as 200, any other status as it is (nginx's
//! `error_page ... =`).

use crate::decide::upstream::{ClusterSettings, ErrorPages, LocationProfile, LOCATION_HEADER};
use crate::decide::{Backend, RouteTable};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The Kubernetes cluster domain Services resolve under (`<service>.<namespace>.svc.<domain>`).
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// Header the error-page redirect adds; only requests carrying it reach the error routes.
const ERROR_PAGE_HEADER: &str = "x-ingress-error-page";
/// Marks Envoy's own 503 for an unreachable backend, for the error-page matcher; never leaves Envoy.
const UNREACHABLE_HEADER: &str = "x-ingress-unreachable";
/// Name of Envoy's custom response filter in the chain (and of its per-route configuration).
const CUSTOM_RESPONSE: &str = "envoy.filters.http.custom_response";
/// Name of the Wasm filter in the chain (the error routes disable it).
const WASM_FILTER: &str = "envoy.filters.http.wasm";
/// Seconds the stream idle timeout leaves the read timeout to fire first.
const IDLE_MARGIN: u32 = 5;

/// What `render envoy` needs of the upstream annotations (from [`Upstreams::of`]).
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    /// By cluster name; clusters not listed are plain HTTP with the default connect timeout.
    pub clusters: BTreeMap<String, ClusterSettings>,
    /// Index = the value of [`LOCATION_HEADER`].
    pub profiles: Vec<LocationProfile>,
    /// `svc.<domain>` completes a Service's DNS name (default [`DEFAULT_CLUSTER_DOMAIN`]).
    pub cluster_domain: String,
}

impl Upstreams {
    /// The settings of `table`'s backends and locations, Services under `cluster_domain`.
    pub fn of(table: &RouteTable, cluster_domain: &str) -> Upstreams {
        let clusters = table
            .backends()
            .into_iter()
            .filter_map(|b| Some((b.cluster.clone(), *table.cluster_settings(&b.cluster)?)))
            .collect();
        Upstreams {
            clusters,
            profiles: table.location_profiles().to_vec(),
            cluster_domain: cluster_domain.to_string(),
        }
    }

    /// The settings of one cluster.
    pub fn cluster(&self, name: &str) -> ClusterSettings {
        self.clusters.get(name).copied().unwrap_or_default()
    }

    /// The DNS name of a Service.
    pub fn service_host(&self, backend: &Backend) -> String {
        let domain = if self.cluster_domain.is_empty() {
            DEFAULT_CLUSTER_DOMAIN
        } else {
            &self.cluster_domain
        };
        format!("{}.{}.svc.{domain}", backend.service, backend.namespace)
    }

    fn error_pages(&self) -> impl Iterator<Item = &ErrorPages> {
        self.profiles.iter().filter_map(|p| p.error_pages.as_ref())
    }

    fn any_unreachable(&self) -> bool {
        self.error_pages().any(|e| e.when_unreachable)
    }
}

/// Applies a backend's settings to its rendered cluster: connect timeout, TLS, HTTP/2.
pub fn apply_cluster_settings(cluster: &mut Value, settings: &ClusterSettings) {
    let Some(map) = cluster.as_object_mut() else {
        return;
    };
    map.insert(
        "connect_timeout".into(),
        json!(format!("{}s", settings.connect_timeout)),
    );
    if settings.protocol.tls() {
        // No validation context and no SNI: nginx's `proxy_ssl_verify off` and `proxy_ssl_server_name off`.
        let mut common = json!({});
        if settings.protocol.http2() {
            common["alpn_protocols"] = json!(["h2"]);
        }
        map.insert(
            "transport_socket".into(),
            json!({
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    "common_tls_context": common,
                },
            }),
        );
    }
    if settings.protocol.http2() {
        map.insert(
            "typed_extension_protocol_options".into(),
            json!({
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}},
                },
            }),
        );
    }
}

/// The routes of the virtual host, from the default route (`match` prefix `/`, the cluster-header action,
/// the internal headers removed): error routes, profile routes, then the default route itself.
fn routes(default_route: Value, upstreams: &Upstreams) -> Vec<Value> {
    let mut routes = Vec::new();
    let mut seen = Vec::new();
    for pages in upstreams.error_pages() {
        if !seen.contains(&&pages.backend) {
            seen.push(&pages.backend);
            routes.push(error_route(&default_route, &pages.backend));
        }
    }
    for (index, profile) in upstreams.profiles.iter().enumerate() {
        let mut route = default_route.clone();
        route["match"]["headers"] = json!([{
            "name": LOCATION_HEADER,
            "string_match": {"exact": index.to_string()},
        }]);
        set_timeouts(&mut route, profile);
        if let Some(pages) = &profile.error_pages {
            route["typed_per_filter_config"] = json!({CUSTOM_RESPONSE: custom_response(pages)});
        }
        routes.push(route);
    }
    let mut fallback = default_route;
    set_timeouts(&mut fallback, &LocationProfile::default());
    routes.push(fallback);
    routes
}

/// The route's read timeout (per-try idle), no total timeout, and the stream idle timeout.
fn set_timeouts(route: &mut Value, profile: &LocationProfile) {
    let idle = profile
        .read_timeout
        .max(profile.send_timeout)
        .saturating_add(IDLE_MARGIN);
    if let Some(action) = route.get_mut("route").and_then(Value::as_object_mut) {
        action.insert("timeout".into(), json!("0s"));
        action.insert("idle_timeout".into(), json!(format!("{idle}s")));
        let retry = action.entry("retry_policy").or_insert_with(|| json!({}));
        retry["per_try_idle_timeout"] = json!(format!("{}s", profile.read_timeout));
    }
}

/// The internal host of a default backend's error route (`.invalid` never resolves).
fn error_host(backend: &Backend) -> String {
    format!(
        "{}.{}.{}.error-pages.ingress-wasm.invalid",
        backend.port, backend.service, backend.namespace
    )
}

/// The route the error-page redirect reaches: the default backend's cluster, the original `Host` (kept
/// in `X-Forwarded-Host`), the Wasm filter off.
fn error_route(default_route: &Value, backend: &Backend) -> Value {
    let mut remove = default_route["request_headers_to_remove"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    remove.push(json!(ERROR_PAGE_HEADER));
    let mut route = json!({
        "match": {
            "prefix": "/",
            "headers": [
                {"name": ":authority", "string_match": {"exact": error_host(backend)}},
                {"name": ERROR_PAGE_HEADER, "present_match": true},
            ],
        },
        "route": {"cluster": backend.cluster, "host_rewrite_header": "x-forwarded-host"},
        "request_headers_to_remove": remove,
        "typed_per_filter_config": {
            WASM_FILTER: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": true},
        },
    });
    set_timeouts(&mut route, &LocationProfile::default());
    route
}

/// The per-route `custom_response` configuration of a location with error pages.
fn custom_response(pages: &ErrorPages) -> Value {
    let mut matchers = Vec::new();
    if pages.when_unreachable {
        // ingress-nginx proxies the request itself (its path kept) when the backend has no endpoints.
        let input = json!({
            "name": "unreachable",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.type.matcher.v3.HttpResponseHeaderMatchInput",
                "header_name": UNREACHABLE_HEADER,
            },
        });
        let redirect = json!({"redirect_action": {"host_redirect": error_host(&pages.backend)}});
        matchers.push(matcher(input, "1", redirect_policy(redirect, pages, 503, false)));
    }
    for code in &pages.codes {
        let input = json!({
            "name": "status",
            "typed_config": {"@type": "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeMatchInput"},
        });
        let redirect = json!({"uri": format!("http://{}/", error_host(&pages.backend))});
        matchers.push(matcher(
            input,
            &code.to_string(),
            redirect_policy(redirect, pages, *code, true),
        ));
    }
    json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse",
        "custom_response_matcher": {"matcher_list": {"matchers": matchers}},
    })
}

fn matcher(input: Value, exact: &str, action: Value) -> Value {
    json!({
        "predicate": {"single_predicate": {"input": input, "value_match": {"exact": exact}}},
        "on_match": {"action": {"name": "error-page", "typed_config": action}},
    })
}

/// A redirect to the default backend with ingress-nginx's headers for it.
fn redirect_policy(target: Value, pages: &ErrorPages, code: u16, original_uri: bool) -> Value {
    let set = |name: &str, value: &str| json!({"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"});
    let mut headers = vec![
        set("x-code", &code.to_string()),
        set("x-format", "%REQ(ACCEPT)%"),
        set("x-namespace", &pages.namespace),
        set("x-ingress-name", &pages.ingress_name),
        set("x-service-name", &pages.service),
        set("x-service-port", &pages.service_port),
        set(ERROR_PAGE_HEADER, "1"),
    ];
    if original_uri {
        headers.push(set(
            "x-original-uri",
            &format!(
                "%FILTER_STATE(wasm.{}:PLAIN)%",
                crate::decide::upstream::ORIGINAL_URI_PROPERTY
            ),
        ));
    }
    let mut policy = Map::new();
    policy.insert(
        "@type".into(),
        json!("type.googleapis.com/envoy.extensions.http.custom_response.redirect_policy.v3.RedirectPolicy"),
    );
    if let Some(target) = target.as_object() {
        policy.extend(target.clone());
    }
    policy.insert("status_code".into(), json!(200));
    policy.insert("request_headers_to_add".into(), json!(headers));
    Value::Object(policy)
}

/// Adds the upstream parts to an HTTP connection manager: the headers toward the backends
/// ([`super::headers`]; `trust_forwarded`: `settings.useForwardedHeaders`), the routes, and the error-page
/// filters.
pub fn apply_to_connection_manager(
    hcm: &mut Map<String, Value>,
    upstreams: &Upstreams,
    trust_forwarded: bool,
) {
    super::headers::connection_manager(hcm, envoy_only_headers(upstreams), trust_forwarded);
    connection_manager(hcm, upstreams);
    let hosts = hcm
        .get_mut("route_config")
        .and_then(|r| r.get_mut("virtual_hosts"))
        .and_then(Value::as_array_mut);
    for vhost in hosts.into_iter().flatten().filter_map(Value::as_object_mut) {
        super::headers::virtual_host(vhost, trust_forwarded);
        let default_route = vhost
            .get_mut("routes")
            .and_then(Value::as_array_mut)
            .and_then(|r| r.pop());
        if let Some(default_route) = default_route {
            vhost.insert("routes".into(), json!(routes(default_route, upstreams)));
        }
    }
    let (before_wasm, after_wasm) = filters(upstreams);
    if let Some(list) = hcm.get_mut("http_filters").and_then(Value::as_array_mut) {
        if let Some(wasm) = list.iter().position(|f| f["name"] == WASM_FILTER) {
            list.splice(wasm + 1..wasm + 1, after_wasm);
            list.splice(wasm..wasm, before_wasm);
        }
    }
}

/// Envoy's filters for the error pages, in chain order relative to the Wasm filter: before it, the one
/// that drops the unreachable marker from every response (it encodes last); after it, `custom_response`.
fn filters(upstreams: &Upstreams) -> (Option<Value>, Option<Value>) {
    if upstreams.error_pages().next().is_none() {
        return (None, None);
    }
    let strip = upstreams.any_unreachable().then(|| {
        json!({
            "name": "ingress_unreachable_marker",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                "mutations": {"response_mutations": [{"remove": UNREACHABLE_HEADER}]},
            },
        })
    });
    let custom = json!({
        "name": CUSTOM_RESPONSE,
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse"},
    });
    (strip, Some(custom))
}

/// The connection manager's part: the unreachable marker on Envoy's 503s for no healthy endpoint (`UH`)
/// and refused connections (`UF`).
fn connection_manager(hcm: &mut Map<String, Value>, upstreams: &Upstreams) {
    if upstreams.any_unreachable() {
        hcm.insert(
            "local_reply_config".into(),
            json!({"mappers": [{
                "filter": {"response_flag_filter": {"flags": ["UH", "UF"]}},
                "headers_to_add": [{
                    "header": {"key": UNREACHABLE_HEADER, "value": "1"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }],
            }]}),
        );
    }
}

/// Request headers that only Envoy may set: a client's copies are dropped before anything else runs.
fn envoy_only_headers(upstreams: &Upstreams) -> &'static [&'static str] {
    if upstreams.error_pages().next().is_some() {
        &[ERROR_PAGE_HEADER]
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::annotations::upstream::BackendProtocol;
    use crate::tests::decide::backend;

    fn pages(codes: &[u16], when_unreachable: bool) -> ErrorPages {
        ErrorPages {
            backend: backend("ns", "errors", "8080"),
            codes: codes.to_vec(),
            when_unreachable,
            namespace: "ns".into(),
            ingress_name: "shop".into(),
            service: "web".into(),
            service_port: "80".into(),
        }
    }

    fn cluster_with(protocol: BackendProtocol) -> Value {
        let mut c = json!({"name": "ns/web:80", "connect_timeout": "5s"});
        apply_cluster_settings(
            &mut c,
            &ClusterSettings {
                protocol,
                service_upstream: false,
                connect_timeout: 12,
            },
        );
        c
    }

    #[test]
    fn protocols_become_transport_sockets_and_http2_options() {
        let plain = cluster_with(BackendProtocol::Http);
        assert_eq!(plain, json!({"name": "ns/web:80", "connect_timeout": "12s"}));
        let https = cluster_with(BackendProtocol::Https);
        let tls = &https["transport_socket"]["typed_config"];
        // No validation context, no SNI: ingress-nginx did not verify backends.
        assert_eq!(tls["common_tls_context"], json!({}));
        assert!(https.get("typed_extension_protocol_options").is_none());
        let grpc = cluster_with(BackendProtocol::Grpc);
        assert!(grpc.get("transport_socket").is_none());
        let options = &grpc["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
        assert_eq!(
            options["explicit_http_config"],
            json!({"http2_protocol_options": {}})
        );
        let grpcs = cluster_with(BackendProtocol::Grpcs);
        assert_eq!(
            grpcs["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"],
            json!(["h2"])
        );
        assert!(grpcs.get("typed_extension_protocol_options").is_some());
    }

    #[test]
    fn error_routes_then_profile_routes_then_the_default() {
        let upstreams = Upstreams {
            profiles: vec![
                LocationProfile {
                    read_timeout: 3600,
                    send_timeout: 30,
                    error_pages: None,
                },
                LocationProfile {
                    error_pages: Some(pages(&[404], true)),
                    ..LocationProfile::default()
                },
                LocationProfile {
                    send_timeout: 90,
                    error_pages: Some(pages(&[500], false)),
                    ..LocationProfile::default()
                },
            ],
            ..Upstreams::default()
        };
        let default_route = json!({
            "match": {"prefix": "/"},
            "route": {"cluster_header": "x-ingress-cluster"},
            "request_headers_to_remove": ["x-ingress-cluster", LOCATION_HEADER],
        });
        let routes = routes(default_route, &upstreams);
        // One error route per default backend, however many locations use it.
        assert_eq!(routes.len(), 1 + 3 + 1);
        let error = &routes[0];
        assert_eq!(
            error["match"]["headers"],
            json!([
                {"name": ":authority", "string_match": {"exact": "8080.errors.ns.error-pages.ingress-wasm.invalid"}},
                {"name": ERROR_PAGE_HEADER, "present_match": true},
            ])
        );
        assert_eq!(error["route"]["cluster"], "ns/errors:8080");
        assert_eq!(error["route"]["host_rewrite_header"], "x-forwarded-host");
        assert_eq!(error["typed_per_filter_config"][WASM_FILTER]["disabled"], true);
        assert_eq!(
            error["request_headers_to_remove"],
            json!(["x-ingress-cluster", LOCATION_HEADER, ERROR_PAGE_HEADER])
        );
        for (i, (read, idle)) in [("3600s", "3605s"), ("60s", "65s"), ("60s", "95s")]
            .iter()
            .enumerate()
        {
            let route = &routes[1 + i];
            assert_eq!(
                route["match"]["headers"],
                json!([{"name": LOCATION_HEADER, "string_match": {"exact": i.to_string()}}])
            );
            assert_eq!(route["route"]["timeout"], "0s");
            assert_eq!(route["route"]["retry_policy"]["per_try_idle_timeout"], *read);
            assert_eq!(route["route"]["idle_timeout"], *idle);
        }
        assert!(routes[1].get("typed_per_filter_config").is_none());
        let fallback = &routes[4];
        assert_eq!(fallback["match"], json!({"prefix": "/"}));
        assert_eq!(fallback["route"]["retry_policy"]["per_try_idle_timeout"], "60s");
    }

    #[test]
    fn error_pages_redirect_with_ingress_nginxs_headers() {
        let config = custom_response(&pages(&[404, 503], true));
        let matchers = config["custom_response_matcher"]["matcher_list"]["matchers"]
            .as_array()
            .unwrap();
        assert_eq!(matchers.len(), 3);
        // The unreachable backend first: its 503 goes there with the request's own path.
        let unreachable = &matchers[0];
        assert_eq!(
            unreachable["predicate"]["single_predicate"]["input"]["typed_config"]["header_name"],
            UNREACHABLE_HEADER
        );
        let action = &unreachable["on_match"]["action"]["typed_config"];
        assert_eq!(
            action["redirect_action"],
            json!({"host_redirect": "8080.errors.ns.error-pages.ingress-wasm.invalid"})
        );
        let headers = |action: &Value| -> Vec<(String, String)> {
            action["request_headers_to_add"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    assert_eq!(h["append_action"], "OVERWRITE_IF_EXISTS_OR_ADD");
                    let header = &h["header"];
                    (
                        header["key"].as_str().unwrap().into(),
                        header["value"].as_str().unwrap().into(),
                    )
                })
                .collect()
        };
        assert!(headers(action).contains(&("x-code".into(), "503".into())));
        assert!(!headers(action).iter().any(|(n, _)| n == "x-original-uri"));
        let not_found = &matchers[1];
        assert_eq!(
            not_found["predicate"]["single_predicate"]["value_match"]["exact"],
            "404"
        );
        let action = &not_found["on_match"]["action"]["typed_config"];
        assert_eq!(
            action["uri"],
            "http://8080.errors.ns.error-pages.ingress-wasm.invalid/"
        );
        assert_eq!(action["status_code"], 200);
        assert_eq!(
            headers(action),
            [
                ("x-code", "404"),
                ("x-format", "%REQ(ACCEPT)%"),
                ("x-namespace", "ns"),
                ("x-ingress-name", "shop"),
                ("x-service-name", "web"),
                ("x-service-port", "80"),
                (ERROR_PAGE_HEADER, "1"),
                (
                    "x-original-uri",
                    "%FILTER_STATE(wasm.ingress_original_uri:PLAIN)%"
                ),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }

    #[test]
    fn listeners_get_the_filters_and_markers_only_when_error_pages_need_them() {
        let manager = || {
            json!({
                "route_config": {"virtual_hosts": [{"routes": [{"match": {"prefix": "/"}, "route": {}}]}]},
                "http_filters": [{"name": WASM_FILTER}, {"name": "envoy.filters.http.router"}],
            })
        };
        let names = |hcm: &Value| -> Vec<String> {
            hcm["http_filters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap().to_string())
                .collect()
        };
        let mut plain = manager();
        apply_to_connection_manager(plain.as_object_mut().unwrap(), &Upstreams::default(), false);
        assert_eq!(names(&plain), [WASM_FILTER, "envoy.filters.http.router"]);
        let hcm = &plain;
        assert!(hcm.get("local_reply_config").is_none());
        assert_eq!(hcm["preserve_external_request_id"], true);

        let mut with_pages = manager();
        let upstreams = Upstreams {
            profiles: vec![LocationProfile {
                error_pages: Some(pages(&[], true)),
                ..LocationProfile::default()
            }],
            ..Upstreams::default()
        };
        apply_to_connection_manager(with_pages.as_object_mut().unwrap(), &upstreams, false);
        assert_eq!(
            names(&with_pages),
            [
                "ingress_unreachable_marker",
                WASM_FILTER,
                CUSTOM_RESPONSE,
                "envoy.filters.http.router"
            ]
        );
        let hcm = &with_pages;
        assert_eq!(
            hcm["local_reply_config"]["mappers"][0]["filter"],
            json!({"response_flag_filter": {"flags": ["UH", "UF"]}})
        );
        // A client's copy of the error-page marker is dropped before anything else.
        assert_eq!(
            hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"][0],
            json!({"remove": ERROR_PAGE_HEADER})
        );
    }

    #[test]
    fn services_resolve_under_the_cluster_domain() {
        let mut upstreams = Upstreams::default();
        assert_eq!(
            upstreams.service_host(&backend("ns", "web", "80")),
            "web.ns.svc.cluster.local"
        );
        upstreams.cluster_domain = "corp.internal".into();
        assert_eq!(
            upstreams.service_host(&backend("ns", "web", "80")),
            "web.ns.svc.corp.internal"
        );
    }
}
