//! The filter's Envoy counters. Envoy prefixes custom stats with `wasmcustom.` in `/stats`; Prometheus
//! shows them as `ingress_wasm_requests_routed` etc. The same name defined in several worker VMs maps to
//! one Envoy counter.

use super::host;
use log::warn;

#[derive(Debug, Clone, Copy)]
pub enum Counter {
    /// Forwarded to a backend cluster.
    Routed,
    /// Answered 404: no rule and no default backend.
    NotFound,
    /// Answered with a redirect.
    Redirected,
    /// Answered 4xx/5xx by the filter (unusable request, unsafe rewrite, a denial or limit).
    Rejected,
    /// Answered by the filter without an error (a CORS preflight).
    Answered,
    /// Passwords hashed by basic authentication (credentials not remembered yet).
    PasswordHashes,
}

impl Counter {
    const ALL: [Counter; 6] = [
        Counter::Routed,
        Counter::NotFound,
        Counter::Redirected,
        Counter::Rejected,
        Counter::Answered,
        Counter::PasswordHashes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Counter::Routed => "ingress_wasm.requests_routed",
            Counter::NotFound => "ingress_wasm.requests_not_found",
            Counter::Redirected => "ingress_wasm.requests_redirected",
            Counter::Rejected => "ingress_wasm.requests_rejected",
            Counter::Answered => "ingress_wasm.requests_answered",
            Counter::PasswordHashes => "ingress_wasm.password_hashes",
        }
    }
}

/// Metric ids of one VM; a counter the host refused to define is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    ids: [Option<u32>; Counter::ALL.len()],
}

impl Counters {
    /// Defines every counter (call once per VM).
    pub fn define() -> Counters {
        let mut ids = [None; Counter::ALL.len()];
        for (slot, counter) in ids.iter_mut().zip(Counter::ALL) {
            match host::define_counter(counter.name()) {
                Ok(id) => *slot = Some(id),
                Err(status) => warn!("cannot define counter {}: {status}", counter.name()),
            }
        }
        Counters { ids }
    }

    pub fn increment(&self, counter: Counter) {
        if let Some(&Some(id)) = self.ids.get(counter as usize) {
            if let Err(status) = host::increment_counter(id, 1) {
                warn!("cannot increment {}: {status}", counter.name());
            }
        }
    }
}
