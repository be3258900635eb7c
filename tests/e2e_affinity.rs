//! End to end: cookie session affinity in real Envoys with several endpoints per service. Balanced
//! sessions ride Envoy's Maglev hashing, persistent ones its header-based stateful session; the filter
//! owns the cookie. Checked: stickiness over 50 requests, a second Envoy replica honouring the first
//! one's cookies, each cookie attribute exactly, scaling up (persistent sessions stay, balanced ones move
//! at most their share), scaling down (a new endpoint and a new cookie), and hostile cookies.
//!
//! Needs the release `.wasm` and an Envoy binary (see `support::envoy`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ingress_wasm::decide::affinity::{backend_key, backend_name, endpoint_key};
use ingress_wasm::encoding::{base64, cookie_time};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use support::envoy::Envoy;
use support::fleet::{cookie_pair, endpoint, get, set_cookies, Fleet};
use support::http;
use support::scenario::{ingress, path, rule};

const BAL: &str = "bal.test";
const PER: &str = "per.test";

fn ingresses() -> Vec<Value> {
    let balanced = ingress(
        Some("web"),
        "bal",
        json!({"nginx.ingress.kubernetes.io/affinity": "cookie",
               "nginx.ingress.kubernetes.io/session-cookie-name": "BAL",
               "nginx.ingress.kubernetes.io/session-cookie-expires": "7200",
               "nginx.ingress.kubernetes.io/session-cookie-max-age": "3600",
               "nginx.ingress.kubernetes.io/session-cookie-domain": "bal.test",
               "nginx.ingress.kubernetes.io/session-cookie-samesite": "Lax"}),
        json!({"rules": [rule(Some(BAL), vec![path("/app", "Prefix", "bal", 80)])]}),
    );
    // Another Ingress's path to the same service: honours the cookie, never sets it.
    let plain = ingress(
        Some("web"),
        "bal-plain",
        json!({}),
        json!({"rules": [rule(Some(BAL), vec![path("/other", "Prefix", "bal", 80)])]}),
    );
    let persistent = ingress(
        Some("web"),
        "per",
        json!({"nginx.ingress.kubernetes.io/affinity": "cookie",
               "nginx.ingress.kubernetes.io/affinity-mode": "persistent",
               "nginx.ingress.kubernetes.io/session-cookie-name": "PER",
               "nginx.ingress.kubernetes.io/session-cookie-secure": "true",
               "nginx.ingress.kubernetes.io/session-cookie-samesite": "None",
               "nginx.ingress.kubernetes.io/session-cookie-conditional-samesite-none": "true"}),
        json!({"rules": [rule(Some(PER), vec![path("/", "Prefix", "per", 80)])]}),
    );
    vec![balanced, plain, persistent]
}

fn fleet() -> Fleet {
    Fleet::new(ingresses(), &[("web", "bal", 80, 3), ("web", "per", 80, 3)])
}

fn with_cookie(cookie: &str) -> [(&str, &[u8]); 1] {
    [("cookie", cookie.as_bytes())]
}

/// The endpoint answering `GET path` on `host` with `cookie`, and the response's Set-Cookie values.
fn visit(envoy: &Envoy, host: &str, path: &str, cookie: Option<&str>) -> (String, Vec<String>) {
    let r = match cookie {
        Some(c) => get(envoy, host, path, &with_cookie(c)),
        None => get(envoy, host, path, &[]),
    };
    let answered =
        endpoint(&r).unwrap_or_else(|e| panic!("{host}{path} cookie {cookie:?}: {e}\n{}", envoy.log()));
    if let Some(echo) = r.echo() {
        for internal in ["x-ingress-cluster", "x-ingress-affinity", "x-ingress-session"] {
            assert!(echo.header(internal).is_none(), "the upstream saw {internal}");
        }
    }
    (
        answered,
        set_cookies(&r).into_iter().map(str::to_string).collect(),
    )
}

/// A new session on `host`: the endpoint and the `name=value` cookie to send back.
fn new_session(envoy: &Envoy, host: &str, path: &str, name: &str) -> (String, String) {
    let r = get(envoy, host, path, &[]);
    let answered = endpoint(&r).unwrap_or_else(|e| panic!("{host}: {e}"));
    let cookie =
        cookie_pair(&r, name).unwrap_or_else(|| panic!("{host}: no {name} cookie: {:?}", set_cookies(&r)));
    (answered, cookie)
}

