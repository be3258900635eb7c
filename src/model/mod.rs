//! Stage 1, what users write: Ingress objects (`kubectl get ingress -o json`), their
//! `nginx.ingress.kubernetes.io/*` annotations and the plugin's settings, read into typed values. Every
//! problem becomes a diagnostic naming the object and the field.

pub mod annotations;
pub mod ingress;
pub mod json;
pub mod rule_host;
pub mod secret;
pub mod service;
pub mod settings;
pub mod timestamp;

/// An RFC 7230 token of at most `max_len` bytes: what a header or cookie name may be.
pub fn is_token(s: &str, max_len: usize) -> bool {
    !s.is_empty()
        && s.len() <= max_len
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
