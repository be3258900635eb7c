//! Stage 2: Ingresses -> [`RouteTable`]: hosts -> path matchers -> routes.
//!
//! Ingresses are taken oldest first (`creationTimestamp`; ties by namespace/name, descending, as
//! ingress-nginx sorts them), so the oldest wins every conflict. Per host the paths become an exact-path
//! map, a prefix map walked element by element, and/or one `RegexSet`: the cost of a decision does not grow
//! with the number of rules.

mod affinity;
mod app_root;
mod canary;
pub mod cluster;
mod host_names;
mod host_table;
mod policy;
pub mod prefix_trie;
pub mod regex_paths;
pub mod tls;
mod upstream;

use affinity::AffinityBuild;
pub use affinity::Endpoints;
use canary::PrimaryIndex;
use host_names::HostNamesBuild;
use host_table::{build_host, Candidate, HostBuild};
pub(crate) use host_table::{HostTable, PathMatch};
use upstream::UpstreamBuild;

use crate::decide::rewrite::Rewrite;
use crate::decide::{Backend, RouteId, RouteInfo, RouteTable};
use crate::diagnostics::Diagnostics;
use crate::model::annotations::{self, IngressOptions};
use crate::model::ingress::{Backend as IngressBackend, Ingress, PathType, Port};
use crate::model::secret::Secrets;
use crate::model::service::{Services, Unresolved};
use crate::model::settings::{Semantics, Settings};
use regex_paths::{capture_groups, check_pattern, RegexBudget};
use std::collections::HashMap;

