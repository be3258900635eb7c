//! Shared end-to-end harness: echo upstreams, a real Envoy running the built module, raw HTTP/1.1 and
//! HTTP/2 clients.
//! Each test binary uses a different part of it.
#![allow(dead_code)]

pub mod bootstrap;
pub mod cli;
pub mod echo_server;
pub mod envoy;
pub mod fleet;
pub mod h2;
pub mod http;
pub mod live;
pub mod protocol_front;
pub mod scenario;
pub mod tls;
