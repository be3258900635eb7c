//! The invariants of one routing decision, checked against the route table it came from.
//!
//! For every table: a forward goes to the route's cluster (its canary's when the canary won), through a
//! route that does not fail closed, on the canonical path it decided on; the trace agrees with the route
//! it names (host, path, type); redirects and rejections carry the statuses and reasons they may. For the
//! ingress-nginx profile: a host with rules of its own is answered by them alone. For the kubernetes
//! profile a small oracle of the spec's literal matching: no literal path of a host tier consulted
//! earlier, no longer literal path of the same tier, and no Exact path of the same length may match
//! better than the route chosen.

use crate::canonical::{assert_canonical, elements};
use ingress_wasm::decide::request_host::{route_host, wildcard_parent};
use ingress_wasm::decide::request_path::{split_query, RequestPath};
use ingress_wasm::decide::rewrite::MAX_REWRITTEN_PATH;
use ingress_wasm::decide::{Decision, HostMatch, Reason, Request, RequestContext, RouteInfo, RouteTable};
use ingress_wasm::model::ingress::PathType;
use ingress_wasm::Semantics;
use std::net::IpAddr;

/// Decides `request` and checks the decision. `max_path_bytes` is the table's `maxPathBytes`.
pub fn check(table: &RouteTable, request: &Request<'_>, max_path_bytes: usize) {
    check_with(table, request, &Context::default(), max_path_bytes)
}

/// What a request carries besides its request line, for canaries, session affinity and the location
/// annotations: headers (names lower-case), the random draw, the time and the client's address.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub headers: Vec<(String, Vec<u8>)>,
    pub random: u64,
    pub now: i64,
    pub client: Option<IpAddr>,
}

impl RequestContext for Context {
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
    fn random(&mut self) -> u64 {
        self.random
    }
    fn now(&mut self) -> i64 {
        self.now
    }
    fn client_address(&mut self) -> Option<IpAddr> {
        self.client
    }
}

