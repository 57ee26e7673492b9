// @ts-check
// vidid staff pages (agent console, compliance portal, supervisors' board): the shared pieces.
// Session (sign in, resume, sign out), a JSON fetch helper with the API's error shape, DOM and
// formatting helpers. Plain ES module, no build step; the pages' CSP allows no inline code.

/** @typedef {import('../shared/protocol.js').Session} Session */
/** @typedef {import('../shared/protocol.js').StaffUser} StaffUser */

/** An API answer that is not 2xx (`status` 0: the server could not be reached). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string | undefined} code the API's `error`
   * @param {string | undefined} message
   * @param {Record<string, any> | undefined} body the whole error answer
   */
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `http_${status}`;
    this.body = body || {};
  }
}

/**
 * `fetch` with the session cookie; JSON in and out. Throws `ApiError` on a non-2xx answer.
 * The answer is the parsed JSON (its shape is the endpoint's, docs/api.md), `null` for a 204,
 * the `Response` itself with `raw`.
 * @param {string} method
 * @param {string} path
 * @param {{ json?: unknown, body?: BodyInit, headers?: Record<string, string>, raw?: boolean }} [options]
 * @returns {Promise<any>}
 */
export async function api(method, path, { json, body, headers = {}, raw = false } = {}) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check the connection.', { cause: String(err) });
  }
  if (raw && res.ok) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 300) };
    }
  }
  if (!res.ok) {
    throw new ApiError(res.status, data?.error, data?.message, data);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** `h('div', {class: 'x', onclick: fn, dataset: {a: 1}}, 'text', child, …)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---------------------------------------------------------------------------------------------
// Formatting

const TZ = 'Europe/Ljubljana';

export function fmtDateTime(s) {
  if (!s) return '–';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toLocaleString('en-GB', {
    timeZone: TZ, year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function fmtClock(s) {
  const d = new Date(s);
  if (!s || Number.isNaN(d.getTime())) return '–';
  return d.toLocaleTimeString('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit' });
}

export function fmtTime(s) {
  if (!s) return '–';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toLocaleTimeString('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** 75 → "1:15", 3700 → "1:01:40" */
export function fmtDuration(secs) {
  if (secs === null || secs === undefined || Number.isNaN(secs)) return '–';
  const s = Math.max(0, Math.round(secs));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Seconds since an RFC 3339 time, by the browser's clock (the server's may be shifted in tests). */
export function secondsSince(s, now = Date.now()) {
  const t = new Date(s).getTime();
  return Number.isNaN(t) ? null : Math.max(0, (now - t) / 1000);
}

export const shortId = (id) => (id && id.length > 14 ? `${id.slice(0, 12)}…` : id ?? '–');

export const STATE_LABELS = {
  created: 'Created',
  prepared: 'Prepared',
  queued: 'Queued',
  in_call: 'In call',
  checks: 'Checks',
  approved: 'Approved',
  rejected: 'Rejected',
  aborted: 'Aborted',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

export function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, STATE_LABELS[state] ?? state);
}

// ---------------------------------------------------------------------------------------------
// Announcements (a polite live region) and errors

let toastTimer = null;
export function toast(text, kind = 'info') {
  let el = document.getElementById('toast');
  if (!el) {
    el = h('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(el);
  }
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, kind === 'error' ? 8000 : 4000);
}

export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.code === 'forbidden') return 'You are not permitted to do this.';
    if (err.code === 'session_invalid' || err.code === 'unauthorized') return 'Your session has ended. Please sign in again.';
    return err.message || err.code;
  }
  return err?.message || String(err);
}

// ---------------------------------------------------------------------------------------------
// Session

/**
 * Runs the page's sign-in flow. `mount` is the element the sign-in card goes into; `onUser`
 * gets `{id, username, role}` once signed in (resumed or fresh). The header's user box
 * (`#user-box`) shows the user and a sign-out button.
 */
/**
 * @param {{ mount: HTMLElement, title: string, onUser: (user: StaffUser) => void,
 *   onSignOut?: () => unknown }} options
 */
export async function startSession({ mount, title, onUser, onSignOut }) {
  const box = document.getElementById('user-box');

  const showUser = (user) => {
    if (!box) return;
    fill(
      box,
      h('span', { class: 'user-name' }, h('span', { class: 'visually-hidden' }, 'Signed in as '), user.username,
        h('span', { class: 'role' }, user.role)),
      h('button', {
        type: 'button', class: 'secondary small', id: 'sign-out',
        onclick: async () => {
          try {
            if (onSignOut) await onSignOut();
          } catch { /* signing out anyway */ }
          try {
            await api('DELETE', '/api/v1/session');
          } catch { /* the cookie is cleared either way */ }
          location.reload();
        },
      }, 'Sign out'),
    );
    box.hidden = false;
  };

  const signedIn = (user) => {
    mount.hidden = true;
    mount.replaceChildren();
    showUser(user);
    onUser(user);
  };

  try {
    const s = await api('GET', '/api/v1/session');
    if (s?.user) return signedIn(s.user);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 0 || err.status >= 500) {
      // The server cannot be reached: still offer the form, with the reason.
      mount.dataset.error = errorText(err);
    }
  }

  const err = h('p', { class: 'form-error', id: 'signin-error', role: 'alert' }, mount.dataset.error ?? '');
  const user = h('input', { id: 'signin-user', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'signin-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary wide', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title', novalidate: true },
    h('h2', { id: 'signin-title' }, title),
    h('p', { class: 'muted' }, 'Sign in with your staff account.'),
    h('div', { class: 'field' }, h('label', { for: 'signin-user' }, 'Username'), user),
    h('div', { class: 'field' }, h('label', { for: 'signin-pass' }, 'Password'), pass),
    err,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    if (!user.value.trim() || !pass.value) {
      err.textContent = 'Enter your username and password.';
      (user.value.trim() ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const r = await api('POST', '/api/v1/session', { json: { username: user.value.trim(), password: pass.value } });
      signedIn(r.user);
    } catch (e) {
      err.textContent = e instanceof ApiError && e.code === 'bad_credentials' ? 'Wrong username or password.' : errorText(e);
      pass.value = '';
      pass.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  fill(mount, form);
  mount.hidden = false;
  user.focus();
  return null;
}

/** A full-page "not permitted" notice in `mount`. */
export function notPermitted(mount, { what, roles, role }) {
  const home = { agent: ['/agent', 'Go to the agent console'], supervisor: ['/board', 'Go to the live board'], compliance: ['/compliance', 'Go to the compliance portal'] }[role];
  fill(mount,
    h('section', { class: 'card refusal', role: 'alert', 'aria-labelledby': 'refusal-title', id: 'not-permitted' },
      h('h2', { id: 'refusal-title' }, 'Not permitted'),
      h('p', {}, `Your account may not open ${what}. It is for ${roles}.`),
      h('p', { class: 'muted' }, 'If you need access, ask an administrator.'),
      home && home[0] !== location.pathname ? h('p', {}, h('a', { href: home[0], class: 'button secondary' }, home[1])) : null,
    ));
  mount.hidden = false;
}

/** Calls `fn` now and every `ms` milliseconds while the page is visible; returns a stop function. */
export function poll(fn, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
