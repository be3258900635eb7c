//! The paths of one host compiled for matching: an exact-path map, a prefix trie walked element by
//! element, and one regex for all regex paths. Building them (`build_host`) and finding the best match
//! for a request path (`HostTable::find`).

use super::app_root::AppRoots;
use super::prefix_trie::PrefixTrie;
use super::regex_paths::{check_pattern, Groups, RegexBudget, RegexMatch, RegexPaths};
use crate::decide::ssl_redirect::SslRedirect;
use crate::decide::{Reason, RouteId, RouteInfo};
use crate::diagnostics::Diagnostics;
use crate::model::annotations::redirect::LocationRedirect;
use crate::model::ingress::PathType;
use crate::model::settings::Semantics;
use crate::work;
use std::collections::{HashMap, HashSet};

/// The paths of one host (or of the host-less rules).
#[derive(Debug, Default)]
pub struct HostTable {
    literal: Option<LiteralPaths>,
    regex: Option<RegexPaths>,
    /// ingress-nginx: `spec.defaultBackend` of the first Ingress naming the host (its root location).
    pub(crate) default: Option<RouteId>,
    /// `app-root`: `/` answers 302 to this path before any path is matched.
    pub(crate) app_root: Option<String>,
    /// ingress-nginx: the permanent/temporal redirect of the first Ingress naming the host, which its root
    /// location carries: a path no rule matches answers it (instead of the 404).
    pub(crate) root_redirect: Option<LocationRedirect>,
    /// ingress-nginx: the redirect options of the host's root location (the first Ingress naming the host),
    /// which answers a request no path matches.
    pub(crate) root_ssl_redirect: SslRedirect,
}

#[derive(Debug, Default)]
struct LiteralPaths {
    exact: HashMap<String, RouteId>,
    /// Keyed by the path without trailing slash (`/` stays `/`).
    prefix: PrefixTrie<PrefixRoute>,
    /// ingress-nginx: paths ending in `/`, stored without it; the bare form answers 301.
    slash_redirects: HashSet<String>,
}

#[derive(Debug, Clone, Copy)]
struct PrefixRoute {
    route: RouteId,
    /// Length of the Ingress path as written (`/foo/` beats `/foo` for the same key).
    written_len: usize,
}

/// The outcome of matching a path against one host's paths.
pub enum PathMatch {
    /// A route, and the regex match that chose it (for its capture groups).
    Route(RouteId, Reason, Option<RegexMatch>),
    SlashRedirect,
    None,
}

impl HostTable {
    pub fn find(&self, path: &str, semantics: Semantics) -> PathMatch {
        let literal = self.literal.as_ref().and_then(|l| l.find(path, semantics));
        if let Some((_, id, reason)) = literal {
            if reason == Reason::ExactPath {
                return PathMatch::Route(id, reason, None);
            }
        }
        if semantics == Semantics::IngressNginx {
            if let Some(l) = &self.literal {
                work::add(path.len());
                if l.slash_redirects.contains(path) {
                    return PathMatch::SlashRedirect;
                }
            }
        }
        let regex = self.regex.as_ref().and_then(|r| r.find(path));
        match (literal, regex) {
            (Some((llen, _, _)), Some(m)) if m.len > llen => {
                PathMatch::Route(m.route, Reason::RegexPath, Some(m))
            }
            (Some((_, id, reason)), _) => PathMatch::Route(id, reason, None),
            (None, Some(m)) => PathMatch::Route(m.route, Reason::RegexPath, Some(m)),
            (None, None) => PathMatch::None,
        }
    }

    /// The capture groups of a regex match this table returned.
    pub fn captures<'p>(&self, path: &'p str, found: RegexMatch) -> Option<Groups<'p>> {
        self.regex.as_ref()?.captures(path, found)
    }
}

impl LiteralPaths {
    /// The best literal match as (matched length, route, reason).
    fn find(&self, path: &str, semantics: Semantics) -> Option<(usize, RouteId, Reason)> {
        work::add(path.len());
        if let Some(&id) = self.exact.get(path) {
            return Some((path.len(), id, Reason::ExactPath));
        }
        // `/foo/` is looked up as `/foo`, which may then match itself; a bare `/foo` may not in
        // ingress-nginx, which serves Prefix `/foo` as `location /foo/` plus `location = /foo`: the bare
        // path itself only matches through the exact map.
        let (key, whole) = match path.strip_suffix('/') {
            Some(key) if !key.is_empty() => (key, false),
            _ => (path, true),
        };
        let skip_whole = whole && semantics == Semantics::IngressNginx;
        self.prefix
            .longest(key, skip_whole)
            .map(|(len, p)| (len, p.route, Reason::PrefixPath))
    }
}

