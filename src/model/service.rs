//! Kubernetes Services the plugin configuration may carry next to the Ingresses (the wrapper's
//! `services`: Service objects as `kubectl get service -o json` prints them; only `metadata.name`,
//! `metadata.namespace` and `spec.type`, `spec.externalName`, `spec.sessionAffinity`, `spec.ports[].name`
//! and `spec.ports[].port` are read).
//!
//! They are in the filter's configuration, not only the CLI's, because they change routing decisions:
//! a named backend port becomes the Service's port number (so cluster names carry the number), and a
//! backend whose Service is missing answers 503. `check` and the filter load the same list, so both
//! judge alike. When the configuration has no `services` at all, backends are taken as written.

use crate::diagnostics::Diagnostics;
use crate::model::ingress::{is_dns_label, is_dns_subdomain, Port};
use serde_json::Value;
use std::collections::BTreeMap;

/// One Service, as far as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `spec.externalName` of a `type: ExternalName` Service: the DNS name its backends reach.
    pub external_name: Option<String>,
    /// `spec.ports`: (name, port number).
    pub ports: Vec<(Option<String>, u16)>,
    /// `spec.sessionAffinity: ClientIP`: each client address sticks to one endpoint.
    pub client_ip_affinity: bool,
}

/// The configuration's Services by `namespace/name`; `known` when it lists Services at all.
#[derive(Debug, Clone, Default)]
pub struct Services {
    known: bool,
    by_name: BTreeMap<String, Service>,
}

/// Why a backend cannot be served: its 503 and warning say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// No Service of that name in the Ingress's namespace.
    MissingService,
    /// The Service has no port of that name or number.
    MissingPort,
}

const OBJECT: &str = "config";

impl Services {
    /// Reads the wrapper's `services`; problems are errors naming the Service and field.
    pub fn parse(value: Option<&Value>, diags: &mut Diagnostics) -> Services {
        let mut services = Services::default();
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return services;
        };
        let Some(items) = value.as_array() else {
            diags.error(OBJECT, "services", "must be a list of Service objects");
            return services;
        };
        services.known = true;
        for (i, item) in items.iter().enumerate() {
            if let Some((name, service)) = parse_service(item, &format!("services[{i}]"), diags) {
                if services.by_name.insert(name.clone(), service).is_some() {
                    diags.error(
                        OBJECT,
                        &format!("services[{i}]"),
                        format!("Service {name} is given twice"),
                    );
                }
            }
        }
        services
    }

    /// Whether the configuration lists Services (then a backend without one is unresolved).
    pub fn known(&self) -> bool {
        self.known
    }

    /// Service `namespace/name`, if listed.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.by_name.get(&format!("{namespace}/{name}"))
    }

    /// The port a backend's cluster is named with: the Service's port number for a named port; the
    /// number as written when no Services are known. `Err` when Services are known and the backend's
    /// Service, or its port, is not among them.
    pub fn resolve(&self, namespace: &str, name: &str, port: &Port) -> Result<String, Unresolved> {
        if !self.known {
            return Ok(port.as_string());
        }
        let service = self.get(namespace, name).ok_or(Unresolved::MissingService)?;
        match port {
            Port::Name(wanted) => service
                .ports
                .iter()
                .find(|(name, _)| name.as_deref() == Some(wanted.as_str()))
                .map(|(_, number)| number.to_string())
                .ok_or(Unresolved::MissingPort),
            // An ExternalName Service needs no ports: its backends reach the name on the Ingress's port.
            Port::Number(n)
                if service.external_name.is_some() || service.ports.iter().any(|(_, p)| p == n) =>
            {
                Ok(n.to_string())
            }
            Port::Number(_) => Err(Unresolved::MissingPort),
        }
    }
}

