//! One scenario = a set of Ingresses loaded by the native core, one echo upstream per backend, the Envoy
//! bootstrap rendered around them, validated, and a running Envoy. Plus small builders for Ingress JSON
//! and a collector that reports every failed expectation of a table at once.

use super::echo_server::EchoServer;
use super::envoy::{wasm_module, Envoy};
use super::http::{self, Response};
use ingress_wasm::compile::cluster::backend_key;
use ingress_wasm::decide::reply_body;
use ingress_wasm::render::envoy::{bootstrap, to_yaml, EnvoyOptions};
use ingress_wasm::render::tls::{chains, TlsListener};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

pub struct Scenario {
    pub envoy: Envoy,
    /// Echo upstreams by backend cluster name; each is named after its Service.
    pub upstreams: BTreeMap<String, EchoServer>,
    pub cluster_header: String,
}

/// Renders the bootstrap for `plugin_config` with loopback listener and admin on ephemeral ports.
pub fn render(
    plugin_config: &Value,
    backends: &[ingress_wasm::decide::Backend],
    cluster_header: &str,
    endpoints: &BTreeMap<String, Vec<String>>,
) -> Value {
    render_with_tls(plugin_config, backends, cluster_header, endpoints, None)
}

/// [`render`], with an HTTPS listener when `tls` is given.
pub fn render_with_tls(
    plugin_config: &Value,
    backends: &[ingress_wasm::decide::Backend],
    cluster_header: &str,
    endpoints: &BTreeMap<String, Vec<String>>,
    tls: Option<&TlsListener>,
) -> Value {
    let wasm = wasm_module().to_string_lossy().into_owned();
    bootstrap(&EnvoyOptions {
        plugin_config,
        backends,
        cluster_header,
        wasm_path: &wasm,
        listen: ("127.0.0.1".to_string(), 0),
        admin: Some(("127.0.0.1".to_string(), 0)),
        endpoints,
        affinity: &BTreeMap::new(),
        tls,
    })
    .unwrap_or_else(|e| panic!("bootstrap: {e}"))
}

impl Scenario {
    /// Loads the Ingresses (panicking with the diagnostics if the core refuses them), starts an echo
    /// upstream per backend, renders, validates and starts Envoy.
    pub fn start(label: &str, ingresses: Vec<Value>, settings: Option<Value>) -> Scenario {
        Self::start_with(label, ingresses, settings, |_| {})
    }

    /// [`start`](Self::start), with `edit` applied to the rendered bootstrap before Envoy validates it.
    pub fn start_with(
        label: &str,
        ingresses: Vec<Value>,
        settings: Option<Value>,
        edit: impl FnOnce(&mut Value),
    ) -> Scenario {
        Self::launch(label, ingresses, settings, None, edit)
    }

    /// [`start`](Self::start) with an HTTPS listener on an ephemeral port, its certificates from
    /// `secrets` (as `render envoy --tls-dir`); [`Envoy::listener_addr`] finds it.
    pub fn start_https(
        label: &str,
        ingresses: Vec<Value>,
        settings: Option<Value>,
        secrets: &Path,
    ) -> Scenario {
        Self::launch(label, ingresses, settings, Some(secrets), |_| {})
    }

