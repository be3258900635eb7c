//! Access logs as ingress-nginx writes them, for the seeds' Ingresses (`k8s/examples/seeds.yaml`, the
//! canary of `canary.yaml` and the trailing-slash path of `tests/replay_support/docs.yaml`) and for access
//! control (`k8s/examples/basic-auth.yaml`, `tests/replay_support/intranet.yaml`), in the three formats
//! `replay` reads. What each request logs is written down here from ingress-nginx's behaviour, not
//! computed by the router, so a replay that agrees is a real comparison. Used by `tests/replay.rs` and
//! `benches/replay.rs`.
#![allow(dead_code)]

/// One logged request.
#[derive(Debug, Clone)]
pub struct Hit {
    /// `$remote_addr`.
    pub client: &'static str,
    /// `$scheme`.
    pub scheme: &'static str,
    pub host: &'static str,
    pub method: &'static str,
    /// Path and query as the client sent them.
    pub path: String,
    pub status: u16,
    /// `$proxy_upstream_name`; `-` when nginx answered itself.
    pub upstream: String,
    /// `$proxy_alternative_upstream_name`: empty in a location, `-` outside (a server-level redirect).
    pub alternative: &'static str,
    /// `$upstream_addr`.
    pub addr: &'static str,
    /// `$uri`: the path after ingress-nginx's rewrite.
    pub uri: String,
    /// `$sent_http_location`, `-` when none.
    pub location: String,
    /// `$http_x_canary`, `-` when not sent.
    pub canary: &'static str,
    /// `$http_cookie`, `-` when not sent.
    pub cookie: String,
    /// What kind of request this is, for the tests' counts.
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Game,
    Echo,
    CanaryHeader,
    CanaryWeighed,
    Chat,
    ChatSession,
    Api,
    NotFound,
    SlashRedirect,
    Docs,
    AppRoot,
    HttpsRedirect,
    /// Access control: let in, refused by a source range, refused by basic auth.
    Allowed,
    SourceDenied,
    Unauthorized,
}

pub const GAME_HOST: &str = "game.example.org";
pub const V1: &str = "v1.echo.192.168.49.5.sslip.io";
pub const V2: &str = "v2.echo.192.168.49.5.sslip.io";
pub const CHAT_HOST: &str = "myproject.project.io";
pub const API_HOST: &str = "example.com";
pub const DOCS_HOST: &str = "docs.example.org";
pub const CHAT_UPSTREAM: &str = "nginx-chatforyou-io-svc-8443";
pub const SHOP_HOST: &str = "shop.example.com";
pub const INTRANET_HOST: &str = "intranet.example.org";
pub const INTRANET_UPSTREAM: &str = "corp-wiki-8080";

fn forward(host: &'static str, path: &str, upstream: &str, uri: &str, kind: Kind) -> Hit {
    Hit {
        client: "10.0.0.1",
        scheme: "http",
        host,
        method: "GET",
        path: path.to_string(),
        status: 200,
        upstream: upstream.to_string(),
        alternative: "",
        addr: "10.244.0.17:8080",
        uri: uri.to_string(),
        location: "-".to_string(),
        canary: "-",
        cookie: "-".to_string(),
        kind,
    }
}

fn not_found(host: &'static str, path: &str) -> Hit {
    Hit {
        status: 404,
        addr: "127.0.0.1:8181",
        ..forward(host, path, "upstream-default-backend", path, Kind::NotFound)
    }
}

/// ingress-nginx's backend key of [`CHAT_UPSTREAM`], `md5hex(md5hex(upstream) .. upstream)`, the second
/// part of its session cookies (`tests/replay.rs` checks it against the core's).
pub const CHAT_BACKEND_KEY: &str = "85a049d09793ac77a75f931d845c99aa";

/// ingress-nginx's session cookie `name` for the chat backend, as a client sends it back.
pub fn chat_session_cookie(name: &str) -> String {
    format!("{name}=1732553290.123.4567.123456|{CHAT_BACKEND_KEY}")
}

