#!/usr/bin/env node
// Drives the customer's journey page (/customer?case=…) in headless Chromium with fake camera
// and microphone, for tests/tests/customer_journey.rs. Prints JSON lines on stdout:
//
//   {"event":"step", "name":…, …}   progress
//   {"event":"result", "ok":true|false, "error":…, "checks":{…}}   always last
//
// Usage: node journey-customer.mjs --args-file FILE   (or one JSON argument)
// Arguments (JSON object):
//   baseUrl        "http://127.0.0.1:PORT"
//   scenario       full | weekend | expired | dropped | aborted
//   cases          [{id, token, link}] (the first is the page's customer; `dropped` queues the
//                  second one through the API behind it)
//   customer       {name, dateOfBirth, documentNumber}
//   agent          {username, password} (full, dropped, aborted)
//   apiKey         the ordering system's key (server-side reads of the case)
//   smsOutbox      the embedded SMS gateway's file (full: the TAN)
//   photoPath      the ID photo to upload
//   artifactsDir   screenshots, console logs
//   viewport       phone | desktop (default phone)
//   timeoutSecs    hard limit (default 150)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import {
  DESKTOP, PHONE, fillConfirm, isShown, journeyEvents, journeyState, prepareCustomer, textOf,
  unlabelledControls, waitForJourney, waitForStep,
} from './customer.mjs';

