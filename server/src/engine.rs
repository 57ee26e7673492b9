//! The media loop: one UDP socket, every peer connection, every room.
//!
//! One task owns all state, so nothing here takes a lock. Datagrams are routed to their peer
//! connection by ICE username fragment (STUN) or by source address (everything else); each
//! input is followed by draining that peer connection's outputs (the sans-IO rule), and relayed
//! packets make the other participant's peer connection produce output too, which is drained in
//! the same pass. Signaling talks to the loop through [`MediaServer`], a cloneable handle.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, info_span, warn};
use vidid_recorder::{AudioPacket, CallRecorder, Party, RecordingMeta, RecordingSink};

use crate::config::MediaConfig;
use crate::metrics::MediaMetrics;
use crate::participant::IdMap;
pub use crate::participant::{Candidate, ParticipantEvent, ParticipantId};
use crate::peer::Peer;
use crate::{MediaError, stun};

/// What joining returns.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The new participant's id on this node; offers, candidates and leaving name it.
    pub participant: ParticipantId,
    /// Whether the other seat was already taken when this participant joined.
    pub peer_present: bool,
}

/// The result of ending a call.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    /// The call whose room was ended.
    pub call_id: String,
    /// The recording the room wrote (named after the call); `None` when it wrote none.
    pub recording_id: Option<String>,
    /// How long the room was open, from the first join to its end, in milliseconds.
    pub duration_ms: u64,
}

/// A snapshot for `/readyz` and capacity decisions.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLoad {
    /// Rooms open on this node.
    pub calls: usize,
    /// Peer connections open on this node, across all rooms.
    pub peers: usize,
    /// Rooms this node opens at most (`media.max_calls`); a join past it is refused.
    pub max_calls: usize,
}

/// A room taken out of the loop: its recorder (to finish off the loop) and what it was.
type EndedRoom = (Option<Box<dyn CallRecorder>>, CallSummary);

enum Command {
    Join {
        call_id: String,
        role: Party,
        events: mpsc::UnboundedSender<ParticipantEvent>,
        reply: oneshot::Sender<Result<Joined, MediaError>>,
    },
    Offer {
        participant: ParticipantId,
        sdp: String,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    Candidate {
        participant: ParticipantId,
        candidate: Candidate,
        reply: oneshot::Sender<Result<(), MediaError>>,
    },
    Leave {
        participant: ParticipantId,
    },
    EndCall {
        call_id: String,
        reason: String,
        reply: oneshot::Sender<Result<EndedRoom, MediaError>>,
    },
    Load {
        reply: oneshot::Sender<NodeLoad>,
    },
    EndAll {
        reason: String,
        reply: oneshot::Sender<Vec<EndedRoom>>,
    },
}

/// Handle to the media loop. Cheap to clone; every method is a message to the loop.
#[derive(Clone)]
pub struct MediaServer {
    tx: mpsc::Sender<Command>,
    local_addr: SocketAddr,
}

impl MediaServer {
    /// Binds the media socket and starts the loop on its own thread.
    pub async fn start(
        config: MediaConfig,
        default_ip: std::net::IpAddr,
        sink: Arc<dyn RecordingSink>,
        metrics: MediaMetrics,
    ) -> Result<MediaServer, MediaError> {
        if !config.nack_history.is_power_of_two() {
            return Err(MediaError::Engine(format!(
                "media.nack_history must be a power of two, not {}",
                config.nack_history
            )));
        }
        let ip = config.bind_ip.unwrap_or(default_ip);
        let addr = SocketAddr::new(ip, config.udp_port);
        let std_socket =
            std::net::UdpSocket::bind(addr).map_err(|source| MediaError::Bind { addr, source })?;
        std_socket
            .set_nonblocking(true)
            .map_err(|source| MediaError::Bind { addr, source })?;
        let sock = socket2::SockRef::from(&std_socket);
        let _ = sock.set_recv_buffer_size(config.socket_buffer_bytes);
        let _ = sock.set_send_buffer_size(config.socket_buffer_bytes);
        let (rcv, snd) = (
            sock.recv_buffer_size().unwrap_or(0),
            sock.send_buffer_size().unwrap_or(0),
        );
        if rcv < config.socket_buffer_bytes {
            warn!(
                wanted = config.socket_buffer_bytes,
                got = rcv,
                "media socket receive buffer capped by net.core.rmem_max"
            );
        }
        info!(recv_buffer = rcv, send_buffer = snd, "media socket buffers");
        let local_addr = std_socket
            .local_addr()
            .map_err(|source| MediaError::Bind { addr, source })?;
        let mut announce = config.announce_ips.clone();
        if announce.is_empty() {
            if local_addr.ip().is_unspecified() {
                announce.push(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
                warn!(
                    "media.bind_ip is unspecified and media.announce_ips is empty: announcing 127.0.0.1 only"
                );
            } else {
                announce.push(local_addr.ip());
            }
        }
        info!(%local_addr, ?announce, "media socket bound");
        let (tx, rx) = mpsc::channel(1024);
        let (ready_tx, ready_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("vidid-media".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(MediaError::Engine(e.to_string())));
                        return;
                    }
                };
                rt.block_on(async move {
                    let socket = match UdpSocket::from_std(std_socket) {
                        Ok(s) => s,
                        Err(source) => {
                            let _ = ready_tx.send(Err(MediaError::Bind { addr, source }));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let engine = Engine {
                        socket,
                        local_addr,
                        announce: announce
                            .into_iter()
                            .map(|ip| SocketAddr::new(ip, local_addr.port()))
                            .collect(),
                        config,
                        sink,
                        metrics,
                        peers: IdMap::default(),
                        by_ufrag: HashMap::new(),
                        by_addr: HashMap::new(),
                        rooms: HashMap::new(),
                        timers: BinaryHeap::new(),
                        next_id: 1,
                        work: Vec::new(),
                        rbuf: BytesMut::new(),
                        reads: Vec::new(),
                        events: Vec::new(),
                    };
                    engine.run(rx).await;
                });
            })
            .map_err(|e| MediaError::Engine(e.to_string()))?;
        ready_rx.await.map_err(|_| MediaError::Stopped)??;
        Ok(MediaServer { tx, local_addr })
    }

