// @ts-check
// vidid call client: the client side of docs/signaling.md (protocol v1) as a reusable module.
// No DOM of its own: the caller passes the two <video> elements and gets states and events back.
// Used by the bare call pages (call.js), the customer's journey and the agent console.
//
//   import { startCall } from '/assets/shared/rtc-call.js';
//   const call = startCall({ token, role: 'customer' | 'agent', localVideo, remoteVideo,
//                            onState: (state, detail) => …, onEvent: (type, msg) => … });
//   call.state / call.pc / call.ws; call.endCall() (agent: sends end_call); call.close()
//
// state: connecting | waiting | connected | ended | error
//   connecting  the socket or the media connection is being set up (detail.pcState
//               'disconnected' = the media connection is interrupted and recovering)
//   waiting     joined; the other participant is not there
//   connected   the other participant is there and our media connection is up
//   ended       the call is over (detail.reason: the server's reason; detail.local: close())
//   error       fatal; detail.code: a server error code (invalid_token, token_in_use,
//               call_ended, link_expired, media_unavailable, …) or one of ws_closed,
//               ice_failed, setup_failed, no_webrtc, no_token, media_<DOMException name>
//               (getUserMedia failed; detail.name is that name), detail.message the server's text
// onState is called once per change, with detail { joined, peerPresent, pcState, iceState,
// callId, code?, message?, name?, reason?, local? }.
// onEvent(type, msg) sees every diagnostic event (the same records as `events`), e.g.
// 'joined', 'peer' {event}, 'track', 'autoplay_blocked', 'server_error' {code, message, fatal},
// 'call_ended' {reason}, 'pc_state' {state}.
//
// Optional extra options: `localStream` (a camera+microphone MediaStream the caller already has,
// e.g. from a device check: used instead of a new getUserMedia and not stopped by close()),
// `video` (getUserMedia video constraints, default 640×480).
// Extra read-only properties on the handle for diagnostics: role, callId, joined, peerPresent,
// pcState, iceState, error, endedReason, localSdp, remoteSdp, remoteMuted, lastPong, events,
// localStream; methods unmute() (after 'autoplay_blocked') and send(msg).

/** @typedef {import('./protocol.js').ClientMsg} ClientMsg */
/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */
/** @typedef {import('./protocol.js').IceServer} IceServer */
/** @typedef {'connecting' | 'waiting' | 'connected' | 'ended' | 'error'} CallState */

/**
 * What `onState` gets with each state (see the top of this file).
 * @typedef {object} StateDetail
 * @property {boolean} joined
 * @property {boolean} peerPresent
 * @property {RTCPeerConnectionState} pcState
 * @property {RTCIceConnectionState} iceState
 * @property {string | null} callId
 * @property {string} [code]
 * @property {string} [message]
 * @property {string} [name]
 * @property {string | null} [reason]
 * @property {boolean} [local]
 */

/**
 * @typedef {object} CallOptions
 * @property {string | null} [token] the join token (`joined` is refused without one)
 * @property {string} [role] 'customer' | 'agent'
 * @property {HTMLVideoElement | null} [localVideo]
 * @property {HTMLVideoElement | null} [remoteVideo]
 * @property {(state: CallState, detail: StateDetail) => void} [onState]
 * @property {(type: string, msg: any) => void} [onEvent]
 * @property {MediaStream | null} [localStream]
 * @property {MediaTrackConstraints | boolean} [video]
 * @property {string | null} [mediaUrl]
 */

/**
 * A diagnostic record (`events`, `onEvent`).
 * @typedef {{ t: number, type: string, [field: string]: unknown }} CallEvent
 */

/**
 * The fatal error of a call (`error`).
 * @typedef {{ code: string, message: string, name?: string }} CallError
 */

/**
 * Extra detail for a fatal error or the end.
 * @typedef {{ message?: string, name?: string, local?: boolean }} Extra
 */

const PING_INTERVAL_MS = 20_000;
const MAX_EVENTS = 500;

// The call socket's URL: on the media node named by the server (http(s) URLs only), else here.
/** @param {string | null | undefined} mediaUrl @returns {string} */
export function callSocketUrl(mediaUrl) {
  if (mediaUrl) {
    const u = new URL(mediaUrl, location.href);
    if (u.protocol === 'https:' || u.protocol === 'http:') {
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      u.pathname = `${u.pathname.replace(/\/+$/, '')}/ws`;
      u.search = '';
      u.hash = '';
      return u.toString();
    }
  }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
}

