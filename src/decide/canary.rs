//! Canary selection per request, in ingress-nginx's order (`balancer.lua route_to_alternative_balancer`):
//! a session already on the primary or on the canary stays there; then the header, then the cookie, then
//! the weight.

use super::affinity::{Affinity, AffinityId};
use super::cookie::{self, Occurrence};
use super::{Backend, RequestContext};
use regex_automata::meta::Regex;
use regex_automata::Input;

/// Index of a [`Canary`] in the route table.
pub type CanaryId = usize;

/// A canary Ingress attached to the primary backend whose traffic it may divert.
#[derive(Debug)]
pub struct Canary {
    /// `namespace/name` of the canary Ingress.
    pub ingress: String,
    /// The first field of the canary Ingress naming this backend (`spec.rules[0].http.paths[0]`).
    pub field: String,
    /// The canary's backend.
    pub backend: Backend,
    pub rules: CanaryRules,
    /// The canary backend's session affinity (a copy of the primary's unless `affinity-canary-behavior:
    /// legacy`).
    pub affinity: Option<AffinityId>,
}

#[derive(Debug, Clone)]
pub struct CanaryRules {
    /// Lower-case header name.
    pub header: Option<String>,
    pub header_value: Option<String>,
    pub header_pattern: Option<HeaderPattern>,
    pub cookie: Option<String>,
    pub weight: u64,
    /// 100, or the annotation when above 100.
    pub weight_total: u64,
}

/// `canary-by-header-pattern`, compiled once.
#[derive(Debug, Clone)]
pub enum HeaderPattern {
    Valid(Regex),
    /// The pattern does not compile (or uses what RE2 syntax lacks): ingress-nginx's regex error, which
    /// sends the request to the primary.
    Invalid,
}

/// Which rule decided, for counters, logs and `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryRule {
    /// The session cookie belongs to the primary backend.
    PrimarySession,
    /// The session cookie belongs to the canary backend.
    CanarySession,
    /// The header equals `canary-by-header-value`.
    HeaderValue,
    /// The header matches `canary-by-header-pattern`.
    HeaderPattern,
    /// The pattern does not compile: primary.
    InvalidPattern,
    /// The header is `always`.
    HeaderAlways,
    /// The header is `never`.
    HeaderNever,
    CookieAlways,
    CookieNever,
    /// The weighted draw.
    Weight,
}

impl CanaryRule {
    pub fn describe(self) -> &'static str {
        match self {
            CanaryRule::PrimarySession => "the session cookie belongs to the primary",
            CanaryRule::CanarySession => "the session cookie belongs to the canary",
            CanaryRule::HeaderValue => "canary-by-header matched canary-by-header-value",
            CanaryRule::HeaderPattern => "canary-by-header matched canary-by-header-pattern",
            CanaryRule::InvalidPattern => "canary-by-header-pattern does not compile: primary",
            CanaryRule::HeaderAlways => "canary-by-header is \"always\"",
            CanaryRule::HeaderNever => "canary-by-header is \"never\"",
            CanaryRule::CookieAlways => "canary-by-cookie is \"always\"",
            CanaryRule::CookieNever => "canary-by-cookie is \"never\"",
            CanaryRule::Weight => "canary-weight",
        }
    }
}

/// The outcome of canary selection for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanaryChoice {
    pub canary: CanaryId,
    pub rule: CanaryRule,
    /// Whether the request goes to the canary.
    pub to_canary: bool,
    /// For [`CanaryRule::Weight`]: the draw, from 1 to the weight total (the canary wins at or below the
    /// weight).
    pub draw: u64,
}

impl Canary {
    /// Picks primary or canary for one request. `cookies`: the request's `Cookie` header.
    pub(crate) fn choose(
        &self,
        id: CanaryId,
        primary_affinity: Option<&Affinity>,
        canary_affinity: Option<&Affinity>,
        cookies: Option<&[u8]>,
        ctx: &mut dyn RequestContext,
    ) -> CanaryChoice {
        let choice = |rule, to_canary| CanaryChoice {
            canary: id,
            rule,
            to_canary,
            draw: 0,
        };
        if primary_affinity.is_some_and(|a| a.owns(cookies)) {
            return choice(CanaryRule::PrimarySession, false);
        }
        if canary_affinity.is_some_and(|a| a.owns(cookies)) {
            return choice(CanaryRule::CanarySession, true);
        }
        let r = &self.rules;
        if let Some(value) = r.header.as_deref().and_then(|name| ctx.header(name)) {
            if let Some(expected) = &r.header_value {
                if value == expected.as_bytes() {
                    return choice(CanaryRule::HeaderValue, true);
                }
            } else if let Some(pattern) = &r.header_pattern {
                match pattern {
                    HeaderPattern::Valid(regex) => {
                        if regex.is_match(Input::new(&value)) {
                            return choice(CanaryRule::HeaderPattern, true);
                        }
                    }
                    HeaderPattern::Invalid => return choice(CanaryRule::InvalidPattern, false),
                }
            } else if value == b"always" {
                return choice(CanaryRule::HeaderAlways, true);
            } else if value == b"never" {
                return choice(CanaryRule::HeaderNever, false);
            }
        }
        if let Some(name) = &r.cookie {
            match cookies.and_then(|h| cookie::find(h, name, Occurrence::First)) {
                Some(b"always") => return choice(CanaryRule::CookieAlways, true),
                Some(b"never") => return choice(CanaryRule::CookieNever, false),
                _ => {}
            }
        }
        // math.random(total) <= weight, with a draw uniform over 1..=total; no draw when it cannot matter.
        let total = r.weight_total.max(1);
        if r.weight == 0 || r.weight >= total {
            return choice(CanaryRule::Weight, r.weight > 0);
        }
        let draw = 1 + ctx.random() % total;
        CanaryChoice {
            draw,
            ..choice(CanaryRule::Weight, draw <= r.weight)
        }
    }
}
