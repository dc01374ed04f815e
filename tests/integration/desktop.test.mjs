// The desktop API through the SDK against a real private desktop (http-api.md §10): status
// and display shapes, screenshots (formats, sizes, scale, regions, quality, the cursor),
// mouse and keyboard into real xterms (typed non-ASCII text reaching a file, middle-click
// pastes, PRIMARY owned by xterm after a drag), windows (focus, move, resize), clipboard,
// launch, open and the streaming routes before a stream starts (streaming: desktop_stream.test.mjs). Validation: desktop_validation.test.mjs; start,
// stop, failures and leftovers: desktop_lifecycle.test.mjs.
//
// One server and one 800x600 desktop for the file; the tests run in order and share two
// xterms: A (cat > a file, the keyboard target) and B (shows a line of red text on green,
// the mouse and selection target).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { startServer, waitFor, annotate } from './lib/server.mjs';
import { request, assertProblem } from './lib/http.mjs';
import { connect } from './lib/sdk.mjs';
import { displayNumber, DESKTOP_ENV, imageInfo, decodePng, sdkProblem, assertDesktopProblem } from './lib/desktop.mjs';

const { before, after } = nodeTest;
const W = 800;
const H = 600;
const WINDOW_KEYS = ['id', 'title', 'x', 'y', 'width', 'height', 'isActive'];
const B_TEXT = 'SelectMe Grüße 42';

let srv;
let sdk;
// Shared between the tests, in order.
const st = { a: null, b: null, aFile: null };

before(async () => {
  srv = await startServer({ env: DESKTOP_ENV });
  sdk = await connect(srv);
  try {
    await sdk.startDesktop({ width: W, height: H, displayNum: displayNumber() });
  } catch (e) {
    throw annotate(e, srv);
  }
});

after(async () => {
  try {
    if (sdk) {
      const s = await sdk.getDesktopStatus();
      if (s.state === 'active' || s.state === 'failed') await sdk.stopDesktop();
      await sdk.dispose();
    }
  } finally {
    if (srv) await srv.stop();
  }
});

/** A test whose failure carries the server's log. */
function test(name, fn) {
  return nodeTest.test(name, { timeout: 60000 }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      throw annotate(e, srv);
    }
  });
}

const readText = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

/** Waits until file holds exactly want (what the xterm's cat wrote so far). */
const fileIs = (file, want) =>
  waitFor(() => readText(file) === want, { timeoutMs: 10000, what: () => `${file} to be ${JSON.stringify(want)}, it is ${JSON.stringify(readText(file))}` });

/** A point well inside a window's client area (x, y are the frame's corner; the title bar
 *  is above the client). */
const inside = (w) => ({ x: w.x + Math.floor(w.width / 2), y: w.y + Math.floor(w.height / 2) + 15 });

async function windowById(id) {
  const { windows } = await sdk.listDesktopWindows();
  return windows.find((w) => w.id === id);
}

test('status and display/info: shapes and member order while active', async () => {
  const s = await sdk.getDesktopStatus();
  assert.deepEqual(Object.keys(s), ['state', 'display', 'resolution', 'startedAt', 'missingDependencies', 'processes', 'runtimeLogPath', 'windows']);
  assert.equal(s.state, 'active');
  assert.match(s.display, /^:\d+$/);
  assert.deepEqual(s.resolution, { width: W, height: H, dpi: 96 });
  assert.deepEqual(Object.keys(s.resolution), ['width', 'height', 'dpi']);
  assert.match(s.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/);
  assert.ok(Math.abs(Date.parse(s.startedAt) - Date.now()) < 120000, s.startedAt);
  assert.deepEqual(s.missingDependencies, []);
  assert.equal(s.runtimeLogPath, path.join(srv.home, '.local/state/sandbox-agent/desktop/desktop-runtime.log'));
  assert.ok(fs.existsSync(s.runtimeLogPath), 'the runtime log exists');
  assert.deepEqual(s.processes.slice(0, 2).map((p) => p.name), ['Xvfb', 'openbox']);
  for (const p of s.processes) {
    assert.deepEqual(Object.keys(p), ['name', 'pid', 'running', 'logPath'], JSON.stringify(p));
    assert.equal(p.running, true);
    assert.ok(Number.isInteger(p.pid) && p.pid > 1);
    assert.ok(fs.existsSync(`/proc/${p.pid}`), `${p.name} ${p.pid} runs`);
  }
  assert.ok(fs.existsSync(`/tmp/.X11-unix/X${s.display.slice(1)}`), 'the X socket exists');
  assert.deepEqual(s.windows, [], 'a fresh desktop has no windows');

  const d = await sdk.getDesktopDisplayInfo();
  assert.deepEqual(Object.keys(d), ['display', 'resolution']);
  assert.deepEqual(d, { display: s.display, resolution: { width: W, height: H, dpi: 96 } });
});

