//! The `ingress-wasm` command line on the files in `k8s/examples/`: check, explain, render envoy, and
//! the checked-in `envoy/demo.yaml` kept equal to a fresh render. Rendered configs are validated with
//! `envoy --mode validate` (Envoy and the built module are found as the end-to-end tests find them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::cli::{root, Output};

const SEEDS_YAML: &str = "k8s/examples/seeds.yaml";
const SEEDS_JSON: &str = "k8s/examples/seeds.json";
const INVALID: &str = "k8s/examples/invalid.yaml";
const ENDPOINTS: &str = "k8s/examples/demo-endpoints.json";
const ISTIO_SETTINGS: &str = "k8s/examples/settings-istio.yaml";
const RESTRICTED: &str = "k8s/examples/restricted.yaml";
const CANARY: &str = "k8s/examples/canary.yaml";
const DEMO_WASM: &str = "target/wasm32-wasip1/release/ingress_wasm.wasm";
/// Where `./build.sh demo` puts the demo's TLS Secret (seeds.yaml's `tls-secret`, for example.com).
const DEMO_TLS_DIR: &str = ".demo/tls";
const DEMO_TLS_LISTEN: &str = "127.0.0.1:10443";

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    support::cli::run(args, stdin.unwrap_or("").as_bytes())
}

/// Runs the CLI in `dir` (relative paths in `args` resolve from there).
fn run_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    support::cli::run_in(dir, args, stdin.unwrap_or("").as_bytes())
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ingress-wasm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `envoy --mode validate -c config` must pass (it loads the module and runs `on_configure`).
fn validate_with_envoy(config: &Path) {
    let validation = support::envoy::validate(config);
    assert!(
        validation.success,
        "envoy --mode validate -c {} failed:\n{}",
        config.display(),
        validation.output
    );
    assert!(validation.output.contains("OK"), "{}", validation.output);
}

fn render_args<'a>(files: &[&'a str], wasm: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut args = vec!["render", "envoy"];
    args.extend_from_slice(files);
    args.extend_from_slice(&[
        "--endpoints",
        ENDPOINTS,
        "--wasm",
        wasm,
        "--listen",
        "127.0.0.1:10000",
        "--admin",
        "127.0.0.1:9901",
        "-o",
        out,
    ]);
    args
}

/// Every string value in a JSON tree.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

/// The plugin configuration carried inside a rendered envoy.yaml.
fn carried_plugin_config(envoy_yaml: &str) -> Value {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(envoy_yaml).unwrap();
    let tree = serde_json::to_value(yaml).unwrap();
    let mut all = Vec::new();
    strings(&tree, &mut all);
    all.iter()
        .filter_map(|s| serde_json::from_str::<Value>(s).ok())
        .find(|v| v.get("ingresses").is_some())
        .expect("the filter configuration in envoy.yaml")
}

// --- canary and session affinity ------------------------------------------------------------------------

