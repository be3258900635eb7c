//! The host calls the filter makes, as safe functions that return `Result` and never panic.
//!
//! The module has no proxy-wasm SDK (whose `hostcalls` `panic!` on every status they do not expect and
//! declare the host's status word and log level as Rust enums, where a value outside them would be
//! undefined behaviour: Envoy answers log level 6 when its logger is off). This file imports the few
//! proxy-wasm ABI 0.2.1 functions the filter needs (plus WASI's `random_get`) with plain integer results,
//! turns every status into a [`Status`], and contains the filter's `unsafe` code besides the exports
//! ([`super::abi`]).
//!
//! Memory the host returns: the host allocates it by calling the module's `proxy_on_memory_allocate`
//! export ([`super::abi`]: a `Box<[u8]>` of the requested length from Rust's global allocator), copies
//! exactly that many bytes in, and hands over the pointer and the length. Ownership passes to us:
//! [`take`] rebuilds the `Vec<u8>`, so it is freed when dropped.
//!
//! The status codes each function documents are Envoy 1.40's (`source/extensions/common/wasm/context.cc`)
//! and proxy-wasm-cpp-host's (`src/exports.cc`). `InvalidMemoryAccess` means the host could not read our
//! arguments or allocate its answer in the VM's memory; with arguments that are Rust slices it only
//! happens when that allocation fails.
//!
//! Logging: `proxy_log` answers `BadArgument` only for a level above critical and `InvalidMemoryAccess`
//! only for a message outside the VM's memory; [`log`] passes a [`LogLevel`] and a `&str`.

use std::fmt;
use std::ptr::{null, null_mut};

/// proxy-wasm's log levels, as the words the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    /// The `log` crate's filter for this level (critical: only what the filter never logs).
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Trace => log::LevelFilter::Trace,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Critical => log::LevelFilter::Off,
        }
    }
}

/// A status the host answered with, other than `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 1: the header, property, buffer or foreign function does not exist.
    NotFound,
    /// 2: the call is not valid now (e.g. a header map outside the callback it belongs to).
    BadArgument,
    /// 3: a property value could not be serialized.
    SerializationFailure,
    /// 6: the host could not read our arguments or write its answer into the VM's memory.
    InvalidMemoryAccess,
    /// 10: the host failed internally.
    InternalFailure,
    /// 12: not implemented by this host.
    Unimplemented,
    /// Any other proxy-wasm status code.
    Other(u32),
    /// A WASI errno (from `random_get`).
    Wasi(u32),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Other(code) => write!(f, "status {code}"),
            Status::Wasi(errno) => write!(f, "WASI errno {errno}"),
            other => fmt::Debug::fmt(other, f),
        }
    }
}

/// A proxy-wasm status word as a `Result`.
fn check(code: u32) -> Result<(), Status> {
    match code {
        0 => Ok(()),
        1 => Err(Status::NotFound),
        2 => Err(Status::BadArgument),
        3 => Err(Status::SerializationFailure),
        6 => Err(Status::InvalidMemoryAccess),
        10 => Err(Status::InternalFailure),
        12 => Err(Status::Unimplemented),
        other => Err(Status::Other(other)),
    }
}

// proxy-wasm ABI 0.2.1 enumerations, as the words the host expects.
const REQUEST_HEADERS: u32 = 0;
const RESPONSE_HEADERS: u32 = 2;
const PLUGIN_CONFIGURATION: u32 = 7;
const COUNTER: u32 = 0;
/// `grpc_status` of a plain HTTP local reply: no `grpc-status` header.
const NO_GRPC_STATUS: i32 = -1;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, buf_len: usize) -> u32;
}

/// A slice's pointer, or null for an empty slice (as proxy-wasm SDKs pass absent bodies and arguments).
fn ptr_or_null(bytes: &[u8]) -> *const u8 {
    if bytes.is_empty() {
        null()
    } else {
        bytes.as_ptr()
    }
}

/// Takes ownership of bytes the host wrote into the VM's memory; a null pointer is empty.
///
/// # Safety
/// `data` is null, or it and `size` are what the host wrote for one answer: an allocation of exactly
/// `size` bytes it made through `proxy_on_memory_allocate` (a `Box<[u8]>` of that length, see [`super::abi`])
/// and filled, not owned by anything else.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        return Vec::new();
    }
    // SAFETY: the caller's contract: a live `Box<[u8]>` allocation of `size` bytes (alignment 1, from
    // the global allocator), all initialized, which nothing else will free.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

/// A host call that answers with bytes: runs `call` with the two out-pointers and takes what it wrote,
/// whatever the status (a host that allocated and then failed must not leak).
fn call_returning_bytes(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> (u32, Vec<u8>) {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let code = call(&mut data, &mut size);
    // SAFETY: `data` is still null unless the host wrote a pointer and size of an allocation it made for
    // this answer (cpp-host writes both only after a successful `allocMemory` of that size, or 0 and 0).
    let bytes = unsafe { take(data, size) };
    (code, bytes)
}

/// The log level Envoy's `wasm` logger is at. Envoy answers `Ok`; `off` (6) reads as `Critical`, which
/// logs nothing.
pub fn log_level() -> Result<LogLevel, Status> {
    let mut level: u32 = 0;
    // SAFETY: the host writes one u32 into `level`, a live local.
    check(unsafe { proxy_get_log_level(&mut level) })?;
    Ok(match level {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        4 => LogLevel::Error,
        _ => LogLevel::Critical,
    })
}

/// Writes a line to Envoy's `wasm` logger.
pub fn log(level: LogLevel, message: &str) -> Result<(), Status> {
    // SAFETY: `message` is live for the call; the host copies it.
    check(unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) })
}

