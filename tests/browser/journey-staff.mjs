#!/usr/bin/env node
// Drives the staff pages (agent console, compliance portal, supervisors' board) in real Chromium
// against a running vidid, with a real customer on the other side of the call. JSON lines on
// stdout, a final {"event":"result","ok":…}; progress on stderr. Used by tests/tests/staff_journey.rs.
//
// Usage: node journey-staff.mjs --args-file FILE
// Arguments (JSON):
//   baseUrl, artifactsDir, timeoutSecs (default 240), chromiumPath (default /usr/bin/chromium)
//   scenario        "approval" (customer from the queue to approval while an agent works the
//                   console, then a compliance officer reviews the case) | "board" (an agent is
//                   refused by the compliance portal; a supervisor's board shows the queue and
//                   the agent's state)
//   customer        { caseId, token, link, name, dateOfBirth, documentNumber, lang, esignUrl }
//   agent, compliance, supervisor   { username, password }
//   outboxPath      the embedded SMS gateway's outbox (approval: the TAN is read from it)
//
// The customer side uses tests/browser/customer.mjs (prepareCustomer: the customer's journey
// page) when it exists; otherwise the customer is prepared over the REST API, waits on the queue
// socket, and joins the call on the bare call page.
//
// Events: signed_in, queued, taken, call_connected, checks_done, tan_verified, approved,
// customer_result, compliance_found, dossier, played, downloaded, refused, board_seen.

import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const started = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...p) => process.stderr.write(`[journey-staff +${((Date.now() - started) / 1000).toFixed(1)}s] ${p.join(' ')}\n`);
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function parseArgs() {
  const argv = process.argv.slice(2);
  const text = argv[0] === '--args-file' ? fs.readFileSync(argv[1], 'utf8') : argv[0];
  const a = JSON.parse(text);
  return { timeoutSecs: 240, chromiumPath: '/usr/bin/chromium', ...a };
}

const args = parseArgs();
fs.mkdirSync(args.artifactsDir, { recursive: true });
const downloadDir = path.join(args.artifactsDir, 'downloads');
fs.mkdirSync(downloadDir, { recursive: true });
const result = { event: 'result', ok: false, scenario: args.scenario, screenshots: [], pageErrors: [] };
const consoleLines = [];

const DESKTOP = { width: 1280, height: 800, deviceScaleFactor: 1, mobile: false };
const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, mobile: true };

let browser;

