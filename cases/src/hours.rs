//! Working hours: when agents take calls and customers may queue.
//!
//! Default: Monday to Friday, 10:00–18:00 Europe/Ljubljana, not on the holidays of
//! [`crate::calendar`]. Local times are converted with the IANA time-zone database compiled into
//! the binary (`jiff`'s bundled copy), so DST is right without a system zoneinfo and every
//! machine computes the same answer. A local time that does not exist on a DST day (02:30 on the
//! last Sunday of March) resolves to the instant after the gap; one that exists twice to the
//! earlier instant.

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Weekday};

use crate::CasesError;
use crate::calendar::HolidayCalendar;

/// The `hours` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoursConfig {
    /// IANA time-zone name.
    pub timezone: String,
    /// Working weekdays, as `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    pub days: Vec<String>,
    /// Opening time, `HH:MM` local.
    pub open: String,
    /// Closing time, `HH:MM` local, later than `open` on the same day.
    pub close: String,
    /// Extra days off, `YYYY-MM-DD`.
    pub holidays_add: Vec<String>,
    /// Computed holidays to treat as working days, `YYYY-MM-DD`.
    pub holidays_remove: Vec<String>,
}

impl Default for HoursConfig {
    fn default() -> Self {
        HoursConfig {
            timezone: "Europe/Ljubljana".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "10:00".into(),
            close: "18:00".into(),
            holidays_add: Vec::new(),
            holidays_remove: Vec::new(),
        }
    }
}

/// Working hours in a time zone with a holiday calendar; see the module docs.
#[derive(Debug, Clone)]
pub struct WorkingHours {
    tz: jiff::tz::TimeZone,
    timezone: String,
    /// Indexed by `Weekday::number_days_from_monday`.
    days: [bool; 7],
    /// Minutes after local midnight.
    open: u16,
    close: u16,
    calendar: HolidayCalendar,
}

impl Default for WorkingHours {
    fn default() -> Self {
        // The default configuration is valid; this is checked by a test.
        WorkingHours::from_config(&HoursConfig::default()).unwrap_or_else(|_| WorkingHours {
            tz: jiff::tz::TimeZone::UTC,
            timezone: "UTC".into(),
            days: [true, true, true, true, true, false, false],
            open: 600,
            close: 1080,
            calendar: HolidayCalendar::slovenia(),
        })
    }
}

fn parse_hhmm(key: &'static str, s: &str) -> Result<u16, CasesError> {
    let bad = || CasesError::Config {
        key,
        reason: format!("{s:?} is not a time of day as HH:MM"),
    };
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.trim().splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

fn parse_dates(key: &'static str, list: &[String]) -> Result<Vec<Date>, CasesError> {
    list.iter()
        .map(|s| {
            parse_date(s).ok_or_else(|| CasesError::Config {
                key,
                reason: format!("{s:?} is not a date as YYYY-MM-DD"),
            })
        })
        .collect()
}

fn weekday_index(s: &str) -> Option<usize> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" => 0,
        "tue" => 1,
        "wed" => 2,
        "thu" => 3,
        "fri" => 4,
        "sat" => 5,
        "sun" => 6,
        _ => return None,
    })
}

fn to_jiff(t: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos()).unwrap_or(jiff::Timestamp::MAX)
}

