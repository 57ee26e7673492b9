//! One participant's peer connection: construction, negotiation and the lookups the relay needs.

use std::net::SocketAddr;
use std::time::Instant;

use rand::Rng;
use rand::distr::Alphanumeric;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpReceiverId, RTCRtpSenderId};
use tokio::sync::mpsc::UnboundedSender;
use vidid_recorder::Party;

use crate::MediaError;
use crate::participant::{ParticipantEvent, ParticipantId};

/// What we send to one participant on one kind of track.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutTrack {
    pub sender: RTCRtpSenderId,
    pub ssrc: u32,
}

/// One participant's inbound track, learnt from `OnTrack`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InTrack {
    pub receiver: RTCRtpReceiverId,
    pub kind: RtpCodecKind,
}

pub(crate) struct Peer {
    pub call_id: String,
    pub role: Party,
    pub pc: RTCPeerConnection,
    pub ufrag: String,
    pub events: UnboundedSender<ParticipantEvent>,
    pub negotiated: bool,
    pub connected: bool,
    pub audio_out: OutTrack,
    pub video_out: OutTrack,
    /// Track ids of our senders, to tell feedback about what we send from reports on what we get.
    pub out_track_ids: [String; 2],
    /// Inbound tracks by track id (two, audio and video: a list is cheaper than hashing the
    /// id per packet).
    pub in_tracks: Vec<(String, InTrack)>,
    /// The participant in the other seat of the room, if any.
    pub other: Option<ParticipantId>,
    /// The inbound video stream (receiver and media SSRC), target of keyframe requests.
    pub video_in: Option<(RTCRtpReceiverId, u32)>,
    /// Inbound payload type → payload type on the other participant's sending leg (0 = none).
    pub pt_map: [u8; 128],
    pub pt_map_for: Option<ParticipantId>,
    pub addrs: Vec<SocketAddr>,
    pub deadline: Option<Instant>,
    pub last_keyframe_request: Option<Instant>,
    /// What this participant's downlink carries, from its loss reports.
    pub downlink: crate::downlink::Downlink,
    pub span: tracing::Span,
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("goog-remb", ""),
        ("transport-cc", ""),
        ("ccm", "fir"),
        ("nack", ""),
        ("nack", "pli"),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    })
    .collect()
}

fn codec(
    mime: &str,
    clock_rate: u32,
    channels: u16,
    fmtp: &str,
    pt: u8,
    fb: Vec<RTCPFeedback>,
) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback: fb,
        },
        payload_type: pt,
    }
}

/// The codecs vidid relays: Opus, and the configured video codecs each with RTX.
fn media_engine(video_codecs: &[String]) -> Result<MediaEngine, MediaError> {
    let mut me = MediaEngine::default();
    me.register_codec(
        codec(
            MIME_TYPE_OPUS,
            48000,
            2,
            "minptime=10;useinbandfec=1",
            111,
            vec![RTCPFeedback {
                typ: "transport-cc".into(),
                parameter: String::new(),
            }],
        ),
        RtpCodecKind::Audio,
    )?;
    for name in video_codecs {
        let list: &[(&str, &str, u8, u8)] = match name.to_ascii_uppercase().as_str() {
            "VP8" => &[(MIME_TYPE_VP8, "", 96, 97)],
            "H264" => &[
                (
                    MIME_TYPE_H264,
                    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                    106,
                    107,
                ),
                (
                    MIME_TYPE_H264,
                    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
                    102,
                    103,
                ),
            ],
            other => {
                return Err(MediaError::Engine(format!(
                    "unsupported video codec in config: {other}"
                )));
            }
        };
        for (mime, fmtp, pt, rtx) in list {
            me.register_codec(
                codec(mime, 90000, 0, fmtp, *pt, video_feedback()),
                RtpCodecKind::Video,
            )?;
            me.register_codec(
                codec(MIME_TYPE_RTX, 90000, 0, &format!("apt={pt}"), *rtx, vec![]),
                RtpCodecKind::Video,
            )?;
        }
    }
    Ok(me)
}

