//! The demo's backends: one small HTTP server per backend of an endpoints file (default
//! `k8s/examples/demo-endpoints.json`), each answering every request with JSON naming its service and
//! echoing the path and headers it received. Runs until killed.
//!
//! ```text
//! cargo run --release --example demo_backends [-- ENDPOINTS.json]
//! ```

#[allow(dead_code, clippy::panic)]
#[path = "../tests/support/echo_server.rs"]
mod echo_server;

use std::process::ExitCode;

const DEFAULT_ENDPOINTS: &str = "k8s/examples/demo-endpoints.json";

fn main() -> ExitCode {
    let file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_ENDPOINTS.to_string());
    match run(&file) {
        Ok(servers) => {
            println!(
                "demo backends ready ({} servers); Ctrl-C stops them",
                servers.len()
            );
            // The servers run on their own threads; keep them (and their listeners) alive.
            loop {
                std::thread::park();
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(file: &str) -> Result<Vec<echo_server::EchoServer>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{file}: invalid JSON: {e}"))?;
    let Some(map) = value.as_object() else {
        return Err(format!(
            "{file}: expected {{\"namespace/service:port\": [\"host:port\", ...]}}"
        ));
    };
    let mut servers = Vec::new();
    for (backend, addresses) in map {
        // `namespace/service:port` -> `service`: what the server answers with.
        let service = backend
            .split_once('/')
            .map_or(backend.as_str(), |(_, rest)| rest)
            .rsplit_once(':')
            .map_or(backend.as_str(), |(service, _)| service);
        for address in addresses.as_array().into_iter().flatten() {
            let Some(address) = address.as_str() else {
                return Err(format!(
                    "{file}: {backend}: addresses must be \"host:port\" strings"
                ));
            };
            let server = echo_server::EchoServer::start_on(service, address)
                .map_err(|e| format!("{backend}: cannot listen on {address}: {e}"))?;
            println!("{:<20} http://{}  ({backend})", server.name, server.addr);
            servers.push(server);
        }
    }
    Ok(servers)
}
