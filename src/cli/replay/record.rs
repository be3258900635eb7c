//! One logged request: what the client asked for and what ingress-nginx did with it.

use super::fields::{Fields, Var};
use super::line_error::{LineError, LineErrorKind};
use super::upstream_names::is_default_backend;
use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::Range;

/// What ingress-nginx did, as its log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Old<'a> {
    /// Proxied to `primary` (`$proxy_upstream_name`), or to its canary `alternative`
    /// (`$proxy_alternative_upstream_name`).
    Upstream {
        primary: Cow<'a, str>,
        alternative: Option<Cow<'a, str>>,
    },
    /// Its default backend answered (`upstream-default-backend`): a 404.
    DefaultBackend,
    /// nginx redirected without asking an upstream (no upstream name, or no upstream address).
    Redirect { status: u16 },
    /// nginx answered itself (no upstream name) with this status.
    Local { status: Option<u16> },
    /// nginx answered itself inside the location of `upstream` without asking it (the upstream is named,
    /// no upstream address): an access denial (401, 403), a limit (503, 413), a client that left (499).
    LocationReply { upstream: Cow<'a, str>, status: u16 },
}

#[derive(Debug)]
pub struct Logged<'a> {
    /// `METHOD target[ PROTOCOL]`.
    request: Cow<'a, str>,
    method: Range<usize>,
    /// The target's path and query.
    path: Range<usize>,
    /// The host: `$host`, else `$http_host`, else an absolute-form target's.
    host: Option<Range<usize>>,
    host_field: Option<Cow<'a, str>>,
    pub scheme: Option<Cow<'a, str>>,
    pub old: Old<'a>,
    /// `$uri`: the path after ingress-nginx's rewrite.
    pub uri: Option<Cow<'a, str>>,
    /// `$sent_http_location`.
    pub location: Option<Cow<'a, str>>,
    /// `$remote_addr`: the client address nginx's source ranges judged; None when the log does not show
    /// one (or shows no IP address, as for a Unix socket).
    pub client: Option<IpAddr>,
}

/// A line that is well formed but holds no request nginx routed (a TLS handshake sent to the HTTP port,
/// a connection closed before its request line): nothing to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRouted;