/// Decides `request` with `context` and checks the decision.
pub fn check_with(table: &RouteTable, request: &Request<'_>, context: &Context, max_path_bytes: usize) {
    let decision = table.decide_with(request, &mut context.clone());
    let again = table.decide_with(request, &mut context.clone());
    assert_eq!(decision, again, "decide is not deterministic");
    let (raw, query) = split_query(request.path);
    let canonical = RequestPath::normalize(raw);
    let trace = decision.trace();
    let route = trace.route.map(|id| {
        table
            .route(id)
            .unwrap_or_else(|| panic!("trace names route {id}, which does not exist"))
    });
    if request.path.len() > max_path_bytes {
        assert!(
            matches!(decision, Decision::Reject { status: 414, .. }),
            "a path over maxPathBytes was not refused with 414: {decision:?}"
        );
        return;
    }
    // A control character in the query or the host is refused like an invalid path: redirects would copy
    // it into `Location`.
    let has_control = |text: &str| text.bytes().any(|b| b < 0x20 || b == 0x7f);
    let canonical = canonical.filter(|_| !has_control(query) && !has_control(request.authority));
    let Some(canonical) = canonical else {
        assert!(
            matches!(decision, Decision::Reject { status: 400, .. }) && trace.reason == Reason::InvalidPath,
            "an invalid request line was not refused with 400: {decision:?}"
        );
        return;
    };
    let path = canonical.as_str();
    assert_canonical(path, "the path routing decided on");
    match &decision {
        Decision::Forward(f) => {
            let route = route.unwrap_or_else(|| panic!("a forward names no route: {f:?}"));
            assert!(
                table.backends().iter().any(|b| b.cluster == f.cluster),
                "cluster {:?} is not a backend of the table",
                f.cluster
            );
            // The route's backend, or its canary's when the canary won.
            let expected = match trace.canary {
                None => &route.backend.cluster,
                Some(c) => {
                    assert_eq!(
                        route.canary,
                        Some(c.canary),
                        "canary choice on a route without that canary"
                    );
                    let canary = table
                        .canaries()
                        .get(c.canary)
                        .unwrap_or_else(|| panic!("no canary {}", c.canary));
                    if c.to_canary {
                        &canary.backend.cluster
                    } else {
                        &route.backend.cluster
                    }
                }
            };
            assert_eq!(
                f.cluster, expected,
                "forwarded to another cluster than the route's"
            );
            assert!(
                route.unenforced.is_empty(),
                "forwarded through a route that fails closed: {f:?}"
            );
            match &f.path {
                None => assert!(
                    !canonical.changed(raw),
                    "forwards {raw:?} unchanged but decided on {path:?}"
                ),
                Some(sent) => {
                    let (sent_path, sent_query) = sent.split_at(sent.find('?').unwrap_or(sent.len()));
                    assert_eq!(sent_query, query, "the query string changed: {sent:?}");
                    assert_canonical(sent_path, "the forwarded path");
                    match route.rewrite_target() {
                        None => assert_eq!(sent_path, path, "forwards a path it did not decide on"),
                        Some(_) => assert!(sent_path.len() <= MAX_REWRITTEN_PATH, "rewrite too long"),
                    }
                }
            }
            for (name, value) in &f.headers {
                if *name == "x-forwarded-prefix" {
                    assert!(
                        route.rewrite_target().is_some(),
                        "x-forwarded-prefix without a rewrite"
                    );
                }
                assert!(
                    !value.bytes().any(|b| b.is_ascii_control()),
                    "control character in header {name}: {value:?}"
                );
            }
            check_route_matches(request, route, trace.host, trace.reason, path);
        }
        Decision::Redirect { status, location, .. } if trace.reason == Reason::TrailingSlashRedirect => {
            assert_eq!(*status, 301);
            assert_eq!(
                table.semantics(),
                Semantics::IngressNginx,
                "slash redirect in the kubernetes profile"
            );
            let expected = format!("{}://{}{path}/{query}", request.scheme, request.authority);
            assert_eq!(location, &expected);
        }
        // The location and host annotations (HTTPS redirects, redirects, CORS preflights, denials, limits)
        // answer with the statuses ingress-nginx uses.
        Decision::Redirect { status, location, .. } => {
            assert!(
                matches!(status, 301 | 302 | 307 | 308),
                "redirect status {status}"
            );
            assert!(
                !location.bytes().any(|b| b.is_ascii_control()),
                "control character in {location:?}"
            );
            if matches!(trace.reason, Reason::SslRedirect | Reason::ForceSslRedirect) {
                assert!(location.starts_with("https://"), "HTTPS redirect to {location:?}");
            }
        }
        Decision::Respond { status, headers, .. } => {
            assert!(matches!(status, 204 | 401 | 403 | 413), "reply status {status}");
            for (name, value) in headers {
                assert!(
                    !value.bytes().any(|b| b.is_ascii_control()),
                    "control character in {name}: {value:?}"
                );
            }
        }
        Decision::NotFound(_) => {
            assert!(matches!(
                trace.reason,
                Reason::NoMatchingHost | Reason::NoMatchingPath
            ));
            assert!(route.is_none());
        }
        Decision::Reject { status, .. } => {
            let route = route.unwrap_or_else(|| panic!("{status} for a valid path names no route"));
            let expected = match trace.reason {
                Reason::AccessNotEnforced => {
                    assert!(
                        !route.unenforced.is_empty(),
                        "503 for a route without access annotations"
                    );
                    503
                }
                // The route's Service (or its canary's, when the canary won) is not in the input.
                Reason::BackendUnavailable => {
                    let canary_unavailable = trace.canary.is_some_and(|c| {
                        c.to_canary
                            && table
                                .canaries()
                                .get(c.canary)
                                .is_some_and(|canary| canary.backend.unavailable)
                    });
                    assert!(
                        route.backend.unavailable || canary_unavailable,
                        "503 for a backend whose Service is there"
                    );
                    503
                }
                Reason::RewriteEscapesTarget => 400,
                Reason::InvalidRewrite => 500,
                other => panic!("rejected a valid path for {other:?}"),
            };
            assert_eq!(*status, expected, "status for {:?}", trace.reason);
            if trace.reason != Reason::AccessNotEnforced {
                assert!(
                    route.rewrite_target().is_some(),
                    "rewrite refused on a route without rewrite"
                );
            }
        }
    }
    // Routing alone decided these; redirects and replies may come before or after it.
    if matches!(decision, Decision::Redirect { .. } | Decision::Respond { .. }) {
        return;
    }
    let host = route_host(request.authority);
    match table.semantics() {
        Semantics::Kubernetes => spec_oracle(table, request, &decision, path),
        // ingress-nginx picks one server: a host with rules of its own never reaches wildcard, host-less
        // or catch-all rules.
        Semantics::IngressNginx => {
            if !host.starts_with("*.") && table.routes().iter().any(|r| r.host.as_deref() == Some(&host)) {
                assert_eq!(
                    trace.host,
                    HostMatch::Exact,
                    "host {host:?} has rules, yet {decision:?}"
                );
                assert_ne!(
                    trace.reason,
                    Reason::DefaultBackend,
                    "host {host:?} has rules, yet {decision:?}"
                );
            }
        }
    }
}

