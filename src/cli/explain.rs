//! `ingress-wasm explain`: the filter's decision for one request, and why.

use super::{err, load_or_report, print_json_or_text, ExplainArgs};
use ingress_wasm::compile::tls::TlsEntry;
use ingress_wasm::decide::affinity::{ResponseWork, Session};
use ingress_wasm::decide::canary::CanaryRule;
use ingress_wasm::decide::{Decision, HostMatch, Reason, RequestContext, RouteInfo, RouteTable, Trace};
use ingress_wasm::Request;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

pub fn run(args: &ExplainArgs) -> ExitCode {
    let mut headers = args.headers.clone();
    headers.extend(args.cookies.iter().map(|c| format!("Cookie: {c}")));
    let request = match RequestSpec::parse(&args.url, &headers) {
        Ok(request) => RequestSpec {
            method: args.method.clone(),
            ..request
        },
        Err(message) => {
            err(&format!("error: {message}"));
            return ExitCode::from(2);
        }
    };
    let compiled = match load_or_report(
        &args.files,
        args.endpoints.as_deref(),
        args.secrets_dir.as_deref(),
    ) {
        Ok((_, compiled)) => compiled,
        Err(code) => return code,
    };
    let table = &compiled.table;
    let mut context = CliContext {
        request: &request,
        client: args.client_ip,
    };
    let decision = table.decide_with(&request.as_request(), &mut context);
    let explanation = Explanation {
        table,
        request: &request,
        decision: &decision,
    };
    match print_json_or_text(args.json, || explanation.json(), || explanation.text()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// The request as given on the command line.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// `-X`/`--method` (GET by default).
    pub method: String,
    pub scheme: String,
    pub authority: String,
    pub path: String,
    /// Other headers given with -H (lower-case names), in order.
    pub headers: Vec<(String, String)>,
}

impl RequestSpec {
    /// Reads `http://host[:port]/path?query` (or `/path?query`, host from -H) and the -H headers.
    pub fn parse(url: &str, headers: &[String]) -> Result<RequestSpec, String> {
        let (scheme, rest) = if url.starts_with('/') {
            ("http".to_string(), url)
        } else {
            let Some((scheme, rest)) = url.split_once("://") else {
                return Err(format!(
                    "--url {url:?}: expected http://host[:port]/path or /path"
                ));
            };
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(format!("--url {url:?}: the scheme must be http or https"));
            }
            (scheme, rest)
        };
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        // user:password@ never reaches :authority.
        let mut authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host)
            .to_string();
        // A fragment is never sent.
        let path = path.split_once('#').map_or(path, |(before, _)| before);
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let mut others = Vec::new();
        for header in headers {
            let Some((name, value)) = header.split_once(':') else {
                return Err(format!("-H {header:?}: expected 'Name: value'"));
            };
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("-H {header:?}: the header name is empty"));
            }
            let value = value.trim().to_string();
            if name == "host" {
                authority = value;
            } else {
                others.push((name, value));
            }
        }
        Ok(RequestSpec {
            method: "GET".to_string(),
            scheme,
            authority,
            path,
            headers: others,
        })
    }

    /// A header as the filter would read it: cookies joined with `; ` as HTTP/2 and nginx join them, the
    /// first value of any other repeated header.
    fn header(&self, name: &str) -> Option<String> {
        if name == ":method" {
            return Some(self.method.clone());
        }
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        if name == "cookie" {
            let all: Vec<&str> = values.collect();
            return (!all.is_empty()).then(|| all.join("; "));
        }
        values.next().map(str::to_string)
    }

    pub fn as_request(&self) -> Request<'_> {
        Request {
            scheme: &self.scheme,
            authority: &self.authority,
            path: &self.path,
        }
    }

    fn url(&self) -> String {
        let url = format!("{}://{}{}", self.scheme, self.authority, self.path);
        if self.method == "GET" {
            url
        } else {
            format!("{} {url}", self.method)
        }
    }
}

/// What the decision may ask beyond the request line: the -H/--cookie headers, a real random draw
/// (a weighted canary is a draw; the explanation says the odds) and the clock.
struct CliContext<'a> {
    request: &'a RequestSpec,
    client: Option<std::net::IpAddr>,
}

