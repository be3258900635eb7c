//! A minimal HTTP/2 client: cleartext with prior knowledge, one request per connection, header values as
//! raw bytes. HTTP/2 carries bytes that HTTP/1 cannot: Envoy's HTTP/1 codec refuses anything above 0x7f
//! in the request line, its HTTP/2 codec lets such bytes through in `:path`'s query. Of the response it
//! decodes the status and the body only (header values may be Huffman-coded; the status's digits are the
//! only codes it knows).

use super::http::Response;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const ACK: u8 = 0x1;

/// GET with these pseudo-headers and headers (lower-case names), in order, on stream 1.
pub fn get(addr: SocketAddr, authority: &[u8], path: &[u8], headers: &[(&[u8], &[u8])]) -> Response {
    let mut all: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", authority),
        (b":path", path),
    ];
    all.extend_from_slice(headers);
    send(addr, &all).unwrap_or_else(|e| panic!("HTTP/2 request to {addr} failed: {e}"))
}

/// Sends one request (header fields as given, no body) and reads its response.
pub fn send(addr: SocketAddr, fields: &[(&[u8], &[u8])]) -> Result<Response, String> {
    let mut block = Vec::new();
    for (name, value) in fields {
        // Literal header field without indexing, new name, no Huffman coding.
        block.push(0);
        put_int(&mut block, 7, 0, name.len());
        block.extend_from_slice(name);
        put_int(&mut block, 7, 0, value.len());
        block.extend_from_slice(value);
    }
    if block.len() > 16_384 {
        return Err(format!("header block of {} bytes exceeds one frame", block.len()));
    }
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    frame(&mut out, HEADERS, END_STREAM | END_HEADERS, 1, &block);

    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream.write_all(&out).map_err(|e| format!("write: {e}"))?;

    let (mut status, mut body, mut raw) = (None, Vec::new(), Vec::new());
    let mut buf = [0u8; 16 * 1024];
    loop {
        while raw.len() >= 9 {
            let len = usize::from(raw[0]) << 16 | usize::from(raw[1]) << 8 | usize::from(raw[2]);
            if raw.len() < 9 + len {
                break;
            }
            let (kind, flags) = (raw[3], raw[4]);
            let id = u32::from_be_bytes([raw[5] & 0x7f, raw[6], raw[7], raw[8]]);
            let payload: Vec<u8> = raw[9..9 + len].to_vec();
            raw.drain(..9 + len);
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, SETTINGS, ACK, 0, &[]);
                    stream.write_all(&ack).map_err(|e| format!("write: {e}"))?;
                }
                HEADERS if id == 1 => {
                    if status.is_none() {
                        status = Some(decode_status(unpad(&payload, flags)?)?);
                    }
                    if flags & END_STREAM != 0 {
                        return finish(status, body);
                    }
                }
                DATA if id == 1 => {
                    body.extend_from_slice(unpad(&payload, flags)?);
                    if flags & END_STREAM != 0 {
                        return finish(status, body);
                    }
                }
                RST_STREAM if id == 1 => return Err(format!("stream reset: {payload:?}")),
                GOAWAY => return Err(format!("GOAWAY {payload:?}")),
                _ => {}
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err("connection closed before a response".into()),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn finish(status: Option<u16>, body: Vec<u8>) -> Result<Response, String> {
    Ok(Response {
        status: status.ok_or("no response headers")?,
        headers: Vec::new(),
        body,
    })
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// The payload of a HEADERS or DATA frame without padding (and without HEADERS' priority fields).
fn unpad(payload: &[u8], flags: u8) -> Result<&[u8], String> {
    let mut p = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*p.first().ok_or("empty padded frame")?);
        p = &p[1..];
    }
    if flags & PRIORITY != 0 && p.len() >= 5 {
        p = &p[5..];
    }
    p.get(..p.len().saturating_sub(pad))
        .ok_or_else(|| "bad padding".to_string())
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 5.1).
fn put_int(out: &mut Vec<u8>, n: u8, first: u8, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

fn get_int(block: &[u8], i: &mut usize, n: u8) -> Result<usize, String> {
    let max = (1usize << n) - 1;
    let mut value = usize::from(*block.get(*i).ok_or("truncated integer")?) & max;
    *i += 1;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let b = *block.get(*i).ok_or("truncated integer")?;
        *i += 1;
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// The `:status` of a response header block: the first field of a server's response (RFC 9113 8.3),
/// either a static-table entry or a literal value whose name is `:status`.
fn decode_status(block: &[u8]) -> Result<u16, String> {
    let mut i = 0;
    loop {
        let b = *block.get(i).ok_or("empty header block")?;
        if b & 0xe0 == 0x20 {
            get_int(block, &mut i, 5)?; // dynamic table size update
            continue;
        }
        if b & 0x80 != 0 {
            // Static table entries 8..=14 are `:status` with a value.
            return match get_int(block, &mut i, 7)? {
                8 => Ok(200),
                9 => Ok(204),
                10 => Ok(206),
                11 => Ok(304),
                12 => Ok(400),
                13 => Ok(404),
                14 => Ok(500),
                other => Err(format!("first header field is static entry {other}, not :status")),
            };
        }
        let name = get_int(block, &mut i, if b & 0x40 != 0 { 6 } else { 4 })?;
        if !(8..=14).contains(&name) {
            return Err(format!("first header field has name index {name}, not :status"));
        }
        let huffman = *block.get(i).ok_or("truncated status")? & 0x80 != 0;
        let len = get_int(block, &mut i, 7)?;
        let value = block.get(i..i + len).ok_or("truncated status")?;
        let text = if huffman {
            huffman_digits(value)?
        } else {
            String::from_utf8_lossy(value).into_owned()
        };
        return text.parse().map_err(|_| format!("bad status {text:?}"));
    }
}

/// Decodes a Huffman-coded string of decimal digits (RFC 7541 Appendix B: `0`-`2` are the 5-bit codes
/// 0-2, `3`-`9` the 6-bit codes 25-31; padding is all ones).
fn huffman_digits(bytes: &[u8]) -> Result<String, String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |k| (b >> k) & 1))
        .collect();
    let read = |at: usize, n: usize| -> Option<u8> {
        bits.get(at..at + n).map(|s| s.iter().fold(0, |v, b| v << 1 | b))
    };
    let (mut at, mut out) = (0, String::new());
    while at + 5 <= bits.len() {
        match (read(at, 5), read(at, 6)) {
            (Some(v @ 0..=2), _) => {
                out.push(char::from(b'0' + v));
                at += 5;
            }
            (_, Some(v @ 25..=31)) => {
                out.push(char::from(b'0' + v - 22));
                at += 6;
            }
            _ if bits[at..].iter().all(|&b| b == 1) => break,
            _ => return Err(format!("not a Huffman-coded number: {bytes:?}")),
        }
    }
    Ok(out)
}
