//! Following one server log file exactly: every complete record is counted once, across
//! rotation by rename (the old file is drained through its open descriptor while it still
//! has a name or still grows: a server logging to redirected stderr never reopens its log,
//! so it writes to the renamed file until restarted), `copytruncate`, and a truncation
//! that regrew past our offset before we looked.
//!
//! A file is recognised by its identity (device and inode of the path) and by a
//! fingerprint of its first bytes: the first [`FINGERPRINT_LEN`] bytes at offset 0 are
//! re-read on every poll and after every block read; when they no longer match what was
//! seen (or the file is shorter than our offset), the content was replaced in place and is
//! read again from its start. Blocks are verified before their records are counted, so a
//! truncation racing a read never counts bytes of the new content at the old offset.
//!
//! Reads are bounded: [`READ_BLOCK`] bytes at a time, [`MAX_READ_PER_POLL`] per file and
//! poll (the rest waits for the next poll). A line longer than
//! [`MAX_RECORD`](super::MAX_RECORD) is not kept whole: its head is parsed once (a stderr
//! duration line still counts, its statement text cut), the rest is skipped to the next
//! newline, and the lines after it count as usual.
//!
//! Lines written between our last poll and a `copytruncate` exist only in the copy, whose
//! name we do not know; the background poll (every quarter second) keeps that window short.

use super::{PrefixTemplate, SlowLogSnapshot};
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes read per file and poll at most (the rest is read by the next poll).
const MAX_READ_PER_POLL: u64 = 64 << 20;

/// Bytes read at once; pending data stays below `MAX_RECORD + READ_BLOCK`.
const READ_BLOCK: usize = 1 << 20;

/// How many leading bytes identify a file's content.
pub const FINGERPRINT_LEN: usize = 256;

/// How long a rotated-away file that was deleted is still drained after it last grew (the
/// server writes to its old descriptor until it reopens the log).
const DRAIN_ROTATED_FOR: Duration = Duration::from_secs(10);

/// Rotated-away files drained at once (one descriptor each); the oldest is dropped beyond
/// this.
const MAX_ROTATED: usize = 4;

/// Identity of a file: `(device, inode)`.
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// The first bytes of a file (at most [`FINGERPRINT_LEN`]).
fn head(file: &File) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; FINGERPRINT_LEN];
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..) {
        if rest.is_empty() {
            break;
        }
        match file.read_at(rest, n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// This many bytes were read (and their complete records counted).
    Bytes(u64),
    /// The content was replaced in place (truncated, rewritten): nothing more was counted.
    Replaced,
}

/// Where records go: the counts and the prefix to parse stderr lines with.
struct Sink<'a> {
    stats: &'a mut SlowLogSnapshot,
    prefix: Option<&'a PrefixTemplate>,
}

impl Sink<'_> {
    fn count(&mut self, records: Vec<String>) {
        for rec in records {
            self.stats.count_record(&rec, self.prefix);
        }
    }
}

/// One open log file and where we are in it.
struct Open {
    file: File,
    id: (u64, u64),
    /// Bytes of the file consumed (counted, or waiting in `pending`).
    offset: u64,
    /// The start of a record whose end has not been read yet.
    pending: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next newline.
    skipping: bool,
    /// The file's first bytes as last seen (grows up to [`FINGERPRINT_LEN`]).
    fingerprint: Vec<u8>,
}

impl Open {
    fn new(file: File, id: (u64, u64), offset: u64) -> std::io::Result<Open> {
        let fingerprint = head(&file)?;
        Ok(Open {
            file,
            id,
            offset,
            pending: Vec::new(),
            skipping: false,
            fingerprint,
        })
    }

    /// Whether the file still holds the content we have been reading (at least `offset`
    /// bytes and the same first bytes; `None` when not), and how many bytes there are to
    /// read now: for a regular file its length past `offset`, else as much as a read may
    /// take. Extends the fingerprint as the file grows.
    fn readable_now(&mut self) -> std::io::Result<Option<u64>> {
        let now = head(&self.file)?;
        let same_head = now.get(..self.fingerprint.len()) == Some(self.fingerprint.as_slice());
        let meta = self.file.metadata()?;
        if !same_head || meta.len() < self.offset {
            return Ok(None);
        }
        self.fingerprint = now;
        Ok(Some(if meta.is_file() {
            meta.len() - self.offset
        } else {
            READ_BLOCK as u64
        }))
    }

    /// Starts over at the beginning of the (new) content.
    fn restart(&mut self) {
        self.offset = 0;
        self.pending.clear();
        self.skipping = false;
        self.fingerprint.clear();
    }

    /// Where an interrupted read would resume: the start of the pending record.
    fn resume_offset(&self) -> u64 {
        self.offset.saturating_sub(self.pending.len() as u64)
    }

