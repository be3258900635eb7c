//! The plugin configuration: which JSON shapes are accepted, and loading them into a [`RouteTable`].
//!
//! Accepted, unchanged: what `kubectl get ingress -A -o json` prints (`IngressList`), a `List` of
//! Ingresses, a single `Ingress`, and the wrapper `{"ingresses": <any of those>, "settings": {...},
//! "endpoints": {"namespace/service:port": ["ip:port", ...]}, "secrets": [<Secret>, ...], "services":
//! [<Service>, ...]}` (services: named ports resolve to the Services' numbers, a backend whose Service is
//! missing answers 503; see [`crate::model::service`]; endpoints: what
//! persistent session affinity needs to map a cookie back to its endpoint; `render envoy --endpoints`
//! fills them in; secrets: the Secrets `auth-secret` annotations name, which `render` passes on).
//! Empty configuration (Istio sends one when no pluginConfig is set) means no routes: every request 404.

use crate::compile::{compile, Endpoints};
use crate::decide::RouteTable;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::ingress::parse_ingress;
use crate::model::json::{read_value, ReadError};
use crate::model::secret::Secrets;
use crate::model::service::Services;
use crate::model::settings::Settings;
use serde_json::Value;

/// Upper bound on the configuration size: far above any real cluster, low enough that a VM per worker
/// stays affordable.
pub const MAX_CONFIG_BYTES: usize = 64 << 20;

/// A configuration that loaded, with the warnings it produced.
#[derive(Debug)]
pub struct Compiled {
    pub table: RouteTable,
    pub settings: Settings,
    pub warnings: Vec<Diagnostic>,
}

/// Loads the plugin configuration bytes. `Err` carries every diagnostic (errors and warnings).
pub fn load(bytes: &[u8]) -> Result<Compiled, Vec<Diagnostic>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return load_value(&Value::Null);
    }
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(vec![Diagnostic::error(
            "config",
            "",
            format!("is {} bytes; the limit is {MAX_CONFIG_BYTES}", bytes.len()),
        )]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(vec![Diagnostic::error(
                "config",
                "",
                format!("is not UTF-8 text: {e}"),
            )])
        }
    };
    let mut reader = serde_json::Deserializer::from_str(text);
    let value = read_value(&mut reader).and_then(|value| {
        reader.end().map_err(ReadError::Syntax)?;
        Ok(value)
    });
    match value {
        Ok(value) => load_value(&value),
        Err(ReadError::DuplicateKey { field, detail }) => Err(vec![duplicate_key(&field, &detail)]),
        Err(ReadError::Syntax(e)) => Err(vec![Diagnostic::error(
            "config",
            "",
            format!("is not valid JSON: {e}"),
        )]),
    }
}

/// The error for a key given twice in one object of the configuration (`field` is its path).
pub fn duplicate_key(field: &str, detail: &str) -> Diagnostic {
    Diagnostic::error(
        "config",
        field,
        format!("is given twice ({detail}): readers disagree on which value counts"),
    )
}

/// Loads an already parsed configuration (the CLI reads YAML into the same JSON values).
pub fn load_value(value: &Value) -> Result<Compiled, Vec<Diagnostic>> {
    let mut diags = Diagnostics::default();
    let (items, settings_value) = split_document(value, &mut diags);
    let settings = Settings::parse(settings_value, &mut diags);
    let wrapper = match value {
        Value::Object(map) if settings_value.is_some() || map.contains_key("ingresses") => Some(map),
        _ => None,
    };
    let endpoints = match wrapper {
        Some(map) => parse_endpoints(map.get("endpoints"), &mut diags),
        None => Endpoints::new(),
    };
    let secrets = Secrets::parse(wrapper.and_then(|map| map.get("secrets")), &mut diags);
    let services = Services::parse(wrapper.and_then(|map| map.get("services")), &mut diags);
    let mut ingresses = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(ing) = parse_ingress(item, i, &mut diags) {
            ingresses.push(ing);
        }
    }
    let table = compile(ingresses, &settings, &endpoints, &secrets, &services, &mut diags);
    if diags.has_errors() {
        return Err(diags.into_vec());
    }
    Ok(Compiled {
        table,
        settings,
        warnings: diags.into_vec(),
    })
}

/// Splits one document into its Ingress items and its `settings` (wrapper form only).
pub fn split_document<'v>(value: &'v Value, diags: &mut Diagnostics) -> (Vec<&'v Value>, Option<&'v Value>) {
    match value {
        Value::Null => (Vec::new(), None),
        Value::Object(map) if map.contains_key("ingresses") || map.contains_key("settings") => {
            if let Some(kind) = map.get("kind") {
                diags.error(
                    "config",
                    "kind",
                    format!("the wrapper form takes no kind, found {kind}"),
                );
            }
            let items = match map.get("ingresses") {
                None | Some(Value::Null) => Vec::new(),
                Some(inner) => items_of(inner, "ingresses", diags),
            };
            (items, map.get("settings"))
        }
        other => (items_of(other, "", diags), None),
    }
}

