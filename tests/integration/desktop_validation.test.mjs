// Desktop request validation and its order (http-api.md §10.2): bad input gets its 400/422
// (or 415) before the runtime is looked at, so a server whose desktop was never started
// answers 400/422 for bad input and 409 desktop_runtime_inactive for good input; with the
// dependencies hidden from PATH, good input gets 503 desktop_dependencies_missing and bad
// input still its 400/422. No desktop is started in this file.
import assert from 'node:assert/strict';
import * as nodeTest from 'node:test';
import { sharedServer, startServer, annotate } from './lib/server.mjs';
import { request, assertProblem } from './lib/http.mjs';
import { connect } from './lib/sdk.mjs';
import { sdkProblem, assertDesktopProblem } from './lib/desktop.mjs';

const { describe, before, after } = nodeTest;

const INVALID = 'desktop_invalid_action';

/** [label, SDK call, status, type code, detail (string, RegExp or undefined)] for bad input. */
const badInput = (sdk) => [
  ['screenshot format=gif', () => sdk.takeDesktopScreenshot({ format: 'gif' }), 400, 'invalid_request', /unknown variant `gif`/],
  ['screenshot quality=0', () => sdk.takeDesktopScreenshot({ quality: 0 }), 400, INVALID, 'quality must be between 1 and 100'],
  ['screenshot quality=101', () => sdk.takeDesktopScreenshot({ format: 'jpeg', quality: 101 }), 400, INVALID, 'quality must be between 1 and 100'],
  ['screenshot scale=0.05', () => sdk.takeDesktopScreenshot({ scale: 0.05 }), 400, INVALID, 'scale must be between 0.1 and 1.0'],
  ['screenshot scale=1.5', () => sdk.takeDesktopScreenshot({ scale: 1.5 }), 400, INVALID, 'scale must be between 0.1 and 1.0'],
  ['screenshot showCursor=maybe', () => sdk.takeDesktopScreenshot({ showCursor: 'maybe' }), 400, 'invalid_request', /showCursor/],
  // Order: the format is read before the values are checked; quality before scale.
  ['screenshot format=gif quality=0', () => sdk.takeDesktopScreenshot({ format: 'gif', quality: 0 }), 400, 'invalid_request', /gif/],
  ['screenshot quality=0 scale=5', () => sdk.takeDesktopScreenshot({ quality: 0, scale: 5 }), 400, INVALID, 'quality must be between 1 and 100'],
  ['region without y', () => sdk.takeDesktopRegionScreenshot({ x: 1, width: 10, height: 10 }), 400, 'invalid_request', /missing field `y`/],
  ['region x=-1', () => sdk.takeDesktopRegionScreenshot({ x: -1, y: 0, width: 10, height: 10 }), 400, INVALID, 'Desktop coordinates must be non-negative'],
  ['region y=-5', () => sdk.takeDesktopRegionScreenshot({ x: 0, y: -5, width: 10, height: 10 }), 400, INVALID, 'Desktop coordinates must be non-negative'],
  ['region width=0', () => sdk.takeDesktopRegionScreenshot({ x: 0, y: 0, width: 0, height: 10 }), 400, INVALID, 'Screenshot region width and height must be greater than 0'],
  ['region height=-1', () => sdk.takeDesktopRegionScreenshot({ x: 0, y: 0, width: 10, height: -1 }), 400, INVALID, 'Screenshot region width and height must be greater than 0'],
  ['region x=-1 quality=0 (quality first)', () => sdk.takeDesktopRegionScreenshot({ x: -1, y: 0, width: 10, height: 10, quality: 0 }), 400, INVALID, 'quality must be between 1 and 100'],
  ['mouse/move x=-1', () => sdk.moveDesktopMouse({ x: -1, y: 0 }), 400, INVALID, 'Desktop coordinates must be non-negative'],
  ['mouse/move without y', () => sdk.moveDesktopMouse({ x: 1 }), 422, 'invalid_request', /missing field `y`/],
  ['mouse/move x a string', () => sdk.moveDesktopMouse({ x: '1', y: 2 }), 422, 'invalid_request', /x: invalid type/],
  ['mouse/click clickCount=0', () => sdk.clickDesktop({ x: 1, y: 1, clickCount: 0 }), 400, INVALID, 'clickCount must be greater than 0'],
  ['mouse/click y=-1', () => sdk.clickDesktop({ x: 1, y: -1 }), 400, INVALID, 'Desktop coordinates must be non-negative'],
  ['mouse/click button=foo', () => sdk.clickDesktop({ x: 1, y: 1, button: 'foo' }), 422, 'invalid_request', /unknown variant `foo`/],
  ['mouse/down button=back', () => sdk.mouseDownDesktop({ button: 'back' }), 422, 'invalid_request', /unknown variant `back`/],
  ['mouse/up x=-3', () => sdk.mouseUpDesktop({ x: -3, y: 1 }), 400, INVALID, 'Desktop coordinates must be non-negative'],
  ['mouse/drag startX=-1', () => sdk.dragDesktopMouse({ startX: -1, startY: 0, endX: 5, endY: 5 }), 400, INVALID, 'Desktop coordinates must be non-negative'],
  ['mouse/drag without endY', () => sdk.dragDesktopMouse({ startX: 1, startY: 0, endX: 5 }), 422, 'invalid_request', /missing field `endY`/],
  ['mouse/scroll no deltas', () => sdk.scrollDesktop({ x: 1, y: 1 }), 400, INVALID, 'deltaX or deltaY must be non-zero'],
  ['mouse/scroll zero deltas', () => sdk.scrollDesktop({ x: 1, y: 1, deltaX: 0, deltaY: 0 }), 400, INVALID, 'deltaX or deltaY must be non-zero'],
  ['keyboard/type empty', () => sdk.typeDesktopText({ text: '' }), 400, INVALID, 'text must not be empty'],
  ['keyboard/type without text', () => sdk.typeDesktopText({}), 422, 'invalid_request', /missing field `text`/],
  ['keyboard/type delayMs=-1', () => sdk.typeDesktopText({ text: 'a', delayMs: -1 }), 422, 'invalid_request', /delayMs/],
  ['keyboard/press empty', () => sdk.pressDesktopKey({ key: '' }), 400, INVALID, 'key must not be empty'],
  ['keyboard/press modifiers.ctrl a string', () => sdk.pressDesktopKey({ key: 'a', modifiers: { ctrl: 'yes' } }), 422, 'invalid_request', /modifiers\.ctrl/],
  ['keyboard/down empty', () => sdk.keyDownDesktop({ key: '' }), 400, INVALID, 'key must not be empty'],
  ['keyboard/up empty', () => sdk.keyUpDesktop({ key: '' }), 400, INVALID, 'key must not be empty'],
  ['windows/{id}/move without y', () => sdk.moveDesktopWindow('4194313', { x: 1 }), 422, 'invalid_request', /missing field `y`/],
  ['windows/{id}/resize width=0', () => sdk.resizeDesktopWindow('4194313', { width: 0, height: 100 }), 400, INVALID, 'width and height must be greater than 0'],
  ['clipboard selection=secondary', () => sdk.getDesktopClipboard({ selection: 'secondary' }), 400, 'invalid_request', /unknown variant `secondary`/],
  ['clipboard write selection=foo', () => sdk.setDesktopClipboard({ text: 'x', selection: 'foo' }), 422, 'invalid_request', /unknown variant `foo`/],
  ['clipboard write text a number', () => sdk.setDesktopClipboard({ text: 1 }), 422, 'invalid_request', /text: invalid type/],
  ['launch without app', () => sdk.launchDesktopApp({}), 422, 'invalid_request', /missing field `app`/],
  ['launch args not strings', () => sdk.launchDesktopApp({ app: 'xterm', args: [1] }), 422, 'invalid_request', /args\[0\]/],
  ['open without target', () => sdk.openDesktopTarget({}), 422, 'invalid_request', /missing field `target`/],
  ['start width=10', () => sdk.startDesktop({ width: 10 }), 400, INVALID, 'width must be between 64 and 16384'],
  ['start height=-1', () => sdk.startDesktop({ height: -1 }), 422, 'invalid_request', /height: invalid value: integer `-1`, expected u32/],
  ['start dpi a string', () => sdk.startDesktop({ dpi: 'high' }), 422, 'invalid_request', /dpi: invalid type/],
  ['start stateDir relative', () => sdk.startDesktop({ stateDir: 'rel/dir' }), 400, INVALID, 'stateDir must be an absolute path'],
];

