//! Kubernetes Secrets the plugin configuration carries next to the Ingresses (the wrapper's `secrets`: a
//! list of Secret objects as `kubectl get secret -o json` prints them): the user files of `auth-secret`
//! annotations. `data` values are base64, `stringData` values plain text (and win, as the API server
//! merges them). Their contents never appear in a diagnostic, a log line or a `Debug` print.

use crate::diagnostics::Diagnostics;
use crate::encoding::base64;
use serde_json::Value;
use std::collections::BTreeMap;

/// The Secrets by `namespace/name`: each key's bytes.
#[derive(Clone, Default)]
pub struct Secrets {
    by_name: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// Names only.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

const OBJECT: &str = "config";

impl Secrets {
    /// Reads the wrapper's `secrets`; problems are errors naming `secrets[i]...` (never a value).
    pub fn parse(value: Option<&Value>, diags: &mut Diagnostics) -> Secrets {
        let mut secrets = Secrets::default();
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return secrets;
        };
        let Some(items) = value.as_array() else {
            diags.error(OBJECT, "secrets", "must be a list of Secret objects");
            return secrets;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("secrets[{i}]");
            if let Some((name, data)) = parse_secret(item, &at, diags) {
                if secrets.by_name.insert(name.clone(), data).is_some() {
                    diags.error(OBJECT, &at, format!("Secret {name} is given twice"));
                }
            }
        }
        secrets
    }

    /// The keys of Secret `namespace/name`, if the configuration has it.
    pub fn get(&self, namespaced_name: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.by_name.get(namespaced_name)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn parse_secret(
    item: &Value,
    at: &str,
    diags: &mut Diagnostics,
) -> Option<(String, BTreeMap<String, Vec<u8>>)> {
    let Some(map) = item.as_object() else {
        diags.error(OBJECT, at, "must be a Secret object");
        return None;
    };
    if let Some(kind) = map.get("kind").filter(|k| k.as_str() != Some("Secret")) {
        diags.error(
            OBJECT,
            &format!("{at}.kind"),
            format!("expected Secret, found {kind}"),
        );
        return None;
    }
    let metadata = map.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str);
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        diags.error(
            OBJECT,
            &format!("{at}.metadata.name"),
            "must be a non-empty string",
        );
        return None;
    };
    let namespace = match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => "default",
        Some(Value::String(ns)) if !ns.is_empty() => ns.as_str(),
        Some(_) => {
            diags.error(
                OBJECT,
                &format!("{at}.metadata.namespace"),
                "must be a non-empty string",
            );
            return None;
        }
    };
    let mut data = BTreeMap::new();
    for (field, encoded) in [("data", true), ("stringData", false)] {
        let Some(entries) = map.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(entries) = entries.as_object() else {
            diags.error(
                OBJECT,
                &format!("{at}.{field}"),
                "must be an object of key: value",
            );
            return None;
        };
        for (key, value) in entries {
            let bytes = match (value.as_str(), encoded) {
                (Some(text), true) => base64::decode(text.as_bytes()),
                (Some(text), false) => Some(text.as_bytes().to_vec()),
                (None, _) => None,
            };
            let Some(bytes) = bytes else {
                let what = if encoded { "a base64 string" } else { "a string" };
                diags.error(OBJECT, &format!("{at}.{field}.{key}"), format!("must be {what}"));
                return None;
            };
            data.insert(key.clone(), bytes);
        }
    }
    Some((format!("{namespace}/{name}"), data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn parse(v: Value) -> (Secrets, Vec<String>) {
        let mut d = Diagnostics::default();
        let s = Secrets::parse(Some(&v), &mut d);
        (s, d.into_vec().iter().map(ToString::to_string).collect())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn data_and_string_data() {
        let (s, errors) = parse(json!([
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "basic-auth", "namespace": "shop"},
             "data": {"auth": "Zm9vOmJhcg==", "other": "eA=="}, "stringData": {"other": "y"}},
            {"metadata": {"name": "plain"}, "stringData": {"auth": "u:{PLAIN}p"}},
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.get("shop/basic-auth").unwrap()["auth"], b"foo:bar");
        assert_eq!(s.get("shop/basic-auth").unwrap()["other"], b"y");
        assert_eq!(s.get("default/plain").unwrap()["auth"], b"u:{PLAIN}p");
        assert!(s.get("shop/plain").is_none());
        assert_eq!(format!("{s:?}"), "[\"default/plain\", \"shop/basic-auth\"]");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn problems_name_the_field_never_the_value() {
        let (_, errors) = parse(json!([
            {"metadata": {"name": "a"}, "data": {"auth": "not base64!"}},
            {"kind": "ConfigMap", "metadata": {"name": "b"}},
            {"metadata": {}},
            {"metadata": {"name": "c"}, "data": {"auth": "eA=="}},
            {"metadata": {"name": "c", "namespace": "default"}},
        ]));
        assert_eq!(
            errors,
            vec![
                "config: secrets[0].data.auth: must be a base64 string",
                "config: secrets[1].kind: expected Secret, found \"ConfigMap\"",
                "config: secrets[2].metadata.name: must be a non-empty string",
                "config: secrets[4]: Secret default/c is given twice",
            ]
        );
        let (_, errors) = parse(json!({"auth": "x"}));
        assert_eq!(errors, vec!["config: secrets: must be a list of Secret objects"]);
    }
}
