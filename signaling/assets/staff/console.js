// @ts-check
// vidid agent console (/agent): sign in, availability, the queue, and the identification call
// with snapshots, call quality, instructions, the checklist in order, the TAN and the decision.
// For tests the page exposes `window.vidid.console` (see `cx` below).

import {
  api, ApiError, $, $$, h, fill, fmtDuration, fmtTime, shortId, stateBadge, toast, errorText,
  startSession, notPermitted, poll,
} from './staff-common.js';

const QUEUE_POLL_MS = 2000;
const CASE_POLL_MS = 2000;
const STATS_MS = 1000;
const STORAGE_KEY = 'vidid.console.call';

// What tests (and diagnostics) can read.
const cx = {
  view: 'signin',
  user: null,
  status: null,
  queue: null,
  caseId: null,
  callId: null,
  callState: null,
  caseState: null,
  snapshots: [],
  quality: null,
  qualityWarnings: [],
  tanSentTo: null,
  tanResult: null,
  lastDecision: null,
  lastError: null,
  events: [],
};
window.vidid = Object.assign(window.vidid ?? {}, { console: cx });

function note(type, detail = {}) {
  cx.events.push({ t: Date.now(), type, ...detail });
  if (cx.events.length > 300) cx.events.shift();
}

function showView(name) {
  cx.view = name;
  for (const id of ['queue-view', 'call-view']) $(`#${id}`).hidden = `${name}-view` !== id;
  renderAvailability();
}

// ---------------------------------------------------------------------------------------------
// Instructions to the customer, in the case's language.

const INSTRUCTIONS = [
  { key: 'room', label: 'Show the room', sl: 'Prosimo, počasi obrnite kamero po celem prostoru.', en: 'Please turn your camera slowly around the room.' },
  { key: 'face', label: 'Look at the camera', sl: 'Prosimo, poglejte naravnost v kamero.', en: 'Please look straight into the camera.' },
  { key: 'front', label: 'Show ID front', sl: 'Prosimo, pokažite sprednjo stran osebnega dokumenta v kamero.', en: 'Please show the front of your ID to the camera.' },
  { key: 'back', label: 'Show ID back', sl: 'Prosimo, pokažite hrbtno stran osebnega dokumenta v kamero.', en: 'Please show the back of your ID to the camera.' },
  { key: 'tilt', label: 'Tilt the ID', sl: 'Prosimo, dokument počasi nagnite, da vidim zaščitne elemente.', en: 'Please tilt the document slowly so I can see its security features.' },
  { key: 'closer', label: 'Hold ID closer', sl: 'Prosimo, dokument držite bližje kameri.', en: 'Please hold the document closer to the camera.' },
  { key: 'light', label: 'Move to the light', sl: 'Prosimo, pomaknite se bližje svetlobi.', en: 'Please move closer to the light.' },
  { key: 'still', label: 'Hold still', sl: 'Prosimo, za trenutek se ne premikajte.', en: 'Please hold still for a moment.' },
  { key: 'tan', label: 'Code sent', sl: 'Na vaš telefon smo poslali kodo. Preberite jo na glas ali jo vpišite na zaslonu.', en: 'We have sent a code to your phone. Please read it out or type it on your screen.' },
];

// ---------------------------------------------------------------------------------------------
// The queue

let stopQueuePoll = null;

async function setAvailability(status) {
  try {
    const st = await api('PUT', '/api/v1/agent/availability', { json: { status } });
    cx.status = st?.status ?? status;
    renderAvailability();
    toast(status === 'available' ? 'You are available for customers.' : 'You are paused.', 'ok');
    refreshQueue();
  } catch (err) {
    cx.lastError = errorText(err);
    toast(errorText(err), 'error');
  }
}

function renderAvailability() {
  const st = cx.status;
  $('#set-available').setAttribute('aria-pressed', String(st === 'available'));
  $('#set-paused').setAttribute('aria-pressed', String(st === 'paused'));
  const inCall = st === 'in_call' || cx.view === 'call';
  $('#availability').hidden = inCall || !(cx.view === 'queue');
  $('#in-call-badge').hidden = !inCall || cx.view === 'signin' || cx.view === 'refused';
}

function waitingText(joinedAt) {
  const t = new Date(joinedAt).getTime();
  const s = (Date.now() - t) / 1000;
  // A server clock far from ours (a test's shifted clock): show when they joined instead.
  if (Number.isNaN(s) || s < -5 || s > 24 * 3600) return `since ${fmtTime(joinedAt)}`;
  return fmtDuration(Math.max(0, s));
}

