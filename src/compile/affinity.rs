//! Session affinity per backend, as ingress-nginx keeps it per upstream: the first (oldest) Ingress with
//! `affinity: cookie` for a backend sets the mode, each later one overwrites the cookie settings (said
//! with a warning), and every route to the backend honours the cookie.

use crate::decide::affinity::{backend_key, backend_name, endpoint_key, Affinity, AffinityId};
use crate::decide::{Backend, RouteInfo};
use crate::diagnostics::Diagnostics;
use crate::model::annotations::affinity::{AffinityMode, AffinityOptions};
use crate::model::annotations::field_of;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// Backend endpoints given with the configuration, keyed `namespace/service:port`, each `ip:port`.
pub type Endpoints = BTreeMap<String, Vec<String>>;

struct Pending {
    backend: Backend,
    options: AffinityOptions,
    /// The Ingress whose settings are in `options`.
    ingress: String,
}

/// Affinity settings collected per backend cluster while routes are compiled.
#[derive(Default)]
pub(super) struct AffinityBuild {
    by_cluster: HashMap<String, usize>,
    pending: Vec<Pending>,
}

impl AffinityBuild {
    /// Records a route of an Ingress with `affinity: cookie`.
    pub(super) fn record(&mut self, route: &RouteInfo, options: &AffinityOptions, diags: &mut Diagnostics) {
        let cluster = &route.backend.cluster;
        match self
            .by_cluster
            .get(cluster)
            .and_then(|&i| self.pending.get_mut(i))
        {
            None => {
                self.by_cluster.insert(cluster.clone(), self.pending.len());
                self.pending.push(Pending {
                    backend: route.backend.clone(),
                    options: options.clone(),
                    ingress: route.ingress.clone(),
                });
            }
            Some(p) => {
                if p.options.mode != options.mode && p.ingress != route.ingress {
                    diags.warning(
                        &route.ingress,
                        &field_of("affinity-mode"),
                        format!(
                            "service {} already has {} affinity from the older Ingress {}; this one's {} is ignored (the mode is per backend, as in ingress-nginx)",
                            route.backend.service,
                            p.options.mode.as_str(),
                            p.ingress,
                            options.mode.as_str()
                        ),
                    );
                }
                if p.options.cookie != options.cookie && p.ingress != route.ingress {
                    diags.warning(
                        &route.ingress,
                        &field_of("session-cookie-name"),
                        format!(
                            "service {} gets its session cookie settings from this Ingress, replacing those of {} (the last Ingress wins, as in ingress-nginx)",
                            route.backend.service, p.ingress
                        ),
                    );
                }
                p.options.cookie = options.cookie.clone();
                p.ingress = route.ingress.clone();
            }
        }
    }

    /// Whether the backend served by `cluster` has affinity.
    pub(super) fn has(&self, cluster: &str) -> bool {
        self.by_cluster.contains_key(cluster)
    }

    /// `affinity-canary-behavior: sticky`: the canary's backend gets a copy of the primary's affinity
    /// (ingress-nginx deep-copies it onto the canary upstream), so a client the canary served stays there.
    pub(super) fn copy_to_canary(&mut self, primary_cluster: &str, canary: &Backend) {
        let Some(source) = self
            .by_cluster
            .get(primary_cluster)
            .and_then(|&i| self.pending.get(i))
        else {
            return;
        };
        let copy = Pending {
            backend: canary.clone(),
            options: source.options.clone(),
            ingress: source.ingress.clone(),
        };
        match self.by_cluster.get(&canary.cluster) {
            Some(&i) => {
                if let Some(slot) = self.pending.get_mut(i) {
                    *slot = copy;
                }
            }
            None => {
                self.by_cluster.insert(canary.cluster.clone(), self.pending.len());
                self.pending.push(copy);
            }
        }
    }

    /// The affinities, and the id of each cluster's. Persistent mode needs the backend's endpoint
    /// addresses to map a cookie back to its endpoint; without them the backend is balanced (and
    /// a warning says so).
    pub(super) fn finish(
        self,
        endpoints: &Endpoints,
        diags: &mut Diagnostics,
    ) -> (Vec<Affinity>, HashMap<String, AffinityId>) {
        let mut list = Vec::with_capacity(self.pending.len());
        for p in self.pending {
            let b = &p.backend;
            let name = backend_name(&b.namespace, &b.service, b.written_port());
            let mut mode = p.options.mode;
            let mut pinned = HashMap::new();
            if mode == AffinityMode::Persistent {
                let key = crate::compile::cluster::backend_key(&b.namespace, &b.service, &b.port);
                let addresses: Option<Vec<SocketAddr>> = endpoints
                    .get(&key)
                    .filter(|list| !list.is_empty())
                    .and_then(|list| list.iter().map(|e| e.parse().ok()).collect());
                match addresses {
                    Some(addresses) => {
                        for address in addresses {
                            pinned.insert(endpoint_key(&name, &address), address.to_string());
                        }
                    }
                    None => {
                        mode = AffinityMode::Balanced;
                        diags.warning(
                            &p.ingress,
                            &field_of("affinity-mode"),
                            format!(
                                "persistent affinity needs the endpoints of {key} in the configuration, as \
                                 IP addresses (render --endpoints); without them its sessions are kept by \
                                 consistent hashing, as in balanced mode"
                            ),
                        );
                    }
                }
            }
            list.push(Affinity {
                mode,
                cookie: p.options.cookie,
                backend_key: backend_key(&name),
                backend_name: name,
                endpoints: pinned,
                ingress: p.ingress,
            });
        }
        (list, self.by_cluster)
    }
}
