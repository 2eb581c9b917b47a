//! Whether to try again after a failed attempt, and after how long.

use core::time::Duration;

use crate::error::{SendError, Transient};
use crate::limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Retry(Duration),
    Stop,
}

/// Decides after failed attempt number `attempt` (1-based).
///
/// Only transient failures are retried; every request carries the call's `local_id`,
/// so even a retry after a 5xx or a lost answer cannot create a second message. A
/// server-given `Retry-After` is honoured; otherwise the wait is drawn uniformly below
/// an exponentially growing ceiling ("full jitter"), so that many clients throttled at
/// once do not come back at once. A wait longer than [`limits::MAX_WAIT`] or than the
/// time left stops the call instead: the caller can schedule that retry better than a
/// blocked component can.
pub fn decide(
    error: &SendError,
    attempt: u32,
    backoff_base: Duration,
    jitter: u64,
    remaining: Duration,
    retry_after: Option<Duration>,
) -> Decision {
    let SendError::Transient(transient) = error else {
        return Decision::Stop;
    };
    let server_wait = match transient {
        Transient::RateLimited(_) | Transient::Server(_) => retry_after,
        Transient::Timeout(_) | Transient::Connection(_) => None,
        // A 2xx with a broken body or a redirect will not mend itself in a second.
        Transient::InvalidResponse(_) => return Decision::Stop,
    };
    let wait = server_wait.unwrap_or_else(|| backoff(attempt, backoff_base, jitter));
    if wait > limits::MAX_WAIT || wait >= remaining {
        Decision::Stop
    } else {
        Decision::Retry(wait)
    }
}

/// Full jitter: uniform in `[0, min(MAX_WAIT, base * 2^(attempt-1))]`.
pub fn backoff(attempt: u32, base: Duration, jitter: u64) -> Duration {
    let ceiling = base
        .checked_mul(1u32 << attempt.saturating_sub(1).min(20))
        .unwrap_or(limits::MAX_WAIT)
        .min(limits::MAX_WAIT);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(if millis == 0 {
        0
    } else {
        jitter % (millis + 1)
    })
}

/// Reads `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in
/// the past means no wait; anything unreadable is ignored.
pub fn parse_retry_after(value: &str, unix_time: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(Duration::from_secs(at.saturating_sub(unix_time)))
}

/// Parses the IMF-fixdate form, `Sun, 06 Nov 1994 08:49:37 GMT`, to Unix seconds.
pub fn parse_http_date(value: &str) -> Option<u64> {
    let (_, rest) = crate::text::split_once(value, ", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year: u64 = year.parse().ok().filter(|y| *y >= 1970)?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, Permanent};

    fn rate_limited() -> SendError {
        SendError::Transient(Transient::RateLimited(ApiError {
            status: 429,
            message: String::new(),
            request_id: None,
            body: String::new(),
        }))
    }

    #[test]
    fn retry_after_is_honoured_within_the_bounds() {
        let base = Duration::from_millis(500);
        let long = Duration::from_secs(600);
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            decide(&rate_limited(), 1, base, 0, long, wait),
            Decision::Retry(Duration::from_secs(3))
        );
        assert_eq!(
            decide(&rate_limited(), 1, base, 0, Duration::from_secs(2), wait),
            Decision::Stop
        );
        let too_long = Some(limits::MAX_WAIT + Duration::from_secs(1));
        assert_eq!(
            decide(&rate_limited(), 1, base, 0, long, too_long),
            Decision::Stop
        );
        assert_eq!(
            decide(&rate_limited(), 1, base, 7, long, None),
            Decision::Retry(Duration::from_millis(7))
        );
    }

    #[test]
    fn permanent_failures_and_broken_answers_are_not_retried() {
        let base = Duration::from_millis(500);
        let long = Duration::from_secs(600);
        let config = SendError::Permanent(Permanent::Configuration(String::new()));
        assert_eq!(decide(&config, 1, base, 0, long, None), Decision::Stop);
        let broken = SendError::Transient(Transient::InvalidResponse(ApiError {
            status: 200,
            message: String::new(),
            request_id: None,
            body: String::new(),
        }));
        assert_eq!(decide(&broken, 1, base, 0, long, None), Decision::Stop);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn http_dates_convert_to_unix_time() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Thu, 03 Dec 2026 18:10:00 GMT"),
            Some(1_796_321_400)
        );
        assert_eq!(parse_http_date("Thu, 03 Dec 2026 18:10:00 PST"), None);
    }

    #[test]
    fn backoff_ceiling_doubles_and_is_capped() {
        let base = Duration::from_millis(500);
        assert!(backoff(1, base, 1_000_000) <= Duration::from_millis(500));
        assert!(backoff(3, base, 1_000_000) <= Duration::from_millis(2000));
        assert!(backoff(30, base, u64::MAX) <= limits::MAX_WAIT);
        assert_eq!(backoff(2, base, 1000), Duration::from_millis(1000));
        assert_eq!(backoff(2, base, 1001), Duration::ZERO);
    }
}
