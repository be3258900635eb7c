//! A request context for decision tests: fixed headers, a scripted sequence of random numbers, a fixed
//! clock, and a record of every header the decision asked for.

use crate::decide::{Decision, Forward, Request, RequestContext, RouteTable};

#[derive(Default)]
pub(crate) struct TestContext {
    headers: Vec<(String, Vec<u8>)>,
    randoms: Vec<u64>,
    next_random: usize,
    pub(crate) now: i64,
    /// Header names the decision read, in order.
    pub(crate) reads: Vec<String>,
    /// How many random numbers it drew.
    pub(crate) draws: usize,
    /// The client's address (`source.address`).
    pub(crate) client: Option<std::net::IpAddr>,
    /// Whether a body follows the headers (false: a GET without one).
    pub(crate) body: bool,
}

impl TestContext {
    pub(crate) fn new() -> Self {
        TestContext {
            now: 1_700_000_000,
            ..TestContext::default()
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_vec()));
        self
    }

    pub(crate) fn cookie(self, value: &str) -> Self {
        self.header("cookie", value.as_bytes())
    }

    /// The client's address.
    pub(crate) fn client(mut self, address: &str) -> Self {
        self.client = address.parse().ok();
        self
    }

    /// A body follows the headers.
    pub(crate) fn with_body(mut self) -> Self {
        self.body = true;
        self
    }

    /// The random numbers to hand out, in order (then 0s).
    pub(crate) fn randoms(mut self, values: &[u64]) -> Self {
        self.randoms = values.to_vec();
        self
    }
}

impl RequestContext for TestContext {
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        self.reads.push(name.to_string());
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn random(&mut self) -> u64 {
        self.draws += 1;
        let value = self.randoms.get(self.next_random).copied().unwrap_or(0);
        self.next_random += 1;
        value
    }

    fn now(&mut self) -> i64 {
        self.now
    }

    fn client_address(&mut self) -> Option<std::net::IpAddr> {
        self.client
    }

    fn may_have_body(&mut self) -> bool {
        self.body
    }
}

/// Decides `GET http://host/path` with `ctx`.
pub(crate) fn decide<'t>(t: &'t RouteTable, host: &str, path: &str, ctx: &mut TestContext) -> Decision<'t> {
    t.decide_with(
        &Request {
            scheme: "http",
            authority: host,
            path,
        },
        ctx,
    )
}

/// The service a forward goes to (from a `namespace/service:port` cluster), or the decision's status.
pub(crate) fn service_of(d: &Decision<'_>) -> String {
    match d {
        Decision::Forward(f) => f
            .cluster
            .split('/')
            .nth(1)
            .and_then(|s| s.split(':').next())
            .unwrap_or("")
            .to_string(),
        Decision::Redirect { status, .. }
        | Decision::Reject { status, .. }
        | Decision::Respond { status, .. } => status.to_string(),
        Decision::NotFound(_) => "404".to_string(),
    }
}

/// The value a forward sets for request header `name`.
pub(crate) fn header<'f>(f: &'f Forward<'_>, name: &str) -> Option<&'f str> {
    f.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}
