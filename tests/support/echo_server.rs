//! A small HTTP/1.1 upstream that answers every request with JSON describing what it received:
//! `{"service": NAME, "method": ..., "path": ..., "headers": {lower-case name: value}}` (the values of a
//! repeated header joined with ", "), plus `"endpoint": "ip:port"`, the address it listens on. A request
//! carrying `x-echo-set-cookie: V` gets `Set-Cookie: V` back (an upstream's own cookie), one carrying
//! `x-echo-response-header: Name: value` gets that header back. Query parameters shape the answer:
//! `echo-status=N` answers with status N, `echo-delay-ms=N` waits N ms before answering, `echo-drip-ms=N`
//! sends the body in three parts N ms apart (a slow upstream). A request with `Upgrade` gets
//! `101 Switching Protocols` (with `x-echo-service`), then the connection is closed.
//! Used by the end-to-end tests and by the demo (`examples/demo_backends.rs`). Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub struct EchoServer {
    pub name: String,
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl EchoServer {
    /// Starts a server named `name` on `addr` (use `127.0.0.1:0` for an ephemeral port).
    pub fn start_on(name: &str, addr: &str) -> std::io::Result<EchoServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (service, flag) = (name.to_string(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    let service = service.clone();
                    thread::spawn(move || serve(stream, &service));
                }
            }
        });
        Ok(EchoServer {
            name: name.to_string(),
            addr,
            stop,
        })
    }

    /// Starts a server named `name` on an ephemeral loopback port.
    pub fn start(name: &str) -> EchoServer {
        match Self::start_on(name, "127.0.0.1:0") {
            Ok(server) => server,
            Err(e) => panic!("cannot start echo server {name}: {e}"),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// The number in query parameter `name` of a request path, if any.
fn query_number(path: &str, name: &str) -> Option<u64> {
    let (_, query) = path.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

fn serve(stream: TcpStream, service: &str) {
    let endpoint = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = serde_json::Map::new();
        let mut content_length = 0usize;
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_string();
                if name == "content-length" {
                    content_length = value.parse().unwrap_or(0);
                }
                // A repeated header is reported once, its values joined as HTTP joins them (RFC 9110
                // 5.3), so a test sees every copy an upstream received.
                let joined = match headers.get(&name).and_then(serde_json::Value::as_str) {
                    Some(previous) => format!("{previous}, {value}"),
                    None => value,
                };
                headers.insert(name, serde_json::Value::String(joined));
            }
        }
        if content_length > 0 {
            let mut body = vec![0u8; content_length.min(1 << 20)];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        }
        let set_cookie = headers
            .get("x-echo-set-cookie")
            .and_then(serde_json::Value::as_str)
            .map(|value| format!("set-cookie: {value}\r\n"))
            .unwrap_or_default();
        if let Some(protocol) = headers.get("upgrade").and_then(serde_json::Value::as_str) {
            // Accept the upgrade (a WebSocket handshake, minus the key check), then hang up.
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: {protocol}\r\nconnection: Upgrade\r\nx-echo-service: {service}\r\n\r\n"
            );
            let _ = writer.write_all(head.as_bytes());
            return;
        }
        let extra_header = headers
            .get("x-echo-response-header")
            .and_then(serde_json::Value::as_str)
            .map(|value| format!("{value}\r\n"))
            .unwrap_or_default();
        let status = query_number(&path, "echo-status").unwrap_or(200);
        let drip = query_number(&path, "echo-drip-ms").map(Duration::from_millis);
        if let Some(delay) = query_number(&path, "echo-delay-ms") {
            thread::sleep(Duration::from_millis(delay));
        }
        let body = serde_json::json!({"service": service, "endpoint": endpoint, "method": method,
                                      "path": path, "headers": headers})
        .to_string();
        let head = format!(
            "HTTP/1.1 {status} Echo\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-echo-service: {}\r\n{set_cookie}{extra_header}\r\n",
            body.len(),
            service,
        );
        // One write unless dripping: a response in two small writes waits for the peer's delayed ACK.
        let response = format!("{head}{body}");
        let parts: Vec<&[u8]> = match drip {
            Some(_) => response
                .as_bytes()
                .chunks(response.len().div_ceil(3).max(1))
                .collect(),
            None => vec![response.as_bytes()],
        };
        for (i, part) in parts.iter().enumerate() {
            if let (Some(gap), true) = (drip, i > 0) {
                thread::sleep(gap);
            }
            if writer.write_all(part).and_then(|()| writer.flush()).is_err() {
                return;
            }
        }
    }
}
