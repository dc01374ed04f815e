// server.mjs - start and stop a sandbox-agent server for integration tests.
//
// Each server gets a free loopback port (our server has no "port 0"), a private temporary
// HOME (removed on stop) that is also its working directory, and its stdout/stderr captured
// so a failing test can show them. stop() sends SIGTERM and asserts a clean exit (code 0)
// and, when SANDBOX_AGENT_SANITIZED=1, that no sanitizer report was printed.
//
// Environment:
//   SANDBOX_AGENT_BIN            binary under test (default <repo>/build/sandbox-agent)
//   SANDBOX_AGENT_SANITIZED=1    the binary is an ASan/UBSan build: check its stderr
//   SANDBOX_AGENT_TEST_JOURNAL=postgres with SANDBOX_AGENT_TEST_PG_URL: servers get
//                                --journal <that URL> (tests/run.sh's PostgreSQL pass)
//   SANDBOX_AGENT_IS_REFERENCE=1 the binary is the reference 0.4.2 server: tests of our
//                                deliberate differences are skipped, the built-in mock is
//                                installed after start (reference quirk Q4) and, if
//                                SANDBOX_AGENT_REF_MOCK is a command line (for example
//                                "<repo>/build/sandbox-agent mock-agent-process"), the
//                                mock's launcher is replaced by it (used to validate the
//                                SDK tests against the reference with our own mock).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.resolve(process.env.SANDBOX_AGENT_BIN || path.join(REPO, 'build/sandbox-agent'));
export const IS_REFERENCE = process.env.SANDBOX_AGENT_IS_REFERENCE === '1';
/** Where stop() appends the servers' "event loop blocked" reports (tests/run.sh summarises). */
export const WATCHDOG_LOG = process.env.SANDBOX_AGENT_WATCHDOG_LOG || path.join(REPO, 'build/loop-watchdog.log');
export const SANITIZED = process.env.SANDBOX_AGENT_SANITIZED === '1';
/** Set by tests/run.sh for its PostgreSQL pass: servers use the PostgreSQL journal. */
export const JOURNAL_PG = process.env.SANDBOX_AGENT_TEST_JOURNAL === 'postgres' && !!process.env.SANDBOX_AGENT_TEST_PG_URL;
/** Reason string for `test(..., { skip: OURS_ONLY })` on tests of our deliberate differences. */
export const OURS_ONLY = IS_REFERENCE ? 'tests a deliberate difference from the reference' : false;
/** Skip reason for tests that need our mock agent (the reference's mock is a pure echo). */
export const NEEDS_OUR_MOCK = IS_REFERENCE && !process.env.SANDBOX_AGENT_REF_MOCK ? 'needs our mock agent (set SANDBOX_AGENT_REF_MOCK)' : false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers not yet stopped. If the test process ends abnormally (a file-level timeout kills it,
// or a test forgets stop()), they and their agents are killed and their HOMEs removed.
const live = new Set();
function killAllSync() {
  for (const srv of live) {
    try {
      for (const d of descendants(srv.pid)) {
        try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    } catch { /* /proc unavailable */ }
    try { srv.child.kill('SIGKILL'); } catch { /* gone */ }
    try { fs.rmSync(srv.home, { recursive: true, force: true }); } catch { /* ignore */ }
  }
  live.clear();
}
process.on('exit', killAllSync);
for (const [sig, n] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]]) {
  process.once(sig, () => {
    killAllSync();
    process.exit(128 + n);
  });
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls fn() until it returns a truthy value; throws after timeoutMs (a safety net only).
 *  what: a description (string, or a function called on timeout). */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}${lastErr ? `: ${lastErr.message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

function baseEnv(home, extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The server's own knobs come only from the test; data dirs follow the private HOME.
    if (k.startsWith('SANDBOX_AGENT_') || k.startsWith('XDG_')) continue;
    env[k] = v;
  }
  env.HOME = home;
  // Every server of the suite reports loop iterations busy for more than 20 ms (a blocking
  // call on the event loop); stop() collects the reports into WATCHDOG_LOG for run.sh.
  env.SANDBOX_AGENT_LOOP_WATCHDOG_MS = '20';
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

async function probeHealth(port, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(`http://127.0.0.1:${port}/v1/health`, { headers, signal: AbortSignal.timeout(1000) });
  const text = await res.text();
  return res.status === 200 && JSON.parse(text).status === 'ok';
}

