//! Reading a rendered Envoy bootstrap (as JSON) in tests.

use serde_json::Value;

/// The names of the bootstrap's static clusters, in order.
pub fn cluster_names(bootstrap: &Value) -> Vec<&str> {
    bootstrap["static_resources"]["clusters"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect()
}

/// The static cluster `name`; panics naming it when there is none.
pub fn cluster<'v>(bootstrap: &'v Value, name: &str) -> &'v Value {
    bootstrap["static_resources"]["clusters"]
        .as_array()
        .and_then(|clusters| clusters.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no cluster {name}"))
}