impl RequestContext for CliContext<'_> {
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        self.request.header(name).map(String::into_bytes)
    }

    fn random(&mut self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0);
        hasher.finish()
    }

    fn now(&mut self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    fn client_address(&mut self) -> Option<std::net::IpAddr> {
        self.client
    }
}

struct Explanation<'a> {
    table: &'a RouteTable,
    request: &'a RequestSpec,
    decision: &'a Decision<'a>,
}

impl Explanation<'_> {
    fn trace(&self) -> Trace {
        self.decision.trace()
    }

    fn route(&self) -> Option<&RouteInfo> {
        self.trace().route.and_then(|id| self.table.route(id))
    }

    fn text(&self) -> Vec<String> {
        let mut lines = vec![format!("request:  {}", self.request.url())];
        lines.push(match self.decision {
            Decision::Forward(f) => format!("decision: forward to cluster {}", f.cluster),
            Decision::Redirect { status, location, .. } => {
                format!("decision: redirect {status} to {location}")
            }
            Decision::NotFound(_) => "decision: 404 Not Found, answered by the filter".to_string(),
            Decision::Reject { status, .. } | Decision::Respond { status, .. } => {
                format!("decision: {status}, answered by the filter")
            }
        });
        if let Decision::Respond { headers, .. } | Decision::Redirect { headers, .. } = self.decision {
            for (name, value) in headers {
                lines.push(format!("reply:    {name}: {value}"));
            }
        }
        let trace = self.trace();
        lines.push(format!("host:     {}", self.host_text(trace.host)));
        if let Some((tls_host, entry)) = self.tls() {
            lines.push(format!(
                "tls:      {tls_host} in {} {} ({}): over plain HTTP it redirects to HTTPS unless ssl-redirect is \"false\"",
                entry.ingress,
                entry.field,
                match entry.secret_id() {
                    Some(secret) => format!("secret {secret}"),
                    None => "no secretName: the default certificate".to_string(),
                }
            ));
        }
        if let Some(route) = self.route() {
            lines.push(format!("rule:     {} {}", route.ingress, route.field));
            if let Some(path_type) = route.path_type {
                let regex = if route.regex {
                    ", matched as a regular expression"
                } else {
                    ""
                };
                lines.push(format!(
                    "path:     {} (pathType {}{regex})",
                    route.path,
                    path_type.as_str()
                ));
            }
            if let Some(target) = route.rewrite_target() {
                lines.push(format!("rewrite:  rewrite-target {target}"));
            }
            for annotation in &route.unenforced {
                lines.push(format!(
                    "denied:   {annotation} is not enforced: fail closed (503)"
                ));
            }
            let b = &route.backend;
            let named = b
                .port_name
                .as_ref()
                .map_or(String::new(), |name| format!(" (the Service's port {name:?})"));
            lines.push(format!(
                "backend:  service {}/{} port {}{named}",
                b.namespace, b.service, b.port
            ));
        }
        lines.push(format!("why:      {}", reason_text(trace.reason)));
        lines.extend(self.canary_line());
        lines.extend(self.session_lines());
        if let Decision::Forward(f) = self.decision {
            match &f.path {
                Some(path) => lines.push(format!(
                    "upstream: {path} (the client sent {})",
                    self.request.path
                )),
                None => lines.push(format!("upstream: {} (unchanged)", self.request.path)),
            }
            for (name, value) in &f.headers {
                if value.is_empty() {
                    lines.push(format!("header:   {name}: (removed)"));
                } else {
                    lines.push(format!("header:   {name}: {value}"));
                }
            }
            for (name, value) in &f.response_headers {
                lines.push(format!("response: {name}: {value}"));
            }
            lines.push(format!(
                "envoy:    {}: {} selects the cluster",
                self.table.cluster_header(),
                f.cluster
            ));
            lines.extend(super::explain_upstream::lines(
                self.table,
                f.cluster,
                self.route(),
            ));
        }
        lines
    }

    /// Which canary rule decided, in words.
    fn canary_line(&self) -> Option<String> {
        let choice = self.trace().canary?;
        let canary = self.table.canaries().get(choice.canary)?;
        let side = if choice.to_canary {
            format!("to the canary, service {}", canary.backend.service)
        } else {
            "to the primary".to_string()
        };
        let why = match choice.rule {
            CanaryRule::Weight => {
                let (weight, total) = (canary.rules.weight, canary.rules.weight_total);
                let odds = format!("{} of {total} such requests go to the canary", weight.min(total));
                if choice.draw == 0 {
                    format!("canary-weight {weight} of {total}: {odds}")
                } else {
                    format!(
                        "canary-weight {weight} of {total}: this request drew {}; {odds}",
                        choice.draw
                    )
                }
            }
            rule => rule.describe().to_string(),
        };
        Some(format!("canary:   {} {side}: {why}", canary.ingress))
    }

    /// The session cookie: kept, or what will be set.
    fn session_lines(&self) -> Vec<String> {
        let (Decision::Forward(f), Some(session)) = (self.decision, self.trace().session) else {
            return Vec::new();
        };
        let Some(affinity) = self.table.affinity_of_cluster(f.cluster) else {
            return Vec::new();
        };
        let mode = affinity.mode.as_str();
        let mut lines = vec![match session {
            Session::Kept => format!(
                "session:  {mode} affinity; cookie {} names a session of this backend: kept, no new cookie",
                affinity.cookie.name
            ),
            Session::New => format!("session:  {mode} affinity; a new session"),
        }];
        match &f.response {
            Some(ResponseWork::SetCookie(cookie)) => lines.push(format!("response: Set-Cookie: {cookie}")),
            Some(ResponseWork::PinEndpoint { attributes, .. }) => lines.push(format!(
                "response: Set-Cookie: {}=<the endpoint Envoy picks>|{}{attributes} (when Envoy picks a new endpoint)",
                affinity.cookie.name, affinity.backend_key
            )),
            None if session == Session::New => lines.push(
                "response: no cookie: this route's Ingress does not ask for affinity (the backend honours the cookie)"
                    .to_string(),
            ),
            None => {}
        }
        lines
    }

    /// The TLS host covering the request's host, and the entry its certificate comes from.
    fn tls(&self) -> Option<(String, &TlsEntry)> {
        let host = ingress_wasm::decide::request_host::route_host(&self.request.authority);
        self.table.tls().lookup(&host)
    }

    fn host_text(&self, host: HostMatch) -> String {
        let asked = ingress_wasm::decide::request_host::route_host(&self.request.authority).into_owned();
        let asked = if asked.is_empty() {
            "(no host)".to_string()
        } else {
            asked
        };
        let rule_host = self.route().and_then(|r| r.host.clone());
        match (host, rule_host) {
            (HostMatch::Exact, _) => format!("{asked}: exact host match"),
            (HostMatch::Wildcard, Some(rule)) => format!("{asked}: wildcard host match ({rule})"),
            (HostMatch::Wildcard, None) => format!("{asked}: wildcard host match"),
            (HostMatch::Hostless, _) => {
                format!("{asked}: no rule names this host; the rules without host apply")
            }
            (HostMatch::None, _) => format!("{asked}: no rule for this host"),
            (HostMatch::Alias, Some(rule)) => format!("{asked}: server-alias of {rule}"),
            (HostMatch::Alias, None) => format!("{asked}: a server-alias name"),
            (HostMatch::WwwCounterpart, _) => {
                format!("{asked}: the www counterpart of a host with from-to-www-redirect")
            }
        }
    }

    fn json(&self) -> Value {
        let trace = self.trace();
        let mut o = Map::new();
        let headers: Map<String, Value> = self
            .request
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect();
        o.insert(
            "request".into(),
            json!({"method": self.request.method, "scheme": self.request.scheme, "authority": self.request.authority,
                   "path": self.request.path, "headers": headers}),
        );
        let (decision, status) = match self.decision {
            Decision::Forward(_) => ("forward", None),
            Decision::Redirect { status, .. } => ("redirect", Some(*status)),
            Decision::NotFound(_) => ("not-found", Some(404)),
            Decision::Reject { status, .. } => ("reject", Some(*status)),
            Decision::Respond { status, .. } => ("respond", Some(*status)),
        };
        o.insert("decision".into(), json!(decision));
        o.insert("status".into(), json!(status));
        o.insert("hostMatch".into(), json!(host_match_name(trace.host)));
        o.insert("reason".into(), json!(reason_name(trace.reason)));
        o.insert("why".into(), json!(reason_text(trace.reason)));
        o.insert(
            "tls".into(),
            match self.tls() {
                Some((host, entry)) => json!({"host": host, "ingress": entry.ingress, "field": entry.field,
                                              "secret": entry.secret_id()}),
                None => Value::Null,
            },
        );
        if let Some(choice) = trace.canary {
            let canary = self.table.canaries().get(choice.canary);
            o.insert(
                "canary".into(),
                json!({
                    "ingress": canary.map(|c| c.ingress.as_str()),
                    "service": canary.map(|c| c.backend.service.as_str()),
                    "rule": format!("{:?}", choice.rule),
                    "why": choice.rule.describe(),
                    "toCanary": choice.to_canary,
                    "draw": (choice.draw > 0).then_some(choice.draw),
                }),
            );
        }
        if let Some(session) = trace.session {
            o.insert(
                "session".into(),
                json!(match session {
                    Session::Kept => "kept",
                    Session::New => "new",
                }),
            );
        }
        o.insert(
            "route".into(),
            match self.route() {
                Some(r) => json!({
                    "ingress": r.ingress,
                    "field": r.field,
                    "host": r.host,
                    "path": r.path,
                    "pathType": r.path_type.map(|t| t.as_str()),
                    "regex": r.regex,
                    "rewriteTarget": r.rewrite_target(),
                    "unenforcedAnnotations": r.unenforced,
                    "backend": {"namespace": r.backend.namespace, "service": r.backend.service,
                                "port": r.backend.port, "portName": r.backend.port_name},
                }),
                None => Value::Null,
            },
        );
        match self.decision {
            Decision::Forward(f) => {
                o.insert("cluster".into(), json!(f.cluster));
                o.insert("clusterHeader".into(), json!(self.table.cluster_header()));
                o.insert(
                    "upstreamPath".into(),
                    json!(f.path.as_deref().unwrap_or(&self.request.path)),
                );
                o.insert("pathRewritten".into(), json!(f.path.is_some()));
                o.insert("upstreamHeaders".into(), header_object(&f.headers));
                o.insert("responseHeaders".into(), header_object(&f.response_headers));
                let (cluster, location) = super::explain_upstream::json(self.table, f.cluster, self.route());
                o.insert("clusterSettings".into(), cluster);
                o.insert("location".into(), location);
                o.insert(
                    "setCookie".into(),
                    match &f.response {
                        Some(ResponseWork::SetCookie(cookie)) => json!(cookie),
                        _ => Value::Null,
                    },
                );
            }
            Decision::Redirect {
                location, headers, ..
            } => {
                o.insert("location".into(), json!(location));
                o.insert("replyHeaders".into(), header_object(headers));
            }
            Decision::Respond { headers, .. } => {
                o.insert("replyHeaders".into(), header_object(headers));
            }
            Decision::NotFound(_) | Decision::Reject { .. } => {}
        }
        Value::Object(o)
    }
}