/**
 * Starts a server. Options:
 *   token: string      start with --token (otherwise --no-token)
 *   args: string[]     extra CLI arguments (e.g. ['-O', 'http://a.example'])
 *   env: object        extra environment (undefined/null values remove a variable)
 *   noTokenFlag: bool  with no token, pass no auth flag at all (default passes --no-token)
 *   healthToken: str   token for the startup health probe when it is passed in args
 *   home: string       use this HOME (and so data dir and journal) instead of a fresh one;
 *                      it is the caller's: stop() leaves it in place (restart tests)
 *   port: number       this port instead of a free one (a restart on the same address)
 * Returns { port, baseUrl, home, pid, token, stderr(), stdout(), logs(), exited, stop(),
 * kill9(), descendants() }.
 */
export async function startServer(opts = {}) {
  if (opts.port) return startOnPort(opts.port, opts);
  let lastError;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      return await startOnPort(port, opts);
    } catch (e) {
      lastError = e;
      if (!/in use|EADDRINUSE/i.test(String(e.message))) throw e;
    }
  }
  throw lastError;
}

async function startOnPort(port, opts) {
  const home = opts.home || fs.mkdtempSync(path.join(os.tmpdir(), 'sa-test-home-'));
  const argv = ['server', '--no-telemetry', '--host', '127.0.0.1', '--port', String(port)];
  if (opts.token) argv.push('--token', opts.token);
  else if (!opts.noTokenFlag) argv.push('--no-token');
  argv.push(...(opts.args || []));
  // The PostgreSQL pass of tests/run.sh: every server journals there (a private instance
  // per HOME, so servers do not see each other's sessions).
  if (JOURNAL_PG && !argv.includes('--journal')) argv.push('--journal', process.env.SANDBOX_AGENT_TEST_PG_URL);
  const child = spawn(BIN, argv, { cwd: home, env: baseEnv(home, opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  let exitInfo = null;
  exited.then((e) => (exitInfo = e));

  const cleanupHome = () => {
    if (!opts.home) fs.rmSync(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20000;
  for (;;) {
    if (exitInfo) {
      cleanupHome();
      const msg = `server exited during startup (code ${exitInfo.code}, signal ${exitInfo.signal}${exitInfo.error ? `, ${exitInfo.error.message}` : ''})\n${stderr}${stdout}`;
      throw new Error(msg);
    }
    try {
      // The port was free a moment ago; make sure the server answering is ours.
      if (listensOn(child.pid, port) && (await probeHealth(port, opts.token ?? opts.healthToken))) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      cleanupHome();
      throw new Error(`server did not become healthy on port ${port}\n${stderr}${stdout}`);
    }
    await sleep(25);
  }

  const srv = {
    port,
    host: '127.0.0.1',
    baseUrl: `http://127.0.0.1:${port}`,
    home,
    token: opts.token,
    pid: child.pid,
    child,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    /** Server output for failure messages (reference logs go to a file under HOME). */
    logs() {
      let s = `--- server stderr (${BIN}) ---\n${stderr.slice(-8000)}`;
      if (stdout) s += `\n--- server stdout ---\n${stdout.slice(-4000)}`;
      return s;
    },
    descendants: () => descendants(child.pid),
    /** SIGKILL the server (a crash): its agents must still die (they watch their parent). */
    async kill9() {
      if (srv.stopped) return;
      srv.stopped = true;
      live.delete(srv);
      let before = [];
      try { before = descendants(child.pid); } catch { /* ignore */ }
      child.kill('SIGKILL');
      await exited;
      await waitFor(() => before.every((d) => !sameProcess(d)), { timeoutMs: 5000, what: 'agents of a killed server to exit' });
      cleanupHome();
    },
    async stop() {
      if (srv.stopped) return;
      srv.stopped = true;
      live.delete(srv);
      let before = [];
      try { before = descendants(child.pid); } catch { /* ignore */ }
      if (!exitInfo) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const info = await exited;
      clearTimeout(timer);
      const problems = [];
      // Agent processes run in their own process groups: none may outlive the server.
      const alive = () => before.filter((d) => sameProcess(d));
      try {
        await waitFor(() => alive().length === 0, { timeoutMs: 5000, what: 'agent processes to exit' });
      } catch {
        const left = alive();
        problems.push(`processes outlived the server: ${left.map((d) => `${d.pid} ${d.cmdline}`).join('; ')}`);
        for (const d of left) {
          try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
      cleanupHome();
      if (!IS_REFERENCE && !(info.code === 0 && info.signal === null)) {
        problems.push(`server did not exit cleanly on SIGTERM (code ${info.code}, signal ${info.signal})`);
      }
      const blocked = stderr.split('\n').filter((l) => l.includes('msg="event loop blocked"'));
      if (blocked.length) {
        const from = path.basename(process.argv[1] || 'test');
        try {
          fs.mkdirSync(path.dirname(WATCHDOG_LOG), { recursive: true });
          fs.appendFileSync(WATCHDOG_LOG, blocked.map((l) => `${from} ${l}\n`).join(''));
        } catch { /* best effort: a report, not a check */ }
      }
      if (SANITIZED) {
        const bad = stderr.split('\n').filter((l) => /ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(l));
        if (bad.length) problems.push(`sanitizer reports:\n${bad.join('\n')}`);
      }
      if (problems.length) throw new Error(`${problems.join('\n')}\n${srv.logs()}`);
    },
  };

  live.add(srv);
  if (IS_REFERENCE && !opts.skipRefMockSetup) {
    try {
      await referenceMockSetup(srv, opts.token ?? opts.healthToken);
    } catch (e) {
      await srv.stop().catch(() => {});
      throw e;
    }
  }
  return srv;
}

/** Reference quirk Q4: the built-in mock must be installed before ?agent=mock works. */
async function referenceMockSetup(srv, token) {
  const res = await fetch(`${srv.baseUrl}/v1/agents/mock/install`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: '{}',
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`reference mock install failed: ${res.status} ${body}`);
  const command = process.env.SANDBOX_AGENT_REF_MOCK;
  if (command) {
    const launcher = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes/mock-acp');
    fs.writeFileSync(launcher, `#!/bin/sh\nexec ${command} "$@"\n`);
    fs.chmodSync(launcher, 0o755);
  }
}

/** True when process pid has a listening TCP socket on port (from /proc/net/tcp{,6}). */
export function listensOn(pid, port) {
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  if (!inodes.size) return false;
  let fds;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) return true;
    } catch {
      /* closed meanwhile */
    }
  }
  return false;
}

/** True while the process recorded in d still exists (same pid and command line, not a zombie). */
function sameProcess(d) {
  try {
    const stat = fs.readFileSync(`/proc/${d.pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'Z' || state === 'X') return false;
    const cmd = fs.readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmd === d.cmdline;
  } catch {
    return false;
  }
}

/** All live (or zombie) descendant processes of pid, from /proc: [{ pid, ppid, state, cmdline }]. */
export function descendants(rootPid) {
  const byParent = new Map();
  const info = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...; comm may contain spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    const pid = Number(name);
    const ppid = Number(rest[1]);
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch { /* gone */ }
    info.set(pid, { pid, ppid, state: rest[0], cmdline });
    if (!byParent.has(ppid)) byParent.set(ppid, []);
    byParent.get(ppid).push(pid);
  }
  const out = [];
  const stack = [...(byParent.get(rootPid) || [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(info.get(p));
    stack.push(...(byParent.get(p) || []));
  }
  return out;
}

/**
 * Runs fn(srv) against a fresh server and always stops it; a failure gets the server's
 * output appended to its message.
 */
export async function withServer(opts, fn) {
  const srv = await startServer(opts);
  let failed = null;
  try {
    await fn(srv);
  } catch (e) {
    failed = e;
  }
  let stopError = null;
  try {
    await srv.stop();
  } catch (e) {
    stopError = e;
  }
  if (failed) throw annotate(failed, srv);
  if (stopError) throw stopError;
}

/** Appends the server's output to an error's message (once). */
export function annotate(err, srv) {
  if (err && typeof err === 'object' && !err.__serverLogs) {
    try {
      err.message = `${err.message}\n${srv.logs()}`;
      err.__serverLogs = true;
    } catch { /* frozen */ }
  }
  return err;
}

/**
 * A server shared by the tests of one file: `const S = sharedServer(opts)` registers
 * before/after hooks; S.test(name, fn) runs fn(srv, t) and annotates failures.
 */
export function sharedServer(nodeTest, opts = {}) {
  const { before, after, test } = nodeTest;
  const holder = { srv: null };
  before(async () => {
    holder.srv = await startServer(opts);
  });
  after(async () => {
    if (holder.srv) await holder.srv.stop();
  });
  holder.test = (name, options, fn) => {
    if (typeof options === 'function') {
      fn = options;
      options = {};
    }
    return test(name, options, async (t) => {
      try {
        await fn(holder.srv, t);
      } catch (e) {
        throw annotate(e, holder.srv);
      }
    });
  };
  return holder;
}
