// `sandbox-agent daemon start|stop|status` (features.md §1.9): the pid/version/log files,
// a detached server in its own session that answers /v1/health, a clean stop that takes
// the agents with it, stale pid files (a dead pid, a pid now owned by another program) that
// are never signalled, --upgrade, tokens, and usage errors.
//
// Every test gets a private HOME and XDG_DATA_HOME and a free port; a daemon left behind
// by a failing test is killed in after().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, IS_REFERENCE, SANITIZED, descendants, freePort, waitFor } from './lib/server.mjs';
import { runCli } from './lib/cli.mjs';

const SKIP = IS_REFERENCE ? 'tests our daemon (the reference signals foreign pids)' : false;

const dirs = [];
const daemons = new Set();
after(() => {
  for (const pid of daemons) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A private HOME and XDG_DATA_HOME, and the daemon file paths for port. */
async function setup() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-daemon-'));
  dirs.push(home);
  const xdg = path.join(home, 'xdg');
  const port = await freePort();
  const base = path.join(xdg, 'sandbox-agent/daemon', `daemon-127-0-0-1-${port}`);
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SANDBOX_AGENT_') && !k.startsWith('XDG_')) env[k] = v;
  }
  Object.assign(env, { HOME: home, XDG_DATA_HOME: xdg, SANDBOX_AGENT_LOG: 'info' });
  return { home, port, env, pidFile: `${base}.pid`, versionFile: `${base}.version`, logFile: `${base}.log` };
}

/** Runs the CLI to completion: { status, stdout, stderr } (lib/cli.mjs). */
const run = runCli;

const daemon = (ctx, sub, ...more) => run(ctx, ['daemon', sub, '-p', String(ctx.port), ...more]);

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
  } catch {
    return false;
  }
}

async function health(ctx, token) {
  try {
    const res = await fetch(`http://127.0.0.1:${ctx.port}/v1/health`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(2000),
    });
    return res.status;
  } catch {
    return 0; // connection refused
  }
}

async function start(ctx, ...more) {
  const r = await daemon(ctx, 'start', ...more);
  assert.equal(r.status, 0, r.stderr);
  const m = /daemon started \(PID (\d+), healthy after [\d.]+ s/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const pid = Number(m[1]);
  daemons.add(pid);
  return { pid, r };
}

async function stop(ctx, pid) {
  const r = await daemon(ctx, 'stop');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `stopping daemon (PID ${pid})...\ndaemon stopped\n`);
  assert.equal(alive(pid), false, 'the daemon is gone when stop returns');
  daemons.delete(pid);
  // The daemon's own stderr went to its log: a sanitized build reports leaks there.
  if (SANITIZED) assert.doesNotMatch(fs.readFileSync(ctx.logFile, 'utf8'), /AddressSanitizer|runtime error:|LeakSanitizer/);
  return r;
}

/** A process that is not a daemon: `sleep`, killed after the test. */
function otherProgram() {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  after(() => child.kill('SIGKILL'));
  return child;
}

