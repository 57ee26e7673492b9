//! Slovenian public holidays, computed per year, with overrides from configuration.
//!
//! The calendar holds the **work-free** public holidays (*dela prosti dnevi*), because those are
//! the days agents do not work and link validity does not run:
//!
//! | date | holiday |
//! |---|---|
//! | 1 and 2 January | New Year (*novo leto*) |
//! | 8 February | Prešeren Day (*Prešernov dan*) |
//! | Easter Sunday and Easter Monday | (*velika noč*, *velikonočni ponedeljek*) |
//! | 27 April | Day of Uprising Against Occupation (*dan upora proti okupatorju*) |
//! | 1 and 2 May | Labour Day (*praznik dela*) |
//! | Whit Sunday, Easter + 49 days | Pentecost (*binkošti*) |
//! | 25 June | Statehood Day (*dan državnosti*) |
//! | 15 August | Assumption (*Marijino vnebovzetje*) |
//! | 31 October | Reformation Day (*dan reformacije*) |
//! | 1 November | Remembrance Day (*dan spomina na mrtve*) |
//! | 25 December | Christmas (*božič*) |
//! | 26 December | Independence and Unity Day (*dan samostojnosti in enotnosti*) |
//!
//! All of them are non-working days. Easter Sunday and Whit Sunday always fall on a Sunday, so
//! they never change a result; they are listed for completeness. Whit Monday and Good Friday
//! are ordinary working days in Slovenia. Public holidays that are *not* work-free (for example
//! 23 November, Rudolf Maister Day) are working days and are not in the calendar.
//!
//! Configuration can add dates (a company closing day) and remove computed ones (a change in
//! law before a release); see [`HolidayCalendar::with_overrides`].

use std::collections::BTreeSet;

use time::{Date, Duration, Month, Weekday};

/// One holiday of the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: Date,
    /// Slovenian name; `"dodatni dela prost dan"` for a date added by configuration.
    pub name_sl: &'static str,
    /// English name; `"additional day off"` for a date added by configuration.
    pub name_en: &'static str,
}

/// Easter Sunday of the Gregorian calendar (the anonymous Gregorian computus), valid for any
/// year from 1583 on.
pub fn easter_sunday(year: i32) -> Date {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let month = if month == 3 {
        Month::March
    } else {
        Month::April
    };
    // The computus yields 22 March ..= 25 April, always a valid date.
    Date::from_calendar_date(year, month, day as u8).unwrap_or(Date::MIN)
}

fn fixed(year: i32, month: Month, day: u8) -> Option<Date> {
    Date::from_calendar_date(year, month, day).ok()
}

/// The work-free public holidays of Slovenia in `year`, in date order (no overrides).
pub fn slovenian_holidays(year: i32) -> Vec<Holiday> {
    use Month::*;
    let easter = easter_sunday(year);
    let mut out: Vec<Holiday> = [
        (fixed(year, January, 1), "novo leto", "New Year"),
        (fixed(year, January, 2), "novo leto", "New Year"),
        (fixed(year, February, 8), "Prešernov dan", "Prešeren Day"),
        (Some(easter), "velika noč", "Easter Sunday"),
        (
            Some(easter + Duration::days(1)),
            "velikonočni ponedeljek",
            "Easter Monday",
        ),
        (
            fixed(year, April, 27),
            "dan upora proti okupatorju",
            "Day of Uprising Against Occupation",
        ),
        (fixed(year, May, 1), "praznik dela", "Labour Day"),
        (fixed(year, May, 2), "praznik dela", "Labour Day"),
        (Some(easter + Duration::days(49)), "binkošti", "Whit Sunday"),
        (fixed(year, June, 25), "dan državnosti", "Statehood Day"),
        (
            fixed(year, August, 15),
            "Marijino vnebovzetje",
            "Assumption Day",
        ),
        (
            fixed(year, October, 31),
            "dan reformacije",
            "Reformation Day",
        ),
        (
            fixed(year, November, 1),
            "dan spomina na mrtve",
            "Remembrance Day",
        ),
        (fixed(year, December, 25), "božič", "Christmas Day"),
        (
            fixed(year, December, 26),
            "dan samostojnosti in enotnosti",
            "Independence and Unity Day",
        ),
    ]
    .into_iter()
    .filter_map(|(date, name_sl, name_en)| {
        date.map(|date| Holiday {
            date,
            name_sl,
            name_en,
        })
    })
    .collect();
    out.sort_by_key(|h| h.date);
    out
}

/// The Slovenian holidays plus configured changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    add: BTreeSet<Date>,
    remove: BTreeSet<Date>,
}

