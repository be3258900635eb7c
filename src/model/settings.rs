//! The `settings` object of the plugin configuration, with its defaults.

use crate::compile::cluster::ClusterTemplate;
use crate::diagnostics::Diagnostics;
use serde_json::Value;

/// Which rulebook decides where ingress-nginx and the Kubernetes spec disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// Behave as ingress-nginx did (default), so migrations are drop-in.
    IngressNginx,
    /// The Kubernetes Ingress spec, to the letter.
    Kubernetes,
}

impl Semantics {
    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::IngressNginx => "ingress-nginx",
            Semantics::Kubernetes => "kubernetes",
        }
    }
}

pub const DEFAULT_CLUSTER_HEADER: &str = "x-ingress-cluster";
pub const DEFAULT_CLUSTER_TEMPLATE: &str = "{namespace}/{service}:{port}";
pub const DEFAULT_INGRESS_CLASS: &str = "nginx";
/// ingress-nginx answers 414 past its request-line buffer (`large-client-header-buffers`, 8k).
pub const DEFAULT_MAX_PATH_BYTES: usize = 8192;
/// The most `maxPathBytes` may be raised to: Envoy's own ceiling for all request headers (96 KiB).
pub const MAX_MAX_PATH_BYTES: usize = 96 * 1024;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `semantics`: `ingress-nginx` (default) or `kubernetes`.
    pub semantics: Semantics,
    /// `ingressClasses`: classes served (default `["nginx"]`; `"*"` serves every class). An Ingress names
    /// its class in `spec.ingressClassName` or the deprecated `kubernetes.io/ingress.class` annotation.
    pub ingress_classes: Vec<String>,
    /// `serveIngressesWithoutClass`: serve Ingresses that name no class (default true, as ingress-nginx).
    pub serve_without_class: bool,
    /// `clusterTemplate`: Envoy cluster name of a backend (default `{namespace}/{service}:{port}`).
    pub cluster_template: ClusterTemplate,
    /// `clusterHeader`: request header carrying the chosen cluster to Envoy's route (default
    /// `x-ingress-cluster`).
    pub cluster_header: String,
    /// `maxPathBytes`: longer request paths (query included) answer 414 (default 8192).
    pub max_path_bytes: usize,
    /// `useForwardedHeaders` (default false): a trusted load balancer sits in front, so its
    /// `X-Forwarded-Proto` says whether the client used HTTPS and `X-Forwarded-Host` which host it asked
    /// for (ingress-nginx's `use-forwarded-headers`); `render envoy` then trusts one hop of
    /// `X-Forwarded-For` too. Without it the filter never reads those headers.
    pub use_forwarded_headers: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            semantics: Semantics::IngressNginx,
            ingress_classes: vec![DEFAULT_INGRESS_CLASS.to_string()],
            serve_without_class: true,
            cluster_template: ClusterTemplate::default(),
            cluster_header: DEFAULT_CLUSTER_HEADER.to_string(),
            max_path_bytes: DEFAULT_MAX_PATH_BYTES,
            use_forwarded_headers: false,
        }
    }
}

const OBJECT: &str = "settings";

