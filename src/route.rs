//! The compiled route table and the per-request decision. Pure: no I/O, never panics.

use crate::host::{route_host, wildcard_parent};
use crate::ingress::PathType;
use crate::paths::{split_query, RequestPath};
use crate::rewrite::Rewrite;
use crate::settings::Semantics;
use std::collections::HashMap;

/// What the filter knows about a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `http` or `https` (used in redirect `Location`s).
    pub scheme: &'a str,
    /// `:authority` as received (may carry a port); empty when absent.
    pub authority: &'a str,
    /// `:path` as received, query string included.
    pub path: &'a str,
}

/// Index of a route in [`RouteTable::routes`].
pub type RouteId = usize;

/// A backend service and the Envoy cluster that serves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    /// Port number or name, as the Ingress gives it.
    pub port: String,
    pub cluster: String,
}

/// One routing entry: an Ingress path, or an Ingress `spec.defaultBackend`.
#[derive(Debug)]
pub struct RouteInfo {
    /// `namespace/name` of the Ingress.
    pub ingress: String,
    /// Where in the Ingress: `spec.rules[0].http.paths[1]` or `spec.defaultBackend`.
    pub field: String,
    /// The rule's host (`*.foo.com` for wildcards); None for host-less rules and default backends.
    pub host: Option<String>,
    /// The Ingress path; empty for a default backend.
    pub path: String,
    /// None for a default backend.
    pub path_type: Option<PathType>,
    /// Whether the path is matched as a regular expression.
    pub regex: bool,
    pub backend: Backend,
    pub(crate) rewrite: Option<Rewrite>,
}

impl RouteInfo {
    /// `rewrite-target` of this route, if it rewrites.
    pub fn rewrite_target(&self) -> Option<&str> {
        self.rewrite.as_ref().map(Rewrite::target_text)
    }
}

/// How the request's host selected the set of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMatch {
    /// A rule host equal to the request host.
    Exact,
    /// A `*.parent` rule host.
    Wildcard,
    /// Rules without host.
    Hostless,
    /// No rules for this host.
    None,
}

/// Why the decision was taken (for counters, logs and `explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ExactPath,
    PrefixPath,
    RegexPath,
    /// The host's own default (ingress-nginx: `spec.defaultBackend` of the first Ingress naming the host).
    HostDefaultBackend,
    /// The catch-all default backend.
    DefaultBackend,
    /// ingress-nginx: a path ending in `/` answers 301 for the same path without the slash.
    TrailingSlashRedirect,
    NoMatchingPath,
    NoMatchingHost,
    /// The request path is not a path (e.g. `*` or absolute-form left unnormalized).
    InvalidPath,
    /// The rewritten path would be unsafe or too long.
    InvalidRewrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    pub host: HostMatch,
    pub route: Option<RouteId>,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'t> {
    pub cluster: &'t str,
    /// New `:path` toward the upstream (rewrite-target or path normalization); None keeps the request's.
    pub path: Option<String>,
    /// Headers to set toward the upstream (e.g. `x-forwarded-prefix`).
    pub headers: Vec<(&'static str, String)>,
    pub trace: Trace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'t> {
    /// Send upstream to `cluster`.
    Forward(Forward<'t>),
    /// Answer with a redirect.
    Redirect {
        status: u16,
        location: String,
        trace: Trace,
    },
    /// Answer 404: nothing matched and there is no default backend.
    NotFound(Trace),
    /// Answer `status` (400 for an unusable request path, 500 for an unsafe rewrite).
    Reject { status: u16, trace: Trace },
}

impl Decision<'_> {
    pub fn trace(&self) -> Trace {
        match self {
            Decision::Forward(f) => f.trace,
            Decision::Redirect { trace, .. } | Decision::NotFound(trace) | Decision::Reject { trace, .. } => {
                *trace
            }
        }
    }
}

/// Ingress routing compiled for fast per-request decisions.
#[derive(Debug)]
pub struct RouteTable {
    pub(crate) semantics: Semantics,
    pub(crate) cluster_header: String,
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) exact_hosts: HashMap<String, crate::compile::HostTable>,
    /// Keyed by the parent domain: `*.foo.com` is stored under `foo.com`.
    pub(crate) wildcard_hosts: HashMap<String, crate::compile::HostTable>,
    pub(crate) hostless: Option<crate::compile::HostTable>,
    /// The catch-all default backend.
    pub(crate) default_backend: Option<RouteId>,
}

impl RouteTable {
    /// The request header that carries the chosen cluster to Envoy's route.
    pub fn cluster_header(&self) -> &str {
        &self.cluster_header
    }

    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    pub fn routes(&self) -> &[RouteInfo] {
        &self.routes
    }

    pub fn route(&self, id: RouteId) -> Option<&RouteInfo> {
        self.routes.get(id)
    }

