//! The hosts a line without host is tried with: every rule host (a wildcard by one name under it) and
//! one host no rule names (the host-less rules and the default backend). The hosts under which the
//! logged upstream is served are tried first, so a matching line costs a decision or two however many
//! hosts the configuration has.

use super::record::Old;
use super::upstream_names::UpstreamNames;
use ingress_wasm::decide::RouteTable;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct CandidateHosts {
    hosts: Vec<String>,
    /// A rule's host (`*.foo.com` for wildcards, None for host-less rules) -> the candidate that reaches it.
    by_rule_host: HashMap<Option<String>, usize>,
    /// The host no rule names.
    unnamed: usize,
}

impl CandidateHosts {
    pub fn new(table: &RouteTable) -> CandidateHosts {
        let mut rule_hosts: Vec<&str> = table.routes().iter().filter_map(|r| r.host.as_deref()).collect();
        rule_hosts.sort_unstable();
        rule_hosts.dedup();
        let exact: Vec<&str> = rule_hosts
            .iter()
            .copied()
            .filter(|h| !h.starts_with("*."))
            .collect();
        let unused = |candidate: &String| exact.binary_search(&candidate.as_str()).is_err();
        let mut hosts = Vec::with_capacity(rule_hosts.len() + 1);
        let mut by_rule_host = HashMap::new();
        for rule_host in rule_hosts {
            let candidate = match rule_host.strip_prefix("*.") {
                Some(parent) => (0..)
                    .map(|n| format!("replay{n}.{parent}"))
                    .find(unused)
                    .unwrap_or_default(),
                None => rule_host.to_string(),
            };
            by_rule_host.insert(Some(rule_host.to_string()), hosts.len());
            hosts.push(candidate);
        }
        let unnamed = hosts.len();
        let name = (0..)
            .map(|n| format!("replay-unnamed-host{n}.invalid"))
            .find(unused)
            .unwrap_or_default();
        hosts.push(name);
        by_rule_host.insert(None, unnamed);
        CandidateHosts {
            hosts,
            by_rule_host,
            unnamed,
        }
    }

    pub fn get(&self, i: usize) -> &str {
        self.hosts.get(i).map_or("", String::as_str)
    }

    /// Every candidate, those likely to reproduce `old` first, into `order`.
    pub fn order(&self, old: &Old<'_>, names: &UpstreamNames, order: &mut Vec<usize>) {
        order.clear();
        match old {
            Old::Upstream {
                primary: upstream, ..
            }
            | Old::LocationReply { upstream, .. } => {
                let rule_hosts = names.hosts_of(upstream).unwrap_or_default();
                order.extend(
                    rule_hosts
                        .iter()
                        .filter_map(|h| self.by_rule_host.get(h).copied()),
                );
            }
            Old::DefaultBackend | Old::Local { .. } => order.push(self.unnamed),
            Old::Redirect { .. } => {}
        }
        let preferred = order.len();
        for i in 0..self.hosts.len() {
            if !order[..preferred].contains(&i) {
                order.push(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn every_host_once_the_likely_ones_first() {
        let config = serde_json::json!({"kind": "List", "items": [
            {"metadata": {"name": "a"}, "spec": {"rules": [
                {"host": "b.io", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "b", "port": {"number": 80}}}}]}},
                {"host": "*.w.io", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "w", "port": {"number": 80}}}}]}},
                {"host": "replay0.w.io", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "w", "port": {"number": 80}}}}]}},
                {"http": {"paths": [{"path": "/x", "pathType": "Prefix",
                    "backend": {"service": {"name": "x", "port": {"number": 80}}}}]}}]}}]});
        let table = ingress_wasm::load(config.to_string().as_bytes()).unwrap().table;
        let names = UpstreamNames::new(&table);
        let hosts = CandidateHosts::new(&table);
        let all: Vec<&str> = (0..4).map(|i| hosts.get(i)).collect();
        // Sorted rule hosts ("*.w.io" first), the wildcard by a name no rule uses, then the unnamed host.
        assert_eq!(
            all,
            [
                "replay1.w.io",
                "b.io",
                "replay0.w.io",
                "replay-unnamed-host0.invalid"
            ]
        );
        let mut order = Vec::new();
        let upstream = |name: &'static str| Old::Upstream {
            primary: Cow::Borrowed(name),
            alternative: None,
        };
        hosts.order(&upstream("default-w-80"), &names, &mut order);
        assert_eq!(
            order[..2].iter().map(|&i| hosts.get(i)).collect::<Vec<_>>(),
            ["replay1.w.io", "replay0.w.io"]
        );
        assert_eq!(order.len(), 4);
        hosts.order(&upstream("default-x-80"), &names, &mut order);
        assert_eq!(hosts.get(order[0]), "replay-unnamed-host0.invalid");
        hosts.order(&Old::DefaultBackend, &names, &mut order);
        assert_eq!(hosts.get(order[0]), "replay-unnamed-host0.invalid");
        hosts.order(&Old::Redirect { status: 301 }, &names, &mut order);
        assert_eq!(order, [0, 1, 2, 3]);
    }
}
