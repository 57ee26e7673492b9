// @ts-check
// vidid compliance portal (/compliance): find a case, open its dossier (audit trail, checklist
// answers, snapshots, recordings with their verification), play and download the recording.
// Every view, play and download asks for a stated purpose first and is audited by the server.
// For tests the page exposes `window.vidid.portal`.

import {
  api, ApiError, $, h, fill, fmtDateTime, fmtDuration, fmtBytes, shortId, stateBadge, toast, errorText,
  startSession, notPermitted,
} from './staff-common.js';

const px = {
  view: 'signin',
  user: null,
  results: null,
  caseId: null,
  dossier: null,
  grants: [],
  audio: null,
  downloads: [],
  lastError: null,
};
window.vidid = Object.assign(window.vidid ?? {}, { portal: px });

const ALLOWED = ['compliance', 'supervisor', 'admin'];
const MAY_OPEN_RECORDINGS = ['compliance', 'admin'];

function showView(name) {
  px.view = name;
  $('#search-view').hidden = name !== 'search';
  $('#case-view').hidden = name !== 'case';
}

function refuse() {
  showView('refused');
  px.view = 'refused';
  notPermitted($('#refused'), { what: 'the compliance portal', roles: 'compliance officers, supervisors and administrators', role: px.user?.role });
}

// ---------------------------------------------------------------------------------------------
// Stated purposes

let lastPurpose = '';

const ACTION_TEXT = {
  view: 'Open the case file (data, audit trail, snapshots)',
  play: 'Play the recording',
  download: 'Download the recording as a WAV file',
};

