//! Typed model of `networking.k8s.io/v1` Ingress, read from JSON with errors that name the field.
//!
//! Unknown fields are ignored (objects from `kubectl get -o json` carry status, managedFields, ...);
//! wrong types and values the API server would refuse are errors.

use crate::diagnostics::Diagnostics;
use crate::model::timestamp::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

#[derive(Debug, Clone)]
pub struct Ingress {
    pub namespace: String,
    pub name: String,
    pub created: Option<Timestamp>,
    pub annotations: BTreeMap<String, String>,
    /// `spec.ingressClassName`, else the deprecated `kubernetes.io/ingress.class` annotation.
    pub class: Option<String>,
    pub default_backend: Option<Backend>,
    pub rules: Vec<Rule>,
    pub tls: Vec<Tls>,
}

/// One `spec.tls` entry.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Lower-cased; empty for the default certificate.
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

impl Ingress {
    /// `namespace/name`: how diagnostics and explanations name the object.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Lower-cased host; `*.` prefix for wildcards; None for a rule without host.
    pub host: Option<String>,
    pub paths: Vec<HttpPath>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathType {
    Exact,
    Prefix,
    ImplementationSpecific,
}

impl PathType {
    pub fn as_str(self) -> &'static str {
        match self {
            PathType::Exact => "Exact",
            PathType::Prefix => "Prefix",
            PathType::ImplementationSpecific => "ImplementationSpecific",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpPath {
    pub path: String,
    pub path_type: PathType,
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Service {
        name: String,
        port: Port,
    },
    /// A `resource` backend (e.g. a storage bucket): not routable through Envoy clusters.
    Resource {
        kind: String,
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    Name(String),
}

impl Port {
    pub fn as_string(&self) -> String {
        match self {
            Port::Number(n) => n.to_string(),
            Port::Name(s) => s.clone(),
        }
    }
}

/// Reads one Ingress; returns None when it has errors (all are recorded in `diags`).
pub fn parse_ingress(value: &Value, position: usize, diags: &mut Diagnostics) -> Option<Ingress> {
    let before = diags.error_count();
    let Some(obj) = value.as_object() else {
        diags.error(
            &format!("items[{position}]"),
            "",
            "an Ingress must be a JSON object",
        );
        return None;
    };
    let metadata = obj.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => "default",
        Some(v) => v.as_str().unwrap_or(""),
    };
    let id = if name.is_empty() {
        format!("items[{position}]")
    } else {
        format!("{namespace}/{name}")
    };
    let r = Reader { id: &id };
    if let Some(kind) = obj.get("kind") {
        if kind.as_str() != Some("Ingress") {
            diags.error(&id, "kind", format!("expected \"Ingress\", found {kind}"));
            return None;
        }
    }
    if let Some(api) = obj.get("apiVersion") {
        if api.as_str() != Some("networking.k8s.io/v1") {
            diags.error(
                &id,
                "apiVersion",
                format!("expected \"networking.k8s.io/v1\", found {api}"),
            );
        }
    }
    match metadata {
        None => diags.error(&id, "metadata", "required"),
        Some(_) if name.is_empty() => diags.error(&id, "metadata.name", "required, a non-empty string"),
        Some(m) => {
            if !is_dns_label(namespace) {
                diags.error(
                    &id,
                    "metadata.namespace",
                    format!("{} is not a valid namespace", m["namespace"]),
                );
            }
        }
    }
    let created = match metadata.and_then(|m| m.get("creationTimestamp")) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().and_then(Timestamp::parse) {
            Some(t) => Some(t),
            None => {
                diags.error(
                    &id,
                    "metadata.creationTimestamp",
                    format!("{v} is not an RFC 3339 time"),
                );
                None
            }
        },
    };
    let mut annotations = BTreeMap::new();
    if let Some(value) = metadata.and_then(|m| m.get("annotations")) {
        match value {
            Value::Null => {}
            Value::Object(map) => {
                for (key, v) in map {
                    match v.as_str() {
                        Some(s) => {
                            annotations.insert(key.clone(), s.to_string());
                        }
                        None => diags.error(
                            &id,
                            &format!("metadata.annotations.{key}"),
                            "annotation values must be strings (quote booleans and numbers in YAML)",
                        ),
                    }
                }
            }
            _ => diags.error(&id, "metadata.annotations", "must be an object of strings"),
        }
    }
    let spec = match obj.get("spec") {
        None | Some(Value::Null) => {
            diags.error(&id, "spec", "required");
            None
        }
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            diags.error(&id, "spec", "must be an object");
            None
        }
    };
    let empty = Map::new();
    let spec = spec.unwrap_or(&empty);
    let class = match spec.get("ingressClassName") {
        None | Some(Value::Null) => annotations.get(CLASS_ANNOTATION).cloned(),
        Some(v) => r.string(v, "spec.ingressClassName", diags),
    };
    let default_backend = match spec.get("defaultBackend") {
        None | Some(Value::Null) => None,
        Some(v) => r.backend(v, "spec.defaultBackend", diags),
    };
    let mut rules = Vec::new();
    if let Some(list) = r.list(spec.get("rules"), "spec.rules", diags) {
        for (i, rule) in list.iter().enumerate() {
            if let Some(rule) = r.rule(rule, &format!("spec.rules[{i}]"), diags) {
                rules.push(rule);
            }
        }
    }
    let mut tls = Vec::new();
    if let Some(list) = r.list(spec.get("tls"), "spec.tls", diags) {
        for (i, entry) in list.iter().enumerate() {
            if let Some(entry) = r.tls(entry, &format!("spec.tls[{i}]"), diags) {
                tls.push(entry);
            }
        }
    }
    if rules.is_empty() && default_backend.is_none() && diags.error_count() == before {
        diags.warning(
            &id,
            "spec",
            "has neither rules nor a defaultBackend; it routes nothing",
        );
    }
    if diags.error_count() > before {
        return None;
    }
    Some(Ingress {
        namespace: namespace.to_string(),
        name: name.to_string(),
        created,
        annotations,
        class,
        default_backend,
        rules,
        tls,
    })
}

/// Field readers bound to one object's id, so every message names the object.
struct Reader<'a> {
    id: &'a str,
}

