//! A complete Envoy bootstrap around the filter: one listener whose HTTP connection manager runs the Wasm
//! filter then the router, a single route that forwards to the cluster the filter names in the cluster
//! header, and one cluster per Ingress backend; with certificates, a second listener that terminates TLS
//! for the hosts of `spec.tls` in front of the same connection manager ([`super::tls`]).
//!
//! `:scheme` is what the filter's ssl-redirect reads: each listener pins it (`http` on the plain one,
//! `https` behind TLS), so an HTTP/2 client cannot claim the other. With `settings.useForwardedHeaders` a
//! trusted load balancer sits in front instead: one hop of `X-Forwarded-For` is trusted for the client
//! address, `:scheme` is left alone and `X-Forwarded-Proto` keeps the balancer's value for the filter.
//!
//! The connection manager settings that make path matching safe are always generated, never left to the
//! user: `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT` and
//! `strip_trailing_host_dot`; client headers with underscores are dropped (ingress-nginx's default, so
//! `x_forwarded_prefix` and friends cannot be smuggled past the filter to an upstream that folds `_` into
//! `-`), and the request-header budget is explicit: the filter's path limit plus what nginx allows the
//! other headers. The client address (`source.address`, what source ranges check) is the TCP peer, or
//! with `settings.trustedHops` N the address N proxies in front of Envoy put in `X-Forwarded-For`
//! (`use_remote_address` with `xff_num_trusted_hops`). The port is deliberately kept in `:authority`: the filter ignores it when
//! matching hosts, and redirects must carry it. The Wasm filter runs with `failure_policy: FAIL_RELOAD`, so
//! a VM that ever fails is replaced instead of failing every later request.
//!
//! Session affinity: Envoy picks the endpoint, the filter owns the cookie. A backend with balanced
//! affinity gets a `MAGLEV` cluster and the route hashes the filter's [`HASH_HEADER`] (consistent
//! hashing: the same key reaches the same endpoint on every replica with the same endpoints). With any
//! persistent backend the chain gets Envoy's stateful session filter with the header-based session state
//! on [`SESSION_HEADER`], after the Wasm filter (which sets that header from the cookie) and before the
//! router; on the way back it names the endpoint it chose, which the filter turns into the cookie.

use super::upstream::{self, Upstreams};
use crate::compile::cluster::backend_key;
use crate::decide::affinity::{HASH_HEADER, SESSION_HEADER};
use crate::decide::upstream::LOCATION_HEADER;
use crate::decide::Backend;
use crate::diagnostics::Diagnostics;
use crate::model::annotations::affinity::AffinityMode;
use crate::model::settings::Settings;
use crate::render::services::{client_ip_affinity, external_endpoint, services_of, source_ip_hash};
use crate::render::tls::{self, TlsListener};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Name (and root id, and VM id) of the Wasm plugin; Envoy's `wasm.<name>.*` stats carry it.
pub const PLUGIN_NAME: &str = "ingress_wasm";
/// `stat_prefix` of the HTTP connection manager (`http.ingress_http.*` stats).
pub const STAT_PREFIX: &str = "ingress_http";
/// Name of the listener.
pub const LISTENER_NAME: &str = "ingress_http";
/// Request-header bytes nginx allows besides the request line (`large_client_header_buffers 4 8k`).
pub const OTHER_HEADERS_KB: usize = 32;

