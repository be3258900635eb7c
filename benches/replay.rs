//! Throughput and memory of `ingress-wasm replay` on generated ingress-nginx access logs for the seeds'
//! Ingresses. Run: `cargo bench --bench replay` (lines per run: `REPLAY_BENCH_LINES`, default 2,000,000).
//!
//! Each row runs the release CLI once, single-threaded (one core), on a log written to a temporary
//! file beforehand, and prints lines per minute of wall-clock time (reading, parsing, deciding and
//! comparing included) and the process's peak resident memory. The claims to check: well over a
//! million lines per minute, and memory that does not grow with the log (compare the two sizes of the
//! same format). The default format names no host, so a line is tried with the hosts that serve its
//! upstream first, then the others; the last row does that against 1,000 hosts.
//!
//! This bench does not link the library: the package's `cdylib` + `rlib` is built with two panic
//! strategies under the bench profile, to one file name (cargo#6313); it runs the CLI only.

#[path = "../tests/replay_support/mod.rs"]
mod replay_support;

use replay_support::*;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIGS: [&str; 3] = [
    "k8s/examples/seeds.yaml",
    "k8s/examples/canary.yaml",
    "tests/replay_support/docs.yaml",
];

fn main() {
    let lines: usize = std::env::var("REPLAY_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("ingress-wasm-replay-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let hits = seeds_traffic(1000, 100);
    println!(
        "{:<44} {:>10} {:>8} {:>14} {:>10}",
        "log", "lines", "seconds", "lines/minute", "peak RSS"
    );
    let default = Row {
        label: "default format (no host in the log)",
        line: default_line,
        format: None,
        lines,
        gzip: false,
    };
    let custom = Row {
        label: "custom format with host, headers, $uri",
        line: custom_line,
        format: Some(CUSTOM_FORMAT),
        ..default
    };
    let json = Row {
        label: "JSON lines (log-format-escape-json)",
        line: json_line,
        format: Some(JSON_FORMAT),
        ..default
    };
    let gzip = Row {
        label: "default format, gzip",
        gzip: true,
        ..default
    };
    let quarter = |row: Row| Row {
        lines: lines / 4,
        ..row
    };
    for row in [
        quarter(default),
        default,
        quarter(custom),
        custom,
        json,
        quarter(gzip),
    ] {
        let Row {
            label,
            line,
            format,
            lines: n,
            gzip,
        } = row;
        let log = dir.join("access.log");
        write_log(
            &log,
            (0..n).filter_map(|i| Some(line(hits.get(i % hits.len())?, i))),
            gzip,
        );
        measure(label, n, &CONFIGS, &log, format);
        let _ = std::fs::remove_file(&log);
    }
    // Many hosts, no host in the log: the hosts serving the logged upstream are tried first.
    let (config, lines_of) = many_hosts(1000, lines);
    let config_path = dir.join("many-hosts.json");
    let log = dir.join("access.log");
    if std::fs::write(&config_path, config.to_string()).is_ok() {
        write_log(&log, lines_of, false);
        let config = config_path.to_string_lossy().into_owned();
        measure(
            "default format, 1,000 hosts",
            lines,
            &[config.as_str()],
            &log,
            None,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs one replay and prints its row.
fn measure(label: &str, lines: usize, configs: &[&str], log: &Path, format: Option<&str>) {
    match replay(configs, log, format) {
        Ok((elapsed, peak_kib, report)) => {
            let seconds = elapsed.as_secs_f64();
            let identical = report["summary"]["identical"].as_u64().unwrap_or(0);
            if identical != lines as u64 {
                eprintln!("{label}: only {identical} of {lines} lines identical: not a clean replay");
            }
            println!(
                "{:<44} {:>10} {:>8.2} {:>14.0} {:>7} MiB",
                label,
                lines,
                seconds,
                lines as f64 / seconds * 60.0,
                peak_kib / 1024
            );
        }
        Err(e) => eprintln!("{label}: {e}"),
    }
}

/// One measurement: a log of `lines` lines written with `line`, read with `--format format`.
#[derive(Clone, Copy)]
struct Row {
    label: &'static str,
    line: fn(&Hit, usize) -> String,
    format: Option<&'static str>,
    lines: usize,
    gzip: bool,
}

fn write_log(path: &Path, lines: impl Iterator<Item = String>, gzip: bool) {
    let Ok(file) = std::fs::File::create(path) else {
        eprintln!("cannot create {}", path.display());
        return;
    };
    let mut out: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            BufWriter::new(file),
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(BufWriter::new(file))
    };
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// Runs the replay; its wall-clock time, its peak resident memory (KiB, sampled from /proc) and its
/// JSON report.
fn replay(
    configs: &[&str],
    log: &Path,
    format: Option<&str>,
) -> Result<(Duration, u64, serde_json::Value), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ingress-wasm"));
    command.current_dir(&root).arg("replay").args(configs);
    command.arg("--log").arg(log).args(["--json", "--quiet"]);
    if let Some(format) = format {
        command.args(["--format", format]);
    }
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run ingress-wasm: {e}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        }
        text
    });
    loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| peak_kib(&s))
        {
            peak = peak.max(hwm);
        }
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for ingress-wasm: {e}")),
        }
    }
    let elapsed = start.elapsed();
    let text = reader
        .join()
        .map_err(|_| "reading the report failed".to_string())?;
    let report = serde_json::from_str(&text).map_err(|e| format!("report is not JSON: {e}"))?;
    Ok((elapsed, peak, report))
}

/// `VmHWM` (peak resident set) from `/proc/<pid>/status`.
fn peak_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
