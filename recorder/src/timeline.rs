//! One party's timeline: RTP sequence and timestamp unwrapping, a small reorder buffer, and the
//! placement of each packet on the recording's 48 kHz timeline.
//!
//! Sans-IO: time comes in as "media time" (48 kHz samples since `RecordingMeta::started`, taken
//! from packet arrivals), and released packets go out into a caller-owned `Vec`.

use std::collections::VecDeque;

use crate::Party;

/// How long a packet waits for a missing predecessor: 100 ms of media time.
pub(crate) const HOLD_SAMPLES: u64 = 4_800;
/// How many packets may wait at most; past this the oldest is released even if a hole is open.
pub(crate) const MAX_HELD: usize = 8;
/// A timestamp-predicted position that disagrees with the arrival clock by more than this
/// (10 s) is absurd: the party is re-anchored to its arrival time.
pub(crate) const MAX_DRIFT_SAMPLES: i64 = 10 * 48_000;
/// A predicted position this far (the reorder window) or less before the end of the previous
/// packet is clamped to that end; further back, the party is re-anchored.
pub(crate) const BACKWARD_TOLERANCE_SAMPLES: i64 = HOLD_SAMPLES as i64;
/// A packet more than this many sequence numbers behind the release point is not reordering
/// but (if a consecutive one follows) a sender restart.
pub(crate) const MAX_MISORDER: i64 = 100;
/// Anchors are rounded down to 2.5 ms, the Opus frame grid, so that every gap is a whole
/// number of Opus frames (which keeps PLC and a later gap-repair conversion possible).
pub(crate) const ANCHOR_GRID_SAMPLES: u64 = 120;

/// A packet handed to the timeline.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub seq: u16,
    pub ts: u32,
    /// Arrival in 48 kHz samples since the recording started.
    pub arrival: u64,
    /// Duration from the TOC byte.
    pub samples: u32,
    pub payload: Vec<u8>,
}

/// A packet released in sequence order with its place on the timeline.
#[derive(Debug)]
pub(crate) struct Released {
    /// First sample of the packet, in 48 kHz samples since the recording started.
    pub start: u64,
    pub samples: u32,
    pub payload: Vec<u8>,
}

/// Why a packet was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Its sequence number was already held or written.
    Duplicate,
    /// It arrived after the release point had passed its sequence number.
    Late,
}

/// What happened to one party's packets, beyond what was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimelineCounters {
    pub duplicates: u64,
    pub late: u64,
    /// Sequence numbers skipped at release (lost in the network or dropped before us).
    pub lost: u64,
    pub reanchors: u64,
    pub restarts: u64,
}

#[derive(Debug)]
struct Held {
    useq: i64,
    uts: i64,
    arrival: u64,
    samples: u32,
    payload: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct Timeline {
    party: Party,
    /// Highest unwrapped sequence number accepted: the reference for unwrapping.
    highest_useq: Option<i64>,
    /// Unwrapped timestamp of the last accepted packet: the reference for unwrapping.
    last_uts: Option<i64>,
    /// Held packets, ascending by unwrapped sequence number.
    held: VecDeque<Held>,
    /// The sequence number the next released packet should have.
    next_useq: Option<i64>,
    /// Bit `i` set: sequence number `next_useq - 1 - i` was written.
    released_mask: u128,
    /// (unwrapped RTP timestamp, timeline sample) of the current anchor.
    anchor: Option<(i64, i64)>,
    /// End of the last released packet.
    end: u64,
    first_start: Option<u64>,
    reanchor_next: bool,
    /// Raw sequence number of the last very-late packet (a possible sender restart).
    restart_candidate: Option<u16>,
    counters: TimelineCounters,
}

impl Timeline {
    pub(crate) fn new(party: Party) -> Self {
        Self {
            party,
            highest_useq: None,
            last_uts: None,
            held: VecDeque::with_capacity(MAX_HELD + 1),
            next_useq: None,
            released_mask: 0,
            anchor: None,
            end: 0,
            first_start: None,
            reanchor_next: false,
            restart_candidate: None,
            counters: TimelineCounters::default(),
        }
    }