describe('daemon lifecycle', { skip: SKIP }, () => {
  test('start, status, start again, stop: files, health, session, agents stopped with it', async () => {
    const ctx = await setup();
    let r = await daemon(ctx, 'status');
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^Daemon not running/);
    assert.ok(r.stderr.includes(ctx.logFile), 'status names the log path');

    const { pid, r: started } = await start(ctx);
    assert.match(started.stderr, new RegExp(`^starting daemon at http://127\\.0\\.0\\.1:${ctx.port} \\(logs: `));
    assert.equal(fs.readFileSync(ctx.pidFile, 'utf8').split('\n')[0], String(pid));
    assert.match(fs.readFileSync(ctx.versionFile, 'utf8'), /^0\.4\.2-\S+$/);
    assert.ok(fs.existsSync(ctx.logFile));
    assert.equal(await health(ctx), 200);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(cmdline.slice(1, 6), ['server', '--host', '127.0.0.1', '--port', String(ctx.port)]);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').slice(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(stat[3]), pid, 'the daemon leads its own session');
    assert.equal(fs.readlinkSync(`/proc/${pid}/fd/0`), '/dev/null');
    assert.equal(fs.readlinkSync(`/proc/${pid}/fd/1`), ctx.logFile);

    r = await daemon(ctx, 'status');
    assert.equal(r.status, 0);
    assert.match(r.stderr, new RegExp(`^Daemon running \\(PID ${pid}, build 0\\.4\\.2-\\S+, logs: ${ctx.logFile.replace(/[.]/g, '\\.')}\\)\n$`));

    r = await daemon(ctx, 'start');
    assert.equal(r.status, 0);
    assert.match(r.stderr, new RegExp(`daemon already running at http://127\\.0\\.0\\.1:${ctx.port} \\(PID ${pid}`));
    assert.equal(fs.readFileSync(ctx.pidFile, 'utf8').split('\n')[0], String(pid));

    // An ACP mock instance: its agent process must not outlive the daemon.
    const res = await fetch(`http://127.0.0.1:${ctx.port}/v1/acp/d1?agent=mock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 1 } }),
    });
    assert.equal(res.status, 200, await res.text());
    const agents = descendants(pid).filter((d) => /mock/.test(d.cmdline));
    assert.ok(agents.length > 0, 'the mock agent runs under the daemon');

    await stop(ctx, pid);
    for (const a of agents) await waitFor(() => !alive(a.pid), { what: `agent ${a.pid} to exit` });
    assert.equal(fs.existsSync(ctx.pidFile), false);
    assert.equal(fs.existsSync(ctx.versionFile), false);
    assert.ok(fs.existsSync(ctx.logFile), 'the log is kept');
    assert.match(fs.readFileSync(ctx.logFile, 'utf8'), /server listening/);
    assert.equal(await health(ctx), 0, 'nothing listens any more');

    r = await daemon(ctx, 'status');
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^Daemon not running/);
    r = await daemon(ctx, 'stop');
    assert.equal(r.status, 0);
    assert.equal(r.stderr, 'daemon is not running (no PID file)\n');
  });

  test('two concurrent starts: one daemon, the other start finds it', async () => {
    const ctx = await setup();
    const [a, b] = await Promise.all([daemon(ctx, 'start'), daemon(ctx, 'start')]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    const both = a.stderr + b.stderr;
    const started = [...both.matchAll(/daemon started \(PID (\d+)/g)];
    assert.equal(started.length, 1, both);
    const pid = Number(started[0][1]);
    daemons.add(pid);
    assert.match(both, new RegExp(`daemon already running .*PID ${pid}`));
    await stop(ctx, pid);
  });

  test('files follow HOME when XDG_DATA_HOME is unset; the host is part of the name', async () => {
    const ctx = await setup();
    delete ctx.env.XDG_DATA_HOME;
    const pidFile = path.join(ctx.home, '.local/share/sandbox-agent/daemon', `daemon-127-0-0-1-${ctx.port}.pid`);
    ctx.logFile = pidFile.replace(/\.pid$/, '.log');
    const { pid } = await start(ctx, '-H', '127.0.0.1');
    assert.equal(fs.readFileSync(pidFile, 'utf8').split('\n')[0], String(pid));
    await stop(ctx, pid);
    assert.equal(fs.existsSync(pidFile), false);
  });

  test('a start that fails (port taken by something else) reports the log and leaves no pid file', async () => {
    const ctx = await setup();
    // A listener that accepts and never answers: the health pre-check times out, the
    // server cannot bind.
    const squatter = net.createServer((s) => s.on('error', () => {}));
    await new Promise((resolve) => squatter.listen(ctx.port, '127.0.0.1', resolve));
    try {
      const r = await daemon(ctx, 'start');
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /exited during startup/);
      assert.match(r.stderr, /last lines of/);
      assert.equal(fs.existsSync(ctx.pidFile), false);
      assert.equal(fs.existsSync(ctx.versionFile), false);
    } finally {
      squatter.close();
    }
  });

  test('a server already answering without a pid file is not started twice', async () => {
    const ctx = await setup();
    const { pid } = await start(ctx);
    fs.renameSync(ctx.pidFile, `${ctx.pidFile}.saved`);
    const r = await daemon(ctx, 'start');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /already answers .* not started by `daemon start`/);
    fs.renameSync(`${ctx.pidFile}.saved`, ctx.pidFile);
    await stop(ctx, pid);
  });
});

describe('stale pid files are never signalled', { skip: SKIP }, () => {
  test('a pid that now belongs to another program (start time differs, or not a server)', async () => {
    const ctx = await setup();
    fs.mkdirSync(path.dirname(ctx.pidFile), { recursive: true });
    const other = otherProgram();
    for (const content of [`${other.pid}\n1\n`, `${other.pid}`]) {
      fs.writeFileSync(ctx.pidFile, content);
      fs.writeFileSync(ctx.versionFile, '0.4.2-x');
      let r = await daemon(ctx, 'status');
      assert.equal(r.status, 0);
      assert.match(r.stderr, /^Daemon not running \(stale PID file: PID \d+ is another program/);
      r = await daemon(ctx, 'stop');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /belongs to another program; not signalling it/);
      assert.doesNotMatch(r.stderr, /stopping daemon/);
      assert.ok(alive(other.pid), 'the other program was not signalled');
      assert.equal(fs.existsSync(ctx.pidFile), false, 'the stale file is removed');
      assert.equal(fs.existsSync(ctx.versionFile), false);
    }
    // start replaces the stale file and still leaves the other program alone.
    fs.writeFileSync(ctx.pidFile, `${other.pid}\n1\n`);
    const { pid } = await start(ctx);
    assert.match(fs.readFileSync(ctx.pidFile, 'utf8'), new RegExp(`^${pid}\n\\d+\n$`));
    await stop(ctx, pid);
    assert.ok(alive(other.pid));
  });

  test('a pid that is gone', async () => {
    const ctx = await setup();
    fs.mkdirSync(path.dirname(ctx.pidFile), { recursive: true });
    const gone = spawn('true', [], { stdio: 'ignore' });
    await new Promise((resolve) => gone.on('exit', resolve));
    await waitFor(() => !alive(gone.pid), { what: 'the short-lived process to be reaped' });
    fs.writeFileSync(ctx.pidFile, `${gone.pid}\n`);
    let r = await daemon(ctx, 'status');
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^Daemon not running \(stale PID file: PID \d+ is gone/);
    r = await daemon(ctx, 'stop');
    assert.equal(r.status, 0);
    assert.match(r.stderr, /is gone; removing the stale PID file/);
    assert.equal(fs.existsSync(ctx.pidFile), false);
  });
});

describe('daemon start --upgrade', { skip: SKIP }, () => {
  test('restarts only when the recorded build differs from ours', async () => {
    const ctx = await setup();
    const { pid } = await start(ctx);
    const ours = fs.readFileSync(ctx.versionFile, 'utf8');

    let r = await daemon(ctx, 'start', '--upgrade');
    assert.equal(r.status, 0);
    assert.match(r.stderr, new RegExp(`daemon already running .*PID ${pid}`), 'same build: kept');

    fs.writeFileSync(ctx.versionFile, '0.0.1-old');
    r = await daemon(ctx, 'status');
    assert.match(r.stderr, /build 0\.0\.1-old, .*\[outdated, restart recommended\]/);
    r = await daemon(ctx, 'start');
    assert.equal(r.status, 0);
    assert.match(r.stderr, new RegExp(`daemon already running .*PID ${pid}`), 'no --upgrade: kept');

    r = await daemon(ctx, 'start', '--upgrade');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`daemon outdated \\(build 0\\.0\\.1-old -> ${ours.replace(/[.]/g, '\\.')}\\), restarting\\.\\.\\.\n`));
    assert.match(r.stderr, new RegExp(`stopping daemon \\(PID ${pid}\\)\\.\\.\\.\ndaemon stopped\n`));
    const m = /daemon started \(PID (\d+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const pid2 = Number(m[1]);
    daemons.add(pid2);
    daemons.delete(pid);
    assert.notEqual(pid2, pid);
    assert.equal(alive(pid), false);
    assert.equal(fs.readFileSync(ctx.versionFile, 'utf8'), ours);
    assert.equal(await health(ctx), 200);
    await stop(ctx, pid2);
  });
});

describe('daemon options', { skip: SKIP }, () => {
  test('-t: the daemon requires the token; status and health checks send it', async () => {
    const ctx = await setup();
    const { pid } = await start(ctx, '-t', 'sekret');
    assert.equal(await health(ctx), 401);
    assert.equal(await health(ctx, 'sekret'), 200);
    let r = await run(ctx, ['-t', 'sekret', 'daemon', 'status', '-p', String(ctx.port)]);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /^Daemon running \(PID \d+, build [^)]*\)\n$/, 'healthy with the token');
    r = await daemon(ctx, 'status');
    assert.match(r.stderr, /\[not answering: health check answered 401\]/);
    await stop(ctx, pid);
  });

  test('usage errors exit 2; help exits 0', async () => {
    const ctx = await setup();
    for (const args of [['daemon'], ['daemon', 'bogus'], ['daemon', 'start', '-p', 'abc'], ['daemon', 'stop', '--upgrade'], ['daemon', 'status', '-p']]) {
      const r = await run(ctx, args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    for (const [args, want] of [
      [['daemon', '--help'], /start\s+Start the daemon/],
      [['daemon', 'start', '--help'], /--upgrade/],
      [['daemon', 'stop', '-h'], /Usage: sandbox-agent daemon stop/],
      [['help', 'daemon', 'status'], /Usage: sandbox-agent daemon status/],
      [['daemon', 'help', 'start'], /Usage: sandbox-agent daemon start/],
    ]) {
      const r = await run(ctx, args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, want);
    }
    for (const args of [['-n', 'daemon', 'status'], ['daemon', '-t', 'x', 'status'], ['daemon', 'status', '--no-token']]) {
      const r = await run(ctx, [...args, '-p', String(ctx.port)]);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
