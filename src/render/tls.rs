//! The HTTPS listener: Envoy terminates TLS for the hosts of `spec.tls` ([`TlsHosts`], the same table the
//! filter's ssl-redirect reads), with one filter chain per certificate answering the SNI names of the hosts
//! that use it, and the default certificate (a `spec.tls` entry without hosts) for every other name.
//! Every chain runs the same HTTP connection manager as the plain listener; routing still uses the `Host`
//! header, as the Ingress spec says (the SNI name only picks the certificate), and `:scheme` is `https`.
//!
//! Certificates are files laid out as Kubernetes mounts Secrets of type `kubernetes.io/tls`:
//! `DIR/<namespace>/<secretName>/tls.crt` and `tls.key`. The paths are written into the bootstrap as given
//! (relative ones resolve from Envoy's working directory); [`chains`] checks that each file can be read and
//! holds PEM, so a missing Secret is an error naming the Ingress, not an Envoy that fails to start.

use crate::compile::tls::{TlsEntry, TlsHosts};
use crate::diagnostics::Diagnostic;
use serde_json::{json, Value};
use std::path::Path;

/// Name of the HTTPS listener.
pub const LISTENER_NAME: &str = "ingress_https";
/// `stat_prefix` of its HTTP connection manager (`http.ingress_https.*` stats).
pub const STAT_PREFIX: &str = "ingress_https";
/// The certificate chain file of a mounted TLS Secret.
pub const CERTIFICATE_FILE: &str = "tls.crt";
/// The private key file of a mounted TLS Secret.
pub const KEY_FILE: &str = "tls.key";

/// One filter chain of the HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsChain {
    /// The SNI names it answers (`*.foo.com` for wildcards), sorted; empty for the default chain.
    pub server_names: Vec<String>,
    /// Path of the certificate chain, as Envoy will open it.
    pub certificate: String,
    /// Path of the private key, as Envoy will open it.
    pub private_key: String,
}

/// What the HTTPS listener needs.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// Address and port.
    pub listen: (String, u16),
    /// The chains for named hosts.
    pub chains: Vec<TlsChain>,
    /// The chain for every other name (and clients without SNI), when a `spec.tls` entry has no hosts.
    pub default: Option<TlsChain>,
}

impl TlsListener {
    /// Whether the listener would answer no name at all.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.default.is_none()
    }
}

/// The filter chains for `tls`, with the certificates under `dir`. Errors (a Secret whose files cannot be
/// read or hold no PEM, a name that is not a Secret name) name the Ingress and its `spec.tls` entry;
/// warnings name entries whose hosts get no certificate of their own.
pub fn chains(tls: &TlsHosts, dir: &str) -> (Vec<TlsChain>, Option<TlsChain>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let default_entry = tls.default_entry();
    // One chain per certificate, in the order of the oldest entry naming it.
    let mut named: Vec<(String, TlsChain)> = Vec::new();
    let mut default = None;
    for (entry, hosts) in tls.entries() {
        let Some(id) = entry.secret_id() else {
            if !hosts.is_empty() {
                let served_by = match default_entry.and_then(TlsEntry::secret_id) {
                    Some(secret) => format!("the default certificate (secret {secret}) serves them"),
                    None => {
                        "there is no default certificate (a tls entry with a secretName and no hosts), so \
                             HTTPS handshakes for them fail"
                            .to_string()
                    }
                };
                problems.push(Diagnostic::warning(
                    &entry.ingress,
                    &entry.field,
                    format!(
                        "names no secretName: its hosts ({}) get no certificate of their own; {served_by}",
                        hosts.join(", ")
                    ),
                ));
            }
            continue;
        };
        let index = match named.iter().position(|(known, _)| *known == id) {
            Some(index) => index,
            None => match certificate_files(entry, dir) {
                Ok(chain) => {
                    named.push((id, chain));
                    named.len() - 1
                }
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            },
        };
        let chain = &mut named[index].1;
        if default_entry == Some(entry) {
            default = Some(TlsChain {
                server_names: Vec::new(),
                ..chain.clone()
            });
        }
        chain.server_names.extend(hosts);
    }
    let chains = named
        .into_iter()
        .map(|(_, mut chain)| {
            chain.server_names.sort();
            chain
        })
        .filter(|chain| !chain.server_names.is_empty())
        .collect();
    (chains, default, problems)
}