#[test]
fn balanced_sessions_stick_everywhere_with_exact_attributes() {
    let fleet = fleet();
    let a = fleet.envoy("affinity-a", &[]);
    let b = fleet.envoy("affinity-b", &[]);
    let before = now();
    let r = get(&a, BAL, "/app/page", &[]);
    let after = now();
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = cookies[0];
    // BAL=<key>|<md5(md5(web-bal-80) .. web-bal-80)>; Expires=<now+7200>; Max-Age=3600; Domain=bal.test;
    // Path=/app; HttpOnly; SameSite=Lax — in lua-resty-cookie's order.
    let (value, attributes) = cookie.split_once("; ").unwrap();
    let (key, backend) = value.strip_prefix("BAL=").unwrap().split_once('|').unwrap();
    assert!(
        key.len() == 32 && key.bytes().all(|c| c.is_ascii_hexdigit()),
        "{cookie}"
    );
    assert_eq!(backend, backend_key(&backend_name("web", "bal", "80")));
    let expires_ok = (before..=after).any(|t| {
        attributes
            == format!(
                "Expires={}; Max-Age=3600; Domain=bal.test; Path=/app; HttpOnly; SameSite=Lax",
                cookie_time::format(t + 7200)
            )
    });
    assert!(expires_ok, "attributes: {attributes}");
    let first = endpoint(&r).unwrap();
    let pair = format!("BAL={key}|{backend}");
    // 50 requests with the cookie: one endpoint, no new cookie; the second replica agrees.
    for envoy in [&a, &b] {
        for _ in 0..50 {
            let (answered, set) = visit(envoy, BAL, "/app/page", Some(&pair));
            assert_eq!(answered, first);
            assert!(set.is_empty(), "{set:?}");
        }
    }
    // The upstream's own cookie is kept beside the session cookie.
    let r = get(&a, BAL, "/app", &[("x-echo-set-cookie", b"upstream=1; Path=/")]);
    let cookies = set_cookies(&r);
    assert!(cookies.contains(&"upstream=1; Path=/"), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("BAL=")), "{cookies:?}");
    // The plain Ingress's path to the same service honours the cookie and never sets one.
    assert_eq!(visit(&a, BAL, "/other", Some(&pair)), (first.clone(), vec![]));
    assert!(visit(&a, BAL, "/other", None).1.is_empty());
    // New sessions spread over the endpoints.
    let spread: BTreeSet<String> = (0..30).map(|_| new_session(&a, BAL, "/app", "BAL").0).collect();
    assert!(spread.len() >= 2, "30 new sessions all on {spread:?}");
}

#[test]
fn balanced_scale_up_moves_at_most_the_new_endpoints_share() {
    let mut fleet = fleet();
    let three = fleet.envoy("affinity-3", &[]);
    // Any key is a session (ingress-nginx hashes whatever the cookie holds): 200 of them.
    let keys: Vec<String> = (0..200).map(|i| format!("BAL=session{i}|x")).collect();
    let before: Vec<String> = keys
        .iter()
        .map(|k| visit(&three, BAL, "/app", Some(k)).0)
        .collect();
    drop(three);
    let added = fleet.scale_up("web/bal:80");
    let four = fleet.envoy("affinity-4", &[]);
    let after: Vec<String> = keys
        .iter()
        .map(|k| visit(&four, BAL, "/app", Some(k)).0)
        .collect();
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let to_new = after.iter().filter(|a| **a == added).count();
    // Consistent hashing: about 1/4 move (Maglev a little more); a plain modulo would move 3/4.
    eprintln!(
        "scale-up 3 -> 4 endpoints: {moved} of 200 balanced sessions moved, {to_new} now on the new one"
    );
    assert!(to_new > 0, "the new endpoint {added} took no session");
    assert!(
        moved <= 90,
        "{moved} of 200 sessions moved when a 4th endpoint was added"
    );
}