async function newPage(ctx, name) {
  const page = await ctx.newPage();
  page.on('console', (m) => consoleLines.push(`[${name}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => {
    consoleLines.push(`[${name}] pageerror: ${e.message}`);
    result.pageErrors.push(`${name}: ${e.message}`);
  });
  const cdp = await page.createCDPSession();
  await cdp.send('Emulation.setDeviceMetricsOverride', DESKTOP);
  page.cdp = cdp;
  return page;
}

/** Screenshots of the page as it is now, at desktop and phone size (no reload in between). */
async function shoot(page, name) {
  for (const [size, m] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.cdp.send('Emulation.setDeviceMetricsOverride', m);
    await sleep(300);
    const file = path.join(args.artifactsDir, `${name}-${size}.png`);
    await page.screenshot({ path: file, fullPage: true, captureBeyondViewport: true });
    result.screenshots.push(file);
  }
  await page.cdp.send('Emulation.setDeviceMetricsOverride', DESKTOP);
  await sleep(150);
}

async function waitFor(page, what, fn, arg, timeoutMs = 20000) {
  try {
    return await page.waitForFunction(fn, { timeout: timeoutMs, polling: 200 }, arg);
  } catch (err) {
    const state = await page.evaluate(() => JSON.stringify({
      vidid: window.vidid ?? null,
      toast: document.querySelector('#toast')?.textContent ?? null,
      dialogs: Array.from(document.querySelectorAll('dialog[open]')).map((d) => d.id),
      audio: Array.from(document.querySelectorAll('audio')).map((a) => ({ src: a.src.slice(0, 120), hidden: a.hidden, t: a.currentTime, paused: a.paused, error: a.error?.code ?? null, ready: a.readyState })),
    }, (k, v) => (k === 'events' || k === 'dossier' || k === 'results' || k === 'queue' ? undefined : v))).catch(() => 'n/a');
    throw new Error(`timed out waiting for ${what}; page state: ${String(state).slice(0, 1500)}`);
  }
}

async function visible(page, sel, timeout = 15000) {
  await page.waitForSelector(sel, { visible: true, timeout });
}

async function signIn(page, who) {
  await visible(page, '#signin-user');
  await page.type('#signin-user', who.username);
  await page.type('#signin-pass', who.password);
  await page.click('#signin-submit');
}

// ---------------------------------------------------------------------------------------------
// The customer

async function customerSide(ctx) {
  const c = args.customer;
  const modPath = new URL('./customer.mjs', import.meta.url);
  let journeyModule = null;
  if (fs.existsSync(modPath) && !args.customerViaApi) {
    try {
      journeyModule = await import(modPath.href);
    } catch (err) {
      log('customer.mjs does not load, using the REST fallback:', err.message);
    }
  }
  const page = await newPage(ctx, 'customer');
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    // The e-signing site is not reachable here: answer for it so the redirect can be seen.
    if (c.esignUrl && req.url().startsWith(new URL(c.esignUrl).origin)) {
      req.respond({ status: 200, contentType: 'text/html', body: '<!doctype html><title>e-sign</title><p>e-signing stub</p>' });
    } else {
      req.continue();
    }
  });
  if (journeyModule?.prepareCustomer) {
    log('customer: the journey page (customer.mjs)');
    const photoPath = path.join(args.artifactsDir, 'id-photo.jpg');
    fs.writeFileSync(photoPath, Buffer.from(await idPhoto(ctx), 'base64'));
    c.photoPath = photoPath;
    await journeyModule.prepareCustomer(page, {
      baseUrl: args.baseUrl, link: new URL(c.link, args.baseUrl).href, name: c.name, dateOfBirth: c.dateOfBirth,
      documentNumber: c.documentNumber, photoPath: c.photoPath, lang: c.lang ?? 'sl', artifactsDir: args.artifactsDir,
    });
    return { mode: 'journey', page };
  }
  log('customer: REST preparation, queue socket, bare call page');
  const jpegB64 = await idPhoto(ctx);
  const H = { 'X-Case-Token': c.token };
  const post = async (p, init) => {
    const r = await fetch(`${args.baseUrl}${p}`, { method: 'POST', ...init, headers: { ...H, ...(init?.headers ?? {}) } });
    const text = await r.text();
    if (!r.ok) throw new Error(`POST ${p}: HTTP ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  await post('/api/v1/customer/photo', { headers: { 'Content-Type': 'image/jpeg' }, body: Buffer.from(jpegB64, 'base64') });
  const conf = await post('/api/v1/customer/confirm', {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: c.name, date_of_birth: c.dateOfBirth, document: { kind: 'id_card', country: 'SI', number: c.documentNumber } }),
  });
  if (!conf.matches) throw new Error(`the customer's data does not match: ${JSON.stringify(conf)}`);
  const q = await post('/api/v1/customer/queue');
  await page.setBypassCSP(true);
  await page.goto(`${args.baseUrl}/healthz`);
  await page.evaluate((base, token, rejoin) => {
    window.__q = [];
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/queue`);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'queue', token, rejoin_token: rejoin }));
    ws.onmessage = (ev) => window.__q.push(JSON.parse(ev.data));
    ws.onclose = (ev) => window.__q.push({ type: '_closed', code: ev.code });
    window.__qws = ws;
  }, args.baseUrl, c.token, q.rejoin_token);
  await waitFor(page, 'the queue socket to report a place', () => window.__q.some((m) => m.type === 'queue'));
  return { mode: 'socket', page };
}

/** A picture of "the ID document", made by the browser (base64 JPEG). */
async function idPhoto(ctx) {
  const p = await ctx.newPage();
  await p.setBypassCSP(true);
  await p.goto(`${args.baseUrl}/healthz`);
  const b64 = await p.evaluate(() => {
    const cv = document.createElement('canvas');
    cv.width = 640;
    cv.height = 400;
    const g = cv.getContext('2d');
    g.fillStyle = '#dfe9f5';
    g.fillRect(0, 0, 640, 400);
    g.fillStyle = '#123';
    g.font = '32px sans-serif';
    g.fillText('REPUBLIKA SLOVENIJA', 40, 60);
    g.fillText('OSEBNA IZKAZNICA', 40, 110);
    g.fillRect(40, 150, 150, 200);
    return cv.toDataURL('image/jpeg', 0.9).split(',')[1];
  });
  await p.close();
  return b64;
}

/** The customer joins the call once the agent took them (socket mode: the bare call page). */
async function customerJoins(ctx, cust) {
  if (cust.mode === 'journey') return cust.page;
  const ready = await waitFor(cust.page, 'call_ready on the queue socket', () => window.__q.find((m) => m.type === 'call_ready'));
  const msg = await ready.jsonValue();
  const callPage = await newPage(ctx, 'customer-call');
  await callPage.goto(`${args.baseUrl}/customer?token=${encodeURIComponent(msg.token)}`);
  cust.callPage = callPage;
  return callPage;
}

async function customerMessages(cust) {
  if (cust.mode === 'journey') return cust.page.evaluate(() => window.vidid?.journey ?? null);
  return cust.page.evaluate(() => window.__q);
}

// ---------------------------------------------------------------------------------------------
// Scenario: approval, then the compliance review

function latestTan(caseId) {
  const lines = fs.existsSync(args.outboxPath) ? fs.readFileSync(args.outboxPath, 'utf8').split('\n').filter(Boolean) : [];
  const msgs = lines.map((l) => JSON.parse(l)).filter((m) => m.case_id === caseId);
  if (!msgs.length) return null;
  const m = /\b(\d{4,10})\b/.exec(msgs[msgs.length - 1].text);
  return m ? m[1] : null;
}

async function stepStatus(page, item) {
  return page.$eval(`#step-${item}`, (li) => li.dataset.status);
}

async function recordStep(page, item) {
  await page.click(`#step-${item} button.record`);
  await waitFor(page, `step ${item} to pass`, (it) => document.querySelector(`#step-${it}`)?.dataset.status === 'passed', item);
}

/** Records a passing answer for a step (no snapshots). */
async function passStep(page, item) {
  const sel = `#step-${item}`;
  switch (item) {
    case 'alone_in_room':
      await page.click(`${sel} input[name=room_shown]`);
      await page.click(`${sel} input[name=nobody_else]`);
      break;
    case 'intent': {
      const n = await page.$$eval(`${sel} .question`, (q) => q.length);
      for (let i = 0; i < n; i += 1) {
        await page.type(`${sel} input[name="answer-${i}"]`, 'Yes.');
        await page.click(`${sel} input[name="acceptable-${i}"][value=yes]`);
      }
      break;
    }
    case 'face_matches_document':
      await page.click(`${sel} input[name=matches][value=yes]`);
      break;
    default:
      await page.click(`${sel} input[name=shown]`);
      await page.click(`${sel} input[name=security_ok]`);
  }
  await recordStep(page, item);
}

async function approval() {
  const caseId = args.customer.caseId;
  const custCtx = await browser.createBrowserContext();
  const agentCtx = await browser.createBrowserContext();

  // The agent signs in first (the screens before the customer arrives).
  const agent = await newPage(agentCtx, 'agent');
  await agent.goto(`${args.baseUrl}/agent`);
  await visible(agent, '#signin-user');
  await shoot(agent, '01-agent-signin');
  await signIn(agent, args.agent);
  await waitFor(agent, 'the queue view', () => window.vidid?.console?.view === 'queue');
  emit({ event: 'signed_in', who: 'agent' });
  await agent.click('#set-available');
  await waitFor(agent, 'the agent to be available', () => document.querySelector('#set-available')?.getAttribute('aria-pressed') === 'true');

  const cust = await customerSide(custCtx);
  emit({ event: 'queued', mode: cust.mode });
  await waitFor(agent, 'the customer in the queue, connected', (id) => document.querySelector(`#queue-rows tr[data-case-id="${id}"]`) && !document.querySelector('#take-next').disabled, caseId, 30000);
  await shoot(agent, '02-agent-queue');
  await agent.click('#take-next');
  await waitFor(agent, 'the call view', () => window.vidid.console.view === 'call');
  const taken = await agent.evaluate(() => window.vidid.console.caseId);
  if (taken !== caseId) throw new Error(`the console took ${taken}, expected ${caseId}`);
  emit({ event: 'taken', caseId });

  const custCall = await customerJoins(custCtx, cust);
  await waitFor(agent, 'the call to connect with video', () => window.vidid.console.callState === 'connected'
    && document.querySelector('#remote-video').videoWidth > 0, null, 45000);
  emit({ event: 'call_connected' });

  // A supervisor watching the board sees the call in progress and the agent in it.
  let boardDuringCall = null;
  if (args.supervisor) {
    const supCtx = await browser.createBrowserContext();
    const sup = await newPage(supCtx, 'supervisor');
    await sup.goto(`${args.baseUrl}/board`);
    await signIn(sup, args.supervisor);
    await waitFor(sup, 'the call on the board', (a) => document.querySelector(`#call-rows tr[data-case-id="${a.caseId}"]`)
      && Array.from(document.querySelectorAll('#agent-rows tr')).some((r) => r.textContent.includes(a.username) && r.dataset.status === 'in_call'),
    { caseId, username: args.agent.username });
    boardDuringCall = await sup.evaluate(() => ({
      calls: Array.from(document.querySelectorAll('#call-rows tr')).map((r) => r.textContent),
      callsTile: document.querySelector('#v-calls').textContent,
    }));
    await shoot(sup, '02b-board-during-call');
    await supCtx.close();
    await agent.bringToFront();
  }

  // The checklist, in order.
  await agent.click('#start-checks');
  await waitFor(agent, 'the checks state', () => window.vidid.console.caseState === 'checks'
    && document.querySelector('#step-alone_in_room')?.dataset.status === 'current');
  const order = await agent.$$eval('#steps > li', (lis) => lis.map((li) => `${li.dataset.item}:${li.dataset.status}`));

  // 1. alone in the room, with an instruction that must reach the customer
  await agent.click('#step-alone_in_room .button-row button');
  const instructionSeen = await waitFor(cust.page, 'the instruction at the customer', (mode) => {
    if (mode === 'journey') {
      const i = window.vidid?.journey?.instruction;
      return (typeof i === 'string' ? i : i?.text) || null;
    }
    return (window.__q ?? []).find((m) => m.type === 'instruction')?.text || null;
  }, cust.mode).then((h) => h.jsonValue());
  await agent.click('#step-alone_in_room input[name=room_shown]');
  await agent.click('#step-alone_in_room input[name=nobody_else]');
  await agent.type('#step-alone_in_room textarea', 'Turned the camera around the room; nobody else present.');
  if (await stepStatus(agent, 'intent') !== 'locked') throw new Error('the intent step is open before the room was checked');
  await recordStep(agent, 'alone_in_room');

  // 2. intent: every prepared question answered and judged
  const nq = await agent.$$eval('#step-intent .question', (q) => q.length);
  for (let i = 0; i < nq; i += 1) {
    await agent.type(`#step-intent input[name="answer-${i}"]`, 'Yes, I understand and I want this.');
    await agent.click(`#step-intent input[name="acceptable-${i}"][value=yes]`);
  }
  await agent.type('#step-intent textarea', 'Calm, answered without hesitation.');
  await recordStep(agent, 'intent');

  // 3. face, with a snapshot, compared with the ID the customer uploaded
  await agent.click('#show-id-photo');
  await waitFor(agent, 'the uploaded ID', () => {
    const img = document.querySelector('#id-photo img');
    return !document.querySelector('#id-photo').hidden && img.complete && img.naturalWidth > 0;
  });
  await agent.click('#step-face_matches_document button.snap');
  await waitFor(agent, 'the face snapshot', () => window.vidid.console.snapshots.some((s) => s.kind === 'face'));
  await agent.click('#step-face_matches_document input[name=matches][value=yes]');
  await recordStep(agent, 'face_matches_document');

  // 4./5. both sides of the document, with snapshots
  for (const [item, kind] of [['document_front', 'document_front'], ['document_back', 'document_back']]) {
    await agent.click(`#step-${item} button.snap`);
    await waitFor(agent, `the ${kind} snapshot`, (k) => window.vidid.console.snapshots.some((s) => s.kind === k), kind);
    await agent.click(`#step-${item} input[name=shown]`);
    await agent.click(`#step-${item} input[name=security_ok]`);
    await recordStep(agent, item);
  }
  emit({ event: 'checks_done', order });

  // 6. the TAN: sent by SMS, read from the outbox, entered by the agent
  if (!(await agent.$eval('#approve', (b) => b.disabled))) throw new Error('approve is enabled before the TAN');
  await agent.click('#tan-send');
  await waitFor(agent, 'the TAN to be sent', () => window.vidid.console.tanSentTo);
  let code = null;
  for (let i = 0; i < 50 && !code; i += 1) {
    code = latestTan(caseId);
    if (!code) await sleep(100);
  }
  if (!code) throw new Error(`no TAN for ${caseId} in ${args.outboxPath}`);
  await agent.type('#tan-code', code);
  await agent.click('#tan-verify');
  await waitFor(agent, 'the TAN step to pass', () => document.querySelector('#step-tan')?.dataset.status === 'passed');
  emit({ event: 'tan_verified' });
  await waitFor(agent, 'approve to be enabled', () => !document.querySelector('#approve').disabled);
  await waitFor(agent, 'a quality sample with a bitrate', () => window.vidid.console.quality?.kbps != null, null, 10000);
  const quality = await agent.evaluate(() => window.vidid.console.quality);
  await shoot(agent, '03-agent-call');

  await agent.click('#approve');
  await waitFor(agent, 'back to the queue after approval', () => window.vidid.console.view === 'queue'
    && window.vidid.console.lastDecision?.state === 'approved');
  emit({ event: 'approved', caseId });
  await shoot(agent, '04-agent-after-decision');

  // The customer hears the result (journey page: redirected to the e-signing URL).
  let customerResult;
  if (cust.mode === 'journey') {
    await cust.page.waitForFunction((u) => location.href.startsWith(u), { timeout: 20000 }, args.customer.esignUrl);
    customerResult = { redirectedTo: cust.page.url() };
  } else {
    const h = await waitFor(cust.page, 'the result on the queue socket', () => window.__q.find((m) => m.type === 'result'));
    customerResult = await h.jsonValue();
  }
  emit({ event: 'customer_result', ...customerResult });
  const customerCallState = await custCall.evaluate(() => window.vidid?.state ?? window.vidid?.journey?.callState ?? null).catch(() => null);
  await agent.close();
  await agentCtx.close();
  await custCtx.close();

  result.approval = { caseId, boardDuringCall, quality, order, instructionSeen, tanCode: code, customerResult, customerMode: cust.mode, customerCallState };
  await compliance(caseId);
}

async function compliance(caseId) {
  const ctx = await browser.createBrowserContext();
  const page = await newPage(ctx, 'compliance');
  const bcdp = await browser.target().createCDPSession();
  await bcdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloadDir, browserContextId: ctx.id });
  await page.goto(`${args.baseUrl}/compliance`);
  await visible(page, '#signin-user');
  await shoot(page, '05-compliance-signin');
  await signIn(page, args.compliance);
  await waitFor(page, 'the search view', () => window.vidid?.portal?.view === 'search');
  const fragment = args.customer.name.split(' ').slice(-1)[0].slice(0, 4);
  await page.$eval('#s-q', (el) => { el.value = ''; });
  await page.type('#s-q', fragment);
  await page.click('#s-submit');
  await waitFor(page, `the case in the results for "${fragment}"`, (id) => document.querySelector(`#result-rows tr[data-case-id="${id}"]`), caseId);
  emit({ event: 'compliance_found', fragment });
  await shoot(page, '06-compliance-search');

  const purpose = 'AML review: spot check of approved identifications, ticket CMP-2026-118';
  const statePurpose = async (text) => {
    await visible(page, '#purpose-dialog[open] #purpose-text');
    await page.$eval('#purpose-text', (el) => { el.value = ''; });
    await page.type('#purpose-text', text);
    await page.click('#purpose-ok');
  };
  // Too short a purpose is refused by the page.
  await page.click(`#result-rows tr[data-case-id="${caseId}"] button.open-case`);
  await statePurpose('check');
  const shortRefused = await page.$eval('#purpose-error', (e) => e.textContent);
  if (!shortRefused) throw new Error('a 5-character purpose was accepted');
  await page.$eval('#purpose-text', (el) => { el.value = ''; });
  await page.type('#purpose-text', purpose);
  await page.click('#purpose-ok');
  await waitFor(page, 'the dossier', () => window.vidid.portal.view === 'case' && window.vidid.portal.dossier);

  // The recording may still be being finished: reopen until it is listed.
  for (let i = 0; i < 10; i += 1) {
    const n = await page.evaluate(() => (window.vidid.portal.dossier.recordings ?? []).length);
    if (n) break;
    await sleep(1000);
    await page.click('#back');
    await waitFor(page, 'the search view', (id) => window.vidid.portal.view === 'search' && document.querySelector(`#result-rows tr[data-case-id="${id}"]`), caseId);
    await page.click(`#result-rows tr[data-case-id="${caseId}"] button.open-case`);
    await statePurpose(purpose);
    await waitFor(page, 'the dossier', () => window.vidid.portal.view === 'case' && window.vidid.portal.dossier);
  }
  const dossierSeen = await page.evaluate(() => ({
    title: document.querySelector('#case-title').textContent,
    badge: document.querySelector('#verify-badge')?.textContent,
    auditTypes: Array.from(document.querySelectorAll('#audit-rows tr')).map((r) => r.dataset.type),
    evidence: document.querySelectorAll('#evidence figure').length,
    checks: Array.from(document.querySelectorAll('#checklist li')).map((l) => l.dataset.item),
    recordings: (window.vidid.portal.dossier.recordings ?? []).map((r) => ({ id: r.recording_id, status: r.verification?.status })),
  }));
  // Evidence images load (the grant works for them).
  await waitFor(page, 'the evidence images to load', () => Array.from(document.querySelectorAll('#evidence img')).every((i) => i.complete && i.naturalWidth > 0), null, 15000);
  emit({ event: 'dossier', ...dossierSeen });
  await shoot(page, '07-compliance-case');

  if (!dossierSeen.recordings.length) throw new Error('the dossier lists no recording');
  await page.click('#recordings .recording button.play');
  await statePurpose(purpose);
  await waitFor(page, 'the recording to play (currentTime > 1 s)', () => (window.vidid.portal.audio?.currentTime ?? 0) > 1 && !window.vidid.portal.audio.error, null, 20000);
  const played = await page.evaluate(() => {
    const a = document.querySelector('#recordings audio');
    return { currentTime: a.currentTime, duration: a.duration, error: a.error?.code ?? null, paused: a.paused };
  });
  emit({ event: 'played', ...played });
  await page.evaluate(() => document.querySelector('#recordings audio').pause());

  await page.click('#recordings .recording button.download');
  await statePurpose(purpose);
  let file = null;
  for (let i = 0; i < 100 && !file; i += 1) {
    const done = fs.readdirSync(downloadDir).filter((f) => f.endsWith('.wav'));
    if (done.length) file = path.join(downloadDir, done[0]);
    else await sleep(200);
  }
  if (!file) throw new Error(`no WAV was downloaded into ${downloadDir}`);
  await sleep(500);
  emit({ event: 'downloaded', file, bytes: fs.statSync(file).size });

  // The trail on the page shows the accesses (view, play, download).
  await waitFor(page, 'three accesses in the trail on the page', () => {
    const rows = Array.from(document.querySelectorAll('#audit-rows tr[data-type=evidence_accessed]'));
    const text = rows.map((r) => r.textContent).join('\n');
    return rows.length >= 3 && /play/.test(text) && /download/.test(text);
  }, null, 15000);
  const accessRows = await page.$$eval('#audit-rows tr[data-type=evidence_accessed]', (rows) => rows.map((r) => r.textContent));
  await shoot(page, '08-compliance-after-access');
  result.compliance = { dossier: dossierSeen, played, download: file, accessRows, shortPurposeRefused: shortRefused };
  await ctx.close();
}

