//! Reading a recording back: demux the Ogg file by serial and place every packet on the
//! timeline from the page granule positions.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::meta::{RecordingMetadata, read_metadata};
use crate::mux::crc_update;
use crate::output::AUDIO_FILE;
use crate::toc::packet_samples;
use crate::{Party, RecorderError};

/// A recording as read from disk.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The Ogg file that was read.
    pub audio_path: PathBuf,
    /// `meta.json`, when a recording directory was read and it has one.
    pub metadata: Option<RecordingMetadata>,
    /// The customer's stream, if the file has one.
    pub customer: Option<PartyTrack>,
    /// The agent's stream, if the file has one.
    pub agent: Option<PartyTrack>,
    /// The file ends inside a page, or a stream has no end-of-stream page: the writer was
    /// killed. Everything up to the last whole page was read.
    pub truncated: bool,
}

impl Recording {
    /// One party's stream.
    pub fn track(&self, party: Party) -> Option<&PartyTrack> {
        match party {
            Party::Customer => self.customer.as_ref(),
            Party::Agent => self.agent.as_ref(),
        }
    }

    /// The end of the last packet of either party, in 48 kHz samples since the start.
    pub fn end_sample(&self) -> u64 {
        Party::ALL
            .iter()
            .filter_map(|&p| self.track(p))
            .map(PartyTrack::end_sample)
            .max()
            .unwrap_or(0)
    }
}

/// One party's Opus logical stream.
#[derive(Debug, Clone)]
pub struct PartyTrack {
    /// Which party (from the `PARTY` tag; without it, the first stream is the customer's).
    pub party: Party,
    /// The Ogg serial number.
    pub serial: u32,
    /// The `OpusHead` header.
    pub head: OpusHead,
    /// The `OpusTags` vendor string.
    pub vendor: String,
    /// The `OpusTags` comments, as (key, value).
    pub comments: Vec<(String, String)>,
    /// The audio packets in stream order.
    pub packets: Vec<RecordedPacket>,
    /// Whether the stream's end-of-stream page was read.
    pub ended: bool,
}

impl PartyTrack {
    /// The value of a comment (key compared case-insensitively).
    pub fn comment(&self, key: &str) -> Option<&str> {
        self.comments
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The end of the last packet, in 48 kHz samples since the start.
    pub fn end_sample(&self) -> u64 {
        self.packets.last().map_or(0, RecordedPacket::end)
    }
}

/// The `OpusHead` identification header (RFC 7845 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// Encapsulation version (1).
    pub version: u8,
    /// Output channel count.
    pub channels: u8,
    /// Samples to drop at the start of decoding.
    pub pre_skip: u16,
    /// The original input sample rate (informational).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family.
    pub mapping_family: u8,
}

/// One Opus packet with its place on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPacket {
    /// The granule position at the end of this packet (for the last packet of a page, the
    /// page's granule position).
    pub granule: u64,
    /// First sample on the timeline: `granule - pre_skip - samples`.
    pub start: u64,
    /// Duration in 48 kHz samples (from the TOC byte).
    pub samples: u32,
    /// The packet, exactly as stored.
    pub data: Vec<u8>,
}

impl RecordedPacket {
    /// The sample after the packet's last one.
    pub fn end(&self) -> u64 {
        self.start + u64::from(self.samples)
    }
}

fn format_error(msg: impl Into<String>) -> RecorderError {
    RecorderError::Format(msg.into())
}

/// Read a recording: `path` is a recording directory (its `audio.ogg` and `meta.json` are
/// read) or an Ogg file.
///
/// Every Opus logical stream is demuxed by serial number; each packet's position comes from
/// the granule position of its page and the TOC durations of the packets after it on that
/// page (see the crate docs, "Layout"). Page checksums are verified. A file that ends
/// inside a page, or before a stream's end-of-stream page (a killed writer), reads up to the
/// last whole page and sets [`Recording::truncated`]; any other damage is an error.
pub fn read_recording(path: &Path) -> Result<Recording, RecorderError> {
    let (audio_path, metadata) = if path.is_dir() {
        let metadata = if path.join(crate::meta::META_FILE).exists() {
            Some(read_metadata(path)?)
        } else {
            None
        };
        (path.join(AUDIO_FILE), metadata)
    } else {
        (path.to_path_buf(), None)
    };
    let input = BufReader::new(File::open(&audio_path)?);
    read_ogg(input, audio_path, metadata)
}

/// Read a recording from any byte stream of its Ogg file, e.g. the recording vault's
/// decrypting reader: the same demux and checks as [`read_recording`]. `source` names the
/// stream in [`Recording::audio_path`]; there is no `meta.json`.
pub fn read_recording_from(
    input: impl Read,
    source: impl Into<PathBuf>,
) -> Result<Recording, RecorderError> {
    read_ogg(BufReader::new(input), source.into(), None)
}

