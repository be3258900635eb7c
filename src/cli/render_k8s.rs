//! `ingress-wasm render k8s`: the manifests of a gateway on Kubernetes.

use super::render_oci::read_module;
use super::{err, exit_with, load_or_report, out};
use clap::Args;
use ingress_wasm::render::k8s::{manifests, K8sOptions, Manifest};
use ingress_wasm::render::oci::sha256_hex;
use std::path::Path;
use std::process::ExitCode;

/// The Envoy image the manifests run by default: the version the tests run.
pub const DEFAULT_ENVOY_IMAGE: &str = "envoyproxy/envoy:v1.40.0";

#[derive(Args, Debug)]
pub struct RenderK8sArgs {
    /// Ingress files (JSON or YAML; '-' for stdin): the settings (ingressClasses, ...) and the first
    /// configuration a pod starts with, before the sync sidecar reads the API server.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// The filter's .wasm module, embedded in a ConfigMap (at most 1 MiB).
    #[arg(long, value_name = "FILE")]
    wasm: String,
    /// Name of the Deployment, Service, ServiceAccount and prefix of the ConfigMaps.
    #[arg(long, value_name = "NAME", default_value = "ingress-wasm")]
    name: String,
    /// Namespace of the gateway (the manifests create it).
    #[arg(long, value_name = "NAMESPACE", default_value = "ingress-wasm")]
    namespace: String,
    /// Envoy pods (at least 2, so a node drain or a rollout keeps one serving).
    #[arg(long, value_name = "N", default_value_t = 2)]
    replicas: u32,
    /// The Envoy image.
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_ENVOY_IMAGE)]
    envoy_image: String,
    /// The sync sidecar's image: ingress-wasm, kubectl, bash and coreutils (you build it; see the README).
    #[arg(long, value_name = "IMAGE", default_value = concat!("ingress-wasm:", env!("CARGO_PKG_VERSION")))]
    sync_image: String,
    /// The Kubernetes cluster domain: Services resolve as service.namespace.svc.DOMAIN.
    #[arg(long, value_name = "DOMAIN", default_value = ingress_wasm::render::upstream::DEFAULT_CLUSTER_DOMAIN)]
    cluster_domain: String,
    /// Where the Secrets that auth-secret annotations name are mounted, as for `render envoy`; they go
    /// into a Secret of the gateway, never a ConfigMap.
    #[arg(long = "secrets-dir", value_name = "DIR")]
    secrets_dir: Option<String>,
    /// Output directory (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: String,
}

pub fn run(args: &RenderK8sArgs) -> ExitCode {
    exit_with(render(args))
}

fn render(args: &RenderK8sArgs) -> Result<ExitCode, String> {
    for (flag, value) in [("--name", &args.name), ("--namespace", &args.namespace)] {
        if !ingress_wasm::model::ingress::is_dns_label(value) || value.len() > 40 {
            return Err(format!(
                "{flag} {value:?}: not a DNS label of at most 40 characters (lower-case letters, digits, '-')"
            ));
        }
    }
    if !ingress_wasm::model::ingress::is_dns_subdomain(&args.cluster_domain) {
        return Err(format!(
            "--cluster-domain {:?}: not a DNS domain (lower-case labels separated by dots)",
            args.cluster_domain
        ));
    }
    if args.replicas < 2 {
        err(&format!(
            "warning: --replicas {}: with fewer than 2 pods a node drain or a rollout stops the gateway",
            args.replicas
        ));
    }
    let wasm = read_module(&args.wasm)?;
    let (inputs, compiled) = match load_or_report(&args.files, None, args.secrets_dir.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let sha = sha256_hex(&wasm);
    let files = manifests(&K8sOptions {
        name: &args.name,
        namespace: &args.namespace,
        replicas: args.replicas,
        envoy_image: &args.envoy_image,
        sync_image: &args.sync_image,
        wasm: &wasm,
        wasm_sha256: &sha,
        plugin_config: &inputs.config,
        settings: &compiled.settings,
        cluster_domain: &args.cluster_domain,
    })?;
    write_manifests(Path::new(&args.output), &files)?;
    out(&format!(
        "wrote {} ({}; module sha256 {sha}, {} bytes): apply with kubectl apply --server-side -f {}",
        args.output,
        files
            .iter()
            .map(|m| m.file.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        wasm.len(),
        args.output
    ));
    Ok(ExitCode::SUCCESS)
}

/// Writes each manifest into `dir` (created if missing).
pub fn write_manifests(dir: &Path, files: &[Manifest]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    for manifest in files {
        let file = dir.join(&manifest.file);
        std::fs::write(&file, manifest.to_yaml())
            .map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    }
    Ok(())
}
