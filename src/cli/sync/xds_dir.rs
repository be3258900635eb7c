//! The watched directory Envoy reads, laid out as the kubelet lays out a mounted ConfigMap:
//!
//! ```text
//! DIR/..v42/{lds,cds,ecds}.yaml   one directory per version, written in full before it is used
//! DIR/..data -> ..v42              the one symlink a new version replaces (rename: atomic)
//! DIR/lds.yaml -> ..data/lds.yaml  the stable names Envoy reads (also cds.yaml, ecds.yaml)
//! DIR/status.json -> .sync/status.json   what the last sync did
//! DIR/.sync/state.json             what was delivered: the last-known-good of each Ingress
//! ```
//!
//! Envoy watches DIR for files moved into it, so a version appears by one rename of `..data`; the
//! version directory is created in place (not moved in), and the sync's own files live one level
//! down, so that nothing else wakes Envoy up. The previous version directory is kept until the next
//! swap (a reader that resolved `..data` just before the rename still finds its files).

use ingress_wasm::render::dynamic::XdsFiles;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";
const VERSION_PREFIX: &str = "..v";
const SYNC_DIR: &str = ".sync";
pub const STATUS_FILE: &str = "status.json";
const STATE_FILE: &str = "state.json";

/// What the last sync delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub version: u64,
    /// The delivered version of each Ingress, by `namespace/name`.
    pub ingresses: BTreeMap<String, Value>,
    /// The clusters that version's routes use (other clusters in its CDS file are leftovers).
    pub clusters: Vec<String>,
}

pub struct XdsDir {
    dir: PathBuf,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("{}: cannot {what}: {e}", path.display())
}