/// The files of `entry`'s Secret under `dir`, checked.
fn certificate_files(entry: &TlsEntry, dir: &str) -> Result<TlsChain, Diagnostic> {
    let field = format!("{}.secretName", entry.field);
    let problem = |message: String| Diagnostic::error(&entry.ingress, &field, message);
    let secret = entry.secret.as_deref().unwrap_or_default();
    if !is_object_name(secret) {
        return Err(problem(format!(
            "{secret:?} is not a Secret name (a lower-case DNS subdomain)"
        )));
    }
    if !is_object_name(&entry.namespace) {
        return Err(problem(format!(
            "namespace {:?} is not a namespace name",
            entry.namespace
        )));
    }
    let folder = Path::new(dir).join(&entry.namespace).join(secret);
    // Each file must hold a PEM block of its kind (`-----BEGIN <label>-----`).
    let read = |file: &str, what: &str, labels: &[&str]| {
        let path = folder.join(file);
        let shown = path.display().to_string();
        let secret = format!("secret {}/{secret}: {shown}", entry.namespace);
        let text = std::fs::read(&path).map_err(|e| problem(format!("{secret}: cannot read: {e}")))?;
        let pem = labels.iter().any(|label| {
            let begin = format!("-----BEGIN {label}-----");
            text.windows(begin.len()).any(|w| w == begin.as_bytes())
        });
        if !pem {
            return Err(problem(format!("{secret}: holds no PEM {what}")));
        }
        Ok(shown)
    };
    Ok(TlsChain {
        server_names: Vec::new(),
        certificate: read(CERTIFICATE_FILE, "certificate", &["CERTIFICATE"])?,
        private_key: read(
            KEY_FILE,
            "private key",
            &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
        )?,
    })
}

/// A Kubernetes object name (DNS subdomain): lower-case letters, digits, `-` and `.`, at most 253 bytes,
/// starting and ending with a letter or digit. Never `..` or a `/`: it becomes a path.
fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
}

