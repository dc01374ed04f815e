// The desktop runtime's life (http-api.md §10.1, §10.3): start when already active, start
// with invalid values, an app launched right after a start, Xvfb killed under the server
// (failed, fast 503s, nothing left, a new start works), stop, and server SIGTERM and SIGKILL
// with an active desktop and a launched xterm: no process is left behind in any case.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as nodeTest from 'node:test';
import { startServer, waitFor, annotate, descendants } from './lib/server.mjs';
import { request } from './lib/http.mjs';
import { connect } from './lib/sdk.mjs';
import { displayNumber, DESKTOP_ENV, pidAlive, runtimePids, sdkProblem, assertDesktopProblem, imageInfo, removeStaleXSocket } from './lib/desktop.mjs';

const { describe, before, after } = nodeTest;

/** Waits until none of pids runs (a safety deadline, not a sleep). */
const allGone = (pids, what, timeoutMs = 5000) =>
  waitFor(() => pids.every((p) => !pidAlive(p)), { timeoutMs, what: () => `${what}: still running ${pids.filter(pidAlive).join(', ')}` });

/** An xterm running `sleep`: its pid, window, managed process id and its shell's pid. */
async function launchXterm(sdk) {
  const l = await sdk.launchDesktopApp({ app: 'xterm', args: ['-e', 'sh', '-c', 'exec sleep 600'], wait: true });
  assert.match(String(l.windowId), /^\d+$/, `launch answered ${JSON.stringify(l)}`);
  const kids = await waitFor(() => {
    const d = descendants(l.pid);
    return d.some((p) => /sleep 600/.test(p.cmdline)) ? d : null;
  }, { what: "xterm's shell to run sleep" });
  return { ...l, kids: kids.map((k) => k.pid) };
}

/** A server (with a private HOME, UTF-8 locale) and an SDK client; both stopped in after(). */
function serverFixture() {
  const f = { srv: null, sdk: null };
  before(async () => {
    f.srv = await startServer({ env: DESKTOP_ENV });
    f.sdk = await connect(f.srv);
  });
  after(async () => {
    try {
      if (f.sdk && !f.srv.stopped) {
        const s = await f.sdk.getDesktopStatus();
        if (s.state !== 'inactive') await f.sdk.stopDesktop();
      }
      await f.sdk?.dispose();
    } finally {
      await f.srv?.stop();
    }
  });
  f.test = (name, fn) =>
    nodeTest.test(name, { timeout: 60000 }, async () => {
      try {
        await fn(f.srv, f.sdk);
      } catch (e) {
        throw annotate(e, f.srv);
      }
    });
  return f;
}