impl XdsDir {
    /// Opens (creating) the directory.
    pub fn open(dir: &str) -> Result<XdsDir, String> {
        let dir = PathBuf::from(dir);
        let sync = dir.join(SYNC_DIR);
        fs::create_dir_all(&sync).map_err(|e| io(&sync, "create", e))?;
        Ok(XdsDir { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The private scratch file for an input read from stdin.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.join(SYNC_DIR).join(name)
    }

    /// The state the last sync left (empty when there is none, or it cannot be read).
    pub fn state(&self) -> State {
        let text = fs::read_to_string(self.dir.join(SYNC_DIR).join(STATE_FILE)).unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let ingresses = value["ingresses"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let clusters = value["clusters"]
            .as_array()
            .map(|l| l.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let version = value["version"]
            .as_u64()
            .unwrap_or_else(|| self.highest_version());
        State {
            version,
            ingresses,
            clusters,
        }
    }

    pub fn write_state(&self, state: &State) -> Result<(), String> {
        let value =
            json!({"version": state.version, "ingresses": state.ingresses, "clusters": state.clusters});
        self.write_private(STATE_FILE, &pretty(&value))
    }

    /// Writes `DIR/.sync/status.json`, reachable as `DIR/status.json`.
    pub fn write_status(&self, status: &Value) -> Result<(), String> {
        self.write_private(STATUS_FILE, &pretty(status))?;
        let link = self.dir.join(STATUS_FILE);
        if fs::read_link(&link).is_err() {
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(Path::new(SYNC_DIR).join(STATUS_FILE), &link)
                .map_err(|e| io(&link, "create", e))?;
        }
        Ok(())
    }

    /// A file of `.sync/`, replaced atomically.
    fn write_private(&self, name: &str, text: &str) -> Result<(), String> {
        let path = self.dir.join(SYNC_DIR).join(name);
        let tmp = self.dir.join(SYNC_DIR).join(format!(".{name}.tmp"));
        fs::write(&tmp, text).map_err(|e| io(&tmp, "write", e))?;
        fs::rename(&tmp, &path).map_err(|e| io(&path, "replace", e))
    }

    /// The files of the version being served, if any.
    pub fn current(&self) -> Option<XdsFiles> {
        let data = self.dir.join(DATA);
        let read = |name: &str| fs::read_to_string(data.join(name)).ok();
        Some(XdsFiles {
            lds: read(ingress_wasm::render::dynamic::LDS_FILE)?,
            cds: read(ingress_wasm::render::dynamic::CDS_FILE)?,
            ecds: read(ingress_wasm::render::dynamic::ECDS_FILE)?,
        })
    }

    /// Makes `files` the served version `version`: its own directory, then one rename of `..data`.
    pub fn publish(&self, version: u64, files: &XdsFiles) -> Result<(), String> {
        let name = format!("{VERSION_PREFIX}{version}");
        let target = self.dir.join(&name);
        if target.exists() {
            fs::remove_dir_all(&target).map_err(|e| io(&target, "remove", e))?;
        }
        fs::create_dir(&target).map_err(|e| io(&target, "create", e))?;
        for (file, text) in files.named() {
            let path = target.join(file);
            fs::write(&path, text).map_err(|e| io(&path, "write", e))?;
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io(&path, "sync", e))?;
        }
        let previous = fs::read_link(self.dir.join(DATA)).ok();
        let tmp = self.dir.join(DATA_TMP);
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp).map_err(|e| io(&tmp, "create", e))?;
        let data = self.dir.join(DATA);
        fs::rename(&tmp, &data).map_err(|e| io(&data, "replace", e))?;
        for (file, _) in files.named() {
            let link = self.dir.join(file);
            let wanted = Path::new(DATA).join(file);
            if fs::read_link(&link).ok().as_deref() != Some(wanted.as_path()) {
                let tmp = self.dir.join(format!(".{file}.tmp"));
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(&wanted, &tmp).map_err(|e| io(&tmp, "create", e))?;
                fs::rename(&tmp, &link).map_err(|e| io(&link, "replace", e))?;
            }
        }
        self.prune(&name, previous.as_deref());
        Ok(())
    }

    /// Removes the version directories other than `current` and `previous`.
    fn prune(&self, current: &str, previous: Option<&Path>) {
        for (name, path) in self.versions() {
            let keep = name == current || previous.is_some_and(|p| p == Path::new(&name));
            if !keep {
                let _ = fs::remove_dir_all(path);
            }
        }
    }

    fn versions(&self) -> Vec<(String, PathBuf)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let digits = name.strip_prefix(VERSION_PREFIX)?;
                (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| (name, e.path()))
            })
            .collect()
    }

    /// The highest version directory present (0 when none): a lost state file never reuses a name.
    fn highest_version(&self) -> u64 {
        self.versions()
            .iter()
            .filter_map(|(name, _)| name.strip_prefix(VERSION_PREFIX)?.parse().ok())
            .max()
            .unwrap_or(0)
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()) + "\n"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn files(n: u32) -> XdsFiles {
        XdsFiles {
            lds: format!("lds {n}\n"),
            cds: format!("cds {n}\n"),
            ecds: format!("ecds {n}\n"),
        }
    }

    #[test]
    fn each_version_is_one_swap_and_the_previous_one_stays_until_the_next() {
        let dir = std::env::temp_dir().join(format!("ingress-wasm-xds-dir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let xds = XdsDir::open(dir.to_str().unwrap()).unwrap();
        assert!(xds.current().is_none());
        assert_eq!(xds.state().version, 0);
        for n in 1..=3 {
            xds.publish(u64::from(n), &files(n)).unwrap();
            assert_eq!(xds.current(), Some(files(n)));
            assert_eq!(
                fs::read_to_string(dir.join("lds.yaml")).unwrap(),
                format!("lds {n}\n")
            );
            assert_eq!(
                fs::read_link(dir.join("..data")).unwrap(),
                Path::new(&format!("..v{n}"))
            );
        }
        let mut left: Vec<String> = xds.versions().into_iter().map(|(n, _)| n).collect();
        left.sort();
        assert_eq!(left, vec!["..v2".to_string(), "..v3".to_string()]);
        assert_eq!(
            xds.state().version,
            3,
            "without a state file the highest version counts"
        );
        let state = State {
            version: 3,
            ingresses: BTreeMap::from([("ns/a".to_string(), json!({"x": 1}))]),
            clusters: vec!["ns/a:80".to_string()],
        };
        xds.write_state(&state).unwrap();
        assert_eq!(xds.state(), state);
        xds.write_status(&json!({"version": 3})).unwrap();
        xds.write_status(&json!({"version": 4})).unwrap();
        let status: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("status.json")).unwrap()).unwrap();
        assert_eq!(status["version"], 4);
        let _ = fs::remove_dir_all(&dir);
    }
}
