//! What an Ingress's annotations ask of its locations besides routing — redirects, CORS, access control,
//! limits — applied per request in ingress-nginx's phase order (`ingress-semantics.md` §2.5):
//!
//! 1. find-config: `proxy-body-size` (413) as soon as the location is known;
//! 2. rewrite phase, in template order: the CORS preflight (204), `permanent-redirect` /
//!    `temporal-redirect`, then `rewrite-target`, then `ssl-redirect` / `force-ssl-redirect` (308) at the
//!    end of the phase. The caller does the last two between the halves below: ssl-redirect's default
//!    applies to every route of a host with TLS, policy or not ([`super::ssl_redirect`]), and its
//!    `Location` is the URI the client sent, so it is decided before the rewrite is computed;
//! 3. access: `denylist-source-range` / `allowlist-source-range` (403), then `auth-type: basic` (401);
//! 4. content: the request goes upstream, CORS headers added to the response.
//!
//! Host-wide rules (`app-root`, `from-to-www-redirect`, `server-alias`) act before a location is chosen
//! and live with the host tables. A route whose Ingress sets none of these has no policy and pays nothing,
//! unless the settings give every route a rule (`proxyBodySize`, 1m by default as in ingress-nginx, which
//! reads `content-length` only for requests with a body; the global source ranges).

use super::basic_auth::BasicAuth;
use super::body_size::BodyLimit;
use super::cors::{Cors, CorsAnswer};
use super::source_range::SourceRanges;
use super::ssl_redirect::SslRedirect;
use super::upstream::UpstreamLocation;
use super::upstream_host::UpstreamHost;
use super::{redirect, Decision, Reason, RequestContext, Target, Trace};
use crate::model::annotations::redirect::LocationRedirect;

/// The location rules of one route. Each family lives in its own module and adds its field here.
#[derive(Debug, Default)]
pub struct Policy {
    /// Per-location Envoy settings (timeouts, error pages): which profile route serves the location.
    pub upstream: Option<UpstreamLocation>,
    /// `enable-cors`.
    pub(crate) cors: Option<Cors>,
    /// `permanent-redirect` / `temporal-redirect`.
    pub(crate) redirect: Option<LocationRedirect>,
    /// `upstream-vhost`.
    pub(crate) upstream_host: Option<UpstreamHost>,
    /// `ssl-redirect`, `force-ssl-redirect`, `preserve-trailing-slash` (a route without a policy has the
    /// defaults).
    pub ssl_redirect: SslRedirect,
    /// `proxy-body-size`, else `settings.proxyBodySize` (None: unlimited).
    pub body_limit: Option<BodyLimit>,
    /// `denylist-source-range` / `allowlist-source-range`, else the settings' ranges.
    pub source_ranges: Option<SourceRanges>,
    /// `auth-type: basic`.
    pub basic_auth: Option<BasicAuth>,
}

/// What a phase decided.
#[derive(Debug)]
pub enum Outcome {
    /// Go on to the next phase.
    Continue,
    /// Answer with this status and headers (body: [`super::reply_body`]).
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        reason: Reason,
    },
    /// Answer with a redirect.
    Redirect {
        status: u16,
        location: String,
        reason: Reason,
    },
}

impl Outcome {
    /// The decision that ends the request, if the phase ended it; `trace` is the route's, its reason
    /// replaced by the phase's. The response headers earlier phases collected (CORS) go with the answer,
    /// as nginx adds them to every response of the location from the rewrite phase on.
    pub(crate) fn into_decision<'t>(
        self,
        trace: Trace,
        response_headers: &mut Vec<(&'static str, String)>,
    ) -> Option<Decision<'t>> {
        let decision = match self {
            Outcome::Continue => return None,
            Outcome::Respond {
                status,
                headers,
                reason,
            } => Decision::Respond {
                status,
                headers,
                trace: Trace { reason, ..trace },
            },
            Outcome::Redirect {
                status,
                location,
                reason,
            } => Decision::Redirect {
                status,
                location,
                headers: Vec::new(),
                trace: Trace { reason, ..trace },
            },
        };
        Some(decision.with_reply_headers(response_headers))
    }
}

impl Policy {
    /// Whether any rule is set (a policy with none is not stored).
    pub fn is_empty(&self) -> bool {
        self.upstream.is_none()
            && self.cors.is_none()
            && self.redirect.is_none()
            && self.upstream_host.is_none()
            && self.ssl_redirect == SslRedirect::DEFAULT
            && self.body_limit.is_none()
            && self.source_ranges.is_none()
            && self.basic_auth.is_none()
    }

    /// The phases before `rewrite-target`: body size, CORS preflight, permanent/temporal redirects.
    /// `response_headers` collects what the response will carry (CORS).
    pub(crate) fn before_rewrite(
        &self,
        target: &Target<'_, '_>,
        ctx: &mut dyn RequestContext,
        response_headers: &mut Vec<(&'static str, String)>,
    ) -> Outcome {
        // find-config: the body limit answers before the rewrite phase, without CORS headers.
        if let Some(limit) = self.body_limit {
            let outcome = limit.check(ctx);
            if !matches!(outcome, Outcome::Continue) {
                return outcome;
            }
        }
        if let Some(cors) = &self.cors {
            match cors.answer(ctx) {
                CorsAnswer::Preflight(headers) => {
                    return Outcome::Respond {
                        status: 204,
                        headers,
                        reason: Reason::CorsPreflight,
                    }
                }
                CorsAnswer::Headers(headers) => response_headers.extend(headers),
                CorsAnswer::None => {}
            }
        }
        if let Some(location) = &self.redirect {
            return redirect::location_redirect(location, target);
        }
        Outcome::Continue
    }

    /// The phases after `rewrite-target` and ssl-redirect: source ranges, basic auth, then the content
    /// phase (the location's Envoy settings). `headers` are the request headers toward the upstream (e.g.
    /// the Host of `upstream-vhost`), `properties` Envoy filter state for the upstream side.
    pub(crate) fn after_rewrite(
        &self,
        target: &Target<'_, '_>,
        ctx: &mut dyn RequestContext,
        headers: &mut Vec<(&'static str, String)>,
        response_headers: &mut Vec<(&'static str, String)>,
        properties: &mut Vec<(&'static str, String)>,
    ) -> Outcome {
        // Access phase: deny/allow (403), then auth_basic (401).
        if let Some(ranges) = &self.source_ranges {
            let outcome = ranges.check(ctx, response_headers);
            if !matches!(outcome, Outcome::Continue) {
                return outcome;
            }
        }
        if let Some(auth) = &self.basic_auth {
            let outcome = auth.check(ctx, headers, response_headers);
            if !matches!(outcome, Outcome::Continue) {
                return outcome;
            }
        }
        // Content phase: the location's Envoy settings.
        if let Some(upstream) = &self.upstream {
            let original_uri = format!("{}{}", target.raw_path, target.query);
            upstream.apply(&original_uri, headers, properties);
        }
        // Last: it only matters for a request that goes upstream.
        if let Some(host) = &self.upstream_host {
            headers.push((":authority", host.value(target)));
        }
        Outcome::Continue
    }

    /// The body limit the filter counts a streamed body against (None: unlimited).
    pub fn body_limit(&self) -> Option<BodyLimit> {
        self.body_limit.filter(|l| !l.is_unlimited())
    }
}
