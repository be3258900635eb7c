//! Stage 1, what users write: Ingress objects (`kubectl get ingress -o json`), their
//! `nginx.ingress.kubernetes.io/*` annotations and the plugin's settings, read into typed values. Every
//! problem becomes a diagnostic naming the object and the field.

pub mod annotations;
pub mod ingress;
pub mod json;
pub mod rule_host;
pub mod settings;
pub mod timestamp;