    /// Every distinct backend any route can send to, sorted by cluster name.
    pub fn backends(&self) -> Vec<Backend> {
        let mut all: Vec<Backend> = self.routes.iter().map(|r| r.backend.clone()).collect();
        all.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        all.dedup_by(|a, b| a.cluster == b.cluster);
        all
    }

    /// Decides what to do with one request.
    pub fn decide(&self, request: &Request<'_>) -> Decision<'_> {
        let (raw_path, query) = split_query(request.path);
        let Some(path) = RequestPath::normalize(raw_path) else {
            return Decision::Reject {
                status: 400,
                trace: trace(HostMatch::None, None, Reason::InvalidPath),
            };
        };
        let host = route_host(request.authority);
        let candidates = self.host_tables(&host);
        let mut first_host = HostMatch::None;
        for (host_match, table) in candidates.iter().flatten() {
            if first_host == HostMatch::None {
                first_host = *host_match;
            }
            match table.find(path.as_str(), self.semantics) {
                crate::compile::PathMatch::Route(id, reason) => {
                    return self.forward(id, *host_match, reason, raw_path, &path, query);
                }
                crate::compile::PathMatch::SlashRedirect => {
                    let location = format!(
                        "{}://{}{}/{}",
                        request.scheme,
                        request.authority,
                        path.as_str(),
                        query
                    );
                    return Decision::Redirect {
                        status: 301,
                        location,
                        trace: trace(*host_match, None, Reason::TrailingSlashRedirect),
                    };
                }
                crate::compile::PathMatch::None => {
                    // ingress-nginx: the selected server's root location answers (its default or 404).
                    if self.semantics == Semantics::IngressNginx {
                        if let Some(id) = table.default {
                            return self.forward(
                                id,
                                *host_match,
                                Reason::HostDefaultBackend,
                                raw_path,
                                &path,
                                query,
                            );
                        }
                        if *host_match != HostMatch::Hostless {
                            return Decision::NotFound(trace(*host_match, None, Reason::NoMatchingPath));
                        }
                    }
                }
            }
        }
        if let Some(id) = self.default_backend {
            return self.forward(id, first_host, Reason::DefaultBackend, raw_path, &path, query);
        }
        let reason = if first_host == HostMatch::None {
            Reason::NoMatchingHost
        } else {
            Reason::NoMatchingPath
        };
        Decision::NotFound(trace(first_host, None, reason))
    }

    /// The rule sets a host consults, in order. ingress-nginx picks exactly one server (exact, else
    /// wildcard, else the catch-all); the kubernetes profile falls through exact -> wildcard -> host-less.
    fn host_tables(&self, host: &str) -> [Option<(HostMatch, &crate::compile::HostTable)>; 3] {
        let exact = self.exact_hosts.get(host).map(|t| (HostMatch::Exact, t));
        let mut wildcard = wildcard_parent(host)
            .and_then(|parent| self.wildcard_hosts.get(parent))
            .map(|t| (HostMatch::Wildcard, t));
        let nginx = self.semantics == Semantics::IngressNginx;
        if nginx && exact.is_some() {
            wildcard = None;
        }
        let hostless = if nginx && (exact.is_some() || wildcard.is_some()) {
            None
        } else {
            self.hostless.as_ref().map(|t| (HostMatch::Hostless, t))
        };
        [exact, wildcard, hostless]
    }

    fn forward(
        &self,
        id: RouteId,
        host: HostMatch,
        reason: Reason,
        raw_path: &str,
        path: &RequestPath<'_>,
        query: &str,
    ) -> Decision<'_> {
        let Some(route) = self.routes.get(id) else {
            return Decision::NotFound(trace(host, None, Reason::NoMatchingPath));
        };
        let applied = match route.rewrite.as_ref().map(|r| r.apply(path.as_str())) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(applied))) => Some(applied),
            Some(Err(())) => {
                return Decision::Reject {
                    status: 500,
                    trace: trace(host, Some(id), Reason::InvalidRewrite),
                }
            }
        };
        let mut headers = Vec::new();
        let new_path = match applied {
            Some(applied) => {
                if let Some(prefix) = applied.forwarded_prefix {
                    headers.push(("x-forwarded-prefix", prefix));
                }
                Some(format!("{}{}", applied.path, query))
            }
            // No rewrite: forward the canonical path if canonicalization changed what the client sent.
            None => path
                .changed(raw_path)
                .then(|| format!("{}{}", path.as_str(), query)),
        };
        Decision::Forward(Forward {
            cluster: &route.backend.cluster,
            path: new_path,
            headers,
            trace: trace(host, Some(id), reason),
        })
    }
}

fn trace(host: HostMatch, route: Option<RouteId>, reason: Reason) -> Trace {
    Trace { host, route, reason }
}
