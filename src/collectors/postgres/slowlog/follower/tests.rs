//! Tests of the log follower on temp files: rotation, truncation, fingerprints, caps.

use super::*;
use crate::collectors::postgres::slowlog::{MAX_DATABASES, OVERFLOW_DB};
use std::io::Write;

const SLOW: &str =
    "2024-05-01 12:00:00.123 UTC [1] u@db1 LOG:  duration: 1500.0 ms  statement: SELECT 1\n";
const FAST: &str = "2024-05-01 12:00:00.123 UTC [1] u@db1 LOG:  statement: SELECT 1\n";

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn total(f: &LogFollower) -> u64 {
    f.snapshot().per_db.values().map(|d| d.count).sum()
}

#[test]
fn follower_starts_at_end_and_never_double_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    append(&p, SLOW);
    append(&p, SLOW);
    let mut f = LogFollower::new(&p);
    f.set_prefix("%m [%p] %q%u@%d ");
    f.poll();
    assert_eq!(total(&f), 0, "history before start is not counted");
    append(&p, SLOW);
    append(&p, FAST);
    f.poll();
    f.poll();
    assert_eq!(total(&f), 1);
    assert_eq!(f.snapshot().per_db["db1"].count, 1);
    // A line written in two pieces counts once, when complete.
    let (a, b) = SLOW.split_at(40);
    append(&p, a);
    f.poll();
    assert_eq!(total(&f), 1);
    append(&p, b);
    f.poll();
    f.poll();
    assert_eq!(total(&f), 2);
    assert!(f.snapshot().readable);
}

#[test]
fn stderr_lines_wait_for_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = LogFollower::new(&p);
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 0, "not read before the prefix is known");
    f.set_prefix("%m [%p] %q%u@%d ");
    f.poll();
    assert_eq!(
        f.snapshot().per_db["db1"].count,
        1,
        "read and attributed then"
    );
}

#[test]
fn follower_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    append(&p, SLOW);
    let mut f = LogFollower::new(&p);
    f.set_prefix("%m [%p] %q%u@%d ");
    append(&p, SLOW);
    // logrotate "create": rename, then a new file under the same name; the server
    // writes a last line to the old file, then to the new one.
    let old = dir.path().join("pg.log.1");
    std::fs::rename(&p, &old).unwrap();
    f.poll(); // path missing: old file drained
    assert_eq!(total(&f), 1);
    append(&old, SLOW);
    append(&p, SLOW);
    append(&p, SLOW);
    f.poll();
    f.poll();
    assert_eq!(total(&f), 4);
    // Rotation noticed directly (no gap where the path is missing).
    std::fs::rename(&p, dir.path().join("pg.log.2")).unwrap();
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 5);
}

#[test]
fn follower_follows_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    append(&p, &SLOW.repeat(3));
    let mut f = LogFollower::new(&p);
    f.set_prefix("%m [%p] %q%u@%d ");
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 1);
    // copytruncate
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(0)
        .unwrap();
    f.poll();
    assert_eq!(total(&f), 1);
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 2);
}

#[test]
fn follower_reads_a_file_created_after_start_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("later.log");
    let mut f = LogFollower::new(&p);
    f.set_prefix("%m [%p] %q%u@%d ");
    f.poll();
    let s = f.snapshot();
    assert!(!s.readable);
    assert!(s.error.unwrap().contains("later.log"));
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 1);
    assert!(f.snapshot().readable);
}

#[test]
fn follower_counts_csv_and_json_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.csv");
    std::fs::write(&p, "").unwrap();
    let mut f = LogFollower::new(&p);
    append(
        &p,
        "2024-05-01 12:00:00.123 UTC,\"u\",\"a\",1,\"h\",s,1,\"SELECT\",2024-05-01 12:00:00 UTC,1/1,0,LOG,00000,\"duration: 2000 ms  statement: SELECT\n 1\",,,,,,,,\"\",\"client backend\",,0\n",
    );
    append(
        &p,
        "{\"dbname\":\"b\",\"error_severity\":\"LOG\",\"message\":\"duration: 1000.5 ms  statement: SELECT 2\"}\n",
    );
    f.poll();
    let s = f.snapshot();
    assert_eq!(s.per_db["a"].count, 1);
    assert_eq!(s.per_db["b"].count, 1);
    assert!(s.attributes_database);
}

#[test]
fn database_names_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.json");
    std::fs::write(&p, "").unwrap();
    let mut f = LogFollower::new(&p);
    let mut text = String::new();
    for i in 0..(MAX_DATABASES + 5) {
        text.push_str(&format!(
            "{{\"dbname\":\"d{i}\",\"error_severity\":\"LOG\",\"message\":\"duration: 1 ms  statement: x\"}}\n"
        ));
    }
    append(&p, &text);
    f.poll();
    let s = f.snapshot();
    assert_eq!(s.per_db.len(), MAX_DATABASES + 1);
    assert_eq!(s.per_db[OVERFLOW_DB].count, 5);
}

fn truncate(p: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(0)
        .unwrap();
}

fn following(p: &Path) -> LogFollower {
    let mut f = LogFollower::new(p);
    f.set_prefix("%m [%p] %q%u@%d ");
    f
}

#[test]
fn truncation_regrown_past_the_offset_is_read_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    append(&p, &FAST.repeat(2));
    let mut f = following(&p);
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 1);
    let offset = std::fs::metadata(&p).unwrap().len();
    // copytruncate, then the server writes 2 slow lines and more before we look: the
    // file is longer than our offset again, and its first slow line starts before it.
    truncate(&p);
    append(&p, SLOW);
    append(&p, SLOW);
    append(&p, &FAST.repeat(3));
    assert!(std::fs::metadata(&p).unwrap().len() > offset);
    f.poll();
    f.poll();
    assert_eq!(
        total(&f),
        3,
        "both new slow lines, nothing twice, no partial line"
    );
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 4);
}