async function refreshQueue() {
  let data;
  try {
    data = await api('GET', '/api/v1/queue');
    $('#queue-error').textContent = '';
  } catch (err) {
    $('#queue-error').textContent = errorText(err);
    if (err instanceof ApiError && (err.status === 401)) location.reload();
    return;
  }
  cx.queue = data;
  const places = data.queue ?? [];
  const agents = data.agents ?? [];
  const me = agents.find((a) => a.user_id === cx.user.id);
  cx.status = me?.status ?? cx.status ?? 'paused';
  renderAvailability();

  const connected = places.filter((p) => p.connected).length;
  $('#t-waiting').textContent = String(places.length);
  $('#t-connected').textContent = `${connected} connected`;
  const oldest = places.reduce((m, p) => (m && m.joined_at < p.joined_at ? m : p), null);
  $('#t-longest').textContent = oldest ? waitingText(oldest.joined_at) : '–';
  const est = places.length ? places[places.length - 1].estimated_wait_secs : null;
  $('#t-estimate').textContent = est != null ? `new customers wait ≈ ${fmtDuration(est)}` : 'no estimate';
  $('#t-agents').textContent = String(agents.filter((a) => a.status === 'available').length);
  $('#t-incall').textContent = `${agents.filter((a) => a.status === 'in_call').length} in a call`;
  $('#queue-updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;

  const rows = places.map((p) => h('tr', { dataset: { caseId: p.case_id } },
    h('td', { 'data-label': 'Position', class: 'num' }, String(p.position)),
    h('td', { 'data-label': 'Case' }, h('code', { title: p.case_id }, shortId(p.case_id))),
    h('td', { 'data-label': 'Waiting' }, waitingText(p.joined_at)),
    h('td', { 'data-label': 'Connection' }, p.connected
      ? h('span', { class: 'badge ok' }, 'Connected')
      : h('span', { class: 'badge warn' }, 'Away')),
  ));
  if (!rows.length) rows.push(h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'Nobody is waiting.')));
  fill($('#queue-rows'), rows);

  const take = $('#take-next');
  const hint = $('#take-hint');
  if (cx.status !== 'available') {
    take.disabled = true;
    hint.textContent = 'Set yourself available to take customers.';
  } else if (!connected) {
    take.disabled = true;
    hint.textContent = places.length ? 'The waiting customers are not connected right now.' : 'Nobody is waiting. New customers appear here.';
  } else {
    take.disabled = false;
    hint.textContent = `${connected} customer${connected === 1 ? '' : 's'} ready. The longest waiting is taken first.`;
  }
}

function enterQueue() {
  showView('queue');
  if (!stopQueuePoll) stopQueuePoll = poll(refreshQueue, QUEUE_POLL_MS);
}

async function takeNext() {
  const btn = $('#take-next');
  btn.disabled = true;
  try {
    const r = await api('POST', '/api/v1/agent/take');
    if (!r) {
      toast('Nobody is waiting right now.');
      refreshQueue();
      return;
    }
    note('taken', { case_id: r.case?.id });
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(r));
    enterCall(r);
  } catch (err) {
    cx.lastError = errorText(err);
    toast(err instanceof ApiError && err.code === 'agent_unavailable' ? 'Set yourself available first.' : errorText(err), 'error');
    refreshQueue();
  }
}

// ---------------------------------------------------------------------------------------------
// The call

let call = null; // the rtc-call.js handle
let current = null; // the take response: {case, call, questions}
let stopCasePoll = null;
let statsTimer = null;
let prevStats = null;

const STEPS = [
  { item: 'alone_in_room', title: 'Alone in the room' },
  { item: 'intent', title: 'Intent and free will' },
  { item: 'face_matches_document', title: 'Face matches the document' },
  { item: 'document_front', title: 'Document front' },
  { item: 'document_back', title: 'Document back' },
  { item: 'tan', title: 'Code read back (TAN)' },
];

function lang() {
  return current?.case?.customer?.language === 'en' ? 'en' : 'sl';
}

async function enterCall(take) {
  if (stopQueuePoll) stopQueuePoll();
  stopQueuePoll = null;
  current = take;
  cx.caseId = take.case.id;
  cx.callId = take.call.call_id;
  cx.caseState = take.case.state;
  cx.snapshots = [];
  cx.tanSentTo = null;
  cx.tanResult = null;
  cx.status = 'in_call';
  renderAvailability();
  fill($('#thumbs'));
  $('#id-photo').hidden = true;
  $('#show-id-photo').textContent = 'Show the uploaded ID';
  renderCustomer(take.case);
  renderInstructions();
  buildSteps(take.questions ?? []);
  updateCase(take.case);
  showView('call');
  $('#main').focus();

  setCallState('connecting');
  try {
    const { startCall } = await import('../shared/rtc-call.js');
    call = startCall({
      token: take.call.token,
      mediaUrl: take.call.media_url,
      role: 'agent',
      localVideo: $('#local-video'),
      remoteVideo: $('#remote-video'),
      onState: (state, detail) => setCallState(state, detail),
      onEvent: (type, msg) => onCallEvent(type, msg),
    });
  } catch (err) {
    setCallState('error', { message: `The call could not start: ${/** @type {Error} */ (err)?.message ?? err}` });
  }
  stopCasePoll = poll(refreshCase, CASE_POLL_MS);
  statsTimer = setInterval(sampleStats, STATS_MS);
}