    pub(crate) fn counters(&self) -> TimelineCounters {
        self.counters
    }

    /// End of the last released packet on the timeline (0 before any).
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Start of the first released packet.
    pub(crate) fn first_start(&self) -> Option<u64> {
        self.first_start
    }

    fn unwrap_seq(&self, seq: u16) -> i64 {
        match self.highest_useq {
            None => i64::from(seq),
            Some(h) => h + i64::from(seq.wrapping_sub(h as u16) as i16),
        }
    }

    fn unwrap_ts(&self, ts: u32) -> i64 {
        match self.last_uts {
            None => i64::from(ts),
            Some(last) => last + i64::from(ts.wrapping_sub(last as u32) as i32),
        }
    }

    /// Accept a packet, then release whatever is due at media time `now` into `out`.
    /// A rejected packet's buffer is handed back for reuse.
    pub(crate) fn push(
        &mut self,
        pkt: Incoming,
        now: u64,
        out: &mut Vec<Released>,
    ) -> Result<(), (Rejected, Vec<u8>)> {
        let mut useq = self.unwrap_seq(pkt.seq);
        if let Some(next) = self.next_useq
            && useq < next
        {
            let behind = next - 1 - useq;
            if behind < 128 && self.released_mask & (1u128 << behind) != 0 {
                self.counters.duplicates += 1;
                return Err((Rejected::Duplicate, pkt.payload));
            }
            if behind <= MAX_MISORDER || self.restart_candidate != Some(pkt.seq.wrapping_sub(1)) {
                if behind > MAX_MISORDER {
                    self.restart_candidate = Some(pkt.seq);
                }
                self.counters.late += 1;
                return Err((Rejected::Late, pkt.payload));
            }
            // Two consecutive packets far behind the release point: the sender restarted its
            // sequence (and, almost surely, its timestamps). Start over from this packet.
            self.restart(now, out);
            useq = self.unwrap_seq(pkt.seq);
        }
        let pos = match self.held.binary_search_by_key(&useq, |h| h.useq) {
            Ok(_) => {
                self.counters.duplicates += 1;
                return Err((Rejected::Duplicate, pkt.payload));
            }
            Err(pos) => pos,
        };
        let uts = self.unwrap_ts(pkt.ts);
        self.restart_candidate = None;
        self.highest_useq = Some(self.highest_useq.map_or(useq, |h| h.max(useq)));
        self.last_uts = Some(uts);
        self.held.insert(
            pos,
            Held {
                useq,
                uts,
                arrival: pkt.arrival,
                samples: pkt.samples,
                payload: pkt.payload,
            },
        );
        self.release_due(now, out);
        Ok(())
    }

    /// Release held packets that are in order, have waited `HOLD_SAMPLES` of media time, or
    /// overflow the buffer.
    pub(crate) fn release_due(&mut self, now: u64, out: &mut Vec<Released>) {
        self.release(now, false, out);
    }

    /// Release everything held (end of recording).
    pub(crate) fn drain(&mut self, out: &mut Vec<Released>) {
        self.release(u64::MAX, true, out);
    }

    fn release(&mut self, now: u64, force: bool, out: &mut Vec<Released>) {
        while let Some(head) = self.held.front() {
            let in_order = self.next_useq == Some(head.useq);
            let waited = now.saturating_sub(head.arrival) >= HOLD_SAMPLES;
            if !(force || in_order || waited || self.held.len() > MAX_HELD) {
                break;
            }
            let Some(held) = self.held.pop_front() else {
                break;
            };
            self.release_one(held, out);
        }
    }

    fn release_one(&mut self, held: Held, out: &mut Vec<Released>) {
        match self.next_useq {
            Some(next) => {
                debug_assert!(
                    held.useq >= next,
                    "held packets are never behind the release point"
                );
                let skipped = held.useq - next;
                self.counters.lost += skipped as u64;
                let shift = skipped + 1;
                self.released_mask = if shift >= 128 {
                    1
                } else {
                    (self.released_mask << shift) | 1
                };
            }
            None => self.released_mask = 1,
        }
        self.next_useq = Some(held.useq + 1);
        let start = self.place(&held);
        self.end = start + u64::from(held.samples);
        self.first_start.get_or_insert(start);
        out.push(Released {
            start,
            samples: held.samples,
            payload: held.payload,
        });
    }

