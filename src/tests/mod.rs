//! Decision tests across the stages: Ingress JSON in, decisions out. They run natively and on
//! wasm32-unknown-unknown under Node.

mod access;
mod affinity;
mod canary;
pub(crate) mod context;
mod cors;
pub(crate) mod decide;
mod redirect;
mod security;
mod services;
mod ssl_redirect;
mod upstream;
