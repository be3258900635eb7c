//! What the decision benchmarks share.

use ingress_wasm::RouteTable;

/// The route table of `config`, or None after saying why `label` was skipped.
pub fn table_or_report(label: &str, config: &[u8]) -> Option<RouteTable> {
    match ingress_wasm::load(config) {
        Ok(compiled) => Some(compiled.table),
        Err(diagnostics) => {
            eprintln!("{label}: config refused: {}", diagnostics.len());
            None
        }
    }
}
