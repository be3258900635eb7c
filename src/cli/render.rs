//! `ingress-wasm render envoy`: a runnable Envoy bootstrap around the filter.

use super::input::read_endpoints;
use super::{err, exit_with, load_or_report, out, plural, print_diagnostic, RenderEnvoyArgs};
use ingress_wasm::compile::tls::TlsHosts;
use ingress_wasm::config::keep_affinity_endpoints;
use ingress_wasm::config::Compiled;
use ingress_wasm::render::envoy::{affinity_by_cluster, bootstrap, split_host_port, to_yaml, EnvoyOptions};
use ingress_wasm::render::tls::{chains, TlsListener};
use ingress_wasm::render::upstream::Upstreams;
use ingress_wasm::Diagnostic;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: &RenderEnvoyArgs) -> ExitCode {
    exit_with(render(args))
}

/// The flags of `render envoy` (and `sync`), checked before anything is loaded.
pub struct Flags {
    listen: (String, u16),
    admin: Option<(String, u16)>,
    tls_listen: Option<(String, u16)>,
    endpoints: BTreeMap<String, Vec<String>>,
}

impl Flags {
    pub fn admin(&self) -> Option<&(String, u16)> {
        self.admin.as_ref()
    }

    pub fn endpoints(&self) -> &BTreeMap<String, Vec<String>> {
        &self.endpoints
    }
}

/// Checks the flags; `Err` names the one at fault.
pub fn flags(args: &RenderEnvoyArgs) -> Result<Flags, String> {
    let listen = parse_address(&args.listen).map_err(|e| format!("--listen {:?}: {e}", args.listen))?;
    let admin = match &args.admin {
        Some(admin) => Some(parse_address(admin).map_err(|e| format!("--admin {admin:?}: {e}"))?),
        None => None,
    };
    if !ingress_wasm::model::ingress::is_dns_subdomain(&args.cluster_domain) {
        return Err(format!(
            "--cluster-domain {:?}: not a DNS domain (lower-case labels separated by dots)",
            args.cluster_domain
        ));
    }
    let tls_listen = match &args.tls_listen {
        Some(tls) => Some(parse_address(tls).map_err(|e| format!("--tls-listen {tls:?}: {e}"))?),
        None => None,
    };
    let endpoints = match &args.endpoints {
        Some(file) => read_endpoints(file)?,
        None => BTreeMap::new(),
    };
    Ok(Flags {
        listen,
        admin,
        tls_listen,
        endpoints,
    })
}

fn render(args: &RenderEnvoyArgs) -> Result<ExitCode, String> {
    let flags = flags(args)?;
    // The filter gets the endpoints of the backends with session affinity (persistent mode maps
    // cookies back to them); every endpoint goes into the clusters.
    let (mut inputs, compiled) = match load_or_report(
        &args.files,
        args.endpoints.as_deref(),
        args.secrets_dir.as_deref(),
    ) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let Some((config, tls)) = bootstrap_of(args, &flags, &inputs.endpoints, &mut inputs.config, &compiled)?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let backends = compiled.table.backends();
    let yaml = to_yaml(&config);
    let dir = Path::new(&args.output);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let file = dir.join("envoy.yaml");
    std::fs::write(&file, yaml).map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    let https = match (&tls, &args.tls_listen) {
        (Some(tls), Some(address)) if !tls.is_empty() => {
            let mut certificates: Vec<&str> = tls
                .chains
                .iter()
                .chain(&tls.default)
                .map(|c| c.certificate.as_str())
                .collect();
            certificates.sort_unstable();
            certificates.dedup();
            format!(
                ", HTTPS listener {address} with {}",
                plural(certificates.len(), "certificate", "certificates")
            )
        }
        _ => String::new(),
    };
    out(&format!(
        "wrote {} ({}, listener {}{https})",
        file.display(),
        plural(
            backends.iter().filter(|b| !b.unavailable).count(),
            "cluster",
            "clusters"
        ),
        args.listen
    ));
    Ok(ExitCode::SUCCESS)
}