/** Asks for the purpose; resolves to the text, or null when cancelled. */
function askPurpose(action, label) {
  const dlg = $('#purpose-dialog');
  const text = $('#purpose-text');
  const err = $('#purpose-error');
  $('#purpose-action').textContent = `${ACTION_TEXT[action]} — ${label}`;
  text.value = lastPurpose;
  err.textContent = '';
  return new Promise((resolve) => {
    const form = $('#purpose-form');
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      $('#purpose-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      const v = text.value.trim();
      if (v.length < 10) {
        err.textContent = 'Describe the purpose in at least 10 characters.';
        text.focus();
        return;
      }
      lastPurpose = v;
      done(v);
    };
    const onCancel = (ev) => {
      ev?.preventDefault?.();
      done(null);
    };
    form.addEventListener('submit', onSubmit);
    $('#purpose-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    text.focus();
    text.select();
  });
}

/** A grant for `action` on the case, after the purpose dialog; null when cancelled. */
async function grantFor(caseId, action, label) {
  const purpose = await askPurpose(action, label);
  if (!purpose) return null;
  const g = await api('POST', `/api/v1/cases/${encodeURIComponent(caseId)}/access`, { json: { purpose, action } });
  px.grants.push({ action, purpose, grant: g.grant, expires_at: g.expires_at });
  return g.grant;
}

// ---------------------------------------------------------------------------------------------
// Search

async function search(ev) {
  ev?.preventDefault();
  const params = new URLSearchParams();
  for (const [k, id] of [['q', 's-q'], ['from', 's-from'], ['to', 's-to'], ['outcome', 's-outcome']]) {
    const v = $(`#${id}`).value.trim();
    if (v) params.set(k, v);
  }
  params.set('limit', '50');
  $('#search-error').textContent = '';
  $('#s-submit').disabled = true;
  try {
    const r = await api('GET', `/api/v1/cases?${params}`);
    px.results = r;
    renderResults(r);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return refuse();
    px.lastError = errorText(err);
    $('#search-error').textContent = errorText(err);
  } finally {
    $('#s-submit').disabled = false;
  }
}

function renderResults(r) {
  const cases = r.cases ?? [];
  $('#results-count').textContent = `${cases.length} case${cases.length === 1 ? '' : 's'}${r.truncated ? ' (more match: narrow the search)' : ''}`;
  const rows = cases.map((c) => h('tr', { dataset: { caseId: c.id } },
    h('td', { 'data-label': 'Customer' }, h('strong', {}, c.customer_name ?? '–'), h('div', { class: 'muted small' }, c.contract_ref ?? '')),
    h('td', { 'data-label': 'Case' }, h('code', { title: c.id }, shortId(c.id))),
    h('td', { 'data-label': 'Outcome' }, stateBadge(c.state)),
    h('td', { 'data-label': 'Created' }, fmtDateTime(c.created_at)),
    h('td', { 'data-label': 'Decided' }, fmtDateTime(c.decided_at)),
    h('td', { 'data-label': 'Attempts', class: 'num' }, String(c.attempts ?? 0)),
    h('td', { 'data-label': 'Agent' }, agentName(c.agent)),
    h('td', {}, h('button', {
      type: 'button', class: 'primary small open-case', 'aria-label': `Open the case of ${c.customer_name ?? c.id}`,
      onclick: () => openCase(c.id, c.customer_name ?? c.id),
    }, 'Open…')),
  ));
  if (!rows.length) rows.push(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No case matches.')));
  fill($('#result-rows'), rows);
}

function agentName(a) {
  if (!a) return '–';
  if (typeof a === 'string') return a;
  return a.username ?? a.id ?? '–';
}

// ---------------------------------------------------------------------------------------------
// The dossier

let viewGrant = null;

async function openCase(caseId, label) {
  let grant;
  try {
    grant = await grantFor(caseId, 'view', label);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return refuse();
    toast(errorText(err), 'error');
    return;
  }
  if (!grant) return;
  viewGrant = grant;
  px.caseId = caseId;
  try {
    await loadDossier();
    showView('case');
    $('#case-title').focus?.();
    $('#main').focus();
  } catch (err) {
    px.lastError = errorText(err);
    toast(errorText(err), 'error');
  }
}

async function loadDossier({ trailOnly = false } = {}) {
  const d = await api('GET', `/api/v1/cases/${encodeURIComponent(px.caseId)}/dossier?grant=${encodeURIComponent(viewGrant)}`);
  px.dossier = d;
  if (trailOnly) {
    // The players keep playing: only the trail and the badge change.
    renderVerification(d);
    renderAudit(d.audit ?? {});
  } else {
    renderDossier(d);
  }
}

/** After a play or download: the trail shows the new access. */
async function refreshTrail() {
  try {
    await loadDossier({ trailOnly: true });
  } catch {
    try {
      const a = await api('GET', `/api/v1/cases/${encodeURIComponent(px.caseId)}/audit`);
      px.dossier.audit = a;
      renderAudit(a);
    } catch { /* the trail stays as it was */ }
  }
}

function renderDossier(d) {
  const c = d.case ?? {};
  const cu = c.customer ?? {};
  $('#case-title').textContent = cu.name ?? c.id;
  fill($('#case-badges'), stateBadge(c.state));
  $('#case-sub').textContent = `Case ${c.id} · contract ${c.contract_ref ?? '–'} · created ${fmtDateTime(c.created_at)}`;
  renderVerification(d);

  const doc = cu.document ?? {};
  const facts = [
    ['Name', cu.name], ['Date of birth', cu.date_of_birth],
    ['Document', `${doc.kind === 'passport' ? 'Passport' : 'ID card'} ${doc.country ?? ''} ${doc.number ?? ''}`],
    ['Phone', cu.phone], ['E-mail', cu.email], ['Language', cu.language === 'en' ? 'English' : 'Slovenian'],
    ['Outcome', STATE_TEXT(c)], ['Decided', fmtDateTime(c.decided_at)],
    ['Attempts', `${c.attempts ?? 0} of ${c.max_attempts ?? '–'}`], ['Agent', d.agent ?? c.agent_id ?? '–'],
    ['Code read back', c.tan_verified ? 'Yes' : 'No'], ['Link valid until', fmtDateTime(c.expires_at)],
  ];
  fill($('#facts'), facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '–')]));

  const checks = (c.checklist ?? []).map((r) => h('li', { dataset: { item: r.item } },
    h('div', { class: 'card-head' }, h('strong', {}, CHECK_TITLE[r.item] ?? r.item),
      h('span', { class: `badge ${r.passed ? 'ok' : 'bad'}` }, r.passed ? 'Passed' : 'Failed')),
    checkDetails(r.answer),
    h('div', { class: 'muted small' }, `${r.by ?? ''} · ${fmtDateTime(r.at)}`)));
  fill($('#checklist'), checks.length ? checks : h('li', { class: 'muted' }, 'No checklist answers were recorded.'));

  renderRecordings(d.recordings ?? []);
  renderEvidence(d.evidence ?? []);
  renderAudit(d.audit ?? {});
}

const STATE_TEXT = (c) => (c.reason ? `${c.state} — ${c.reason}` : (c.last_abort ? `${c.state} — ${c.last_abort}` : c.state));

const CHECK_TITLE = {
  alone_in_room: 'Alone in the room',
  intent: 'Intent and free will',
  face_matches_document: 'Face matches the document',
  document_front: 'Document front',
  document_back: 'Document back',
  tan: 'Code read back (TAN)',
};