/// `weighed` requests to the weighted canary (no header), `to_canary` of them went to the canary.
pub fn seeds_traffic(weighed: usize, to_canary: usize) -> Vec<Hit> {
    let mut hits = Vec::new();
    // 1. The game server: host-less rules, rewrite-target "/" (regex, case-insensitive, host-wide).
    for (path, upstream) in [
        ("/lobby", "game-prod-game-lobby-80"),
        ("/lobby/table/3?seat=2", "game-prod-game-lobby-80"),
        ("/LOBBY", "game-prod-game-lobby-80"),
        ("/room/42", "game-prod-game-room-80"),
        ("/chat", "game-prod-game-chat-80"),
        ("/chat/general", "game-prod-game-chat-80"),
        ("/ranking?top=10", "game-prod-game-ranking-80"),
    ] {
        hits.push(forward(GAME_HOST, path, upstream, "/", Kind::Game));
    }
    hits.push(not_found(GAME_HOST, "/"));
    hits.push(not_found(GAME_HOST, "/shop"));
    // 2. echo-v1, one Prefix "/" rule.
    for path in ["/", "/anything/deep", "/x?y=1"] {
        let uri = path.split('?').next().unwrap_or(path);
        hits.push(forward(V1, path, "default-echo-v1-3000", uri, Kind::Echo));
    }
    // echo-v2 with its canary: by header, then by weight.
    for (value, to_canary) in [("always", true), ("never", false), ("always", true)] {
        let mut hit = forward(V2, "/", "default-echo-v2-3000", "/", Kind::CanaryHeader);
        hit.canary = value;
        if to_canary {
            hit.alternative = "default-echo-v2-canary-3000";
        }
        hits.push(hit);
    }
    for i in 0..weighed {
        let mut hit = forward(
            V2,
            "/hello",
            "default-echo-v2-3000",
            "/hello",
            Kind::CanaryWeighed,
        );
        // Spread the canary's requests over the log.
        if i * to_canary / weighed.max(1) != (i + 1) * to_canary / weighed.max(1) {
            hit.alternative = "default-echo-v2-canary-3000";
        }
        hits.push(hit);
    }
    // 3. chatforyou: regex path, rewrite-target /$2, cookie affinity.
    for (path, uri) in [
        ("/chatforyouio/user/create", "/user/create"),
        ("/chatforyouio", "/"),
        ("/ChatForYouIO/rooms?id=7", "/rooms"),
    ] {
        hits.push(forward(CHAT_HOST, path, CHAT_UPSTREAM, uri, Kind::Chat));
    }
    let mut session = forward(
        CHAT_HOST,
        "/chatforyouio/messages",
        CHAT_UPSTREAM,
        "/messages",
        Kind::ChatSession,
    );
    session.cookie = format!("theme=dark; {}", chat_session_cookie("route"));
    hits.push(session);
    hits.push(not_found(CHAT_HOST, "/other"));
    // app-root (here "/" itself) answers 302 at the server level, before any location is entered.
    hits.push(Hit {
        status: 302,
        upstream: "-".to_string(),
        alternative: "-",
        addr: "-",
        location: format!("http://{CHAT_HOST}/"),
        ..forward(CHAT_HOST, "/", "-", "/", Kind::AppRoot)
    });
    // 4. example.com/api.
    // The host has TLS: these came over HTTPS.
    for path in ["/api", "/api/v1/users", "/api/"] {
        let uri = path;
        hits.push(Hit {
            scheme: "https",
            ..forward(API_HOST, path, "default-api-service-80", uri, Kind::Api)
        });
    }
    for path in ["/apix", "/"] {
        hits.push(Hit {
            scheme: "https",
            ..not_found(API_HOST, path)
        });
    }
    // Over plain HTTP the location's ssl-redirect answers 308 without asking the upstream.
    hits.push(Hit {
        status: 308,
        addr: "-",
        location: format!("https://{API_HOST}/api"),
        ..forward(
            API_HOST,
            "/api",
            "default-api-service-80",
            "/api",
            Kind::HttpsRedirect,
        )
    });
    // A host no rule names: the host-less rules of the game server, else 404.
    hits.push(not_found("unknown.example.net", "/nothing"));
    // 5. docs: Prefix "/guide/": "/guide" answers 301 to "/guide/" before any location is entered.
    for query in ["", "?page=2"] {
        hits.push(Hit {
            status: 301,
            upstream: "-".to_string(),
            alternative: "-",
            addr: "-",
            location: format!("http://{DOCS_HOST}/guide/{query}"),
            ..forward(
                DOCS_HOST,
                &format!("/guide{query}"),
                "-",
                "/guide",
                Kind::SlashRedirect,
            )
        });
    }
    hits.push(forward(
        DOCS_HOST,
        "/guide/intro",
        "docs-docs-8080",
        "/guide/intro",
        Kind::Docs,
    ));
    hits
}

