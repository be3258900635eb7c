//! How a location reaches its backend: `backend-protocol`, `service-upstream`, the proxy timeouts
//! (`proxy-connect-timeout`, `proxy-read-timeout`, `proxy-send-timeout`) and `client-body-buffer-size`,
//! read as ingress-nginx reads them (`internal/ingress/annotations/{backendprotocol,serviceupstream,proxy,
//! clientbodybuffersize}`). A value ingress-nginx's validator would refuse is an error here (ingress-nginx
//! used its default silently).

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;

/// How Envoy talks to the backend (`backend-protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendProtocol {
    /// HTTP/1.1 in clear text (the default).
    Http,
    /// HTTP/1.1 over TLS; the certificate is not verified (nginx's `proxy_ssl_verify off`).
    Https,
    /// gRPC: HTTP/2 in clear text (h2c).
    Grpc,
    /// gRPC over TLS (HTTP/2, ALPN `h2`); the certificate is not verified.
    Grpcs,
}

impl BackendProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendProtocol::Http => "HTTP",
            BackendProtocol::Https => "HTTPS",
            BackendProtocol::Grpc => "GRPC",
            BackendProtocol::Grpcs => "GRPCS",
        }
    }

    /// Whether the connection to the backend is TLS.
    pub fn tls(self) -> bool {
        matches!(self, BackendProtocol::Https | BackendProtocol::Grpcs)
    }

    /// Whether the backend speaks HTTP/2.
    pub fn http2(self) -> bool {
        matches!(self, BackendProtocol::Grpc | BackendProtocol::Grpcs)
    }
}

impl std::fmt::Display for BackendProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The upstream annotations of one Ingress; None where the Ingress leaves ingress-nginx's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamOptions {
    pub protocol: Option<BackendProtocol>,
    /// `service-upstream`: the Service's cluster IP instead of its endpoints.
    pub service_upstream: Option<bool>,
    /// `proxy-connect-timeout`, seconds.
    pub connect_timeout: Option<u32>,
    /// `proxy-read-timeout`, seconds.
    pub read_timeout: Option<u32>,
    /// `proxy-send-timeout`, seconds.
    pub send_timeout: Option<u32>,
    /// `client-body-buffer-size` in bytes: validated only (see [`parse`]).
    pub client_body_buffer_size: Option<u64>,
}

/// ingress-nginx's defaults (`config.go`: `proxy-connect-timeout` 5, `-read-` 60, `-send-` 60).
pub const DEFAULT_CONNECT_TIMEOUT: u32 = 5;
pub const DEFAULT_READ_TIMEOUT: u32 = 60;
pub const DEFAULT_SEND_TIMEOUT: u32 = 60;

pub(super) const NAMES: &[&str] = &[
    "backend-protocol",
    "service-upstream",
    "proxy-connect-timeout",
    "proxy-read-timeout",
    "proxy-send-timeout",
    "client-body-buffer-size",
];

/// Reads the upstream annotations.
///
/// `client-body-buffer-size` is checked and otherwise needs nothing: nginx read request bodies into a
/// buffer of this size and spooled larger ones to a temporary file before proxying; Envoy streams every
/// body to the backend through bounded buffers, so requests of any size behave as they did.
pub(super) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> UpstreamOptions {
    UpstreamOptions {
        protocol: protocol(a, diags),
        service_upstream: a.bool("service-upstream", diags),
        connect_timeout: seconds(a, "proxy-connect-timeout", diags),
        read_timeout: seconds(a, "proxy-read-timeout", diags),
        send_timeout: seconds(a, "proxy-send-timeout", diags),
        client_body_buffer_size: size(a, "client-body-buffer-size", diags),
    }
}