fn header_object(headers: &[(&'static str, String)]) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_string(), Value::String(v.clone())))
            .collect(),
    )
}

fn host_match_name(host: HostMatch) -> &'static str {
    match host {
        HostMatch::Exact => "exact",
        HostMatch::Wildcard => "wildcard",
        HostMatch::Hostless => "hostless",
        HostMatch::None => "none",
        HostMatch::Alias => "alias",
        HostMatch::WwwCounterpart => "www-counterpart",
    }
}

pub(super) fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::ExactPath => "exact-path",
        Reason::PrefixPath => "prefix-path",
        Reason::RegexPath => "regex-path",
        Reason::HostDefaultBackend => "host-default-backend",
        Reason::DefaultBackend => "default-backend",
        Reason::TrailingSlashRedirect => "trailing-slash-redirect",
        Reason::NoMatchingPath => "no-matching-path",
        Reason::NoMatchingHost => "no-matching-host",
        Reason::InvalidPath => "invalid-path",
        Reason::PathTooLong => "path-too-long",
        Reason::AccessNotEnforced => "access-not-enforced",
        Reason::SslRedirect => "ssl-redirect",
        Reason::ForceSslRedirect => "force-ssl-redirect",
        Reason::RewriteEscapesTarget => "rewrite-escapes-target",
        Reason::InvalidRewrite => "invalid-rewrite",
        Reason::SourceDenied => "source-denied",
        Reason::Unauthorized => "unauthorized",
        Reason::BodyTooLarge => "body-too-large",
        Reason::AppRoot => "app-root",
        Reason::WwwRedirect => "from-to-www-redirect",
        Reason::PermanentRedirect => "permanent-redirect",
        Reason::TemporalRedirect => "temporal-redirect",
        Reason::CorsPreflight => "cors-preflight",
        Reason::BackendUnavailable => "backend-unavailable",
    }
}