impl<'a> Logged<'a> {
    pub fn from_fields(fields: &mut Fields<'a>) -> Result<Result<Logged<'a>, NotRouted>, LineError> {
        if !fields.has(Var::ProxyUpstreamName) {
            return Err(LineError::new(LineErrorKind::Missing, "no proxy_upstream_name"));
        }
        let carries_request = fields.has(Var::Request) || fields.has(Var::RequestUri);
        let request = match (fields.take(Var::Request), fields.get(Var::RequestMethod)) {
            (Some(request), _) => request,
            (None, Some(method)) => match fields.get(Var::RequestUri) {
                Some(uri) => Cow::Owned(format!("{method} {uri}")),
                None => return Ok(Err(NotRouted)),
            },
            (None, None) if carries_request => return Ok(Err(NotRouted)),
            (None, None) => return Err(LineError::new(LineErrorKind::Missing, "no request")),
        };
        let Some((method, target)) = split_request(&request) else {
            return Ok(Err(NotRouted));
        };
        let (authority, path) = split_target(&request, target);
        let host_field = fields.take(Var::Host).or_else(|| fields.take(Var::HttpHost));
        let status = fields.get(Var::Status).and_then(|s| s.parse().ok());
        // nginx writes `-`, or with escape=json an empty string, when it asked no upstream.
        let no_upstream_contacted = fields.has(Var::UpstreamAddr)
            && fields.get(Var::UpstreamAddr).is_none_or(|a| a.trim().is_empty());
        let alternative = fields
            .take(Var::ProxyAlternativeUpstreamName)
            .filter(|name| !name.is_empty());
        let upstream = fields
            .take(Var::ProxyUpstreamName)
            .filter(|name| !name.is_empty());
        let is_redirect = |status: u16| (300..400).contains(&status);
        let old = match (upstream, status) {
            (None, Some(status)) if is_redirect(status) => Old::Redirect { status },
            (None, status) => Old::Local { status },
            (Some(name), _) if is_default_backend(&name) => Old::DefaultBackend,
            (Some(_), Some(status)) if no_upstream_contacted && is_redirect(status) => {
                Old::Redirect { status }
            }
            (Some(upstream), Some(status)) if no_upstream_contacted => {
                Old::LocationReply { upstream, status }
            }
            (Some(primary), _) => Old::Upstream { primary, alternative },
        };
        let client = fields.get(Var::RemoteAddr).and_then(|a| a.trim().parse().ok());
        Ok(Ok(Logged {
            method,
            path,
            host: if host_field.is_some() { None } else { authority },
            host_field,
            scheme: fields.take(Var::Scheme),
            old,
            uri: fields.take(Var::Uri),
            location: fields.take(Var::SentHttpLocation),
            client,
            request,
        }))
    }

    pub fn method(&self) -> &str {
        self.request.get(self.method.clone()).unwrap_or_default()
    }

    /// The path and query, as the request line carried them.
    pub fn path(&self) -> &str {
        self.request.get(self.path.clone()).unwrap_or_default()
    }

    /// The request's host, when the log shows it.
    pub fn host(&self) -> Option<&str> {
        match &self.host_field {
            Some(host) => Some(host),
            None => self.request.get(self.host.clone()?),
        }
    }
}

/// `METHOD target[ PROTOCOL]` into the method's and the target's ranges.
fn split_request(request: &str) -> Option<(Range<usize>, Range<usize>)> {
    let mut parts = request.splitn(3, ' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let valid_method = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !valid_method || target.is_empty() {
        return None;
    }
    let start = method.len() + 1;
    Some((0..method.len(), start..start + target.len()))
}

/// An absolute-form target (`http://host/path`) into its authority and path; else the whole target
/// is the path.
fn split_target(request: &str, target: Range<usize>) -> (Option<Range<usize>>, Range<usize>) {
    let text = request.get(target.clone()).unwrap_or_default();
    let scheme_end = ["http://", "https://"]
        .iter()
        .find(|s| text.len() > s.len() && text.get(..s.len()).is_some_and(|t| t.eq_ignore_ascii_case(s)))
        .map(|s| s.len());
    let Some(scheme_end) = scheme_end else {
        return (None, target);
    };
    let after = &text[scheme_end..];
    let authority_len = after.find(['/', '?']).unwrap_or(after.len());
    let authority = target.start + scheme_end..target.start + scheme_end + authority_len;
    (Some(authority.clone()), authority.end..target.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::replay::fields::Slot;

    fn logged(pairs: &[(Var, &'static str)]) -> Result<Result<Logged<'static>, NotRouted>, LineError> {
        let mut fields = Fields::default();
        for (var, value) in pairs {
            fields.set(Slot::Var(*var), Cow::Borrowed(*value));
        }
        Logged::from_fields(&mut fields)
    }

    #[test]
    fn the_request_line() {
        let l = logged(&[
            (Var::Request, "GET /a?b=1 HTTP/1.1"),
            (Var::ProxyUpstreamName, "default-echo-80"),
            (Var::ProxyAlternativeUpstreamName, ""),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((l.method(), l.path(), l.host()), ("GET", "/a?b=1", None));
        assert_eq!(
            l.old,
            Old::Upstream {
                primary: "default-echo-80".into(),
                alternative: None
            }
        );
        let l = logged(&[
            (Var::Request, "GET http://Foo.io:8080/x HTTP/1.1"),
            (Var::ProxyUpstreamName, "a"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((l.path(), l.host()), ("/x", Some("Foo.io:8080")));
        // A target that is not ASCII where a scheme would end is a path like any other.
        let l = logged(&[
            (Var::Request, "GET http:/éx HTTP/1.1"),
            (Var::ProxyUpstreamName, "a"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((l.path(), l.host()), ("http:/éx", None));
        let l = logged(&[
            (Var::RequestMethod, "POST"),
            (Var::RequestUri, "/y"),
            (Var::Host, "h.io"),
            (Var::ProxyUpstreamName, "a"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((l.method(), l.path(), l.host()), ("POST", "/y", Some("h.io")));
    }

    #[test]
    fn what_ingress_nginx_did() {
        let old = |pairs: &[(Var, &'static str)]| logged(pairs).unwrap().unwrap().old;
        let r = (Var::Request, "GET / HTTP/1.1");
        assert_eq!(
            old(&[r, (Var::ProxyUpstreamName, "-"), (Var::Status, "301")]),
            Old::Redirect { status: 301 }
        );
        assert_eq!(
            old(&[r, (Var::ProxyUpstreamName, "-"), (Var::Status, "400")]),
            Old::Local { status: Some(400) }
        );
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "upstream-default-backend"),
                (Var::Status, "404")
            ]),
            Old::DefaultBackend
        );
        // A location's own redirect: the upstream is named but never asked.
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "a"),
                (Var::Status, "308"),
                (Var::UpstreamAddr, "-")
            ]),
            Old::Redirect { status: 308 }
        );
        // nginx's own refusal inside a location: the upstream is named but never asked (`-`, or empty
        // with escape=json).
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "a"),
                (Var::Status, "403"),
                (Var::UpstreamAddr, "-")
            ]),
            Old::LocationReply {
                upstream: "a".into(),
                status: 403
            }
        );
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "a"),
                (Var::Status, "401"),
                (Var::UpstreamAddr, "")
            ]),
            Old::LocationReply {
                upstream: "a".into(),
                status: 401
            }
        );
        // The upstream's own 401.
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "a"),
                (Var::Status, "401"),
                (Var::UpstreamAddr, "10.0.0.1:80")
            ]),
            Old::Upstream {
                primary: "a".into(),
                alternative: None
            }
        );
        // The upstream's own redirect.
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "a"),
                (Var::Status, "302"),
                (Var::UpstreamAddr, "10.0.0.1:80")
            ]),
            Old::Upstream {
                primary: "a".into(),
                alternative: None
            }
        );
        assert_eq!(
            old(&[
                r,
                (Var::ProxyUpstreamName, "a"),
                (Var::ProxyAlternativeUpstreamName, "b")
            ]),
            Old::Upstream {
                primary: "a".into(),
                alternative: Some("b".into())
            }
        );
    }

    #[test]
    fn the_client_address() {
        let client = |address: &'static str| {
            logged(&[
                (Var::Request, "GET / HTTP/1.1"),
                (Var::ProxyUpstreamName, "a"),
                (Var::RemoteAddr, address),
            ])
            .unwrap()
            .unwrap()
            .client
        };
        assert_eq!(client("10.1.2.3"), "10.1.2.3".parse().ok());
        assert_eq!(client("2001:db8::7"), "2001:db8::7".parse().ok());
        // No address, or none an access rule can judge (a Unix socket).
        assert_eq!(client("-"), None);
        assert_eq!(client("unix:"), None);
    }

    #[test]
    fn lines_without_a_request_are_not_routed() {
        for request in ["-", "\u{16}\u{3}\u{1}", "GET", "get / HTTP/1.1", ""] {
            let r = logged(&[(Var::Request, request), (Var::ProxyUpstreamName, "-")]).unwrap();
            assert_eq!(r.unwrap_err(), NotRouted, "{request:?}");
        }
        let e = logged(&[(Var::Request, "GET / HTTP/1.1")]).unwrap_err();
        assert_eq!(e.kind, LineErrorKind::Missing);
    }
}
