//! Live updates under load: Envoy started on the bootstrap `ingress-wasm sync --bootstrap` writes, reading
//! its listeners, clusters and the filter's configuration from the watched directory `sync` keeps
//! current. While client threads send requests over keep-alive connections to a route every version
//! has, the test syncs 20 configurations (alternating route sets, adding and removing backends and
//! hosts) and 3 invalid ones, each twice: pushed straight into the directory (Envoy refuses it: the
//! filter's `on_configure` fails, ECDS counts `config_fail`, the old routes keep answering) and through
//! `sync` (which keeps the invalid Ingress at its last valid version, or leaves a new one out, delivers
//! the valid rest, names it in `status.json` and exits 4).
//!
//! Asserted: no request of the load failed (every one answered 200 by the stable backend, no connection
//! error, one client always has a slow request in flight); each valid change served within 2 s of its
//! swap, each changed route answering its old or its new answer meanwhile (never a 503 for a cluster
//! removed or not yet there); each invalid one refused with the old routes still answering and Envoy
//! reporting the served version; Envoy never drained the listener. Printed: requests sent and failed,
//! and the swap-to-effect times.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::echo_server::EchoServer;
use support::envoy::{validate_yaml, wasm_module, Envoy, TempDir};
use support::http;
use support::live::{plugin_config, push_plugin_config, static_equivalent};
use support::scenario::{ingress, path, rule};

const SERVICES: [&str; 6] = ["stable", "blue", "green", "extra0", "extra1", "extra2"];
const STABLE_HOST: &str = "stable.test";
/// The paths the load goes to, both served by the stable Ingress in every version.
const STABLE_PATHS: [&str; 2] = ["/", "/api/orders"];
/// What the first load thread asks for instead: a slow answer, so requests are in flight across swaps.
const SLOW_PATH: &str = "/slow?echo-delay-ms=50";
const VALID_SWAPS: usize = 20;
const EFFECT_BOUND: Duration = Duration::from_secs(2);
const LOAD_THREADS: usize = 4;

/// The Ingresses of valid version `i`: the stable one (never changes), `shop` whose one path moves with
/// `i` and alternates between two backends, and one `roaming-k` Ingress whose host and backend rotate.
fn version(i: usize) -> Vec<Value> {
    vec![
        ingress(
            Some("default"),
            "stable",
            json!({}),
            json!({"rules": [rule(Some(STABLE_HOST), vec![path("/", "Prefix", "stable", 80)])]}),
        ),
        ingress(
            Some("default"),
            "shop",
            json!({}),
            json!({"rules": [rule(Some("shop.test"), vec![path(&format!("/v{i}"), "Exact", shop_service(i), 80)])]}),
        ),
        ingress(
            Some("default"),
            &format!("roaming-{}", i % 3),
            json!({}),
            json!({"rules": [rule(Some(&roaming_host(i)), vec![path("/", "Prefix", &format!("extra{}", i % 3), 80)])]}),
        ),
    ]
}

fn shop_service(i: usize) -> &'static str {
    if i % 2 == 0 {
        "blue"
    } else {
        "green"
    }
}

fn roaming_host(i: usize) -> String {
    format!("h{}.test", i % 3)
}

/// What a request is expected to get: an echo backend's name, or the filter's 404.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Backend(String),
    NotFound,
}

fn answer_of(r: &http::Response) -> Option<Answer> {
    match (r.status, r.echo()) {
        (200, Some(echo)) => Some(Answer::Backend(echo.service)),
        (404, None) => Some(Answer::NotFound),
        _ => None,
    }
}

/// A route a swap changes: what it answered before, what it must answer after.
#[derive(Debug, Clone)]
struct Change {
    host: String,
    path: String,
    before: Answer,
    after: Answer,
}

fn change(host: &str, path: &str, before: Answer, after: Answer) -> Change {
    Change {
        host: host.to_string(),
        path: path.to_string(),
        before,
        after,
    }
}

fn backend(name: &str) -> Answer {
    Answer::Backend(name.to_string())
}

