//! The example configurations (the `config_load` seeds, taken from `k8s/examples/` and the tests), built
//! into the targets so the structured ones can start from real Ingresses and real tables too.

use ingress_wasm::config::{load, Compiled};
use serde_json::Value;
use std::sync::OnceLock;

/// The seeds, as the filter would receive them.
pub const CONFIGS: &[&[u8]] = &[
    include_bytes!("../corpus/config_load/seeds.json"),
    include_bytes!("../corpus/config_load/seeds-istio.json"),
    include_bytes!("../corpus/config_load/restricted.json"),
    include_bytes!("../corpus/config_load/hosts-nginx.json"),
    include_bytes!("../corpus/config_load/hosts-kubernetes.json"),
    include_bytes!("../corpus/config_load/spec-paths-kubernetes.json"),
    include_bytes!("../corpus/config_load/regex-rewrite.json"),
    include_bytes!("../corpus/config_load/regex-rewrite-kubernetes.json"),
    include_bytes!("../corpus/config_load/tls-snippet-canary.json"),
    include_bytes!("../corpus/config_load/canary.json"),
];

/// The example configurations that load, compiled once per process (compiling is the slow part).
pub fn tables() -> &'static [Compiled] {
    static TABLES: OnceLock<Vec<Compiled>> = OnceLock::new();
    TABLES.get_or_init(|| CONFIGS.iter().filter_map(|c| load(c).ok()).collect())
}

/// Every Ingress object of the examples, as JSON.
pub fn ingresses() -> &'static [Value] {
    static INGRESSES: OnceLock<Vec<Value>> = OnceLock::new();
    INGRESSES.get_or_init(|| {
        let mut all = Vec::new();
        for config in CONFIGS {
            let Ok(value) = serde_json::from_slice::<Value>(config) else {
                continue;
            };
            let list = value.get("ingresses").unwrap_or(&value);
            match list.get("items").and_then(Value::as_array) {
                Some(items) => all.extend(items.iter().cloned()),
                None if list.get("kind").and_then(Value::as_str) == Some("Ingress") => all.push(list.clone()),
                None => {}
            }
        }
        all
    })
}
