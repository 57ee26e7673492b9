//! One emulated participant: a signaling session ([`crate::signal`]), one peer connection (the sans-IO `rtc`
//! stack, the same one the server uses), one UDP socket, media sent on a clock.
//!
//! Audio is real Opus (a tone encoded once and looped) so the server's recording can be
//! checked. Video packets carry a VP8 payload descriptor and then a probe: a magic number,
//! the send time in nanoseconds since the run's epoch and a sequence number, so the receiver
//! (the other participant, in the same process) measures one-way latency through the server,
//! loss and jitter without decoding anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use bytes::{Bytes, BytesMut};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::net::UdpSocket;

use crate::signal::SignalEvent;
use crate::stats::Stats;

/// Probe header inside every video payload, after the 1-byte VP8 descriptor.
const MAGIC: u32 = 0x5649_4444; // "VIDD"
/// Bytes of a video packet's payload.
pub const VIDEO_PAYLOAD: usize = 1_150;
/// Video packets per 20 ms tick (150 packets/s, about 1.4 Mbit/s).
pub const VIDEO_PER_TICK: usize = 3;

/// What a participant needs to know.
pub struct Plan {
    pub target: crate::signal::Target,
    /// Leave by itself once media is over (Janus); otherwise wait for the server's end (vidid).
    pub leave_after_media: bool,
    pub media_for: Duration,
    pub epoch: Instant,
    pub opus: Arc<Vec<Bytes>>,
    pub stats: Arc<Stats>,
}

struct Senders {
    audio: (RTCRtpSenderId, u32, u8),
    video: (RTCRtpSenderId, u32, u8),
}

fn track(kind: RtpCodecKind, mime: &str, clock: u32, channels: u16, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
        format!("load-{kind}"),
        format!("load-{kind}-{ssrc}"),
        format!("load {kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: RTCRtpCodec {
                mime_type: mime.into(),
                clock_rate: clock,
                channels,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    )
}

fn negotiated_pt(pc: &mut RTCPeerConnection, id: RTCRtpSenderId, mime: &str) -> anyhow::Result<u8> {
    let mut s = pc.rtp_sender(id).ok_or_else(|| anyhow!("sender gone"))?;
    s.get_parameters()
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
        .ok_or_else(|| anyhow!("{mime} not negotiated"))
}

