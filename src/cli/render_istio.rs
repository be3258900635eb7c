//! `ingress-wasm render istio`: the filter in an Istio ingress gateway.

use super::render_k8s::write_manifests;
use super::render_oci::read_module;
use super::{err, exit_with, load_or_report, out, print_diagnostic};
use clap::Args;
use ingress_wasm::model::settings::DEFAULT_CLUSTER_TEMPLATE;
use ingress_wasm::render::istio::{istio_cluster_template, manifests, IstioOptions, FAIL_STRATEGIES, PHASES};
use ingress_wasm::render::oci::{self, sha256_hex};
use ingress_wasm::Diagnostic;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RenderIstioArgs {
    /// Ingress files (JSON or YAML; '-' for stdin): the plugin configuration the WasmPlugin carries.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// The filter's .wasm module: its digest goes into the WasmPlugin's sha256.
    #[arg(long, value_name = "FILE")]
    wasm: String,
    /// Where the gateway fetches the module: oci://REGISTRY/REPO:TAG (the image `render oci` writes; sha256
    /// is then that image's manifest digest), file:///path on the gateway, or http(s)://.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Name of the WasmPlugin, Gateway, VirtualService and EnvoyFilter.
    #[arg(long, value_name = "NAME", default_value = "ingress-wasm")]
    name: String,
    /// Namespace of the ingress gateway's pods.
    #[arg(long, value_name = "NAMESPACE", default_value = "istio-system")]
    namespace: String,
    /// A label of the gateway's pods, KEY=VALUE (repeatable).
    #[arg(long = "selector", value_name = "KEY=VALUE", default_values_t = ["istio=ingressgateway".to_string()])]
    selector: Vec<String>,
    /// What the gateway does when the module fails at run time: FAIL_RELOAD (a new VM for the next
    /// requests; Istio 1.27 and later), FAIL_CLOSE (503 from then on) or FAIL_OPEN (requests bypass
    /// the filter: never for routing).
    #[arg(long, value_name = "STRATEGY", default_value = "FAIL_RELOAD")]
    fail_strategy: String,
    /// Where in the gateway's filter chain the filter runs (UNSPECIFIED_PHASE: right before the router).
    #[arg(long, value_name = "PHASE", default_value = "UNSPECIFIED_PHASE")]
    phase: String,
    /// The gateway's HTTP port (its Service port).
    #[arg(long, value_name = "PORT", default_value_t = 80)]
    port: u16,
    /// The Kubernetes cluster domain of Istio's cluster names.
    #[arg(long, value_name = "DOMAIN", default_value = ingress_wasm::render::upstream::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// Where the Secrets that auth-secret annotations name are mounted, as for `render envoy`.
    #[arg(long = "secrets-dir", value_name = "DIR")]
    secrets_dir: Option<String>,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: String,
}

pub fn run(args: &RenderIstioArgs) -> ExitCode {
    exit_with(render(args))
}

fn render(args: &RenderIstioArgs) -> Result<ExitCode, String> {
    let fail_strategy = one_of("--fail-strategy", &args.fail_strategy, &FAIL_STRATEGIES)?;
    let phase = one_of("--phase", &args.phase, &PHASES)?;
    if fail_strategy == "FAIL_OPEN" {
        err("warning: --fail-strategy FAIL_OPEN: when the module fails, requests pass the gateway unrouted");
    }
    let selector = parse_selector(&args.selector)?;
    if !ingress_wasm::model::ingress::is_dns_subdomain(&args.cluster_domain) {
        return Err(format!(
            "--cluster-domain {:?}: not a DNS domain (lower-case labels separated by dots)",
            args.cluster_domain
        ));
    }
    let wasm = read_module(&args.wasm)?;
    let sha256 = if args.url.starts_with("oci://") {
        // Istio compares an image pull with the image's manifest digest, which depends only on the module.
        let image = oci::image(&wasm, env!("CARGO_PKG_VERSION"))?;
        image.manifest.digest.trim_start_matches("sha256:").to_string()
    } else if ["file://", "http://", "https://"]
        .iter()
        .any(|s| args.url.starts_with(s))
    {
        sha256_hex(&wasm)
    } else {
        return Err(format!(
            "--url {:?}: must start with oci://, file://, http:// or https://",
            args.url
        ));
    };
    let (mut inputs, compiled) = match load_or_report(&args.files, None, args.secrets_dir.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // Istio names the clusters: the filter must name them the same way.
    let template = istio_cluster_template(&args.cluster_domain);
    match compiled.settings.cluster_template.as_str() {
        t if t == template => {}
        DEFAULT_CLUSTER_TEMPLATE => {
            let settings = inputs
                .config
                .as_object_mut()
                .map(|config| config.entry("settings").or_insert_with(|| json!({})))
                .and_then(|settings| settings.as_object_mut())
                .ok_or("the plugin configuration has no settings object")?;
            settings.insert("clusterTemplate".into(), json!(template));
        }
        other => {
            return Err(format!(
                "settings.clusterTemplate {other:?}: Istio names its clusters {template:?}; set that or leave it out"
            ))
        }
    }
    let compiled = ingress_wasm::config::load(inputs.config.to_string().as_bytes()).map_err(|problems| {
        problems.iter().for_each(print_diagnostic);
        "the configuration with Istio's cluster names is refused".to_string()
    })?;
    for backend in compiled.table.backends() {
        if backend.port.parse::<u16>().is_err() {
            print_diagnostic(&Diagnostic::warning(
                format!("{}/{}", backend.namespace, backend.service),
                "port",
                format!(
                    "the port is named {:?}: Istio names its clusters by port number, so cluster {:?} does not exist \
                     and its requests answer 503; name the port by number in the Ingress",
                    backend.port, backend.cluster
                ),
            ));
        }
    }
    if let Some(secrets) = inputs.config.get("secrets").and_then(|s| s.as_array()) {
        err(&format!(
            "warning: the WasmPlugin carries the password hashes of {} Secret(s) (basic authentication): whoever \
             can read WasmPlugins in {} can read them",
            secrets.len(),
            args.namespace
        ));
    }
    let files = manifests(&IstioOptions {
        name: &args.name,
        namespace: &args.namespace,
        selector: &selector,
        url: &args.url,
        sha256: &sha256,
        fail_strategy,
        phase,
        plugin_config: &inputs.config,
        cluster_header: compiled.table.cluster_header(),
        port: args.port,
    });
    write_manifests(Path::new(&args.output), &files)?;
    out(&format!(
        "wrote {} ({}; url {}, sha256 {sha256})",
        args.output,
        files
            .iter()
            .map(|m| m.file.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        args.url
    ));
    Ok(ExitCode::SUCCESS)
}

fn one_of<'a>(flag: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, String> {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .ok_or_else(|| format!("{flag} {value:?}: one of {}", allowed.join(", ")))
}

fn parse_selector(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("--selector {pair:?}: expected KEY=VALUE")),
        })
        .collect()
}
