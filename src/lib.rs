//! ingress-wasm: Kubernetes Ingress routing for Envoy as a proxy-wasm HTTP filter.
//!
//! The pure core (always compiled, no I/O, no clock, no randomness) runs in stages, one folder each:
//!
//! - [`model`]: what users write: Ingress objects, their `nginx.ingress.kubernetes.io/*` annotations and
//!   the plugin's settings, read into typed values with diagnostics naming the object and field.
//! - [`compile`]: the Ingresses become a [`RouteTable`]: per host an exact-path map, a prefix trie and one
//!   regex, with cluster names and budgets.
//! - [`decide`]: [`RouteTable::decide`] answers one request: host, path, rewrite, redirect or denial.
//!
//! [`config`] runs the first two stages on the plugin configuration bytes. Two front ends use the result:
//! the proxy-wasm filter (`filter`, wasm32-wasip1 only) and the native CLI (`render` + `src/main.rs`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod compile;
pub mod config;
pub mod decide;
pub mod diagnostics;
pub mod encoding;
pub mod model;
mod work;

#[cfg(test)]
mod tests;

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod filter;

#[cfg(not(target_arch = "wasm32"))]
pub mod render;

pub use config::{load, Compiled};
pub use decide::{Decision, Request, RouteTable};
pub use diagnostics::{Diagnostic, Severity};
pub use model::settings::{Semantics, Settings};
