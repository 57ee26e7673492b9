// @ts-check
// The customer's journey (customer.html, `/customer?case=<link token>`): link validity and
// working hours → device check → recording notice and consent → ID photo → confirm the data →
// queue (live place over /ws/queue) → the call (rtc-call.js) with the agent's instructions and
// the SMS code → the result. docs/api.md and docs/signaling.md §5 describe the server side.
//
// The step is always derived from the server (`GET /api/v1/customer`) plus what only this tab
// knows (device checked, notice accepted, the queue's rejoin token: sessionStorage), so a reload
// resumes where the customer was.
//
// For tests and diagnostics: window.vidid.journey = { step, state, position, estimatedWaitSecs,
// callState, instruction, result, queueConn, lang, … } and window.vidid.call (the call handle).

import { startCall } from '../shared/rtc-call.js';
import { STRINGS } from './journey-i18n.js';

/** @typedef {import('../shared/protocol.js').CustomerMsg} CustomerMsg */
/** @typedef {import('../shared/protocol.js').CallReadyMsg} CallReadyMsg */
/** @typedef {import('../shared/protocol.js').ResultMsg} ResultMsg */
/** @typedef {import('../shared/protocol.js').ErrorMsg} ErrorMsg */
/** @typedef {import('../shared/protocol.js').QueueClientMsg} QueueClientMsg */
/** @typedef {import('../shared/protocol.js').CustomerView} CustomerView */

const MAX_PHOTO_BYTES = 8 * 1024 * 1024;
const QUEUE_PING_MS = 10_000;
const QUEUE_DEAD_MS = 25_000;
const REDIRECT_SECS = 5;
// While queued, how often the page asks whether the server sees it connected.
const QUEUE_CHECK_MS = 15_000;
const PREP_STEPS = ['device', 'consent', 'upload', 'confirm', 'queue', 'call'];

const params = new URLSearchParams(location.search);
const token = (params.get('case') ?? '').trim();
const storeKey = `vidid.journey.${token.slice(0, 24)}`;

// ---------------------------------------------------------------------------------------------
// State

const store = loadStore();
const J = {
  step: 'loading',
  state: null, // the case's state as the server last told it
  position: null,
  estimatedWaitSecs: null,
  callState: null,
  callId: null,
  instruction: null,
  result: null, // the last `result` message (or what the status said on load)
  queueConn: 'idle', // idle | connecting | connected | reconnecting | offline
  queueClosed: null, // next_opening when the queue refused for the hours
  why: null, // why the customer is queued again (the abort message)
  tan: null, // the last TAN answer
  differences: null,
  photoUploaded: false,
  dataConfirmed: false,
  expiresAt: null,
  hours: null,
  error: null,
  lang: null,
  reconnects: 0,
  events: [],
};
let lang = pickLang(null);
J.lang = lang;
let T = STRINGS[lang];

let call = null;
window.vidid = { journey: J };
Object.defineProperty(window.vidid, 'call', { get: () => call, enumerable: true });

function loadStore() {
  try {
    return JSON.parse(sessionStorage.getItem(storeKey) ?? '{}') ?? {};
  } catch {
    return {};
  }
}
function save() {
  try {
    sessionStorage.setItem(storeKey, JSON.stringify(store));
  } catch {
    /* private mode: the journey still works, only a reload loses more */
  }
}

function pickLang(caseLang) {
  const q = params.get('lang');
  if (q && STRINGS[q]) return q;
  if (store.lang && STRINGS[store.lang]) return store.lang;
  if (caseLang && STRINGS[caseLang]) return caseLang;
  return 'sl';
}

function note(type, detail = {}) {
  J.events.push({ t: Math.round(performance.now()), type, ...detail });
  if (J.events.length > 300) J.events.shift();
  console.log(`[journey] ${type} ${JSON.stringify(detail)}`);
}

/** @param {string} id */
const $ = (id) => document.getElementById(id);
const show = (el, on = true) => el && el.classList.toggle('hidden', !on);

// ---------------------------------------------------------------------------------------------
// Texts

function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-i18n]'))) {
    const v = T[el.dataset.i18n];
    if (typeof v === 'string') el.textContent = v;
  }
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-i18n-aria]'))) {
    const v = T[el.dataset.i18nAria];
    if (typeof v === 'string') el.setAttribute('aria-label', v);
  }
  for (const el of /** @type {NodeListOf<HTMLImageElement>} */ (document.querySelectorAll('[data-i18n-alt]'))) {
    const v = T[el.dataset.i18nAlt];
    if (typeof v === 'string') el.alt = v;
  }
  document.title = T.doc_title;
  const sw = $('lang-switch');
  const other = lang === 'sl' ? 'en' : 'sl';
  sw.textContent = STRINGS[other].lang_switch === T.lang_switch ? T.lang_switch : T.lang_switch;
  sw.lang = other;
  /** @type {HTMLInputElement} */ ($('f-dob')).placeholder = lang === 'sl' ? 'DD. MM. LLLL' : 'DD. MM. YYYY';
}

function setLang(next) {
  if (!STRINGS[next]) return;
  lang = next;
  J.lang = lang;
  T = STRINGS[lang];
  store.lang = lang;
  save();
  const q = new URLSearchParams(location.search);
  q.set('lang', lang);
  history.replaceState(null, '', `?${q}`);
  applyStatic();
  render();
  setTitle();
}

const locale = () => (lang === 'sl' ? 'sl-SI' : 'en-GB');
const TZ = 'Europe/Ljubljana';

function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', timeZone: TZ }).format(d);
}

function fmtDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const day = new Intl.DateTimeFormat(locale(), {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: TZ,
  }).format(d);
  return `${day} ${lang === 'sl' ? 'ob' : 'at'} ${fmtTime(iso)}`;
}

// ---------------------------------------------------------------------------------------------
// Steps

function showStep(step) {
  const changed = J.step !== step;
  J.step = step;
  document.body.dataset.step = step;
  for (const s of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('section.step'))) show(s, s.dataset.step === step);
  const idx = PREP_STEPS.indexOf(step);
  show($('progress'), idx >= 0);
  for (const li of /** @type {NodeListOf<HTMLLIElement>} */ (document.querySelectorAll('#progress li'))) {
    const i = PREP_STEPS.indexOf(li.dataset.for);
    li.classList.toggle('done', idx >= 0 && i < idx);
    li.classList.toggle('current', i === idx);
    if (i === idx) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  if (step !== 'device') stopDeviceCheck();
  render();
  setTitle();
  if (changed) {
    note('step', { step });
    window.scrollTo(0, 0);
    // Move focus to the new step's heading so screen readers read where the customer is.
    const h = /** @type {HTMLElement | null} */ (document.querySelector(`section[data-step="${step}"] h1`));
    if (h && step !== 'loading') h.focus({ preventScroll: true });
  }
}

