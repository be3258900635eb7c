//! Backends that speak what `backend-protocol` asks for: a second Envoy in front of an echo server with
//! three listeners, HTTPS (TLS, HTTP/1.1), h2c (HTTP/2 in clear text, no HTTP/1) and h2 over TLS (ALPN
//! `h2` only). It tells the echo server how each request arrived: `x-arrived-protocol` (`HTTP/1.1`,
//! `HTTP/2`) and `x-arrived-tls` (the TLS version; absent in clear text). The certificate is a fresh
//! self-signed one (`openssl`); the gateway does not verify it, as ingress-nginx did not.

use super::echo_server::EchoServer;
use super::envoy::{Envoy, TempDir};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Command;

pub struct ProtocolFront {
    pub envoy: Envoy,
    pub https: SocketAddr,
    pub h2c: SocketAddr,
    pub h2_tls: SocketAddr,
    _echo: EchoServer,
    _certs: TempDir,
}

impl ProtocolFront {
    /// Starts the echo server (named `service`) and the Envoy in front of it.
    pub fn start(service: &str) -> ProtocolFront {
        let echo = EchoServer::start(service);
        let certs = TempDir::new("backend-certs");
        let (cert, key) = (certs.path.join("cert.pem"), certs.path.join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=backend.test",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (needed for a TLS backend): {e}"));
        assert!(
            made.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let tls = |alpn: &str| {
            json!({
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {
                        "alpn_protocols": [alpn],
                        "tls_certificates": [{
                            "certificate_chain": {"filename": cert.to_string_lossy()},
                            "private_key": {"filename": key.to_string_lossy()},
                        }],
                    },
                },
            })
        };
        let listeners = vec![
            listener("https", "HTTP1", Some(tls("http/1.1"))),
            listener("h2c", "HTTP2", None),
            listener("h2_tls", "HTTP2", Some(tls("h2"))),
        ];
        let config = json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "static_resources": {
                "listeners": listeners,
                "clusters": [{
                    "name": "echo",
                    "type": "STATIC",
                    "connect_timeout": "2s",
                    "load_assignment": {"cluster_name": "echo", "endpoints": [{"lb_endpoints": [{"endpoint": {
                        "address": {"socket_address": {"address": "127.0.0.1", "port_value": echo.addr.port()}},
                    }}]}]},
                }],
            },
        });
        let envoy = Envoy::start("protocol-front", &config.to_string());
        let port = |name: &str| listener_addr(&envoy, name);
        ProtocolFront {
            https: port("https"),
            h2c: port("h2c"),
            h2_tls: port("h2_tls"),
            envoy,
            _echo: echo,
            _certs: certs,
        }
    }
}

fn listener(name: &str, codec: &str, tls: Option<Value>) -> Value {
    let mut chain = json!({"filters": [{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "codec_type": codec,
            "route_config": {"virtual_hosts": [{
                "name": "echo",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}],
                "request_headers_to_add": [
                    {"header": {"key": "x-arrived-protocol", "value": "%PROTOCOL%"}},
                    {"header": {"key": "x-arrived-tls", "value": "%DOWNSTREAM_TLS_VERSION%"}},
                ],
            }]},
            "http_filters": [{
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }],
        },
    }]});
    if let Some(tls) = tls {
        chain["transport_socket"] = tls;
    }
    json!({
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [chain],
    })
}

/// The address a named listener of `envoy` is bound to.
fn listener_addr(envoy: &Envoy, name: &str) -> SocketAddr {
    let listeners: Value = serde_json::from_str(&envoy.admin_get("/listeners?format=json"))
        .unwrap_or_else(|e| panic!("admin /listeners: {e}"));
    let port = listeners["listener_statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["name"] == name)
        .and_then(|l| l["local_address"]["socket_address"]["port_value"].as_u64())
        .unwrap_or_else(|| panic!("no listener {name}: {listeners}"));
    SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).unwrap_or(0)))
}
