//! The upstream annotations of each route -> per-backend cluster settings and per-location profiles.
//!
//! Cluster-level settings (`backend-protocol`, `service-upstream`, `proxy-connect-timeout`) belong to a
//! backend's one Envoy cluster: the oldest Ingress that sets one for a backend decides it, and an Ingress
//! that asks for another value is warned about, naming both. A canary's backend takes its primary's
//! (ingress-nginx sends canary traffic with the primary location's settings). Location-level settings
//! (`proxy-read-timeout`, `proxy-send-timeout`, `custom-http-errors`, `default-backend`) become
//! [`LocationProfile`]s, one per distinct combination.

use crate::decide::policy::Policy;
use crate::decide::upstream::{ClusterSettings, ErrorPages, LocationProfile, UpstreamLocation};
use crate::decide::{Backend, RouteId, RouteInfo};
use crate::diagnostics::Diagnostics;
use crate::model::annotations::upstream::{BackendProtocol, DEFAULT_READ_TIMEOUT, DEFAULT_SEND_TIMEOUT};
use crate::model::annotations::{field_of, IngressOptions};
use crate::model::settings::Settings;
use std::collections::HashMap;

/// One cluster-level value and the Ingress that set it.
struct Set<T> {
    value: T,
    ingress: String,
}

/// The explicit cluster-level settings of one backend.
#[derive(Default)]
struct Explicit {
    protocol: Option<Set<BackendProtocol>>,
    service_upstream: Option<Set<bool>>,
    connect_timeout: Option<Set<u32>>,
}

/// What a route of an Ingress with upstream annotations asks of its location.
struct Pending {
    route: RouteId,
    read_timeout: u32,
    send_timeout: u32,
    codes: Vec<u16>,
    default_backend: Option<String>,
}

/// Upstream settings collected while routes are compiled.
#[derive(Default)]
pub(super) struct UpstreamBuild {
    /// Explicit cluster settings by cluster, in the order the backends were first seen.
    clusters: Vec<(String, Explicit)>,
    by_cluster: HashMap<String, usize>,
    pending: Vec<Pending>,
}

/// A default backend of error pages, with the Ingress and field that name it (for the cluster-name check).
pub(super) struct ErrorBackend {
    pub(super) backend: Backend,
    pub(super) ingress: String,
    pub(super) field: String,
}

/// What [`UpstreamBuild::finish`] produces for the route table.
pub(super) struct Finished {
    pub(super) cluster_settings: Vec<(String, ClusterSettings)>,
    pub(super) profiles: Vec<LocationProfile>,
    pub(super) error_backends: Vec<ErrorBackend>,
}

/// Keeps the first value, warning when a later Ingress asks for another one.
fn merge<T: PartialEq + Copy + std::fmt::Display>(
    slot: &mut Option<Set<T>>,
    value: Option<T>,
    route: &RouteInfo,
    annotation: &str,
    diags: &mut Diagnostics,
) {
    let Some(value) = value else { return };
    match slot {
        None => {
            *slot = Some(Set {
                value,
                ingress: route.ingress.clone(),
            })
        }
        Some(first) if first.value != value => diags.warning(
            &route.ingress,
            &field_of(annotation),
            format!(
                "service {}/{} port {} already has {annotation} {} from the older Ingress {}; this one's {value} is \
                 ignored (Envoy has one cluster per backend)",
                route.backend.namespace, route.backend.service, route.backend.port, first.value, first.ingress
            ),
        ),
        Some(_) => {}
    }
}

