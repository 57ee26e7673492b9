//! Opus packet duration from the TOC byte (RFC 6716 §3.1).

use crate::RecorderError;

/// The Opus clock: every duration and granule position in this crate counts 48 kHz samples.
pub const SAMPLE_RATE: u32 = 48_000;

/// The longest legal Opus packet: 120 ms.
pub const MAX_PACKET_SAMPLES: u32 = 5_760;

/// The number of 48 kHz samples (per channel) that an Opus packet decodes to, read from its
/// TOC byte and, for code-3 packets, its frame-count byte (RFC 6716 §3.1–3.2).
///
/// Only the framing needed for the duration is checked; the frame lengths inside the packet
/// are left to the decoder.
pub fn packet_samples(packet: &[u8]) -> Result<u32, RecorderError> {
    let &toc = packet
        .first()
        .ok_or(RecorderError::InvalidOpusPacket("empty packet"))?;
    let config = toc >> 3;
    // Frame sizes per configuration number (RFC 6716 table 2), in 48 kHz samples.
    let frame: u32 = match config {
        // SILK-only, NB/MB/WB: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1_920, 2_880][usize::from(config % 4)],
        // Hybrid, SWB/FB: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT-only, NB/WB/SWB/FB: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames: u32 = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => {
            let count = packet.get(1).ok_or(RecorderError::InvalidOpusPacket(
                "code 3 packet without frame count byte",
            ))? & 0x3f;
            if count == 0 {
                return Err(RecorderError::InvalidOpusPacket(
                    "code 3 packet with zero frames",
                ));
            }
            u32::from(count)
        }
    };
    let total = frame * frames;
    if total > MAX_PACKET_SAMPLES {
        return Err(RecorderError::InvalidOpusPacket(
            "packet longer than 120 ms",
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_libopus_for_every_toc_and_frame_count() {
        for toc in 0..=255u8 {
            for count_byte in [0u8, 1, 2, 3, 6, 12, 24, 48, 49, 63, 0x80 | 4, 0x40 | 5] {
                let packet = [toc, count_byte, 0, 0, 0, 0];
                let ours = packet_samples(&packet).ok();
                // libopus reports a code 3 packet with zero frames as 0 samples; RFC 6716
                // §3.2.5 (R5) makes it invalid, which is what we say.
                let theirs = opus::packet::get_nb_samples(&packet, 48_000)
                    .ok()
                    .filter(|&n| n > 0)
                    .map(|n| u32::try_from(n).unwrap());
                assert_eq!(ours, theirs, "toc {toc:#04x} count byte {count_byte:#04x}");
            }
        }
    }

    #[test]
    fn common_webrtc_packets() {
        // SILK WB 20 ms (config 9), CELT FB 20 ms (config 31), hybrid FB 20 ms (config 15).
        assert_eq!(packet_samples(&[9 << 3]).unwrap(), 960);
        assert_eq!(packet_samples(&[31 << 3]).unwrap(), 960);
        assert_eq!(packet_samples(&[15 << 3]).unwrap(), 960);
        // CELT 2.5 ms, code 1: two frames.
        assert_eq!(packet_samples(&[(16 << 3) | 1]).unwrap(), 240);
        // SILK 60 ms, code 3 with two frames: 120 ms, the maximum.
        assert_eq!(packet_samples(&[(3 << 3) | 3, 2]).unwrap(), 5_760);
    }

    #[test]
    fn malformed_packets_are_refused() {
        assert!(packet_samples(&[]).is_err());
        assert!(packet_samples(&[3]).is_err(), "code 3 needs a count byte");
        assert!(packet_samples(&[3, 0]).is_err(), "zero frames");
        assert!(packet_samples(&[(3 << 3) | 3, 3]).is_err(), "180 ms");
    }
}