/// Requests to the access-controlled Ingresses, as ingress-nginx answered them: `basic-auth.yaml`
/// (allowlist 10.0.0.0/8, then basic auth) and `intranet.yaml` (denylist 10.66.0.0/16, then allowlist
/// 10.0.0.0/8 and 2001:db8::/32). A refusal names the location's upstream and no upstream address.
pub fn access_traffic() -> Vec<Hit> {
    let admitted = |client, host, path: &str, upstream, uri: &str| Hit {
        client,
        ..forward(host, path, upstream, uri, Kind::Allowed)
    };
    let refused = |client, host, path: &str, upstream, status, kind| Hit {
        client,
        status,
        addr: "-",
        ..forward(host, path, upstream, path, kind)
    };
    vec![
        // An allowed client: without credentials basic auth's 401, with them the upstream.
        refused(
            "10.1.2.3",
            SHOP_HOST,
            "/admin",
            "shop-admin-80",
            401,
            Kind::Unauthorized,
        ),
        admitted(
            "10.1.2.3",
            SHOP_HOST,
            "/admin/orders?page=2",
            "shop-admin-80",
            "/admin/orders",
        ),
        refused(
            "192.168.1.1",
            SHOP_HOST,
            "/admin",
            "shop-admin-80",
            403,
            Kind::SourceDenied,
        ),
        admitted("10.2.0.5", INTRANET_HOST, "/", INTRANET_UPSTREAM, "/"),
        admitted(
            "2001:db8::7",
            INTRANET_HOST,
            "/pages/home",
            INTRANET_UPSTREAM,
            "/pages/home",
        ),
        refused(
            "192.168.1.1",
            INTRANET_HOST,
            "/",
            INTRANET_UPSTREAM,
            403,
            Kind::SourceDenied,
        ),
        refused(
            "10.66.1.1",
            INTRANET_HOST,
            "/pages/secret",
            INTRANET_UPSTREAM,
            403,
            Kind::SourceDenied,
        ),
    ]
}

/// ingress-nginx's default `log-format-upstream`.
pub fn default_line(h: &Hit, n: usize) -> String {
    format!(
        "{} - - [10/Oct/2025:13:55:36 +0000] \"{} {} HTTP/1.1\" {} 612 \"-\" \"curl/8.5.0\" 84 0.003 \
         [{}] [{}] {} 612 0.002 {} {:032x}",
        h.client,
        h.method,
        h.path,
        h.status,
        h.upstream,
        h.alternative,
        h.addr,
        if h.addr == "-" {
            "-".to_string()
        } else {
            h.status.to_string()
        },
        n
    )
}

/// A custom text `log-format-upstream` carrying the client, the scheme, the host, the canary header,
/// the cookie, `$uri` and the Location.
pub const CUSTOM_FORMAT: &str =
    "$remote_addr [$time_local] $scheme $host \"$request\" $status [$proxy_upstream_name] \
    [$proxy_alternative_upstream_name] $upstream_addr \"$http_x_canary\" \"$http_cookie\" $uri \
    \"$sent_http_location\" $request_time";