test('mouse on the bare desktop: move, position, click, down, up, scroll, drag answer the pointer', async () => {
  const moved = await sdk.moveDesktopMouse({ x: 123, y: 45 });
  // Over the root window there is no client window: no `window` member.
  assert.deepEqual(Object.keys(moved), ['x', 'y', 'screen']);
  assert.deepEqual(moved, { x: 123, y: 45, screen: 0 });
  assert.deepEqual(await sdk.getDesktopMousePosition(), { x: 123, y: 45, screen: 0 });
  // Left button only: openbox binds the other buttons and the wheel on the root (menus,
  // desktop switching); scrolling is tried on an xterm below.
  assert.deepEqual(await sdk.clickDesktop({ x: 200, y: 100, button: 'left', clickCount: 2 }), { x: 200, y: 100, screen: 0 });
  assert.deepEqual(await sdk.mouseDownDesktop({}), { x: 200, y: 100, screen: 0 }, '{} is a valid mouse/down');
  assert.deepEqual(await sdk.mouseUpDesktop({ x: 210, y: 110 }), { x: 210, y: 110, screen: 0 });
  assert.deepEqual(await sdk.dragDesktopMouse({ startX: 10, startY: 20, endX: 400, endY: 300 }), { x: 400, y: 300, screen: 0 });
  assert.deepEqual(await sdk.getDesktopMousePosition(), { x: 400, y: 300, screen: 0 });
  // Beyond the screen the pointer stops at its edge.
  assert.deepEqual(await sdk.moveDesktopMouse({ x: 5000, y: 5000 }), { x: W - 1, y: H - 1, screen: 0 });
});

test('launch xterm with wait: windowId is the window /windows lists as active', async () => {
  st.aFile = path.join(srv.home, 'typed.txt');
  const a = await sdk.launchDesktopApp({ app: 'xterm', args: ['-e', 'sh', '-c', `exec cat > '${st.aFile}'`], wait: true });
  assert.deepEqual(Object.keys(a), ['processId', 'pid', 'windowId']);
  assert.match(a.processId, /^proc_\d+$/);
  assert.ok(Number.isInteger(a.pid) && a.pid > 1);
  assert.match(a.windowId, /^\d+$/);
  await waitFor(async () => (await sdk.listDesktopWindows()).windows.find((w) => w.isActive)?.id === a.windowId, { what: 'xterm A to be the active window' });
  st.a = a;

  const b = await sdk.launchDesktopApp({
    app: 'xterm',
    args: ['-geometry', '40x8', '-bg', '#00ff00', '-fg', '#ff0000', '-e', 'sh', '-c', `printf '%s\\n' '${B_TEXT}'; exec sleep 600`],
    wait: true,
  });
  assert.match(b.windowId, /^\d+$/);
  assert.notEqual(b.windowId, a.windowId);
  st.b = b;
  const { windows } = await waitFor(async () => {
    const l = await sdk.listDesktopWindows();
    return l.windows.find((w) => w.isActive)?.id === b.windowId ? l : null;
  }, { what: 'xterm B to be the active window' });
  assert.deepEqual(windows.map((w) => w.id).sort(), [a.windowId, b.windowId].sort());
  for (const w of windows) assert.deepEqual(Object.keys(w), WINDOW_KEYS);
  assert.deepEqual(windows.filter((w) => w.isActive).map((w) => w.id), [b.windowId], 'exactly one active window');

  // Both are desktop-owned managed processes.
  const owned = (await sdk.listProcesses({ owner: 'desktop' })).processes;
  for (const p of [a, b]) {
    const info = owned.find((x) => x.id === p.processId);
    assert.ok(info, `${p.processId} is listed with owner=desktop`);
    assert.equal(info.owner, 'desktop');
    assert.equal(info.command, 'xterm');
    assert.equal(info.status, 'running');
    assert.equal(info.pid, p.pid);
  }
  assert.ok(!(await sdk.listProcesses({ owner: 'user' })).processes.some((x) => x.id === a.processId), 'not a user process');

  // The status lists them too while active.
  const s = await sdk.getDesktopStatus();
  assert.deepEqual(s.windows.map((w) => w.id).sort(), [a.windowId, b.windowId].sort());
});

