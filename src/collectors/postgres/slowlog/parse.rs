//! Slow-statement records of the three log formats (`stderr`, `csvlog`, `jsonlog`), and
//! the splitting of a byte stream into records.

use super::prefix::{PrefixTemplate, heuristic_db};
use super::{MAX_RECORD, SlowEntry};

/// Parses the message of a `LOG` record: `duration: 1234.567 ms  statement: …` (and the
/// `execute`, `parse`, `bind` and `fastpath function call` variants that
/// `log_min_duration_statement` produces). A bare `duration: 0.1 ms` from `log_duration`
/// and auto_explain's `duration: … ms  plan:` are not statements logged as slow.
pub fn parse_duration_message(msg: &str) -> Option<f64> {
    let rest = msg.strip_prefix("duration: ")?;
    let (number, rest) = rest.split_once(" ms  ")?;
    let ms: f64 = number.trim().parse().ok()?;
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    const KINDS: &[&str] = &[
        "statement: ",
        "execute ",
        "parse ",
        "bind ",
        "fastpath function call: ",
    ];
    KINDS.iter().any(|k| rest.starts_with(k)).then_some(ms)
}

/// Parses one stderr line. With the server's prefix template the database comes from
/// `%d`; without one (or when the line does not fit it) the line is searched for
/// `LOG:  duration: ` and a `db=` field.
pub fn parse_stderr_line(line: &str, prefix: Option<&PrefixTemplate>) -> Option<SlowEntry> {
    if line.starts_with(['\t', ' ']) {
        // Continuation of a multi-line statement text, never a record of its own.
        return None;
    }
    if let Some(t) = prefix
        && let Some((db, msg)) = t.match_log_line(line)
    {
        let duration_ms = parse_duration_message(msg)?;
        return Some(SlowEntry {
            datname: if t.has_database() { db } else { None },
            duration_ms,
        });
    }
    let (head, _) = line.split_once("LOG:  duration: ")?;
    let duration_ms = parse_duration_message(line.get(head.len() + "LOG:  ".len()..)?)?;
    Some(SlowEntry {
        datname: heuristic_db(head),
        duration_ms,
    })
}