pub(super) fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::ExactPath => "the path equals an Exact path",
        Reason::PrefixPath => "the longest matching Prefix path",
        Reason::RegexPath => "the path matches a regular expression path",
        Reason::HostDefaultBackend => "no path of the host matches; the host's default backend answers",
        Reason::DefaultBackend => "no rule matches; the default backend (spec.defaultBackend) answers",
        Reason::TrailingSlashRedirect => {
            "a rule path ends in '/' and the request is that path without it: ingress-nginx redirects to \
             the path with the slash"
        }
        Reason::NoMatchingPath => "no path of this host matches and there is no default backend",
        Reason::NoMatchingHost => "no rule for this host and no default backend",
        Reason::InvalidPath => "the request path is not an absolute path",
        Reason::PathTooLong => "the request path is longer than settings.maxPathBytes (nginx answers 414 past its request-line buffer)",
        Reason::AccessNotEnforced => {
            "the Ingress restricts access with an annotation ingress-wasm does not enforce yet, or with a \
             value ingress-nginx denies the location for (see the warnings): the path fails closed with \
             503 instead of being served unprotected"
        }
        Reason::SslRedirect => {
            "the request came over HTTP and the host has TLS (spec.tls): ssl-redirect answers 308 to HTTPS"
        }
        Reason::ForceSslRedirect => {
            "the request came over HTTP and the location has force-ssl-redirect: 308 to HTTPS"
        }
        Reason::RewriteEscapesTarget => {
            "a capture of the request path carries a '.' or '..' segment that would move the rewritten path \
             outside rewrite-target: refused with 400"
        }
        Reason::InvalidRewrite => "the rewritten path would be unsafe or too long",
        Reason::SourceDenied => {
            "the client's address (--client-ip; in Envoy, source.address) is in denylist-source-range or \
             outside allowlist-source-range: 403"
        }
        Reason::Unauthorized => {
            "auth-type basic: no Authorization header (-H 'Authorization: Basic ...') with a user and \
             password of the auth-secret: 401"
        }
        Reason::BodyTooLarge => "the declared Content-Length is over proxy-body-size (or settings.proxyBodySize): 413",
        Reason::AppRoot => "the path is / and an Ingress of the host sets app-root: 302 to the application's root",
        Reason::WwwRedirect => {
            "the host is the www counterpart (or the name without www.) of a host whose Ingress sets \
             from-to-www-redirect: 308 to that host"
        }
        Reason::PermanentRedirect => "the route's Ingress sets permanent-redirect",
        Reason::TemporalRedirect => "the route's Ingress sets temporal-redirect",
        Reason::CorsPreflight => {
            "an OPTIONS request from an allowed origin to a route with enable-cors: the CORS preflight is \
             answered 204 without reaching the backend"
        }
        Reason::BackendUnavailable => {
            "the backend's Service, or its port, is not among the Services of the input (see the warnings): \
             the filter answers 503"
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn urls() {
        let r = RequestSpec::parse("http://Foo.com:8080/a/b?x=1#frag", &[]).unwrap();
        assert_eq!(
            (r.scheme.as_str(), r.authority.as_str(), r.path.as_str()),
            ("http", "Foo.com:8080", "/a/b?x=1")
        );
        let r = RequestSpec::parse("https://u:p@[::1]:10000?q", &[]).unwrap();
        assert_eq!(
            (r.scheme.as_str(), r.authority.as_str(), r.path.as_str()),
            ("https", "[::1]:10000", "/?q")
        );
        let r = RequestSpec::parse("http://h", &[]).unwrap();
        assert_eq!(r.path, "/");
        let r = RequestSpec::parse("/lobby", &["Host: v1.echo".into(), "X-A:  b ".into()]).unwrap();
        assert_eq!(r.authority, "v1.echo");
        assert_eq!(r.headers, vec![("x-a".to_string(), "b".to_string())]);
        assert!(RequestSpec::parse("ftp://h/", &[]).is_err());
        assert!(RequestSpec::parse("h/x", &[]).is_err());
        assert!(RequestSpec::parse("http://h/", &["nocolon".into()]).is_err());
    }
}
