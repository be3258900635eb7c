//! Stage 3: the compiled route table and the per-request decision. Pure: no I/O, never panics.

pub mod affinity;
pub mod basic_auth;
pub mod body_size;
pub mod canary;
pub mod cookie;
pub mod cors;
pub mod host_names;
pub mod htpasswd;
pub mod policy;
pub mod redirect;
pub mod request_host;
pub mod request_path;
pub mod rewrite;
pub mod source_range;
pub mod ssl_redirect;
pub mod upstream;
pub mod upstream_host;

use crate::compile::regex_paths::Groups;
use crate::compile::tls::TlsHosts;
use crate::compile::{HostTable, PathMatch};
use crate::decide::request_host::{route_host, wildcard_parent};
use crate::decide::request_path::{split_query, RequestPath};
use crate::decide::rewrite::{Rewrite, RewriteError};
use crate::model::ingress::PathType;
use crate::model::settings::Semantics;
use crate::work;
use affinity::{Affinity, AffinityId, ResponseWork, Session};
use canary::{Canary, CanaryChoice, CanaryId};
use host_names::{HostKey, HostNames};
use ssl_redirect::SslRedirect;
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

/// What a decision may need beyond the request line, asked for only when the matched route needs it (a
/// canary, session affinity): request headers, randomness and the time. The filter answers from Envoy
/// (header reads, WASI's random source, the host clock); tests and the CLI answer from fixed values, so
/// the core stays deterministic.
pub trait RequestContext {
    /// The value of request header `name` (lower case) as bytes; None when absent.
    fn header(&mut self, name: &str) -> Option<Vec<u8>>;
    /// A uniformly distributed random number.
    fn random(&mut self) -> u64;
    /// Seconds since the Unix epoch.
    fn now(&mut self) -> i64;
    /// The client's address as Envoy sees it (`source.address`: the peer, or the address taken from
    /// `X-Forwarded-For` when the listener trusts hops in front of it); None when unknown.
    fn client_address(&mut self) -> Option<std::net::IpAddr>;
    /// Whether a body may follow the headers (false when they ended the request): `proxy-body-size`
    /// reads `content-length` only then.
    fn may_have_body(&mut self) -> bool {
        true
    }
    /// Told after basic authentication hashed a password (bcrypt may take tens of milliseconds): the
    /// filter counts these, so the cost of wrong and new credentials shows in Envoy's stats.
    fn password_hashed(&mut self) {}
}

/// A request with nothing beyond its request line: no headers, no body, random numbers 0, time 0.
pub struct NoContext;

impl RequestContext for NoContext {
    fn header(&mut self, _name: &str) -> Option<Vec<u8>> {
        None
    }
    fn random(&mut self) -> u64 {
        0
    }
    fn now(&mut self) -> i64 {
        0
    }
    fn client_address(&mut self) -> Option<std::net::IpAddr> {
        None
    }
    fn may_have_body(&mut self) -> bool {
        false
    }
}

/// Index of a route in [`RouteTable::routes`].
pub type RouteId = usize;

/// A backend service and the Envoy cluster that serves it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    /// Port number or name, as the Ingress gives it; the Service's port number for a named port when
    /// the configuration lists Services.
    pub port: String,
    pub cluster: String,
    /// The configuration lists Services and this backend's Service (or its port) is not among them:
    /// requests for it answer 503 from the filter, and no cluster is rendered for it.
    pub unavailable: bool,
    /// The port name the Ingress gave when `port` is the number the Services resolved it to.
    pub port_name: Option<String>,
}

