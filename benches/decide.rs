//! Cost of one routing decision as the number of rules grows (native build of the same core the filter
//! runs). Run: `cargo bench --bench decide`. Prints ns per decision; the claim to check is that the
//! cost stays flat from 10 to 10,000 rules, where Envoy's own route list grows linearly.

use ingress_wasm::{Decision, Request};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

fn config(hosts: usize, paths_per_host: usize, regex: bool) -> Vec<u8> {
    let mut items = Vec::new();
    for h in 0..hosts {
        let paths: Vec<_> = (0..paths_per_host)
            .map(|p| {
                let path = if regex {
                    format!("/api{p}/v[0-9]+/(.*)")
                } else {
                    format!("/api{p}/items")
                };
                json!({"path": path, "pathType": if regex { "ImplementationSpecific" } else { "Prefix" },
                       "backend": {"service": {"name": format!("svc-{p}"), "port": {"number": 80}}}})
            })
            .collect();
        let annotations = if regex {
            json!({"nginx.ingress.kubernetes.io/use-regex": "true"})
        } else {
            json!({})
        };
        items.push(
            json!({"metadata": {"name": format!("ing-{h}"), "namespace": "bench",
            "creationTimestamp": "2024-01-01T00:00:00Z", "annotations": annotations},
            "spec": {"rules": [{"host": format!("host{h}.example.com"), "http": {"paths": paths}}]}}),
        );
    }
    json!({"kind": "List", "items": items}).to_string().into_bytes()
}

fn measure(label: &str, hosts: usize, paths: usize, regex: bool) {
    let table = match ingress_wasm::load(&config(hosts, paths, regex)) {
        Ok(c) => c.table,
        Err(d) => {
            eprintln!("{label}: config refused: {}", d.len());
            return;
        }
    };
    let host = format!("host{}.example.com:8080", hosts - 1);
    let path = if regex {
        format!("/api{}/v2/users/42?x=1", paths - 1)
    } else {
        format!("/api{}/items/42?x=1", paths - 1)
    };
    let request = Request {
        scheme: "http",
        authority: &host,
        path: &path,
    };
    if !matches!(table.decide(&request), Decision::Forward(_)) {
        eprintln!("{label}: request did not route");
        return;
    }
    let iterations = 200_000;
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(table.decide(black_box(&request)));
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{label:<40} {:>7} rules  {ns:>8.0} ns/decision", hosts * paths);
}

fn main() {
    for (hosts, paths) in [(1, 10), (100, 10), (1000, 10), (100, 100)] {
        measure("prefix paths, last host, last path", hosts, paths, false);
    }
    for (hosts, paths) in [(1, 10), (100, 10), (10, 100)] {
        measure("regex paths (RegexSet), last path", hosts, paths, true);
    }
}
