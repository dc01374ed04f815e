// Child lifetime guarantees of the server (docs/architecture.md, "Children"): children die
// with a SIGKILLed server (every kind: managed pipe process, managed TTY process, a
// /v1/processes/run in flight, an ACP agent); orphans that re-parent to the server are
// reaped (no zombie stays); spawn failures come back from the spawn itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import os from 'node:os';
import { startServer, freePort, waitFor, BIN, OURS_ONLY, NEEDS_OUR_MOCK } from './lib/server.mjs';
import { request, acpPost, initializeMsg, assertProblem } from './lib/http.mjs';

const { describe, test } = nodeTest;

let seq = 0;
/** A number unique to this test run, to find our children in /proc by their command line. */
const marker = () => 800000 + (process.pid % 1000) * 100 + ++seq;

const post = (srv, p, body) => request(srv, 'POST', p, { body });

/** /proc/<pid>/stat fields after the command: [state, ppid, pgrp, session, ...], or null. */
function statOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes whose argv joined by spaces is exactly cmdline. */
function liveWith(cmdline) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = statOf(name);
    if (!st || st[0] === 'Z' || st[0] === 'X') continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (cmd === cmdline) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

const alive = (pid) => {
  const st = statOf(pid);
  return st !== null && st[0] !== 'Z' && st[0] !== 'X';
};

/** Zombie children of pid. */
function zombiesOf(pid) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = statOf(name);
    if (st && st[0] === 'Z' && Number(st[1]) === pid) out.push(Number(name));
  }
  return out;
}

/** The pid of srv's sentinel (`sandbox-agent sentinel`, holding the read end of a pipe
 * whose write end is the server's), or null. */
function sentinelOf(srv) {
  const fdTargets = (pid) => {
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).map((f) => {
        try { return fs.readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return ''; }
      });
    } catch {
      return [];
    }
  };
  const mine = new Set(fdTargets(srv.pid).filter((t) => t.startsWith('pipe:')));
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || !alive(Number(name))) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')[1] !== 'sentinel') continue;
      if (mine.has(fs.readlinkSync(`/proc/${name}/fd/3`))) return Number(name);
    } catch { /* gone or not ours */ }
  }
  return null;
}

/** Stops a server we SIGKILLed ourselves: only its home is left to clean up. */
async function forget(srv) {
  try {
    await srv.stop();
  } catch (e) {
    if (!/did not exit cleanly/.test(e.message)) throw e;
  }
}

