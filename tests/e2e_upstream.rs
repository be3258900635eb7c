//! End to end: how requests reach their backends, in a real Envoy. The headers ingress-nginx sets toward
//! every backend (and that a client cannot forge), `backend-protocol` against TLS, h2c and h2 backends,
//! the proxy timeouts, `service-upstream`, and error pages from a default backend (`custom-http-errors`,
//! `default-backend`) with the headers ingress-nginx sends it.
//!
//! Needs the release `.wasm`, an Envoy binary (see `support::envoy`) and `openssl` (the TLS backend's
//! certificate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::echo_server::EchoServer;
use support::h2;
use support::http::{self, Echo, Response};
use support::protocol_front::ProtocolFront;
use support::scenario::{ingress, path, rule, Checks, Scenario};

const P: &str = "nginx.ingress.kubernetes.io/";

fn annotations(pairs: &[(&str, &str)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (format!("{P}{k}"), json!(v))).collect())
}

/// An Ingress `name` in namespace `shop` routing `host` (every path) to `service` port 80.
fn site(name: &str, host: &str, service: &str, pairs: &[(&str, &str)]) -> Value {
    ingress(
        Some("shop"),
        name,
        annotations(pairs),
        json!({"rules": [rule(Some(host), vec![path("/", "Prefix", service, 80)])]}),
    )
}

