//! Cookie session affinity at request time: which session a request carries, what Envoy is told so it
//! picks the session's endpoint, and the `Set-Cookie` ingress-nginx would send.
//!
//! The cookie is ingress-nginx's own: `<name>=<upstream key>|<backend key>` where the backend key is
//! `md5hex(md5hex(b) .. b)` for the backend `b = <namespace>-<service>-<port>`. Envoy picks the endpoint:
//! - balanced mode: the upstream key is random; the filter sends it in [`HASH_HEADER`], which the route
//!   hashes onto a Maglev cluster (consistent hashing: more endpoints move only a share of sessions);
//! - persistent mode: the upstream key is `md5hex(b .. "ip:port")` of the endpoint, as in ingress-nginx;
//!   the filter maps it back to the address (the configuration lists the backend's endpoints) and sends
//!   it in [`SESSION_HEADER`] to Envoy's header-based stateful session, which prefers that endpoint.
//!   When Envoy picks another one (a new session, or the pinned endpoint is gone) it names it in the same
//!   header on the response, and the filter turns it into a new cookie ([`RouteTable::pinned_cookie`]).

use super::cookie::{self, Occurrence};
use super::{RequestContext, RouteTable};
use crate::encoding::{base64, cookie_time, md5};
use crate::model::annotations::affinity::{AffinityMode, CookieOptions};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Request header carrying a balanced session's key to the route's hash policy.
pub const HASH_HEADER: &str = "x-ingress-affinity";
/// Request and response header of Envoy's header-based stateful session (base64 of `ip:port`).
pub const SESSION_HEADER: &str = "x-ingress-session";

/// Longest upstream key accepted from a balanced cookie; longer or odd ones get a new session.
const MAX_KEY: usize = 128;

/// Index of an [`Affinity`] in the route table.
pub type AffinityId = usize;

/// The session affinity of one backend (ingress-nginx: of one upstream).
#[derive(Debug, Clone)]
pub struct Affinity {
    /// The mode Envoy is configured for: persistent only when the backend's endpoints are known.
    pub mode: AffinityMode,
    pub cookie: CookieOptions,
    /// ingress-nginx's name of the backend, `<namespace>-<service>-<port>`.
    pub backend_name: String,
    /// `md5hex(md5hex(name) .. name)`: the cookie's second part.
    pub backend_key: String,
    /// Persistent mode: endpoint key (`md5hex(name .. "ip:port")`) -> the address as Envoy writes it.
    pub endpoints: HashMap<String, String>,
    /// `namespace/name` of the Ingress the settings come from.
    pub ingress: String,
}

/// What the session cookie of a request said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The cookie named a session this backend keeps: no new cookie.
    Kept,
    /// No usable cookie: a new session (and a cookie, if the route issues one).
    New,
}

/// Response-side work a forwarded request leaves for `on_http_response_headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseWork {
    /// Add this `Set-Cookie` value (never replacing the upstream's own cookies).
    SetCookie(String),
    /// Persistent mode: if Envoy names the endpoint it chose in [`SESSION_HEADER`], add the cookie that
    /// pins it; `attributes` is everything after the value (`; Path=/; HttpOnly`).
    PinEndpoint {
        affinity: AffinityId,
        attributes: String,
    },
}

/// The affinity part of a decision.
#[derive(Debug, Default)]
pub struct Sticky {
    pub headers: Vec<(&'static str, String)>,
    pub response: Option<ResponseWork>,
    pub session: Option<Session>,
}

/// `<namespace>-<service>-<port>`, ingress-nginx's upstream name.
pub fn backend_name(namespace: &str, service: &str, port: &str) -> String {
    format!("{namespace}-{service}-{port}")
}

/// `md5hex(md5hex(name) .. name)`.
pub fn backend_key(name: &str) -> String {
    md5::hex(format!("{}{name}", md5::hex(name.as_bytes())).as_bytes())
}

/// The key of an endpoint in a persistent cookie: `md5hex(name .. "ip:port")`, the address as
/// Kubernetes writes it (IPv6 without brackets).
pub fn endpoint_key(name: &str, address: &SocketAddr) -> String {
    md5::hex(format!("{name}{}:{}", address.ip(), address.port()).as_bytes())
}

/// The upstream key and the backend key of a session cookie's value: its first two `|`-separated parts
/// (ingress-nginx's `split_string(value, "|")`).
pub(crate) fn split_value(value: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut parts = value.split(|&b| b == b'|');
    (parts.next().unwrap_or_default(), parts.next())
}

impl Affinity {
    /// Whether the request's cookie says its session belongs to this backend (ingress-nginx's
    /// `is_affinitized`, which decides canary stickiness).
    pub fn owns(&self, cookie_header: Option<&[u8]>) -> bool {
        let value = cookie_header.and_then(|h| cookie::find(h, &self.cookie.name, Occurrence::Last));
        value.and_then(|v| split_value(v).1) == Some(self.backend_key.as_bytes())
    }