/** [label, SDK call] for good input: the runtime decides. */
const goodInput = (sdk) => [
  ['display/info', () => sdk.getDesktopDisplayInfo()],
  ['screenshot', () => sdk.takeDesktopScreenshot()],
  ['screenshot jpeg', () => sdk.takeDesktopScreenshot({ format: 'jpeg', quality: 50, scale: 0.5, showCursor: true })],
  ['screenshot/region', () => sdk.takeDesktopRegionScreenshot({ x: 0, y: 0, width: 10, height: 10 })],
  ['mouse/position', () => sdk.getDesktopMousePosition()],
  ['mouse/move', () => sdk.moveDesktopMouse({ x: 1, y: 2 })],
  ['mouse/click', () => sdk.clickDesktop({ x: 1, y: 2, button: 'right', clickCount: 2 })],
  ['mouse/down {}', () => sdk.mouseDownDesktop({})],
  ['mouse/up', () => sdk.mouseUpDesktop({ x: 1, y: 1, button: 'middle' })],
  ['mouse/drag', () => sdk.dragDesktopMouse({ startX: 1, startY: 2, endX: 3, endY: 4 })],
  ['mouse/scroll', () => sdk.scrollDesktop({ x: 1, y: 2, deltaY: -1 })],
  ['keyboard/type', () => sdk.typeDesktopText({ text: 'hi', delayMs: 0 })],
  ['keyboard/press', () => sdk.pressDesktopKey({ key: 'a', modifiers: { ctrl: true } })],
  ['keyboard/down', () => sdk.keyDownDesktop({ key: 'shift' })],
  ['keyboard/up', () => sdk.keyUpDesktop({ key: 'shift' })],
  ['windows', () => sdk.listDesktopWindows()],
  ['windows/focused', () => sdk.getDesktopFocusedWindow()],
  ['windows/{id}/focus', () => sdk.focusDesktopWindow('4194313')],
  ['windows/{id}/move', () => sdk.moveDesktopWindow('4194313', { x: 1, y: 2 })],
  ['windows/{id}/resize', () => sdk.resizeDesktopWindow('4194313', { width: 200, height: 100 })],
  ['clipboard read', () => sdk.getDesktopClipboard({ selection: 'primary' })],
  ['clipboard write', () => sdk.setDesktopClipboard({ text: 'x', selection: 'both' })],
  ['launch', () => sdk.launchDesktopApp({ app: 'xterm', wait: true })],
  ['open', () => sdk.openDesktopTarget({ target: '/tmp' })],
];