#[test]
fn explain_names_the_canary_rule_and_the_session() {
    let url = "http://v2.echo.192.168.49.5.sslip.io/";
    let out = run(&[
        "explain",
        SEEDS_YAML,
        CANARY,
        "--url",
        url,
        "-H",
        "X-Canary: always",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("decision: forward to cluster default/echo-v2-canary:3000"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "canary:   default/echo-v2-canary to the canary, service echo-v2-canary: canary-by-header is \"always\""
        ),
        "{}",
        out.stdout
    );
    let out = run(&[
        "explain",
        SEEDS_YAML,
        CANARY,
        "--url",
        url,
        "-H",
        "X-Canary: never",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cluster"], "default/echo-v2:3000");
    assert_eq!(v["canary"]["rule"], "HeaderNever");
    assert_eq!(v["canary"]["toCanary"], false);
    // A kept session: no new cookie; a new one: the Set-Cookie ingress-nginx would send.
    let chat = "http://myproject.project.io/chatforyouio/x";
    let out = run(&["explain", SEEDS_YAML, "--url", chat, "--cookie", "route=abc123|x"]);
    assert!(
        out.stdout
            .contains("names a session of this backend: kept, no new cookie"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("header:   x-ingress-affinity: abc123"),
        "{}",
        out.stdout
    );
    let out = run(&["explain", SEEDS_YAML, "--url", chat, "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["session"], "new");
    let cookie = v["setCookie"].as_str().unwrap();
    assert!(
        cookie.starts_with("route=") && cookie.ends_with("; Path=/chatforyouio; HttpOnly"),
        "{cookie}"
    );
}

// --- check ----------------------------------------------------------------------------------------------

#[test]
fn check_accepts_the_seeds_with_warnings() {
    let out = run(&["check", SEEDS_YAML]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "5 Ingresses, 8 routes, 0 denied routes, 0 errors, 1 warning"
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("warning: nginx/chatforyou-io-ingress: ")
                && l.contains("nginx.ingress.kubernetes.io/app-root")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("error:"), "{}", out.stderr);
    // What spec.tls means: Envoy terminates it when rendered so, plain HTTP redirects.
    let tls = "tls: default/example-ingress spec.tls[0]: example.com: secret default/tls-secret; plain HTTP \
               to these hosts answers 308 to https:// (ssl-redirect); Envoy terminates TLS when rendered with \
               --tls-listen and --tls-dir";
    assert!(out.stderr.lines().any(|l| l == tls), "{}", out.stderr);
}

#[test]
fn check_reads_kubectl_json_the_same_as_yaml() {
    let yaml = run(&["check", SEEDS_YAML]);
    let json = run(&["check", SEEDS_JSON]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_eq!(json.stdout, yaml.stdout);
    assert_eq!(json.stderr, yaml.stderr);
}

#[test]
fn check_refuses_an_error_naming_object_and_field() {
    let out = run(&["check", INVALID]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "error: game-prod/game-ingress: spec.rules[0].http.paths[2].pathType: unknown value \"Prefx\""
        ),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("1 error"), "{}", out.stdout);
}

#[test]
fn check_and_explain_name_access_annotations_that_fail_closed() {
    let out = run(&["check", RESTRICTED]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "2 Ingresses, 2 routes, 1 denied route, 0 errors, 2 warnings"
    );
    assert!(out.stderr.contains(
        "denied: shop/admin spec.rules[0].http.paths[0] (/admin): answers 503 (fail closed): \
         nginx.ingress.kubernetes.io/auth-url, nginx.ingress.kubernetes.io/limit-rps not enforced"
    ));
    let out = run(&[
        "explain",
        RESTRICTED,
        "--url",
        "http://shop.example.com/admin/users",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("decision: 503, answered by the filter"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("denied:   nginx.ingress.kubernetes.io/auth-url is not enforced: fail closed (503)"));
    let out = run(&[
        "explain",
        RESTRICTED,
        "--url",
        "http://shop.example.com/cart",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["decision"], "forward");
    assert_eq!(v["cluster"], "shop/web:80");
    let out = run(&[
        "explain",
        RESTRICTED,
        "--url",
        "http://shop.example.com/admin",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["status"].as_u64()),
        (Some("reject"), Some(503))
    );
    assert_eq!(v["reason"], "access-not-enforced");
    assert_eq!(
        v["route"]["unenforcedAnnotations"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn check_reads_stdin_and_multi_document_yaml() {
    let seeds = std::fs::read_to_string(root().join(SEEDS_YAML)).unwrap();
    let out = run_with_stdin(&["check", "-"], Some(&seeds));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "5 Ingresses, 8 routes, 0 denied routes, 0 errors, 1 warning"
    );

    // A manifest with a Deployment next to the Ingress, empty documents, and a wrapper with settings.
    let manifest = "\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 1}
---
# nothing here
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
settings: {semantics: kubernetes}
";
    let out = run_with_stdin(&["check", "-"], Some(manifest));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "1 Ingress, 1 route, 0 denied routes, 0 errors, 1 warning"
    );
    assert!(
        out.stderr
            .contains("warning: <stdin> (document 1): kind: skipped: a Deployment is not an Ingress"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_names_file_and_line_of_syntax_errors() {
    let dir = scratch("syntax");
    let yaml = dir.join("broken.yaml");
    std::fs::write(
        &yaml,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: [\n",
    )
    .unwrap();
    let out = run(&["check", yaml.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(&format!("error: {}: invalid YAML", yaml.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("line "), "{}", out.stderr);

    let json = dir.join("broken.json");
    std::fs::write(&json, "{\n  \"kind\": \"Ingress\",\n  \"metadata\": {,\n}\n").unwrap();
    let out = run(&["check", json.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(&format!("error: {}: invalid JSON", json.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);

    let out = run(&["check", "k8s/examples/no-such-file.yaml"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("error: k8s/examples/no-such-file.yaml: cannot read"),
        "{}",
        out.stderr
    );
}

#[test]
fn settings_given_twice_must_agree() {
    let out = run(&["check", SEEDS_YAML, ISTIO_SETTINGS, ISTIO_SETTINGS]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&[
        "check",
        SEEDS_YAML,
        ISTIO_SETTINGS,
        "k8s/examples/settings-kubernetes.yaml",
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("settings: differ from the settings given in"),
        "{}",
        out.stderr
    );
}

// --- explain --------------------------------------------------------------------------------------------

#[test]
fn explain_prints_rule_reason_cluster_and_upstream_path() {
    let out = run(&[
        "explain",
        SEEDS_YAML,
        "--url",
        "http://localhost:10000/lobby/123?x=1",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = &out.stdout;
    for expected in [
        "decision: forward to cluster game-prod/game-lobby:80",
        "rule:     game-prod/game-ingress spec.rules[0].http.paths[0]",
        "path:     /lobby (pathType Prefix",
        "rewrite:  rewrite-target /",
        "upstream: /?x=1 (the client sent /lobby/123?x=1)",
        "host:     localhost: no rule names this host",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }

    let out = run(&[
        "explain",
        SEEDS_YAML,
        "--url",
        "http://myproject.project.io/chatforyouio/user/create",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("cluster nginx/chatforyou-io-svc:8443"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("/chatforyouio(/|$)(.*) (pathType Prefix, matched as a regular expression)"));
    assert!(out.stdout.contains("rewrite-target /$2"), "{}", out.stdout);
    assert!(out.stdout.contains("upstream: /user/create "), "{}", out.stdout);

    let out = run(&["explain", SEEDS_YAML, "--url", "http://localhost/nowhere"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("decision: 404 Not Found"), "{}", out.stdout);
}

#[test]
fn explain_json_for_scripts() {
    let out = run(&[
        "explain",
        SEEDS_JSON,
        "--url",
        "http://127.0.0.1:10000/hello",
        "-H",
        "Host: v2.echo.192.168.49.5.sslip.io",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["decision"], "forward");
    assert_eq!(v["hostMatch"], "exact");
    assert_eq!(v["cluster"], "default/echo-v2:3000");
    assert_eq!(v["upstreamPath"], "/hello");
    assert_eq!(v["request"]["authority"], "v2.echo.192.168.49.5.sslip.io");
    assert_eq!(v["route"]["ingress"], "default/echo-v2");
    assert_eq!(v["route"]["field"], "spec.rules[0].http.paths[0]");
    assert_eq!(v["route"]["pathType"], "Prefix");

    let out = run(&[
        "explain",
        SEEDS_YAML,
        "--url",
        "https://example.com/other",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["decision"], "not-found");
    assert_eq!(v["status"], 404);
    assert_eq!(v["route"], Value::Null);
    assert_eq!(
        v["tls"],
        serde_json::json!({"host": "example.com", "ingress": "default/example-ingress",
                           "field": "spec.tls[0]", "secret": "default/tls-secret"})
    );
}

#[test]
fn explain_shows_the_redirect_to_https_of_a_tls_host() {
    let out = run(&[
        "explain",
        SEEDS_YAML,
        "--url",
        "http://example.com:10000/api/users/?page=2",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for line in [
        "decision: redirect 308 to https://example.com/api/users/?page=2",
        "tls:      example.com in default/example-ingress spec.tls[0] (secret default/tls-secret): ",
        "rule:     default/example-ingress spec.rules[0].http.paths[0]",
        "why:      the request came over HTTP and the host has TLS (spec.tls): ssl-redirect answers 308 to HTTPS",
    ] {
        assert!(out.stdout.contains(line), "missing {line:?} in\n{}", out.stdout);
    }
    let json = |url: &str, headers: &[&str]| {
        let mut args = vec!["explain", SEEDS_YAML, "--url", url, "--json"];
        for h in headers {
            args.extend(["-H", h]);
        }
        let out = run(&args);
        serde_json::from_str::<Value>(&out.stdout).unwrap()
    };
    let v = json("http://example.com/", &[]);
    assert_eq!(
        (v["decision"].as_str(), v["status"].as_u64()),
        (Some("redirect"), Some(308))
    );
    assert_eq!(v["location"], "https://example.com");
    assert_eq!(v["reason"], "ssl-redirect");
    let v = json("https://example.com/api", &[]);
    assert_eq!(v["decision"], "forward");
    // X-Forwarded-Proto counts only with settings.useForwardedHeaders.
    let v = json("http://example.com/api", &["X-Forwarded-Proto: https"]);
    assert_eq!(v["decision"], "redirect");
}

#[test]
fn explain_uses_the_settings_and_refuses_bad_configs() {
    let out = run(&[
        "explain",
        SEEDS_YAML,
        ISTIO_SETTINGS,
        "--url",
        "http://localhost/chat",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["cluster"], "outbound|80||game-chat.game-prod.svc.cluster.local");

    let out = run(&["explain", INVALID, "--url", "http://localhost/chat"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("pathType: unknown value \"Prefx\""),
        "{}",
        out.stderr
    );

    let out = run(&["explain", SEEDS_YAML, "--url", "ftp://localhost/chat"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

// --- render ---------------------------------------------------------------------------------------------

#[test]
fn render_writes_a_valid_envoy_yaml_carrying_the_settings() {
    let dir = scratch("render");
    let out_dir = dir.join("out");
    let wasm_arg = support::envoy::wasm_module().display().to_string();
    let out_arg = out_dir.display().to_string();
    let args = render_args(&[SEEDS_YAML, ISTIO_SETTINGS], &wasm_arg, &out_arg);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(out_dir.join("envoy.yaml")).unwrap();
    for expected in [
        "cluster_header: x-ingress-cluster",
        "FAIL_RELOAD",
        "normalize_path: true",
        "name: outbound|8443||chatforyou-io-svc.nginx.svc.cluster.local",
        "port_value: 18087",
    ] {
        assert!(text.contains(expected), "missing {expected:?}");
    }
    let carried = carried_plugin_config(&text);
    assert_eq!(
        carried["settings"]["clusterTemplate"],
        "outbound|{port}||{service}.{namespace}.svc.cluster.local"
    );
    assert_eq!(carried["ingresses"]["items"].as_array().unwrap().len(), 5);
    validate_with_envoy(&out_dir.join("envoy.yaml"));
}

#[test]
fn render_refuses_invalid_configs_and_arguments() {
    let dir = scratch("render-bad");
    let out_arg = dir.join("out").display().to_string();
    let out = run(&render_args(&[INVALID], DEMO_WASM, &out_arg));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown value \"Prefx\""), "{}", out.stderr);
    assert!(!dir.join("out/envoy.yaml").exists());

    let out = run(&[
        "render", "envoy", SEEDS_YAML, "--wasm", "x.wasm", "--listen", "10000", "-o", &out_arg,
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--listen \"10000\""), "{}", out.stderr);
}

/// envoy/demo.yaml is what `render` produces for the demo, byte for byte, so it cannot drift. The demo
/// serves example.com over HTTPS too, with the certificate `./build.sh demo` makes in `.demo/tls`: the
/// render runs where a test certificate stands in for it.
#[test]
fn checked_in_demo_config_is_a_fresh_render() {
    let dir = scratch("demo");
    let mut pki = support::tls::Pki::new(&dir.join("pki"));
    pki.secrets = dir.join(DEMO_TLS_DIR);
    pki.secret("default", "tls-secret", &["example.com"]);
    let (seeds, canary, endpoints) = (
        root().join(SEEDS_YAML),
        root().join(CANARY),
        root().join(ENDPOINTS),
    );
    let out_arg = dir.join("out").display().to_string();
    let mut args = vec!["render", "envoy"];
    let inputs = [seeds.to_str().unwrap(), canary.to_str().unwrap()];
    args.extend(inputs);
    args.extend(["--endpoints", endpoints.to_str().unwrap(), "--wasm", DEMO_WASM]);
    args.extend(["--listen", "127.0.0.1:10000", "--admin", "127.0.0.1:9901"]);
    args.extend([
        "--tls-listen",
        DEMO_TLS_LISTEN,
        "--tls-dir",
        DEMO_TLS_DIR,
        "-o",
        &out_arg,
    ]);
    let out = run_in(&dir, &args, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("HTTPS listener 127.0.0.1:10443 with 1 certificate"),
        "{}",
        out.stdout
    );
    let fresh = std::fs::read_to_string(dir.join("out/envoy.yaml")).unwrap();
    let checked_in = std::fs::read_to_string(root().join("envoy/demo.yaml")).unwrap();
    assert!(
        fresh == checked_in,
        "envoy/demo.yaml differs from a fresh render; regenerate it (after `./build.sh demo` made \
         {DEMO_TLS_DIR}) with\n  \
         ingress-wasm render envoy {SEEDS_YAML} {CANARY} --endpoints {ENDPOINTS} --wasm {DEMO_WASM} \
         --listen 127.0.0.1:10000 --admin 127.0.0.1:9901 --tls-listen {DEMO_TLS_LISTEN} --tls-dir {DEMO_TLS_DIR} \
         -o /tmp/demo && cp /tmp/demo/envoy.yaml envoy/demo.yaml"
    );
    // Validate it with the module and the certificate Envoy would load (paths made absolute).
    let wasm = support::envoy::wasm_module();
    let tls_dir = format!("{}/", dir.join(DEMO_TLS_DIR).display());
    let text = checked_in
        .replace(DEMO_WASM, &wasm.display().to_string())
        .replace(&format!("{DEMO_TLS_DIR}/"), &tls_dir);
    assert_ne!(text, checked_in, "the demo config names {DEMO_WASM}");
    assert!(
        text.contains(&format!("{tls_dir}default/tls-secret/tls.crt")),
        "{text}"
    );
    let config = dir.join("demo-abs.yaml");
    std::fs::write(&config, text).unwrap();
    validate_with_envoy(&config);
}

#[test]
fn explain_answers_preflights_redirects_and_aliases() {
    const CORS: &str = "k8s/examples/cors.yaml";
    let preflight = run(&[
        "explain",
        CORS,
        "--url",
        "http://api.example.com/v1/items",
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://pr-7.preview.example.com",
        "--json",
    ]);
    assert_eq!(preflight.code, 0, "{}", preflight.stderr);
    let v: Value = serde_json::from_str(&preflight.stdout).unwrap();
    assert_eq!(
        (
            &v["decision"],
            &v["status"],
            &v["reason"],
            &v["request"]["method"]
        ),
        (
            &Value::from("respond"),
            &Value::from(204),
            &Value::from("cors-preflight"),
            &Value::from("OPTIONS")
        )
    );
    assert_eq!(
        v["replyHeaders"]["access-control-allow-origin"],
        "https://pr-7.preview.example.com"
    );
    let www = run(&[
        "explain",
        CORS,
        "--url",
        "http://www.api.example.com/v1/items?a=1",
    ]);
    assert!(
        www.stdout
            .contains("decision: redirect 308 to http://api.example.com:80/v1/items?a=1"),
        "{}",
        www.stdout
    );
    let alias = run(&[
        "explain",
        CORS,
        "--url",
        "http://api.example.org/v1/items",
        "-H",
        "Origin: https://app.example.com",
    ]);
    for line in [
        "host:     api.example.org: server-alias of api.example.com",
        "response: access-control-allow-origin: https://app.example.com",
        "response: access-control-max-age: 600",
    ] {
        assert!(alias.stdout.contains(line), "{line}: {}", alias.stdout);
    }
    let app_root = run(&["explain", SEEDS_YAML, "--url", "http://myproject.project.io/"]);
    assert!(
        app_root
            .stdout
            .contains("decision: redirect 302 to http://myproject.project.io/"),
        "{}",
        app_root.stdout
    );
}

#[test]
fn render_serves_tls_from_the_secrets_directory_or_says_why_not() {
    let dir = scratch("render-tls");
    let out_arg = dir.join("out").display().to_string();
    let base = [
        "render",
        "envoy",
        SEEDS_YAML,
        "--wasm",
        DEMO_WASM,
        "--listen",
        "127.0.0.1:10000",
    ];
    // No --tls-listen: the TLS the Ingress asks for is not served, and the warning says so.
    let mut args = base.to_vec();
    args.extend(["-o", &out_arg]);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "warning: default/example-ingress: spec.tls[0]: TLS for example.com is not served: without --tls-listen"
        ),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(dir.join("out/envoy.yaml")).unwrap();
    assert!(!text.contains("ingress_https"), "{text}");
    // A missing Secret is an error naming the Ingress, and nothing is written.
    let _ = std::fs::remove_dir_all(dir.join("out"));
    let secrets = dir.join("secrets").display().to_string();
    let mut args = base.to_vec();
    args.extend([
        "--tls-listen",
        "127.0.0.1:10443",
        "--tls-dir",
        &secrets,
        "-o",
        &out_arg,
    ]);
    let out = run(&args);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let missing = format!("{secrets}/default/tls-secret/tls.crt");
    assert!(
        out.stderr.contains(&format!(
            "error: default/example-ingress: spec.tls[0].secretName: secret default/tls-secret: {missing}: cannot read:"
        )),
        "{}",
        out.stderr
    );
    assert!(!dir.join("out/envoy.yaml").exists());
    // --tls-listen needs --tls-dir.
    let mut args = base.to_vec();
    args.extend(["--tls-listen", "127.0.0.1:10443", "-o", &out_arg]);
    let out = run(&args);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--tls-dir"), "{}", out.stderr);
}

// --- access control -------------------------------------------------------------------------------------

const BASIC_AUTH: &str = "k8s/examples/basic-auth.yaml";

#[test]
fn explain_answers_basic_auth_and_source_ranges_with_the_secret_from_the_files() {
    let out = run(&["check", BASIC_AUTH]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "1 Ingress, 1 route, 0 denied routes, 0 errors, 0 warnings"
    );
    let url = "http://shop.example.com/admin/users";
    let out = run(&["explain", BASIC_AUTH, "--url", url, "--client-ip", "10.1.2.3"]);
    assert!(
        out.stdout.contains("decision: 401, answered by the filter"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("reply:    www-authenticate: Basic realm=\"Shop admins\""),
        "{}",
        out.stdout
    );
    let out = run(&[
        "explain",
        BASIC_AUTH,
        "--url",
        url,
        "--client-ip",
        "10.1.2.3",
        "-H",
        "Authorization: Basic Zm9vOmJhcg==",
    ]);
    assert!(
        out.stdout.contains("decision: forward to cluster shop/admin:80"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("header:   authorization: (removed)"),
        "{}",
        out.stdout
    );
    let out = run(&[
        "explain",
        BASIC_AUTH,
        "--url",
        url,
        "--client-ip",
        "192.168.1.1",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_u64(), v["reason"].as_str()),
        (Some(403), Some("source-denied"))
    );
}

#[test]
fn render_passes_only_named_secrets_from_files_or_a_mounted_directory() {
    let dir = scratch("secrets");
    // A Secret document nobody names is left out, with a note.
    let extra = dir.join("extra.yaml");
    std::fs::write(
        &extra,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: unrelated, namespace: shop}\ndata: {auth: eA==}\n",
    )
    .unwrap();
    let wasm_arg = support::envoy::wasm_module().display().to_string();
    let out_dir = dir.join("out");
    let out_arg = out_dir.display().to_string();
    let extra_arg = extra.display().to_string();
    let out = run(&render_args(&[BASIC_AUTH, &extra_arg], &wasm_arg, &out_arg));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("kind: skipped: Secret shop/unrelated is not named by any auth-secret annotation"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(out_dir.join("envoy.yaml")).unwrap();
    let carried = carried_plugin_config(&text);
    let names: Vec<&str> = carried["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["basic-auth"]);
    validate_with_envoy(&out_dir.join("envoy.yaml"));

    // Without the Secret document: from --secrets-dir, else the Ingress is denied (503) with a warning.
    let ingress_only = dir.join("ingress.yaml");
    let manifest = std::fs::read_to_string(root().join(BASIC_AUTH)).unwrap();
    let ingress_doc = manifest.split("---\n").nth(1).unwrap();
    std::fs::write(&ingress_only, ingress_doc).unwrap();
    let ingress_arg = ingress_only.display().to_string();
    let out = run(&["check", &ingress_arg]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Secret shop/basic-auth is not in the configuration"),
        "{}",
        out.stderr
    );
    let mounted = dir.join("mounted/shop/basic-auth");
    std::fs::create_dir_all(&mounted).unwrap();
    std::fs::write(mounted.join("auth"), "foo:{PLAIN}bar\n").unwrap();
    let secrets_arg = dir.join("mounted").display().to_string();
    let out = run(&["check", &ingress_arg, "--secrets-dir", &secrets_arg]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&[
        "explain",
        &ingress_arg,
        "--secrets-dir",
        &secrets_arg,
        "--url",
        "http://shop.example.com/admin",
        "--client-ip",
        "10.0.0.1",
        "-H",
        "Authorization: Basic Zm9vOmJhcg==",
    ]);
    assert!(
        out.stdout.contains("decision: forward to cluster shop/admin:80"),
        "{}",
        out.stdout
    );
    // The hashes never appear in what the CLI prints.
    assert!(!out.stdout.contains("PLAIN") && !out.stderr.contains("PLAIN"));
}

#[test]
fn upstream_settings_are_explained_and_rendered_for_envoy() {
    const UPSTREAM: &str = "k8s/examples/upstream.yaml";
    let out = run(&["check", UPSTREAM]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let out = run(&["explain", UPSTREAM, "--url", "http://shop.example.com/reports/q3"]);
    assert!(
        out.stdout
            .contains("location: read timeout 3600 s, send timeout 120 s\n"),
        "{}",
        out.stdout
    );
    let out = run(&[
        "explain",
        UPSTREAM,
        "--url",
        "http://api.shop.example.com/",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["clusterSettings"],
        serde_json::json!({"protocol": "GRPCS", "connectTimeout": 10, "serviceUpstream": false})
    );
    let out = run(&["explain", UPSTREAM, "--url", "http://shop.example.com/", "--json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["location"]["errorPages"]["codes"],
        serde_json::json!([404, 503])
    );
    assert_eq!(
        v["location"]["errorPages"]["backend"]["cluster"],
        "shop/error-pages:8080"
    );

    let dir = scratch("upstream");
    let out_arg = dir.display().to_string();
    let wasm = support::envoy::wasm_module().display().to_string();
    let mut args = render_args(&[UPSTREAM], &wasm, &out_arg);
    args.extend(["--cluster-domain", "cluster.example"]);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rendered = std::fs::read_to_string(dir.join("envoy.yaml")).unwrap();
    assert!(
        rendered.contains("address: orders-grpc.shop.svc.cluster.example"),
        "{rendered}"
    );
    validate_with_envoy(&dir.join("envoy.yaml"));
    let mut args = render_args(&[UPSTREAM], &wasm, &out_arg);
    args.extend(["--cluster-domain", "Cluster Local"]);
    let out = run(&args);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("--cluster-domain \"Cluster Local\": not a DNS domain"),
        "{}",
        out.stderr
    );
}

// --- sync: live updates into Envoy's watched directory ------------------------------------------------

fn sync_args<'a>(input: &'a str, out: &'a str, wasm: &'a str) -> Vec<&'a str> {
    vec![
        "sync",
        "--input",
        input,
        "--out",
        out,
        "--wasm",
        wasm,
        "--listen",
        "127.0.0.1:10000",
        "--settle-ms",
        "20",
    ]
}

fn status(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("status.json")).unwrap()).unwrap()
}

fn shop(name: &str, host: &str, path_type: &str) -> Value {
    serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": path_type,
            "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}
    })
}

fn write_list(file: &Path, items: &[Value], settings: Option<Value>) {
    let mut doc = serde_json::json!({"ingresses": {"apiVersion": "v1", "kind": "List", "items": items}});
    if let Some(settings) = settings {
        doc["settings"] = settings;
    }
    std::fs::write(file, doc.to_string()).unwrap();
}

/// The hosts the served version routes, from the filter configuration in ecds.yaml.
fn served_hosts(out: &Path) -> Vec<String> {
    let config = support::live::plugin_config(out);
    let mut hosts: Vec<String> = config["ingresses"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["spec"]["rules"][0]["host"].as_str().unwrap().to_string())
        .collect();
    hosts.sort();
    hosts
}

#[test]
fn sync_keeps_each_ingress_at_its_last_valid_version_and_says_why() {
    let dir = scratch("sync");
    let input = dir.join("input.json");
    let (input_arg, out_arg) = (input.display().to_string(), dir.join("xds").display().to_string());
    let out_dir = dir.join("xds");
    let bootstrap = dir.join("envoy.yaml").display().to_string();

    write_list(
        &input,
        &[shop("a", "a.test", "Prefix"), shop("b", "b.test", "Prefix")],
        None,
    );
    let mut args = sync_args(&input_arg, &out_arg, DEMO_WASM);
    args.extend_from_slice(&["--bootstrap", &bootstrap, "--admin", "127.0.0.1:9901"]);
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("version 1: 2 Ingresses, 2 routes, 2 clusters"),
        "{}",
        out.stdout
    );
    for link in ["lds.yaml", "cds.yaml", "ecds.yaml"] {
        let target = std::fs::read_link(out_dir.join(link)).unwrap();
        assert_eq!(target, Path::new("..data").join(link));
    }
    assert_eq!(
        std::fs::read_link(out_dir.join("..data")).unwrap(),
        Path::new("..v1")
    );
    let boot: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&bootstrap).unwrap()).unwrap();
    assert_eq!(
        boot["dynamic_resources"]["lds_config"]["path_config_source"]["watched_directory"]["path"],
        out_arg.as_str()
    );
    validate_with_envoy(Path::new(&bootstrap));
    let equivalent = dir.join("static.yaml");
    let yaml = serde_yaml_ng::to_string(&support::live::static_equivalent(&out_dir)).unwrap();
    std::fs::write(&equivalent, yaml).unwrap();
    validate_with_envoy(&equivalent);
    assert_eq!(status(&out_dir)["exitCode"], 0);

    // The same input again: nothing to swap.
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("unchanged"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_link(out_dir.join("..data")).unwrap(),
        Path::new("..v1")
    );

    // b's update is invalid (kept at version 1), c is new and invalid (left out), d is new and valid.
    write_list(
        &input,
        &[
            shop("a", "a.test", "Prefix"),
            shop("b", "b2.test", "Prefx"),
            shop("c", "c.test", "Exactly"),
            shop("d", "d.test", "Prefix"),
        ],
        None,
    );
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("error: shop/b: spec.rules[0].http.paths[0].pathType: unknown value \"Prefx\"")
            && out
                .stderr
                .contains("kept: shop/b: its last valid version keeps serving")
            && out.stderr.contains("left out: shop/c: not served"),
        "{}",
        out.stderr
    );
    // d's cluster is new: version 2 delivers it alone (the routes of version 1), version 3 the routes.
    assert!(out.stdout.contains("version 3: 3 Ingresses"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("1 kept at their last valid version, 1 left out"),
        "{}",
        out.stdout
    );
    assert_eq!(served_hosts(&out_dir), vec!["a.test", "b.test", "d.test"]);
    let s = status(&out_dir);
    assert_eq!(s["exitCode"], 4);
    assert_eq!(s["refused"][0]["ingress"], "shop/b");
    assert_eq!(s["refused"][0]["outcome"], "keptOld");
    assert_eq!(
        s["refused"][0]["problems"][0]["field"],
        "spec.rules[0].http.paths[0].pathType"
    );
    assert_eq!(s["refused"][1]["ingress"], "shop/c");
    assert_eq!(s["refused"][1]["outcome"], "leftOut");
    let step = out_dir.join("..v2");
    let step_hosts = served_hosts(&step);
    assert_eq!(step_hosts, vec!["a.test", "b.test"]);
    let step_clusters = support::live::read_yaml(&step, "cds.yaml").to_string();
    assert!(step_clusters.contains("shop/d:80"), "{step_clusters}");
    // The previous version stays until the next swap, older ones go.
    assert!(!out_dir.join("..v1").exists() && out_dir.join("..v3").is_dir());

    // Still invalid next time: still the version that last loaded, from the state.
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stdout.starts_with("unchanged"), "{}", out.stdout);

    // An empty file (being written) removes nothing.
    std::fs::write(&input, "\n").unwrap();
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("is empty (being written?)"), "{}", out.stderr);
    assert_eq!(served_hosts(&out_dir), vec!["a.test", "b.test", "d.test"]);

    // Settings nobody can be blamed for: nothing delivered, version 2 keeps serving, exit 1.
    write_list(
        &input,
        &[shop("a", "a.test", "Prefix")],
        Some(serde_json::json!({"semantics": "nginx-ish"})),
    );
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error: settings: semantics"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nothing delivered; version 3 keeps serving"),
        "{}",
        out.stderr
    );
    assert_eq!(served_hosts(&out_dir), vec!["a.test", "b.test", "d.test"]);
    let s = status(&out_dir);
    assert_eq!(
        (s["exitCode"].clone(), s["version"].clone()),
        (1.into(), 3.into())
    );
    assert!(
        s["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("settings: semantics"),
        "{s}"
    );

    // Fixed: everything delivered; the previous version directory is the only old one kept.
    write_list(
        &input,
        &[shop("a", "a.test", "Prefix"), shop("b", "b2.test", "Prefix")],
        None,
    );
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(served_hosts(&out_dir), vec!["a.test", "b2.test"]);
    assert!(!out_dir.join("..v2").exists() && out_dir.join("..v3").is_dir() && out_dir.join("..v4").is_dir());
    // Clusters only version 3 used (d) stay one more version, then go.
    let clusters = |dir: &Path| {
        support::live::read_yaml(dir, "cds.yaml")["resources"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(clusters(&out_dir), 3);
    let out = run(&sync_args(&input_arg, &out_arg, DEMO_WASM));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("version 5"), "{}", out.stdout);
    assert_eq!(clusters(&out_dir), 2);
}

/// A child process killed when the test ends, even by a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until the status file reports `version`.
fn wait_for_version(out: &Path, version: u64) -> Value {
    let start = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(out.join("status.json")) {
            if let Ok(s) = serde_json::from_str::<Value>(&text) {
                if s["version"] == version {
                    return s;
                }
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no version {version} in {}",
            out.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn sync_watch_follows_the_input_file_and_stdin() {
    let dir = scratch("sync-watch");
    let input = dir.join("input.json");
    let (input_arg, out_arg) = (input.display().to_string(), dir.join("xds").display().to_string());
    let out_dir = dir.join("xds");
    write_list(&input, &[shop("a", "a.test", "Prefix")], None);
    let mut args = sync_args(&input_arg, &out_arg, DEMO_WASM);
    args.extend_from_slice(&["--watch", "--interval-ms", "50"]);
    let child = Command::new(env!("CARGO_BIN_EXE_ingress-wasm"))
        .args(&args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let watcher = KillOnDrop(child);
    wait_for_version(&out_dir, 1);
    write_list(
        &input,
        &[shop("a", "a.test", "Prefix"), shop("b", "b.test", "Prefix")],
        None,
    );
    // b's cluster is new: version 2 has it alone, version 3 routes to it.
    wait_for_version(&out_dir, 3);
    assert_eq!(served_hosts(&out_dir), vec!["a.test", "b.test"]);
    write_list(
        &input,
        &[shop("a", "a.test", "Prefix"), shop("b", "b.test", "Prefx")],
        None,
    );
    let start = std::time::Instant::now();
    while status(&out_dir)["exitCode"] != 4 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{}",
            status(&out_dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status(&out_dir)["refused"][0]["ingress"], "shop/b");
    drop(watcher);

    // stdin: each JSON document is a complete input; the exit status is the last one's.
    let stdin_out = dir.join("xds-stdin");
    let stdin_arg = stdin_out.display().to_string();
    let mut args = sync_args("-", &stdin_arg, DEMO_WASM);
    args.push("--watch");
    let first =
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [shop("a", "a.test", "Prefix")]});
    let second = serde_json::json!({"apiVersion": "v1", "kind": "List",
        "items": [shop("a", "a.test", "Prefix"), shop("c", "c.test", "Prefx")]});
    let out = run_with_stdin(&args, Some(&format!("{first:#}\n{second:#}\n")));
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("version 1") && out.stdout.contains("unchanged"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("left out: shop/c: not served"),
        "{}",
        out.stderr
    );
    assert_eq!(served_hosts(&stdin_out), vec!["a.test"]);
}