const CALL_STATE_TEXT = {
  connecting: 'Connecting…',
  waiting: 'Waiting for the customer…',
  connected: 'Connected',
  ended: 'Call ended',
  error: 'Call error',
};

function setCallState(state, detail) {
  cx.callState = state;
  note('call_state', { state });
  const el = $('#call-state');
  el.dataset.state = state;
  let text = CALL_STATE_TEXT[state] ?? state;
  const msg = detail?.message ?? detail?.reason;
  if ((state === 'error' || state === 'ended') && msg) text += ` (${msg})`;
  el.textContent = text;
  for (const b of $$('.snap')) b.disabled = state !== 'connected';
  if (state === 'error') cx.lastError = text;
}

function onCallEvent(type, msg) {
  if (type === 'autoplay_blocked') $('#unmute').hidden = false;
  if (type === 'call_ended' || type === 'server_error') note('call_event', { type, msg });
}

function leaveCall() {
  if (stopCasePoll) stopCasePoll();
  stopCasePoll = null;
  clearInterval(statsTimer);
  statsTimer = null;
  prevStats = null;
  try {
    call?.close();
  } catch { /* already closed */ }
  call = null;
  current = null;
  sessionStorage.removeItem(STORAGE_KEY);
  for (const v of [$('#remote-video'), $('#local-video')]) v.srcObject = null;
  cx.caseId = null;
  cx.callId = null;
  cx.callState = null;
}

function renderCustomer(c) {
  const cu = c.customer ?? {};
  const doc = cu.document ?? {};
  const docKind = doc.kind === 'passport' ? 'Passport' : 'ID card';
  const facts = [
    ['Name', cu.name],
    ['Date of birth', cu.date_of_birth],
    ['Document', `${docKind} ${doc.country ?? ''} · ${doc.number ?? ''}`],
    ['Language', cu.language === 'en' ? 'English' : 'Slovenian'],
    ['Phone', cu.phone],
    ['Contract', c.contract_ref],
    ['Attempt', `${c.attempts} of ${c.max_attempts}`],
    ['Case', c.id],
  ];
  fill($('#customer-facts'), facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'Case' ? 'mono small' : '' }, v ?? '–')]));
  $('#instr-lang').textContent = `in ${cu.language === 'en' ? 'English' : 'Slovenian'}`;
}

function renderInstructions() {
  const l = lang();
  const buttons = INSTRUCTIONS.map((i) => h('button', {
    type: 'button', class: 'secondary small instr', dataset: { key: i.key }, title: i[l],
    onclick: () => sendInstruction(i[l]),
  }, i.label));
  const input = h('input', { id: 'instr-text', maxlength: 500, 'aria-label': 'Your own instruction', placeholder: 'Your own words…' });
  const form = h('form', { id: 'instr-form' }, input, h('button', { type: 'submit', class: 'secondary small' }, 'Send'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (input.value.trim()) sendInstruction(input.value.trim()).then((ok) => { if (ok) input.value = ''; });
  });
  fill($('#instructions'), buttons, form);
}

async function sendInstruction(text) {
  try {
    await api('POST', `/api/v1/cases/${cx.caseId}/instruction`, { json: { text } });
    note('instruction', { text });
    toast(`Sent: “${text}”`, 'ok');
    return true;
  } catch (err) {
    toast(errorText(err), 'error');
    return false;
  }
}

// ── the checklist ──────────────────────────────────────────────────────────────────────────

function yesNo(name, legend, { yes = 'Yes', no = 'No' } = {}) {
  return h('fieldset', { class: 'yesno-field' },
    h('legend', {}, legend),
    h('div', { class: 'yesno' },
      h('label', {}, h('input', { type: 'radio', name, value: 'yes', required: true }), yes),
      h('label', {}, h('input', { type: 'radio', name, value: 'no' }), no),
    ));
}

function checkbox(name, text) {
  const id = `cb-${name}-${Math.random().toString(36).slice(2, 7)}`;
  return h('div', { class: 'check' }, h('input', { type: 'checkbox', id, name }), h('label', { for: id }, text));
}

