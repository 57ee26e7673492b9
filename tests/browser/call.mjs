#!/usr/bin/env node
// Drives one vidid call with two real browsers (system Chromium over CDP, Firefox ESR over
// WebDriver BiDi), samples getStats() on both sides and prints JSON lines on stdout:
//
//   {"event":"connected", ...}   both pages report state "connected"
//   {"event":"sampled", ...}     sampling is done; the caller may now end the call
//   {"event":"result", "ok":true|false, "error":..., "customer":{...}, "agent":{...}}   always last
//
// Everything else (progress, browser consoles) goes to stderr and to files in the artifacts dir.
//
// Usage: node call.mjs '<json>'   or   node call.mjs --args-file FILE
// Arguments (JSON object):
//   baseUrl            "http://127.0.0.1:PORT" (page URLs may be relative to it)
//   customer, agent    { url, browser: "chromium"|"firefox", wav?: "/abs/tone.wav" (Chromium's fake
//                        microphone file, looped), toneHz?: N (Firefox's generated fake-microphone tone),
//                        firefoxPrefs?: {...} (extra Firefox prefs, for experiments),
//                        hideCandidates?: true (the page's trickled ICE candidates are not sent, as
//                        if they were unreachable: the server must learn the browser's address
//                        from its connectivity checks, a peer-reflexive candidate) }
//   durationSecs       how long to sample after both are connected (default 15)
//   samples            how many getStats() samples over that time (default 6, at least 2)
//   artifactsDir       where screenshots and console logs go (created)
//   connectTimeoutSecs how long both pages may take to report "connected" (default 45)
//   clickEndCall       after "sampled", press the agent page's "End call" button (default false)
//   waitForEnd         after "sampled", wait until both pages report "ended" (default false)
//   endTimeoutSecs     how long to wait for that (default 20)
//   timeoutSecs        hard limit for the whole run (default 180); browsers are always closed
//   chromiumPath, firefoxPath   default /usr/bin/chromium, /usr/bin/firefox-esr

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const SIDES = ['customer', 'agent'];
const started = Date.now();

function log(...parts) {
  const line = `[call.mjs +${((Date.now() - started) / 1000).toFixed(1)}s] ${parts.join(' ')}`;
  process.stderr.write(`${line}\n`);
  driverLog.push(line);
}
const driverLog = [];

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs() {
  const argv = process.argv.slice(2);
  let text;
  if (argv[0] === '--args-file') text = fs.readFileSync(argv[1], 'utf8');
  else if (argv.length === 1) text = argv[0];
  else throw new Error('usage: node call.mjs <json> | --args-file FILE');
  const a = JSON.parse(text);
  if (!a.baseUrl) throw new Error('missing baseUrl');
  for (const side of SIDES) {
    const s = a[side];
    if (!s || !s.url) throw new Error(`missing ${side}.url`);
    if (!['chromium', 'firefox'].includes(s.browser)) {
      throw new Error(`${side}.browser must be "chromium" or "firefox", got ${JSON.stringify(s.browser)}`);
    }
    if (s.browser === 'chromium' && s.wav && !fs.existsSync(s.wav)) {
      throw new Error(`${side}.wav does not exist: ${s.wav}`);
    }
  }
  return {
    durationSecs: 15,
    samples: 6,
    connectTimeoutSecs: 45,
    clickEndCall: false,
    waitForEnd: false,
    endTimeoutSecs: 20,
    timeoutSecs: 180,
    chromiumPath: '/usr/bin/chromium',
    firefoxPath: '/usr/bin/firefox-esr',
    artifactsDir: fs.mkdtempSync(path.join(os.tmpdir(), 'vidid-call-artifacts-')),
    ...a,
  };
}

// ---------------------------------------------------------------------------------------------
// Browsers