impl Settings {
    /// Reads `settings`; unknown keys are ignored, wrong types and values are errors.
    pub fn parse(value: Option<&Value>, diags: &mut Diagnostics) -> Settings {
        let mut settings = Settings::default();
        let Some(value) = value else { return settings };
        if value.is_null() {
            return settings;
        }
        let Some(map) = value.as_object() else {
            diags.error(OBJECT, "", "must be an object");
            return settings;
        };
        if let Some(v) = map.get("semantics") {
            match v.as_str() {
                Some("ingress-nginx") => settings.semantics = Semantics::IngressNginx,
                Some("kubernetes") => settings.semantics = Semantics::Kubernetes,
                Some(other) => diags.error(
                    OBJECT,
                    "semantics",
                    format!("unknown value {other:?} (expected \"ingress-nginx\" or \"kubernetes\")"),
                ),
                None => diags.error(OBJECT, "semantics", "must be a string"),
            }
        }
        if let Some(v) = map.get("ingressClasses") {
            match v.as_array() {
                Some(items) => {
                    let mut classes = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        match item.as_str() {
                            Some(s) if !s.is_empty() => classes.push(s.to_string()),
                            _ => diags.error(
                                OBJECT,
                                &format!("ingressClasses[{i}]"),
                                "must be a non-empty string",
                            ),
                        }
                    }
                    settings.ingress_classes = classes;
                }
                None => diags.error(OBJECT, "ingressClasses", "must be a list of strings"),
            }
        }
        if let Some(v) = map.get("serveIngressesWithoutClass") {
            match v.as_bool() {
                Some(b) => settings.serve_without_class = b,
                None => diags.error(OBJECT, "serveIngressesWithoutClass", "must be true or false"),
            }
        }
        if let Some(v) = map.get("clusterTemplate") {
            match v.as_str() {
                Some(s) => match ClusterTemplate::parse(s) {
                    Ok(t) => settings.cluster_template = t,
                    Err(message) => diags.error(OBJECT, "clusterTemplate", message),
                },
                None => diags.error(OBJECT, "clusterTemplate", "must be a string"),
            }
        }
        if let Some(v) = map.get("clusterHeader") {
            match v.as_str() {
                Some(s) if is_header_name(s) => settings.cluster_header = s.to_ascii_lowercase(),
                Some(s) => diags.error(
                    OBJECT,
                    "clusterHeader",
                    format!("{s:?} is not a valid header name"),
                ),
                None => diags.error(OBJECT, "clusterHeader", "must be a string"),
            }
        }
        if let Some(v) = map.get("maxPathBytes") {
            match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n @ 256..=MAX_MAX_PATH_BYTES) => settings.max_path_bytes = n,
                _ => diags.error(
                    OBJECT,
                    "maxPathBytes",
                    format!("must be a whole number from 256 to {MAX_MAX_PATH_BYTES}, found {v}"),
                ),
            }
        }
        if let Some(v) = map.get("useForwardedHeaders") {
            match v.as_bool() {
                Some(b) => settings.use_forwarded_headers = b,
                None => diags.error(OBJECT, "useForwardedHeaders", "must be true or false"),
            }
        }
        settings
    }

    /// Whether an Ingress of this class (None = no class named) is served.
    pub fn serves_class(&self, class: Option<&str>) -> bool {
        match class {
            None => self.serve_without_class,
            Some(c) => self.ingress_classes.iter().any(|s| s == "*" || s == c),
        }
    }

    /// The settings as the plugin's JSON `settings` object (what `render` writes into the filter config).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "semantics": self.semantics.as_str(),
            "ingressClasses": self.ingress_classes,
            "serveIngressesWithoutClass": self.serve_without_class,
            "clusterTemplate": self.cluster_template.as_str(),
            "clusterHeader": self.cluster_header,
            "maxPathBytes": self.max_path_bytes,
            "useForwardedHeaders": self.use_forwarded_headers,
        })
    }
}

/// RFC 7230 token (so never a pseudo-header) of at most 128 bytes.
fn is_header_name(s: &str) -> bool {
    super::is_token(s, 128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn parse(v: Value) -> (Settings, Vec<String>) {
        let mut d = Diagnostics::default();
        let s = Settings::parse(Some(&v), &mut d);
        (s, d.into_vec().iter().map(|d| d.to_string()).collect())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn defaults_when_absent() {
        let mut d = Diagnostics::default();
        let s = Settings::parse(None, &mut d);
        assert_eq!(s.semantics, Semantics::IngressNginx);
        assert_eq!(s.cluster_header, "x-ingress-cluster");
        assert!(s.serves_class(Some("nginx")));
        assert!(s.serves_class(None));
        assert!(!s.serves_class(Some("istio")));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_every_setting() {
        let (s, errs) = parse(serde_json::json!({
            "semantics": "kubernetes", "ingressClasses": ["*"], "serveIngressesWithoutClass": false,
            "clusterTemplate": "outbound|{port}||{service}.{namespace}.svc.cluster.local",
            "clusterHeader": "X-Route", "maxPathBytes": 65536, "useForwardedHeaders": true, "unknown": 1
        }));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(s.semantics, Semantics::Kubernetes);
        assert!(s.serves_class(Some("anything")));
        assert!(!s.serves_class(None));
        assert_eq!(s.cluster_header, "x-route");
        assert_eq!(s.max_path_bytes, 65536);
        assert!(s.use_forwarded_headers);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn names_bad_fields() {
        let (_, errs) = parse(serde_json::json!({"semantics": "nginx", "clusterHeader": ":path",
            "ingressClasses": "nginx", "maxPathBytes": 10, "useForwardedHeaders": "yes"}));
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert_eq!(errs[4], "settings: useForwardedHeaders: must be true or false");
        assert!(errs[3].starts_with("settings: maxPathBytes: must be a whole number"));
        assert!(errs[0].starts_with("settings: semantics: unknown value \"nginx\""));
    }
}