/// Compiles the Ingresses into a route table; problems go to `diags`. `endpoints`: the backends'
/// addresses when the configuration lists them (persistent session affinity needs them); `secrets`: the
/// Secrets it carries (basic authentication's users); `services`: the Services it lists (named ports,
/// missing Services).
pub fn compile(
    ingresses: Vec<Ingress>,
    settings: &Settings,
    endpoints: &Endpoints,
    secrets: &Secrets,
    services: &Services,
    diags: &mut Diagnostics,
) -> RouteTable {
    let semantics = settings.semantics;
    let mut served: Vec<(Ingress, IngressOptions)> = Vec::new();
    let mut canaries: Vec<(Ingress, IngressOptions)> = Vec::new();
    for ingress in ingresses {
        if !settings.serves_class(ingress.class.as_deref()) {
            continue;
        }
        let options = annotations::parse(&ingress, secrets, diags);
        if options.canary.is_some() {
            canaries.push((ingress, options));
        } else {
            served.push((ingress, options));
        }
    }
    // Oldest first; missing timestamps last; ties by namespace/name descending (ingress-nginx).
    for list in [&mut served, &mut canaries] {
        list.sort_by(|(a, _), (b, _)| {
            let ka = a.created.map_or(i64::MAX, |t| t.0);
            let kb = b.created.map_or(i64::MAX, |t| t.0);
            ka.cmp(&kb).then_with(|| b.id().cmp(&a.id()))
        });
    }

    let mut routes: Vec<RouteInfo> = Vec::new();
    let mut hosts: HashMap<String, HostBuild> = HashMap::new();
    let mut host_order: Vec<String> = Vec::new();
    let mut hostless = HostBuild::default();
    let mut hostless_used = false;
    let mut catch_all: Option<RouteId> = None;
    let mut catch_all_from: Option<String> = None;
    let mut primaries = PrimaryIndex::default();
    let mut affinity = AffinityBuild::default();
    let mut upstream = UpstreamBuild::default();
    let mut host_names = HostNamesBuild::default();

    for (ingress, options) in &served {
        let id = ingress.id();
        let default_route = ingress.default_backend.as_ref().and_then(|b| {
            let info = default_backend_info(ingress, b, settings, services, diags)?;
            routes.push(RouteInfo {
                unenforced: options.unenforced.clone(),
                policy: policy::build(options, &info, settings),
                ..info
            });
            Some(routes.len() - 1)
        });
        if let Some(route) = default_route {
            upstream.record(route, &routes[route], options, diags);
        }
        if let Some(route) = default_route {
            let takes_catch_all = match semantics {
                // ingress-nginx: only an Ingress with a backend and no rules configures the catch-all.
                Semantics::IngressNginx => ingress.rules.is_empty(),
                Semantics::Kubernetes => true,
            };
            if takes_catch_all {
                match &catch_all_from {
                    None => {
                        catch_all = Some(route);
                        catch_all_from = Some(id.clone());
                    }
                    Some(first) => diags.warning(
                        &id,
                        "spec.defaultBackend",
                        format!("the catch-all default backend is already set by the older Ingress {first}; ignored"),
                    ),
                }
            }
        }
        for (i, rule) in ingress.rules.iter().enumerate() {
            let build = match &rule.host {
                Some(host) => {
                    if !hosts.contains_key(host) {
                        // ingress-nginx: the first Ingress naming a host gives its root location the
                        // Ingress's defaultBackend.
                        host_order.push(host.clone());
                        let (default, root_redirect) = if semantics == Semantics::IngressNginx {
                            (default_route, options.redirect.location.clone())
                        } else {
                            (None, None)
                        };
                        let mut build = HostBuild {
                            default,
                            root_redirect,
                            root_ssl_redirect: options.ssl_redirect,
                            ..HostBuild::default()
                        };
                        build
                            .app_roots
                            .host_created(&id, options.redirect.app_root.as_ref());
                        hosts.insert(host.clone(), build);
                    }
                    hosts.entry(host.clone()).or_default()
                }
                None => {
                    hostless_used = true;
                    &mut hostless
                }
            };
            host_names.rule(
                &id,
                rule.host.as_deref(),
                !rule.paths.is_empty(),
                &options.hosts,
                diags,
            );
            for (j, p) in rule.paths.iter().enumerate() {
                let field = format!("spec.rules[{i}].http.paths[{j}]");
                let regex = match semantics {
                    Semantics::IngressNginx => options.use_regex || options.rewrites(&p.path),
                    Semantics::Kubernetes => {
                        options.use_regex && p.path_type == PathType::ImplementationSpecific
                    }
                };
                if semantics == Semantics::IngressNginx && regex {
                    build.host_regex = true;
                }
                let kind = match (semantics, p.path_type, regex) {
                    (Semantics::Kubernetes, PathType::ImplementationSpecific, true) => {
                        PathType::ImplementationSpecific
                    }
                    (_, PathType::ImplementationSpecific, _) => PathType::Prefix,
                    (_, t, _) => t,
                };
                if let Err(why) = validate_path(&p.path, regex) {
                    diags.error(&id, &format!("{field}.path"), format!("{:?} {why}", p.path));
                    continue;
                }
                let rewrite = if options.rewrites(&p.path) {
                    match build_rewrite(&p.path, regex, options) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            diags.error(
                                &id,
                                &format!("metadata.annotations.{}rewrite-target", annotations::PREFIX),
                                e,
                            );
                            continue;
                        }
                    }
                } else {
                    None
                };
                let key = (p.path.clone(), kind);
                let Some(info) = route_info(
                    ingress,
                    &field,
                    rule.host.clone(),
                    &p.path,
                    Some(p.path_type),
                    regex,
                    &p.backend,
                    settings,
                    services,
                    diags,
                ) else {
                    continue;
                };
                if let Some(&winner) = build.taken.get(&key) {
                    let w = &routes[winner];
                    if w.backend.cluster != info.backend.cluster
                        || w.rewrite_target() != rewrite.as_ref().map(Rewrite::target_text)
                    {
                        diags.warning(
                            &id,
                            &field,
                            format!(
                                "{} path {:?} on {} is already served by the older {} {}; this one is ignored",
                                kind.as_str(),
                                p.path,
                                rule.host.as_deref().unwrap_or("every host"),
                                w.ingress,
                                w.field
                            ),
                        );
                    }
                    continue;
                }
                build
                    .app_roots
                    .path(&id, &p.path, kind, options.redirect.app_root.as_ref());
                routes.push(RouteInfo {
                    rewrite,
                    unenforced: options.unenforced.clone(),
                    issues_cookie: options.affinity.is_some(),
                    policy: policy::build(options, &info, settings),
                    ..info
                });
                let route = routes.len() - 1;
                if let Some(a) = &options.affinity {
                    affinity.record(&routes[route], a, diags);
                }
                upstream.record(route, &routes[route], options, diags);
                primaries.record(rule.host.as_deref(), &p.path, p.path_type, route);
                build.taken.insert(key, route);
                build.candidates.push(Candidate {
                    route,
                    path: p.path.clone(),
                    kind,
                    regex,
                });
            }
        }
    }

    if let Some(route) = catch_all {
        primaries.record_catch_all(route);
    }
    let mut budget = RegexBudget::default();
    let attached = canary::attach(
        &canaries,
        &primaries,
        &routes,
        settings,
        services,
        &mut affinity,
        &mut budget,
        diags,
    );
    let (affinities, affinity_of) = affinity.finish(endpoints, diags);
    for route in &mut routes {
        route.canary = attached.by_primary.get(&route.backend.cluster).copied();
        route.affinity = affinity_of.get(&route.backend.cluster).copied();
    }
    let mut canaries = attached.canaries;
    for canary in &mut canaries {
        canary.affinity = affinity_of.get(&canary.backend.cluster).copied();
    }
    let canary_backends: Vec<Backend> = canaries.iter().map(|c| c.backend.clone()).collect();
    let upstream = upstream.finish(
        &mut routes,
        &canary_backends,
        catch_all,
        &affinity_of,
        settings,
        diags,
    );
    check_cluster_names(
        routes
            .iter()
            .map(|r| (&r.backend, &r.ingress, &r.field))
            .chain(canaries.iter().map(|c| (&c.backend, &c.ingress, &c.field)))
            .chain(
                upstream
                    .error_backends
                    .iter()
                    .map(|e| (&e.backend, &e.ingress, &e.field)),
            ),
        diags,
    );
    // ingress-nginx matches every path of a regex host as a regex; say so in each route.
    for build in hosts.values().chain(std::iter::once(&hostless)) {
        if build.host_regex {
            for c in &build.candidates {
                routes[c.route].regex = true;
            }
        }
    }
    let host_names = host_names.finish(|name| hosts.contains_key(name), diags);
    let mut exact_hosts = HashMap::new();
    let mut wildcard_hosts = HashMap::new();
    for host in host_order {
        let Some(build) = hosts.remove(&host) else {
            continue;
        };
        let Some(table) = build_host(&host, build, semantics, &routes, &mut budget, diags) else {
            continue;
        };
        match host.strip_prefix("*.") {
            Some(parent) => wildcard_hosts.insert(parent.to_string(), table),
            None => exact_hosts.insert(host, table),
        };
    }
    let hostless = if hostless_used {
        build_host(
            "(rules without host)",
            hostless,
            semantics,
            &routes,
            &mut budget,
            diags,
        )
    } else {
        None
    };

    let tls = tls::collect(served.iter().map(|(ingress, _)| ingress), diags);
    RouteTable {
        semantics,
        cluster_header: settings.cluster_header.clone(),
        routes,
        exact_hosts,
        wildcard_hosts,
        hostless,
        default_backend: catch_all,
        max_path_bytes: settings.max_path_bytes,
        canaries,
        affinities,
        cluster_settings: upstream.cluster_settings,
        location_profiles: upstream.profiles,
        host_names,
        tls,
        use_forwarded_headers: settings.use_forwarded_headers,
    }
}

