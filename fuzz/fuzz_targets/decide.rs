//! An arbitrary route table and arbitrary requests through `RouteTable::decide`.
//!
//! The table is generated from structured input (hosts with wildcards, paths of every pathType, regex
//! paths, use-regex, rewrite-target, x-forwarded-prefix, default backends, access annotations, canaries
//! by weight, header and cookie, cookie session affinity, a catch-all, both `settings.semantics`), or is
//! one of the example configurations; requests are aimed at its hosts and paths or anywhere, with canary
//! headers, cookies and a random draw. Checks: never panics, and every decision keeps the invariants of
//! `decision::check` (the route's or its canary's cluster, canonical forwarded path, trace consistent
//! with the route, one server per host in the ingress-nginx profile, the spec's literal matching in the
//! kubernetes one).
#![no_main]

use arbitrary::Arbitrary;
use ingress_wasm::config::load;
use ingress_wasm_fuzz::generate::{RequestSpec, TableSpec};
use ingress_wasm_fuzz::{decision, examples};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Table {
    Generated(TableSpec),
    Example(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    table: Table,
    requests: Vec<RequestSpec>,
}

fuzz_target!(|input: Input| {
    let generated;
    let compiled = match &input.table {
        Table::Generated(spec) => match load(spec.config().to_string().as_bytes()) {
            Ok(c) => {
                generated = c;
                &generated
            }
            Err(_) => return,
        },
        Table::Example(i) => {
            let all = examples::tables();
            &all[usize::from(*i) % all.len()]
        }
    };
    for spec in input.requests.iter().take(8) {
        let parts = spec.parts(&compiled.table);
        decision::check_with(
            &compiled.table,
            &parts.request(),
            &parts.context,
            compiled.settings.max_path_bytes,
        );
    }
});