function observation(item) {
  const id = `obs-${item}`;
  return h('div', { class: 'field' }, h('label', { for: id }, 'Observation'),
    h('textarea', { id, name: 'observation', maxlength: 2000, placeholder: 'What you saw and heard (reactions, behaviour)…' }));
}

function instrButton(key) {
  const i = INSTRUCTIONS.find((x) => x.key === key);
  return h('button', { type: 'button', class: 'secondary small', onclick: () => sendInstruction(i[lang()]) }, `Ask: ${i.label.toLowerCase()}`);
}

function snapButton(kind, label) {
  return h('button', { type: 'button', class: 'secondary small snap', dataset: { kind }, disabled: cx.callState !== 'connected' }, label);
}

function buildSteps(questions) {
  const l = lang();
  const items = STEPS.map((s) => {
    const body = h('div', { class: 'step-body' });
    const form = h('form', { class: 'check-form', dataset: { item: s.item }, novalidate: true });
    const err = h('p', { class: 'form-error', role: 'alert' });
    const record = h('button', { type: 'submit', class: 'primary small record' }, 'Record');
    switch (s.item) {
      case 'alone_in_room':
        form.append(
          h('div', { class: 'button-row' }, instrButton('room')),
          checkbox('room_shown', 'The customer turned the camera around the whole room'),
          checkbox('nobody_else', 'Nobody else was seen or heard'),
          observation(s.item), err, record);
        break;
      case 'intent':
        questions.forEach((q, i) => {
          const id = `ans-${i}`;
          form.append(h('div', { class: 'question', dataset: { questionId: q.id } },
            h('p', { class: 'q', id: `q-${i}` }, `${i + 1}. ${q[l] ?? q.en}`),
            l === 'sl' && q.en ? h('p', { class: 'q-alt', lang: 'en' }, q.en) : null,
            h('div', { class: 'field' }, h('label', { for: id }, 'Answer (in your words)'),
              h('input', { id, name: `answer-${i}`, maxlength: 500, 'aria-describedby': `q-${i}` })),
            yesNo(`acceptable-${i}`, 'Consistent with free will and the stated intent?')));
        });
        form.append(observation(s.item), err, record);
        break;
      case 'face_matches_document':
        form.append(
          h('div', { class: 'button-row' }, instrButton('face'), snapButton('face', 'Snapshot: face')),
          yesNo('matches', 'Does the face match the document photo?'),
          observation(s.item), err, record);
        break;
      case 'document_front':
      case 'document_back': {
        const front = s.item === 'document_front';
        form.append(
          h('div', { class: 'button-row' }, instrButton(front ? 'front' : 'back'), instrButton('tilt'),
            snapButton(s.item, front ? 'Snapshot: front' : 'Snapshot: back')),
          checkbox('shown', `The ${front ? 'front' : 'back'} was shown clearly`),
          checkbox('security_ok', 'Security features look right (hologram, tilt effects, print)'),
          observation(s.item), err, record);
        break;
      }
      case 'tan': {
        const code = h('input', { id: 'tan-code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 12, class: 'tan-code' });
        form.append(
          h('div', { class: 'tan-row' },
            h('button', { type: 'button', class: 'secondary', id: 'tan-send', onclick: sendTan }, 'Send code by SMS'),
            h('span', { class: 'muted small', id: 'tan-sent', role: 'status' })),
          h('div', { class: 'tan-row' },
            h('div', { class: 'field' }, h('label', { for: 'tan-code' }, 'Code the customer reads out'), code),
            h('button', { type: 'submit', class: 'primary', id: 'tan-verify' }, 'Check code')),
          h('p', { id: 'tan-result', role: 'status', class: 'small' }),
          h('p', { class: 'muted small' }, 'The customer may also type the code on their screen; it is checked here automatically.'),
          err);
        break;
      }
      default:
        break;
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (s.item === 'tan') verifyTan(form, err);
      else submitCheck(s.item, form, err, questions);
    });
    body.append(form);
    const redo = h('button', { type: 'button', class: 'secondary small redo', hidden: true, onclick: () => { editing = s.item; updateCase(cx.case); } }, 'Change');
    return h('li', { id: `step-${s.item}`, dataset: { item: s.item, status: 'locked' }, 'aria-labelledby': `step-title-${s.item}` },
      h('div', { class: 'step-head' },
        h('span', { class: 'step-title' }, h('span', { id: `step-title-${s.item}` }, s.title), h('span', { class: 'step-summary muted small' })),
        redo,
        h('span', { class: 'badge step-badge' }, 'To do')),
      body);
  });
  fill($('#steps'), items);
  for (const b of $$('#steps .snap')) b.addEventListener('click', () => takeSnapshot(b.dataset.kind, b));
}

let editing = null;

function radio(form, name) {
  const el = form.querySelector(`input[name="${name}"]:checked`);
  return el ? el.value === 'yes' : null;
}

async function submitCheck(item, form, err, questions) {
  err.textContent = '';
  const obs = form.querySelector('[name=observation]')?.value.trim() ?? '';
  let body;
  switch (item) {
    case 'alone_in_room':
      body = {
        item, room_shown: form.querySelector('[name=room_shown]').checked,
        nobody_else_seen_or_heard: form.querySelector('[name=nobody_else]').checked, observation: obs,
      };
      break;
    case 'intent': {
      const answers = [];
      for (let i = 0; i < questions.length; i += 1) {
        const answer = form.querySelector(`[name="answer-${i}"]`).value.trim();
        const acceptable = radio(form, `acceptable-${i}`);
        if (!answer || acceptable === null) {
          err.textContent = `Question ${i + 1}: write down the answer and judge it.`;
          form.querySelector(answer ? `[name="acceptable-${i}"]` : `[name="answer-${i}"]`).focus();
          return;
        }
        answers.push({ question_id: questions[i].id, answer, acceptable });
      }
      body = { item, answers, observation: obs };
      break;
    }
    case 'face_matches_document': {
      const matches = radio(form, 'matches');
      if (matches === null) {
        err.textContent = 'Choose whether the face matches.';
        form.querySelector('[name=matches]').focus();
        return;
      }
      body = { item, matches, observation: obs };
      break;
    }
    default:
      body = {
        item, shown: form.querySelector('[name=shown]').checked,
        security_features_ok: form.querySelector('[name=security_ok]').checked, observation: obs,
      };
  }
  const btn = form.querySelector('.record');
  btn.disabled = true;
  try {
    const c = await api('POST', `/api/v1/cases/${cx.caseId}/checks`, { json: body });
    note('check', { item });
    if (editing === item) editing = null;
    updateCase(c);
    const rec = (c.checklist ?? []).find((r) => r.item === item);
    toast(rec?.passed ? `${stepTitle(item)}: passed` : `${stepTitle(item)}: recorded as failed`, rec?.passed ? 'ok' : 'error');
    // Focus the next step for keyboard users.
    const next = $('#steps li[data-status=current] input, #steps li[data-status=current] button');
    next?.focus();
  } catch (e) {
    err.textContent = errorText(e);
  } finally {
    btn.disabled = false;
  }
}

function stepSummary(rec) {
  const a = rec.answer ?? {};
  switch (rec.item) {
    case 'alone_in_room':
      return [a.room_shown ? 'room shown' : 'room NOT shown', a.nobody_else_seen_or_heard ? 'nobody else' : 'someone else present'].join(', ');
    case 'intent': {
      const n = (a.answers ?? []).length;
      const ok = (a.answers ?? []).filter((x) => x.acceptable).length;
      return `${ok}/${n} acceptable`;
    }
    case 'face_matches_document':
      return a.matches ? 'matches' : 'does NOT match';
    case 'document_front':
    case 'document_back':
      return [a.shown ? 'shown' : 'NOT shown', a.security_features_ok ? 'features ok' : 'features NOT ok'].join(', ');
    case 'tan':
      return rec.passed ? 'read back' : 'not confirmed';
    default:
      return '';
  }
}

const stepTitle = (item) => STEPS.find((s) => s.item === item)?.title ?? item;

async function sendTan() {
  const btn = $('#tan-send');
  btn.disabled = true;
  try {
    const r = await api('POST', `/api/v1/cases/${cx.caseId}/tan`);
    cx.tanSentTo = r.sent_to;
    $('#tan-sent').textContent = `Sent to ${r.sent_to} at ${new Date().toLocaleTimeString('en-GB')}`;
    btn.textContent = 'Send a new code';
    note('tan_sent');
    $('#tan-code').focus();
  } catch (err) {
    $('#tan-sent').textContent = err instanceof ApiError && err.code === 'tan_send_limit' ? 'No more codes may be sent for this case.' : errorText(err);
  } finally {
    btn.disabled = false;
  }
}

async function verifyTan(form, err) {
  err.textContent = '';
  const input = $('#tan-code');
  const code = input.value.replace(/\s+/g, '');
  if (!code) {
    err.textContent = 'Enter the code the customer reads out.';
    input.focus();
    return;
  }
  try {
    const r = await api('POST', `/api/v1/cases/${cx.caseId}/tan/verify`, { json: { code } });
    cx.tanResult = r.result;
    const out = $('#tan-result');
    if (r.result === 'accepted') {
      out.textContent = 'Code accepted.';
      out.className = 'small badge ok';
    } else if (r.result === 'wrong') {
      out.textContent = `Wrong code. ${r.attempts_left} attempt${r.attempts_left === 1 ? '' : 's'} left.`;
      out.className = 'small badge bad';
      input.select();
    } else if (r.result === 'expired') {
      out.textContent = 'The code has expired. Send a new one.';
      out.className = 'small badge warn';
    } else {
      out.textContent = 'Too many wrong codes: the code is locked. Send a new code or abort (code could not be confirmed).';
      out.className = 'small badge bad';
    }
    refreshCase();
  } catch (e) {
    err.textContent = e instanceof ApiError && e.code === 'no_tan' ? 'Send a code first.' : errorText(e);
  }
}

function updateCase(c) {
  if (!c) return;
  cx.case = c;
  cx.caseState = c.state;
  fill($('#case-state'), stateBadge(c.state));
  const records = new Map((c.checklist ?? []).map((r) => [r.item, r]));
  if (c.tan_verified && !records.has('tan')) records.set('tan', { item: 'tan', passed: true });
  const started = c.state === 'checks';
  $('#start-checks').hidden = started || !['in_call'].includes(c.state);
  $('#checks-hint').hidden = started;
  let currentFound = false;
  for (const s of STEPS) {
    const li = $(`#step-${s.item}`);
    if (!li) continue;
    const rec = records.get(s.item);
    let status;
    if (!started) status = rec ? (rec.passed ? 'passed' : 'failed') : 'locked';
    else if (editing === s.item) { status = 'current'; currentFound = true; }
    else if (rec?.passed) status = 'passed';
    else if (!currentFound) { status = 'current'; currentFound = true; }
    else status = 'locked';
    if (rec && !rec.passed && status !== 'current') status = 'failed';
    li.dataset.status = status;
    const badge = li.querySelector('.step-badge');
    badge.textContent = { passed: 'Passed', failed: 'Failed', current: rec && !rec.passed ? 'Failed – redo' : 'Now', locked: 'To do' }[status];
    badge.className = `badge step-badge ${status === 'passed' ? 'ok' : status === 'failed' || (rec && !rec.passed) ? 'bad' : ''}`;
    li.querySelector('.redo').hidden = !(status === 'passed' && s.item !== 'tan' && started);
    li.querySelector('.step-summary').textContent = rec ? stepSummary(rec) : '';
    li.querySelector('.step-body').hidden = status === 'passed' || status === 'locked';
    if (s.item === 'tan' && rec?.passed) {
      const out = $('#tan-result');
      if (out) { out.textContent = 'Code accepted.'; out.className = 'small badge ok'; }
    }
  }
  const allPassed = STEPS.every((s) => records.get(s.item)?.passed);
  $('#approve').disabled = !(started && allPassed);
  $('#decision-hint').textContent = allPassed
    ? 'Every step passed. You may approve.'
    : 'Approve once every step has passed and the code was read back.';
  const terminal = !['in_call', 'checks'].includes(c.state);
  if (terminal && cx.view === 'call') caseEndedElsewhere(c);
}

function caseEndedElsewhere(c) {
  if (cx.lastDecision?.caseId === c.id) return;
  const msg = c.state === 'aborted'
    ? `The attempt was aborted (${(c.last_abort ?? 'unknown').replaceAll('_', ' ')}).`
    : `The case is ${c.state}.`;
  backToQueue(msg, 'error');
}

async function refreshCase() {
  if (!cx.caseId) return;
  try {
    const c = await api('GET', `/api/v1/cases/${cx.caseId}`);
    updateCase(c);
  } catch (err) {
    note('case_poll_error', { code: err instanceof ApiError ? err.code : undefined });
  }
}

async function startChecks() {
  const btn = $('#start-checks');
  btn.disabled = true;
  try {
    const c = await api('POST', `/api/v1/cases/${cx.caseId}/checks/start`);
    updateCase(c);
    $('#steps li[data-status=current] button, #steps li[data-status=current] input')?.focus();
  } catch (err) {
    toast(errorText(err), 'error');
  } finally {
    btn.disabled = false;
  }
}

// ── snapshots ──────────────────────────────────────────────────────────────────────────────

const SNAP_LABEL = { face: 'Face', document_front: 'Document front', document_back: 'Document back' };

async function takeSnapshot(kind, btn) {
  const v = $('#remote-video');
  if (!v.videoWidth) {
    toast('No picture from the customer yet.', 'error');
    return;
  }
  btn.disabled = true;
  try {
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext('2d').drawImage(v, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('no image'))), 'image/jpeg', 0.92));
    const r = await api('POST', `/api/v1/cases/${cx.caseId}/snapshots?kind=${encodeURIComponent(kind)}`, {
      body: blob, headers: { 'Content-Type': 'image/jpeg' },
    });
    cx.snapshots.push(r);
    note('snapshot', { kind });
    const url = URL.createObjectURL(blob);
    $('#thumbs').append(h('figure', { dataset: { kind, objectId: r.object_id } },
      h('img', { src: url, alt: `Snapshot: ${SNAP_LABEL[kind]}` }),
      h('figcaption', {}, h('span', {}, SNAP_LABEL[kind]), h('span', {}, new Date().toLocaleTimeString('en-GB')))));
    toast(`Snapshot saved: ${SNAP_LABEL[kind]} (${canvas.width}×${canvas.height})`, 'ok');
  } catch (err) {
    cx.lastError = errorText(err);
    toast(`Snapshot not saved: ${errorText(err)}`, 'error');
  } finally {
    btn.disabled = cx.callState !== 'connected';
  }
}