async function launch(kind, side, args, tmp) {
  const userDataDir = path.join(tmp, `${side}-${kind}`);
  fs.mkdirSync(userDataDir, { recursive: true });
  if (kind === 'chromium') {
    const flags = [
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--disable-background-networking',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      // Remote audio must really be played out (getStats' totalAudioEnergy counts played audio).
      '--autoplay-policy=no-user-gesture-required',
      '--window-size=1000,900',
    ];
    const wav = args[side].wav;
    if (wav) flags.push(`--use-file-for-fake-audio-capture=${wav}`);
    return puppeteer.launch({
      browser: 'chrome',
      executablePath: args.chromiumPath,
      headless: true, // --headless=new
      userDataDir,
      args: flags,
      // Puppeteer mutes headless Chromium by default; the remote audio must be played.
      ignoreDefaultArgs: ['--mute-audio'],
      defaultViewport: { width: 1000, height: 900 },
      pipe: true, // the browser exits by itself if this driver dies
      protocolTimeout: 60_000,
    });
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: args.firefoxPath,
    headless: true,
    userDataDir,
    defaultViewport: { width: 1000, height: 900 },
    protocolTimeout: 60_000,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.peerconnection.ice.loopback': true,
      'media.autoplay.default': 0,
      'media.autoplay.blocking_policy': 0,
      // The fake devices do not count as granted camera access, so Firefox would announce its
      // host candidates as mDNS names (….local) that the server cannot resolve. And Firefox
      // gathers no loopback candidate here and never pairs a loopback with a non-loopback
      // address (nICEr), so it cannot check the server's 127.0.0.1 itself: the connection only
      // forms when the server checks Firefox's real (on-host) address, which it must know.
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      ...(args[side].toneHz ? { 'media.navigator.audio.fake_frequency': args[side].toneHz } : {}),
      ...(args[side].firefoxPrefs ?? {}),
    },
  });
}

async function closeBrowser(browser, label) {
  if (!browser) return;
  const proc = browser.process?.();
  try {
    await Promise.race([browser.close(), sleep(8000).then(() => { throw new Error('close timed out'); })]);
  } catch (err) {
    log(`closing ${label}: ${err.message}; killing it`);
  }
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What the pages show

// Runs in the page. Everything it returns must be JSON-serializable.
async function pageSnapshot() {
  const v = window.vidid;
  const video = document.getElementById('remote-video');
  const out = {
    at: Date.now(),
    state: v?.state ?? null,
    pcState: v?.pcState ?? null,
    iceState: v?.iceState ?? null,
    peerPresent: v?.peerPresent ?? null,
    callId: v?.callId ?? null,
    error: v?.error ?? null,
    statusText: document.getElementById('status')?.textContent ?? null,
    errorText: document.getElementById('error')?.textContent ?? null,
    remoteVideo: video
      ? {
          paused: video.paused,
          muted: video.muted,
          readyState: video.readyState,
          videoWidth: video.videoWidth,
          videoHeight: video.videoHeight,
          currentTime: video.currentTime,
        }
      : null,
    inbound: { audio: null, video: null },
    outbound: { audio: null, video: null },
    transport: null,
  };
  if (!v?.pc || v.pc.signalingState === 'closed') return out;
  const report = await v.pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const codecOf = (s) => {
    const c = s.codecId ? byId.get(s.codecId) : null;
    return c ? c.mimeType ?? null : null;
  };
  const keep = (o, keys) => {
    const r = {};
    for (const k of keys) if (o[k] !== undefined) r[k] = o[k];
    return r;
  };
  for (const s of byId.values()) {
    const kind = s.kind ?? s.mediaType;
    if (s.type === 'inbound-rtp' && (kind === 'audio' || kind === 'video')) {
      const cur = out.inbound[kind];
      if (cur && (cur.bytesReceived ?? 0) >= (s.bytesReceived ?? 0)) continue; // keep the busiest
      out.inbound[kind] = {
        ...keep(s, [
          'ssrc', 'bytesReceived', 'packetsReceived', 'packetsLost', 'jitter', 'totalAudioEnergy',
          'audioLevel', 'totalSamplesDuration', 'totalSamplesReceived', 'concealedSamples',
          'framesDecoded', 'framesReceived', 'framesDropped', 'frameWidth', 'frameHeight', 'keyFramesDecoded',
          'nackCount', 'pliCount', 'firCount', 'decoderImplementation',
        ]),
        codec: codecOf(s),
      };
    } else if (s.type === 'outbound-rtp' && (kind === 'audio' || kind === 'video')) {
      const cur = out.outbound[kind];
      if (cur && (cur.bytesSent ?? 0) >= (s.bytesSent ?? 0)) continue;
      out.outbound[kind] = {
        ...keep(s, ['ssrc', 'bytesSent', 'packetsSent', 'framesEncoded', 'frameWidth', 'frameHeight',
          'nackCount', 'pliCount', 'firCount', 'retransmittedPacketsSent', 'qualityLimitationReason']),
        codec: codecOf(s),
      };
    } else if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) {
      const local = byId.get(s.localCandidateId);
      const remote = byId.get(s.remoteCandidateId);
      out.transport = {
        state: s.state,
        currentRoundTripTime: s.currentRoundTripTime ?? null,
        local: local ? `${local.candidateType ?? local.type} ${local.address ?? local.ip ?? ''}:${local.port ?? ''}/${local.protocol ?? ''}` : null,
        remote: remote ? `${remote.candidateType ?? remote.type} ${remote.address ?? remote.ip ?? ''}:${remote.port ?? ''}/${remote.protocol ?? ''}` : null,
      };
    }
  }
  return out;
}