impl Reader<'_> {
    fn string(&self, v: &Value, field: &str, diags: &mut Diagnostics) -> Option<String> {
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                diags.error(self.id, field, format!("must be a string, found {v}"));
                None
            }
        }
    }

    fn list<'v>(&self, v: Option<&'v Value>, field: &str, diags: &mut Diagnostics) -> Option<&'v Vec<Value>> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                diags.error(self.id, field, format!("must be a list, found {other}"));
                None
            }
        }
    }

    fn object<'v>(
        &self,
        v: &'v Value,
        field: &str,
        diags: &mut Diagnostics,
    ) -> Option<&'v Map<String, Value>> {
        match v.as_object() {
            Some(m) => Some(m),
            None => {
                diags.error(self.id, field, format!("must be an object, found {v}"));
                None
            }
        }
    }

    fn tls(&self, v: &Value, field: &str, diags: &mut Diagnostics) -> Option<Tls> {
        let m = self.object(v, field, diags)?;
        let mut tls = Tls::default();
        if let Some(hosts) = self.list(m.get("hosts"), &format!("{field}.hosts"), diags) {
            for (i, h) in hosts.iter().enumerate() {
                let host_field = format!("{field}.hosts[{i}]");
                let h = self.string(h, &host_field, diags)?;
                if let Err(why) = crate::model::rule_host::validate_rule_host(&h) {
                    diags.error(self.id, &host_field, format!("{h:?} {why}"));
                    return None;
                }
                tls.hosts.push(h.to_ascii_lowercase());
            }
        }
        tls.secret_name = match m.get("secretName") {
            None | Some(Value::Null) => None,
            Some(s) => Some(self.string(s, &format!("{field}.secretName"), diags)?),
        };
        Some(tls)
    }

    fn rule(&self, v: &Value, field: &str, diags: &mut Diagnostics) -> Option<Rule> {
        let m = self.object(v, field, diags)?;
        let host = match m.get("host") {
            None | Some(Value::Null) => None,
            Some(h) => {
                let h = self.string(h, &format!("{field}.host"), diags)?;
                if h.is_empty() {
                    None
                } else if let Err(why) = crate::model::rule_host::validate_rule_host(&h) {
                    diags.error(self.id, &format!("{field}.host"), format!("{h:?} {why}"));
                    return None;
                } else {
                    Some(h.to_ascii_lowercase())
                }
            }
        };
        let mut paths = Vec::new();
        match m.get("http") {
            None | Some(Value::Null) => {}
            Some(http) => {
                let http_field = format!("{field}.http");
                let http = self.object(http, &http_field, diags)?;
                let list_field = format!("{http_field}.paths");
                match http.get("paths") {
                    Some(Value::Array(items)) => {
                        for (j, p) in items.iter().enumerate() {
                            if let Some(p) = self.path(p, &format!("{list_field}[{j}]"), diags) {
                                paths.push(p);
                            }
                        }
                    }
                    None | Some(Value::Null) => diags.error(self.id, &list_field, "required"),
                    Some(other) => {
                        diags.error(self.id, &list_field, format!("must be a list, found {other}"))
                    }
                }
            }
        }
        Some(Rule { host, paths })
    }

    fn path(&self, v: &Value, field: &str, diags: &mut Diagnostics) -> Option<HttpPath> {
        let m = self.object(v, field, diags)?;
        let path_type = match m.get("pathType") {
            None | Some(Value::Null) => {
                diags.error(
                    self.id,
                    &format!("{field}.pathType"),
                    "required (Exact, Prefix or ImplementationSpecific)",
                );
                return None;
            }
            Some(v) => match v.as_str() {
                Some("Exact") => PathType::Exact,
                Some("Prefix") => PathType::Prefix,
                Some("ImplementationSpecific") => PathType::ImplementationSpecific,
                Some(other) => {
                    diags.error(
                        self.id,
                        &format!("{field}.pathType"),
                        format!("unknown value {other:?}"),
                    );
                    return None;
                }
                None => {
                    diags.error(
                        self.id,
                        &format!("{field}.pathType"),
                        format!("must be a string, found {v}"),
                    );
                    return None;
                }
            },
        };
        let path = match m.get("path") {
            None | Some(Value::Null) if path_type == PathType::ImplementationSpecific => "/".to_string(),
            None | Some(Value::Null) => {
                diags.error(
                    self.id,
                    &format!("{field}.path"),
                    format!("required for pathType {}", path_type.as_str()),
                );
                return None;
            }
            Some(p) => self.string(p, &format!("{field}.path"), diags)?,
        };
        let backend = match m.get("backend") {
            None | Some(Value::Null) => {
                diags.error(self.id, &format!("{field}.backend"), "required");
                return None;
            }
            Some(b) => self.backend(b, &format!("{field}.backend"), diags)?,
        };
        Some(HttpPath {
            path,
            path_type,
            backend,
        })
    }

    fn backend(&self, v: &Value, field: &str, diags: &mut Diagnostics) -> Option<Backend> {
        let m = self.object(v, field, diags)?;
        let service = m.get("service").filter(|s| !s.is_null());
        let resource = m.get("resource").filter(|s| !s.is_null());
        match (service, resource) {
            (Some(_), Some(_)) => {
                diags.error(self.id, field, "service and resource are mutually exclusive");
                None
            }
            (None, None) => {
                diags.error(self.id, field, "needs a service (or resource)");
                None
            }
            (None, Some(res)) => {
                let f = format!("{field}.resource");
                let res = self.object(res, &f, diags)?;
                let kind = res.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
                let name = res.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                Some(Backend::Resource { kind, name })
            }
            (Some(svc), None) => {
                let f = format!("{field}.service");
                let svc = self.object(svc, &f, diags)?;
                let name = match svc.get("name") {
                    Some(n) => self.string(n, &format!("{f}.name"), diags)?,
                    None => {
                        diags.error(self.id, &format!("{f}.name"), "required");
                        return None;
                    }
                };
                if !is_dns_label(&name) {
                    diags.error(
                        self.id,
                        &format!("{f}.name"),
                        format!("{name:?} is not a valid Service name"),
                    );
                    return None;
                }
                let port = self.port(svc.get("port"), &format!("{f}.port"), diags)?;
                Some(Backend::Service { name, port })
            }
        }
    }

    fn port(&self, v: Option<&Value>, field: &str, diags: &mut Diagnostics) -> Option<Port> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            diags.error(self.id, field, "required (number or name)");
            return None;
        };
        let m = self.object(v, field, diags)?;
        let number = m.get("number").filter(|n| !n.is_null());
        let name = m.get("name").filter(|n| !n.is_null());
        match (number, name) {
            (Some(n), None) => match n.as_u64() {
                Some(n @ 1..=65535) => Some(Port::Number(n as u16)),
                _ => {
                    diags.error(
                        self.id,
                        &format!("{field}.number"),
                        format!("must be a port number 1-65535, found {n}"),
                    );
                    None
                }
            },
            (None, Some(n)) => match n.as_str() {
                Some(s) if is_port_name(s) => Some(Port::Name(s.to_string())),
                _ => {
                    diags.error(
                        self.id,
                        &format!("{field}.name"),
                        format!("{n} is not a valid port name"),
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                diags.error(self.id, field, "number and name are mutually exclusive");
                None
            }
            (None, None) => {
                diags.error(self.id, field, "needs a number or a name");
                None
            }
        }
    }
}