describe('desktop not started (dependencies present)', () => {
  const S = sharedServer(nodeTest);
  let sdk;
  before(async () => {
    sdk = await connect(S.srv);
  });
  after(async () => {
    await sdk?.dispose();
  });

  S.test('status and stop: inactive, with every member in order', async (srv) => {
    const s = await sdk.getDesktopStatus();
    assert.deepEqual(Object.keys(s), ['state', 'missingDependencies', 'processes', 'runtimeLogPath']);
    assert.deepEqual({ ...s, runtimeLogPath: undefined }, { state: 'inactive', missingDependencies: [], processes: [], runtimeLogPath: undefined });
    assert.equal(s.runtimeLogPath, `${srv.home}/.local/state/sandbox-agent/desktop/desktop-runtime.log`);
    assert.deepEqual(await sdk.stopDesktop(), s, 'stop with nothing running answers the status');
  });

  S.test('bad input gets its 400/422 before the runtime check', async () => {
    for (const [label, call, status, code, detail] of badInput(sdk)) {
      const p = await sdkProblem(call(), status, code).catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
      if (code === INVALID) assertDesktopProblem(p, status, code, detail);
      else if (detail instanceof RegExp) assert.match(p.detail, detail, label);
      assert.equal(p.processes, undefined, `${label}: no processes member while nothing runs`);
    }
  });

  S.test('good input gets 409 desktop_runtime_inactive with a code member', async () => {
    for (const [label, call] of goodInput(sdk)) {
      const p = await sdkProblem(call(), 409, 'desktop_runtime_inactive').catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
      assertDesktopProblem(p, 409, 'desktop_runtime_inactive', 'Desktop runtime has not been started');
      assert.equal(p.title, 'Desktop Runtime Inactive');
    }
    // An unknown app is not looked up before the runtime check either.
    await sdkProblem(sdk.launchDesktopApp({ app: 'no-such-app-xyz' }), 409, 'desktop_runtime_inactive');
  });

  S.test('415 for a body that is not JSON; start needs a body', async (srv) => {
    const plain = await request(srv, 'POST', '/v1/desktop/mouse/move', { body: '{"x":1,"y":2}', headers: { 'content-type': 'text/plain' } });
    assertProblem(plain, 415, 'unsupported_media_type');
    const none = await request(srv, 'POST', '/v1/desktop/keyboard/type', { body: '{"text":"a"}' });
    assertProblem(none, 415, 'unsupported_media_type');
    const start = await request(srv, 'POST', '/v1/desktop/start');
    assertProblem(start, 415, 'unsupported_media_type');
    // Malformed JSON with the right type is a 400, still before the runtime check.
    const broken = await request(srv, 'POST', '/v1/desktop/mouse/move', { body: '{"x":1,', headers: { 'content-type': 'application/json' } });
    assert.equal(broken.status, 400, broken.text);
    // The problem bodies have the desktop members on the wire too.
    const inv = await request(srv, 'GET', '/v1/desktop/screenshot?quality=0');
    assertDesktopProblem(assertProblem(inv, 400, INVALID), 400, INVALID, 'quality must be between 1 and 100');
    const inactive = await request(srv, 'GET', '/v1/desktop/mouse/position');
    assertDesktopProblem(assertProblem(inactive, 409, 'desktop_runtime_inactive'), 409, 'desktop_runtime_inactive');
  });

  S.test('stream routes while inactive', async (srv) => {
    assert.deepEqual(await sdk.getDesktopStreamStatus(), { active: false });
    assert.deepEqual(await sdk.stopDesktopStream(), { active: false });
    const p = await sdkProblem(sdk.startDesktopStream(), 409, 'conflict');
    assert.equal(p.detail, 'conflict: desktop runtime is not active');
    const url = new URL(sdk.buildDesktopStreamWebSocketUrl());
    const sig = assertProblem(await request(srv, 'GET', url.pathname + url.search), 409, 'conflict');
    assert.equal(sig.detail, 'conflict: desktop streaming is not active');
  });
});