describe('start, restart, failure and stop', () => {
  const F = serverFixture();
  const st = {};

  F.test('start when active answers the status without restarting; invalid values are refused', async (srv, sdk) => {
    const s1 = await sdk.startDesktop({ width: 640, height: 480, dpi: 120, displayNum: displayNumber() });
    assert.equal(s1.state, 'active');
    assert.deepEqual(s1.resolution, { width: 640, height: 480, dpi: 120 });
    const pids = runtimePids(s1);
    assert.ok(pids.Xvfb && pids.openbox, JSON.stringify(s1.processes));
    const s2 = await sdk.startDesktop({ width: 1024, height: 768 });
    assert.equal(s2.state, 'active');
    assert.equal(s2.display, s1.display, 'same display');
    assert.equal(s2.startedAt, s1.startedAt, 'not restarted');
    assert.deepEqual(s2.resolution, s1.resolution, 'new parameters are not applied');
    assert.deepEqual(runtimePids(s2), pids, 'same processes');
    assert.deepEqual(imageInfo(await sdk.takeDesktopScreenshot({ scale: 0.5 })), { format: 'png', width: 320, height: 240 });

    const p1 = await sdkProblem(sdk.startDesktop({ width: 10 }), 400, 'desktop_invalid_action');
    assertDesktopProblem(p1, 400, 'desktop_invalid_action', 'width must be between 64 and 16384');
    assert.deepEqual(p1.processes.map((p) => p.name).slice(0, 2), ['Xvfb', 'openbox'], 'processes while they run');
    await sdkProblem(sdk.startDesktop({ width: -1 }), 422, 'invalid_request');
    await sdkProblem(sdk.startDesktop({ displayNum: -5 }), 422, 'invalid_request');
    const s3 = await sdk.getDesktopStatus();
    assert.equal(s3.startedAt, s1.startedAt);
    assert.deepEqual(runtimePids(s3), pids);
    st.first = s1;
  });

  F.test('an app launched right after a start gets its window (the window manager is ready)', async (srv, sdk) => {
    // Fresh starts are made in the next tests too; this one checks the first.
    const x = await launchXterm(sdk);
    const { windows } = await sdk.listDesktopWindows();
    assert.deepEqual(windows.map((w) => w.id), [x.windowId]);
    st.xterm = x;
  });

  F.test('Xvfb killed: failed with a reason, fast 503s, the server serves on, nothing is left, a new start works', async (srv, sdk) => {
    const before = await sdk.getDesktopStatus();
    const pids = runtimePids(before);
    process.kill(pids.Xvfb, 'SIGKILL');
    const failed = await waitFor(async () => {
      const s = await sdk.getDesktopStatus();
      return s.state === 'failed' ? s : null;
    }, { what: 'the state to become failed' });
    assert.deepEqual(Object.keys(failed), ['state', 'lastError', 'missingDependencies', 'processes', 'runtimeLogPath']);
    assert.equal(failed.lastError.code, 'desktop_runtime_failed');
    assert.match(failed.lastError.message, /Xvfb/, `lastError names Xvfb: ${failed.lastError.message}`);

    for (const [label, call] of [
      ['screenshot', () => sdk.takeDesktopScreenshot()],
      ['mouse/position', () => sdk.getDesktopMousePosition()],
      ['mouse/move', () => sdk.moveDesktopMouse({ x: 1, y: 1 })],
      ['keyboard/type', () => sdk.typeDesktopText({ text: 'x' })],
      ['windows', () => sdk.listDesktopWindows()],
      ['clipboard', () => sdk.getDesktopClipboard()],
      ['launch', () => sdk.launchDesktopApp({ app: 'xterm' })],
    ]) {
      const t0 = Date.now();
      const p = await sdkProblem(call(), 503, 'desktop_runtime_failed').catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
      assert.ok(Date.now() - t0 < 2000, `${label} answered in ${Date.now() - t0} ms`);
      assertDesktopProblem(p, 503, 'desktop_runtime_failed', failed.lastError.message);
    }
    const health = await request(srv, 'GET', '/v1/health');
    assert.equal(health.status, 200);
    assert.equal(health.json().status, 'ok');

    // openbox and the session bus are stopped, and the xterm died with its X server.
    await allGone([pids.openbox, pids.dbus, st.xterm.pid, ...st.xterm.kids].filter(Boolean), 'the runtime after Xvfb died');
    assert.deepEqual((await sdk.getDesktopStatus()).processes, []);
    const xterm = await waitFor(async () => {
      const p = await sdk.getProcess(st.xterm.processId);
      return p.status === 'exited' ? p : null;
    }, { what: 'the launched xterm to show as exited' });
    assert.equal(xterm.owner, 'desktop');
    await removeStaleXSocket(before.display);

    const again = await sdk.startDesktop({ width: 640, height: 480, displayNum: displayNumber() });
    assert.equal(again.state, 'active');
    assert.equal(again.lastError, undefined, 'the failure is forgotten once active');
    assert.notEqual(runtimePids(again).Xvfb, pids.Xvfb);
    st.xterm = await launchXterm(sdk);
    assert.deepEqual(imageInfo(await sdk.takeDesktopScreenshot()), { format: 'png', width: 640, height: 480 });
  });

  F.test('stop leaves no process behind: Xvfb, openbox, dbus, the launched xterm and its shell', async (srv, sdk) => {
    const s = await sdk.getDesktopStatus();
    const pids = runtimePids(s);
    const all = [pids.Xvfb, pids.openbox, pids.dbus, st.xterm.pid].filter(Boolean);
    assert.ok(all.every(pidAlive), 'all run before the stop');
    const stopped = await sdk.stopDesktop();
    assert.deepEqual(Object.keys(stopped), ['state', 'missingDependencies', 'processes', 'runtimeLogPath']);
    assert.equal(stopped.state, 'inactive');
    assert.deepEqual(stopped.processes, []);
    // The stop answers once its children are gone: no waiting needed for them.
    assert.deepEqual(all.filter(pidAlive), [], 'nothing runs when the stop answers');
    await allGone(st.xterm.kids, "xterm's shell");
    const p = await sdk.getProcess(st.xterm.processId);
    assert.equal(p.status, 'exited');
    assert.equal(p.owner, 'desktop');
    // Xvfb was stopped cleanly: its socket and lock file are gone.
    const n = s.display.slice(1);
    assert.ok(!fs.existsSync(`/tmp/.X11-unix/X${n}`), `socket X${n} removed`);
    assert.ok(!fs.existsSync(`/tmp/.X${n}-lock`), `lock .X${n}-lock removed`);
    // Routes now say inactive; a second stop is a no-op.
    await sdkProblem(sdk.getDesktopMousePosition(), 409, 'desktop_runtime_inactive');
    assert.deepEqual(await sdk.stopDesktop(), stopped);
  });
});

/** Starts a desktop with a launched xterm on srv; returns every pid that must go away. */
async function busyDesktop(sdk) {
  const s = await sdk.startDesktop({ width: 640, height: 480, displayNum: displayNumber() });
  const x = await launchXterm(sdk);
  const pids = [...Object.values(runtimePids(s)), x.pid, ...x.kids];
  assert.ok(pids.length >= 4 && pids.every(pidAlive), JSON.stringify(pids));
  return { pids, display: s.display };
}

nodeTest.test('server SIGTERM with an active desktop and an xterm leaves no process', { timeout: 60000 }, async () => {
  const srv = await startServer({ env: DESKTOP_ENV });
  const sdk = await connect(srv);
  let pids = [];
  try {
    ({ pids } = await busyDesktop(sdk));
    await sdk.dispose();
  } catch (e) {
    await sdk.dispose();
    await srv.stop().catch(() => {});
    throw annotate(e, srv);
  }
  await srv.stop(); // SIGTERM; asserts a clean exit and that no descendant outlived it
  await allGone(pids, 'the desktop after the server exited');
});

nodeTest.test('server SIGKILL with an active desktop and an xterm: the children die with it', { timeout: 60000 }, async () => {
  const srv = await startServer({ env: DESKTOP_ENV });
  const sdk = await connect(srv);
  let pids = [];
  let display;
  try {
    ({ pids, display } = await busyDesktop(sdk));
  } catch (e) {
    await srv.stop().catch(() => {});
    throw annotate(e, srv);
  } finally {
    await sdk.dispose();
  }
  await srv.kill9(); // waits (5 s at most) for every descendant seen before the kill
  await allGone(pids, 'the desktop after the server was killed');
  await removeStaleXSocket(display);
});
