// ui_desktop_stream.test.mjs - the Inspector's Desktop panel streaming over WebRTC
// (web/js/neko.js, docs/desktop.md "Streaming") in headless Chromium against a real desktop:
// the Stream button plays the desktop in a <video> (frames decode), mouse moves, clicks and
// keys on the video reach the desktop through the data channel (the pointer position, and
// text typed into an xterm's `cat`), no screenshots are fetched meanwhile, and switching
// back or stopping the desktop ends the stream on both sides. With a token, the page's
// access_token reaches the signaling socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, annotate } from './lib/server.mjs';
import { launchBrowser, openPage, artifact, chromiumMissing } from './lib/browser.mjs';
import { DESKTOP_ENV, displayNumber } from './lib/desktop.mjs';

const SKIP = chromiumMissing() || false;

async function call(srv, method, p, body) {
  const res = await fetch(srv.baseUrl + p, {
    method,
    headers: { ...(srv.token ? { authorization: `Bearer ${srv.token}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Where a desktop point is on the page: the video's box scaled to the desktop. */
async function videoPoint(page, w, h, x, y) {
  const box = await page.locator('#panel-desktop .dk-view video').boundingBox();
  return { x: box.x + ((x + 0.5) * box.width) / w, y: box.y + ((y + 0.5) * box.height) / h };
}

const decoded = (page) => page.evaluate(() => document.querySelector('#panel-desktop .dk-view video')?.getVideoPlaybackQuality?.().totalVideoFrames || 0);

test('desktop panel: the Stream button plays the desktop over WebRTC; mouse and keys go through the data channel', { skip: SKIP, timeout: 150000 }, async () => {
  const srv = await startServer({ env: DESKTOP_ENV, token: 'ui-stream-token' });
  const browser = await launchBrowser();
  const file = path.join(srv.home, 'streamed.txt');
  try {
    await call(srv, 'POST', '/v1/desktop/start', { width: 800, height: 600, displayNum: displayNumber() });
    const x = await call(srv, 'POST', '/v1/desktop/launch', { app: 'xterm', args: ['-geometry', '70x12+20+20', '-e', 'sh', '-c', `exec cat > '${file}'`], wait: true });
    // The token comes in the address (the Inspector then keeps it for the session).
    const { page, problems } = await openPage(browser, `${srv.baseUrl}/ui/?token=${srv.token}#/desktop`);
    const panel = page.locator('#panel-desktop');
    await panel.locator('.dk-state[data-state=active]').waitFor();

    await panel.locator('#dkStream').click();
    await panel.locator('.dk-streaming', { hasText: 'WebRTC · live' }).waitFor();
    await page.waitForFunction(() => (document.querySelector('#panel-desktop .dk-view video')?.getVideoPlaybackQuality?.().totalVideoFrames || 0) > 5);
    assert.equal(await panel.locator('.dk-view img').isVisible(), false, 'the screenshot view is hidden while streaming');
    const st = await call(srv, 'GET', '/v1/desktop/stream/status');
    assert.equal(st.active, true);
    assert.equal(st.viewers, 1);
    let shots = 0;
    page.on('request', (r) => { if (r.url().includes('/v1/desktop/screenshot')) shots++; });

    // The pointer follows the mouse over the video.
    const p = await videoPoint(page, 800, 600, 400, 450);
    await page.mouse.move(p.x, p.y, { steps: 4 });
    await waitFor(async () => {
      const pos = await call(srv, 'GET', '/v1/desktop/mouse/position');
      return Math.abs(pos.x - 400) <= 2 && Math.abs(pos.y - 450) <= 2;
    }, { what: 'the pointer near 400,450' });

    // A click into the xterm focuses the view; typed keys (shifted ones too) reach its cat.
    const win = (await call(srv, 'GET', '/v1/desktop/windows')).windows.find((w) => w.id === x.windowId);
    const inX = await videoPoint(page, 800, 600, win.x + 60, win.y + 60);
    await page.mouse.click(inX.x, inX.y);
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('dk-view')), true, 'the view has the focus');
    await page.keyboard.type('Stream OK: 42!', { delay: 20 });
    await page.keyboard.press('Enter');
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8') === 'Stream OK: 42!\n', {
      timeoutMs: 20000, what: () => `typed text in ${file}: ${JSON.stringify(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null)}`,
    });
    // Frames keep decoding, and none of this fetched a screenshot.
    const before = await decoded(page);
    await page.waitForFunction((n) => (document.querySelector('#panel-desktop .dk-view video')?.getVideoPlaybackQuality?.().totalVideoFrames || 0) > n + 5, before);
    assert.equal(shots, 0, 'no screenshots while streaming');
    await artifact(page, 'desktop-stream');

    // Back to screenshots: the viewer leaves the stream.
    await panel.locator('#dkStream').click();
    await waitFor(async () => (await call(srv, 'GET', '/v1/desktop/stream/status')).viewers === 0, { what: 'the viewer to leave' });
    await page.waitForFunction(() => document.querySelector('#panel-desktop .dk-view img')?.naturalWidth > 0);

    // Stream again, then stop the desktop from the panel: the stream ends with it.
    await panel.locator('#dkStream').click();
    await panel.locator('.dk-streaming', { hasText: 'WebRTC · live' }).waitFor();
    await panel.locator('#dkStop').click();
    await panel.locator('.dk-state[data-state=inactive]').waitFor();
    assert.equal(await panel.locator('.dk-view video').isVisible(), false);
    assert.deepEqual(await call(srv, 'GET', '/v1/desktop/stream/status'), { active: false });
    assert.deepEqual(problems.filter((m) => !/ERR_CONNECTION|WebSocket/.test(m)), [], 'no console errors');
  } catch (e) {
    throw annotate(e, srv);
  } finally {
    await browser.close();
    await call(srv, 'POST', '/v1/desktop/stop').catch(() => {});
    await srv.stop();
  }
});
