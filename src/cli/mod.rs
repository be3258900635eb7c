//! Command-line parsing and the three commands. Every command reads its files the same way
//! ([`input::read_inputs`]), builds the one plugin configuration the filter would receive
//! ([`ingress_wasm::config::plugin_config`]) and loads it with the filter's own loader, so what the CLI
//! accepts, explains or renders is exactly what the filter does.

mod explain;
mod explain_upstream;
mod input;
mod render;
mod render_istio;
mod render_k8s;
mod render_oci;
mod replay;
mod secrets;
mod services;
mod sync;

use clap::{Args, Parser, Subcommand};
use ingress_wasm::compile::tls::TlsHosts;
use ingress_wasm::config::Compiled;
use ingress_wasm::Diagnostic;
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ingress-wasm",
    version,
    about = "Kubernetes Ingress routing for Envoy: check Ingress files, explain a routing decision, render \
             the Envoy configuration around the ingress-wasm filter",
    after_help = "FILE: JSON or YAML (multi-document allowed), '-' for stdin. Each document may be an \
                  Ingress, an IngressList, a List, or {\"ingresses\": ..., \"settings\": {...}}."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check Ingress files: print every error and warning with its object and field. Exit status: 0 all
    /// served, 1 refused (errors), 3 accepted but some paths are denied (503, fail closed) because their
    /// Ingress restricts access with an annotation ingress-wasm does not enforce.
    Check(CheckArgs),
    /// Explain which rule a request matches, why, and what the backend receives.
    Explain(ExplainArgs),
    /// Render configuration around the filter.
    #[command(subcommand)]
    Render(RenderCommand),
    /// Replay ingress-nginx access logs through the router and report every request that would go
    /// elsewhere. Exit status: 0 nothing differs, 1 errors, 3 some requests would go elsewhere.
    Replay(replay::ReplayArgs),
    /// Keep a directory Envoy watches (filesystem xDS: listeners, clusters, the filter's configuration)
    /// current with the input, one atomic swap per version. Per Ingress, the last valid version keeps
    /// serving when an update is invalid; a new invalid Ingress is left out; DIR/status.json says
    /// which and why. Exit status: 0 all delivered, 4 delivered but some Ingresses left out or kept at
    /// their last valid version, 1 nothing delivered (input unreadable, settings invalid).
    Sync(sync::SyncArgs),
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Ingress files (JSON or YAML; '-' for stdin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Backend endpoints, as for `render envoy` (persistent session affinity needs them).
    #[arg(long, value_name = "FILE")]
    endpoints: Option<String>,
    /// Where the Secrets auth-secret annotations name are mounted, as for `render envoy`.
    #[arg(long = "secrets-dir", value_name = "DIR")]
    secrets_dir: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Ingress files (JSON or YAML; '-' for stdin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// The request: http://host[:port]/path?query (or just /path?query together with -H 'Host: ...').
    #[arg(long, value_name = "URL")]
    url: String,
    /// A request header, 'Name: value' (repeatable). A Host header overrides the URL's host; canaries
    /// and session affinity read the others (Cookie, the canary-by-header, User-Agent).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A request cookie, 'name=value' (repeatable; the same as -H 'Cookie: name=value').
    #[arg(long = "cookie", value_name = "NAME=VALUE")]
    cookies: Vec<String>,
    /// The request method (a CORS preflight is an OPTIONS request).
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "GET")]
    method: String,
    /// Backend endpoints, as for `render envoy` (persistent session affinity needs them).
    #[arg(long, value_name = "FILE")]
    endpoints: Option<String>,
    /// The client's IP address, as Envoy would see it (source ranges read it).
    #[arg(long = "client-ip", value_name = "IP")]
    client_ip: Option<std::net::IpAddr>,
    /// Where the Secrets auth-secret annotations name are mounted, as for `render envoy`.
    #[arg(long = "secrets-dir", value_name = "DIR")]
    secrets_dir: Option<String>,
    /// Print the explanation as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum RenderCommand {
    /// Write DIR/envoy.yaml: a runnable Envoy bootstrap with the filter, one cluster_header route and
    /// one cluster per backend; with --tls-listen and --tls-dir, an HTTPS listener too.
    Envoy(RenderEnvoyArgs),
    /// Write Kubernetes manifests into DIR: Envoy with the filter in a Deployment (with a sync sidecar
    /// that follows the API server), its PodDisruptionBudget, a LoadBalancer Service, the IngressClasses,
    /// RBAC, and the module and configuration in ConfigMaps. Apply with `kubectl apply --server-side -f DIR`.
    K8s(render_k8s::RenderK8sArgs),
    /// Write an Istio WasmPlugin for the ingress gateway (the configuration with Istio's cluster names)
    /// and the Gateway, VirtualService and EnvoyFilter that make the gateway route by the cluster header.
    Istio(render_istio::RenderIstioArgs),
    /// Write the module as an OCI image layout (oci-layout, index.json, blobs/sha256/...) with one layer
    /// holding plugin.wasm, as Istio and Envoy Gateway pull it; push it with oras, crane or skopeo.
    Oci(render_oci::RenderOciArgs),
}