/// The plugin configuration, at most `max` bytes (call it in `on_configure`). An empty or absent
/// configuration is empty. Envoy answers `NotFound` outside `on_configure` (read as empty) and `InvalidMemoryAccess` if it cannot allocate the copy.
pub fn plugin_configuration(max: usize) -> Result<Vec<u8>, Status> {
    // SAFETY: the out-pointers are the live locals of `call_returning_bytes`.
    let (code, bytes) = call_returning_bytes(|data, size| unsafe {
        proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, max, data, size)
    });
    match check(code) {
        Ok(()) | Err(Status::NotFound) => Ok(bytes),
        Err(status) => Err(status),
    }
}

/// A request header's first value, as bytes (not necessarily UTF-8); `None` when absent. Envoy answers
/// `NotFound` for an absent header and `BadArgument` when the request headers are not available (outside
/// `proxy_on_request_headers`, or after it returned `Continue`).
pub fn request_header(name: &str) -> Result<Option<Vec<u8>>, Status> {
    header(REQUEST_HEADERS, name)
}

/// Every request header in one host call, in the ABI's header-map encoding (read it with
/// [`header_pairs`]): one crossing instead of one per header. `BadArgument` when the request headers are
/// not available (see [`request_header`]).
pub fn request_headers() -> Result<Vec<u8>, Status> {
    // SAFETY: the out-pointers are the live locals of `call_returning_bytes`.
    let (code, bytes) =
        call_returning_bytes(|data, size| unsafe { proxy_get_header_map_pairs(REQUEST_HEADERS, data, size) });
    check(code).map(|()| bytes)
}

/// The (name, value) pairs of a header map in the ABI's encoding (what [`request_headers`] answers,
/// written as [`serialize_map`] writes it), as bytes. Stops at the first pair that does not fit the
/// buffer: a malformed answer yields fewer pairs, never a panic.
pub fn header_pairs(map: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let word = |at: usize| -> Option<usize> {
        let bytes: [u8; 4] = map.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(bytes)).ok()
    };
    let count = word(0).unwrap_or(0);
    // Names and values start after the count and the 8-byte length pairs.
    let mut data = count.checked_mul(8).and_then(|n| n.checked_add(4));
    let mut index = 0;
    std::iter::from_fn(move || {
        if index >= count {
            return None;
        }
        let name_len = word(4 + index * 8)?;
        let value_len = word(8 + index * 8)?;
        let start = data?;
        let name_end = start.checked_add(name_len)?;
        let value_start = name_end.checked_add(1)?;
        let value_end = value_start.checked_add(value_len)?;
        let pair = (map.get(start..name_end)?, map.get(value_start..value_end)?);
        data = value_end.checked_add(1);
        index += 1;
        Some(pair)
    })
}

/// A response header's first value, as bytes; `None` when absent. `BadArgument` when the response
/// headers are not available (outside `proxy_on_response_headers`).
pub fn response_header(name: &str) -> Result<Option<Vec<u8>>, Status> {
    header(RESPONSE_HEADERS, name)
}

fn header(map: u32, name: &str) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: `name` is a live slice for the call; the out-pointers are the live locals of
    // `call_returning_bytes`.
    let (code, bytes) = call_returning_bytes(|data, size| unsafe {
        proxy_get_header_map_value(map, name.as_ptr(), name.len(), data, size)
    });
    match check(code) {
        Ok(()) => Ok(Some(bytes)),
        Err(Status::NotFound) => Ok(None),
        Err(status) => Err(status),
    }
}

