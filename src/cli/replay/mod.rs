//! `ingress-wasm replay`: ingress-nginx access logs through the router, request by request, and every
//! request that would go elsewhere reported.
//!
//! Each line is read with the log's format ([`format`]), turned into the request and what ingress-nginx
//! did with it ([`record`]), decided by the same loader and `decide` the filter runs, and compared
//! ([`replayer`]): the backend by ingress-nginx's upstream name of the backend the router chose, the
//! canary, the rewrite (when the log has `$uri`), redirects, 404s, access refusals (by the log's client
//! address; what the log cannot show, [`unseen_access`]) and session cookies. The counts and
//! the differences are kept in bounded memory ([`tally`]) and reported ([`report`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod canary_weights;
mod candidate_hosts;
mod context;
mod difference;
mod escape;
mod fields;
mod format;
mod json_line;
mod line_error;
mod log_reader;
mod progress;
mod record;
mod replayer;
mod report;
mod session;
mod tally;
mod template;
mod text_line;
mod unseen_access;
mod upstream_names;
mod uri;

use super::{err, load_or_report, print_json_or_text};
use canary_weights::CanaryWeights;
use clap::Args;
use escape::Escape;
use fields::Var;
use format::LogFormat;
use line_error::{LineError, LineErrorKind};
use log_reader::LogLines;
use progress::Progress;
use record::Logged;
use replayer::Replayer;
use report::Run;
use std::process::ExitCode;
use tally::{Example, Tally};