fn out_track(
    pc: &mut RTCPeerConnection,
    kind: RtpCodecKind,
    id: ParticipantId,
    codec: RTCRtpCodec,
) -> Result<(OutTrack, String), MediaError> {
    let ssrc: u32 = rand::random();
    let track_id = format!("vidid-{kind}-{}", id.0);
    let track = MediaStreamTrack::new(
        format!("vidid-peer-{}", id.0),
        track_id.clone(),
        format!("relayed {kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    );
    let sender = pc.add_track(track)?;
    Ok((OutTrack { sender, ssrc }, track_id))
}

impl Peer {
    pub fn new(
        id: ParticipantId,
        call_id: &str,
        role: Party,
        events: UnboundedSender<ParticipantEvent>,
        config: &crate::MediaConfig,
        span: tracing::Span,
    ) -> Result<Peer, MediaError> {
        let mut me = media_engine(&config.video_codecs)?;
        let registry = register_default_interceptors(Registry::new(), &mut me)?
            .with(Slot::Custom(9_500), crate::feedback::FeedbackTap::default())
            // The default keeps 1024 packets per sender (~1.2 MB of video); a few hundred
            // milliseconds of round trip need far less.
            .with(
                Slot::NackResponder,
                rtc::interceptor::NackResponderBuilder::new()
                    .with_size(config.nack_history)
                    .build(),
            );
        let ufrag = random_string(16);
        let settings = SettingEngineBuilder::new()
            .with_ice_credentials(ufrag.clone(), random_string(32))
            // A public server cannot resolve browsers' `.local` names (it would multicast
            // queries nobody answers); it learns their address from their checks instead.
            .with_multicast_dns_mode(rtc_ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_setting_engine(settings)
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .build(Instant::now())?;
        let opus = codec(MIME_TYPE_OPUS, 48000, 2, "", 111, vec![]).rtp_codec;
        let vp8 = codec(MIME_TYPE_VP8, 90000, 0, "", 96, vec![]).rtp_codec;
        let (audio_out, audio_id) = out_track(&mut pc, RtpCodecKind::Audio, id, opus)?;
        let (video_out, video_id) = out_track(&mut pc, RtpCodecKind::Video, id, vp8)?;
        Ok(Peer {
            call_id: call_id.to_string(),
            role,
            pc,
            ufrag,
            events,
            negotiated: false,
            connected: false,
            audio_out,
            video_out,
            out_track_ids: [audio_id, video_id],
            in_tracks: Vec::new(),
            other: None,
            video_in: None,
            pt_map: [0; 128],
            pt_map_for: None,
            addrs: Vec::new(),
            deadline: None,
            last_keyframe_request: None,
            downlink: Default::default(),
            span,
        })
    }

    pub fn out_track(&self, kind: RtpCodecKind) -> OutTrack {
        match kind {
            RtpCodecKind::Audio => self.audio_out,
            _ => self.video_out,
        }
    }

    pub fn in_track(&self, track_id: &str) -> Option<InTrack> {
        self.in_tracks
            .iter()
            .find(|(id, _)| id == track_id)
            .map(|(_, t)| *t)
    }

    pub fn set_in_track(&mut self, track_id: &str, track: InTrack) {
        match self.in_tracks.iter_mut().find(|(id, _)| id == track_id) {
            Some((_, t)) => *t = track,
            None => self.in_tracks.push((track_id.to_owned(), track)),
        }
    }

    pub fn is_out_track(&self, track_id: &str) -> bool {
        self.out_track_ids.iter().any(|t| t == track_id)
    }

    /// The (mime type, fmtp line) of an inbound payload type.
    pub fn inbound_codec(
        &mut self,
        receiver: RTCRtpReceiverId,
        pt: u8,
    ) -> Option<(String, String)> {
        let mut r = self.pc.rtp_receiver(receiver)?;
        r.get_parameters()
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.payload_type == pt)
            .map(|c| {
                (
                    c.rtp_codec.mime_type.clone(),
                    c.rtp_codec.sdp_fmtp_line.clone(),
                )
            })
    }

    /// The payload type this participant's sending leg negotiated for a codec (exact fmtp first).
    pub fn outbound_pt(&mut self, kind: RtpCodecKind, mime: &str, fmtp: &str) -> Option<u8> {
        let sender = self.out_track(kind).sender;
        let mut s = self.pc.rtp_sender(sender)?;
        let codecs = &s.get_parameters().rtp_parameters.codecs;
        codecs
            .iter()
            .find(|c| {
                c.rtp_codec.mime_type.eq_ignore_ascii_case(mime)
                    && c.rtp_codec.sdp_fmtp_line == fmtp
            })
            .or_else(|| {
                codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            })
            .map(|c| c.payload_type)
    }

    pub fn send(&self, ev: ParticipantEvent) {
        // The signaling side may have gone away; the engine learns that from `Leave`.
        let _ = self.events.send(ev);
    }
}
