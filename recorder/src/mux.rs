//! A small Ogg page writer for multiplexed Ogg Opus streams (RFC 3533, RFC 7845).
//!
//! Written here rather than taken from the `ogg` crate's `PacketWriter` because the recorder
//! needs to decide page boundaries itself: a page must end before every gap on the timeline
//! (see the crate docs, "Layout"), and pages must be flushed on a timer for crash safety.
//! Packets are copied into a per-stream page buffer, so the caller's buffer is free at once.

use std::io::{self, Write};

/// A page holds at most this much audio (1 s).
pub(crate) const PAGE_MAX_SAMPLES: u64 = 48_000;
/// The largest packet that fits on one page (255 lacing values). Every valid Opus packet
/// (at most 48 frames of 1275 bytes) is smaller.
pub(crate) const MAX_PACKET_BYTES: usize = 255 * 255 - 1;

// No packet ever continues across pages here, so the "continued" flag (0x01) is never set.
const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;

/// The CRC-32 of Ogg pages: polynomial 0x04c11db7, no reflection, initial value 0.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

pub(crate) fn crc_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)];
    }
    crc
}

/// The `OpusHead` identification header (RFC 7845 §5.1): channel mapping family 0.
pub(crate) fn opus_head(channels: u8, pre_skip: u16, input_sample_rate: u32) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(channels);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&input_sample_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family
    head
}

/// The `OpusTags` comment header (RFC 7845 §5.2).
pub(crate) fn opus_tags(vendor: &str, comments: &[(&str, &str)]) -> Vec<u8> {
    let mut tags = Vec::with_capacity(64);
    tags.extend_from_slice(b"OpusTags");
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    tags.extend_from_slice(&len(vendor.len()));
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&len(comments.len()));
    for (key, value) in comments {
        tags.extend_from_slice(&len(key.len() + 1 + value.len()));
        tags.extend_from_slice(key.as_bytes());
        tags.push(b'=');
        tags.extend_from_slice(value.as_bytes());
    }
    tags
}

/// One logical stream's headers.
pub(crate) struct StreamHeaders {
    pub serial: u32,
    pub head: Vec<u8>,
    pub tags: Vec<u8>,
}

struct Stream {
    serial: u32,
    page_seq: u32,
    lacing: Vec<u8>,
    body: Vec<u8>,
    /// Timeline position of the first packet on the open page.
    page_start: u64,
    /// End of the last packet on a page of this stream (the granule position).
    end: u64,
    /// The held-back newest packet, and its (start, samples) if there is one.
    pending: Vec<u8>,
    pending_at: Option<(u64, u32)>,
    eos: bool,
}

/// Writes several concurrently multiplexed Ogg Opus streams into one byte stream.
pub(crate) struct OggMux<W: Write> {
    out: W,
    streams: Vec<Stream>,
    bytes_written: u64,
    header: [u8; 27],
}

impl<W: Write> OggMux<W> {
    /// Write every stream's `OpusHead` page (all beginning-of-stream pages first, as RFC 3533
    /// asks of multiplexed streams), then every stream's `OpusTags` page.
    pub(crate) fn new(out: W, headers: &[StreamHeaders]) -> io::Result<Self> {
        let mut mux = Self {
            out,
            streams: headers
                .iter()
                .map(|h| Stream {
                    serial: h.serial,
                    page_seq: 0,
                    lacing: Vec::with_capacity(255),
                    body: Vec::with_capacity(8 * 1024),
                    page_start: 0,
                    end: 0,
                    pending: Vec::with_capacity(1_500),
                    pending_at: None,
                    eos: false,
                })
                .collect(),
            bytes_written: 0,
            header: [0; 27],
        };
        for (idx, h) in headers.iter().enumerate() {
            mux.append(idx, &h.head)?;
            mux.flush_stream(idx, FLAG_BOS)?;
        }
        for (idx, h) in headers.iter().enumerate() {
            mux.append(idx, &h.tags)?;
            mux.flush_stream(idx, 0)?;
        }
        Ok(mux)
    }

