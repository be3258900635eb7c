//! Regular-expression paths: one compiled multi-pattern regex per host, checked against one budget for
//! the whole configuration.
//!
//! Every path regex is compiled once, into its host's regex, and each request costs one anchored pass
//! over its path (plus one capture pass over the match when the winning route rewrites), whatever the
//! number of regex paths. Patterns are tried in the order given (longest path first, as ingress-nginx
//! sorts its locations) and the first pattern that matches wins, which is exactly leftmost-first
//! semantics over the alternation of all of them. Ingress paths are untrusted input: RE2 syntax only
//! (no look-around, no backreferences), length, count and compiled size are bounded.

use crate::decide::RouteId;
use crate::work;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::meta::Regex;
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Longest accepted regex path.
pub const MAX_REGEX_PATH: usize = 1024;
/// Regex paths in one configuration.
pub const MAX_REGEX_PATHS: usize = 10_000;
/// Compiled size of all regexes of one configuration together (every worker VM holds a copy).
pub const MAX_REGEX_MEMORY: usize = 64 << 20;
/// Lazy-DFA cache of one host's regex paths: it fills with the states traffic reaches, never beyond this
/// (past it the cache is cleared and the search goes on, still linear in the path).
const HOST_DFA_CACHE: usize = 512 << 10;
/// Lazy-DFA cache of one single-pattern regex: a header pattern, or a path pattern's captures.
const SINGLE_PATTERN_DFA_CACHE: usize = 64 << 10;

/// What one configuration may still spend on regexes.
#[derive(Debug)]
pub struct RegexBudget {
    paths_left: usize,
    memory_left: usize,
}

impl Default for RegexBudget {
    fn default() -> Self {
        RegexBudget {
            paths_left: MAX_REGEX_PATHS,
            memory_left: MAX_REGEX_MEMORY,
        }
    }
}

fn syntax_config(case_insensitive: bool) -> syntax::Config {
    // Paths are bytes after Envoy's normalization: no Unicode classes, `.` matches any byte.
    syntax::Config::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(case_insensitive)
}

/// Checks one path regex; the message says what is wrong in terms a user can act on.
pub fn check_pattern(pattern: &str, case_insensitive: bool) -> Result<(), String> {
    if pattern.len() > MAX_REGEX_PATH {
        return Err(format!("is longer than {MAX_REGEX_PATH} characters"));
    }
    syntax::parse_with(pattern, &syntax_config(case_insensitive))
        .map(|_| ())
        .map_err(|e| explain_syntax_error(&e.to_string()))
}

fn explain_syntax_error(error: &str) -> String {
    let what = if error.contains("look-around") {
        "look-around ((?=, (?!, (?<=, (?<!) is not supported"
    } else if error.contains("backreference") {
        "backreferences (\\1 ...) are not supported"
    } else {
        return format!("is not a valid regular expression: {}", one_line(error));
    };
    format!("{what}: paths are RE2 regular expressions (as ingress-nginx documents), matched in linear time")
}

pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The regex paths of one host.
///
/// Which pattern wins comes from one lazy DFA over all of them, whose memory is its cache, bounded
/// whatever the number of patterns (one multi-pattern regex with capture groups would also size a
/// table of NFA states x capture slots: quadratic in the patterns, past the 4 GiB of a Wasm VM at a
/// few thousand). Captures come from the winning pattern alone, compiled the first time it needs them.
#[derive(Debug)]
pub struct RegexPaths {
    search: DFA,
    cache: Mutex<Cache>,
    /// Each pattern, for its captures.
    patterns: Vec<(String, OnceLock<Option<Regex>>)>,
    case_insensitive: bool,
    /// The route of each pattern, in pattern order.
    routes: Vec<RouteId>,
}

/// The winning regex path for a request path.
#[derive(Debug, Clone, Copy)]
pub struct RegexMatch {
    pub route: RouteId,
    /// Pattern index inside the host's regex (to ask for captures).
    pattern: usize,
    /// Length of the matched prefix of the path.
    pub len: usize,
}