/// What [`bootstrap`] needs.
#[derive(Debug, Clone)]
pub struct EnvoyOptions<'a> {
    /// The exact JSON the filter gets; serialized into the plugin's `google.protobuf.StringValue`.
    pub plugin_config: &'a Value,
    /// From `RouteTable::backends()`: one Envoy cluster each, named `backend.cluster`.
    pub backends: &'a [Backend],
    /// The request header carrying the chosen cluster (`RouteTable::cluster_header()`).
    pub cluster_header: &'a str,
    /// Written as given into `vm_config.code.local.filename`.
    pub wasm_path: &'a str,
    /// Listener address and port (port 0 lets the kernel choose).
    pub listen: (String, u16),
    /// Admin listener; none when None.
    pub admin: Option<(String, u16)>,
    /// Backend endpoints keyed by `namespace/service:port` (`crate::compile::cluster::backend_key`), each
    /// `host:port` (IPv6 as `[addr]:port`). Backends without an entry resolve their Kubernetes service name.
    pub endpoints: &'a BTreeMap<String, Vec<String>>,
    /// Session affinity by cluster name (`RouteTable::affinity_of_cluster`), as Envoy must balance.
    pub affinity: &'a BTreeMap<String, AffinityMode>,
    /// Backend protocols, connect timeouts, Services, location timeouts and error pages
    /// (`Upstreams::of`), and the cluster domain of Service names.
    pub upstream: &'a Upstreams,
    /// The HTTPS listener (`render::tls::chains`); None renders plain HTTP only.
    pub tls: Option<&'a TlsListener>,
}

/// Renders the Envoy bootstrap. `Err` names a malformed endpoint entry.
///
/// Clusters:
/// - a backend with an `endpoints` entry gets exactly those addresses: `STATIC` when all are IP literals,
///   `STRICT_DNS` otherwise;
/// - a backend without an entry, or with `service-upstream`, whose port is a number resolves
///   `service.namespace.svc.<cluster domain>:port` with `STRICT_DNS` (the cluster IP of the Service, so
///   kube-proxy does the endpoint balancing);
/// - a backend without an entry whose port is a *name* cannot be resolved by DNS (the number behind a
///   named Service port is only known to the API server), so its cluster is rendered `STATIC` with no
///   endpoints: the configuration loads, and requests routed there get Envoy's 503 "no healthy upstream"
///   until an `endpoints` entry (or an EDS-fed cluster of the same name) supplies the addresses;
/// - with Services in the configuration ([`super::services`]): a backend of an `ExternalName` Service
///   resolves `externalName:port` with `STRICT_DNS`; a `sessionAffinity: ClientIP` Service's cluster is
///   `RING_HASH` on the client address; a backend whose Service is missing gets no cluster (the filter
///   answers 503).
pub fn bootstrap(opts: &EnvoyOptions<'_>) -> Result<Value, String> {
    let mut clusters = Vec::with_capacity(opts.backends.len());
    let no_endpoints = BTreeMap::new();
    let services = services_of(opts.plugin_config);
    for backend in opts.backends.iter().filter(|b| !b.unavailable) {
        let settings = opts.upstream.cluster(&backend.cluster);
        let external;
        let endpoints = match external_endpoint(&services, backend) {
            // An ExternalName Service is a DNS name, whatever else is known about the backend.
            Some(target) => {
                let key = backend_key(&backend.namespace, &backend.service, &backend.port);
                external = BTreeMap::from([(key, vec![target])]);
                &external
            }
            None if settings.service_upstream => &no_endpoints,
            None => opts.endpoints,
        };
        let mut c = cluster(backend, endpoints, opts.upstream)?;
        upstream::apply_cluster_settings(&mut c, &settings);
        let lb_policy = if opts.affinity.get(&backend.cluster) == Some(&AffinityMode::Balanced) {
            Some("MAGLEV")
        } else if client_ip_affinity(&services, backend) {
            Some("RING_HASH")
        } else {
            None
        };
        if let (Some(policy), Some(map)) = (lb_policy, c.as_object_mut()) {
            map.insert("lb_policy".into(), json!(policy));
        }
        clusters.push(c);
    }
    let settings = plugin_settings(opts.plugin_config);
    let mut listeners = vec![json!({
        "name": LISTENER_NAME,
        "address": socket_address(&opts.listen.0, opts.listen.1),
        "filter_chains": [{"filters": [http_connection_manager(opts, &settings, STAT_PREFIX, "http")]}],
    })];
    if let Some(https) = opts.tls.filter(|t| !t.is_empty()) {
        let hcm = http_connection_manager(opts, &settings, tls::STAT_PREFIX, "https");
        listeners.push(tls::listener(
            https,
            socket_address(&https.listen.0, https.listen.1),
            &hcm,
        ));
    }
    let mut root = json!({
        "static_resources": {
            "listeners": listeners,
            "clusters": clusters,
        }
    });
    if let (Some((address, port)), Some(map)) = (&opts.admin, root.as_object_mut()) {
        map.insert("admin".into(), json!({"address": socket_address(address, *port)}));
    }
    Ok(root)
}

