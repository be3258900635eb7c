//! `ingress-wasm replay` end to end: generated ingress-nginx access logs for the seeds' Ingresses
//! (`tests/replay_support`) in the three formats, replayed against the seeds (nothing differs) and
//! against deliberately changed Ingresses (exactly the changed requests are reported); canary weights;
//! source ranges and basic auth as nginx judged them; malformed, truncated and gzip input; exit statuses;
//! the JSON report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod replay_support;
mod support;

use replay_support::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use support::cli::{root, Output};

const SEEDS: &str = "k8s/examples/seeds.yaml";
const CANARY: &str = "k8s/examples/canary.yaml";
const DOCS: &str = "tests/replay_support/docs.yaml";
const BASIC_AUTH: &str = "k8s/examples/basic-auth.yaml";
const INTRANET: &str = "tests/replay_support/intranet.yaml";

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    support::cli::run(args, stdin)
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, b"")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ingress-wasm-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// One of the three formats: how lines are written and what `--format` says.
#[derive(Clone, Copy)]
struct Format {
    name: &'static str,
    line: fn(&Hit, usize) -> String,
    option: Option<&'static str>,
    /// Whether the lines carry the host, the headers and `$uri`.
    rich: bool,
}

const DEFAULT: Format = Format {
    name: "default",
    line: default_line,
    option: None,
    rich: false,
};
const CUSTOM: Format = Format {
    name: "custom",
    line: custom_line,
    option: Some(CUSTOM_FORMAT),
    rich: true,
};
const JSON: Format = Format {
    name: "json",
    line: json_line,
    option: Some(JSON_FORMAT),
    rich: true,
};
const JSON_BY_NAME: Format = Format {
    name: "json-by-name",
    line: json_by_name_line,
    option: None,
    rich: true,
};

/// Replays `hits` written in `format` against `configs`; the report as JSON.
fn replay(dir: &Path, configs: &[&str], hits: &[Hit], format: Format) -> (Output, Value) {
    let out = replay_with(dir, configs, hits, format, &["--json"]);
    let report = out.json();
    (out, report)
}

/// Replays `hits` written in `format` against `configs`, with more options.
fn replay_with(dir: &Path, configs: &[&str], hits: &[Hit], format: Format, options: &[&str]) -> Output {
    let log = write(dir, &format!("{}.log", format.name), log(hits, format.line));
    let mut args = vec!["replay"];
    args.extend_from_slice(configs);
    args.extend_from_slice(&["--log", &log]);
    args.extend_from_slice(options);
    if let Some(option) = format.option {
        args.extend_from_slice(&["--format", option]);
    }
    run(&args)
}

fn summary(report: &Value, key: &str) -> u64 {
    report["summary"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("summary.{key} in {report:#}"))
}

/// `cause -> requests` over the report's difference groups.
fn causes(report: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for group in report["differences"].as_array().unwrap() {
        let cause = group["cause"].as_str().unwrap().to_string();
        let count = group["count"].as_u64().unwrap();
        match out.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, n)) => *n += count,
            None => out.push((cause, count)),
        }
    }
    out
}

/// A copy of the Ingress file `fixture` with `edits` made, in `dir`.
fn changed(dir: &Path, fixture: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(root().join(fixture)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{fixture} no longer holds {from:?}");
        text = text.replacen(from, to, 1);
    }
    let name = Path::new(fixture).file_name().unwrap().to_str().unwrap();
    write(dir, &format!("changed-{name}"), text)
}

fn changed_seeds(dir: &Path, edits: &[(&str, &str)]) -> String {
    changed(dir, SEEDS, edits)
}

const CHAT_PATH: &str =
    "      - path: /chat\n        pathType: Prefix\n        backend:\n          service:\n            \
                         name: game-chat\n            port:\n              number: 80\n";

fn count(hits: &[Hit], kinds: &[Kind]) -> u64 {
    hits.iter().filter(|h| kinds.contains(&h.kind)).count() as u64
}

// --- the seeds' log replays with nothing different --------------------------------------------------------