    fn launch(
        label: &str,
        ingresses: Vec<Value>,
        settings: Option<Value>,
        secrets: Option<&Path>,
        edit: impl FnOnce(&mut Value),
    ) -> Scenario {
        let config = ingress_wasm::config::plugin_config(ingresses, settings);
        let compiled = ingress_wasm::config::load_value(&config).unwrap_or_else(|diags| {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!(
                "the core refused the {label} configuration:\n{}",
                lines.join("\n")
            )
        });
        let backends = compiled.table.backends();
        let mut upstreams = BTreeMap::new();
        let mut endpoints = BTreeMap::new();
        for b in &backends {
            let server = EchoServer::start(&b.service);
            endpoints.insert(
                backend_key(&b.namespace, &b.service, &b.port),
                vec![server.addr.to_string()],
            );
            upstreams.insert(b.cluster.clone(), server);
        }
        let cluster_header = compiled.table.cluster_header().to_string();
        let tls = secrets.map(|dir| {
            let (chains, default, problems) = chains(compiled.table.tls(), &dir.display().to_string());
            let errors: Vec<String> = problems
                .iter()
                .filter(|p| p.is_error())
                .map(ToString::to_string)
                .collect();
            assert!(errors.is_empty(), "{label}: certificates: {errors:#?}");
            TlsListener {
                listen: ("127.0.0.1".to_string(), 0),
                chains,
                default,
            }
        });
        let mut rendered = render_with_tls(&config, &backends, &cluster_header, &endpoints, tls.as_ref());
        edit(&mut rendered);
        let envoy = Envoy::start(label, &to_yaml(&rendered));
        Scenario {
            envoy,
            upstreams,
            cluster_header,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.envoy.addr
    }

    pub fn get(&self, host: &str, path: &str) -> Response {
        http::get(self.envoy.addr, host, path)
    }
}

/// An Ingress as `kubectl get ingress -o json` prints it. `namespace` None leaves metadata.namespace out.
pub fn ingress(namespace: Option<&str>, name: &str, annotations: Value, spec: Value) -> Value {
    let mut metadata = json!({"name": name, "annotations": annotations});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec})
}

/// One `http.paths` entry to a numbered service port.
/// The seeds' game Ingress (no host, rewrite-target "/"); the third path's type is a parameter so a test
/// can make it invalid.
pub fn game_ingress(third_path_type: &str) -> Value {
    ingress(
        Some("game-prod"),
        "game-ingress",
        json!({"nginx.ingress.kubernetes.io/rewrite-target": "/"}),
        json!({
            "ingressClassName": "nginx",
            "rules": [rule(None, vec![
                path("/lobby", "Prefix", "game-lobby", 80),
                path("/room", "Prefix", "game-room", 80),
                path("/chat", third_path_type, "game-chat", 80),
                path("/ranking", "Prefix", "game-ranking", 80),
            ])],
        }),
    )
}

/// The seeds' echo Ingress: no namespace, `host` / Prefix to service `name` port 3000.
pub fn echo_ingress(name: &str, host: &str) -> Value {
    ingress(
        None,
        name,
        json!({}),
        json!({"rules": [rule(Some(host), vec![path("/", "Prefix", name, 3000)])]}),
    )
}

pub fn path(path: &str, path_type: &str, service: &str, port: u16) -> Value {
    json!({"path": path, "pathType": path_type, "backend": {"service": {"name": service, "port": {"number": port}}}})
}

/// A rule; `host` None makes a host-less rule.
pub fn rule(host: Option<&str>, paths: Vec<Value>) -> Value {
    let mut r = json!({"http": {"paths": paths}});
    if let Some(h) = host {
        r["host"] = json!(h);
    }
    r
}

/// Whether `r` is a local reply of the filter: this status, the filter's body for it
/// ([`reply_body`]), and no upstream's answer. Envoy's own replies have other bodies (its 400 says
/// `Bad Request`, its 404 and 503 no-route or no-cluster answers are empty or name the cause).
pub fn is_filter_reply(r: &Response, status: u16) -> bool {
    r.status == status && r.body_text() == reply_body(status) && r.echo().is_none()
}

/// What a request should get.
#[derive(Debug, Clone)]
pub enum Expect {
    /// 200 from this Service, which saw this path (query included).
    Backend { service: String, path: String },
    /// The filter's own 404 (not Envoy's: see [`is_filter_reply`]).
    NotFound,
    /// A redirect from the filter with this status and `Location` (no body, no upstream answer).
    Redirect { status: u16, location: String },
}

