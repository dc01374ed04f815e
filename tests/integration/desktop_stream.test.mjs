// Desktop streaming (http-api.md §10.9, issue 12) against a real private desktop: headless
// Debian Chromium plays the stream through the official SDK's DesktopStreamSession and
// drives the desktop through it (mouse, keyboard into an xterm), several viewers share one
// encoder, viewers that vanish are cleaned up, stream/stop and desktop stop end a session,
// the token works in the signaling URL, and the neko protocol holds on a raw socket.
//
// One server and one 800x600 desktop for the file; the tests run in order. Every wait is
// for an event or a state (waitFor, waitForFunction); the timeouts are safety nets.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { startServer, waitFor, annotate } from './lib/server.mjs';
import { request, assertProblem } from './lib/http.mjs';
import { connect } from './lib/sdk.mjs';
import { displayNumber, DESKTOP_ENV } from './lib/desktop.mjs';
import { chromiumMissing } from './lib/browser.mjs';
import { launchStreamBrowser, openStreamPage } from './lib/stream.mjs';
import { TestWebSocket, recorder } from './processes_ws.mjs';

const { before, after } = nodeTest;
const W = 800;
const H = 600;
const SKIP = chromiumMissing();

let srv;
let sdk;
let browser;
let threadsBefore;

/** The server's threads by name (/proc/<pid>/task/<tid>/comm), sorted. */
const threadNames = () => fs.readdirSync(`/proc/${srv.pid}/task`)
  .map((t) => { try { return fs.readFileSync(`/proc/${srv.pid}/task/${t}/comm`, 'utf8').trim(); } catch { return null; } })
  .filter(Boolean).sort();
// Process-wide GStreamer/GLib singletons, created once and kept: the system clock's thread and
// GLib's shared worker pool and main-context thread. Nothing per stream or per viewer.
const GLOBAL_THREADS = new Set(['GstSystemClock', 'pool-sandbox-ag', 'gmain']);

before(async () => {
  if (SKIP) return;
  srv = await startServer({ env: DESKTOP_ENV });
  sdk = await connect(srv);
  try {
    await sdk.startDesktop({ width: W, height: H, displayNum: displayNumber(), streamFrameRate: 20 });
  } catch (e) {
    throw annotate(e, srv);
  }
  browser = await launchStreamBrowser();
});

after(async () => {
  try {
    if (browser) await browser.close();
    if (sdk) {
      const s = await sdk.getDesktopStatus();
      if (s.state === 'active' || s.state === 'failed') await sdk.stopDesktop();
      await sdk.dispose();
    }
  } finally {
    if (srv) await srv.stop();
  }
});

function test(name, fn) {
  return nodeTest.test(name, { timeout: 90000, skip: SKIP || false }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      throw annotate(e, srv);
    }
  });
}

/** A page watching the stream; resolves once video frames decode. */
async function watcher(token) {
  const w = await openStreamPage(browser, srv.baseUrl);
  await w.page.evaluate((t) => window.watch(t), token || '');
  await w.page.waitForFunction(() => window.st.frames >= 5 || window.st.errors.length);
  const st = await w.page.evaluate(() => ({ errors: window.st.errors, ready: window.st.ready, connected: window.st.connected, width: window.st.width, height: window.st.height }));
  assert.deepEqual(st.errors, [], 'no stream errors');
  return { ...w, st };
}

const frames = (w) => w.page.evaluate(() => window.st.frames);

/** A raw signaling socket (what a browser would send, without the browser). */
async function rawSignal(base = srv, query = '') {
  const ws = new TestWebSocket(`ws://127.0.0.1:${base.port}/v1/desktop/stream/signaling${query}`);
  const rec = recorder(ws);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  return { ws, rec };
}

const textFrames = (rec) => rec.controls();

const xdir = () => fs.mkdtempSync(path.join(srv.home, 'stream-'));

test('stream/start answers active; nothing is encoded until a viewer comes', async () => {
  threadsBefore = threadNames();
  const s = await sdk.startDesktopStream();
  assert.equal(s.active, true);
  assert.equal(s.viewers, 0);
  assert.equal(s.videoCodec, 'vp8');
  assert.equal(s.targetFrameRate, 20);
  assert.equal(s.frameRate, 0);
  assert.equal(s.webrtcPortRange, '59050-59070');
  assert.match(s.audio.reason, /video only/);
  const again = await sdk.startDesktopStream();
  assert.equal(again.active, true, 'a second start is a no-op');
  assert.equal((await sdk.getDesktopStreamStatus()).active, true);
});