    /// Reads what was appended since the last read, at most `limit` bytes, block by
    /// block; each block is counted only after the file is confirmed unchanged.
    fn read_new(&mut self, limit: u64, sink: &mut Sink<'_>) -> std::io::Result<Read> {
        let Some(mut available) = self.readable_now()? else {
            return Ok(Read::Replaced);
        };
        // Sized to what the file holds now (nothing to allocate when nothing was
        // appended, the common case of a scrape), at most one block.
        let mut block = Vec::new();
        let mut total = 0u64;
        while total < limit && available > 0 {
            let want = usize::try_from((limit - total).min(available))
                .unwrap_or(READ_BLOCK)
                .min(READ_BLOCK);
            block.resize(want, 0);
            let n = match self.file.read_at(&mut block, self.offset) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match self.readable_now()? {
                None => return Ok(Read::Replaced),
                Some(left) => available = left.saturating_sub(n as u64),
            }
            self.offset += n as u64;
            total += n as u64;
            self.take(block.get(..n).unwrap_or_default(), sink);
        }
        Ok(Read::Bytes(total))
    }

    /// Splits freshly read bytes into records and counts the complete ones.
    fn take(&mut self, mut bytes: &[u8], sink: &mut Sink<'_>) {
        if self.skipping {
            match bytes.iter().position(|&c| c == b'\n') {
                Some(nl) => {
                    bytes = bytes.get(nl + 1..).unwrap_or_default();
                    self.skipping = false;
                }
                None => return,
            }
        }
        self.pending.extend_from_slice(bytes);
        let mut records = Vec::new();
        if let Some(cut) = super::split_records_into(&mut self.pending, &mut records) {
            // An over-long line: its head is a genuine line start (a stderr duration line
            // still parses); the rest of it is skipped.
            records.push(String::from_utf8_lossy(&cut).into_owned());
            self.skipping = true;
        }
        sink.count(records);
    }
}

/// Where reading starts when the file is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Resume {
    /// At its current end (what existed when the exporter started is history).
    AtEnd,
    /// At its beginning (a file that appeared after the exporter started is all new).
    FromStart,
    /// Where a read error left us, if it is still the same file; else from its start.
    At((u64, u64), u64, Vec<u8>),
}

/// A rotated-away file still being drained, and when it last grew.
struct Rotated {
    open: Open,
    last_growth: Instant,
}

/// Follows one server log file. See the module documentation.
pub struct LogFollower {
    path: PathBuf,
    current: Option<Open>,
    /// Files rotated away from, oldest first, drained while they still grow.
    rotated: VecDeque<Rotated>,
    /// Where to start when the path is (re)opened.
    resume: Resume,
    /// csvlog/jsonlog by its name (`.csv`, `.json`): records always name the database.
    structured: bool,
    prefix: Option<PrefixTemplate>,
    stats: SlowLogSnapshot,
    /// Bytes per file and poll ([`MAX_READ_PER_POLL`]; smaller in tests).
    read_cap: u64,
    /// How long a quiet rotated file is kept ([`DRAIN_ROTATED_FOR`]; shorter in tests).
    drain_for: Duration,
}

