//! A tiny raw-TCP HTTP/1.1 client: requests are bytes, so tests can send header values that are not
//! UTF-8. One connection per request (`connection: close`).

use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Lower-cased names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What an echo upstream reported about the request it received.
#[derive(Debug, Clone)]
pub struct Echo {
    pub service: String,
    pub method: String,
    pub path: String,
    pub headers: Map<String, Value>,
}

impl Echo {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The echo upstream's report, if an echo upstream answered.
    pub fn echo(&self) -> Option<Echo> {
        let value: Value = serde_json::from_slice(&self.body).ok()?;
        Some(Echo {
            service: value.get("service")?.as_str()?.to_string(),
            method: value.get("method")?.as_str()?.to_string(),
            path: value.get("path")?.as_str()?.to_string(),
            headers: value.get("headers")?.as_object()?.clone(),
        })
    }

    /// One line for failure messages.
    pub fn summary(&self) -> String {
        let location = self
            .header("location")
            .map(|l| format!(" location={l}"))
            .unwrap_or_default();
        let mut body = self.body_text();
        if body.len() > 300 {
            body.truncate(300);
            body.push_str("...");
        }
        format!("{}{} body={:?}", self.status, location, body)
    }
}

/// Builds a GET request. `headers` are sent verbatim after `Host` (values as raw bytes).
pub fn get_request(host: &[u8], path: &[u8], headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host);
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"user-agent: ingress-wasm-e2e\r\nconnection: close\r\n\r\n");
    out
}

/// GET `path` with `Host: host`.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> Response {
    send(addr, &get_request(host.as_bytes(), path.as_bytes(), &[]))
}

/// GET with extra headers.
pub fn get_with(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &[u8])]) -> Response {
    send(addr, &get_request(host.as_bytes(), path.as_bytes(), headers))
}

/// Sends raw request bytes and reads the whole response; panics on I/O or parse errors.
pub fn send(addr: SocketAddr, request: &[u8]) -> Response {
    match try_send(addr, request) {
        Ok(response) => response,
        Err(e) => panic!(
            "request to {addr} failed: {e}\nrequest: {:?}",
            String::from_utf8_lossy(request)
        ),
    }
}

pub fn try_send(addr: SocketAddr, request: &[u8]) -> Result<Response, String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| format!("write: {e}"))?;
    // Read until the response is complete rather than until the server closes: Envoy delays its close
    // (delayed_close_timeout, 1 s) waiting for the client to go first.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(response) = complete(&raw)? {
            return Ok(response);
        }
        match stream.read(&mut buf) {
            Ok(0) => return parse(&raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after a complete response (Envoy closing early on a local reply) still counts.
            Err(e) if raw.is_empty() => return Err(format!("read: {e}")),
            Err(_) => return parse(&raw),
        }
    }
}

/// The response if `raw` holds a complete one (headers and the whole body they announce).
fn complete(raw: &[u8]) -> Result<Option<Response>, String> {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let rest = &raw[end + 4..];
    let length = head
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("content-length:"))
        .find_map(|v| v.trim().parse::<usize>().ok());
    let done = if head
        .split("\r\n")
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
    {
        rest.ends_with(b"0\r\n\r\n")
    } else if let Some(len) = length {
        rest.len() >= len
    } else {
        // 1xx/204/304 carry no body; anything else without a length runs until close.
        let status = head.split_whitespace().nth(1).unwrap_or_default();
        status.starts_with('1') || status == "204" || status == "304"
    };
    if done {
        parse(raw).map(Some)
    } else {
        Ok(None)
    }
}

/// Parses one HTTP/1.1 response (content-length, chunked, or until close).
pub fn parse(raw: &[u8]) -> Result<Response, String> {
    let end = find(raw, b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let (status, headers) = parse_head(&String::from_utf8_lossy(&raw[..end]))?;
    let rest = &raw[end + 4..];
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| format!("bad content-length {len:?}"))?;
        if rest.len() < len {
            return Err(format!("body cut short: {} of {len} bytes", rest.len()));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The status and the headers (lower-cased names, in order) of a response head: the status line and the
/// header lines, without the blank line.
pub fn parse_head(head: &str) -> Result<(u16, Vec<(String, String)>), String> {
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("chunk size line")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim().to_string();
        let size =
            usize::from_str_radix(&size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if data.len() < size + 2 {
            return Err("chunk cut short".into());
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