/// Splits one CSV record (RFC 4180: `"` quotes, `""` escapes, newlines inside quotes).
/// `None` when the quotes do not balance: the record is incomplete by the rule that
/// [`split_records`] uses to find its end.
pub fn parse_csv_record(rec: &str) -> Option<Vec<String>> {
    if rec.bytes().filter(|&c| c == b'"').count() % 2 != 0 {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(rec.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Some(record.iter().map(str::to_string).collect()),
        // An empty record is one empty field.
        Ok(false) => Some(vec![String::new()]),
        Err(_) => None,
    }
}

/// Parses one csvlog record: `database_name` is field 2, `error_severity` 11, `message` 13.
pub fn parse_csv_line(rec: &str) -> Option<SlowEntry> {
    let fields = parse_csv_record(rec)?;
    if fields.get(11).map(String::as_str) != Some("LOG") {
        return None;
    }
    Some(SlowEntry {
        datname: Some(fields.get(2)?.clone()),
        duration_ms: parse_duration_message(fields.get(13)?)?,
    })
}

/// Parses one jsonlog record (`dbname`, `error_severity`, `message`).
pub fn parse_json_line(rec: &str) -> Option<SlowEntry> {
    let v: serde_json::Value = serde_json::from_str(rec.trim()).ok()?;
    if v.get("error_severity")?.as_str()? != "LOG" {
        return None;
    }
    let duration_ms = parse_duration_message(v.get("message")?.as_str()?)?;
    Some(SlowEntry {
        datname: Some(
            v.get("dbname")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_string(),
        ),
        duration_ms,
    })
}

/// True when a record starts like a csvlog record: a timestamp (`2024-05-01 12:00:00.123
/// UTC`) directly followed by a comma.
pub fn looks_like_csv_start(b: &[u8]) -> bool {
    let head = b.get(..64).unwrap_or(b);
    let Some([y0, y1, y2, y3, b'-', ..]) = head.first_chunk::<11>() else {
        return false;
    };
    if ![y0, y1, y2, y3].iter().all(|d| d.is_ascii_digit()) {
        return false;
    }
    let Some(ts) = head
        .split(|&c| c == b',')
        .next()
        .filter(|ts| ts.len() < head.len())
    else {
        return false;
    };
    ts.iter().filter(|&&c| c == b' ').count() <= 2 && !ts.contains(&b'[')
}

/// Parses one record of any format.
pub fn parse_record(rec: &str, prefix: Option<&PrefixTemplate>) -> Option<SlowEntry> {
    if rec.starts_with('{') {
        parse_json_line(rec)
    } else if looks_like_csv_start(rec.as_bytes()) {
        parse_csv_line(rec)
    } else {
        parse_stderr_line(rec, prefix)
    }
}

/// Takes complete records off the front of `buf` (csvlog records end at a newline outside
/// quotes; stderr and jsonlog records at a newline). Incomplete data stays in `buf`;
/// garbage without an end beyond `MAX_RECORD` (1 MiB) is dropped line by line.
pub fn split_records(buf: &mut Vec<u8>) -> Vec<String> {
    let mut out = Vec::new();
    let _ = split_records_into(buf, &mut out);
    out
}

/// [`split_records`] into `out`; returns the first bytes (at most [`MAX_RECORD`]) of a
/// record dropped because no end came within [`MAX_RECORD`] and no newline either: the
/// caller then knows it sits in the middle of an over-long line and must skip to the next
/// newline before reading records again.
pub(super) fn split_records_into(buf: &mut Vec<u8>, out: &mut Vec<String>) -> Option<Vec<u8>> {
    let mut dropped = None;
    let mut start = 0;
    loop {
        let rest = buf.get(start..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        let end = if looks_like_csv_start(rest) {
            let mut in_quotes = false;
            let mut end = None;
            for (i, &c) in rest.iter().enumerate() {
                match c {
                    b'"' => in_quotes = !in_quotes,
                    b'\n' if !in_quotes => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            rest.iter().position(|&c| c == b'\n')
        };
        match end {
            Some(e) => {
                out.push(String::from_utf8_lossy(rest.get(..e).unwrap_or_default()).into_owned());
                start += e + 1;
            }
            None if rest.len() > MAX_RECORD => {
                // No end in sight: drop the first line and resynchronise.
                match rest.iter().position(|&c| c == b'\n') {
                    Some(nl) => start += nl + 1,
                    None => {
                        dropped = Some(rest.iter().take(MAX_RECORD).copied().collect());
                        start = buf.len();
                    }
                }
            }
            None => break,
        }
    }
    buf.drain(..start);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_messages() {
        assert_eq!(
            parse_duration_message("duration: 1201.234 ms  statement: SELECT pg_sleep(1.2)"),
            Some(1201.234)
        );
        assert_eq!(
            parse_duration_message("duration: 1500.000 ms  execute <unnamed>: SELECT 1"),
            Some(1500.0)
        );
        assert_eq!(
            parse_duration_message("duration: 2.5 ms  parse s1: SELECT 1"),
            Some(2.5)
        );
        assert_eq!(
            parse_duration_message("duration: 3 ms  bind s1: SELECT 1"),
            Some(3.0)
        );
        assert_eq!(
            parse_duration_message(
                "duration: 3.1 ms  fastpath function call: \"lo_open\" (OID 952)"
            ),
            Some(3.1)
        );
        // log_duration's bare line and auto_explain are not slow statements.
        assert_eq!(parse_duration_message("duration: 0.051 ms"), None);
        assert_eq!(
            parse_duration_message("duration: 1200.1 ms  plan:\n Seq Scan"),
            None
        );
        assert_eq!(
            parse_duration_message("duration: NaN ms  statement: x"),
            None
        );
        assert_eq!(
            parse_duration_message("duration: -1 ms  statement: x"),
            None
        );
        assert_eq!(parse_duration_message("statement: SELECT 1"), None);
        assert_eq!(
            parse_duration_message("duration: abc ms  statement: x"),
            None
        );
    }

    #[test]
    fn stderr_with_database_in_prefix() {
        let t = PrefixTemplate::parse("%m [%p] %q%u@%d ");
        assert!(t.has_database());
        let e = parse_stderr_line(
            "2024-05-01 12:00:00.123 +07 [4242] app@my db LOG:  duration: 1201.5 ms  statement: SELECT pg_sleep(1.2)",
            Some(&t),
        )
        .unwrap();
        assert_eq!(e.datname.as_deref(), Some("my db"));
        assert_eq!(e.duration_ms, 1201.5);
        // Other severities and plain statements are not counted.
        assert_eq!(
            parse_stderr_line(
                "2024-05-01 12:00:00.123 +07 [4242] app@db ERROR:  duration: 1 ms  statement: x",
                Some(&t)
            ),
            None
        );
        assert_eq!(
            parse_stderr_line(
                "2024-05-01 12:00:00.123 +07 [4242] app@db LOG:  statement: SELECT 1",
                Some(&t)
            ),
            None
        );
    }

    #[test]
    fn stderr_prefix_variants() {
        let t = PrefixTemplate::parse("%t [%p-%l] user=%u,db=%d,app=%a,client=%h ");
        let e = parse_stderr_line(
            "2024-05-01 12:00:00 UTC [99-3] user=u,db=shop,app=psql,client=127.0.0.1 LOG:  duration: 5000.1 ms  execute S_1: SELECT 1",
            Some(&t),
        )
        .unwrap();
        assert_eq!(e.datname.as_deref(), Some("shop"));
        // Padding and %% are understood.
        let t = PrefixTemplate::parse("%%%-10d|");
        let e =
            parse_stderr_line("%shop      |LOG:  duration: 1 ms  statement: x", Some(&t)).unwrap();
        assert_eq!(e.datname.as_deref(), Some("shop"));
        // Without %d the database is unknown.
        let t = PrefixTemplate::parse("%m [%p] ");
        assert!(!t.has_database());
        let e = parse_stderr_line(
            "2024-05-01 12:00:00.123 UTC [7] LOG:  duration: 1000.001 ms  statement: SELECT 2",
            Some(&t),
        )
        .unwrap();
        assert_eq!(e.datname, None);
        assert_eq!(e.duration_ms, 1000.001);
        // Empty prefix.
        let t = PrefixTemplate::parse("");
        assert!(parse_stderr_line("LOG:  duration: 1 ms  statement: x", Some(&t)).is_some());
    }

    #[test]
    fn stderr_without_known_prefix_uses_heuristics() {
        let e = parse_stderr_line(
            "2024-05-01 12:00:00 UTC [1] db=orders,user=x LOG:  duration: 1100 ms  statement: SELECT 1",
            None,
        )
        .unwrap();
        assert_eq!(e.datname.as_deref(), Some("orders"));
        let e = parse_stderr_line(
            "2024-05-01 12:00:00 UTC [1] LOG:  duration: 1100 ms  statement: SELECT 1",
            None,
        )
        .unwrap();
        assert_eq!(e.datname, None);
        // A prefix that does not fit the line falls back to searching.
        let t = PrefixTemplate::parse("[%p] %d: ");
        let e = parse_stderr_line(
            "2024-05-01 LOG:  duration: 1100 ms  statement: SELECT 1",
            Some(&t),
        )
        .unwrap();
        assert_eq!(e.datname, None);
        // Continuation lines of a multi-line statement never count.
        assert_eq!(
            parse_stderr_line("\tLOG:  duration: 5 ms  statement: x", None),
            None
        );
    }

    #[test]
    fn csv_records() {
        let rec = "2024-05-01 12:00:00.123 +07,\"app\",\"shop\",4242,\"127.0.0.1:5000\",6630a1b0.1092,3,\"SELECT\",2024-05-01 11:59:58 +07,3/12,0,LOG,00000,\"duration: 1201.234 ms  statement: SELECT pg_sleep(1.2),\n  'a \"\"quoted\"\" text'\",,,,,,,,\"psql\",\"client backend\",,0";
        assert!(looks_like_csv_start(rec.as_bytes()));
        let e = parse_record(rec, None).unwrap();
        assert_eq!(e.datname.as_deref(), Some("shop"));
        assert_eq!(e.duration_ms, 1201.234);
        let f = parse_csv_record(rec).unwrap();
        assert!(f[13].contains("'a \"quoted\" text'"));
        // Unbalanced quotes, too few fields, other severities.
        assert_eq!(parse_csv_record("a,\"b"), None);
        assert_eq!(parse_csv_line("2024-05-01 12:00:00 UTC,a,b"), None);
        let err = rec.replace(",LOG,", ",ERROR,");
        assert_eq!(parse_record(&err, None), None);
    }

    #[test]
    fn json_records() {
        let rec = r#"{"timestamp":"2024-05-01 12:00:00.123 UTC","user":"app","dbname":"shop","pid":42,"error_severity":"LOG","message":"duration: 1300.5 ms  statement: SELECT pg_sleep(1.3)","backend_type":"client backend"}"#;
        let e = parse_record(rec, None).unwrap();
        assert_eq!(e.datname.as_deref(), Some("shop"));
        assert_eq!(e.duration_ms, 1300.5);
        assert_eq!(parse_record("{garbage", None), None);
        assert_eq!(
            parse_record(
                r#"{"error_severity":"LOG","message":"checkpoint starting"}"#,
                None
            ),
            None
        );
    }

    #[test]
    fn stderr_lines_are_not_csv() {
        assert!(!looks_like_csv_start(
            b"2024-05-01 12:00:00.123 UTC [42] LOG:  duration: 1 ms  statement: SELECT 1, 2"
        ));
        assert!(!looks_like_csv_start(b"LOG:  x,y"));
        assert!(looks_like_csv_start(b"2024-05-01 12:00:00.123 UTC,,"));
    }

    #[test]
    fn records_split_across_reads_and_garbage() {
        let mut buf = b"line one\n2024-05-01 12:00:00 UTC,\"a\",\"x\ny\"\nrest".to_vec();
        let recs = split_records(&mut buf);
        assert_eq!(
            recs,
            vec!["line one", "2024-05-01 12:00:00 UTC,\"a\",\"x\ny\""]
        );
        assert_eq!(buf, b"rest");
        // An unterminated csv record waits for more data...
        let mut buf = b"2024-05-01 12:00:00 UTC,\"open\n".to_vec();
        assert!(split_records(&mut buf).is_empty());
        assert!(!buf.is_empty());
        // ...but not forever.
        let mut buf = b"2024-05-01 12:00:00 UTC,\"open\n".to_vec();
        buf.extend(std::iter::repeat_n(b'x', MAX_RECORD + 10));
        buf.extend_from_slice(b"\nnext line\n");
        let recs = split_records(&mut buf);
        assert!(recs.iter().any(|r| r == "next line"), "{}", recs.len());
        // Binary garbage never panics.
        let mut buf = vec![0xff, 0xfe, b'\n', 0, 1, 2, b'"', b'\n'];
        for r in split_records(&mut buf) {
            let _ = parse_record(&r, None);
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic generator over the characters that matter to the parsers.
        let alphabet: &[u8] = b"\"\n\t ,{}:%-0123456789.LOGdurationmsstatement\xff\xc3\xa9[]@=db";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let t = PrefixTemplate::parse("%m [%p] %q%u@%d ");
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 300) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            if x.is_multiple_of(3) {
                buf.splice(0..0, b"2024-05-01 12:00:00 UTC,".iter().copied());
            }
            for rec in split_records(&mut buf) {
                let _ = parse_record(&rec, Some(&t));
                let _ = parse_record(&rec, None);
            }
        }
        let _ = PrefixTemplate::parse("%");
        let _ = PrefixTemplate::parse("%-");
        let _ = PrefixTemplate::parse("%%%d%");
    }
}
