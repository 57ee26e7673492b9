// @ts-check
// vidid supervisors' live board (/board): queue, waits, agents' states and calls in progress,
// from GET /api/v1/board every 2 s. For tests the page exposes `window.vidid.board`.

import {
  api, ApiError, $, h, fill, fmtDuration, fmtDateTime, fmtClock, shortId, errorText, startSession, notPermitted, poll,
} from './staff-common.js';

const POLL_MS = 2000;
const bx = { view: 'signin', user: null, data: null, updatedAt: null, error: null };
window.vidid = Object.assign(window.vidid ?? {}, { board: bx });

const STATUS_TEXT = { available: 'Available', paused: 'Paused', in_call: 'In a call', offline: 'Offline' };

/** Seconds between the board's `at` and an earlier time (the server's clock, not ours). */
function since(at, t) {
  const a = new Date(at).getTime();
  const b = new Date(t).getTime();
  return Number.isNaN(a) || Number.isNaN(b) ? null : Math.max(0, (a - b) / 1000);
}

function render(d) {
  const q = d.queue ?? {};
  const agents = d.agents ?? [];
  const calls = d.calls ?? [];
  const hours = d.hours ?? {};
  $('#v-queue').textContent = String(q.length ?? 0);
  $('#s-queue').textContent = `${q.connected ?? 0} connected`;
  $('#v-longest').textContent = q.length && q.longest_wait_secs != null ? fmtDuration(q.longest_wait_secs) : '–';
  $('#s-longest').textContent = q.estimated_wait_secs != null ? `new customers ≈ ${fmtDuration(q.estimated_wait_secs)}` : 'no estimate yet';
  $('#tile-longest').classList.toggle('alert', (q.longest_wait_secs ?? 0) > 600);
  const avail = agents.filter((a) => a.status === 'available').length;
  $('#v-agents').textContent = String(avail);
  $('#s-agents').textContent = `${agents.filter((a) => a.status === 'in_call').length} in a call · ${agents.filter((a) => a.status === 'paused').length} paused`;
  $('#tile-agents').classList.toggle('alert', avail === 0 && (q.length ?? 0) > 0 && !calls.length);
  $('#v-calls').textContent = String(calls.length);
  $('#s-hours').textContent = hours.open_now
    ? `Open until ${fmtClock(hours.closes_at)}`
    : `Closed · opens ${fmtDateTime(hours.next_opening)}`;

  const qrows = (q.places ?? []).map((p) => h('tr', { dataset: { caseId: p.case_id } },
    h('td', { 'data-label': '#', class: 'num' }, String(p.position)),
    h('td', { 'data-label': 'Case' }, h('code', { title: p.case_id }, shortId(p.case_id))),
    h('td', { 'data-label': 'Waiting' }, fmtDuration(p.waiting_secs)),
    h('td', { 'data-label': 'Connection' }, p.connected ? h('span', { class: 'badge ok' }, 'Connected') : h('span', { class: 'badge warn' }, 'Away'))));
  fill($('#queue-rows'), qrows.length ? qrows : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'Nobody is waiting.')));

  const arows = agents.map((a) => h('tr', { dataset: { userId: a.user_id, status: a.status } },
    h('td', { 'data-label': 'Agent' }, h('strong', {}, a.username ?? a.user_id)),
    h('td', { 'data-label': 'State' }, h('span', { class: `badge status-${a.status}` }, STATUS_TEXT[a.status] ?? a.status)),
    h('td', { 'data-label': 'Since' }, fmtDuration(since(d.at, a.since))),
    h('td', { 'data-label': 'Case' }, a.case_id ? h('code', { title: a.case_id }, shortId(a.case_id)) : '–')));
  fill($('#agent-rows'), arows.length ? arows : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No agent has signed in yet.')));

  const crows = calls.map((c) => h('tr', { dataset: { caseId: c.case_id } },
    h('td', { 'data-label': 'Case' }, h('code', { title: c.case_id }, shortId(c.case_id))),
    h('td', { 'data-label': 'Agent' }, typeof c.agent === 'object' && c.agent ? (c.agent.username ?? c.agent.id) : (c.agent ?? '–')),
    h('td', { 'data-label': 'State' }, h('span', { class: `badge state-${c.state}` }, String(c.state).replaceAll('_', ' '))),
    h('td', { 'data-label': 'Duration' }, fmtDuration(since(d.at, c.since)))));
  fill($('#call-rows'), crows.length ? crows : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No call in progress.')));
}

async function refresh() {
  try {
    const d = await api('GET', '/api/v1/board');
    bx.data = d;
    bx.updatedAt = Date.now();
    bx.error = null;
    $('#board-error').textContent = '';
    render(d);
    const u = $('#updated');
    u.textContent = `Live · updated ${new Date().toLocaleTimeString('en-GB')}`;
    u.classList.remove('stale');
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      stop?.();
      refuse();
      return;
    }
    if (err instanceof ApiError && err.status === 401) location.reload();
    bx.error = errorText(err);
    $('#board-error').textContent = `Not updated: ${errorText(err)}`;
    $('#updated').classList.add('stale');
  }
}

let stop = null;

function refuse() {
  bx.view = 'refused';
  $('#board-view').hidden = true;
  notPermitted($('#refused'), { what: 'the live board', roles: 'supervisors and administrators', role: bx.user?.role });
}

function onUser(user) {
  bx.user = user;
  if (!['supervisor', 'admin'].includes(user.role)) return refuse();
  bx.view = 'board';
  $('#board-view').hidden = false;
  stop = poll(refresh, POLL_MS);
}

startSession({ mount: $('#signin'), title: 'Live board', onUser });
