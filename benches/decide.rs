//! Cost of one routing decision as the number of rules grows (native build of the same core the filter
//! runs), and the time to compile 10,000 rules. Run: `cargo bench --bench decide`. Prints ns per decision; the claim to check is that the
//! cost stays flat from 10 to 10,000 rules, where Envoy's own route list grows linearly, and that a
//! hostile path (as many nested elements as fit, every one a rule) costs time linear in its length.

mod support;

use ingress_wasm::{Decision, Request};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;
use support::table_or_report;

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
    // Long paths are allowed so the worst cases below reach the matchers.
    json!({"ingresses": {"kind": "List", "items": items}, "settings": {"maxPathBytes": 98304}})
        .to_string()
        .into_bytes()
}

/// One host whose Prefix paths nest `/a`, `/a/a`, ... `depth` deep: every element of a `/a/a/...`
/// request is a rule boundary.
fn nested_config(depth: usize) -> Vec<u8> {
    let paths: Vec<_> = (1..=depth)
        .map(|d| {
            json!({"path": "/a".repeat(d), "pathType": "Prefix",
                   "backend": {"service": {"name": "svc", "port": {"number": 80}}}})
        })
        .collect();
    let item = json!({"metadata": {"name": "nested", "namespace": "bench"},
        "spec": {"rules": [{"host": "host0.example.com", "http": {"paths": paths}}]}});
    json!({"ingresses": item, "settings": {"maxPathBytes": 98304}})
        .to_string()
        .into_bytes()
}

fn measure(label: &str, hosts: usize, paths: usize, regex: bool) {
    let path = if regex {
        format!("/api{}/v2/users/42?x=1", paths - 1)
    } else {
        format!("/api{}/items/42?x=1", paths - 1)
    };
    let host = format!("host{}.example.com:8080", hosts - 1);
    time(label, &config(hosts, paths, regex), hosts * paths, &host, &path);
}

fn time(label: &str, config: &[u8], rules: usize, host: &str, path: &str) {
    let Some(table) = table_or_report(label, config) else {
        return;
    };
    let request = Request {
        scheme: "http",
        authority: host,
        path,
    };
    if !matches!(table.decide(&request), Decision::Forward(_)) {
        eprintln!("{label}: request did not route");
        return;
    }
    // Fewer rounds for long paths: the same total bytes.
    let iterations = (200_000 * 64 / path.len().max(64)).max(200);
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(table.decide(black_box(&request)));
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{label:<44} {rules:>7} rules  {ns:>10.0} ns/decision");
}

/// Time to load and compile a configuration (what each VM does in `on_configure`), best of 3.
fn compile_time(label: &str, config: &[u8], rules: usize) {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let loaded = ingress_wasm::load(black_box(config));
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        if loaded.is_err() {
            eprintln!("{label}: config refused");
            return;
        }
    }
    println!("{label:<44} {rules:>7} rules  {best:>10.1} ms to compile");
}

fn main() {
    compile_time(
        "compile: Prefix paths, one host",
        &config(1, 10_000, false),
        10_000,
    );
    compile_time(
        "compile: Prefix paths, 1,000 hosts",
        &config(1000, 10, false),
        10_000,
    );
    compile_time("compile: regex paths, one host", &config(1, 5_000, true), 5_000);
    for (hosts, paths) in [(1, 10), (100, 10), (1000, 10), (100, 100)] {
        measure("prefix paths, last host, last path", hosts, paths, false);
    }
    for (hosts, paths) in [(1, 10), (100, 10), (10, 100)] {
        measure("regex paths (one regex per host), last path", hosts, paths, true);
    }
    // Worst-case paths: Envoy's default header limit is 60 KiB, the filter's default path limit 8 KiB.
    for kib in [8, 60] {
        let path = "/a".repeat(kib * 512);
        for depth in [10, 1000] {
            time(
                &format!("worst case: {kib} KiB of /a/a/..., nested rules"),
                &nested_config(depth),
                depth,
                "host0.example.com",
                &path,
            );
        }
        let regex_path = format!("/api0/v{}/x", "9".repeat(kib * 1024 - 12));
        time(
            &format!("worst case: {kib} KiB path through a regex"),
            &config(1, 100, true),
            100,
            "host0.example.com",
            &regex_path,
        );
    }
}