impl Backend {
    /// The port as the Ingress wrote it, which ingress-nginx's upstream names
    /// (`<namespace>-<service>-<port>`) carry: the name of a named port, else the number.
    pub fn written_port(&self) -> &str {
        self.port_name.as_deref().unwrap_or(&self.port)
    }
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
    /// Access-control annotations of the Ingress that this gateway does not enforce (full keys): the
    /// route fails closed and answers 503 instead of serving what they were meant to protect.
    pub unenforced: Vec<String>,
    /// The canary that may divert this route's traffic (attached to its backend).
    pub canary: Option<CanaryId>,
    /// The session affinity of its backend.
    pub affinity: Option<AffinityId>,
    /// Whether this route issues the session cookie (its Ingress asks for `affinity: cookie`); routes of
    /// other Ingresses to the same backend honour the cookie without issuing it, as in ingress-nginx.
    pub issues_cookie: bool,
    /// What the Ingress's annotations ask of this location besides routing (redirects, CORS, access
    /// control, limits); None for a plain route, which then costs nothing extra.
    pub policy: Option<Box<policy::Policy>>,
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
    /// A `server-alias` name of a rule host.
    Alias,
    /// The `www.` counterpart of a rule host with `from-to-www-redirect` (or the name without `www.`).
    WwwCounterpart,
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
    /// The request path (query included) is longer than `maxPathBytes` (414, as nginx past its
    /// request-line buffer).
    PathTooLong,
    /// The route's Ingress restricts access with an annotation this gateway does not enforce: 503.
    AccessNotEnforced,
    /// The request came over HTTP for a host with TLS: 308 to HTTPS (`ssl-redirect`).
    SslRedirect,
    /// The request came over HTTP and the location has `force-ssl-redirect`: 308 to HTTPS.
    ForceSslRedirect,
    /// A capture of the request path would move the rewritten path outside its target (`..`): 400.
    RewriteEscapesTarget,
    /// The rewritten path would be unusable or too long.
    InvalidRewrite,
    /// `denylist-source-range` / `allowlist-source-range` refuse the client's address: 403.
    SourceDenied,
    /// `auth-type: basic` without valid credentials: 401.
    Unauthorized,
    /// The declared body is longer than `proxy-body-size`: 413.
    BodyTooLarge,
    /// `app-root`: `/` of the host answers 302 to the application's root.
    AppRoot,
    /// `from-to-www-redirect`: the `www.` counterpart of a host answers 308 to the host.
    WwwRedirect,
    /// `permanent-redirect` of the route's Ingress.
    PermanentRedirect,
    /// `temporal-redirect` of the route's Ingress.
    TemporalRedirect,
    /// `enable-cors`: an `OPTIONS` request from an allowed origin answers 204 with the CORS headers.
    CorsPreflight,
    /// The backend's Service (or its port) is not among the configuration's Services: 503.
    BackendUnavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    pub host: HostMatch,
    pub route: Option<RouteId>,
    pub reason: Reason,
    /// The route's canary and what it decided.
    pub canary: Option<CanaryChoice>,
    /// The session of the backend that serves the request, when it has affinity.
    pub session: Option<Session>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward<'t> {
    pub cluster: &'t str,
    /// New `:path` toward the upstream (rewrite-target or path normalization); None keeps the request's.
    pub path: Option<String>,
    /// Headers to set toward Envoy and the upstream (e.g. `x-forwarded-prefix`, the session headers); an
    /// empty value removes the header, as nginx's `proxy_set_header Name ""` keeps it from the upstream.
    pub headers: Vec<(&'static str, String)>,
    /// What the response needs (a session cookie).
    pub response: Option<ResponseWork>,
    /// Headers to set on the response (CORS), replacing the upstream's of the same name.
    pub response_headers: Vec<(&'static str, String)>,
    /// Envoy filter state to set (`set_property`), read by Envoy's own filters (error pages).
    pub properties: Vec<(&'static str, String)>,
    /// `proxy-body-size`: the filter answers 413 once a streamed body passes it (a declared length over
    /// it was answered already).
    pub body_limit: Option<body_size::BodyLimit>,
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
        /// Headers of the reply besides `Location` (CORS).
        headers: Vec<(&'static str, String)>,
        trace: Trace,
    },
    /// Answer 404: nothing matched and there is no default backend.
    NotFound(Trace),
    /// Answer `status` with these headers and the body [`reply_body`] gives: a CORS preflight (204), a
    /// denial (401, 403), a limit (413).
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        trace: Trace,
    },
    /// Answer `status`: 400 (unusable request path, or a rewrite a capture would escape), 414 (path too
    /// long), 500 (unusable rewrite result), 503 (access control not enforced: fail closed).
    Reject { status: u16, trace: Trace },
}

/// The body of a local reply with this status (plain text; says nothing about the configuration).
pub fn reply_body(status: u16) -> &'static str {
    match status {
        204 => "",
        400 => "bad request\n",
        401 => "401 Authorization Required\n",
        403 => "forbidden\n",
        404 => "not found\n",
        413 => "request entity too large\n",
        414 => "request-uri too large\n",
        503 => "service unavailable\n",
        _ => "request rejected\n",
    }
}

impl Decision<'_> {
    /// The decision with `extra` (the CORS headers) added to the headers of its reply, if it is a local
    /// reply that carries headers.
    pub(crate) fn with_reply_headers(mut self, extra: &mut Vec<(&'static str, String)>) -> Self {
        if let Decision::Redirect { headers, .. } | Decision::Respond { headers, .. } = &mut self {
            headers.append(extra);
        }
        self
    }

    pub fn trace(&self) -> Trace {
        match self {
            Decision::Forward(f) => f.trace,
            Decision::Redirect { trace, .. }
            | Decision::NotFound(trace)
            | Decision::Reject { trace, .. }
            | Decision::Respond { trace, .. } => *trace,
        }
    }
}

/// Ingress routing compiled for fast per-request decisions.
#[derive(Debug)]
pub struct RouteTable {
    pub(crate) semantics: Semantics,
    pub(crate) cluster_header: String,
    pub(crate) routes: Vec<RouteInfo>,
    pub(crate) exact_hosts: HashMap<String, HostTable>,
    /// Keyed by the parent domain: `*.foo.com` is stored under `foo.com`.
    pub(crate) wildcard_hosts: HashMap<String, HostTable>,
    pub(crate) hostless: Option<HostTable>,
    /// The catch-all default backend.
    pub(crate) default_backend: Option<RouteId>,
    /// Longer request paths (query included) answer 414 before any matching.
    pub(crate) max_path_bytes: usize,
    pub(crate) canaries: Vec<Canary>,
    pub(crate) affinities: Vec<Affinity>,
    /// Backends whose Envoy cluster differs from the default (protocol, service-upstream, connect
    /// timeout), by cluster name.
    pub(crate) cluster_settings: Vec<(String, upstream::ClusterSettings)>,
    /// The distinct per-location Envoy route settings (timeouts, error pages); routes name theirs in their
    /// policy.
    pub(crate) location_profiles: Vec<upstream::LocationProfile>,
    /// `server-alias` names and `from-to-www-redirect` counterparts.
    pub(crate) host_names: HostNames,
    /// The hosts with TLS (ssl-redirect's default) and their certificates.
    pub(crate) tls: TlsHosts,
    /// `settings.useForwardedHeaders`: trust `X-Forwarded-Proto` and `X-Forwarded-Host`.
    pub(crate) use_forwarded_headers: bool,
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

