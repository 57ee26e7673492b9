// vidid call page: the client side of docs/signaling.md (protocol v1), shared by the customer
// and the agent page. Plain ES module, no build step. The page says which role it is in
// <body data-role="customer|agent">; the join token comes from the query string.
//
// For tests and diagnostics the page exposes `window.vidid`:
//   { pc, ws, state, role, callId, peerPresent, pcState, error, localSdp, remoteSdp, events: [...] }
// where `state` is one of: connecting | waiting | connected | ended | error.

const PING_INTERVAL_MS = 20_000;
const MAX_EVENTS = 500;

const STRINGS = {
  sl: {
    title: 'Video identifikacija',
    skip: 'Preskoči na klic',
    intro: 'Svetovalec bo v kratkem video pogovoru (približno 5 minut) preveril vašo identiteto.',
    notice: 'Zvok tega pogovora se snema.',
    notice_why: 'Posnetek je dokaz o vaši identifikaciji in ga po predpisih o preprečevanju pranja denarja hranimo 20 let.',
    remote_label: 'Svetovalec',
    local_label: 'Vaša slika',
    tips_title: 'Pred začetkom',
    tip_room: 'Bodite sami v tihem in dobro osvetljenem prostoru.',
    tip_id: 'Pri roki imejte osebno izkaznico ali potni list.',
    tip_phone: 'Pri roki imejte mobilni telefon: nanj boste prejeli potrditveno kodo.',
    log_title: 'Dogodki klica',
    footer: 'Povezava je šifrirana. Klic lahko kadar koli prekinete tako, da zaprete to stran.',
    lang_switch: 'English',
    st_connecting: 'Vzpostavljanje povezave …',
    st_reconnecting: 'Povezava je prekinjena, ponovno povezovanje …',
    st_waiting_agent: 'Čakamo, da se pridruži svetovalec …',
    st_waiting_customer: 'Čakamo, da se pridruži stranka …',
    st_connected: 'Povezano',
    st_ended: 'Klic je končan',
    st_error: 'Napaka',
    peer_joined_agent: 'Svetovalec se je pridružil.',
    peer_connected_agent: 'Svetovalec je povezan.',
    peer_left_agent: 'Svetovalec je zapustil klic.',
    peer_joined_customer: 'Stranka se je pridružila.',
    peer_connected_customer: 'Stranka je povezana.',
    peer_left_customer: 'Stranka je zapustila klic.',
    ended_reason: 'Razlog',
    ended_thanks: 'Hvala. To stran lahko zaprete.',
    enable_sound: 'Vklopi zvok',
    retry: 'Poskusi znova',
    err_no_token: 'Povezava ni popolna (manjka žeton). Odprite povezavo iz sporočila še enkrat.',
    err_no_webrtc: 'Ta brskalnik ne podpira video klicev. Uporabite novejšo različico brskalnika Chrome, Firefox, Edge ali Safari.',
    err_media_denied: 'Brskalnik nima dovoljenja za kamero in mikrofon. Dovolite dostop v nastavitvah strani (ikona v naslovni vrstici) in izberite »Poskusi znova«.',
    err_media_notfound: 'Kamere ali mikrofona ni bilo mogoče najti. Priključite ju in izberite »Poskusi znova«.',
    err_media_busy: 'Kamero ali mikrofon uporablja drug program. Zaprite ga in izberite »Poskusi znova«.',
    err_media_other: 'Kamere in mikrofona ni bilo mogoče vklopiti',
    err_ws_lost: 'Povezava s strežnikom je prekinjena.',
    err_ice_failed: 'Zvočne in video povezave ni bilo mogoče vzpostaviti. Preverite internetno povezavo in izberite »Poskusi znova«.',
    err_invalid_token: 'Povezava ni veljavna ali je potekla.',
    err_token_in_use: 'Ta povezava je že odprta v drugem oknu ali na drugi napravi.',
    err_call_ended: 'Ta klic je že končan.',
    err_media_unavailable: 'Medijski strežnik trenutno ni na voljo. Poskusite znova čez nekaj minut.',
    err_setup: 'Klica ni bilo mogoče pripraviti',
  },
  en: {
    title: 'Video identification',
    skip: 'Skip to the call',
    intro: 'An agent will check your identity in a short video call (about 5 minutes).',
    notice: 'The audio of this call is recorded.',
    notice_why: 'The recording is evidence of your identification; anti-money-laundering rules require us to keep it for 20 years.',
    remote_label: 'Agent',
    local_label: 'Your picture',
    tips_title: 'Before you start',
    tip_room: 'Be alone in a quiet, well-lit room.',
    tip_id: 'Have your ID card or passport at hand.',
    tip_phone: 'Have your mobile phone at hand: you will receive a confirmation code on it.',
    log_title: 'Call events',
    footer: 'The connection is encrypted. You can leave the call at any time by closing this page.',
    lang_switch: 'Slovenščina',
    st_connecting: 'Connecting…',
    st_reconnecting: 'Connection interrupted, reconnecting…',
    st_waiting_agent: 'Waiting for the agent to join…',
    st_waiting_customer: 'Waiting for the customer to join…',
    st_connected: 'Connected',
    st_ended: 'Call ended',
    st_error: 'Error',
    peer_joined_agent: 'The agent joined.',
    peer_connected_agent: 'The agent is connected.',
    peer_left_agent: 'The agent left the call.',
    peer_joined_customer: 'The customer joined.',
    peer_connected_customer: 'The customer is connected.',
    peer_left_customer: 'The customer left the call.',
    ended_reason: 'Reason',
    ended_thanks: 'Thank you. You can close this page.',
    enable_sound: 'Enable sound',
    retry: 'Try again',
    err_no_token: 'The link is incomplete (no token). Please open the link from your message again.',
    err_no_webrtc: 'This browser does not support video calls. Please use a recent Chrome, Firefox, Edge or Safari.',
    err_media_denied: 'The browser has no permission to use the camera and microphone. Allow access in the site settings (icon in the address bar) and choose “Try again”.',
    err_media_notfound: 'No camera or microphone was found. Connect them and choose “Try again”.',
    err_media_busy: 'The camera or microphone is in use by another program. Close it and choose “Try again”.',
    err_media_other: 'The camera and microphone could not be started',
    err_ws_lost: 'The connection to the server was lost.',
    err_ice_failed: 'The audio and video connection could not be established. Check your internet connection and choose “Try again”.',
    err_invalid_token: 'This link is not valid or has expired.',
    err_token_in_use: 'This link is already open in another window or on another device.',
    err_call_ended: 'This call has already ended.',
    err_media_unavailable: 'The media server is not available right now. Please try again in a few minutes.',
    err_setup: 'The call could not be set up',
  },
};