test('windows: focused, focus, move, resize; unknown ids are 404 window_not_found', async () => {
  const focusedB = await sdk.getDesktopFocusedWindow();
  assert.deepEqual(Object.keys(focusedB), WINDOW_KEYS);
  assert.equal(focusedB.id, st.b.windowId);
  assert.equal(focusedB.isActive, true);
  assert.equal(focusedB.title, 'sh', 'xterm -e titles its window after the command');

  const fa = await sdk.focusDesktopWindow(st.a.windowId);
  assert.deepEqual(Object.keys(fa), WINDOW_KEYS);
  assert.equal(fa.id, st.a.windowId);
  assert.equal(fa.isActive, true);
  assert.equal((await sdk.getDesktopFocusedWindow()).id, st.a.windowId);

  const ma = await sdk.moveDesktopWindow(st.a.windowId, { x: 10, y: 10 });
  assert.deepEqual(Object.keys(ma), WINDOW_KEYS);
  assert.equal(ma.id, st.a.windowId);
  assert.deepEqual([ma.x, ma.y], [10, 10]);
  const la = await windowById(st.a.windowId);
  assert.deepEqual([la.x, la.y, la.width, la.height], [10, 10, ma.width, ma.height], 'the list agrees with the answer');

  const before = await windowById(st.b.windowId);
  const rb = await sdk.resizeDesktopWindow(st.b.windowId, { width: 300, height: 150 });
  assert.deepEqual(Object.keys(rb), WINDOW_KEYS);
  assert.ok(Math.abs(rb.width - 300) <= 20 && Math.abs(rb.height - 150) <= 20, `resized to ${rb.width}x${rb.height} (from ${before.width}x${before.height})`);
  assert.notDeepEqual([rb.width, rb.height], [before.width, before.height]);
  const mb = await sdk.moveDesktopWindow(st.b.windowId, { x: 480, y: 400 });
  assert.deepEqual([mb.x, mb.y, mb.width, mb.height], [480, 400, rb.width, rb.height]);
  assert.deepEqual(await windowById(st.b.windowId), mb);

  // Focus B back by the API: it is raised and active.
  assert.equal((await sdk.focusDesktopWindow(st.b.windowId)).isActive, true);
  assert.equal((await windowById(st.a.windowId)).isActive, false);

  for (const id of ['536870000', 'abc', '0']) {
    const p = await sdkProblem(sdk.focusDesktopWindow(id), 404, 'window_not_found');
    assert.equal(p.code, 'window_not_found');
  }
  await sdkProblem(sdk.moveDesktopWindow('536870000', { x: 1, y: 1 }), 404, 'window_not_found');
  await sdkProblem(sdk.resizeDesktopWindow('536870000', { width: 200, height: 100 }), 404, 'window_not_found');
  // The bad id is checked before the body's values.
  await sdkProblem(sdk.resizeDesktopWindow(st.b.windowId, { width: 0, height: 100 }), 400, 'desktop_invalid_action');
});

