//! One logged request through the router's `decide`, compared with what ingress-nginx logged.

use super::candidate_hosts::CandidateHosts;
use super::context::{LoggedContext, LoggedHeaders, SplitMix64};
use super::difference::{Cause, Difference, Rule, Side};
use super::fields::{Fields, HeaderNames};
use super::record::{Logged, Old};
use super::session::SessionKeys;
use super::unseen_access::{is_access_refusal, UnseenAccess};
use super::upstream_names::{same_upstream, UpstreamNames, DEFAULT_BACKEND};
use super::uri::{percent_decode, same_location, Known};
use ingress_wasm::decide::canary::{Canary, CanaryChoice, CanaryId, CanaryRule};
use ingress_wasm::decide::request_path::{split_query, RequestPath};
use ingress_wasm::decide::{Decision, Forward, Reason, RouteId, RouteInfo, RouteTable};
use ingress_wasm::model::annotations::affinity::AffinityMode;
use ingress_wasm::Request;

/// What one request showed about its canary, for the weight shares over the whole log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanarySample {
    pub canary: CanaryId,
    /// The request was left to the weighted draw (else the log lacks a header or cookie the canary
    /// reads, and the request says nothing about the weight).
    pub weighed: bool,
    /// ingress-nginx sent it to the canary.
    pub to_canary: bool,
}

#[derive(Debug)]
pub enum Verdict {
    Identical,
    Different(Box<Difference>),
    /// The log names no host, no host of the configuration routes the request as logged, and the
    /// hosts disagree on where it goes instead.
    Ambiguous(Box<Ambiguity>),
}

#[derive(Debug)]
pub struct Ambiguity {
    pub old: Side,
    /// A host and what it does, one per distinct outcome.
    pub outcomes: Vec<(String, Side)>,
}

impl Ambiguity {
    /// Bounded text (see [`super::difference::clip`]).
    pub fn clip(&mut self) {
        self.old.clip();
        self.outcomes.iter_mut().for_each(|(_, side)| side.clip());
    }
}

#[derive(Debug)]
pub struct Replayed {
    pub verdict: Verdict,
    pub canary: Option<CanarySample>,
}

/// Hosts listed for one ambiguous request.
const MAX_OUTCOMES: usize = 6;

/// How a decision differs, before the report's words are built (cheap: host-less lines try every host).
struct Mismatch {
    cause: Cause,
    detail: Option<String>,
}

/// What the new side did, to tell whether hosts agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The backend (by [`UpstreamNames::route_key`]) and the canary, when it went there.
    Forward(usize, Option<CanaryId>),
    NotFound,
    Redirect(u16),
    Reject(u16),
}

pub struct Replayer<'t> {
    table: &'t RouteTable,
    names: UpstreamNames,
    /// What a line without host is tried with.
    hosts: CandidateHosts,
    /// The order the hosts are tried in for the current line (kept to spare an allocation per line).
    order: Vec<usize>,
    random: SplitMix64,
    sessions: SessionKeys,
}

