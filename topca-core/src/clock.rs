//! Injected time: the core never reads the system clock directly.

use std::time::{Duration, SystemTime};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always answers the same instant, for tests and reproducible runs.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl FixedClock {
    /// A fixed clock at `seconds` after the Unix epoch.
    pub fn at_unix(seconds: u64) -> Self {
        Self(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// Year, month, day, hour, minute, second (UTC) of `at`, for 1970 to 9999.
pub(crate) fn civil(at: SystemTime) -> Option<(u64, u64, u64, u64, u64, u64)> {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year <= 9999).then_some((year, month, day, rest / 3600, rest / 60 % 60, rest % 60))
}

/// Midnight (UTC) at the start of the day `text` names (`YYYY-MM-DD`, 1970 to
/// 9999, surrounding blanks ignored), or `None` if it names no such day; the
/// inverse of the date part of [`format_utc`], for date filters.
pub fn parse_utc_day(text: &str) -> Option<SystemTime> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil, for days since 1970-01-01.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(days * 86_400))
}

/// A DER Time as RFC 5280 wants it (§4.1.2.5, §5.1.2.4): UTCTime
/// `YYMMDDHHMMSSZ` through 2049, GeneralizedTime `YYYYMMDDHHMMSSZ` from 2050,
/// whole seconds; tag and length included (15 or 17 octets).
pub(crate) struct DerTime {
    bytes: [u8; 17],
    len: usize,
}

impl DerTime {
    /// Encodes `at`; `None` before 1970 or after 9999.
    pub(crate) fn new(at: SystemTime) -> Option<Self> {
        let (year, month, day, hour, minute, second) = civil(at)?;
        let (tag, year_digits) = if year <= 2049 { (0x17, 2) } else { (0x18, 4) };
        let fields = [
            (year % 10u64.pow(year_digits), year_digits),
            (month, 2),
            (day, 2),
            (hour, 2),
            (minute, 2),
            (second, 2),
        ];
        let digits = fields.into_iter().flat_map(|(value, width)| {
            (0..width)
                .rev()
                .map(move |i| b'0' + (value / 10u64.pow(i) % 10) as u8)
        });
        let content_len = year_digits as u8 + 11;
        let mut bytes = [0u8; 17];
        let encoding = [tag, content_len].into_iter().chain(digits).chain([b'Z']);
        for (slot, octet) in bytes.iter_mut().zip(encoding) {
            *slot = octet;
        }
        Some(Self {
            bytes,
            len: 2 + usize::from(content_len),
        })
    }

    /// The encoding.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// `at` as `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC), for files read by programs
/// (`?` outside 1970–9999).
pub fn format_rfc3339(at: SystemTime) -> String {
    civil(at).map_or_else(
        || "?".to_owned(),
        |(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    )
}

/// `at` as an HTTP date (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`),
/// for `Last-Modified` and `Expires` (`?` outside 1970–9999).
pub fn format_http_date(at: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let weekday = DAYS.get((days % 7) as usize);
    match civil(at) {
        Some((y, mo, d, h, mi, s)) => {
            let month = MONTHS.get((mo as usize).wrapping_sub(1));
            match (weekday, month) {
                (Some(wd), Some(month)) => {
                    format!("{wd}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} GMT")
                }
                _ => "?".to_owned(),
            }
        }
        None => "?".to_owned(),
    }
}

/// `at` as `YYYY-MM-DD HH:MM UTC`, for messages (`?` outside 1970–9999).
pub fn format_utc(at: SystemTime) -> String {
    civil(at).map_or_else(
        || "?".to_owned(),
        |(y, mo, d, h, mi, _)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{format_http_date, format_rfc3339, parse_utc_day};

    #[test]
    fn http_dates_are_imf_fixdate() {
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(format_http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            format_http_date(UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn a_day_parses_to_its_midnight_and_bad_days_are_refused() {
        assert_eq!(parse_utc_day("1970-01-01"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_utc_day(" 2024-02-29 "),
            Some(UNIX_EPOCH + Duration::from_secs(19_782 * 86_400))
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-04-31",
            "1969-12-31",
            "2024-1",
            "x",
            "",
        ] {
            assert_eq!(parse_utc_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_gives_date_and_time_to_the_second_in_utc() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(format_rfc3339(at), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