    /// What Envoy is told and what the response needs, for a request routed to this backend.
    /// `issues_cookie`: the matched route's Ingress asks for affinity (only those set the cookie);
    /// `location_path` the cookie's default path.
    pub(crate) fn stick(
        &self,
        id: AffinityId,
        cookie_header: Option<&[u8]>,
        issues_cookie: bool,
        location_path: &str,
        https: bool,
        ctx: &mut dyn RequestContext,
    ) -> Sticky {
        let value = cookie_header.and_then(|h| cookie::find(h, &self.cookie.name, Occurrence::Last));
        let upstream_key = value.map(|v| split_value(v).0).unwrap_or_default();
        let mut sticky = Sticky::default();
        match self.mode {
            AffinityMode::Balanced => {
                if is_key(upstream_key) {
                    let key = String::from_utf8_lossy(upstream_key).into_owned();
                    sticky.headers.push((HASH_HEADER, key));
                    sticky.session = Some(Session::Kept);
                } else {
                    let key = new_key(ctx);
                    if issues_cookie {
                        let attributes = self.attributes(location_path, https, ctx);
                        sticky.response = Some(ResponseWork::SetCookie(self.cookie_text(&key, &attributes)));
                    }
                    sticky.headers.push((HASH_HEADER, key));
                    sticky.session = Some(Session::New);
                }
            }
            AffinityMode::Persistent => {
                let address = std::str::from_utf8(upstream_key)
                    .ok()
                    .and_then(|key| self.endpoints.get(key));
                match address {
                    Some(address) => {
                        sticky
                            .headers
                            .push((SESSION_HEADER, base64::encode(address.as_bytes())));
                        sticky.session = Some(Session::Kept);
                    }
                    None => sticky.session = Some(Session::New),
                }
                // Envoy answers with the endpoint only when it differs from the pinned one (or there was
                // none): a kept session gets no new cookie, a moved or new one does.
                if issues_cookie {
                    sticky.response = Some(ResponseWork::PinEndpoint {
                        affinity: id,
                        attributes: self.attributes(location_path, https, ctx),
                    });
                }
            }
        }
        sticky
    }

    fn cookie_text(&self, upstream_key: &str, attributes: &str) -> String {
        format!(
            "{}={upstream_key}|{}{attributes}",
            self.cookie.name, self.backend_key
        )
    }

