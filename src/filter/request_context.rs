//! The decision's questions about a request, answered from Envoy: other request headers (as bytes),
//! random numbers (WASI's `random_get`, BoringSSL's `RAND_bytes` in Envoy), the time (WASI's clock), the
//! client's address and whether a body follows. Asked only when the matched route needs them.

use super::counters::{Counter, Counters};
use super::host;
use crate::decide::RequestContext;
use log::warn;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct EnvoyRequest {
    /// The request headers ended the stream: no body follows.
    pub end_of_stream: bool,
    pub counters: Counters,
}

impl RequestContext for EnvoyRequest {
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        match host::request_header(name) {
            Ok(value) => value,
            Err(status) => {
                warn!("cannot read {name}: {status}");
                None
            }
        }
    }

    fn random(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        match host::random_bytes(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(status) => {
                // Never seen in Envoy; the clock keeps session keys apart should it ever happen.
                warn!("random_get: {status}");
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                splitmix64(nanos as u64)
            }
        }
    }

    fn client_address(&mut self) -> Option<std::net::IpAddr> {
        // `source.address` is `ip:port` as text: the peer, or the address Envoy took from
        // X-Forwarded-For when the listener trusts hops in front of it.
        let bytes = match host::property(&["source", "address"]) {
            Ok(bytes) => bytes?,
            Err(status) => {
                warn!("cannot read source.address: {status}");
                return None;
            }
        };
        let text = std::str::from_utf8(&bytes).ok()?;
        text.parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| text.parse::<std::net::IpAddr>())
            .ok()
    }

    fn may_have_body(&mut self) -> bool {
        !self.end_of_stream
    }

    fn password_hashed(&mut self) {
        self.counters.increment(Counter::PasswordHashes);
    }

    fn now(&mut self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// One step of SplitMix64: spreads a counter or a clock reading over all 64 bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
