// stream.mjs - the desktop streaming client of `make bench` (bench/stream.sh runs it against
// our server, whose desktop is started already). Headless Debian Chromium plays the stream
// through the official SDK's DesktopStreamSession, on the page of
// tests/integration/lib/stream.mjs (served on the server's own origin).
//
// Usage: node bench/stream.mjs PORT SERVER_PID DISPLAY XPOINTER COLD_N MOVES GAP_MS CPU_S SETTLE_S MAX_VIEWERS [POLL_US]
//   cold     1 + COLD_N cold starts (the first in the process, which also loads GStreamer, is
//            reported apart as process_*): a page is loaded and ready, then POST /v1/desktop/stream/start
//            and at once window.watch(); the time from just before the POST to the first
//            frame the <video> decodes (requestVideoFrameCallback), with the moments the
//            POST answered and the peer connection connected; then stream/stop (which
//            answers once the pipeline is gone) and the page is closed. Every start is cold:
//            the first viewer builds the pipeline.
//   input    one viewer; once frames decode and the data channel is open, XPOINTER (bench/
//            xpointer.c) watches the pointer of DISPLAY and the page sends MOVES
//            session.moveMouse(x, y) GAP_MS apart, each to a point different from the one
//            before, stamped with performance.timeOrigin + performance.now() just before the
//            send. Latency = the first time xpointer sees the pointer at (x, y) after the
//            stamp - the stamp (both the wall clock, in microseconds).
//   cpu      the server's CPU (utime + stime of /proc/SERVER_PID/stat) over CPU_S seconds with
//            0 viewers (stream started, nobody watching), then 1 .. MAX_VIEWERS; each viewer
//            is added, decodes frames, then SETTLE_S seconds pass before the window; the frames
//            each page decoded in the window give its frames/s. Also Chromium's CPU (every
//            process below this one) and how busy the whole machine was (/proc/stat).
// Output: "key value" lines; "sample KIND VALUE" per sample. Exit status 1 on any failure.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { launchStreamBrowser, openStreamPage } from '../tests/integration/lib/stream.mjs';

const [port, pidArg, display, xpointer, coldN, moves, gapMs, cpuS, settleS, maxViewers, pollUs] = process.argv.slice(2);
const PID = Number(pidArg);
const BASE = `http://127.0.0.1:${port}`;
const WAIT = { timeout: 60000 };
const out = (k, v) => process.stdout.write(`${k} ${v}\n`);
const log = (m) => process.stderr.write(`stream.mjs: ${m}\n`);
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

async function call(method, path) {
  const r = await fetch(BASE + path, { method });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`${method} ${path} -> HTTP ${r.status}: ${body.slice(0, 300)}`);
  return JSON.parse(body);
}
const status = () => call('GET', '/v1/desktop/stream/status');

async function until(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A page watching the stream, once it has decoded `frames` frames. */
async function viewer(browser, frames = 5) {
  const w = await openStreamPage(browser, BASE);
  await w.page.evaluate(() => window.watch(''));
  await w.page.waitForFunction((n) => window.st.frames >= n || window.st.errors.length, frames, WAIT);
  const errors = await w.page.evaluate(() => window.st.errors);
  if (errors.length) throw new Error(`stream errors: ${errors.join('; ')}`);
  return w;
}

const quantile = (xs, q) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? a[Math.max(0, Math.ceil(q * a.length) - 1)] : NaN;
};