    /// The address of the media UDP socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, MediaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| MediaError::Stopped)?;
        rx.await.map_err(|_| MediaError::Stopped)
    }

    /// Seats a participant in a call's room (creating the room and starting its recording
    /// when it is the first). Events for the participant arrive on `events`.
    pub async fn join(
        &self,
        call_id: &str,
        role: Party,
        events: mpsc::UnboundedSender<ParticipantEvent>,
    ) -> Result<Joined, MediaError> {
        let call_id = call_id.to_string();
        self.call(|reply| Command::Join {
            call_id,
            role,
            events,
            reply,
        })
        .await?
    }

    /// Applies the browser's offer and returns the SDP answer.
    pub async fn offer(
        &self,
        participant: ParticipantId,
        sdp: String,
    ) -> Result<String, MediaError> {
        self.call(|reply| Command::Offer {
            participant,
            sdp,
            reply,
        })
        .await?
    }

    /// Adds a trickled remote ICE candidate.
    pub async fn add_candidate(
        &self,
        participant: ParticipantId,
        candidate: Candidate,
    ) -> Result<(), MediaError> {
        self.call(|reply| Command::Candidate {
            participant,
            candidate,
            reply,
        })
        .await?
    }

    /// Removes the participant from its room; the room and its recording stay.
    pub async fn leave(&self, participant: ParticipantId) {
        let _ = self.tx.send(Command::Leave { participant }).await;
    }

    /// Ends the call: both participants are told, the recording is finished and closed.
    pub async fn end_call(&self, call_id: &str, reason: &str) -> Result<CallSummary, MediaError> {
        let call_id = call_id.to_string();
        let reason = reason.to_string();
        let (recorder, summary) = self
            .call(|reply| Command::EndCall {
                call_id,
                reason,
                reply,
            })
            .await??;
        if let Some(recorder) = recorder {
            tokio::task::spawn_blocking(move || recorder.finish())
                .await
                .map_err(|e| MediaError::Engine(e.to_string()))??;
        }
        Ok(summary)
    }