fn from_jiff(t: jiff::Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn civil(d: Date) -> jiff::civil::Date {
    jiff::civil::date(d.year() as i16, u8::from(d.month()) as i8, d.day() as i8)
}

fn from_civil(d: jiff::civil::Date) -> Date {
    Month::try_from(d.month() as u8)
        .ok()
        .and_then(|m| Date::from_calendar_date(i32::from(d.year()), m, d.day() as u8).ok())
        .unwrap_or(Date::MIN)
}

/// Days searched for the next opening before giving up; a valid configuration has at least one
/// working weekday, so only an absurd list of added holidays could exhaust it.
const SEARCH_DAYS: usize = 3660;

impl WorkingHours {
    /// Validates the configuration; errors name the offending key.
    pub fn from_config(cfg: &HoursConfig) -> Result<Self, CasesError> {
        let tz = jiff::tz::TimeZone::get(&cfg.timezone).map_err(|e| CasesError::Config {
            key: "hours.timezone",
            reason: format!("{:?} is not a known time zone: {e}", cfg.timezone),
        })?;
        let mut days = [false; 7];
        for d in &cfg.days {
            let i = weekday_index(d).ok_or_else(|| CasesError::Config {
                key: "hours.days",
                reason: format!("{d:?} is not one of mon, tue, wed, thu, fri, sat, sun"),
            })?;
            days[i] = true;
        }
        if !days.iter().any(|d| *d) {
            return Err(CasesError::Config {
                key: "hours.days",
                reason: "must name at least one weekday".into(),
            });
        }
        let open = parse_hhmm("hours.open", &cfg.open)?;
        let close = parse_hhmm("hours.close", &cfg.close)?;
        if close <= open {
            return Err(CasesError::Config {
                key: "hours.close",
                reason: format!("{} is not after the opening time {}", cfg.close, cfg.open),
            });
        }
        let add = parse_dates("hours.holidays_add", &cfg.holidays_add)?;
        let remove = parse_dates("hours.holidays_remove", &cfg.holidays_remove)?;
        Ok(WorkingHours {
            tz,
            timezone: cfg.timezone.clone(),
            days,
            open,
            close,
            calendar: HolidayCalendar::with_overrides(add, remove),
        })
    }

    /// The IANA name of the time zone.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The holiday calendar in use.
    pub fn calendar(&self) -> &HolidayCalendar {
        &self.calendar
    }

    /// The local calendar date of `t`.
    pub fn local_date(&self, t: OffsetDateTime) -> Date {
        from_civil(to_jiff(t).to_zoned(self.tz.clone()).date())
    }

    /// `t` with the UTC offset in force locally at that instant (for display).
    pub fn to_local(&self, t: OffsetDateTime) -> OffsetDateTime {
        let z = to_jiff(t).to_zoned(self.tz.clone());
        let secs = z.offset().seconds();
        time::UtcOffset::from_whole_seconds(secs)
            .map(|o| t.to_offset(o))
            .unwrap_or(t)
    }

    /// The instant local `date` begins (a local day is 23 or 25 hours long on DST days).
    pub fn start_of_day(&self, date: Date) -> OffsetDateTime {
        civil(date)
            .to_zoned(self.tz.clone())
            .map(|z| from_jiff(z.timestamp()))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn at_minutes(&self, date: Date, minutes: u16) -> OffsetDateTime {
        if minutes >= 24 * 60 {
            return date
                .next_day()
                .map(|d| self.start_of_day(d))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        }
        civil(date)
            .at((minutes / 60) as i8, (minutes % 60) as i8, 0, 0)
            .to_zoned(self.tz.clone())
            .map(|z| from_jiff(z.timestamp()))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// A configured working weekday that is not a holiday.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.days[weekday_num(date.weekday())] && !self.calendar.is_holiday(date)
    }

    /// Whether agents take calls at `t` (opening time inclusive, closing time exclusive).
    pub fn is_open(&self, t: OffsetDateTime) -> bool {
        self.closes_at(t).is_some()
    }

    /// When the current opening period ends, if `t` is inside one.
    pub fn closes_at(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let date = self.local_date(t);
        if !self.is_working_day(date) {
            return None;
        }
        let open = self.at_minutes(date, self.open);
        let close = self.at_minutes(date, self.close);
        (open <= t && t < close).then_some(close)
    }

    /// The earliest instant at or after `t` at which agents take calls: `t` itself while open.
    pub fn next_opening(&self, t: OffsetDateTime) -> OffsetDateTime {
        if self.is_open(t) {
            return t;
        }
        let mut date = self.local_date(t);
        for _ in 0..SEARCH_DAYS {
            if self.is_working_day(date) {
                let open = self.at_minutes(date, self.open);
                if open >= t {
                    return open;
                }
            }
            match date.next_day() {
                Some(d) => date = d,
                None => break,
            }
        }
        debug_assert!(false, "no working day within {SEARCH_DAYS} days");
        OffsetDateTime::UNIX_EPOCH.replace_year(9999).unwrap_or(t)
    }
}

fn weekday_num(w: Weekday) -> usize {
    w.number_days_from_monday() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn hours() -> WorkingHours {
        WorkingHours::from_config(&HoursConfig::default()).unwrap()
    }

    #[test]
    fn default_config_is_valid() {
        let h = hours();
        assert_eq!(h.timezone(), "Europe/Ljubljana");
    }

    #[test]
    fn open_in_winter_and_summer_time() {
        let h = hours();
        // Winter: CET = UTC+1. Thursday 2026-01-15.
        assert!(!h.is_open(datetime!(2026-01-15 08:59:59 UTC)));
        assert!(h.is_open(datetime!(2026-01-15 09:00 UTC)));
        assert_eq!(
            h.closes_at(datetime!(2026-01-15 12:00 UTC)),
            Some(datetime!(2026-01-15 17:00 UTC))
        );
        assert!(!h.is_open(datetime!(2026-01-15 17:00 UTC)));
        // Summer: CEST = UTC+2. Thursday 2026-07-16.
        assert!(!h.is_open(datetime!(2026-07-16 07:59 UTC)));
        assert!(h.is_open(datetime!(2026-07-16 08:00 UTC)));
        assert!(h.is_open(datetime!(2026-07-16 15:59:59 UTC)));
        assert!(!h.is_open(datetime!(2026-07-16 16:00 UTC)));
    }

    #[test]
    fn dst_weeks() {
        let h = hours();
        // Friday before the March switch (29 March 2026) is still CET.
        assert!(h.is_open(datetime!(2026-03-27 09:00 UTC)));
        // Monday after it is CEST: 10:00 local = 08:00 UTC.
        assert_eq!(
            h.next_opening(datetime!(2026-03-27 17:00 UTC)),
            datetime!(2026-03-30 08:00 UTC)
        );
        // October switch (25 October 2026): Friday CEST, Monday CET.
        assert_eq!(
            h.closes_at(datetime!(2026-10-23 10:00 UTC)),
            Some(datetime!(2026-10-23 16:00 UTC))
        );
        assert_eq!(
            h.next_opening(datetime!(2026-10-23 16:00 UTC)),
            datetime!(2026-10-26 09:00 UTC)
        );
        assert_eq!(
            h.start_of_day(date!(2026 - 10 - 25)),
            datetime!(2026-10-24 22:00 UTC)
        );
        assert_eq!(
            h.start_of_day(date!(2026 - 10 - 26)),
            datetime!(2026-10-25 23:00 UTC)
        );
    }

    #[test]
    fn next_opening_across_weekend_and_holidays() {
        let h = hours();
        // Friday evening → Monday 10:00.
        assert_eq!(
            h.next_opening(datetime!(2026-01-16 18:30 +1)),
            datetime!(2026-01-19 10:00 +1)
        );
        // Before opening on a working day → the same day.
        assert_eq!(
            h.next_opening(datetime!(2026-01-19 07:00 +1)),
            datetime!(2026-01-19 10:00 +1)
        );
        // While open: now.
        let t = datetime!(2026-01-19 11:00 +1);
        assert_eq!(h.next_opening(t), t);
        // Thursday before Easter 2026 after hours → Good Friday is a working day.
        assert_eq!(
            h.next_opening(datetime!(2026-04-02 19:00 +2)),
            datetime!(2026-04-03 10:00 +2)
        );
        // Good Friday after hours → Tuesday (Easter Monday is a holiday).
        assert_eq!(
            h.next_opening(datetime!(2026-04-03 18:00 +2)),
            datetime!(2026-04-07 10:00 +2)
        );
        // Christmas 2025: Wed 24 after hours → Mon 29 (25, 26 holidays, then weekend).
        assert_eq!(
            h.next_opening(datetime!(2025-12-24 18:00 +1)),
            datetime!(2025-12-29 10:00 +1)
        );
        // New Year 2027: Thu 31 Dec 2026 after hours → Mon 4 Jan (1, 2 Jan holidays + weekend).
        assert_eq!(
            h.next_opening(datetime!(2026-12-31 18:00 +1)),
            datetime!(2027-01-04 10:00 +1)
        );
        assert!(!h.is_open(datetime!(2026-06-25 12:00 +2)), "Statehood Day");
    }

    #[test]
    fn configured_hours_and_holidays() {
        let cfg = HoursConfig {
            days: vec!["mon".into(), "sat".into()],
            open: "08:30".into(),
            close: "12:00".into(),
            holidays_add: vec!["2026-01-19".into()],
            ..HoursConfig::default()
        };
        let h = WorkingHours::from_config(&cfg).unwrap();
        assert!(h.is_open(datetime!(2026-01-17 08:30 +1)), "saturday");
        assert!(!h.is_open(datetime!(2026-01-19 09:00 +1)), "added holiday");
        assert_eq!(
            h.next_opening(datetime!(2026-01-17 12:00 +1)),
            datetime!(2026-01-24 08:30 +1)
        );
    }

    #[test]
    fn bad_config_names_the_key() {
        let bad = |f: fn(&mut HoursConfig)| {
            let mut c = HoursConfig::default();
            f(&mut c);
            match WorkingHours::from_config(&c) {
                Err(CasesError::Config { key, .. }) => key,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            bad(|c| c.timezone = "Mars/Olympus".into()),
            "hours.timezone"
        );
        assert_eq!(bad(|c| c.days = vec!["monday".into()]), "hours.days");
        assert_eq!(bad(|c| c.days.clear()), "hours.days");
        assert_eq!(bad(|c| c.open = "10".into()), "hours.open");
        assert_eq!(bad(|c| c.close = "09:00".into()), "hours.close");
        assert_eq!(
            bad(|c| c.holidays_add = vec!["2026-02-30".into()]),
            "hours.holidays_add"
        );
        assert_eq!(
            bad(|c| c.holidays_remove = vec!["x".into()]),
            "hours.holidays_remove"
        );
    }
}