/// The static bootstrap for a loaded configuration (whose endpoints it trims to those the filter
/// uses), with the HTTPS listener if any; `Ok(None)` after printing why a certificate cannot be used.
/// `slice_endpoints`: the input's EndpointSlices, overridden per backend by the --endpoints file.
pub fn bootstrap_of(
    args: &RenderEnvoyArgs,
    flags: &Flags,
    slice_endpoints: &BTreeMap<String, Vec<String>>,
    plugin_config: &mut Value,
    compiled: &Compiled,
) -> Result<Option<(Value, Option<TlsListener>)>, String> {
    keep_affinity_endpoints(plugin_config, &compiled.table);
    let backends = compiled.table.backends();
    for key in flags.endpoints.keys() {
        let known = backends
            .iter()
            .any(|b| ingress_wasm::compile::cluster::backend_key(&b.namespace, &b.service, &b.port) == *key);
        if !known {
            err(&format!(
                "warning: {}: {key:?} is not a backend of any route",
                args.endpoints.as_deref().unwrap_or("")
            ));
        }
    }
    let mut endpoints = slice_endpoints.clone();
    endpoints.extend(flags.endpoints.clone());
    if !Path::new(&args.wasm).is_file() {
        err(&format!(
            "warning: --wasm {}: no such file (yet); Envoy will need it",
            args.wasm
        ));
    }
    let tls = match (flags.tls_listen.clone(), &args.tls_dir) {
        (Some(listen), Some(dir)) => match https_listener(compiled.table.tls(), listen, dir) {
            Some(listener) => Some(listener),
            None => return Ok(None),
        },
        _ => {
            warn_unserved_tls(compiled.table.tls());
            None
        }
    };
    let options = EnvoyOptions {
        plugin_config: &*plugin_config,
        backends: &backends,
        cluster_header: compiled.table.cluster_header(),
        wasm_path: &args.wasm,
        listen: flags.listen.clone(),
        admin: flags.admin.clone(),
        endpoints: &endpoints,
        affinity: &affinity_by_cluster(&compiled.table),
        upstream: &Upstreams::of(&compiled.table, &args.cluster_domain),
        tls: tls.as_ref(),
    };
    let config = bootstrap(&options).map_err(|e| match &args.endpoints {
        Some(file) if e.starts_with("endpoints[") => format!("{file}: {e}"),
        _ => e,
    })?;
    Ok(Some((config, tls)))
}

/// The HTTPS listener with the certificates of `tls` under `dir`; None (after printing them) when a
/// certificate cannot be used.
fn https_listener(tls: &TlsHosts, listen: (String, u16), dir: &str) -> Option<TlsListener> {
    let (chains, default, problems) = chains(tls, dir);
    problems.iter().for_each(print_diagnostic);
    if problems.iter().any(|p| p.is_error()) {
        return None;
    }
    let listener = TlsListener {
        listen,
        chains,
        default,
    };
    if listener.is_empty() {
        err("warning: --tls-listen: no Ingress gives a host a certificate (spec.tls with a secretName): no HTTPS listener is rendered");
    }
    Some(listener)
}

/// Without --tls-listen and --tls-dir nothing terminates TLS: say so for every host that expects it.
fn warn_unserved_tls(tls: &TlsHosts) {
    for (entry, hosts) in tls.entries() {
        let message = if hosts.is_empty() {
            "the default certificate is not served: without --tls-listen and --tls-dir the rendered Envoy has \
             no HTTPS listener"
                .to_string()
        } else {
            format!(
                "TLS for {} is not served: without --tls-listen and --tls-dir the rendered Envoy has no HTTPS \
                 listener, yet plain HTTP to these hosts answers 308 to https:// (ssl-redirect)",
                hosts.join(", ")
            )
        };
        print_diagnostic(&Diagnostic::warning(&entry.ingress, &entry.field, message));
    }
}

/// `ADDR:PORT`, `[IPv6]:PORT` or `name:PORT` (port 0: the kernel chooses).
fn parse_address(text: &str) -> Result<(String, u16), String> {
    let (host, port) = split_host_port(text)?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("127.0.0.1:10000").unwrap(),
            ("127.0.0.1".to_string(), 10000)
        );
        assert_eq!(parse_address("[::1]:80").unwrap(), ("::1".to_string(), 80));
        assert_eq!(
            parse_address("localhost:1").unwrap(),
            ("localhost".to_string(), 1)
        );
        for bad in ["10000", ":80", "::1:80", "h:99999", "[::1:80"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