// ---------------------------------------------------------------------------------------------
// Scenario: a failed check, the TAN typed by the customer on their page, an abort

async function abortScenario() {
  const caseId = args.customer.caseId;
  const custCtx = await browser.createBrowserContext();
  const agentCtx = await browser.createBrowserContext();
  const agent = await newPage(agentCtx, 'agent');
  await agent.goto(`${args.baseUrl}/agent`);
  await signIn(agent, args.agent);
  await waitFor(agent, 'the queue view', () => window.vidid?.console?.view === 'queue');
  await agent.click('#set-available');
  const cust = await customerSide(custCtx);
  emit({ event: 'queued', mode: cust.mode });
  await waitFor(agent, 'the customer ready', () => !document.querySelector('#take-next').disabled, null, 30000);
  await agent.click('#take-next');
  await waitFor(agent, 'the call view', () => window.vidid.console.view === 'call');
  await customerJoins(custCtx, cust);
  await waitFor(agent, 'the call to connect with video', () => window.vidid.console.callState === 'connected'
    && document.querySelector('#remote-video').videoWidth > 0, null, 45000);
  await agent.click('#start-checks');
  await waitFor(agent, 'the checks state', () => document.querySelector('#step-alone_in_room')?.dataset.status === 'current');

  // The first four steps pass; a reload in between resumes the call and the checklist.
  await passStep(agent, 'alone_in_room');
  await agent.reload();
  await waitFor(agent, 'the call resumed after a reload', () => window.vidid?.console?.view === 'call'
    && window.vidid.console.callState === 'connected' && document.querySelector('#remote-video').videoWidth > 0
    && document.querySelector('#step-alone_in_room')?.dataset.status === 'passed'
    && document.querySelector('#step-intent')?.dataset.status === 'current', null, 45000);
  const resumed = true;
  await passStep(agent, 'intent');
  await passStep(agent, 'face_matches_document');
  await passStep(agent, 'document_front');
  // The back's security features do not look right: the step fails and stays open.
  await agent.click('#step-document_back input[name=shown]');
  await agent.type('#step-document_back textarea', 'The laminate peels at the corner.');
  await agent.click('#step-document_back button.record');
  await waitFor(agent, 'the failed check', () => /Failed/.test(document.querySelector('#step-document_back .step-badge')?.textContent ?? '')
    && document.querySelector('#step-document_back').dataset.status === 'current');
  const failedBadge = await agent.$eval('#step-document_back .step-badge', (e) => e.textContent);
  const tanLockedAfterFailure = await agent.$eval('#step-tan', (e) => e.dataset.status);
  // A second look: it passes.
  await agent.click('#step-document_back input[name=security_ok]');
  await recordStep(agent, 'document_back');

  // The code goes out; the customer types it on their own page; the console sees it.
  await agent.click('#tan-send');
  await waitFor(agent, 'the TAN to be sent', () => window.vidid.console.tanSentTo);
  let code = null;
  for (let i = 0; i < 50 && !code; i += 1) {
    code = latestTan(caseId);
    if (!code) await sleep(100);
  }
  if (!code) throw new Error('no TAN in the outbox');
  if (cust.mode === 'journey') {
    await cust.page.bringToFront();
    await cust.page.waitForSelector('#tan-input', { visible: true, timeout: 15000 });
    await cust.page.type('#tan-input', code);
    await cust.page.click('#tan-submit');
    await agent.bringToFront();
  } else {
    const r = await fetch(`${args.baseUrl}/api/v1/customer/tan`, {
      method: 'POST', headers: { 'X-Case-Token': args.customer.token, 'Content-Type': 'application/json' }, body: JSON.stringify({ code }),
    });
    if (!r.ok) throw new Error(`customer TAN: HTTP ${r.status}`);
  }
  await waitFor(agent, 'the console to show the code the customer typed', () => document.querySelector('#step-tan')?.dataset.status === 'passed', null, 15000);
  const approveDisabled = await agent.$eval('#approve', (b) => b.disabled);
  await shoot(agent, '11-agent-failed-check');

  // Abort, with a reason and a note.
  await agent.click('#abort');
  await visible(agent, '#abort-dialog[open] #abort-reason');
  await shoot(agent, '12-agent-abort-dialog');
  await agent.click('#abort-confirm');
  const noReason = await agent.$eval('#abort-error', (e) => e.textContent);
  await agent.select('#abort-reason', 'third_party_suspected');
  await agent.type('#abort-note', 'A second voice was heard prompting the answers.');
  await agent.click('#abort-confirm');
  await waitFor(agent, 'back to the queue after the abort', () => window.vidid.console.view === 'queue'
    && window.vidid.console.lastDecision?.state === 'aborted');
  let customerResult = null;
  if (cust.mode === 'journey') {
    const h = await waitFor(cust.page, 'the result on the customer page', () => window.vidid?.journey?.result || null);
    customerResult = await h.jsonValue();
  } else {
    const h = await waitFor(cust.page, 'the result on the queue socket', () => window.__q.find((m) => m.type === 'result'));
    customerResult = await h.jsonValue();
  }
  result.abort = { resumed, failedBadge, tanLockedAfterFailure, approveDisabled, noReason, customerResult, tanCode: code };
  await Promise.all([agentCtx.close(), custCtx.close()]);
}

