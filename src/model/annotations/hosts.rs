//! The host-name annotations: `server-alias` (more names for the Ingress's hosts,
//! `internal/ingress/annotations/alias`), `from-to-www-redirect` (the `www.` counterpart of each host
//! redirects to it, `.../redirect`) and `upstream-vhost` (the Host sent upstream, `.../upstreamvhost`).

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;

/// What the host-name annotations of one Ingress ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// `server-alias`, in nginx's `server_name` forms (regular expressions are left out, warned).
    pub aliases: Vec<AliasName>,
    /// `from-to-www-redirect`.
    pub from_to_www: bool,
    /// `upstream-vhost`: the Host header sent upstream.
    pub upstream_vhost: Option<Vec<VhostPart>>,
}

/// One `server-alias` name, lower-cased, as nginx's `server_name` matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasName {
    /// `foo.com`.
    Exact(String),
    /// `*.foo.com`: any name ending in `.foo.com`, however many labels come before.
    Subdomains(String),
    /// `.foo.com`: `foo.com` itself and any name ending in `.foo.com`.
    DomainAndSubdomains(String),
    /// `www.*`: any name starting with `www.`.
    AnyEnding(String),
}

impl AliasName {
    /// As written in nginx's `server_name`.
    pub fn written(&self) -> String {
        match self {
            AliasName::Exact(n) => n.clone(),
            AliasName::Subdomains(n) => format!("*.{n}"),
            AliasName::DomainAndSubdomains(n) => format!(".{n}"),
            AliasName::AnyEnding(n) => format!("{n}.*"),
        }
    }
}

/// A piece of `upstream-vhost`: text, or one of the nginx variables it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VhostVariable {
    /// `$namespace`: the Ingress's namespace.
    Namespace,
    /// `$ingress_name`.
    IngressName,
    /// `$service_name`: the backend service of the path.
    ServiceName,
    /// `$service_port`: its port, number or name as the Ingress gives it.
    ServicePort,
    /// `$host`: the request's host, lower-cased, without port.
    Host,
    /// `$http_host` / `$best_http_host`: the Host header as sent.
    HttpHost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VhostPart {
    Text(String),
    Variable(VhostVariable),
}

pub(super) const NAMES: &[&str] = &["server-alias", "from-to-www-redirect", "upstream-vhost"];

/// Longest server name nginx or DNS would use.
const MAX_NAME: usize = 253;

pub(super) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> HostOptions {
    HostOptions {
        aliases: aliases(a, diags),
        from_to_www: a.bool("from-to-www-redirect", diags).unwrap_or(false),
        upstream_vhost: upstream_vhost(a, diags),
    }
}

fn aliases(a: &Annotations<'_>, diags: &mut Diagnostics) -> Vec<AliasName> {
    let Some(value) = a.get("server-alias") else {
        return Vec::new();
    };
    let field = field_of("server-alias");
    let mut names = Vec::new();
    for written in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if written.starts_with('~') {
            diags.warning(
                a.id,
                &field,
                format!(
                    "{written:?}: regular-expression server names are not supported; this alias is ignored"
                ),
            );
            continue;
        }
        match alias_name(written) {
            Some(name) if names.contains(&name) => {}
            Some(name) => names.push(name),
            None => diags.error(
                a.id,
                &field,
                format!(
                    "{written:?} is not a server name ingress-wasm accepts: a host name (foo.com), *.foo.com, \
                     .foo.com or www.*"
                ),
            ),
        }
    }
    names
}

/// A server name in one of nginx's non-regex forms, lower-cased; None if it is none of them.
fn alias_name(written: &str) -> Option<AliasName> {
    let lower = written.to_ascii_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    let (name, form): (&str, fn(String) -> AliasName) = if let Some(parent) = lower.strip_prefix("*.") {
        (parent, AliasName::Subdomains)
    } else if let Some(start) = lower.strip_suffix(".*") {
        (start, AliasName::AnyEnding)
    } else if let Some(parent) = lower.strip_prefix('.') {
        (parent, AliasName::DomainAndSubdomains)
    } else {
        (lower, AliasName::Exact)
    };
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (labels_ok && name.len() <= MAX_NAME).then(|| form(name.to_string()))
}