// Fatal server error codes that get a localized text; any other code shows the server's message.
const LOCALIZED_ERRORS = new Set(['invalid_token', 'token_in_use', 'call_ended', 'media_unavailable']);
// After these, trying again cannot help.
const FINAL_ERRORS = new Set(['invalid_token', 'call_ended', 'err_no_token', 'err_no_webrtc']);

const params = new URLSearchParams(location.search);
const role = document.body.dataset.role === 'agent' ? 'agent' : 'customer';
const otherRole = role === 'agent' ? 'customer' : 'agent';
const requestedLang = params.get('lang');
const lang = Object.hasOwn(STRINGS, requestedLang ?? '')
  ? requestedLang
  : (Object.hasOwn(STRINGS, document.documentElement.lang) ? document.documentElement.lang : 'en');
const T = STRINGS[lang];

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  error: $('error'),
  log: $('event-log'),
  localVideo: $('local-video'),
  remoteVideo: $('remote-video'),
  unmute: $('unmute'),
  retry: $('retry'),
  endCall: $('end-call'),
  callId: $('call-id'),
  langSwitch: $('lang-switch'),
};

const vidid = {
  pc: null,
  ws: null,
  state: 'connecting',
  role,
  lang,
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
  events: [],
};
window.vidid = vidid;

let localStream = null;
let offerSent = false;
let remoteDescriptionSet = false;
const pendingLocalCandidates = [];
const pendingRemoteCandidates = [];
let pcQueue = Promise.resolve(); // serializes answer/candidate handling after the set-up
let pingTimer = null;

// ---------------------------------------------------------------------------------------------
// Page text, status and event log

function applyLanguage() {
  if (lang === document.documentElement.lang) return;
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    const text = T[el.dataset.i18n];
    if (text) el.textContent = text;
  }
  for (const el of document.querySelectorAll('[data-i18n-aria]')) {
    const text = T[el.dataset.i18nAria];
    if (text) el.setAttribute('aria-label', text);
  }
  for (const el of document.querySelectorAll('[data-i18n-hide-in]')) {
    if (el.dataset.i18nHideIn === lang) el.hidden = true;
  }
}

