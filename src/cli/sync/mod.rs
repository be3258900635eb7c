//! `ingress-wasm sync`: renders the current input into the directory Envoy watches (LDS, CDS and the
//! filter's ECDS files, [`ingress_wasm::render::dynamic`]), one atomic swap per version, keeping per
//! Ingress the last version that was valid ([`last_good`]), and saying in `DIR/status.json` and on
//! stderr what was refused. With `--watch` it keeps doing so as the input changes.

mod input_stream;
pub mod last_good;
mod xds_dir;

use super::input::read_inputs;
use super::render::{bootstrap_of, flags, Flags};
use super::{err, exit_with, out, plural, print_diagnostic, RenderEnvoyArgs};
use clap::Args;
use ingress_wasm::render::dynamic::{self, XdsFiles};
use ingress_wasm::Diagnostic;
use last_good::{select, Outcome, Refused};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;
use xds_dir::{State, XdsDir};

/// Exit status when everything valid was delivered but some Ingresses were left out or kept at their
/// last valid version.
pub const PARTIAL_EXIT: u8 = 4;

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The input, as `render envoy` reads its FILEs (JSON or YAML: Ingresses, Lists, Secrets,
    /// settings); '-' for stdin, where with --watch every JSON document is a complete new input.
    #[arg(long, value_name = "FILE")]
    input: String,
    /// The directory Envoy watches (created if missing).
    #[arg(long, value_name = "DIR")]
    out: String,
    /// Keep running: sync again whenever the input file changes.
    #[arg(long)]
    watch: bool,
    /// How often --watch reads the input file, in milliseconds.
    #[arg(long = "interval-ms", value_name = "MS", default_value_t = 1000)]
    interval_ms: u64,
    /// When a version adds clusters, they are delivered first, alone, and the routes that use them
    /// this many milliseconds later (0: both at once).
    #[arg(long = "settle-ms", value_name = "MS", default_value_t = 500)]
    settle_ms: u64,
    /// Also write an Envoy bootstrap that reads everything else from DIR (run `envoy -c FILE`).
    #[arg(long, value_name = "FILE")]
    bootstrap: Option<String>,
    /// DIR as Envoy sees it, when Envoy mounts it elsewhere (written into the files and the bootstrap;
    /// default: --out).
    #[arg(long = "envoy-dir", value_name = "DIR")]
    envoy_dir: Option<String>,
    /// Path of the filter's .wasm module as Envoy will see it.
    #[arg(long, value_name = "PATH")]
    wasm: String,
    /// Address and port of the HTTP listener.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// Address and port of Envoy's admin interface, for --bootstrap.
    #[arg(long, value_name = "ADDR:PORT")]
    admin: Option<String>,
    /// Backend endpoints, as for `render envoy`.
    #[arg(long, value_name = "FILE")]
    endpoints: Option<String>,
    /// Address and port of the HTTPS listener, as for `render envoy` (needs --tls-dir).
    #[arg(long, value_name = "ADDR:PORT", requires = "tls_dir")]
    tls_listen: Option<String>,
    /// Directory of the TLS Secrets, as for `render envoy` (needs --tls-listen).
    #[arg(long, value_name = "DIR", requires = "tls_listen")]
    tls_dir: Option<String>,
    /// The Kubernetes cluster domain, as for `render envoy`.
    #[arg(long, value_name = "DOMAIN", default_value = ingress_wasm::render::upstream::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// Where the Secrets that auth-secret annotations name are mounted, as for `render envoy`.
    #[arg(long = "secrets-dir", value_name = "DIR")]
    secrets_dir: Option<String>,
}

pub fn run(args: &SyncArgs) -> ExitCode {
    exit_with(start(args).map(ExitCode::from))
}

/// What one pass did.
struct Pass {
    code: u8,
    /// The delivered version still carries clusters only the previous one used: sync again soon.
    leftovers: bool,
}

fn start(args: &SyncArgs) -> Result<u8, String> {
    let render = RenderEnvoyArgs {
        files: vec![args.input.clone()],
        wasm: args.wasm.clone(),
        listen: args.listen.clone(),
        endpoints: args.endpoints.clone(),
        tls_listen: args.tls_listen.clone(),
        tls_dir: args.tls_dir.clone(),
        admin: args.admin.clone(),
        cluster_domain: args.cluster_domain.clone(),
        secrets_dir: args.secrets_dir.clone(),
        output: String::new(),
    };
    let flags = flags(&render)?;
    let xds = XdsDir::open(&args.out)?;
    let envoy_dir = args.envoy_dir.clone().unwrap_or_else(|| args.out.clone());
    if let Some(file) = &args.bootstrap {
        let yaml = ingress_wasm::render::envoy::to_yaml(&dynamic::bootstrap(&envoy_dir, flags.admin()));
        let tmp = format!("{file}.tmp");
        std::fs::write(&tmp, yaml).map_err(|e| format!("{tmp}: cannot write: {e}"))?;
        std::fs::rename(&tmp, file).map_err(|e| format!("{file}: cannot write: {e}"))?;
        out(&format!("wrote {file} (Envoy reads {envoy_dir})"));
    }
    let syncer = Syncer {
        settle: (args.settle_ms > 0).then(|| Duration::from_millis(args.settle_ms)),
        render,
        flags,
        xds,
        envoy_dir,
    };
    if !args.watch {
        return Ok(syncer.pass(&args.input).code);
    }
    let interval = Duration::from_millis(args.interval_ms.max(10));
    if args.input == "-" {
        return watch_stdin(&syncer, interval);
    }
    watch_file(&syncer, &args.input, interval)
}

