//! Reading the command's FILE arguments into the one plugin configuration the filter would receive.
//!
//! Each file is JSON (one value or several concatenated) or YAML (one or more `---`-separated documents);
//! `-` is stdin. Each document may be anything the plugin accepts: an Ingress, an IngressList, a List, or
//! the wrapper `{"ingresses": ..., "settings": {...}}`. All Ingress items are gathered; the settings may
//! be given by any number of documents as long as they agree. Secrets (documents or List items) named by
//! `auth-secret` annotations go into the configuration too ([`super::secrets`]); Services and
//! EndpointSlices (documents or List items) become its `services` and the clusters' endpoints
//! ([`super::services`]).

use super::secrets::{is_secret, FoundSecrets};
use super::services::{is_endpoint_slice, is_service, FoundServices};
use ingress_wasm::config::{duplicate_key, plugin_config, split_document};
use ingress_wasm::diagnostics::Diagnostics;
use ingress_wasm::model::json::{read_value, ReadError};
use ingress_wasm::Diagnostic;
use serde::de::IgnoredAny;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;

/// Everything the files gave, ready to load.
#[derive(Debug)]
pub struct Inputs {
    /// The plugin configuration carrying every Ingress item and the settings.
    pub config: Value,
    pub ingress_count: usize,
    /// Endpoints from the input's EndpointSlices, keyed as `--endpoints` entries (which win over them).
    pub endpoints: BTreeMap<String, Vec<String>>,
    /// Problems found while splitting documents (errors) and documents skipped (warnings).
    pub notes: Vec<Diagnostic>,
}

/// Reads the files; `secrets_dir`: where the Secrets the Ingresses name are mounted, for those no file
/// gives.
pub fn read_inputs(files: &[String], secrets_dir: Option<&str>) -> Result<Inputs, String> {
    let mut items: Vec<Value> = Vec::new();
    let mut settings: Option<(Value, String)> = None;
    let mut notes = Vec::new();
    let mut secrets = FoundSecrets::default();
    let mut services = FoundServices::default();
    for file in files {
        let (label, text) = read_file(file)?;
        let documents = parse_documents(file, &label, &text)?;
        let several = documents.len() > 1;
        for (index, document) in documents {
            let place = if several {
                format!("{label} (document {index})")
            } else {
                label.clone()
            };
            if is_secret(&document) {
                secrets.add(&document, &place, &mut notes);
                continue;
            }
            if is_service(&document) {
                services.add_service(&document, &place, &mut notes);
                continue;
            }
            if is_endpoint_slice(&document) {
                services.add_slice(&document, &place);
                continue;
            }
            if let Some(kind) = foreign_kind(&document) {
                notes.push(Diagnostic::warning(
                    place,
                    "kind",
                    format!("skipped: a {kind} is not an Ingress"),
                ));
                continue;
            }
            let mut diags = Diagnostics::default();
            let (found, found_settings) = split_document(&document, &mut diags);
            for item in found {
                if is_secret(item) {
                    secrets.add(item, &place, &mut notes);
                } else if is_service(item) {
                    services.add_service(item, &place, &mut notes);
                } else if is_endpoint_slice(item) {
                    services.add_slice(item, &place);
                } else {
                    items.push(item.clone());
                }
            }
            for mut d in diags.into_vec() {
                if d.object == "config" {
                    d.object.clone_from(&place);
                }
                notes.push(d);
            }
            match (found_settings, &settings) {
                (None, _) | (Some(Value::Null), _) => {}
                (Some(new), None) => settings = Some((new.clone(), place)),
                (Some(new), Some((old, _))) if new == old => {}
                (Some(_), Some((_, first))) => {
                    return Err(format!(
                        "{place}: settings: differ from the settings given in {first}; give the settings once"
                    ))
                }
            }
        }
    }
    let ingress_count = items.len();
    let secrets = secrets.referenced(&items, secrets_dir.map(std::path::Path::new), &mut notes)?;
    let listed_services = services.referenced(&items);
    let endpoints = services.slice_endpoints(&mut notes);
    let mut config = plugin_config(items, settings.map(|(value, _)| value));
    if let Some(map) = config.as_object_mut() {
        if !secrets.is_empty() {
            map.insert("secrets".into(), Value::Array(secrets));
        }
        if let Some(listed) = listed_services {
            map.insert("services".into(), listed);
        }
    }
    Ok(Inputs {
        config,
        ingress_count,
        endpoints,
        notes,
    })
}

/// The `--endpoints` file: `{"namespace/service:port": ["host:port", ...]}`.
pub fn read_endpoints(file: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: invalid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err(format!(
            "{file}: expected an object mapping \"namespace/service:port\" to [\"host:port\", ...]"
        ));
    };
    let mut endpoints = BTreeMap::new();
    for (key, list) in map {
        let Some(items) = list.as_array() else {
            return Err(format!("{file}: {key}: expected a list of \"host:port\""));
        };
        let mut addresses = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let address = item
                .as_str()
                .ok_or_else(|| format!("{file}: {key}[{i}]: expected a \"host:port\" string"))?;
            addresses.push(address.to_string());
        }
        endpoints.insert(key, addresses);
    }
    Ok(endpoints)
}

/// The file's name as messages show it, and its text.
fn read_file(file: &str) -> Result<(String, String), String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("<stdin>: cannot read: {e}"))?;
        return Ok(("<stdin>".to_string(), text));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("{file}: is not UTF-8 text: {e}"))?;
    Ok((file.to_string(), text))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

