//! `rewrite-target` and `x-forwarded-prefix`: templates with `$1`..`$9` capture references, applied as
//! ingress-nginx's `rewrite "(?i)<path>" <target> break;` does: the whole path is replaced by the
//! expanded target; the query string is kept by the caller. The captures come from the route's own
//! regex path, matched once by the host's regex ([`crate::compile::regex_paths`]).

use crate::compile::regex_paths::Groups;
use crate::decide::request_path::RequestPath;

/// Longest path a rewrite may produce, and longest `x-forwarded-prefix`; longer results are refused while
/// they are built, so a target with many references on a long path never allocates more than this.
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

/// Why a rewrite was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteError {
    /// The result would exceed [`MAX_REWRITTEN_PATH`].
    TooLong,
    /// A capture carries a `.` or `..` segment that would move the path outside the target.
    DotSegment,
    /// The result is not a usable path (e.g. control characters).
    NotAPath,
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

    /// Expands the template into `out`, refusing as soon as it would pass `limit` bytes.
    fn expand_into(
        &self,
        groups: Option<&Groups<'_>>,
        out: &mut String,
        limit: usize,
    ) -> Result<(), RewriteError> {
        for part in &self.parts {
            let piece: &[u8] = match part {
                Part::Literal(s) => s.as_bytes(),
                Part::Group(n) => groups.and_then(|g| g.get(*n)).unwrap_or_default(),
            };
            if out.len() + piece.len() > limit {
                return Err(RewriteError::TooLong);
            }
            // Request paths are checked UTF-8 and captures end on byte boundaries the regex chose: a
            // capture that splits a character is replaced, never copied as invalid UTF-8.
            out.push_str(&String::from_utf8_lossy(piece));
        }
        Ok(())
    }
}

/// The rewrite of one route.
#[derive(Debug)]
pub struct Rewrite {
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
    pub fn new(target: Template, forwarded_prefix: Option<Template>) -> Rewrite {
        Rewrite {
            target,
            forwarded_prefix,
        }
    }

    pub fn target_text(&self) -> &str {
        self.target.as_str()
    }

    /// Capture groups the templates refer to (0: the rewrite needs no regex match).
    pub fn max_group(&self) -> usize {
        let prefix = self.forwarded_prefix.as_ref().map_or(0, Template::max_group);
        self.target.max_group().max(prefix)
    }

    /// Rewrites a request with the captures of its route's regex path (None for a literal path).
    pub fn apply(&self, groups: Option<&Groups<'_>>) -> Result<Applied, RewriteError> {
        // Room for the literals and one copy of the match: one allocation in the usual case.
        let matched = groups.and_then(|g| g.get(0)).map_or(0, <[u8]>::len);
        let mut expanded = String::with_capacity(self.target.as_str().len() + matched + 1);
        self.target
            .expand_into(groups, &mut expanded, MAX_REWRITTEN_PATH)?;
        if !expanded.starts_with('/') {
            expanded.insert(0, '/');
        }
        if expanded.len() > MAX_REWRITTEN_PATH {
            return Err(RewriteError::TooLong);
        }
        // A capture must not climb out of the target (`/img(.*)` -> `/cdn/images/$1` with `/img../secret`
        // would become `/cdn/secret`): dot segments are refused, not resolved.
        if has_dot_segment(&expanded) {
            return Err(RewriteError::DotSegment);
        }
        // Re-canonicalize: a capture must not smuggle `//`, `\` or control characters to the upstream.
        let path = match RequestPath::normalize(&expanded) {
            Some(p) => p.into_changed().unwrap_or(expanded),
            None => return Err(RewriteError::NotAPath),
        };
        let forwarded_prefix = match &self.forwarded_prefix {
            None => None,
            Some(t) => {
                let mut prefix = String::new();
                t.expand_into(groups, &mut prefix, MAX_REWRITTEN_PATH)?;
                if prefix.bytes().any(|b| b.is_ascii_control()) {
                    return Err(RewriteError::NotAPath);
                }
                Some(prefix).filter(|p| !p.is_empty())
            }
        };
        Ok(Applied {
            path,
            forwarded_prefix,
        })
    }
}

