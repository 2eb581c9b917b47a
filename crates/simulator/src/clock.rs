//! Wall-clock helpers: Unix seconds and the two date formats the server writes.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; a clock before 1970 reads as 0.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `2026-12-03T18:10:00Z`: the form the vendor answers in `date`.
pub(crate) fn iso8601(unix: i64) -> String {
    let (date, (h, m, s)) = split(unix);
    format!(
        "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}Z",
        date.year, date.month, date.day
    )
}

/// `Thu, 03 Dec 2026 18:10:00 GMT`: the HTTP `Date` header form (RFC 9110 IMF-fixdate).
pub(crate) fn http_date(unix: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, (h, m, s)) = split(unix);
    // 1970-01-01 was a Thursday, hence the table starting there.
    let weekday = WEEKDAYS[unix.div_euclid(86_400).rem_euclid(7) as usize];
    let month = MONTHS[(date.month - 1) as usize];
    format!(
        "{weekday}, {:02} {month} {:04} {h:02}:{m:02}:{s:02} GMT",
        date.day, date.year
    )
}

struct Date {
    year: i64,
    month: u32,
    day: u32,
}

fn split(unix: i64) -> (Date, (i64, i64, i64)) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    (
        civil_from_days(days),
        (secs / 3600, secs / 60 % 60, secs % 60),
    )
}

/// Proleptic Gregorian date from days since 1970-01-01, counting in 400-year eras whose
/// years start on 1 March so that the leap day falls at the end of each year.
fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_formats_as_the_first_of_january_1970() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn known_instants_format_in_both_forms() {
        // 2026-12-03T18:10:00Z, a Thursday.
        assert_eq!(iso8601(1_796_321_400), "2026-12-03T18:10:00Z");
        assert_eq!(http_date(1_796_321_400), "Thu, 03 Dec 2026 18:10:00 GMT");
        // A leap day.
        assert_eq!(iso8601(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(iso8601(951_868_799), "2000-02-29T23:59:59Z");
    }
}
