//! Wall-clock time as the exporter reports it: Unix seconds as `f64`, the unit of every
//! `*_timestamp_seconds` metric and of the ages the checks compute.

use std::time::{SystemTime, UNIX_EPOCH};

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
}
