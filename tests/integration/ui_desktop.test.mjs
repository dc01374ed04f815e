// ui_desktop.test.mjs - the Inspector's Desktop panel (web/js/panels/desktop.js) in headless
// Chromium against a real server and a real private desktop (Xvfb + openbox, http-api.md
// §10): start from the panel, the live view shows the screen, launching an app, the window
// list's focus button, clicks and typing into the view reaching an xterm (checked through
// the file its `cat` writes), a 2 s recording listed, downloaded and deleted, the frame loop
// stopping while the panel is hidden, stop from the panel, and no process left behind.
// Skipped only without Chromium: the desktop itself must work on the machines that run this.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, annotate } from './lib/server.mjs';
import { launchBrowser, openPage, artifact, chromiumMissing } from './lib/browser.mjs';
import { DESKTOP_ENV, pidAlive, runtimePids } from './lib/desktop.mjs';

const SKIP = chromiumMissing() || false;
const uiUrl = (srv) => `${srv.baseUrl}/ui/#/desktop`;

async function call(srv, method, p, body) {
  const res = await fetch(srv.baseUrl + p, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Where a desktop point is on the page: the view's image box scaled to the desktop. */
async function pagePoint(page, resolution, x, y) {
  const box = await page.locator('#panel-desktop .dk-view img').boundingBox();
  return { x: box.x + (x * box.width) / resolution.width, y: box.y + (y * box.height) / resolution.height };
}

test('desktop panel: start, live view, launch, focus, click and type, record, stop', { skip: SKIP, timeout: 120000 }, async () => {
  const srv = await startServer({ env: DESKTOP_ENV });
  const browser = await launchBrowser();
  const file = path.join(srv.home, 'typed.txt');
  try {
    const { page, problems } = await openPage(browser, uiUrl(srv));
    const panel = page.locator('#panel-desktop');
    await page.locator('button[data-tab=desktop]').waitFor();
    await panel.locator('.dk-state[data-state=inactive]').waitFor();
    assert.equal(await panel.locator('.dk-view img').isVisible(), false, 'no live view while stopped');

    // Start from the panel, on a display of our own.
    const display = 400 + Math.floor(Math.random() * 2000);
    await panel.locator('input[name=width]').fill('800');
    await panel.locator('input[name=height]').fill('600');
    await panel.locator('input[name=displayNum]').fill(String(display));
    await panel.locator('#dkStart').click();
    await panel.locator('.dk-state[data-state=active]').waitFor();
    const status = await call(srv, 'GET', '/v1/desktop/status');
    assert.equal(status.state, 'active');
    assert.deepEqual([status.resolution.width, status.resolution.height], [800, 600]);
    assert.ok(Number(status.display.slice(1)) >= display, `display ${status.display} from ${display} up`);
    await panel.getByText('800×600').waitFor();
    const pids = runtimePids(status);
    assert.ok(pids.Xvfb && pids.openbox, JSON.stringify(status.processes));

    // The live view shows the screen: a decoded image, scaled to the pane.
    await page.waitForFunction(() => document.querySelector('#panel-desktop .dk-view img')?.naturalWidth > 0);
    const natural = await panel.locator('.dk-view img').evaluate((i) => [i.naturalWidth, i.naturalHeight]);
    assert.ok(natural[0] > 0 && natural[0] <= 800, `frame width ${natural[0]}`);
    assert.ok(Math.abs(natural[0] / natural[1] - 800 / 600) < 0.02, `frame aspect ${natural}`);

    // xterm A (through the API) writes what it is typed into a file; xterm B comes from the panel.
    const a = await call(srv, 'POST', '/v1/desktop/launch', { app: 'xterm', args: ['-e', 'sh', '-c', `exec cat > '${file}'`], wait: true });
    assert.ok(a.windowId, 'xterm A has a window');
    await panel.locator('input[name=app]').fill('xterm');
    await panel.locator('input[name=args]').fill(`-title 'panel term'`);
    await panel.locator('#dkLaunch').click();
    await panel.locator('.dk-launched').filter({ hasText: /xterm: proc_\w+ pid \d+ window \d+/ }).waitFor();
    const b = (await call(srv, 'GET', '/v1/desktop/windows')).windows.find((w) => w.title === 'panel term');
    assert.ok(b, 'the panel launched xterm B with its arguments');
    const procs = (await call(srv, 'GET', '/v1/processes?owner=desktop')).processes;
    assert.equal(procs.length, 2, 'two desktop-owned processes');

    // The window list shows both; its Focus button focuses one.
    await panel.locator(`tr[data-window="${a.windowId}"]`).waitFor();
    await panel.locator(`tr[data-window="${b.id}"]`).waitFor();
    await panel.locator(`button[data-focus="${a.windowId}"]`).click();
    await waitFor(async () => (await call(srv, 'GET', '/v1/desktop/windows/focused')).id === a.windowId, { what: 'the Focus button to focus xterm A' });
    await panel.locator(`button[data-focus="${b.id}"]`).click();
    await waitFor(async () => (await call(srv, 'GET', '/v1/desktop/windows/focused')).id === b.id, { what: 'the Focus button to focus xterm B' });
    await panel.locator(`tr[data-window="${b.id}"] .badge`).waitFor();

    // A click into the view, on the part of xterm A that B does not cover, focuses A.
    const wa = (await call(srv, 'GET', '/v1/desktop/windows')).windows.find((w) => w.id === a.windowId);
    const free = [[wa.x + 10, wa.y + wa.height - 10], [wa.x + wa.width - 10, wa.y + wa.height - 10], [wa.x + 10, wa.y + 30], [wa.x + wa.width - 10, wa.y + 30]]
      .find(([x, y]) => !(x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height));
    assert.ok(free, `some corner of A ${JSON.stringify(wa)} is not under B ${JSON.stringify(b)}`);
    const pt = await pagePoint(page, status.resolution, free[0], free[1]);
    await page.mouse.click(pt.x, pt.y);
    await waitFor(async () => (await call(srv, 'GET', '/v1/desktop/windows/focused')).id === a.windowId, { what: 'a click in the view to focus xterm A' });
    const pos = await call(srv, 'GET', '/v1/desktop/mouse/position');
    assert.ok(Math.abs(pos.x - free[0]) <= 3 && Math.abs(pos.y - free[1]) <= 3, `the pointer went to ${pos.x},${pos.y}, wanted ${free}`);

    // Typing with the view focused reaches xterm A (special keys through keyboard/press).
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('dk-view')), true, 'the view has the focus');
    await page.keyboard.type('echo ui-typed-XYZ', { delay: 15 });
    await page.keyboard.press('Enter');
    await page.keyboard.type('abc');
    await page.keyboard.press('Backspace');
    await page.keyboard.press('Enter');
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8') === 'echo ui-typed-XYZ\nab\n', {
      timeoutMs: 15000,
      what: () => `typed text in ${file}: ${JSON.stringify(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null)}`,
    });
    // The browser's own defaults were prevented: Tab stays in the view.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('dk-view')), true, 'Tab went to the desktop, not the page');
    await page.keyboard.press('Control+]');
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('dk-view')), false, 'Ctrl+] gives the keyboard back');

    // Record 2 s; the recording is listed, downloads as rec_N.mp4 and is deleted.
    await panel.locator('#dkRecStart').click();
    await panel.locator('.dk-rec-status', { hasText: 'recording' }).waitFor();
    await page.waitForTimeout(2000);
    await panel.locator('#dkRecStop').click();
    const row = panel.locator('tr[data-rec]').filter({ has: page.locator('.dk-rec-status', { hasText: 'completed' }) });
    await row.waitFor();
    const id = await row.getAttribute('data-rec');
    assert.match(id, /^rec_\d+$/);
    const info = await call(srv, 'GET', `/v1/desktop/recordings/${id}`);
    assert.equal(info.status, 'completed');
    const [download] = await Promise.all([page.waitForEvent('download'), row.locator(`button[data-download="${id}"]`).click()]);
    assert.equal(download.suggestedFilename(), `${id}.mp4`);
    const saved = path.join(srv.home, 'dl.mp4');
    await download.saveAs(saved);
    const bytes = fs.readFileSync(saved);
    assert.equal(bytes.length, info.bytes, 'the whole file');
    assert.equal(bytes.toString('latin1', 4, 8), 'ftyp', 'an MP4');
    await artifact(page, 'desktop');

    // Hidden: no more frames. Shown again: frames again.
    let frames = 0;
    page.on('request', (r) => { if (r.url().includes('/v1/desktop/screenshot')) frames++; });
    await page.evaluate(() => { location.hash = '#/session'; });
    await page.waitForTimeout(400); // a frame in flight may still finish
    frames = 0;
    await page.waitForTimeout(1200);
    assert.equal(frames, 0, 'no screenshots while the panel is hidden');
    await page.evaluate(() => { location.hash = '#/desktop'; });
    await waitFor(() => frames > 1, { what: 'frames again once shown' });

    await row.locator(`button[data-delete="${id}"]`).click();
    await panel.locator(`tr[data-rec="${id}"]`).waitFor({ state: 'detached' });
    assert.equal((await fetch(`${srv.baseUrl}/v1/desktop/recordings/${id}`)).status, 404);

    // Stop from the panel: the runtime and its apps are gone, the view is idle.
    await panel.locator('#dkStop').click();
    await panel.locator('.dk-state[data-state=inactive]').waitFor();
    await panel.locator('.dk-view img').waitFor({ state: 'hidden' });
    assert.equal((await call(srv, 'GET', '/v1/desktop/status')).state, 'inactive');
    await waitFor(() => Object.values(pids).every((p) => !pidAlive(p)) && !pidAlive(a.pid), { what: 'Xvfb, openbox and xterm to exit' });
    const left = srv.descendants().filter((d) => /Xvfb|openbox|xterm|ffmpeg|dbus-daemon/.test(d.cmdline));
    assert.deepEqual(left, [], 'no desktop process left');
    assert.deepEqual(problems, [], 'no console errors');
  } catch (e) {
    throw annotate(e, srv);
  } finally {
    await browser.close();
    await srv.stop();
  }
});