pub fn custom_line(h: &Hit, n: usize) -> String {
    format!(
        "{} [10/Oct/2025:13:55:36 +0000] {} {} \"{} {} HTTP/1.1\" {} [{}] [{}] {} \"{}\" \"{}\" {} \"{}\" 0.00{}",
        h.client,
        h.scheme,
        h.host,
        h.method,
        h.path,
        h.status,
        h.upstream,
        h.alternative,
        h.addr,
        h.canary,
        h.cookie,
        h.uri,
        h.location,
        n % 10
    )
}

/// A JSON `log-format-upstream` for `log-format-escape-json`.
pub const JSON_FORMAT: &str = r#"{"time": "$time_iso8601", "client": "$remote_addr", "host": "$host", "method": "$request_method", "request": "$request_uri", "status": $status, "upstream": "$proxy_upstream_name", "alternative": "$proxy_alternative_upstream_name", "upstream_addr": "$upstream_addr", "canary": "$http_x_canary", "cookie": "$http_cookie", "path": "$uri", "location": "$sent_http_location"}"#;

pub fn json_line(h: &Hit, _n: usize) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "{{\"time\": \"2025-10-10T13:55:36+00:00\", \"client\": {}, \"host\": {}, \"method\": {}, \"request\": {}, \"status\": {}, \
         \"upstream\": {}, \"alternative\": {}, \"upstream_addr\": {}, \"canary\": {}, \"cookie\": {}, \"path\": {}, \
         \"location\": {}}}",
        q(h.client),
        q(h.host),
        q(h.method),
        q(&h.path),
        h.status,
        q(&h.upstream),
        q(h.alternative),
        q(h.addr),
        q(h.canary),
        q(&h.cookie),
        q(&h.uri),
        q(&h.location)
    )
}

/// JSON lines whose keys are the variables' names (no template needed), without the client address.
pub fn json_by_name_line(h: &Hit, _n: usize) -> String {
    serde_json::json!({
        "host": h.host, "request": format!("{} {} HTTP/1.1", h.method, h.path), "status": h.status,
        "proxy_upstream_name": h.upstream, "proxy_alternative_upstream_name": h.alternative,
        "upstream_addr": h.addr, "http_x_canary": h.canary, "http_cookie": h.cookie, "uri": h.uri,
    })
    .to_string()
}

pub fn log(hits: &[Hit], line: fn(&Hit, usize) -> String) -> String {
    let mut out = String::new();
    for (n, hit) in hits.iter().enumerate() {
        out.push_str(&line(hit, n));
        out.push('\n');
    }
    out
}

/// A configuration of `hosts` hosts, each with one Prefix path to a service of its own
/// (`bench-app{i}-80`), and a log of `lines` requests spread over them, in the default format: a line
/// without host in a configuration with many hosts.
pub fn many_hosts(hosts: usize, lines: usize) -> (serde_json::Value, impl Iterator<Item = String>) {
    let items: Vec<serde_json::Value> = (0..hosts)
        .map(|i| {
            serde_json::json!({"metadata": {"name": format!("app{i}"), "namespace": "bench"},
                "spec": {"rules": [{"host": format!("app{i}.example.com"), "http": {"paths": [
                    {"path": "/app", "pathType": "Prefix",
                     "backend": {"service": {"name": format!("app{i}"), "port": {"number": 80}}}}]}}]}})
        })
        .collect();
    let config = serde_json::json!({"kind": "List", "items": items});
    let log = (0..lines).map(move |n| {
        let i = n * 7919 % hosts.max(1);
        let hit = forward(
            "",
            &format!("/app/items/{n}"),
            &format!("bench-app{i}-80"),
            "/",
            Kind::Docs,
        );
        default_line(&hit, n)
    });
    (config, log)
}
