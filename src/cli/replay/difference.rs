//! A request the router would treat differently from ingress-nginx, and why.

use ingress_wasm::decide::canary::CanaryChoice;
use ingress_wasm::decide::{HostMatch, Reason, RouteId};

/// What changed, in the order the report lists causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Another backend: the old one is served under another host.
    Host,
    /// Another backend of the same host: another path rule matched.
    Path,
    /// The old backend is no backend of the configuration.
    Backend,
    /// Same backend, another upstream path.
    Rewrite,
    /// Same primary, another canary decision.
    Canary,
    /// Same backend, but the session cookie the request carried is not honoured.
    Affinity,
    /// A redirect on one side only, or another status or Location.
    Redirect,
    /// A 404 on one side only.
    NotFound,
    /// An answer of the proxy's own (400, 401, 403, 414, 503 fail closed, ...) on one side only.
    Rejected,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Host => "host",
            Cause::Path => "path",
            Cause::Backend => "backend",
            Cause::Rewrite => "rewrite",
            Cause::Canary => "canary",
            Cause::Affinity => "affinity",
            Cause::Redirect => "redirect",
            Cause::NotFound => "404",
            Cause::Rejected => "rejected",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Cause::Host => "another backend: the logged one is served under another host",
            Cause::Path => "another backend: another path rule of the host matches",
            Cause::Backend => "another backend: the logged one is no backend of the configuration",
            Cause::Rewrite => "the same backend, another upstream path",
            Cause::Canary => "the same primary, another canary decision",
            Cause::Affinity => "the same backend, but the request's session cookie is not honoured",
            Cause::Redirect => "a redirect on one side only, or another status or Location",
            Cause::NotFound => "a 404 on one side only",
            Cause::Rejected => {
                "an answer of the proxy's own (400, 403 and 401 of access control, 414, 503 fail closed) on one side only"
            }
        }
    }
}

/// One side of a comparison, as the report prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Side {
    /// ingress-nginx's upstream name.
    pub upstream: Option<String>,
    pub alternative: Option<String>,
    pub status: Option<u16>,
    /// Envoy's cluster (the new side of a forward).
    pub cluster: Option<String>,
    /// One line: `default-echo-80`, `404 (default backend)`, `redirect 301 to ...`.
    pub label: String,
}

/// What decided the new side: the route, the reason, the canary rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub route: Option<RouteId>,
    pub reason: Reason,
    pub host_match: HostMatch,
    pub canary: Option<CanaryChoice>,
}

/// Longest text a report keeps from a log line (a path, an upstream name): its memory stays bounded
/// whatever the log holds.
pub const MAX_TEXT: usize = 1024;

/// Cuts `text` to [`MAX_TEXT`] bytes, marking the cut.
pub fn clip(text: &mut String) {
    if text.len() <= MAX_TEXT {
        return;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
}

impl Side {
    pub fn clip(&mut self) {
        self.upstream.iter_mut().for_each(clip);
        self.alternative.iter_mut().for_each(clip);
        self.cluster.iter_mut().for_each(clip);
        clip(&mut self.label);
    }
}

#[derive(Debug, Clone)]
pub struct Difference {
    pub cause: Cause,
    pub old: Side,
    pub new: Side,
    pub rule: Rule,
    /// The host the decision used (a candidate when the log names none).
    pub host: String,
    /// What exactly differs, when the sides do not say it (the paths of a rewrite, a Location).
    pub detail: Option<String>,
}

impl Difference {
    pub fn clip(&mut self) {
        self.old.clip();
        self.new.clip();
        clip(&mut self.host);
        self.detail.iter_mut().for_each(clip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let mut short = "abc".to_string();
        clip(&mut short);
        assert_eq!(short, "abc");
        let mut long = format!("a{}", "é".repeat(MAX_TEXT));
        clip(&mut long);
        assert!(
            long.len() <= MAX_TEXT + 3 && long.ends_with("é..."),
            "{}",
            long.len()
        );
    }
}
