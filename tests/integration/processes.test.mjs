// Processes API over raw HTTP and the SDK (http-api.md §9): runtime config, one-shot runs,
// managed pipe processes, stop/kill/delete, input, logs (JSON and SSE follow), limits,
// process-group kills. TTY processes and the terminal WebSocket: processes_tty.test.mjs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import * as nodeTest from 'node:test';
import { sharedServer, withServer, waitFor, OURS_ONLY, IS_REFERENCE } from './lib/server.mjs';
import { request, assertProblem, assertErrorStatus, openSse } from './lib/http.mjs';
import { connect } from './lib/sdk.mjs';

const { describe } = nodeTest;
const S = sharedServer(nodeTest);

const DEFAULTS = {
  maxConcurrentProcesses: 64,
  defaultRunTimeoutMs: 30000,
  maxRunTimeoutMs: 300000,
  maxOutputBytes: 1048576,
  maxLogBytesPerProcess: 10485760,
  maxInputBytesPerRequest: 65536,
};

let seq = 0;
/** A marker unique to this test run, to find our grandchildren in /proc. */
const marker = () => 900000 + (process.pid % 1000) * 100 + ++seq;

const post = (srv, path, body, opts = {}) => request(srv, 'POST', path, { body, ...opts });
const get = (srv, path) => request(srv, 'GET', path);

async function create(srv, body) {
  const res = await post(srv, '/v1/processes', body);
  assert.equal(res.status, 200, res.text);
  return res.json();
}

