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

/// `at` as `YYYY-MM-DD HH:MM UTC`, for messages (`?` outside 1970–9999).
pub fn format_utc(at: SystemTime) -> String {
    civil(at).map_or_else(
        || "?".to_owned(),
        |(y, mo, d, h, mi, _)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"),
    )
}