function setupLanguageSwitch() {
  if (!ui.langSwitch) return;
  const target = lang === 'en' ? 'sl' : 'en';
  const next = new URLSearchParams(location.search);
  next.set('lang', target);
  ui.langSwitch.href = `?${next}`;
  ui.langSwitch.textContent = T.lang_switch;
  ui.langSwitch.lang = target;
  if (lang === 'en') {
    // The English line is hidden in English; keep the way back to Slovenian in the notice.
    const box = ui.langSwitch.closest('.notice')?.querySelector('div');
    const p = document.createElement('p');
    p.className = 'secondary';
    p.append(ui.langSwitch);
    box?.append(p);
  }
}

function record(type, detail = {}) {
  const event = { t: Math.round(performance.now()), type, ...detail };
  vidid.events.push(event);
  if (vidid.events.length > MAX_EVENTS) vidid.events.shift();
  console.log(`[vidid] ${type} ${JSON.stringify(detail)}`);
  return event;
}

function logLine(text) {
  if (!ui.log) return;
  const li = document.createElement('li');
  const time = new Date().toLocaleTimeString(lang === 'sl' ? 'sl-SI' : 'en-GB');
  li.textContent = `${time} ${text}`;
  ui.log.append(li);
  ui.log.scrollTop = ui.log.scrollHeight; // the list scrolls, never the page
}

function render() {
  const s = vidid.state;
  let text;
  switch (s) {
    case 'connecting':
      text = vidid.pcState === 'disconnected' ? T.st_reconnecting : T.st_connecting;
      break;
    case 'waiting':
      text = T[`st_waiting_${otherRole}`];
      break;
    case 'connected':
      text = T.st_connected;
      break;
    case 'ended':
      // The server's reason is operator text: the agent sees it, the customer a plain thank-you.
      if (role === 'agent') {
        text = vidid.endedReason ? `${T.st_ended} (${T.ended_reason}: ${vidid.endedReason})` : T.st_ended;
      } else {
        text = `${T.st_ended}. ${T.ended_thanks}`;
      }
      break;
    default:
      text = T.st_error;
  }
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.state = s;
  if (ui.endCall) {
    ui.endCall.disabled = !(vidid.joined && (s === 'connected' || s === 'waiting' || s === 'connecting'));
    ui.endCall.classList.toggle('hidden', s === 'ended' || s === 'error');
  }
}

function setState(next) {
  if (vidid.state === next) return;
  if (vidid.state === 'ended' || vidid.state === 'error') return; // terminal
  record('state', { from: vidid.state, to: next });
  vidid.state = next;
  render();
}

// Derives the live state from what we know: joined, the peer's presence, our media connection.
function updateState() {
  if (vidid.state === 'ended' || vidid.state === 'error') return;
  if (!vidid.joined) return setState('connecting');
  if (!vidid.peerPresent) return setState('waiting');
  if (vidid.pcState === 'connected') return setState('connected');
  return setState('connecting');
}

let errorTimer = null;

// Shows an error; a non-fatal one (`transient`) goes away after a while, the call goes on.
function showError(text, { transient = false } = {}) {
  if (errorTimer) clearTimeout(errorTimer);
  errorTimer = null;
  ui.error.textContent = text;
  if (transient) {
    errorTimer = setTimeout(() => {
      if (ui.error.textContent === text) ui.error.textContent = '';
    }, 15_000);
  }
}

function fail(text, { code = null, final = false } = {}) {
  record('fatal', { code, text });
  vidid.error = { code, message: text };
  showError(text);
  if (vidid.state !== 'ended') {
    vidid.state = 'error';
    render();
  }
  teardown();
  if (!final && !FINAL_ERRORS.has(code)) ui.retry?.classList.remove('hidden');
}

function teardown() {
  if (pingTimer) clearInterval(pingTimer);
  pingTimer = null;
  if (localStream) for (const t of localStream.getTracks()) t.stop();
  delete ui.localVideo.dataset.live;
  if (vidid.pc && vidid.pc.signalingState !== 'closed') vidid.pc.close();
  if (vidid.ws && vidid.ws.readyState <= WebSocket.OPEN) vidid.ws.close(1000, 'bye');
  if (ui.endCall) ui.endCall.disabled = true;
  ui.unmute?.classList.add('hidden');
}

// ---------------------------------------------------------------------------------------------
// Signaling

function send(msg) {
  const ws = vidid.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(msg));
  if (msg.type === 'candidate') record('sent', { msg: msg.type, candidate: msg.candidate });
  else if (msg.type !== 'ping') record('sent', { msg: msg.type });
  return true;
}

