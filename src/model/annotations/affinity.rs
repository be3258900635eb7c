//! Cookie session affinity: `affinity`, `affinity-mode`, `affinity-canary-behavior` and every
//! `session-cookie-*` annotation, read as ingress-nginx reads them
//! (`internal/ingress/annotations/sessionaffinity`).

use super::{field_of, Annotations};
use crate::diagnostics::Diagnostics;

/// How a session stays on its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffinityMode {
    /// Consistent hashing on the cookie's key: adding endpoints moves a share of the sessions.
    Balanced,
    /// The cookie names the endpoint: new endpoints never take existing sessions.
    Persistent,
}

impl AffinityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AffinityMode::Balanced => "balanced",
            AffinityMode::Persistent => "persistent",
        }
    }
}

/// `affinity-canary-behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryBehavior {
    /// Default: the canary gets the primary's affinity, so a client the canary served stays on it.
    Sticky,
    /// The canary keeps its own affinity settings (usually none).
    Legacy,
}

/// The session cookie, as the annotations describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// `session-cookie-name` (default `INGRESSCOOKIE`).
    pub name: String,
    /// `session-cookie-path`; None: the path of the Ingress rule the request matched.
    pub path: Option<String>,
    /// `session-cookie-max-age`, in seconds, written as given.
    pub max_age: Option<i64>,
    /// `session-cookie-expires`, in seconds from the time the cookie is issued.
    pub expires: Option<i64>,
    pub domain: Option<String>,
    /// `session-cookie-samesite` as written; ingress-nginx only emits `None`, `Lax` and `Strict` spelled
    /// exactly so (other spellings pass its validator and are then dropped by the cookie library).
    pub samesite: Option<String>,
    /// `session-cookie-secure`: always `Secure`; otherwise `Secure` only on HTTPS requests.
    pub secure: bool,
    pub conditional_samesite_none: bool,
    pub change_on_failure: bool,
}

/// `affinity: cookie` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityOptions {
    pub mode: AffinityMode,
    pub canary_behavior: CanaryBehavior,
    pub cookie: CookieOptions,
}

pub const DEFAULT_COOKIE_NAME: &str = "INGRESSCOOKIE";

pub(super) const NAMES: &[&str] = &[
    "affinity",
    "affinity-mode",
    "affinity-canary-behavior",
    "session-cookie-name",
    "session-cookie-path",
    "session-cookie-max-age",
    "session-cookie-expires",
    "session-cookie-domain",
    "session-cookie-samesite",
    "session-cookie-secure",
    "session-cookie-conditional-samesite-none",
    "session-cookie-change-on-failure",
];

/// ingress-nginx's `BasicCharsRegex` (`^[/-._~a-zA-Z0-9:]*$`) and `URLIsValidRegex` (the same plus
/// `,?&=`).
fn chars_ok(value: &str, extra: &[u8]) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-._~:".contains(&b) || extra.contains(&b))
}

/// Reads the affinity annotations; None when the Ingress does not ask for `affinity: cookie`.
pub(super) fn parse(a: &Annotations<'_>, diags: &mut Diagnostics) -> Option<AffinityOptions> {
    let affinity = a.get("affinity");
    match affinity {
        Some("cookie") => {}
        Some(other) => {
            diags.error(
                a.id,
                &field_of("affinity"),
                format!("{other:?} is not supported: the only affinity type is \"cookie\""),
            );
            return None;
        }
        None => {
            for name in &NAMES[1..] {
                if a.get(name).is_some() && *name != "affinity-canary-behavior" {
                    diags.warning(
                        a.id,
                        &field_of(name),
                        "has no effect without nginx.ingress.kubernetes.io/affinity: \"cookie\" (as in ingress-nginx)",
                    );
                }
            }
            return None;
        }
    }
    let mode = match a.get("affinity-mode") {
        None | Some("balanced") => AffinityMode::Balanced,
        Some("persistent") => AffinityMode::Persistent,
        Some(other) => {
            diags.error(
                a.id,
                &field_of("affinity-mode"),
                format!("{other:?} is not \"balanced\" or \"persistent\""),
            );
            AffinityMode::Balanced
        }
    };
    let canary_behavior = canary_behavior(a, diags);
    let mut cookie = CookieOptions {
        name: DEFAULT_COOKIE_NAME.to_string(),
        path: None,
        max_age: a.int("session-cookie-max-age", diags),
        expires: a.int("session-cookie-expires", diags),
        domain: None,
        samesite: None,
        secure: a.bool("session-cookie-secure", diags).unwrap_or(false),
        conditional_samesite_none: a
            .bool("session-cookie-conditional-samesite-none", diags)
            .unwrap_or(false),
        change_on_failure: a.bool("session-cookie-change-on-failure", diags).unwrap_or(false),
    };
    if let Some(name) = a.get("session-cookie-name") {
        if chars_ok(name, b"") && !name.contains(['/', ':']) {
            cookie.name = name.to_string();
        } else {
            diags.error(
                a.id,
                &field_of("session-cookie-name"),
                format!("{name:?} is not a cookie name (letters, digits, - . _ ~)"),
            );
        }
    }
    if let Some(path) = a.get("session-cookie-path") {
        if chars_ok(path, b",?&=") {
            cookie.path = Some(path.to_string());
        } else {
            diags.error(
                a.id,
                &field_of("session-cookie-path"),
                format!("{path:?} has characters ingress-nginx does not accept"),
            );
        }
    }
    if let Some(domain) = a.get("session-cookie-domain") {
        if chars_ok(domain, b"") {
            cookie.domain = Some(domain.to_string());
        } else {
            diags.error(
                a.id,
                &field_of("session-cookie-domain"),
                format!("{domain:?} is not a domain"),
            );
        }
    }
    if let Some(samesite) = a.get("session-cookie-samesite") {
        match samesite {
            "None" | "Lax" | "Strict" => cookie.samesite = Some(samesite.to_string()),
            s if ["none", "lax", "strict"].contains(&s.to_ascii_lowercase().as_str()) => diags.warning(
                a.id,
                &field_of("session-cookie-samesite"),
                format!(
                    "{s:?} is dropped from the cookie, as ingress-nginx does: write None, Lax or Strict exactly"
                ),
            ),
            s => diags.error(
                a.id,
                &field_of("session-cookie-samesite"),
                format!("{s:?} is not None, Lax or Strict"),
            ),
        }
    }
    if cookie.change_on_failure {
        diags.warning(
            a.id,
            &field_of("session-cookie-change-on-failure"),
            "Envoy does not retry a failed upstream attempt here, so the cookie changes only when its \
             endpoint is gone (persistent mode) — not after each failed attempt as in ingress-nginx",
        );
    }
    Some(AffinityOptions {
        mode,
        canary_behavior,
        cookie,
    })
}

