//! Live updates: Envoy reads its listeners (LDS), clusters (CDS) and the filter's configuration (ECDS)
//! from files in one watched directory, so an update is one atomic swap of that directory's contents.
//!
//! [`bootstrap`] is the fixed part: the admin interface and `dynamic_resources` pointing at
//! `DIR/lds.yaml` and `DIR/cds.yaml`, each with `watched_directory: DIR`. [`split`] turns the static
//! bootstrap [`super::envoy::bootstrap`] renders into the three files: the listeners, whose Wasm filter
//! becomes a `config_discovery` reference to `DIR/ecds.yaml`; the clusters; and the Wasm filter's own
//! configuration as one `TypedExtensionConfig`.
//!
//! Why ECDS rather than the filter inline in the listener: a changed listener is a new listener, and
//! Envoy drains the connections of the old one; a changed ECDS resource only replaces the filter
//! configuration new requests get, on the same connections. The listener file then changes only when
//! the connection manager does (settings such as `trustedHops`, session affinity, timeouts), and Envoy
//! skips an unchanged listener. A configuration the filter refuses (`on_configure` false) is refused by
//! Envoy (`extension_config_discovery.http_filter.ingress_wasm.config_fail`) and the last good one keeps
//! serving.

use super::envoy::{to_yaml, PLUGIN_NAME};
use serde_json::{json, Map, Value};

/// The stable file names in the watched directory (each a symlink into `..data/`).
pub const LDS_FILE: &str = "lds.yaml";
pub const CDS_FILE: &str = "cds.yaml";
pub const ECDS_FILE: &str = "ecds.yaml";

const WASM_FILTER: &str = "envoy.filters.http.wasm";
const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const EXTENSION_TYPE: &str = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";

/// The node Envoy reports; filesystem subscriptions need one.
pub const NODE: &str = "ingress-wasm";

/// The three files of one version, as YAML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdsFiles {
    pub lds: String,
    pub cds: String,
    pub ecds: String,
}

