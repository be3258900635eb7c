//! The malformed-configuration corpus (`tests/malformed/`, declared in `tests/malformed/expected.json`)
//! plus a few huge cases generated here: every one must be refused, with its object and field named, by
//! `ingress-wasm check`, by the loader the filter runs in `on_configure` (`ingress_wasm::config::load`),
//! and by `envoy --mode validate` running the built module. Nothing may crash, and no message may grow
//! with the input (every printed line stays under `MAX_LINE`).
//!
//! Each test reports every failing case at once. The Envoy validations (one process each, ~0.6 s of CPU,
//! nearly all of it V8 compiling the module) run one per core: about 30 s on an idle 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ingress_wasm::config::MAX_CONFIG_BYTES;
use ingress_wasm::model::json::read_value;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use support::envoy::{envoy_binary, wasm_module, TempDir};

/// Longest line any front end may print about a case: three parts of at most 4 KiB each, plus prefixes.
/// A message that quoted a 2 MB value whole would be far longer.
const MAX_LINE: usize = 16 << 10;

/// Envoy validations at a time: one per core (2 on the CI machine), as V8 compiling the module dominates.
fn envoy_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

const MIB_2: usize = 2 << 20;

/// What a case must be refused with.
#[derive(Debug, Clone)]
struct Expect {
    /// `namespace/name`, `items[N]`, `settings`, or `config` (the CLI names the file instead).
    object: String,
    /// JSON path of the field; empty for the whole object.
    field: String,
    /// A substring of the message.
    message: String,
}

struct Case {
    name: String,
    /// The file `check` reads.
    file: PathBuf,
    /// The plugin configuration the filter gets: the file's bytes (for YAML, its JSON rendering).
    config: Vec<u8>,
    expect: Expect,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    root().join("tests/malformed")
}

/// The committed cases, checked against the manifest both ways (no file without an entry, no entry
/// without a file).
fn committed_cases() -> Vec<Case> {
    let dir = corpus_dir();
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let entries = manifest["cases"].as_object().expect("expected.json: cases");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "expected.json")
        .collect();
    on_disk.sort();
    let declared: Vec<String> = entries.keys().cloned().collect();
    assert_eq!(
        on_disk, declared,
        "tests/malformed/ and expected.json must list the same files"
    );
    assert!(entries.len() >= 40, "the corpus has {} cases", entries.len());
    entries
        .iter()
        .map(|(name, e)| {
            let text = |key: &str| {
                e[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("expected.json: {name}.{key}"))
                    .to_string()
            };
            let file = dir.join(name);
            let bytes = std::fs::read(&file).unwrap();
            let config = if name.ends_with(".yaml") {
                // The filter reads JSON only: what render would put in the plugin configuration.
                let document = serde_yaml_ng::Deserializer::from_slice(&bytes)
                    .next()
                    .unwrap_or_else(|| panic!("{name}: no YAML document"));
                let value = read_value(document).unwrap_or_else(|e| panic!("{name}: {e:?}"));
                serde_json::to_vec(&value).unwrap()
            } else {
                bytes
            };
            Case {
                name: name.clone(),
                file,
                config,
                expect: Expect {
                    object: text("object"),
                    field: text("field"),
                    message: text("message"),
                },
            }
        })
        .collect()
}

/// A valid Ingress the generated cases spoil.
fn shop() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "store"},
        "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}
        ]}}]}
    })
}

