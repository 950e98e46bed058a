//! Who and when, for the history's audit columns.

use std::time::{SystemTime, UNIX_EPOCH};

/// `user@host` of the running process: the user the operating system runs it as (so a
/// container or a service without `USER` is still named), else `USER`/`USERNAME`.
pub fn applied_by() -> String {
    let user = whoami::username()
        .ok()
        .filter(|user| !user.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{user}@{}", host_name())
}

/// The machine's host name, or `unknown`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| whoami::hostname().ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ` (sorts as text).
pub fn now_utc() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(since_epoch.as_secs() as i64, since_epoch.subsec_millis())
}

/// Formats seconds since the Unix epoch as UTC, with milliseconds.
pub fn format_utc(seconds: i64, millis: u32) -> String {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1763713045` → 2025-11-21 08:17:25
        assert_eq!(format_utc(1_763_713_045, 7), "2025-11-21T08:17:25.007Z");
        // a leap day: `date -u -d @1709208000` → 2024-02-29 12:00:00
        assert_eq!(format_utc(1_709_208_000, 0), "2024-02-29T12:00:00.000Z");
    }

    #[test]
    fn applied_by_has_user_and_host() {
        assert!(applied_by().contains('@'));
    }
}
