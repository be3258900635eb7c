//! The headers ingress-nginx sets toward every backend (`nginx.tmpl`: `proxy_set_header X-Request-ID`,
//! `X-Real-IP`, `X-Forwarded-*`, `X-Scheme`, `X-Original-Forwarded-*`, `Proxy ""`), made by Envoy
//! itself so the filter does no work for them. Each replaces whatever the client sent:
//!
//! | header | value | set by |
//! |---|---|---|
//! | `X-Request-ID` | the client's, else a new UUID (`$req_id`) | Envoy: `preserve_external_request_id` |
//! | `X-Real-IP`, `X-Forwarded-For` | the client's address (`$remote_addr`; with trusted hops, the one Envoy took from `X-Forwarded-For`) | virtual host |
//! | `X-Forwarded-Host` | the request's `Host` as the client sent it, port included (`$best_http_host`) | early header mutation |
//! | `X-Forwarded-Port` | the port the listener accepted the connection on (`$server_port`) | virtual host |
//! | `X-Forwarded-Proto` | `http` or `https` (`$scheme`) | Envoy (`use_remote_address`) |
//!
//! With `settings.useForwardedHeaders` (ingress-nginx's `use-forwarded-headers`) a client's
//! `X-Forwarded-Host`, `-Port` and `-Proto` are kept (Envoy trusts the hop in front of it), and the client
//! address is the one Envoy takes from `X-Forwarded-For`.
//! | `X-Forwarded-Scheme`, `X-Scheme` | the same as `X-Forwarded-Proto` | virtual host |
//! | `X-Original-Forwarded-For`, `X-Original-Forwarded-Host` | the client's own `X-Forwarded-For` / `-Host`, absent if it sent none | early header mutation |
//! | `Proxy` | removed (httpoxy) | virtual host |
//! | `Upgrade`, `Connection` | passed on for WebSocket upgrades | Envoy: `upgrade_configs` |
//!
//! The early header mutation runs once per client request, before Envoy appends the peer to
//! `X-Forwarded-For` and before any filter, so `X-Forwarded-Host` and the originals see the request as it
//! arrived (before the filter or `upstream-vhost` change the host). The virtual host's values are
//! evaluated when the request goes upstream; `X-Forwarded-For` is replaced by the client's address there,
//! as ingress-nginx does (unless `use-forwarded-headers` and `compute-full-forwarded-for`, which have no
//! counterpart here).

use serde_json::{json, Map, Value};

/// `append_action` that replaces every client copy of a header.
const OVERWRITE: &str = "OVERWRITE_IF_EXISTS_OR_ADD";

fn set(name: &str, value: &str) -> Value {
    json!({"header": {"key": name, "value": value}, "append_action": OVERWRITE})
}

/// Whether a header replaces the client's copy, or (trusted forwarded headers) only fills in a missing one.
fn action(trusted: bool) -> &'static str {
    if trusted {
        "ADD_IF_ABSENT"
    } else {
        OVERWRITE
    }
}

/// The connection manager's part: request IDs kept from clients, WebSocket upgrades, and the early header
/// mutation, which also drops a client's copies of `envoy_only` headers. `trust_forwarded`
/// (`settings.useForwardedHeaders`, ingress-nginx's `use-forwarded-headers`): the client's
/// `X-Forwarded-Host` is kept.
pub fn connection_manager(hcm: &mut Map<String, Value>, envoy_only: &[&str], trust_forwarded: bool) {
    hcm.insert("preserve_external_request_id".into(), json!(true));
    // ingress-nginx passes `Upgrade` / `Connection` on, so WebSockets work; Envoy refuses upgrades (403)
    // it is not told about.
    hcm.insert("upgrade_configs".into(), json!([{"upgrade_type": "websocket"}]));
    let mut mutations: Vec<Value> = envoy_only.iter().map(|name| json!({"remove": name})).collect();
    let forwarded_host = json!({"header": {"key": "x-forwarded-host", "value": "%REQ(:AUTHORITY)%"},
                                "append_action": action(trust_forwarded)});
    mutations.extend([
        json!({"remove": "x-original-forwarded-for"}),
        json!({"append": set("x-original-forwarded-for", "%REQ(X-FORWARDED-FOR)%")}),
        json!({"remove": "x-original-forwarded-host"}),
        json!({"append": set("x-original-forwarded-host", "%REQ(X-FORWARDED-HOST)%")}),
        json!({"append": forwarded_host}),
    ]);
    hcm.insert(
        "early_header_mutation_extensions".into(),
        json!([{
            "name": "envoy.http.early_header_mutation.header_mutation",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation",
                "mutations": mutations,
            },
        }]),
    );
}

/// The virtual host's part, evaluated when the request goes upstream. `trust_forwarded`: the client's
/// `X-Forwarded-Port` is kept.
pub fn virtual_host(vhost: &mut Map<String, Value>, trust_forwarded: bool) {
    let client = "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%";
    let scheme = "%REQ(X-FORWARDED-PROTO)%";
    let port = json!({"header": {"key": "x-forwarded-port", "value": "%DOWNSTREAM_LOCAL_PORT%"},
                      "append_action": action(trust_forwarded)});
    vhost.insert(
        "request_headers_to_add".into(),
        json!([
            set("x-real-ip", client),
            set("x-forwarded-for", client),
            port,
            set("x-forwarded-scheme", scheme),
            set("x-scheme", scheme),
        ]),
    );
    vhost.insert("request_headers_to_remove".into(), json!(["proxy"]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_replaces_the_clients() {
        let mut vhost = Map::new();
        virtual_host(&mut vhost, false);
        let mut hcm = Map::new();
        connection_manager(&mut hcm, &["x-internal"], false);
        let added = vhost["request_headers_to_add"].as_array().unwrap().iter().chain(
            hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m.get("append")),
        );
        let mut names = Vec::new();
        for option in added {
            assert_eq!(option["append_action"], OVERWRITE, "{option}");
            names.push(option["header"]["key"].as_str().unwrap().to_string());
        }
        names.sort();
        assert_eq!(
            names,
            [
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-port",
                "x-forwarded-scheme",
                "x-original-forwarded-for",
                "x-original-forwarded-host",
                "x-real-ip",
                "x-scheme"
            ]
        );
        // Copies of the client's own headers are dropped first, so an absent original stays absent.
        let mutations = &hcm["early_header_mutation_extensions"][0]["typed_config"]["mutations"];
        assert_eq!(mutations[0], json!({"remove": "x-internal"}));
        assert_eq!(mutations[1], json!({"remove": "x-original-forwarded-for"}));
        assert_eq!(mutations[3], json!({"remove": "x-original-forwarded-host"}));
        assert_eq!(hcm["preserve_external_request_id"], true);
        assert_eq!(hcm["upgrade_configs"], json!([{"upgrade_type": "websocket"}]));
    }
}
