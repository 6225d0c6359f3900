//! Prometheus-style durations (`500ms`, `10s`, `5m`, `1h30m`) for flags and the YAML config.
//!
//! Every number needs a unit, as in Prometheus (`5` is an error, `5s` is meant); only `0`
//! stands alone. Fractions (`1.5s`) are accepted. Parsing is exact integer arithmetic on
//! nanoseconds, checked at every step, and the result never exceeds [`MAX`], the range of
//! Prometheus' `model.Duration` (about 292 years). Callers cap timeouts and intervals
//! further ([`crate::config::MAX_TIMEOUT`], [`crate::config::MAX_INTERVAL`]).

use std::time::Duration;

/// Largest duration accepted: `i64::MAX` nanoseconds, what Prometheus' `model.Duration`
/// (and Go's `time.Duration`) can hold, about 292 years.
pub const MAX: Duration = Duration::from_nanos(i64::MAX as u64);

/// Units and their length in nanoseconds, longest name first where names share a prefix.
const UNITS: &[(&str, u128)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    ("d", 86_400 * 1_000_000_000),
    ("w", 7 * 86_400 * 1_000_000_000),
    ("y", 365 * 86_400 * 1_000_000_000),
];

/// Fraction digits beyond this many are ignored (they are below a nanosecond for every
/// unit, and keeping the product within `u128`).
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses a Prometheus duration such as `10s`, `1m30s`, `250ms` or `1.5h`.
///
/// Errors (never panics) on an empty string, a number without a unit, an unknown unit,
/// a negative or malformed number, or a total above [`MAX`].
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let max_nanos = MAX.as_nanos();
    let too_large = || format!("duration {input:?} is above the maximum of 292y");
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest
            .split_at_checked(number_len)
            .ok_or_else(|| format!("invalid duration {input:?}"))?;
        if number.is_empty() {
            return Err(format!(
                "invalid duration {input:?}: expected a number such as 5s or 1m30s"
            ));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after
            .split_at_checked(unit_len)
            .ok_or_else(|| format!("invalid duration {input:?}"))?;
        if unit.is_empty() {
            return Err(format!(
                "duration {input:?} lacks a unit: write e.g. {number}s (units: ms, s, m, h, d, w, y)"
            ));
        }
        let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {unit:?} in duration {input:?} (units: ms, s, m, h, d, w, y)"
            ));
        };
        let nanos = component_nanos(number, unit_nanos)
            .ok_or_else(|| format!("invalid number {number:?} in duration {input:?}"))?
            .ok_or_else(too_large)?;
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= max_nanos)
            .ok_or_else(too_large)?;
        rest = next;
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| too_large())
}

/// `number` (digits, at most one `.`) times `unit_nanos`. `None` when malformed,
/// `Some(None)` when too large.
fn component_nanos(number: &str, unit_nanos: u128) -> Option<Option<u128>> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let int_value = if int.is_empty() {
        0
    } else {
        match int.parse::<u128>() {
            Ok(v) => v,
            // Only digits, so a parse failure means too many of them.
            Err(_) => return Some(None),
        }
    };
    let frac = frac.get(..MAX_FRACTION_DIGITS).unwrap_or(frac);
    let frac_nanos = if frac.is_empty() {
        0
    } else {
        let digits = u32::try_from(frac.len()).ok()?;
        let value = frac.parse::<u128>().ok()?;
        value.checked_mul(unit_nanos)? / 10u128.checked_pow(digits)?
    };
    Some(
        int_value
            .checked_mul(unit_nanos)
            .and_then(|n| n.checked_add(frac_nanos)),
    )
}

/// Formats a duration the way it can be parsed back (`1.5s`, `250ms`).
pub fn format(d: Duration) -> String {
    if d.as_millis() < 1000 && d.subsec_millis() > 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("0.1s").unwrap(), Duration::from_millis(100));
        assert_eq!(parse(".5h").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse("1y").unwrap(), Duration::from_secs(365 * 86400));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "ten", "10x", "-1", "-1s", "s", "1..5s", ".s", "1e30", "1e3s", "1.5.2s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_is_required_and_the_error_shows_one() {
        let e = parse("5").unwrap_err();
        assert!(e.contains("5s"), "{e}");
        assert!(parse("1.5").is_err());
        assert!(parse("1m30").is_err());
    }

    #[test]
    fn huge_values_are_errors() {
        for bad in [
            "99999999999999999999d",
            "293y",
            "9999999999999999999999999999999999999999999s",
            "292y292y",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("maximum"), "{bad}: {e}");
        }
        assert!(parse("292y").is_ok());
        assert_eq!(
            parse("9223372036854775807ms").unwrap_err(),
            parse("293y")
                .unwrap_err()
                .replace("293y", "9223372036854775807ms")
        );
    }

    #[test]
    fn formats_round_trip() {
        for d in [Duration::from_millis(250), Duration::from_secs(10)] {
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
