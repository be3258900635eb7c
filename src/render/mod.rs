//! Envoy / Kubernetes / Istio output (native only).

pub mod dynamic;
pub mod envoy;
pub mod headers;
pub mod istio;
pub mod k8s;
pub mod k8s_bootstrap;
pub mod oci;
pub mod services;
pub mod tls;
pub mod upstream;