test('screenshots: PNG, JPEG, WebP bytes, content types and sizes; scale; regions; quality', async () => {
  for (const [format, mime] of [['png', 'image/png'], ['jpeg', 'image/jpeg'], ['webp', 'image/webp']]) {
    const bytes = await sdk.takeDesktopScreenshot(format === 'png' ? {} : { format });
    assert.ok(bytes instanceof Uint8Array);
    assert.deepEqual(imageInfo(bytes), { format, width: W, height: H }, format);
    const res = await request(srv, 'GET', `/v1/desktop/screenshot?format=${format}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], mime);
    assert.equal(res.headers['content-length'], String(res.buf.length));
    assert.deepEqual(imageInfo(res.buf), { format, width: W, height: H });

    const half = await sdk.takeDesktopScreenshot({ format, scale: 0.5 });
    assert.deepEqual(imageInfo(half), { format, width: W / 2, height: H / 2 }, `${format} scale=0.5`);

    const region = await sdk.takeDesktopRegionScreenshot({ x: 5, y: 7, width: 123, height: 45, format });
    assert.deepEqual(imageInfo(region), { format, width: 123, height: 45 }, `${format} region`);
    const rres = await request(srv, 'GET', `/v1/desktop/screenshot/region?x=5&y=7&width=123&height=45&format=${format}`);
    assert.equal(rres.headers['content-type'], mime);
  }
  assert.deepEqual(imageInfo(await sdk.takeDesktopRegionScreenshot({ x: 0, y: 0, width: 100, height: 60, scale: 0.5 })), { format: 'png', width: 50, height: 30 });
  assert.deepEqual(imageInfo(await sdk.takeDesktopScreenshot({ scale: 0.1 })), { format: 'png', width: 80, height: 60 });

  // The screen shows two xterms: a lower JPEG quality gives fewer bytes.
  const q10 = await sdk.takeDesktopScreenshot({ format: 'jpeg', quality: 10 });
  const q95 = await sdk.takeDesktopScreenshot({ format: 'jpeg', quality: 95 });
  assert.ok(q95.length > q10.length * 1.5, `quality 95: ${q95.length} bytes, quality 10: ${q10.length}`);
  const w10 = await sdk.takeDesktopScreenshot({ format: 'webp', quality: 10 });
  const w95 = await sdk.takeDesktopScreenshot({ format: 'webp', quality: 95 });
  assert.ok(w95.length > w10.length, `webp quality 95: ${w95.length} bytes, quality 10: ${w10.length}`);

  // The region is the same pixels as the full screenshot there (xterm B's red-on-green text).
  const b = await windowById(st.b.windowId);
  const full = decodePng(await sdk.takeDesktopScreenshot());
  const reg = decodePng(await sdk.takeDesktopRegionScreenshot({ x: b.x, y: b.y, width: b.width, height: b.height }));
  let same = 0;
  let red = 0;
  for (let y = 0; y < reg.height; y++) {
    for (let x = 0; x < reg.width; x++) {
      const p = reg.pixel(x, y);
      if (p.join() === full.pixel(b.x + x, b.y + y).join()) same++;
      if (p[0] > 200 && p[1] < 60 && p[2] < 60) red++;
    }
  }
  assert.equal(same, reg.width * reg.height, 'region pixels equal the full screenshot');
  assert.ok(red > 20, `xterm B's red text is in the region (${red} red pixels)`);
});

test('screenshot showCursor draws the pointer, and only near it', async () => {
  const px = 700;
  const py = 100;
  assert.equal((await sdk.moveDesktopMouse({ x: px, y: py })).window, undefined, 'the pointer is over the bare root');
  const q = { x: px - 20, y: py - 20, width: 48, height: 48 };
  const plain1 = Buffer.from(await sdk.takeDesktopRegionScreenshot(q));
  const cursor = Buffer.from(await sdk.takeDesktopRegionScreenshot({ ...q, showCursor: true }));
  const plain2 = Buffer.from(await sdk.takeDesktopRegionScreenshot({ ...q, showCursor: false }));
  assert.ok(plain1.equals(plain2), 'two screenshots without the cursor are identical');
  assert.ok(!cursor.equals(plain1), 'showCursor=true changes the picture');
  const a = decodePng(plain1);
  const c = decodePng(cursor);
  let changed = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (a.pixel(x, y).join() !== c.pixel(x, y).join()) {
        changed++;
        // The pointer is at (20, 20) in the region: the drawing is around it.
        assert.ok(Math.abs(x - 20) <= 24 && Math.abs(y - 20) <= 24, `changed pixel at ${x},${y}`);
      }
    }
  }
  assert.ok(changed >= 10, `${changed} pixels changed`);
  // Without showCursor the full screenshot has no cursor either: same bytes at that spot.
  const full = decodePng(await sdk.takeDesktopScreenshot());
  for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) assert.equal(full.pixel(q.x + x, q.y + y).join(), a.pixel(x, y).join());
});

