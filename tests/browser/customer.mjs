// Helpers for driving the customer's journey page (/customer?case=<token>) with puppeteer.
// Shared by the journey drivers (journey-customer.mjs and others):
//
//   import { prepareCustomer, waitForStep, journeyState } from './customer.mjs';
//   await prepareCustomer(page, { link, name, dateOfBirth: '1985-04-12', documentNumber: 'IA1234567',
//                                 photoPath, lang: 'sl' });   // → the queue step, queued
//
// The page exposes window.vidid.journey = { step, state, position, estimatedWaitSecs, callState,
// instruction, result, queueConn, tan, differences, … }; steps are loading | expired | error |
// welcome | device | consent | upload | confirm | queue | call | result.

export const PHONE = { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { width: 1280, height: 800, deviceScaleFactor: 1, isMobile: false, hasTouch: false };

/** What the page says about the journey (a copy of window.vidid.journey without the event log). */
export async function journeyState(page) {
  return page.evaluate(() => {
    const j = window.vidid?.journey;
    if (!j) return null;
    const { events, ...rest } = j;
    return JSON.parse(JSON.stringify(rest));
  });
}

/** The journey's event log (steps, queue messages, reconnects …). */
export async function journeyEvents(page) {
  return page.evaluate(() => (window.vidid?.journey?.events ?? []).slice(-200));
}

/** Waits until the journey shows `step` (or one of several); a clear error otherwise. */
export async function waitForStep(page, step, timeoutMs = 20_000) {
  const steps = Array.isArray(step) ? step : [step];
  try {
    await page.waitForFunction((s) => s.includes(window.vidid?.journey?.step), { timeout: timeoutMs, polling: 100 }, steps);
  } catch (err) {
    const j = await journeyState(page).catch(() => null);
    throw new Error(`step ${steps.join('|')} not reached within ${timeoutMs} ms; the page is at ${j?.step} (${JSON.stringify(j)})`);
  }
  return page.evaluate(() => window.vidid.journey.step);
}

/** Waits until `fn(journey)` (run in the page) is true. `what` names it in the error. */
export async function waitForJourney(page, what, fn, timeoutMs = 20_000) {
  try {
    await page.waitForFunction(`(${fn})(window.vidid?.journey ?? {})`, { timeout: timeoutMs, polling: 100 });
  } catch {
    const j = await journeyState(page).catch(() => null);
    throw new Error(`${what}: not within ${timeoutMs} ms; journey: ${JSON.stringify(j)}`);
  }
  return journeyState(page);
}

/** Whether the element is displayed (not display:none through .hidden or an ancestor). */
export async function isShown(page, selector) {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel);
    return Boolean(el && el.offsetParent !== null && el.getClientRects().length > 0);
  }, selector);
}

export async function textOf(page, selector) {
  return page.evaluate((sel) => document.querySelector(sel)?.textContent?.trim() ?? null, selector);
}

/**
 * Visible controls without an accessible name (inputs, selects, buttons, links, videos and
 * meters): none may be left unnamed for a screen reader. Returns descriptions of the culprits.
 */
export async function unlabelledControls(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href], video, [role="meter"]')) {
      const hidden = el.closest('.hidden') || (el.offsetParent === null && !el.classList.contains('visually-hidden'));
      if (hidden) continue;
      const byIds = (attr) => (el.getAttribute(attr) ?? '').split(/\s+/).filter(Boolean)
        .map((id) => document.getElementById(id)?.textContent ?? '').join(' ').trim();
      const name = el.getAttribute('aria-label')?.trim()
        || byIds('aria-labelledby')
        || (el.labels && [...el.labels].map((l) => l.textContent).join(' ').trim())
        || (['BUTTON', 'A'].includes(el.tagName) ? el.textContent.trim() : '');
      if (!name) bad.push(`${el.tagName.toLowerCase()}#${el.id || '?'}`);
    }
    return bad;
  });
}

/** "1985-04-12" → "12. 4. 1985" (how a Slovenian customer writes it). */
export function slovenianDate(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return `${d}. ${m}. ${y}`;
}