impl LogFollower {
    /// Opens the file and positions at its end: only what is logged from now on counts.
    pub fn new(path: &Path) -> LogFollower {
        let mut f = LogFollower {
            path: path.to_path_buf(),
            current: None,
            rotated: VecDeque::new(),
            resume: Resume::AtEnd,
            structured: path.extension().is_some_and(|e| e == "csv" || e == "json"),
            prefix: None,
            stats: SlowLogSnapshot::default(),
            read_cap: MAX_READ_PER_POLL,
            drain_for: DRAIN_ROTATED_FOR,
        };
        if let Err(e) = f.open() {
            if e.kind() == std::io::ErrorKind::NotFound {
                f.resume = Resume::FromStart;
            }
            f.fail(&e);
        }
        f
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the server's `log_line_prefix` (known after the first successful scrape).
    pub fn set_prefix(&mut self, prefix: &str) {
        if self.prefix.as_ref().is_none_or(|p| p.raw() != prefix) {
            self.prefix = Some(PrefixTemplate::parse(prefix));
        }
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> SlowLogSnapshot {
        let mut s = self.stats.clone();
        s.attributes_database = self.attributes_database();
        s
    }

    /// False when stderr lines are counted without a database: the file is not csvlog or
    /// jsonlog and the server's `log_line_prefix` has no `%d`.
    pub fn attributes_database(&self) -> bool {
        self.structured || self.prefix.as_ref().is_none_or(|p| p.has_database())
    }

    fn fail(&mut self, e: &std::io::Error) {
        self.stats.readable = false;
        self.stats.error = Some(format!("{}: {e}", self.path.display()));
    }

    /// Opens the path, positioned as [`Resume`] says; later opens of a new file start at
    /// its beginning.
    fn open(&mut self) -> std::io::Result<()> {
        let file = File::open(&self.path)?;
        let meta = file.metadata()?;
        let id = file_id(&meta);
        let resume = std::mem::replace(&mut self.resume, Resume::FromStart);
        let offset = match resume {
            Resume::AtEnd => meta.len(),
            Resume::FromStart => 0,
            Resume::At(last, off, _) if last != id || meta.len() < off => 0,
            Resume::At(_, off, fingerprint) => {
                // Same inode: resume only if it still starts as it did.
                let now = head(&file)?;
                if now.get(..fingerprint.len()) == Some(fingerprint.as_slice()) {
                    off
                } else {
                    0
                }
            }
        };
        self.current = Some(Open::new(file, id, offset)?);
        self.stats.readable = true;
        self.stats.error = None;
        Ok(())
    }

    /// Drains the rotated-away files; keeps each while it still has a name (logrotate
    /// renamed it; the server may still write to it), grew within `drain_for`, or has more
    /// to read than one poll takes.
    fn drain_rotated(&mut self) {
        let mut sink = Sink {
            stats: &mut self.stats,
            prefix: self.prefix.as_ref(),
        };
        let cap = self.read_cap;
        let drain_for = self.drain_for;
        self.rotated
            .retain_mut(|r| match r.open.read_new(cap, &mut sink) {
                Ok(Read::Bytes(n)) => {
                    if n > 0 {
                        r.last_growth = Instant::now();
                    }
                    use std::os::unix::fs::MetadataExt;
                    let linked = r.open.file.metadata().is_ok_and(|m| m.nlink() > 0);
                    linked || n >= cap || r.last_growth.elapsed() < drain_for
                }
                // Replaced or unreadable: it is not ours to read any more.
                Ok(Read::Replaced) | Err(_) => false,
            });
    }

    /// Moves the current file to the rotated ones, after reading what it holds now.
    fn retire_current(&mut self) {
        let Some(mut old) = self.current.take() else {
            return;
        };
        let mut sink = Sink {
            stats: &mut self.stats,
            prefix: self.prefix.as_ref(),
        };
        if !matches!(old.read_new(self.read_cap, &mut sink), Ok(Read::Bytes(_))) {
            return;
        }
        if self.rotated.len() >= MAX_ROTATED {
            self.rotated.pop_front();
        }
        self.rotated.push_back(Rotated {
            open: old,
            last_growth: Instant::now(),
        });
    }

    /// Reads everything new: drains rotated-away files, notices rotation (another inode
    /// under the path) and in-place replacement (truncation, rewrite: fingerprint or size),
    /// and counts the complete records. Never panics; I/O errors are kept in the snapshot.
    pub fn poll(&mut self) {
        if self.prefix.is_none() && !self.structured {
            // A stderr log cannot be attributed before the server's log_line_prefix is
            // known (the first successful scrape hands it over): leave the bytes in the
            // file until then. The open handle keeps a rotated file readable meanwhile.
            return;
        }
        self.drain_rotated();
        // Where the path points now.
        let on_disk = match std::fs::metadata(&self.path) {
            Ok(m) => Some(file_id(&m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                self.fail(&e);
                return;
            }
        };
        let current_id = self.current.as_ref().map(|c| c.id);
        match (current_id, on_disk) {
            (None, None) => {
                if self.resume == Resume::AtEnd {
                    // Missing now: whatever appears under the name later is new.
                    self.resume = Resume::FromStart;
                }
                self.stats.readable = false;
                self.stats.error = Some(format!("{}: not found", self.path.display()));
                return;
            }
            (None, Some(_)) => {
                if let Err(e) = self.open() {
                    self.fail(&e);
                    return;
                }
            }
            (Some(cur), Some(now)) if cur != now => {
                // Rotated: drain the old file first, keep draining it while the server
                // still writes to it, read the new one from its beginning.
                self.retire_current();
                self.resume = Resume::FromStart;
                if let Err(e) = self.open() {
                    self.fail(&e);
                    return;
                }
            }
            // Renamed away and not yet recreated: keep reading it; the new file is
            // noticed as a rotation when it appears. Or the same file as before.
            (Some(_), _) => {}
        }
        self.read_current();
    }

    /// Reads the current file; starts it over once when its content was replaced.
    fn read_current(&mut self) {
        let Some(cur) = &mut self.current else {
            return;
        };
        let mut sink = Sink {
            stats: &mut self.stats,
            prefix: self.prefix.as_ref(),
        };
        let mut result = cur.read_new(self.read_cap, &mut sink);
        if matches!(result, Ok(Read::Replaced)) {
            // Truncated or rewritten in place (copytruncate): everything in it is new.
            tracing::debug!(path = %self.path.display(), "Log file truncated, reading it from its start");
            cur.restart();
            result = cur.read_new(self.read_cap, &mut sink);
        }
        match result {
            Ok(_) => {
                self.stats.readable = true;
                self.stats.error = None;
            }
            Err(e) => {
                // Resume exactly here if the same file becomes readable again.
                if let Some(cur) = self.current.take() {
                    let at = cur.resume_offset();
                    self.resume = Resume::At(cur.id, at, cur.fingerprint);
                }
                self.fail(&e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