/// Points a rendered cluster at `addr` instead of its echo server.
fn point_cluster(bootstrap: &mut Value, cluster: &str, addr: SocketAddr) {
    let clusters = bootstrap["static_resources"]["clusters"].as_array_mut().unwrap();
    let c = clusters.iter_mut().find(|c| c["name"] == cluster).unwrap();
    c["type"] = json!("STATIC");
    c["load_assignment"]["endpoints"] = json!([{"lb_endpoints": [{"endpoint": {"address": {
        "socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}}}}]}]);
}

fn echo_of(r: &Response, what: &str) -> Echo {
    r.echo()
        .unwrap_or_else(|| panic!("{what}: no echo answered: {}", r.summary()))
}

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn upstream_headers_are_ingress_nginxs_and_cannot_be_forged() {
    let s = Scenario::start("upstream-headers", vec![site("web", "h.test", "web", &[])], None);
    let port = s.addr().port().to_string();
    let mut checks = Checks::default();
    let expect = |checks: &mut Checks, echo: &Echo, name: &str, want: Option<&str>| {
        checks.that(echo.header(name) == want, || {
            format!(
                "{name}: the upstream saw {:?}, expected {want:?}",
                echo.header(name)
            )
        });
    };

    // A client that forges every header.
    let forged: [(&str, &[u8]); 10] = [
        ("x-real-ip", b"6.6.6.6"),
        ("x-forwarded-for", b"1.2.3.4, 5.6.7.8"),
        ("x-forwarded-host", b"evil.test"),
        ("x-forwarded-port", b"1"),
        ("x-forwarded-proto", b"https"),
        ("x-forwarded-scheme", b"https"),
        ("x-scheme", b"https"),
        ("x-request-id", b"client-chosen-id"),
        ("proxy", b"http://evil.test"),
        ("x-original-forwarded-host", b"also-forged"),
    ];
    let r = http::get_with(s.addr(), "h.test", "/page", &forged);
    let echo = echo_of(&r, "forged");
    for (name, want) in [
        ("x-real-ip", Some("127.0.0.1")),
        ("x-forwarded-for", Some("127.0.0.1")),
        ("x-forwarded-host", Some("h.test")),
        ("x-forwarded-port", Some(port.as_str())),
        ("x-forwarded-proto", Some("http")),
        ("x-forwarded-scheme", Some("http")),
        ("x-scheme", Some("http")),
        // ingress-nginx passes a client's request ID on ($req_id).
        ("x-request-id", Some("client-chosen-id")),
        ("proxy", None),
        // The originals are what the client sent.
        ("x-original-forwarded-for", Some("1.2.3.4, 5.6.7.8")),
        ("x-original-forwarded-host", Some("evil.test")),
        ("host", Some("h.test")),
    ] {
        expect(&mut checks, &echo, name, want);
    }

    // A client that sends no forwarding headers but forges the originals; the port stays in the host.
    let r = http::get_with(
        s.addr(),
        &format!("h.test:{port}"),
        "/",
        &[
            ("x-original-forwarded-for", b"9.9.9.9"),
            ("x-original-forwarded-host", b"x"),
        ],
    );
    let echo = echo_of(&r, "plain");
    expect(&mut checks, &echo, "x-original-forwarded-for", None);
    expect(&mut checks, &echo, "x-original-forwarded-host", None);
    expect(
        &mut checks,
        &echo,
        "x-forwarded-host",
        Some(&format!("h.test:{port}")),
    );
    expect(&mut checks, &echo, "x-forwarded-for", Some("127.0.0.1"));
    // WebSocket upgrades reach the backend, as with ingress-nginx.
    let r = http::get_with(
        s.addr(),
        "h.test",
        "/ws",
        &[("connection", b"Upgrade"), ("upgrade", b"websocket")],
    );
    checks.that(
        r.status == 101
            && r.header("x-echo-service") == Some("web")
            && r.header("upgrade") == Some("websocket"),
        || format!("WebSocket upgrade: {} {:?}", r.summary(), r.headers),
    );
    // Without one, Envoy makes the request ID (a UUID).
    let id = echo.header("x-request-id").unwrap_or_default();
    checks.that(id.len() == 36 && id.matches('-').count() == 4, || {
        format!("x-request-id {id:?} is not a UUID")
    });
    checks.finish(Some(&s.envoy));
}

#[test]
fn with_use_forwarded_headers_the_balancers_forwarding_headers_are_kept() {
    let settings = json!({"useForwardedHeaders": true});
    let s = Scenario::start(
        "upstream-headers-forwarded",
        vec![site("web", "h.test", "web", &[])],
        Some(settings),
    );
    let r = http::get_with(
        s.addr(),
        "h.test",
        "/",
        &[
            ("x-forwarded-for", b"1.2.3.4"),
            ("x-forwarded-host", b"myhost"),
            ("x-forwarded-port", b"1234"),
            ("x-forwarded-proto", b"https"),
        ],
    );
    let echo = echo_of(&r, "forwarded");
    let mut checks = Checks::default();
    // ingress-nginx's e2e "should trust X-Forwarded headers when setting is true".
    for (name, want) in [
        ("x-forwarded-for", "1.2.3.4"),
        ("x-real-ip", "1.2.3.4"),
        ("x-forwarded-host", "myhost"),
        ("x-forwarded-port", "1234"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-scheme", "https"),
        ("x-scheme", "https"),
        ("x-original-forwarded-for", "1.2.3.4"),
        ("x-original-forwarded-host", "myhost"),
    ] {
        checks.that(echo.header(name) == Some(want), || {
            format!(
                "{name}: the upstream saw {:?}, expected {want:?}",
                echo.header(name)
            )
        });
    }
    checks.finish(Some(&s.envoy));
}

#[test]
fn backend_protocols_reach_tls_h2c_and_h2_backends() {
    let front = ProtocolFront::start("front");
    let ingresses = vec![
        site("tls", "tls.test", "secure", &[("backend-protocol", "HTTPS")]),
        site("grpc", "grpc.test", "rpc", &[("backend-protocol", "GRPC")]),
        site("grpcs", "grpcs.test", "rpcs", &[("backend-protocol", "grpcs")]),
        // The default: plain HTTP/1.1, which the h2c listener refuses.
        site("plain", "plain.test", "plain", &[]),
    ];
    let s = Scenario::start_with("backend-protocol", ingresses, None, |b| {
        point_cluster(b, "shop/secure:80", front.https);
        point_cluster(b, "shop/rpc:80", front.h2c);
        point_cluster(b, "shop/rpcs:80", front.h2_tls);
        point_cluster(b, "shop/plain:80", front.h2c);
    });
    let mut checks = Checks::default();
    // (protocol, "TLS" or "plain") as the backend saw them.
    let arrived = |r: &Response| {
        r.echo().map(|e| {
            let tls = e.header("x-arrived-tls").is_some_and(|v| v.starts_with("TLSv"));
            (
                e.header("x-arrived-protocol").unwrap_or("").to_string(),
                if tls { "TLS" } else { "plain" }.to_string(),
            )
        })
    };
    let r = http::get(s.addr(), "tls.test", "/");
    checks.that(arrived(&r) == Some(("HTTP/1.1".into(), "TLS".into())), || {
        format!("HTTPS: {:?} {}", arrived(&r), r.summary())
    });
    // gRPC clients speak HTTP/2 to the gateway.
    let grpc = |host: &[u8]| {
        h2::get(
            s.addr(),
            host,
            b"/echo.Echo/Say",
            &[(b"content-type", b"application/grpc"), (b"te", b"trailers")],
        )
    };
    let r = grpc(b"grpc.test");
    checks.that(arrived(&r) == Some(("HTTP/2".into(), "plain".into())), || {
        format!("GRPC: {:?} {}", arrived(&r), r.summary())
    });
    let r = grpc(b"grpcs.test");
    checks.that(arrived(&r) == Some(("HTTP/2".into(), "TLS".into())), || {
        format!("GRPCS: {:?} {}", arrived(&r), r.summary())
    });
    let r = http::get(s.addr(), "plain.test", "/");
    checks.that(r.status == 503 && r.echo().is_none(), || {
        format!(
            "plain HTTP/1.1 to the h2c-only listener should fail: {}",
            r.summary()
        )
    });
    checks.finish(Some(&s.envoy));
}

/// The time `GET path` on `host` takes, and its response.
fn timed(s: &Scenario, host: &str, path: &str) -> (Duration, Response) {
    let start = Instant::now();
    let r = s.get(host, path);
    (start.elapsed(), r)
}

#[test]
fn read_timeouts_bound_each_wait_for_the_backend_not_the_whole_response() {
    let ingresses = vec![
        site(
            "quick",
            "quick.test",
            "web",
            &[("proxy-read-timeout", "1"), ("proxy-send-timeout", "1")],
        ),
        site("patient", "patient.test", "web", &[("proxy-read-timeout", "4")]),
        site("default", "default.test", "web", &[]),
    ];
    let s = Scenario::start("read-timeout", ingresses, None);
    let mut checks = Checks::default();
    // No answer within 1 s: 504, as nginx's proxy_read_timeout (the backend would answer 200 at 2.5 s, so
    // the 504 alone shows the timeout fired first; no upper bound on the time, which load could stretch).
    let (took, r) = timed(&s, "quick.test", "/?echo-delay-ms=2500");
    checks.that(r.status == 504 && took >= Duration::from_millis(900), || {
        format!("quick, slow answer: {} after {took:?}", r.summary())
    });
    // A body that keeps coming (0.7 s gaps, 1.4 s in all) is not cut.
    let (took, r) = timed(&s, "quick.test", "/?echo-drip-ms=700");
    checks.that(
        r.status == 200 && r.echo().is_some() && took >= Duration::from_millis(1300),
        || format!("quick, dripping body: {} after {took:?}", r.summary()),
    );
    for host in ["patient.test", "default.test"] {
        let (took, r) = timed(&s, host, "/?echo-delay-ms=2500");
        checks.that(r.status == 200 && r.echo().is_some(), || {
            format!("{host}, slow answer: {} after {took:?}", r.summary())
        });
    }
    // A client cannot pick another location's timeouts (profile 0 is quick.test's), nor Envoy's.
    for host in ["patient.test", "default.test"] {
        let r = http::get_with(
            s.addr(),
            host,
            "/?echo-delay-ms=1500",
            &[
                ("x-ingress-location", b"0"),
                ("x-envoy-upstream-rq-timeout-ms", b"100"),
            ],
        );
        checks.that(r.status == 200, || {
            format!("{host}, forged location: {}", r.summary())
        });
    }
    checks.finish(Some(&s.envoy));
}

/// The rendered cluster or route settings as the running Envoy has them.
fn config_dump(s: &Scenario) -> Value {
    serde_json::from_str(&s.envoy.admin_get("/config_dump")).unwrap()
}

#[test]
fn connect_timeouts_and_service_upstream_shape_the_running_clusters() {
    // The Service's DNS name resolves to 127.0.0.1 (scenario cluster domain `localhost`), so a backend
    // reached through its Service answers from the server on the Service's port.
    let via_service = EchoServer::start("via-service");
    let port = via_service.addr.port();
    let su = ingress(
        Some("shop"),
        "su",
        annotations(&[("service-upstream", "true"), ("proxy-connect-timeout", "12")]),
        json!({"rules": [rule(Some("su.test"), vec![path("/", "Prefix", "direct", port)])]}),
    );
    let endpoints = ingress(
        Some("shop"),
        "ep",
        json!({}),
        json!({"rules": [rule(Some("ep.test"), vec![path("/", "Prefix", "pods", 80)])]}),
    );
    let s = Scenario::start("service-upstream", vec![su, endpoints], None);
    let mut checks = Checks::default();
    let answered = |host: &str| s.get(host, "/").echo().map(|e| e.service);
    checks.that(answered("su.test").as_deref() == Some("via-service"), || {
        format!(
            "service-upstream answered by {:?}, not the Service",
            answered("su.test")
        )
    });
    checks.that(answered("ep.test").as_deref() == Some("pods"), || {
        format!("endpoints answered by {:?}", answered("ep.test"))
    });
    let dump = config_dump(&s).to_string();
    checks.that(dump.contains(r#""connect_timeout":"12s""#), || {
        "no 12s connect timeout".into()
    });
    checks.that(dump.contains(r#""address":"direct.shop.svc.localhost""#), || {
        "the service-upstream cluster does not name the Service".into()
    });
    checks.finish(Some(&s.envoy));
}

#[test]
fn error_pages_come_from_the_default_backend_with_ingress_nginxs_headers() {
    let ingresses = vec![
        site(
            "front",
            "shop.test",
            "web",
            &[("custom-http-errors", "404,503"), ("default-backend", "errors")],
        ),
        // A route to the error service tells its port.
        site("pages", "pages.test", "errors", &[]),
        site("plain", "plain.test", "web", &[]),
        site("down", "down.test", "gone", &[("default-backend", "errors")]),
        site("down-plain", "down-plain.test", "gone", &[]),
    ];
    let closed = closed_port();
    let s = Scenario::start_with("error-pages", ingresses, None, |b| {
        point_cluster(b, "shop/gone:80", closed)
    });
    let mut checks = Checks::default();

    // A 404 of the backend: the error service's answer to GET / (sent as 200).
    let r = http::get_with(
        s.addr(),
        "shop.test",
        "/app/missing?echo-status=404",
        &[
            ("accept", b"text/html"),
            ("x-request-id", b"req-1"),
            ("x-code", b"999"),
        ],
    );
    match r.echo() {
        Some(e) if r.status == 200 && e.service == "errors" => {
            checks.that(e.path == "/", || format!("error page path {:?}", e.path));
            for (name, want) in [
                ("x-code", Some("404")),
                ("x-format", Some("text/html")),
                ("x-original-uri", Some("/app/missing?echo-status=404")),
                ("x-namespace", Some("shop")),
                ("x-ingress-name", Some("front")),
                ("x-service-name", Some("web")),
                ("x-service-port", Some("80")),
                ("x-request-id", Some("req-1")),
                ("x-forwarded-for", Some("127.0.0.1")),
                ("host", Some("shop.test")),
                ("x-ingress-error-page", None),
                ("x-ingress-location", None),
                ("x-ingress-cluster", None),
            ] {
                checks.that(e.header(name) == want, || {
                    format!("error page: {name} = {:?}, expected {want:?}", e.header(name))
                });
            }
        }
        _ => checks.fail(format!("404 was not replaced by the error page: {}", r.summary())),
    }
    // Codes not listed, and other locations, keep the backend's response.
    for (host, path, status) in [
        ("shop.test", "/?echo-status=500", 500),
        ("shop.test", "/ok", 200),
        ("plain.test", "/?echo-status=404", 404),
    ] {
        let r = http::get_with(s.addr(), host, path, &[("x-ingress-location", b"0")]);
        checks.that(
            r.status == status && r.echo().is_some_and(|e| e.service == "web"),
            || format!("{host}{path}: {}", r.summary()),
        );
    }
    // An unreachable backend: the default backend gets the request, path kept, with X-Code 503.
    let r = s.get("down.test", "/some/where");
    match r.echo() {
        Some(e) if r.status == 200 && e.service == "errors" => {
            for (name, want) in [
                ("x-code", Some("503")),
                ("x-service-name", Some("gone")),
                ("x-ingress-name", Some("down")),
                ("x-original-uri", None),
            ] {
                checks.that(e.header(name) == want, || {
                    format!("unreachable: {name} = {:?}, expected {want:?}", e.header(name))
                });
            }
            checks.that(e.path == "/some/where", || {
                format!("unreachable: path {:?}", e.path)
            });
        }
        _ => checks.fail(format!(
            "unreachable backend not served by the default backend: {}",
            r.summary()
        )),
    }
    checks.that(r.header("x-ingress-unreachable").is_none(), || {
        "marker leaked".into()
    });
    // Without default-backend: Envoy's own 503, and the marker never reaches the client.
    let r = s.get("down-plain.test", "/");
    checks.that(
        r.status == 503 && r.echo().is_none() && r.header("x-ingress-unreachable").is_none(),
        || {
            format!(
                "unreachable without default-backend: {} {:?}",
                r.summary(),
                r.headers
            )
        },
    );
    // The error route is Envoy's alone: a client naming its host and marker gets the filter's 404.
    let r = http::get_with(
        s.addr(),
        "80.errors.shop.error-pages.ingress-wasm.invalid",
        "/admin",
        &[("x-ingress-error-page", b"1")],
    );
    checks.that(r.status == 404 && r.echo().is_none(), || {
        format!("a client reached the error route: {}", r.summary())
    });
    checks.finish(Some(&s.envoy));
}
