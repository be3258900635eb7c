//! The proxy-wasm glue (wasm32-wasip1 only): the one place that talks to Envoy.
//!
//! Thin on purpose: the root context loads the plugin configuration once per VM with [`crate::config::load`]
//! and shares the compiled [`RouteTable`] with every request through an `Rc`; a request context reads the
//! three pseudo-headers a decision needs, calls [`RouteTable::decide_with`] (answering its questions —
//! other headers, random numbers, the time — only when a route asks, see [`EnvoyRequest`]) and applies
//! the [`Decision`]. A decision may leave work for the response: the session cookie, added in
//! `proxy_on_response_headers` next to the upstream's own cookies.
//!
//! Never panics on input or on a host answer: every host call goes through [`host`], whose functions
//! return `Result` and cannot panic. Headers are read as bytes; every host error becomes a log line, a
//! counter or a local reply. No proxy-wasm SDK: [`abi`] exports the entry points Envoy calls (only those
//! the filter needs, as each costs a crossing into the VM per request) and keeps the contexts.

mod abi;
mod counters;
mod host;
mod request_context;

use crate::config::{self, MAX_CONFIG_BYTES};
use crate::decide::affinity::{ResponseWork, SESSION_HEADER};
use crate::decide::body_size::BodyLimit;
use crate::decide::upstream::LOCATION_HEADER;
use crate::decide::{reply_body, Decision, Forward, Request, RouteTable};
use crate::diagnostics::Diagnostic;
use counters::{Counter, Counters};
use log::{debug, error, info, warn};
use request_context::EnvoyRequest;
use std::rc::Rc;

/// What a callback tells Envoy: go on with the stream, or stop it here (a local reply was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Action {
    Continue = 0,
    Pause = 1,
}

/// What every request of one plugin configuration shares.
struct Shared {
    table: RouteTable,
    counters: Counters,
}

#[derive(Default)]
struct Root {
    shared: Option<Rc<Shared>>,
    counters: Option<Counters>,
}

impl Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        if let Ok(level) = host::log_level() {
            log::set_max_level(level.filter());
        }
        let counters = *self.counters.get_or_insert_with(Counters::define);
        if plugin_configuration_size > MAX_CONFIG_BYTES {
            error!("config: is {plugin_configuration_size} bytes; the limit is {MAX_CONFIG_BYTES}");
            return false;
        }
        let bytes = match host::plugin_configuration(plugin_configuration_size) {
            Ok(bytes) => bytes,
            Err(status) => {
                error!("config: cannot read the plugin configuration: {status}");
                return false;
            }
        };
        // WASI's clock: how long this VM spent compiling (`./build.sh bench` reports it).
        let started = std::time::Instant::now();
        match config::load(&bytes) {
            Ok(compiled) => {
                log_diagnostics(&compiled.warnings);
                info!(
                    "loaded {} routes to {} backends ({} semantics, {} warnings) in {} us",
                    compiled.table.routes().len(),
                    compiled.table.backends().len(),
                    compiled.table.semantics().as_str(),
                    compiled.warnings.len(),
                    // Whole microseconds: float formatting would add ~25 KB to the module.
                    started.elapsed().as_micros()
                );
                self.shared = Some(Rc::new(Shared {
                    table: compiled.table,
                    counters,
                }));
                true
            }
            Err(diagnostics) => {
                log_diagnostics(&diagnostics);
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                error!("configuration refused: {errors} error(s)");
                false
            }
        }
    }

    fn create_stream(&self) -> Stream {
        Stream {
            shared: self.shared.clone(),
            response: ForResponse::default(),
            body: None,
        }
    }
}

fn log_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        if d.is_error() {
            error!("{d}");
        } else {
            warn!("{d}");
        }
    }
}

/// One HTTP request.
struct Stream {
    /// None only if no configuration was ever accepted (Envoy does not start then).
    shared: Option<Rc<Shared>>,
    /// What the forwarded request's response needs.
    response: ForResponse,
    /// `proxy-body-size` of a forwarded request, and the body bytes seen so far.
    body: Option<(BodyLimit, u64)>,
}

/// What a forwarded request leaves for its response.
#[derive(Default)]
struct ForResponse {
    /// The session cookie.
    session: Option<ResponseWork>,
    /// Headers to set (CORS), replacing the upstream's of the same name.
    headers: Vec<(&'static str, String)>,
}

impl Stream {
    /// A stream of a root context the host never created: it answers 503.
    fn unconfigured() -> Stream {
        Stream {
            shared: None,
            response: ForResponse::default(),
            body: None,
        }
    }