function setTitle() {
  const h = document.querySelector(`section[data-step="${J.step}"] h1`);
  const head = h?.textContent?.trim();
  document.title = head && J.step !== 'loading' ? `${head} – ${T.doc_title}` : T.doc_title;
}

function fail(textKey, detail = {}) {
  J.error = { key: textKey, ...detail };
  note('error', J.error);
  showStep('error');
}

function render() {
  // welcome
  if (J.expiresAt) $('valid-until').textContent = fmtDateTime(J.expiresAt);
  if (J.hours) {
    const h = J.hours;
    $('hours-now').textContent = h.open_now
      ? (h.closes_at ? T.hours_open(fmtTime(h.closes_at)) : T.hours_open_nc)
      : T.hours_closed(fmtDateTime(h.next_opening));
    $('hours-fact').dataset.open = h.open_now ? 'yes' : 'no';
  }
  // expired
  $('expired-at').textContent = J.expiredAt ? T.expired_at(fmtDateTime(J.expiredAt)) : '';
  // error
  if (J.error) $('error-text').textContent = T[J.error.key] ?? J.error.key;
  show($('error-retry'), J.error?.key !== 'err_invalid_link' && J.error?.key !== 'err_no_link');
  renderDevice();
  renderUpload();
  renderConfirm();
  renderQueue();
  renderCall();
  renderResult();
}

// ---------------------------------------------------------------------------------------------
// Loading: where is this customer?

/**
 * The customer API with the link token (`X-Case-Token`). Never throws for an HTTP answer:
 * `{ok, status, data}` with the parsed JSON (its shape is the endpoint's, docs/api.md).
 * @param {string} method
 * @param {string} path
 * @param {{ json?: unknown, body?: BodyInit, contentType?: string }} [options]
 */
async function api(method, path, { json, body, contentType } = {}) {
  /** @type {Record<string, string>} */
  const headers = { 'X-Case-Token': token };
  let payload = body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers['Content-Type'] = contentType;
  }
  const res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* no body */
  }
  return { status: res.status, ok: res.ok, data: data ?? {} };
}

// Answers every endpoint may give: an expired link, an invalid one.
function commonFailure(r) {
  if (r.status === 410) {
    goExpired(r.data.expired_at);
    return true;
  }
  if (r.status === 401 || r.status === 404) {
    fail('err_invalid_link');
    return true;
  }
  return false;
}

function goExpired(at) {
  J.expiredAt = at ?? J.expiresAt ?? null;
  J.state = 'expired';
  stopQueue();
  showStep('expired');
}

/** @returns {Promise<CustomerView | null>} `GET /api/v1/customer`, or null after showing why not */
async function fetchStatus() {
  let r;
  try {
    r = await api('GET', '/api/v1/customer');
  } catch (err) {
    note('status_failed', { error: String(err) });
    fail('err_network');
    return null;
  }
  if (commonFailure(r)) return null;
  if (!r.ok) {
    fail('err_server', { status: r.status });
    return null;
  }
  const s = r.data;
  J.state = s.state;
  J.expiresAt = s.expires_at;
  J.hours = s.hours ?? null;
  J.photoUploaded = Boolean(s.photo_uploaded);
  J.dataConfirmed = Boolean(s.data_confirmed);
  J.retriesLeft = s.retries_left;
  if (s.queue) {
    J.position = s.queue.position;
    J.estimatedWaitSecs = s.queue.estimated_wait_secs;
  }
  return s;
}

async function load() {
  showStep('loading');
  if (!token) return fail('err_no_link');
  const s = await fetchStatus();
  if (!s) return;
  if (!params.get('lang') && !store.lang && s.language && s.language !== lang) {
    lang = pickLang(s.language);
    J.lang = lang;
    T = STRINGS[lang];
    applyStatic();
  }
  route(s);
}

// The step for the server's state plus what this tab has done.
function route(s) {
  switch (s.state) {
    case 'approved':
      return showResult({ state: 'approved', redirect_url: s.redirect_url ?? null });
    case 'rejected':
    case 'cancelled':
      return showResult({ state: s.state });
    case 'expired':
      return goExpired(s.expires_at);
    case 'queued':
      return goQueue({ attach: true });
    case 'in_call':
    case 'checks':
      // The call token comes again on the queue socket (call_ready).
      J.callState = 'connecting';
      showStep('call');
      return connectQueue();
    case 'aborted':
      if (s.final || !(s.retries_left > 0)) {
        return showResult({ state: 'aborted', message: s.message, retries_left: 0 });
      }
      J.why = s.message ?? null;
      return goQueue({ join: true });
    default: // created, prepared
      if (!store.device) return showStep('welcome');
      if (!store.consent) return showStep('consent');
      if (!s.photo_uploaded) return showStep('upload');
      if (!s.data_confirmed) return showStep('confirm');
      return goQueue({ join: !store.left });
  }
}

// ---------------------------------------------------------------------------------------------
// Device check: camera preview, light level, sound level

const dev = { stream: null, timer: null, audioCtx: null, analyser: null, canvas: null, light: null, sound: null, error: null };

function inAppBrowser() {
  const ua = navigator.userAgent || '';
  return /FBAN|FBAV|FB_IAB|Instagram|LinkedInApp|Line\/|Twitter|MicroMessenger|Snapchat|GSA\/|; wv\)/.test(ua);
}

async function startDeviceCheck() {
  dev.error = null;
  renderDevice();
  if (!window.isSecureContext) {
    dev.error = 'err_insecure';
    return renderDevice();
  }
  if (!navigator.mediaDevices?.getUserMedia || typeof RTCPeerConnection !== 'function') {
    dev.error = inAppBrowser() ? 'err_inapp' : 'err_no_webrtc';
    return renderDevice();
  }
  /** @type {HTMLButtonElement} */ ($('device-start')).disabled = true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
      audio: true,
    });
    stopDeviceCheck();
    dev.stream = stream;
  } catch (caught) {
    // getUserMedia rejects with a DOMException (name: NotAllowedError, …).
    const err = /** @type {{ name?: string, message?: string } | null} */ (caught);
    note('gum_failed', { name: err?.name, message: err?.message });
    dev.error = mediaErrorKey(err?.name);
    dev.errorDetail = err?.message ?? '';
    /** @type {HTMLButtonElement} */ ($('device-start')).disabled = false;
    return renderDevice();
  }
  /** @type {HTMLButtonElement} */ ($('device-start')).disabled = false;
  note('gum_ok');
  const v = /** @type {HTMLVideoElement} */ ($('device-video'));
  v.srcObject = dev.stream;
  v.play().catch(() => {});
  store.device = true;
  save();
  startMeters();
  renderDevice();
  $('device-continue').focus();
}

