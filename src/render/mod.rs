//! Envoy / Kubernetes / Istio output (native only).
