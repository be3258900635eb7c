//! `rewrite-target` templates and regex paths with capture groups, applied to request paths.
//!
//! Input, one field per line: flags (`i`: case-insensitive, as ingress-nginx matches), the path regex,
//! the rewrite target, the `x-forwarded-prefix` template (empty: none), and the request path (the rest,
//! normalized first, as `decide` does). Checks: `Template::parse` accepts exactly ingress-nginx's grammar;
//! a rewritten path is canonical (starts with '/', no dot segment, no `//`, no control character) and at
//! most `MAX_REWRITTEN_PATH` long; `x-forwarded-prefix` carries no control character; and each refusal is
//! the one a plain expansion of the template predicts (too long, dot segment, not a path).
#![no_main]

use ingress_wasm::compile::regex_paths::{check_pattern, Groups, RegexBudget, RegexPaths};
use ingress_wasm::decide::request_path::RequestPath;
use ingress_wasm::decide::rewrite::{Rewrite, RewriteError, Template, MAX_REWRITTEN_PATH};
use ingress_wasm_fuzz::canonical::assert_canonical;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(5, '\n');
    let (Some(flags), Some(pattern), Some(target), Some(prefix), Some(raw_path)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return;
    };
    for template in [target, prefix] {
        assert_eq!(
            Template::parse(template).is_ok(),
            grammar(template),
            "Template::parse({template:?})"
        );
    }
    let (Ok(target), prefix) = (
        Template::parse(target),
        Template::parse(prefix).ok().filter(|p| !p.as_str().is_empty()),
    ) else {
        return;
    };
    let case_insensitive = flags.contains('i');
    if check_pattern(pattern, case_insensitive).is_err() {
        return;
    }
    let Ok(paths) = RegexPaths::build(&[(pattern, 0)], case_insensitive, &mut RegexBudget::default()) else {
        return;
    };
    let Some(path) = RequestPath::normalize(raw_path) else {
        return;
    };
    let path = path.as_str();
    let Some(found) = paths.find(path) else { return };
    assert!(found.len <= path.len());
    let groups = paths.captures(path, found);
    let rewrite = Rewrite::new(target.clone(), prefix.clone());
    let result = rewrite.apply(groups.as_ref());
    let expected = predict(&target, prefix.as_ref(), groups.as_ref());
    match (&result, &expected) {
        (Ok(applied), Ok((expected_path, expected_prefix))) => {
            assert_canonical(&applied.path, "the rewritten path");
            assert!(applied.path.len() <= MAX_REWRITTEN_PATH);
            assert_eq!(&applied.path, expected_path);
            assert_eq!(&applied.forwarded_prefix, expected_prefix);
            if let Some(p) = &applied.forwarded_prefix {
                assert!(p.len() <= MAX_REWRITTEN_PATH && !p.bytes().any(|b| b.is_ascii_control()));
            }
        }
        (Err(got), Err(want)) => assert_eq!(got, want, "refused for another reason"),
        _ => panic!("apply gave {result:?}, a plain expansion predicts {expected:?}"),
    }
});

/// ingress-nginx's grammar `^/?[-._~a-zA-Z0-9/:$]*$`, each `$` starting a reference `$1`..`$9`.
fn grammar(template: &str) -> bool {
    let b = template.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'$' => b.get(i + 1).is_some_and(|d| (b'1'..=b'9').contains(d)),
        b'1'..=b'9' if i > 0 && b[i - 1] == b'$' => true,
        _ => c.is_ascii_alphanumeric() || b"-._~/:".contains(&c),
    })
}

/// Expands a template the plain way: each reference replaced by its capture (a capture that splits a
/// character becomes U+FFFD), refused as soon as the raw pieces would pass `MAX_REWRITTEN_PATH`.
fn expand(template: &Template, groups: Option<&Groups<'_>>) -> Result<String, RewriteError> {
    let t = template.as_str().as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < t.len() {
        let (piece, next) = match t[i] {
            b'$' => (
                groups
                    .and_then(|g| g.get(usize::from(t[i + 1] - b'0')))
                    .unwrap_or_default(),
                i + 2,
            ),
            _ => {
                let end = t[i..].iter().position(|&c| c == b'$').map_or(t.len(), |p| i + p);
                (&t[i..end], end)
            }
        };
        if out.len() + piece.len() > MAX_REWRITTEN_PATH {
            return Err(RewriteError::TooLong);
        }
        out.push_str(&String::from_utf8_lossy(piece));
        i = next;
    }
    Ok(out)
}

type Predicted = Result<(String, Option<String>), RewriteError>;

/// What the rewrite must give: the expansion, made absolute; refused when too long, when it has a dot
/// segment (`\` counts as `/`), or when it is not a path; the prefix the same, minus the path rules.
fn predict(target: &Template, prefix: Option<&Template>, groups: Option<&Groups<'_>>) -> Predicted {
    let mut path = expand(target, groups)?;
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if path.len() > MAX_REWRITTEN_PATH {
        return Err(RewriteError::TooLong);
    }
    if path.split(['/', '\\']).any(|s| s == "." || s == "..") {
        return Err(RewriteError::DotSegment);
    }
    let path = RequestPath::normalize(&path)
        .ok_or(RewriteError::NotAPath)?
        .as_str()
        .to_string();
    let prefix = match prefix {
        None => None,
        Some(p) => {
            let p = expand(p, groups)?;
            if p.bytes().any(|b| b.is_ascii_control()) {
                return Err(RewriteError::NotAPath);
            }
            Some(p).filter(|p| !p.is_empty())
        }
    };
    Ok((path, prefix))
}