test('click, mouse down and up reach windows: the clicked xterm gets the focus; position names the window under the pointer', async () => {
  const a = await windowById(st.a.windowId);
  const b = await windowById(st.b.windowId);
  assert.equal(b.isActive, true);
  const pa = inside(a);
  const moved = await sdk.moveDesktopMouse(pa);
  assert.deepEqual(Object.keys(moved), ['x', 'y', 'screen', 'window']);
  assert.deepEqual(moved, { ...pa, screen: 0, window: st.a.windowId });
  assert.deepEqual(await sdk.getDesktopMousePosition(), moved);

  const clicked = await sdk.clickDesktop(pa);
  assert.deepEqual(clicked, { ...pa, screen: 0, window: st.a.windowId });
  await waitFor(async () => (await sdk.getDesktopFocusedWindow()).id === st.a.windowId, { what: 'a click to focus xterm A' });

  const pb = inside(b);
  const down = await sdk.mouseDownDesktop({ ...pb, button: 'left' });
  assert.deepEqual(down, { ...pb, screen: 0, window: st.b.windowId });
  const up = await sdk.mouseUpDesktop({ button: 'left' });
  assert.deepEqual(up, { ...pb, screen: 0, window: st.b.windowId }, 'mouse/up without x, y stays put');
  await waitFor(async () => (await sdk.getDesktopFocusedWindow()).id === st.b.windowId, { what: 'mouse down/up to focus xterm B' });

  const scrolled = await sdk.scrollDesktop({ ...pb, deltaY: 3 });
  assert.deepEqual(scrolled, { ...pb, screen: 0, window: st.b.windowId });
  assert.deepEqual(await sdk.scrollDesktop({ ...pb, deltaY: -3, deltaX: -2 }), scrolled);
});

test('keyboard into xterm A: non-ASCII text, Return, key down/up, middle-click pastes of PRIMARY, ctrl+d', async () => {
  const file = st.aFile;
  const focus = await sdk.focusDesktopWindow(st.a.windowId);
  assert.equal(focus.isActive, true);
  assert.equal(readText(file), '', 'cat has written nothing yet');

  let want = 'Grüße é € 日本 ok\n';
  assert.deepEqual(await sdk.typeDesktopText({ text: 'Grüße é € 日本 ok\n' }), { ok: true });
  await fileIs(file, want);

  assert.deepEqual(await sdk.typeDesktopText({ text: 'line2', delayMs: 5 }), { ok: true });
  assert.deepEqual(await sdk.pressDesktopKey({ key: 'Return' }), { ok: true });
  want += 'line2\n';
  await fileIs(file, want);

  // Shift held by key down: a plain `a` types `A`.
  assert.deepEqual(await sdk.keyDownDesktop({ key: 'shift' }), { ok: true });
  await sdk.pressDesktopKey({ key: 'a' });
  assert.deepEqual(await sdk.keyUpDesktop({ key: 'shift' }), { ok: true });
  await sdk.pressDesktopKey({ key: 'b' });
  await sdk.pressDesktopKey({ key: 'Return' });
  want += 'Ab\n';
  await fileIs(file, want);

  // PRIMARY set through the API is what a middle click pastes (the server serves it).
  assert.deepEqual(await sdk.setDesktopClipboard({ text: 'pasted ✓ ü\n', selection: 'primary' }), { ok: true });
  const p = inside(await windowById(st.a.windowId));
  const mid = await sdk.clickDesktop({ ...p, button: 'middle' });
  assert.deepEqual(mid, { ...p, screen: 0, window: st.a.windowId });
  want += 'pasted ✓ ü\n';
  await fileIs(file, want);
  await sdk.mouseDownDesktop({ ...p, button: 'middle' });
  await sdk.mouseUpDesktop({ ...p, button: 'middle' });
  want += 'pasted ✓ ü\n';
  await fileIs(file, want);

  // ctrl+d after text ends the line without a newline (key syntax); on an empty line it is
  // the end of the input (modifiers syntax): cat exits, and xterm with it.
  await sdk.typeDesktopText({ text: 'tail' });
  assert.deepEqual(await sdk.pressDesktopKey({ key: 'ctrl+d' }), { ok: true });
  want += 'tail';
  await fileIs(file, want);
  assert.deepEqual(await sdk.pressDesktopKey({ key: 'd', modifiers: { ctrl: true } }), { ok: true });
  const exited = await waitFor(async () => {
    const info = await sdk.getProcess(st.a.processId);
    return info.status === 'exited' ? info : null;
  }, { what: 'xterm A to exit after ctrl+d' });
  assert.equal(exited.exitCode, 0);
  assert.equal(readText(file), want);
  await waitFor(async () => !(await windowById(st.a.windowId)), { what: 'xterm A to leave the window list' });

  // An unknown key name is a 400; a key press still works afterwards.
  const bad = await sdkProblem(sdk.pressDesktopKey({ key: 'NoSuchKeyName' }), 400, 'desktop_invalid_action');
  assert.match(bad.detail, /NoSuchKeyName/);
  await sdkProblem(sdk.keyDownDesktop({ key: 'NoSuchKeyName' }), 400, 'desktop_invalid_action');
});