// ---------------------------------------------------------------------------------------------
// Scenario: the agent is refused by the portal; the supervisor's board

async function board() {
  const custCtx = await browser.createBrowserContext();
  const cust = await customerSide(custCtx);
  emit({ event: 'queued', mode: cust.mode });

  const agentCtx = await browser.createBrowserContext();
  const agent = await newPage(agentCtx, 'agent');
  await agent.goto(`${args.baseUrl}/agent`);
  await signIn(agent, args.agent);
  await waitFor(agent, 'the queue view', () => window.vidid?.console?.view === 'queue');
  await agent.click('#set-available');
  await waitFor(agent, 'the agent to be available', () => document.querySelector('#set-available')?.getAttribute('aria-pressed') === 'true');

  // The same agent opens the compliance portal (same session): refused.
  const portal = await newPage(agentCtx, 'agent-portal');
  await portal.goto(`${args.baseUrl}/compliance`);
  await visible(portal, '#not-permitted');
  const refusal = await portal.$eval('#not-permitted', (e) => e.textContent);
  const searchHidden = await portal.$eval('#search-view', (e) => e.hidden);
  await shoot(portal, '09-compliance-refused');
  emit({ event: 'refused', text: refusal });

  const supCtx = await browser.createBrowserContext();
  const sup = await newPage(supCtx, 'supervisor');
  await sup.goto(`${args.baseUrl}/board`);
  // Keyboard only: the username field has the focus, Tab to the password, Enter submits.
  await visible(sup, '#signin-user');
  await sup.keyboard.type(args.supervisor.username);
  await sup.keyboard.press('Tab');
  await sup.keyboard.type(args.supervisor.password);
  await sup.keyboard.press('Enter');
  const caseId = args.customer.caseId;
  await waitFor(sup, 'the queued customer and the available agent on the board', (a) => {
    const row = document.querySelector(`#queue-rows tr[data-case-id="${a.caseId}"]`);
    const agentRow = Array.from(document.querySelectorAll('#agent-rows tr')).find((r) => r.textContent.includes(a.username));
    return row && agentRow && agentRow.dataset.status === 'available';
  }, { caseId, username: args.agent.username });
  const seen = await sup.evaluate(() => ({
    queue: document.querySelector('#v-queue').textContent,
    agents: Array.from(document.querySelectorAll('#agent-rows tr')).map((r) => r.textContent),
    places: Array.from(document.querySelectorAll('#queue-rows tr')).map((r) => r.dataset.caseId),
  }));
  await shoot(sup, '10-board');
  // The agent pauses: the board follows within a poll or two.
  await agent.bringToFront();
  await agent.click('#set-paused');
  await sup.bringToFront();
  await waitFor(sup, 'the paused agent on the board', (u) => Array.from(document.querySelectorAll('#agent-rows tr'))
    .some((r) => r.textContent.includes(u) && r.dataset.status === 'paused'), args.agent.username, 10000);
  emit({ event: 'board_seen', ...seen });
  // The supervisor may not use the portal's recordings, but may use the board; an agent may not use the board.
  const agentBoard = await newPage(agentCtx, 'agent-board');
  await agentBoard.goto(`${args.baseUrl}/board`);
  await visible(agentBoard, '#not-permitted');
  result.board = { refusal, searchHidden, seen, agentRefusedBoard: true };
  await Promise.all([agentCtx.close(), supCtx.close(), custCtx.close()]);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  browser = await puppeteer.launch({
    executablePath: args.chromiumPath,
    headless: true,
    defaultViewport: null,
    protocolTimeout: 30000,
    args: [
      '--disable-background-timer-throttling',
      '--disable-backgrounding-occluded-windows',
      '--disable-renderer-backgrounding',
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      '--window-size=1280,800',
      ...(args.fakeAudio ? [`--use-file-for-fake-audio-capture=${args.fakeAudio}`] : []),
    ],
  });
  if (args.scenario === 'approval') await approval();
  else if (args.scenario === 'board') await board();
  else if (args.scenario === 'abort') await abortScenario();
  else throw new Error(`unknown scenario ${args.scenario}`);
  result.ok = true;
}

const hardTimer = setTimeout(() => {
  result.error = `the driver's own time limit (${args.timeoutSecs}s) passed`;
  finish(2);
}, args.timeoutSecs * 1000);

let finished = false;
async function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(hardTimer);
  try {
    fs.writeFileSync(path.join(args.artifactsDir, 'browser-console.log'), consoleLines.join('\n'));
  } catch { /* best effort */ }
  try {
    if (browser) {
      for (const ctx of browser.browserContexts()) {
        for (const p of await ctx.pages().catch(() => [])) {
          if (!result.ok) {
            const f = path.join(args.artifactsDir, `failure-${result.screenshots.length}-${Math.random().toString(36).slice(2, 6)}.png`);
            await p.screenshot({ path: f, fullPage: true }).catch(() => {});
          }
        }
      }
      await browser.close();
    }
  } catch { /* closing anyway */ }
  emit(result);
  process.exit(code);
}

process.on('SIGTERM', () => {
  result.error = result.error ?? 'terminated';
  finish(3);
});

main().then(() => finish(0), (err) => {
  result.error = String(err?.stack ?? err);
  log('failed:', result.error);
  finish(1);
});
