//! ingress-nginx's names of the backends our routes choose. A logged name (`default-my-app-80`) cannot
//! be split back into namespace, service and port (all may hold dashes), so replay builds the name of
//! the backend the router chose and compares names.

use ingress_wasm::decide::affinity::backend_name;
use ingress_wasm::decide::{Backend, RouteId, RouteTable};
use std::collections::HashMap;

/// The upstream of ingress-nginx's default backend (`internal/ingress/controller/controller.go`
/// `defUpstreamName`), which answers 404 for what no rule routes.
pub const DEFAULT_BACKEND: &str = "upstream-default-backend";

/// Whether a logged upstream is ingress-nginx's default backend: its own (`upstream-default-backend`),
/// the stand-in when that has no endpoints (`internal`), or a `default-backend` annotation's.
pub fn is_default_backend(name: &str) -> bool {
    name == DEFAULT_BACKEND || name == "internal" || name.starts_with("custom-default-backend-")
}

/// Whether a logged name is `ours`; old documentation and versions write an `upstream-` prefix.
pub fn same_upstream(logged: &str, ours: &str) -> bool {
    logged == ours || logged.strip_prefix("upstream-") == Some(ours)
}

pub fn of_backend(b: &Backend) -> String {
    backend_name(&b.namespace, &b.service, b.written_port())
}

/// The names of every route's and canary's backend, computed once.
#[derive(Debug)]
pub struct UpstreamNames {
    routes: Vec<String>,
    /// Route -> the index of its name among the distinct names (routes to one backend share it).
    route_keys: Vec<usize>,
    canaries: Vec<String>,
    /// Name -> the rule hosts of the routes that send to it (None: a rule without host).
    hosts: HashMap<String, Vec<Option<String>>>,
}

impl UpstreamNames {
    pub fn new(table: &RouteTable) -> UpstreamNames {
        let routes: Vec<String> = table.routes().iter().map(|r| of_backend(&r.backend)).collect();
        let canaries: Vec<String> = table.canaries().iter().map(|c| of_backend(&c.backend)).collect();
        let mut distinct: HashMap<&str, usize> = HashMap::new();
        let route_keys = routes
            .iter()
            .map(|name| {
                let next = distinct.len();
                *distinct.entry(name.as_str()).or_insert(next)
            })
            .collect();
        let mut hosts: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for (route, name) in table.routes().iter().zip(&routes) {
            let mut add = |name: &String| {
                let list = hosts.entry(name.clone()).or_default();
                if !list.contains(&route.host) {
                    list.push(route.host.clone());
                }
            };
            add(name);
            if let Some(canary) = route.canary.and_then(|c| canaries.get(c)) {
                add(canary);
            }
        }
        UpstreamNames {
            routes,
            route_keys,
            canaries,
            hosts,
        }
    }

    pub fn route(&self, id: RouteId) -> &str {
        self.routes.get(id).map_or("", String::as_str)
    }

    /// The same number for routes to the same backend.
    pub fn route_key(&self, id: RouteId) -> usize {
        self.route_keys.get(id).copied().unwrap_or(usize::MAX)
    }

    pub fn canary(&self, id: usize) -> &str {
        self.canaries.get(id).map_or("", String::as_str)
    }

    /// The rule hosts under which some route sends to the logged upstream; None when no route does.
    pub fn hosts_of(&self, logged: &str) -> Option<&[Option<String>]> {
        let found = self
            .hosts
            .get(logged)
            .or_else(|| self.hosts.get(logged.strip_prefix("upstream-")?));
        found.map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_with_or_without_the_old_prefix() {
        assert!(same_upstream("default-echo-80", "default-echo-80"));
        assert!(same_upstream("upstream-default-echo-80", "default-echo-80"));
        assert!(!same_upstream("default-echo-8080", "default-echo-80"));
        assert!(!same_upstream("default-echo-80", "upstream-default-echo-80"));
        assert!(is_default_backend("upstream-default-backend"));
        assert!(is_default_backend("internal"));
        assert!(!is_default_backend("default-backend-80"));
    }

    #[test]
    fn hosts_of_a_backend() {
        let config = serde_json::json!({"kind": "List", "items": [
            {"metadata": {"name": "a"}, "spec": {"rules": [
                {"host": "a.io", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}},
                {"http": {"paths": [{"path": "/w", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]}}]});
        let table = ingress_wasm::load(config.to_string().as_bytes()).unwrap().table;
        let names = UpstreamNames::new(&table);
        assert_eq!(names.route(0), "default-web-80");
        assert_eq!(
            names.hosts_of("default-web-80"),
            Some(&[Some("a.io".to_string())][..])
        );
        assert_eq!(names.hosts_of("upstream-default-web-http"), Some(&[None][..]));
        assert_eq!(names.hosts_of("default-web-81"), None);
    }
}