async function clickWhenShown(page, selector, timeoutMs = 10_000) {
  await page.waitForSelector(selector, { visible: true, timeout: timeoutMs });
  await page.click(selector);
}

async function typeInto(page, selector, text) {
  // Clear the field (as select-all + delete would), then type like a person.
  await page.$eval(selector, (el) => {
    el.value = '';
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await page.type(selector, text);
}

/**
 * Fills in and sends the confirm form. `dateText` defaults to the Slovenian way of writing
 * `dateOfBirth`. Returns the journey state after the server answered.
 */
export async function fillConfirm(page, { name, dateOfBirth, dateText, documentKind = 'id_card', documentNumber, beforeSubmit = async () => {} }) {
  await typeInto(page, '#f-name', name);
  await typeInto(page, '#f-dob', dateText ?? slovenianDate(dateOfBirth));
  await page.click(documentKind === 'passport' ? '#f-kind-passport' : '#f-kind-id');
  await page.select('#f-country', 'SI');
  await typeInto(page, '#f-number', documentNumber);
  await beforeSubmit();
  const before = await page.evaluate(() => window.vidid.journey.events.length);
  await page.click('#confirm-submit');
  await page.waitForFunction(
    (n) => window.vidid.journey.events.slice(n).some((e) => e.type === 'confirm' || e.type === 'step' || e.type === 'error'),
    { timeout: 15_000, polling: 100 },
    before,
  );
  return journeyState(page);
}

/**
 * Walks the page from the link to the queue step through the UI: welcome → device check →
 * recording notice → ID photo → data → queue. `link` is absolute, or relative with `baseUrl`.
 * `onStep(step)` runs when each step is on screen and filled in, before moving on (e.g. for
 * screenshots). Expects the queue to be open unless `expectQueue: false`; returns the journey
 * state at the queue step.
 */
export async function prepareCustomer(page, {
  link, baseUrl, name, dateOfBirth, documentNumber, documentKind = 'id_card', photoPath, lang,
  onStep = async () => {}, expectQueue = true,
}) {
  const base = baseUrl ?? (page.url().startsWith('http') ? page.url() : null);
  if (!base && !/^https?:/.test(link)) throw new Error(`prepareCustomer: a relative link (${link}) needs baseUrl`);
  const url = new URL(link, base ?? undefined);
  if (lang) url.searchParams.set('lang', lang);
  await page.goto(url.toString(), { waitUntil: 'domcontentloaded' });

  await waitForStep(page, 'welcome');
  await page.waitForFunction(() => document.getElementById('valid-until').textContent !== '…');
  await onStep('welcome');
  await page.click('#welcome-start');

  await waitForStep(page, 'device');
  await page.click('#device-start');
  await page.waitForSelector('#device-continue', { visible: true, timeout: 15_000 });
  // Let the meters read a few frames.
  await page.waitForFunction(() => window.vidid.journey.light != null, { timeout: 10_000 });
  await onStep('device');
  await page.click('#device-continue');

  await waitForStep(page, 'consent');
  await page.click('#consent-check');
  await onStep('consent');
  await page.click('#consent-continue');

  await waitForStep(page, 'upload');
  const input = await page.$('#photo-input');
  await input.uploadFile(photoPath);
  await page.waitForSelector('#upload-submit:not([disabled])', { timeout: 10_000 });
  await onStep('upload');
  await page.click('#upload-submit');

  await waitForStep(page, 'confirm', 20_000);
  const j = await fillConfirm(page, { name, dateOfBirth, documentKind, documentNumber, beforeSubmit: () => onStep('confirm') });
  if (j.step === 'confirm') {
    throw new Error(`the data was not accepted: ${JSON.stringify(j.differences)} ${JSON.stringify(j)}`);
  }
  await waitForStep(page, 'queue');
  if (expectQueue) {
    await waitForJourney(page, 'queued with a position', (jj) => jj.queueConn === 'connected' && jj.position >= 1);
  } else {
    await waitForJourney(page, 'the queue answered', (jj) => jj.queueClosed || jj.queueConn === 'connected');
  }
  await onStep('queue');
  return journeyState(page);
}