function checkDetails(a) {
  if (!a) return null;
  const lines = [];
  for (const [k, v] of Object.entries(a)) {
    if (k === 'item' || k === 'observation') continue;
    if (k === 'answers' && Array.isArray(v)) {
      for (const x of v) lines.push(h('div', { class: 'small' }, `${x.question_id}: “${x.answer}” — ${x.acceptable ? 'acceptable' : 'NOT acceptable'}`));
    } else {
      lines.push(h('div', { class: 'small' }, `${k.replaceAll('_', ' ')}: ${v === true ? 'yes' : v === false ? 'no' : v}`));
    }
  }
  if (a.observation) lines.push(h('div', { class: 'small' }, h('em', {}, `Observation: ${a.observation}`)));
  return h('div', {}, lines);
}

function renderVerification(d) {
  const audit = d.audit ?? {};
  const recs = d.recordings ?? [];
  const statuses = recs.map((r) => r.verification?.status ?? 'missing');
  let level = 'ok';
  let text = 'Evidence verified: the audit trail is unbroken';
  if (audit.verified === false) {
    level = 'bad';
    text = `Audit trail BROKEN: ${audit.broken ?? 'the hash chain does not verify'}`;
  } else if (statuses.includes('failed')) {
    level = 'bad';
    text = 'A recording FAILED verification';
  } else if (!recs.length) {
    level = 'warn';
    text += '; no recording';
  } else if (statuses.some((s) => s !== 'verified')) {
    level = 'warn';
    text += `; recordings: ${statuses.join(', ')}`;
  } else {
    text += ` and ${recs.length === 1 ? 'the recording is' : `all ${recs.length} recordings are`} signed and complete`;
  }
  const el = $('#verification');
  el.className = `verification ${level}`;
  el.dataset.level = level;
  fill(el, h('span', { class: `badge ${level}`, id: 'verify-badge' }, { ok: 'Verified', warn: 'Incomplete', bad: 'Failed' }[level]), h('span', {}, `${text}.`));
}