#[test]
fn the_seeds_log_replays_identical_in_every_format() {
    let dir = scratch("identical");
    let hits = seeds_traffic(1000, 100);
    // nginx's own redirects: app-root's 302 at the server, ssl-redirect's 308 in a location.
    assert_eq!(count(&hits, &[Kind::AppRoot, Kind::HttpsRedirect]), 2);
    for format in [DEFAULT, CUSTOM, JSON, JSON_BY_NAME] {
        let (out, report) = replay(&dir, &[SEEDS, CANARY, DOCS], &hits, format);
        let name = format.name;
        assert_eq!(out.code, 0, "{name}: {:#}\n{}", report, out.stderr);
        assert_eq!(summary(&report, "lines"), hits.len() as u64, "{name}");
        assert_eq!(summary(&report, "requests"), hits.len() as u64, "{name}");
        assert_eq!(
            summary(&report, "identical"),
            hits.len() as u64,
            "{name}: {report:#}"
        );
        assert_eq!(summary(&report, "unparseable"), 0, "{name}");
        assert_eq!(report["hostInLog"], format.rich, "{name}");
        let weights = &report["canaryWeights"][0];
        if format.rich {
            // Header canaries are compared per request; the rest is weighed over the log.
            assert_eq!(weights["weighed"], 1000, "{name}: {weights}");
            assert_eq!(weights["toCanary"], 100, "{name}");
            assert_eq!(weights["within"], true, "{name}");
            assert!(!report["notCompared"].to_string().contains("$uri"), "{name}");
        } else {
            // Without the X-Canary header in the log no request can be weighed.
            assert_eq!(weights["weighed"], 0, "{name}: {weights}");
            assert_eq!(weights["notWeighed"], 1003, "{name}");
            assert!(report["notCompared"].to_string().contains("$uri"), "{name}");
        }
    }
}

// --- a changed Ingress: exactly the changed requests ------------------------------------------------------

#[test]
fn a_changed_ingress_reports_exactly_the_changed_requests() {
    let dir = scratch("changed");
    let hits = seeds_traffic(1000, 100);
    // example.com/api moves to another service, the game's /chat path goes, docs' /guide/ loses its slash.
    let seeds = changed_seeds(&dir, &[("name: api-service", "name: api-v2"), (CHAT_PATH, "")]);
    let docs = changed(&dir, DOCS, &[("path: /guide/", "path: /guide")]);
    let changed = count(&hits, &[Kind::Api, Kind::SlashRedirect])
        + hits
            .iter()
            .filter(|h| h.path.starts_with("/chat/") || h.path == "/chat")
            .count() as u64;
    assert_eq!(changed, 7);
    for format in [CUSTOM, JSON, JSON_BY_NAME] {
        let (out, report) = replay(&dir, &[&seeds, CANARY, &docs], &hits, format);
        let name = format.name;
        assert_eq!(out.code, 3, "{name}: {report:#}");
        assert_eq!(summary(&report, "different"), changed, "{name}: {report:#}");
        assert_eq!(
            summary(&report, "identical"),
            hits.len() as u64 - changed,
            "{name}"
        );
        assert_eq!(summary(&report, "ambiguous"), 0, "{name}");
        assert_eq!(
            causes(&report),
            vec![
                ("backend".to_string(), 3),
                ("redirect".to_string(), 2),
                ("404".to_string(), 2)
            ],
            "{name}: {report:#}"
        );
        let backend = &report["differences"][0];
        assert_eq!(backend["old"]["upstream"], "default-api-service-80");
        assert_eq!(backend["new"]["upstream"], "default-api-v2-80");
        assert_eq!(backend["new"]["cluster"], "default/api-v2:80");
        assert_eq!(backend["rule"]["ingress"], "default/example-ingress");
        assert_eq!(backend["rule"]["field"], "spec.rules[0].http.paths[0]");
        assert_eq!(backend["example"]["host"], API_HOST);
        assert!(backend["example"]["path"].as_str().unwrap().starts_with("/api"));
    }
    // Without host in the log the same requests differ; no host routes them as logged, and the hosts
    // disagree on where they go instead.
    let (out, report) = replay(&dir, &[&seeds, CANARY, &docs], &hits, DEFAULT);
    assert_eq!(out.code, 3);
    assert_eq!(
        summary(&report, "different") + summary(&report, "ambiguous"),
        changed,
        "{report:#}"
    );
    assert_eq!(summary(&report, "identical"), hits.len() as u64 - changed);
}

