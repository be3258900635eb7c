//! The module's proxy-wasm ABI 0.2.1 exports: the entry points Envoy calls, and the table of live
//! contexts they dispatch to.
//!
//! Only what the filter uses is exported. Envoy (proxy-wasm-cpp-host) calls an entry point only if the
//! module exports it, and every call crosses into the VM (~1 µs in V8): a module without
//! `proxy_on_response_body`, `proxy_on_log`, `proxy_on_done` and the trailer callbacks saves four such
//! crossings per request (`./build.sh bench`). Without `proxy_on_done`, Envoy deletes a context as if it
//! had answered `true`.
//!
//! The contexts live in two maps keyed by the host's context ids: root contexts (one per plugin
//! configuration in this VM) and streams (one per HTTP request, each created for its root in
//! `proxy_on_context_create` and dropped in `proxy_on_delete`). A callback takes its context out of the
//! map while it runs, so a host call that re-entered the module could never find it borrowed.

use super::host::{self, LogLevel};
use super::{Action, Root, Stream};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Default)]
struct Contexts {
    roots: HashMap<u32, Root>,
    streams: HashMap<u32, Stream>,
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = RefCell::new(Contexts::default());
}

/// Runs `f` on the root context `id` (created on first use), taken out of the table meanwhile.
fn with_root<T>(id: u32, f: impl FnOnce(&mut Root) -> T) -> T {
    let mut root = CONTEXTS
        .with(|c| c.borrow_mut().roots.remove(&id))
        .unwrap_or_default();
    let result = f(&mut root);
    CONTEXTS.with(|c| c.borrow_mut().roots.insert(id, root));
    result
}

/// Runs `f` on the stream `id`, taken out of the table meanwhile; `unknown` for an id the host never
/// created (never seen in Envoy).
fn with_stream<T>(id: u32, unknown: T, f: impl FnOnce(&mut Stream) -> T) -> T {
    let Some(mut stream) = CONTEXTS.with(|c| c.borrow_mut().streams.remove(&id)) else {
        return unknown;
    };
    let result = f(&mut stream);
    CONTEXTS.with(|c| c.borrow_mut().streams.insert(id, stream));
    result
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// WASI reactor initialization: static constructors, then the logger.
#[no_mangle]
pub extern "C" fn _initialize() {
    // SAFETY: called once by the host before any other export, as WASI reactors require.
    #[cfg(target_os = "wasi")]
    unsafe {
        __wasm_call_ctors()
    };
    Logger::install();
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Memory the host fills with an answer (header values, the plugin configuration): a `Box<[u8]>` of
/// exactly `size` bytes, which `host::take` turns back into a `Vec<u8>` that frees it.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; size].into_boxed_slice()).cast::<u8>()
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_context_id: u32, _vm_configuration_size: usize) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_context_id: u32, plugin_configuration_size: usize) -> bool {
    with_root(root_context_id, |root| {
        root.on_configure(plugin_configuration_size)
    })
}

/// A root context (`root_context_id` 0) or an HTTP stream of the root `root_context_id`.
#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_context_id: u32) {
    if root_context_id == 0 {
        with_root(context_id, |_| ());
        return;
    }
    let stream = CONTEXTS.with(|c| c.borrow().roots.get(&root_context_id).map(Root::create_stream));
    match stream {
        Some(stream) => CONTEXTS.with(|c| c.borrow_mut().streams.insert(context_id, stream)),
        // A stream of a root the host never announced: it will answer 503 (not configured).
        None => CONTEXTS.with(|c| c.borrow_mut().streams.insert(context_id, Stream::unconfigured())),
    };
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, num_headers: usize, end_of_stream: bool) -> u32 {
    with_stream(context_id, Action::Continue, |s| {
        s.on_request_headers(num_headers, end_of_stream)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(context_id: u32, body_size: usize, end_of_stream: bool) -> u32 {
    with_stream(context_id, Action::Continue, |s| {
        s.on_request_body(body_size, end_of_stream)
    }) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, num_headers: usize, end_of_stream: bool) -> u32 {
    with_stream(context_id, Action::Continue, |s| {
        s.on_response_headers(num_headers, end_of_stream)
    }) as u32
}

/// The host is done with a context: a stream is dropped (a root context stays for the VM's life, as its
/// configuration may be loaded again).
#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    CONTEXTS.with(|c| c.borrow_mut().streams.remove(&context_id));
}

/// The `log` crate's logger: records go to Envoy's `wasm` logger through `proxy_log`.
struct Logger;

static LOGGER: Logger = Logger;

impl Logger {
    fn install() {
        // Fails only if a logger is installed already: then that one stays.
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
        // A panic (none is expected: clippy denies the usual sources) says where before the VM aborts.
        std::panic::set_hook(Box::new(|info| {
            let _ = host::log(LogLevel::Critical, &info.to_string());
        }));
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        // A log line the host refuses has nowhere else to go.
        let _ = host::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}