/// `backend-protocol`, case-insensitive as in ingress-nginx.
fn protocol(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<BackendProtocol> {
    let name = "backend-protocol";
    let value = a.get(name)?;
    match value.to_ascii_lowercase().as_str() {
        "http" => Some(BackendProtocol::Http),
        "https" => Some(BackendProtocol::Https),
        "grpc" => Some(BackendProtocol::Grpc),
        "grpcs" => Some(BackendProtocol::Grpcs),
        "auto_http" => {
            diags.warning(
                a.id,
                &field_of(name),
                "AUTO_HTTP (TLS to the backend only for HTTPS requests) is not supported: an Envoy cluster \
                 has one transport, so the backend is reached over plain HTTP",
            );
            Some(BackendProtocol::Http)
        }
        "fcgi" => {
            diags.warning(
                a.id,
                &field_of(name),
                "FCGI is not supported: Envoy does not speak FastCGI to backends, so requests are sent as \
                 HTTP/1.1 and fail unless the backend also speaks HTTP",
            );
            Some(BackendProtocol::Http)
        }
        _ => {
            diags.error(
                a.id,
                &field_of(name),
                format!("{value:?} is not one of HTTP, HTTPS, GRPC, GRPCS, AUTO_HTTP, FCGI"),
            );
            None
        }
    }
}

/// A timeout in whole seconds, as ingress-nginx reads it (`strconv.Atoi`, no unit), at least 1.
fn seconds(a: &Annotations<'_>, name: &str, diags: &mut Diagnostics) -> Option<u32> {
    let value = a.int(name, diags)?;
    match u32::try_from(value) {
        Ok(seconds) if seconds >= 1 => Some(seconds),
        _ => {
            diags.error(
                a.id,
                &field_of(name),
                format!(
                    "{value} is not a timeout: a number of seconds from 1 to {}",
                    u32::MAX
                ),
            );
            None
        }
    }
}

/// A size in nginx's syntax as ingress-nginx validates it (`^(?i)\d+[bkmg]?$`), in bytes.
fn size(a: &Annotations<'_>, name: &str, diags: &mut Diagnostics) -> Option<u64> {
    let value = a.get(name)?;
    let parsed = parse_size(value);
    if parsed.is_none() {
        diags.error(
            a.id,
            &field_of(name),
            format!("{value:?} is not a size (a number with an optional unit k, m or g, e.g. \"16k\")"),
        );
    }
    parsed
}

/// `16k`, `1M`, `100`: bytes; None when not a size or too large.
fn parse_size(value: &str) -> Option<u64> {
    let (digits, unit) = match value.as_bytes().last()? {
        b'0'..=b'9' => (value, 1),
        b'b' | b'B' => (&value[..value.len() - 1], 1),
        b'k' | b'K' => (&value[..value.len() - 1], 1 << 10),
        b'm' | b'M' => (&value[..value.len() - 1], 1 << 20),
        b'g' | b'G' => (&value[..value.len() - 1], 1 << 30),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::annotations::tests::parse_all;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn upstream(a: &[(&str, &str)]) -> (UpstreamOptions, Vec<String>) {
        let (options, messages) = parse_all(a);
        (options.upstream, messages)
    }

    const P: &str = "nginx.ingress.kubernetes.io/";

    #[wasm_bindgen_test(unsupported = test)]
    fn protocols_are_case_insensitive() {
        for (value, want) in [
            ("HTTP", BackendProtocol::Http),
            ("https", BackendProtocol::Https),
            ("GRPC", BackendProtocol::Grpc),
            ("gRPCs", BackendProtocol::Grpcs),
        ] {
            let (o, msgs) = upstream(&[(&format!("{P}backend-protocol"), value)]);
            assert!(msgs.is_empty(), "{msgs:?}");
            assert_eq!(o.protocol, Some(want), "{value}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unsupported_protocols_are_warned_and_invalid_ones_refused() {
        for value in ["AUTO_HTTP", "fcgi"] {
            let (o, msgs) = upstream(&[(&format!("{P}backend-protocol"), value)]);
            assert_eq!(o.protocol, Some(BackendProtocol::Http));
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            assert!(
                msgs[0].starts_with(
                    "ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/backend-protocol: "
                ),
                "{msgs:?}"
            );
            assert!(msgs[0].contains("is not supported"), "{msgs:?}");
        }
        let (o, msgs) = upstream(&[(&format!("{P}backend-protocol"), "h2c")]);
        assert_eq!(o.protocol, None);
        assert!(msgs[0].starts_with("ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/backend-protocol: \"h2c\" is not one of"), "{msgs:?}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn timeouts_are_whole_seconds() {
        let (o, msgs) = upstream(&[
            (&format!("{P}proxy-connect-timeout"), "50"),
            (&format!("{P}proxy-read-timeout"), " 3600 "),
            (&format!("{P}proxy-send-timeout"), "20"),
            (&format!("{P}service-upstream"), "true"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(
            (
                o.connect_timeout,
                o.read_timeout,
                o.send_timeout,
                o.service_upstream
            ),
            (Some(50), Some(3600), Some(20), Some(true))
        );
        // ingress-nginx's e2e "should not set invalid proxy timeouts": 50k is no timeout.
        for bad in ["50k", "10s", "0", "-5", "1.5", "99999999999"] {
            let (o, msgs) = upstream(&[(&format!("{P}proxy-read-timeout"), bad)]);
            assert_eq!(o.read_timeout, None, "{bad}");
            assert_eq!(msgs.len(), 1, "{bad}: {msgs:?}");
            assert!(
                msgs[0].starts_with(
                    "ns/ing: metadata.annotations.nginx.ingress.kubernetes.io/proxy-read-timeout: "
                ),
                "{msgs:?}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn body_buffer_sizes_use_nginx_units() {
        for (value, bytes) in [
            ("8k", 8192),
            ("1M", 1 << 20),
            ("100", 100),
            ("2g", 2 << 30),
            ("7b", 7),
        ] {
            let (o, msgs) = upstream(&[(&format!("{P}client-body-buffer-size"), value)]);
            assert!(msgs.is_empty(), "{msgs:?}");
            assert_eq!(o.client_body_buffer_size, Some(bytes), "{value}");
        }
        for bad in ["k", "8kb", "-1k", "1.5m", "99999999999999999999"] {
            let (o, msgs) = upstream(&[(&format!("{P}client-body-buffer-size"), bad)]);
            assert_eq!(o.client_body_buffer_size, None);
            assert!(
                msgs[0].contains("client-body-buffer-size: ") && msgs[0].contains("is not a size"),
                "{msgs:?}"
            );
        }
    }
}
