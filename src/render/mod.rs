//! Envoy / Kubernetes / Istio output (native only).

pub mod envoy;
pub mod tls;
