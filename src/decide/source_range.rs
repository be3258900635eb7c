//! `denylist-source-range` and `allowlist-source-range` (alias `whitelist-source-range`): nginx's access
//! rules on the client address, rendered by ingress-nginx as `deny <each denied range>;` then
//! `allow <each allowed range>; deny all;`. The first rule that matches decides, so a denied address is
//! refused even when an allowed range contains it, and a location with only a denylist lets every other
//! address in. A refused client gets 403. The address is Envoy's `source.address`: the TCP peer, or the
//! address Envoy took from `X-Forwarded-For` when `settings.trustedHops` says which proxies to trust.

use super::policy::Outcome;
use super::{Reason, RequestContext};
use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One range, as ingress-nginx reads it (Go's `net.ParseCIDR`, else `net.ParseIP` for a single address):
/// host bits are cleared, and an IPv4-mapped IPv6 range is the IPv4 range it maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, bits)) => {
                let address: IpAddr = address
                    .parse()
                    .map_err(|_| format!("{address:?} is not an IP address"))?;
                let max = if address.is_ipv4() { 32 } else { 128 };
                let prefix = match bits.parse::<u8>() {
                    Ok(n) if bits.bytes().all(|b| b.is_ascii_digit()) && n <= max => n,
                    _ => return Err(format!("{text:?}: the prefix length must be 0 to {max}")),
                };
                (address, prefix)
            }
            None => {
                let address: IpAddr = text
                    .parse()
                    .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR range"))?;
                let prefix = if address.is_ipv4() { 32 } else { 128 };
                (address, prefix)
            }
        };
        Ok(Cidr::new(address, prefix))
    }

    fn new(address: IpAddr, prefix: u8) -> Cidr {
        match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Cidr::new(IpAddr::V4(v4), prefix - 96),
                _ => Cidr {
                    network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
                    prefix,
                },
            },
            IpAddr::V4(v4) => Cidr {
                network: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
                prefix,
            },
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// A set of ranges, looked up with one hash probe per distinct prefix length (at most 33 for IPv4, 129
/// for IPv6) however many ranges it holds.
#[derive(Debug, Clone, Default)]
pub struct RangeSet {
    v4: Vec<(u8, HashSet<u32>)>,
    v6: Vec<(u8, HashSet<u128>)>,
    /// The ranges as given (normalized), for explanations.
    ranges: Vec<Cidr>,
}

impl RangeSet {
    pub fn new(ranges: &[Cidr]) -> RangeSet {
        let mut set = RangeSet::default();
        for cidr in ranges {
            match cidr.network {
                IpAddr::V4(v4) => insert(&mut set.v4, cidr.prefix, u32::from(v4)),
                IpAddr::V6(v6) => insert(&mut set.v6, cidr.prefix, u128::from(v6)),
            }
            if !set.ranges.contains(cidr) {
                set.ranges.push(*cidr);
            }
        }
        set
    }

