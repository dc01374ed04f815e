// stream.mjs - a browser page that watches the desktop through the official SDK's
// DesktopStreamSession (sandbox-agent@0.4.2), for the streaming tests and the benchmark.
//
// The page lives on the server's own origin (http://127.0.0.1:<port>/__stream/...), so the SDK
// talks to the server same-origin, as an app served next to it would. Playwright answers the
// /__stream/ paths from tests/node_modules: the SDK's ES modules and their dependencies,
// resolved with an import map. Everything else goes to the server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, startServer, annotate } from './server.mjs';
import { CHROMIUM, CHROMIUM_ARGS, loadPlaywright, chromiumMissing } from './browser.mjs';
import { connect } from './sdk.mjs';
import { displayNumber, DESKTOP_ENV } from './desktop.mjs';
import { TestWebSocket, recorder } from '../processes_ws.mjs';

const MODULES = path.join(REPO, 'tests', 'node_modules');
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html' };

const IMPORTS = {
  'sandbox-agent': '/__stream/m/sandbox-agent/dist/index.js',
  'acp-http-client': '/__stream/m/acp-http-client/dist/index.js',
  '@agentclientprotocol/sdk': '/__stream/m/@agentclientprotocol/sdk/dist/acp.js',
  ...exportsOf('zod'),
};

/** Import-map entries for a package's "exports" (its ESM entry points). */
function exportsOf(name) {
  const pkg = JSON.parse(fs.readFileSync(path.join(MODULES, name, 'package.json'), 'utf8'));
  const out = {};
  for (const [key, v] of Object.entries(pkg.exports || {})) {
    const target = typeof v === 'string' ? v : v && (v.import || v.default);
    if (typeof target !== 'string' || key.includes('*')) continue;
    out[key === '.' ? name : `${name}/${key.slice(2)}`] = `/__stream/m/${name}/${target.replace(/^\.\//, '')}`;
  }
  return out;
}

// The page: window.watch(token) connects, plays the stream in a <video>, counts decoded
// frames, and keeps the session in window.st for the test to drive.
const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script></head>
<body style="margin:0;background:#000"><video id="v" autoplay muted playsinline style="width:640px"></video>
<script type="module">
import { SandboxAgent } from 'sandbox-agent';
window.st = { frames: 0, ready: null, connected: false, disconnected: false, errors: [], closed: false };
window.watch = async (token) => {
  const sdk = await SandboxAgent.connect({ baseUrl: location.origin, token: token || undefined });
  const s = sdk.connectDesktopStream();
  const st = window.st;
  st.session = s;
  st.startedAt = performance.now();
  const v = document.getElementById('v');
  s.onReady((r) => { st.ready = r; });
  s.onTrack((stream) => { v.srcObject = stream; v.play().catch(() => {}); });
  s.onConnect(() => { st.connected = true; st.connectedAt = performance.now(); });
  s.onDisconnect(() => { st.disconnected = true; });
  s.onError((e) => { st.errors.push(String(e && e.message || e)); });
  s.onClose && s.onClose(() => { st.closed = true; });
  const count = (now, meta) => {
    st.frames++;
    if (!st.firstFrameAt) st.firstFrameAt = performance.now();
    st.width = meta.width; st.height = meta.height;
    v.requestVideoFrameCallback(count);
  };
  v.requestVideoFrameCallback(count);
  return true;
};
// What a test prints when frames do not come: the session's state and the peer
// connection's inbound video statistics.
window.diag = async () => {
  const st = window.st;
  const pc = st.session && st.session.pc;
  const out = { frames: st.frames, ready: !!st.ready, connected: st.connected, disconnected: st.disconnected,
    closed: st.closed, errors: st.errors, sinceStartMs: st.startedAt ? Math.round(performance.now() - st.startedAt) : null };
  if (pc) {
    out.connectionState = pc.connectionState;
    out.iceConnectionState = pc.iceConnectionState;
    out.signalingState = pc.signalingState;
    for (const r of (await pc.getStats()).values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        for (const k of ['packetsReceived', 'packetsLost', 'framesReceived', 'framesDecoded', 'keyFramesDecoded', 'framesDropped', 'pliCount', 'firCount', 'nackCount', 'jitterBufferDelay']) out[k] = r[k];
      }
      if (r.type === 'candidate-pair' && r.nominated) out.pair = r.state;
    }
  }
  return out;
};
window.ready = true;
</script></body></html>`;

/** Answers the page and the SDK's modules on origin (the server's base URL). */
export async function routeStreamPage(context, origin) {
  await context.route(`${origin}/__stream/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/__stream/page.html') {
      return route.fulfill({ status: 200, contentType: 'text/html', body: PAGE });
    }
    const rel = decodeURIComponent(url.pathname.slice('/__stream/m/'.length));
    const file = path.join(MODULES, rel);
    if (!file.startsWith(MODULES) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      return route.fulfill({ status: 404, body: 'not found' });
    }
    return route.fulfill({ status: 200, contentType: TYPES[path.extname(file)] || 'application/octet-stream', body: fs.readFileSync(file) });
  });
}