    /// Ends every call (at shutdown): participants are told, recordings are finished.
    pub async fn end_all(&self, reason: &str) -> Vec<CallSummary> {
        let reason = reason.to_string();
        let Ok(ended) = self.call(|reply| Command::EndAll { reason, reply }).await else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(ended.len());
        for (recorder, summary) in ended {
            if let Some(recorder) = recorder {
                match tokio::task::spawn_blocking(move || recorder.finish()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        warn!(call_id = %summary.call_id, error = %e, "recording could not be finished")
                    }
                    Err(e) => {
                        warn!(call_id = %summary.call_id, error = %e, "recording finish panicked")
                    }
                }
            }
            out.push(summary);
        }
        out
    }

    /// Calls and peers on this node.
    pub async fn load(&self) -> Result<NodeLoad, MediaError> {
        self.call(|reply| Command::Load { reply }).await
    }
}

struct Room {
    seats: [Option<ParticipantId>; 2],
    recorder: Option<Box<dyn CallRecorder>>,
    recording_id: Option<String>,
    started: Instant,
    span: tracing::Span,
}

fn seat(role: Party) -> usize {
    match role {
        Party::Customer => 0,
        Party::Agent => 1,
    }
}

fn role_name(role: Party) -> &'static str {
    match role {
        Party::Customer => "customer",
        Party::Agent => "agent",
    }
}

/// Room left for the next datagram (at least; it may use all of the chunk's spare room).
const MAX_DATAGRAM: usize = 2048;
/// Receive buffers are allocated this many bytes at a time and shared by the datagrams
/// split off them; one is reused once rtc has dropped every datagram in it.
const RECV_CHUNK: usize = 64 * 1024;

/// Makes room for one more datagram in `rbuf` (which holds none: each is split off).
fn recv_space(rbuf: &mut BytesMut) {
    if rbuf.capacity() - rbuf.len() < MAX_DATAGRAM {
        rbuf.reserve(RECV_CHUNK);
    }
}

/// Keyframe requests to one sender are spaced at least this far apart.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