/// How Envoy must balance each cluster with session affinity (the `affinity` of [`EnvoyOptions`]).
pub fn affinity_by_cluster(table: &crate::decide::RouteTable) -> BTreeMap<String, AffinityMode> {
    table
        .backends()
        .into_iter()
        .filter_map(|b| Some((b.cluster.clone(), table.affinity_of_cluster(&b.cluster)?.mode)))
        .collect()
}

/// The bootstrap as YAML (what `envoy -c` reads when the file ends in `.yaml`).
pub fn to_yaml(value: &Value) -> String {
    // Serializing a JSON value cannot fail; JSON is valid YAML should it ever do.
    serde_yaml_ng::to_string(value).unwrap_or_else(|_| value.to_string())
}

fn socket_address(address: &str, port: u16) -> Value {
    json!({"socket_address": {"address": address, "port_value": port}})
}

/// Envoy's `max_request_headers_kb`: room for the longest path the filter accepts (it answers 414
/// beyond) plus the other headers.
pub fn max_request_headers_kb(plugin_config: &Value) -> usize {
    headers_kb(&plugin_settings(plugin_config))
}

fn headers_kb(settings: &Settings) -> usize {
    settings.max_path_bytes.div_ceil(1024) + OTHER_HEADERS_KB
}

/// The settings the plugin configuration carries (one `render` has already loaded: they parse without
/// problems).
fn plugin_settings(plugin_config: &Value) -> Settings {
    Settings::parse(plugin_config.get("settings"), &mut Diagnostics::default())
}

