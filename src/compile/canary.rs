//! Attaching canary Ingresses to their primaries, as ingress-nginx merges alternative backends
//! (`controller.go mergeAlternativeBackends`): a canary path attaches to the primary route with the same
//! host, path and pathType, and then diverts the traffic of that route's *backend* — every route to the
//! same service, as ingress-nginx's balancer does per upstream. A canary routes nothing by itself; one
//! canary per primary backend (the oldest).

use super::affinity::AffinityBuild;
use super::regex_paths::{compile_search, RegexBudget};
use super::{default_backend_info, route_info};
use crate::decide::canary::{Canary, CanaryId, CanaryRules, HeaderPattern};
use crate::decide::{Backend, RouteId, RouteInfo};
use crate::diagnostics::Diagnostics;
use crate::model::annotations::affinity::CanaryBehavior;
use crate::model::annotations::{field_of, IngressOptions};
use crate::model::ingress::{Ingress, PathType};
use crate::model::service::Services;
use crate::model::settings::Settings;
use std::collections::HashMap;

/// The primary routes a canary path can attach to.
#[derive(Default)]
pub(super) struct PrimaryIndex {
    /// (rule host, path, pathType as ingress-nginx defaults it) -> the route serving it.
    paths: HashMap<(Option<String>, String, PathType), RouteId>,
    /// Routes of host-less rules and the catch-all default backend: what a canary's own
    /// `spec.defaultBackend` attaches to (ingress-nginx's `_` server).
    catch_all: Vec<RouteId>,
}

/// ImplementationSpecific counts as Prefix when paths are compared, as ingress-nginx defaults it.
fn nginx_type(t: PathType) -> PathType {
    match t {
        PathType::ImplementationSpecific => PathType::Prefix,
        t => t,
    }
}

impl PrimaryIndex {
    /// Records a served primary route of a rule (the first for a key is the one serving it).
    pub(super) fn record(&mut self, host: Option<&str>, path: &str, path_type: PathType, route: RouteId) {
        let key = (host.map(str::to_string), path.to_string(), nginx_type(path_type));
        self.paths.entry(key).or_insert(route);
        if host.is_none() {
            self.catch_all.push(route);
        }
    }

    pub(super) fn record_catch_all(&mut self, route: RouteId) {
        self.catch_all.push(route);
    }
}

/// What attaching produced: the canaries, and which canary diverts each primary backend (by cluster).
pub(super) struct Attached {
    pub(super) canaries: Vec<Canary>,
    pub(super) by_primary: HashMap<String, CanaryId>,
}

/// Attaches the canary Ingresses (oldest first) to the primary routes.
#[allow(clippy::too_many_arguments)]
pub(super) fn attach(
    canary_ingresses: &[(Ingress, IngressOptions)],
    index: &PrimaryIndex,
    routes: &[RouteInfo],
    settings: &Settings,
    services: &Services,
    affinity: &mut AffinityBuild,
    budget: &mut RegexBudget,
    diags: &mut Diagnostics,
) -> Attached {
    let mut attached = Attached {
        canaries: Vec::new(),
        by_primary: HashMap::new(),
    };
    for (ingress, options) in canary_ingresses {
        let Some(rules) = options.canary.as_ref() else {
            continue;
        };
        let id = ingress.id();
        if options.affinity.is_some() {
            diags.warning(
                &id,
                &field_of("affinity"),
                "has no effect on a canary Ingress: the canary takes the primary's affinity \
                 (affinity-canary-behavior: sticky) or none (legacy), as in ingress-nginx",
            );
        }
        let header_pattern = rules.header_pattern.as_ref().map(|pattern| {
            compile_search(pattern, budget).map_or_else(
                |why| {
                    diags.warning(
                        &id,
                        &field_of("canary-by-header-pattern"),
                        format!("{pattern:?} {why}: requests carrying the header go to the primary, as in ingress-nginx"),
                    );
                    HeaderPattern::Invalid
                },
                HeaderPattern::Valid,
            )
        });
        let mut rules = Some(CanaryRules {
            header: rules.header.clone(),
            header_value: rules.header_value.clone(),
            header_pattern,
            cookie: rules.cookie.clone(),
            weight: rules.weight,
            weight_total: rules.weight_total,
        });
        // One canary per canary backend of this Ingress.
        let mut own: HashMap<String, CanaryId> = HashMap::new();
        let mut targets: Vec<(String, Backend, Vec<RouteId>)> = Vec::new();
        if let Some(b) = &ingress.default_backend {
            if let Some(info) = default_backend_info(ingress, b, settings, services, diags) {
                targets.push((
                    "spec.defaultBackend".into(),
                    info.backend,
                    index.catch_all.clone(),
                ));
            }
        }
        for (i, rule) in ingress.rules.iter().enumerate() {
            for (j, p) in rule.paths.iter().enumerate() {
                let field = format!("spec.rules[{i}].http.paths[{j}]");
                let Some(info) = route_info(
                    ingress,
                    &field,
                    rule.host.clone(),
                    &p.path,
                    Some(p.path_type),
                    false,
                    &p.backend,
                    settings,
                    services,
                    diags,
                ) else {
                    continue;
                };
                let key = (rule.host.clone(), p.path.clone(), nginx_type(p.path_type));
                match index.paths.get(&key) {
                    Some(&primary) => targets.push((field, info.backend, vec![primary])),
                    None => diags.warning(
                        &id,
                        &field,
                        format!(
                            "no primary Ingress serves {} path {:?} on {}: this canary path routes nothing",
                            nginx_type(p.path_type).as_str(),
                            p.path,
                            rule.host.as_deref().unwrap_or("every host")
                        ),
                    ),
                }
            }
        }
        for (field, backend, primaries) in targets {
            for primary in primaries {
                let Some(route) = routes.get(primary) else {
                    continue;
                };
                let primary_cluster = &route.backend.cluster;
                if *primary_cluster == backend.cluster {
                    diags.warning(
                        &id,
                        &field,
                        format!(
                            "service {} is also the primary of {} {}: a canary must name another service; ignored",
                            backend.service, route.ingress, route.field
                        ),
                    );
                    continue;
                }
                if let Some(&existing) = attached.by_primary.get(primary_cluster) {
                    let theirs = attached.canaries.get(existing).map(|c| c.ingress.as_str());
                    if theirs != Some(id.as_str()) {
                        diags.warning(
                            &id,
                            &field,
                            format!(
                                "service {} already has the canary {} (older); ingress-nginx uses one canary per primary, so this one is ignored there",
                                route.backend.service,
                                theirs.unwrap_or("?")
                            ),
                        );
                    }
                    continue;
                }
                let canary_id = match own.get(&backend.cluster) {
                    Some(&c) => c,
                    None => {
                        let Some(rules) = rules.take().or_else(|| {
                            // A second canary backend in the same Ingress shares its rules.
                            attached
                                .canaries
                                .iter()
                                .rev()
                                .find(|c| c.ingress == id)
                                .map(|c| c.rules.clone())
                        }) else {
                            continue;
                        };
                        attached.canaries.push(Canary {
                            ingress: id.clone(),
                            field: field.clone(),
                            backend: backend.clone(),
                            rules,
                            affinity: None,
                        });
                        let c = attached.canaries.len() - 1;
                        own.insert(backend.cluster.clone(), c);
                        c
                    }
                };
                attached.by_primary.insert(primary_cluster.clone(), canary_id);
                if options.canary_behavior == CanaryBehavior::Sticky && affinity.has(primary_cluster) {
                    affinity.copy_to_canary(primary_cluster, &backend);
                }
            }
        }
    }
    attached
}