/// The routes version `i` adds (404 before) and those it removes (404 from then on).
fn changes(i: usize) -> Vec<Change> {
    let mut list = vec![
        change(
            "shop.test",
            &format!("/v{i}"),
            Answer::NotFound,
            backend(shop_service(i)),
        ),
        change(
            &roaming_host(i),
            "/",
            Answer::NotFound,
            backend(&format!("extra{}", i % 3)),
        ),
    ];
    if i > 0 {
        let before = backend(shop_service(i - 1));
        list.push(change(
            "shop.test",
            &format!("/v{}", i - 1),
            before,
            Answer::NotFound,
        ));
        let before = backend(&format!("extra{}", (i - 1) % 3));
        list.push(change(&roaming_host(i - 1), "/", before, Answer::NotFound));
    }
    list
}

/// The counts of the load generator.
#[derive(Default)]
struct Load {
    sent: AtomicU64,
    failed: AtomicU64,
    connections: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// One keep-alive client: sends GETs to the stable routes (the first client: slow ones) until `stop`, reconnecting only when Envoy
/// says `connection: close`. Every request must get 200 from the stable backend.
fn load_thread(addr: SocketAddr, index: usize, load: Arc<Load>, stop: Arc<AtomicBool>) {
    let mut connection: Option<TcpStream> = None;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let path = match index {
            0 => SLOW_PATH,
            _ => STABLE_PATHS[(index + n) % STABLE_PATHS.len()],
        };
        n += 1;
        if connection.is_none() {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(stream) => {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let _ = stream.set_nodelay(true);
                    load.connections.fetch_add(1, Ordering::Relaxed);
                    connection = Some(stream);
                }
                Err(e) => {
                    fail(&load, format!("connect: {e}"));
                    continue;
                }
            }
        }
        let Some(stream) = connection.as_mut() else {
            continue;
        };
        load.sent.fetch_add(1, Ordering::Relaxed);
        let request = format!("GET {path} HTTP/1.1\r\nhost: {STABLE_HOST}\r\nuser-agent: load\r\n\r\n");
        match exchange(stream, request.as_bytes()) {
            Ok((status, close, body)) => {
                let service = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["service"].as_str().map(str::to_string));
                if status != 200 || service.as_deref() != Some("stable") {
                    fail(
                        &load,
                        format!("{path}: {status} {:?}", String::from_utf8_lossy(&body)),
                    );
                }
                if close {
                    connection = None;
                }
            }
            Err(e) => {
                fail(&load, format!("{path}: {e}"));
                connection = None;
            }
        }
    }
}

fn fail(load: &Load, what: String) {
    load.failed.fetch_add(1, Ordering::Relaxed);
    let mut failures = load.failures.lock().unwrap();
    if failures.len() < 20 {
        failures.push(what);
    }
}

/// One request on a keep-alive connection: status, whether the server closes, body.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<(u16, bool, Vec<u8>), String> {
    stream.write_all(request).map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} bytes", raw.len()));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no content-length: {head:?}"))?;
    let close = head
        .lines()
        .any(|l| l.starts_with("connection:") && l.contains("close"));
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err("closed in the body".to_string());
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok((status, close, body))
}

struct Sync {
    out: std::path::PathBuf,
    input: std::path::PathBuf,
    endpoints: std::path::PathBuf,
    wasm: String,
}