/// The route named by a decision agrees with the request: its host and its path match.
fn check_route_matches(
    request: &Request<'_>,
    route: &RouteInfo,
    host: HostMatch,
    reason: Reason,
    path: &str,
) {
    match reason {
        Reason::HostDefaultBackend | Reason::DefaultBackend => {
            assert!(
                route.path_type.is_none(),
                "default backend reason on path route {route:?}"
            );
            return;
        }
        Reason::ExactPath => {
            assert!(!route.regex);
            assert_eq!(route.path, path, "Exact match on another path");
        }
        Reason::PrefixPath => {
            assert!(!route.regex);
            assert_ne!(
                route.path_type,
                Some(PathType::Exact),
                "Prefix match of an Exact path"
            );
            assert!(
                elements(path).starts_with(&elements(&route.path)),
                "Prefix {:?} does not match {path:?} element by element",
                route.path
            );
        }
        Reason::RegexPath => assert!(route.regex, "regex reason on a literal route"),
        other => panic!("a route was chosen for {other:?}"),
    }
    if !matches!(host, HostMatch::Alias | HostMatch::WwwCounterpart) {
        assert_eq!(
            tier(request, route),
            Some(host),
            "route {route:?} is not of the host it matched"
        );
    }
}

/// Which host tier of `request` a path route belongs to, if any.
fn tier(request: &Request<'_>, route: &RouteInfo) -> Option<HostMatch> {
    route.path_type?;
    let host = route_host(request.authority);
    match route.host.as_deref().map(|h| (h, h.strip_prefix("*."))) {
        None => Some(HostMatch::Hostless),
        Some((_, Some(parent))) => (Some(parent) == wildcard_parent(&host)).then_some(HostMatch::Wildcard),
        Some((h, None)) => (h == host).then_some(HostMatch::Exact),
    }
}

/// Whether a literal route matches the canonical path, by the Kubernetes spec.
fn literal_match(route: &RouteInfo, path: &str) -> Option<usize> {
    if route.regex {
        return None;
    }
    match route.path_type? {
        PathType::Exact => (route.path == path).then(|| elements(path).len()),
        _ => {
            let own = elements(&route.path);
            elements(path).starts_with(&own).then_some(own.len())
        }
    }
}

fn rank(h: HostMatch) -> u8 {
    match h {
        // `server-alias` names and `www.` counterparts stand for their rule host.
        HostMatch::Exact | HostMatch::Alias | HostMatch::WwwCounterpart => 0,
        HostMatch::Wildcard => 1,
        HostMatch::Hostless => 2,
        HostMatch::None => 3,
    }
}

/// The kubernetes profile falls through exact host -> wildcard -> host-less rules, longest match
/// first, Exact over Prefix at equal length; nothing matched: the default backend, else 404.
fn spec_oracle(table: &RouteTable, request: &Request<'_>, decision: &Decision<'_>, path: &str) {
    let trace = decision.trace();
    // A rejected route (503, or a refused rewrite) was chosen by its path too.
    let chosen = trace
        .route
        .and_then(|id| table.route(id))
        .filter(|r| r.path_type.is_some());
    let path_win = chosen.is_some();
    let literal_win = chosen.is_some_and(|r| !r.regex);
    for r in table.routes() {
        let Some(r_tier) = tier(request, r) else { continue };
        let Some(r_len) = literal_match(r, path) else {
            continue;
        };
        if !path_win {
            panic!(
                "{:?} although literal path {:?} of {} matches {path:?}",
                trace.reason, r.path, r.field
            );
        }
        assert!(
            rank(r_tier) >= rank(trace.host),
            "{:?} rules were consulted although {:?} of an earlier tier matches {path:?}",
            trace.host,
            r.path
        );
        let Some(w) = chosen.filter(|_| literal_win && r_tier == trace.host) else {
            continue;
        };
        let w_len = elements(&w.path).len();
        assert!(
            r_len <= w_len,
            "{:?} chosen over the longer {:?} for {path:?}",
            w.path,
            r.path
        );
        if r_len == w_len && r.path_type == Some(PathType::Exact) {
            assert_eq!(
                w.path_type,
                Some(PathType::Exact),
                "Prefix {:?} chosen over Exact {:?}",
                w.path,
                r.path
            );
        }
    }
}