let endOfCandidatesSent = false;

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

function connect(token) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  vidid.ws = ws;
  ws.addEventListener('open', () => {
    record('ws_open');
    send({ type: 'join', token });
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
    if (vidid.state !== 'ended' && vidid.state !== 'error') fail(T.err_ws_lost, { code: 'ws_closed' });
  });
}

function onMessage(msg) {
  switch (msg.type) {
    case 'joined': {
      record('joined', { call_id: msg.call_id, role: msg.role, peer_present: msg.peer_present });
      vidid.joined = true;
      vidid.callId = msg.call_id ?? null;
      vidid.peerPresent = Boolean(msg.peer_present);
      if (ui.callId && vidid.callId) ui.callId.textContent = vidid.callId;
      if (vidid.peerPresent) logLine(T[`peer_joined_${otherRole}`]);
      updateState();
      pcQueue = startMedia(Array.isArray(msg.ice_servers) ? msg.ice_servers : []).catch((err) => {
        record('setup_failed', { error: String(err) });
        if (vidid.state !== 'error') fail(`${T.err_setup}: ${err?.message ?? err}`);
      });
      break;
    }
    case 'answer':
      record('answer', { bytes: typeof msg.sdp === 'string' ? msg.sdp.length : 0 });
      pcQueue = pcQueue.then(() => onAnswer(msg.sdp)).catch((err) => {
        record('answer_failed', { error: String(err) });
        fail(`${T.err_setup}: ${err?.message ?? err}`);
      });
      break;
    case 'candidate':
      pcQueue = pcQueue.then(() => onRemoteCandidate(msg)).catch((err) => {
        // One bad candidate must not end the call; the others may still work.
        record('candidate_failed', { error: String(err), candidate: msg.candidate });
      });
      break;
    case 'peer': {
      record('peer', { event: msg.event });
      if (msg.event === 'joined' || msg.event === 'connected') vidid.peerPresent = true;
      if (msg.event === 'left') vidid.peerPresent = false;
      const text = T[`peer_${msg.event}_${otherRole}`];
      if (text) logLine(text);
      updateState();
      break;
    }
    case 'call_ended':
      record('call_ended', { reason: msg.reason ?? null });
      vidid.endedReason = msg.reason ?? null;
      vidid.state = 'ended';
      render();
      logLine(ui.status.textContent);
      teardown();
      break;
    case 'pong':
      vidid.lastPong = Date.now();
      break;
    case 'error': {
      const { code = 'unknown', message = '', fatal = false } = msg;
      record('server_error', { code, message, fatal });
      const text = LOCALIZED_ERRORS.has(code) ? T[`err_${code}`] : message || code;
      if (fatal) {
        fail(text, { code });
      } else {
        showError(text, { transient: true });
        logLine(`${T.st_error}: ${text}`);
      }
      break;
    }
    default:
      record('unknown_message', { type: msg.type });
  }
}

// ---------------------------------------------------------------------------------------------
// Media

function mediaErrorText(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return T.err_media_denied;
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return T.err_media_notfound;
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return T.err_media_busy;
    default:
      return `${T.err_media_other}: ${err?.message || err?.name || err}`;
  }
}