function mediaErrorKey(name) {
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return inAppBrowser() ? 'err_inapp' : 'err_denied';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'err_notfound';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'err_busy';
    default:
      return 'err_media_other';
  }
}

function startMeters() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    dev.audioCtx = new Ctx();
    const src = dev.audioCtx.createMediaStreamSource(dev.stream);
    dev.analyser = dev.audioCtx.createAnalyser();
    dev.analyser.fftSize = 1024;
    src.connect(dev.analyser);
    dev.audioCtx.resume?.().catch(() => {});
  } catch (err) {
    note('audio_meter_failed', { error: String(err) });
  }
  dev.canvas = document.createElement('canvas');
  dev.canvas.width = 48;
  dev.canvas.height = 36;
  const samples = new Float32Array(1024);
  let peak = 0;
  dev.timer = setInterval(() => {
    const v = /** @type {HTMLVideoElement} */ ($('device-video'));
    if (v.readyState >= 2) {
      const ctx = dev.canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(v, 0, 0, dev.canvas.width, dev.canvas.height);
      const { data } = ctx.getImageData(0, 0, dev.canvas.width, dev.canvas.height);
      let sum = 0;
      for (let i = 0; i < data.length; i += 4) sum += 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
      dev.light = Math.round((sum / (data.length / 4) / 255) * 100);
    }
    if (dev.analyser) {
      dev.analyser.getFloatTimeDomainData(samples);
      let sq = 0;
      for (const x of samples) sq += x * x;
      const rms = Math.sqrt(sq / samples.length);
      // dBFS → 0..100 over -60..0 dB; the bar falls slowly so speech is readable.
      const level = rms > 0 ? Math.max(0, Math.min(100, Math.round(((20 * Math.log10(rms)) + 60) * (100 / 60)))) : 0;
      peak = Math.max(level, peak - 4);
      dev.sound = peak;
      dev.heard = dev.heard || level > 25;
    }
    renderMeters();
  }, 200);
}

function stopDeviceCheck() {
  if (dev.timer) clearInterval(dev.timer);
  dev.timer = null;
  if (dev.audioCtx) dev.audioCtx.close().catch(() => {});
  dev.audioCtx = null;
  dev.analyser = null;
  if (dev.stream) for (const t of dev.stream.getTracks()) t.stop();
  dev.stream = null;
  const v = /** @type {HTMLVideoElement} */ ($('device-video'));
  if (v) v.srcObject = null;
}

const bucket = (n) => `w${Math.max(0, Math.min(10, Math.round((n ?? 0) / 10)))}`;

function setBar(fillId, meterId, value, tone) {
  const fill = $(fillId);
  fill.className = `fill ${bucket(value)} ${tone}`;
  $(meterId).setAttribute('aria-valuenow', String(value ?? 0));
}

function renderMeters() {
  if (!dev.stream) return;
  const light = dev.light ?? 0;
  const lightKey = light < 18 ? 'light_dark' : light > 88 ? 'light_bright' : 'light_ok';
  setBar('light-fill', 'light-meter', light, lightKey === 'light_ok' ? 'good' : 'poor');
  $('light-hint').textContent = T[lightKey];
  $('light-meter').setAttribute('aria-valuetext', `${light} %: ${T[lightKey]}`);
  const sound = dev.sound ?? 0;
  const soundKey = dev.heard ? 'sound_ok' : 'sound_quiet';
  setBar('sound-fill', 'sound-meter', sound, dev.heard ? 'good' : 'poor');
  $('sound-hint').textContent = T[soundKey];
  $('sound-meter').setAttribute('aria-valuetext', T[soundKey]);
  J.light = dev.light;
  J.sound = dev.sound;
}

function renderDevice() {
  const live = Boolean(dev.stream);
  show($('device-placeholder'), !live);
  show(/** @type {HTMLVideoElement} */ ($('device-video')), live);
  show($('meters'), live);
  show($('device-continue'), live);
  show(/** @type {HTMLButtonElement} */ ($('device-start')), !live);
  /** @type {HTMLButtonElement} */ ($('device-start')).textContent = dev.error ? T.try_again : T.camera_on;
  const inapp = dev.error === 'err_inapp' || (inAppBrowser() && !live);
  show($('inapp-help'), inapp);
  const errEl = $('device-error');
  const text = dev.error && dev.error !== 'err_inapp'
    ? (dev.error === 'err_media_other' && dev.errorDetail ? `${T.err_media_other} (${dev.errorDetail})` : T[dev.error])
    : '';
  errEl.textContent = text;
  show(errEl, Boolean(text));
  J.deviceError = dev.error;
  renderMeters();
}

// ---------------------------------------------------------------------------------------------
// Consent

function submitConsent(ev) {
  ev.preventDefault();
  const box = /** @type {HTMLInputElement} */ ($('consent-check'));
  if (!box.checked) {
    box.setAttribute('aria-invalid', 'true');
    show($('consent-error'), true);
    box.focus();
    return;
  }
  box.removeAttribute('aria-invalid');
  show($('consent-error'), false);
  store.consent = true;
  save();
  note('consent');
  showStep(J.photoUploaded ? (J.dataConfirmed ? 'queue' : 'confirm') : 'upload');
  if (J.step === 'queue') goQueue({ join: true });
}

// ---------------------------------------------------------------------------------------------
// The ID photo

const photo = { file: null, url: null, error: null, sending: false, errorArg: null };

async function sniff(file) {
  const b = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  return null;
}

