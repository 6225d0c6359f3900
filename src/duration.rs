//! Prometheus-style durations (`500ms`, `10s`, `5m`, `1h30m`) for flags and the YAML config.

use std::time::Duration;

/// Parses a Prometheus duration such as `10s`, `1m30s` or `250ms`. A bare number is seconds.
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("invalid duration {input:?}"))
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {input:?} lacks a unit (ms, s, m, h, d)"))?;
        if digits == 0 {
            return Err(format!("invalid duration {input:?}"));
        }
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {input:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86400.0,
            "w" => value * 7.0 * 86400.0,
            _ => return Err(format!("unknown unit {unit:?} in duration {input:?}")),
        };
        total += Duration::from_secs_f64(secs);
    }
    Ok(total)
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
        assert_eq!(parse("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("1.5").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("ten").is_err());
        assert!(parse("10x").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("s").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for d in [Duration::from_millis(250), Duration::from_secs(10)] {
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