/// The exit status when some request would go elsewhere.
pub const DIFFERENT_EXIT: u8 = 3;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Ingress files (JSON or YAML; '-' for stdin): the configuration to migrate to.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// An ingress-nginx access log ('-' for stdin; gzip is recognised). Repeatable.
    #[arg(long = "log", required = true, value_name = "ACCESS_LOG")]
    logs: Vec<String>,
    /// The log's format: 'default' (ingress-nginx's default log-format-upstream), 'json' (JSON lines
    /// keyed by nginx variable names), or the ConfigMap's log-format-upstream itself, in nginx's
    /// $variable syntax (a JSON object template for log-format-escape-json). Without it: JSON lines when
    /// the first line is a JSON object, else the default.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// How a text format escapes values: default, json (log-format-escape-json) or none
    /// (log-format-escape-none).
    #[arg(long, value_enum, value_name = "ESCAPE")]
    escape: Option<Escape>,
    /// Backend endpoints, as for `render envoy` (persistent session affinity needs them).
    #[arg(long, value_name = "FILE")]
    endpoints: Option<String>,
    /// How far, in percentage points, a weighted canary's logged share may be from its weight, on top of
    /// the sampling noise of the log's size (three standard errors).
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    canary_tolerance: f64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: &ReplayArgs) -> ExitCode {
    if !(0.0..=100.0).contains(&args.canary_tolerance) {
        err("error: --canary-tolerance: expected percentage points from 0 to 100");
        return ExitCode::from(2);
    }
    let compiled = match load_or_report(&args.files, args.endpoints.as_deref(), None) {
        Ok((_, compiled)) => compiled,
        Err(code) => return code,
    };
    let table = &compiled.table;
    let mut replay = Replay {
        args,
        replayer: Replayer::new(table),
        tally: Tally::new(CanaryWeights::new(
            table.canaries().len(),
            args.canary_tolerance / 100.0,
        )),
        format: None,
        seen: Seen::default(),
        progress: Progress::new(args.quiet),
    };
    for log in &args.logs {
        if let Err(message) = replay.log(log) {
            replay.progress.finish();
            err(&format!("error: {message}"));
            return ExitCode::FAILURE;
        }
    }
    replay.progress.finish();
    let Replay {
        tally, format, seen, ..
    } = replay;
    let not_compared = seen.not_compared(table);
    let weights = tally.canaries.checks(table);
    let run = Run {
        logs: &args.logs,
        format: format
            .as_ref()
            .map_or("no format (the log is empty)", |f| f.description),
        has_host: seen.host,
        not_compared: &not_compared,
        table,
        tally: &tally,
        weights: &weights,
    };
    if let Err(code) = print_json_or_text(args.json, || run.json(), || run.text()) {
        return code;
    }
    if tally.requests == 0 && tally.unparseable > 0 {
        err("error: no line of the log could be read with this format: give --format (and --escape)");
        return ExitCode::FAILURE;
    }
    if tally.lines == 0 {
        err("warning: the log holds no line: nothing was compared");
    }
    if run.differs() {
        ExitCode::from(DIFFERENT_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

/// What the lines carried, for what the report cannot compare.
#[derive(Debug, Default)]
struct Seen {
    host: bool,
    uri: bool,
    location: bool,
    cookie: bool,
    /// A client address (`$remote_addr`).
    client: bool,
    /// `$http_authorization`.
    authorization: bool,
}

impl Seen {
    fn not_compared(&self, table: &ingress_wasm::RouteTable) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.uri {
            notes.push(
                "upstream paths: the log has no $uri (the path after ingress-nginx's rewrites); add it to \
                 log-format-upstream to compare rewrites"
                    .to_string(),
            );
        }
        if !self.location {
            notes.push(
                "redirect Locations: the log has no $sent_http_location; redirect statuses are compared"
                    .to_string(),
            );
        }
        let policies = || table.routes().iter().filter_map(|r| r.policy.as_deref());
        if !self.client && policies().any(|p| p.source_ranges.is_some()) {
            notes.push(
                "client addresses: the log has no $remote_addr; a request a source range would refuse is \
                 compared as if the client was let in (the location's backend, or ingress-nginx's own 401 or 403)"
                    .to_string(),
            );
        }
        if !self.authorization && policies().any(|p| p.basic_auth.is_some()) {
            notes.push(
                "basic-auth credentials: a log does not show them; a request basic auth would refuse is compared \
                 as if authenticated (the location's backend, or ingress-nginx's own 401)"
                    .to_string(),
            );
        }
        if !table.affinities().is_empty() {
            notes.push(if self.cookie {
                "session endpoints: which endpoint a session reaches is Envoy's choice (the log's $upstream_addr \
                 names pods); that a session cookie keeps its backend is compared"
                    .to_string()
            } else {
                "session affinity: the log has no $http_cookie, so sessions cannot be followed; which endpoint \
                 a session reaches is Envoy's choice in any case"
                    .to_string()
            });
        }
        notes
    }
}

struct Replay<'a, 't> {
    args: &'a ReplayArgs,
    replayer: Replayer<'t>,
    tally: Tally,
    /// Chosen at the first line of the first log.
    format: Option<LogFormat>,
    seen: Seen,
    progress: Progress,
}

impl Replay<'_, '_> {
    /// Replays one log; Err only when it cannot be opened or the format is unusable.
    fn log(&mut self, path: &str) -> Result<(), String> {
        let mut lines = LogLines::open(path)?;
        let name = lines.name.clone();
        loop {
            let (number, line) = match lines.next_line() {
                None => break,
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    let error = LineError::new(LineErrorKind::Truncated, format!("the log ends early: {e}"));
                    self.tally.bad_line(&name, lines.number + 1, error);
                    break;
                }
            };
            let text = match line {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => text,
                Err(error) => {
                    self.tally.lines += 1;
                    self.tally.bad_line(&name, number, error);
                    continue;
                }
            };
            self.tally.lines += 1;
            self.progress.tick(self.tally.lines);
            let format = match &mut self.format {
                Some(format) => format,
                None => {
                    let chosen = LogFormat::choose(self.args.format.as_deref(), self.args.escape, text)?;
                    self.format.insert(chosen)
                }
            };
            let mut fields = match format.read(text) {
                Ok(fields) => fields,
                Err(error) => {
                    self.tally.bad_line(&name, number, error);
                    continue;
                }
            };
            let headers = &format.headers;
            self.seen.uri |= fields.has(Var::Uri);
            self.seen.location |= fields.has(Var::SentHttpLocation);
            self.seen.cookie |= headers.index("cookie").is_some_and(|i| fields.carries_header(i));
            self.seen.authorization |= headers
                .index("authorization")
                .is_some_and(|i| fields.carries_header(i));
            let logged = match Logged::from_fields(&mut fields) {
                Ok(Ok(logged)) => logged,
                Ok(Err(_)) => {
                    self.tally.not_routed += 1;
                    continue;
                }
                Err(error) => {
                    self.tally.bad_line(&name, number, error);
                    continue;
                }
            };
            self.seen.host |= logged.host().is_some();
            self.seen.client |= logged.client.is_some();
            let replayed = self.replayer.replay(&logged, &fields, headers);
            self.tally.add(replayed, |detail, host| Example {
                log: name.clone(),
                line: number,
                method: logged.method().to_string(),
                path: logged.path().to_string(),
                host,
                detail,
            });
        }
        Ok(())
    }
}