    /// Bytes of Ogg written to the output so far.
    pub(crate) fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Add one audio packet that covers `[start, start + samples)` on the timeline.
    ///
    /// The newest packet of each stream is held back until the next one comes (or
    /// [`OggMux::finish`]), so that the end-of-stream page always carries a packet. A page
    /// ends before a packet that does not continue the page's audio seamlessly, and before
    /// one that would make the page longer than [`PAGE_MAX_SAMPLES`] or 255 segments.
    pub(crate) fn write_packet(
        &mut self,
        idx: usize,
        start: u64,
        samples: u32,
        data: &[u8],
    ) -> io::Result<()> {
        if data.len() > MAX_PACKET_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet too large for one ogg page",
            ));
        }
        self.commit_pending(idx)?;
        let s = &mut self.streams[idx];
        debug_assert!(!s.eos, "packet after end of stream");
        debug_assert!(start >= s.end, "timeline goes backwards");
        s.pending.clear();
        s.pending.extend_from_slice(data);
        s.pending_at = Some((start, samples));
        Ok(())
    }

    /// Move a stream's held-back packet onto its open page.
    fn commit_pending(&mut self, idx: usize) -> io::Result<()> {
        let Some((start, samples)) = self.streams[idx].pending_at.take() else {
            return Ok(());
        };
        let data = std::mem::take(&mut self.streams[idx].pending);
        let s = &self.streams[idx];
        let segments = data.len() / 255 + 1;
        let end = start + u64::from(samples);
        if !s.lacing.is_empty()
            && (start != s.end
                || s.lacing.len() + segments > 255
                || end - s.page_start > PAGE_MAX_SAMPLES)
        {
            self.flush_stream(idx, 0)?;
        }
        let s = &mut self.streams[idx];
        if s.lacing.is_empty() {
            s.page_start = start;
        }
        s.end = end;
        let result = self.append(idx, &data);
        self.streams[idx].pending = data;
        result
    }

    /// Write out every open page (the periodic flush); held-back packets stay.
    pub(crate) fn flush_pages(&mut self) -> io::Result<()> {
        for idx in 0..self.streams.len() {
            if !self.streams[idx].lacing.is_empty() {
                self.flush_stream(idx, 0)?;
            }
        }
        Ok(())
    }

    /// End every stream: its last page, which holds at least its last packet, carries the
    /// end-of-stream flag. A stream without audio ends with an empty page at granule 0.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        for idx in 0..self.streams.len() {
            if !self.streams[idx].eos {
                self.commit_pending(idx)?;
                self.flush_stream(idx, FLAG_EOS)?;
                self.streams[idx].eos = true;
            }
        }
        self.out.flush()
    }

    fn append(&mut self, idx: usize, data: &[u8]) -> io::Result<()> {
        let s = &mut self.streams[idx];
        let full = data.len() / 255;
        if s.lacing.len() + full + 1 > 255 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet too large for one ogg page",
            ));
        }
        s.lacing.extend(std::iter::repeat_n(255u8, full));
        s.lacing.push((data.len() % 255) as u8);
        s.body.extend_from_slice(data);
        Ok(())
    }

    fn flush_stream(&mut self, idx: usize, flags: u8) -> io::Result<()> {
        let s = &mut self.streams[idx];
        // Header pages carry granule position 0; audio pages the end of their last packet.
        let granule = if s.page_seq < 2 { 0 } else { s.end };
        let h = &mut self.header;
        h[0..4].copy_from_slice(b"OggS");
        h[4] = 0;
        h[5] = flags;
        h[6..14].copy_from_slice(&granule.to_le_bytes());
        h[14..18].copy_from_slice(&s.serial.to_le_bytes());
        h[18..22].copy_from_slice(&s.page_seq.to_le_bytes());
        h[22..26].fill(0);
        h[26] = s.lacing.len() as u8;
        let crc = crc_update(crc_update(crc_update(0, h), &s.lacing), &s.body);
        h[22..26].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(h)?;
        self.out.write_all(&s.lacing)?;
        self.out.write_all(&s.body)?;
        self.bytes_written += (27 + s.lacing.len() + s.body.len()) as u64;
        s.page_seq += 1;
        s.lacing.clear();
        s.body.clear();
        Ok(())
    }
}

