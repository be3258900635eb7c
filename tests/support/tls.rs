//! Certificates made by the test with the `openssl` command (a throwaway CA and the leaf certificates it
//! signs, laid out as Kubernetes mounts TLS Secrets: `<dir>/<namespace>/<secret>/tls.crt` and `tls.key`),
//! and an HTTPS client that verifies the server's certificate for the name it asks for: `curl` with
//! `--resolve` (the SNI name and the URL's host) and `--cacert`. `openssl s_client` says which
//! certificate a listener presents for a name, verified or not.

use super::http::{self, Response};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A CA and the Secrets it signed, under one directory.
pub struct Pki {
    /// The CA certificate, for `curl --cacert`.
    pub ca: PathBuf,
    ca_key: PathBuf,
    /// Where the Secrets go: `render envoy --tls-dir`.
    pub secrets: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (install it: apt-get install openssl): {e}"));
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A P-256 key and the arguments that make it.
const NEW_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl Pki {
    /// A new CA in `dir` (created if missing).
    pub fn new(dir: &Path) -> Pki {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut args = vec![
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ingress-wasm test CA",
        ];
        args.extend(NEW_KEY);
        args.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&args, dir);
        Pki {
            ca: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            secrets: dir.join("secrets"),
        }
    }

    /// Writes Secret `namespace/secret`: a certificate for `names` (its common name the first) signed by
    /// the CA.
    pub fn secret(&self, namespace: &str, secret: &str, names: &[&str]) {
        let folder = self.secrets.join(namespace).join(secret);
        fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let subject = format!("/CN={}", names.first().copied().unwrap_or("test"));
        let mut args = vec![
            "req", "-new", "-nodes", "-subj", &subject, "-keyout", "tls.key", "-out", "tls.csr",
        ];
        args.extend(NEW_KEY);
        openssl(&args, &folder);
        let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        fs::write(
            folder.join("ext.cnf"),
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap_or_else(|e| panic!("ext.cnf: {e}"));
        let (ca, ca_key) = (self.ca.display().to_string(), self.ca_key.display().to_string());
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "tls.csr",
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-set_serial",
                &serial(&folder),
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "tls.crt",
            ],
            &folder,
        );
    }
}

/// A serial number of its own for each certificate (clients refuse two certificates of one CA with the
/// same serial in one run).
fn serial(folder: &Path) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(folder.as_os_str().as_encoded_bytes());
    format!("{}", h.finish() >> 1)
}

/// `curl` with its arguments; the output, or why it could not run.
fn curl(args: &[String]) -> Output {
    Command::new("curl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl (install it: apt-get install curl): {e}"))
}

/// `GET https://<sni>:<port><path>` to `addr`, verifying the certificate for `sni` against `ca`; `extra`
/// are more curl arguments (`-H`, `--http2`). Err carries curl's exit status and message (60: the
/// certificate does not verify for that name).
pub fn https_get(
    addr: SocketAddr,
    sni: &str,
    path: &str,
    ca: &Path,
    extra: &[&str],
) -> Result<Response, String> {
    let port = addr.port();
    let headers = std::env::temp_dir().join(format!(
        "ingress-wasm-curl-{}-{}.headers",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "15".into(),
        "--resolve".into(),
        format!("{sni}:{port}:{}", addr.ip()),
        "--cacert".into(),
        ca.display().to_string(),
        "-D".into(),
        headers.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(format!("https://{sni}:{port}{path}"));
    let output = curl(&args);
    let head = fs::read_to_string(&headers).unwrap_or_default();
    let _ = fs::remove_file(&headers);
    if !output.status.success() {
        return Err(format!(
            "curl exit {}: {}",
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let (status, headers) = http::parse_head(head.trim_end())?;
    Ok(Response {
        status,
        headers,
        body: output.stdout,
    })
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The common name of the certificate `addr` presents for SNI name `sni` (None: a client without SNI),
/// whether or not it verifies.
pub fn presented_certificate(addr: SocketAddr, sni: Option<&str>) -> String {
    let connect = addr.to_string();
    let mut args = vec!["s_client", "-connect", &connect];
    match sni {
        Some(name) => args.extend(["-servername", name]),
        None => args.push("-noservername"),
    }
    let output = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    // `subject=CN = a.test` (OpenSSL 1.1.1 and 3), the server's certificate.
    text.lines()
        .find_map(|line| line.strip_prefix("subject="))
        .and_then(|subject| subject.split("CN").nth(1))
        .map(|cn| cn.trim_start_matches([' ', '=']).trim().to_string())
        .unwrap_or_else(|| {
            format!(
                "(no certificate: {})",
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })
}
