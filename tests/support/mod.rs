//! Shared end-to-end harness: echo upstreams, a real Envoy running the built module, a raw HTTP client.
//! Each test binary uses a different part of it.
#![allow(dead_code)]

pub mod echo_server;
pub mod envoy;
pub mod fleet;
pub mod http;
pub mod scenario;