/// Syncs whenever the file's bytes change (and once more after a version that kept leftover clusters).
fn watch_file(syncer: &Syncer, file: &str, interval: Duration) -> Result<u8, String> {
    let mut seen: Option<Vec<u8>> = None;
    let mut again = false;
    let mut unreadable = false;
    loop {
        match std::fs::read(file) {
            Ok(bytes) => {
                unreadable = false;
                if seen.as_ref() != Some(&bytes) || again {
                    again = syncer.pass(file).leftovers;
                    seen = Some(bytes);
                }
            }
            Err(e) if !unreadable => {
                err(&format!(
                    "error: {file}: cannot read: {e}; the served version stays"
                ));
                unreadable = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(interval);
    }
}

/// Syncs each JSON document read from stdin; returns the last pass's status at end of input.
fn watch_stdin(syncer: &Syncer, interval: Duration) -> Result<u8, String> {
    let scratch = syncer.xds.scratch("input.json");
    let mut documents = input_stream::Documents::new(std::io::stdin().lock());
    let mut code = 0;
    while let Some(document) = documents.next_document()? {
        std::fs::write(&scratch, &document)
            .map_err(|e| format!("{}: cannot write: {e}", scratch.display()))?;
        let path = scratch.to_string_lossy().into_owned();
        let mut pass = syncer.pass(&path);
        while pass.leftovers {
            std::thread::sleep(interval);
            pass = syncer.pass(&path);
        }
        code = pass.code;
    }
    Ok(code)
}

struct Syncer {
    /// How long new clusters are served alone before the routes that use them (None: at once).
    settle: Option<Duration>,
    render: RenderEnvoyArgs,
    flags: Flags,
    xds: XdsDir,
    envoy_dir: String,
}

impl Syncer {
    /// One sync of `file`; never fails: what went wrong is printed and in the status file.
    fn pass(&self, file: &str) -> Pass {
        let state = self.xds.state();
        let result = self.deliver(file, &state);
        let (code, status, leftovers) = match result {
            Ok(done) => {
                let code = if done.refused.is_empty() { 0 } else { PARTIAL_EXIT };
                (code, status_of(&done, code), done.leftovers)
            }
            Err(errors) => {
                for e in &errors {
                    err(&format!("error: {e}"));
                }
                err(&format!(
                    "error: nothing delivered; {}",
                    match state.version {
                        0 => "Envoy has no configuration yet".to_string(),
                        v => format!("version {v} keeps serving"),
                    }
                ));
                let status = json!({
                    "version": state.version,
                    "changed": false,
                    "exitCode": 1,
                    "syncedAt": now(),
                    "errors": errors,
                    "refused": [],
                });
                (1, status, false)
            }
        };
        if let Err(e) = self.xds.write_status(&status) {
            err(&format!("error: {e}"));
            return Pass { code: 1, leftovers };
        }
        Pass { code, leftovers }
    }

    /// Reads, selects, renders and swaps. `Err`: why nothing was delivered.
    fn deliver(&self, file: &str, state: &State) -> Result<Delivered, Vec<String>> {
        // An empty file is a file being written (`kubectl get ... > FILE`), not a wish to remove every
        // route; an empty List says that.
        if file != "-" {
            let bytes = std::fs::read(file).map_err(|e| vec![format!("{file}: cannot read: {e}")])?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(vec![format!(
                    "{file}: is empty (being written?); an empty List removes every route"
                )]);
            }
        }
        let mut inputs =
            read_inputs(&[file.to_string()], self.render.secrets_dir.as_deref()).map_err(|e| vec![e])?;
        inputs.notes.iter().for_each(print_diagnostic);
        let broken: Vec<String> = inputs
            .notes
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        if !broken.is_empty() {
            // A document that could not be read may hold Ingresses: judging the rest would delete them.
            return Err(broken);
        }
        // The EndpointSlices' endpoints, overridden per backend by the --endpoints file.
        let mut endpoints = inputs.endpoints.clone();
        endpoints.extend(self.flags.endpoints().clone());
        ingress_wasm::config::set_endpoints(&mut inputs.config, &endpoints);
        let items = match inputs.config["ingresses"]["items"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let mut selection = select(&inputs.config, items, &state.ingresses).map_err(|problems| {
            problems
                .iter()
                .filter(|d| d.is_error())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })?;
        selection.compiled.warnings.iter().for_each(print_diagnostic);
        for refused in &selection.refused {
            refused.problems.iter().for_each(print_diagnostic);
            let what = match refused.outcome {
                Outcome::KeptOld => "its last valid version keeps serving",
                Outcome::LeftOut => "not served",
            };
            err(&format!(
                "{}: {}: {what}",
                refused.outcome.as_str(),
                refused.ingress
            ));
        }
        let (rendered, _) = bootstrap_of(
            &self.render,
            &self.flags,
            &inputs.endpoints,
            &mut selection.config,
            &selection.compiled,
        )
        .map_err(|e| vec![e])?
        .ok_or_else(|| vec!["a certificate of the HTTPS listener cannot be used (above)".to_string()])?;
        let own: Vec<String> = selection
            .compiled
            .table
            .backends()
            .into_iter()
            .map(|b| b.cluster)
            .collect();
        let current = self.xds.current();
        // Clusters only the previous version routed to stay one more version: whichever of the new
        // filter configuration and the new clusters Envoy applies first, no route lacks its cluster.
        let leftover: Vec<Value> = current
            .as_ref()
            .map(|files| dynamic::clusters_of(&files.cds))
            .unwrap_or_default()
            .into_iter()
            .filter(|c| {
                c["name"].as_str().is_some_and(|name| {
                    state.clusters.iter().any(|s| s == name) && !own.iter().any(|o| o == name)
                })
            })
            .collect();
        let files_of = |version: u64| -> Result<XdsFiles, Vec<String>> {
            let version = version.to_string();
            let mut files = dynamic::split(&rendered, &self.envoy_dir, &version).map_err(|e| vec![e])?;
            files.cds = dynamic::with_clusters(&files.cds, &leftover, &version);
            Ok(files)
        };
        let unchanged = current.is_some() && current == Some(files_of(state.version)?);
        let mut version = state.version;
        if !unchanged {
            version += 1;
            // New clusters go first, alone: Envoy applies each file on its own, and a route whose
            // cluster is not there yet answers 503.
            if let (Some(current), Some(settle)) = (&current, self.settle) {
                let present = dynamic::cluster_names(&current.cds);
                let added: Vec<Value> = dynamic::clusters_of(&files_of(version)?.cds)
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| c["name"] == p.as_str()))
                    .collect();
                if !added.is_empty() {
                    let first = XdsFiles {
                        cds: dynamic::with_clusters(&current.cds, &added, &version.to_string()),
                        ..current.clone()
                    };
                    self.xds.publish(version, &first).map_err(|e| vec![e])?;
                    std::thread::sleep(settle);
                    version += 1;
                }
            }
            self.xds
                .publish(version, &files_of(version)?)
                .map_err(|e| vec![e])?;
        }
        let next = State {
            version,
            ingresses: selection.delivered.clone(),
            clusters: own.clone(),
        };
        self.xds.write_state(&next).map_err(|e| vec![e])?;
        let routes = selection.compiled.table.routes().len();
        let mut summary = format!(
            "{} {} version {version}: {}, {}, {}",
            if unchanged { "unchanged" } else { "synced" },
            self.xds.path().display(),
            plural(selection.delivered.len(), "Ingress", "Ingresses"),
            plural(routes, "route", "routes"),
            plural(own.len(), "cluster", "clusters"),
        );
        let kept = selection
            .refused
            .iter()
            .filter(|r| r.outcome == Outcome::KeptOld)
            .count();
        let left = selection.refused.len() - kept;
        if !selection.refused.is_empty() {
            summary.push_str(&format!(
                "; {kept} kept at their last valid version, {left} left out"
            ));
        }
        out(&summary);
        Ok(Delivered {
            version,
            changed: !unchanged,
            ingresses: selection.delivered.len(),
            routes,
            refused: selection.refused,
            leftovers: !leftover.is_empty(),
        })
    }
}

struct Delivered {
    version: u64,
    changed: bool,
    ingresses: usize,
    routes: usize,
    refused: Vec<Refused>,
    leftovers: bool,
}

fn status_of(done: &Delivered, code: u8) -> Value {
    let refused: Vec<Value> = done
        .refused
        .iter()
        .map(|r| {
            json!({
                "ingress": r.ingress,
                "outcome": match r.outcome { Outcome::KeptOld => "keptOld", Outcome::LeftOut => "leftOut" },
                "problems": r.problems.iter().map(problem).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "version": done.version,
        "changed": done.changed,
        "exitCode": code,
        "syncedAt": now(),
        "ingresses": done.ingresses,
        "routes": done.routes,
        "refused": refused,
        "errors": [],
    })
}

fn problem(d: &Diagnostic) -> Value {
    json!({"field": d.field, "message": d.message, "text": d.to_string()})
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