/// Runs one participant until its media time is over and the call has been ended by the
/// orchestrator (or the server closes the socket).
pub async fn run(plan: Plan) -> anyhow::Result<()> {
    // Janus leaves loopback out of ICE: there the client binds the namespace's veth address.
    let bind = match plan.target {
        crate::signal::Target::Janus { .. } => "127.0.0.2:0",
        crate::signal::Target::Vidid { .. } => "127.0.0.1:0",
    };
    let socket = UdpSocket::bind(bind).await?;
    let local: SocketAddr = socket.local_addr()?;
    let mut me = MediaEngine::default();
    me.register_default_codecs()?;
    let registry = register_default_interceptors(rtc::interceptor::Registry::new(), &mut me)?;
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(me)
        .with_interceptor_registry(registry)
        .build(Instant::now())?;
    let (a_ssrc, v_ssrc): (u32, u32) = (rand::random(), rand::random());
    let a_id = pc.add_track(track(RtpCodecKind::Audio, MIME_TYPE_OPUS, 48000, 2, a_ssrc))?;
    let v_id = pc.add_track(track(RtpCodecKind::Video, MIME_TYPE_VP8, 90000, 0, v_ssrc))?;
    let cand = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".into(),
            address: local.ip().to_string(),
            port: local.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&cand).to_json()?)?;
    pc.add_local_candidate(RTCIceCandidateInit::default())?;
    let offer = pc.create_offer(None)?;
    pc.set_local_description(Instant::now(), offer)?;
    let sdp = pc
        .local_description()
        .ok_or_else(|| anyhow!("no local description"))?
        .sdp;
    let mut session = crate::signal::Session::open(&plan.target, sdp).await?;

    let mut senders: Option<Senders> = None;
    // An echo server (Janus) has no other participant to wait for.
    let mut peer_ready = plan.leave_after_media;
    let mut media_started: Option<Instant> = None;
    let mut connected_at: Option<Instant> = None;
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut n_audio: u64 = 0;
    let mut n_video: u64 = 0;
    let mut probe_seq: u64 = 0;
    let mut receiver = crate::stats::Receiver::default();
    let stats = plan.stats.clone();
    loop {
        // Sans-IO rule: after every input, drain every output.
        while let Some(out) = pc.poll_write() {
            if socket
                .try_send_to(&out.message, out.transport.peer_addr)
                .is_err()
            {
                stats
                    .send_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        while let Some(ev) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = ev {
                match s {
                    RTCPeerConnectionState::Connected if connected_at.is_none() => {
                        connected_at = Some(Instant::now());
                        senders = Some(Senders {
                            audio: (a_id, a_ssrc, negotiated_pt(&mut pc, a_id, MIME_TYPE_OPUS)?),
                            video: (v_id, v_ssrc, negotiated_pt(&mut pc, v_id, MIME_TYPE_VP8)?),
                        });
                        stats
                            .connected
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    RTCPeerConnectionState::Failed => bail!("peer connection failed"),
                    _ => {}
                }
            }
        }
        while let Some(m) = pc.poll_read() {
            if let RTCMessage::RtpPacket(_, p) = m.message {
                receiver.on_rtp(&p.payload, plan.epoch, &stats);
            }
        }
        if let Some(at) = pc.poll_timeout() {
            sleep.as_mut().reset(at.into());
        }
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = r?;
                pc.handle_read(TaggedBytesMut {
                    now: Instant::now(),
                    transport: TransportContext { local_addr: local, peer_addr: from, ecn: None, transport_protocol: TransportProtocol::UDP },
                    message: BytesMut::from(&buf[..n]),
                })?;
            }
            ev = session.events.recv() => match ev {
                Some(SignalEvent::Answer(sdp)) => {
                    pc.set_remote_description(Instant::now(), RTCSessionDescription::answer(sdp)?)?;
                }
                Some(SignalEvent::Candidate { candidate, sdp_mid, sdp_mline_index }) => {
                    if !candidate.is_empty() {
                        let _ = pc.add_remote_candidate(RTCIceCandidateInit {
                            candidate,
                            sdp_mid,
                            sdp_mline_index,
                            ..Default::default()
                        });
                    }
                }
                Some(SignalEvent::PeerConnected) => peer_ready = true,
                Some(SignalEvent::Ended) | None => break,
            },
            _ = &mut sleep => {
                pc.handle_timeout(Instant::now())?;
            }
            _ = tick.tick() => {
                let (Some(s), Some(_), true) = (&senders, connected_at, peer_ready) else { continue };
                let t0 = *media_started.get_or_insert_with(Instant::now);
                if t0.elapsed() > plan.media_for {
                    if plan.leave_after_media && t0.elapsed() > plan.media_for + Duration::from_millis(1500) {
                        break;
                    }
                    continue;
                }
                let now = Instant::now();
                let opus = &plan.opus[(n_audio as usize) % plan.opus.len()];
                let pkt = rtp(s.audio, n_audio as u16, (n_audio as u32).wrapping_mul(960), true, opus.clone());
                pc.rtp_sender(s.audio.0).ok_or_else(|| anyhow!("audio sender gone"))?.write_rtp(now, pkt)?;
                n_audio += 1;
                stats.sent_audio.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // 50 frames/s would be 20 ms apart: one frame of VIDEO_PER_TICK packets per tick.
                let ts = (n_audio as u32).wrapping_mul(1800);
                for i in 0..VIDEO_PER_TICK {
                    let mut p = BytesMut::with_capacity(VIDEO_PAYLOAD);
                    p.extend_from_slice(&[if i == 0 { 0x10 } else { 0x00 }]);
                    p.extend_from_slice(&MAGIC.to_be_bytes());
                    let sent_ns = plan.epoch.elapsed().as_nanos() as u64;
                    p.extend_from_slice(&sent_ns.to_be_bytes());
                    p.extend_from_slice(&probe_seq.to_be_bytes());
                    p.resize(VIDEO_PAYLOAD, 0xAB);
                    probe_seq += 1;
                    let last = i + 1 == VIDEO_PER_TICK;
                    let pkt = rtp(s.video, n_video as u16, ts, last, p.freeze());
                    pc.rtp_sender(s.video.0).ok_or_else(|| anyhow!("video sender gone"))?.write_rtp(now, pkt)?;
                    n_video += 1;
                }
                stats.sent_video.fetch_add(VIDEO_PER_TICK as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    receiver.finish(&stats);
    let _ = pc.close();
    session.close().await;
    Ok(())
}

fn rtp(
    sender: (RTCRtpSenderId, u32, u8),
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Bytes,
) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            marker,
            payload_type: sender.2,
            sequence_number: seq,
            timestamp: ts,
            ssrc: sender.1,
            ..Default::default()
        },
        payload,
    }
}

/// Reads a probe from a received video payload: (sent ns since epoch, probe sequence).
pub fn read_probe(payload: &[u8]) -> Option<(u64, u64)> {
    if payload.len() < 21 || u32::from_be_bytes(payload[1..5].try_into().ok()?) != MAGIC {
        return None;
    }
    let sent = u64::from_be_bytes(payload[5..13].try_into().ok()?);
    let seq = u64::from_be_bytes(payload[13..21].try_into().ok()?);
    Some((sent, seq))
}