// ── the uploaded ID, to compare with the document shown ────────────────────────────────────

async function showIdPhoto(btn) {
  const fig = $('#id-photo');
  if (!fig.hidden) {
    fig.hidden = true;
    btn.textContent = 'Show the uploaded ID';
    return;
  }
  btn.disabled = true;
  try {
    const r = await fetch(`/api/v1/cases/${encodeURIComponent(cx.caseId)}/id-photo`, { credentials: 'same-origin' });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.message || `HTTP ${r.status}`);
    }
    const img = fig.querySelector('img');
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await r.blob());
    fig.hidden = false;
    btn.textContent = 'Hide the uploaded ID';
    note('id_photo', {});
  } catch (err) {
    toast(`The uploaded ID could not be shown: ${/** @type {Error} */ (err).message}`, 'error');
  } finally {
    btn.disabled = false;
  }
}

// ── call quality ───────────────────────────────────────────────────────────────────────────

async function sampleStats() {
  const pc = call?.pc;
  if (!pc || pc.signalingState === 'closed') return;
  let report;
  try {
    report = await pc.getStats();
  } catch {
    return;
  }
  let inbound = null;
  let rtt = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && (s.kind ?? s.mediaType) === 'video') inbound = s;
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && s.currentRoundTripTime != null) rtt = s.currentRoundTripTime * 1000;
  });
  if (!inbound) return;
  const now = inbound.timestamp;
  const q = {
    fps: inbound.framesPerSecond ?? null,
    width: inbound.frameWidth ?? null,
    height: inbound.frameHeight ?? null,
    rttMs: rtt,
    kbps: null,
    lossPct: null,
  };
  if (prevStats) {
    const dt = (now - prevStats.t) / 1000;
    if (dt > 0) q.kbps = ((inbound.bytesReceived - prevStats.bytes) * 8) / dt / 1000;
    const lost = (inbound.packetsLost ?? 0) - prevStats.lost;
    const recv = (inbound.packetsReceived ?? 0) - prevStats.recv;
    q.lossPct = lost + recv > 0 ? Math.max(0, (100 * lost) / (lost + recv)) : 0;
  }
  prevStats = { t: now, bytes: inbound.bytesReceived ?? 0, lost: inbound.packetsLost ?? 0, recv: inbound.packetsReceived ?? 0 };
  cx.quality = q;
  renderQuality(q);
}