#[test]
fn rewrite_of_the_same_length_is_noticed_by_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = following(&p);
    append(&p, SLOW);
    append(&p, FAST);
    f.poll();
    assert_eq!(total(&f), 1);
    // Same length, other content (FAST and SLOW swapped): only the size would say
    // nothing happened.
    let len = std::fs::metadata(&p).unwrap().len();
    truncate(&p);
    append(&p, FAST);
    append(&p, SLOW);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
    f.poll();
    assert_eq!(total(&f), 2);
    f.poll();
    assert_eq!(total(&f), 2);
}

#[test]
fn a_file_shorter_than_the_fingerprint_still_grows_normally() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "x\n").unwrap();
    let mut f = following(&p);
    for i in 1..=5 {
        append(&p, SLOW);
        f.poll();
        assert_eq!(total(&f), i);
    }
    assert!(std::fs::metadata(&p).unwrap().len() as usize > FINGERPRINT_LEN);
}

#[test]
fn renamed_file_is_drained_while_it_has_a_name_or_grows() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = following(&p);
    f.drain_for = Duration::from_millis(300);
    append(&p, SLOW);
    let old = dir.path().join("pg.log.1");
    std::fs::rename(&p, &old).unwrap();
    std::fs::write(&p, "").unwrap();
    // Not polled between the last write and the rename: the old file is finished first.
    append(&old, SLOW);
    f.poll();
    assert_eq!(total(&f), 2);
    // A server writing to its old descriptor (stderr redirection never reopens) keeps
    // being counted long after the rename, as long as it keeps writing.
    for i in 0..4 {
        std::thread::sleep(Duration::from_millis(150));
        append(&old, SLOW);
        f.poll();
        assert_eq!(total(&f), 3 + i);
    }
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 7);
    // Quiet for longer than drain_for but still there under its new name: the server may
    // write to it again (stderr redirection), so it is still read.
    std::thread::sleep(Duration::from_millis(400));
    f.poll();
    append(&old, SLOW);
    f.poll();
    assert_eq!(total(&f), 8);
    // Deleted (logrotate compressed it) and quiet for longer than drain_for: dropped.
    std::fs::remove_file(&old).unwrap();
    f.poll();
    assert_eq!(f.rotated.len(), 1, "still drained right after the deletion");
    std::thread::sleep(Duration::from_millis(400));
    f.poll();
    assert!(f.rotated.is_empty());
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 9);
}

#[test]
fn rotated_files_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = following(&p);
    for i in 0..(MAX_ROTATED + 3) {
        append(&p, SLOW);
        std::fs::rename(&p, dir.path().join(format!("pg.log.{i}"))).unwrap();
        std::fs::write(&p, "").unwrap();
        f.poll();
        assert_eq!(total(&f), i as u64 + 1);
        assert!(f.rotated.len() <= MAX_ROTATED);
    }
}

#[test]
fn reads_are_capped_per_poll_and_the_count_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = following(&p);
    f.read_cap = 50;
    append(&p, &format!("{SLOW}{FAST}").repeat(10));
    f.poll();
    assert!(total(&f) <= 1, "one poll reads at most 50 bytes");
    let mut polls = 0;
    while total(&f) < 10 && polls < 1000 {
        f.poll();
        polls += 1;
    }
    for _ in 0..5 {
        f.poll();
    }
    assert_eq!(total(&f), 10);
}

#[test]
fn an_over_long_line_is_skipped_and_the_rest_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = following(&p);
    // A 3 MiB line of garbage that contains what looks like a duration line in its
    // middle and at its end: never counted, never taken as a line start.
    let fake = "2024-05-01 12:00:00 UTC [1] u@db1 LOG:  duration: 9 ms  statement: x";
    let mut long = "y".repeat(super::super::MAX_RECORD + 10);
    long.push_str(fake);
    long.push_str(&"z".repeat(2 * READ_BLOCK));
    long.push_str(fake);
    long.push('\n');
    append(&p, SLOW);
    append(&p, &long);
    append(&p, SLOW);
    for _ in 0..3 {
        f.poll();
    }
    assert_eq!(total(&f), 2);
    assert!(f.current.as_ref().unwrap().pending.is_empty());
    // A slow statement whose text is longer than the cap still counts (its head is a
    // complete duration header), once.
    let mut huge = SLOW.trim_end().to_string();
    huge.push_str(&" OR 1=1".repeat(400_000));
    huge.push('\n');
    append(&p, &huge);
    append(&p, SLOW);
    for _ in 0..3 {
        f.poll();
    }
    assert_eq!(total(&f), 4);
}

#[test]
fn a_read_error_resumes_where_it_stopped_only_on_the_same_content() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pg.log");
    std::fs::write(&p, "").unwrap();
    let mut f = following(&p);
    append(&p, SLOW);
    f.poll();
    let cur = f.current.take().unwrap();
    f.resume = Resume::At(cur.id, cur.resume_offset(), cur.fingerprint.clone());
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 2, "resumed at its offset");
    let cur = f.current.take().unwrap();
    f.resume = Resume::At(cur.id, cur.resume_offset(), cur.fingerprint.clone());
    // Meanwhile rewritten with other first bytes but longer: read from the start.
    truncate(&p);
    append(&p, FAST);
    append(&p, SLOW);
    append(&p, SLOW);
    f.poll();
    assert_eq!(total(&f), 4);
}
