//! The proxy-wasm glue (wasm32-wasip1 only): the one place that talks to Envoy.
//!
//! Thin on purpose: the root context loads the plugin configuration once per VM with [`crate::config::load`]
//! and shares the compiled [`RouteTable`] with every request through an `Rc`; a request context reads the
//! three pseudo-headers a decision needs, calls [`RouteTable::decide_with`] (answering its questions —
//! other headers, random numbers, the time — only when a route asks, see [`EnvoyRequest`]) and applies
//! the [`Decision`]. A decision may leave work for the response: the session cookie, added in
//! `on_http_response_headers` next to the upstream's own cookies.
//!
//! Never panics on input or on a host answer: every host call goes through [`host`], whose functions
//! return `Result` and cannot panic (the SDK's `hostcalls` and its `Context` / `HttpContext` methods
//! `panic!` on any status they do not expect, and its String getters on bytes that are not UTF-8).
//! Headers are read as bytes; every host error becomes a log line, a counter or a local reply. The SDK
//! stays for the entry point (`proxy_wasm::main!`), the context traits and the dispatcher that calls them,
//! and the logger ([`host`] says why logging cannot panic).

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
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use request_context::EnvoyRequest;
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Envoy's foreign function that makes the router re-select the route after header changes.
const CLEAR_ROUTE_CACHE: &str = "clear_route_cache";

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

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        if let Ok(level) = host::log_level() {
            proxy_wasm::set_log_level(level);
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
        match config::load(&bytes) {
            Ok(compiled) => {
                log_diagnostics(&compiled.warnings);
                info!(
                    "loaded {} routes to {} backends ({} semantics, {} warnings)",
                    compiled.table.routes().len(),
                    compiled.table.backends().len(),
                    compiled.table.semantics().as_str(),
                    compiled.warnings.len()
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

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            shared: self.shared.clone(),
            response: ForResponse::default(),
            body: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
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

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
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
    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
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
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
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
    let (Some(authority), Some(path)) = (request_header(":authority"), request_header(":path")) else {
        counters.increment(Counter::Rejected);
        return (local_reply(400, "bad request\n"), ForResponse::default(), None);
    };
    let scheme = request_header(":scheme")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "http".to_string());
    let request = Request {
        scheme: &scheme,
        authority: &authority,
        path: &path,
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

/// Reads a request header as UTF-8: `Some("")` when absent, None when its bytes are not UTF-8 (or the
/// host refuses the read).
fn request_header(name: &str) -> Option<String> {
    match host::request_header(name) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        Ok(None) => Some(String::new()),
        Err(status) => {
            error!("cannot read {name}: {status}");
            None
        }
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
    // ABI 0.2.1 modules get the route cache cleared on header writes; this keeps working when that ends.
    if let Err(status) = host::call_foreign_function(CLEAR_ROUTE_CACHE, &[]) {
        debug!("{CLEAR_ROUTE_CACHE}: {status}");
    }
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
