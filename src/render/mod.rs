//! Envoy / Kubernetes / Istio output (native only).

pub mod dynamic;
pub mod envoy;
pub mod headers;
pub mod services;
pub mod tls;
pub mod upstream;
