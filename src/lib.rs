//! ingress-wasm: Kubernetes Ingress routing for Envoy as a proxy-wasm HTTP filter.
//!
//! The pure core (always compiled, no I/O, no clock, no randomness) turns the JSON rendering of Ingress
//! objects into a [`RouteTable`] and answers [`RouteTable::decide`] per request. Two front ends use it:
//! the proxy-wasm filter (`filter`, wasm32-wasip1 only) and the native CLI (`render` + `src/main.rs`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod annotations;
pub mod cluster;
pub mod compile;
pub mod config;
pub mod diagnostics;
pub mod host;
pub mod ingress;
pub mod paths;
pub mod prefix_trie;
pub mod regex_paths;
pub mod rewrite;
pub mod route;
pub mod settings;
pub mod timestamp;
mod work;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod security_tests;

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod filter;

#[cfg(not(target_arch = "wasm32"))]
pub mod render;

pub use config::{load, Compiled};
pub use diagnostics::{Diagnostic, Severity};
pub use route::{Decision, Request, RouteTable};
pub use settings::{Semantics, Settings};