function renderRecordings(recs) {
  const mayOpen = MAY_OPEN_RECORDINGS.includes(px.user.role);
  const items = recs.map((r) => {
    const v = r.verification ?? { status: 'missing', problems: [] };
    const audio = h('audio', { controls: true, preload: 'none', hidden: true, 'aria-label': `Recording of attempt ${r.attempt}` });
    audio.addEventListener('timeupdate', () => {
      px.audio = { recording_id: r.recording_id, currentTime: audio.currentTime, paused: audio.paused, error: null };
    });
    audio.addEventListener('error', () => {
      px.audio = { recording_id: r.recording_id, currentTime: audio.currentTime, paused: true, error: audio.error?.message || `media error ${audio.error?.code}` };
      toast('The recording could not be played.', 'error');
    });
    const play = h('button', { type: 'button', class: 'primary small play', disabled: !mayOpen }, 'Play…');
    const dl = h('button', { type: 'button', class: 'secondary small download', disabled: !mayOpen }, 'Download WAV…');
    const label = `recording of attempt ${r.attempt}`;
    play.addEventListener('click', async () => {
      try {
        const g = await grantFor(px.caseId, 'play', label);
        if (!g) return;
        audio.src = `/api/v1/cases/${encodeURIComponent(px.caseId)}/recordings/${encodeURIComponent(r.recording_id)}/audio.wav?grant=${encodeURIComponent(g)}`;
        audio.hidden = false;
        await audio.play().catch(() => {});
        audio.focus();
        refreshTrail();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    });
    dl.addEventListener('click', async () => {
      try {
        const g = await grantFor(px.caseId, 'download', label);
        if (!g) return;
        const href = `/api/v1/cases/${encodeURIComponent(px.caseId)}/recordings/${encodeURIComponent(r.recording_id)}/audio.wav?grant=${encodeURIComponent(g)}`;
        const a = h('a', { href, download: `${r.recording_id}.wav`, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        px.downloads.push({ recording_id: r.recording_id, href });
        toast('The download has started.', 'ok');
        refreshTrail();
      } catch (err) {
        toast(errorText(err), 'error');
      }
    });
    return h('div', { class: 'recording', dataset: { recordingId: r.recording_id } },
      h('div', { class: 'card-head' },
        h('strong', {}, `Attempt ${r.attempt} · ${fmtDuration((r.duration_ms ?? 0) / 1000)}`),
        h('span', { class: `badge verify-${v.status}` }, v.status)),
      h('div', { class: 'muted small mono' }, r.recording_id),
      (v.problems ?? []).length ? h('ul', { class: 'small' }, v.problems.map((p) => h('li', {}, p))) : null,
      h('p', { class: 'muted small' }, 'Stereo: the customer on the left, the agent on the right.'),
      mayOpen ? null : h('p', { class: 'small' }, 'Only compliance officers may play or export recordings.'),
      h('div', { class: 'button-row' }, play, dl),
      audio);
  });
  fill($('#recordings'), items.length ? items : h('p', { class: 'muted' }, 'No recording for this case.'));
}

const KIND_LABEL = { audit_trail: 'Audit trail sealed in the vault', id_photo: 'Uploaded ID photo', face: 'Face', document_front: 'Document front', document_back: 'Document back', document_photo: 'Uploaded document photo', photo: 'Uploaded document photo' };

function evidenceImage(e) {
  const src = `/api/v1/cases/${encodeURIComponent(px.caseId)}/evidence/${encodeURIComponent(e.object_id)}?grant=${encodeURIComponent(viewGrant)}`;
  const label = KIND_LABEL[e.kind] ?? e.kind;
  if (!String(e.content_type ?? '').startsWith('image/')) {
    // A sealed copy of the trail: a file to keep and check with `vidid audit verify`.
    return h('a', { href: src, class: 'evidence-file', download: 'audit-trail.jsonl', title: `${label}: download` },
      `Download (${e.entries ?? '?'} entries, head ${String(e.head_hash ?? '').slice(0, 12)}…)`);
  }
  return h('a', { href: src, target: '_blank', rel: 'noopener', title: `${label}: open in full size` },
    h('img', { src, alt: label, loading: 'lazy' }));
}

function renderEvidence(list) {
  const figs = list.map((e) => h('figure', { dataset: { objectId: e.object_id, kind: e.kind } },
    evidenceImage(e),
    h('figcaption', {}, h('strong', {}, KIND_LABEL[e.kind] ?? e.kind),
      h('div', { class: 'muted' }, `${fmtDateTime(e.taken_at)} · ${fmtBytes(e.bytes)}`),
      h('div', { class: 'muted mono', title: e.sha256 }, `sha256 ${String(e.sha256 ?? '').slice(0, 16)}…`))));
  fill($('#evidence'), figs.length ? figs : h('p', { class: 'muted' }, 'No evidence yet.'));
}

function eventSummary(ev) {
  const skip = new Set(['type']);
  const parts = [];
  for (const [k, v] of Object.entries(ev)) {
    if (skip.has(k) || v === null || v === undefined || v === '') continue;
    if (typeof v === 'object') {
      if (k === 'customer') parts.push(`customer: ${v.name}`);
      else if (k === 'answer') parts.push(`answer: ${JSON.stringify(v).slice(0, 160)}`);
      else parts.push(`${k}: ${JSON.stringify(v).slice(0, 120)}`);
    } else {
      parts.push(`${k}: ${v}`);
    }
  }
  return parts.join(' · ');
}

function renderAudit(a) {
  fill($('#audit-badge'), a.verified === false
    ? h('span', { class: 'badge bad' }, 'Chain broken')
    : h('span', { class: 'badge ok' }, `Hash chain verified · ${(a.entries ?? []).length} entries`));
  const rows = (a.entries ?? []).map((e) => {
    let ev;
    try {
      ev = JSON.parse(e.event);
    } catch {
      ev = { type: String(e.event) };
    }
    const access = ev.type === 'evidence_accessed' || ev.type === 'audit_read';
    return h('tr', { class: access ? 'access-row' : '', dataset: { type: ev.type } },
      h('td', { 'data-label': '#', class: 'num' }, String(e.seq)),
      h('td', { 'data-label': 'Time' }, fmtDateTime(e.at)),
      h('td', { 'data-label': 'Who' }, `${e.actor_role} ${e.actor_id && e.actor_id !== e.actor_role ? e.actor_id : ''}`),
      h('td', { 'data-label': 'Event' }, h('strong', {}, (ev.type ?? '').replaceAll('_', ' '))),
      h('td', { 'data-label': 'Details', class: 'audit-event' }, eventSummary(ev)),
      h('td', { 'data-label': 'Hash', class: 'mono small hide-narrow', title: e.hash }, String(e.hash ?? '').slice(0, 10)));
  });
  fill($('#audit-rows'), rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No entries.')));
}

// ---------------------------------------------------------------------------------------------
// Start

function onUser(user) {
  px.user = user;
  if (!ALLOWED.includes(user.role)) return refuse();
  showView('search');
  const params = new URLSearchParams(location.search);
  if (params.get('q')) $('#s-q').value = params.get('q');
  search();
  $('#s-q').focus();
}

function main() {
  $('#search-form').addEventListener('submit', search);
  $('#back').addEventListener('click', () => {
    for (const a of /** @type {NodeListOf<HTMLAudioElement>} */ (document.querySelectorAll('#recordings audio'))) a.pause();
    showView('search');
    search();
    $('#s-q').focus();
  });
  startSession({ mount: $('#signin'), title: 'Compliance portal', onUser });
}

main();