/** @param {CallOptions} [options] */
export function startCall({
  token,
  role = 'customer',
  localVideo = null,
  remoteVideo = null,
  onState = () => {},
  onEvent = () => {},
  localStream: givenStream = null,
  video: videoConstraints = { width: 640, height: 480 },
  // The media node the call was placed on (scale-out: `media_url` of call_ready / take);
  // absent: this server.
  mediaUrl = null,
} = {}) {
  /**
   * @type {{ pc: RTCPeerConnection | null, ws: WebSocket | null, state: CallState,
   *   role: 'customer' | 'agent', callId: string | null, joined: boolean, peerPresent: boolean,
   *   pcState: RTCPeerConnectionState, iceState: RTCIceConnectionState, remoteMuted: boolean,
   *   error: CallError | null, endedReason: string | null, localSdp: string | null,
   *   remoteSdp: string | null, lastPong: number | null, events: CallEvent[],
   *   localStream: MediaStream | null }}
   */
  const s = {
    pc: null,
    ws: null,
    state: 'connecting',
    role: role === 'agent' ? 'agent' : 'customer',
    callId: null,
    joined: false,
    peerPresent: false,
    pcState: 'new',
    iceState: 'new',
    remoteMuted: false,
    error: null,
    endedReason: null,
    localSdp: null,
    remoteSdp: null,
    lastPong: null,
    events: [],
    localStream: null,
  };

  let ownStream = false;
  let offerSent = false;
  let remoteDescriptionSet = false;
  let endOfCandidatesSent = false;
  /** @type {(RTCIceCandidate | null)[]} */
  const pendingLocalCandidates = [];
  /** @type {RTCIceCandidateInit[]} */
  const pendingRemoteCandidates = [];
  let pcQueue = Promise.resolve(); // serializes answer/candidate handling after the set-up
  /** @type {ReturnType<typeof setInterval> | null} */
  let pingTimer = null;

  /**
   * @template {unknown[]} A
   * @param {(...args: A) => void} fn
   * @param {A} args
   */
  function safe(fn, ...args) {
    try {
      fn(...args);
    } catch (err) {
      console.error('[vidid] callback failed', err);
    }
  }

  /** @param {string} type @param {Record<string, unknown>} [detail] */
  function record(type, detail = {}) {
    /** @type {CallEvent} */
    const event = { t: Math.round(performance.now()), type, ...detail };
    s.events.push(event);
    if (s.events.length > MAX_EVENTS) s.events.shift();
    console.log(`[vidid] ${type} ${JSON.stringify(detail)}`);
    safe(onEvent, type, detail);
    return event;
  }

  const terminal = () => s.state === 'ended' || s.state === 'error';

  /** @param {Partial<StateDetail>} [extra] @returns {StateDetail} */
  function detail(extra = {}) {
    return {
      joined: s.joined,
      peerPresent: s.peerPresent,
      pcState: s.pcState,
      iceState: s.iceState,
      callId: s.callId,
      ...extra,
    };
  }

  /** @param {CallState} next @param {Partial<StateDetail>} [extra] */
  function setState(next, extra = {}) {
    if (s.state === next) return;
    if (terminal()) return;
    record('state', { from: s.state, to: next });
    s.state = next;
    safe(onState, next, detail(extra));
  }

  // Derives the live state from what we know: joined, the peer's presence, our media connection.
  function updateState() {
    if (terminal()) return;
    if (!s.joined) return setState('connecting');
    if (!s.peerPresent) return setState('waiting');
    if (s.pcState === 'connected') return setState('connected');
    return setState('connecting');
  }

  // Tells the caller about a change inside a state (e.g. the media connection interrupted).
  function notifySame() {
    if (!terminal()) safe(onState, s.state, detail());
  }

  /** @param {string} code @param {Extra} [extra] */
  function fail(code, extra = {}) {
    if (terminal()) return;
    record('fatal', { code, ...extra });
    s.error = { code, message: extra.message ?? '', ...(extra.name ? { name: extra.name } : {}) };
    teardown();
    s.state = 'error';
    safe(onState, 'error', detail({ code, ...extra }));
  }

  /** @param {string | null | undefined} reason @param {Extra} [extra] */
  function end(reason, extra = {}) {
    if (terminal()) return;
    s.endedReason = reason ?? null;
    teardown();
    s.state = 'ended';
    record('state', { to: 'ended' });
    safe(onState, 'ended', detail({ reason: reason ?? null, ...extra }));
  }

  function teardown() {
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = null;
    window.removeEventListener('pagehide', onPageHide);
    if (s.localStream && ownStream) for (const t of s.localStream.getTracks()) t.stop();
    if (localVideo) delete localVideo.dataset.live;
    if (s.pc && s.pc.signalingState !== 'closed') s.pc.close();
    if (s.ws && s.ws.readyState <= WebSocket.OPEN) s.ws.close(1000, 'bye');
  }

  /** @param {ClientMsg} msg */
  function send(msg) {
    const ws = s.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    if (msg.type === 'candidate') record('sent', { msg: msg.type, candidate: msg.candidate });
    else if (msg.type !== 'ping') record('sent', { msg: msg.type });
    return true;
  }

  /** @param {RTCIceCandidate | null} c */
  function sendLocalCandidate(c) {
    // Browsers may signal the end of gathering more than once (per m-line and overall).
    if (!c || !c.candidate) {
      if (endOfCandidatesSent) return;
      endOfCandidatesSent = true;
    }
    send({
      type: 'candidate',
      candidate: c ? c.candidate : '',
      sdpMid: c?.sdpMid ?? null,
      sdpMLineIndex: c?.sdpMLineIndex ?? null,
    });
  }

  function onPageHide() {
    if (!terminal()) send({ type: 'leave' });
  }

  /** @param {string} joinToken */
  function connect(joinToken) {
    const ws = new WebSocket(callSocketUrl(mediaUrl));
    s.ws = ws;
    ws.addEventListener('open', () => {
      record('ws_open');
      send({ type: 'join', token: joinToken });
      pingTimer = setInterval(() => send({ type: 'ping' }), PING_INTERVAL_MS);
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        record('bad_server_message', { data: String(ev.data).slice(0, 200) });
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      onMessage(msg);
    });
    ws.addEventListener('error', () => record('ws_error'));
    ws.addEventListener('close', (ev) => {
      record('ws_close', { code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
      if (pingTimer) clearInterval(pingTimer);
      pingTimer = null;
      if (!terminal()) fail('ws_closed');
    });
  }

  /** @param {ServerMsg} msg */
  function onMessage(msg) {
    switch (msg.type) {
      case 'joined': {
        record('joined', { call_id: msg.call_id, role: msg.role, peer_present: msg.peer_present });
        s.joined = true;
        s.callId = msg.call_id ?? null;
        s.peerPresent = Boolean(msg.peer_present);
        updateState();
        notifySame();
        pcQueue = startMedia(Array.isArray(msg.ice_servers) ? msg.ice_servers : []).catch((err) => {
          record('setup_failed', { error: String(err) });
          fail('setup_failed', { message: err?.message ?? String(err) });
        });
        break;
      }
      case 'answer':
        record('answer', { bytes: typeof msg.sdp === 'string' ? msg.sdp.length : 0 });
        pcQueue = pcQueue.then(() => onAnswer(msg.sdp)).catch((err) => {
          record('answer_failed', { error: String(err) });
          fail('setup_failed', { message: err?.message ?? String(err) });
        });
        break;
      case 'candidate':
        pcQueue = pcQueue.then(() => onRemoteCandidate(msg)).catch((err) => {
          // One bad candidate must not end the call; the others may still work.
          record('candidate_failed', { error: String(err), candidate: msg.candidate });
        });
        break;
      case 'peer': {
        if (msg.event === 'joined' || msg.event === 'connected') s.peerPresent = true;
        if (msg.event === 'left') s.peerPresent = false;
        record('peer', { event: msg.event });
        updateState();
        break;
      }
      case 'call_ended':
        record('call_ended', { reason: msg.reason ?? null });
        end(msg.reason ?? null);
        break;
      case 'pong':
        s.lastPong = Date.now();
        break;
      case 'error': {
        const { code = 'unknown', message = '', fatal = false } = msg;
        record('server_error', { code, message, fatal });
        if (fatal) fail(code, { message });
        break;
      }
      default:
        record('unknown_message', { type: /** @type {{ type: string }} */ (msg).type });
    }
  }

  /** @param {IceServer[]} iceServers */
  async function startMedia(iceServers) {
    if (givenStream && givenStream.getTracks().some((t) => t.readyState === 'live')) {
      s.localStream = givenStream;
      ownStream = false;
    } else {
      try {
        s.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: videoConstraints });
        ownStream = true;
      } catch (caught) {
        // getUserMedia rejects with a DOMException (name: NotAllowedError, …).
        const err = /** @type {{ name?: string, message?: string } | null} */ (caught);
        record('gum_failed', { name: err?.name, message: err?.message });
        send({ type: 'leave' });
        fail(`media_${err?.name ?? 'error'}`, { name: err?.name ?? 'Error', message: err?.message ?? '' });
        return;
      }
    }
    const localStream = s.localStream;
    if (terminal()) {
      if (ownStream) for (const t of localStream.getTracks()) t.stop();
      return;
    }
    record('gum_ok', { tracks: localStream.getTracks().map((t) => `${t.kind}:${t.label}`) });
    if (localVideo) {
      localVideo.srcObject = localStream;
      localVideo.dataset.live = '1';
      localVideo.muted = true;
      localVideo.play().catch(() => {});
    }

    const servers = iceServers
      .filter((x) => x && x.urls)
      .map((x) => {
        /** @type {RTCIceServer} */
        const out = { urls: x.urls };
        if (x.username != null) out.username = x.username;
        if (x.credential != null) out.credential = x.credential;
        return out;
      });
    const pc = new RTCPeerConnection({ iceServers: servers, bundlePolicy: 'max-bundle' });
    s.pc = pc;

    // One audio and one video m-line, both sendrecv: the server relays the other participant on
    // the same transceivers, so their receiver tracks are the remote stream from the start.
    const [audio] = localStream.getAudioTracks();
    const [video] = localStream.getVideoTracks();
    const audioTx = pc.addTransceiver(audio ?? 'audio', { direction: 'sendrecv', streams: [localStream] });
    const videoTx = pc.addTransceiver(video ?? 'video', { direction: 'sendrecv', streams: [localStream] });
    const remoteStream = new MediaStream([audioTx.receiver.track, videoTx.receiver.track]);
    if (remoteVideo) {
      remoteVideo.srcObject = remoteStream;
      remoteVideo.muted = false;
    }

    pc.addEventListener('track', (ev) => {
      record('track', { kind: ev.track.kind, mid: ev.transceiver?.mid ?? null });
      if (!remoteStream.getTracks().includes(ev.track)) remoteStream.addTrack(ev.track);
      playRemote();
    });
    pc.addEventListener('icecandidate', (ev) => {
      if (offerSent) sendLocalCandidate(ev.candidate);
      else pendingLocalCandidates.push(ev.candidate);
    });
    pc.addEventListener('connectionstatechange', () => {
      s.pcState = pc.connectionState;
      record('pc_state', { state: pc.connectionState });
      if (pc.connectionState === 'failed') {
        // Keep what ICE saw for diagnosis before the connection is closed.
        iceSummary(pc)
          .then((summary) => record('ice_failed', summary))
          .finally(() => fail('ice_failed'));
        return;
      }
      const before = s.state;
      updateState();
      if (s.state === before) notifySame();
    });
    pc.addEventListener('iceconnectionstatechange', () => {
      s.iceState = pc.iceConnectionState;
      record('ice_state', { state: pc.iceConnectionState });
    });

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // Set just above, so not null.
    const local = /** @type {RTCSessionDescription} */ (pc.localDescription);
    s.localSdp = local.sdp;
    send({ type: 'offer', sdp: local.sdp });
    offerSent = true;
    for (const c of pendingLocalCandidates.splice(0)) sendLocalCandidate(c);
  }

  /** @param {string} sdp */
  async function onAnswer(sdp) {
    const pc = s.pc;
    if (!pc || pc.signalingState === 'closed') return;
    s.remoteSdp = sdp;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    remoteDescriptionSet = true;
    record('answer_set', { pending_candidates: pendingRemoteCandidates.length });
    for (const c of pendingRemoteCandidates.splice(0)) await addRemoteCandidate(c);
    playRemote();
  }

  /** @param {{ candidate: string, sdpMid?: string | null, sdpMLineIndex?: number | null }} msg */
  async function onRemoteCandidate(msg) {
    if (!msg.candidate) {
      record('remote_end_of_candidates');
      return; // end of candidates: nothing to add
    }
    const c = {
      candidate: msg.candidate,
      sdpMid: msg.sdpMid ?? null,
      sdpMLineIndex: msg.sdpMLineIndex ?? null,
    };
    if (c.sdpMid === null && c.sdpMLineIndex === null) c.sdpMLineIndex = 0;
    if (!remoteDescriptionSet) pendingRemoteCandidates.push(c);
    else await addRemoteCandidate(c);
  }

  /** @param {RTCIceCandidateInit} c */
  async function addRemoteCandidate(c) {
    const pc = s.pc;
    if (!pc || pc.signalingState === 'closed') return;
    try {
      await pc.addIceCandidate(c);
      record('remote_candidate', { candidate: c.candidate });
    } catch (err) {
      record('candidate_failed', { error: String(err), candidate: c.candidate });
    }
  }

  // Plays the remote stream with sound. If the browser blocks autoplay with sound, play muted
  // and tell the caller ('autoplay_blocked'): the picture is there at once and unmute() (from a
  // tap) turns the sound on.
  function playRemote() {
    const v = remoteVideo;
    if (!v) return;
    if (!v.paused && !v.muted) return;
    v.play().then(
      () => {
        s.remoteMuted = v.muted;
      },
      (err) => {
        if (err?.name !== 'NotAllowedError') return;
        v.muted = true;
        s.remoteMuted = true;
        v.play().catch(() => {});
        record('autoplay_blocked');
      },
    );
  }

  const handle = {
    get pc() { return s.pc; },
    get state() { return s.state; },
    get ws() { return s.ws; },
    get role() { return s.role; },
    get callId() { return s.callId; },
    get joined() { return s.joined; },
    get peerPresent() { return s.peerPresent; },
    get pcState() { return s.pcState; },
    get iceState() { return s.iceState; },
    get error() { return s.error; },
    get endedReason() { return s.endedReason; },
    get localSdp() { return s.localSdp; },
    get remoteSdp() { return s.remoteSdp; },
    get remoteMuted() { return s.remoteMuted; },
    get lastPong() { return s.lastPong; },
    get events() { return s.events; },
    get localStream() { return s.localStream; },
    /** Agent only: ends the call for both (`end_call`). True when it was sent. */
    /** @param {string} [reason] */
    endCall(reason) {
      if (s.role !== 'agent' || !s.joined || terminal()) return false;
      return send(reason ? { type: 'end_call', reason } : { type: 'end_call' });
    },
    /** Leaves the call (`leave`: the seat stays open for a rejoin) and releases everything. */
    close() {
      if (terminal()) {
        teardown();
        return;
      }
      send({ type: 'leave' });
      end('closed', { local: true });
    },
    /** Turns the remote sound on (call it from a user gesture after 'autoplay_blocked'). */
    unmute() {
      if (!remoteVideo) return;
      remoteVideo.muted = false;
      s.remoteMuted = false;
      remoteVideo.play().catch(() => {});
      record('unmuted');
    },
    send,
  };

  window.addEventListener('pagehide', onPageHide);
  if (!token) {
    queueMicrotask(() => fail('no_token'));
  } else if (typeof RTCPeerConnection !== 'function' || !navigator.mediaDevices?.getUserMedia) {
    queueMicrotask(() => fail('no_webrtc'));
  } else {
    connect(token);
  }
  return handle;
}

// Candidates and candidate pairs as getStats() reports them.
/** @param {RTCPeerConnection} pc */
async function iceSummary(pc) {
  /** @type {{ local: string[], remote: string[], pairs: string[], error?: string }} */
  const out = { local: [], remote: [], pairs: [] };
  try {
    const report = await pc.getStats();
    report.forEach((x) => {
      /** @param {any} c a candidate's stats (RTCIceCandidateStats in the spec, not in the DOM library) */
      const addr = (c) => `${c.candidateType} ${c.protocol} ${c.address ?? c.ip ?? '?'}:${c.port}`;
      if (x.type === 'local-candidate') out.local.push(addr(x));
      else if (x.type === 'remote-candidate') out.remote.push(addr(x));
      else if (x.type === 'candidate-pair') out.pairs.push(`${x.state} ${x.localCandidateId} -> ${x.remoteCandidateId}`);
    });
  } catch (err) {
    out.error = String(err);
  }
  return out;
}