test('clipboard: non-ASCII round trips through clipboard, primary and both', async () => {
  const t1 = 'Zwischenablage: äöü ß € 日本語 🙂\nline 2';
  assert.deepEqual(await sdk.setDesktopClipboard({ text: t1 }), { ok: true });
  const c1 = await sdk.getDesktopClipboard();
  assert.deepEqual(Object.keys(c1), ['selection', 'text']);
  assert.deepEqual(c1, { selection: 'clipboard', text: t1 });
  assert.deepEqual(await sdk.getDesktopClipboard({ selection: 'clipboard' }), { selection: 'clipboard', text: t1 });

  const t2 = 'primär: çà € 中文';
  await sdk.setDesktopClipboard({ text: t2, selection: 'primary' });
  assert.deepEqual(await sdk.getDesktopClipboard({ selection: 'primary' }), { selection: 'primary', text: t2 });
  assert.deepEqual(await sdk.getDesktopClipboard(), { selection: 'clipboard', text: t1 }, 'the clipboard kept its text');

  const t3 = 'beide: Ωμέγα ✓';
  await sdk.setDesktopClipboard({ text: t3, selection: 'both' });
  assert.deepEqual(await sdk.getDesktopClipboard(), { selection: 'clipboard', text: t3 });
  assert.deepEqual(await sdk.getDesktopClipboard({ selection: 'primary' }), { selection: 'primary', text: t3 });

  const big = 'x'.repeat(300000) + 'ü';
  await sdk.setDesktopClipboard({ text: big });
  assert.equal((await sdk.getDesktopClipboard()).text, big);
  await sdk.setDesktopClipboard({ text: '' });
  assert.deepEqual(await sdk.getDesktopClipboard(), { selection: 'clipboard', text: '' });
});

/** Where xterm B shows its first line: the rows and columns of its red text, on screen. */
async function findRedLine(win) {
  const q = { x: win.x, y: win.y, width: Math.min(win.width + 30, W - win.x), height: Math.min(win.height + 60, H - win.y) };
  const img = decodePng(await sdk.takeDesktopRegionScreenshot(q));
  const isRed = ([r, g, b]) => r > 200 && g < 60 && b < 60;
  const isGreen = ([r, g, b]) => g > 200 && r < 60 && b < 60;
  // Red text on the client's green rows (the title bar's icon has red too, but no green).
  const hasGreen = (y) => { for (let x = 0; x < img.width; x++) if (isGreen(img.pixel(x, y))) return true; return false; };
  let top = -1;
  for (let y = 0; y < img.height && top < 0; y++) {
    if (!hasGreen(y)) continue;
    for (let x = 0; x < img.width; x++) if (isRed(img.pixel(x, y))) { top = y; break; }
  }
  assert.ok(top >= 0, 'xterm B shows red text');
  const row = top + 4;
  let left = img.width;
  for (let y = top; y < top + 8; y++) for (let x = 0; x < img.width; x++) if (isRed(img.pixel(x, y))) left = Math.min(left, x);
  let last = -1;
  for (let y = top; y < top + 8; y++) for (let x = 0; x < img.width; x++) if (isRed(img.pixel(x, y))) last = Math.max(last, x);
  assert.ok(last > left + 50, 'a line of text');
  return { y: q.y + row, left: q.x + left, last: q.x + last };
}

test('a drag in xterm selects its text: PRIMARY is then owned by xterm and reads back', async () => {
  const b = await sdk.focusDesktopWindow(st.b.windowId);
  const line = await findRedLine(b);
  // From the first glyph to just past the last one (xterm selects the cells up to the one
  // the pointer is in).
  const dragged = await sdk.dragDesktopMouse({ startX: line.left, startY: line.y, endX: line.last + 2, endY: line.y });
  assert.deepEqual(dragged, { x: line.last + 2, y: line.y, screen: 0, window: st.b.windowId });
  let last;
  const got = await waitFor(async () => {
    last = await sdk.getDesktopClipboard({ selection: 'primary' });
    return last.text === B_TEXT ? last : null;
  }, { what: () => `PRIMARY to hold xterm's selection ${JSON.stringify(B_TEXT)}, it holds ${JSON.stringify(last)}` });
  assert.deepEqual(got, { selection: 'primary', text: B_TEXT });
  // CLIPBOARD is a different selection: xterm did not take it.
  assert.notEqual((await sdk.getDesktopClipboard()).text, B_TEXT);

  // Setting PRIMARY takes it back from xterm (its highlight goes), and it reads back ours.
  await sdk.setDesktopClipboard({ text: 'ours again', selection: 'primary' });
  assert.equal((await sdk.getDesktopClipboard({ selection: 'primary' })).text, 'ours again');
});