#[derive(Args, Debug)]
pub struct RenderEnvoyArgs {
    /// Ingress files (JSON or YAML; '-' for stdin).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Path of the filter's .wasm module as Envoy will see it (relative paths resolve from Envoy's
    /// working directory).
    #[arg(long, value_name = "PATH")]
    wasm: String,
    /// Address and port of the HTTP listener, e.g. 0.0.0.0:8080 or [::1]:8080.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// JSON object mapping "namespace/service:port" to a list of "host:port" endpoints. Backends not
    /// listed (or with service-upstream) resolve to service.namespace.svc.cluster.local:port.
    #[arg(long, value_name = "FILE")]
    endpoints: Option<String>,
    /// Address and port of the HTTPS listener, which terminates TLS for the hosts of spec.tls (needs
    /// --tls-dir).
    #[arg(long, value_name = "ADDR:PORT", requires = "tls_dir")]
    tls_listen: Option<String>,
    /// Directory of the TLS Secrets, laid out as Kubernetes mounts them:
    /// DIR/<namespace>/<secretName>/tls.crt and tls.key (needs --tls-listen).
    #[arg(long, value_name = "DIR", requires = "tls_listen")]
    tls_dir: Option<String>,
    /// Address and port of Envoy's admin interface (none when absent).
    #[arg(long, value_name = "ADDR:PORT")]
    admin: Option<String>,
    /// The Kubernetes cluster domain: Services resolve as service.namespace.svc.DOMAIN.
    #[arg(long, value_name = "DOMAIN", default_value = ingress_wasm::render::upstream::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// Where the Secrets that auth-secret annotations name are mounted: DIR/<namespace>/<name>/<key>, one
    /// file per key (the layout of a mounted Secret). Secret documents in the FILEs come first. The
    /// rendered configuration then holds their password hashes: keep it as private as the Secrets.
    #[arg(long = "secrets-dir", value_name = "DIR")]
    secrets_dir: Option<String>,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: String,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Render(RenderCommand::Envoy(args)) => render::run(&args),
        Command::Render(RenderCommand::K8s(args)) => render_k8s::run(&args),
        Command::Render(RenderCommand::Istio(args)) => render_istio::run(&args),
        Command::Render(RenderCommand::Oci(args)) => render_oci::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Sync(args) => sync::run(&args),
    }
}

/// Writes one line to stdout; a closed pipe is not worth a panic.
pub fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// Writes one line to stderr.
/// A command's exit status: its own, or 1 after printing the error that stopped it.
pub fn exit_with(result: Result<ExitCode, String>) -> ExitCode {
    result.unwrap_or_else(|message| {
        err(&format!("error: {message}"));
        ExitCode::FAILURE
    })
}