test('the signaling socket speaks neko: system/init, then signal/provide with a VP8 offer and a data channel, then candidates', async () => {
  const { ws, rec } = await rawSignal();
  await waitFor(() => textFrames(rec).some((m) => m.event === 'system/init'), { what: 'system/init' });
  const init = textFrames(rec).find((m) => m.event === 'system/init');
  assert.deepEqual(init.payload.screen_size, { width: W, height: H, rate: 20 });
  ws.send(JSON.stringify({ event: 'control/request', payload: {} }));
  ws.send(JSON.stringify({ event: 'signal/request', payload: { video: {}, audio: {} } }));
  await waitFor(() => textFrames(rec).some((m) => m.event === 'signal/provide'), { timeoutMs: 20000, what: 'signal/provide' });
  const offer = textFrames(rec).find((m) => m.event === 'signal/provide').payload;
  assert.deepEqual(offer.iceservers, []);
  assert.match(offer.sdp, /^v=0/);
  assert.match(offer.sdp, /m=video .*\r\n/);
  assert.match(offer.sdp, /a=rtpmap:96 VP8\/90000/);
  assert.match(offer.sdp, /a=sendonly/);
  assert.match(offer.sdp, /m=application .*webrtc-datachannel/);
  await waitFor(() => textFrames(rec).some((m) => m.event === 'signal/candidate'), { timeoutMs: 20000, what: 'a candidate' });
  const c = textFrames(rec).find((m) => m.event === 'signal/candidate').payload;
  assert.equal(typeof c.candidate, 'string');
  assert.equal(c.sdpMLineIndex, 0);
  assert.equal(c.sdpMid, 'video0');
  // UDP host candidates use the port range.
  for (const m of textFrames(rec).filter((f) => f.event === 'signal/candidate')) {
    const parts = m.payload.candidate.split(' ');
    if (parts[2].toLowerCase() === 'udp' && parts[7] === 'host') {
      const port = Number(parts[5]);
      assert.ok(port >= 59050 && port <= 59070, `candidate port ${port} in 59050-59070`);
    }
  }
  ws.close();
  await waitFor(async () => (await sdk.getDesktopStreamStatus()).viewers === 0, { what: 'the viewer to be gone' });
});

test('a viewer plays the stream in Chromium through DesktopStreamSession: ready, connected, frames decode, currentTime advances', async () => {
  const w = await watcher();
  try {
    assert.deepEqual(w.st.ready, { type: 'ready', width: W, height: H });
    assert.equal(w.st.connected, true);
    assert.equal(w.st.width, W);
    assert.equal(w.st.height, H);
    const t0 = await w.page.evaluate(() => document.getElementById('v').currentTime);
    const f0 = await frames(w);
    await w.page.waitForFunction(([t, f]) => document.getElementById('v').currentTime > t + 0.5 && window.st.frames > f + 5, [t0, f0]);
    const s = await sdk.getDesktopStreamStatus();
    assert.equal(s.viewers, 1);
    await waitFor(async () => (await sdk.getDesktopStreamStatus()).frameRate > 0, { what: 'frameRate > 0 while watched' });
  } finally {
    await w.context.close();
  }
});

test('input through the session: the mouse moves, clicks, and keys type into an xterm', async () => {
  const dir = xdir();
  const file = path.join(dir, 'typed.txt');
  const x = await sdk.launchDesktopApp({ app: 'xterm', args: ['-geometry', '60x10+10+10', '-e', 'sh', '-c', `exec cat > '${file}'`], wait: true });
  await waitFor(async () => (await sdk.listDesktopWindows()).windows.find((win) => win.isActive)?.id === x.windowId, { what: 'the xterm to be active' });
  const w = await watcher();
  try {
    await w.page.evaluate(() => window.st.session.moveMouse(321, 234));
    await waitFor(async () => {
      const p = await sdk.getDesktopMousePosition();
      return p.x === 321 && p.y === 234;
    }, { what: 'the pointer at 321,234' });
    // Coordinates beyond the screen are clamped to it.
    await w.page.evaluate(([a, b]) => window.st.session.moveMouse(a, b), [W + 500, H + 500]);
    await waitFor(async () => {
      const p = await sdk.getDesktopMousePosition();
      return p.x === W - 1 && p.y === H - 1;
    }, { what: 'the pointer clamped to the corner' });
    // Click into the xterm (focus stays there), then type with shifted characters.
    const win = (await sdk.listDesktopWindows()).windows.find((v) => v.id === x.windowId);
    await w.page.evaluate(([a, b]) => { window.st.session.mouseDown('left', a, b); window.st.session.mouseUp('left', a, b); }, [win.x + 40, win.y + 40]);
    await w.page.evaluate(() => {
      for (const k of ['H', 'i', ' ', 't', 'h', 'e', 'r', 'e', '!', 'Enter']) {
        window.st.session.keyDown(k);
        window.st.session.keyUp(k);
      }
    });
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8') === 'Hi there!\n', {
      timeoutMs: 15000, what: () => `${file} to hold the typed line (it has ${JSON.stringify(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null)})`,
    });
  } finally {
    await w.context.close();
    await sdk.stopProcess(x.processId).catch(() => {});
  }
});