function renderQuality(q) {
  const warnings = [];
  const set = (id, text, bad) => {
    const el = $(`#${id}`);
    el.querySelector('dd').textContent = text;
    el.classList.toggle('bad', Boolean(bad));
  };
  const connected = cx.callState === 'connected';
  const lowRate = connected && q.kbps !== null && q.kbps < 150;
  const highLoss = q.lossPct !== null && q.lossPct > 5;
  const lowFps = connected && q.fps !== null && q.fps < 12;
  const lowRes = q.height !== null && q.height > 0 && q.height < 360;
  const highRtt = q.rttMs !== null && q.rttMs > 400;
  set('q-bitrate', q.kbps === null ? '–' : `${Math.round(q.kbps)} kbit/s`, lowRate);
  set('q-loss', q.lossPct === null ? '–' : `${q.lossPct.toFixed(1)} %`, highLoss);
  set('q-fps', q.fps === null ? '–' : `${Math.round(q.fps)} fps`, lowFps);
  set('q-res', q.width ? `${q.width}×${q.height}` : '–', lowRes);
  set('q-rtt', q.rttMs === null ? '–' : `${Math.round(q.rttMs)} ms`, highRtt);
  if (lowRate) warnings.push('low bitrate');
  if (highLoss) warnings.push('packet loss');
  if (lowFps) warnings.push('low frame rate');
  if (lowRes) warnings.push('low resolution');
  if (highRtt) warnings.push('long delay');
  cx.qualityWarnings = warnings;
  $('#quality-warning').textContent = warnings.length
    ? `Poor connection: ${warnings.join(', ')}. If documents cannot be read, ask the customer to move closer to their Wi-Fi or abort (bad image).`
    : '';
}