#[test]
fn a_backend_moved_to_another_host_is_a_host_difference() {
    let dir = scratch("host");
    let hits = seeds_traffic(10, 1);
    // echo-v1 and echo-v2 swap hosts (and the canary is left out: it would follow echo-v2).
    let swapped = changed_seeds(
        &dir,
        &[
            ("host: v1.echo", "host: swap.echo"),
            ("host: v2.echo", "host: v1.echo"),
            ("host: swap.echo", "host: v2.echo"),
        ],
    );
    let (_, report) = replay(&dir, &[&swapped, DOCS], &hits, CUSTOM);
    let echo = count(&hits, &[Kind::Echo, Kind::CanaryHeader, Kind::CanaryWeighed]);
    assert_eq!(causes(&report), vec![("host".to_string(), echo)], "{report:#}");
}

#[test]
fn differences_are_kept_in_bounded_memory() {
    let dir = scratch("bounded");
    // 600 requests, each logged to an upstream of its own that no longer exists: 600 groups.
    let hits: Vec<Hit> = seeds_traffic(0, 0)
        .into_iter()
        .filter(|h| h.kind == Kind::Api)
        .cycle()
        .take(600)
        .collect();
    let text: String = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            custom_line(h, i).replace("default-api-service-80", &format!("default-gone-{i}-80")) + "\n"
        })
        .collect();
    let log = write(&dir, "many.log", text);
    let out = run(&[
        "replay",
        SEEDS,
        "--log",
        &log,
        "--format",
        CUSTOM_FORMAT,
        "--json",
    ]);
    let report = out.json();
    assert_eq!(summary(&report, "different"), 600);
    assert_eq!(report["differences"].as_array().unwrap().len(), 500);
    assert_eq!(report["ungroupedDifferences"]["backend"], 100, "{report:#}");

    // A 200 KB path (nginx would have refused it; the router answers 414): its example is cut.
    let mut long = hits[0].clone();
    long.path = format!("/api/{}", "x".repeat(200_000));
    let (_, report) = replay(&dir, &[SEEDS], &[long], CUSTOM);
    assert_eq!(causes(&report), vec![("rejected".to_string(), 1)], "{report:#}");
    let path = report["differences"][0]["example"]["path"].as_str().unwrap();
    assert!(path.len() <= 1030 && path.ends_with("..."), "{}", path.len());
}