const started = Date.now();
const driverLog = [];
function log(...parts) {
  const line = `[journey +${((Date.now() - started) / 1000).toFixed(1)}s] ${parts.join(' ')}`;
  process.stderr.write(`${line}\n`);
  driverLog.push(line);
}
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs() {
  const argv = process.argv.slice(2);
  const text = argv[0] === '--args-file' ? fs.readFileSync(argv[1], 'utf8') : argv[0];
  const a = JSON.parse(text);
  for (const k of ['baseUrl', 'scenario', 'cases']) if (!a[k]) throw new Error(`missing ${k}`);
  return {
    viewport: 'phone',
    timeoutSecs: 150,
    chromiumPath: '/usr/bin/chromium',
    artifactsDir: fs.mkdtempSync(path.join(os.tmpdir(), 'vidid-journey-')),
    ...a,
  };
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// ---------------------------------------------------------------------------------------------
// The server's REST API from Node

class Api {
  constructor(base, apiKey) {
    this.base = base;
    this.apiKey = apiKey;
    this.cookie = null;
  }

  async req(method, p, { body, headers = {}, auth = 'cookie', raw, contentType } = {}) {
    const h = { ...headers };
    if (auth === 'cookie' && this.cookie) h.Cookie = this.cookie;
    if (auth === 'key') h.Authorization = `Bearer ${this.apiKey}`;
    let payload;
    if (raw !== undefined) {
      payload = raw;
      h['Content-Type'] = contentType;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['Content-Type'] = 'application/json';
    }
    const res = await fetch(this.base + p, { method, headers: h, body: payload });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  async must(method, p, opts = {}, expect = [200]) {
    const r = await this.req(method, p, opts);
    if (!expect.includes(r.status)) throw new Error(`${method} ${p}: HTTP ${r.status} ${r.text}`);
    return r.json;
  }

  // Over plain http the Secure cookie is not kept by a cookie jar: carry it by hand.
  async login(username, password) {
    const r = await this.req('POST', '/api/v1/session', { body: { username, password }, auth: 'none' });
    if (r.status !== 200) throw new Error(`login ${username}: HTTP ${r.status} ${r.text}`);
    const set = r.headers.getSetCookie?.() ?? [r.headers.get('set-cookie')];
    const c = set.map((x) => /vidid_session=([^;]+)/.exec(x ?? '')?.[1]).find(Boolean);
    if (!c) throw new Error(`login: no vidid_session cookie in ${JSON.stringify(set)}`);
    this.cookie = `vidid_session=${c}`;
  }

  caseByKey(id) {
    return this.must('GET', `/api/v1/cases/${id}`, { auth: 'key' });
  }
}

// ---------------------------------------------------------------------------------------------
// Browser

async function launch(args, tmp) {
  const userDataDir = path.join(tmp, 'chromium');
  fs.mkdirSync(userDataDir, { recursive: true });
  return puppeteer.launch({
    browser: 'chrome',
    executablePath: args.chromiumPath,
    headless: true,
    userDataDir,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--disable-background-networking',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      // Two pages in one browser (customer and agent): neither may be throttled as hidden.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
    defaultViewport: null,
    pipe: true,
    protocolTimeout: 60_000,
  });
}

const consoles = [];

async function newPage(browser, label, viewport) {
  const page = await browser.newPage();
  await page.setViewport(viewport === 'desktop' ? DESKTOP : PHONE);
  page.on('console', (m) => consoles.push(`${label} ${m.type()} ${m.text()}`));
  page.on('pageerror', (e) => consoles.push(`${label} pageerror ${e.message}`));
  page.on('requestfailed', (r) => consoles.push(`${label} requestfailed ${r.url()} ${r.failure()?.errorText}`));
  return page;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

// Controls without an accessible name, by screenshot (every screenshot is checked).
const unlabelled = {};

function makeShooter(args, page, prefix) {
  return async (name) => {
    const file = path.join(args.artifactsDir, `${prefix}-${name}.png`);
    try {
      const bad = await unlabelledControls(page);
      if (bad.length) unlabelled[`${prefix}-${name}`] = bad;
    } catch (err) {
      log(`label check ${name} failed: ${err.message}`);
    }
    try {
      // Let transitions and live meters settle.
      await sleep(250);
      await page.screenshot({ path: file, fullPage: true });
      log(`screenshot ${file}`);
    } catch (err) {
      log(`screenshot ${name} failed: ${err.message}`);
    }
  };
}

async function noPageErrors() {
  const errs = consoles.filter((l) => / pageerror /.test(l));
  check(errs.length === 0, `page errors: ${errs.join(' | ')}`);
}

// (1) The whole preparation through the UI, the queue, an agent takes the customer, the call
// with video both ways, an instruction, the TAN, the approval and the redirect to e-signing.
async function scenarioFull(args, browser, checks) {
  const api = new Api(args.baseUrl, args.apiKey);
  const [cs] = args.cases;
  const page = await newPage(browser, 'customer', args.viewport);
  const shot = makeShooter(args, page, args.viewport);
  await prepareCustomer(page, {
    link: cs.link, baseUrl: args.baseUrl, ...args.customer, photoPath: args.photoPath, onStep: shot,
  });
  let j = await journeyState(page);
  checks.queuePosition = j.position;
  check(j.position === 1, `queue position ${j.position}, expected 1`);
  checks.queueText = await textOf(page, '#queue-position');
  check(checks.queueText === '1', `the page shows place ${checks.queueText}`);
  const c1 = await api.caseByKey(cs.id);
  checks.stateQueued = c1.state;
  check(c1.state === 'queued', `server state ${c1.state}, expected queued`);
  emit({ event: 'step', name: 'queued', position: j.position });

  // The agent comes on duty: the wait estimate appears.
  await api.login(args.agent.username, args.agent.password);
  await api.must('PUT', '/api/v1/agent/availability', { body: { status: 'available' } });
  j = await waitForJourney(page, 'a wait estimate', (x) => x.estimatedWaitSecs != null, 15_000);
  checks.estimatedWaitSecs = j.estimatedWaitSecs;
  checks.waitText = await textOf(page, '#queue-wait');
  await shot('queue-estimate');

  const take = await api.must('POST', '/api/v1/agent/take');
  check(take?.call?.token, `take: no call token in ${JSON.stringify(take)}`);
  checks.callId = take.call.call_id;
  await waitForStep(page, 'call', 15_000);
  emit({ event: 'step', name: 'call_ready', call_id: take.call.call_id });

  // The agent's side: the bare call page with the token from the take response.
  const agentPage = await newPage(browser, 'agent', 'desktop');
  await agentPage.goto(`${args.baseUrl}/agent?token=${encodeURIComponent(take.call.token)}`, { waitUntil: 'domcontentloaded' });
  await page.bringToFront();
  await waitForJourney(page, 'the call connected', (x) => x.callState === 'connected', 30_000);
  await page.waitForFunction(() => {
    const v = document.getElementById('remote-video');
    return v.videoWidth > 0 && v.currentTime > 0.5;
  }, { timeout: 20_000, polling: 200 });
  checks.remoteVideo = await page.evaluate(() => {
    const v = document.getElementById('remote-video');
    return { width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime };
  });
  checks.agentState = await agentPage.evaluate(() => window.vidid?.state);
  emit({ event: 'step', name: 'call_connected', remoteVideo: checks.remoteVideo });

  // An instruction from the agent is shown prominently.
  const text = 'Prosim, pokažite osebno izkaznico pred kamero.';
  await api.must('POST', `/api/v1/cases/${cs.id}/instruction`, { body: { text } }, [204]);
  j = await waitForJourney(page, 'the instruction', (x) => x.instruction != null, 10_000);
  checks.instruction = await textOf(page, '#instruction-text');
  check(checks.instruction === text, `instruction shown: ${checks.instruction}`);
  check(await isShown(page, '#instruction'), 'the instruction box is not visible');
  await shot('call');

  // The TAN: the agent sends it, the customer types it in.
  await page.bringToFront();
  await api.must('POST', `/api/v1/cases/${cs.id}/checks/start`);
  await api.must('POST', `/api/v1/cases/${cs.id}/tan`);
  let code = null;
  for (let i = 0; i < 50 && !code; i += 1) {
    const lines = fs.existsSync(args.smsOutbox) ? fs.readFileSync(args.smsOutbox, 'utf8').trim().split('\n') : [];
    const last = lines.filter(Boolean).map((l) => JSON.parse(l)).pop();
    code = last ? /\b(\d{6})\b/.exec(JSON.stringify(last))?.[1] ?? null : null;
    if (!code) await sleep(100);
  }
  check(code, 'no TAN in the SMS outbox');
  // A wrong code first.
  const wrong = code === '000000' ? '111111' : '000000';
  await page.type('#tan-input', wrong);
  await page.click('#tan-submit');
  j = await waitForJourney(page, 'the TAN answer', (x) => x.tan != null, 10_000);
  checks.tanWrong = j.tan;
  if (j.tan.result === 'unavailable') {
    // POST /api/v1/customer/tan is not there (yet): the agent types the read-back code.
    checks.tanEndpoint = false;
    const v = await api.must('POST', `/api/v1/cases/${cs.id}/tan/verify`, { body: { code } });
    checks.tan = v;
  } else {
    checks.tanEndpoint = true;
    check(j.tan.result === 'wrong', `a wrong TAN answered ${JSON.stringify(j.tan)}`);
    await page.$eval('#tan-input', (el) => { el.value = ''; });
    await page.type('#tan-input', code);
    await page.click('#tan-submit');
    j = await waitForJourney(page, 'the TAN accepted', (x) => x.tan?.result !== 'wrong', 10_000);
    checks.tan = j.tan;
    check(j.tan.result === 'accepted', `the right TAN answered ${JSON.stringify(j.tan)}`);
    checks.tanText = await textOf(page, '#tan-result');
  }
  await shot('call-tan');

  // The agent's checklist and the approval.
  const qs = (take.questions ?? []).map((q) => ({ question_id: q.id ?? q.question_id, answer: 'Da, sklepam pogodbo za mobilni telefon.', acceptable: true }));
  const items = [
    { item: 'alone_in_room', room_shown: true, nobody_else_seen_or_heard: true, observation: 'Sam v sobi.' },
    { item: 'intent', answers: qs, observation: 'Odgovori tekoče.' },
    { item: 'face_matches_document', matches: true, observation: 'Ujema se.' },
    { item: 'document_front', shown: true, security_features_ok: true, observation: 'Hologram viden.' },
    { item: 'document_back', shown: true, security_features_ok: true, observation: 'V redu.' },
  ];
  for (const it of items) await api.must('POST', `/api/v1/cases/${cs.id}/checks`, { body: it });
  await api.must('POST', `/api/v1/cases/${cs.id}/approve`);
  await waitForStep(page, 'result', 15_000);
  j = await journeyState(page);
  checks.result = j.result;
  check(j.result?.state === 'approved', `result ${JSON.stringify(j.result)}`);
  checks.resultTitle = await textOf(page, '#result-title');
  await shot('result-approved');
  // The page goes on to e-signing by itself.
  await page.waitForFunction((u) => location.href.startsWith(u), { timeout: 15_000, polling: 200 }, args.esignUrl);
  checks.redirectedTo = page.url();
  const c2 = await api.caseByKey(cs.id);
  checks.stateEnd = c2.state;
  await agentPage.close();
}

// (2) Outside working hours: the next opening is shown, the preparation works (with a
// mismatch corrected on the way), the queue refuses and says when it opens.
async function scenarioWeekend(args, browser, checks) {
  const api = new Api(args.baseUrl, args.apiKey);
  const [cs] = args.cases;
  const page = await newPage(browser, 'customer', args.viewport);
  const shot = makeShooter(args, page, args.viewport);
  let mismatchDone = false;
  // First a browser that refuses the camera: the device step explains what to do.
  const denied = await newPage(browser, 'denied', args.viewport);
  await denied.evaluateOnNewDocument(() => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  });
  await denied.goto(new URL(cs.link, args.baseUrl).toString(), { waitUntil: 'domcontentloaded' });
  await waitForStep(denied, 'welcome');
  await denied.click('#welcome-start');
  await waitForStep(denied, 'device');
  await denied.click('#device-start');
  await denied.waitForSelector('#device-error', { visible: true, timeout: 10_000 });
  checks.deniedText = await textOf(denied, '#device-error');
  checks.deniedButton = await textOf(denied, '#device-start');
  checks.deniedContinueHidden = !(await isShown(denied, '#device-continue'));
  await makeShooter(args, denied, args.viewport)('device-denied');
  await denied.close();
  // An in-app browser (Instagram's): told at once to open the link in a real browser.
  const inapp = await newPage(browser, 'inapp', 'phone');
  await inapp.setUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.0');
  await inapp.goto(new URL(cs.link, args.baseUrl).toString(), { waitUntil: 'domcontentloaded' });
  await waitForStep(inapp, 'welcome');
  await inapp.click('#welcome-start');
  await waitForStep(inapp, 'device');
  checks.inappShown = await isShown(inapp, '#inapp-help');
  checks.inappText = await textOf(inapp, '#inapp-help');
  await makeShooter(args, inapp, 'phone')('device-inapp');
  await inapp.close();
  // The same walk as prepareCustomer, with a word-order mismatch first on the data step.
  await page.goto(new URL(cs.link, args.baseUrl).toString(), { waitUntil: 'domcontentloaded' });
  await waitForStep(page, 'welcome');
  await page.waitForFunction(() => document.getElementById('hours-now').textContent !== '…');
  checks.hoursText = await textOf(page, '#hours-now');
  checks.hours = (await journeyState(page)).hours;
  await shot('welcome');
  // English, too.
  await page.click('#lang-switch');
  checks.hoursTextEn = await textOf(page, '#hours-now');
  checks.langEn = await page.evaluate(() => document.documentElement.lang);
  await shot('welcome-en');
  await page.click('#lang-switch');
  await page.click('#welcome-start');
  await waitForStep(page, 'device');
  await page.click('#device-start');
  await page.waitForSelector('#device-continue', { visible: true, timeout: 15_000 });
  await page.waitForFunction(() => window.vidid.journey.light != null && window.vidid.journey.sound != null, { timeout: 10_000 });
  checks.light = (await journeyState(page)).light;
  await shot('device');
  await page.click('#device-continue');
  await waitForStep(page, 'consent');
  // The keyboard only: the step's heading has the focus, Tab reaches the box, then the button.
  const focused = () => page.evaluate(() => document.activeElement?.id ?? null);
  checks.consentFocusStart = await focused();
  await page.keyboard.press('Tab');
  checks.consentFocusTab1 = await focused();
  await page.keyboard.press('Tab');
  checks.consentFocusTab2 = await focused();
  // Continue without ticking: refused, with a message, and the focus on the box.
  await page.keyboard.press('Enter');
  checks.consentRefused = (await journeyState(page)).step === 'consent' && await isShown(page, '#consent-error');
  checks.consentFocusRefused = await focused();
  await page.keyboard.press('Space');
  await shot('consent');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await waitForStep(page, 'upload');
  // A file that is not a picture: refused in the page.
  const pick = (kind) => page.evaluate(async (k) => {
    let file;
    if (k === 'text') {
      file = new File(['this is not a picture'.repeat(10)], 'notes.txt', { type: 'text/plain' });
    } else {
      // Noise does not compress: a PNG of well over 8 MB, as a phone camera might make.
      const c = document.createElement('canvas');
      c.width = 2600;
      c.height = 2000;
      const ctx = c.getContext('2d');
      const img = ctx.createImageData(c.width, c.height);
      for (let i = 0; i < img.data.length; i += 1) img.data[i] = (i & 3) === 3 ? 255 : (Math.random() * 256) | 0;
      ctx.putImageData(img, 0, 0);
      const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
      file = new File([blob], 'huge.png', { type: 'image/png' });
    }
    const dt = new DataTransfer();
    dt.items.add(file);
    const input = document.getElementById('photo-input');
    input.files = dt.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
    return file.size;
  }, kind);
  await pick('text');
  await waitForJourney(page, 'a text file refused', (x) => x.photoError === 'upload_bad_type', 10_000);
  checks.badTypeText = await textOf(page, '#upload-error');
  checks.hugeBytes = await pick('huge');
  const huge = await waitForJourney(page, 'the big photo made smaller',
    (x) => x.events.some((e) => e.type === 'photo_downscaled' || e.type === 'photo_downscale_failed') && x.photoError === null, 30_000)
    .catch(async (e) => { throw new Error(`${e.message} ${JSON.stringify(await journeyEvents(page))}`); });
  checks.downscaled = (await journeyEvents(page)).find((e) => e.type === 'photo_downscaled') ?? null;
  checks.hugeError = huge.photoError;
  await (await page.$('#photo-input')).uploadFile(args.photoPath);
  await page.waitForSelector('#upload-submit:not([disabled])');
  await shot('upload');
  await page.click('#upload-submit');
  await waitForStep(page, 'confirm', 20_000);
  const [first, ...rest] = args.customer.name.split(' ');
  const j1 = await fillConfirm(page, { ...args.customer, name: `${rest.join(' ')} ${first}` });
  checks.differences = j1.differences;
  checks.mismatchStep = j1.step;
  check(j1.step === 'confirm' && j1.differences?.length > 0, `a swapped name was not reported: ${JSON.stringify(j1)}`);
  check(await isShown(page, '#confirm-diff'), 'the differences are not shown');
  await shot('confirm-mismatch');
  mismatchDone = true;
  const j2 = await fillConfirm(page, args.customer);
  check(mismatchDone && j2.step === 'queue', `the corrected data did not lead to the queue: ${JSON.stringify(j2)}`);
  await waitForJourney(page, 'the queue refused for the hours', (x) => x.queueClosed != null, 10_000);
  checks.closedShown = await isShown(page, '#queue-closed');
  checks.closedText = await textOf(page, '#closed-text');
  checks.queueClosed = (await journeyState(page)).queueClosed;
  await shot('queue-closed');
  const c = await api.caseByKey(cs.id);
  checks.state = c.state;
  // A reload comes back to the same place.
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitForStep(page, 'queue');
  await waitForJourney(page, 'closed again after the reload', (x) => x.queueClosed != null, 10_000);
  checks.afterReload = (await journeyState(page)).step;
}

// (3) An expired link: the expiry page.
async function scenarioExpired(args, browser, checks) {
  const [cs] = args.cases;
  for (const vp of ['phone', 'desktop']) {
    const page = await newPage(browser, `customer-${vp}`, vp);
    await page.goto(new URL(cs.link, args.baseUrl).toString(), { waitUntil: 'domcontentloaded' });
    await waitForStep(page, 'expired');
    checks[`title_${vp}`] = await textOf(page, '#expired-title');
    checks[`at_${vp}`] = await textOf(page, '#expired-at');
    checks[`focus_${vp}`] = await page.evaluate(() => document.activeElement?.id);
    await makeShooter(args, page, vp)('expired');
    await page.close();
  }
}

// (4) Two customers queued; the first one's network drops for a few seconds, then the page is
// reloaded: each time it reattaches and keeps place 1.
async function scenarioDropped(args, browser, checks) {
  const api = new Api(args.baseUrl, args.apiKey);
  const [a, b] = args.cases;
  const page = await newPage(browser, 'customer', args.viewport);
  const shot = makeShooter(args, page, args.viewport);
  await prepareCustomer(page, { link: a.link, baseUrl: args.baseUrl, ...args.customer, photoPath: args.photoPath });
  let j = await journeyState(page);
  check(j.position === 1, `first customer at ${j.position}`);
  // The second customer through the API.
  const other = { 'X-Case-Token': b.token };
  const photo = fs.readFileSync(args.photoPath);
  await api.must('POST', '/api/v1/customer/photo', { raw: photo, contentType: 'image/jpeg', headers: other, auth: 'none' });
  await api.must('POST', '/api/v1/customer/confirm', {
    body: { name: args.customer2.name, date_of_birth: args.customer.dateOfBirth, document: { kind: 'id_card', country: 'SI', number: args.customer.documentNumber } },
    headers: other,
    auth: 'none',
  });
  const q2 = await api.must('POST', '/api/v1/customer/queue', { headers: other, auth: 'none' });
  checks.secondPosition = q2.position;
  check(q2.position === 2, `second customer at ${q2.position}`);

  await api.login(args.agent.username, args.agent.password);
  // Offline for a few seconds.
  await page.setOfflineMode(true);
  emit({ event: 'step', name: 'offline' });
  j = await waitForJourney(page, 'the page notices', (x) => x.queueConn === 'offline' || x.queueConn === 'reconnecting', 30_000);
  checks.offlineConn = j.queueConn;
  await shot('queue-offline');
  // The server sees the customer disconnected (the place is kept).
  let seen = null;
  for (let i = 0; i < 50; i += 1) {
    const qv = await api.must('GET', '/api/v1/queue');
    seen = (qv.queue ?? []).find((p) => p.case_id === a.id);
    if (seen && seen.connected === false) break;
    await sleep(200);
  }
  checks.serverSawDisconnect = seen?.connected === false;
  checks.placeWhileOffline = seen?.position ?? null;
  await sleep(3000);
  await page.setOfflineMode(false);
  emit({ event: 'step', name: 'online' });
  j = await waitForJourney(page, 'reconnected', (x) => x.queueConn === 'connected', 30_000);
  checks.afterReconnect = { position: j.position, reconnects: j.reconnects };
  check(j.position === 1, `after reconnecting at ${j.position}`);
  const qv = await api.must('GET', '/api/v1/queue');
  const mine = (qv.queue ?? []).find((p) => p.case_id === a.id);
  checks.serverAfterReconnect = mine ?? null;
  check(mine?.connected === true, `the server does not see the customer connected again: ${JSON.stringify(mine)}`);
  await shot('queue-reconnected');

  // A reload: straight back to the queue, same place (the rejoin token is in sessionStorage).
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitForStep(page, 'queue');
  j = await waitForJourney(page, 'reattached after the reload', (x) => x.queueConn === 'connected' && x.position != null, 20_000);
  checks.afterReload = { step: j.step, position: j.position };
  check(j.position === 1, `after the reload at ${j.position}`);
  // The server must see the reloaded page connected (else agents skip the customer); the page
  // heals a stale "disconnected" within seconds, so allow a little time.
  let after = null;
  for (let i = 0; i < 40; i += 1) {
    const qv2 = await api.must('GET', '/api/v1/queue');
    after = (qv2.queue ?? []).find((p) => p.case_id === a.id);
    if (after?.connected === true) break;
    await sleep(250);
  }
  checks.serverAfterReload = after ?? null;
  check(after?.connected === true, `after the reload the server sees ${JSON.stringify(after)}`);
  checks.healedOnServer = (await journeyEvents(page)).some((e) => e.type === 'queue_not_connected_on_server');
  const c = await api.caseByKey(a.id);
  checks.state = c.state;
}

// (5) The agent aborts the call (bad light): the customer is back in the queue, told why.
async function scenarioAborted(args, browser, checks) {
  const api = new Api(args.baseUrl, args.apiKey);
  const [cs] = args.cases;
  const page = await newPage(browser, 'customer', args.viewport);
  const shot = makeShooter(args, page, args.viewport);
  await prepareCustomer(page, { link: cs.link, baseUrl: args.baseUrl, ...args.customer, photoPath: args.photoPath, lang: 'en' });
  await shot('queue');
  await api.login(args.agent.username, args.agent.password);
  await api.must('PUT', '/api/v1/agent/availability', { body: { status: 'available' } });
  const take = await api.must('POST', '/api/v1/agent/take');
  check(take?.call?.token, 'take: no call');
  await waitForStep(page, 'call', 15_000);
  const agentPage = await newPage(browser, 'agent', 'desktop');
  await agentPage.goto(`${args.baseUrl}/agent?token=${encodeURIComponent(take.call.token)}`, { waitUntil: 'domcontentloaded' });
  await waitForJourney(page, 'the call connected', (x) => x.callState === 'connected', 30_000);
  await page.bringToFront();
  await api.must('POST', `/api/v1/cases/${cs.id}/instruction`, { body: { text: 'Please turn on a light.' } }, [204]);
  await waitForJourney(page, 'the instruction', (x) => x.instruction === 'Please turn on a light.', 10_000);
  await shot('call');
  // A reload in the middle of the call: back into the same call.
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitForStep(page, 'call', 15_000);
  await waitForJourney(page, 'the call connected again after a reload', (x) => x.callState === 'connected', 30_000);
  checks.reconnectedAfterReload = true;
  await api.must('POST', `/api/v1/cases/${cs.id}/abort`, { body: { reason: 'bad_light', note: 'Obraz ni viden, premalo svetlobe.' } });
  const j = await waitForJourney(page, 'back in the queue', (x) => x.step === 'queue' && x.queueConn === 'connected' && x.position != null, 20_000);
  checks.result = j.result;
  checks.position = j.position;
  checks.why = await textOf(page, '#queue-why');
  checks.whyShown = await isShown(page, '#queue-why');
  checks.agentPageState = await agentPage.evaluate(() => window.vidid?.state);
  await shot('queue-after-abort');
  const c = await api.caseByKey(cs.id);
  checks.state = c.state;
  checks.retriesLeft = c.retries_left;
  checks.attempts = c.attempts;
  await agentPage.close();

  // The second attempt: the agent takes the customer again and rejects: the page says what to
  // do next, and nothing brings the customer back into the queue.
  await api.must('PUT', '/api/v1/agent/availability', { body: { status: 'available' } });
  const take2 = await api.must('POST', '/api/v1/agent/take');
  check(take2?.call?.call_id && take2.call.call_id !== take.call.call_id, `second take: ${JSON.stringify(take2?.call)}`);
  await waitForStep(page, 'call', 15_000);
  await api.must('POST', `/api/v1/cases/${cs.id}/reject`, { body: { reason: 'Dokument ni veljaven.' } });
  const r = await waitForJourney(page, 'the rejection', (x) => x.step === 'result' && x.result?.state === 'rejected', 15_000);
  checks.rejected = { step: r.step, result: r.result, title: await textOf(page, '#result-title'), next: await textOf(page, '#result-next') };
  checks.requeueHidden = !(await isShown(page, '#result-requeue'));
  await shot('result-rejected');
  // A reload shows the same result.
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitForStep(page, 'result');
  checks.rejectedAfterReload = (await journeyState(page)).result?.state;
  checks.stateEnd = (await api.caseByKey(cs.id)).state;
}

const SCENARIOS = {
  full: scenarioFull,
  weekend: scenarioWeekend,
  expired: scenarioExpired,
  dropped: scenarioDropped,
  aborted: scenarioAborted,
};

// ---------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs();
  fs.mkdirSync(args.artifactsDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vidid-journey-browser-'));
  const result = { event: 'result', ok: false, error: null, scenario: args.scenario, checks: {} };
  let browser = null;
  const hardLimit = setTimeout(() => {
    result.error = `the driver's time limit of ${args.timeoutSecs}s passed`;
    finish();
  }, args.timeoutSecs * 1000);
  let finished = false;
  async function finish() {
    if (finished) return;
    finished = true;
    clearTimeout(hardLimit);
    if (browser) {
      for (const p of await browser.pages().catch(() => [])) {
        try {
          result.checks[`events_${p.url().includes('/agent') ? 'agent' : 'page'}`] = p.url().includes('/agent')
            ? await p.evaluate(() => (window.vidid?.events ?? []).slice(-40).map((e) => e.type))
            : await journeyEvents(p);
          if (!result.ok) await p.screenshot({ path: path.join(args.artifactsDir, `failure-${Date.now()}.png`), fullPage: true });
        } catch {
          /* page gone */
        }
      }
      const proc = browser.process?.();
      await Promise.race([browser.close().catch(() => {}), sleep(8000)]);
      if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    }
    fs.writeFileSync(path.join(args.artifactsDir, 'browser-console.log'), `${consoles.join('\n')}\n`);
    fs.writeFileSync(path.join(args.artifactsDir, 'driver.log'), `${driverLog.join('\n')}\n`);
    fs.rmSync(tmp, { recursive: true, force: true });
    emit(result);
    process.exit(result.ok ? 0 : 1);
  }
  process.on('SIGTERM', () => {
    result.error = 'terminated';
    finish();
  });
  try {
    const run = SCENARIOS[args.scenario];
    if (!run) throw new Error(`unknown scenario ${args.scenario}`);
    browser = await launch(args, tmp);
    log(`chromium ${await browser.version()}, scenario ${args.scenario}`);
    await run(args, browser, result.checks);
    result.checks.unlabelled = unlabelled;
    await noPageErrors();
    result.ok = true;
  } catch (err) {
    result.error = err?.stack ?? String(err);
    log(`FAILED: ${result.error}`);
  }
  await finish();
}

main();