impl UpstreamBuild {
    /// Records route `id` of an Ingress with these options.
    pub(super) fn record(
        &mut self,
        id: RouteId,
        route: &RouteInfo,
        options: &IngressOptions,
        diags: &mut Diagnostics,
    ) {
        let upstream = &options.upstream;
        let cluster = &route.backend.cluster;
        let index = *self.by_cluster.entry(cluster.clone()).or_insert_with(|| {
            self.clusters.push((cluster.clone(), Explicit::default()));
            self.clusters.len() - 1
        });
        if let Some((_, explicit)) = self.clusters.get_mut(index) {
            merge(
                &mut explicit.protocol,
                upstream.protocol,
                route,
                "backend-protocol",
                diags,
            );
            let service_upstream = upstream.service_upstream;
            merge(
                &mut explicit.service_upstream,
                service_upstream,
                route,
                "service-upstream",
                diags,
            );
            let timeout = upstream.connect_timeout;
            merge(
                &mut explicit.connect_timeout,
                timeout,
                route,
                "proxy-connect-timeout",
                diags,
            );
        }
        let pending = Pending {
            route: id,
            read_timeout: upstream.read_timeout.unwrap_or(DEFAULT_READ_TIMEOUT),
            send_timeout: upstream.send_timeout.unwrap_or(DEFAULT_SEND_TIMEOUT),
            codes: options.error_pages.codes.clone(),
            default_backend: options.error_pages.default_backend.clone(),
        };
        let default_location = pending.read_timeout == DEFAULT_READ_TIMEOUT
            && pending.send_timeout == DEFAULT_SEND_TIMEOUT
            && pending.codes.is_empty()
            && pending.default_backend.is_none();
        if !default_location {
            self.pending.push(pending);
        }
    }

    /// Resolves the default backends, interns the location profiles into the routes' policies, and
    /// settles each cluster's settings (canaries take their primary's). `catch_all`: the catch-all
    /// default backend, which serves `custom-http-errors` without a `default-backend`.
    pub(super) fn finish(
        self,
        routes: &mut [RouteInfo],
        canary_backends: &[Backend],
        catch_all: Option<RouteId>,
        affinity_of: &HashMap<String, usize>,
        settings: &Settings,
        diags: &mut Diagnostics,
    ) -> Finished {
        let catch_all_backend = catch_all.and_then(|id| Some(routes.get(id)?.backend.clone()));
        let mut profiles: Vec<LocationProfile> = Vec::new();
        let mut interned: HashMap<String, usize> = HashMap::new();
        let mut error_backends: Vec<ErrorBackend> = Vec::new();
        for p in self.pending {
            let Some(route) = routes.get(p.route) else {
                continue;
            };
            let backend = match &p.default_backend {
                Some(service) => {
                    let namespace = &route.backend.namespace;
                    let known = error_backends
                        .iter()
                        .find(|e| &e.backend.namespace == namespace && &e.backend.service == service);
                    Some(match known {
                        Some(e) => e.backend.clone(),
                        None => {
                            let b = default_backend(routes, canary_backends, route, service, settings, diags);
                            error_backends.push(ErrorBackend {
                                backend: b.clone(),
                                ingress: route.ingress.clone(),
                                field: field_of("default-backend"),
                            });
                            b
                        }
                    })
                }
                None if p.codes.is_empty() => None,
                None => {
                    if catch_all_backend.is_none() {
                        diags.warning(
                            &route.ingress,
                            &field_of("custom-http-errors"),
                            "has no effect: no default backend serves the error pages (set \
                             nginx.ingress.kubernetes.io/default-backend, or give the configuration a catch-all \
                             default backend); the backend's own error responses are sent",
                        );
                    }
                    catch_all_backend.clone()
                }
            };
            let error_pages = backend.map(|backend| ErrorPages {
                backend,
                codes: p.codes.clone(),
                when_unreachable: p.default_backend.is_some(),
                namespace: route.backend.namespace.clone(),
                ingress_name: route
                    .ingress
                    .split_once('/')
                    .map_or(route.ingress.clone(), |(_, name)| name.to_string()),
                service: route.backend.service.clone(),
                service_port: route.backend.port.clone(),
            });
            let keeps_original_uri = error_pages.as_ref().is_some_and(|e| !e.codes.is_empty());
            let profile = LocationProfile {
                read_timeout: p.read_timeout,
                send_timeout: p.send_timeout,
                error_pages,
            };
            if profile == LocationProfile::default() {
                continue;
            }
            let index = *interned.entry(profile_key(&profile)).or_insert_with(|| {
                profiles.push(profile);
                profiles.len() - 1
            });
            if let Some(route) = routes.get_mut(p.route) {
                let policy = route.policy.get_or_insert_with(|| Box::new(Policy::default()));
                policy.upstream = Some(UpstreamLocation {
                    profile: index,
                    keeps_original_uri,
                });
            }
        }
        let cluster_settings = settle_clusters(self.clusters, routes, canary_backends, affinity_of, diags);
        Finished {
            cluster_settings,
            profiles,
            error_backends,
        }
    }
}