/// Sets a request header to exactly one value: Envoy's `setCopy` drops every existing value of the
/// header, whatever its case in the request, then adds this one. `BadArgument` when the request headers
/// are not available (see [`request_header`]).
pub fn set_request_header(name: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: both slices are live for the call; the host copies them.
    check(unsafe {
        proxy_replace_header_map_value(
            REQUEST_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every value of a request header. Needed for an internal header the filter does not always
/// write (a client's copy of a header that is written on every forward is already dropped by
/// [`set_request_header`]). `BadArgument` when the request headers are not available.
pub fn remove_request_header(name: &str) -> Result<(), Status> {
    // SAFETY: `name` is live for the call; the host copies it.
    check(unsafe { proxy_remove_header_map_value(REQUEST_HEADERS, name.as_ptr(), name.len()) })
}

/// Sets a response header to exactly one value (`setCopy`): for headers the filter owns (CORS).
/// `BadArgument` when the response headers are not available.
pub fn set_response_header(name: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: both slices are live for the call; the host copies them.
    check(unsafe {
        proxy_replace_header_map_value(
            RESPONSE_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every value of a response header (an internal header Envoy added for the filter).
/// `BadArgument` when the response headers are not available.
pub fn remove_response_header(name: &str) -> Result<(), Status> {
    // SAFETY: `name` is live for the call; the host copies it.
    check(unsafe { proxy_remove_header_map_value(RESPONSE_HEADERS, name.as_ptr(), name.len()) })
}

/// Adds a response header value next to the existing ones (`addCopy`): the way to add a `Set-Cookie`
/// without dropping the upstream's. `BadArgument` when the response headers are not available (outside
/// `proxy_on_response_headers`, or after it returned `Continue`).
pub fn add_response_header(name: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: both slices are live for the call; the host copies them.
    check(unsafe {
        proxy_add_header_map_value(
            RESPONSE_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Answers the request from the filter: Envoy sends the reply after the current callback returns, which
/// should then return `Action::Pause`. `headers` are added to the reply in order (repeated names kept).
/// Envoy answers `Ok` (the reply is dropped if the request is already gone); `InvalidMemoryAccess` only
/// for unreadable arguments; `BadArgument` here if a length does not fit the ABI's 32 bits.
pub fn send_local_response(status: u32, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
    let headers = serialize_map(headers)?;
    // SAFETY: the slices are live for the call and the host copies them; a null pointer with size 0 is
    // an empty value, as proxy-wasm SDKs pass it.
    check(unsafe {
        proxy_send_local_response(
            status,
            null(),
            0,
            ptr_or_null(body),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            NO_GRPC_STATUS,
        )
    })
}

/// Defines a counter (once per VM) and returns its id. Envoy prefixes the name with `wasmcustom.` and
/// answers `Ok`; `InvalidMemoryAccess` only for an unreadable name.
pub fn define_counter(name: &str) -> Result<u32, Status> {
    let mut id: u32 = 0;
    // SAFETY: `name` is live for the call; the host writes one u32 into `id`, a live local.
    check(unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds `offset` to a counter. Envoy answers `NotFound` for an id it did not hand out and `BadArgument`
/// for an offset that is not positive.
pub fn increment_counter(id: u32, offset: i64) -> Result<(), Status> {
    // SAFETY: plain values, no memory is shared.
    check(unsafe { proxy_increment_metric(id, offset) })
}

/// A property of the request or its connection (e.g. `["source", "address"]`: the client's `ip:port`
/// as text), as raw bytes; `None` when Envoy has no such property. Strings come as their bytes, integers
/// as 8 bytes little-endian. Envoy answers `NotFound` for an unknown or absent property,
/// `SerializationFailure` for a value it cannot encode and `InternalFailure` for a message field it
/// cannot read.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let path = path.join("\0");
    // SAFETY: `path` is live for the call; the out-pointers are the live locals of
    // `call_returning_bytes`.
    let (code, bytes) = call_returning_bytes(|data, size| unsafe {
        proxy_get_property(path.as_ptr(), path.len(), data, size)
    });
    match check(code) {
        Ok(()) => Ok(Some(bytes)),
        Err(Status::NotFound) => Ok(None),
        Err(status) => Err(status),
    }
}

/// Sets filter state of the request: Envoy keeps `value` under the key `wasm.<name>` for the stream,
/// where its own filters and formatters (`%FILTER_STATE(wasm.<name>:PLAIN)%`) read it.
pub fn set_property(name: &str, value: &[u8]) -> Result<(), Status> {
    // SAFETY: the slices are live for the call and the host copies them.
    check(unsafe { proxy_set_property(name.as_ptr(), name.len(), ptr_or_null(value), value.len()) })
}

/// Fills `buf` with random bytes from the host (WASI `random_get`; Envoy draws them from BoringSSL's
/// `RAND_bytes`). Envoy answers errno 28 (`EINVAL`) for more than 64 KiB at once and 21 (`EFAULT`) if it
/// cannot write the VM's memory.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Status> {
    // SAFETY: the host writes at most `buf.len()` bytes into `buf`, which is live and exclusively borrowed.
    match unsafe { random_get(buf.as_mut_ptr(), buf.len()) } {
        0 => Ok(()),
        errno => Err(Status::Wasi(errno)),
    }
}

/// The ABI's header-map encoding (as the Rust SDK's `utils::serialize_map` writes it): the number of pairs,
/// then each pair's name and value lengths, all u32 little-endian, then each name and value followed by
/// a NUL byte.
fn serialize_map(pairs: &[(&str, &str)]) -> Result<Vec<u8>, Status> {
    let len32 = |n: usize| u32::try_from(n).map_err(|_| Status::BadArgument);
    let size = pairs.iter().fold(4usize, |size, (name, value)| {
        size.saturating_add(name.len())
            .saturating_add(value.len())
            .saturating_add(10)
    });
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&len32(pairs.len())?.to_le_bytes());
    for (name, value) in pairs {
        bytes.extend_from_slice(&len32(name.len())?.to_le_bytes());
        bytes.extend_from_slice(&len32(value.len())?.to_le_bytes());
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    Ok(bytes)
}
