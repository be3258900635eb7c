//! Structured fuzz input -> Ingress JSON (canaries and session affinity included) and requests. Most choices pick from small vocabularies (hosts
//! that share parents, paths that share elements, regexes with capture groups) so generated rules and
//! requests meet often; every choice also has a raw form so nothing is out of reach.

use crate::decision::Context;
use arbitrary::Arbitrary;
use ingress_wasm::RouteTable;
use serde_json::{json, Map, Value};

const HOSTS: &[&str] = &[
    "foo.com",
    "bar.foo.com",
    "a.bar.foo.com",
    "example.com",
    "shop.test",
    "x.y",
];
const PARENTS: &[&str] = &["foo.com", "bar.foo.com", "test", "y"];
const PATHS: &[&str] = &[
    "/",
    "/foo",
    "/foo/",
    "/foo/bar",
    "/aaa/bbb",
    "/aaa/bb",
    "/api",
    "/api/v1/",
    "/img(.*)",
    "/api(/|$)(.*)",
    "/something(/|$)(.*)",
    "/foo/(.*)",
    "/.*",
    "/(a|b)/([0-9]+)",
    "/foo$",
    "/Foo",
];
const SEGMENTS: &[&str] = &[
    "foo", "bar", "aaa", "bbb", "bb", "api", "v1", "img", "", ".", "..", "%2e%2e", "%2F", "%61", "FOO",
    "x;y", "a.b", "..x",
];
const SERVICES: &[&str] = &["web", "api", "img", "admin"];
const NAMESPACES: &[&str] = &["default", "shop", "web"];
const TARGETS: &[&str] = &[
    "/",
    "/$1",
    "/$2",
    "$1",
    "/api/$1",
    "/cdn/images/$1",
    "/$1/$2",
    "/x/",
];
const ACCESS: &[&str] = &["auth-type", "limit-rps", "whitelist-source-range", "satisfy"];

/// Picks from a vocabulary, or takes the raw text.
#[derive(Arbitrary, Debug)]
pub enum Text {
    Pick(u8),
    Raw(String),
}