impl RegexPaths {
    /// Compiles the patterns (each already accepted by [`check_pattern`]) of one host, in precedence
    /// order, each matched at the start of the path.
    pub fn build(
        patterns: &[(&str, RouteId)],
        case_insensitive: bool,
        budget: &mut RegexBudget,
    ) -> Result<RegexPaths, String> {
        if patterns.len() > budget.paths_left {
            return Err(format!(
                "more than {MAX_REGEX_PATHS} regex paths in the configuration"
            ));
        }
        let too_big = || {
            format!(
                "the regex paths exceed the configuration's budget of {} MiB compiled",
                MAX_REGEX_MEMORY >> 20
            )
        };
        // Anchored searches: no literal prefilter (it cannot skip anything at the start of the path, and
        // extracting one from thousands of patterns is quadratic).
        let search = DFA::builder()
            .syntax(syntax_config(case_insensitive))
            .thompson(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(WhichCaptures::None)
                    .nfa_size_limit(Some(budget.memory_left)),
            )
            .configure(
                DFA::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    .cache_capacity(HOST_DFA_CACHE)
                    // A host whose patterns need more takes the minimum instead of failing.
                    .skip_cache_capacity_check(true)
                    // Never give up: clearing the cache keeps each search linear in the path.
                    .minimum_cache_clear_count(None),
            )
            .build_many(&patterns.iter().map(|(p, _)| *p).collect::<Vec<_>>())
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("limit") {
                    too_big()
                } else {
                    one_line(&text)
                }
            })?;
        let cache = search.create_cache();
        let memory = search.memory_usage() + cache.memory_usage();
        if memory > budget.memory_left {
            return Err(too_big());
        }
        budget.memory_left -= memory;
        budget.paths_left -= patterns.len();
        Ok(RegexPaths {
            search,
            cache: Mutex::new(cache),
            patterns: patterns
                .iter()
                .map(|(p, _)| (p.to_string(), OnceLock::new()))
                .collect(),
            case_insensitive,
            routes: patterns.iter().map(|(_, r)| *r).collect(),
        })
    }

    /// The first pattern, in precedence order, that matches at the start of `path`.
    pub fn find(&self, path: &str) -> Option<RegexMatch> {
        work::add(path.len());
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // No quit bytes and no giving up are configured: a search cannot fail.
        let m = self.search.try_search_fwd(&mut cache, &anchored(path)).ok()??;
        let pattern = m.pattern().as_usize();
        Some(RegexMatch {
            route: *self.routes.get(pattern)?,
            pattern,
            len: m.offset(),
        })
    }

    /// The capture groups of a match [`find`](Self::find) returned (one pass over the matched part).
    pub fn captures<'p>(&self, path: &'p str, found: RegexMatch) -> Option<Groups<'p>> {
        work::add(found.len);
        let (pattern, regex) = self.patterns.get(found.pattern)?;
        let regex = regex
            .get_or_init(|| {
                builder(
                    self.case_insensitive,
                    &RegexBudget::default(),
                    SINGLE_PATTERN_DFA_CACHE,
                )
                .build(pattern)
                .ok()
            })
            .as_ref()?;
        let mut caps = regex.create_captures();
        let input = anchored(path).range(..found.len);
        regex.search_captures(&input, &mut caps);
        caps.is_match().then_some(Groups { path, caps })
    }
}

/// A regex builder bounded by what the configuration's budget has left, with a lazy-DFA cache of
/// `dfa_cache` bytes; first match in pattern order (leftmost-first).
fn builder(case_insensitive: bool, budget: &RegexBudget, dfa_cache: usize) -> regex_automata::meta::Builder {
    let mut builder = Regex::builder();
    builder.syntax(syntax_config(case_insensitive)).configure(
        Regex::config()
            .match_kind(MatchKind::LeftmostFirst)
            .utf8_empty(false)
            .nfa_size_limit(Some(budget.memory_left))
            .onepass_size_limit(Some(budget.memory_left))
            .dfa_size_limit(Some(budget.memory_left))
            .hybrid_cache_capacity(dfa_cache),
    );
    builder
}

/// Compiles a pattern searched anywhere in a header value (`canary-by-header-pattern`, which
/// ingress-nginx matches unanchored and case-sensitively), under the configuration's budget.
pub fn compile_search(pattern: &str, budget: &mut RegexBudget) -> Result<Regex, String> {
    check_pattern(pattern, false)?;
    if budget.paths_left == 0 {
        return Err(format!(
            "exceeds the configuration's {MAX_REGEX_PATHS} regular expressions"
        ));
    }
    let regex = builder(false, budget, SINGLE_PATTERN_DFA_CACHE)
        .build(pattern)
        .map_err(|e| one_line(&e.to_string()))?;
    let memory = regex.memory_usage();
    if memory > budget.memory_left {
        return Err(format!(
            "exceeds the configuration's budget of {} MiB of compiled regular expressions",
            MAX_REGEX_MEMORY >> 20
        ));
    }
    budget.memory_left -= memory;
    budget.paths_left -= 1;
    Ok(regex)
}

fn anchored(path: &str) -> Input<'_> {
    Input::new(path.as_bytes()).anchored(Anchored::Yes)
}

/// Capture groups of one regex match over a request path.
pub struct Groups<'p> {
    path: &'p str,
    caps: Captures,
}