#[test]
fn persistent_sessions_survive_scaling_and_replicas() {
    let mut fleet = fleet();
    let a = fleet.envoy("persistent-a", &[]);
    let name = backend_name("web", "per", "80");
    let addresses: BTreeMap<String, String> = fleet.servers["web/per:80"]
        .iter()
        .map(|s| (s.name.clone(), s.addr.to_string()))
        .collect();
    // New sessions: the cookie is ingress-nginx's md5(backend .. "ip:port") of the endpoint that answered.
    let mut sessions = Vec::new();
    for _ in 0..12 {
        let (answered, cookie) = new_session(&a, PER, "/", "PER");
        let expected = format!(
            "PER={}|{}",
            endpoint_key(&name, &addresses[&answered].parse().unwrap()),
            backend_key(&name)
        );
        assert_eq!(cookie, expected, "answered by {answered}");
        sessions.push((answered, cookie));
    }
    // Secure because the annotation says so; SameSite=None except for browsers that mishandle it.
    let full = |user_agent: &[u8]| {
        let raw = format!("GET / HTTP/1.1\r\nhost: {PER}\r\nuser-agent: ").into_bytes();
        let request = [
            raw,
            user_agent.to_vec(),
            b"\r\nconnection: close\r\n\r\n".to_vec(),
        ]
        .concat();
        let r = http::send(a.addr, &request);
        set_cookies(&r).first().map(|c| {
            c.split_once("; ")
                .map_or("", |(_, attributes)| attributes)
                .to_string()
        })
    };
    assert_eq!(
        full(b"curl/8.5").as_deref(),
        Some("Path=/; Secure; HttpOnly; SameSite=None")
    );
    let old_chrome = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/65.0.3325.181 Safari/537.36";
    assert_eq!(full(old_chrome).as_deref(), Some("Path=/; Secure; HttpOnly"));
    let distinct: BTreeSet<&String> = sessions.iter().map(|(e, _)| e).collect();
    assert!(distinct.len() >= 2, "12 new sessions all on {distinct:?}");
    let (pinned, cookie) = sessions[0].clone();
    for _ in 0..50 {
        assert_eq!(visit(&a, PER, "/", Some(&cookie)), (pinned.clone(), vec![]));
    }
    // A second replica with the same configuration honours the first one's cookies.
    let b = fleet.envoy("persistent-b", &[]);
    for (answered, cookie) in &sessions {
        assert_eq!(&visit(&b, PER, "/x", Some(cookie)).0, answered);
    }
    drop((a, b));
    // Scale up: a new endpoint never takes an existing session.
    fleet.scale_up("web/per:80");
    let up = fleet.envoy("persistent-up", &[]);
    for (answered, cookie) in &sessions {
        assert_eq!(visit(&up, PER, "/", Some(cookie)), (answered.clone(), vec![]));
    }
    drop(up);
    // Scale down: the pinned endpoint is gone; the client gets another one and a cookie naming it.
    let down = fleet.envoy("persistent-down", &[pinned.as_str()]);
    let (moved_to, set) = visit(&down, PER, "/", Some(&cookie));
    assert_ne!(moved_to, pinned);
    let new_cookie = set
        .iter()
        .find(|c| c.starts_with("PER="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no new cookie after the pinned endpoint left: {set:?}"))
        .to_string();
    let addresses: BTreeMap<String, String> = fleet.servers["web/per:80"]
        .iter()
        .map(|s| (s.name.clone(), s.addr.to_string()))
        .collect();
    assert!(new_cookie.contains(&endpoint_key(&name, &addresses[&moved_to].parse().unwrap())));
    for _ in 0..10 {
        assert_eq!(
            visit(&down, PER, "/", Some(&new_cookie)),
            (moved_to.clone(), vec![])
        );
    }
}

#[test]
fn hostile_cookies_and_spoofed_session_headers() {
    let fleet = fleet();
    let envoy = fleet.envoy("affinity-hostile", &[]);
    let per_two = fleet.servers["web/per:80"][1].addr.to_string();
    let huge = format!("BAL={}", "k".repeat(6000));
    let many: String = (0..300).map(|i| format!("c{i}=v{i}; ")).collect::<String>() + "BAL=abc|def";
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "forged key",
            b"BAL=../../etc/passwd|x; PER=0123456789abcdef0123456789abcdef|x".to_vec(),
        ),
        ("not UTF-8", b"BAL=\xff\xfe\xfd|\xc3\x28; PER=\xff|\xff".to_vec()),
        ("huge", huge.into_bytes()),
        ("many", many.into_bytes()),
        ("empty", b"BAL=; PER=".to_vec()),
        ("only bars", b"BAL=|||; PER=|".to_vec()),
    ];
    for (label, cookie) in &hostile {
        for (host, service) in [(BAL, "bal"), (PER, "per")] {
            let r = get(&envoy, host, "/app", &[("cookie", cookie)]);
            match endpoint(&r) {
                Ok(e) => assert!(
                    e.starts_with(&format!("{service}#")),
                    "{label} on {host}: reached {e}"
                ),
                Err(e) => panic!("{label} on {host}: {e}"),
            }
        }
    }
    // A client cannot pin an endpoint with the internal headers: without a cookie, requests still spread.
    let spoofed_session = base64::encode(per_two.as_bytes());
    let per_spread: BTreeSet<String> = (0..20)
        .map(|_| {
            let r = get(
                &envoy,
                PER,
                "/",
                &[("x-ingress-session", spoofed_session.as_bytes())],
            );
            endpoint(&r).unwrap()
        })
        .collect();
    assert!(
        per_spread.len() >= 2,
        "x-ingress-session from the client pinned {per_spread:?}"
    );
    let bal_spread: BTreeSet<String> = (0..30)
        .map(|_| endpoint(&get(&envoy, BAL, "/app", &[("x-ingress-affinity", b"fixed")])).unwrap())
        .collect();
    assert!(
        bal_spread.len() >= 2,
        "x-ingress-affinity from the client pinned {bal_spread:?}"
    );
    // The worker survived all of it, without a VM reload.
    assert_eq!(
        visit(&envoy, BAL, "/other", None).0.split('#').next(),
        Some("bal")
    );
    let stats = http::get(envoy.admin, "admin", "/stats?filter=wasm").body_text();
    assert!(
        !stats
            .lines()
            .any(|l| l.contains("vm_reload") && !l.ends_with(": 0")),
        "the VM was reloaded:\n{stats}"
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
