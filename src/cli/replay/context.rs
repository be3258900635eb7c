//! What a logged request gives a decision beyond its request line: the headers the log carries, the
//! client address (`$remote_addr`) when it has one, a seeded random source (runs are reproducible; weighted canaries are judged over the whole log, not per
//! draw) and a fixed clock (only cookie expiry dates read it, and those are not compared).

use super::fields::{Fields, HeaderNames};
use ingress_wasm::decide::RequestContext;
use std::net::IpAddr;

/// The request headers one line shows.
#[derive(Clone, Copy)]
pub struct LoggedHeaders<'f, 'a> {
    pub fields: &'f Fields<'a>,
    pub names: &'f HeaderNames,
}

impl LoggedHeaders<'_, '_> {
    /// Whether the line says if the request carried `header` (`-`, "it did not", counts).
    pub fn knows(&self, header: &str) -> bool {
        self.names
            .index(header)
            .is_some_and(|i| self.fields.carries_header(i))
    }

    /// The header's value, when the line shows one.
    pub fn value(&self, header: &str) -> Option<&str> {
        self.fields.header(self.names.index(header)?)
    }
}

pub struct LoggedContext<'r, 'f, 'a> {
    pub headers: LoggedHeaders<'f, 'a>,
    /// `$remote_addr`: the address nginx's access rules judged.
    pub client: Option<IpAddr>,
    pub random: &'r mut SplitMix64,
}

impl RequestContext for LoggedContext<'_, '_, '_> {
    fn header(&mut self, name: &str) -> Option<Vec<u8>> {
        self.headers.value(name).map(|v| v.as_bytes().to_vec())
    }

    fn random(&mut self) -> u64 {
        self.random.next()
    }

    fn now(&mut self) -> i64 {
        0
    }

    /// Without it source ranges refuse the client; the replayer does not hold that against the log
    /// (see `unseen_access`).
    fn client_address(&mut self) -> Option<IpAddr> {
        self.client
    }
}

/// SplitMix64: a small, fast generator; a fixed seed makes every replay of a log draw the same numbers.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn headers_from_the_line() {
        let mut names = HeaderNames::default();
        let canary = names.slot_of("http_x_canary");
        let cookie = names.slot_of("http_cookie");
        let mut fields = Fields::default();
        fields.set(canary, Cow::Borrowed("always"));
        fields.set(cookie, Cow::Borrowed("-"));
        let mut random = SplitMix64::new(1);
        let headers = LoggedHeaders {
            fields: &fields,
            names: &names,
        };
        let mut ctx = LoggedContext {
            headers,
            client: "10.1.2.3".parse().ok(),
            random: &mut random,
        };
        assert_eq!(ctx.header("x-canary"), Some(b"always".to_vec()));
        assert_eq!(ctx.header("cookie"), None);
        assert!(headers.knows("cookie") && headers.knows("X-Canary"));
        assert!(!headers.knows("user-agent"));
        assert_ne!(ctx.random(), ctx.random());
        assert_eq!(ctx.client_address(), "10.1.2.3".parse().ok());
    }

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        assert!((0..100).all(|_| a.next() == b.next()));
    }
}