/// The HTTP connection manager (as a network filter) of a listener whose requests arrive with `scheme`.
fn http_connection_manager(
    opts: &EnvoyOptions<'_>,
    settings: &Settings,
    stat_prefix: &str,
    scheme: &str,
) -> Value {
    let header = opts.cluster_header;
    let balanced = opts.affinity.values().any(|m| *m == AffinityMode::Balanced);
    let persistent = opts.affinity.values().any(|m| *m == AffinityMode::Persistent);
    // Internal headers never reach an upstream. The route strips them before the router picks the
    // endpoint, so the one the route hashes is stripped later, by the router's upstream filters.
    let mut internal = vec![header];
    if persistent {
        internal.push(SESSION_HEADER);
    }
    if !opts.upstream.profiles.is_empty() {
        internal.push(LOCATION_HEADER);
    }
    let services = services_of(opts.plugin_config);
    let client_ip = opts
        .backends
        .iter()
        .any(|b| !b.unavailable && client_ip_affinity(&services, b));
    let mut hash_policy = Vec::new();
    if balanced {
        let mut header_hash = json!({"header": {"header_name": HASH_HEADER}});
        if client_ip {
            // Terminal: a request with the filter's affinity key is hashed by that key alone.
            header_hash["terminal"] = json!(true);
        }
        hash_policy.push(header_hash);
    }
    if client_ip {
        hash_policy.push(source_ip_hash());
    }
    let route = if hash_policy.is_empty() {
        json!({"cluster_header": header})
    } else {
        json!({"cluster_header": header, "hash_policy": hash_policy})
    };
    let mut router = json!({"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"});
    if !opts.affinity.is_empty() {
        router["upstream_http_filters"] = json!([
            {
                "name": "envoy.filters.http.header_mutation",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                    "mutations": {"request_mutations": [{"remove": HASH_HEADER}]},
                },
            },
            {
                "name": "envoy.filters.http.upstream_codec",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec",
                },
            },
        ]);
    }
    let mut http_filters = vec![wasm_filter(opts)];
    if persistent {
        http_filters.push(stateful_session_filter());
    }
    http_filters.push(json!({"name": "envoy.filters.http.router", "typed_config": router}));
    let mut hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "use_remote_address": true,
        "normalize_path": true,
        "merge_slashes": true,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "strip_trailing_host_dot": true,
        "max_request_headers_kb": headers_kb(settings),
        "common_http_protocol_options": {"headers_with_underscores_action": "DROP_HEADER"},
        "route_config": {
            "name": "ingress",
            "virtual_hosts": [{
                "name": "ingress",
                "domains": ["*"],
                "routes": [{
                    "match": {"prefix": "/"},
                    "route": route,
                    "request_headers_to_remove": internal,
                }],
            }],
        },
        "http_filters": http_filters,
    });
    // `trustedHops` proxies in front name the client in X-Forwarded-For; with useForwardedHeaders at
    // least the balancer's entry is trusted.
    let hops = settings
        .trusted_hops
        .max(u32::from(settings.use_forwarded_headers));
    hcm["xff_num_trusted_hops"] = json!(hops);
    if !settings.use_forwarded_headers {
        // Envoy sets X-Forwarded-Proto from the connection (`use_remote_address`); this also pins `:scheme`,
        // which HTTP/2 clients would otherwise choose.
        hcm["scheme_header_transformation"] = json!({"scheme_to_overwrite": scheme});
    }
    if let Some(map) = hcm.as_object_mut() {
        upstream::apply_to_connection_manager(map, opts.upstream, settings.use_forwarded_headers);
    }
    json!({"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm})
}

fn wasm_filter(opts: &EnvoyOptions<'_>) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": PLUGIN_NAME,
                "root_id": PLUGIN_NAME,
                "vm_config": {
                    "vm_id": PLUGIN_NAME,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": opts.wasm_path}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": opts.plugin_config.to_string(),
                },
                "failure_policy": "FAIL_RELOAD",
            },
        },
    })
}

/// Envoy's stateful session with the header-based state on [`SESSION_HEADER`]: it prefers the endpoint
/// the filter names there (falling back to the load balancer when that endpoint is gone, `strict: false`)
/// and names the endpoint it finally chose on the response when it differs.
fn stateful_session_filter() -> Value {
    json!({
        "name": "envoy.filters.http.stateful_session",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
            "session_state": {
                "name": "envoy.http.stateful_session.header",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState",
                    "name": SESSION_HEADER,
                },
            },
            "strict": false,
        },
    })
}

/// One parsed `host:port` endpoint.
struct Endpoint {
    host: String,
    port: u16,
    is_ip: bool,
}