// ── decision ───────────────────────────────────────────────────────────────────────────────

async function decide(kind, body) {
  const caseId = cx.caseId;
  const c = await api('POST', `/api/v1/cases/${caseId}/${kind}`, body ? { json: body } : {});
  cx.lastDecision = { caseId, kind, state: c.state };
  note('decision', { kind, state: c.state });
  const text = { approve: 'Identification approved.', reject: 'Identification rejected.', abort: 'Attempt aborted.' }[kind];
  backToQueue(text, kind === 'approve' ? 'ok' : 'info');
  return c;
}

function backToQueue(message, kind) {
  leaveCall();
  toast(message, kind);
  enterQueue();
  $('#main').focus();
}

function setupDecision() {
  $('#approve').addEventListener('click', async () => {
    $('#decision-error').textContent = '';
    $('#approve').disabled = true;
    try {
      await decide('approve');
    } catch (err) {
      $('#decision-error').textContent = err instanceof ApiError && err.code === 'checklist_incomplete'
        ? `The checklist is not complete: ${(err.body.missing ?? []).map(stepTitle).join(', ')}.`
        : errorText(err);
      $('#approve').disabled = false;
    }
  });
  const rejectDlg = $('#reject-dialog');
  $('#reject').addEventListener('click', () => {
    $('#reject-error').textContent = '';
    rejectDlg.showModal();
    $('#reject-reason').focus();
  });
  $('#reject-cancel').addEventListener('click', () => rejectDlg.close());
  $('#reject-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const reason = $('#reject-reason').value.trim();
    if (reason.length < 5) {
      $('#reject-error').textContent = 'Write down why (at least 5 characters).';
      $('#reject-reason').focus();
      return;
    }
    try {
      await decide('reject', { reason });
      rejectDlg.close();
      $('#reject-reason').value = '';
    } catch (err) {
      $('#reject-error').textContent = errorText(err);
    }
  });
  const abortDlg = $('#abort-dialog');
  $('#abort').addEventListener('click', () => {
    $('#abort-error').textContent = '';
    abortDlg.showModal();
    $('#abort-reason').focus();
  });
  $('#abort-cancel').addEventListener('click', () => abortDlg.close());
  $('#abort-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const reason = $('#abort-reason').value;
    if (!reason) {
      $('#abort-error').textContent = 'Choose a reason.';
      $('#abort-reason').focus();
      return;
    }
    try {
      await decide('abort', { reason, note: $('#abort-note').value.trim() });
      abortDlg.close();
      $('#abort-reason').value = '';
      $('#abort-note').value = '';
    } catch (err) {
      $('#abort-error').textContent = errorText(err);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Start

async function onUser(user) {
  cx.user = user;
  if (!['agent', 'supervisor', 'admin'].includes(user.role)) {
    cx.view = 'refused';
    notPermitted($('#refused'), { what: 'the agent console', roles: 'agents and supervisors', role: cx.user?.role });
    return;
  }
  // A call in progress before a reload: rejoin it.
  const saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved) {
    try {
      const take = JSON.parse(saved);
      const c = await api('GET', `/api/v1/cases/${take.case.id}`);
      if (['in_call', 'checks'].includes(c.state)) {
        take.case = c;
        enterCall(take);
        return;
      }
    } catch { /* start from the queue */ }
    sessionStorage.removeItem(STORAGE_KEY);
  }
  enterQueue();
}

function main() {
  $('#set-available').addEventListener('click', () => setAvailability('available'));
  $('#set-paused').addEventListener('click', () => setAvailability('paused'));
  $('#take-next').addEventListener('click', takeNext);
  $('#start-checks').addEventListener('click', startChecks);
  for (const b of $$('.call-bar .snap')) b.addEventListener('click', () => takeSnapshot(b.dataset.kind, b));
  $('#show-id-photo').addEventListener('click', (e) => showIdPhoto(e.currentTarget));
  $('#unmute').addEventListener('click', () => {
    const v = $('#remote-video');
    if (call?.unmute) call.unmute();
    else {
      v.muted = false;
      v.play().catch(() => {});
    }
    $('#unmute').hidden = true;
  });
  setupDecision();
  window.addEventListener('pagehide', () => {
    try {
      call?.close();
    } catch { /* leaving */ }
  });
  startSession({
    mount: $('#signin'),
    title: 'Agent console',
    onUser,
    onSignOut: async () => {
      if (cx.status === 'available') await api('PUT', '/api/v1/agent/availability', { json: { status: 'paused' } });
    },
  });
}

main();
