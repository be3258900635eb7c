//! Several endpoints per service behind one or more Envoys: what canary and session-affinity tests need.
//! Each endpoint is an echo upstream named `<service>#<n>`, so a response says which endpoint answered.
//! The configuration goes through the same steps as `render envoy --endpoints`.

use super::echo_server::EchoServer;
use super::envoy::{wasm_module, Envoy};
use super::http::{self, Response};
use ingress_wasm::compile::cluster::backend_key;
use ingress_wasm::config::{keep_affinity_endpoints, load_value, plugin_config, set_endpoints};
use ingress_wasm::render::envoy::{affinity_by_cluster, bootstrap, to_yaml, EnvoyOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The endpoints of each backend, started once and shared by every Envoy a test renders.
pub struct Fleet {
    ingresses: Vec<Value>,
    /// Echo upstreams by `namespace/service:port`.
    pub servers: BTreeMap<String, Vec<EchoServer>>,
}

impl Fleet {
    /// Starts `count` endpoints for each `(namespace, service, port)`.
    pub fn new(ingresses: Vec<Value>, backends: &[(&str, &str, u16, usize)]) -> Fleet {
        let mut servers = BTreeMap::new();
        for &(ns, service, port, count) in backends {
            let list: Vec<EchoServer> = (0..count)
                .map(|i| EchoServer::start(&format!("{service}#{i}")))
                .collect();
            servers.insert(backend_key(ns, service, &port.to_string()), list);
        }
        Fleet { ingresses, servers }
    }

    /// Adds one endpoint to a backend (as a scale-up would); returns its name.
    pub fn scale_up(&mut self, key: &str) -> String {
        let list = self.servers.entry(key.to_string()).or_default();
        let service = key.split(['/', ':']).nth(1).unwrap_or("svc").to_string();
        let server = EchoServer::start(&format!("{service}#{}", list.len()));
        let name = server.name.clone();
        list.push(server);
        name
    }

    /// The endpoints' addresses, without those named in `leave_out` (as a scale-down would).
    pub fn endpoints(&self, leave_out: &[&str]) -> BTreeMap<String, Vec<String>> {
        self.servers
            .iter()
            .map(|(key, list)| {
                let addresses = list
                    .iter()
                    .filter(|s| !leave_out.contains(&s.name.as_str()))
                    .map(|s| s.addr.to_string())
                    .collect();
                (key.clone(), addresses)
            })
            .collect()
    }

    /// Renders, validates and starts an Envoy over these endpoints (minus `leave_out`).
    pub fn envoy(&self, label: &str, leave_out: &[&str]) -> Envoy {
        let endpoints = self.endpoints(leave_out);
        let mut config = plugin_config(self.ingresses.clone(), None);
        set_endpoints(&mut config, &endpoints);
        let compiled = load_value(&config).unwrap_or_else(|d| panic!("{label}: config refused: {d:?}"));
        keep_affinity_endpoints(&mut config, &compiled.table);
        let backends = compiled.table.backends();
        let wasm = wasm_module().to_string_lossy().into_owned();
        let rendered = bootstrap(&EnvoyOptions {
            plugin_config: &config,
            backends: &backends,
            cluster_header: compiled.table.cluster_header(),
            wasm_path: &wasm,
            listen: ("127.0.0.1".to_string(), 0),
            admin: Some(("127.0.0.1".to_string(), 0)),
            endpoints: &endpoints,
            affinity: &affinity_by_cluster(&compiled.table),
            tls: None,
        })
        .unwrap_or_else(|e| panic!("{label}: bootstrap: {e}"));
        Envoy::start(label, &to_yaml(&rendered))
    }
}

/// `GET path` on `host` through `envoy` with extra headers.
pub fn get(envoy: &Envoy, host: &str, path: &str, headers: &[(&str, &[u8])]) -> Response {
    http::get_with(envoy.addr, host, path, headers)
}

/// The endpoint (`service#n`) that answered, or a description of what came back instead.
pub fn endpoint(r: &Response) -> Result<String, String> {
    match (r.status, r.echo()) {
        (200, Some(echo)) => Ok(echo.service),
        _ => Err(r.summary()),
    }
}

/// The service part of an endpoint name.
pub fn service(endpoint: &str) -> &str {
    endpoint.split('#').next().unwrap_or(endpoint)
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(r: &Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `name=value` of the `Set-Cookie` for cookie `name`, ready to send back.
pub fn cookie_pair(r: &Response, name: &str) -> Option<String> {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

/// The listener address, for requests built by hand.
pub fn addr(envoy: &Envoy) -> SocketAddr {
    envoy.addr
}