/// `affinity-canary-behavior` (read on canary Ingresses, whatever their own affinity).
pub(super) fn canary_behavior(a: &Annotations<'_>, diags: &mut Diagnostics) -> CanaryBehavior {
    match a.get("affinity-canary-behavior") {
        None | Some("sticky") => CanaryBehavior::Sticky,
        Some("legacy") => CanaryBehavior::Legacy,
        Some(other) => {
            diags.error(
                a.id,
                &field_of("affinity-canary-behavior"),
                format!("{other:?} is not \"sticky\" or \"legacy\""),
            );
            CanaryBehavior::Sticky
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_all;
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn key(name: &str) -> String {
        format!("nginx.ingress.kubernetes.io/{name}")
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn defaults_of_cookie_affinity() {
        let (o, msgs) = parse_all(&[(&key("affinity"), "cookie")]);
        assert!(msgs.is_empty(), "{msgs:?}");
        let a = o.affinity.unwrap();
        assert_eq!(a.mode, AffinityMode::Balanced);
        assert_eq!(a.canary_behavior, CanaryBehavior::Sticky);
        assert_eq!(a.cookie.name, "INGRESSCOOKIE");
        assert_eq!((a.cookie.path.as_deref(), a.cookie.secure), (None, false));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_every_session_cookie_annotation() {
        let (o, msgs) = parse_all(&[
            (&key("affinity"), "cookie"),
            (&key("affinity-mode"), "persistent"),
            (&key("session-cookie-name"), "route"),
            (&key("session-cookie-path"), "/app"),
            (&key("session-cookie-max-age"), "172800"),
            (&key("session-cookie-expires"), "3600"),
            (&key("session-cookie-domain"), "example.com"),
            (&key("session-cookie-samesite"), "None"),
            (&key("session-cookie-secure"), "true"),
            (&key("session-cookie-conditional-samesite-none"), "true"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        let a = o.affinity.unwrap();
        assert_eq!(a.mode, AffinityMode::Persistent);
        let c = a.cookie;
        assert_eq!(c.name, "route");
        assert_eq!(c.path.as_deref(), Some("/app"));
        assert_eq!((c.max_age, c.expires), (Some(172800), Some(3600)));
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        assert_eq!(c.samesite.as_deref(), Some("None"));
        assert!(c.secure && c.conditional_samesite_none && !c.change_on_failure);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_values_and_lonely_cookie_settings() {
        let (o, msgs) = parse_all(&[
            (&key("affinity"), "cookie"),
            (&key("affinity-mode"), "sticky"),
            (&key("session-cookie-samesite"), "lax"),
            (&key("session-cookie-max-age"), "1d"),
        ]);
        assert!(o.affinity.unwrap().cookie.samesite.is_none());
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs
            .iter()
            .any(|m| m.contains("affinity-mode: \"sticky\" is not")));
        assert!(msgs
            .iter()
            .any(|m| m.contains("session-cookie-samesite: \"lax\" is dropped")));
        assert!(msgs
            .iter()
            .any(|m| m.contains("session-cookie-max-age: \"1d\" is not a whole number")));
        let (o, msgs) = parse_all(&[(&key("session-cookie-name"), "route")]);
        assert!(o.affinity.is_none());
        assert!(
            msgs[0].contains("session-cookie-name: has no effect without"),
            "{msgs:?}"
        );
        let (_, msgs) = parse_all(&[(&key("affinity"), "ip")]);
        assert!(msgs[0].contains("affinity: \"ip\" is not supported"), "{msgs:?}");
    }
}
