//! `ingress-wasm`: the command-line front end of the same compiler and router the Envoy filter runs.
//!
//! `check` judges Ingress files, `explain` shows the decision for one request, `render envoy` writes a
//! runnable Envoy bootstrap around the filter. Native only: on wasm32 this binary is an empty stub so
//! `cargo build --target wasm32-*` still builds every target.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