fn cluster(
    backend: &Backend,
    endpoints: &BTreeMap<String, Vec<String>>,
    upstreams: &Upstreams,
) -> Result<Value, String> {
    let key = backend_key(&backend.namespace, &backend.service, &backend.port);
    let (kind, addresses) = match endpoints.get(&key) {
        Some(list) => {
            let mut parsed = Vec::with_capacity(list.len());
            for (i, entry) in list.iter().enumerate() {
                let endpoint =
                    parse_endpoint(entry).map_err(|why| format!("endpoints[{key:?}][{i}]: {why}"))?;
                parsed.push(endpoint);
            }
            let kind = if parsed.iter().all(|e| e.is_ip) {
                "STATIC"
            } else {
                "STRICT_DNS"
            };
            (kind, parsed)
        }
        None => match backend.port.parse::<u16>() {
            Ok(port) if port > 0 => {
                let host = upstreams.service_host(backend);
                (
                    "STRICT_DNS",
                    vec![Endpoint {
                        host,
                        port,
                        is_ip: false,
                    }],
                )
            }
            // A named port: nothing DNS can resolve (see `bootstrap`).
            _ => ("STATIC", Vec::new()),
        },
    };
    let lb_endpoints: Vec<Value> = addresses
        .iter()
        .map(|e| json!({"endpoint": {"address": socket_address(&e.host, e.port)}}))
        .collect();
    let mut cluster = json!({
        "name": backend.cluster,
        "type": kind,
        "load_assignment": {
            "cluster_name": backend.cluster,
            "endpoints": if lb_endpoints.is_empty() { json!([]) } else { json!([{"lb_endpoints": lb_endpoints}]) },
        },
    });
    if kind == "STRICT_DNS" {
        if let Some(map) = cluster.as_object_mut() {
            map.insert("dns_lookup_family".into(), json!("V4_PREFERRED"));
        }
    }
    Ok(cluster)
}

/// Splits `host:port` or `[ipv6]:port` into the host (without brackets) and the port (digits only, 0
/// allowed: callers that need a real port check it). Shared by endpoints and the CLI's listen addresses.
pub fn split_host_port(text: &str) -> Result<(&str, u16), String> {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (addr, after) = rest.split_once(']').ok_or("unbalanced '['")?;
            let port = after.strip_prefix(':').ok_or("expected [addr]:port")?;
            (addr, port)
        }
        None => {
            let (host, port) = text.rsplit_once(':').ok_or("expected host:port")?;
            if host.contains(':') {
                return Err("write an IPv6 address in brackets, as [addr]:port".to_string());
            }
            (host, port)
        }
    };
    if host.is_empty() {
        return Err("the host is empty".to_string());
    }
    match port.parse::<u16>() {
        Ok(p) if port.bytes().all(|b| b.is_ascii_digit()) => Ok((host, p)),
        _ => Err(format!("port {port:?} is not a number from 0 to 65535")),
    }
}

