//! Host names that lead to a host's rules without being a rule's host: `server-alias` names, matched as
//! nginx's `server_name` matches them, and the `www.` counterparts `from-to-www-redirect` answers for.
//!
//! nginx picks a server by exact name first, then the longest `*.suffix` name, then the longest
//! `prefix.*` name, then regular expressions (ingress-nginx writes `*.foo.com` rule hosts as one), so an
//! alias of any form beats a wildcard rule host, and an exact rule host beats every alias.

use crate::work;
use std::collections::HashMap;

/// The rules a name leads to: an exact rule host, or a wildcard rule host by its parent (`foo.com` for
/// `*.foo.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKey {
    Exact(String),
    Wildcard(String),
}

/// Names longer than this are no DNS name, so no wildcard alias can match them; the bound keeps the
/// label-by-label lookups of a hostile Host header cheap.
const MAX_NAME: usize = 253;

#[derive(Debug, Default)]
pub struct HostNames {
    /// Exact aliases (and `.foo.com`'s `foo.com`).
    exact: HashMap<String, HostKey>,
    /// `*.foo.com` (and `.foo.com`) aliases, by `foo.com`.
    subdomains: HashMap<String, HostKey>,
    /// `www.*` aliases, by `www`.
    any_ending: HashMap<String, HostKey>,
    /// `from-to-www-redirect`: the counterpart name -> the rule host it redirects to (always `Exact`).
    www: HashMap<String, HostKey>,
}

/// Adds `name` unless the map has it: whether it was added (the first host a name is given to keeps it).
fn add(map: &mut HashMap<String, HostKey>, name: &str, key: &HostKey) -> bool {
    if map.contains_key(name) {
        return false;
    }
    map.insert(name.to_string(), key.clone());
    true
}

impl HostNames {
    pub(crate) fn add_exact(&mut self, name: &str, key: &HostKey) -> bool {
        add(&mut self.exact, name, key)
    }

    pub(crate) fn add_subdomains(&mut self, parent: &str, key: &HostKey) -> bool {
        add(&mut self.subdomains, parent, key)
    }

    pub(crate) fn add_any_ending(&mut self, start: &str, key: &HostKey) -> bool {
        add(&mut self.any_ending, start, key)
    }

    pub(crate) fn add_www(&mut self, from: &str, to: &str) {
        add(&mut self.www, from, &HostKey::Exact(to.to_string()));
    }

    /// The rule host `host` is a `www.` counterpart of, if `from-to-www-redirect` asks for it.
    pub fn www_target(&self, host: &str) -> Option<&str> {
        if self.www.is_empty() {
            return None;
        }
        work::add(host.len());
        match self.www.get(host)? {
            HostKey::Exact(to) | HostKey::Wildcard(to) => Some(to),
        }
    }

    /// The rules `host` (lower-case, no port) reaches as an alias: exact, else the longest `*.suffix`,
    /// else the longest `prefix.*`.
    pub fn alias(&self, host: &str) -> Option<&HostKey> {
        if !self.exact.is_empty() {
            work::add(host.len());
            if let Some(key) = self.exact.get(host) {
                return Some(key);
            }
        }
        if host.len() > MAX_NAME {
            return None;
        }
        if !self.subdomains.is_empty() {
            // Longest suffix first: after the first dot, then the next.
            for (dot, _) in host.match_indices('.') {
                let suffix = &host[dot + 1..];
                work::add(suffix.len());
                if let Some(key) = self.subdomains.get(suffix) {
                    return Some(key);
                }
            }
        }
        if !self.any_ending.is_empty() {
            // Longest prefix first: before the last dot, then the one before.
            for (dot, _) in host.rmatch_indices('.') {
                let prefix = &host[..dot];
                work::add(prefix.len());
                if let Some(key) = self.any_ending.get(prefix) {
                    return Some(key);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn key(n: &str) -> HostKey {
        HostKey::Exact(n.to_string())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn nginx_server_name_precedence() {
        let mut names = HostNames::default();
        names.add_exact("bar.com", &key("exact"));
        assert!(!names.add_exact("bar.com", &key("second")));
        names.add_subdomains("foo.com", &key("short"));
        names.add_subdomains("a.foo.com", &key("long"));
        names.add_any_ending("www", &key("www"));
        names.add_any_ending("www.foo", &key("www.foo"));
        assert_eq!(names.alias("bar.com"), Some(&key("exact")));
        assert_eq!(names.alias("x.bar.com"), None);
        assert_eq!(names.alias("x.foo.com"), Some(&key("short")));
        assert_eq!(names.alias("x.y.foo.com"), Some(&key("short")));
        assert_eq!(names.alias("x.a.foo.com"), Some(&key("long")));
        assert_eq!(names.alias("foo.com"), None);
        // A leading wildcard beats a trailing one.
        assert_eq!(names.alias("www.foo.com"), Some(&key("short")));
        assert_eq!(names.alias("www.foo.org"), Some(&key("www.foo")));
        assert_eq!(names.alias("www.example.org"), Some(&key("www")));
        assert_eq!(names.alias("www"), None);
        let long = format!("{}.foo.com", "a.".repeat(200));
        assert_eq!(names.alias(&long), None);
    }
}