fn upstream_vhost(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<Vec<VhostPart>> {
    let value = a.get("upstream-vhost")?;
    match vhost_parts(value) {
        Ok(parts) => Some(parts),
        Err(problem) => {
            diags.error(a.id, &field_of("upstream-vhost"), format!("{value:?} {problem}"));
            None
        }
    }
}

/// `upstream-vhost` as text and the variables it names (`$name` or `${name}`).
fn vhost_parts(value: &str) -> Result<Vec<VhostPart>, String> {
    let mut parts = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix('$') else {
            let end = rest.find('$').unwrap_or(rest.len());
            let text = &rest[..end];
            if !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~:[]".contains(&b))
            {
                return Err(
                    "is not a host name (letters, digits, - . _ ~ : [ ] and the variables $namespace, \
                     $ingress_name, $service_name, $service_port, $host, $http_host)"
                        .to_string(),
                );
            }
            parts.push(VhostPart::Text(text.to_string()));
            rest = &rest[end..];
            continue;
        };
        let (name, next) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').ok_or("has a ${ without its }")?;
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after
                    .bytes()
                    .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let variable = match name {
            "namespace" => VhostVariable::Namespace,
            "ingress_name" => VhostVariable::IngressName,
            "service_name" => VhostVariable::ServiceName,
            "service_port" => VhostVariable::ServicePort,
            "host" => VhostVariable::Host,
            "http_host" | "best_http_host" => VhostVariable::HttpHost,
            other => {
                return Err(format!(
                "uses the nginx variable ${other}, which ingress-wasm does not know (it knows $namespace, \
                     $ingress_name, $service_name, $service_port, $host, $http_host and $best_http_host)"
            ))
            }
        };
        parts.push(VhostPart::Variable(variable));
        rest = next;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_named;
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn hosts(annotations: &[(&str, &str)]) -> (HostOptions, Vec<String>) {
        let (o, msgs) = parse_named(annotations);
        (o.hosts, msgs)
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn aliases_in_nginx_server_name_forms() {
        let (o, msgs) = hosts(&[(
            "server-alias",
            " Bar.com, *.foo.com,.baz.com , www.*, bar.com,, ~^www\\d+\\.x\\.com$",
        )]);
        assert_eq!(
            o.aliases,
            vec![
                AliasName::Exact("bar.com".into()),
                AliasName::Subdomains("foo.com".into()),
                AliasName::DomainAndSubdomains("baz.com".into()),
                AliasName::AnyEnding("www".into()),
            ]
        );
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains("regular-expression server names are not supported"));
        for bad in ["a*b.com", "*", "foo..com", "foo/bar", "*.*.com"] {
            let (o, msgs) = hosts(&[("server-alias", bad)]);
            assert!(o.aliases.is_empty());
            assert!(
                msgs.iter()
                    .any(|m| m.contains("server-alias: ") && m.contains("is not a server name")),
                "{bad}: {msgs:?}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn upstream_vhost_text_and_variables() {
        let (o, msgs) = hosts(&[("upstream-vhost", "$service_name.${namespace}.svc:8080")]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(
            o.upstream_vhost.unwrap(),
            vec![
                VhostPart::Variable(VhostVariable::ServiceName),
                VhostPart::Text(".".into()),
                VhostPart::Variable(VhostVariable::Namespace),
                VhostPart::Text(".svc:8080".into()),
            ]
        );
        for (bad, error) in [
            ("$request_uri", "uses the nginx variable $request_uri"),
            ("a b", "is not a host name"),
            ("x\";y", "is not a host name"),
            ("${host", "has a ${ without its }"),
        ] {
            let (o, msgs) = hosts(&[("upstream-vhost", bad)]);
            assert!(o.upstream_vhost.is_none());
            assert!(msgs.iter().any(|m| m.contains(error)), "{bad}: {msgs:?}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn from_to_www_is_a_boolean() {
        assert!(hosts(&[("from-to-www-redirect", "true")]).0.from_to_www);
        let (o, msgs) = hosts(&[("from-to-www-redirect", "yes")]);
        assert!(!o.from_to_www);
        assert!(msgs[0].contains("is not a boolean"), "{msgs:?}");
    }
}