/// One Ingress path on its way into a host table.
pub(super) struct Candidate {
    pub(super) route: RouteId,
    pub(super) path: String,
    /// Exact or Prefix after profile defaulting; regex paths keep their written type.
    pub(super) kind: PathType,
    pub(super) regex: bool,
}

#[derive(Default)]
pub(super) struct HostBuild {
    pub(super) candidates: Vec<Candidate>,
    /// Effective (path, type) already taken, with the route that took it.
    pub(super) taken: HashMap<(String, PathType), RouteId>,
    /// Any Ingress of this host forces regex matching for the whole host (ingress-nginx).
    pub(super) host_regex: bool,
    pub(super) default: Option<RouteId>,
    pub(super) app_roots: AppRoots,
    pub(super) root_redirect: Option<LocationRedirect>,
    /// The redirect options of the first Ingress naming the host.
    pub(super) root_ssl_redirect: SslRedirect,
}

pub(super) fn build_host(
    host: &str,
    build: HostBuild,
    semantics: Semantics,
    routes: &[RouteInfo],
    budget: &mut RegexBudget,
    diags: &mut Diagnostics,
) -> Option<HostTable> {
    let mut table = HostTable {
        default: build.default,
        app_root: build.app_roots.choose(host, diags),
        root_redirect: build.root_redirect,
        root_ssl_redirect: build.root_ssl_redirect,
        ..HostTable::default()
    };
    let nginx = semantics == Semantics::IngressNginx;
    let mut literal = LiteralPaths::default();
    let mut regex_entries: Vec<&Candidate> = Vec::new();
    if nginx && build.host_regex {
        // Host-wide `location ~* "^<path>"` for every path, longest path first.
        regex_entries = build.candidates.iter().collect();
        regex_entries.sort_by(|a, b| b.path.cmp(&a.path));
        regex_entries.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
    } else {
        // Exact paths first, so a Prefix `/foo`'s implied `= /foo` never shadows an explicit Exact `/foo`.
        let mut ordered: Vec<&Candidate> = build.candidates.iter().collect();
        ordered.sort_by_key(|c| c.kind != PathType::Exact);
        for c in ordered {
            if c.regex {
                regex_entries.push(c);
                continue;
            }
            let trimmed = trim_trailing_slashes(&c.path);
            let slashed = c.path.len() > 1 && c.path.ends_with('/');
            if nginx && slashed {
                // nginx auto_redirect: `/foo` answers 301 to a `/foo/` location.
                literal.slash_redirects.insert(trimmed.to_string());
            }
            match c.kind {
                PathType::Exact => {
                    literal.exact.insert(c.path.clone(), c.route);
                }
                _ => {
                    if nginx && c.path.len() > 1 && !slashed {
                        // ingress-nginx adds `location = /foo` beside `location /foo/`.
                        literal.exact.entry(c.path.clone()).or_insert(c.route);
                    }
                    let entry = PrefixRoute {
                        route: c.route,
                        written_len: c.path.len(),
                    };
                    let slot = literal.prefix.slot(trimmed);
                    match *slot {
                        Some(existing) if existing.written_len >= entry.written_len => {
                            if nginx {
                                let w = &routes[existing.route];
                                let r = &routes[c.route];
                                diags.warning(
                                    &r.ingress,
                                    &r.field,
                                    format!(
                                        "Prefix {:?} is served by the same location as {} {} ({:?}); ignored",
                                        c.path, w.ingress, w.field, w.path
                                    ),
                                );
                            }
                        }
                        _ => *slot = Some(entry),
                    }
                }
            }
        }
        regex_entries.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        table.literal = Some(literal);
    }
    if !regex_entries.is_empty() {
        let case_insensitive = nginx;
        let mut failed = false;
        for c in &regex_entries {
            if let Err(e) = check_pattern(&c.path, case_insensitive) {
                let r = &routes[c.route];
                diags.error(
                    &r.ingress,
                    &format!("{}.path", r.field),
                    format!("{:?} {e}", c.path),
                );
                failed = true;
            }
        }
        if failed {
            return None;
        }
        let patterns: Vec<(&str, RouteId)> =
            regex_entries.iter().map(|c| (c.path.as_str(), c.route)).collect();
        match RegexPaths::build(&patterns, case_insensitive, budget) {
            Ok(paths) => table.regex = Some(paths),
            Err(e) => {
                let first = regex_entries.first().map(|c| &routes[c.route]);
                let object = first.map_or("config".to_string(), |r| r.ingress.clone());
                let field = first.map_or(String::new(), |r| format!("{}.path", r.field));
                diags.error(&object, &field, format!("regex paths of host {host}: {e}"));
                return None;
            }
        }
    }
    Some(table)
}

fn trim_trailing_slashes(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}
