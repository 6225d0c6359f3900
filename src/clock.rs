//! Wall-clock time as the exporter reports it: Unix seconds as `f64`, the unit of every
//! `*_timestamp_seconds` metric and of the ages the checks compute.

use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::macros::format_description;

/// Current Unix time in seconds (0 when the system clock is before 1970).
pub fn unix_now() -> f64 {
    unix_seconds(SystemTime::now())
}

/// A point in time as Unix seconds (0 before 1970).
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A Unix time as RFC 3339 UTC with milliseconds (`2026-11-30T12:00:03.042Z`), the
/// timestamp of every log line and report. Out-of-range times print as the epoch.
pub fn rfc3339(secs: i64, millis: u32) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc_datetime(secs, millis)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_string())
}

/// A point in time as `2026-11-30 12:00:03 UTC`, for people (status page, reports).
pub fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    utc_datetime(secs, 0)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01 00:00:00 UTC".to_string())
}

fn utc_datetime(secs: i64, millis: u32) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.replace_millisecond(u16::try_from(millis).unwrap_or(0))
                .ok()
        })
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unix_seconds_of_known_points() {
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1.5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0.0);
        assert!(unix_now() > 1_600_000_000.0);
    }

    #[test]
    fn formats_rfc3339_and_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_962_454, 12), "2026-11-29T14:27:34.012Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_795_962_454)),
            "2026-11-29 14:27:34 UTC"
        );
    }
}