    /// `; Expires=..; Max-Age=..; Domain=..; Path=..; Secure; HttpOnly; SameSite=..`, in the order
    /// lua-resty-cookie writes them.
    fn attributes(&self, location_path: &str, https: bool, ctx: &mut dyn RequestContext) -> String {
        let c = &self.cookie;
        let mut out = String::new();
        if let Some(expires) = c.expires {
            let at = ctx.now().saturating_add(expires);
            out.push_str("; Expires=");
            out.push_str(&cookie_time::format(at));
        }
        if let Some(max_age) = c.max_age {
            out.push_str(&format!("; Max-Age={max_age}"));
        }
        if let Some(domain) = &c.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        out.push_str("; Path=");
        out.push_str(c.path.as_deref().unwrap_or(location_path));
        if c.secure || https {
            out.push_str("; Secure");
        }
        out.push_str("; HttpOnly");
        if let Some(samesite) = &c.samesite {
            let omit = c.conditional_samesite_none
                && samesite == "None"
                && !same_site_none_compatible(ctx.header("user-agent").as_deref());
            if !omit {
                out.push_str("; SameSite=");
                out.push_str(samesite);
            }
        }
        out
    }
}

impl RouteTable {
    /// The `Set-Cookie` of a persistent session once Envoy has named the endpoint it chose
    /// (`session_header`: the base64 `ip:port` of [`SESSION_HEADER`] on the response). None when the
    /// header is not an address.
    pub fn pinned_cookie(
        &self,
        affinity: AffinityId,
        attributes: &str,
        session_header: &[u8],
    ) -> Option<String> {
        let a = self.affinities.get(affinity)?;
        let address: SocketAddr = std::str::from_utf8(&base64::decode(session_header)?)
            .ok()?
            .parse()
            .ok()?;
        Some(a.cookie_text(&endpoint_key(&a.backend_name, &address), attributes))
    }
}

/// A balanced session key the filter may hand to Envoy: a short token, nothing a header could choke on.
fn is_key(key: &[u8]) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// 128 random bits as 32 hex digits.
fn new_key(ctx: &mut dyn RequestContext) -> String {
    format!("{:016x}{:016x}", ctx.random(), ctx.random())
}

/// ingress-nginx's `same_site_none_compatible` (`util/same_site.lua`): browsers that reject or
/// misread `SameSite=None`.
pub fn same_site_none_compatible(user_agent: Option<&[u8]>) -> bool {
    let Some(ua) = user_agent else {
        return true;
    };
    let has = |needle: &str| ua.windows(needle.len()).any(|w| w == needle.as_bytes());
    let incompatible = has("Chrome/4")
        || has("Chrome/5")
        || has("Chrome/6")
        || has("CPU iPhone OS 12")
        || has("iPad; CPU OS 12")
        || (has("Macintosh") && has("Intel Mac OS X 10_14") && has("Safari") && !has("Chrome"));
    !incompatible
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn keys_as_ingress_nginx_computes_them() {
        // backend_key = md5(md5(name) .. name); endpoint key = md5(name .. "ip:port").
        let name = backend_name("default", "echo", "80");
        assert_eq!(name, "default-echo-80");
        assert_eq!(
            backend_key(&name),
            md5::hex(format!("{}default-echo-80", md5::hex(b"default-echo-80")).as_bytes())
        );
        let v4: SocketAddr = "10.0.0.7:8080".parse().unwrap();
        assert_eq!(
            endpoint_key(&name, &v4),
            md5::hex(b"default-echo-8010.0.0.7:8080")
        );
        let v6: SocketAddr = "[fd00::7]:8080".parse().unwrap();
        assert_eq!(endpoint_key(&name, &v6), md5::hex(b"default-echo-80fd00::7:8080"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn same_site_none_incompatible_clients() {
        let chrome_5x = b"Mozilla/5.0 (X11) AppleWebKit/537.36 Chrome/51.0.2704.103 Safari/537.36";
        let ios_12 = b"Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) Version/12.0 Safari/604.1";
        let mac_safari = b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) Version/12.1 Safari/605.1.15";
        let mac_chrome = b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) Chrome/90.0 Safari/537.36";
        for ua in [&chrome_5x[..], ios_12, mac_safari] {
            assert!(
                !same_site_none_compatible(Some(ua)),
                "{}",
                String::from_utf8_lossy(ua)
            );
        }
        assert!(same_site_none_compatible(Some(mac_chrome)));
        assert!(same_site_none_compatible(Some(b"curl/8.0")));
        assert!(same_site_none_compatible(None));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn balanced_keys_from_cookies_are_tokens() {
        assert!(is_key(b"1732553290.123.4567.123456"));
        assert!(is_key(b"0123456789abcdef0123456789abcdef"));
        for bad in [&b""[..], b"a b", b"\xff", b"a\r\nb", &[b'a'; 129]] {
            assert!(!is_key(bad));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn cookie_value_splits_at_the_first_bar() {
        assert_eq!(split_value(b"k|b"), (&b"k"[..], Some(&b"b"[..])));
        assert_eq!(split_value(b"k"), (&b"k"[..], None));
        assert_eq!(split_value(b"k|b|c"), (&b"k"[..], Some(&b"b"[..])));
    }
}