    fn on_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            return local_reply(503, "not configured\n");
        };
        let (action, response, body_limit) = route(&shared, end_of_stream);
        self.response = response;
        self.body = body_limit.map(|limit| (limit, 0));
        action
    }

    /// Counts a forwarded body against `proxy-body-size` (a declared length over it was answered at the
    /// headers): past the limit, 413, and Envoy resets the upstream request.
    fn on_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        let Some((limit, seen)) = self.body.as_mut() else {
            return Action::Continue;
        };
        *seen = seen.saturating_add(body_size as u64);
        if !limit.exceeded_by(*seen) {
            return Action::Continue;
        }
        self.body = None;
        self.response = ForResponse::default();
        if let Some(shared) = self.shared.as_deref() {
            shared.counters.increment(Counter::Rejected);
        }
        local_reply(413, reply_body(413))
    }

    /// Runs for upstream responses and for the filter's own local replies alike; only a forwarded
    /// request whose decision left work (headers, a session cookie) has anything to do here.
    fn on_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.as_deref() else {
            return Action::Continue;
        };
        let work = std::mem::take(&mut self.response);
        for (name, value) in &work.headers {
            if let Err(status) = host::set_response_header(name, value.as_bytes()) {
                warn!("cannot set {name}: {status}");
            }
        }
        if shared.table.session_headers().contains(&SESSION_HEADER) {
            finish_session(&shared.table, work.session);
        } else if let Some(ResponseWork::SetCookie(cookie)) = work.session {
            add_set_cookie(&cookie);
        }
        Action::Continue
    }
}

/// Persistent affinity: Envoy's stateful session names the endpoint it chose in [`SESSION_HEADER`] when
/// it differs from the pinned one (or none was pinned). That becomes the cookie; the header itself never
/// reaches the client.
fn finish_session(table: &RouteTable, work: Option<ResponseWork>) {
    let chosen = match host::response_header(SESSION_HEADER) {
        Ok(value) => value,
        Err(status) => {
            warn!("cannot read {SESSION_HEADER}: {status}");
            None
        }
    };
    if chosen.is_some() {
        if let Err(status) = host::remove_response_header(SESSION_HEADER) {
            warn!("cannot remove {SESSION_HEADER}: {status}");
        }
    }
    match (work, chosen) {
        (Some(ResponseWork::SetCookie(cookie)), _) => add_set_cookie(&cookie),
        (Some(ResponseWork::PinEndpoint { affinity, attributes }), Some(chosen)) => {
            match table.pinned_cookie(affinity, &attributes, &chosen) {
                Some(cookie) => add_set_cookie(&cookie),
                None => warn!("{SESSION_HEADER}: Envoy named no usable endpoint"),
            }
        }
        _ => {}
    }
}

/// Adds a `Set-Cookie` beside the upstream's own (never replacing them).
fn add_set_cookie(cookie: &str) {
    if let Err(status) = host::add_response_header("set-cookie", cookie.as_bytes()) {
        warn!("cannot add the session cookie: {status}");
    }
}

/// Routes the request whose headers are being decoded; returns what its response will need and the body
/// limit to count a forwarded body against.
fn route(shared: &Shared, end_of_stream: bool) -> (Action, ForResponse, Option<BodyLimit>) {
    let table = &shared.table;
    let counters = &shared.counters;
    // A client never chooses the cluster, and its copies of the cluster header need no host call of
    // their own: a forwarded request gets exactly one value from `set_request_header` (Envoy's `setCopy`
    // first drops every value of the header, whatever case or value the client sent, however many
    // times), and every other outcome is a local reply that never reaches the router.
    // tests/e2e_security.rs (`a_client_cannot_choose_the_cluster`) checks both in Envoy.
    // The three pseudo-headers a decision needs, read in one host call; other headers only when a route
    // asks (EnvoyRequest::header).
    let headers = host::request_headers()
        .map_err(|status| error!("cannot read the request headers: {status}"))
        .unwrap_or_default();
    let Some(PseudoHeaders {
        scheme,
        authority,
        path,
    }) = PseudoHeaders::find(&headers)
    else {
        counters.increment(Counter::Rejected);
        return (local_reply(400, "bad request\n"), ForResponse::default(), None);
    };
    let request = Request {
        scheme,
        authority,
        path,
    };
    let decision = table.decide_with(
        &request,
        &mut EnvoyRequest {
            end_of_stream,
            counters: *counters,
        },
    );
    debug!(
        "{} {}{} -> {:?}",
        request.scheme, request.authority, request.path, decision
    );
    let action = match decision {
        Decision::Forward(forward) => match apply_forward(table, &forward) {
            Ok(()) => {
                counters.increment(Counter::Routed);
                let response = ForResponse {
                    session: forward.response,
                    headers: forward.response_headers,
                };
                let body_limit = forward.body_limit.filter(|_| !end_of_stream);
                return (Action::Continue, response, body_limit);
            }
            Err(message) => {
                error!("{message}");
                counters.increment(Counter::Rejected);
                local_reply(500, "internal error\n")
            }
        },
        Decision::Redirect {
            status,
            location,
            headers,
            ..
        } => {
            counters.increment(Counter::Redirected);
            let mut all = vec![("location", location.as_str())];
            all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
            send(u32::from(status), &all, &[])
        }
        Decision::NotFound(_) => {
            counters.increment(Counter::NotFound);
            local_reply(404, reply_body(404))
        }
        Decision::Reject { status, .. } => {
            counters.increment(Counter::Rejected);
            local_reply(u32::from(status), reply_body(status))
        }
        Decision::Respond { status, headers, .. } => {
            counters.increment(if status >= 400 {
                Counter::Rejected
            } else {
                Counter::Answered
            });
            let mut all: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            if !all.iter().any(|(n, _)| *n == "content-type") {
                all.push(("content-type", "text/plain"));
            }
            send(u32::from(status), &all, reply_body(status).as_bytes())
        }
    };
    (action, ForResponse::default(), None)
}