    pub fn canaries(&self) -> &[Canary] {
        &self.canaries
    }

    pub fn affinities(&self) -> &[Affinity] {
        &self.affinities
    }

    /// The session affinity of the backend served by `cluster`, if it has one.
    pub fn affinity_of_cluster(&self, cluster: &str) -> Option<&Affinity> {
        let route = self
            .routes
            .iter()
            .find(|r| r.backend.cluster == cluster && r.affinity.is_some());
        let id = route.and_then(|r| r.affinity).or_else(|| {
            let canary = self.canaries.iter().find(|c| c.backend.cluster == cluster)?;
            canary.affinity
        })?;
        self.affinities.get(id)
    }

    /// The internal request headers this table may set toward Envoy besides the cluster header: a client's
    /// copies must never reach Envoy's session logic.
    pub fn session_headers(&self) -> &'static [&'static str] {
        use crate::model::annotations::affinity::AffinityMode;
        let persistent = self.affinities.iter().any(|a| a.mode == AffinityMode::Persistent);
        match (self.affinities.is_empty(), persistent) {
            (true, _) => &[],
            (false, false) => &[affinity::HASH_HEADER],
            (false, true) => &[affinity::HASH_HEADER, affinity::SESSION_HEADER],
        }
    }

    /// How Envoy's cluster for `cluster` must differ from the default, if it does.
    pub fn cluster_settings(&self, cluster: &str) -> Option<&upstream::ClusterSettings> {
        self.cluster_settings
            .iter()
            .find(|(name, _)| name == cluster)
            .map(|(_, settings)| settings)
    }