fn items_of<'v>(value: &'v Value, field: &str, diags: &mut Diagnostics) -> Vec<&'v Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => {
            match map.get("kind").and_then(Value::as_str) {
                Some("Ingress") => vec![value],
                Some("IngressList") | Some("List") => match map.get("items") {
                    Some(Value::Array(items)) => items.iter().collect(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => {
                        diags.error("config", &join(field, "items"), "must be a list");
                        Vec::new()
                    }
                },
                Some(kind) => {
                    diags.error(
                        "config",
                        &join(field, "kind"),
                        format!("expected Ingress, IngressList or List, found {kind:?}"),
                    );
                    Vec::new()
                }
                None if map.contains_key("spec") && map.contains_key("metadata") => vec![value],
                None => {
                    diags.error("config", field, "expected an Ingress, an IngressList, a List or {\"ingresses\": ..., \"settings\": ...}");
                    Vec::new()
                }
            }
        }
        _ => {
            diags.error(
                "config",
                field,
                "expected an Ingress, an IngressList, a List or {\"ingresses\": ..., \"settings\": ...}",
            );
            Vec::new()
        }
    }
}

/// `endpoints`: `{"namespace/service:port": ["ip:port", ...]}`, IPv6 as `[addr]:port` (persistent
/// affinity uses IP endpoints; others are what `render envoy` resolves by DNS).
fn parse_endpoints(value: Option<&Value>, diags: &mut Diagnostics) -> Endpoints {
    let mut endpoints = Endpoints::new();
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return endpoints;
    };
    let Some(map) = value.as_object() else {
        diags.error(
            "config",
            "endpoints",
            "must be an object of \"namespace/service:port\": [\"ip:port\", ...]",
        );
        return endpoints;
    };
    for (backend, list) in map {
        let Some(items) = list.as_array() else {
            diags.error(
                "config",
                &format!("endpoints[{backend:?}]"),
                "must be a list of \"ip:port\" strings",
            );
            continue;
        };
        let mut addresses = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(address) if !address.is_empty() && address.len() <= 300 => {
                    addresses.push(address.to_string())
                }
                _ => diags.error(
                    "config",
                    &format!("endpoints[{backend:?}][{i}]"),
                    format!("{item} is not a \"host:port\" string"),
                ),
            }
        }
        endpoints.insert(backend.clone(), addresses);
    }
    endpoints
}

/// Puts backend endpoints into a plugin configuration (the wrapper form), for the loader to see.
pub fn set_endpoints(config: &mut Value, endpoints: &Endpoints) {
    if let (false, Some(map)) = (endpoints.is_empty(), config.as_object_mut()) {
        map.insert("endpoints".into(), serde_json::json!(endpoints));
    }
}

/// Keeps only the endpoints the filter uses (those of backends with session affinity), so the
/// configuration a filter receives stays small; the table loads the same from the result.
pub fn keep_affinity_endpoints(config: &mut Value, table: &RouteTable) {
    let Some(map) = config.as_object_mut() else {
        return;
    };
    let Some(Value::Object(endpoints)) = map.get_mut("endpoints") else {
        return;
    };
    let used: Vec<String> = table
        .backends()
        .iter()
        .filter(|b| table.affinity_of_cluster(&b.cluster).is_some())
        .map(|b| crate::compile::cluster::backend_key(&b.namespace, &b.service, &b.port))
        .collect();
    endpoints.retain(|key, _| used.contains(key));
    if endpoints.is_empty() {
        map.remove("endpoints");
    }
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// The plugin configuration that carries these Ingresses and settings: what `render` writes into the
/// filter, and what `check` and `explain` load, so all of them judge the same bytes.
pub fn plugin_config(items: Vec<Value>, settings: Option<Value>) -> Value {
    let mut wrapper = serde_json::Map::new();
    wrapper.insert(
        "ingresses".into(),
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}),
    );
    if let Some(settings) = settings {
        wrapper.insert("settings".into(), settings);
    }
    Value::Object(wrapper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn errors(bytes: &[u8]) -> Vec<String> {
        match load(bytes) {
            Ok(_) => vec![],
            Err(diags) => diags.iter().map(ToString::to_string).collect(),
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bytes_the_loader_refuses_before_reading_ingresses() {
        let e =
            errors(b"{\"kind\": \"List\", \"items\": [{\"metadata\": {\"name\": \"a\", \"name\": \"b\"}}]}");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "config: items[0].metadata.name: is given twice (duplicate key \"name\" at line 1"
            ),
            "{e:?}"
        );
        let e = errors(b"{\"ingresses\": [], \"settings\": {\"semantics\": \"caf\xe9\"}}");
        assert!(
            e[0].starts_with("config: is not UTF-8 text: invalid utf-8 sequence"),
            "{e:?}"
        );
        let e = errors(b"{\"ingresses\": []} {\"ingresses\": []}");
        assert!(
            e[0].starts_with("config: is not valid JSON: trailing characters"),
            "{e:?}"
        );
        assert!(load(b" \n").is_ok());
        assert!(load(b"{\"ingresses\": [], \"settings\": null}").is_ok());
    }
}