/// The non-empty documents of a file, with their 1-based position in it.
fn parse_documents(file: &str, label: &str, text: &str) -> Result<Vec<(usize, Value)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lower = file.to_ascii_lowercase();
    let format = if lower.ends_with(".json") {
        Format::Json
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Format::Yaml
    } else if text.trim_start().starts_with(['{', '[']) {
        Format::Json
    } else {
        Format::Yaml
    };
    let mut documents = Vec::new();
    match format {
        Format::Json => {
            // Document boundaries first (syntax errors with their line in the file), then each document
            // by the loader's own reader, which refuses duplicate keys as the filter does.
            let mut stream = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
            let mut start = 0;
            while let Some(next) = stream.next() {
                next.map_err(|e| format!("{label}: invalid JSON: {e}"))?;
                let end = stream.byte_offset();
                let document = text.get(start..end).unwrap_or_default();
                let value = read_value(&mut serde_json::Deserializer::from_str(document))
                    .map_err(|e| read_error(label, e, |e| format!("invalid JSON: {e}")))?;
                documents.push((documents.len() + 1, value));
                start = end;
            }
        }
        Format::Yaml => {
            for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                let value = read_value(document).map_err(|e| read_error(label, e, yaml_error))?;
                if !value.is_null() {
                    documents.push((i + 1, value));
                }
            }
        }
    }
    Ok(documents)
}

/// A document that could not be read: a duplicate key is reported as the loader reports it, with the
/// file in place of `config`.
fn read_error<E>(label: &str, e: ReadError<E>, syntax: impl Fn(&E) -> String) -> String {
    match e {
        ReadError::DuplicateKey { field, detail } => {
            let mut d = duplicate_key(&field, &detail);
            d.object = label.to_string();
            d.to_string()
        }
        ReadError::Syntax(e) => format!("{label}: {}", syntax(&e)),
    }
}

fn yaml_error(e: &serde_yaml_ng::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(at) if !text.contains("line ") => {
            format!(
                "invalid YAML at line {} column {}: {text}",
                at.line(),
                at.column()
            )
        }
        _ => format!("invalid YAML: {text}"),
    }
}

/// The kind of a document that is a Kubernetes object of another kind (a Deployment next to the
/// Ingress in the same manifest), which the CLI skips (Secrets, Services and EndpointSlices are read
/// before this is asked). Documents that look like they were meant
/// to be Ingresses (no kind, a networking.k8s.io apiVersion, the wrapper form) are left to the plugin's
/// own checks.
fn foreign_kind(document: &Value) -> Option<&str> {
    let map = document.as_object()?;
    if map.contains_key("ingresses") || map.contains_key("settings") {
        return None;
    }
    let kind = map.get("kind")?.as_str()?;
    if matches!(kind, "Ingress" | "IngressList" | "List") {
        return None;
    }
    let api = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api.is_empty() || api.starts_with("networking.k8s.io/") {
        return None;
    }
    Some(kind)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn yaml_documents_skip_empty_ones() {
        let docs = parse_documents(
            "x.yaml",
            "x.yaml",
            "---\n# only a comment\n---\na: 1\n---\n---\nb: [2]\n",
        )
        .unwrap();
        let values: Vec<Value> = docs.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            vec![serde_json::json!({"a": 1}), serde_json::json!({"b": [2]})]
        );
    }

    #[test]
    fn json_stream_and_errors_name_file_and_line() {
        let docs = parse_documents("-", "<stdin>", "{\"a\": 1}\n{\"b\": 2}").unwrap();
        assert_eq!(docs.len(), 2);
        let e = parse_documents("f.json", "f.json", "{\n  \"a\": 1,\n  oops\n}").unwrap_err();
        assert!(
            e.starts_with("f.json: invalid JSON:") && e.contains("line 3"),
            "{e}"
        );
        let e = parse_documents("f.yaml", "f.yaml", "a: 1\nb: [\n").unwrap_err();
        assert!(
            e.starts_with("f.yaml: invalid YAML") && e.contains("line "),
            "{e}"
        );
    }

    #[test]
    fn duplicate_keys_are_refused_in_json_and_yaml_documents() {
        let e = parse_documents("f.json", "f.json", "{\"a\": 1}\n{\"b\": {\"c\": 1, \"c\": 2}}").unwrap_err();
        assert!(
            e.starts_with("f.json: b.c: is given twice (duplicate key \"c\""),
            "{e}"
        );
        let e = parse_documents("f.yaml", "f.yaml", "a: 1\n---\nb:\n  - c: 1\n    c: 2\n").unwrap_err();
        assert!(
            e.starts_with("f.yaml: b[0].c: is given twice (") && e.contains("duplicate key \"c\" at line 4"),
            "{e}"
        );
    }

    #[test]
    fn foreign_kinds_are_recognised() {
        assert_eq!(
            foreign_kind(&serde_json::json!({"apiVersion": "v1", "kind": "Service"})),
            Some("Service")
        );
        assert_eq!(
            foreign_kind(&serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingres"})),
            None
        );
        assert_eq!(
            foreign_kind(&serde_json::json!({"apiVersion": "v1", "kind": "List"})),
            None
        );
        assert_eq!(foreign_kind(&serde_json::json!({"kind": "Foo"})), None);
    }
}