async function pickPhoto() {
  const file = /** @type {HTMLInputElement} */ ($('photo-input')).files?.[0];
  photo.error = null;
  if (photo.url) URL.revokeObjectURL(photo.url);
  photo.url = null;
  photo.file = null;
  if (!file) return renderUpload();
  let chosen = file;
  if (file.size > MAX_PHOTO_BYTES && (await sniff(file))) {
    // Phone cameras easily make more than 8 MB: make it smaller here rather than refuse it.
    chosen = (await downscale(file)) ?? file;
  }
  if (chosen.size > MAX_PHOTO_BYTES) {
    photo.error = 'upload_too_big';
    photo.errorArg = (file.size / 1024 / 1024).toFixed(1);
  } else if (chosen.size < 64) {
    photo.error = 'upload_too_small';
  } else {
    const kind = await sniff(chosen);
    if (!kind || (chosen.type && chosen.type !== kind)) photo.error = 'upload_bad_type';
    else {
      photo.file = chosen;
      photo.type = kind;
      photo.url = URL.createObjectURL(chosen);
    }
  }
  note('photo_picked', { size: file.size, type: file.type, error: photo.error });
  renderUpload();
  if (photo.file) /** @type {HTMLButtonElement} */ ($('upload-submit')).focus();
}

// A JPEG under the size limit (at most 3000 pixels on the long side, smaller and more
// compressed if need be), or null when the browser cannot decode the picture.
async function downscale(file) {
  try {
    const bitmap = await createImageBitmap(file);
    let blob = null;
    for (const [side, quality] of [[3000, 0.9], [2400, 0.85], [1800, 0.8], [1400, 0.75]]) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement('canvas');
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
      if (blob && blob.size <= MAX_PHOTO_BYTES) break;
    }
    bitmap.close?.();
    if (!blob) return null;
    const name = `${file.name.replace(/\.[a-z]+$/i, '')}.jpg`;
    note('photo_downscaled', { from: file.size, to: blob.size });
    return new File([blob], name, { type: 'image/jpeg' });
  } catch (err) {
    note('photo_downscale_failed', { error: String(err) });
    return null;
  }
}

async function sendPhoto() {
  if (!photo.file || photo.sending) return;
  photo.sending = true;
  photo.error = null;
  renderUpload();
  let r;
  try {
    r = await api('POST', '/api/v1/customer/photo', { body: photo.file, contentType: photo.type });
  } catch {
    photo.sending = false;
    photo.error = 'err_network';
    return renderUpload();
  }
  photo.sending = false;
  if (commonFailure(r)) return;
  if (r.ok) {
    J.photoUploaded = true;
    J.state = r.data.state ?? J.state;
    note('photo_uploaded', { bytes: r.data.photo?.bytes });
    return showStep(J.dataConfirmed ? 'queue' : 'confirm');
  }
  photo.error = r.status === 413 ? 'upload_too_big' : (r.status === 415 || r.status === 422) ? 'upload_rejected' : 'err_server';
  photo.errorArg = photo.file ? (photo.file.size / 1024 / 1024).toFixed(1) : '?';
  if (r.status === 409) {
    // The case moved on (queued in another tab …): go where the server says.
    return load();
  }
  renderUpload();
}

function renderUpload() {
  show($('upload-done'), J.photoUploaded && !photo.file);
  show($('upload-skip'), J.photoUploaded && !photo.file);
  const fig = $('photo-figure');
  show(fig, Boolean(photo.url));
  if (photo.url && /** @type {HTMLImageElement} */ ($('photo-preview')).src !== photo.url) /** @type {HTMLImageElement} */ ($('photo-preview')).src = photo.url;
  $('photo-caption').textContent = photo.file ? T.upload_caption(photo.file.name, Math.round(photo.file.size / 1024)) : '';
  $('photo-label-text').textContent = photo.file || J.photoUploaded ? T.upload_change : T.upload_choose;
  const btn = /** @type {HTMLButtonElement} */ ($('upload-submit'));
  btn.disabled = !photo.file || photo.sending;
  btn.textContent = photo.sending ? T.upload_sending : T.upload_send;
  btn.setAttribute('aria-busy', photo.sending ? 'true' : 'false');
  const err = $('upload-error');
  const v = photo.error ? T[photo.error] : '';
  err.textContent = typeof v === 'function' ? v(photo.errorArg) : v;
  show(err, Boolean(photo.error));
  /** @type {HTMLInputElement} */ ($('photo-input')).setAttribute('aria-invalid', photo.error ? 'true' : 'false');
  J.photoError = photo.error;
}

// ---------------------------------------------------------------------------------------------
// Confirming the data

const conf = { sending: false, fieldErrors: {}, error: null, check: null };

// "12. 4. 1985", "12.04.1985", "12/4/1985", "1985-04-12" → "1985-04-12" (or null).
function parseDate(text) {
  const t = text.trim();
  let d, m, y;
  let r = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(t);
  if (r) [, y, m, d] = r;
  else {
    r = /^(\d{1,2})\s*[./-]\s*(\d{1,2})\s*[./-]\s*(\d{4})\.?$/.exec(t);
    if (!r) {
      r = /^(\d{2})(\d{2})(\d{4})$/.exec(t);
      if (!r) return null;
    }
    [, d, m, y] = r;
  }
  const yy = Number(y), mm = Number(m), dd = Number(d);
  const date = new Date(Date.UTC(yy, mm - 1, dd));
  if (date.getUTCFullYear() !== yy || date.getUTCMonth() !== mm - 1 || date.getUTCDate() !== dd) return null;
  if (yy < 1900 || date > new Date()) return null;
  return `${y.padStart(4, '0')}-${String(mm).padStart(2, '0')}-${String(dd).padStart(2, '0')}`;
}

function docKind() {
  return /** @type {HTMLInputElement} */ ($('f-kind-passport')).checked ? 'passport' : 'id_card';
}

