//! Where time comes from: every time-dependent function of this crate takes it from a [`Clock`].
//!
//! Times are kept at microsecond precision (what PostgreSQL stores), so a value read back from
//! the store equals the value written and audit hashes verify on every backend.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, truncated to whole microseconds.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate(OffsetDateTime::now_utc())
    }
}

/// The system clock shifted by a fixed offset: it runs in real time from a chosen start.
/// End-to-end tests use it (through `VIDID_FAKE_NOW`) to run a whole server on a Tuesday
/// morning or a Saturday night; never configured in production.
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock {
    offset: Duration,
}

impl ShiftedClock {
    /// A clock that shows `start` now and runs on from there.
    pub fn starting_at(start: OffsetDateTime) -> Self {
        ShiftedClock {
            offset: start - OffsetDateTime::now_utc(),
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        truncate(OffsetDateTime::now_utc() + self.offset)
    }
}

/// A clock that stands still until told otherwise; for tests.
#[derive(Debug)]
pub struct TestClock {
    now: Mutex<OffsetDateTime>,
}

impl TestClock {
    /// A clock showing `t`.
    pub fn new(t: OffsetDateTime) -> Self {
        TestClock {
            now: Mutex::new(truncate(t)),
        }
    }

    /// Sets the time (backwards too).
    pub fn set(&self, t: OffsetDateTime) {
        *self.lock() = truncate(t);
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut g = self.lock();
        *g = truncate(*g + d);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        // A plain value: a panic elsewhere cannot leave it half-written.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

/// `t` in UTC with the sub-microsecond part dropped.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros).unwrap_or(t)
}

/// Microseconds since the Unix epoch: how times are stored.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`to_micros`].
pub(crate) fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn shifted_clock_runs_from_its_start() {
        let c = ShiftedClock::starting_at(datetime!(2030-06-04 09:00 UTC));
        let a = c.now();
        assert!((a - datetime!(2030-06-04 09:00 UTC)).abs() < Duration::seconds(1));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now() > a);
    }

    #[test]
    fn test_clock_moves_only_when_told() {
        let c = TestClock::new(datetime!(2026-03-27 16:00:00.123456789 UTC));
        assert_eq!(c.now(), datetime!(2026-03-27 16:00:00.123456 UTC));
        c.advance(Duration::hours(1));
        assert_eq!(c.now(), datetime!(2026-03-27 17:00:00.123456 UTC));
        c.set(datetime!(2026-01-01 0:00 +1));
        assert_eq!(c.now(), datetime!(2025-12-31 23:00 UTC));
        assert_eq!(from_micros(to_micros(c.now())), c.now());
    }
}
