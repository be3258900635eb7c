//! The module as an OCI image, in the "compat" variant of the Wasm image specification that Istio's and
//! Envoy Gateway's image fetchers read (istio `pkg/wasm/imagefetcher.go`, `extractOCIStandardImage`): an
//! OCI image manifest whose single layer (`application/vnd.oci.image.layer.v1.tar+gzip`) is a tar holding
//! `plugin.wasm`. Written as an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/<digest>`), which `oras cp`, `crane push` or `skopeo copy` push to any registry: no
//! container daemon.
//!
//! Every byte is a function of the module alone (no timestamps, fixed owner and mode), so the manifest
//! digest is too: `render istio` computes the `sha256` Istio compares an `oci://` pull against (the
//! image's manifest digest) without the registry.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;

pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The file the fetchers look for in the layer.
pub const WASM_FILE: &str = "plugin.wasm";

/// One content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: format!("sha256:{}", sha256_hex(&bytes)),
            bytes,
        }
    }

    fn descriptor(&self, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// The image: its blobs (layer, config, manifest) and the layout's `index.json`.
#[derive(Debug, Clone)]
pub struct OciImage {
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
    pub index: Vec<u8>,
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The image of `wasm`, tagged `tag` in the layout's index.
pub fn image(wasm: &[u8], tag: &str) -> Result<OciImage, String> {
    let tar = tar_with_one_file(WASM_FILE, wasm)?;
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    let layer = Blob::new(gzip(&tar)?);
    let config = Blob::new(json_bytes(&json!({
        "architecture": "wasm",
        "os": "wasip1",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {},
    })));
    let manifest = Blob::new(json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(CONFIG_MEDIA_TYPE),
        "layers": [layer.descriptor(LAYER_MEDIA_TYPE)],
    })));
    let index = json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": manifest.digest,
            "size": manifest.bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }));
    Ok(OciImage {
        layer,
        config,
        manifest,
        index,
    })
}

/// Writes the image layout into `dir` (created if missing).
pub fn write_layout(dir: &std::path::Path, image: &OciImage) -> Result<(), String> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| format!("{}: cannot create: {e}", blobs.display()))?;
    let write = |path: std::path::PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    for blob in [&image.layer, &image.config, &image.manifest] {
        let hex = blob.digest.trim_start_matches("sha256:");
        write(blobs.join(hex), &blob.bytes)?;
    }
    write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write(dir.join("index.json"), &image.index)
}

fn json_bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    // GzBuilder writes mtime 0 and no file name: the same bytes every time.
    let mut encoder = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| format!("gzip: {e}"))
}

/// A POSIX ustar archive with one regular file (mode 0644, owner 0, mtime 0).
fn tar_with_one_file(name: &str, contents: &[u8]) -> Result<Vec<u8>, String> {
    if name.len() > 100 {
        return Err(format!("tar: the name {name:?} is longer than 100 bytes"));
    }
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |offset: usize, width: usize, value: u64| -> Result<(), String> {
        // Octal, zero-padded, NUL-terminated.
        let text = format!("{value:0w$o}\0", w = width - 1);
        if text.len() != width {
            return Err(format!("tar: {value} does not fit a {width}-byte field"));
        }
        header[offset..offset + width].copy_from_slice(text.as_bytes());
        Ok(())
    };
    field(100, 8, 0o644)?; // mode
    field(108, 8, 0)?; // uid
    field(116, 8, 0)?; // gid
    field(124, 12, contents.len() as u64)?; // size
    field(136, 12, 0)?; // mtime
    header[156] = b'0'; // a regular file
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(contents);
    tar.resize(tar.len().next_multiple_of(512), 0);
    // Two zero records end the archive.
    tar.extend_from_slice(&[0u8; 1024]);
    Ok(tar)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_same_module_makes_the_same_image() {
        let a = image(b"\0asm\x01\0\0\0", "v1").unwrap();
        let b = image(b"\0asm\x01\0\0\0", "v1").unwrap();
        assert_eq!(a.manifest, b.manifest);
        let c = image(b"\0asm\x01\0\0\0\0", "v1").unwrap();
        assert_ne!(a.manifest.digest, c.manifest.digest);
    }

    #[test]
    fn the_tar_holds_the_file_at_offset_512() {
        let tar = tar_with_one_file("plugin.wasm", b"abc").unwrap();
        assert_eq!(tar.len(), 512 + 512 + 1024);
        assert_eq!(&tar[..11], b"plugin.wasm");
        assert_eq!(&tar[512..515], b"abc");
        assert_eq!(&tar[124..136], b"00000000003\0");
        let stored = u32::from_str_radix(std::str::from_utf8(&tar[148..154]).unwrap(), 8).unwrap();
        let mut copy = tar[..512].to_vec();
        copy[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, copy.iter().map(|&b| u32::from(b)).sum::<u32>());
    }

    #[test]
    fn sha256_of_a_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