async function submitConfirm(ev) {
  ev.preventDefault();
  if (conf.sending) return;
  const name = /** @type {HTMLInputElement} */ ($('f-name')).value.trim().replace(/\s+/g, ' ');
  const dob = parseDate(/** @type {HTMLInputElement} */ ($('f-dob')).value);
  const kind = docKind();
  const number = /** @type {HTMLInputElement} */ ($('f-number')).value.replace(/\s+/g, '').toUpperCase();
  conf.fieldErrors = {};
  conf.error = null;
  if (!name) conf.fieldErrors.name = 'err_name_required';
  if (!dob) conf.fieldErrors.dob = 'err_dob_format';
  if (/** @type {HTMLSelectElement} */ ($('f-country')).value !== 'SI') conf.fieldErrors.country = 'country_other_help';
  const re = kind === 'passport' ? /^P[A-Z]\d{7}$/ : /^I[A-Z]\d{7}$/;
  if (!re.test(number)) conf.fieldErrors.number = kind === 'passport' ? 'err_number_passport' : 'err_number_id';
  if (Object.keys(conf.fieldErrors).length) {
    renderConfirm();
    focusFirstInvalid();
    return;
  }
  conf.sending = true;
  renderConfirm();
  let r;
  try {
    r = await api('POST', '/api/v1/customer/confirm', {
      json: { name, date_of_birth: dob, document: { kind, country: 'SI', number } },
    });
  } catch {
    conf.sending = false;
    conf.error = 'err_network';
    return renderConfirm();
  }
  conf.sending = false;
  if (commonFailure(r)) return;
  if (r.ok) {
    J.state = r.data.state ?? J.state;
    conf.check = r.data.check ?? null;
    note('confirm', { matches: r.data.matches });
    if (r.data.matches) {
      J.dataConfirmed = true;
      J.differences = null;
      if (!J.photoUploaded) return showStep('upload');
      store.left = false;
      save();
      return goQueue({ join: true });
    }
    J.dataConfirmed = false;
    J.differences = Array.isArray(r.data.differences) ? r.data.differences : [];
    renderConfirm();
    $('confirm-diff').focus();
    return;
  }
  const code = r.data.error;
  if (code === 'document_not_accepted') {
    conf.fieldErrors.number = kind === 'passport' ? 'err_number_passport' : 'err_number_id';
  } else if (code === 'invalid_input' && r.data.field === 'name') {
    conf.fieldErrors.name = 'err_name_required';
  } else if (code === 'invalid_state' || r.status === 409) {
    return load();
  } else {
    conf.error = r.status === 400 || r.status === 422 ? 'err_dob_format' : 'err_server';
  }
  renderConfirm();
  focusFirstInvalid();
}

function focusFirstInvalid() {
  const order = [['name', 'f-name'], ['dob', 'f-dob'], ['country', 'f-country'], ['number', 'f-number']];
  for (const [k, id] of order) {
    if (conf.fieldErrors[k]) {
      $(id).focus();
      return;
    }
  }
}

function renderConfirm() {
  const fields = { name: 'f-name', dob: 'f-dob', country: 'f-country', number: 'f-number' };
  const check = conf.check;
  for (const [k, id] of Object.entries(fields)) {
    const key = conf.fieldErrors[k];
    const err = $(`${id}-err`);
    if (k !== 'country') err.textContent = key ? T[key] : '';
    else err.textContent = T.country_other_help;
    show(err, Boolean(key));
    let bad = Boolean(key);
    if (J.differences && check) {
      if (k === 'name' && check.name?.length) bad = true;
      if (k === 'dob' && check.date_of_birth_matches === false) bad = true;
      if (k === 'number' && check.document_number_matches === false) bad = true;
    }
    $(id).setAttribute('aria-invalid', bad ? 'true' : 'false');
  }
  $('f-number-hint').textContent = docKind() === 'passport' ? T.f_number_hint_passport : T.f_number_hint_id;
  const diff = $('confirm-diff');
  const list = $('confirm-diff-list');
  list.replaceChildren(...(J.differences ?? []).map((d) => {
    const li = document.createElement('li');
    li.textContent = d;
    return li;
  }));
  show(diff, Boolean(J.differences));
  const err = $('confirm-error');
  err.textContent = conf.error ? T[conf.error] : '';
  show(err, Boolean(conf.error));
  const btn = /** @type {HTMLButtonElement} */ ($('confirm-submit'));
  btn.disabled = conf.sending;
  btn.textContent = conf.sending ? T.confirm_sending : T.confirm_send;
}

// ---------------------------------------------------------------------------------------------
// The queue: joining, the live socket, reconnecting

const q = { ws: null, stop: false, backoff: 0, retryTimer: null, pingTimer: null, checkTimer: null, lastRecv: 0, joining: false, error: null, left: false };

async function goQueue({ join = false, attach = false } = {}) {
  showStep('queue');
  if (attach) return connectQueue();
  if (join) return joinQueue();
  renderQueue();
}

async function joinQueue() {
  if (q.joining) return;
  q.joining = true;
  q.error = null;
  J.queueClosed = null;
  renderQueue();
  let r;
  try {
    r = await api('POST', '/api/v1/customer/queue');
  } catch {
    q.joining = false;
    q.error = 'err_network';
    return renderQueue();
  }
  q.joining = false;
  if (commonFailure(r)) return;
  if (r.ok) {
    store.rejoin = r.data.rejoin_token;
    store.left = false;
    save();
    J.state = 'queued';
    J.position = r.data.position;
    J.estimatedWaitSecs = r.data.estimated_wait_secs ?? null;
    note('queue_joined', { position: J.position });
    q.stop = false;
    return connectQueue();
  }
  const code = r.data.error;
  note('queue_refused', { status: r.status, code });
  if (code === 'queue_closed') {
    J.queueClosed = r.data.next_opening ?? J.hours?.next_opening ?? null;
  } else if (code === 'queue_full' || code === 'wait_too_long') {
    q.error = code;
  } else if (code === 'retries_exhausted') {
    return showResult({ state: 'aborted', message: J.why, retries_left: 0 });
  } else if (code === 'invalid_state') {
    // Already queued (another tab) or not prepared: ask the server where we are.
    const s = await fetchStatus();
    if (!s) return;
    if (['queued', 'in_call', 'checks'].includes(s.state)) return connectQueue();
    if (!s.photo_uploaded) return showStep('upload');
    if (!s.data_confirmed) return showStep('confirm');
    q.error = 'err_server';
  } else {
    q.error = 'err_server';
  }
  renderQueue();
}

