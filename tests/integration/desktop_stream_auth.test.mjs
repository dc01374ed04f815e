// Desktop streaming, part 3 of 3 (part 1: desktop_stream.test.mjs): the SDK's access_token in
// the signaling URL on a server with a token (the stream plays, VP9 here; without it 401), and
// a server stopped while a viewer watches.
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

S.test('a server stopped (SIGTERM) while a viewer watches exits cleanly, leaving no desktop process', async () => {
  const own = await startServer({ env: DESKTOP_ENV });
  try {
    const osdk = await connect(own);
    await osdk.startDesktop({ width: 640, height: 480, displayNum: displayNumber() });
    await osdk.startDesktopStream();
    const w = await openStreamPage(S.browser, own.baseUrl);
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
    if (S.SKIP) return;
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

  nodeTest.test('the SDK puts access_token in the signaling URL and the stream plays (VP9 here); without it 401', { timeout: 90000, skip: S.SKIP || false }, async () => {
    try {
      const url = new URL(tsdk.buildDesktopStreamWebSocketUrl());
      assert.equal(url.searchParams.get('access_token'), 'stream-secret');
      const res = await request(tsrv, 'GET', url.pathname, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }, token: '' });
      assert.equal(res.status, 401);
      const w = await openStreamPage(S.browser, tsrv.baseUrl);
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
