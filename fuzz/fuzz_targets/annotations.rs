//! Arbitrary annotations on a real Ingress (one of the examples), through the loader.
//!
//! Input: a first line `<example number> [kubernetes]`, then one annotation per line, `key: value`
//! (`\n` in a value is a newline; a key without `/` gets the `nginx.ingress.kubernetes.io/` prefix), and
//! optionally `request <authority> <path>`. Checks: never panics; no ingress-nginx annotation is dropped
//! silently (each unsupported one gets a diagnostic naming it); invalid booleans and templates are
//! errors; an Ingress with an access annotation enforces it or fails closed on every route, and an
//! Ingress without one fails closed on none; a canary Ingress routes nothing itself and keeps only its
//! canary and affinity annotations; decisions keep `decision::check`.
#![no_main]

use ingress_wasm::config::{load, plugin_config};
use ingress_wasm::decide::rewrite::Template;
use ingress_wasm::model::annotations::{parse_bool, snippet_access_directive, PREFIX};
use ingress_wasm::Request;
use ingress_wasm_fuzz::{decision, examples};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

/// Supported annotations: every other ingress-nginx annotation must be warned about.
const SUPPORTED: &[&str] = &[
    "rewrite-target",
    "x-forwarded-prefix",
    "use-regex",
    "canary",
    "canary-by-header",
    "canary-by-header-value",
    "canary-by-header-pattern",
    "canary-by-cookie",
    "canary-weight",
    "canary-weight-total",
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
    "allowlist-source-range",
    "whitelist-source-range",
    "denylist-source-range",
    "auth-type",
    "auth-secret",
    "auth-secret-type",
    "auth-realm",
    "proxy-body-size",
    "ssl-redirect",
    "force-ssl-redirect",
    "preserve-trailing-slash",
    "enable-cors",
    "cors-allow-origin",
    "cors-allow-methods",
    "cors-allow-headers",
    "cors-allow-credentials",
    "cors-expose-headers",
    "cors-max-age",
    "app-root",
    "permanent-redirect",
    "permanent-redirect-code",
    "temporal-redirect",
    "temporal-redirect-code",
    "server-alias",
    "from-to-www-redirect",
    "upstream-vhost",
    "backend-protocol",
    "service-upstream",
    "proxy-connect-timeout",
    "proxy-read-timeout",
    "proxy-send-timeout",
    "client-body-buffer-size",
    "custom-http-errors",
    "default-backend",
];

/// Parameters of `auth-type`: they protect nothing on their own.
const AUTH_PARAMETERS: &[&str] = &["auth-secret", "auth-secret-type", "auth-realm"];

/// ingress-nginx annotations that restrict who may reach a path, or how (besides `auth-*`, `limit-*`).
const ACCESS: &[&str] = &[
    "whitelist-source-range",
    "allowlist-source-range",
    "denylist-source-range",
    "satisfy",
    "global-rate-limit",
    "global-rate-limit-window",
    "global-rate-limit-key",
    "global-rate-limit-ignored-cidrs",
    "enable-modsecurity",
    "enable-owasp-core-rules",
    "modsecurity-snippet",
    "modsecurity-transaction-id",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let kubernetes = header.contains("kubernetes");
    let example = header
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let mut annotations = Map::new();
    let mut request = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("request ") {
            request = rest.split_once(' ');
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .map_or((line, ""), |(k, v)| (k, v.strip_prefix(' ').unwrap_or(v)));
        let key = if key.contains('/') {
            key.to_string()
        } else {
            format!("{PREFIX}{key}")
        };
        annotations.insert(key, Value::String(value.replace("\\n", "\n")));
    }
    let bases = examples::ingresses();
    let mut ingress = bases[example % bases.len()].clone();
    ingress["metadata"]["annotations"] = Value::Object(annotations.clone());
    ingress["spec"]["ingressClassName"] = json!("nginx");
    let id = format!(
        "{}/{}",
        ingress["metadata"]["namespace"].as_str().unwrap_or("default"),
        ingress["metadata"]["name"].as_str().unwrap_or("")
    );
    let semantics = if kubernetes { "kubernetes" } else { "ingress-nginx" };
    let config = plugin_config(vec![ingress], Some(json!({"semantics": semantics})));
    let result = load(config.to_string().as_bytes());
    let diagnostics = match &result {
        Ok(c) => c.warnings.clone(),
        Err(d) => d.clone(),
    };
    let about = |key: &str, error: bool| {
        let field = format!("metadata.annotations.{key}");
        diagnostics
            .iter()
            .any(|d| d.object == id && d.field == field && (!error || d.is_error()))
    };

    // A key the API server refuses refuses the Ingress before its annotations are read.
    if diagnostics
        .iter()
        .any(|d| d.is_error() && d.field == "metadata.annotations")
    {
        assert!(result.is_err());
        return;
    }
    // A canary Ingress keeps only its canary and affinity annotations; the others are ignored, with a word.
    let value_of = |name: &str| {
        annotations
            .get(&format!("{PREFIX}{name}"))
            .and_then(Value::as_str)
            .map(str::trim)
    };
    let canary = value_of("canary").and_then(parse_bool) == Some(true);
    let mut protected = false;
    for (key, value) in &annotations {
        let Some(name) = key.strip_prefix(PREFIX) else {
            continue;
        };
        let value = value.as_str().unwrap_or("").trim();
        if value.is_empty() {
            continue; // counts as absent, as in ingress-nginx
        }
        if !SUPPORTED.contains(&name) {
            assert!(about(key, false), "annotation {key:?} dropped without a word");
        }
        match name {
            "canary" if parse_bool(value).is_none() => {
                assert!(
                    about(key, true),
                    "{key}: {value:?} is not a boolean, yet no error"
                )
            }
            _ if canary => {}
            "use-regex" if parse_bool(value).is_none() => {
                assert!(
                    about(key, true),
                    "{key}: {value:?} is not a boolean, yet no error"
                )
            }
            "rewrite-target" | "x-forwarded-prefix" if Template::parse(value).is_err() => {
                assert!(
                    about(key, true),
                    "{key}: {value:?} is outside the grammar, yet no error"
                )
            }
            "configuration-snippet" | "server-snippet" | "stream-snippet" => {
                protected |= snippet_access_directive(value).is_some()
            }
            n if AUTH_PARAMETERS.contains(&n) => {}
            n if n.starts_with("auth-") || n.starts_with("limit-") || ACCESS.contains(&n) => protected = true,
            _ => {}
        }
    }

    let Ok(compiled) = result else { return };
    let table = &compiled.table;
    let own: Vec<_> = table.routes().iter().filter(|r| r.ingress == id).collect();
    if canary {
        assert!(own.is_empty(), "a canary Ingress is served");
    }
    // Access annotations are enforced (the route carries a policy) or fail closed; never dropped.
    for r in &own {
        if protected {
            assert!(
                !r.unenforced.is_empty() || r.policy.is_some(),
                "{} is served unprotected",
                r.field
            );
        } else {
            assert!(
                r.unenforced.is_empty(),
                "{} fails closed: {:?}",
                r.field,
                r.unenforced
            );
        }
    }
    let max = compiled.settings.max_path_bytes;
    for r in own.iter().take(8) {
        let authority = r.host.as_deref().unwrap_or("").replace('*', "x");
        decision::check(
            table,
            &Request {
                scheme: "http",
                authority: &authority,
                path: &r.path,
            },
            max,
        );
    }
    if let Some((authority, path)) = request {
        decision::check(
            table,
            &Request {
                scheme: "https",
                authority,
                path,
            },
            max,
        );
    }
});