describe('children and the server', () => {
  test('a SIGKILLed server takes every direct child with it (PR_SET_PDEATHSIG)', { skip: OURS_ONLY || NEEDS_OUR_MOCK }, async () => {
    const srv = await startServer();
    try {
      const m = marker();
      let res = await post(srv, '/v1/processes', { command: 'sleep', args: [String(m)] });
      assert.equal(res.status, 200, res.text);
      res = await post(srv, '/v1/processes', { command: 'sleep', args: [String(m + 1)], tty: true });
      assert.equal(res.status, 200, res.text);
      // A run in flight: its answer never comes.
      post(srv, '/v1/processes/run', { command: 'sleep', args: [String(m + 2)] }).catch(() => {});
      res = await acpPost(srv, `lifetime-${process.pid}`, initializeMsg(0), { agent: 'mock' });
      assert.equal(res.status, 200, res.text);

      const sleeps = await waitFor(() => {
        const pids = [m, m + 1, m + 2].map((x) => liveWith(`sleep ${x}`));
        return pids.every((p) => p.length === 1) ? pids.flat() : null;
      }, { what: 'the three sleeps to start' });
      for (const pid of sleeps) assert.equal(Number(statOf(pid)[1]), srv.pid, `sleep ${pid} is a direct child`);
      const agents = srv.descendants().filter((d) => /mock-agent-process/.test(d.cmdline) && d.state !== 'Z');
      assert.equal(agents.length, 1, 'the mock agent runs');
      const children = [...sleeps, agents[0].pid];
      // Every child leads its own session and process group.
      for (const pid of children) {
        const st = statOf(pid);
        assert.deepEqual([Number(st[2]), Number(st[3])], [pid, pid], `${pid} leads its group and session`);
      }

      srv.child.kill('SIGKILL');
      await srv.exited;
      await waitFor(() => children.every((pid) => !alive(pid)), { what: `children ${children.join(' ')} to die with the server` });
    } finally {
      await forget(srv);
    }
  });

  test('a SIGKILLed server takes whole trees with it: grandchildren of managed, TTY and run processes (the sentinel)', { skip: OURS_ONLY }, async () => {
    const srv = await startServer();
    let sentinel = null;
    try {
      const m = marker();
      assert.equal(sentinelOf(srv), null, 'no sentinel before the first child');
      let res = await post(srv, '/v1/processes', { command: 'sh', args: ['-c', `sleep ${m} & wait`] });
      assert.equal(res.status, 200, res.text);
      // Started with the first child, it watches the server from outside its tree.
      sentinel = await waitFor(() => sentinelOf(srv), { what: "the server's sentinel" });
      assert.ok(!srv.descendants().some((d) => d.pid === sentinel), 'the sentinel is not a descendant of the server');
      res = await post(srv, '/v1/processes', { command: 'sh', args: ['-c', `sleep ${m + 1} & wait`], tty: true });
      assert.equal(res.status, 200, res.text);
      post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', `sleep ${m + 2} & wait`] }).catch(() => {});
      const grandchildren = await waitFor(() => {
        const pids = [m, m + 1, m + 2].map((x) => liveWith(`sleep ${x}`));
        return pids.every((p) => p.length === 1) ? pids.flat() : null;
      }, { what: 'the three grandchildren to start' });
      for (const pid of grandchildren) assert.notEqual(Number(statOf(pid)[1]), srv.pid, `sleep ${pid} is a grandchild`);

      srv.child.kill('SIGKILL');
      await srv.exited;
      await waitFor(() => grandchildren.every((pid) => !alive(pid)), { what: `grandchildren ${grandchildren.join(' ')} to die with the server` });
      await waitFor(() => !alive(sentinel), { what: 'the sentinel to exit once its work is done' });
    } finally {
      await forget(srv);
    }
  });

  test('after a graceful stop the sentinel exits too', { skip: OURS_ONLY }, async () => {
    const srv = await startServer();
    assert.equal((await post(srv, '/v1/processes/run', { command: 'true' })).status, 200);
    const sentinel = await waitFor(() => sentinelOf(srv), { what: "the server's sentinel" });
    await srv.stop();
    await waitFor(() => !alive(sentinel), { what: 'the sentinel of the stopped server to exit' });
  });

  test('orphans that re-parent to the server are reaped: no zombie stays', { skip: OURS_ONLY }, async () => {
    const srv = await startServer();
    try {
      const m = marker();
      // One grandchild stays in the group (killed when its leader is done), one escapes into
      // a session of its own and lives on as the server's child (it is a subreaper).
      const script = `sleep ${m} >/dev/null 2>&1 & setsid sleep ${m + 1} </dev/null >/dev/null 2>&1 & ` +
        `e=$!; while [ "$(cut -d' ' -f6 /proc/$e/stat)" = $$ ]; do sleep 0.01; done; echo $e`;
      const res = await post(srv, '/v1/processes/run', { command: 'sh', args: ['-c', script] });
      assert.equal(res.status, 200, res.text);
      const escaped = Number(res.json().stdout.trim());
      assert.ok(escaped > 0, res.text);
      await waitFor(() => liveWith(`sleep ${m}`).length === 0, { what: 'the grandchild in the group to die' });
      assert.equal(Number(statOf(escaped)?.[1]), srv.pid, 're-parented to the server');
      process.kill(escaped, 'SIGKILL');
      await waitFor(() => statOf(escaped) === null, { what: 'the orphan to be reaped' });
      await waitFor(() => zombiesOf(srv.pid).length === 0, { what: 'no zombie children of the server' });
    } finally {
      await srv.stop();
    }
  });

  test('a server started with stdin, stdout and stderr closed serves, spawns and stops cleanly', { skip: OURS_ONLY }, async () => {
    const port = await freePort();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-closed-stdio-'));
    const child = spawn('sh', ['-c', 'exec "$0" server --no-token --port "$1" <&- >&- 2>&-', BIN, String(port)], { env: { ...process.env, HOME: home }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      const srv = { port, baseUrl: `http://127.0.0.1:${port}` };
      await waitFor(async () => {
        try {
          return (await request(srv, 'GET', '/v1/health')).status === 200;
        } catch {
          return false;
        }
      }, { what: 'the server with closed stdio to answer' });
      const res = await post(srv, '/v1/processes/run', { command: 'echo', args: ['hi'] });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json().stdout, 'hi\n');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null }, 'a clean exit, no libuv assertion');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  test('spawn failures: missing command, not executable, bad cwd (run and managed)', async () => {
    const srv = await startServer();
    try {
      const dir = fs.mkdtempSync(path.join(srv.home, 'exec-'));
      const plain = path.join(dir, 'plain');
      fs.writeFileSync(plain, 'echo hi\n', { mode: 0o644 });
      const cases = [
        [{ command: 'definitely-not-a-command-xyz' }, 'No such file or directory (os error 2)'],
        [{ command: plain }, 'Permission denied (os error 13)'],
        [{ command: dir }, 'Permission denied (os error 13)'],
        [{ command: 'plain', env: { PATH: dir } }, 'Permission denied (os error 13)'],
        [{ command: 'true', cwd: '/nonexistent-dir-xyz' }, 'No such file or directory (os error 2)'],
        [{ command: 'true', cwd: plain }, 'Not a directory (os error 20)'],
      ];
      for (const [body, want] of cases) {
        for (const route of ['/v1/processes/run', '/v1/processes']) {
          const res = await post(srv, route, body);
          assert.equal(assertProblem(res, 502, 'stream_error').details.message, `failed to spawn process: ${want}`, `${route} ${JSON.stringify(body)}`);
        }
      }
      assert.deepEqual((await request(srv, 'GET', '/v1/processes')).json().processes, []);
    } finally {
      await srv.stop();
    }
  });
});