impl<'t> Replayer<'t> {
    pub fn new(table: &'t RouteTable) -> Replayer<'t> {
        Replayer {
            table,
            names: UpstreamNames::new(table),
            hosts: CandidateHosts::new(table),
            order: Vec::new(),
            random: SplitMix64::new(0x1ce5_ea5e),
            sessions: SessionKeys::default(),
        }
    }

    pub fn replay(&mut self, logged: &Logged<'_>, fields: &Fields<'_>, names: &HeaderNames) -> Replayed {
        let headers = LoggedHeaders { fields, names };
        if let Some(host) = logged.host() {
            let judged = self.judge(logged, headers, host, true);
            return match judged.result {
                Ok(canary) => Replayed {
                    verdict: Verdict::Identical,
                    canary,
                },
                Err(m) => Replayed {
                    verdict: Verdict::Different(Box::new(self.difference(logged, headers, host, m))),
                    canary: None,
                },
            };
        }
        self.replay_hostless(logged, headers)
    }

    /// A line without host matches when some host routes it as logged.
    fn replay_hostless(&mut self, logged: &Logged<'_>, headers: LoggedHeaders<'_, '_>) -> Replayed {
        // Lent out while `judge` borrows the replayer.
        let hosts = std::mem::take(&mut self.hosts);
        let mut order = std::mem::take(&mut self.order);
        hosts.order(&logged.old, &self.names, &mut order);
        let mut first: Option<(usize, Mismatch)> = None;
        let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
        let mut matched = None;
        for &i in &order {
            let judged = self.judge(logged, headers, hosts.get(i), false);
            match judged.result {
                Ok(canary) => {
                    matched = Some(canary);
                    break;
                }
                Err(m) => {
                    if !outcomes.iter().any(|(_, o)| *o == judged.outcome) {
                        outcomes.push((i, judged.outcome));
                    }
                    first.get_or_insert((i, m));
                }
            }
        }
        let outcome_hosts: Vec<usize> = outcomes.iter().map(|(i, _)| *i).collect();
        let agree = outcome_hosts.len() <= 1;
        let replayed = match (matched, first) {
            (Some(canary), _) => Replayed {
                verdict: Verdict::Identical,
                canary,
            },
            (None, Some((i, mismatch))) if agree => {
                let host = hosts.get(i).to_string();
                let mut d = self.difference(logged, headers, &host, mismatch);
                d.host = "any host".to_string();
                Replayed {
                    verdict: Verdict::Different(Box::new(d)),
                    canary: None,
                }
            }
            (None, _) => {
                let mut ambiguity = Ambiguity {
                    old: old_side(&logged.old),
                    outcomes: Vec::new(),
                };
                for &i in outcome_hosts.iter().take(MAX_OUTCOMES) {
                    let host = hosts.get(i).to_string();
                    let (new, _) = self.redecide(logged, headers, &host);
                    ambiguity.outcomes.push((host, new));
                }
                // The same order whichever host was tried first (requests group by their outcomes).
                ambiguity.outcomes.sort_by(|a, b| a.0.cmp(&b.0));
                Replayed {
                    verdict: Verdict::Ambiguous(Box::new(ambiguity)),
                    canary: None,
                }
            }
        };
        self.hosts = hosts;
        self.order = order;
        replayed
    }

    /// The router's decision for the logged request sent to `host`. A log without `$scheme` holds
    /// HTTPS requests too: where the router redirects plain HTTP to HTTPS (a TLS host) and the log shows
    /// no redirect, the request came over HTTPS.
    fn decide(&mut self, logged: &Logged<'_>, headers: LoggedHeaders<'_, '_>, host: &str) -> Decision<'t> {
        let Some(scheme) = logged.scheme.as_deref() else {
            let over_http = self.decide_over(logged, headers, host, "http");
            return match &over_http {
                Decision::Redirect { trace, .. }
                    if !matches!(logged.old, Old::Redirect { .. })
                        && matches!(trace.reason, Reason::SslRedirect | Reason::ForceSslRedirect) =>
                {
                    self.decide_over(logged, headers, host, "https")
                }
                _ => over_http,
            };
        };
        self.decide_over(logged, headers, host, scheme)
    }

    fn decide_over(
        &mut self,
        logged: &Logged<'_>,
        headers: LoggedHeaders<'_, '_>,
        host: &str,
        scheme: &str,
    ) -> Decision<'t> {
        let request = Request {
            scheme,
            authority: host,
            path: logged.path(),
        };
        let mut ctx = LoggedContext {
            headers,
            client: logged.client,
            random: &mut self.random,
        };
        let table: &'t RouteTable = self.table;
        table.decide_with(&request, &mut ctx)
    }

    fn judge(
        &mut self,
        logged: &Logged<'_>,
        headers: LoggedHeaders<'_, '_>,
        host: &str,
        host_known: bool,
    ) -> Judged {
        let decision = self.decide(logged, headers, host);
        let known = Known {
            scheme: logged.scheme.is_some(),
            host: host_known,
        };
        let unseen = UnseenAccess::of(&decision, logged.client.is_some(), headers);
        let judged_unseen = unseen.and_then(|access| self.compare_unseen_access(logged, access));
        Judged {
            result: match judged_unseen {
                Some(result) => result,
                None => self.compare(logged, headers, &decision, known),
            },
            outcome: self.outcome(&decision, unseen),
        }
    }

    /// A refusal the log cannot judge, against what ingress-nginx did: its backend when it forwarded,
    /// else its own answer; None when ingress-nginx did something else (compared as any refusal).
    fn compare_unseen_access(
        &self,
        logged: &Logged<'_>,
        access: UnseenAccess,
    ) -> Option<Result<Option<CanarySample>, Mismatch>> {
        let route = Some(access.route);
        match &logged.old {
            Old::Upstream { primary, .. } => Some(self.same_location(primary, route).map(|()| None)),
            Old::LocationReply { upstream, status } if !is_access_refusal(*status) => {
                Some(self.same_location(upstream, route).map(|()| None))
            }
            Old::LocationReply { status, .. } | Old::Local { status: Some(status) }
                if access.explains(*status, self.table.route(access.route)) =>
            {
                Some(Ok(None))
            }
            _ => None,
        }
    }

    fn compare(
        &mut self,
        logged: &Logged<'_>,
        ctx: LoggedHeaders<'_, '_>,
        decision: &Decision<'_>,
        known: Known,
    ) -> Result<Option<CanarySample>, Mismatch> {
        let differ = |cause, detail| Err(Mismatch { cause, detail });
        match (&logged.old, decision) {
            (Old::Upstream { primary, alternative }, Decision::Forward(f)) => {
                self.compare_forward(logged, ctx, f, primary, alternative.as_deref())
            }
            // nginx answered inside the location (a limit, a client that left): the location is what
            // routing decided.
            (Old::LocationReply { upstream, status }, Decision::Forward(f))
                if !is_access_refusal(*status) =>
            {
                self.same_location(upstream, f.trace.route).map(|()| None)
            }
            (
                Old::LocationReply { status, .. },
                Decision::Reject { status: ours, .. } | Decision::Respond { status: ours, .. },
            ) if status == ours => Ok(None),
            (Old::DefaultBackend | Old::Local { status: Some(404) }, Decision::NotFound(_)) => Ok(None),
            (
                Old::Redirect { status },
                Decision::Redirect {
                    status: ours,
                    location,
                    ..
                },
            ) => {
                if status != ours {
                    return differ(Cause::Redirect, Some(format!("status {status}, now {ours}")));
                }
                match &logged.location {
                    Some(logged_location) if !same_location(logged_location, location, known) => differ(
                        Cause::Redirect,
                        Some(format!("Location {logged_location}, now {location}")),
                    ),
                    _ => Ok(None),
                }
            }
            (
                Old::Local { status },
                Decision::Reject { status: ours, .. } | Decision::Respond { status: ours, .. },
            ) if status.is_none_or(|s| s == *ours) => Ok(None),
            (Old::Local { status: None }, Decision::Redirect { .. }) => Ok(None),
            (old, new) => {
                let cause = match (old, new) {
                    (Old::Redirect { .. }, _) | (_, Decision::Redirect { .. }) => Cause::Redirect,
                    (Old::DefaultBackend, _) | (_, Decision::NotFound(_)) => Cause::NotFound,
                    _ => Cause::Rejected,
                };
                differ(cause, None)
            }
        }
    }

    fn compare_forward(
        &mut self,
        logged: &Logged<'_>,
        ctx: LoggedHeaders<'_, '_>,
        f: &Forward<'_>,
        primary: &str,
        alternative: Option<&str>,
    ) -> Result<Option<CanarySample>, Mismatch> {
        let route = f.trace.route.and_then(|id| self.table.route(id));
        let ours = f.trace.route.map_or("", |id| self.names.route(id));
        self.same_location(primary, f.trace.route)?;
        let mut sample = None;
        match (alternative, f.trace.canary) {
            (None, None) => {}
            (Some(alternative), None) => {
                return Err(Mismatch {
                    cause: Cause::Canary,
                    detail: Some(format!(
                        "the log went to canary {alternative}; {ours} has no canary now"
                    )),
                })
            }
            (_, Some(choice)) => {
                let canary_name = self.names.canary(choice.canary);
                if let Some(alternative) = alternative.filter(|a| !same_upstream(a, canary_name)) {
                    return Err(Mismatch {
                        cause: Cause::Canary,
                        detail: Some(format!("the log's canary is {alternative}, now {canary_name}")),
                    });
                }
                let canary = self.table.canaries().get(choice.canary);
                let known = canary.is_some_and(|c| canary_inputs_known(c, route, ctx));
                let drawn = canary.is_some_and(|c| is_draw(c, choice.rule));
                if !known || drawn {
                    sample = Some(CanarySample {
                        canary: choice.canary,
                        weighed: known,
                        to_canary: alternative.is_some(),
                    });
                } else if alternative.is_some() != choice.to_canary {
                    return Err(Mismatch {
                        cause: Cause::Canary,
                        detail: None,
                    });
                }
            }
        }
        if let Some(uri) = &logged.uri {
            let upstream = upstream_path(f, logged.path());
            if percent_decode(&upstream) != uri.as_ref() {
                return Err(Mismatch {
                    cause: Cause::Rewrite,
                    detail: Some(format!("upstream path {upstream}, the log's $uri {uri}")),
                });
            }
        }
        let reached = alternative.unwrap_or(primary);
        if let Some(problem) = self.unkept_session(ctx, f, reached) {
            return Err(Mismatch {
                cause: Cause::Affinity,
                detail: Some(problem),
            });
        }
        Ok(sample)
    }

    /// Whether a session cookie of the backend the request reached is not honoured: the router must
    /// keep it on that backend. Persistent sessions also depend on endpoints, which a log cannot show.
    fn unkept_session(
        &mut self,
        ctx: LoggedHeaders<'_, '_>,
        f: &Forward<'_>,
        reached: &str,
    ) -> Option<String> {
        let cookie = ctx.value("cookie")?;
        let name = self.sessions.cookie_of(cookie, reached)?.to_string();
        let Some(affinity) = self.table.affinity_of_cluster(f.cluster) else {
            return Some(format!(
                "cookie {name} holds a session of {reached}; the backend has no session affinity now"
            ));
        };
        let kept = f.trace.session == Some(ingress_wasm::decide::affinity::Session::Kept);
        if kept || affinity.mode == AffinityMode::Persistent {
            return None;
        }
        Some(format!(
            "cookie {name} holds a session of {reached}; the session cookie is {} now",
            affinity.cookie.name
        ))
    }

    /// The canary a forward went to, unless a weighted draw sent it (a draw is not the configuration's
    /// answer for this request, only for a share of them).
    fn decided_canary(&self, f: &Forward<'_>) -> Option<CanaryChoice> {
        let choice = f.trace.canary.filter(|c| c.to_canary)?;
        let canary = self.table.canaries().get(choice.canary)?;
        (!is_draw(canary, choice.rule)).then_some(choice)
    }

    /// Whether the logged upstream is the backend of the router's `route`; else how it moved.
    fn same_location(&self, logged: &str, route: Option<RouteId>) -> Result<(), Mismatch> {
        let ours = route.map_or("", |id| self.names.route(id));
        if same_upstream(logged, ours) {
            return Ok(());
        }
        Err(Mismatch {
            cause: self.placement(logged, route.and_then(|id| self.table.route(id))),
            detail: None,
        })
    }

    /// Which kind of placement moved a request to another backend.
    fn placement(&self, logged: &str, route: Option<&RouteInfo>) -> Cause {
        match self.names.hosts_of(logged) {
            None => Cause::Backend,
            Some(hosts) if hosts.iter().any(|h| Some(h) == route.map(|r| &r.host)) => Cause::Path,
            Some(_) => Cause::Host,
        }
    }

    /// A refusal the log cannot judge counts as the forward it would be for a client let in.
    fn outcome(&self, decision: &Decision<'_>, unseen: Option<UnseenAccess>) -> Outcome {
        if let Some(access) = unseen {
            return Outcome::Forward(self.names.route_key(access.route), None);
        }
        match decision {
            Decision::Forward(f) => Outcome::Forward(
                f.trace.route.map_or(usize::MAX, |id| self.names.route_key(id)),
                self.decided_canary(f).map(|c| c.canary),
            ),
            Decision::NotFound(_) => Outcome::NotFound,
            Decision::Redirect { status, .. } => Outcome::Redirect(*status),
            Decision::Reject { status, .. } | Decision::Respond { status, .. } => Outcome::Reject(*status),
        }
    }

    /// The words for a mismatch.
    fn difference(
        &mut self,
        logged: &Logged<'_>,
        headers: LoggedHeaders<'_, '_>,
        host: &str,
        mismatch: Mismatch,
    ) -> Difference {
        let (new, rule) = self.redecide(logged, headers, host);
        Difference {
            cause: mismatch.cause,
            old: old_side(&logged.old),
            new,
            rule,
            host: host.to_string(),
            detail: mismatch.detail,
        }
    }

    /// The new side in words: the decision is taken again (comparing keeps no words, as lines without
    /// host try every host).
    fn redecide(&mut self, logged: &Logged<'_>, headers: LoggedHeaders<'_, '_>, host: &str) -> (Side, Rule) {
        let decision = self.decide(logged, headers, host);
        let trace = decision.trace();
        let rule = Rule {
            route: trace.route,
            reason: trace.reason,
            host_match: trace.host,
            canary: trace.canary,
        };
        let side = match UnseenAccess::of(&decision, logged.client.is_some(), headers) {
            Some(access) => self.unseen_side(access),
            None => self.new_side(&decision),
        };
        (side, rule)
    }

    /// A refusal the log cannot judge, as the backend a client let in reaches.
    fn unseen_side(&self, access: UnseenAccess) -> Side {
        let upstream = self.names.route(access.route).to_string();
        Side {
            label: access.label(&upstream),
            upstream: Some(upstream),
            alternative: None,
            status: Some(access.status),
            cluster: self.table.route(access.route).map(|r| r.backend.cluster.clone()),
        }
    }

    fn new_side(&self, decision: &Decision<'_>) -> Side {
        let blank = Side {
            upstream: None,
            alternative: None,
            status: None,
            cluster: None,
            label: String::new(),
        };
        match decision {
            Decision::Forward(f) => {
                let upstream = f.trace.route.map_or("", |id| self.names.route(id)).to_string();
                let alternative = self
                    .decided_canary(f)
                    .map(|c| self.names.canary(c.canary).to_string());
                let mut label = forward_label(&upstream, alternative.as_deref());
                if let Some((choice, canary)) = f
                    .trace
                    .canary
                    .and_then(|c| Some((c, self.table.canaries().get(c.canary)?)))
                    .filter(|(c, canary)| is_draw(canary, c.rule))
                {
                    let rules = &canary.rules;
                    label.push_str(&format!(
                        " or its canary {} (canary-weight {} of {})",
                        self.names.canary(choice.canary),
                        rules.weight,
                        rules.weight_total
                    ));
                } else {
                    label.push_str(&format!(" (cluster {})", f.cluster));
                }
                Side {
                    label,
                    upstream: Some(upstream),
                    alternative,
                    cluster: Some(f.cluster.to_string()),
                    ..blank
                }
            }
            Decision::NotFound(_) => Side {
                status: Some(404),
                label: "404 (no rule matches)".to_string(),
                ..blank
            },
            Decision::Redirect { status, location, .. } => Side {
                status: Some(*status),
                label: format!("redirect {status} to {location}"),
                ..blank
            },
            Decision::Reject { status, .. } | Decision::Respond { status, .. } => Side {
                status: Some(*status),
                label: format!("answers {status} itself"),
                ..blank
            },
        }
    }
}

struct Judged {
    result: Result<Option<CanarySample>, Mismatch>,
    outcome: Outcome,
}

fn old_side(old: &Old<'_>) -> Side {
    let blank = Side {
        upstream: None,
        alternative: None,
        status: None,
        cluster: None,
        label: String::new(),
    };
    match old {
        Old::Upstream { primary, alternative } => Side {
            upstream: Some(primary.to_string()),
            alternative: alternative.as_ref().map(ToString::to_string),
            label: forward_label(primary, alternative.as_deref()),
            ..blank
        },
        Old::DefaultBackend => Side {
            upstream: Some(DEFAULT_BACKEND.to_string()),
            status: Some(404),
            label: format!("404 ({DEFAULT_BACKEND})"),
            ..blank
        },
        Old::Redirect { status } => Side {
            status: Some(*status),
            label: format!("redirect {status}"),
            ..blank
        },
        Old::LocationReply { upstream, status } => Side {
            upstream: Some(upstream.to_string()),
            status: Some(*status),
            label: format!("answered {status} itself in the location of {upstream}"),
            ..blank
        },
        Old::Local { status } => Side {
            status: *status,
            label: match status {
                Some(status) => format!("answered {status} itself"),
                None => "answered itself".to_string(),
            },
            ..blank
        },
    }
}

fn forward_label(primary: &str, alternative: Option<&str>) -> String {
    match alternative {
        Some(alternative) => format!("{primary} via canary {alternative}"),
        None => primary.to_string(),
    }
}

/// The path the upstream receives, without the query.
fn upstream_path(f: &Forward<'_>, request_path: &str) -> String {
    match &f.path {
        Some(path) => split_query(path).0.to_string(),
        None => {
            let raw = split_query(request_path).0;
            RequestPath::normalize(raw).map_or_else(|| raw.to_string(), |p| p.as_str().to_string())
        }
    }
}

/// Whether the request was left to the weighted draw (a weight strictly between 0 and the total).
fn is_draw(canary: &Canary, rule: CanaryRule) -> bool {
    let rules = &canary.rules;
    rule == CanaryRule::Weight && rules.weight > 0 && rules.weight < rules.weight_total.max(1)
}

/// Whether the line carries every request header the canary's rules read: the cookie when a session
/// or `canary-by-cookie` can decide, the `canary-by-header` header.
fn canary_inputs_known(canary: &Canary, route: Option<&RouteInfo>, ctx: LoggedHeaders<'_, '_>) -> bool {
    let reads_cookie = canary.rules.cookie.is_some()
        || canary.affinity.is_some()
        || route.is_some_and(|r| r.affinity.is_some());
    let cookie_known = !reads_cookie || ctx.knows("cookie");
    let header_known = canary.rules.header.as_deref().is_none_or(|h| ctx.knows(h));
    cookie_known && header_known
}