impl Groups<'_> {
    /// The bytes of group `n` of the matched pattern (None if it did not take part in the match).
    pub fn get(&self, n: usize) -> Option<&[u8]> {
        let span = self.caps.get_group(n)?;
        self.path.as_bytes().get(span.start..span.end)
    }

    /// Number of groups of the matched pattern, the whole match included.
    pub fn len(&self) -> usize {
        self.caps.group_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Number of capture groups of a pattern accepted by [`check_pattern`] (without the whole match).
pub fn capture_groups(pattern: &str, case_insensitive: bool) -> usize {
    syntax::parse_with(pattern, &syntax_config(case_insensitive))
        .map_or(0, |hir| hir.properties().explicit_captures_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn paths(patterns: &[&str]) -> RegexPaths {
        let list: Vec<(&str, RouteId)> = patterns.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        RegexPaths::build(&list, true, &mut RegexBudget::default()).unwrap()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn first_pattern_in_order_wins_at_the_start() {
        let r = paths(&["/api/v[0-9]+", "/api/.*", "/"]);
        let m = r.find("/API/v1/users").unwrap();
        assert_eq!((m.route, m.len), (0, 7));
        assert_eq!(r.find("/api/x").unwrap().route, 1);
        assert_eq!(r.find("/other").unwrap().route, 2);
        // Anchored: a pattern never matches in the middle of the path.
        let r = paths(&["/b"]);
        assert!(r.find("/a/b").is_none());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn captures_belong_to_the_winning_pattern() {
        let r = paths(&["/x(a)(b)", "/something(/|$)(.*)"]);
        let path = "/something/new/x";
        let m = r.find(path).unwrap();
        let g = r.captures(path, m).unwrap();
        assert_eq!(g.get(2), Some(&b"new/x"[..]));
        assert_eq!(g.len(), 3);
    }

    /// One multi-pattern regex with captures needs NFA states x capture slots of memory for its search:
    /// gigabytes at 5,000 patterns (a Wasm VM aborted). The lazy DFA's memory stays its cache.
    #[wasm_bindgen_test(unsupported = test)]
    fn thousands_of_patterns_on_one_host_stay_small() {
        let owned: Vec<String> = (0..5_000).map(|i| format!("/svc{i}/api(/|$)(.*)")).collect();
        let list: Vec<(&str, RouteId)> = owned.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
        let mut budget = RegexBudget::default();
        let r = RegexPaths::build(&list, false, &mut budget).unwrap();
        assert!(MAX_REGEX_MEMORY - budget.memory_left < 32 << 20);
        for (path, route) in [
            ("/svc4999/api/items", 4999),
            ("/svc0/api", 0),
            ("/svc17/api/x/y", 17),
        ] {
            let m = r.find(path).unwrap();
            assert_eq!(m.route, route, "{path}");
            let g = r.captures(path, m).unwrap();
            let rest = path
                .as_bytes()
                .get(format!("/svc{route}/api/").len()..)
                .unwrap_or_default();
            assert_eq!(g.get(2), Some(rest), "{path}");
        }
        assert!(r.find("/svc5000/api").is_none());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn perl_only_features_are_refused_with_a_reason() {
        let e = check_pattern("/a(?=b)", true).unwrap_err();
        assert!(e.starts_with("look-around"), "{e}");
        let e = check_pattern("/(a)\\1", true).unwrap_err();
        assert!(e.starts_with("backreferences"), "{e}");
        let e = check_pattern("/a(", true).unwrap_err();
        assert!(e.starts_with("is not a valid regular expression"), "{e}");
        assert!(check_pattern(&format!("/{}", "a".repeat(MAX_REGEX_PATH)), true).is_err());
        assert_eq!(capture_groups("/(a)(?:b)(c)?", true), 2);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn one_budget_for_the_whole_configuration() {
        let mut budget = RegexBudget {
            paths_left: 3,
            memory_left: MAX_REGEX_MEMORY,
        };
        assert!(RegexPaths::build(&[("/a", 0), ("/b", 1)], true, &mut budget).is_ok());
        let e = RegexPaths::build(&[("/c", 2), ("/d", 3)], true, &mut budget).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        // Counted repetitions multiply the compiled size (~160 KB here, with the search's cache): a few
        // dozen exhaust a small budget.
        let mut budget = RegexBudget {
            paths_left: 100,
            memory_left: 4 << 20,
        };
        let big = "/[a-z]{100}{100}";
        let mut refused = false;
        for i in 0..40 {
            if RegexPaths::build(&[(big, i)], true, &mut budget).is_err() {
                refused = true;
                break;
            }
        }
        assert!(
            refused,
            "a 4 MiB budget must not hold 40 copies of {big}: {} left",
            budget.memory_left
        );
    }
}
