//! The state file (`--state.file`): each target's [`Record`] — its identity and last
//! observations — as JSON, so that a restart or a re-created data directory is still
//! judged after the exporter itself restarted. Written atomically (a temporary file in
//! the same directory, fsync, rename), at most once per [`MIN_WRITE_INTERVAL`] and only
//! when something changed. A corrupt or unreadable file is logged and ignored, never
//! fatal: the exporter then judges restarts only from its own start on.

use super::Record;
use crate::plain::lock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Shortest time between two writes of the file.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// Largest state file read (a bigger one is ignored as corrupt).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The file's format.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// Format version (1).
    version: u32,
    /// Target name → record.
    targets: BTreeMap<String, Record>,
}

/// The records of all targets and the file they are kept in.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    records: Mutex<BTreeMap<String, Record>>,
    dirty: AtomicBool,
    last_write: Mutex<Option<Instant>>,
    /// The last write error logged (logged again only when it changes).
    last_error: Mutex<Option<String>>,
    /// One write at a time (they share the temporary file's name).
    writing: Mutex<()>,
}

impl StateStore {
    /// Loads the file; a missing file is an empty state, an unreadable or corrupt one is
    /// logged and ignored.
    pub fn open(path: &Path) -> StateStore {
        let records = match read(path) {
            Ok(Some(f)) => {
                tracing::info!(path = %path.display(), targets = f.targets.len(), "State file loaded");
                f.targets
            }
            Ok(None) => BTreeMap::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "State file ignored: restarts are judged from now on");
                BTreeMap::new()
            }
        };
        StateStore {
            path: path.to_path_buf(),
            records: Mutex::new(records),
            dirty: AtomicBool::new(false),
            last_write: Mutex::new(None),
            last_error: Mutex::new(None),
            writing: Mutex::new(()),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored record of a target.
    pub fn get(&self, target: &str) -> Option<Record> {
        lock(&self.records).get(target).cloned()
    }

    /// Stores a target's record (marks the file for writing when it changed).
    pub fn put(&self, target: &str, record: &Record) {
        let mut m = lock(&self.records);
        if m.get(target) != Some(record) {
            m.insert(target.to_string(), record.clone());
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Whether [`StateStore::flush_if_due`] would write now: something changed and the
    /// last write is old enough. Cheap (no I/O), so that a scrape hands the write to
    /// another thread only when there is one to do.
    pub fn flush_due(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
            && !lock(&self.last_write).is_some_and(|t| t.elapsed() < MIN_WRITE_INTERVAL)
    }

    /// Writes the file when something changed and the last write is at least
    /// [`MIN_WRITE_INTERVAL`] ago. Returns whether it wrote.
    pub fn flush_if_due(&self) -> bool {
        if !self.dirty.load(Ordering::Relaxed) {
            return false;
        }
        {
            let mut last = lock(&self.last_write);
            if last.is_some_and(|t| t.elapsed() < MIN_WRITE_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        self.flush()
    }

    /// Writes the file now if something changed.
    pub fn flush(&self) -> bool {
        let _one_at_a_time = lock(&self.writing);
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return false;
        }
        let file = StateFile {
            version: 1,
            targets: lock(&self.records).clone(),
        };
        match write_atomically(&self.path, &file) {
            Ok(()) => {
                *lock(&self.last_error) = None;
                true
            }
            Err(e) => {
                self.dirty.store(true, Ordering::Relaxed);
                let mut last = lock(&self.last_error);
                if last.as_deref() != Some(e.as_str()) {
                    tracing::warn!(path = %self.path.display(), error = %e, "Cannot write the state file");
                    *last = Some(e);
                }
                false
            }
        }
    }
}

fn read(path: &Path) -> Result<Option<StateFile>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let f: StateFile =
        serde_json::from_slice(&text).map_err(|e| format!("not a state file: {e}"))?;
    if f.version != 1 {
        return Err(format!("unknown format version {}", f.version));
    }
    Ok(Some(f))
}

/// Temporary file in the same directory, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, file: &StateFile) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_string());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(instance: &str) -> Record {
        Record {
            kind: "redis".into(),
            since: 1_800_000_000.0,
            instance: Some(instance.into()),
            keys_before: Some(42),
            canary_last_ack_ms: Some(1_800_000_000_123),
            ..Record::default()
        }
    }

    #[test]
    fn records_survive_a_round_trip_and_writes_are_throttled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let s = StateStore::open(&path);
        assert_eq!(s.get("r"), None);
        assert!(!s.flush_if_due(), "nothing changed");
        s.put("r", &record("a"));
        assert!(s.flush_if_due());
        s.put("r", &record("a"));
        assert!(!s.flush_if_due(), "unchanged record: no write");
        s.put("r", &record("b"));
        assert!(!s.flush_if_due(), "throttled");
        assert!(s.flush(), "written when forced");
        let again = StateStore::open(&path);
        assert_eq!(again.get("r"), Some(record("b")));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_corrupt_or_unreadable_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for bad in ["{not json", "{\"version\": 7, \"targets\": {}}", "[]"] {
            std::fs::write(&path, bad).unwrap();
            let s = StateStore::open(&path);
            assert_eq!(s.get("r"), None, "{bad}");
            // And is replaced by a good one at the next write.
            s.put("r", &record("a"));
            assert!(s.flush());
            assert_eq!(StateStore::open(&path).get("r"), Some(record("a")));
        }
        // A directory where the file should be: ignored at load, write errors are not fatal.
        let d = dir.path().join("adir");
        std::fs::create_dir(&d).unwrap();
        let s = StateStore::open(&d);
        s.put("r", &record("a"));
        assert!(!s.flush());
    }
}