async function startMedia(iceServers) {
  try {
    localStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 480 },
    });
  } catch (err) {
    record('gum_failed', { name: err?.name, message: err?.message });
    send({ type: 'leave' });
    fail(mediaErrorText(err), { code: 'media_' + (err?.name ?? 'error') });
    return;
  }
  if (vidid.state === 'ended' || vidid.state === 'error') {
    for (const t of localStream.getTracks()) t.stop();
    return;
  }
  record('gum_ok', { tracks: localStream.getTracks().map((t) => `${t.kind}:${t.label}`) });
  ui.localVideo.srcObject = localStream;
  ui.localVideo.dataset.live = '1';
  ui.localVideo.muted = true;
  ui.localVideo.play().catch(() => {});

  const servers = iceServers
    .filter((s) => s && s.urls)
    .map((s) => {
      const out = { urls: s.urls };
      if (s.username != null) out.username = s.username;
      if (s.credential != null) out.credential = s.credential;
      return out;
    });
  const pc = new RTCPeerConnection({ iceServers: servers, bundlePolicy: 'max-bundle' });
  vidid.pc = pc;

  // One audio and one video m-line, both sendrecv: the server relays the other participant on the
  // same transceivers, so their receiver tracks are the remote stream from the start.
  const [audio] = localStream.getAudioTracks();
  const [video] = localStream.getVideoTracks();
  const audioTx = pc.addTransceiver(audio ?? 'audio', { direction: 'sendrecv', streams: [localStream] });
  const videoTx = pc.addTransceiver(video ?? 'video', { direction: 'sendrecv', streams: [localStream] });
  const remoteStream = new MediaStream([audioTx.receiver.track, videoTx.receiver.track]);
  ui.remoteVideo.srcObject = remoteStream;
  ui.remoteVideo.muted = false;

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
    vidid.pcState = pc.connectionState;
    record('pc_state', { state: pc.connectionState });
    if (pc.connectionState === 'failed') {
      // Keep what ICE saw for diagnosis before the connection is closed.
      iceSummary(pc)
        .then((summary) => record('ice_failed', summary))
        .finally(() => fail(T.err_ice_failed, { code: 'ice_failed' }));
      return;
    }
    updateState();
    render();
  });
  pc.addEventListener('iceconnectionstatechange', () => {
    vidid.iceState = pc.iceConnectionState;
    record('ice_state', { state: pc.iceConnectionState });
  });

  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  vidid.localSdp = pc.localDescription.sdp;
  send({ type: 'offer', sdp: pc.localDescription.sdp });
  offerSent = true;
  for (const c of pendingLocalCandidates.splice(0)) sendLocalCandidate(c);
}

// Candidates and candidate pairs as getStats() reports them.
async function iceSummary(pc) {
  const out = { local: [], remote: [], pairs: [] };
  try {
    const report = await pc.getStats();
    report.forEach((s) => {
      const addr = (c) => `${c.candidateType} ${c.protocol} ${c.address ?? c.ip ?? '?'}:${c.port}`;
      if (s.type === 'local-candidate') out.local.push(addr(s));
      else if (s.type === 'remote-candidate') out.remote.push(addr(s));
      else if (s.type === 'candidate-pair') out.pairs.push(`${s.state} ${s.localCandidateId} -> ${s.remoteCandidateId}`);
    });
  } catch (err) {
    out.error = String(err);
  }
  return out;
}

async function onAnswer(sdp) {
  const pc = vidid.pc;
  if (!pc || pc.signalingState === 'closed') return;
  vidid.remoteSdp = sdp;
  await pc.setRemoteDescription({ type: 'answer', sdp });
  remoteDescriptionSet = true;
  record('answer_set', { pending_candidates: pendingRemoteCandidates.length });
  for (const c of pendingRemoteCandidates.splice(0)) await addRemoteCandidate(c);
  playRemote();
}

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

async function addRemoteCandidate(c) {
  const pc = vidid.pc;
  if (!pc || pc.signalingState === 'closed') return;
  try {
    await pc.addIceCandidate(c);
    record('remote_candidate', { candidate: c.candidate });
  } catch (err) {
    record('candidate_failed', { error: String(err), candidate: c.candidate });
  }
}

// Plays the remote stream with sound. If the browser blocks autoplay with sound, play muted and
// offer a button: the picture is there at once and one tap turns the sound on.
function playRemote() {
  const v = ui.remoteVideo;
  if (!v.paused && !v.muted) return;
  v.play().then(
    () => {
      vidid.remoteMuted = v.muted;
    },
    (err) => {
      if (err?.name !== 'NotAllowedError') return;
      record('autoplay_blocked');
      v.muted = true;
      vidid.remoteMuted = true;
      v.play().catch(() => {});
      ui.unmute?.classList.remove('hidden');
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Start

function main() {
  applyLanguage();
  setupLanguageSwitch();
  render();

  ui.unmute?.addEventListener('click', () => {
    ui.remoteVideo.muted = false;
    vidid.remoteMuted = false;
    ui.remoteVideo.play().catch(() => {});
    ui.unmute.classList.add('hidden');
    record('unmuted');
  });
  ui.retry?.addEventListener('click', () => location.reload());
  ui.endCall?.addEventListener('click', () => {
    if (send({ type: 'end_call' })) ui.endCall.disabled = true;
  });
  window.addEventListener('pagehide', () => {
    if (vidid.state !== 'ended' && vidid.state !== 'error') send({ type: 'leave' });
  });

  const token = params.get('token');
  if (!token) return fail(T.err_no_token, { code: 'err_no_token' });
  if (typeof RTCPeerConnection !== 'function' || !navigator.mediaDevices?.getUserMedia) {
    return fail(T.err_no_webrtc, { code: 'err_no_webrtc' });
  }
  connect(token);
}

main();