async function info(srv, id) {
  const res = await get(srv, `/v1/processes/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.json();
}

const waitExited = (srv, id) =>
  waitFor(async () => {
    const p = await info(srv, id);
    return p.status === 'exited' ? p : null;
  }, { what: `${id} to exit`, timeoutMs: 15000 });

const decode = (entries) => Buffer.concat(entries.map((e) => Buffer.from(e.data, 'base64'))).toString('utf8');

async function logs(srv, id, query = '') {
  const res = await get(srv, `/v1/processes/${id}/logs${query}`);
  assert.equal(res.status, 200, res.text);
  return res.json();
}

const waitOutput = (srv, id, re, query = '') =>
  waitFor(async () => {
    const l = await logs(srv, id, query);
    return re.test(decode(l.entries)) ? l : null;
  }, { what: `${id} output matching ${re}` });

async function setConfig(srv, patch) {
  const res = await post(srv, '/v1/processes/config', { ...DEFAULTS, ...patch });
  assert.equal(res.status, 200, res.text);
  return res.json();
}

async function cleanup(srv, id) {
  await post(srv, `/v1/processes/${id}/kill?waitMs=5000`);
  await request(srv, 'DELETE', `/v1/processes/${id}`);
}

/** Live (non-zombie) processes whose command line (argv joined by spaces) is exactly cmdline. */
function liveWith(cmdline) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state === 'Z' || state === 'X') continue;
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (cmd === cmdline) out.push({ pid: Number(name), cmd });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Zombie children of pid. */
function zombiesOf(pid) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z' && Number(rest[1]) === pid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------

describe('runtime config (§9.1)', () => {
  S.test('defaults, SDK get/set, clamping, replace semantics', async (srv) => {
    const sdk = await connect(srv);
    try {
      assert.deepEqual(await sdk.getProcessConfig(), DEFAULTS);
      const res = await get(srv, '/v1/processes/config');
      assert.equal(res.text, JSON.stringify(DEFAULTS), 'member order');
      const set = await sdk.setProcessConfig({ ...DEFAULTS, defaultRunTimeoutMs: 900000, maxRunTimeoutMs: 1000 });
      assert.equal(set.defaultRunTimeoutMs, 1000, 'default clamped to max');
      assert.equal(set.maxRunTimeoutMs, 1000);
      assert.deepEqual(await sdk.getProcessConfig(), set);
      assert.deepEqual(await sdk.setProcessConfig(DEFAULTS), DEFAULTS);
    } finally {
      await sdk.dispose();
    }
  });

  S.test('a NUL character in command, args, cwd or env is refused with 400 (exec would cut the string)', { skip: OURS_ONLY }, async (srv) => {
    const cases = [
      [{ command: 'sh\u0000ignored', args: ['-c', 'echo ran'] }, 'command'],
      [{ command: 'sh', args: ['-c', 'echo ran\u0000; echo more'] }, 'args[1]'],
      [{ command: 'sh', args: ['-c', 'pwd'], cwd: '/tmp\u0000/etc' }, 'cwd'],
      [{ command: 'sh', args: ['-c', 'echo $A'], env: { A: 'x\u0000y' } }, 'env.A'],
      [{ command: 'sh', args: ['-c', 'env'], env: { 'A\u0000B': 'x' } }, null], // refused by the JSON parser
    ];
    for (const [body, field] of cases) {
      for (const route of ['/v1/processes/run', '/v1/processes']) {
        const res = await post(srv, route, body);
        const p = assertProblem(res, 400, 'invalid_request', `${route} ${JSON.stringify(body)}`);
        if (field) assert.equal(p.detail, `invalid request: ${field} must not contain a NUL character`);
        else assert.match(p.detail, /NUL/);
      }
    }
    const list = (await get(srv, '/v1/processes')).json().processes;
    assert.ok(!list.some((p) => p.command.startsWith('sh\u0000')), 'nothing was started');
  });

  nodeTest.test('memory limits cannot be raised past SANDBOX_AGENT_MAX_PROCESS_LOG_BYTES; logs and run output obey it', { skip: OURS_ONLY }, () =>
    withServer({ env: { SANDBOX_AGENT_MAX_PROCESS_LOG_BYTES: '65536' } }, async (srv) => {
      const huge = 2 ** 52;
      const set = await setConfig(srv, { maxLogBytesPerProcess: huge, maxOutputBytes: huge });
      assert.equal(set.maxLogBytesPerProcess, 65536);
      assert.equal(set.maxOutputBytes, 65536);
      assert.equal((await setConfig(srv, { maxLogBytesPerProcess: 1000 })).maxLogBytesPerProcess, 1000, 'lowering stays possible');
      await setConfig(srv, { maxLogBytesPerProcess: huge, maxOutputBytes: huge });
      const run = await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', 'head -c 300000 /dev/zero | tr "\\0" x'] });
      assert.equal(run.status, 200, run.text);
      assert.ok(run.json().stdout.length <= 65536, `run output capped: ${run.json().stdout.length}`);
      assert.equal(run.json().stdoutTruncated, true);
      const created = await post(srv, '/v1/processes', { command: 'sh', args: ['-c', 'head -c 300000 /dev/zero | tr "\\0" y'] });
      assert.equal(created.status, 200, created.text);
      const id = created.json().id;
      await waitExited(srv, id);
      const held = decode((await logs(srv, id)).entries);
      assert.ok(held.length > 0 && held.length <= 65536, `log ring capped: ${held.length}`);
      await cleanup(srv, id);
    }));

  S.test('validation: 400 in order, 422 for shape', async (srv) => {
    const cases = [
      [{ maxConcurrentProcesses: 0, defaultRunTimeoutMs: 0, maxOutputBytes: 0 }, 'maxConcurrentProcesses must be greater than 0'],
      [{ defaultRunTimeoutMs: 0, maxOutputBytes: 0 }, 'timeouts must be greater than 0'],
      [{ maxRunTimeoutMs: 0 }, 'timeouts must be greater than 0'],
      [{ maxOutputBytes: 0 }, 'byte limits must be greater than 0'],
      [{ maxLogBytesPerProcess: 0 }, 'byte limits must be greater than 0'],
      [{ maxInputBytesPerRequest: 0 }, 'byte limits must be greater than 0'],
    ];
    for (const [patch, msg] of cases) {
      const res = await post(srv, '/v1/processes/config', { ...DEFAULTS, ...patch });
      const body = assertProblem(res, 400, 'invalid_request', JSON.stringify(patch));
      assert.equal(body.detail, `invalid request: ${msg}`);
    }
    const missing = { ...DEFAULTS };
    delete missing.maxInputBytesPerRequest;
    assertErrorStatus(await post(srv, '/v1/processes/config', missing), 422, 'missing field', { reference: IS_REFERENCE });
    for (const bad of [-1, '64', null, 1.5]) {
      const res = await post(srv, '/v1/processes/config', { ...DEFAULTS, maxConcurrentProcesses: bad });
      assertErrorStatus(res, 422, `maxConcurrentProcesses ${bad}`, { reference: IS_REFERENCE });
    }
    assertErrorStatus(await post(srv, '/v1/processes/config', '[]', { headers: { 'content-type': 'application/json' } }), 422, 'array body', { reference: IS_REFERENCE });
    assertErrorStatus(await post(srv, '/v1/processes/config', '{', { headers: { 'content-type': 'application/json' } }), 400, 'bad JSON', { reference: IS_REFERENCE });
    assertErrorStatus(await post(srv, '/v1/processes/config', JSON.stringify(DEFAULTS), { headers: { 'content-type': 'text/plain' } }), 415, 'content type', { reference: IS_REFERENCE });
    // Unknown fields are ignored; nothing above changed the config.
    assert.deepEqual((await post(srv, '/v1/processes/config', { ...DEFAULTS, extra: 1 })).json(), DEFAULTS);
  });
});

// ---------------------------------------------------------------------------------------

describe('POST /v1/processes/run (§9.3)', () => {
  S.test('SDK runProcess: exit code, separate streams, cwd, env, member order', async (srv) => {
    const sdk = await connect(srv);
    try {
      const r = await sdk.runProcess({ command: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'] });
      assert.equal(r.exitCode, 3);
      assert.equal(r.timedOut, false);
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\n');
      assert.equal(r.stdoutTruncated, false);
      assert.equal(r.stderrTruncated, false);
      assert.equal(typeof r.durationMs, 'number');
      assert.deepEqual(Object.keys(r), ['exitCode', 'timedOut', 'stdout', 'stderr', 'stdoutTruncated', 'stderrTruncated', 'durationMs']);
      const w = await sdk.runProcess({ command: 'sh', args: ['-c', 'pwd; echo "$FOO-$HOME"'], cwd: '/tmp', env: { FOO: 'bar' } });
      assert.equal(w.stdout, `/tmp\nbar-${srv.home}\n`);
      // Default cwd: the server's own working directory (the test HOME here).
      const d = await sdk.runProcess({ command: 'pwd', cwd: null, timeoutMs: null, maxOutputBytes: null });
      assert.equal(fs.realpathSync(d.stdout.trim()), fs.realpathSync(srv.home));
      // stdin is empty, not the server's.
      const c = await sdk.runProcess({ command: 'cat' });
      assert.equal(c.exitCode, 0);
      assert.equal(c.stdout, '');
    } finally {
      await sdk.dispose();
    }
  });

  S.test('signal death and timeouts give exitCode null (serialised, not omitted)', async (srv) => {
    const res = await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', 'kill -9 $$'] });
    assert.equal(res.status, 200);
    assert.match(res.text, /^\{"exitCode":null,"timedOut":false,/);
    const t = await post(srv, '/v1/processes/run', { command: 'sleep', args: ['30'], timeoutMs: 200 });
    const body = t.json();
    assert.equal(body.timedOut, true);
    assert.equal(body.exitCode, null);
  });

  S.test('the timeout is clamped to maxRunTimeoutMs and kills the whole group', { skip: OURS_ONLY }, async (srv) => {
    const m = marker();
    await setConfig(srv, { maxRunTimeoutMs: 300, defaultRunTimeoutMs: 300 });
    try {
      // A background grandchild holding stdout would delay the reply in the reference (Q16).
      const res = await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', `sleep ${m} & sleep ${m + 1}; echo never`], timeoutMs: 600000 });
      const body = res.json();
      assert.equal(body.timedOut, true, res.text);
      assert.equal(body.exitCode, null);
      assert.equal(body.stdout, '');
      await waitFor(() => liveWith(`sleep ${m}`).length === 0 && liveWith(`sleep ${m + 1}`).length === 0, { what: 'grandchildren to die' });
    } finally {
      await setConfig(srv, {});
    }
  });

  S.test('output cap per stream, truncation flags, lossy UTF-8', async (srv) => {
    let r = (await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', 'echo hello; echo world >&2'], maxOutputBytes: 3 })).json();
    assert.equal(r.stdout, 'hel');
    assert.equal(r.stderr, 'wor');
    assert.equal(r.stdoutTruncated, true);
    assert.equal(r.stderrTruncated, true);
    r = (await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', 'echo hello'], maxOutputBytes: 0 })).json();
    assert.equal(r.stdout, '');
    assert.equal(r.stdoutTruncated, true);
    r = (await post(srv, '/v1/processes/run', { command: 'true', maxOutputBytes: 0 })).json();
    assert.equal(r.stdoutTruncated, false, 'no output, nothing truncated');
    // A request above the configured cap gets the configured cap.
    await setConfig(srv, { maxOutputBytes: 4 });
    try {
      r = (await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', 'echo 123456789'], maxOutputBytes: 1000 })).json();
      assert.equal(r.stdout, '1234');
      assert.equal(r.stdoutTruncated, true);
    } finally {
      await setConfig(srv, {});
    }
    r = (await post(srv, '/v1/processes/run', { command: 'printf', args: ['\\377abc\\342\\202'] })).json();
    assert.equal(r.stdout, '\ufffdabc\ufffd');
    // Output beyond the cap is drained: a large writer still finishes.
    r = (await post(srv, '/v1/processes/run', { command: 'head', args: ['-c', '3000000', '/dev/zero'], maxOutputBytes: 10 })).json();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.length, 10);
    assert.equal(r.stdoutTruncated, true);
  });

  S.test('errors: empty command, spawn failures, body shape', async (srv) => {
    let res = await post(srv, '/v1/processes/run', { command: '' });
    assert.equal(assertProblem(res, 400, 'invalid_request').detail, 'invalid request: command must not be empty');
    res = await post(srv, '/v1/processes/run', { command: 'definitely-not-a-command-xyz' });
    const p = assertProblem(res, 502, 'stream_error');
    assert.equal(p.title, 'Stream Error');
    assert.equal(p.detail, 'stream error: failed to spawn process: No such file or directory (os error 2)');
    assert.deepEqual(p.details, { message: 'failed to spawn process: No such file or directory (os error 2)' });
    res = await post(srv, '/v1/processes/run', { command: '/etc/passwd' });
    assert.equal(assertProblem(res, 502, 'stream_error').details.message, 'failed to spawn process: Permission denied (os error 13)');
    for (const cwd of ['/nonexistent-dir-xyz', '']) {
      res = await post(srv, '/v1/processes/run', { command: 'true', cwd });
      assert.equal(assertProblem(res, 502, 'stream_error').details.message, 'failed to spawn process: No such file or directory (os error 2)', `cwd ${JSON.stringify(cwd)}`);
    }
    for (const body of [{}, { command: 5 }, { command: 'true', args: null }, { command: 'true', args: [1] }, { command: 'true', env: null }, { command: 'true', env: { A: 1 } }, { command: 'true', timeoutMs: -1 }]) {
      assertErrorStatus(await post(srv, '/v1/processes/run', body), 422, JSON.stringify(body), { reference: IS_REFERENCE });
    }
    // Runs are not registered.
    assert.deepEqual((await get(srv, '/v1/processes')).json().processes.filter((x) => x.command === 'definitely-not-a-command-xyz'), []);
  });
});

// ---------------------------------------------------------------------------------------

describe('managed processes (§9.2, §9.4-§9.7, §9.12)', () => {
  S.test('SDK create/get/list/stop/delete; ProcessInfo members and lifecycle', async (srv) => {
    const sdk = await connect(srv);
    try {
      const p = await sdk.createProcess({ command: 'sleep', args: ['1000'], cwd: '/tmp' });
      assert.match(p.id, /^proc_\d+$/);
      assert.deepEqual(Object.keys(p), ['id', 'command', 'args', 'cwd', 'tty', 'interactive', 'owner', 'status', 'pid', 'createdAtMs']);
      assert.equal(p.status, 'running');
      assert.equal(p.owner, 'user');
      assert.equal(p.tty, false);
      assert.equal(p.interactive, false);
      assert.equal(typeof p.pid, 'number');
      // It leads its own session and process group (Q16 fixed).
      if (!IS_REFERENCE) {
        const stat = fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        assert.equal(Number(f[2]), p.pid, 'pgid');
        assert.equal(Number(f[3]), p.pid, 'sid');
      }
      assert.deepEqual(await sdk.getProcess(p.id), p);
      const listed = (await sdk.listProcesses()).processes.find((x) => x.id === p.id);
      assert.deepEqual(listed, p);
      assert.ok((await sdk.listProcesses({ owner: 'user' })).processes.some((x) => x.id === p.id));
      assert.deepEqual((await sdk.listProcesses({ owner: 'desktop' })).processes, []);
      await assert.rejects(sdk.deleteProcess(p.id), (e) => e.status === 409 && /still running/.test(e.problem?.detail));
      const stopped = await sdk.stopProcess(p.id, { waitMs: 5000 });
      assert.equal(stopped.status, 'exited');
      assert.equal('pid' in stopped, false);
      assert.equal('exitCode' in stopped, false, 'killed by a signal: no exitCode');
      assert.equal(typeof stopped.exitedAtMs, 'number');
      assert.deepEqual(Object.keys(stopped), ['id', 'command', 'args', 'cwd', 'tty', 'interactive', 'owner', 'status', 'createdAtMs', 'exitedAtMs']);
      // Already exited: 200, same info, no signal.
      assert.deepEqual(await sdk.killProcess(p.id), stopped);
      await sdk.deleteProcess(p.id);
      await assert.rejects(sdk.getProcess(p.id), (e) => e.status === 404);
      await assert.rejects(sdk.deleteProcess(p.id), (e) => e.status === 404);
    } finally {
      await sdk.dispose();
    }
  });

  S.test('exit code, args default, cwd omitted, normal exit keeps exitCode', async (srv) => {
    const p = await create(srv, { command: 'sh', args: ['-c', 'exit 7'] });
    const done = await waitExited(srv, p.id);
    assert.equal(done.exitCode, 7);
    assert.equal('cwd' in done, false);
    const q = await create(srv, { command: 'true', interactive: true });
    assert.deepEqual(q.args, []);
    assert.equal(q.interactive, true);
    await waitExited(srv, q.id);
    for (const id of [p.id, q.id]) assert.equal((await request(srv, 'DELETE', `/v1/processes/${id}`)).status, 204);
  });

  S.test('unknown ids: 404 not_found with details on every route', async (srv) => {
    const routes = [
      ['GET', '/v1/processes/proc_999999'],
      ['DELETE', '/v1/processes/proc_999999'],
      ['POST', '/v1/processes/proc_999999/stop'],
      ['POST', '/v1/processes/proc_999999/kill'],
      ['GET', '/v1/processes/proc_999999/logs'],
      ['GET', '/v1/processes/proc_999999/logs?follow=true'],
    ];
    for (const [m, path] of routes) {
      const res = await request(srv, m, path);
      const body = assertProblem(res, 404, 'not_found', `${m} ${path}`);
      assert.equal(res.text, '{"type":"urn:sandbox-agent:error:not_found","title":"Not Found","status":404,"detail":"not found: process proc_999999","details":{"id":"proc_999999","resource":"process"}}');
      assert.equal(body.details.resource, 'process');
    }
    assertProblem(await post(srv, '/v1/processes/proc_999999/input', { data: '' }), 404, 'not_found');
    assertProblem(await post(srv, '/v1/processes/proc_999999/terminal/resize', { cols: 1, rows: 1 }), 404, 'not_found');
  });

  S.test('literal routes shadow {id}: wrong methods on /config and /run are 405', async (srv) => {
    let res = await request(srv, 'DELETE', '/v1/processes/config');
    assert.equal(res.status, 405);
    assert.match(res.headers.allow, /GET/);
    assert.match(res.headers.allow, /POST/);
    res = await request(srv, 'GET', '/v1/processes/run');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
  });

  S.test('query errors are 400 before the lookup', async (srv) => {
    for (const q of ['waitMs=abc', 'waitMs=-1', 'waitMs=', 'waitMs=1&waitMs=2']) {
      assertErrorStatus(await post(srv, `/v1/processes/proc_999999/stop?${q}`), 400, q, { reference: IS_REFERENCE });
    }
    for (const q of ['stream=bogus', 'tail=-1', 'tail=', 'since=x', 'follow=1', 'follow=', 'since=99999999999999999999']) {
      assertErrorStatus(await get(srv, `/v1/processes/proc_999999/logs?${q}`), 400, q, { reference: IS_REFERENCE });
    }
    for (const q of ['owner=bogus', 'owner=']) assertErrorStatus(await get(srv, `/v1/processes?${q}`), 400, q, { reference: IS_REFERENCE });
  });

  S.test('create errors: 400 empty command, 502 spawn failure uses up an id, 422 shapes', async (srv) => {
    assertProblem(await post(srv, '/v1/processes', { command: '' }), 400, 'invalid_request');
    const a = await create(srv, { command: 'true' });
    let res = await post(srv, '/v1/processes', { command: 'definitely-not-a-command-xyz' });
    assert.equal(assertProblem(res, 502, 'stream_error').details.message, 'failed to spawn process: No such file or directory (os error 2)');
    res = await post(srv, '/v1/processes', { command: 'true', cwd: '/nonexistent-dir-xyz' });
    assertProblem(res, 502, 'stream_error');
    const b = await create(srv, { command: 'true' });
    const n = (id) => Number(id.slice(5));
    assert.equal(n(b.id), n(a.id) + 3, 'two failed spawns used two numbers');
    for (const body of [{ command: 'true', args: null }, { command: 'true', env: null }, { command: 'true', tty: null }, { command: 'true', interactive: null }, { command: 'true', tty: 'yes' }, { args: [] }]) {
      assertErrorStatus(await post(srv, '/v1/processes', body), 422, JSON.stringify(body), { reference: IS_REFERENCE });
    }
    for (const id of [a.id, b.id]) {
      await waitExited(srv, id);
      await request(srv, 'DELETE', `/v1/processes/${id}`);
    }
  });

  S.test('concurrency limit: 409 for managed processes, /run not limited', async (srv) => {
    const running = (await get(srv, '/v1/processes')).json().processes.filter((p) => p.status === 'running').length;
    await setConfig(srv, { maxConcurrentProcesses: running + 1 });
    const p = await create(srv, { command: 'sleep', args: ['1000'] });
    try {
      const res = await post(srv, '/v1/processes', { command: 'sleep', args: ['1000'] });
      const body = assertProblem(res, 409, 'conflict');
      assert.equal(body.detail, `conflict: max concurrent process limit reached (${running + 1})`);
      assert.deepEqual(body.details, { message: `max concurrent process limit reached (${running + 1})` });
      // Validation still comes first.
      assertProblem(await post(srv, '/v1/processes', { command: '' }), 400, 'invalid_request');
      const r = (await post(srv, '/v1/processes/run', { command: 'echo', args: ['ok'] })).json();
      assert.equal(r.stdout, 'ok\n');
    } finally {
      await setConfig(srv, {});
      await cleanup(srv, p.id);
    }
  });

  S.test('list is sorted lexicographically by id (Q13) and filters by owner', async (srv) => {
    const made = [];
    for (let i = 0; i < 11; i++) made.push((await create(srv, { command: 'true' })).id);
    const ids = (await get(srv, '/v1/processes')).json().processes.map((p) => p.id);
    assert.deepEqual(ids, [...ids].sort());
    for (const id of made) assert.ok(ids.includes(id));
    const users = (await get(srv, '/v1/processes?owner=user')).json().processes.map((p) => p.id);
    assert.deepEqual(users, ids);
    assert.deepEqual((await get(srv, '/v1/processes?owner=system')).json(), { processes: [] });
    for (const id of made) {
      await waitExited(srv, id);
      await request(srv, 'DELETE', `/v1/processes/${id}`);
    }
  });

  S.test('stop waits up to waitMs; waitMs=0 answers at once; kill ends a TERM-ignoring process', async (srv) => {
    // `trap "" TERM` is inherited by sleep, so SIGTERM does nothing here.
    const p = await create(srv, { command: 'sh', args: ['-c', 'trap "" TERM; echo ready; sleep 1000'] });
    await waitOutput(srv, p.id, /ready/);
    let r = (await post(srv, `/v1/processes/${p.id}/stop?waitMs=0`)).json();
    assert.equal(r.status, 'running');
    r = (await post(srv, `/v1/processes/${p.id}/stop?waitMs=100`)).json();
    assert.equal(r.status, 'running', 'TERM ignored: still running after the wait');
    r = (await post(srv, `/v1/processes/${p.id}/kill?waitMs=10000`)).json();
    assert.equal(r.status, 'exited');
    assert.equal('exitCode' in r, false);
    assert.equal((await request(srv, 'DELETE', `/v1/processes/${p.id}`)).status, 204);
  });

  S.test('kill reaches grandchildren; none is left in /proc, no zombie either', { skip: OURS_ONLY }, async (srv) => {
    const m = marker();
    const p = await create(srv, { command: 'sh', args: ['-c', `sleep ${m} & sleep ${m + 1} & (sleep ${m + 2}; true) & echo started; wait`] });
    await waitOutput(srv, p.id, /started/);
    await waitFor(() => liveWith(`sleep ${m}`).length + liveWith(`sleep ${m + 1}`).length + liveWith(`sleep ${m + 2}`).length === 3, { what: 'grandchildren to start' });
    const r = (await post(srv, `/v1/processes/${p.id}/kill?waitMs=10000`)).json();
    assert.equal(r.status, 'exited');
    await waitFor(() => [m, m + 1, m + 2].every((x) => liveWith(`sleep ${x}`).length === 0), { what: 'grandchildren gone' });
    await waitFor(() => zombiesOf(srv.pid).length === 0, { what: 'no zombie children of the server' });
    await request(srv, 'DELETE', `/v1/processes/${p.id}`);
  });

  S.test('stop reaches jobs that left the process group (same session)', { skip: OURS_ONLY }, async (srv) => {
    const m = marker();
    // set -m puts the background job in its own process group.
    const p = await create(srv, { command: 'sh', args: ['-c', `set -m; sleep ${m} & echo started; wait`] });
    await waitOutput(srv, p.id, /started/);
    await waitFor(() => liveWith(`sleep ${m}`).length === 1, { what: 'job to start' });
    const r = (await post(srv, `/v1/processes/${p.id}/stop?waitMs=10000`)).json();
    assert.equal(r.status, 'exited');
    await waitFor(() => liveWith(`sleep ${m}`).length === 0, { what: 'job gone' });
    await request(srv, 'DELETE', `/v1/processes/${p.id}`);
  });

  S.test('a leader that exits takes its leftover session with it', { skip: OURS_ONLY }, async (srv) => {
    const m = marker();
    const p = await create(srv, { command: 'sh', args: ['-c', `sleep ${m} >/dev/null 2>&1 & echo started`] });
    const done = await waitExited(srv, p.id);
    assert.equal(done.exitCode, 0);
    await waitFor(() => liveWith(`sleep ${m}`).length === 0, { what: 'orphaned job gone' });
    await request(srv, 'DELETE', `/v1/processes/${p.id}`);
  });
});

// ---------------------------------------------------------------------------------------

describe('input (§9.9)', () => {
  S.test('SDK sendProcessInput: base64 default, utf8 and text; stdin is a pipe even when not interactive (Q14)', async (srv) => {
    const sdk = await connect(srv);
    try {
      const p = await sdk.createProcess({ command: 'cat' });
      assert.deepEqual(await sdk.sendProcessInput(p.id, { data: Buffer.from('one\n').toString('base64') }), { bytesWritten: 4 });
      assert.deepEqual(await sdk.sendProcessInput(p.id, { data: 'two\n', encoding: 'utf8' }), { bytesWritten: 4 });
      assert.deepEqual(await sdk.sendProcessInput(p.id, { data: 'thr€\n', encoding: 'text' }), { bytesWritten: 7 });
      assert.deepEqual(await sdk.sendProcessInput(p.id, { data: 'Zm91cgo=', encoding: null }), { bytesWritten: 5 });
      assert.deepEqual(await sdk.sendProcessInput(p.id, { data: '' }), { bytesWritten: 0 });
      await waitOutput(srv, p.id, /^one\ntwo\nthr€\nfour\n$/);
      await sdk.killProcess(p.id, { waitMs: 5000 });
      await assert.rejects(sdk.sendProcessInput(p.id, { data: '' }), (e) => e.status === 409 && e.problem.detail === 'conflict: process is not running');
      await sdk.deleteProcess(p.id);
    } finally {
      await sdk.dispose();
    }
  });

  S.test('errors: encoding, base64 messages, 413 variant, order of checks', async (srv) => {
    const p = await create(srv, { command: 'cat' });
    const send = (body, id = p.id) => post(srv, `/v1/processes/${id}/input`, body);
    let b = assertProblem(await send({ data: 'x', encoding: 'utf-8' }), 400, 'invalid_request');
    assert.equal(b.detail, 'invalid request: encoding must be one of: base64, utf8, text');
    const b64 = {
      'hi\n': 'Invalid symbol 10, offset 2.',
      a: 'Invalid input length: 1',
      aGk: 'Invalid padding',
      'aGk==': 'Invalid symbol 61, offset 3.',
      'aG=k': 'Invalid symbol 61, offset 2.',
      'aGl=': 'Invalid last symbol 108, offset 2.',
      'aGkK=': 'Invalid symbol 61, offset 4.',
      'Zm9v!': 'Invalid symbol 33, offset 4.',
      '====': 'Invalid symbol 61, offset 0.',
      YQ: 'Invalid padding',
      'YQ=': 'Invalid padding',
      'YR==': 'Invalid last symbol 82, offset 1.',
      'aGkKa': 'Invalid input length: 5',
    };
    for (const [data, msg] of Object.entries(b64)) {
      b = assertProblem(await send({ data }), 400, 'invalid_request', data);
      assert.equal(b.detail, `invalid request: invalid base64 input: ${msg}`, JSON.stringify(data));
    }
    assertErrorStatus(await send({}), 422, 'missing data', { reference: IS_REFERENCE });
    assertErrorStatus(await send({ data: 5 }), 422, 'data type', { reference: IS_REFERENCE });
    await setConfig(srv, { maxInputBytesPerRequest: 4 });
    try {
      const res = await send({ data: 'hello', encoding: 'utf8' });
      assert.equal(res.text, '{"type":"urn:sandbox-agent:error:invalid_request","title":"Payload Too Large","status":413,"detail":"invalid request: input payload exceeds maxInputBytesPerRequest (4)"}');
      assertProblem(res, 413, 'invalid_request');
      assertProblem(await send({ data: 'aGVsbG8=' }), 413, 'invalid_request');
      assert.deepEqual((await send({ data: 'hell', encoding: 'utf8' })).json(), { bytesWritten: 4 });
      // Decoding and size come before the lookup and the state.
      assertProblem(await send({ data: '!!' }, 'proc_999999'), 400, 'invalid_request');
      assertProblem(await send({ data: 'hello', encoding: 'utf8' }, 'proc_999999'), 413, 'invalid_request');
    } finally {
      await setConfig(srv, {});
    }
    await cleanup(srv, p.id);
  });
});

// ---------------------------------------------------------------------------------------

describe('logs (§9.8)', () => {
  S.test('SDK getProcessLogs: one buffer, stream views, since, tail, Last-Event-ID', async (srv) => {
    const sdk = await connect(srv);
    try {
      const p = await sdk.createProcess({ command: 'sh', args: ['-c', 'echo one; read x; echo two >&2; read x; echo three; read x; echo four >&2; read x; echo five'] });
      for (let i = 1; i <= 4; i++) {
        await waitFor(async () => (await sdk.getProcessLogs(p.id)).entries.length === i, { what: `entry ${i}` });
        await sdk.sendProcessInput(p.id, { data: '\n', encoding: 'utf8' });
      }
      await waitExited(srv, p.id);
      const all = await sdk.getProcessLogs(p.id);
      assert.equal(all.processId, p.id);
      assert.equal(all.stream, 'combined');
      assert.deepEqual(all.entries.map((e) => e.sequence), [1, 2, 3, 4, 5]);
      assert.deepEqual(all.entries.map((e) => e.stream), ['stdout', 'stderr', 'stdout', 'stderr', 'stdout']);
      assert.equal(decode(all.entries), 'one\ntwo\nthree\nfour\nfive\n');
      for (const e of all.entries) {
        assert.deepEqual(Object.keys(e), ['sequence', 'stream', 'timestampMs', 'data', 'encoding']);
        assert.equal(e.encoding, 'base64');
      }
      const out = await sdk.getProcessLogs(p.id, { stream: 'stdout' });
      assert.equal(out.stream, 'stdout');
      assert.deepEqual(out.entries.map((e) => e.sequence), [1, 3, 5]);
      assert.deepEqual((await sdk.getProcessLogs(p.id, { stream: 'stderr' })).entries.map((e) => e.sequence), [2, 4]);
      assert.deepEqual((await sdk.getProcessLogs(p.id, { stream: 'pty' })).entries, []);
      assert.deepEqual((await sdk.getProcessLogs(p.id, { since: 2 })).entries.map((e) => e.sequence), [3, 4, 5]);
      assert.deepEqual((await sdk.getProcessLogs(p.id, { tail: 2 })).entries.map((e) => e.sequence), [4, 5]);
      assert.deepEqual((await sdk.getProcessLogs(p.id, { tail: 0 })).entries, []);
      // Filter, then since, then tail.
      assert.deepEqual((await sdk.getProcessLogs(p.id, { stream: 'stdout', since: 1, tail: 1 })).entries.map((e) => e.sequence), [5]);
      assert.deepEqual((await sdk.getProcessLogs(p.id, { stream: 'stdout', since: 1, tail: 5 })).entries.map((e) => e.sequence), [3, 5]);
      // Last-Event-ID acts like since, even without follow; the later bound wins.
      const lei = async (h, q = '') => (await request(srv, 'GET', `/v1/processes/${p.id}/logs${q}`, { headers: { 'last-event-id': h } })).json().entries.map((e) => e.sequence);
      assert.deepEqual(await lei('3'), [4, 5]);
      assert.deepEqual(await lei(' 2 ', '?since=3'), [4, 5]);
      assert.deepEqual(await lei('4', '?since=1'), [5]);
      assert.deepEqual(await lei('+1'), [2, 3, 4, 5]);
      assert.deepEqual(await lei(''), [1, 2, 3, 4, 5]); // empty: no Last-Event-ID, as in the reference
      for (const bad of ['abc', '-1', '1.5']) {
        const res = await request(srv, 'GET', `/v1/processes/${p.id}/logs`, { headers: { 'last-event-id': bad } });
        assert.equal(assertProblem(res, 400, 'invalid_request').detail, 'invalid request: Last-Event-ID must be a positive integer');
      }
      await sdk.deleteProcess(p.id);
    } finally {
      await sdk.dispose();
    }
  });

  S.test('the ring rotates instead of growing; an oversized chunk is dropped too', async (srv) => {
    // Chunks are at most 64 KiB, so a 100 kB ring always keeps the newest one.
    await setConfig(srv, { maxLogBytesPerProcess: 100000 });
    try {
      const p = await create(srv, { command: 'sh', args: ['-c', 'i=0; while [ $i -lt 20000 ]; do echo line-$i-0123456789; i=$((i+1)); done'] });
      await waitExited(srv, p.id);
      const l = await logs(srv, p.id);
      const bytes = l.entries.reduce((n, e) => n + Buffer.from(e.data, 'base64').length, 0);
      assert.ok(bytes <= 100000, `kept ${bytes} bytes`);
      assert.ok(l.entries.length > 0);
      assert.ok(l.entries[0].sequence > 1, 'the oldest entries were dropped');
      assert.match(decode(l.entries), /line-19999-0123456789\n$/);
      const seqs = l.entries.map((e) => e.sequence);
      assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), 'consecutive, newest kept');
      await request(srv, 'DELETE', `/v1/processes/${p.id}`);

      await setConfig(srv, { maxLogBytesPerProcess: 10 });
      const q = await create(srv, { command: 'printf', args: ['%0100d', '0'] });
      await waitExited(srv, q.id);
      assert.deepEqual((await logs(srv, q.id)).entries, []);
      await request(srv, 'DELETE', `/v1/processes/${q.id}`);
    } finally {
      await setConfig(srv, {});
    }
  });

  S.test('SDK followProcessLogs: replay, then live entries', async (srv) => {
    const sdk = await connect(srv);
    try {
      const p = await sdk.createProcess({ command: 'cat' });
      await sdk.sendProcessInput(p.id, { data: 'first\n', encoding: 'utf8' });
      await waitOutput(srv, p.id, /first/);
      const got = [];
      let wake = () => {};
      const sub = await sdk.followProcessLogs(p.id, (e) => {
        got.push(e);
        wake();
      });
      const until = (pred, what) =>
        waitFor(() => pred(), { what }).catch((e) => {
          throw new Error(`${e.message}; got ${JSON.stringify(got)}`);
        });
      await until(() => got.length >= 1, 'replayed entry');
      assert.equal(decode(got.slice(0, 1)), 'first\n');
      await sdk.sendProcessInput(p.id, { data: 'second\n', encoding: 'utf8' });
      await until(() => decode(got) === 'first\nsecond\n', 'live entry');
      assert.deepEqual(got.map((e) => e.sequence), [1, 2]);
      sub.close();
      await sub.closed.catch(() => {});
      await cleanup(srv, p.id);
    } finally {
      await sdk.dispose();
    }
  });

  S.test('SSE framing: event log, id = sequence, replay with since/tail/Last-Event-ID, stays open after exit, ends on delete', async (srv) => {
    const p = await create(srv, { command: 'sh', args: ['-c', 'echo a; read x; echo b; read x; echo c'] });
    const path = (q) => `/v1/processes/${p.id}/logs?follow=true${q}`;
    await waitOutput(srv, p.id, /a/);
    const s1 = await openSse(srv, null, { path: path(''), headers: { accept: 'application/json' } });
    assert.equal(s1.status, 200, 'SSE whatever the Accept header says');
    assert.match(s1.headers['content-type'], /^text\/event-stream/);
    assert.equal(s1.headers['cache-control'], 'no-cache');
    assert.match(s1.headers['transfer-encoding'], /chunked/);
    await s1.waitFor((evs) => evs.length === 1, 'replay');
    await post(srv, `/v1/processes/${p.id}/input`, { data: '\n', encoding: 'utf8' });
    await s1.waitFor((evs) => evs.length === 2, 'live b');
    await post(srv, `/v1/processes/${p.id}/input`, { data: '\n', encoding: 'utf8' });
    await s1.waitFor((evs) => evs.length === 3, 'live c');
    for (const [i, ev] of s1.events.entries()) {
      assert.equal(ev.event, 'log');
      assert.equal(ev.id, String(i + 1));
      assert.equal(ev.json.sequence, i + 1);
      assert.deepEqual(Object.keys(ev.json), ['sequence', 'stream', 'timestampMs', 'data', 'encoding']);
      assert.deepEqual(ev.lines.slice(0, 3).map((l) => l.split(':')[0]), ['event', 'id', 'data']);
    }
    assert.equal(decode(s1.events.map((e) => e.json)), 'a\nb\nc\n');
    await waitExited(srv, p.id);
    const s2 = await openSse(srv, null, { path: path('&since=1') });
    await s2.waitFor((evs) => evs.length === 2, 'since replay');
    assert.deepEqual(s2.events.map((e) => e.id), ['2', '3']);
    const s3 = await openSse(srv, null, { path: path('&tail=1'), headers: { 'last-event-id': '1' } });
    await s3.waitFor((evs) => evs.length === 1, 'tail replay');
    assert.equal(s3.events[0].id, '3');
    const s4 = await openSse(srv, null, { path: path(''), headers: { 'last-event-id': '2' } });
    await s4.waitFor((evs) => evs.length === 1, 'Last-Event-ID replay');
    assert.equal(s4.events[0].id, '3');
    // Q17: the streams stay open after the exit; DELETE ends them.
    assert.equal(s1.res.complete, false);
    assert.equal((await request(srv, 'DELETE', `/v1/processes/${p.id}`)).status, 204);
    for (const s of [s1, s2, s3, s4]) assert.equal(await s.ended, true, 'clean end');
  });

  S.test('a replay larger than the stream queue limit is paced, not dropped', { skip: OURS_ONLY }, async (srv) => {
    // 24 MB of output is 32 MB of base64: twice the 16 MiB a stream may have queued.
    await setConfig(srv, { maxLogBytesPerProcess: 32 << 20 });
    try {
      const total = 24 << 20;
      const p = await create(srv, { command: 'head', args: ['-c', String(total), '/dev/zero'] });
      await waitExited(srv, p.id);
      const s = await openSse(srv, null, { path: `/v1/processes/${p.id}/logs?follow=true` });
      let bytes = 0;
      let counted = 0;
      await s.waitFor((evs) => {
        for (; counted < evs.length; counted++) bytes += Buffer.from(evs[counted].json.data, 'base64').length;
        return bytes === total;
      }, 'the whole replay', 60000);
      assert.deepEqual(s.events.map((e) => Number(e.id)), s.events.map((_, i) => i + 1));
      assert.equal(s.res.complete, false, 'still open');
      assert.equal((await request(srv, 'DELETE', `/v1/processes/${p.id}`)).status, 204);
      assert.equal(await s.ended, true);
    } finally {
      await setConfig(srv, {});
    }
  });

  S.test('a follower that does not read is dropped; the server carries on', { skip: OURS_ONLY }, async (srv) => {
    const p = await create(srv, { command: 'sh', args: ['-c', 'read x; head -c 60000000 /dev/zero'] });
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let got = 0;
    let ended = false;
    const closed = new Promise((r) => sock.on('close', r));
    sock.on('data', (d) => (got += d.length));
    sock.on('end', () => (ended = true));
    sock.write(`GET /v1/processes/${p.id}/logs?follow=true HTTP/1.1\r\nhost: x\r\n\r\n`);
    // Wait for the response head, then stop reading.
    await waitFor(() => got > 0, { what: 'SSE head' });
    sock.pause();
    await post(srv, `/v1/processes/${p.id}/input`, { data: '\n', encoding: 'utf8' });
    await waitExited(srv, p.id);
    sock.resume();
    await closed;
    assert.ok(ended || sock.destroyed);
    assert.ok(got < 60000000 * 1.3, `dropped before everything was sent (${got} bytes)`);
    const h = await get(srv, '/v1/health');
    assert.equal(h.status, 200);
    await request(srv, 'DELETE', `/v1/processes/${p.id}`);
  });
});

describe('SSE keep-alive', () => {
  nodeTest.test('an empty comment after the idle interval', { skip: OURS_ONLY }, async () => {
    await withServer({ env: { SANDBOX_AGENT_SSE_HEARTBEAT_MS: '100' } }, async (srv) => {
      const p = await create(srv, { command: 'sleep', args: ['1000'] });
      const s = await openSse(srv, null, { path: `/v1/processes/${p.id}/logs?follow=true` });
      await waitFor(() => s.comments.length >= 2, { what: 'keep-alive comments' });
      assert.match(s.raw, /^:\n\n/);
      assert.deepEqual(s.events, []);
      s.close();
      await cleanup(srv, p.id);
    });
  });
});

describe('descriptors', () => {
  // A child holds three descriptors once started and none while its start is queued, so
  // a low limit admits many concurrent runs; past it, runs fail clearly and the server
  // keeps serving with nothing leaked.
  nodeTest.test('under a 64-descriptor limit: 12 concurrent runs pass, a burst past it fails cleanly, nothing leaks', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      execFileSync('prlimit', ['--pid', String(srv.pid), '--nofile=64:64']);
      const fdCount = () => fs.readdirSync(`/proc/${srv.pid}/fd`).length;
      const before = fdCount();
      const run = () => post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', 'sleep 0.3; echo ok'] });
      const twelve = await Promise.all(Array.from({ length: 12 }, run));
      assert.deepEqual(twelve.map((r) => r.status), Array(12).fill(200));
      for (const r of twelve) assert.equal(r.json().stdout, 'ok\n');
      const burst = await Promise.all(Array.from({ length: 40 }, () => run().catch((e) => ({ status: 'ERR', error: e }))));
      const failed = burst.filter((r) => r.status !== 200);
      assert.ok(failed.length > 0, 'the burst goes past the limit');
      for (const r of failed) {
        if (r.status === 'ERR') continue; // the connection itself could not be accepted
        assertProblem(r, 502, 'stream_error');
        assert.match(r.json().detail, /Too many open files/);
      }
      assert.equal((await get(srv, '/v1/health')).status, 200);
      await waitFor(() => fdCount() <= before, { what: () => `descriptors back to ${before} (now ${fdCount()})` });
      const after = await Promise.all(Array.from({ length: 5 }, run));
      assert.deepEqual(after.map((r) => r.status), Array(5).fill(200));
    }));
});