/// The HTTPS listener: `hcm` (the HTTP connection manager filter, `:scheme` pinned to `https`) behind
/// TLS in every chain, the TLS inspector reading the SNI name.
pub fn listener(tls: &TlsListener, address: Value, hcm: &Value) -> Value {
    let chain = |c: &TlsChain| {
        let mut chain = json!({
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {
                        "alpn_protocols": ["h2", "http/1.1"],
                        "tls_certificates": [{
                            "certificate_chain": {"filename": c.certificate},
                            "private_key": {"filename": c.private_key},
                        }],
                    },
                },
            },
            "filters": [hcm],
        });
        if !c.server_names.is_empty() {
            chain["filter_chain_match"] = json!({"server_names": c.server_names});
        }
        chain
    };
    let mut listener = json!({
        "name": LISTENER_NAME,
        "address": address,
        "listener_filters": [{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
            },
        }],
        "filter_chains": tls.chains.iter().map(chain).collect::<Vec<_>>(),
    });
    if let Some(default) = &tls.default {
        listener["default_filter_chain"] = chain(default);
    }
    listener
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_value;
    use std::path::PathBuf;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

    fn ingress(
        ns: &str,
        name: &str,
        created: &str,
        hosts: &[&str],
        tls: serde_json::Value,
    ) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = hosts
            .iter()
            .map(|h| {
                serde_json::json!({"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "svc", "port": {"number": 80}}}}]}})
            })
            .collect();
        serde_json::json!({"kind": "Ingress", "metadata": {"namespace": ns, "name": name, "creationTimestamp": created},
            "spec": {"rules": rules, "tls": tls}})
    }

    fn table(items: Vec<serde_json::Value>) -> crate::decide::RouteTable {
        match load_value(&serde_json::json!({"ingresses": items})) {
            Ok(c) => c.table,
            Err(d) => panic!("{d:?}"),
        }
    }

    /// A scratch directory with the Secrets `ns/name` as mounted files (a bad key for `bad-key`).
    fn secrets(label: &str, names: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ingress-wasm-tls-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for name in names {
            let folder = dir.join(name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(CERTIFICATE_FILE), CERT).unwrap();
            let key = if name.ends_with("bad-key") {
                "not a key"
            } else {
                KEY
            };
            std::fs::write(folder.join(KEY_FILE), key).unwrap();
        }
        dir
    }

    #[test]
    fn one_chain_per_certificate_and_the_default() {
        let t = table(vec![
            ingress(
                "shop",
                "a",
                "2024-01-01T00:00:00Z",
                &["a.test", "b.test"],
                serde_json::json!([
                    {"hosts": ["a.test", "*.wild.test"], "secretName": "ab"},
                    {"hosts": ["b.test"], "secretName": "b"},
                ]),
            ),
            ingress(
                "shop",
                "c",
                "2024-01-02T00:00:00Z",
                &["c.test", "d.test"],
                serde_json::json!([
                    {"hosts": ["c.test"], "secretName": "ab"},
                    {"secretName": "fallback"},
                    {"hosts": ["e.test"]},
                ]),
            ),
        ]);
        let dir = secrets("chains", &["shop/ab", "shop/b", "shop/fallback"]);
        let (chains, default, problems) = chains(t.tls(), &dir.display().to_string());
        let file = |secret: &str, f: &str| dir.join(secret).join(f).display().to_string();
        assert_eq!(
            chains,
            vec![
                TlsChain {
                    server_names: vec!["*.wild.test".into(), "a.test".into(), "c.test".into()],
                    certificate: file("shop/ab", CERTIFICATE_FILE),
                    private_key: file("shop/ab", KEY_FILE),
                },
                TlsChain {
                    server_names: vec!["b.test".into()],
                    certificate: file("shop/b", CERTIFICATE_FILE),
                    private_key: file("shop/b", KEY_FILE),
                },
                TlsChain {
                    server_names: vec!["d.test".into()],
                    certificate: file("shop/fallback", CERTIFICATE_FILE),
                    private_key: file("shop/fallback", KEY_FILE),
                },
            ]
        );
        assert_eq!(
            default,
            Some(TlsChain {
                server_names: vec![],
                certificate: file("shop/fallback", CERTIFICATE_FILE),
                private_key: file("shop/fallback", KEY_FILE),
            })
        );
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["shop/c: spec.tls[2]: names no secretName: its hosts (e.test) get no certificate of their own; \
              the default certificate (secret shop/fallback) serves them"]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unusable_secrets_are_errors_naming_the_ingress() {
        let t = table(vec![ingress(
            "shop",
            "a",
            "2024-01-01T00:00:00Z",
            &[],
            serde_json::json!([
                {"hosts": ["missing.test"], "secretName": "missing"},
                {"hosts": ["key.test"], "secretName": "bad-key"},
                {"hosts": ["up.test"], "secretName": "../../etc"},
                {"hosts": ["nocert.test"]},
            ]),
        )]);
        let dir = secrets("errors", &["shop/bad-key"]);
        let (chains, default, problems) = chains(t.tls(), &dir.display().to_string());
        assert!(chains.is_empty() && default.is_none());
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(problems[..3].iter().all(Diagnostic::is_error));
        let missing = dir.join("shop/missing/tls.crt").display().to_string();
        assert!(
            shown[0].starts_with(&format!(
                "shop/a: spec.tls[0].secretName: secret shop/missing: {missing}: cannot read: "
            )),
            "{shown:#?}"
        );
        let key = dir.join("shop/bad-key/tls.key").display().to_string();
        assert_eq!(
            shown[1],
            format!("shop/a: spec.tls[1].secretName: secret shop/bad-key: {key}: holds no PEM private key")
        );
        assert_eq!(
            shown[2],
            "shop/a: spec.tls[2].secretName: \"../../etc\" is not a Secret name (a lower-case DNS subdomain)"
        );
        assert!(shown[3].contains("there is no default certificate"), "{shown:#?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn listener_shape() {
        let tls = TlsListener {
            listen: ("0.0.0.0".into(), 8443),
            chains: vec![TlsChain {
                server_names: vec!["a.test".into()],
                certificate: "s/a/tls.crt".into(),
                private_key: "s/a/tls.key".into(),
            }],
            default: Some(TlsChain {
                server_names: vec![],
                certificate: "s/d/tls.crt".into(),
                private_key: "s/d/tls.key".into(),
            }),
        };
        let hcm = serde_json::json!({"name": "hcm"});
        let l = listener(&tls, serde_json::json!("addr"), &hcm);
        assert_eq!(l["name"], LISTENER_NAME);
        assert_eq!(l["address"], "addr");
        assert_eq!(
            l["listener_filters"][0]["name"],
            "envoy.filters.listener.tls_inspector"
        );
        let chain = &l["filter_chains"][0];
        assert_eq!(
            chain["filter_chain_match"]["server_names"],
            serde_json::json!(["a.test"])
        );
        assert_eq!(chain["filters"], serde_json::json!([hcm]));
        let context = &chain["transport_socket"]["typed_config"]["common_tls_context"];
        assert_eq!(context["alpn_protocols"], serde_json::json!(["h2", "http/1.1"]));
        assert_eq!(
            context["tls_certificates"],
            serde_json::json!([{"certificate_chain": {"filename": "s/a/tls.crt"},
                                "private_key": {"filename": "s/a/tls.key"}}])
        );
        let default = &l["default_filter_chain"];
        assert!(default.get("filter_chain_match").is_none());
        assert_eq!(
            default["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificates"][0]
                ["certificate_chain"]["filename"],
            "s/d/tls.crt"
        );
    }

    #[test]
    fn object_names() {
        for good in ["a", "tls-secret", "a.b-c", "0x"] {
            assert!(is_object_name(good), "{good}");
        }
        for bad in ["", "..", "a/b", "A", "-a", "a.", "a..b", "../x", &"a".repeat(254)] {
            assert!(!is_object_name(bad), "{bad}");
        }
    }
}
