//! The Secrets the CLI passes to the filter: those `auth-secret` annotations name, taken from `kind:
//! Secret` documents (or List items) next to the Ingresses, else from `--secrets-dir DIR`, laid out as
//! mounted Secrets are (`DIR/<namespace>/<name>/<key>`, one file per key). Only `metadata.name`,
//! `metadata.namespace`, `data` and `stringData` are kept (a Secret's annotations may hold a plain-text
//! copy of its data). Secret values are never printed; unreferenced Secrets are left out with a note.

use ingress_wasm::encoding::base64;
use ingress_wasm::model::annotations::auth::referenced_secret;
use ingress_wasm::Diagnostic;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Secret documents found in the input files, by `namespace/name`, with where each came from.
#[derive(Default)]
pub struct FoundSecrets {
    by_name: BTreeMap<String, (Value, String)>,
}

/// Whether a document or List item is a Kubernetes Secret.
pub fn is_secret(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("Secret")
        && value.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

impl FoundSecrets {
    /// Keeps a Secret found at `place` (the first of a name counts).
    pub fn add(&mut self, secret: &Value, place: &str, notes: &mut Vec<Diagnostic>) {
        let metadata = secret.get("metadata");
        let name = metadata
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let key = format!("{namespace}/{name}");
        if let Some((_, first)) = self.by_name.get(&key) {
            notes.push(Diagnostic::warning(
                place,
                "metadata.name",
                format!("Secret {key} is given again (first in {first}); the first counts"),
            ));
            return;
        }
        let mut kept = Map::new();
        kept.insert("apiVersion".into(), json!("v1"));
        kept.insert("kind".into(), json!("Secret"));
        kept.insert("metadata".into(), json!({"name": name, "namespace": namespace}));
        for field in ["data", "stringData"] {
            if let Some(v) = secret.get(field) {
                kept.insert(field.into(), v.clone());
            }
        }
        self.by_name.insert(key, (Value::Object(kept), place.to_string()));
    }

    /// The Secrets the Ingresses name, from the files or else from `secrets_dir`; notes for the others.
    pub fn referenced(
        mut self,
        ingresses: &[Value],
        secrets_dir: Option<&Path>,
        notes: &mut Vec<Diagnostic>,
    ) -> Result<Vec<Value>, String> {
        let wanted: BTreeSet<String> = ingresses.iter().filter_map(referenced_secret).collect();
        let mut passed = Vec::new();
        for key in &wanted {
            if let Some((secret, _)) = self.by_name.remove(key) {
                passed.push(secret);
            } else if let Some(dir) = secrets_dir {
                passed.extend(read_mounted(dir, key)?);
            }
        }
        for (key, (_, place)) in self.by_name {
            notes.push(Diagnostic::warning(
                place,
                "kind",
                format!("skipped: Secret {key} is not named by any auth-secret annotation"),
            ));
        }
        Ok(passed)
    }
}

/// Secret `namespace/name` from `DIR/namespace/name/<key>` files (hidden entries, such as the `..data`
/// of a mounted Secret, skipped); None when its directory does not exist.
fn read_mounted(dir: &Path, key: &str) -> Result<Option<Value>, String> {
    let Some((namespace, name)) = key.split_once('/') else {
        return Ok(None);
    };
    let folder = dir.join(namespace).join(name);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", folder.display())),
    };
    let mut data = Map::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: cannot read: {e}", folder.display()))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if file_name.starts_with('.') || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        data.insert(file_name, json!(base64::encode(&bytes)));
    }
    Ok(Some(json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": name, "namespace": namespace}, "data": data})))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ingress(namespace: &str, secret: &str) -> Value {
        json!({"kind": "Ingress", "metadata": {"name": "i", "namespace": namespace,
               "annotations": {"nginx.ingress.kubernetes.io/auth-secret": secret}}})
    }

    #[test]
    fn only_named_secrets_pass_and_only_their_data() {
        let mut found = FoundSecrets::default();
        let mut notes = Vec::new();
        let secret = |name: &str| {
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": name, "namespace": "shop",
                                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
                   "data": {"auth": "eA=="}})
        };
        assert!(is_secret(&secret("a")) && !is_secret(&json!({"kind": "Secret"})));
        found.add(&secret("a"), "f.yaml (document 2)", &mut notes);
        found.add(&secret("b"), "f.yaml (document 3)", &mut notes);
        found.add(&secret("a"), "g.yaml", &mut notes);
        let passed = found
            .referenced(&[ingress("shop", "a")], None, &mut notes)
            .unwrap();
        assert_eq!(
            passed,
            vec![
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a", "namespace": "shop"},
                        "data": {"auth": "eA=="}})
            ]
        );
        let notes: Vec<String> = notes.iter().map(ToString::to_string).collect();
        assert_eq!(
            notes,
            vec![
                "g.yaml: metadata.name: Secret shop/a is given again (first in f.yaml (document 2)); the first counts",
                "f.yaml (document 3): kind: skipped: Secret shop/b is not named by any auth-secret annotation",
            ]
        );
    }

    #[test]
    fn mounted_secrets() {
        let dir = std::env::temp_dir().join(format!("ingress-wasm-secrets-{}", std::process::id()));
        let folder = dir.join("shop/basic-auth");
        std::fs::create_dir_all(folder.join("..2024_01_01")).unwrap();
        std::fs::write(folder.join("auth"), "foo:{PLAIN}bar\n").unwrap();
        std::fs::write(folder.join(".hidden"), "x").unwrap();
        let passed = FoundSecrets::default()
            .referenced(
                &[ingress("shop", "basic-auth"), ingress("shop", "absent")],
                Some(&dir),
                &mut Vec::new(),
            )
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            passed,
            vec![json!({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "basic-auth", "namespace": "shop"},
                        "data": {"auth": base64::encode(b"foo:{PLAIN}bar\n")}})]
        );
    }
}
