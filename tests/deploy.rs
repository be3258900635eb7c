//! `render k8s`, `render istio` and `render oci`: every manifest validates against the Kubernetes schemas
//! (and Istio's CRDs) offline; the Envoy bootstrap of the Deployment validates and runs in a real Envoy
//! with the built module on the version the init container's `ingress-wasm sync` wrote, answering the
//! readiness probe and draining as the preStop hook asks, and the sidecar's `ingress-wasm sync --watch`
//! (its rendered command line) updates it live; the sync
//! sidecar's script feeds snapshots and writes Ingress status against a stand-in kubectl; Istio's route
//! for the rendered VirtualService follows the filter once the EnvoyFilter's patch is merged in; the OCI
//! image layout has the structure Istio's fetcher reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::cli::root;
use support::echo_server::EchoServer;
use support::envoy::{validate, wasm_module, Envoy, TempDir};
use support::http;

fn cli(args: &[&str]) -> support::cli::Output {
    support::cli::run(args, b"")
}

fn cli_with_stdin(args: &[&str], stdin: &str) -> support::cli::Output {
    support::cli::run(args, stdin.as_bytes())
}

fn cli_ok(args: &[&str]) -> String {
    let output = cli(args);
    assert_eq!(output.code, 0, "ingress-wasm {args:?} failed:\n{}", output.stderr);
    output.stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("not UTF-8: {}", path.display()))
}

