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
    let metadata_value = obj.get("metadata").filter(|m| !m.is_null());
    let metadata = metadata_value.and_then(Value::as_object);
    let name_value = metadata.and_then(|m| m.get("name")).filter(|n| !n.is_null());
    let name = name_value.and_then(Value::as_str).unwrap_or("");
    let namespace_value = metadata.and_then(|m| m.get("namespace")).filter(|n| !n.is_null());
    let namespace = namespace_value.map_or(Some("default"), Value::as_str);
    // Only names the API server would accept become the object's name in messages and routes; anything
    // else is named by its position.
    let id = match namespace {
        Some(ns) if is_dns_label(ns) && is_dns_subdomain(name) => format!("{ns}/{name}"),
        _ => format!("items[{position}]"),
    };
    let namespace = namespace.unwrap_or("");
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
    match (metadata_value, metadata) {
        (None, _) => diags.error(&id, "metadata", "required"),
        (Some(v), None) => diags.error(&id, "metadata", format!("must be an object, found {v}")),
        (Some(_), Some(_)) => {
            match name_value {
                None => diags.error(&id, "metadata.name", "required, a non-empty string"),
                Some(v) if !v.is_string() => {
                    diags.error(&id, "metadata.name", format!("must be a string, found {v}"))
                }
                Some(_) if !is_dns_subdomain(name) => diags.error(
                    &id,
                    "metadata.name",
                    format!("{name:?} is not a valid name: {DNS_SUBDOMAIN}"),
                ),
                Some(_) => {}
            }
            if let Some(v) = namespace_value.filter(|_| !is_dns_label(namespace)) {
                diags.error(
                    &id,
                    "metadata.namespace",
                    format!("{v} is not a valid namespace: at most 63 lower-case letters, digits and '-'"),
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
    let annotations = match metadata.and_then(|m| m.get("annotations")) {
        None => BTreeMap::new(),
        Some(value) => read_annotations(&id, value, diags),
    };
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
        Some(v) => r.string(v, "spec.ingressClassName", diags).filter(|class| {
            let valid = is_dns_subdomain(class);
            if !valid {
                diags.error(
                    &id,
                    "spec.ingressClassName",
                    format!("{class:?} is not a valid class name: {DNS_SUBDOMAIN}"),
                );
            }
            valid
        }),
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

/// The API server's limit on all annotations of one object together (keys and values).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 << 10;

/// `metadata.annotations`: string values under qualified-name keys, at most 256 KiB in all, as the API
/// server requires.
fn read_annotations(id: &str, value: &Value, diags: &mut Diagnostics) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    let map = match value {
        Value::Null => return annotations,
        Value::Object(map) => map,
        _ => {
            diags.error(id, "metadata.annotations", "must be an object of strings");
            return annotations;
        }
    };
    let mut total = 0usize;
    for (key, v) in map {
        total = total.saturating_add(key.len());
        if !is_qualified_name(key) {
            diags.error(
                id,
                "metadata.annotations",
                format!("{key:?} is not a valid annotation key: [prefix/]name, the name at most 63 letters, digits, '-', '_' or '.', the prefix a DNS name"),
            );
            continue;
        }
        match v.as_str() {
            Some(s) => {
                total = total.saturating_add(s.len());
                annotations.insert(key.clone(), s.to_string());
            }
            None => diags.error(
                id,
                &format!("metadata.annotations.{key}"),
                "annotation values must be strings (quote booleans and numbers in YAML)",
            ),
        }
    }
    if total > MAX_ANNOTATIONS_BYTES {
        diags.error(
            id,
            "metadata.annotations",
            format!("are {total} bytes together; the limit is {MAX_ANNOTATIONS_BYTES} (as the Kubernetes API server's)"),
        );
    }
    annotations
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

    /// `parent.key`: a non-empty string.
    fn required_string(
        &self,
        parent: &Map<String, Value>,
        field: &str,
        key: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        let field = format!("{field}.{key}");
        match parent.get(key).filter(|v| !v.is_null()) {
            None => {
                diags.error(self.id, &field, "required");
                None
            }
            Some(v) => self.string(v, &field, diags).filter(|s| {
                if s.is_empty() {
                    diags.error(self.id, &field, "must not be empty");
                }
                !s.is_empty()
            }),
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
        if path_type != PathType::ImplementationSpecific {
            if let Some(bad) = api_server_path_error(&path) {
                diags.error(
                    self.id,
                    &format!("{field}.path"),
                    format!("{path:?} {bad} (refused for pathType {})", path_type.as_str()),
                );
                return None;
            }
        }
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
                let kind = self.required_string(res, &f, "kind", diags);
                let name = self.required_string(res, &f, "name", diags);
                Some(Backend::Resource {
                    kind: kind?,
                    name: name?,
                })
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

/// What the API server refuses in an `Exact` or `Prefix` path: segments Envoy's normalization removes
/// from every request (so the rule could never match), and an escaped slash.
fn api_server_path_error(path: &str) -> Option<String> {
    for sequence in ["//", "/./", "/../", "%2f", "%2F"] {
        if path.contains(sequence) {
            return Some(format!("must not contain {sequence:?}"));
        }
    }
    for suffix in ["/..", "/."] {
        if path.ends_with(suffix) {
            return Some(format!("must not end with {suffix:?}"));
        }
    }
    None
}

const DNS_SUBDOMAIN: &str = "at most 253 lower-case letters, digits, '-' and '.' (an RFC 1123 subdomain)";

/// RFC 1123 subdomain as Kubernetes validates object names: dot-separated labels of lower-case letters,
/// digits and '-', each starting and ending with a letter or digit, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Annotation keys as the API server validates them (case-insensitively): an optional DNS-subdomain
/// prefix and '/', then a name of at most 63 letters, digits, '-', '_' and '.', starting and ending with
/// a letter or digit.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(|p| is_dns_subdomain(&p.to_ascii_lowercase()))
        && !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
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

    #[wasm_bindgen_test(unsupported = test)]
    fn names_and_namespaces_the_api_server_refuses_are_errors_never_ids() {
        for (field, value) in [
            ("name", json!("Game\nerror: forged")),
            ("name", json!("a".repeat(254))),
            ("name", json!("-a")),
            ("name", json!(42)),
            ("namespace", json!("Game")),
            ("namespace", json!(["game-prod"])),
        ] {
            let mut v = game();
            v["metadata"][field] = value.clone();
            let (ing, errs) = parse(v);
            assert!(ing.is_none(), "{value}");
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(
                errs[0].starts_with(&format!("items[0]: metadata.{field}: ")),
                "{errs:?}"
            );
        }
        let mut v = game();
        v["metadata"] = json!("game-ingress");
        let (_, errs) = parse(v);
        assert_eq!(
            errs,
            vec!["items[0]: metadata: must be an object, found \"game-ingress\""]
        );
        let mut v = game();
        v["metadata"]["name"] = json!("game.ingress-1");
        assert!(parse(v).0.is_some(), "dots are fine in names");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn annotation_keys_and_size_are_checked_as_the_api_server_does() {
        let mut v = game();
        v["metadata"]["annotations"] = json!({
            "nginx.ingress.kubernetes.io/x\nerror: forged": "1",
            "Example.COM/Mixed_Case.ok": "fine",
            "/no-prefix": "1",
        });
        let (_, errs) = parse(v);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs
            .iter()
            .all(|e| e.starts_with("game-prod/game-ingress: metadata.annotations: \"")));
        let mut v = game();
        v["metadata"]["annotations"] = json!({"a": "x".repeat(MAX_ANNOTATIONS_BYTES)});
        let (_, errs) = parse(v);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("game-prod/game-ingress: metadata.annotations: are 262145 bytes"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn other_values_the_api_server_refuses() {
        let cases = [
            ("/spec/ingressClassName", json!("Nginx"), "spec.ingressClassName"),
            (
                "/spec/rules/0/http/paths/0/path",
                json!("/lobby/../admin"),
                "spec.rules[0].http.paths[0].path",
            ),
            (
                "/spec/rules/0/http/paths/0/path",
                json!("/lobby%2Fadmin"),
                "spec.rules[0].http.paths[0].path",
            ),
            (
                "/spec/rules/0/http/paths/0/path",
                json!("/lobby/."),
                "spec.rules[0].http.paths[0].path",
            ),
            (
                "/spec/rules/0/http/paths/0/backend",
                json!({"resource": {"kind": 5, "name": "bucket"}}),
                "spec.rules[0].http.paths[0].backend.resource.kind",
            ),
            (
                "/spec/rules/0/http/paths/0/backend",
                json!({"resource": {"kind": "Bucket"}}),
                "spec.rules[0].http.paths[0].backend.resource.name",
            ),
        ];
        for (pointer, value, field) in cases {
            let mut v = game();
            *v.pointer_mut(pointer).unwrap() = value.clone();
            let (ing, errs) = parse(v);
            assert!(ing.is_none(), "{value}");
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(
                errs[0].starts_with(&format!("game-prod/game-ingress: {field}: ")),
                "{errs:?}"
            );
        }
        // ImplementationSpecific paths are the implementation's business.
        let mut v = game();
        v["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("ImplementationSpecific");
        v["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/a//b");
        assert!(parse(v).0.is_some());
    }
}