impl Text {
    fn get(&self, vocabulary: &[&str]) -> String {
        match self {
            Text::Pick(i) => vocabulary[usize::from(*i) % vocabulary.len()].to_string(),
            Text::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum HostSpec {
    Exact(Text),
    Wildcard(Text),
}

#[derive(Arbitrary, Debug)]
pub enum PathSpec {
    Pick(u8),
    Segments(Vec<u8>, bool),
    Raw(String),
}

impl PathSpec {
    fn get(&self) -> String {
        match self {
            PathSpec::Pick(i) => PATHS[usize::from(*i) % PATHS.len()].to_string(),
            PathSpec::Segments(s, slash) => segments(s, *slash, '/'),
            PathSpec::Raw(s) => s.clone(),
        }
    }
}

fn segments(picks: &[u8], trailing_slash: bool, separator: char) -> String {
    let mut out = String::new();
    for i in picks.iter().take(8) {
        out.push(separator);
        out.push_str(SEGMENTS[usize::from(*i) % SEGMENTS.len()]);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[derive(Arbitrary, Debug)]
pub enum PathTypeSpec {
    Exact,
    Prefix,
    ImplementationSpecific,
}

#[derive(Arbitrary, Debug)]
pub struct ServiceSpec {
    name: u8,
    port: Option<u16>,
}

impl ServiceSpec {
    fn json(&self) -> Value {
        let port = match self.port {
            Some(n) => json!({"number": n % 3 + 80}),
            None => json!({"name": "http"}),
        };
        json!({"service": {"name": SERVICES[usize::from(self.name) % SERVICES.len()], "port": port}})
    }
}

#[derive(Arbitrary, Debug)]
pub struct HttpPathSpec {
    path: PathSpec,
    path_type: PathTypeSpec,
    backend: ServiceSpec,
}

#[derive(Arbitrary, Debug)]
pub struct RuleSpec {
    host: Option<HostSpec>,
    paths: Vec<HttpPathSpec>,
}

#[derive(Arbitrary, Debug)]
pub struct IngressSpec {
    namespace: u8,
    /// Day of creation (older Ingresses win conflicts); None: no timestamp.
    created: Option<u8>,
    use_regex: Option<bool>,
    rewrite_target: Option<Text>,
    x_forwarded_prefix: Option<Text>,
    /// An access annotation that is not enforced: the Ingress must fail closed.
    access: Option<u8>,
    canary: Option<CanarySpec>,
    /// Cookie session affinity; `true`: persistent.
    affinity: Option<bool>,
    default_backend: Option<ServiceSpec>,
    rules: Vec<RuleSpec>,
}

impl IngressSpec {
    fn json(&self, index: usize) -> Value {
        let mut annotations = Map::new();
        let mut note = |k: &str, v: String| {
            annotations.insert(format!("nginx.ingress.kubernetes.io/{k}"), Value::String(v));
        };
        if let Some(b) = self.use_regex {
            note("use-regex", b.to_string());
        }
        if let Some(t) = &self.rewrite_target {
            note("rewrite-target", t.get(TARGETS));
        }
        if let Some(t) = &self.x_forwarded_prefix {
            note("x-forwarded-prefix", t.get(TARGETS));
        }
        if let Some(a) = self.access {
            note(ACCESS[usize::from(a) % ACCESS.len()], "x".into());
        }
        if let Some(c) = &self.canary {
            note("canary", "true".into());
            if let Some(w) = c.weight {
                note("canary-weight", (w % 101).to_string());
            }
            if let Some(v) = &c.by_header {
                note("canary-by-header", "x-canary".into());
                if let Some(v) = v {
                    note("canary-by-header-value", v.get(CANARY_VALUES));
                }
            }
            if c.by_cookie {
                note("canary-by-cookie", "canary".into());
            }
        }
        if let Some(persistent) = self.affinity {
            note("affinity", "cookie".into());
            if persistent {
                note("affinity-mode", "persistent".into());
            }
        }
        let rules: Vec<Value> = self
            .rules
            .iter()
            .take(4)
            .map(|r| {
                let paths: Vec<Value> = r
                    .paths
                    .iter()
                    .take(6)
                    .map(|p| {
                        let t = match p.path_type {
                            PathTypeSpec::Exact => "Exact",
                            PathTypeSpec::Prefix => "Prefix",
                            PathTypeSpec::ImplementationSpecific => "ImplementationSpecific",
                        };
                        json!({"path": p.path.get(), "pathType": t, "backend": p.backend.json()})
                    })
                    .collect();
                let mut rule = json!({"http": {"paths": paths}});
                match &r.host {
                    Some(HostSpec::Exact(h)) => rule["host"] = json!(h.get(HOSTS)),
                    Some(HostSpec::Wildcard(p)) => rule["host"] = json!(format!("*.{}", p.get(PARENTS))),
                    None => {}
                }
                rule
            })
            .collect();
        let mut metadata = json!({
            "name": format!("ing{index}"),
            "namespace": NAMESPACES[usize::from(self.namespace) % NAMESPACES.len()],
            "annotations": annotations,
        });
        if let Some(day) = self.created {
            metadata["creationTimestamp"] = json!(format!("2024-01-{:02}T00:00:00Z", day % 28 + 1));
        }
        let mut spec = json!({"rules": rules});
        if let Some(b) = &self.default_backend {
            spec["defaultBackend"] = b.json();
        }
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec})
    }
}

const CANARY_VALUES: &[&str] = &["always", "never", "yes", "v2"];

/// The canary annotations of an Ingress (`canary: "true"` and its rules).
#[derive(Arbitrary, Debug)]
pub struct CanarySpec {
    weight: Option<u8>,
    /// `canary-by-header: x-canary`, with a `canary-by-header-value` or not.
    by_header: Option<Option<Text>>,
    by_cookie: bool,
}

/// A whole plugin configuration: Ingresses and settings.
#[derive(Arbitrary, Debug)]
pub struct TableSpec {
    kubernetes: bool,
    /// Istio's cluster names instead of the default template.
    istio: bool,
    small_max_path: bool,
    /// An Ingress with only a `spec.defaultBackend`: the catch-all.
    catch_all: Option<ServiceSpec>,
    ingresses: Vec<IngressSpec>,
}

impl TableSpec {
    pub fn config(&self) -> Value {
        let mut items: Vec<Value> = self
            .ingresses
            .iter()
            .take(5)
            .enumerate()
            .map(|(i, s)| s.json(i))
            .collect();
        if let Some(backend) = &self.catch_all {
            items.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "catch-all", "namespace": "default"},
                "spec": {"defaultBackend": backend.json()}}));
        }
        let mut settings = json!({"semantics": if self.kubernetes { "kubernetes" } else { "ingress-nginx" }});
        if self.istio {
            settings["clusterTemplate"] = json!("outbound|{port}||{service}.{namespace}.svc.cluster.local");
        }
        if self.small_max_path {
            settings["maxPathBytes"] = json!(256);
        }
        ingress_wasm::config::plugin_config(items, Some(settings))
    }
}

