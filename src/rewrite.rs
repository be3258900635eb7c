//! `rewrite-target` and `x-forwarded-prefix`: templates with `$1`..`$9` capture references, applied as
//! ingress-nginx's `rewrite "(?i)<path>" <target> break;` does: the whole path is replaced by the
//! expanded target; the query string is kept by the caller.

use crate::paths::RequestPath;
use regex::bytes::{Captures, Regex};

/// Longest path a rewrite may produce; longer results are refused rather than forwarded.
pub const MAX_REWRITTEN_PATH: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Group(usize),
}

/// A target such as `/$2` or `/api/$1/v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

impl Template {
    /// Accepts ingress-nginx's grammar `^/?[-._~a-zA-Z0-9/:$]*$`, where `$` must start a capture
    /// reference `$1`..`$9` (nginx variables such as `$host` are refused: they were an injection vector).
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                match chars.next() {
                    Some(d @ '1'..='9') => {
                        if !literal.is_empty() {
                            parts.push(Part::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(Part::Group(usize::from(d as u8 - b'0')));
                    }
                    _ => {
                        return Err(format!(
                            "{text:?}: '$' must be followed by a capture group number 1-9"
                        ))
                    }
                }
            } else if c.is_ascii_alphanumeric() || "-._~/:".contains(c) {
                literal.push(c);
            } else {
                return Err(format!("{text:?}: character {c:?} is not allowed (allowed: letters, digits, - . _ ~ / : and $1-$9)"));
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            text: text.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The highest capture group referenced (0 if none).
    pub fn max_group(&self) -> usize {
        self.parts
            .iter()
            .map(|p| if let Part::Group(n) = p { *n } else { 0 })
            .max()
            .unwrap_or(0)
    }

    fn expand(&self, caps: &Captures<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Group(n) => {
                    if let Some(m) = caps.get(*n) {
                        out.push_str(&String::from_utf8_lossy(m.as_bytes()));
                    }
                }
            }
        }
        out
    }
}

/// A compiled rewrite of one route.
#[derive(Debug)]
pub struct Rewrite {
    /// `(?i)<ingress path>`, unanchored, as nginx's rewrite directive uses it.
    regex: Regex,
    target: Template,
    forwarded_prefix: Option<Template>,
}

/// The result of a rewrite: the new path (without query) and the `x-forwarded-prefix` value, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied {
    pub path: String,
    pub forwarded_prefix: Option<String>,
}

impl Rewrite {
    pub fn new(regex: Regex, target: Template, forwarded_prefix: Option<Template>) -> Rewrite {
        Rewrite {
            regex,
            target,
            forwarded_prefix,
        }
    }

    pub fn target_text(&self) -> &str {
        self.target.as_str()
    }

    /// Rewrites a canonical request path. `Ok(None)`: the path regex does not match, the path stays.
    /// `Err(())`: the result would be unusable (too long, or not a path); the request is refused.
    #[allow(clippy::result_unit_err)]
    pub fn apply(&self, path: &str) -> Result<Option<Applied>, ()> {
        let Some(caps) = self.regex.captures(path.as_bytes()) else {
            return Ok(None);
        };
        let mut expanded = self.target.expand(&caps);
        if !expanded.starts_with('/') {
            expanded.insert(0, '/');
        }
        if expanded.len() > MAX_REWRITTEN_PATH {
            return Err(());
        }
        // Re-canonicalize: a capture must not smuggle `..` or `//` to the upstream.
        let path = match RequestPath::normalize(&expanded) {
            Some(p) => p.as_str().to_string(),
            None => return Err(()),
        };
        let forwarded_prefix = self
            .forwarded_prefix
            .as_ref()
            .map(|t| t.expand(&caps))
            .filter(|p| !p.is_empty());
        Ok(Some(Applied {
            path,
            forwarded_prefix,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn rewrite(path_regex: &str, target: &str) -> Rewrite {
        let re = regex::bytes::RegexBuilder::new(path_regex)
            .case_insensitive(true)
            .unicode(false)
            .build()
            .unwrap();
        Rewrite::new(re, Template::parse(target).unwrap(), None)
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn docs_example_capture_groups() {
        let r = rewrite("/something(/|$)(.*)", "/$2");
        assert_eq!(r.apply("/something").unwrap().unwrap().path, "/");
        assert_eq!(r.apply("/something/").unwrap().unwrap().path, "/");
        assert_eq!(r.apply("/something/new").unwrap().unwrap().path, "/new");
        assert_eq!(r.apply("/SOMETHING/new").unwrap().unwrap().path, "/new");
        assert_eq!(r.apply("/other").unwrap(), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn static_target_replaces_whole_path() {
        let r = rewrite("/lobby", "/");
        assert_eq!(r.apply("/lobby/x/y").unwrap().unwrap().path, "/");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn results_are_recanonicalized() {
        let r = rewrite("/a/(.*)", "$1");
        assert_eq!(r.apply("/a/b").unwrap().unwrap().path, "/b");
        let r = rewrite("/a(.*)", "/x/$1");
        assert_eq!(r.apply("/a/../../etc").unwrap().unwrap().path, "/etc");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn forwarded_prefix_expands_captures() {
        let re = regex::bytes::Regex::new("/api(/|$)(.*)").unwrap();
        let r = Rewrite::new(
            re,
            Template::parse("/$2").unwrap(),
            Some(Template::parse("/api").unwrap()),
        );
        assert_eq!(
            r.apply("/api/users").unwrap(),
            Some(Applied {
                path: "/users".into(),
                forwarded_prefix: Some("/api".into())
            })
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn template_grammar() {
        assert_eq!(Template::parse("/$2").unwrap().max_group(), 2);
        assert!(Template::parse("/$host").is_err());
        assert!(Template::parse("/a?b").is_err());
        assert!(Template::parse("/${1}").is_err());
        assert!(Template::parse("/a b").is_err());
        assert!(Template::parse("/a;rm").is_err());
    }
}