fn read_ogg(
    mut input: impl Read,
    audio_path: PathBuf,
    metadata: Option<RecordingMetadata>,
) -> Result<Recording, RecorderError> {
    let mut streams: HashMap<u32, StreamBuild> = HashMap::new();
    let mut order: Vec<u32> = Vec::new();
    let mut offset = 0u64;
    let mut cut = false;
    loop {
        let page = match read_page(&mut input, offset)? {
            PageRead::Page(page) => page,
            PageRead::End => break,
            PageRead::Cut => {
                cut = true;
                break;
            }
        };
        offset += page.len();
        if page.flags & FLAG_BOS != 0 {
            if streams.contains_key(&page.serial) {
                return Err(format_error(format!("stream {} begins twice", page.serial)));
            }
            order.push(page.serial);
            streams.insert(page.serial, StreamBuild::new(page.serial));
        }
        let Some(stream) = streams.get_mut(&page.serial) else {
            return Err(format_error(format!(
                "stream {} has no beginning page",
                page.serial
            )));
        };
        stream.take_page(&page)?;
    }
    let mut recording = Recording {
        audio_path,
        metadata,
        customer: None,
        agent: None,
        truncated: cut,
    };
    let mut untagged = Vec::new();
    for serial in order {
        let Some(build) = streams.remove(&serial) else {
            continue;
        };
        let Some(track) = build.finish() else {
            continue;
        };
        recording.truncated |= !track.ended;
        let party = match track.comment("PARTY") {
            Some("customer") => Party::Customer,
            Some("agent") => Party::Agent,
            Some(other) => return Err(format_error(format!("unknown party tag {other:?}"))),
            None => {
                untagged.push(track);
                continue;
            }
        };
        place(&mut recording, PartyTrack { party, ..track })?;
    }
    for track in untagged {
        let party = if recording.customer.is_none() {
            Party::Customer
        } else {
            Party::Agent
        };
        place(&mut recording, PartyTrack { party, ..track })?;
    }
    Ok(recording)
}

fn place(recording: &mut Recording, track: PartyTrack) -> Result<(), RecorderError> {
    let slot = match track.party {
        Party::Customer => &mut recording.customer,
        Party::Agent => &mut recording.agent,
    };
    if slot.is_some() {
        return Err(format_error(format!(
            "more than one {} stream",
            track.party.as_str()
        )));
    }
    *slot = Some(track);
    Ok(())
}

const FLAG_CONTINUED: u8 = 0x01;
const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;

/// One Ogg page (RFC 3533 §6).
struct Page {
    flags: u8,
    granule: u64,
    serial: u32,
    lacing: Vec<u8>,
    body: Vec<u8>,
}

impl Page {
    fn len(&self) -> u64 {
        (27 + self.lacing.len() + self.body.len()) as u64
    }
}

enum PageRead {
    Page(Page),
    /// A clean end of file, between pages.
    End,
    /// The file ends inside a page.
    Cut,
}

/// Fill `buf` as far as the input goes; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, RecorderError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

fn read_page(input: &mut impl Read, offset: u64) -> Result<PageRead, RecorderError> {
    let mut header = [0u8; 27];
    match read_full(input, &mut header)? {
        0 => return Ok(PageRead::End),
        27 => {}
        _ => return Ok(PageRead::Cut),
    }
    if &header[0..4] != b"OggS" || header[4] != 0 {
        return Err(format_error(format!("no ogg page at byte {offset}")));
    }
    let mut lacing = vec![0u8; usize::from(header[26])];
    if read_full(input, &mut lacing)? < lacing.len() {
        return Ok(PageRead::Cut);
    }
    let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
    let mut body = vec![0u8; body_len];
    if read_full(input, &mut body)? < body_len {
        return Ok(PageRead::Cut);
    }
    let stored = u32::from_le_bytes([header[22], header[23], header[24], header[25]]);
    header[22..26].fill(0);
    let crc = crc_update(crc_update(crc_update(0, &header), &lacing), &body);
    if crc != stored {
        return Err(format_error(format!(
            "page checksum mismatch at byte {offset}"
        )));
    }
    Ok(PageRead::Page(Page {
        flags: header[5],
        granule: u64::from_le_bytes(header[6..14].try_into().unwrap_or_default()),
        serial: u32::from_le_bytes([header[14], header[15], header[16], header[17]]),
        lacing,
        body,
    }))
}

/// A logical stream being read.
struct StreamBuild {
    serial: u32,
    /// Packets completed so far, counting headers.
    packet_count: u64,
    /// `Some(false)` for a stream that is not Opus (skipped).
    opus: Option<bool>,
    head: Option<OpusHead>,
    tags: Option<(String, Vec<(String, String)>)>,
    packets: Vec<RecordedPacket>,
    /// A packet that continues on the next page.
    partial: Vec<u8>,
    ended: bool,
}

impl StreamBuild {
    fn new(serial: u32) -> Self {
        Self {
            serial,
            packet_count: 0,
            opus: None,
            head: None,
            tags: None,
            packets: Vec::new(),
            partial: Vec::new(),
            ended: false,
        }
    }