async function cold(browser) {
  for (let i = 0; i <= Number(coldN); i++) {
    const w = await openStreamPage(browser, BASE);
    // The page's clock and ours are the same wall clock; its origin is read once.
    const origin = await w.page.evaluate(() => performance.timeOrigin);
    const t0 = nowUs();
    await call('POST', '/v1/desktop/stream/start');
    const tStart = nowUs();
    await w.page.evaluate(() => window.watch(''));
    await w.page.waitForFunction(() => window.st.firstFrameAt || window.st.errors.length, null, WAIT);
    const st = await w.page.evaluate(() => ({ first: window.st.firstFrameAt, conn: window.st.connectedAt, errors: window.st.errors, w: window.st.width, h: window.st.height }));
    if (st.errors.length) throw new Error(`cold start ${i + 1}: stream errors: ${st.errors.join('; ')}`);
    const first = ((origin + st.first) * 1000 - t0) / 1000;
    // The first start in the process also loads GStreamer (dlopen, the plugin registry).
    const kind = i === 0 ? 'process_' : 'sample ';
    out(`${kind}first_frame_ms`, first.toFixed(2));
    out(`${kind}start_reply_ms`, ((tStart - t0) / 1000).toFixed(2));
    if (st.conn) out(`${kind}connected_ms`, (((origin + st.conn) * 1000 - t0) / 1000).toFixed(2));
    out('frame_size', `${st.w}x${st.h}`);
    log(`${i ? 'cold' : 'first'} start ${i}: first frame ${first.toFixed(1)} ms, stream/start answered in ${((tStart - t0) / 1000).toFixed(1)} ms`);
    await call('POST', '/v1/desktop/stream/stop');
    await w.context.close();
    await until('the stream to be inactive', async () => !(await status()).active);
  }
}

let pointerChild = null; // the running xpointer, for the signal handler

/** Spawns xpointer; resolves with { child, moves[] } once it printed "ready". */
function startPointerWatch() {
  const child = spawn(xpointer, [display, String(pollUs || 0), '600'], { stdio: ['ignore', 'pipe', 'inherit'] });
  pointerChild = child;
  const rec = { child, moves: [], tail: {} };
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => { if (!rec.ready) reject(new Error(`xpointer exited ${code} before it was ready`)); });
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      const f = l.split(' ');
      if (f[0] === 'ready') { rec.ready = true; resolve(rec); }
      else if (f[0] === 'move') rec.moves.push({ t: Number(f[1]), x: Number(f[2]), y: Number(f[3]) });
      else rec.tail[f[0]] = Number(f[1]);
    });
  });
}

async function input(browser) {
  await call('POST', '/v1/desktop/stream/start');
  const w = await viewer(browser);
  await w.page.waitForFunction(() => window.st.session.dataChannel && window.st.session.dataChannel.readyState === 'open', null, WAIT);
  const rec = await startPointerWatch();
  const exited = new Promise((r) => rec.child.on('exit', r));
  let sent;
  try {
    // Points on a coarse grid, each different from the one before in both x and y.
    sent = await w.page.evaluate(async ([n, gap]) => {
      const s = window.st.session;
      const stamps = [];
      for (let i = 0; i < n; i++) {
        const x = 100 + ((i * 37) % 1200);
        const y = 100 + ((i * 53) % 700) + (i % 2);
        const t = (performance.timeOrigin + performance.now()) * 1000;
        s.moveMouse(x, y);
        stamps.push([t, x, y]);
        await new Promise((r) => setTimeout(r, gap));
      }
      return stamps;
    }, [Number(moves), Number(gapMs)]);
    // The last move gets its gap too before xpointer stops.
  } finally {
    rec.child.kill('SIGTERM');
    await exited;
  }
  let missed = 0;
  const lat = [];
  let j = 0;
  for (const [t, x, y] of sent) {
    while (j < rec.moves.length && rec.moves[j].t < t) j++;
    let k = j;
    while (k < rec.moves.length && !(rec.moves[k].x === x && rec.moves[k].y === y)) k++;
    if (k === rec.moves.length) { missed++; continue; }
    lat.push(rec.moves[k].t - t);
    j = k;
  }
  for (const v of lat) out('sample input_us', v.toFixed(0));
  out('input_sent', sent.length);
  out('input_missed', missed);
  out('input_pointer_changes', rec.moves.length);
  out('xpointer_polls', rec.tail.polls);
  out('xpointer_poll_us_mean', rec.tail.poll_us_mean);
  log(`input: ${lat.length} of ${sent.length} moves seen, p50 ${quantile(lat, 0.5)} us, p90 ${quantile(lat, 0.9)} us; xpointer sampled every ${rec.tail.poll_us_mean} us`);
  await w.context.close();
  await call('POST', '/v1/desktop/stream/stop');
  await until('the stream to be inactive', async () => !(await status()).active);
}

