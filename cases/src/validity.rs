//! How long a customer's link is valid.
//!
//! **Rule.** A link is valid for 24 hours of *counted* time from the case's creation. Time is
//! counted on local working days only: a Saturday, a Sunday or a holiday of the calendar
//! ([`crate::calendar::HolidayCalendar::is_day_off`]) does not count **as a whole local
//! calendar day**, from its local midnight to the next local midnight, in the working-hours time
//! zone (Europe/Ljubljana). On a counted day, the real elapsed time counts: if a counted day were
//! 23 or 25 hours long because of a DST change, its real length would count (in Slovenia DST
//! changes on Sundays, which never count, so in practice every counted day has 24 hours).
//!
//! The configured working weekdays do not change this rule: validity is about the customer's
//! calendar (weekends and public holidays), not about the agents' roster.
//!
//! Consequences:
//! - created Friday 17:00 → valid until Monday 17:00 (7 h on Friday, 17 h on Monday);
//! - created on a Saturday, Sunday or holiday → counting starts at the next working day's local
//!   midnight, so the link is valid until the end of that day (the following 00:00);
//! - created Friday 17:59 before a holiday Monday → valid until Tuesday 17:59, one minute
//!   before closing, so the customer can still be called.

use time::{Duration, OffsetDateTime};

use crate::hours::WorkingHours;

/// The default validity: 24 hours of counted time.
pub const DEFAULT_VALIDITY: Duration = Duration::hours(24);

/// The instant the link of a case created at `created` stops being valid; see the module docs.
pub fn link_expires_at(
    hours: &WorkingHours,
    created: OffsetDateTime,
    valid_for: Duration,
) -> OffsetDateTime {
    let mut remaining = valid_for.max(Duration::ZERO);
    let mut cursor = created;
    let mut date = hours.local_date(created);
    // Bounded: each step moves one local day; 24 h never needs more than a few weeks even
    // with many configured holidays.
    for _ in 0..3660 {
        let Some(next) = date.next_day() else { break };
        let day_end = hours.start_of_day(next);
        if !hours.calendar().is_day_off(date) {
            let available = day_end - cursor;
            if remaining <= available {
                return cursor + remaining;
            }
            remaining -= available;
        }
        cursor = day_end;
        date = next;
    }
    cursor + remaining
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::HoursConfig;
    use time::macros::datetime;

    fn exp(created: OffsetDateTime) -> OffsetDateTime {
        let h = WorkingHours::default();
        h.to_local(link_expires_at(&h, created, DEFAULT_VALIDITY))
    }

    #[test]
    fn validity_table() {
        let table = [
            // (created, expires), local Ljubljana times.
            (
                "ordinary weekday",
                datetime!(2026-01-14 09:15 +1),
                datetime!(2026-01-15 09:15 +1),
            ),
            (
                "thursday → friday",
                datetime!(2026-01-15 17:00 +1),
                datetime!(2026-01-16 17:00 +1),
            ),
            (
                "friday 17:00 → monday 17:00",
                datetime!(2026-01-16 17:00 +1),
                datetime!(2026-01-19 17:00 +1),
            ),
            (
                "friday midnight edge",
                datetime!(2026-01-16 00:00 +1),
                datetime!(2026-01-17 00:00 +1),
            ),
            (
                "saturday → end of monday",
                datetime!(2026-01-17 11:00 +1),
                datetime!(2026-01-20 00:00 +1),
            ),
            (
                "sunday → end of monday",
                datetime!(2026-01-18 23:30 +1),
                datetime!(2026-01-20 00:00 +1),
            ),
            // Easter 2026: Sunday 5 April, Monday 6 April.
            (
                "friday before easter → tuesday",
                datetime!(2026-04-03 17:00 +2),
                datetime!(2026-04-07 17:00 +2),
            ),
            (
                "thursday before easter → good friday",
                datetime!(2026-04-02 12:00 +2),
                datetime!(2026-04-03 12:00 +2),
            ),
            // Whit Sunday 24 May 2026 is a Sunday; Whit Monday is a working day.
            (
                "friday before whit sunday",
                datetime!(2026-05-22 17:00 +2),
                datetime!(2026-05-25 17:00 +2),
            ),
            // 25 June 2026 is a Thursday.
            (
                "wednesday before statehood day",
                datetime!(2026-06-24 09:00 +2),
                datetime!(2026-06-26 09:00 +2),
            ),
            // 25 June 2027 is a Friday.
            (
                "thursday before statehood day 2027",
                datetime!(2027-06-24 16:00 +2),
                datetime!(2027-06-28 16:00 +2),
            ),
            // 25 and 26 December 2025 are Thursday and Friday.
            (
                "christmas eve 2025",
                datetime!(2025-12-24 15:00 +1),
                datetime!(2025-12-29 15:00 +1),
            ),
            // 26 December 2026 is a Saturday; 25 a Friday.
            (
                "christmas eve 2026",
                datetime!(2026-12-24 10:00 +1),
                datetime!(2026-12-28 10:00 +1),
            ),
            // 1 and 2 January 2027: Friday and Saturday.
            (
                "new year's eve 2026",
                datetime!(2026-12-31 12:00 +1),
                datetime!(2027-01-04 12:00 +1),
            ),
            // 1 and 2 May 2028: Monday and Tuesday. 27 April 2028 a Thursday.
            (
                "friday before may day 2028",
                datetime!(2028-04-28 17:59 +2),
                datetime!(2028-05-03 17:59 +2),
            ),
            // Easter Monday 2027 is 29 March, the day after the DST switch.
            (
                "friday 17:59 before holiday monday",
                datetime!(2027-03-26 17:59 +1),
                datetime!(2027-03-30 17:59 +2),
            ),
        ];
        for (name, created, expected) in table {
            assert_eq!(exp(created), expected, "{name}");
        }
    }

    #[test]
    fn dst_switch_weekends() {
        // March 2026: clocks go forward on Sunday 29 March. Friday 17:00 CET → Monday 17:00 CEST,
        // 71 real hours later.
        let created = datetime!(2026-03-27 17:00 +1);
        let e = exp(created);
        assert_eq!(e, datetime!(2026-03-30 17:00 +2));
        assert_eq!(e - created, Duration::hours(71));
        // October 2026: clocks go back on Sunday 25 October; 73 real hours.
        let created = datetime!(2026-10-23 17:00 +2);
        let e = exp(created);
        assert_eq!(e, datetime!(2026-10-26 17:00 +1));
        assert_eq!(e - created, Duration::hours(73));
        // Created on the switch day itself (a Sunday): valid until the end of Monday.
        assert_eq!(
            exp(datetime!(2026-03-29 04:00 +2)),
            datetime!(2026-03-31 00:00 +2)
        );
        assert_eq!(
            exp(datetime!(2026-10-25 02:30 +1)),
            datetime!(2026-10-27 00:00 +1)
        );
        // Mid-week in a DST week is unaffected.
        assert_eq!(
            exp(datetime!(2026-03-30 08:00 +2)),
            datetime!(2026-03-31 08:00 +2)
        );
    }

    #[test]
    fn configured_holiday_extends() {
        let cfg = HoursConfig {
            holidays_add: vec!["2026-01-19".into()],
            ..HoursConfig::default()
        };
        let h = WorkingHours::from_config(&cfg).unwrap();
        let e = link_expires_at(&h, datetime!(2026-01-16 17:00 +1), DEFAULT_VALIDITY);
        assert_eq!(e, datetime!(2026-01-20 17:00 +1));
    }
}