    /// The per-location Envoy route settings; [`upstream::LOCATION_HEADER`] names one by index.
    pub fn location_profiles(&self) -> &[upstream::LocationProfile] {
        &self.location_profiles
    }

    /// Every distinct backend any route can send to, canaries and default backends of error pages
    /// included, sorted by cluster name.
    pub fn backends(&self) -> Vec<Backend> {
        let mut all: Vec<Backend> = self.routes.iter().map(|r| r.backend.clone()).collect();
        all.extend(self.canaries.iter().map(|c| c.backend.clone()));
        all.extend(
            self.location_profiles
                .iter()
                .filter_map(|p| Some(p.error_pages.as_ref()?.backend.clone())),
        );
        all.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        all.dedup_by(|a, b| a.cluster == b.cluster);
        all
    }

    /// Decides what to do with a request that carries nothing but its request line (no headers, no
    /// randomness): see [`decide_with`](Self::decide_with).
    pub fn decide(&self, request: &Request<'_>) -> Decision<'_> {
        self.decide_with(request, &mut NoContext)
    }

    /// Decides what to do with one request. The work is linear in the request's size and independent of
    /// the number of rules: one hash lookup per host candidate, one walk of the path's elements, one
    /// regex pass per host (plus a capture pass over the winning match when it rewrites), and, for a
    /// route with a canary or session affinity, one read of the headers they name.
    pub fn decide_with(&self, request: &Request<'_>, ctx: &mut dyn RequestContext) -> Decision<'_> {
        if request.path.len() > self.max_path_bytes {
            return Decision::Reject {
                status: 414,
                trace: trace(HostMatch::None, None, Reason::PathTooLong),
            };
        }
        let (raw_path, query) = split_query(request.path);
        // Control characters never reach a decision: redirects copy the query and the host into
        // `Location` (Envoy's codecs refuse them already; the core does not rely on it).
        let has_control = |text: &str| text.bytes().any(|b| b < 0x20 || b == 0x7f);
        let path = match RequestPath::normalize(raw_path) {
            Some(path) if !has_control(query) && !has_control(request.authority) => path,
            _ => {
                return Decision::Reject {
                    status: 400,
                    trace: trace(HostMatch::None, None, Reason::InvalidPath),
                }
            }
        };
        let host = route_host(request.authority);
        if let Some(to) = self.host_names.www_target(&host) {
            return redirect::www_redirect(request, to, self.use_forwarded_headers, ctx);
        }
        let candidates = self.host_tables(&host);
        let mut first_host = HostMatch::None;
        let target = Target {
            raw_path,
            path: &path,
            query,
            https: request.scheme.eq_ignore_ascii_case("https"),
            authority: request.authority,
            host: &host,
        };
        for (host_match, table) in candidates.iter().flatten() {
            if first_host == HostMatch::None {
                first_host = *host_match;
            }
            // app-root: a server-level rewrite, before any location is chosen.
            if let (Some(app_root), "/") = (&table.app_root, path.as_str()) {
                return redirect::app_root_redirect(request, app_root, *host_match);
            }
            match table.find(path.as_str(), self.semantics) {
                PathMatch::Route(id, reason, regex) => {
                    let groups = regex.and_then(|m| {
                        let needs = self.routes.get(id)?.rewrite.as_ref()?.max_group() > 0;
                        needs.then(|| table.captures(path.as_str(), m)).flatten()
                    });
                    return self.forward(id, *host_match, reason, &target, groups.as_ref(), ctx);
                }
                PathMatch::SlashRedirect => {
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
                        headers: Vec::new(),
                        trace: trace(*host_match, None, Reason::TrailingSlashRedirect),
                    };
                }
                PathMatch::None => {
                    // ingress-nginx: the selected server's root location answers (its default or 404).
                    if self.semantics == Semantics::IngressNginx {
                        if let Some(id) = table.default {
                            return self.forward(
                                id,
                                *host_match,
                                Reason::HostDefaultBackend,
                                &target,
                                None,
                                ctx,
                            );
                        }
                        // Its permanent/temporal redirect comes before the 404.
                        if let Some(root) = &table.root_redirect {
                            let answer = redirect::location_redirect(root, &target);
                            let trace = trace(*host_match, None, Reason::NoMatchingPath);
                            if let Some(decision) = answer.into_decision(trace, &mut Vec::new()) {
                                return decision;
                            }
                        }
                        if *host_match != HostMatch::Hostless {
                            // The host's root location answers: it redirects to HTTPS first.
                            let root = table.root_ssl_redirect;
                            if let Some(redirect) =
                                self.ssl_redirect(root, "/", &target, *host_match, None, ctx)
                            {
                                return redirect;
                            }
                            return Decision::NotFound(trace(*host_match, None, Reason::NoMatchingPath));
                        }
                    }
                }
            }
        }
        if let Some(id) = self.default_backend {
            return self.forward(id, first_host, Reason::DefaultBackend, &target, None, ctx);
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
    fn host_tables(&self, host: &str) -> [Option<(HostMatch, &HostTable)>; 3] {
        work::add(host.len());
        let exact = self
            .exact_hosts
            .get(host)
            .map(|t| (HostMatch::Exact, t))
            .or_else(|| self.alias_table(host).map(|t| (HostMatch::Alias, t)));
        let mut wildcard = wildcard_parent(host)
            .and_then(|parent| {
                work::add(parent.len());
                self.wildcard_hosts.get(parent)
            })
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

    /// The rules a `server-alias` name leads to.
    fn alias_table(&self, host: &str) -> Option<&HostTable> {
        match self.host_names.alias(host)? {
            HostKey::Exact(name) => self.exact_hosts.get(name),
            HostKey::Wildcard(parent) => self.wildcard_hosts.get(parent),
        }
    }

    fn forward(
        &self,
        id: RouteId,
        host: HostMatch,
        reason: Reason,
        target: &Target<'_, '_>,
        groups: Option<&Groups<'_>>,
        ctx: &mut dyn RequestContext,
    ) -> Decision<'_> {
        let Some(route) = self.routes.get(id) else {
            return Decision::NotFound(trace(host, None, Reason::NoMatchingPath));
        };
        if !route.unenforced.is_empty() {
            return Decision::Reject {
                status: 503,
                trace: trace(host, Some(id), Reason::AccessNotEnforced),
            };
        }
        // Fail safe, in the filter: a local 503 names its reason in the trace, needs no cluster in Envoy,
        // and `explain` shows the same answer.
        if route.backend.unavailable {
            return Decision::Reject {
                status: 503,
                trace: trace(host, Some(id), Reason::BackendUnavailable),
            };
        }
        let mut response_headers = Vec::new();
        if let Some(policy) = &route.policy {
            let before = policy.before_rewrite(target, ctx, &mut response_headers);
            if let Some(answer) = before.into_decision(trace(host, Some(id), reason), &mut response_headers) {
                return answer;
            }
        }
        // ingress-nginx redirects to HTTPS at the end of the rewrite phase, after rewrite-target, but to the
        // URI the client sent: deciding it first gives the same answer without computing the rewrite.
        let ssl = route
            .policy
            .as_ref()
            .map_or(SslRedirect::DEFAULT, |p| p.ssl_redirect);
        if let Some(redirect) = self.ssl_redirect(ssl, &route.path, target, host, Some(id), ctx) {
            return redirect.with_reply_headers(&mut response_headers);
        }
        let mut headers = Vec::new();
        let new_path = match route.rewrite.as_ref().map(|r| r.apply(groups)) {
            Some(Ok(applied)) => {
                if let Some(prefix) = applied.forwarded_prefix {
                    headers.push(("x-forwarded-prefix", prefix));
                }
                let mut path = applied.path;
                path.push_str(target.query);
                Some(path)
            }
            Some(Err(error)) => {
                let (status, reason) = match error {
                    RewriteError::DotSegment => (400, Reason::RewriteEscapesTarget),
                    RewriteError::TooLong | RewriteError::NotAPath => (500, Reason::InvalidRewrite),
                };
                return Decision::Reject {
                    status,
                    trace: trace(host, Some(id), reason),
                };
            }
            // No rewrite: forward the canonical path if canonicalization changed what the client sent.
            None => target
                .path
                .changed(target.raw_path)
                .then(|| [target.path.as_str(), target.query].concat()),
        };
        let mut properties = Vec::new();
        if let Some(policy) = &route.policy {
            let after =
                policy.after_rewrite(target, ctx, &mut headers, &mut response_headers, &mut properties);
            if let Some(answer) = after.into_decision(trace(host, Some(id), reason), &mut response_headers) {
                return answer;
            }
        }
        let mut trace = trace(host, Some(id), reason);
        let mut cluster = route.backend.cluster.as_str();
        let mut response = None;
        if route.canary.is_some() || route.affinity.is_some() {
            let cookies = ctx.header("cookie");
            let mut affinity = route.affinity;
            if let Some((canary_id, canary)) = route.canary.and_then(|c| Some((c, self.canaries.get(c)?))) {
                let primary = route.affinity.and_then(|a| self.affinities.get(a));
                let on_canary = canary.affinity.and_then(|a| self.affinities.get(a));
                let choice = canary.choose(canary_id, primary, on_canary, cookies.as_deref(), ctx);
                if choice.to_canary && canary.backend.unavailable {
                    trace.reason = Reason::BackendUnavailable;
                    trace.canary = Some(choice);
                    return Decision::Reject { status: 503, trace };
                }
                if choice.to_canary {
                    cluster = canary.backend.cluster.as_str();
                    affinity = canary.affinity;
                }
                trace.canary = Some(choice);
            }
            if let Some((affinity_id, a)) = affinity.and_then(|a| Some((a, self.affinities.get(a)?))) {
                let location = if route.path.is_empty() {
                    "/"
                } else {
                    route.path.as_str()
                };
                let sticky = a.stick(
                    affinity_id,
                    cookies.as_deref(),
                    route.issues_cookie,
                    location,
                    target.https,
                    ctx,
                );
                headers.extend(sticky.headers);
                response = sticky.response;
                trace.session = sticky.session;
            }
        }
        Decision::Forward(Forward {
            cluster,
            path: new_path,
            headers,
            response,
            response_headers,
            properties,
            body_limit: route.policy.as_ref().and_then(|p| p.body_limit()),
            trace,
        })
    }
}

/// The request path in its three forms, as forwarding needs them, and what else of the request line the
/// location phases read.
pub(crate) struct Target<'r, 'p> {
    /// As received, without the query.
    pub(crate) raw_path: &'r str,
    pub(crate) path: &'p RequestPath<'r>,
    /// With its `?`, or empty.
    pub(crate) query: &'r str,
    /// The request arrived over HTTPS (session cookies are then `Secure`).
    pub(crate) https: bool,
    /// `:authority` as received.
    pub(crate) authority: &'r str,
    /// The host routes match ([`route_host`]: lower case, no port).
    pub(crate) host: &'p str,
}

fn trace(host: HostMatch, route: Option<RouteId>, reason: Reason) -> Trace {
    Trace {
        host,
        route,
        reason,
        canary: None,
        session: None,
    }
}