/// A key that tells location profiles apart: interning by strings (a map the module has already) costs
/// fewer module bytes than a map keyed by the profile.
fn profile_key(p: &LocationProfile) -> String {
    let mut key = format!("{}\n{}", p.read_timeout, p.send_timeout);
    if let Some(e) = &p.error_pages {
        for part in [
            &e.backend.cluster,
            &e.namespace,
            &e.ingress_name,
            &e.service,
            &e.service_port,
        ] {
            key.push('\n');
            key.push_str(part);
        }
        key.push_str(if e.when_unreachable { "\nunreachable" } else { "\n" });
        for code in &e.codes {
            key.push_str(&format!(" {code}"));
        }
    }
    key
}

/// The cluster settings that differ from the default; canary backends take their primary's.
fn settle_clusters(
    clusters: Vec<(String, Explicit)>,
    routes: &[RouteInfo],
    canary_backends: &[Backend],
    affinity_of: &HashMap<String, usize>,
    diags: &mut Diagnostics,
) -> Vec<(String, ClusterSettings)> {
    let mut settled: Vec<(String, ClusterSettings)> = Vec::new();
    for (cluster, explicit) in &clusters {
        let mut s = ClusterSettings::default();
        if let Some(p) = &explicit.protocol {
            s.protocol = p.value;
        }
        if let Some(t) = &explicit.connect_timeout {
            s.connect_timeout = t.value;
        }
        if let Some(u) = explicit.service_upstream.as_ref().filter(|u| u.value) {
            s.service_upstream = true;
            if affinity_of.contains_key(cluster) {
                diags.warning(
                    &u.ingress,
                    &field_of("service-upstream"),
                    format!(
                        "{cluster} is reached through its Service's cluster IP, one address for Envoy: cookie session \
                         affinity cannot keep a session on one pod (as ingress-nginx documents for service-upstream)"
                    ),
                );
            }
        }
        if s != ClusterSettings::default() {
            settled.push((cluster.clone(), s));
        }
    }
    // A canary is reached with its primary's protocol and timeouts (not its Service settings).
    for route in routes {
        let primary = settled
            .iter()
            .find(|(c, _)| *c == route.backend.cluster)
            .map(|(_, s)| *s);
        let canary = route.canary.and_then(|c| canary_backends.get(c));
        let (Some(primary), Some(canary)) = (primary, canary) else {
            continue;
        };
        if !settled.iter().any(|(c, _)| *c == canary.cluster) {
            let inherited = ClusterSettings {
                service_upstream: false,
                ..primary
            };
            settled.push((canary.cluster.clone(), inherited));
        }
    }
    settled
}

/// The backend of `default-backend: service` on `route`'s Ingress: that Service in the Ingress's
/// namespace, on the port the Ingresses use for it. ingress-nginx took the Service's first port, which
/// Ingress objects do not tell: without a route to the Service, port 80 is assumed (warned).
fn default_backend(
    routes: &[RouteInfo],
    canary_backends: &[Backend],
    route: &RouteInfo,
    service: &str,
    settings: &Settings,
    diags: &mut Diagnostics,
) -> Backend {
    let namespace = &route.backend.namespace;
    let mut ports: Vec<&str> = Vec::new();
    for b in routes.iter().map(|r| &r.backend).chain(canary_backends) {
        if &b.namespace == namespace && b.service == service && !ports.contains(&b.port.as_str()) {
            ports.push(&b.port);
        }
    }
    let port = match ports.as_slice() {
        [] => {
            diags.warning(
                &route.ingress,
                &field_of("default-backend"),
                format!(
                    "no Ingress routes to service {namespace}/{service}, so its first port is not known \
                     (ingress-nginx used the Service's first port): port 80 is assumed"
                ),
            );
            "80".to_string()
        }
        [port] => port.to_string(),
        [port, ..] => {
            diags.warning(
                &route.ingress,
                &field_of("default-backend"),
                format!(
                    "the Ingresses route to service {namespace}/{service} on ports {}; ingress-nginx used the \
                     Service's first port, which they do not tell: port {port} (the first seen) is used",
                    ports.join(", ")
                ),
            );
            port.to_string()
        }
    };
    Backend {
        namespace: namespace.clone(),
        service: service.to_string(),
        cluster: settings.cluster_template.cluster_name(namespace, service, &port),
        port,
        unavailable: false,
        port_name: None,
    }
}