impl XdsFiles {
    /// `(file name, contents)` of each file.
    pub fn named(&self) -> [(&'static str, &str); 3] {
        [
            (LDS_FILE, self.lds.as_str()),
            (CDS_FILE, self.cds.as_str()),
            (ECDS_FILE, self.ecds.as_str()),
        ]
    }
}

/// A filesystem config source for `file` in the watched directory `dir` (paths written as given).
fn path_source(dir: &str, file: &str) -> Value {
    json!({"path_config_source": {
        "path": format!("{}/{file}", dir.trim_end_matches('/')),
        "watched_directory": {"path": dir},
    }})
}

/// The bootstrap that reads everything else from `dir` (the path as Envoy will see it).
pub fn bootstrap(dir: &str, admin: Option<&(String, u16)>) -> Value {
    let mut root = json!({
        "node": {"id": NODE, "cluster": NODE},
        "dynamic_resources": {
            "lds_config": path_source(dir, LDS_FILE),
            "cds_config": path_source(dir, CDS_FILE),
        },
    });
    if let (Some((address, port)), Some(map)) = (admin, root.as_object_mut()) {
        map.insert(
            "admin".into(),
            json!({"address": {"socket_address": {"address": address, "port_value": port}}}),
        );
    }
    root
}

/// Splits a static bootstrap ([`super::envoy::bootstrap`]) into the files of `dir`, each carrying
/// `version`. `Err` when the bootstrap has no Wasm filter to move out.
pub fn split(static_bootstrap: &Value, dir: &str, version: &str) -> Result<XdsFiles, String> {
    let resources = &static_bootstrap["static_resources"];
    let mut listeners = resources["listeners"].as_array().cloned().unwrap_or_default();
    let mut wasm: Option<Value> = None;
    for listener in &mut listeners {
        for chain in listener["filter_chains"].as_array_mut().into_iter().flatten() {
            for filter in chain["filters"].as_array_mut().into_iter().flatten() {
                let http_filters = filter["typed_config"]["http_filters"].as_array_mut();
                for http_filter in http_filters.into_iter().flatten() {
                    if http_filter["name"] != WASM_FILTER {
                        continue;
                    }
                    let config = http_filter["typed_config"].clone();
                    match &wasm {
                        Some(seen) if *seen != config => {
                            return Err("the listeners carry different Wasm filter configurations".into())
                        }
                        _ => wasm = Some(config),
                    }
                    *http_filter = json!({
                        "name": PLUGIN_NAME,
                        "config_discovery": {
                            "config_source": path_source(dir, ECDS_FILE),
                            "type_urls": [WASM_TYPE],
                        },
                    });
                }
            }
        }
        tag(listener, LISTENER_TYPE);
    }
    let wasm = wasm.ok_or("the bootstrap has no Wasm filter")?;
    let mut clusters = resources["clusters"].as_array().cloned().unwrap_or_default();
    clusters.iter_mut().for_each(|c| tag(c, CLUSTER_TYPE));
    let extension = json!({"@type": EXTENSION_TYPE, "name": PLUGIN_NAME, "typed_config": wasm});
    let file = |resources: Vec<Value>| to_yaml(&json!({"version_info": version, "resources": resources}));
    Ok(XdsFiles {
        lds: file(listeners),
        cds: file(clusters),
        ecds: file(vec![extension]),
    })
}

/// Puts the resource's `@type` first (a `DiscoveryResponse`'s resources are `Any`).
fn tag(resource: &mut Value, type_url: &str) {
    if let Some(map) = resource.as_object_mut() {
        let mut tagged = Map::with_capacity(map.len() + 1);
        tagged.insert("@type".into(), json!(type_url));
        tagged.extend(std::mem::take(map));
        *map = tagged;
    }
}

/// The names of the clusters in a CDS file's text; empty when it cannot be read.
pub fn cluster_names(cds: &str) -> Vec<String> {
    clusters_of(cds)
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The cluster resources of a CDS file's text.
pub fn clusters_of(cds: &str) -> Vec<Value> {
    serde_yaml_ng::from_str::<Value>(cds)
        .ok()
        .and_then(|v| v["resources"].as_array().cloned())
        .unwrap_or_default()
}

/// `cds` with `extra` clusters appended (those whose names it lacks), as version `version`.
pub fn with_clusters(cds: &str, extra: &[Value], version: &str) -> String {
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(cds) else {
        return cds.to_string();
    };
    let Some(list) = value["resources"].as_array_mut() else {
        return cds.to_string();
    };
    for cluster in extra {
        if !list.iter().any(|c| c["name"] == cluster["name"]) {
            list.push(cluster.clone());
        }
    }
    value["version_info"] = json!(version);
    to_yaml(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::envoy::{bootstrap as static_bootstrap, EnvoyOptions};
    use crate::render::upstream::Upstreams;
    use crate::tests::decide::backend;
    use std::collections::BTreeMap;

    fn rendered() -> Value {
        let config = json!({"ingresses": []});
        static_bootstrap(&EnvoyOptions {
            plugin_config: &config,
            backends: &[backend("ns", "svc", "80")],
            cluster_header: "x-ingress-cluster",
            wasm_path: "/m.wasm",
            listen: ("0.0.0.0".into(), 8080),
            admin: None,
            endpoints: &BTreeMap::new(),
            affinity: &BTreeMap::new(),
            upstream: &Upstreams::default(),
            tls: None,
        })
        .unwrap()
    }

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn the_bootstrap_reads_lds_and_cds_from_the_watched_directory() {
        let root = bootstrap("/etc/envoy/xds", Some(&("127.0.0.1".to_string(), 9901)));
        let lds = &root["dynamic_resources"]["lds_config"]["path_config_source"];
        assert_eq!(lds["path"], "/etc/envoy/xds/lds.yaml");
        assert_eq!(lds["watched_directory"]["path"], "/etc/envoy/xds");
        let cds = &root["dynamic_resources"]["cds_config"]["path_config_source"];
        assert_eq!(cds["path"], "/etc/envoy/xds/cds.yaml");
        assert_eq!(root["node"]["id"], NODE);
        assert_eq!(root["admin"]["address"]["socket_address"]["port_value"], 9901);
        assert!(bootstrap("/x/", None).get("admin").is_none());
        assert_eq!(
            bootstrap("/x/", None)["dynamic_resources"]["lds_config"]["path_config_source"]["path"],
            "/x/lds.yaml"
        );
    }

    #[test]
    fn the_wasm_filter_moves_to_ecds_and_the_rest_stays() {
        let root = rendered();
        let files = split(&root, "/d", "7").unwrap();
        let lds = yaml(&files.lds);
        assert_eq!(lds["version_info"], "7");
        let listener = &lds["resources"][0];
        assert_eq!(listener["@type"], LISTENER_TYPE);
        let hcm = &listener["filter_chains"][0]["filters"][0]["typed_config"];
        let filter = &hcm["http_filters"][0];
        assert_eq!(filter["name"], PLUGIN_NAME);
        assert_eq!(
            filter["config_discovery"]["config_source"]["path_config_source"]["path"],
            "/d/ecds.yaml"
        );
        assert_eq!(filter["config_discovery"]["type_urls"], json!([WASM_TYPE]));
        assert_eq!(hcm["http_filters"][1]["name"], "envoy.filters.http.router");
        let original =
            &root["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(hcm["route_config"], original["route_config"]);

        let ecds = yaml(&files.ecds);
        let extension = &ecds["resources"][0];
        assert_eq!(extension["@type"], EXTENSION_TYPE);
        assert_eq!(extension["name"], PLUGIN_NAME);
        assert_eq!(
            extension["typed_config"],
            original["http_filters"][0]["typed_config"]
        );

        let cds = yaml(&files.cds);
        assert_eq!(cds["resources"][0]["@type"], CLUSTER_TYPE);
        assert_eq!(cluster_names(&files.cds), vec!["ns/svc:80".to_string()]);
        assert!(split(&json!({"static_resources": {"listeners": []}}), "/d", "1").is_err());
    }

    #[test]
    fn clusters_are_added_once() {
        let files = split(&rendered(), "/d", "1").unwrap();
        let old = json!({"name": "old/gone:80", "type": "STATIC"});
        let again = clusters_of(&files.cds);
        let merged = with_clusters(&files.cds, &[old, again[0].clone()], "2");
        assert_eq!(
            cluster_names(&merged),
            vec!["ns/svc:80".to_string(), "old/gone:80".to_string()]
        );
        assert_eq!(yaml(&merged)["version_info"], "2");
    }
}