test('two viewers share one encoder, each decodes; the last to leave stops the encoding', async () => {
  const a = await watcher();
  const b = await watcher();
  try {
    assert.equal((await sdk.getDesktopStreamStatus()).viewers, 2);
    const fa = await frames(a);
    const fb = await frames(b);
    await a.page.waitForFunction((f) => window.st.frames > f + 5, fa);
    await b.page.waitForFunction((f) => window.st.frames > f + 5, fb);
  } finally {
    await a.context.close();
  }
  // b still plays after a left.
  const fb = await frames(b);
  await b.page.waitForFunction((f) => window.st.frames > f + 5, fb);
  await b.context.close();
  await waitFor(async () => {
    const s = await sdk.getDesktopStreamStatus();
    return s.viewers === 0 && s.frameRate === 0 && s.cpuPercent === 0;
  }, { what: 'no viewers and no encoding' });
});

test('a viewer that vanishes without a goodbye (socket dropped mid-negotiation) is cleaned up', async () => {
  const { ws, rec } = await rawSignal();
  await waitFor(() => textFrames(rec).some((m) => m.event === 'system/init'), { what: 'system/init' });
  ws.send(JSON.stringify({ event: 'signal/request', payload: { video: {}, audio: {} } }));
  await waitFor(() => textFrames(rec).some((m) => m.event === 'signal/provide'), { timeoutMs: 20000, what: 'signal/provide' });
  assert.equal((await sdk.getDesktopStreamStatus()).viewers, 1);
  ws._socket.destroy(); // no close frame, no FIN handshake of WebSocket: the peer just goes
  await waitFor(async () => (await sdk.getDesktopStreamStatus()).viewers === 0, { what: 'the vanished viewer to be removed' });
  // And the stream still serves the next viewer.
  const w = await watcher();
  await w.context.close();
});

test('neko input as binary frames on the socket moves the pointer too; malformed frames are ignored', async () => {
  const { ws, rec } = await rawSignal();
  await waitFor(() => textFrames(rec).some((m) => m.event === 'system/init'), { what: 'system/init' });
  ws.send(Buffer.from([1, 0, 3, 0, 1, 0])); // a MOVE with a short payload: dropped
  ws.send(Buffer.from([9, 0, 0])); // an unknown opcode: skipped
  ws.send(Buffer.from([1, 0, 4, 0x01, 0x2c, 0x00, 0x64])); // MOVE 300,100
  await waitFor(async () => {
    const p = await sdk.getDesktopMousePosition();
    return p.x === 300 && p.y === 100;
  }, { what: 'the pointer at 300,100' });
  ws.close();
});

test('stream/stop during a session: the viewer is told and disconnected; signaling answers 409', async () => {
  const w = await watcher();
  const s = await sdk.stopDesktopStream();
  assert.deepEqual(s, { active: false });
  await w.page.waitForFunction(() => window.st.errors.length > 0);
  assert.deepEqual(await w.page.evaluate(() => window.st.errors), ['The desktop stream was stopped.']);
  const url = new URL(sdk.buildDesktopStreamWebSocketUrl());
  const sig = assertProblem(await request(srv, 'GET', url.pathname + url.search), 409, 'conflict');
  assert.equal(sig.detail, 'conflict: desktop streaming is not active');
  await w.context.close();
  // Every viewer came and went and the stream is stopped: no thread of it is left (webrtcbin's
  // ICE and peer-connection threads, the encoder's, the capture's, the branches' queues).
  await waitFor(() => {
    const extra = [...threadNames()];
    for (const t of threadsBefore) {
      const i = extra.indexOf(t);
      if (i >= 0) extra.splice(i, 1);
    }
    return extra.every((t) => GLOBAL_THREADS.has(t));
    // GStreamer's task pool keeps an idle streaming thread up to 15 s before it exits.
  }, { timeoutMs: 40000, what: () => `only global threads beyond those before the stream: before ${threadsBefore}, now ${threadNames()}` });
  // It starts again.
  assert.equal((await sdk.startDesktopStream()).active, true);
});

test('desktop stop during a session ends the stream, and nothing of it is left running', async () => {
  const w = await watcher();
  await sdk.stopDesktop();
  await w.page.waitForFunction(() => window.st.errors.length > 0);
  assert.deepEqual(await w.page.evaluate(() => window.st.errors), ['The desktop was stopped.']);
  assert.deepEqual(await sdk.getDesktopStreamStatus(), { active: false });
  await w.context.close();
  const p = await sdkProblemOrStatus(() => sdk.startDesktopStream());
  assert.equal(p.status, 409, 'stream/start needs an active desktop');
  await sdk.startDesktop({ width: W, height: H, displayNum: displayNumber(), streamFrameRate: 20 });
});

