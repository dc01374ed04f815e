// Desktop streaming (http-api.md §10.9, issue 12), part 1 of 3: headless Debian Chromium plays
// the stream through the official SDK's DesktopStreamSession and drives the desktop through it
// (mouse, keyboard into an xterm), the neko protocol on a raw socket, several viewers share one
// encoder, and a viewer that vanishes is cleaned up. Part 2 (desktop_stream_lifecycle): stop,
// desktop stop, threads, options, codecs. Part 3 (desktop_stream_auth): the token, VP9, SIGTERM.
//
// One server with an 800x600 desktop for the file (lib/stream.mjs streamSuite); the tests run
// in order. Every wait is for an event or a state; the timeouts are safety nets.
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

const xdir = () => fs.mkdtempSync(path.join(S.srv.home, 'stream-'));
S.test('stream/start answers active; nothing is encoded until a viewer comes', async () => {
  const s = await S.sdk.startDesktopStream();
  assert.equal(s.active, true);
  assert.equal(s.viewers, 0);
  assert.equal(s.videoCodec, 'vp8');
  assert.equal(s.targetFrameRate, 20);
  assert.equal(s.frameRate, 0);
  assert.equal(s.webrtcPortRange, '59050-59070');
  assert.match(s.audio.reason, /video only/);
  const again = await S.sdk.startDesktopStream();
  assert.equal(again.active, true, 'a second start is a no-op');
  assert.equal((await S.sdk.getDesktopStreamStatus()).active, true);
});

S.test('the signaling socket speaks neko: system/init, then signal/provide with a VP8 offer and a data channel, then candidates', async () => {
  const { ws, rec } = await S.rawSignal();
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
  await waitFor(async () => (await S.sdk.getDesktopStreamStatus()).viewers === 0, { what: 'the viewer to be gone' });
});

S.test('a viewer plays the stream in Chromium through DesktopStreamSession: ready, connected, frames decode, currentTime advances', async () => {
  const w = await S.watcher();
  try {
    assert.deepEqual(w.st.ready, { type: 'ready', width: W, height: H });
    assert.equal(w.st.connected, true);
    assert.equal(w.st.width, W);
    assert.equal(w.st.height, H);
    const t0 = await w.page.evaluate(() => document.getElementById('v').currentTime);
    const f0 = await S.frames(w);
    await w.page.waitForFunction(([t, f]) => document.getElementById('v').currentTime > t + 0.5 && window.st.frames > f + 5, [t0, f0]);
    const s = await S.sdk.getDesktopStreamStatus();
    assert.equal(s.viewers, 1);
    await waitFor(async () => (await S.sdk.getDesktopStreamStatus()).frameRate > 0, { what: 'frameRate > 0 while watched' });
  } finally {
    await w.context.close();
  }
});

S.test('input through the session: the mouse moves, clicks, and keys type into an xterm', async () => {
  const dir = xdir();
  const file = path.join(dir, 'typed.txt');
  const x = await S.sdk.launchDesktopApp({ app: 'xterm', args: ['-geometry', '60x10+10+10', '-e', 'sh', '-c', `exec cat > '${file}'`], wait: true });
  await waitFor(async () => (await S.sdk.listDesktopWindows()).windows.find((win) => win.isActive)?.id === x.windowId, { what: 'the xterm to be active' });
  const w = await S.watcher();
  try {
    await w.page.evaluate(() => window.st.session.moveMouse(321, 234));
    await waitFor(async () => {
      const p = await S.sdk.getDesktopMousePosition();
      return p.x === 321 && p.y === 234;
    }, { what: 'the pointer at 321,234' });
    // Coordinates beyond the screen are clamped to it.
    await w.page.evaluate(([a, b]) => window.st.session.moveMouse(a, b), [W + 500, H + 500]);
    await waitFor(async () => {
      const p = await S.sdk.getDesktopMousePosition();
      return p.x === W - 1 && p.y === H - 1;
    }, { what: 'the pointer clamped to the corner' });
    // Click into the xterm (focus stays there), then type with shifted characters.
    const win = (await S.sdk.listDesktopWindows()).windows.find((v) => v.id === x.windowId);
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
    await S.sdk.stopProcess(x.processId).catch(() => {});
  }
});

S.test('two viewers share one encoder, each decodes; the last to leave stops the encoding', async () => {
  const a = await S.watcher();
  const b = await S.watcher();
  try {
    assert.equal((await S.sdk.getDesktopStreamStatus()).viewers, 2);
    const fa = await S.frames(a);
    const fb = await S.frames(b);
    await S.waitFrames(a, fa);
    await S.waitFrames(b, fb);
  } finally {
    await a.context.close();
  }
  // b still plays after a left.
  await S.waitFrames(b, await S.frames(b));
  await b.context.close();
  await waitFor(async () => {
    const s = await S.sdk.getDesktopStreamStatus();
    return s.viewers === 0 && s.frameRate === 0 && s.cpuPercent === 0;
  }, { what: 'no viewers and no encoding' });
});

S.test('a viewer that vanishes without a goodbye (socket dropped mid-negotiation) is cleaned up', async () => {
  const { ws, rec } = await S.rawSignal();
  await waitFor(() => textFrames(rec).some((m) => m.event === 'system/init'), { what: 'system/init' });
  ws.send(JSON.stringify({ event: 'signal/request', payload: { video: {}, audio: {} } }));
  await waitFor(() => textFrames(rec).some((m) => m.event === 'signal/provide'), { timeoutMs: 20000, what: 'signal/provide' });
  assert.equal((await S.sdk.getDesktopStreamStatus()).viewers, 1);
  ws._socket.destroy(); // no close frame, no FIN handshake of WebSocket: the peer just goes
  await waitFor(async () => (await S.sdk.getDesktopStreamStatus()).viewers === 0, { what: 'the vanished viewer to be removed' });
  // And the stream still serves the next viewer.
  const w = await S.watcher();
  await w.context.close();
});

S.test('neko input as binary frames on the socket moves the pointer too; malformed frames are ignored', async () => {
  const { ws, rec } = await S.rawSignal();
  await waitFor(() => textFrames(rec).some((m) => m.event === 'system/init'), { what: 'system/init' });
  ws.send(Buffer.from([1, 0, 3, 0, 1, 0])); // a MOVE with a short payload: dropped
  ws.send(Buffer.from([9, 0, 0])); // an unknown opcode: skipped
  ws.send(Buffer.from([1, 0, 4, 0x01, 0x2c, 0x00, 0x64])); // MOVE 300,100
  await waitFor(async () => {
    const p = await S.sdk.getDesktopMousePosition();
    return p.x === 300 && p.y === 100;
  }, { what: 'the pointer at 300,100' });
  ws.close();
});

