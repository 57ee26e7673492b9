// @ts-check
// vidid bare call pages (call-customer.html, call-agent.html): the page around the call client
// in rtc-call.js (docs/signaling.md, protocol v1). Plain ES module, no build step. The page says
// which role it is in <body data-role="customer|agent">; the join token comes from the query
// string (`?token=`), and with `&media=<http(s) URL>` the call socket is on that media node
// (scale-out: the signaling server serves the page, the call runs on the node it was placed on).
//
// For tests and diagnostics the page exposes `window.vidid`:
//   { pc, ws, state, role, callId, peerPresent, pcState, error, localSdp, remoteSdp, events: [...] }
// where `state` is one of: connecting | waiting | connected | ended | error.

import { startCall } from './rtc-call.js';

/** @typedef {import('./rtc-call.js').CallState} CallState */
/** @typedef {import('./rtc-call.js').StateDetail} StateDetail */
/** @typedef {'sl' | 'en'} Lang */

/** @type {Record<Lang, Record<string, string>>} */
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

// Fatal error codes that get a localized text; any other code shows the server's message.
const LOCALIZED_ERRORS = new Set(['invalid_token', 'token_in_use', 'call_ended', 'media_unavailable']);
// After these, trying again cannot help.
/** @type {Set<string | undefined>} */
const FINAL_ERRORS = new Set(['invalid_token', 'call_ended', 'link_expired', 'no_token', 'no_webrtc']);

const params = new URLSearchParams(location.search);
const role = document.body.dataset.role === 'agent' ? 'agent' : 'customer';
const otherRole = role === 'agent' ? 'customer' : 'agent';
const requestedLang = params.get('lang');
const lang = /** @type {Lang} */ (Object.hasOwn(STRINGS, requestedLang ?? '')
  ? requestedLang
  : (Object.hasOwn(STRINGS, document.documentElement.lang) ? document.documentElement.lang : 'en'));
const T = STRINGS[lang];

/** @param {string} id */
const $ = (id) => document.getElementById(id);
const ui = {
  // Both call pages have these two.
  status: /** @type {HTMLElement} */ ($('status')),
  error: /** @type {HTMLElement} */ ($('error')),
  log: $('event-log'),
  localVideo: /** @type {HTMLVideoElement | null} */ ($('local-video')),
  remoteVideo: /** @type {HTMLVideoElement | null} */ ($('remote-video')),
  unmute: $('unmute'),
  retry: $('retry'),
  endCall: /** @type {HTMLButtonElement | null} */ ($('end-call')),
  callId: $('call-id'),
  langSwitch: /** @type {HTMLAnchorElement | null} */ ($('lang-switch')),
};

// The media node to join the call on (`&media=`): an absolute http(s) URL, else this server.
function mediaUrlParam() {
  const raw = params.get('media');
  if (!raw) return null;
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : null;
  } catch {
    return null;
  }
}

/** @type {ReturnType<typeof startCall> | null} */
let call = null;
// The page's own error text (localized) for the diagnostics object.
/** @type {{ code: string | undefined, message: string } | null} */
let pageError = null;

// `window.vidid`: the call's live diagnostics (read through to the call client).
/** @type {Record<string, any>} */
const vidid = { role, lang };
for (const key of /** @type {const} */ (['pc', 'ws', 'callId', 'joined', 'peerPresent', 'pcState', 'iceState', 'remoteMuted',
  'endedReason', 'localSdp', 'remoteSdp', 'lastPong'])) {
  Object.defineProperty(vidid, key, { enumerable: true, get: () => (call ? call[key] : null) });
}
Object.defineProperty(vidid, 'state', { enumerable: true, get: () => (call ? call.state : 'connecting') });
Object.defineProperty(vidid, 'events', { enumerable: true, get: () => (call ? call.events : []) });
Object.defineProperty(vidid, 'error', { enumerable: true, get: () => pageError });
Object.defineProperty(vidid, 'call', { enumerable: false, get: () => call });
window.vidid = vidid;

// ---------------------------------------------------------------------------------------------
// Page text, status and event log

function applyLanguage() {
  if (lang === document.documentElement.lang) return;
  document.documentElement.lang = lang;
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-i18n]'))) {
    const text = T[el.dataset.i18n ?? ''];
    if (text) el.textContent = text;
  }
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-i18n-aria]'))) {
    const text = T[el.dataset.i18nAria ?? ''];
    if (text) el.setAttribute('aria-label', text);
  }
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-i18n-hide-in]'))) {
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

/** @param {string} text */
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

/** @type {ReturnType<typeof setTimeout> | null} */
let errorTimer = null;

// Shows an error; a non-fatal one (`transient`) goes away after a while, the call goes on.
/** @param {string} text */
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

/** @param {string | undefined} name @param {string | undefined} message */
function mediaErrorText(name, message) {
  switch (name) {
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
      return `${T.err_media_other}: ${message || name}`;
  }
}

/** @param {Partial<StateDetail>} d */
function errorText(d) {
  const code = d.code ?? 'unknown';
  if (code.startsWith('media_') && code !== 'media_unavailable') return mediaErrorText(d.name, d.message);
  switch (code) {
    case 'no_token': return T.err_no_token;
    case 'no_webrtc': return T.err_no_webrtc;
    case 'ws_closed': return T.err_ws_lost;
    case 'ice_failed': return T.err_ice_failed;
    case 'setup_failed': return `${T.err_setup}: ${d.message ?? ''}`;
    default:
      return LOCALIZED_ERRORS.has(code) ? T[`err_${code}`] : d.message || code;
  }
}

/** @param {CallState} state @param {StateDetail} d */
function onState(state, d) {
  if (state === 'error') {
    const text = errorText(d);
    pageError = { code: d.code, message: text };
    showError(text);
    if (!FINAL_ERRORS.has(d.code)) ui.retry?.classList.remove('hidden');
    ui.unmute?.classList.add('hidden');
  } else if (state === 'ended') {
    ui.unmute?.classList.add('hidden');
  }
  if (d.callId && ui.callId) ui.callId.textContent = d.callId;
  render();
  if (state === 'ended') logLine(ui.status.textContent);
}

/** @param {string} type @param {any} msg the event's record */
function onEvent(type, msg) {
  switch (type) {
    case 'joined':
      if (msg.peer_present) logLine(T[`peer_joined_${otherRole}`]);
      break;
    case 'peer': {
      const text = T[`peer_${msg.event}_${otherRole}`];
      if (text) logLine(text);
      break;
    }
    case 'server_error':
      if (!msg.fatal) {
        const text = LOCALIZED_ERRORS.has(msg.code) ? T[`err_${msg.code}`] : msg.message || msg.code;
        showError(text, { transient: true });
        logLine(`${T.st_error}: ${text}`);
      }
      break;
    case 'autoplay_blocked':
      ui.unmute?.classList.remove('hidden');
      break;
    default:
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function main() {
  applyLanguage();
  setupLanguageSwitch();
  render();

  const { unmute, endCall } = ui;
  unmute?.addEventListener('click', () => {
    call?.unmute();
    unmute.classList.add('hidden');
  });
  ui.retry?.addEventListener('click', () => location.reload());
  endCall?.addEventListener('click', () => {
    if (call?.endCall()) endCall.disabled = true;
  });

  call = startCall({
    token: params.get('token'),
    role,
    localVideo: ui.localVideo,
    remoteVideo: ui.remoteVideo,
    onState,
    onEvent,
    mediaUrl: mediaUrlParam(),
  });
}

main();