/// The pseudo-headers of a request, as UTF-8 borrowed from the host's answer.
struct PseudoHeaders<'h> {
    /// `http` when absent or empty.
    scheme: &'h str,
    /// Empty when absent.
    authority: &'h str,
    /// Empty when absent.
    path: &'h str,
}

impl<'h> PseudoHeaders<'h> {
    /// None when one of them is not UTF-8 or the host answered no headers at all (the request gets a
    /// 400). The first value of each counts, as Envoy's `get_header_map_value` answers.
    fn find(headers: &'h [u8]) -> Option<PseudoHeaders<'h>> {
        if headers.is_empty() {
            return None;
        }
        let (mut scheme, mut authority, mut path) = (None, None, None);
        for (name, value) in host::header_pairs(headers) {
            let slot = match name {
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(std::str::from_utf8(value).ok()?);
            }
        }
        Some(PseudoHeaders {
            scheme: scheme.filter(|s| !s.is_empty()).unwrap_or("http"),
            authority: authority.unwrap_or(""),
            path: path.unwrap_or(""),
        })
    }
}

/// Writes the decision into the request headers and makes Envoy re-select the route.
fn apply_forward(table: &RouteTable, forward: &Forward<'_>) -> Result<(), String> {
    set_request_header(table.cluster_header(), forward.cluster)?;
    if let Some(path) = &forward.path {
        set_request_header(":path", path)?;
    }
    for (name, value) in &forward.headers {
        if value.is_empty() {
            host::remove_request_header(name).map_err(|status| format!("cannot remove {name}: {status}"))?;
        } else {
            set_request_header(name, value)?;
        }
    }
    // The session headers steer Envoy's endpoint choice: a client's copy of one the decision did not
    // write must go (a written one replaced every copy already).
    for name in table.session_headers() {
        if !forward.headers.iter().any(|(n, _)| n == name) {
            host::remove_request_header(name).map_err(|status| format!("cannot remove {name}: {status}"))?;
        }
    }
    // Likewise the location header selects Envoy's route settings (timeouts, error pages).
    let names_location = forward.headers.iter().any(|(n, _)| *n == LOCATION_HEADER);
    if !table.location_profiles().is_empty() && !names_location {
        host::remove_request_header(LOCATION_HEADER)
            .map_err(|status| format!("cannot remove {LOCATION_HEADER}: {status}"))?;
    }
    // Filter state only feeds an error page's X-Original-URI: losing it must not fail the request.
    for (name, value) in &forward.properties {
        if let Err(status) = host::set_property(name, value.as_bytes()) {
            warn!("cannot set the property {name}: {status}");
        }
    }
    // No `clear_route_cache` call: Envoy clears the route cache on every header write of an ABI 0.2.1
    // module (the SDK's `proxy_abi_version_0_2_1`); only modules of a later ABI must ask. The
    // end-to-end tests route every forward through the cluster header this wrote.
    Ok(())
}

fn set_request_header(name: &str, value: &str) -> Result<(), String> {
    host::set_request_header(name, value.as_bytes()).map_err(|status| format!("cannot set {name}: {status}"))
}

fn local_reply(status: u32, body: &str) -> Action {
    send(status, &[("content-type", "text/plain")], body.as_bytes())
}

/// Sends a local reply. Pauses even if the host refused it: a request without a decision must never
/// reach the router.
fn send(status: u32, headers: &[(&str, &str)], body: &[u8]) -> Action {
    if let Err(e) = host::send_local_response(status, headers, body) {
        error!("cannot send the {status} reply: {e}");
    }
    Action::Pause
}