    fn take_page(&mut self, page: &Page) -> Result<(), RecorderError> {
        if self.ended {
            return Err(format_error(format!(
                "stream {}: page after end of stream",
                self.serial
            )));
        }
        if page.flags & FLAG_CONTINUED == 0 && !self.partial.is_empty() {
            return Err(format_error(format!(
                "stream {}: unfinished packet",
                self.serial
            )));
        }
        let mut audio: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut pos = 0usize;
        let mut packet = std::mem::take(&mut self.partial);
        for &len in &page.lacing {
            let len = usize::from(len);
            packet.extend_from_slice(&page.body[pos..pos + len]);
            pos += len;
            if len < 255 {
                let data = std::mem::take(&mut packet);
                if let Some(audio_packet) = self.take_packet(data)? {
                    audio.push(audio_packet);
                }
            }
        }
        self.partial = packet;
        if !audio.is_empty() {
            self.place_page(page.granule, audio)?;
        }
        if page.flags & FLAG_EOS != 0 {
            self.ended = true;
        }
        Ok(())
    }

    /// Handle a completed packet; audio packets are returned with their duration.
    fn take_packet(&mut self, data: Vec<u8>) -> Result<Option<(u32, Vec<u8>)>, RecorderError> {
        self.packet_count += 1;
        match self.packet_count {
            1 => {
                if data.starts_with(b"OpusHead") {
                    self.head = Some(parse_head(&data)?);
                    self.opus = Some(true);
                } else {
                    tracing::warn!(serial = self.serial, "skipping a stream that is not opus");
                    self.opus = Some(false);
                }
                Ok(None)
            }
            _ if self.opus != Some(true) => Ok(None),
            2 => {
                self.tags = Some(parse_tags(&data)?);
                Ok(None)
            }
            _ => Ok(Some((packet_samples(&data)?, data))),
        }
    }

    /// Place a page's audio packets: they are contiguous and the last ends at the granule.
    fn place_page(
        &mut self,
        granule: u64,
        audio: Vec<(u32, Vec<u8>)>,
    ) -> Result<(), RecorderError> {
        let pre_skip = u64::from(self.head.map_or(0, |h| h.pre_skip));
        let total: u64 = audio.iter().map(|(n, _)| u64::from(*n)).sum();
        let start = granule.checked_sub(pre_skip + total).ok_or_else(|| {
            format_error(format!(
                "stream {}: granule position {granule} smaller than the page's audio",
                self.serial
            ))
        })?;
        if let Some(prev) = self.packets.last()
            && start < prev.end()
        {
            return Err(format_error(format!(
                "stream {}: granule positions go backwards",
                self.serial
            )));
        }
        let mut at = start;
        for (samples, data) in audio {
            let end = at + u64::from(samples);
            self.packets.push(RecordedPacket {
                granule: end + pre_skip,
                start: at,
                samples,
                data,
            });
            at = end;
        }
        Ok(())
    }

    fn finish(self) -> Option<PartyTrack> {
        let head = self.head?;
        let (vendor, comments) = self.tags.unwrap_or_default();
        Some(PartyTrack {
            party: Party::Customer,
            serial: self.serial,
            head,
            vendor,
            comments,
            packets: self.packets,
            ended: self.ended,
        })
    }
}

fn parse_head(data: &[u8]) -> Result<OpusHead, RecorderError> {
    if data.len() < 19 {
        return Err(format_error("opus head too short"));
    }
    let head = OpusHead {
        version: data[8],
        channels: data[9],
        pre_skip: u16::from_le_bytes([data[10], data[11]]),
        input_sample_rate: u32::from_le_bytes([data[12], data[13], data[14], data[15]]),
        output_gain: i16::from_le_bytes([data[16], data[17]]),
        mapping_family: data[18],
    };
    if head.version >> 4 != 0 {
        return Err(format_error(format!(
            "unsupported opus head version {}",
            head.version
        )));
    }
    if head.channels == 0 {
        return Err(format_error("opus head with zero channels"));
    }
    Ok(head)
}

fn parse_tags(data: &[u8]) -> Result<(String, Vec<(String, String)>), RecorderError> {
    let mut rest = data
        .strip_prefix(b"OpusTags")
        .ok_or_else(|| format_error("second packet is not opus tags"))?;
    let mut take = |n: usize| -> Result<&[u8], RecorderError> {
        if rest.len() < n {
            return Err(format_error("opus tags truncated"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let len = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let vendor_len = len(take(4)?);
    let vendor = String::from_utf8_lossy(take(vendor_len)?).into_owned();
    let count = len(take(4)?);
    let mut comments = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = len(take(4)?);
        let comment = String::from_utf8_lossy(take(n)?).into_owned();
        let (key, value) = comment.split_once('=').unwrap_or((comment.as_str(), ""));
        comments.push((key.to_owned(), value.to_owned()));
    }
    Ok((vendor, comments))
}
