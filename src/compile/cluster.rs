//! Envoy cluster names for Ingress backends: one template, one function.

/// A cluster-name template with `{namespace}`, `{service}` and `{port}` placeholders.
///
/// Default `{namespace}/{service}:{port}`; Istio's form is
/// `outbound|{port}||{service}.{namespace}.svc.cluster.local`. `{port}` is the port number, or the port
/// name when the Ingress names the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTemplate {
    text: String,
}

impl Default for ClusterTemplate {
    fn default() -> Self {
        Self {
            text: crate::model::settings::DEFAULT_CLUSTER_TEMPLATE.to_string(),
        }
    }
}

impl ClusterTemplate {
    /// Accepts a template whose placeholders are all known and which names `{namespace}` and `{service}`
    /// (without both, services of different namespaces would share a cluster).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("unclosed '{{' in {text:?}"));
            };
            let name = &after[..close];
            if !matches!(name, "namespace" | "service" | "port") {
                return Err(format!(
                    "unknown placeholder {{{name}}} in {text:?} (known: {{namespace}}, {{service}}, {{port}})"
                ));
            }
            rest = &after[close + 1..];
        }
        if !text.contains("{service}") || !text.contains("{namespace}") {
            return Err(format!(
                "{text:?} must contain both {{namespace}} and {{service}} (else backends of different namespaces share a cluster)"
            ));
        }
        if text.len() > 256 || text.bytes().any(|b| b.is_ascii_control()) {
            return Err("must be at most 256 printable characters".to_string());
        }
        Ok(Self {
            text: text.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The cluster name of `service:port` in `namespace`.
    pub fn cluster_name(&self, namespace: &str, service: &str, port: &str) -> String {
        self.text
            .replace("{namespace}", namespace)
            .replace("{service}", service)
            .replace("{port}", port)
    }
}

/// The key the CLI's `--endpoints` file and the default template share: `namespace/service:port`.
pub fn backend_key(namespace: &str, service: &str, port: &str) -> String {
    format!("{namespace}/{service}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn default_and_istio_forms() {
        assert_eq!(
            ClusterTemplate::default().cluster_name("game-prod", "game-lobby", "80"),
            "game-prod/game-lobby:80"
        );
        let istio =
            ClusterTemplate::parse("outbound|{port}||{service}.{namespace}.svc.cluster.local").unwrap();
        assert_eq!(
            istio.cluster_name("ns", "svc", "8080"),
            "outbound|8080||svc.ns.svc.cluster.local"
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn rejects_unknown_placeholders() {
        assert!(ClusterTemplate::parse("{namespace}-{svc}")
            .unwrap_err()
            .contains("unknown placeholder {svc}"));
        assert!(ClusterTemplate::parse("{namespace}").is_err());
        assert!(ClusterTemplate::parse("{service}:{port}").is_err());
        assert!(ClusterTemplate::parse("{service").is_err());
    }
}