/// The Python that has kubernetes-validate: `KUBERNETES_VALIDATE_PYTHON`, else `<repo>/.venv/bin/python`.
/// Missing, the tests fail saying how to install it: they never skip.
fn validator_python() -> PathBuf {
    let python = std::env::var_os("KUBERNETES_VALIDATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let found = Command::new(&python)
        .args(["-c", "import kubernetes_validate, jsonschema, yaml"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "kubernetes-validate is not installed for {}: run ./build.sh test (it installs it), or \
         `python3 -m venv .venv && .venv/bin/pip install kubernetes-validate==1.37.0`; \
         KUBERNETES_VALIDATE_PYTHON may name another Python that has it",
        python.display()
    );
    python
}

/// Runs tests/validate_manifests.py on `files`: (success, its output).
fn validate_manifests(files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(validator_python())
        .arg(root().join("tests/validate_manifests.py"))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the validator: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every document of every YAML file in `dir`.
fn documents(dir: &Path) -> Vec<Value> {
    yaml_files(dir)
        .iter()
        .flat_map(|file| {
            let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            text.split("\n---\n")
                .map(|doc| {
                    serde_yaml_ng::from_str::<Value>(doc)
                        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn find<'d>(docs: &'d [Value], kind: &str, name: &str) -> &'d Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn render_k8s(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "render",
        "k8s",
        "k8s/examples/seeds.yaml",
        "k8s/examples/basic-auth.yaml",
        "--wasm",
        path_str(wasm_module()),
        "--sync-image",
        "registry.test/ingress-wasm:1",
        "-o",
        path_str(dir),
    ];
    args.extend_from_slice(extra);
    cli_ok(&args)
}

#[test]
fn k8s_manifests_validate_against_the_kubernetes_schemas() {
    let out = TempDir::new("k8s-manifests");
    let stdout = render_k8s(&out.path, &[]);
    assert!(stdout.contains("kubectl apply --server-side"), "{stdout}");
    let (valid, report) = validate_manifests(&yaml_files(&out.path));
    assert!(valid, "{report}");
    // Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding, IngressClass, 2 ConfigMaps, Secret,
    // Deployment, PodDisruptionBudget, Service.
    assert!(report.contains("11 documents, 0 invalid"), "{report}");

    let docs = documents(&out.path);
    let deployment = find(&docs, "Deployment", "ingress-wasm");
    let pod = &deployment["spec"]["template"]["spec"];
    assert!(deployment["spec"]["replicas"].as_u64() >= Some(2));
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let envoy = &pod["containers"][0];
    assert_eq!(envoy["image"], "envoyproxy/envoy:v1.40.0");
    assert_eq!(envoy["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(envoy["readinessProbe"]["httpGet"]["path"], "/ready");
    assert!(envoy["resources"]["requests"]["cpu"].is_string());
    let pre_stop = envoy["lifecycle"]["preStop"]["exec"]["command"].to_string();
    assert!(pre_stop.contains("/drain_listeners?graceful"), "{pre_stop}");
    assert!(pod["terminationGracePeriodSeconds"].as_u64() > Some(25));
    assert_eq!(pod["containers"][1]["image"], "registry.test/ingress-wasm:1");
    let pdb = find(&docs, "PodDisruptionBudget", "ingress-wasm");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        find(&docs, "Service", "ingress-wasm")["spec"]["type"],
        "LoadBalancer"
    );
    assert_eq!(
        find(&docs, "IngressClass", "nginx")["spec"]["controller"],
        "ingress-wasm.dev/envoy"
    );

    // The module ConfigMap carries exactly the module; the Ingress configuration carries no password hash.
    let module = docs
        .iter()
        .find(|d| {
            d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("ingress-wasm-module-"))
        })
        .unwrap_or_else(|| panic!("no module ConfigMap"));
    let wasm = fs::read(wasm_module()).unwrap_or_else(|e| panic!("{e}"));
    let embedded = module["binaryData"]["ingress_wasm.wasm"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        ingress_wasm::encoding::base64::decode(embedded.as_bytes()).as_deref(),
        Some(wasm.as_slice())
    );
    let config = find(&docs, "ConfigMap", "ingress-wasm-config");
    let htpasswd = "Zm9vOiRhcHIxJDBlbm1PdkRPJEpZRzFHVTZaRnNKS2VhUWpneG9QaDEK";
    assert!(!config["data"].to_string().contains(htpasswd));
    assert!(
        find(&docs, "Secret", "ingress-wasm-auth")["stringData"]["secrets.json"]
            .as_str()
            .is_some_and(|s| s.contains(htpasswd))
    );
    // The init container's input (the rendered configuration, then the Secrets, on stdin), read as
    // `ingress-wasm` reads every input: the Secret is found, no path fails closed for want of it.
    let init = &deployment["spec"]["template"]["spec"]["initContainers"][0]["command"];
    assert!(
        init[2].as_str().unwrap_or_default().starts_with(
            "cat /etc/ingress-wasm/config/ingresses.json /etc/ingress-wasm/auth/secrets.json | \"$@\""
        ),
        "{init}"
    );
    let stdin = format!(
        "{}\n{}",
        config["data"]["ingresses.json"].as_str().unwrap_or_default(),
        find(&docs, "Secret", "ingress-wasm-auth")["stringData"]["secrets.json"]
            .as_str()
            .unwrap_or_default()
    );
    let checked = cli_with_stdin(&["check", "-"], &stdin);
    let stderr = &checked.stderr;
    assert_eq!(checked.code, 0, "{stderr}");
    assert!(!stderr.contains("is not in the configuration"), "{stderr}");

    let role = find(&docs, "ClusterRole", "ingress-wasm-ingress-wasm");
    for rule in role["rules"].as_array().into_iter().flatten() {
        let writes = rule["verbs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| !["get", "list", "watch"].contains(&v.as_str().unwrap_or("")));
        if writes {
            assert_eq!(rule["resources"], json!(["ingresses/status"]), "{rule}");
        }
    }
}

#[test]
fn the_validator_refuses_what_the_schemas_refuse() {
    let out = TempDir::new("k8s-invalid");
    render_k8s(&out.path, &[]);
    let deployment = out.path.join("40-deployment.yaml");
    let text = fs::read_to_string(&deployment).unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        &deployment,
        text.replace("readOnlyRootFilesystem", "readOnlyRootFS"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (valid, report) = validate_manifests(&[deployment]);
    assert!(!valid, "{report}");
    assert!(report.contains("readOnlyRootFS"), "{report}");
}

#[test]
fn a_module_over_one_mebibyte_is_refused_with_a_clear_error() {
    let dir = TempDir::new("k8s-big-module");
    let big = dir.path.join("big.wasm");
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.resize(1 << 20, 0);
    fs::write(&big, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path.join("out");
    let output = cli(&[
        "render",
        "k8s",
        "k8s/examples/seeds.yaml",
        "--wasm",
        path_str(&big),
        "-o",
        path_str(&out),
    ]);
    assert_eq!(output.code, 1);
    let stderr = &output.stderr;
    assert!(
        stderr.contains(
            "error: --wasm: the module is 1048576 bytes; a ConfigMap holds at most 1048576 bytes (1 MiB)"
        ),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");
}

/// A free loopback port (bound, then released for Envoy).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// The configuration of a gateway whose backend `shop/web` is an echo server here: its Service port is
/// the echo server's port, so with the cluster domain `localhost` the cluster's DNS name
/// (`web.shop.svc.localhost`) reaches it. `added`: one more path, `/added`, to `shop/web2`, whose
/// EndpointSlice points at `web2` (its Service port, 80, is nothing here).
fn gateway_input(web: &EchoServer, web2: Option<&EchoServer>) -> Value {
    let path = |path: &str, service: &str, port: u16| json!({"path": path, "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": port}}}});
    let mut paths = vec![path("/cart", "web", web.addr.port())];
    let mut items = vec![json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ports": [{"name": "http", "port": web.addr.port()}]},
    })];
    if let Some(web2) = web2 {
        paths.push(path("/added", "web2", 80));
        items.push(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web2", "namespace": "shop"},
            "spec": {"ports": [{"name": "http", "port": 80}]},
        }));
        items.push(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web2-x1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web2"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": web2.addr.port()}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
        }));
    }
    items.insert(
        0,
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.test", "http": {"paths": paths}}]},
        }),
    );
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// A pod of the rendered Deployment on this machine: the ConfigMaps' files where the pod mounts them
/// (remapped into a temp dir), the init container's `ingress-wasm sync`, then Envoy with the
/// Deployment's arguments and the ConfigMap's bootstrap (its own ports, its own `--base-id`).
struct Pod {
    work: TempDir,
    deployment: Value,
    /// The ConfigMap's `settings.json`.
    settings: Value,
    /// Rendered path or address -> this machine's.
    remaps: Vec<(String, String)>,
    ingress: SocketAddr,
    ready: SocketAddr,
    admin_port: u16,
    _envoy: Running,
}