struct SyncRun {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Sync {
    fn run(&self, items: &[Value], extra: &[&str]) -> SyncRun {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        std::fs::write(&self.input, serde_json::to_string_pretty(&list).unwrap()).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_ingress-wasm"))
            .arg("sync")
            .arg("--input")
            .arg(&self.input)
            .arg("--out")
            .arg(&self.out)
            .args([
                "--wasm",
                &self.wasm,
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                // New clusters alone first (README, Live updates); briefly, to keep the test short.
                "--settle-ms",
                "200",
            ])
            .arg("--endpoints")
            .arg(&self.endpoints)
            .args(extra)
            .output()
            .unwrap();
        SyncRun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Polls until every changed route gives its new answer; the time it took, or what still differs after
/// `EFFECT_BOUND`. Meanwhile each may give its old answer, nothing else (no 503 for a cluster that is
/// not there yet, no connection error): anything else is pushed to `between`.
fn served(envoy: &Envoy, expected: &[Change], between: &mut Vec<String>) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let mut wrong = Vec::new();
        for c in expected {
            let r = http::try_send(
                envoy.addr,
                &http::get_request(c.host.as_bytes(), c.path.as_bytes(), &[]),
            );
            let got = r.as_ref().ok().and_then(answer_of);
            if got.as_ref() == Some(&c.after) {
                continue;
            }
            let shown = match &r {
                Ok(r) => r.summary(),
                Err(e) => e.clone(),
            };
            if got.as_ref() != Some(&c.before) {
                between.push(format!("{}{}: {shown}", c.host, c.path));
            }
            wrong.push(format!("{}{}: want {:?}, got {shown}", c.host, c.path, c.after));
        }
        if wrong.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > EFFECT_BOUND {
            return Err(wrong.join("; "));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn counter(envoy: &Envoy, name: &str) -> u64 {
    envoy.stat(name).unwrap_or(0)
}

const CONFIG_FAIL: &str = "extension_config_discovery.http_filter.ingress_wasm.config_fail";
const CONFIG_RELOAD: &str = "extension_config_discovery.http_filter.ingress_wasm.config_reload";

/// Waits (bounded) until a counter passes `above`.
fn counter_passes(envoy: &Envoy, name: &str, above: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < EFFECT_BOUND {
        if counter(envoy, name) > above {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The three invalid updates: a changed Ingress with an invalid field (kept at its last valid
/// version), a new Ingress with an invalid host (left out), a changed Ingress with an invalid
/// annotation value (kept). Each comes with the valid version `next` around it.
fn invalid(kind: usize, next: usize) -> (Vec<Value>, &'static str, &'static str, &'static str) {
    let mut items = version(next);
    match kind {
        0 => {
            items[1]["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("Prefx");
            (
                items,
                "default/shop",
                "spec.rules[0].http.paths[0].pathType",
                "keptOld",
            )
        }
        1 => {
            items.push(ingress(
                Some("team-b"),
                "typo",
                json!({}),
                json!({"rules": [
                    rule(Some("typo.test"), vec![path("/", "Prefix", "stable", 80)]),
                    rule(Some("Typo_Host.test"), vec![path("/", "Prefix", "stable", 80)]),
                ]}),
            ));
            (items, "team-b/typo", "spec.rules[1].host", "leftOut")
        }
        _ => {
            items[1]["metadata"]["annotations"] =
                json!({"nginx.ingress.kubernetes.io/proxy-body-size": "huge"});
            (
                items,
                "default/shop",
                "metadata.annotations.nginx.ingress.kubernetes.io/proxy-body-size",
                "keptOld",
            )
        }
    }
}

#[test]
fn configuration_swaps_under_load_fail_no_request() {
    let scratch = TempDir::new("live-update");
    let servers: BTreeMap<&str, EchoServer> = SERVICES.iter().map(|s| (*s, EchoServer::start(s))).collect();
    let endpoints: BTreeMap<String, Vec<String>> = servers
        .iter()
        .map(|(name, server)| (format!("default/{name}:80"), vec![server.addr.to_string()]))
        .collect();
    let sync = Sync {
        out: scratch.path.join("xds"),
        input: scratch.path.join("input.json"),
        endpoints: scratch.path.join("endpoints.json"),
        wasm: wasm_module().to_string_lossy().into_owned(),
    };
    std::fs::write(&sync.endpoints, serde_json::to_string(&endpoints).unwrap()).unwrap();
    let bootstrap = scratch.path.join("envoy.yaml");

    // Version 0, with the bootstrap; the stable route also answers /api/orders (a Prefix of /).
    let first = sync.run(&version(0), &["--bootstrap", bootstrap.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let mut validated = BTreeSet::new();
    let mut validate_current = |label: &str| {
        let config = static_equivalent(&sync.out);
        let key = config.to_string();
        if validated.insert(key) {
            let yaml = serde_yaml_ng::to_string(&config).unwrap();
            let v = validate_yaml(&scratch, &format!("static-{label}.yaml"), &yaml);
            assert!(
                v.success,
                "{label}: envoy --mode validate refused the synced files:\n{}",
                v.output
            );
        }
    };
    validate_current("v0");
    let envoy = Envoy::start("live-update", &std::fs::read_to_string(&bootstrap).unwrap());
    served(&envoy, &changes(0), &mut Vec::new())
        .unwrap_or_else(|e| panic!("version 0 not served: {e}\n{}", envoy.log()));

    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..LOAD_THREADS)
        .map(|i| {
            let (load, stop, addr) = (load.clone(), stop.clone(), envoy.addr);
            thread::spawn(move || load_thread(addr, i, load, stop))
        })
        .collect();

    let mut effects: Vec<Duration> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    // Answers of changed routes that were neither their old nor their new one.
    let mut between: Vec<String> = Vec::new();
    let invalid_after = [5usize, 11, 17];
    let mut pushed = 0;
    for i in 1..=VALID_SWAPS {
        let run = sync.run(&version(i), &[]);
        let swapped = Instant::now();
        if run.code != 0 {
            problems.push(format!(
                "sync {i}: exit {}: {}{}",
                run.code, run.stdout, run.stderr
            ));
        }
        match served(&envoy, &changes(i), &mut between) {
            Ok(_) => effects.push(swapped.elapsed()),
            Err(e) => problems.push(format!("version {i} not served within {EFFECT_BOUND:?}: {e}")),
        }
        if i < 6 {
            // Versions repeat their shape every 6 (two shop backends, three roaming ones).
            validate_current(&format!("v{i}"));
        }
        let Some(kind) = invalid_after.iter().position(|&after| after == i) else {
            continue;
        };

        // Straight into the directory: the whole configuration with the invalid Ingress, as a script
        // bypassing sync would write it. Envoy refuses it; version i keeps serving.
        let (items, ingress_id, field, outcome) = invalid(kind, i + 1);
        let mut bad = plugin_config(&sync.out);
        bad["ingresses"]["items"] = json!(items);
        let fails = counter(&envoy, CONFIG_FAIL);
        pushed += 1;
        push_plugin_config(&sync.out, &format!("bad{pushed}"), &bad);
        if !counter_passes(&envoy, CONFIG_FAIL, fails) {
            problems.push(format!(
                "invalid push {pushed} ({ingress_id} {field}) was not refused by Envoy"
            ));
        }
        if let Err(e) = served(&envoy, &changes(i), &mut between) {
            problems.push(format!(
                "after invalid push {pushed}, version {i} no longer answers: {e}"
            ));
        }
        // Envoy reports the version it serves: still sync's, not the pushed one.
        let served_version = status_of(&sync.out)["version"].to_string();
        let text = envoy.admin_get("/stats?filter=http_filter.ingress_wasm.version_text");
        if !text.contains(&format!("version_text: \"{served_version}\"")) {
            problems.push(format!(
                "after invalid push {pushed}, Envoy reports {text:?}, not version {served_version}"
            ));
        }
        let log = envoy.log();
        if !log.contains(&format!("{ingress_id}: {field}")) {
            problems.push(format!("Envoy's log does not name {ingress_id} {field}"));
        }

        // Through sync: the invalid Ingress is kept at version i (or left out), the valid rest of
        // version i+1 (the roaming Ingress) is delivered, status.json says which and why, exit 4.
        let run = sync.run(&items, &[]);
        let swapped = Instant::now();
        if run.code != 4 {
            problems.push(format!(
                "sync of invalid {pushed}: exit {}, want 4: {}",
                run.code, run.stderr
            ));
        }
        if !run.stderr.contains(&format!("error: {ingress_id}: {field}")) {
            problems.push(format!(
                "sync of invalid {pushed}: stderr does not name {ingress_id} {field}: {}",
                run.stderr
            ));
        }
        let status = status_of(&sync.out);
        let refused = &status["refused"];
        let named = refused.as_array().is_some_and(|list| {
            list.len() == 1
                && list[0]["ingress"] == ingress_id
                && list[0]["outcome"] == outcome
                && list[0]["problems"][0]["field"] == field
        });
        if !named || status["exitCode"] != 4 {
            problems.push(format!("status.json after invalid {pushed}: {status}"));
        }
        let same = |host: &str, path: &str, answer: Answer| change(host, path, answer.clone(), answer);
        let mut expected = vec![
            same(STABLE_HOST, "/", backend("stable")),
            change(
                &roaming_host(i + 1),
                "/",
                Answer::NotFound,
                backend(&format!("extra{}", (i + 1) % 3)),
            ),
            change(
                &roaming_host(i),
                "/",
                backend(&format!("extra{}", i % 3)),
                Answer::NotFound,
            ),
        ];
        if outcome == "keptOld" {
            // shop stays at version i, the roaming Ingress moves on to version i+1.
            expected.push(same("shop.test", &format!("/v{i}"), backend(shop_service(i))));
            expected.push(same("shop.test", &format!("/v{}", i + 1), Answer::NotFound));
        } else {
            expected.push(same("typo.test", "/", Answer::NotFound));
            let (old, new) = (format!("/v{i}"), format!("/v{}", i + 1));
            expected.push(change(
                "shop.test",
                &new,
                Answer::NotFound,
                backend(shop_service(i + 1)),
            ));
            expected.push(change(
                "shop.test",
                &old,
                backend(shop_service(i)),
                Answer::NotFound,
            ));
        }
        match served(&envoy, &expected, &mut between) {
            Ok(_) => effects.push(swapped.elapsed()),
            Err(e) => problems.push(format!("sync of invalid {pushed}: {e}")),
        }
        validate_current(&format!("invalid{pushed}"));
    }

    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let sent = load.sent.load(Ordering::Relaxed);
    let failed = load.failed.load(Ordering::Relaxed);
    effects.sort();
    let median = effects.get(effects.len() / 2).copied().unwrap_or_default();
    let max = effects.last().copied().unwrap_or_default();
    eprintln!(
        "live update: {} valid swaps + {} invalid (each pushed and synced); load: {sent} requests sent, {failed} \
         failed, over {} connections; swap-to-effect: median {median:?}, max {max:?}; Envoy: {} ECDS reloads, {} \
         refused, {} listener drains, {} Wasm VMs created ({} active at the end); changed routes answering \
         neither old nor new while switching: {}",
        VALID_SWAPS,
        invalid_after.len(),
        load.connections.load(Ordering::Relaxed),
        counter(&envoy, CONFIG_RELOAD),
        counter(&envoy, CONFIG_FAIL),
        counter(&envoy, "listener_manager.listener_modified"),
        counter(&envoy, "wasm.envoy.wasm.runtime.v8.created"),
        counter(&envoy, "wasm.envoy.wasm.runtime.v8.active"),
        between.len(),
    );
    assert!(sent > 1000, "the load generator sent only {sent} requests");
    assert!(
        between.is_empty(),
        "changed routes answered neither old nor new: {between:?}"
    );
    assert_eq!(failed, 0, "failed requests: {:?}", load.failures.lock().unwrap());
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        tail(&envoy.log())
    );
    assert_eq!(counter(&envoy, CONFIG_FAIL), invalid_after.len() as u64);
    assert_eq!(
        counter(&envoy, "listener_manager.listener_modified"),
        0,
        "the listener was drained"
    );
    assert_eq!(counter(&envoy, "listener_manager.lds.update_rejected"), 0);
    assert_eq!(counter(&envoy, "cluster_manager.cds.update_rejected"), 0);
    // The previous version directory stays, older ones are gone.
    let versions = std::fs::read_dir(&sync.out)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("..v"))
        .count();
    assert_eq!(versions, 2);
    assert!(Path::new(&sync.out.join("..data")).exists());
}

fn status_of(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("status.json")).unwrap()).unwrap()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