describe('desktop dependencies missing (Xvfb and openbox hidden from PATH)', () => {
  let srv;
  let sdk;
  before(async () => {
    // The server itself needs nothing from PATH; the desktop looks Xvfb and openbox up there.
    srv = await startServer({ env: { PATH: '/nonexistent' } });
    sdk = await connect(srv);
  });
  after(async () => {
    await sdk?.dispose();
    await srv?.stop();
  });
  const test = (name, fn) =>
    nodeTest.test(name, async () => {
      try {
        await fn();
      } catch (e) {
        throw annotate(e, srv);
      }
    });
  const missingSentence = (names) =>
    `Desktop dependencies are not installed: ${names.join(', ')}. Run \`sandbox-agent install desktop --yes\` to install them, or install the required tools manually.`;

  test('status: install_required with lastError, missingDependencies and installCommand, in order', async () => {
    const s = await sdk.getDesktopStatus();
    assert.deepEqual(Object.keys(s), ['state', 'lastError', 'missingDependencies', 'installCommand', 'processes', 'runtimeLogPath']);
    assert.equal(s.state, 'install_required');
    assert.ok(s.missingDependencies.includes('Xvfb') && s.missingDependencies.includes('openbox'), JSON.stringify(s.missingDependencies));
    assert.deepEqual(s.missingDependencies.slice(0, 2), ['Xvfb', 'openbox'], 'executables first');
    assert.equal(s.installCommand, 'sandbox-agent install desktop --yes');
    assert.deepEqual(s.lastError, { code: 'desktop_dependencies_missing', message: missingSentence(s.missingDependencies) });
    assert.deepEqual(s.processes, []);
  });

  test('start, screenshot and the other runtime routes: 503 desktop_dependencies_missing', async () => {
    const { missingDependencies } = await sdk.getDesktopStatus();
    const start = await sdkProblem(sdk.startDesktop({ displayNum: 4000 }), 503, 'desktop_dependencies_missing');
    assert.deepEqual(Object.keys(start), ['type', 'title', 'status', 'detail', 'code', 'installCommand', 'missingDependencies']);
    assert.deepEqual(start, {
      type: 'urn:sandbox-agent:error:desktop_dependencies_missing',
      title: 'Desktop Dependencies Missing',
      status: 503,
      detail: missingSentence(missingDependencies),
      code: 'desktop_dependencies_missing',
      installCommand: 'sandbox-agent install desktop --yes',
      missingDependencies,
    });
    for (const [label, call] of goodInput(sdk)) {
      const p = await sdkProblem(call(), 503, 'desktop_dependencies_missing').catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
      assert.deepEqual(p, start, label);
    }
    assert.equal((await sdk.getDesktopStatus()).state, 'install_required', 'nothing started');
  });

  test('bad input still gets its 400/422 first', async () => {
    for (const [label, call, status, code] of badInput(sdk)) {
      await sdkProblem(call(), status, code).catch((e) => {
        throw new Error(`${label}: ${e.message}`);
      });
    }
  });

  test('stop answers 200 with the status; the dependencies are still reported missing', async () => {
    // The reference resets the state to inactive here (§10.1 quirk); ours keeps telling the
    // truth about the machine.
    const before = await sdk.getDesktopStatus();
    const s = await sdk.stopDesktop();
    assert.deepEqual(s, before);
    assert.equal(s.state, 'install_required');
    assert.deepEqual(await sdk.getDesktopStreamStatus(), { active: false });
  });
});
