//! Arbitrary bytes as the plugin configuration, through `config::load`, the function the filter calls in
//! `on_configure`. Checks: never panics; a refusal carries an error, an acceptance none; no two backends
//! share a cluster name; every literal path of the table is reachable on its own host (an Exact path
//! chooses exactly its own route); every decision keeps the invariants of `decision::check`.
#![no_main]

use ingress_wasm::config::load;
use ingress_wasm::decide::request_path::RequestPath;
use ingress_wasm::decide::{Decision, Request, RouteTable};
use ingress_wasm::model::ingress::PathType;
use ingress_wasm_fuzz::decision;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let compiled = match load(data) {
        Err(diagnostics) => {
            assert!(
                diagnostics.iter().any(|d| d.is_error()),
                "refused without an error: {diagnostics:?}"
            );
            return;
        }
        Ok(compiled) => compiled,
    };
    assert!(
        compiled.warnings.iter().all(|d| !d.is_error()),
        "accepted with errors"
    );
    let table = &compiled.table;
    let max = compiled.settings.max_path_bytes;
    let mut owners = HashMap::new();
    for r in table.routes() {
        let b = &r.backend;
        let owner = owners
            .entry(b.cluster.as_str())
            .or_insert((&b.namespace, &b.service, &b.port));
        assert_eq!(
            *owner,
            (&b.namespace, &b.service, &b.port),
            "two backends share cluster {:?}",
            b.cluster
        );
    }
    for (id, r) in table.routes().iter().enumerate().take(32) {
        reach(table, id, max);
        let host = r.host.as_deref().unwrap_or("");
        decision::check(
            table,
            &Request {
                scheme: "http",
                authority: host,
                path: &r.path,
            },
            max,
        );
    }
    for path in ["/", "/zz", "/%2e%2e/x", "*"] {
        decision::check(
            table,
            &Request {
                scheme: "https",
                authority: "unknown.invalid",
                path,
            },
            max,
        );
    }
});

/// Requests a literal route's own path on its own host: something answers, and an Exact path answers
/// with its own route.
fn reach(table: &RouteTable, id: usize, max: usize) {
    let Some(r) = table.route(id) else { return };
    let Some(path_type) = r.path_type else { return };
    let canonical = RequestPath::normalize(&r.path).is_some_and(|p| p.as_str() == r.path);
    if r.regex || !canonical || r.path.len() > max {
        return;
    }
    // A wildcard route is requested on a label no rule names exactly (an exact host would shadow it).
    let authority = match r.host.as_deref() {
        None => String::new(),
        Some(h) => match h.strip_prefix("*.") {
            Some(parent) => format!("zz-fuzz.{parent}"),
            None => h.to_string(),
        },
    };
    if r.host.as_deref() != Some(authority.as_str())
        && table
            .routes()
            .iter()
            .any(|o| o.host.as_deref() == Some(authority.as_str()))
    {
        return;
    }
    let decision = table.decide(&Request {
        scheme: "http",
        authority: &authority,
        path: &r.path,
    });
    assert!(
        !matches!(decision, Decision::NotFound(_)),
        "{} {:?} on {authority:?} is unreachable",
        r.field,
        r.path
    );
    if path_type == PathType::Exact {
        assert_eq!(
            decision.trace().route,
            Some(id),
            "Exact {:?} on {authority:?} answered by another route",
            r.path
        );
    }
}