/// A stream serial number derived from the recording id and the stream's name (FNV-1a), so
/// that a recording's serials are stable and its two streams' serials differ.
pub(crate) fn serial_for(recording_id: &str, stream: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in recording_id.bytes().chain([0]).chain(stream.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ogg_reference_value() {
        // Poly 0x04c11db7, init 0, no reflection, no final xor: the bitwise complement of
        // the CRC-32/POSIX check value 0x765e7680 for "123456789".
        assert_eq!(crc_update(0, b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn serials_differ_per_stream() {
        let a = serial_for("rec-1", "customer");
        let b = serial_for("rec-1", "agent");
        assert_ne!(a, b);
        assert_eq!(a, serial_for("rec-1", "customer"));
    }

    #[test]
    fn pages_read_back_with_the_ogg_crate() {
        let headers = [0u32, 1].map(|i| StreamHeaders {
            serial: 77 + i,
            head: opus_head(2, 0, 48_000),
            tags: opus_tags("test", &[("PARTY", "x")]),
        });
        let mut mux = OggMux::new(Vec::new(), &headers).unwrap();
        let big = vec![7u8; 600];
        mux.write_packet(0, 960, 960, &[1, 2, 3]).unwrap();
        mux.write_packet(1, 0, 960, &big).unwrap();
        mux.write_packet(0, 1_920, 960, &[4]).unwrap();
        // A gap: the page ends before this packet.
        mux.write_packet(0, 9_600, 960, &[5, 5]).unwrap();
        mux.finish().unwrap();
        let bytes = mux.get_mut().clone();
        assert_eq!(mux.bytes_written(), bytes.len() as u64);

        let mut rd = ogg::PacketReader::new(std::io::Cursor::new(bytes));
        let mut seen = Vec::new();
        while let Some(p) = rd.read_packet().unwrap() {
            seen.push((
                p.stream_serial(),
                p.data.len(),
                p.absgp_page(),
                p.last_in_page(),
                p.last_in_stream(),
            ));
        }
        assert_eq!(
            seen,
            vec![
                (77, 19, 0, true, false),
                (78, 19, 0, true, false),
                (77, 31, 0, true, false),
                (78, 31, 0, true, false),
                (77, 3, 2_880, false, false),
                (77, 1, 2_880, true, false),
                (77, 2, 10_560, true, true),
                (78, 600, 960, true, true),
            ]
        );
    }

    #[test]
    fn the_end_of_stream_page_always_holds_the_last_packet() {
        let headers = [StreamHeaders {
            serial: 5,
            head: opus_head(2, 0, 48_000),
            tags: opus_tags("test", &[]),
        }];
        let mut mux = OggMux::new(Vec::new(), &headers).unwrap();
        for i in 0..3u64 {
            mux.write_packet(0, i * 960, 960, &[i as u8]).unwrap();
        }
        // A timed flush writes the page, but the newest packet stays back.
        mux.flush_pages().unwrap();
        mux.finish().unwrap();
        let mut rd = ogg::PacketReader::new(std::io::Cursor::new(mux.get_mut().clone()));
        let mut audio = Vec::new();
        while let Some(p) = rd.read_packet().unwrap() {
            audio.push((p.absgp_page(), p.last_in_stream(), p.data));
        }
        assert_eq!(
            audio[2..],
            [
                (1_920, false, vec![0]),
                (1_920, false, vec![1]),
                (2_880, true, vec![2])
            ]
        );
    }
}