/** Chromium for the stream pages. A page Playwright answers has no address space of its own,
 *  so Chromium's Local Network Access checks would block its WebSocket to 127.0.0.1: they are
 *  turned off (a page really served by the server is not affected). */
export async function launchStreamBrowser() {
  const { chromium } = loadPlaywright();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, '--disable-features=LocalNetworkAccessChecks', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** A new page on the server's origin with the SDK loaded; returns { page, context }. */
export async function openStreamPage(browser, origin) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  await routeStreamPage(context, origin);
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  if (process.env.STREAM_DEBUG) { page.on('console', (m) => console.log('console:', m.text())); page.on('requestfailed', (r) => console.log('reqfail', r.url())); page.on('response', (r) => { if (r.status() >= 400) console.log('resp', r.status(), r.url()); }); }
  await page.goto(`${origin}/__stream/page.html`);
  await page.waitForFunction(() => window.ready === true);
  return { page, context, problems };
}


/**
 * The shared setup of a streaming test file: one server with an 800x600 desktop
 * (streamFrameRate 20) and one Chromium, made in before() and stopped in after(). Returns
 * S: S.srv, S.sdk, S.browser once set up; S.test(name, fn) (skipped without Chromium, the
 * server's log on failure); S.watcher(token) a page playing the stream; S.rawSignal() a raw
 * signaling socket; S.threadNames() the server's threads by name.
 */
export function streamSuite(nodeTest, { W = 800, H = 600 } = {}) {
  const SKIP = chromiumMissing();
  const S = { W, H, SKIP, srv: null, sdk: null, browser: null };
  nodeTest.before(async () => {
    if (SKIP) return;
    S.srv = await startServer({ env: DESKTOP_ENV });
    S.sdk = await connect(S.srv);
    try {
      await S.sdk.startDesktop({ width: W, height: H, displayNum: displayNumber(), streamFrameRate: 20 });
    } catch (e) {
      throw annotate(e, S.srv);
    }
    S.browser = await launchStreamBrowser();
  });
  nodeTest.after(async () => {
    try {
      if (S.browser) await S.browser.close();
      if (S.sdk) {
        const s = await S.sdk.getDesktopStatus();
        if (s.state === 'active' || s.state === 'failed') await S.sdk.stopDesktop();
        await S.sdk.dispose();
      }
    } finally {
      if (S.srv) await S.srv.stop();
    }
  });
  S.test = (name, fn) => nodeTest.test(name, { timeout: 90000, skip: SKIP || false }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      throw annotate(e, S.srv);
    }
  });
  S.watcher = async (token, srv = S.srv) => {
    const w = await openStreamPage(S.browser, srv.baseUrl);
    await w.page.evaluate((t) => window.watch(t), token || '');
    await S.waitFrames(w, 0, srv, () => window.st.frames >= 5 || window.st.errors.length);
    const st = await w.page.evaluate(() => ({ errors: window.st.errors, ready: window.st.ready, connected: window.st.connected, width: window.st.width, height: window.st.height }));
    assert.deepEqual(st.errors, [], 'no stream errors');
    return { ...w, st };
  };
  S.frames = (w) => w.page.evaluate(() => window.st.frames);
  /** Waits until the page has decoded more than `after` + 5 frames (or for pred); on a
   *  timeout the error carries the page's diag() and the stream's status. */
  S.waitFrames = async (w, after, srv = S.srv, pred = (f) => window.st.frames > f + 5) => {
    try {
      await w.page.waitForFunction(pred, after);
    } catch (e) {
      const diag = await w.page.evaluate(() => window.diag()).catch((x) => `diag failed: ${x.message}`);
      const status = await fetch(`${srv.baseUrl}/v1/desktop/stream/status`).then((r) => r.text()).catch((x) => x.message);
      if (process.env.STREAM_GDB) {
        const { execFileSync } = await import('node:child_process');
        try {
          fs.writeFileSync(`/tmp/stream-hang-${srv.pid}.txt`, execFileSync('gdb', ['-p', String(srv.pid), '-batch', '-ex', 'thread apply all bt'], { encoding: 'utf8', timeout: 60000 }));
        } catch (x) { fs.writeFileSync(`/tmp/stream-hang-${srv.pid}.txt`, String(x)); }
      }
      e.message += `\npage: ${JSON.stringify(diag)}\nstream/status: ${status}`;
      throw e;
    }
  };
  S.rawSignal = async (srv = S.srv) => {
    const ws = new TestWebSocket(`ws://127.0.0.1:${srv.port}/v1/desktop/stream/signaling`);
    const rec = recorder(ws);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', reject, { once: true });
    });
    return { ws, rec };
  };
  S.threadNames = () => fs.readdirSync(`/proc/${S.srv.pid}/task`)
    .map((t) => { try { return fs.readFileSync(`/proc/${S.srv.pid}/task/${t}/comm`, 'utf8').trim(); } catch { return null; } })
    .filter(Boolean).sort();
  return S;
}