test('open: xdg-open runs as a desktop-owned managed process', async () => {
  const target = path.join(srv.home, 'note.txt');
  fs.writeFileSync(target, 'hello\n');
  const o = await sdk.openDesktopTarget({ target });
  assert.deepEqual(Object.keys(o), ['processId', 'pid']);
  assert.match(o.processId, /^proc_\d+$/);
  const owned = (await sdk.listProcesses({ owner: 'desktop' })).processes.find((p) => p.id === o.processId);
  assert.ok(owned, 'listed with owner=desktop');
  assert.equal(owned.owner, 'desktop');
  assert.equal(owned.command, 'xdg-open');
  assert.deepEqual(owned.args, [target]);
  assert.equal(owned.pid, o.pid);
  assert.ok(!(await sdk.listProcesses()).processes.every((p) => p.owner !== 'desktop'), 'the full list has it too');
  assert.ok(!(await sdk.listProcesses({ owner: 'user' })).processes.some((p) => p.id === o.processId));
});

test('launch: unknown app 404 app_not_found; without wait there is no windowId', async () => {
  const p = await sdkProblem(sdk.launchDesktopApp({ app: 'no-such-app-xyz' }), 404, 'app_not_found');
  assert.equal(p.detail, "Application 'no-such-app-xyz' not found in PATH");
  assert.equal(p.code, 'app_not_found');
  const l = await sdk.launchDesktopApp({ app: 'sleep', args: ['600'] });
  assert.deepEqual(Object.keys(l), ['processId', 'pid']);
  const w = await sdk.launchDesktopApp({ app: 'sleep', args: ['600'], wait: true });
  assert.deepEqual(Object.keys(w), ['processId', 'pid', 'windowId']);
  assert.equal(w.windowId, null, 'a program without a window: windowId is null after the wait');
  await sdk.stopProcess(l.processId);
  await sdk.stopProcess(w.processId);
});

test('stream routes before a stream/start: status and stop inactive; signaling 409 (streaming itself: desktop_stream.test.mjs)', async () => {
  assert.deepEqual(await sdk.getDesktopStreamStatus(), { active: false });
  assert.deepEqual(await sdk.stopDesktopStream(), { active: false });
  const url = new URL(sdk.buildDesktopStreamWebSocketUrl());
  assert.equal(url.pathname, '/v1/desktop/stream/signaling');
  const sig = await request(srv, 'GET', url.pathname + url.search);
  const body = assertProblem(sig, 409, 'conflict');
  assert.equal(body.detail, 'conflict: desktop streaming is not active');
});

test('a problem from a runtime call has the desktop members and lists the processes', async () => {
  const res = await request(srv, 'POST', '/v1/desktop/keyboard/press', { body: { key: 'NoSuchKeyName' } });
  const body = assertProblem(res, 400, 'desktop_invalid_action');
  assertDesktopProblem(body, 400, 'desktop_invalid_action', /NoSuchKeyName/);
  assert.deepEqual(body.processes.slice(0, 2).map((p) => p.name), ['Xvfb', 'openbox'], 'processes while the runtime runs');
});

test('a burst of 24 concurrent screenshots: every one a whole PNG, health answered meanwhile', async () => {
  const shots = Array.from({ length: 24 }, (_, i) =>
    sdk.takeDesktopScreenshot(i % 2 ? { format: 'png' } : { format: 'png', scale: 0.5 }),
  );
  const health = await request(srv, 'GET', '/v1/health');
  assert.equal(health.status, 200);
  const out = await Promise.all(shots);
  out.forEach((bytes, i) => {
    const info = imageInfo(bytes);
    assert.equal(info.format, 'png');
    assert.deepEqual([info.width, info.height], i % 2 ? [W, H] : [W / 2, H / 2]);
  });
});
