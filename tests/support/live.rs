//! Live updates: the files `ingress-wasm sync` writes into Envoy's watched directory, read back.

use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// One file of the directory (through its stable name) as JSON.
pub fn read_yaml(dir: &Path, name: &str) -> Value {
    let text =
        fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The static bootstrap equivalent to the directory's current version: its listeners with the ECDS
/// filter configuration put back inline, its clusters, and an admin on an ephemeral port; what
/// `envoy --mode validate` can check (validation does not read dynamic resources).
pub fn static_equivalent(dir: &Path) -> Value {
    let ecds = read_yaml(dir, "ecds.yaml");
    let filter = ecds["resources"][0]["typed_config"].clone();
    let mut listeners = read_yaml(dir, "lds.yaml")["resources"].clone();
    for listener in listeners.as_array_mut().into_iter().flatten() {
        listener.as_object_mut().map(|m| m.remove("@type"));
        for chain in listener["filter_chains"].as_array_mut().into_iter().flatten() {
            for f in chain["filters"].as_array_mut().into_iter().flatten() {
                for h in f["typed_config"]["http_filters"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    if h.get("config_discovery").is_some() {
                        *h = json!({"name": "envoy.filters.http.wasm", "typed_config": filter.clone()});
                    }
                }
            }
        }
    }
    let mut clusters = read_yaml(dir, "cds.yaml")["resources"].clone();
    for c in clusters.as_array_mut().into_iter().flatten() {
        c.as_object_mut().map(|m| m.remove("@type"));
    }
    json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    })
}

/// The plugin configuration the directory's ECDS file carries.
pub fn plugin_config(dir: &Path) -> Value {
    let ecds = read_yaml(dir, "ecds.yaml");
    let text = ecds["resources"][0]["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no plugin configuration in ecds.yaml: {ecds}"))
        .to_string();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("plugin configuration: {e}"))
}

/// Writes a version straight into the directory, bypassing `sync` (as a careless script would): the
/// current listeners and clusters with `plugin_config` as the filter's configuration, swapped in by
/// one rename of `..data`.
pub fn push_plugin_config(dir: &Path, version: &str, plugin_config: &Value) {
    let target = dir.join(format!("..{version}"));
    fs::create_dir(&target).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
    for name in ["lds.yaml", "cds.yaml"] {
        fs::copy(dir.join(name), target.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut ecds = read_yaml(dir, "ecds.yaml");
    ecds["version_info"] = json!(version);
    ecds["resources"][0]["typed_config"]["config"]["configuration"]["value"] =
        json!(plugin_config.to_string());
    let text = serde_yaml_ng::to_string(&ecds).unwrap_or_else(|e| panic!("{e}"));
    fs::write(target.join("ecds.yaml"), text).unwrap_or_else(|e| panic!("ecds.yaml: {e}"));
    let tmp = dir.join("..data_push");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap_or_else(|e| panic!("symlink: {e}"));
    fs::rename(&tmp, dir.join("..data")).unwrap_or_else(|e| panic!("rename: {e}"));
}