    /// Where a packet released in sequence order starts on the timeline.
    fn place(&mut self, held: &Held) -> u64 {
        let end = self.end as i64;
        let arrival = held.arrival as i64;
        if let Some((anchor_uts, anchor_sample)) = self.anchor
            && !self.reanchor_next
        {
            let predicted = anchor_sample + (held.uts - anchor_uts);
            let drift = predicted - arrival;
            if predicted >= end - BACKWARD_TOLERANCE_SAMPLES && drift.abs() <= MAX_DRIFT_SAMPLES {
                // Small overlaps (a sender whose timestamps advance less than its packets
                // last) are clamped; the anchor stays, so no error accumulates.
                return predicted.max(end) as u64;
            }
            tracing::warn!(
                party = self.party.as_str(),
                predicted_ms = predicted / 48,
                arrival_ms = arrival / 48,
                previous_end_ms = end / 48,
                "rtp timestamp jump, re-anchoring to arrival time"
            );
        }
        let grid = ANCHOR_GRID_SAMPLES as i64;
        let start = (arrival / grid * grid).max(end);
        if self.anchor.is_some() {
            self.counters.reanchors += 1;
        }
        self.anchor = Some((held.uts, start));
        self.reanchor_next = false;
        start as u64
    }

    fn restart(&mut self, now: u64, out: &mut Vec<Released>) {
        tracing::warn!(
            party = self.party.as_str(),
            "rtp sequence restarted, re-anchoring to arrival time"
        );
        self.release(now, true, out);
        self.counters.restarts += 1;
        self.highest_useq = None;
        self.last_uts = None;
        self.next_useq = None;
        self.released_mask = 0;
        self.restart_candidate = None;
        self.reanchor_next = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: u32 = 960;

    struct Feed {
        tl: Timeline,
        out: Vec<Released>,
        now: u64,
    }

    impl Feed {
        fn new() -> Self {
            Self {
                tl: Timeline::new(Party::Customer),
                out: Vec::new(),
                now: 0,
            }
        }

        fn push(&mut self, seq: u16, ts: u32, arrival: u64) -> Result<(), Rejected> {
            self.now = self.now.max(arrival);
            let pkt = Incoming {
                seq,
                ts,
                arrival,
                samples: MS20,
                payload: seq.to_be_bytes().to_vec(),
            };
            self.tl
                .push(pkt, self.now, &mut self.out)
                .map_err(|(r, _)| r)
        }

        fn drain(&mut self) -> Vec<(u16, u64)> {
            self.tl.drain(&mut self.out);
            self.out
                .drain(..)
                .map(|r| (u16::from_be_bytes([r.payload[0], r.payload[1]]), r.start))
                .collect()
        }
    }

    #[test]
    fn in_order_packets_are_contiguous_from_the_first_arrival() {
        let mut f = Feed::new();
        for i in 0..10u16 {
            f.push(
                100 + i,
                5_000 + u32::from(i) * MS20,
                24_000 + u64::from(i) * 960 + 37,
            )
            .unwrap();
        }
        let got = f.drain();
        assert_eq!(got.len(), 10);
        for (i, (seq, start)) in got.into_iter().enumerate() {
            assert_eq!(seq, 100 + i as u16);
            // Anchor: arrival 24_037 rounded down to the 2.5 ms grid.
            assert_eq!(start, 24_000 + i as u64 * 960);
        }
    }

    #[test]
    fn swapped_packets_come_out_in_order() {
        let mut f = Feed::new();
        let order = [0u16, 1, 3, 2, 4, 6, 5, 7];
        for (n, &i) in order.iter().enumerate() {
            f.push(i, u32::from(i) * MS20, n as u64 * 960).unwrap();
        }
        let got = f.drain();
        let seqs: Vec<u16> = got.iter().map(|g| g.0).collect();
        assert_eq!(seqs, (0..8).collect::<Vec<_>>());
        for (i, (_, start)) in got.iter().enumerate() {
            assert_eq!(*start, i as u64 * 960);
        }
        assert_eq!(f.tl.counters().late, 0);
    }

    #[test]
    fn a_packet_behind_the_release_point_is_late() {
        let mut f = Feed::new();
        f.push(0, 0, 0).unwrap();
        f.push(1, MS20, 960).unwrap();
        // 3..12 arrive; 2 is missing and the hold (100 ms) expires.
        for i in 3..12u16 {
            f.push(i, u32::from(i) * MS20, u64::from(i) * 960).unwrap();
        }
        assert_eq!(f.push(2, 2 * MS20, 12 * 960), Err(Rejected::Late));
        let got = f.drain();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        );
        // The hole keeps its place: packet 3 still starts at 60 ms.
        assert_eq!(got[2].1, 3 * 960);
        let c = f.tl.counters();
        assert_eq!((c.late, c.lost), (1, 1));
    }