/// `host:port`, `ip:port` or `[ipv6]:port`, with a port from 1 to 65535.
fn parse_endpoint(entry: &str) -> Result<Endpoint, String> {
    let (host, port) = split_host_port(entry).map_err(|why| format!("{entry:?}: {why}"))?;
    if entry.starts_with('[') && !matches!(host.parse::<IpAddr>(), Ok(IpAddr::V6(_))) {
        return Err(format!("{entry:?}: {host:?} is not an IPv6 address"));
    }
    if port == 0 {
        return Err(format!("{entry:?}: port 0 is not a port to connect to"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Endpoint {
            host: ip.to_string(),
            port,
            is_ip: true,
        });
    }
    let dns_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !dns_ok {
        return Err(format!(
            "{entry:?}: {host:?} is neither an IP address nor a DNS name"
        ));
    }
    Ok(Endpoint {
        host: host.to_ascii_lowercase(),
        port,
        is_ip: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::decide::backend;

    fn render(
        backends: &[Backend],
        endpoints: &BTreeMap<String, Vec<String>>,
        admin: bool,
    ) -> Result<Value, String> {
        let config = json!({"ingresses": [], "settings": {"semantics": "kubernetes"}});
        bootstrap(&EnvoyOptions {
            plugin_config: &config,
            backends,
            cluster_header: "x-ingress-cluster",
            wasm_path: "/etc/envoy/ingress_wasm.wasm",
            listen: ("0.0.0.0".into(), 8080),
            admin: admin.then(|| ("127.0.0.1".to_string(), 9901)),
            endpoints,
            affinity: &BTreeMap::new(),
            upstream: &Upstreams::default(),
            tls: None,
        })
    }

    fn hcm(root: &Value) -> &Value {
        &root["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    }

    fn cluster_named<'v>(root: &'v Value, name: &str) -> &'v Value {
        root["static_resources"]["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no cluster {name}"))
    }

    #[test]
    fn listener_routes_by_the_cluster_header_behind_the_filter() {
        let root = render(&[], &BTreeMap::new(), false).unwrap();
        let listener = &root["static_resources"]["listeners"][0];
        assert_eq!(
            listener["address"]["socket_address"],
            json!({"address": "0.0.0.0", "port_value": 8080})
        );
        let hcm = hcm(&root);
        assert_eq!(hcm["stat_prefix"], "ingress_http");
        for flag in [
            "use_remote_address",
            "normalize_path",
            "merge_slashes",
            "strip_trailing_host_dot",
        ] {
            assert_eq!(hcm[flag], true, "{flag}");
        }
        assert_eq!(hcm["path_with_escaped_slashes_action"], "UNESCAPE_AND_REDIRECT");
        assert_eq!(
            hcm["common_http_protocol_options"]["headers_with_underscores_action"],
            "DROP_HEADER"
        );
        assert_eq!(hcm["max_request_headers_kb"], 8 + OTHER_HEADERS_KB);
        let raised = json!({"settings": {"maxPathBytes": 65536}});
        assert_eq!(max_request_headers_kb(&raised), 64 + OTHER_HEADERS_KB);
        assert!(hcm.get("strip_matching_host_port").is_none() && hcm.get("strip_any_host_port").is_none());
        let hosts = hcm["route_config"]["virtual_hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0]["domains"], json!(["*"]));
        assert_eq!(
            hosts[0]["routes"],
            json!([{
                "match": {"prefix": "/"},
                "route": {
                    "cluster_header": "x-ingress-cluster",
                    // ingress-nginx's default proxy-read-timeout (see render::upstream).
                    "timeout": "0s",
                    "idle_timeout": "65s",
                    "retry_policy": {"per_try_idle_timeout": "60s"},
                },
                "request_headers_to_remove": ["x-ingress-cluster"],
            }])
        );
        let filters = hcm["http_filters"].as_array().unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[1]["name"], "envoy.filters.http.router");
        let wasm = &filters[0]["typed_config"];
        assert_eq!(
            wasm["@type"],
            "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
        );
        let config = &wasm["config"];
        assert_eq!(config["name"], "ingress_wasm");
        assert_eq!(config["root_id"], "ingress_wasm");
        assert_eq!(config["failure_policy"], "FAIL_RELOAD");
        assert_eq!(config["vm_config"]["runtime"], "envoy.wasm.runtime.v8");
        assert_eq!(
            config["vm_config"]["code"]["local"]["filename"],
            "/etc/envoy/ingress_wasm.wasm"
        );
        assert_eq!(
            config["configuration"]["@type"],
            "type.googleapis.com/google.protobuf.StringValue"
        );
        let carried: Value =
            serde_json::from_str(config["configuration"]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            carried,
            json!({"ingresses": [], "settings": {"semantics": "kubernetes"}})
        );
        assert!(root.get("admin").is_none());
        assert_eq!(root["static_resources"]["clusters"], json!([]));
    }

    #[test]
    fn https_listener_and_the_scheme_the_filter_sees() {
        use crate::render::tls::{TlsChain, TlsListener};
        let tls = TlsListener {
            listen: ("0.0.0.0".into(), 8443),
            chains: vec![TlsChain {
                server_names: vec!["a.test".into()],
                certificate: "certs/ns/a/tls.crt".into(),
                private_key: "certs/ns/a/tls.key".into(),
            }],
            default: None,
        };
        let render_with = |settings: Value, tls: Option<&TlsListener>| {
            let config = json!({"ingresses": [], "settings": settings});
            bootstrap(&EnvoyOptions {
                plugin_config: &config,
                backends: &[],
                cluster_header: "x-ingress-cluster",
                wasm_path: "m.wasm",
                listen: ("0.0.0.0".into(), 8080),
                admin: None,
                endpoints: &BTreeMap::new(),
                affinity: &BTreeMap::new(),
                tls,
                upstream: &Upstreams::default(),
            })
            .unwrap()
        };
        let root = render_with(json!({}), Some(&tls));
        let listeners = root["static_resources"]["listeners"].as_array().unwrap();
        assert_eq!(listeners.len(), 2);
        let https = &listeners[1];
        assert_eq!(https["name"], "ingress_https");
        assert_eq!(
            https["address"]["socket_address"],
            json!({"address": "0.0.0.0", "port_value": 8443})
        );
        let plain_hcm = hcm(&root);
        let tls_hcm = &https["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(tls_hcm["stat_prefix"], "ingress_https");
        // Each listener pins :scheme (and X-Forwarded-Proto) to its own; no forwarded hop is trusted.
        assert_eq!(
            plain_hcm["scheme_header_transformation"],
            json!({"scheme_to_overwrite": "http"})
        );
        assert_eq!(
            tls_hcm["scheme_header_transformation"],
            json!({"scheme_to_overwrite": "https"})
        );
        assert_eq!(plain_hcm["xff_num_trusted_hops"], 0);
        // Otherwise the same connection manager: same filters, same route.
        for key in [
            "http_filters",
            "route_config",
            "normalize_path",
            "max_request_headers_kb",
        ] {
            assert_eq!(plain_hcm[key], tls_hcm[key], "{key}");
        }

        // A trusted balancer in front: its X-Forwarded-* are kept, :scheme is not pinned.
        let root = render_with(json!({"useForwardedHeaders": true}), Some(&tls));
        let https_hcm =
            &root["static_resources"]["listeners"][1]["filter_chains"][0]["filters"][0]["typed_config"];
        for h in [hcm(&root), https_hcm] {
            assert_eq!(h["xff_num_trusted_hops"], 1);
            assert!(h.get("scheme_header_transformation").is_none());
        }

        // No certificates, no HTTPS listener.
        let empty = TlsListener {
            listen: ("0.0.0.0".into(), 8443),
            chains: vec![],
            default: None,
        };
        for tls in [None, Some(&empty)] {
            let root = render_with(json!({}), tls);
            assert_eq!(root["static_resources"]["listeners"].as_array().unwrap().len(), 1);
        }
    }

    #[test]
    fn admin_only_when_asked() {
        let root = render(&[], &BTreeMap::new(), true).unwrap();
        assert_eq!(
            root["admin"]["address"]["socket_address"],
            json!({"address": "127.0.0.1", "port_value": 9901})
        );
    }

    #[test]
    fn clusters_from_endpoints_or_service_dns() {
        let backends = [
            backend("game-prod", "game-lobby", "80"),
            backend("game-prod", "game-room", "80"),
            backend("default", "echo", "3000"),
            backend("web", "named", "http"),
            backend("web", "v6", "8080"),
        ];
        let endpoints = BTreeMap::from([
            (
                "game-prod/game-lobby:80".to_string(),
                vec!["127.0.0.1:8001".to_string(), "10.0.0.2:8002".to_string()],
            ),
            (
                "default/echo:3000".to_string(),
                vec!["echo.internal:3000".to_string(), "10.0.0.3:3000".to_string()],
            ),
            ("web/v6:8080".to_string(), vec!["[::1]:8080".to_string()]),
            ("unused/key:1".to_string(), vec!["127.0.0.1:1".to_string()]),
        ]);
        let root = render(&backends, &endpoints, false).unwrap();
        assert_eq!(root["static_resources"]["clusters"].as_array().unwrap().len(), 5);

        let lobby = cluster_named(&root, "game-prod/game-lobby:80");
        assert_eq!(lobby["type"], "STATIC");
        assert_eq!(lobby["connect_timeout"], "5s");
        assert_eq!(
            lobby["load_assignment"]["cluster_name"],
            "game-prod/game-lobby:80"
        );
        let eps = &lobby["load_assignment"]["endpoints"][0]["lb_endpoints"];
        assert_eq!(
            eps[0]["endpoint"]["address"]["socket_address"],
            json!({"address": "127.0.0.1", "port_value": 8001})
        );
        assert_eq!(
            eps[1]["endpoint"]["address"]["socket_address"],
            json!({"address": "10.0.0.2", "port_value": 8002})
        );

        let room = cluster_named(&root, "game-prod/game-room:80");
        assert_eq!(room["type"], "STRICT_DNS");
        assert_eq!(
            room["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"],
            json!({"address": "game-room.game-prod.svc.cluster.local", "port_value": 80})
        );

        let echo = cluster_named(&root, "default/echo:3000");
        assert_eq!(
            echo["type"], "STRICT_DNS",
            "a DNS name among the endpoints needs STRICT_DNS"
        );
        assert_eq!(
            echo["load_assignment"]["endpoints"][0]["lb_endpoints"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        let named = cluster_named(&root, "web/named:http");
        assert_eq!(named["type"], "STATIC");
        assert_eq!(named["load_assignment"]["endpoints"], json!([]));

        let v6 = cluster_named(&root, "web/v6:8080");
        assert_eq!(v6["type"], "STATIC");
        assert_eq!(
            v6["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"],
            json!({"address": "::1", "port_value": 8080})
        );
    }

    #[test]
    fn cluster_names_follow_the_backend() {
        let mut b = backend("ns", "svc", "8080");
        b.cluster = "outbound|8080||svc.ns.svc.cluster.local".into();
        let root = render(&[b], &BTreeMap::new(), false).unwrap();
        let c = cluster_named(&root, "outbound|8080||svc.ns.svc.cluster.local");
        assert_eq!(
            c["load_assignment"]["cluster_name"],
            "outbound|8080||svc.ns.svc.cluster.local"
        );
    }

    #[test]
    fn malformed_endpoints_are_errors() {
        let backends = [backend("ns", "svc", "80")];
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:http",
            "127.0.0.1:70000",
            ":80",
            "[::1:80",
            "[10.0.0.1]:80",
            "a b:80",
            "host:+80",
            "::1:80",
        ] {
            let endpoints = BTreeMap::from([("ns/svc:80".to_string(), vec![bad.to_string()])]);
            let err = render(&backends, &endpoints, false).unwrap_err();
            assert!(err.starts_with("endpoints[\"ns/svc:80\"][0]: "), "{bad}: {err}");
        }
    }

    #[test]
    fn yaml_round_trips() {
        let backends = [backend("game-prod", "game-lobby", "80")];
        let endpoints = BTreeMap::from([(
            "game-prod/game-lobby:80".to_string(),
            vec!["127.0.0.1:8001".to_string()],
        )]);
        let root = render(&backends, &endpoints, true).unwrap();
        let yaml = to_yaml(&root);
        assert!(yaml.contains("cluster_header: x-ingress-cluster"), "{yaml}");
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, root);
    }

    #[test]
    fn trusted_hops_become_envoys_xff_num_trusted_hops() {
        let root = render(&[], &BTreeMap::new(), false).unwrap();
        assert_eq!(hcm(&root)["xff_num_trusted_hops"], 0);
        let config = json!({"ingresses": [], "settings": {"trustedHops": 2}});
        let root = bootstrap(&EnvoyOptions {
            plugin_config: &config,
            backends: &[],
            cluster_header: "x-ingress-cluster",
            wasm_path: "/etc/envoy/ingress_wasm.wasm",
            listen: ("0.0.0.0".into(), 8080),
            admin: None,
            endpoints: &BTreeMap::new(),
            affinity: &BTreeMap::new(),
            tls: None,
            upstream: &Upstreams::default(),
        })
        .unwrap();
        assert_eq!(hcm(&root)["xff_num_trusted_hops"], 2);
        assert_eq!(hcm(&root)["use_remote_address"], true);
    }
}