const HZ = 100; // USER_HZ: /proc/<pid>/stat's clock ticks
function cpuTicks() {
  const s = fs.readFileSync(`/proc/${PID}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

/** utime + stime of every process below ours (Chromium's browser, renderers, GPU and
 *  utility processes), in ticks, by pid. */
function browserTicks() {
  const parent = new Map();
  const ticks = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      ticks.set(Number(d), Number(f[11]) + Number(f[12]));
    } catch { /* gone meanwhile */ }
  }
  const mine = new Map();
  for (const [pid, t] of ticks) {
    for (let p = parent.get(pid); p; p = parent.get(p)) {
      if (p === process.pid) { mine.set(pid, t); break; }
    }
  }
  return mine;
}

/** Ticks used between two browserTicks(): by the processes alive at the end (all of it for
 *  those started meanwhile); one that ended within the window is not counted. */
function ticksBetween(a, b) {
  let sum = 0;
  for (const [pid, t] of b) sum += t - (a.get(pid) || 0);
  return sum;
}

/** [busy, total] jiffies of the whole machine (/proc/stat "cpu" line). */
function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return [total - f[3] - (f[4] || 0), total]; // minus idle and iowait
}

async function cpu(browser) {
  await call('POST', '/v1/desktop/stream/start');
  const pages = [];
  try {
    for (let n = 0; n <= Number(maxViewers); n++) {
      if (n > 0) {
        pages.push(await viewer(browser));
        await until(`${n} viewers in stream/status`, async () => (await status()).viewers === n);
      }
      await new Promise((r) => setTimeout(r, Number(settleS) * 1000));
      const f0 = await Promise.all(pages.map((w) => w.page.evaluate(() => window.st.frames)));
      const c0 = cpuTicks();
      const b0 = browserTicks();
      const m0 = machineTicks();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, Number(cpuS) * 1000));
      const c1 = cpuTicks();
      const b1 = browserTicks();
      const m1 = machineTicks();
      const t1 = performance.now();
      const f1 = await Promise.all(pages.map((w) => w.page.evaluate(() => window.st.frames)));
      const st = await status();
      const secs = (t1 - t0) / 1000;
      const pct = ((c1 - c0) / HZ / secs) * 100;
      const fps = f1.map((v, i) => (v - f0[i]) / secs);
      const bpct = (ticksBetween(b0, b1) / HZ / secs) * 100;
      const busy = ((m1[0] - m0[0]) / (m1[1] - m0[1])) * 100;
      out(`cpu_pct_${n}`, pct.toFixed(1));
      out(`browser_cpu_pct_${n}`, bpct.toFixed(1));
      out(`machine_busy_pct_${n}`, busy.toFixed(0));
      out(`fps_${n}`, fps.length ? fps.map((v) => v.toFixed(1)).join(',') : '-');
      out(`status_fps_${n}`, st.frameRate);
      out(`status_cpu_${n}`, st.cpuPercent);
      out(`status_viewers_${n}`, st.viewers);
      log(`${n} viewers: server CPU ${pct.toFixed(1)}% of a core over ${secs.toFixed(1)} s (Chromium ${bpct.toFixed(1)}%, all cores ${busy.toFixed(0)}% busy); decoded fps ${fps.map((v) => v.toFixed(1)).join(', ') || '-'}; status frameRate ${st.frameRate}, cpuPercent ${st.cpuPercent}`);
    }
  } finally {
    for (const w of pages) await w.context.close();
  }
  await call('POST', '/v1/desktop/stream/stop');
}

const browser = await launchStreamBrowser();
// bench/run.sh stops this client with SIGTERM (or the terminal with SIGINT): Playwright's own
// handler closes Chromium but does not exit, so exit here, with xpointer and Chromium gone.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    if (pointerChild) pointerChild.kill('SIGTERM');
    setTimeout(() => process.exit(143), 3000);
    browser.close().finally(() => process.exit(143));
  });
}
let rc = 0;
try {
  const s = await status();
  if (s.active) await call('POST', '/v1/desktop/stream/stop');
  await cold(browser);
  await input(browser);
  await cpu(browser);
} catch (e) {
  log(`FAILED: ${e.stack || e}`);
  rc = 1;
} finally {
  await browser.close();
}
process.exit(rc);