async function pageEvents(page) {
  try {
    return await page.evaluate(() => (window.vidid ? window.vidid.events.slice(-200) : []));
  } catch (err) {
    return [{ type: 'driver_error', error: String(err) }];
  }
}

// Growth of each counter from the first to the last sample. A stream with no stats in the first
// sample (no packet had arrived yet) grows from zero. Identifiers (ssrc) are left out.
function numericGrowth(first, last) {
  if (!last) return null;
  const g = {};
  for (const [k, v] of Object.entries(last)) {
    if (k === 'ssrc' || typeof v !== 'number') continue;
    g[k] = v - (typeof first?.[k] === 'number' ? first[k] : 0);
  }
  return g;
}

function summarize(samples) {
  if (samples.length === 0) return null;
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    seconds: (last.at - first.at) / 1000,
    first: { inbound: first.inbound, outbound: first.outbound },
    last: { inbound: last.inbound, outbound: last.outbound },
    growth: {
      inbound: {
        audio: numericGrowth(first.inbound.audio, last.inbound.audio),
        video: numericGrowth(first.inbound.video, last.inbound.video),
      },
      outbound: {
        audio: numericGrowth(first.outbound.audio, last.outbound.audio),
        video: numericGrowth(first.outbound.video, last.outbound.video),
      },
    },
    transport: last.transport,
    remoteVideo: last.remoteVideo,
  };
}

// ---------------------------------------------------------------------------------------------
// The run