/// Huge cases, written into `dir` (too big to commit).
fn generated_cases(dir: &Path) -> Vec<Case> {
    assert!(
        ingress_wasm::config::load(shop().to_string().as_bytes()).is_ok(),
        "the generated cases start from a valid Ingress"
    );
    let huge = "a".repeat(MIB_2);
    let mut cases = Vec::new();
    let mut add = |name: &str, config: Vec<u8>, object: &str, field: &str, message: &str| {
        let file = dir.join(name);
        std::fs::write(&file, &config).unwrap();
        cases.push(Case {
            name: format!("(generated) {name}"),
            file,
            config,
            expect: Expect {
                object: object.into(),
                field: field.into(),
                message: message.into(),
            },
        });
    };

    let mut v = shop();
    v["metadata"]["annotations"] = json!({"example.com/notes": huge});
    add(
        "annotation-2mb.json",
        v.to_string().into_bytes(),
        "store/shop",
        "metadata.annotations",
        "the limit is 262144",
    );

    let mut v = shop();
    v["spec"]["rules"][0]["host"] = json!(format!("{huge}.example.com"));
    add(
        "host-2mb.json",
        v.to_string().into_bytes(),
        "store/shop",
        "spec.rules[0].host",
        "is longer than 253 characters",
    );

    let mut v = shop();
    v["metadata"]["annotations"] = json!({"nginx.ingress.kubernetes.io/use-regex": "true"});
    v["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!(format!("/{}", "(a|b)".repeat(MIB_2 / 5)));
    add(
        "regex-path-2mb.json",
        v.to_string().into_bytes(),
        "store/shop",
        "spec.rules[0].http.paths[0].path",
        "is longer than 1024 characters",
    );

    let rules: Vec<Value> = (0..20_000)
        .map(|i| json!({"host": format!("h{i}.example.com")}))
        .collect();
    let mut v = shop();
    v["spec"]["rules"] = json!(rules);
    v["spec"]["rules"][19_999]["host"] = json!("H.example.com");
    add(
        "many-hosts.json",
        v.to_string().into_bytes(),
        "store/shop",
        "spec.rules[19999].host",
        "lower-case DNS name",
    );

    // Past the 64 MiB limit: valid JSON otherwise, so only the size refuses it.
    let mut v = shop();
    v["metadata"]["annotations"] = json!({"example.com/notes": "x".repeat(MAX_CONFIG_BYTES)});
    add(
        "config-over-64mib.json",
        v.to_string().into_bytes(),
        "config",
        "",
        "the limit is 67108864",
    );
    cases
}

/// Removes the generated files before the verdict: a failing test keeps its scratch directory, which
/// should not keep 70 MB of generated input.
fn remove_generated(cases: &[Case], dir: &Path) {
    for case in cases.iter().filter(|c| c.file.starts_with(dir)) {
        let _ = std::fs::remove_file(&case.file);
    }
}

/// `object: field: ` as a diagnostic prints it (`object: ` alone for the whole object).
fn head(object: &str, field: &str) -> String {
    if field.is_empty() {
        format!("{object}: ")
    } else {
        format!("{object}: {field}: ")
    }
}

/// Whether one line of `output` names the object and field and carries the message; `objects` are the
/// names the object may go by. Lines over `MAX_LINE` are reported as a failure of their own.
fn names_it(
    output: &str,
    line_filter: impl Fn(&str) -> bool,
    objects: &[&str],
    e: &Expect,
) -> Result<(), String> {
    if let Some(long) = output.lines().find(|l| l.len() > MAX_LINE) {
        return Err(format!(
            "a line of {} bytes (limit {MAX_LINE}): {}...",
            long.len(),
            prefix(long, 300)
        ));
    }
    let found = output.lines().filter(|l| line_filter(l)).any(|l| {
        l.contains(&e.message)
            && objects
                .iter()
                .any(|o| l.contains(&format!(": {}", head(o, &e.field))))
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "no line names {:?} with {:?}",
            objects.iter().map(|o| head(o, &e.field)).collect::<Vec<_>>(),
            e.message
        ))
    }
}

/// At most the first `max` bytes of `s` (cut at a character boundary).
fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The last lines of a long output, for failure messages.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| prefix(l, 400))
        .collect::<Vec<_>>()
        .join("\n      ")
}