struct Engine {
    socket: UdpSocket,
    local_addr: SocketAddr,
    announce: Vec<SocketAddr>,
    config: MediaConfig,
    sink: Arc<dyn RecordingSink>,
    metrics: MediaMetrics,
    peers: IdMap<Peer>,
    by_ufrag: HashMap<String, ParticipantId>,
    by_addr: HashMap<SocketAddr, ParticipantId>,
    rooms: HashMap<String, Room>,
    timers: BinaryHeap<Reverse<(Instant, ParticipantId)>>,
    next_id: u64,
    // Scratch buffers reused across packets.
    work: Vec<ParticipantId>,
    /// Datagrams are received straight into this buffer and split off it, so a packet reaches
    /// rtc without a copy and most packets without an allocation of their own.
    rbuf: BytesMut,
    reads: Vec<TaggedRTCMessage>,
    events: Vec<RTCPeerConnectionEvent>,
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let next = self.next_deadline();
            if next != armed {
                let at = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                sleep.as_mut().reset(at.into());
                armed = next;
            }
            recv_space(&mut self.rbuf);
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                res = self.socket.recv_buf_from(&mut self.rbuf) => match res {
                    Ok((_, from)) => {
                        let data = self.rbuf.split();
                        self.datagram(data, from);
                        // Take what else is queued without going back to the reactor.
                        for _ in 0..64 {
                            recv_space(&mut self.rbuf);
                            match self.socket.try_recv_buf_from(&mut self.rbuf) {
                                Ok((_, from)) => {
                                    let data = self.rbuf.split();
                                    self.datagram(data, from);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    Err(e) => debug!(error = %e, "media socket receive error"),
                },
                _ = &mut sleep => {
                    armed = None;
                    self.timeouts();
                }
            }
        }
        info!("media loop stopped");
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            match self.peers.get(&id) {
                Some(p) if p.deadline == Some(at) => return Some(at),
                _ => {
                    self.timers.pop();
                }
            }
        }
        None
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.deadline != Some(at) {
                continue;
            }
            peer.deadline = None;
            if let Err(e) = peer.pc.handle_timeout(now) {
                debug!(parent: &peer.span, error = %e, "timeout handling failed");
            }
            self.drain(id);
        }
    }

    fn route(&mut self, data: &[u8], from: SocketAddr) -> Option<ParticipantId> {
        if let Some(ufrag) = stun::local_ufrag(data) {
            let id = *self.by_ufrag.get(ufrag)?;
            if let Some(peer) = self.peers.get_mut(&id)
                && !peer.addrs.contains(&from)
                && self.by_addr.get(&from).is_none_or(|o| *o == id)
            {
                peer.addrs.push(from);
                self.by_addr.insert(from, id);
            }
            return Some(id);
        }
        self.by_addr.get(&from).copied()
    }

    fn datagram(&mut self, data: BytesMut, from: SocketAddr) {
        self.metrics.packets_received.inc();
        let Some(id) = self.route(&data, from) else {
            self.metrics.packets_unroutable.inc();
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let msg = TaggedBytesMut {
            now: Instant::now(),
            transport: TransportContext {
                local_addr: self.local_addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: data,
        };
        if let Err(e) = peer.pc.handle_read(msg) {
            debug!(parent: &peer.span, error = %e, "datagram refused by peer connection");
        }
        self.drain(id);
    }

    /// The participant in the other seat of `id`'s room (kept on the peer by `join`/`leave`,
    /// so the relay does not look the room up by call id per packet).
    fn other(&self, id: ParticipantId) -> Option<ParticipantId> {
        self.peers.get(&id)?.other
    }

    /// Runs the sans-IO rule: after an input, take every output of that peer connection
    /// and of the peer connections the relayed packets went into.
    ///
    /// `first` received the input and is drained of everything. The others only had packets
    /// written into them (relayed RTP, PLI, REMB): a write yields datagrams and a new
    /// deadline but never reads or events, and every earlier input to them was followed by
    /// a full drain, so for them the two extra sweeps of rtc's pipeline that polling reads and
    /// events costs (each poll sweeps it once more) are skipped.
    fn drain(&mut self, first: ParticipantId) {
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        self.drain_one(first, true, &mut work);
        while let Some(id) = work.pop() {
            self.drain_one(id, false, &mut work);
        }
        self.work = work;
    }

    fn drain_one(&mut self, id: ParticipantId, full: bool, work: &mut Vec<ParticipantId>) {
        {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            while let Some(out) = peer.pc.poll_write() {
                if let Err(e) = self
                    .socket
                    .try_send_to(&out.message, out.transport.peer_addr)
                {
                    debug!(error = %e, to = %out.transport.peer_addr, "media socket send failed");
                }
            }
            if full {
                while let Some(ev) = peer.pc.poll_event() {
                    self.events.push(ev);
                }
                while let Some(m) = peer.pc.poll_read() {
                    self.reads.push(m);
                }
            }
            let deadline = peer.pc.poll_timeout();
            if deadline != peer.deadline {
                peer.deadline = deadline;
                if let Some(at) = deadline {
                    self.timers.push(Reverse((at, id)));
                }
            }
        }
        if !full {
            return;
        }
        let mut events = std::mem::take(&mut self.events);
        for ev in events.drain(..) {
            self.peer_event(id, ev, work);
        }
        self.events = events;
        let mut reads = std::mem::take(&mut self.reads);
        for m in reads.drain(..) {
            self.relay(id, m, work);
        }
        self.reads = reads;
    }

    fn peer_event(
        &mut self,
        id: ParticipantId,
        ev: RTCPeerConnectionEvent,
        work: &mut Vec<ParticipantId>,
    ) {
        let other = self.other(id);
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        match ev {
            RTCPeerConnectionEvent::OnIceCandidateEvent(ev) => match ev.candidate.to_json() {
                Ok(init) => peer.send(ParticipantEvent::Candidate(Candidate {
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid,
                    sdp_mline_index: init.sdp_mline_index,
                })),
                Err(e) => debug!(parent: &peer.span, error = %e, "cannot encode local candidate"),
            },
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                let Some(receiver) = peer.pc.rtp_receiver(init.receiver_id) else {
                    return;
                };
                let kind = receiver.track().kind();
                let ssrc = receiver.track().ssrcs().next();
                debug!(parent: &peer.span, %kind, ?ssrc, "inbound track open");
                peer.set_in_track(
                    &init.track_id,
                    crate::peer::InTrack {
                        receiver: init.receiver_id,
                        kind,
                    },
                );
                if kind == RtpCodecKind::Video
                    && let Some(ssrc) = ssrc
                {
                    peer.video_in = Some((init.receiver_id, ssrc));
                    // Whoever watches this stream wants a keyframe now.
                    self.request_keyframe(id, work);
                }
            }
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                info!(parent: &peer.span, %state, "peer connection state");
                match state {
                    RTCPeerConnectionState::Connected => {
                        peer.connected = true;
                        peer.send(ParticipantEvent::Connected);
                        if let Some(o) = other.and_then(|o| self.peers.get(&o)) {
                            o.send(ParticipantEvent::PeerConnected);
                            let me = self.peers.get(&id).map(|p| p.connected).unwrap_or(false);
                            if me && o.connected {
                                peer_send(&self.peers, id, ParticipantEvent::PeerConnected);
                            }
                        }
                        if let Some(o) = other {
                            // The newcomer needs a keyframe of the other's video.
                            self.request_keyframe(o, work);
                        }
                    }
                    RTCPeerConnectionState::Failed => {
                        peer.connected = false;
                        peer.send(ParticipantEvent::Failed);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Asks participant `id`'s browser for a video keyframe (PLI), rate-limited.
    fn request_keyframe(&mut self, id: ParticipantId, work: &mut Vec<ParticipantId>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some((receiver, ssrc)) = peer.video_in else {
            return;
        };
        let now = Instant::now();
        if peer
            .last_keyframe_request
            .is_some_and(|t| now.duration_since(t) < KEYFRAME_REQUEST_INTERVAL)
        {
            return;
        }
        peer.last_keyframe_request = Some(now);
        if let Some(mut r) = peer.pc.rtp_receiver(receiver) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            if let Err(e) = r.write_rtcp(now, vec![Box::new(pli)]) {
                debug!(parent: &peer.span, error = %e, "cannot send pli");
            } else {
                self.metrics
                    .rtcp_feedback
                    .with_label_values(&["pli_sent"])
                    .inc();
                work.push(id);
            }
        }
    }

    fn relay(&mut self, from: ParticipantId, msg: TaggedRTCMessage, work: &mut Vec<ParticipantId>) {
        match msg.message {
            RTCMessage::RtpPacket(track_id, packet) => {
                self.relay_rtp(from, &track_id, packet, msg.now, work)
            }
            RTCMessage::RtcpPacket(track_id, packets) => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return;
                };
                if !peer.is_out_track(&track_id) {
                    return; // about what this participant sends us: the interceptors' business
                }
                let video_ssrc = peer.video_out.ssrc;
                let mut wants_keyframe = false;
                let mut downlink_changed = false;
                for p in &packets {
                    let any = p.as_any();
                    let blocks = if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                        &rr.reports[..]
                    } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                        &sr.reports[..]
                    } else {
                        &[]
                    };
                    for block in blocks.iter().filter(|b| b.ssrc == video_ssrc) {
                        self.metrics
                            .rtcp_feedback
                            .with_label_values(&["loss_report"])
                            .inc();
                        peer.downlink.on_loss_report(block.fraction_lost);
                        downlink_changed = true;
                    }
                    if any.is::<PictureLossIndication>() {
                        self.metrics.rtcp_feedback.with_label_values(&["pli"]).inc();
                        wants_keyframe = true;
                    } else if any.is::<FullIntraRequest>() {
                        self.metrics.rtcp_feedback.with_label_values(&["fir"]).inc();
                        wants_keyframe = true;
                    } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>()
                    {
                        self.metrics
                            .rtcp_feedback
                            .with_label_values(&["remb"])
                            .inc();
                        peer.downlink.on_remb(f64::from(remb.bitrate));
                        downlink_changed = true;
                    }
                }
                let remb = if downlink_changed {
                    peer.downlink.remb_due(msg.now)
                } else {
                    None
                };
                let Some(upstream) = self.other(from) else {
                    return;
                };
                if wants_keyframe {
                    self.request_keyframe(upstream, work);
                }
                if let Some(bps) = remb {
                    self.send_remb(upstream, bps, msg.now, work);
                }
            }
            _ => {}
        }
    }

    /// Caps participant `id`'s video bitrate (REMB about its video stream).
    fn send_remb(
        &mut self,
        id: ParticipantId,
        bps: f64,
        now: Instant,
        work: &mut Vec<ParticipantId>,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some((receiver, ssrc)) = peer.video_in else {
            return;
        };
        let Some(mut r) = peer.pc.rtp_receiver(receiver) else {
            return;
        };
        let remb = ReceiverEstimatedMaximumBitrate {
            sender_ssrc: 0,
            bitrate: bps as f32,
            ssrcs: vec![ssrc],
        };
        match r.write_rtcp(now, vec![Box::new(remb)]) {
            Ok(()) => {
                debug!(parent: &peer.span, bps, "downlink cap sent upstream");
                self.metrics
                    .rtcp_feedback
                    .with_label_values(&["remb_sent"])
                    .inc();
                work.push(id);
            }
            Err(e) => debug!(parent: &peer.span, error = %e, "cannot send remb"),
        }
    }

    fn relay_rtp(
        &mut self,
        from: ParticipantId,
        track_id: &str,
        mut packet: rtc::rtp::Packet,
        now: Instant,
        work: &mut Vec<ParticipantId>,
    ) {
        let Some(src) = self.peers.get_mut(&from) else {
            return;
        };
        let Some(in_track) = src.in_track(track_id) else {
            return;
        };
        let kind = in_track.kind;
        let pt = packet.header.payload_type & 0x7f;
        let role = src.role;
        if kind == RtpCodecKind::Video
            && src.video_in.map(|(_, ssrc)| ssrc) != Some(packet.header.ssrc)
        {
            // The media SSRC as it really arrives (a track may also list its RTX SSRC):
            // keyframe requests must name this one.
            src.video_in = Some((in_track.receiver, packet.header.ssrc));
        }
        // Record the audio, whoever listens.
        if kind == RtpCodecKind::Audio
            && let Some(room) = self.rooms.get_mut(&src.call_id)
            && let Some(rec) = room.recorder.as_mut()
        {
            rec.push(AudioPacket {
                party: role,
                sequence: packet.header.sequence_number,
                rtp_timestamp: packet.header.timestamp,
                arrival: now,
                payload: &packet.payload,
            });
        }
        let Some(dst_id) = self.other(from) else {
            return;
        };
        // Payload type on the other leg, cached per (source, destination) pairing.
        let Some(src) = self.peers.get_mut(&from) else {
            return;
        };
        if src.pt_map_for != Some(dst_id) {
            src.pt_map = [0; 128];
            src.pt_map_for = Some(dst_id);
        }
        let mut out_pt = src.pt_map[pt as usize];
        if out_pt == 0 {
            let Some((mime, fmtp)) = src.inbound_codec(in_track.receiver, pt) else {
                return;
            };
            let Some(dst) = self.peers.get_mut(&dst_id) else {
                return;
            };
            if !dst.negotiated {
                return;
            }
            match dst.outbound_pt(kind, &mime, &fmtp) {
                Some(p) => out_pt = p,
                None => {
                    self.metrics.forward_errors.inc();
                    debug!(parent: &dst.span, %mime, "codec not negotiated on the receiving leg");
                    return;
                }
            }
            if let Some(src) = self.peers.get_mut(&from) {
                debug!(parent: &src.span, %mime, %fmtp, in_pt = pt, out_pt, "relay payload type mapped");
                src.pt_map[pt as usize] = out_pt;
            }
        }
        let Some(dst) = self.peers.get_mut(&dst_id) else {
            return;
        };
        if !dst.connected {
            return;
        }
        let out = dst.out_track(kind);
        let bytes = packet.payload.len() as u64;
        packet.header.ssrc = out.ssrc;
        packet.header.payload_type = out_pt;
        // Extension ids are per leg; the sending leg's interceptors add their own.
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.extension_profile = 0;
        let Some(mut sender) = dst.pc.rtp_sender(out.sender) else {
            return;
        };
        match sender.write_rtp(now, packet) {
            Ok(()) => {
                let k = usize::from(kind != RtpCodecKind::Audio);
                self.metrics.forwarded_packets[k].inc();
                self.metrics.forwarded_bytes[k].inc_by(bytes);
                if !work.contains(&dst_id) {
                    work.push(dst_id);
                }
            }
            Err(e) => {
                self.metrics.forward_errors.inc();
                debug!(parent: &dst.span, error = %e, "relay refused");
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                call_id,
                role,
                events,
                reply,
            } => {
                let _ = reply.send(self.join(call_id, role, events));
            }
            Command::Offer {
                participant,
                sdp,
                reply,
            } => {
                let r = self.offer(participant, sdp);
                let _ = reply.send(r);
                self.drain(participant);
            }
            Command::Candidate {
                participant,
                candidate,
                reply,
            } => {
                let r = self.candidate(participant, candidate);
                let _ = reply.send(r);
                self.drain(participant);
            }
            Command::Leave { participant } => self.leave(participant, true),
            Command::EndCall {
                call_id,
                reason,
                reply,
            } => {
                let _ = reply.send(self.end_call(&call_id, &reason));
            }
            Command::EndAll { reason, reply } => {
                let ids: Vec<String> = self.rooms.keys().cloned().collect();
                let ended = ids
                    .iter()
                    .filter_map(|id| self.end_call(id, &reason).ok())
                    .collect();
                let _ = reply.send(ended);
            }
            Command::Load { reply } => {
                let _ = reply.send(NodeLoad {
                    calls: self.rooms.len(),
                    peers: self.peers.len(),
                    max_calls: self.config.max_calls,
                });
            }
        }
    }

    fn join(
        &mut self,
        call_id: String,
        role: Party,
        events: mpsc::UnboundedSender<ParticipantEvent>,
    ) -> Result<Joined, MediaError> {
        if !self.rooms.contains_key(&call_id) {
            if self.rooms.len() >= self.config.max_calls {
                return Err(MediaError::Engine("media node at capacity".into()));
            }
            let span = info_span!("call", call_id = %call_id);
            let started = Instant::now();
            let recording_id = call_id.clone();
            let recorder = self.sink.start(RecordingMeta {
                recording_id: recording_id.clone(),
                call_id: call_id.clone(),
                started_at: time::OffsetDateTime::now_utc(),
                started,
            })?;
            info!(parent: &span, recording_id = %recording_id, "room opened, recording started");
            self.rooms.insert(
                call_id.clone(),
                Room {
                    seats: [None, None],
                    recorder: Some(recorder),
                    recording_id: Some(recording_id),
                    started,
                    span,
                },
            );
            self.metrics.active_calls.set(self.rooms.len() as i64);
        }
        let Some(room) = self.rooms.get_mut(&call_id) else {
            return Err(MediaError::NoSuchCall(call_id));
        };
        if room.seats[seat(role)].is_some() {
            return Err(MediaError::SeatTaken(role_name(role)));
        }
        let id = ParticipantId(self.next_id);
        self.next_id += 1;
        let span = info_span!(parent: &room.span, "participant", role = role_name(role), participant = id.0);
        let mut peer = Peer::new(id, &call_id, role, events, &self.config, span)?;
        room.seats[seat(role)] = Some(id);
        let other = room.seats[1 - seat(role)];
        self.by_ufrag.insert(peer.ufrag.clone(), id);
        info!(parent: &peer.span, "participant joined");
        peer.other = other;
        if let Some(o) = other.and_then(|o| self.peers.get_mut(&o)) {
            o.other = Some(id);
        }
        self.peers.insert(id, peer);
        self.metrics.active_peers.set(self.peers.len() as i64);
        if let Some(o) = other.and_then(|o| self.peers.get(&o)) {
            o.send(ParticipantEvent::PeerJoined);
        }
        Ok(Joined {
            participant: id,
            peer_present: other.is_some(),
        })
    }

    fn offer(&mut self, id: ParticipantId, sdp: String) -> Result<String, MediaError> {
        let peer = self
            .peers
            .get_mut(&id)
            .ok_or(MediaError::NoSuchParticipant)?;
        if peer.negotiated {
            return Err(MediaError::AlreadyNegotiated);
        }
        check_offer(&sdp)?;
        let offer =
            RTCSessionDescription::offer(sdp).map_err(|e| MediaError::BadSdp(e.to_string()))?;
        peer.pc
            .set_remote_description(Instant::now(), offer)
            .map_err(|e| MediaError::BadSdp(e.to_string()))?;
        for addr in &self.announce {
            let candidate = CandidateHostConfig {
                base_config: CandidateConfig {
                    network: "udp".to_owned(),
                    address: addr.ip().to_string(),
                    port: addr.port(),
                    component: 1,
                    ..Default::default()
                },
                ..Default::default()
            }
            .new_candidate_host()
            .map_err(|e| MediaError::Engine(e.to_string()))?;
            let init = RTCIceCandidate::from(&candidate).to_json()?;
            peer.pc.add_local_candidate(init)?;
        }
        peer.pc
            .add_local_candidate(RTCIceCandidateInit::default())?;
        let answer = peer.pc.create_answer(None)?;
        peer.pc.set_local_description(Instant::now(), answer)?;
        let sdp = peer
            .pc
            .local_description()
            .ok_or_else(|| MediaError::Engine("no local description after answering".into()))?
            .sdp;
        peer.negotiated = true;
        info!(parent: &peer.span, "offer answered");
        Ok(sdp)
    }

    fn candidate(&mut self, id: ParticipantId, c: Candidate) -> Result<(), MediaError> {
        let peer = self
            .peers
            .get_mut(&id)
            .ok_or(MediaError::NoSuchParticipant)?;
        if c.candidate.trim().is_empty() {
            return Ok(()); // end of candidates
        }
        if !peer.negotiated {
            return Err(MediaError::BadCandidate("candidate before offer".into()));
        }
        peer.pc
            .add_remote_candidate(RTCIceCandidateInit {
                candidate: c.candidate,
                sdp_mid: c.sdp_mid,
                sdp_mline_index: c.sdp_mline_index,
                ..Default::default()
            })
            .map_err(|e| MediaError::BadCandidate(e.to_string()))
    }

    fn leave(&mut self, id: ParticipantId, notify_other: bool) {
        let other = self.other(id);
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        info!(parent: &peer.span, "participant left");
        let _ = peer.pc.close();
        while let Some(out) = peer.pc.poll_write() {
            let _ = self
                .socket
                .try_send_to(&out.message, out.transport.peer_addr);
        }
        self.by_ufrag.remove(&peer.ufrag);
        for a in &peer.addrs {
            if self.by_addr.get(a) == Some(&id) {
                self.by_addr.remove(a);
            }
        }
        if let Some(room) = self.rooms.get_mut(&peer.call_id)
            && room.seats[seat(peer.role)] == Some(id)
        {
            room.seats[seat(peer.role)] = None;
        }
        if let Some(o) = other.and_then(|o| self.peers.get_mut(&o)) {
            o.other = None;
        }
        if notify_other && let Some(o) = other.and_then(|o| self.peers.get(&o)) {
            o.send(ParticipantEvent::PeerLeft);
        }
        self.metrics.active_peers.set(self.peers.len() as i64);
    }

    fn end_call(&mut self, call_id: &str, reason: &str) -> Result<EndedRoom, MediaError> {
        let Some(room) = self.rooms.get(call_id) else {
            return Err(MediaError::NoSuchCall(call_id.to_string()));
        };
        for id in room.seats.into_iter().flatten() {
            if let Some(p) = self.peers.get(&id) {
                p.send(ParticipantEvent::CallEnded {
                    reason: reason.to_string(),
                });
            }
            self.leave(id, false);
        }
        let Some(mut room) = self.rooms.remove(call_id) else {
            return Err(MediaError::NoSuchCall(call_id.to_string()));
        };
        self.metrics.active_calls.set(self.rooms.len() as i64);
        let duration_ms = room.started.elapsed().as_millis() as u64;
        info!(parent: &room.span, duration_ms, reason, "call ended");
        Ok((
            room.recorder.take(),
            CallSummary {
                call_id: call_id.to_string(),
                recording_id: room.recording_id.clone(),
                duration_ms,
            },
        ))
    }
}

fn peer_send(peers: &IdMap<Peer>, id: ParticipantId, ev: ParticipantEvent) {
    if let Some(p) = peers.get(&id) {
        p.send(ev);
    }
}

/// Cheap structural checks before the engine parses the offer.
fn check_offer(sdp: &str) -> Result<(), MediaError> {
    if !sdp.starts_with("v=0") {
        return Err(MediaError::BadSdp(
            "not an sdp document (must start with v=0)".into(),
        ));
    }
    let lower = sdp.to_ascii_lowercase();
    if !lower.contains("m=audio") || !lower.contains("opus/48000") {
        return Err(MediaError::BadSdp("no opus audio section".into()));
    }
    if !lower.contains("m=video") || !(lower.contains("vp8/90000") || lower.contains("h264/90000"))
    {
        return Err(MediaError::BadSdp("no vp8 or h264 video section".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_checks() {
        assert!(check_offer("hello").is_err());
        assert!(check_offer("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n").is_err());
        let ok = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert!(check_offer(ok).is_ok());
    }
}