/// RFC 1123 label (namespaces and Service names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// IANA service name as Kubernetes validates port names.
fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn parse(v: Value) -> (Option<Ingress>, Vec<String>) {
        let mut d = Diagnostics::default();
        let ing = parse_ingress(&v, 0, &mut d);
        (ing, d.into_vec().iter().map(|d| d.to_string()).collect())
    }

    fn game() -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "game-ingress", "namespace": "game-prod",
                "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
                "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": []},
            "spec": {"ingressClassName": "nginx", "rules": [{"http": {"paths": [
                {"path": "/lobby", "pathType": "Prefix", "backend": {"service": {"name": "game-lobby", "port": {"number": 80}}}},
                {"path": "/room", "pathType": "Prefix", "backend": {"service": {"name": "game-room", "port": {"name": "http"}}}}
            ]}}]},
            "status": {"loadBalancer": {}}
        })
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_a_kubectl_ingress() {
        let (ing, errs) = parse(game());
        assert!(errs.is_empty(), "{errs:?}");
        let ing = ing.unwrap();
        assert_eq!(ing.id(), "game-prod/game-ingress");
        assert_eq!(ing.class.as_deref(), Some("nginx"));
        assert_eq!(ing.rules[0].host, None);
        assert_eq!(
            ing.rules[0].paths[1].backend,
            Backend::Service {
                name: "game-room".into(),
                port: Port::Name("http".into())
            }
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn names_the_object_and_field() {
        let mut v = game();
        v["spec"]["rules"][0]["http"]["paths"][1]["pathType"] = json!("Prefx");
        let (ing, errs) = parse(v);
        assert!(ing.is_none());
        assert_eq!(
            errs,
            vec!["game-prod/game-ingress: spec.rules[0].http.paths[1].pathType: unknown value \"Prefx\""]
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_types_are_errors() {
        let mut v = game();
        v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] = json!("80");
        v["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"] = json!(true);
        let (_, errs) = parse(v);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].contains("metadata.annotations.nginx.ingress.kubernetes.io/use-regex"));
        assert!(errs[1]
            .contains("spec.rules[0].http.paths[0].backend.service.port.number: must be a port number"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn missing_namespace_is_default_and_class_annotation_counts() {
        let (ing, _) = parse(
            json!({"metadata": {"name": "a", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 1}}}}}),
        );
        let ing = ing.unwrap();
        assert_eq!(ing.id(), "default/a");
        assert_eq!(ing.class.as_deref(), Some("nginx"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_hosts_are_refused() {
        for host in ["foo.com:80", "*", "a.*.com", "Foo Bar", "-a.com"] {
            let mut v = game();
            v["spec"]["rules"][0]["host"] = json!(host);
            let (ing, errs) = parse(v);
            assert!(ing.is_none(), "{host}");
            assert!(errs[0].contains("spec.rules[0].host"), "{errs:?}");
        }
    }
}