/// The CLI's verdict on one case; Err describes what is wrong.
fn check_with_cli(case: &Case) -> Result<(), String> {
    // Committed files by their path from the repository root, as a user would type it.
    let arg = case
        .file
        .strip_prefix(root())
        .unwrap_or(&case.file)
        .to_string_lossy()
        .into_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_ingress-wasm"))
        .args(["check", &arg])
        .current_dir(root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let objects: Vec<&str> = if case.expect.object == "config" {
        vec![&arg, "config"]
    } else {
        vec![&case.expect.object]
    };
    let verdict = if out.status.code() != Some(1) {
        Err(format!("exit status {:?}, expected 1", out.status.code()))
    } else {
        names_it(&text, |l| l.starts_with("error: "), &objects, &case.expect)
    };
    verdict.map_err(|why| format!("check {arg}: {why}\n      {}", tail(&text, 6)))
}

/// The filter's loader on the exact configuration bytes.
fn check_with_loader(case: &Case) -> Result<(), String> {
    let e = &case.expect;
    let diagnostics = match ingress_wasm::config::load(&case.config) {
        Ok(_) => return Err("load: accepted".to_string()),
        Err(diagnostics) => diagnostics,
    };
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    let found = diagnostics.iter().any(|d| {
        d.is_error() && d.object == e.object && d.field == e.field && d.message.contains(&e.message)
    });
    if let Some(long) = lines.iter().find(|l| l.len() > MAX_LINE) {
        return Err(format!("load: a diagnostic of {} bytes", long.len()));
    }
    if found {
        Ok(())
    } else {
        Err(format!(
            "load: no error {}...{:?}; got:\n      {}",
            head(&e.object, &e.field),
            e.message,
            tail(&lines.join("\n"), 6)
        ))
    }
}

#[test]
fn check_and_the_loader_refuse_every_case_naming_object_and_field() {
    let started = Instant::now();
    let scratch = TempDir::new("malformed-cli");
    let mut cases = committed_cases();
    cases.extend(generated_cases(&scratch.path));
    let mut failures = Vec::new();
    for case in &cases {
        for verdict in [check_with_cli(case), check_with_loader(case)] {
            if let Err(why) = verdict {
                failures.push(format!("{}: {why}", case.name));
            }
        }
    }
    remove_generated(&cases, &scratch.path);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
    eprintln!(
        "{} cases refused by check and the loader in {:.1?}",
        cases.len(),
        started.elapsed()
    );
}

/// Base64 (standard alphabet, padded), for a `google.protobuf.BytesValue` in the bootstrap.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The plugin's `configuration`: exactly `bytes`, as a StringValue (what `render` writes) when they are
/// UTF-8; as a BytesValue otherwise (a StringValue cannot carry them, but Envoy passes either through).
fn plugin_configuration(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!({"@type": "type.googleapis.com/google.protobuf.StringValue", "value": text}),
        Err(_) => json!({"@type": "type.googleapis.com/google.protobuf.BytesValue", "value": base64(bytes)}),
    }
}

static BASE_ID: AtomicUsize = AtomicUsize::new(0);

/// `envoy --mode validate` on a bootstrap rendered around a valid configuration whose plugin
/// configuration is then replaced by the case's bytes.
fn check_with_envoy(case: &Case, template: &Value, dir: &Path) -> Result<(), String> {
    let mut bootstrap = template.clone();
    let config = &mut bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"][0]["typed_config"]["config"];
    assert_eq!(
        config["name"], "ingress_wasm",
        "the Wasm filter is the first HTTP filter"
    );
    config["configuration"] = plugin_configuration(&case.config);
    // JSON, not YAML: exact for every string, and fast to read for the 64 MiB case.
    let path = dir.join(format!("{}.json", case.name.replace(['/', ' ', '(', ')'], "_")));
    std::fs::write(&path, serde_json::to_vec(&bootstrap).unwrap()).unwrap();
    let base_id =
        (std::process::id() as usize % 40_000) * 100 + 50 + BASE_ID.fetch_add(1, Ordering::Relaxed) % 50;
    let out = Command::new(envoy_binary())
        .args(["--mode", "validate", "--log-level", "info", "-c"])
        .arg(&path)
        .args(["--base-id", &base_id.to_string()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = if out.status.code() != Some(1) {
        Err(format!("exit status {:?}, expected 1", out.status.code()))
    } else {
        names_it(
            &text,
            |l| l.contains("wasm log"),
            &[&case.expect.object],
            &case.expect,
        )
    };
    verdict.map_err(|why| {
        let filter_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("wasm log") || l.contains("critical"))
            .collect();
        format!(
            "envoy --mode validate: {why}\n      {}",
            tail(&filter_lines.join("\n"), 6)
        )
    })
}

#[test]
fn envoy_validate_refuses_every_case_naming_object_and_field() {
    let started = Instant::now();
    let scratch = TempDir::new("malformed-envoy");
    let mut cases = committed_cases();
    cases.extend(generated_cases(&scratch.path));
    let valid = ingress_wasm::config::plugin_config(vec![shop()], None);
    let template = support::scenario::render(&valid, &[], "x-ingress-cluster", &BTreeMap::new());
    assert!(wasm_module().is_file());

    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..envoy_threads() {
            s.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(why) = check_with_envoy(case, &template, &scratch.path) {
                        failures.lock().unwrap().push(format!("{}: {why}", case.name));
                    }
                }
            });
        }
    });
    remove_generated(&cases, &scratch.path);
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
    eprintln!(
        "{} cases refused by envoy --mode validate in {:.1?} ({} threads)",
        cases.len(),
        started.elapsed(),
        envoy_threads()
    );
}