pub fn err(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// A command's report: one pretty JSON object with `--json`, else its text lines.
pub fn print_json_or_text(
    as_json: bool,
    json: impl FnOnce() -> serde_json::Value,
    text: impl FnOnce() -> Vec<String>,
) -> Result<(), ExitCode> {
    if as_json {
        let printed = serde_json::to_string_pretty(&json()).map_err(|e| {
            err(&format!("error: cannot print JSON: {e}"));
            ExitCode::FAILURE
        })?;
        out(&printed);
    } else {
        text().iter().for_each(|line| out(line));
    }
    Ok(())
}

pub fn print_diagnostic(d: &Diagnostic) {
    let prefix = if d.is_error() { "error" } else { "warning" };
    err(&format!("{prefix}: {d}"));
}

/// What the files gave: the inputs, the compiled table when the configuration loaded, and every
/// diagnostic (already printed).
pub struct Loaded {
    pub inputs: input::Inputs,
    pub compiled: Option<Compiled>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// Reads and loads the files (with the endpoints file, if any), printing every diagnostic; Err when a
/// file cannot be read at all.
fn load_files(
    files: &[String],
    endpoints: Option<&str>,
    secrets_dir: Option<&str>,
) -> Result<Loaded, ExitCode> {
    let fail = |message: String| {
        err(&format!("error: {message}"));
        ExitCode::FAILURE
    };
    let mut inputs = input::read_inputs(files, secrets_dir).map_err(fail)?;
    // The EndpointSlices' endpoints, overridden per backend by the --endpoints file.
    let mut all_endpoints = inputs.endpoints.clone();
    if let Some(file) = endpoints {
        all_endpoints.extend(input::read_endpoints(file).map_err(fail)?);
    }
    ingress_wasm::config::set_endpoints(&mut inputs.config, &all_endpoints);
    let mut diagnostics = inputs.notes.clone();
    // The bytes `render` writes into the filter, loaded by the filter's own entry point: the same limits
    // (size included) and the same messages.
    let bytes = inputs.config.to_string().into_bytes();
    let compiled = match ingress_wasm::config::load(&bytes) {
        Ok(compiled) => {
            diagnostics.extend(compiled.warnings.iter().cloned());
            Some(compiled)
        }
        Err(problems) => {
            diagnostics.extend(problems);
            None
        }
    };
    diagnostics.iter().for_each(print_diagnostic);
    Ok(Loaded {
        inputs,
        compiled,
        diagnostics,
    })
}

/// The loaded configuration of the given files, or the exit code after the problems were printed.
/// Warnings are printed either way.
pub fn load_or_report(
    files: &[String],
    endpoints: Option<&str>,
    secrets_dir: Option<&str>,
) -> Result<(input::Inputs, Compiled), ExitCode> {
    let loaded = load_files(files, endpoints, secrets_dir)?;
    let errors = loaded.errors();
    match loaded.compiled {
        Some(compiled) if errors == 0 => Ok((loaded.inputs, compiled)),
        _ => Err(ExitCode::FAILURE),
    }
}

fn check(args: &CheckArgs) -> ExitCode {
    let loaded = match load_files(
        &args.files,
        args.endpoints.as_deref(),
        args.secrets_dir.as_deref(),
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let routes = loaded.compiled.as_ref().map_or(&[][..], |c| c.table.routes());
    let denied: Vec<_> = routes.iter().filter(|r| !r.unenforced.is_empty()).collect();
    let errors = loaded.errors();
    let warnings = loaded.diagnostics.len() - errors;
    for route in &denied {
        err(&format!(
            "denied: {} {}{}: answers 503 (fail closed): {} not enforced",
            route.ingress,
            route.field,
            if route.path.is_empty() {
                String::new()
            } else {
                format!(" ({})", route.path)
            },
            route.unenforced.join(", ")
        ));
    }
    if let Some(compiled) = &loaded.compiled {
        tls_lines(compiled.table.tls()).iter().for_each(|line| err(line));
    }
    out(&format!(
        "{}, {}, {}, {}, {}",
        plural(loaded.inputs.ingress_count, "Ingress", "Ingresses"),
        plural(routes.len(), "route", "routes"),
        plural(denied.len(), "denied route", "denied routes"),
        plural(errors, "error", "errors"),
        plural(warnings, "warning", "warnings"),
    ));
    if errors > 0 {
        ExitCode::FAILURE
    } else if !denied.is_empty() {
        ExitCode::from(DENIED_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

/// What `spec.tls` means, one line per entry that gives hosts (or every other name) a certificate.
fn tls_lines(tls: &TlsHosts) -> Vec<String> {
    let default = tls.default_entry();
    tls.entries()
        .into_iter()
        .map(|(entry, hosts)| {
            let mut names = Vec::new();
            if !hosts.is_empty() {
                names.push(hosts.join(", "));
            }
            if default == Some(entry) {
                names.push("every other name (the default certificate)".to_string());
            }
            let secret = match entry.secret_id() {
                Some(secret) => format!("secret {secret}"),
                None => "no secretName (the default certificate serves them)".to_string(),
            };
            let redirect = if hosts.is_empty() {
                ""
            } else {
                "; plain HTTP to these hosts answers 308 to https:// (ssl-redirect)"
            };
            format!(
                "tls: {} {}: {}: {secret}{redirect}; Envoy terminates TLS when rendered with --tls-listen and \
                 --tls-dir",
                entry.ingress,
                entry.field,
                names.join(" and ")
            )
        })
        .collect()
}

/// `check`'s exit status when the configuration loads but some paths fail closed.
pub const DENIED_EXIT: u8 = 3;

pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}