/// A request: scheme, `:authority` and `:path`.
#[derive(Arbitrary, Debug)]
pub struct RequestSpec {
    https: bool,
    authority: AuthoritySpec,
    path: RequestPathSpec,
    query: Option<String>,
    /// `x-canary` header value.
    canary_header: Option<Text>,
    /// `cookie` header: `canary=<value>` or raw.
    cookie: Option<Text>,
    random: u64,
    client: Option<[u8; 4]>,
}

#[derive(Arbitrary, Debug)]
pub enum AuthoritySpec {
    /// A known host, optionally upper-cased, with a port, with a trailing dot.
    Host(u8, bool, Option<u16>, bool),
    /// A label under a known parent (reaches wildcard rules).
    Under(Text, u8),
    /// The host of one of the table's routes (a label in place of a wildcard), with a port or not.
    OfTable(u8, Option<u16>),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
pub enum RequestPathSpec {
    Pick(u8, Vec<u8>),
    /// Segments joined with `/` or `\`.
    Segments(Vec<u8>, bool, bool),
    /// The path of one of the table's routes, with more segments or not.
    OfTable(u8, Vec<u8>),
    Raw(String),
}

/// The request's parts as owned strings (a [`ingress_wasm::Request`] borrows them), and its context.
pub struct RequestParts {
    pub scheme: &'static str,
    pub authority: String,
    pub path: String,
    pub context: Context,
}

impl RequestSpec {
    /// The request, aimed at `table`'s hosts and paths where the input says so.
    pub fn parts(&self, table: &RouteTable) -> RequestParts {
        let routes = table.routes();
        let route = |i: &u8| routes.get(usize::from(*i) % routes.len().max(1));
        let authority = match &self.authority {
            AuthoritySpec::Host(i, upper, port, dot) => {
                let mut h = HOSTS[usize::from(*i) % HOSTS.len()].to_string();
                if *upper {
                    h = h.to_ascii_uppercase();
                }
                if *dot {
                    h.push('.');
                }
                if let Some(p) = port {
                    h = format!("{h}:{p}");
                }
                h
            }
            AuthoritySpec::Under(label, parent) => {
                format!(
                    "{}.{}",
                    label.get(SEGMENTS),
                    PARENTS[usize::from(*parent) % PARENTS.len()]
                )
            }
            AuthoritySpec::OfTable(i, port) => {
                let host = route(i).and_then(|r| r.host.as_deref()).unwrap_or("");
                let host = host.replace('*', "any");
                port.map_or(host.clone(), |p| format!("{host}:{p}"))
            }
            AuthoritySpec::Raw(s) => s.clone(),
        };
        let mut path = match &self.path {
            RequestPathSpec::Pick(i, tail) => {
                let base = PATHS[usize::from(*i) % PATHS.len()].trim_end_matches('/');
                format!(
                    "{base}{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        segments(tail, false, '/')
                    }
                )
            }
            RequestPathSpec::Segments(s, slash, backslash) => {
                segments(s, *slash, if *backslash { '\\' } else { '/' })
            }
            RequestPathSpec::OfTable(i, tail) => {
                let path = route(i).map_or("/", |r| r.path.as_str()).trim_end_matches('/');
                let tail = if tail.is_empty() {
                    String::new()
                } else {
                    segments(tail, false, '/')
                };
                format!("{path}{tail}")
            }
            RequestPathSpec::Raw(s) => s.clone(),
        };
        if let Some(q) = &self.query {
            path.push('?');
            path.push_str(q);
        }
        let mut headers = Vec::new();
        if let Some(v) = &self.canary_header {
            headers.push(("x-canary".to_string(), v.get(CANARY_VALUES).into_bytes()));
        }
        if let Some(c) = &self.cookie {
            let cookie = match c {
                Text::Pick(_) => format!("canary={}", c.get(CANARY_VALUES)),
                Text::Raw(s) => s.clone(),
            };
            headers.push(("cookie".to_string(), cookie.into_bytes()));
        }
        RequestParts {
            scheme: if self.https { "https" } else { "http" },
            authority,
            path,
            context: Context {
                headers,
                random: self.random,
                now: 1_700_000_000,
                client: self.client.map(std::net::IpAddr::from),
            },
        }
    }
}

impl RequestParts {
    pub fn request(&self) -> ingress_wasm::Request<'_> {
        ingress_wasm::Request {
            scheme: self.scheme,
            authority: &self.authority,
            path: &self.path,
        }
    }
}