    #[test]
    fn duplicates_are_dropped_whether_held_or_written() {
        let mut f = Feed::new();
        f.push(0, 0, 0).unwrap();
        f.push(2, 2 * MS20, 1_920).unwrap();
        assert_eq!(f.push(2, 2 * MS20, 1_930), Err(Rejected::Duplicate), "held");
        f.push(1, MS20, 1_940).unwrap();
        assert_eq!(f.push(1, MS20, 1_950), Err(Rejected::Duplicate), "held");
        // The hold expires: 0, 1 and 2 are written.
        f.push(3, 3 * MS20, 9_600).unwrap();
        assert_eq!(f.out.len(), 4);
        assert_eq!(f.push(1, MS20, 9_610), Err(Rejected::Duplicate), "written");
        assert_eq!(f.push(0, 0, 9_620), Err(Rejected::Duplicate), "written");
        assert_eq!(f.drain().len(), 4);
        assert_eq!(f.tl.counters().duplicates, 4);
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let mut f = Feed::new();
        let ts0 = u32::MAX - 3 * MS20 + 1;
        for i in 0..10u16 {
            let seq = 65_530u16.wrapping_add(i);
            let ts = ts0.wrapping_add(u32::from(i) * MS20);
            // Network jitter of up to 15 ms: positions come from the timestamps, not from it.
            let jitter = u64::from(i % 4) * 240;
            f.push(seq, ts, u64::from(i) * 960 + jitter).unwrap();
        }
        let got = f.drain();
        assert_eq!(got.len(), 10);
        for (i, (seq, start)) in got.into_iter().enumerate() {
            assert_eq!(seq, 65_530u16.wrapping_add(i as u16));
            assert_eq!(start, i as u64 * 960, "packet {i}");
        }
        assert_eq!(
            f.tl.counters(),
            TimelineCounters::default(),
            "no re-anchoring"
        );
    }

    #[test]
    fn reordering_across_the_sequence_wrap() {
        let mut f = Feed::new();
        let seqs = [65_534u16, 65_535, 1, 0, 2];
        for (n, &s) in seqs.iter().enumerate() {
            let i = u32::from(s.wrapping_sub(65_534));
            f.push(
                s,
                (u32::MAX - MS20 + 1).wrapping_add(i * MS20),
                n as u64 * 960,
            )
            .unwrap();
        }
        let got = f.drain();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            [65_534, 65_535, 0, 1, 2]
        );
        assert_eq!(
            got.iter().map(|g| g.1).collect::<Vec<_>>(),
            [0, 960, 1_920, 2_880, 3_840]
        );
    }

    #[test]
    fn a_gap_is_kept_by_the_timestamps() {
        let mut f = Feed::new();
        f.push(0, 0, 0).unwrap();
        // 2 s of silence without packets (DTX), sequence continues.
        f.push(1, MS20 + 96_000, 960 + 96_000 + 200).unwrap();
        let got = f.drain();
        assert_eq!(got[1].1, 960 + 96_000);
        assert_eq!(f.tl.counters().reanchors, 0);
    }