fn parse_service(item: &Value, at: &str, diags: &mut Diagnostics) -> Option<(String, Service)> {
    let Some(map) = item.as_object() else {
        diags.error(OBJECT, at, "must be a Service object");
        return None;
    };
    if let Some(kind) = map.get("kind").filter(|k| k.as_str() != Some("Service")) {
        diags.error(
            OBJECT,
            &format!("{at}.kind"),
            format!("expected Service, found {kind}"),
        );
        return None;
    }
    let metadata = map.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str);
    let Some(name) = name.filter(|n| is_dns_label(n)) else {
        diags.error(
            OBJECT,
            &format!("{at}.metadata.name"),
            "must be a Service name (an RFC 1123 label)",
        );
        return None;
    };
    let namespace = match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => "default",
        Some(Value::String(ns)) if is_dns_label(ns) => ns.as_str(),
        Some(_) => {
            diags.error(
                OBJECT,
                &format!("{at}.metadata.namespace"),
                "must be a namespace name",
            );
            return None;
        }
    };
    let id = format!("{namespace}/{name}");
    let object = format!("Service {id}");
    let before = diags.error_count();
    let spec = map.get("spec").filter(|s| !s.is_null());
    let field = |key: &str| spec.and_then(|s| s.get(key)).filter(|v| !v.is_null());
    let kind = match field("type") {
        None => "ClusterIP",
        Some(Value::String(t))
            if matches!(
                t.as_str(),
                "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
            ) =>
        {
            t.as_str()
        }
        Some(other) => {
            diags.error(
                &object,
                "spec.type",
                format!("expected ClusterIP, NodePort, LoadBalancer or ExternalName, found {other}"),
            );
            "ClusterIP"
        }
    };
    let external_name = if kind == "ExternalName" {
        match field("externalName").and_then(Value::as_str) {
            // Kubernetes accepts a trailing dot (an absolute name); Envoy resolves it without.
            Some(n) if is_dns_subdomain(n.strip_suffix('.').unwrap_or(n)) => {
                Some(n.strip_suffix('.').unwrap_or(n).to_string())
            }
            _ => {
                diags.error(
                    &object,
                    "spec.externalName",
                    "a Service of type ExternalName needs a DNS name (lower case) here",
                );
                None
            }
        }
    } else {
        None
    };
    let client_ip_affinity = match field("sessionAffinity") {
        None => false,
        Some(Value::String(a)) if a == "None" => false,
        Some(Value::String(a)) if a == "ClientIP" => true,
        Some(other) => {
            diags.error(
                &object,
                "spec.sessionAffinity",
                format!("expected None or ClientIP, found {other}"),
            );
            false
        }
    };
    let mut ports = Vec::new();
    match field("ports") {
        None => {}
        Some(Value::Array(items)) => {
            for (j, p) in items.iter().enumerate() {
                let f = format!("spec.ports[{j}]");
                let number = p
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok());
                let Some(number) = number.filter(|n| *n > 0) else {
                    diags.error(&object, &format!("{f}.port"), "must be a port number 1-65535");
                    continue;
                };
                let port_name = match p.get("name") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.is_empty() => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => {
                        diags.error(
                            &object,
                            &format!("{f}.name"),
                            format!("must be a string, found {other}"),
                        );
                        continue;
                    }
                };
                ports.push((port_name, number));
            }
        }
        Some(_) => diags.error(&object, "spec.ports", "must be a list"),
    }
    (diags.error_count() == before).then_some((
        id,
        Service {
            external_name,
            ports,
            client_ip_affinity,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn parse(v: Value) -> (Services, Vec<String>) {
        let mut d = Diagnostics::default();
        let s = Services::parse(Some(&v), &mut d);
        (s, d.into_vec().iter().map(ToString::to_string).collect())
    }

    fn service(ns: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn named_ports_resolve_to_numbers() {
        let (s, e) = parse(json!([service(
            "shop",
            "web",
            json!({"ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]})
        )]));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            s.resolve("shop", "web", &Port::Name("http".into())),
            Ok("8080".into())
        );
        assert_eq!(s.resolve("shop", "web", &Port::Number(9090)), Ok("9090".into()));
        assert_eq!(
            s.resolve("shop", "web", &Port::Name("grpc".into())),
            Err(Unresolved::MissingPort)
        );
        assert_eq!(
            s.resolve("shop", "web", &Port::Number(80)),
            Err(Unresolved::MissingPort)
        );
        assert_eq!(
            s.resolve("other", "web", &Port::Number(8080)),
            Err(Unresolved::MissingService),
            "a Service is looked up in the Ingress's namespace only"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn without_services_backends_are_taken_as_written() {
        let mut d = Diagnostics::default();
        let s = Services::parse(None, &mut d);
        assert!(!s.known());
        assert_eq!(s.resolve("a", "b", &Port::Name("http".into())), Ok("http".into()));
        let (s, _) = parse(json!([]));
        assert!(s.known(), "an empty list still means the Services are known");
        assert_eq!(
            s.resolve("a", "b", &Port::Number(80)),
            Err(Unresolved::MissingService)
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn external_name_and_client_ip() {
        let (s, e) = parse(json!([
            service(
                "nginx",
                "ext",
                json!({"type": "ExternalName", "externalName": "web.other.svc.cluster.local."})
            ),
            service(
                "nginx",
                "sticky",
                json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]})
            ),
        ]));
        assert!(e.is_empty(), "{e:?}");
        let ext = s.get("nginx", "ext").unwrap();
        assert_eq!(ext.external_name.as_deref(), Some("web.other.svc.cluster.local"));
        assert_eq!(s.resolve("nginx", "ext", &Port::Number(8443)), Ok("8443".into()));
        assert!(s.get("nginx", "sticky").unwrap().client_ip_affinity);
        assert!(!ext.client_ip_affinity);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn malformed_services_name_the_service_and_field() {
        let (_, e) = parse(json!([
            service("a", "x", json!({"type": "ExternalName"})),
            service("a", "y", json!({"ports": [{"name": "http", "port": 70000}]})),
            service("a", "z", json!({"sessionAffinity": "Cookie"})),
            {"kind": "Service", "metadata": {"name": "Bad_Name"}},
        ]));
        assert_eq!(
            e,
            [
                "Service a/x: spec.externalName: a Service of type ExternalName needs a DNS name (lower case) here",
                "Service a/y: spec.ports[0].port: must be a port number 1-65535",
                "Service a/z: spec.sessionAffinity: expected None or ClientIP, found \"Cookie\"",
                "config: services[3].metadata.name: must be a Service name (an RFC 1123 label)",
            ]
            .map(String::from),
        );
        let (_, e) = parse(json!({"items": []}));
        assert!(
            e[0].contains("services: must be a list of Service objects"),
            "{e:?}"
        );
    }
}