impl Expect {
    pub fn backend(service: &str, path: &str) -> Expect {
        Expect::Backend {
            service: service.to_string(),
            path: path.to_string(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Expect {
        Expect::Redirect {
            status,
            location: location.to_string(),
        }
    }
}

/// Collects failed expectations so one run reports every wrong row.
#[derive(Default)]
pub struct Checks {
    failures: Vec<String>,
    count: usize,
}

impl Checks {
    /// Sends `GET path` with `Host: host` and checks the answer; `label` names the table row.
    pub fn expect(&mut self, scenario: &Scenario, label: &str, host: &str, path: &str, expect: &Expect) {
        let response = scenario.get(host, path);
        self.check(&scenario.cluster_header, label, host, path, &response, expect);
    }

    pub fn check(
        &mut self,
        cluster_header: &str,
        label: &str,
        host: &str,
        path: &str,
        r: &Response,
        expect: &Expect,
    ) {
        self.count += 1;
        let what = format!("{label}: GET {path} Host {host}");
        match expect {
            Expect::Backend {
                service,
                path: want_path,
            } => match (r.status, r.echo()) {
                (200, Some(echo)) => {
                    if &echo.service != service {
                        self.fail(format!(
                            "{what}: answered by {} instead of {service}",
                            echo.service
                        ));
                    }
                    if &echo.path != want_path {
                        self.fail(format!(
                            "{what}: upstream saw path {:?}, expected {want_path:?}",
                            echo.path
                        ));
                    }
                    if echo.header("host") != Some(host) {
                        self.fail(format!("{what}: upstream saw host {:?}", echo.header("host")));
                    }
                    if echo.headers.contains_key(cluster_header) {
                        self.fail(format!(
                            "{what}: upstream saw the internal {cluster_header} header"
                        ));
                    }
                }
                _ => self.fail(format!(
                    "{what}: expected 200 from {service}, got {}",
                    r.summary()
                )),
            },
            Expect::NotFound => self.expect_filter_reply(&what, r, 404),
            Expect::Redirect { status, location } => {
                if r.status != *status
                    || r.header("location") != Some(location.as_str())
                    || !r.body.is_empty()
                    || r.echo().is_some()
                {
                    self.fail(format!(
                        "{what}: expected {status} to {location}, got {}",
                        r.summary()
                    ));
                }
            }
        }
    }

    /// Checks that `r` is the filter's own local reply with `status` ([`is_filter_reply`]).
    pub fn filter_reply(&mut self, what: &str, r: &Response, status: u16) {
        self.count += 1;
        self.expect_filter_reply(what, r, status);
    }

    /// [`filter_reply`](Self::filter_reply) without counting (for a check already counted).
    fn expect_filter_reply(&mut self, what: &str, r: &Response, status: u16) {
        if !is_filter_reply(r, status) {
            self.fail(format!(
                "{what}: expected the filter's {status} {:?}, got {}",
                reply_body(status),
                r.summary()
            ));
        }
    }

    /// Counts one check, failing with `message` unless `ok`.
    pub fn that(&mut self, ok: bool, message: impl FnOnce() -> String) {
        self.count += 1;
        if !ok {
            self.fail(message());
        }
    }

    pub fn fail(&mut self, message: String) {
        self.failures.push(message);
    }

    /// Panics listing every failure (with the Envoy log tail when given).
    pub fn finish(self, envoy: Option<&Envoy>) {
        if self.failures.is_empty() {
            return;
        }
        let log = envoy.map(|e| e.log()).unwrap_or_default();
        // The filter's own lines (decisions at debug level, diagnostics) and Envoy's errors, last 40.
        let relevant: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("wasm log") || l.contains("[error]") || l.contains("[critical]"))
            .collect();
        let tail = &relevant[relevant.len().saturating_sub(40)..];
        panic!(
            "{} of {} checks failed:\n  {}\n--- Envoy log (filter lines, tail) ---\n{}",
            self.failures.len(),
            self.count,
            self.failures.join("\n  "),
            tail.join("\n")
        );
    }
}