impl Pod {
    fn start(label: &str, web: &EchoServer) -> Pod {
        let work = TempDir::new(label);
        let input = work.path.join("cluster.json");
        fs::write(&input, gateway_input(web, None).to_string()).unwrap_or_else(|e| panic!("{e}"));
        let rendered = work.path.join("manifests");
        cli_ok(&[
            "render",
            "k8s",
            path_str(&input),
            "--wasm",
            path_str(wasm_module()),
            "--cluster-domain",
            "localhost",
            "-o",
            path_str(&rendered),
        ]);
        let docs = documents(&rendered);
        let deployment = find(&docs, "Deployment", "ingress-wasm").clone();
        let config = find(&docs, "ConfigMap", "ingress-wasm-config");

        // The mounts: the config ConfigMap's files, the module under its key, the shared emptyDir.
        let (config_dir, module_dir, xds) = (
            work.path.join("config"),
            work.path.join("module"),
            work.path.join("xds"),
        );
        fs::create_dir_all(&config_dir).unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(&module_dir).unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(&xds).unwrap_or_else(|e| panic!("{e}"));
        for (key, value) in config["data"].as_object().into_iter().flatten() {
            fs::write(config_dir.join(key), value.as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        fs::copy(wasm_module(), module_dir.join("ingress_wasm.wasm")).unwrap_or_else(|e| panic!("{e}"));
        let (ingress_port, ready_port, admin_port) = (free_port(), free_port(), free_port());
        let remaps: Vec<(String, String)> = vec![
            ("/config/xds".into(), path_str(&xds).into()),
            ("/etc/ingress-wasm/config".into(), path_str(&config_dir).into()),
            ("/etc/ingress-wasm/module".into(), path_str(&module_dir).into()),
            ("0.0.0.0:8080".into(), format!("127.0.0.1:{ingress_port}")),
            ("port_value: 8081".into(), format!("port_value: {ready_port}")),
            ("port_value: 9901".into(), format!("port_value: {admin_port}")),
        ];
        let settings: Value =
            serde_json::from_str(config["data"]["settings.json"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| panic!("settings.json: {e}"));
        let pod = |envoy: Running| Pod {
            work,
            deployment,
            settings,
            remaps,
            ingress: SocketAddr::from(([127, 0, 0, 1], ingress_port)),
            ready: SocketAddr::from(([127, 0, 0, 1], ready_port)),
            admin_port,
            _envoy: envoy,
        };
        let mut starting = pod(Running::none());

        // The init container, as rendered: the first version comes from `ingress-wasm sync`.
        let init = starting.command(&starting.deployment["spec"]["template"]["spec"]["initContainers"][0]);
        let output = Command::new(&init[0])
            .args(&init[1..])
            .output()
            .unwrap_or_else(|e| panic!("initial sync: {e}"));
        assert!(
            output.status.success(),
            "the init container failed: {init:?}\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(xds.join("lds.yaml").exists(), "no lds.yaml in {}", xds.display());

        // The bootstrap as the ConfigMap holds it, validated, then Envoy as the Deployment runs it.
        let bootstrap = config["data"]["envoy.yaml"].as_str().unwrap_or_default();
        let local = starting.remap(bootstrap);
        assert!(!local.contains("/config/xds") && local != bootstrap);
        let config_file = config_dir.join("envoy.yaml");
        fs::write(&config_file, &local).unwrap_or_else(|e| panic!("{e}"));
        let validation = validate(&config_file);
        assert!(
            validation.success,
            "envoy --mode validate:\n{}",
            validation.output
        );
        let envoy = &starting.deployment["spec"]["template"]["spec"]["containers"][0];
        let mut args: Vec<String> = envoy["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| starting.remap(a.as_str().unwrap_or_default()))
            .collect();
        assert!(
            args.iter().any(|a| a.as_str() == path_str(&config_file)),
            "{args:?}"
        );
        assert!(args.iter().any(|a| a == "--disable-hot-restart"), "{args:?}");
        // This machine runs several Envoys at once: each its own shared-memory id.
        args.extend(["--base-id".to_string(), support::envoy::base_id().to_string()]);
        let log = fs::File::create(starting.work.path.join("envoy.log")).unwrap_or_else(|e| panic!("{e}"));
        starting._envoy = Running::some(
            Command::new(support::envoy::envoy_binary())
                .args(&args)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("envoy: {e}")),
        );
        starting.wait_ready();
        starting
    }

    /// A container's command line on this machine: paths remapped, `ingress-wasm` the built CLI.
    fn command(&self, container: &Value) -> Vec<String> {
        container["command"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| match a.as_str().unwrap_or_default() {
                "ingress-wasm" => env!("CARGO_BIN_EXE_ingress-wasm").to_string(),
                other => self.remap(other),
            })
            .collect()
    }

    fn remap(&self, text: &str) -> String {
        self.remaps
            .iter()
            .fold(text.to_string(), |text, (from, to)| text.replace(from, to))
    }

    /// Until the ready listener answers 200 `LIVE` (60 s at most).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match http::try_send(self.ready, &http::get_request(b"pod", b"/ready", &[])) {
                Ok(r) if r.status == 200 => {
                    assert_eq!(r.body_text().trim(), "LIVE");
                    return;
                }
                _ if Instant::now() > deadline => panic!(
                    "the ready listener did not answer 200 within 60 s:\n{}",
                    fs::read_to_string(self.work.path.join("envoy.log")).unwrap_or_default()
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

#[test]
fn the_deployments_envoy_bootstrap_validates_serves_ready_and_drains() {
    let echo = EchoServer::start("web");
    let pod = Pod::start("k8s-envoy", &echo);
    let pre_stop = pod.deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]
        ["exec"]["command"][2]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Only /ready of the admin is reachable from outside the pod.
    for path in ["/stats", "/drain_listeners", "/quitquitquit"] {
        assert_eq!(http::get(pod.ready, "pod", path).status, 404, "{path}");
    }
    let r = http::get(pod.ingress, "shop.test", "/cart");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.echo().map(|e| e.service), Some("web".to_string()));

    // The preStop hook, its wait shortened: Envoy drains its listeners, so a keep-alive client is told
    // to close its connection (and go to another pod) after its request.
    assert!(!keep_alive_response_head(pod.ingress).contains("connection: close"));
    let hook = pre_stop
        .replace("/127.0.0.1/9901", &format!("/127.0.0.1/{}", pod.admin_port))
        .replace("sleep 25", "sleep 0");
    assert_ne!(hook, pre_stop);
    let status = Command::new("bash")
        .args(["-c", &hook])
        .status()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let head = keep_alive_response_head(pod.ingress);
        assert!(head.starts_with("http/1.1 200"), "{head}");
        if head.contains("connection: close") {
            break;
        }
        assert!(Instant::now() < deadline, "no drain within 2 s: {head}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sidecar's `ingress-wasm sync --watch`, exactly as the Deployment runs it behind `sync.sh`, fed
/// the snapshot `sync.sh` would write after a change (an Ingress gains a path to a Service whose
/// EndpointSlice is an echo server here): Envoy, started on the init container's version, serves the
/// new path within 2 s, without a restart, and stays ready.
#[test]
fn the_sync_sidecar_updates_the_running_envoy() {
    use std::io::Write;
    let (web, web2) = (EchoServer::start("web"), EchoServer::start("web2"));
    let pod = Pod::start("k8s-sidecar", &web);
    assert_eq!(http::get(pod.ingress, "shop.test", "/added").status, 404);

    let sidecar = &pod.deployment["spec"]["template"]["spec"]["containers"][1];
    let env = |name: &str| -> String {
        sidecar["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("no {name} in the sidecar's env"))
            .to_string()
    };
    assert_eq!(env("KINDS"), "ingress,service,endpointslice");
    let command = pod.command(sidecar);
    let config_dir = pod.work.path.join("config");
    assert_eq!(
        command[..2],
        [
            "bash".to_string(),
            path_str(&config_dir.join("sync.sh")).to_string()
        ],
        "{command:?}"
    );
    // What sync.sh runs: the rest of the command line.
    let sync = &command[2..];
    assert!(sync.iter().any(|a| a == "--watch"), "{sync:?}");
    let log = pod.work.path.join("sidecar.log");
    let log_file = fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let mut running = Running::some(
        Command::new(&sync[0])
            .args(&sync[1..])
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("ingress-wasm sync: {e}")),
    );
    // One snapshot as sync.sh prints it: the settings, then `kubectl get $KINDS -A -o json`.
    let snapshot = format!(
        "{{\"settings\": {}, \"ingresses\": {}}}\n",
        pod.settings,
        gateway_input(&web, Some(&web2))
    );
    let mut stdin = running.stdin().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(snapshot.as_bytes())
        .and_then(|()| stdin.flush())
        .unwrap_or_else(|e| panic!("sidecar stdin: {e}"));
    let sent = Instant::now();
    loop {
        let r = http::get(pod.ingress, "shop.test", "/added");
        if r.status == 200 {
            let echo = r.echo().unwrap_or_else(|| panic!("{}", r.summary()));
            assert_eq!(echo.service, "web2", "{}", r.summary());
            assert_eq!(echo.path, "/added");
            eprintln!("/added served {:?} after the snapshot", sent.elapsed());
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "/added not served within 2 s of the snapshot (last: {}):\nsidecar:\n{}\nenvoy:\n{}",
            r.summary(),
            fs::read_to_string(&log).unwrap_or_default(),
            fs::read_to_string(pod.work.path.join("envoy.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = http::get(pod.ingress, "shop.test", "/cart");
    assert_eq!(
        r.echo().map(|e| e.service),
        Some("web".to_string()),
        "{}",
        r.summary()
    );
    pod.wait_ready();
    drop(stdin);
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("synced "), "{text}");
}

/// A process killed on drop (none while a pod is starting).
struct Running(Option<std::process::Child>);

impl Running {
    fn none() -> Running {
        Running(None)
    }

    fn some(child: std::process::Child) -> Running {
        Running(Some(child))
    }

    fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.0.as_mut().and_then(|c| c.stdin.take())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The response head of a keep-alive request for shop.test/cart, lower-cased.
fn keep_alive_response_head(addr: SocketAddr) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    stream
        .write_all(b"GET /cart HTTP/1.1\r\nhost: shop.test\r\n\r\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

/// The sidecar's script against a stand-in `kubectl` (a shell script answering like the API server):
/// each change becomes one snapshot on the sync command's standard input, and every served Ingress whose
/// status lacks the gateway's address gets it, through the status subresource only.
#[test]
fn the_sync_sidecar_feeds_snapshots_and_publishes_the_gateway_address() {
    let dir = TempDir::new("k8s-sync-script");
    let out = TempDir::new("k8s-sync-render");
    render_k8s(&out.path, &[]);
    let docs = documents(&out.path);
    let kinds = find(&docs, "Deployment", "ingress-wasm")["spec"]["template"]["spec"]["containers"][1]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "KINDS")
        .and_then(|e| e["value"].as_str())
        .unwrap_or_default()
        .to_string();
    let script = find(&docs, "ConfigMap", "ingress-wasm-config")["data"]["sync.sh"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    fs::write(dir.path.join("sync.sh"), &script).unwrap_or_else(|e| panic!("{e}"));
    let bin = dir.path.join("bin");
    fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path.join("kubectl.log");
    let watchers = dir.path.join("watchers.pids");
    let kubectl = format!(
        r#"#!/usr/bin/env bash
echo "$*" >> {log}
case "$*" in
  *--watch*) echo $$ >> {pids}; echo "ingress.networking.k8s.io/web"; exec sleep 30 ;;
  "get ingress,service,endpointslice,secret --all-namespaces --output json") echo '{{"kind":"List","items":[]}}' ;;
  "get service --namespace edge gw "*) printf '203.0.113.7\n' ;;
  "get ingresses --all-namespaces --output jsonpath="*)
    printf 'shop|web|nginx||\nshop|done|nginx||203.0.113.7,\nshop|other|other||\nshop|old||nginx|\nshop|none|||\n' ;;
  patch*) ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#,
        log = log.display(),
        pids = watchers.display()
    );
    let kubectl_path = bin.join("kubectl");
    fs::write(&kubectl_path, kubectl).unwrap_or_else(|e| panic!("{e}"));
    Command::new("chmod")
        .arg("+x")
        .arg(&kubectl_path)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    let snapshots = dir.path.join("snapshots");
    let stderr_file = dir.path.join("stderr.txt");
    let settings_file = dir.path.join("settings.json");
    fs::write(&settings_file, r#"{"ingressClasses": ["nginx"]}"#).unwrap_or_else(|e| panic!("{e}"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new("bash")
        .arg(dir.path.join("sync.sh"))
        .args(["bash", "-c", &format!("cat > {}", snapshots.display())])
        .env("PATH", path)
        .env("KINDS", &kinds)
        .env("POD_NAMESPACE", "edge")
        .env("GATEWAY_SERVICE", "gw")
        .env("INGRESS_CLASSES", "nginx")
        .env("SERVE_WITHOUT_CLASS", "false")
        .env("RESYNC_SECONDS", "30")
        .env("SETTINGS_FILE", &settings_file)
        .stdin(Stdio::null())
        .stderr(fs::File::create(&stderr_file).unwrap_or_else(|e| panic!("{e}")))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut patches: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        let text = fs::read_to_string(&log).unwrap_or_default();
        patches = text
            .lines()
            .filter(|l| l.starts_with("patch"))
            .map(str::to_string)
            .collect();
        if patches.len() >= 2 && fs::read_to_string(&snapshots).is_ok_and(|s| !s.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The script's process group, then the watchers (`timeout` runs each in a group of its own).
    let _ = Command::new("kill")
        .arg("--")
        .arg(format!("-{}", child.id()))
        .status();
    let _ = child.wait();
    for pid in fs::read_to_string(&watchers).unwrap_or_default().lines() {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    let stderr = fs::read_to_string(&stderr_file).unwrap_or_default();
    let snapshot = fs::read_to_string(&snapshots).unwrap_or_default();
    assert_eq!(
        snapshot.trim(),
        r#"{"settings": {"ingressClasses": ["nginx"]}, "ingresses": {"kind":"List","items":[]}}"#,
        "stderr:\n{stderr}"
    );
    // What `ingress-wasm sync --input -` reads: the CLI's input, settings included.
    let checked = cli_with_stdin(&["check", "-"], &snapshot);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert!(checked.stdout.starts_with("0 Ingresses"));
    let status = r#"{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}"#;
    assert_eq!(
        patches,
        [
            format!("patch ingress --namespace shop web --subresource=status --type=merge --patch {status}"),
            format!("patch ingress --namespace shop old --subresource=status --type=merge --patch {status}"),
        ],
        "served Ingresses without the address get it; another class, no class (not served) and one that has it do not\n{stderr}"
    );
}

#[test]
fn istio_manifests_validate_and_carry_istios_cluster_names() {
    let out = TempDir::new("istio-manifests");
    let oci = TempDir::new("istio-oci");
    cli_ok(&[
        "render",
        "oci",
        "--wasm",
        path_str(wasm_module()),
        "-o",
        path_str(&oci.path),
    ]);
    let stdout = cli_ok(&[
        "render",
        "istio",
        "k8s/examples/seeds.yaml",
        "--wasm",
        path_str(wasm_module()),
        "--url",
        "oci://registry.test/ingress-wasm:0.1.0",
        "-o",
        path_str(&out.path),
    ]);
    let (valid, report) = validate_manifests(&yaml_files(&out.path));
    assert!(valid, "{report}");
    assert!(report.contains("4 documents, 0 invalid"), "{report}");
    let docs = documents(&out.path);
    let plugin = find(&docs, "WasmPlugin", "ingress-wasm");
    // An oci:// pull is checked against the image's manifest digest: the one `render oci` wrote.
    let index: Value = serde_json::from_slice(&fs::read(oci.path.join("index.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap_or_default();
    assert_eq!(
        format!("sha256:{}", plugin["spec"]["sha256"].as_str().unwrap_or_default()),
        digest
    );
    assert!(stdout.contains(digest.trim_start_matches("sha256:")), "{stdout}");
    assert_eq!(plugin["spec"]["failStrategy"], "FAIL_RELOAD");
    assert_eq!(plugin["spec"]["url"], "oci://registry.test/ingress-wasm:0.1.0");
    let config = &plugin["spec"]["pluginConfig"];
    assert_eq!(
        config["settings"]["clusterTemplate"],
        "outbound|{port}||{service}.{namespace}.svc.cluster.local"
    );
    // The filter's own loader, through `explain`, routes to Istio's cluster of the Service port.
    let plugin_file = out.path.join("plugin.json");
    fs::write(&plugin_file, config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let explained = cli_ok(&[
        "explain",
        path_str(&plugin_file),
        "--url",
        "http://localhost/lobby",
        "--json",
    ]);
    let explained: Value = serde_json::from_str(&explained).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        explained["cluster"],
        "outbound|80||game-lobby.game-prod.svc.cluster.local"
    );
    let filter = find(&docs, "EnvoyFilter", "ingress-wasm");
    let vs = find(&docs, "VirtualService", "ingress-wasm");
    assert_eq!(
        filter["spec"]["configPatches"][0]["match"]["routeConfiguration"]["vhost"]["route"]["name"],
        vs["spec"]["http"][0]["name"]
    );

    // file:// (a module mounted into the gateway): the module's own sha256; another template is refused.
    cli_ok(&[
        "render",
        "istio",
        "k8s/examples/seeds.yaml",
        "--wasm",
        path_str(wasm_module()),
        "--url",
        "file:///var/lib/wasm/ingress_wasm.wasm",
        "--fail-strategy",
        "FAIL_CLOSE",
        "-o",
        path_str(&out.path),
    ]);
    let docs = documents(&out.path);
    let plugin = find(&docs, "WasmPlugin", "ingress-wasm");
    let wasm = fs::read(wasm_module()).unwrap_or_default();
    assert_eq!(
        plugin["spec"]["sha256"],
        ingress_wasm::render::oci::sha256_hex(&wasm)
    );
    assert_eq!(plugin["spec"]["failStrategy"], "FAIL_CLOSE");
    let refused = cli(&[
        "render",
        "istio",
        "k8s/examples/seeds.yaml",
        "k8s/examples/settings-kubernetes.yaml",
        "--wasm",
        path_str(wasm_module()),
        "--url",
        "oci://r.test/m:1",
        "--fail-strategy",
        "FAIL_SOMETIMES",
        "-o",
        path_str(&out.path),
    ]);
    assert_eq!(refused.code, 1);
    assert!(refused
        .stderr
        .contains("--fail-strategy \"FAIL_SOMETIMES\": one of FAIL_CLOSE, FAIL_OPEN, FAIL_RELOAD"));
}

fn sha256_file(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("sha256:{}", ingress_wasm::render::oci::sha256_hex(&bytes))
}

/// The layout's blobs are what their descriptors say (digest, size, media type) and the layer, read
/// by the system's tar, holds exactly the module as plugin.wasm.
#[test]
fn the_oci_layout_is_the_compat_wasm_image() {
    let out = TempDir::new("oci-layout");
    cli_ok(&[
        "render",
        "oci",
        "--wasm",
        path_str(wasm_module()),
        "--tag",
        "v9",
        "-o",
        path_str(&out.path),
    ]);
    let read_json = |path: PathBuf| -> Value {
        serde_json::from_slice(&fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(
        read_json(out.path.join("oci-layout")),
        json!({"imageLayoutVersion": "1.0.0"})
    );
    let index = read_json(out.path.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        "v9"
    );
    let blob = |descriptor: &Value, media_type: &str| -> PathBuf {
        assert_eq!(descriptor["mediaType"], media_type, "{descriptor}");
        let digest = descriptor["digest"].as_str().unwrap_or_default();
        let path = out
            .path
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        assert_eq!(sha256_file(&path), digest, "{}", path.display());
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert_eq!(descriptor["size"].as_u64(), Some(size), "{descriptor}");
        path
    };
    let manifest = read_json(blob(&manifests[0], "application/vnd.oci.image.manifest.v1+json"));
    assert_eq!(manifest["schemaVersion"], 2);
    let config = read_json(blob(
        &manifest["config"],
        "application/vnd.oci.image.config.v1+json",
    ));
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    assert_eq!(layers.len(), 1, "a single layer");
    let layer = blob(&layers[0], "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(
        fs::read_dir(out.path.join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0),
        3
    );

    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&layer)
        .output()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert_eq!(String::from_utf8_lossy(&listing.stdout).trim(), "plugin.wasm");
    let extracted = Command::new("tar")
        .arg("-xzOf")
        .arg(&layer)
        .arg("plugin.wasm")
        .output()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(extracted.status.success());
    let wasm = fs::read(wasm_module()).unwrap_or_default();
    assert!(
        extracted.stdout == wasm,
        "the layer's plugin.wasm is not the module"
    );
    // The config's diff_id is the digest of the uncompressed layer.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(&layer).unwrap_or_else(|e| panic!("{e}")))
        .read_to_end(&mut tar)
        .unwrap_or_else(|e| panic!("gunzip: {e}"));
    assert_eq!(
        config["rootfs"]["diff_ids"],
        json!([format!("sha256:{}", ingress_wasm::render::oci::sha256_hex(&tar))])
    );
}

/// Protobuf's merge on JSON: objects merge field by field, lists append, scalars replace; setting one
/// member of `RouteAction`'s cluster oneof clears the others (what Istio's `MERGE` patch does).
fn proto_merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (key, value) in s {
                if key == "cluster_header" {
                    d.remove("cluster");
                }
                match d.get_mut(key) {
                    Some(existing) => proto_merge(existing, value),
                    None => {
                        d.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(d), Value::Array(s)) => d.extend(s.iter().cloned()),
        (d, s) => *d = s.clone(),
    }
}

/// The gateway as Istio would build it from the rendered objects, in a real Envoy: Istio's route for
/// the VirtualService (to the placeholder host) answers 503; with the EnvoyFilter's patch merged in,
/// the filter, configured with the WasmPlugin's pluginConfig, picks Istio's cluster of the Service.
#[test]
fn the_envoy_filter_patch_makes_istios_route_follow_the_filter() {
    let echo = EchoServer::start("web");
    let work = TempDir::new("istio-envoy");
    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"rules": [{"host": "shop.test", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
        ]}}]},
    });
    let ingress_file = work.path.join("ingress.json");
    fs::write(&ingress_file, ingress.to_string()).unwrap();
    let out = work.path.join("istio");
    cli_ok(&[
        "render",
        "istio",
        path_str(&ingress_file),
        "--wasm",
        path_str(wasm_module()),
        "--url",
        "file:///var/lib/ingress_wasm.wasm",
        "-o",
        path_str(&out),
    ]);
    let docs = documents(&out);
    let plugin_config = &find(&docs, "WasmPlugin", "ingress-wasm")["spec"]["pluginConfig"];
    let patch = &find(&docs, "EnvoyFilter", "ingress-wasm")["spec"]["configPatches"][0]["patch"]["value"];
    let vs_route = &find(&docs, "VirtualService", "ingress-wasm")["spec"]["http"][0];

    // Envoy with the filter and Istio's cluster of shop/web:80, from the same renderer.
    let plugin_file = work.path.join("plugin.json");
    fs::write(&plugin_file, plugin_config.to_string()).unwrap();
    let endpoints = work.path.join("endpoints.json");
    fs::write(
        &endpoints,
        json!({"shop/web:80": [echo.addr.to_string()]}).to_string(),
    )
    .unwrap();
    let rendered_dir = work.path.join("rendered");
    cli_ok(&[
        "render",
        "envoy",
        path_str(&plugin_file),
        "--endpoints",
        path_str(&endpoints),
        "--wasm",
        path_str(wasm_module()),
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "-o",
        path_str(&rendered_dir),
    ]);
    let mut config: Value =
        serde_yaml_ng::from_str(&fs::read_to_string(rendered_dir.join("envoy.yaml")).unwrap()).unwrap();
    let clusters = config["static_resources"]["clusters"].to_string();
    assert!(
        clusters.contains("outbound|80||web.shop.svc.cluster.local"),
        "{clusters}"
    );

    // The route Istio generates for the VirtualService: named after its http route, to the placeholder.
    let istio_route = json!({
        "name": vs_route["name"],
        "match": {"prefix": "/"},
        "route": {"cluster": format!("outbound|80||{}", vs_route["route"][0]["destination"]["host"].as_str().unwrap()), "timeout": "0s"},
    });
    let routes = "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/route_config/virtual_hosts/0/routes";
    *config.pointer_mut(routes).unwrap() = json!([istio_route.clone()]);
    // Istio's route configurations do not validate clusters (they come and go with Services).
    let route_config = "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/route_config";
    config.pointer_mut(route_config).unwrap()["validate_clusters"] = json!(false);
    let unpatched = Envoy::start("istio-unpatched", &serde_yaml_ng::to_string(&config).unwrap());
    let r = http::get(unpatched.addr, "shop.test", "/cart");
    assert_eq!(
        r.status,
        503,
        "unpatched, nothing reaches a backend: {}",
        r.summary()
    );
    drop(unpatched);

    let mut patched_route = istio_route;
    proto_merge(&mut patched_route, patch);
    *config.pointer_mut(routes).unwrap() = json!([patched_route]);
    let envoy = Envoy::start("istio-patched", &serde_yaml_ng::to_string(&config).unwrap());
    let r = http::get(envoy.addr, "shop.test", "/cart");
    assert_eq!(r.status, 200, "{}", r.summary());
    let echo_seen = r.echo().unwrap();
    assert_eq!(echo_seen.service, "web");
    assert_eq!(
        echo_seen.header("x-ingress-cluster"),
        None,
        "the cluster header never reaches the backend"
    );
    assert_eq!(
        http::get(envoy.addr, "other.test", "/").status,
        404,
        "the filter's own 404"
    );
}
