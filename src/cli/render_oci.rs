//! `ingress-wasm render oci`: the module as an OCI image layout, pushed with any OCI client.

use super::{exit_with, out};
use clap::Args;
use ingress_wasm::render::oci;
use std::path::Path;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct RenderOciArgs {
    /// The filter's .wasm module.
    #[arg(long, value_name = "FILE")]
    wasm: String,
    /// The tag the layout's index gives the image (org.opencontainers.image.ref.name).
    #[arg(long, value_name = "TAG", default_value = env!("CARGO_PKG_VERSION"))]
    tag: String,
    /// Output directory: the OCI image layout (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: String,
}

pub fn run(args: &RenderOciArgs) -> ExitCode {
    exit_with(render(args).map(|()| ExitCode::SUCCESS))
}

fn render(args: &RenderOciArgs) -> Result<(), String> {
    let wasm = read_module(&args.wasm)?;
    let image = oci::image(&wasm, &args.tag)?;
    oci::write_layout(Path::new(&args.output), &image)?;
    out(&format!(
        "wrote {} (OCI image layout, tag {}): manifest {}, layer {} ({} bytes, {} inside)",
        args.output,
        args.tag,
        image.manifest.digest,
        image.layer.digest,
        image.layer.bytes.len(),
        oci::WASM_FILE
    ));
    Ok(())
}

/// The module's bytes; a file that is not a WebAssembly binary is refused before it ships anywhere.
pub fn read_module(file: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("--wasm {file}: cannot read: {e}"))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(format!(
            "--wasm {file}: not a WebAssembly module (it does not start with \\0asm)"
        ));
    }
    Ok(bytes)
}