function connectQueue() {
  if (q.ws) return;
  clearTimeout(q.retryTimer);
  q.retryTimer = null;
  q.stop = false;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws/queue`);
  q.ws = ws;
  if (J.queueConn !== 'reconnecting' && J.queueConn !== 'offline') J.queueConn = 'connecting';
  renderQueue();
  ws.addEventListener('open', () => {
    q.lastRecv = Date.now();
    /** @type {QueueClientMsg} */
    const hello = { type: 'queue', token };
    if (store.rejoin) hello.rejoin_token = store.rejoin;
    ws.send(JSON.stringify(hello));
    scheduleQueueCheck(2000);
    q.pingTimer = setInterval(() => {
      if (Date.now() - q.lastRecv > QUEUE_DEAD_MS) {
        note('queue_socket_dead');
        dropQueueSocket();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"ping"}');
    }, QUEUE_PING_MS);
  });
  ws.addEventListener('message', (ev) => {
    if (q.ws !== ws) return;
    q.lastRecv = Date.now();
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onQueueMessage(msg);
  });
  ws.addEventListener('close', (ev) => {
    if (q.ws !== ws) return;
    note('queue_close', { code: ev.code });
    q.ws = null;
    clearInterval(q.pingTimer);
    if (!q.stop) scheduleReconnect();
  });
}

// Gives up on the current socket at once (it is dead or the network went away) and reconnects.
function dropQueueSocket() {
  const ws = q.ws;
  q.ws = null;
  clearInterval(q.pingTimer);
  try {
    ws?.close();
  } catch {
    /* already closed */
  }
  if (!q.stop) scheduleReconnect();
}

// The server marks a place disconnected when a socket of it closes; if an old socket's close
// is handled after this socket attached (a reload, a quick reconnect), the place stays marked
// disconnected although we are here, and agents skip it. Check now and then, and attach again.
function scheduleQueueCheck(ms = QUEUE_CHECK_MS) {
  clearTimeout(q.checkTimer);
  q.checkTimer = setTimeout(async () => {
    q.checkTimer = null;
    if (q.stop || !q.ws || q.ws.readyState !== WebSocket.OPEN) return;
    let r = null;
    try {
      r = await api('GET', '/api/v1/customer');
    } catch {
      /* the socket's own watchdog handles a dead network */
    }
    if (r?.ok && r.data.state === 'queued' && r.data.queue && r.data.queue.connected === false && q.ws) {
      note('queue_not_connected_on_server');
      q.backoff = 0;
      dropQueueSocket();
      return;
    }
    if (!q.stop && q.ws) scheduleQueueCheck();
  }, ms);
}

function scheduleReconnect() {
  if (q.retryTimer || q.stop) return;
  J.queueConn = navigator.onLine === false ? 'offline' : 'reconnecting';
  const delay = Math.min(15_000, 1000 * 2 ** q.backoff) + Math.floor(Math.random() * 300);
  q.backoff = Math.min(q.backoff + 1, 4);
  J.reconnects += 1;
  note('queue_reconnect', { delay });
  q.retryTimer = setTimeout(() => {
    q.retryTimer = null;
    connectQueue();
  }, delay);
  renderQueue();
}

function stopQueue() {
  q.stop = true;
  clearTimeout(q.checkTimer);
  clearTimeout(q.retryTimer);
  q.retryTimer = null;
  clearInterval(q.pingTimer);
  const ws = q.ws;
  q.ws = null;
  try {
    ws?.close();
  } catch {
    /* gone */
  }
  J.queueConn = 'idle';
}

/** @param {CustomerMsg} msg */
function onQueueMessage(msg) {
  switch (msg.type) {
    case 'queue':
      J.position = msg.position;
      J.estimatedWaitSecs = msg.estimated_wait_secs ?? null;
      J.queueConn = 'connected';
      q.backoff = 0;
      if (J.state !== 'in_call' && J.state !== 'checks') J.state = 'queued';
      note('queue', { position: J.position, wait: J.estimatedWaitSecs });
      if (J.step !== 'queue' && J.step !== 'call') showStep('queue');
      renderQueue();
      break;
    case 'call_ready':
      J.queueConn = 'connected';
      q.backoff = 0;
      startCustomerCall(msg);
      break;
    case 'instruction':
      J.instruction = String(msg.text ?? '');
      store.instruction = { callId: J.callId, text: J.instruction };
      save();
      note('instruction', { text: J.instruction });
      renderCall();
      break;
    case 'requeued':
      // The call's video server failed: back at the head of the queue, the attempt not counted.
      note('requeued', { message: msg.message ?? null });
      onRequeued(msg);
      break;
    case 'result':
      note('result', { state: msg.state, retries_left: msg.retries_left });
      q.stop = true;
      onResult(msg);
      break;
    case 'pong':
      J.queueConn = J.queueConn === 'connecting' || J.queueConn === 'reconnecting' ? J.queueConn : 'connected';
      break;
    case 'error':
      onQueueError(msg);
      break;
    default:
  }
}

/** @param {ErrorMsg} msg */
async function onQueueError(msg) {
  note('queue_error', { code: msg.code, fatal: msg.fatal });
  if (!msg.fatal) return;
  switch (msg.code) {
    case 'link_expired':
      return goExpired(null);
    case 'rejoin_refused':
    case 'rejoin_too_late':
    case 'not_in_queue': {
      // The place is gone (or this tab has no rejoin token): ask the server where we are.
      stopQueue();
      const s = await fetchStatus();
      if (!s) return;
      if (s.state === 'queued' && msg.code === 'rejoin_refused') {
        // Queued, but this tab cannot prove it is the one: queue again (at the end).
        await api('DELETE', '/api/v1/customer/queue').catch(() => null);
        J.why = T.rejoin_lost;
        return joinQueue();
      }
      if (s.state === 'prepared' || s.state === 'created') {
        // The sweeper dropped the place: join again.
        J.why = T.rejoin_lost;
        return s.photo_uploaded && s.data_confirmed ? joinQueue() : route(s);
      }
      return route(s);
    }
    default:
      // rate_limited, join_timeout …: the socket closes; reconnect.
      break;
  }
}

async function leaveQueue() {
  stopQueue();
  const r = await api('DELETE', '/api/v1/customer/queue').catch(() => null);
  if (r && commonFailure(r)) return;
  store.left = true;
  store.rejoin = null;
  save();
  J.state = r?.data?.state ?? 'prepared';
  J.position = null;
  q.left = true;
  renderQueue();
}

function renderQueue() {
  const queued = Boolean(q.ws) || J.queueConn === 'reconnecting' || J.queueConn === 'offline' || J.queueConn === 'connected';
  const closed = Boolean(J.queueClosed) && !queued;
  show($('queue-closed'), closed);
  $('closed-text').textContent = J.queueClosed ? T.closed_text(fmtDateTime(J.queueClosed)) : '';
  show($('queue-live'), queued);
  $('queue-position').textContent = J.position ?? '–';
  const w = J.estimatedWaitSecs;
  let waitText = w == null ? T.queue_wait_unknown : T.queue_wait(Math.max(1, Math.round(w / 60)));
  if (J.position === 1 && w != null) waitText = `${T.queue_next} ${waitText}`;
  $('queue-wait').textContent = queued && J.position != null ? waitText : '';
  const conn = $('queue-conn');
  conn.dataset.conn = J.queueConn;
  conn.textContent = {
    connected: T.conn_connected,
    connecting: T.conn_connecting,
    reconnecting: T.conn_reconnecting,
    offline: T.conn_offline,
    idle: '',
  }[J.queueConn] ?? '';
  const why = J.why ? (J.why === T.rejoin_lost ? J.why : T.requeue_why(J.why)) : '';
  $('queue-why').textContent = why;
  show($('queue-why'), Boolean(why) && J.step === 'queue');
  show($('queue-join-box'), !queued && !q.joining && (closed || Boolean(q.error) || q.left || J.queueConn === 'idle'));
  const joinBtn = /** @type {HTMLButtonElement} */ ($('queue-join'));
  joinBtn.disabled = q.joining;
  joinBtn.textContent = q.joining ? T.queue_joining : (q.left || closed ? T.queue_join_again : T.queue_join);
  if (closed) joinBtn.textContent = T.try_again;
  const err = $('queue-error');
  const errText = q.error ? T[q.error] : (q.left ? T.queue_left : '');
  err.textContent = errText;
  show(err, Boolean(errText));
  err.setAttribute('role', q.left ? 'status' : 'alert');
  err.classList.toggle('bad', Boolean(q.error));
  err.classList.toggle('info', !q.error);
  show($('queue-leave'), queued && J.queueConn === 'connected');
  show($('queue-tips'), queued || q.joining);
}

// ---------------------------------------------------------------------------------------------
// The call

const c = { token: null, mediaUrl: null, retries: 0, retryTimer: null, error: null, tanSending: false };

/** @param {CallReadyMsg} msg */
function startCustomerCall({ call_id: callId, token: callToken, media_url: mediaUrl }) {
  if (!callToken) return;
  c.mediaUrl = mediaUrl ?? null;
  if (call && c.token === callToken && call.state !== 'ended' && call.state !== 'error') return; // re-sent on reconnect
  if (c.retryTimer && c.token === callToken) return; // a restart is already planned
  J.state = 'in_call';
  J.callId = callId ?? null;
  J.why = null;
  if (c.token !== callToken) {
    c.token = callToken;
    c.retries = 0;
    // After a reload the last instruction of this call is still what the agent asked for.
    J.instruction = store.instruction?.callId === callId ? store.instruction.text : null;
    J.tan = null;
  }
  note('call_ready', { call_id: callId });
  showStep('call');
  beginCall();
}

function beginCall() {
  clearTimeout(c.retryTimer);
  c.retryTimer = null;
  c.error = null;
  if (call && call.state !== 'ended' && call.state !== 'error') call.close();
  J.callState = 'connecting';
  call = startCall({
    token: c.token,
    mediaUrl: c.mediaUrl,
    role: 'customer',
    localVideo: /** @type {HTMLVideoElement} */ ($('local-video')),
    remoteVideo: /** @type {HTMLVideoElement} */ ($('remote-video')),
    onState: onCallState,
    onEvent: onCallEvent,
  });
  renderCall();
}

function onCallState(state, d) {
  J.callState = state;
  J.callPcState = d.pcState;
  if (state === 'connected') c.retries = 0;
  if (state === 'error') {
    note('call_error', { code: d.code });
    const code = d.code ?? '';
    if (code.startsWith('media_') && code !== 'media_unavailable') {
      c.error = mediaErrorKey(d.name);
    } else if (code === 'invalid_token' || code === 'call_ended' || code === 'link_expired') {
      c.error = null; // the result follows on the queue socket
    } else if (!q.stop && c.retries < 8) {
      // The socket dropped or the media failed: the seat is kept for a while; join again.
      c.error = 'call_error';
      c.retries += 1;
      const delay = Math.min(10_000, 1000 * 2 ** (c.retries - 1));
      c.retryTimer = setTimeout(() => {
        c.retryTimer = null;
        if (!q.stop && J.step === 'call') beginCall();
      }, delay);
    } else {
      c.error = 'err_server';
    }
  }
  renderCall();
}

function onCallEvent(type) {
  if (type === 'autoplay_blocked') show($('unmute'), true);
}

async function submitTan(ev) {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('tan-input'));
  const code = input.value.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) {
    J.tan = { result: 'format' };
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return renderCall();
  }
  if (c.tanSending) return;
  c.tanSending = true;
  renderCall();
  let r;
  try {
    r = await api('POST', '/api/v1/customer/tan', { json: { code } });
  } catch {
    r = null;
  }
  c.tanSending = false;
  if (!r) J.tan = { result: 'network' };
  else if (r.ok) J.tan = { result: r.data.result, attemptsLeft: r.data.attempts_left ?? null };
  else if (r.status === 404 || r.status === 405) J.tan = { result: 'unavailable' };
  else if (r.data.error === 'no_tan') J.tan = { result: 'no_tan' };
  else if (r.status === 410) return goExpired(r.data.expired_at);
  else J.tan = { result: 'error', code: r.data.error ?? r.status };
  note('tan', J.tan);
  input.setAttribute('aria-invalid', J.tan.result === 'accepted' ? 'false' : 'true');
  if (J.tan.result === 'accepted') input.value = '';
  renderCall();
}

function renderCall() {
  const s = J.callState;
  const st = $('call-status');
  let text = '';
  if (s === 'connecting') text = J.callPcState === 'disconnected' ? T.call_reconnecting : T.call_connecting;
  else if (s === 'waiting') text = T.call_waiting;
  else if (s === 'connected') text = T.call_connected;
  else if (s === 'ended') text = T.call_ended;
  else if (s === 'error') text = c.error === 'call_error' ? T.call_error : T.call_ended;
  st.textContent = text;
  st.dataset.state = s ?? 'connecting';
  const err = $('call-error');
  const errText = c.error && c.error !== 'call_error' ? T[c.error] : '';
  err.textContent = errText;
  show(err, Boolean(errText));
  show($('instruction'), Boolean(J.instruction));
  $('instruction-text').textContent = J.instruction ?? '';
  const tan = J.tan;
  let tanText = '';
  if (tan) {
    switch (tan.result) {
      case 'accepted': tanText = T.tan_accepted; break;
      case 'wrong': tanText = T.tan_wrong(tan.attemptsLeft); break;
      case 'expired': tanText = T.tan_expired; break;
      case 'locked': tanText = T.tan_locked; break;
      case 'format': tanText = T.tan_format; break;
      case 'no_tan': tanText = T.tan_no_tan; break;
      case 'unavailable': tanText = T.tan_unavailable; break;
      case 'network': tanText = T.err_network; break;
      default: tanText = T.err_server;
    }
  }
  const tr = $('tan-result');
  tr.textContent = tanText;
  tr.dataset.result = tan?.result ?? '';
  /** @type {HTMLButtonElement} */ ($('tan-submit')).disabled = c.tanSending || tan?.result === 'accepted';
  /** @type {HTMLInputElement} */ ($('tan-input')).disabled = tan?.result === 'accepted';
}

/** @param {{ message: string }} msg */
function onRequeued(msg) {
  clearTimeout(c.retryTimer);
  c.retryTimer = null;
  if (call && call.state !== 'ended' && call.state !== 'error') call.close();
  c.token = null; // the next call_ready is a new call
  c.error = null;
  J.callState = null;
  J.instruction = null;
  J.tan = null;
  J.state = 'queued';
  J.why = msg.message || '';
  J.requeued = (J.requeued ?? 0) + 1;
  showStep('queue');
  renderQueue();
}

// ---------------------------------------------------------------------------------------------
// The result

let redirectTimer = null;

/** @param {ResultMsg} msg */
function onResult(msg) {
  J.result = {
    state: msg.state,
    message: msg.message ?? null,
    retries_left: msg.retries_left ?? 0,
    redirect_url: msg.redirect_url ?? null,
  };
  stopQueue();
  clearTimeout(c.retryTimer);
  if (call && call.state !== 'ended' && call.state !== 'error') call.close();
  store.rejoin = null;
  save();
  if (msg.state === 'aborted' && (msg.retries_left ?? 0) > 0) {
    // Back into the queue at once, saying why.
    J.state = 'aborted';
    J.why = msg.message || '';
    J.callState = null;
    J.instruction = null;
    q.left = false;
    showStep('queue');
    return joinQueue();
  }
  showResult(J.result);
}

function showResult(r) {
  J.result = { ...J.result, ...r };
  J.state = r.state;
  stopQueue();
  const redirect = r.state === 'approved' && r.redirect_url && !redirectTimer;
  if (redirect) J.redirectIn = REDIRECT_SECS;
  showStep('result');
  if (redirect) {
    let left = REDIRECT_SECS;
    redirectTimer = setInterval(() => {
      left -= 1;
      J.redirectIn = left;
      renderResult();
      if (left <= 0) {
        clearInterval(redirectTimer);
        note('redirect', { url: r.redirect_url });
        location.assign(r.redirect_url);
      }
    }, 1000);
  }
}

function renderResult() {
  const r = J.result;
  if (J.step !== 'result' || !r) return;
  const icon = $('result-icon');
  let title = '', text = '', next = '';
  let tone = 'warn';
  switch (r.state) {
    case 'approved':
      tone = 'ok';
      icon.textContent = '✓';
      title = T.r_approved_title;
      text = r.redirect_url ? T.r_approved_text : T.r_approved_no_url;
      next = r.redirect_url && J.redirectIn > 0 ? T.r_approved_in(J.redirectIn) : '';
      break;
    case 'rejected':
      tone = 'bad';
      icon.textContent = '×';
      title = T.r_rejected_title;
      text = T.r_rejected_text;
      next = T.r_rejected_next;
      break;
    case 'aborted':
      icon.textContent = '!';
      title = T.r_aborted_title;
      text = r.message ?? '';
      next = r.retries_left > 0 ? T.r_aborted_retry(r.retries_left) : T.r_aborted_final;
      break;
    default:
      icon.textContent = '–';
      title = T.r_cancelled_title;
      text = T.r_cancelled_text;
      next = T.r_cancelled_next;
  }
  icon.className = `icon-circle ${tone}`;
  $('result-title').textContent = title;
  $('result-text').textContent = text;
  $('result-next').textContent = next;
  const link = /** @type {HTMLAnchorElement} */ ($('result-link'));
  show(link, r.state === 'approved' && Boolean(r.redirect_url));
  if (r.redirect_url) link.href = r.redirect_url;
  show($('result-requeue'), r.state === 'aborted' && r.retries_left > 0);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('lang-switch').addEventListener('click', () => setLang(lang === 'sl' ? 'en' : 'sl'));
  $('error-retry').addEventListener('click', () => load());
  $('welcome-start').addEventListener('click', () => showStep('device'));
  /** @type {HTMLButtonElement} */ ($('device-start')).addEventListener('click', () => startDeviceCheck());
  $('device-continue').addEventListener('click', () => showStep(store.consent ? (J.photoUploaded ? 'confirm' : 'upload') : 'consent'));
  $('copy-link').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      $('live').textContent = T.link_copied;
    } catch {
      /* the address bar still has it */
    }
  });
  $('consent-form').addEventListener('submit', submitConsent);
  /** @type {HTMLInputElement} */ ($('consent-check')).addEventListener('change', () => {
    if (/** @type {HTMLInputElement} */ ($('consent-check')).checked) {
      show($('consent-error'), false);
      /** @type {HTMLInputElement} */ ($('consent-check')).removeAttribute('aria-invalid');
    }
  });
  /** @type {HTMLInputElement} */ ($('photo-input')).addEventListener('change', () => pickPhoto());
  /** @type {HTMLButtonElement} */ ($('upload-submit')).addEventListener('click', () => sendPhoto());
  $('upload-skip').addEventListener('click', () => showStep(J.dataConfirmed ? 'queue' : 'confirm'));
  $('confirm-form').addEventListener('submit', submitConfirm);
  for (const id of ['f-kind-id', 'f-kind-passport']) $(id).addEventListener('change', () => renderConfirm());
  /** @type {HTMLSelectElement} */ ($('f-country')).addEventListener('change', () => {
    conf.fieldErrors.country = /** @type {HTMLSelectElement} */ ($('f-country')).value === 'SI' ? undefined : 'country_other_help';
    renderConfirm();
  });
  /** @type {HTMLButtonElement} */ ($('queue-join')).addEventListener('click', () => {
    q.left = false;
    joinQueue();
  });
  $('queue-leave').addEventListener('click', () => leaveQueue());
  $('unmute').addEventListener('click', () => {
    call?.unmute();
    show($('unmute'), false);
  });
  $('tan-form').addEventListener('submit', submitTan);
  $('result-requeue').addEventListener('click', () => goQueue({ join: true }));
  window.addEventListener('offline', () => {
    note('offline');
    if (q.ws) dropQueueSocket();
    J.queueConn = q.stop ? J.queueConn : 'offline';
    renderQueue();
  });
  window.addEventListener('online', () => {
    note('online');
    if (!q.stop && !q.ws && (J.step === 'queue' || J.step === 'call')) {
      clearTimeout(q.retryTimer);
      q.retryTimer = null;
      q.backoff = 0;
      connectQueue();
    }
  });
}

applyStatic();
wire();
load();