    /// Whether `address` lies in one of the ranges (an IPv4-mapped IPv6 address counts as its IPv4
    /// address, as nginx's access module checks it).
    pub fn contains(&self, address: IpAddr) -> bool {
        match canonical(address) {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                self.v4.iter().any(|(p, nets)| nets.contains(&(a & mask32(*p))))
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                self.v6.iter().any(|(p, nets)| nets.contains(&(a & mask128(*p))))
            }
        }
    }

    pub fn ranges(&self) -> &[Cidr] {
        &self.ranges
    }

    /// The ranges as text (`10.0.0.0/8`).
    pub fn to_list(&self) -> Vec<String> {
        self.ranges.iter().map(ToString::to_string).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

fn insert<T: std::hash::Hash + Eq>(by_prefix: &mut Vec<(u8, HashSet<T>)>, prefix: u8, network: T) {
    match by_prefix.iter_mut().find(|(p, _)| *p == prefix) {
        Some((_, nets)) => {
            nets.insert(network);
        }
        None => by_prefix.push((prefix, HashSet::from([network]))),
    }
}

fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The access rules of one location: the denied ranges, then the allowed ones (None: no allowlist).
#[derive(Debug, Clone, Default)]
pub struct SourceRanges {
    pub deny: RangeSet,
    pub allow: Option<RangeSet>,
}

impl SourceRanges {
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.allow.is_none()
    }

    /// Whether a client at `address` gets in. An unknown address (Envoy named none, or not an IP) is
    /// refused: the rules cannot vouch for it.
    pub fn admits(&self, address: Option<IpAddr>) -> bool {
        let Some(address) = address else {
            return false;
        };
        if self.deny.contains(address) {
            return false;
        }
        self.allow.as_ref().is_none_or(|allow| allow.contains(address))
    }

    /// The access phase's first step: 403 for a refused client (with the headers the response carries
    /// anyway, e.g. CORS), else on to the next step.
    pub(crate) fn check(
        &self,
        ctx: &mut dyn RequestContext,
        response_headers: &[(&'static str, String)],
    ) -> Outcome {
        if self.admits(ctx.client_address()) {
            return Outcome::Continue;
        }
        Outcome::Respond {
            status: 403,
            headers: response_headers.to_vec(),
            reason: Reason::SourceDenied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn set(ranges: &[&str]) -> RangeSet {
        let cidrs: Vec<Cidr> = ranges.iter().map(|r| Cidr::parse(r).unwrap()).collect();
        RangeSet::new(&cidrs)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn ranges_read_as_go_reads_them() {
        for (text, shown) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("56.0.0.1", "56.0.0.1/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("::1", "::1/128"),
            ("::ffff:10.0.0.1", "10.0.0.1/32"),
            ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
            ("10.0.0.0/08", "10.0.0.0/8"),
        ] {
            assert_eq!(
                Cidr::parse(text).map(|c| c.to_string()),
                Ok(shown.to_string()),
                "{text}"
            );
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "010.0.0.1",
            "1.2.3",
            "::1/129",
            "fe80::1%eth0",
            "10.0.0.0/8/8",
            "host.example",
            "10.0.0.0 /8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn membership_by_prefix() {
        let s = set(&["18.0.0.0/8", "56.0.0.1", "2001:db8::/32", "0.0.0.0/32"]);
        for inside in [
            "18.255.0.1",
            "56.0.0.1",
            "2001:db8:ffff::1",
            "::ffff:18.1.1.1",
            "0.0.0.0",
        ] {
            assert!(s.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["19.0.0.1", "56.0.0.2", "2001:db9::1", "::18.1.1.1", "::1"] {
            assert!(!s.contains(outside.parse().unwrap()), "{outside}");
        }
        assert!(set(&["::/0"]).contains("::1".parse().unwrap()));
        assert!(!set(&["::/0"]).contains("10.0.0.1".parse().unwrap()));
        assert!(set(&["0.0.0.0/0"]).contains("::ffff:10.0.0.1".parse().unwrap()));
    }

    /// ingress-nginx's e2e `ipdenylist.go`: deny 18.1.0.0/16 and 56.0.0.0/8, allow 18.0.0.0/8 and
    /// 55.0.0.0/8.
    #[wasm_bindgen_test(unsupported = test)]
    fn deny_before_allow() {
        let both = SourceRanges {
            deny: set(&["18.1.0.0/16", "56.0.0.0/8"]),
            allow: Some(set(&["18.0.0.0/8", "55.0.0.0/8"])),
        };
        assert!(!both.admits(ip("18.1.0.1")));
        assert!(!both.admits(ip("56.0.0.1")));
        assert!(both.admits(ip("18.0.0.1")));
        assert!(both.admits(ip("55.0.0.1")));
        assert!(!both.admits(ip("10.0.0.1")));
        let deny_only = SourceRanges {
            deny: set(&["18.0.0.0/8", "56.0.0.1"]),
            allow: None,
        };
        assert!(!deny_only.admits(ip("18.2.3.4")));
        assert!(!deny_only.admits(ip("56.0.0.1")));
        assert!(deny_only.admits(ip("56.0.0.2")));
        assert!(deny_only.admits(ip("2001:db8::1")));
        // Nothing vouches for an unknown client.
        assert!(!deny_only.admits(None));
    }
}