/// Whether a path has a `.` or `..` segment (`\` counts as `/`, as the normalizer reads it).
fn has_dot_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::regex_paths::{RegexBudget, RegexPaths};
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Applies `target` (and `prefix`) to `path` with the captures of `path_regex`; None if it does not
    /// match.
    fn apply_with(
        path_regex: &str,
        target: &str,
        prefix: Option<&str>,
        path: &str,
    ) -> Option<Result<Applied, RewriteError>> {
        let paths = RegexPaths::build(&[(path_regex, 0)], true, &mut RegexBudget::default()).unwrap();
        let found = paths.find(path)?;
        let groups = paths.captures(path, found);
        let rewrite = Rewrite::new(
            Template::parse(target).unwrap(),
            prefix.map(|p| Template::parse(p).unwrap()),
        );
        Some(rewrite.apply(groups.as_ref()))
    }

    fn apply(path_regex: &str, target: &str, path: &str) -> Option<String> {
        apply_with(path_regex, target, None, path).map(|r| r.unwrap().path)
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn docs_example_capture_groups() {
        let re = "/something(/|$)(.*)";
        assert_eq!(apply(re, "/$2", "/something").as_deref(), Some("/"));
        assert_eq!(apply(re, "/$2", "/something/").as_deref(), Some("/"));
        assert_eq!(apply(re, "/$2", "/something/new").as_deref(), Some("/new"));
        assert_eq!(apply(re, "/$2", "/SOMETHING/new").as_deref(), Some("/new"));
        assert_eq!(apply(re, "/$2", "/other"), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn static_target_replaces_whole_path() {
        assert_eq!(apply("/lobby", "/", "/lobby/x/y").as_deref(), Some("/"));
        let literal = Rewrite::new(Template::parse("/new").unwrap(), None);
        assert_eq!(literal.apply(None).unwrap().path, "/new");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn results_are_recanonicalized() {
        assert_eq!(apply("/a/(.*)", "$1", "/a/b").as_deref(), Some("/b"));
        assert_eq!(apply("/a(.*)", "/x/$1", "/a//b").as_deref(), Some("/x/b"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn captures_cannot_climb_out_of_the_target() {
        let escape = apply_with("/img(.*)", "/cdn/images/$1", None, "/img../secret").unwrap();
        assert_eq!(escape, Err(RewriteError::DotSegment));
        let escape = apply_with("/a(.*)", "/x/$1", None, "/a/../../etc").unwrap();
        assert_eq!(escape, Err(RewriteError::DotSegment));
        assert_eq!(
            apply("/img(.*)", "/cdn/images/$1", "/img..x/y").as_deref(),
            Some("/cdn/images/..x/y")
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn expansion_is_bounded_while_it_is_built() {
        // 50,000 references to a 50 KB capture would be 2.5 GB: refused at the first byte past the limit.
        let target = format!("/{}", "$1".repeat(50_000));
        let path = format!("/x{}", "a".repeat(50_000));
        let result = apply_with("/x(.*)", &target, None, &path).unwrap();
        assert_eq!(result, Err(RewriteError::TooLong));
        let result = apply_with("/x(.*)", "/", Some(&target), &path).unwrap();
        assert_eq!(result, Err(RewriteError::TooLong));
        let ok = apply_with(
            "/x(.*)",
            "/$1",
            None,
            &format!("/x{}", "a".repeat(MAX_REWRITTEN_PATH - 1)),
        )
        .unwrap();
        assert_eq!(ok.unwrap().path.len(), MAX_REWRITTEN_PATH);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn forwarded_prefix_expands_captures() {
        assert_eq!(
            apply_with("/api(/|$)(.*)", "/$2", Some("/api"), "/api/users").unwrap(),
            Ok(Applied {
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