async function main() {
  const args = parseArgs();
  fs.mkdirSync(args.artifactsDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vidid-browsers-'));
  const sides = Object.fromEntries(
    SIDES.map((s) => [s, { browser: null, page: null, console: [], samples: [], last: null }]),
  );
  const result = {
    event: 'result',
    ok: false,
    error: null,
    artifactsDir: args.artifactsDir,
    timings: {},
    customer: null,
    agent: null,
  };
  let finished = false;

  const saveConsoles = () => {
    for (const side of SIDES) {
      try {
        fs.writeFileSync(path.join(args.artifactsDir, `${side}-console.log`), sides[side].console.join('\n') + '\n');
      } catch {
        /* best effort */
      }
    }
    try {
      fs.writeFileSync(path.join(args.artifactsDir, 'driver.log'), driverLog.join('\n') + '\n');
    } catch {
      /* best effort */
    }
  };

  const screenshotAll = async (suffix) => {
    await Promise.all(
      SIDES.map(async (side) => {
        const page = sides[side].page;
        if (!page) return;
        const file = path.join(args.artifactsDir, `${side}-${suffix}.png`);
        try {
          await Promise.race([page.screenshot({ path: file }), sleep(10_000).then(() => { throw new Error('timed out'); })]);
          log(`screenshot ${file}`);
        } catch (err) {
          log(`screenshot of ${side} failed: ${err.message}`);
        }
      }),
    );
  };

  const collectSides = async () => {
    for (const side of SIDES) {
      const s = sides[side];
      let snapshot = s.last;
      if (s.page) {
        try {
          snapshot = await Promise.race([s.page.evaluate(pageSnapshot), sleep(5000).then(() => null)]) ?? s.last;
        } catch {
          /* page gone */
        }
      }
      if (s.page) {
        try {
          const sdp = await Promise.race([
            s.page.evaluate(() => ({ offer: window.vidid?.localSdp ?? null, answer: window.vidid?.remoteSdp ?? null })),
            sleep(5000).then(() => null),
          ]);
          if (sdp) {
            fs.writeFileSync(
              path.join(args.artifactsDir, `${side}-sdp.txt`),
              `=== offer (${args[side].browser}) ===\n${sdp.offer ?? '(none)'}\n=== answer (server) ===\n${sdp.answer ?? '(none)'}\n`,
            );
          }
        } catch {
          /* page gone */
        }
      }
      result[side] = {
        browser: args[side].browser,
        url: args[side].url,
        state: snapshot?.state ?? null,
        final: snapshot,
        stats: summarize(s.samples),
        samples: s.samples.map((x) => ({ at: x.at, state: x.state, inbound: x.inbound })),
        events: s.page ? await Promise.race([pageEvents(s.page), sleep(5000).then(() => [])]) : [],
        consoleErrors: s.console.filter((l) => l.startsWith('error') || l.startsWith('pageerror')).slice(-50),
      };
    }
  };

  const cleanup = async () => {
    await Promise.all(SIDES.map((side) => closeBrowser(sides[side].browser, side)));
    saveConsoles();
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  };

  const finish = async (error) => {
    if (finished) return;
    finished = true;
    if (error) {
      result.error = error;
      log(`FAILED: ${error}`);
      await screenshotAll('failure');
    }
    await collectSides();
    result.ok = !error;
    result.timings.totalSecs = (Date.now() - started) / 1000;
    await cleanup();
    emit(result);
  };

  const hardTimer = setTimeout(() => {
    log(`overall timeout of ${args.timeoutSecs}s reached`);
    const hardKill = setTimeout(() => {
      for (const side of SIDES) sides[side].browser?.process?.()?.kill('SIGKILL');
      emit({ ...result, ok: false, error: `overall timeout of ${args.timeoutSecs}s (browsers killed)` });
      process.exit(3);
    }, 30_000);
    hardKill.unref();
    finish(`overall timeout of ${args.timeoutSecs}s reached`).then(() => process.exit(3));
  }, args.timeoutSecs * 1000);
  hardTimer.unref();

  try {
    log(`launching ${SIDES.map((s) => `${s}=${args[s].browser}`).join(', ')}`);
    await Promise.all(
      SIDES.map(async (side) => {
        const s = sides[side];
        s.browser = await launch(args[side].browser, side, args, tmp);
        log(`${side}: ${await s.browser.version()}`);
        const pages = await s.browser.pages();
        s.page = pages[0] ?? (await s.browser.newPage());
        if (args[side].hideCandidates) {
          // Replaces every non-empty trickled candidate by nothing; end-of-candidates still goes.
          await s.page.evaluateOnNewDocument(() => {
            const send = WebSocket.prototype.send;
            WebSocket.prototype.send = function (data) {
              try {
                const m = JSON.parse(data);
                if (m && m.type === 'candidate' && m.candidate) return undefined;
              } catch {
                /* not JSON: pass it on */
              }
              return send.call(this, data);
            };
          });
        }
        s.page.on('console', (m) => {
          const line = `${m.type()} ${m.text()}`;
          s.console.push(line);
          process.stderr.write(`[${side} console] ${line}\n`);
        });
        s.page.on('pageerror', (e) => {
          const line = `pageerror ${e?.message ?? e}`;
          s.console.push(line);
          process.stderr.write(`[${side} console] ${line}\n`);
        });
      }),
    );
    result.timings.launchedSecs = (Date.now() - started) / 1000;

    await Promise.all(
      SIDES.map(async (side) => {
        const url = new URL(args[side].url, args.baseUrl).toString();
        log(`${side}: opening ${url.replace(/token=[^&]+/, 'token=…')}`);
        const resp = await sides[side].page.goto(url, { waitUntil: 'load', timeout: 30_000 });
        if (resp && !resp.ok()) throw new Error(`${side} page ${url} answered HTTP ${resp.status()}`);
      }),
    );
    result.timings.loadedSecs = (Date.now() - started) / 1000;

    // Both pages connected (own media up and the other party present)?
    const deadline = Date.now() + args.connectTimeoutSecs * 1000;
    for (;;) {
      const states = {};
      for (const side of SIDES) {
        states[side] = await sides[side].page.evaluate(() => window.vidid?.state ?? null);
        if (states[side] === 'error' || states[side] === 'ended') {
          const why = await sides[side].page.evaluate(() => document.getElementById('error')?.textContent || window.vidid?.state);
          throw new Error(`${side} page reached state "${states[side]}" before connecting: ${why}`);
        }
      }
      if (SIDES.every((side) => states[side] === 'connected')) break;
      if (Date.now() > deadline) {
        throw new Error(`not connected within ${args.connectTimeoutSecs}s: ${JSON.stringify(states)}`);
      }
      await sleep(250);
    }
    result.timings.connectedSecs = (Date.now() - started) / 1000;
    log('both pages report "connected"');
    emit({ event: 'connected', secs: result.timings.connectedSecs });

    const n = Math.max(2, args.samples | 0);
    const interval = (args.durationSecs * 1000) / (n - 1);
    const t0 = Date.now();
    for (let i = 0; i < n; i += 1) {
      const wait = t0 + i * interval - Date.now();
      if (wait > 0) await sleep(wait);
      await Promise.all(
        SIDES.map(async (side) => {
          const snap = await sides[side].page.evaluate(pageSnapshot);
          sides[side].samples.push(snap);
          sides[side].last = snap;
        }),
      );
      const brief = SIDES.map((side) => {
        const x = sides[side].last;
        return `${side}: ${x.state} audio ${x.inbound.audio?.bytesReceived ?? '-'}B video ${x.inbound.video?.framesDecoded ?? '-'}fr`;
      }).join(' | ');
      log(`sample ${i + 1}/${n}: ${brief}`);
    }
    result.timings.sampledSecs = (Date.now() - started) / 1000;
    await screenshotAll('call');
    emit({ event: 'sampled', secs: result.timings.sampledSecs });

    if (args.clickEndCall) {
      await sides.agent.page.click('#end-call');
      log('pressed "End call" on the agent page');
      emit({ event: 'end_clicked' });
    }

    if (args.waitForEnd) {
      const endDeadline = Date.now() + args.endTimeoutSecs * 1000;
      for (;;) {
        const states = {};
        for (const side of SIDES) states[side] = await sides[side].page.evaluate(() => window.vidid?.state ?? null);
        if (SIDES.every((side) => states[side] === 'ended')) break;
        if (Date.now() > endDeadline) {
          throw new Error(`pages did not show "ended" within ${args.endTimeoutSecs}s: ${JSON.stringify(states)}`);
        }
        await sleep(250);
      }
      result.timings.endedSecs = (Date.now() - started) / 1000;
      log('both pages report "ended"');
      await screenshotAll('ended');
    }
    await finish(null);
  } catch (err) {
    await finish(err?.stack ? `${err.message}` : String(err));
  }
  clearTimeout(hardTimer);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`call.mjs: ${err?.stack ?? err}\n`);
    emit({ event: 'result', ok: false, error: String(err?.message ?? err) });
    process.exit(2);
  },
);
