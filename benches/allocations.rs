//! Heap allocations per routing decision (native build of the core the filter runs), counted by a
//! global allocator that wraps the system one. Run: `cargo bench --bench allocations`. The claim to
//! check: a decision allocates nothing beyond what it returns (a rewritten path, headers to set), so
//! the rows without a rewrite show 0.

mod support;

use ingress_wasm::{Decision, Request};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::table_or_report;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One Ingress per host; `annotations` on each.
fn config(hosts: usize, paths: &[&str], path_type: &str, annotations: serde_json::Value) -> Vec<u8> {
    let items: Vec<_> = (0..hosts)
        .map(|h| {
            let paths: Vec<_> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    json!({"path": p, "pathType": path_type,
                           "backend": {"service": {"name": format!("svc-{i}"), "port": {"number": 80}}}})
                })
                .collect();
            json!({"metadata": {"name": format!("ing-{h}"), "namespace": "bench", "annotations": annotations},
                   "spec": {"rules": [{"host": format!("host{h}.example.com"), "http": {"paths": paths}}]}})
        })
        .collect();
    json!({"ingresses": {"kind": "List", "items": items}})
        .to_string()
        .into_bytes()
}

fn count(label: &str, config: &[u8], host: &str, path: &str) {
    let Some(table) = table_or_report(label, config) else {
        return;
    };
    let request = Request {
        scheme: "http",
        authority: host,
        path,
    };
    let returned = match table.decide(&request) {
        Decision::Forward(f) => {
            usize::from(f.path.is_some())
                + f.headers.len()
                + usize::from(!f.headers.is_empty())
                + f.properties.len()
                + usize::from(!f.properties.is_empty())
        }
        other => {
            eprintln!("{label}: request did not route: {other:?}");
            return;
        }
    };
    // Warm: the lazy DFA fills its cache on the first searches.
    for _ in 0..10 {
        black_box(table.decide(black_box(&request)));
    }
    const ROUNDS: usize = 1000;
    let (a0, b0) = (ALLOCATIONS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    for _ in 0..ROUNDS {
        black_box(table.decide(black_box(&request)));
    }
    let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - a0) as f64 / ROUNDS as f64;
    let bytes = (BYTES.load(Ordering::Relaxed) - b0) as f64 / ROUNDS as f64;
    println!(
        "{label:<52} {allocations:>5.1} allocations {bytes:>7.0} bytes per decision  (returned values: {returned})"
    );
}

fn main() {
    let none = json!({});
    let prefix = ["/api", "/api/users", "/static", "/svc9/api"];
    count(
        "Prefix, 1 host",
        &config(1, &prefix, "Prefix", none.clone()),
        "host0.example.com",
        "/svc9/api/items?x=1",
    );
    count(
        "Prefix, last of 1,000 hosts, with port",
        &config(1000, &prefix, "Prefix", none.clone()),
        "host999.example.com:8080",
        "/svc9/api/items",
    );
    count(
        "Exact",
        &config(1, &["/svc9/api/items"], "Exact", none.clone()),
        "host0.example.com",
        "/svc9/api/items",
    );
    let regex = ["/svc0/api(/|$)(.*)", "/svc9/api(/|$)(.*)"];
    count(
        "regex (use-regex), no rewrite",
        &config(
            1,
            &regex,
            "ImplementationSpecific",
            json!({"nginx.ingress.kubernetes.io/use-regex": "true"}),
        ),
        "host0.example.com",
        "/svc9/api/items",
    );
    count(
        "regex with rewrite-target /$2",
        &config(
            1,
            &regex,
            "ImplementationSpecific",
            json!({"nginx.ingress.kubernetes.io/use-regex": "true",
                   "nginx.ingress.kubernetes.io/rewrite-target": "/$2"}),
        ),
        "host0.example.com",
        "/svc9/api/items",
    );
    count(
        "Prefix, path to normalize (//, %41)",
        &config(1, &prefix, "Prefix", none),
        "host0.example.com",
        "/svc9//api/%41items",
    );
}