/// Refuses a cluster name shared by two different backends (a `clusterTemplate` that drops a part of
/// the name, or whose parts run into each other): one backend's traffic would reach the other. Takes
/// each backend with the Ingress and field that name it.
fn check_cluster_names<'r>(
    backends: impl Iterator<Item = (&'r Backend, &'r String, &'r String)>,
    diags: &mut Diagnostics,
) {
    let mut owners: HashMap<&str, (&Backend, &String, &String)> = HashMap::new();
    for (b, ingress, field) in backends {
        match owners.get(b.cluster.as_str()) {
            None => {
                owners.insert(&b.cluster, (b, ingress, field));
            }
            Some((a, first_ingress, first_field)) => {
                if (&a.namespace, &a.service, &a.port) != (&b.namespace, &b.service, &b.port) {
                    diags.error(
                        ingress,
                        &format!("{field}.backend"),
                        format!(
                            "service {}/{} port {} gets the cluster name {:?} of service {}/{} port {} ({} {}): \
                             settings.clusterTemplate must give every backend its own cluster",
                            b.namespace, b.service, b.port, b.cluster, a.namespace, a.service, a.port,
                            first_ingress, first_field
                        ),
                    );
                }
            }
        }
    }
}

/// The route of an Ingress's `spec.defaultBackend`.
pub(super) fn default_backend_info(
    ingress: &Ingress,
    backend: &IngressBackend,
    settings: &Settings,
    services: &Services,
    diags: &mut Diagnostics,
) -> Option<RouteInfo> {
    route_info(
        ingress,
        "spec.defaultBackend",
        None,
        "",
        None,
        false,
        backend,
        settings,
        services,
        diags,
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn route_info(
    ingress: &Ingress,
    field: &str,
    host: Option<String>,
    path: &str,
    path_type: Option<PathType>,
    regex: bool,
    backend: &IngressBackend,
    settings: &Settings,
    services: &Services,
    diags: &mut Diagnostics,
) -> Option<RouteInfo> {
    let (service, port, unavailable) = match backend {
        IngressBackend::Service { name, port } => match services.resolve(&ingress.namespace, name, port) {
            Ok(number) => (name.clone(), number, false),
            Err(why) => {
                let (what, at) = match (&why, port) {
                    (Unresolved::MissingService, _) => (
                        format!(
                            "service {}/{name} is not among the Services of the configuration",
                            ingress.namespace
                        ),
                        "name",
                    ),
                    (Unresolved::MissingPort, Port::Name(p)) => (
                        format!("service {}/{name} has no port named {p:?}", ingress.namespace),
                        "port.name",
                    ),
                    (Unresolved::MissingPort, Port::Number(n)) => (
                        format!("service {}/{name} has no port {n}", ingress.namespace),
                        "port.number",
                    ),
                };
                // A path's backend is `<path>.backend`; `spec.defaultBackend` is the backend itself.
                let object = if field == "spec.defaultBackend" {
                    field.to_string()
                } else {
                    format!("{field}.backend")
                };
                diags.warning(
                    &ingress.id(),
                    &format!("{object}.service.{at}"),
                    format!("{what}: its requests answer 503"),
                );
                (name.clone(), port.as_string(), true)
            }
        },
        IngressBackend::Resource { kind, name } => {
            diags.warning(
                &ingress.id(),
                &format!("{field}.backend.resource"),
                format!(
                    "resource backends ({kind} {name:?}) cannot be served through Envoy clusters; ignored"
                ),
            );
            return None;
        }
    };
    let cluster = settings
        .cluster_template
        .cluster_name(&ingress.namespace, &service, &port);
    Some(RouteInfo {
        ingress: ingress.id(),
        field: field.to_string(),
        host,
        path: path.to_string(),
        path_type,
        regex,
        backend: Backend {
            namespace: ingress.namespace.clone(),
            service,
            port_name: match backend {
                IngressBackend::Service {
                    port: Port::Name(name),
                    ..
                } if *name != port => Some(name.clone()),
                _ => None,
            },
            port,
            cluster,
            unavailable,
        },
        rewrite: None,
        unenforced: Vec::new(),
        canary: None,
        affinity: None,
        issues_cookie: false,
        policy: None,
    })
}

/// Paths must start with `/`; no whitespace or control characters, no query or fragment; regex paths
/// must be RE2 expressions within the limits.
fn validate_path(path: &str, regex: bool) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("must start with '/'".to_string());
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("must not contain spaces or control characters".to_string());
    }
    if !regex && (path.contains('?') || path.contains('#')) {
        return Err("must not contain '?' or '#' (paths never match the query or fragment)".to_string());
    }
    if regex {
        check_pattern(path, false)?;
    }
    Ok(())
}

fn build_rewrite(path: &str, regex: bool, options: &IngressOptions) -> Result<Rewrite, String> {
    let Some(target) = options.rewrite_target.clone() else {
        return Err("internal: no rewrite target".to_string());
    };
    let rewrite = Rewrite::new(target, options.x_forwarded_prefix.clone());
    let groups = if regex { capture_groups(path, false) } else { 0 };
    if rewrite.max_group() > groups {
        return Err(format!(
            "{:?}{} refers to ${} but path {path:?} has {groups} capture group(s){}",
            rewrite.target_text(),
            options
                .x_forwarded_prefix
                .as_ref()
                .map_or(String::new(), |p| format!(
                    " (with x-forwarded-prefix {:?})",
                    p.as_str()
                )),
            rewrite.max_group(),
            match (regex, options.use_regex) {
                (true, _) => "",
                (false, false) => " (capture groups need use-regex: \"true\")",
                (false, true) =>
                    " (in the kubernetes profile only ImplementationSpecific paths are regular expressions)",
            }
        ));
    }
    Ok(rewrite)
}
