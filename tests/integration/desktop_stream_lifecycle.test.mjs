// Desktop streaming, part 2 of 3 (part 1: desktop_stream.test.mjs): stream/stop and desktop
// stop during a session, no thread of the stream left once it stopped, the start options'
// validation, and H.264 without its encoder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { startServer, waitFor, annotate } from './lib/server.mjs';
import { request, assertProblem } from './lib/http.mjs';
import { connect } from './lib/sdk.mjs';
import { displayNumber, DESKTOP_ENV } from './lib/desktop.mjs';
import { openStreamPage, streamSuite } from './lib/stream.mjs';

const S = streamSuite(nodeTest);
const { W, H } = S;
const { before, after } = nodeTest;
const textFrames = (rec) => rec.controls();
let threadsBefore;
// Process-wide GStreamer/GLib singletons, created once and kept: the system clock's thread and
// GLib's shared worker pool and main-context thread. Nothing per stream or per viewer.
const GLOBAL_THREADS = new Set(['GstSystemClock', 'pool-sandbox-ag', 'gmain']);

S.test('stream/start, and a viewer that comes and goes', async () => {
  threadsBefore = S.threadNames();
  assert.equal((await S.sdk.startDesktopStream()).active, true);
  const w = await S.watcher();
  await w.context.close();
  await waitFor(async () => (await S.sdk.getDesktopStreamStatus()).viewers === 0, { what: 'the viewer to be gone' });
});

S.test('stream/stop during a session: the viewer is told and disconnected; signaling answers 409', async () => {
  const w = await S.watcher();
  const s = await S.sdk.stopDesktopStream();
  assert.deepEqual(s, { active: false });
  await w.page.waitForFunction(() => window.st.errors.length > 0);
  assert.deepEqual(await w.page.evaluate(() => window.st.errors), ['The desktop stream was stopped.']);
  const url = new URL(S.sdk.buildDesktopStreamWebSocketUrl());
  const sig = assertProblem(await request(S.srv, 'GET', url.pathname + url.search), 409, 'conflict');
  assert.equal(sig.detail, 'conflict: desktop streaming is not active');
  await w.context.close();
  // Every viewer came and went and the stream is stopped: no thread of it is left (webrtcbin's
  // ICE and peer-connection threads, the encoder's, the capture's, the branches' queues).
  await waitFor(() => {
    const extra = [...S.threadNames()];
    for (const t of threadsBefore) {
      const i = extra.indexOf(t);
      if (i >= 0) extra.splice(i, 1);
    }
    return extra.every((t) => GLOBAL_THREADS.has(t));
    // GLib keeps an idle pool thread (GStreamer streaming threads) 2 s (set in stream.c).
  }, { timeoutMs: 20000, what: () => `only global threads beyond those before the stream: before ${threadsBefore}, now ${S.threadNames()}` });
  // It starts again.
  assert.equal((await S.sdk.startDesktopStream()).active, true);
});

S.test('desktop stop during a session ends the stream, and nothing of it is left running', async () => {
  const w = await S.watcher();
  await S.sdk.stopDesktop();
  await w.page.waitForFunction(() => window.st.errors.length > 0);
  assert.deepEqual(await w.page.evaluate(() => window.st.errors), ['The desktop was stopped.']);
  assert.deepEqual(await S.sdk.getDesktopStreamStatus(), { active: false });
  await w.context.close();
  const p = await sdkProblemOrStatus(() => S.sdk.startDesktopStream());
  assert.equal(p.status, 409, 'stream/start needs an active desktop');
  await S.sdk.startDesktop({ width: W, height: H, displayNum: displayNumber(), streamFrameRate: 20 });
});

async function sdkProblemOrStatus(fn) {
  try {
    return await fn();
  } catch (e) {
    return { status: e.status, ...(e.problem || {}) };
  }
}

S.test('start options: an unknown codec or a bad port range is 400', async () => {
  for (const body of [{ streamVideoCodec: 'av1' }, { streamAudioCodec: 'mp3' }, { webrtcPortRange: '70000-70010' },
    { webrtcPortRange: '59070-59050' }, { webrtcPortRange: 'x' }]) {
    const res = await request(S.srv, 'POST', '/v1/desktop/start', { body });
    assertProblem(res, 400, 'desktop_invalid_action', JSON.stringify(body));
  }
});

S.test('h264 without x264enc (gstreamer1.0-plugins-ugly): stream/start is 503 and names the package', async () => {
  if (fs.existsSync('/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so')) return; // installed: nothing to check
  await S.sdk.stopDesktopStream();
  await S.sdk.stopDesktop();
  await S.sdk.startDesktop({ width: W, height: H, displayNum: displayNumber(), streamVideoCodec: 'h264' });
  const res = await request(S.srv, 'POST', '/v1/desktop/stream/start');
  const p = assertProblem(res, 503, 'desktop_dependencies_missing');
  assert.match(p.detail, /x264enc \(gstreamer1\.0-plugins-ugly\)/);
  assert.deepEqual(await S.sdk.getDesktopStreamStatus(), { active: false });
  await S.sdk.stopDesktop();
  await S.sdk.startDesktop({ width: W, height: H, displayNum: displayNumber() });
});