    #[test]
    fn an_absurd_forward_jump_is_reanchored_to_arrival() {
        let mut f = Feed::new();
        f.push(0, 0, 0).unwrap();
        f.push(1, MS20, 960).unwrap();
        // Timestamps jump 30 s ahead, but the packet arrived 20 ms later.
        f.push(2, 30 * 48_000, 1_920).unwrap();
        f.push(3, 30 * 48_000 + MS20, 2_880).unwrap();
        let got = f.drain();
        assert_eq!(got[2].1, 1_920);
        assert_eq!(got[3].1, 2_880, "later packets follow the new anchor");
        assert_eq!(f.tl.counters().reanchors, 1);
    }

    #[test]
    fn a_consistent_long_jump_is_kept() {
        let mut f = Feed::new();
        f.push(0, 0, 0).unwrap();
        // 12 s on hold: both the timestamps and the arrival moved 12 s.
        f.push(1, 12 * 48_000, 12 * 48_000 + 500).unwrap();
        let got = f.drain();
        assert_eq!(got[1].1, 12 * 48_000);
        assert_eq!(f.tl.counters().reanchors, 0);
    }

    #[test]
    fn a_backward_jump_is_reanchored_and_never_overlaps() {
        let mut f = Feed::new();
        for i in 0..5u16 {
            f.push(i, 480_000 + u32::from(i) * MS20, u64::from(i) * 960)
                .unwrap();
        }
        // The sender's timestamps fall back by 5 s (sequence continues).
        f.push(5, 480_000 - 240_000, 5 * 960).unwrap();
        f.push(6, 480_000 - 240_000 + MS20, 6 * 960).unwrap();
        let got = f.drain();
        assert_eq!(got[5].1, 5 * 960);
        assert_eq!(got[6].1, 6 * 960);
        assert_eq!(f.tl.counters().reanchors, 1);
    }

    #[test]
    fn a_small_overlap_is_clamped_without_reanchoring() {
        let mut f = Feed::new();
        f.push(0, 0, 0).unwrap();
        // Timestamp advances 10 ms but the packet lasts 20 ms.
        f.push(1, 480, 960).unwrap();
        f.push(2, 480 + MS20, 1_920).unwrap();
        let got = f.drain();
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [0, 960, 1_920]);
        assert_eq!(f.tl.counters().reanchors, 0);
    }

    #[test]
    fn a_sequence_restart_is_followed_after_two_consecutive_packets() {
        let mut f = Feed::new();
        for i in 0..300u16 {
            f.push(30_000 + i, u32::from(i) * MS20, u64::from(i) * 960)
                .unwrap();
        }
        let t = 300 * 960;
        // New sender: sequence and timestamps start over far below.
        assert_eq!(
            f.push(10, 7, t),
            Err(Rejected::Late),
            "first one is on probation"
        );
        f.push(11, 7 + MS20, t + 960).unwrap();
        f.push(12, 7 + 2 * MS20, t + 1_920).unwrap();
        let got = f.drain();
        assert_eq!(got.len(), 302);
        assert_eq!(got[300], (11, t + 960));
        assert_eq!(got[301], (12, t + 1_920));
        assert_eq!(f.tl.counters().restarts, 1);
    }

    #[test]
    fn a_single_stale_packet_does_not_restart() {
        let mut f = Feed::new();
        for i in 0..300u16 {
            f.push(i, u32::from(i) * MS20, u64::from(i) * 960).unwrap();
        }
        assert_eq!(f.push(5, 5 * MS20, 300 * 960), Err(Rejected::Late));
        f.push(300, 300 * MS20, 300 * 960).unwrap();
        // Another stale one, but not consecutive with the first: still just late.
        assert_eq!(f.push(6, 6 * MS20, 301 * 960), Err(Rejected::Late));
        let got = f.drain();
        assert_eq!(got.len(), 301);
        assert_eq!(f.tl.counters().restarts, 0);
    }
}