#[test]
fn the_text_report_names_cause_rule_and_example() {
    let dir = scratch("text");
    let hits = seeds_traffic(10, 1);
    let seeds = changed_seeds(&dir, &[("name: api-service", "name: api-v2")]);
    let out = replay_with(&dir, &[&seeds, CANARY, DOCS], &hits, CUSTOM, &[]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let expected = [
        format!("requests:     {}", hits.len()),
        "different:    3".to_string(),
        "[backend] 3 requests: another backend: the logged one is no backend of the configuration".to_string(),
        "  old:      default-api-service-80".to_string(),
        "  new:      default-api-v2-80 (cluster default/api-v2:80)".to_string(),
        "  rule:     default/example-ingress spec.rules[0].http.paths[0] (/api, Prefix): the path equals an Exact \
         path"
            .to_string(),
    ];
    for line in expected {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("  example:  ") && out.stdout.contains("(host example.com)"),
        "{}",
        out.stdout
    );
}

// --- what the log shows beyond the backend ----------------------------------------------------------------

#[test]
fn rewrites_and_sessions_are_compared_when_the_log_shows_them() {
    let dir = scratch("rewrite");
    let hits = seeds_traffic(10, 1);
    let chat = count(&hits, &[Kind::Chat, Kind::ChatSession]);
    let rewritten = changed_seeds(&dir, &[("rewrite-target: /$2", "rewrite-target: /chat/$2")]);
    for format in [CUSTOM, JSON, JSON_BY_NAME] {
        let (out, report) = replay(&dir, &[&rewritten, CANARY, DOCS], &hits, format);
        assert_eq!(out.code, 3, "{}", format.name);
        assert_eq!(causes(&report), vec![("rewrite".to_string(), chat)], "{report:#}");
        let detail = report["differences"][0]["example"]["detail"].as_str().unwrap();
        assert!(detail.starts_with("upstream path /chat/"), "{detail}");
    }
    // The default format has no $uri: the rewrite cannot be seen, and the report says so.
    let (out, report) = replay(&dir, &[&rewritten, CANARY, DOCS], &hits, DEFAULT);
    assert_eq!(out.code, 0, "{report:#}");
    assert!(report["notCompared"][0].as_str().unwrap().contains("$uri"));

    // A renamed session cookie: the session the request carried is no longer honoured.
    let renamed = changed_seeds(
        &dir,
        &[("session-cookie-name: route", "session-cookie-name: route2")],
    );
    let (out, report) = replay(&dir, &[&renamed, CANARY, DOCS], &hits, CUSTOM);
    assert_eq!(out.code, 3);
    assert_eq!(causes(&report), vec![("affinity".to_string(), 1)], "{report:#}");
    let detail = report["differences"][0]["example"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("cookie route holds a session of nginx-chatforyou-io-svc-8443"),
        "{detail}"
    );
    assert!(detail.contains("route2"), "{detail}");
    // Affinity removed altogether.
    let gone = changed_seeds(
        &dir,
        &[("    nginx.ingress.kubernetes.io/affinity: cookie\n", "")],
    );
    let (_, report) = replay(&dir, &[&gone, CANARY, DOCS], &hits, CUSTOM);
    assert_eq!(causes(&report), vec![("affinity".to_string(), 1)], "{report:#}");
}

#[test]
fn the_logs_session_cookie_is_ingress_nginxs() {
    assert_eq!(
        ingress_wasm::decide::affinity::backend_key(CHAT_UPSTREAM),
        CHAT_BACKEND_KEY
    );
}

#[test]
fn canaries_per_request_and_weights_over_the_log() {
    let dir = scratch("canary");
    // 300 of 1000 weighed requests went to a canary weighted 10 of 100.
    let heavy = seeds_traffic(1000, 300);
    let (out, report) = replay(&dir, &[SEEDS, CANARY, DOCS], &heavy, CUSTOM);
    assert_eq!(out.code, 3, "{report:#}");
    assert_eq!(summary(&report, "different"), 0);
    let weights = &report["canaryWeights"][0];
    assert_eq!(weights["canary"], "default/echo-v2-canary");
    assert_eq!(
        (weights["weighed"].as_u64(), weights["toCanary"].as_u64()),
        (Some(1000), Some(300))
    );
    assert_eq!(weights["within"], false);
    // A tolerance of 30 points accepts it.
    let out = replay_with(
        &dir,
        &[SEEDS, CANARY, DOCS],
        &heavy,
        CUSTOM,
        &["--canary-tolerance", "30"],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("300 of 1000 weighed requests went to the canary (30.0%)"),
        "{}",
        out.stdout
    );

    // Without the canary Ingress every request that went to the canary differs, per request.
    let hits = seeds_traffic(100, 10);
    let to_canary = hits
        .iter()
        .filter(|h| !h.alternative.is_empty() && h.alternative != "-")
        .count() as u64;
    assert_eq!(to_canary, 12);
    for format in [DEFAULT, CUSTOM] {
        let (out, report) = replay(&dir, &[SEEDS, DOCS], &hits, format);
        assert_eq!(out.code, 3);
        let (different, ambiguous) = (summary(&report, "different"), summary(&report, "ambiguous"));
        assert_eq!(different + ambiguous, to_canary, "{}: {report:#}", format.name);
        if format.rich {
            assert_eq!(causes(&report), vec![("canary".to_string(), to_canary)]);
        }
    }
    // Per request: a request sent to the canary although it said `X-Canary: never`, and a redirect to
    // another Location than the router's.
    let mut odd = seeds_traffic(10, 1);
    let never = odd.iter_mut().find(|h| h.canary == "never").unwrap();
    never.alternative = "default-echo-v2-canary-3000";
    let redirect = odd.iter_mut().find(|h| h.kind == Kind::SlashRedirect).unwrap();
    redirect.location = format!("http://{DOCS_HOST}/elsewhere/");
    for format in [CUSTOM, JSON] {
        let (out, report) = replay(&dir, &[SEEDS, CANARY, DOCS], &odd, format);
        assert_eq!(out.code, 3);
        assert_eq!(
            causes(&report),
            vec![("canary".to_string(), 1), ("redirect".to_string(), 1)],
            "{}: {report:#}",
            format.name
        );
        let canary = &report["differences"][0];
        assert_eq!(canary["old"]["alternative"], "default-echo-v2-canary-3000");
        assert_eq!(canary["new"]["alternative"], Value::Null);
        assert!(canary["rule"]["text"]
            .as_str()
            .unwrap()
            .contains("canary-by-header is \"never\": to the primary"));
        let detail = report["differences"][1]["example"]["detail"].as_str().unwrap();
        assert_eq!(
            detail,
            format!("Location http://{DOCS_HOST}/elsewhere/, now http://{DOCS_HOST}/guide/")
        );
    }

    // A header canary now reading another header: the logged X-Canary decisions no longer hold.
    let other = changed(
        &dir,
        CANARY,
        &[("canary-by-header: X-Canary", "canary-by-header: X-Beta")],
    );
    let (_, report) = replay(&dir, &[SEEDS, &other, DOCS], &hits, CUSTOM);
    // X-Beta is not in the log: those requests cannot be judged, and say nothing about the weight.
    assert_eq!(summary(&report, "different"), 0, "{report:#}");
    assert_eq!(report["canaryWeights"][0]["notWeighed"], 103, "{report:#}");
}

// --- access control: judged as nginx judged it ------------------------------------------------------------

#[test]
fn source_ranges_and_basic_auth_replay_as_nginx_judged_them() {
    let dir = scratch("access");
    let hits = access_traffic();
    for kind in [Kind::Allowed, Kind::SourceDenied, Kind::Unauthorized] {
        assert!(count(&hits, &[kind]) > 0, "{kind:?}");
    }
    for format in [DEFAULT, CUSTOM, JSON, JSON_BY_NAME] {
        let (out, report) = replay(&dir, &[BASIC_AUTH, INTRANET], &hits, format);
        let name = format.name;
        assert_eq!(out.code, 0, "{name}: {report:#}\n{}", out.stderr);
        assert_eq!(
            summary(&report, "identical"),
            hits.len() as u64,
            "{name}: {report:#}"
        );
        // A log never shows credentials; only the by-name lines lack $remote_addr, and their refusals
        // are compared as if the client was let in.
        let not_compared = report["notCompared"].to_string();
        assert!(
            not_compared.contains("basic-auth credentials"),
            "{name}: {not_compared}"
        );
        assert_eq!(
            not_compared.contains("client addresses"),
            name == JSON_BY_NAME.name,
            "{name}: {not_compared}"
        );
    }
}

#[test]
fn a_client_the_new_ranges_judge_otherwise_is_a_difference() {
    let dir = scratch("ranges");
    let hits = access_traffic();
    // 10.2.0.5 was let in and the narrower allowlist refuses it; 10.66.1.1 was refused and now gets in.
    let intranet = changed(
        &dir,
        INTRANET,
        &[
            (
                "    nginx.ingress.kubernetes.io/denylist-source-range: 10.66.0.0/16\n",
                "",
            ),
            (
                "allowlist-source-range: 10.0.0.0/8",
                "allowlist-source-range: 10.1.0.0/16, 10.66.0.0/16",
            ),
        ],
    );
    for format in [CUSTOM, JSON] {
        let (out, report) = replay(&dir, &[BASIC_AUTH, &intranet], &hits, format);
        let name = format.name;
        assert_eq!(out.code, 3, "{name}: {report:#}");
        assert_eq!(
            causes(&report),
            vec![("rejected".to_string(), 2)],
            "{name}: {report:#}"
        );
        let differences = report["differences"].as_array().unwrap();
        let refused = differences
            .iter()
            .find(|d| d["new"]["status"] == 403)
            .unwrap_or_else(|| panic!("{name}: {report:#}"));
        assert_eq!(refused["old"]["upstream"], INTRANET_UPSTREAM);
        assert_eq!(refused["example"]["path"], "/");
        assert_eq!(refused["rule"]["reason"], "source-denied");
        let let_in = differences
            .iter()
            .find(|d| d["old"]["status"] == 403)
            .unwrap_or_else(|| panic!("{name}: {report:#}"));
        assert_eq!(let_in["new"]["upstream"], INTRANET_UPSTREAM);
        assert_eq!(let_in["example"]["path"], "/pages/secret");
    }
    // Without host the two requests are different or ambiguous; without client address neither can be
    // judged.
    let (_, report) = replay(&dir, &[BASIC_AUTH, &intranet], &hits, DEFAULT);
    assert_eq!(
        summary(&report, "different") + summary(&report, "ambiguous"),
        2,
        "{report:#}"
    );
    let (out, report) = replay(&dir, &[BASIC_AUTH, &intranet], &hits, JSON_BY_NAME);
    assert_eq!(out.code, 0, "{report:#}");
    assert_eq!(summary(&report, "identical"), hits.len() as u64);
}

// --- bad input ---------------------------------------------------------------------------------------------

#[test]
fn malformed_and_truncated_lines_are_counted_not_fatal() {
    let dir = scratch("malformed");
    let hits = seeds_traffic(20, 2);
    let good = log(&hits, default_line);
    let mut bytes = Vec::new();
    let lines: Vec<&str> = good.lines().collect();
    bytes.extend_from_slice(format!("{}\n", lines[0]).as_bytes());
    bytes.extend_from_slice(b"this is not an access log line\n"); // 2
    bytes.extend_from_slice(b"\n"); // 3: empty, skipped
    bytes.extend_from_slice(format!("{}\n", &lines[1][..lines[1].len() / 2]).as_bytes()); // 4: cut
    bytes.extend_from_slice(b"10.0.0.1 - - [10/Oct/2025:13:55:36 +0000] \"GET /\xff HTTP/1.1\" 200\n"); // 5
    bytes.extend_from_slice(
        b"10.0.0.1 - - [10/Oct/2025:13:55:36 +0000] \"\\x16\\x03\\x01\" 400 150 \"-\" \"-\" 0 0.001 [] [] - - - - 1\n",
    ); // 6: a TLS handshake on the HTTP port: nothing routed
    for line in &lines[1..] {
        bytes.extend_from_slice(format!("{line}\n").as_bytes());
    }
    let last = lines[0];
    bytes.extend_from_slice(&last.as_bytes()[..last.len() - 40]); // the log stops mid-line
    let path = write(&dir, "bad.log", &bytes);
    let out = run(&["replay", SEEDS, CANARY, DOCS, "--log", &path, "--json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(summary(&report, "requests"), hits.len() as u64, "{report:#}");
    assert_eq!(summary(&report, "identical"), hits.len() as u64);
    assert_eq!(summary(&report, "notRouted"), 1);
    assert_eq!(summary(&report, "unparseable"), 4, "{report:#}");
    assert_eq!(summary(&report, "lines"), hits.len() as u64 + 5);
    let bad: Vec<(u64, String)> = report["unparseable"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let last_line = hits.len() as u64 + 6;
    assert_eq!(
        bad,
        vec![
            (2, "ends early".to_string()),
            (4, "ends early".to_string()),
            (5, "is not UTF-8".to_string()),
            (last_line, "ends early".to_string()),
        ]
    );
    assert_eq!(report["unparseable"]["byReason"]["ends early"], 3);
    // The text report names them too.
    let out = run(&["replay", SEEDS, CANARY, DOCS, "--log", &path]);
    assert!(
        out.stdout
            .contains("unparseable:  4 (3 ends early, 1 is not UTF-8)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("{path}:2: ends early: no \" - \" after $remote_addr")),
        "{}",
        out.stdout
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn gzip_logs_stdin_and_several_logs() {
    let dir = scratch("gzip");
    let hits = seeds_traffic(200, 20);
    let text = log(&hits, default_line);
    let (first, second) = text.split_at(text.len() / 2);
    // Two gzip members in one file, as logrotate's compressed logs can be.
    let mut members = gzip(first.as_bytes());
    members.extend(gzip(second.as_bytes()));
    let gz = write(&dir, "access.log.1.gz", &members);
    let out = run(&["replay", SEEDS, CANARY, DOCS, "--log", &gz, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(summary(&out.json(), "identical"), hits.len() as u64);
    // stdin, gzip too, next to a plain file.
    let plain = write(&dir, "access.log", &text);
    let out = run_with_stdin(
        &[
            "replay", SEEDS, CANARY, DOCS, "--log", "-", "--log", &plain, "--json",
        ],
        &gzip(text.as_bytes()),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(summary(&report, "identical"), 2 * hits.len() as u64);
    assert_eq!(report["logs"], serde_json::json!(["-", plain]));
    // A cut gzip stream: what was read counts, the end is named, nothing is fatal.
    let whole = gzip(text.as_bytes());
    let cut = write(&dir, "cut.log.gz", &whole[..whole.len() * 2 / 3]);
    let out = run(&["replay", SEEDS, CANARY, DOCS, "--log", &cut, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let read = summary(&report, "identical");
    assert!(read > 0 && read < hits.len() as u64, "{report:#}");
    assert_eq!(summary(&report, "unparseable"), 1);
    let detail = report["unparseable"]["lines"][0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("the log ends early"), "{detail}");
}

#[test]
fn exit_statuses() {
    let dir = scratch("exit");
    let hits = seeds_traffic(10, 1);
    let log_path = write(&dir, "access.log", log(&hits, default_line));
    // 0: nothing differs (above); 3: something does (above). 1: the configuration is refused.
    let out = run(&["replay", "k8s/examples/invalid.yaml", "--log", &log_path]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("pathType: unknown value \"Prefx\""),
        "{}",
        out.stderr
    );
    // 1: the log cannot be read.
    let out = run(&["replay", SEEDS, "--log", "/nonexistent/access.log"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("/nonexistent/access.log: cannot read"),
        "{}",
        out.stderr
    );
    // 1: a format without the upstream name has nothing to compare.
    let out = run(&[
        "replay",
        SEEDS,
        "--log",
        &log_path,
        "--format",
        "$host \"$request\" $status",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("$proxy_upstream_name"), "{}", out.stderr);
    // 1: no line matches the format (the wrong one was given): reported, then refused.
    let out = run(&["replay", SEEDS, "--log", &log_path, "--format", CUSTOM_FORMAT]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("no line of the log could be read"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains(&format!("unparseable:  {}", hits.len())),
        "{}",
        out.stdout
    );
    // The first 20 are named, the rest counted.
    let named = out
        .stdout
        .lines()
        .filter(|l| l.starts_with(&format!("  {log_path}:")))
        .count();
    assert_eq!(named, 20, "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("  ... and {} more", hits.len() - 20)),
        "{}",
        out.stdout
    );
    // 2: usage.
    assert_eq!(run(&["replay", SEEDS]).code, 2);
    let out = run(&["replay", SEEDS, "--log", &log_path, "--canary-tolerance", "200"]);
    assert_eq!(out.code, 2);
    // An empty log compares nothing: said, not an error.
    let empty = write(&dir, "empty.log", "");
    let out = run(&["replay", SEEDS, "--log", &empty]);
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("the log holds no line"), "{}", out.stderr);
}

#[test]
fn the_json_report_has_its_documented_shape() {
    let dir = scratch("shape");
    let hits = seeds_traffic(100, 10);
    let seeds = changed_seeds(&dir, &[("name: api-service", "name: api-v2")]);
    let (_, report) = replay(&dir, &[&seeds, CANARY, DOCS], &hits, CUSTOM);
    for key in [
        "logs",
        "format",
        "hostInLog",
        "summary",
        "differs",
        "unparseable",
        "differences",
        "ungroupedDifferences",
        "ambiguous",
        "canaryWeights",
        "notCompared",
    ] {
        assert!(report.get(key).is_some(), "no {key} in {report:#}");
    }
    for key in [
        "lines",
        "requests",
        "identical",
        "different",
        "ambiguous",
        "notRouted",
        "unparseable",
    ] {
        assert!(report["summary"][key].is_u64(), "summary.{key}");
    }
    assert_eq!(report["differs"], true);
    let group = &report["differences"][0];
    for key in ["cause", "description", "count", "old", "new", "rule", "example"] {
        assert!(group.get(key).is_some(), "no {key} in {group:#}");
    }
    for key in ["upstream", "alternative", "status", "cluster", "label"] {
        assert!(group["new"].get(key).is_some(), "new.{key}");
    }
    for key in [
        "ingress", "field", "host", "path", "pathType", "regex", "reason", "why", "text", "canary",
    ] {
        assert!(group["rule"].get(key).is_some(), "rule.{key}");
    }
    // The first example, /api, matched the Exact location a Prefix path implies.
    assert_eq!(group["rule"]["reason"], "exact-path");
    for key in ["log", "line", "method", "path", "host", "detail"] {
        assert!(group["example"].get(key).is_some(), "example.{key}");
    }
    let weights = &report["canaryWeights"][0];
    for key in [
        "canary", "service", "weight", "total", "expected", "weighed", "toCanary", "share", "allowed",
        "within",
    ] {
        assert!(weights.get(key).is_some(), "canaryWeights.{key}");
    }
}