async function sdkProblemOrStatus(fn) {
  try {
    return await fn();
  } catch (e) {
    return { status: e.status, ...(e.problem || {}) };
  }
}

test('start options: an unknown codec or a bad port range is 400', async () => {
  for (const body of [{ streamVideoCodec: 'av1' }, { streamAudioCodec: 'mp3' }, { webrtcPortRange: '70000-70010' },
    { webrtcPortRange: '59070-59050' }, { webrtcPortRange: 'x' }]) {
    const res = await request(srv, 'POST', '/v1/desktop/start', { body });
    assertProblem(res, 400, 'desktop_invalid_action', JSON.stringify(body));
  }
});

test('h264 without x264enc (gstreamer1.0-plugins-ugly): stream/start is 503 and names the package', async () => {
  if (fs.existsSync('/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so')) return; // installed: nothing to check
  await sdk.stopDesktopStream();
  await sdk.stopDesktop();
  await sdk.startDesktop({ width: W, height: H, displayNum: displayNumber(), streamVideoCodec: 'h264' });
  const res = await request(srv, 'POST', '/v1/desktop/stream/start');
  const p = assertProblem(res, 503, 'desktop_dependencies_missing');
  assert.match(p.detail, /x264enc \(gstreamer1\.0-plugins-ugly\)/);
  assert.deepEqual(await sdk.getDesktopStreamStatus(), { active: false });
  await sdk.stopDesktop();
  await sdk.startDesktop({ width: W, height: H, displayNum: displayNumber() });
});

test('a server stopped (SIGTERM) while a viewer watches exits cleanly, leaving no desktop process', async () => {
  const own = await startServer({ env: DESKTOP_ENV });
  try {
    const osdk = await connect(own);
    await osdk.startDesktop({ width: 640, height: 480, displayNum: displayNumber() });
    await osdk.startDesktopStream();
    const w = await openStreamPage(browser, own.baseUrl);
    await w.page.evaluate(() => window.watch(''));
    await w.page.waitForFunction(() => window.st.frames >= 5 || window.st.errors.length);
    const pids = (await osdk.getDesktopStatus()).processes.map((p) => p.pid).filter(Boolean);
    await osdk.dispose();
    await own.stop(); // SIGTERM; asserts exit code 0 (and no sanitizer report under make asan)
    await waitFor(() => pids.every((pid) => !fs.existsSync(`/proc/${pid}`)), { what: `desktop processes ${pids} gone` });
    await w.page.waitForFunction(() => window.st.errors.length > 0 || window.st.disconnected);
    await w.context.close();
  } catch (e) {
    throw annotate(e, own);
  }
});

nodeTest.describe('with a token', () => {
  let tsrv;
  let tsdk;
  before(async () => {
    if (SKIP) return;
    tsrv = await startServer({ env: DESKTOP_ENV, token: 'stream-secret' });
    tsdk = await connect(tsrv);
    await tsdk.startDesktop({ width: 640, height: 480, displayNum: displayNumber(), webrtcPortRange: '59100-59110', streamVideoCodec: 'vp9' });
    await tsdk.startDesktopStream();
  });
  after(async () => {
    if (tsdk) {
      await tsdk.stopDesktop().catch(() => {});
      await tsdk.dispose();
    }
    if (tsrv) await tsrv.stop();
  });

  nodeTest.test('the SDK puts access_token in the signaling URL and the stream plays (VP9 here); without it 401', { timeout: 90000, skip: SKIP || false }, async () => {
    try {
      const url = new URL(tsdk.buildDesktopStreamWebSocketUrl());
      assert.equal(url.searchParams.get('access_token'), 'stream-secret');
      const res = await request(tsrv, 'GET', url.pathname, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }, token: '' });
      assert.equal(res.status, 401);
      const w = await openStreamPage(browser, tsrv.baseUrl);
      await w.page.evaluate(() => window.watch('stream-secret'));
      await w.page.waitForFunction(() => window.st.frames >= 5 || window.st.errors.length);
      assert.deepEqual(await w.page.evaluate(() => window.st.errors), []);
      assert.deepEqual(await w.page.evaluate(() => [window.st.width, window.st.height]), [640, 480]);
      const status = await tsdk.getDesktopStreamStatus();
      assert.equal(status.webrtcPortRange, '59100-59110');
      assert.equal(status.videoCodec, 'vp9');
      await w.context.close();
    } catch (e) {
      throw annotate(e, tsrv);
    }
  });
});