impl HolidayCalendar {
    /// The computed Slovenian calendar, unchanged.
    pub fn slovenia() -> Self {
        HolidayCalendar::default()
    }

    /// The Slovenian calendar with `add` made holidays and `remove` made working days.
    /// A date in both lists is removed.
    pub fn with_overrides(
        add: impl IntoIterator<Item = Date>,
        remove: impl IntoIterator<Item = Date>,
    ) -> Self {
        HolidayCalendar {
            add: add.into_iter().collect(),
            remove: remove.into_iter().collect(),
        }
    }

    /// The holidays of `year`, overrides applied, in date order.
    pub fn holidays(&self, year: i32) -> Vec<Holiday> {
        let mut out: Vec<Holiday> = slovenian_holidays(year)
            .into_iter()
            .filter(|h| !self.remove.contains(&h.date))
            .collect();
        for d in self.add.iter().filter(|d| d.year() == year) {
            if !self.remove.contains(d) && !out.iter().any(|h| h.date == *d) {
                out.push(Holiday {
                    date: *d,
                    name_sl: "dodatni dela prost dan",
                    name_en: "additional day off",
                });
            }
        }
        out.sort_by_key(|h| h.date);
        out
    }

    /// Whether `date` is a holiday (weekends are not holidays by themselves).
    pub fn is_holiday(&self, date: Date) -> bool {
        if self.remove.contains(&date) {
            return false;
        }
        self.add.contains(&date)
            || slovenian_holidays(date.year())
                .iter()
                .any(|h| h.date == date)
    }

    /// Saturday, Sunday or a holiday: the days on which link validity does not run.
    pub fn is_day_off(&self, date: Date) -> bool {
        matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) || self.is_holiday(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn easter_dates_of_known_years() {
        for (year, easter) in [
            (1818, date!(1818 - 03 - 22)),
            (1943, date!(1943 - 04 - 25)),
            (2000, date!(2000 - 04 - 23)),
            (2008, date!(2008 - 03 - 23)),
            (2011, date!(2011 - 04 - 24)),
            (2019, date!(2019 - 04 - 21)),
            (2023, date!(2023 - 04 - 09)),
            (2024, date!(2024 - 03 - 31)),
            (2025, date!(2025 - 04 - 20)),
            (2026, date!(2026 - 04 - 05)),
            (2027, date!(2027 - 03 - 28)),
            (2038, date!(2038 - 04 - 25)),
        ] {
            assert_eq!(easter_sunday(year), easter, "{year}");
        }
    }

    #[test]
    fn holidays_of_2026() {
        let dates: Vec<Date> = slovenian_holidays(2026).iter().map(|h| h.date).collect();
        assert_eq!(
            dates,
            vec![
                date!(2026 - 01 - 01),
                date!(2026 - 01 - 02),
                date!(2026 - 02 - 08),
                date!(2026 - 04 - 05),
                date!(2026 - 04 - 06),
                date!(2026 - 04 - 27),
                date!(2026 - 05 - 01),
                date!(2026 - 05 - 02),
                date!(2026 - 05 - 24),
                date!(2026 - 06 - 25),
                date!(2026 - 08 - 15),
                date!(2026 - 10 - 31),
                date!(2026 - 11 - 01),
                date!(2026 - 12 - 25),
                date!(2026 - 12 - 26),
            ]
        );
        for h in slovenian_holidays(2026) {
            if h.name_en == "Easter Sunday" || h.name_en == "Whit Sunday" {
                assert_eq!(h.date.weekday(), Weekday::Sunday);
            }
        }
    }

    #[test]
    fn overrides_add_and_remove() {
        let cal = HolidayCalendar::with_overrides(
            [date!(2026 - 12 - 24), date!(2026 - 06 - 25)],
            [date!(2026 - 08 - 15)],
        );
        assert!(cal.is_holiday(date!(2026 - 12 - 24)));
        assert!(!cal.is_holiday(date!(2026 - 08 - 15)));
        assert!(cal.is_holiday(date!(2026 - 06 - 25)));
        assert!(
            !cal.is_holiday(date!(2026 - 11 - 23)),
            "Maister day is a working day"
        );
        assert!(
            !cal.is_holiday(date!(2026 - 05 - 25)),
            "Whit Monday is a working day"
        );
        let y = cal.holidays(2026);
        assert_eq!(y.len(), 15);
        assert_eq!(y.last().unwrap().date, date!(2026 - 12 - 26));
        assert!(cal.is_day_off(date!(2026 - 11 - 21)), "a Saturday");
        assert!(!cal.is_day_off(date!(2026 - 11 - 23)));
    }
}
