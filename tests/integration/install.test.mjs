// Agent installation (agents.md §2, http-api.md §4.2, §5.3.2): POST /v1/agents/{id}/install,
// `sandbox-agent install-agent`, lazy install on the first ACP POST, version probing.
//
// Most tests put a fake `npm` (a shell script) first on PATH: it records its calls, and
// according to a mode file installs a tiny ACP agent, fails, hangs, or fails half-way.
// amp and cursor are installed from archives a loopback HTTP server in this file serves.
// Real npm installs are not here: the real-agent pass (tests/agents/e2e.test.mjs) installs
// each real agent once, with a time bound that covers a cold npm cache, and shares it.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, test, before, after } from 'node:test';
import { withServer, startServer, waitFor, BIN, OURS_ONLY } from './lib/server.mjs';
import { request, acpPost, assertProblem, initializeMsg, deleteAcp } from './lib/http.mjs';

const PLATFORM = { x64: 'linux-x86_64', arm64: 'linux-aarch64' }[os.arch()];
const ARCH = { x64: 'x64', arm64: 'arm64' }[os.arch()];
const dataDir = (home) => path.join(home, '.local/share/sandbox-agent');
const apDir = (home) => path.join(dataDir(home), 'bin/agent_processes');
const binDir = (home) => path.join(dataDir(home), 'bin');

// A minimal ACP agent: answers --help and --version, and `initialize` with its name.
const FAKE_AGENT = String.raw`#!/bin/sh
for a in "$@"; do
  case "$a" in
    --help) [ -e "$FAKE_NPM_DIR/badhelp" ] && { echo "help broke" >&2; exit 3; }; echo "usage: fake agent"; exit 0 ;;
    --version) [ -e "$FAKE_NPM_DIR/version-sleep" ] && sleep 30; cat "$FAKE_NPM_DIR/version" 2>/dev/null || echo "9.9.9-fake (Fake CLI)"; exit 0 ;;
  esac
done
echo "$0 $*" >> "$FAKE_NPM_DIR/agent-args.log"
while IFS= read -r line; do
  case "$line" in
    *'"initialize"'*) echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1,"agentInfo":{"name":"fake-agent","version":"0.0.1"}}}' ;;
  esac
done
`;

// npm stand-in. Mode (file "mode" in $FAKE_NPM_DIR): ok, slow, fail, hang, partial, nobin.
const FAKE_NPM = String.raw`#!/bin/sh
dir="$FAKE_NPM_DIR"
mode=$(cat "$dir/mode" 2>/dev/null || echo ok)
prefix=""; pkgs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    -*|install) shift ;;
    *) pkgs="$pkgs $1"; shift ;;
  esac
done
if [ -e "$dir/running" ]; then echo overlap >> "$dir/overlap.log"; fi
: > "$dir/running"
echo "$pkgs" >> "$dir/calls.log"
echo $$ > "$dir/npm.pid"
echo "fake npm: installing$pkgs"
case "$mode" in
  fail) echo "npm ERR! code E404" >&2; echo "npm ERR! 404 Not Found - GET http://registry.invalid/nope" >&2; rm -f "$dir/running"; exit 1 ;;
  hang) sleep 300; exit 0 ;;
  partial) mkdir -p "$prefix/node_modules/.bin"; echo half > "$prefix/node_modules/half.txt"; echo "npm ERR! network aborted" >&2; rm -f "$dir/running"; exit 1 ;;
  nobin) mkdir -p "$prefix/node_modules"; rm -f "$dir/running"; exit 0 ;;
  slow) sleep 1 ;;
esac
mkdir -p "$prefix/node_modules/.bin"
for p in $pkgs; do
  name=$(printf '%s' "$p" | sed -E 's/^(@?[^@]+)@.*/\1/')
  case "$name" in
    pi-acp) bin=pi-acp ;; @mariozechner/pi-coding-agent) bin=pi ;;
    @zed-industries/claude-agent-acp) bin=claude-agent-acp ;; @zed-industries/codex-acp) bin=codex-acp ;;
    opencode-ai) bin=opencode ;; *) bin=$(basename "$name") ;;
  esac
  cp "$dir/agent.sh" "$prefix/node_modules/.bin/$bin"
  chmod 755 "$prefix/node_modules/.bin/$bin"
done
rm -f "$dir/running"
exit 0
`;

/** A fake-npm world: a bin dir with npm first on PATH and a state dir. */
function fakeNpm() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-fake-npm-'));
  const bin = path.join(root, 'bin');
  const state = path.join(root, 'state');
  fs.mkdirSync(bin);
  fs.mkdirSync(state);
  fs.writeFileSync(path.join(bin, 'npm'), FAKE_NPM, { mode: 0o755 });
  fs.writeFileSync(path.join(state, 'agent.sh'), FAKE_AGENT, { mode: 0o755 });
  const read = (f) => {
    try {
      return fs.readFileSync(path.join(state, f), 'utf8');
    } catch {
      return '';
    }
  };
  return {
    root,
    state,
    env: { PATH: `${bin}:${process.env.PATH}`, FAKE_NPM_DIR: state },
    mode: (m) => fs.writeFileSync(path.join(state, 'mode'), m),
    touch: (f, text = '') => fs.writeFileSync(path.join(state, f), text),
    rm: (f) => fs.rmSync(path.join(state, f), { force: true }),
    calls: () => read('calls.log').split('\n').filter(Boolean).map((l) => l.trim()),
    overlaps: () => read('overlap.log'),
    npmPid: () => Number(read('npm.pid').trim()) || 0,
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

const pidAlive = (pid) => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /.test(st);
  } catch {
    return false;
  }
};

/** Names in $AP, without lock files. */
const apEntries = (home) => {
  try {
    return fs.readdirSync(apDir(home)).filter((n) => !n.endsWith('.lock')).sort();
  } catch {
    return [];
  }
};

/** Runs `sandbox-agent install-agent ...args` to completion. */
function runCli(args, env, { onSpawn } = {}) {
  return new Promise((resolve) => {
    const child = spawn(BIN, ['install-agent', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    if (onSpawn) onSpawn(child);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const cliEnv = (srv, extra) => {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SANDBOX_AGENT_') && !k.startsWith('XDG_')) env[k] = v;
  return { ...env, HOME: srv.home, ...extra };
};

const install = (srv, id, body = {}, timeoutMs = 60000) =>
  request(srv, 'POST', `/v1/agents/${id}/install`, { body, timeoutMs });

describe('install through a fake npm', { skip: OURS_ONLY }, () => {
  let npm;
  before(() => {
    npm = fakeNpm();
  });
  after(() => npm.cleanup());
  const reset = () => {
    for (const f of ['calls.log', 'overlap.log', 'running', 'npm.pid', 'mode', 'badhelp', 'version', 'version-sleep', 'agent-args.log']) npm.rm(f);
  };

  test('pi: npm packages, launcher, native link, manifest; then already installed; versions pass through', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      const res = await install(srv, 'pi');
      assert.equal(res.status, 200, res.text);
      const ap = apDir(srv.home);
      assert.deepEqual(res.json(), {
        already_installed: false,
        artifacts: [
          { kind: 'native_agent', path: path.join(binDir(srv.home), 'pi'), source: 'fallback', version: '9.9.9-fake' },
          { kind: 'agent_process', path: path.join(ap, 'pi-acp'), source: 'fallback', version: '0.0.23' },
        ],
      });
      assert.deepEqual(npm.calls(), ['pi-acp@0.0.23 @mariozechner/pi-coding-agent@0.73.1']);
      const launcher = fs.readFileSync(path.join(ap, 'pi-acp'), 'utf8').split('\n');
      assert.equal(launcher[0], '#!/usr/bin/env sh');
      assert.equal(launcher[1], 'set -e');
      assert.equal(launcher[2], `[ -n "\${PI_ACP_PI_COMMAND:-}" ] || export PI_ACP_PI_COMMAND='${path.join(binDir(srv.home), 'pi')}'`);
      assert.equal(launcher[3], `exec '${path.join(ap, 'pi/node_modules/.bin/pi-acp')}' "$@"`);
      assert.equal(fs.statSync(path.join(ap, 'pi-acp')).mode & 0o777, 0o755);
      assert.equal(fs.readlinkSync(path.join(binDir(srv.home), 'pi')), path.join(ap, 'pi/node_modules/.bin/pi'));
      const manifest = JSON.parse(fs.readFileSync(path.join(ap, 'pi/.sandbox-agent-install.json'), 'utf8'));
      assert.equal(manifest.version, '0.0.23');
      assert.deepEqual(manifest.packages, ['pi-acp@0.0.23', '@mariozechner/pi-coding-agent@0.73.1']);
      assert.deepEqual(apEntries(srv.home), ['pi', 'pi-acp'], 'no temporary directories are left');
      assert.equal((await request(srv, 'GET', '/v1/agents/pi')).json().installed, true);

      const again = await install(srv, 'pi');
      assert.deepEqual(again.json(), { already_installed: true, artifacts: [] });
      assert.equal(npm.calls().length, 1, 'no second npm run');

      const re = await install(srv, 'pi', { reinstall: true, agentProcessVersion: '0.0.24', agentVersion: '0.70.0' });
      assert.equal(re.status, 200, re.text);
      assert.equal(re.json().artifacts[1].version, '0.0.24');
      assert.equal(npm.calls()[1], 'pi-acp@0.0.24 @mariozechner/pi-coding-agent@0.70.0');
      await waitFor(() => apEntries(srv.home).join() === 'pi,pi-acp', { what: 'the replaced install to be removed' });
    }));

  test('npm failing: 500 install_failed with the reason and the output tail; nothing installed', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('fail');
      const res = await install(srv, 'pi');
      const body = assertProblem(res, 500, 'install_failed');
      assert.equal(body.title, 'Install Failed');
      assert.equal(body.detail, 'install failed: pi');
      assert.equal(body.agent, 'pi');
      assert.match(body.details.reason, /^npm install failed for pi: npm exited with status 1$/);
      assert.match(body.details.output, /npm ERR! 404 Not Found/);
      assert.match(body.details.output, /fake npm: installing pi-acp@0\.0\.23/);
      assert.ok(body.details.stderr.startsWith(body.details.reason), body.details.stderr);
      assert.match(body.details.stderr, /npm ERR! code E404/);
      assert.deepEqual(apEntries(srv.home), []);
      assert.equal((await request(srv, 'GET', '/v1/agents/pi')).json().installed, false);
    }));

  test('a failure half-way leaves nothing half-installed, and a failed reinstall keeps the old install', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('partial');
      const res = await install(srv, 'pi');
      const body = assertProblem(res, 500, 'install_failed');
      assert.match(body.details.output, /network aborted/);
      assert.deepEqual(apEntries(srv.home), [], 'the partial npm prefix was removed');

      npm.mode('ok');
      assert.equal((await install(srv, 'pi')).status, 200);
      const manifest = fs.readFileSync(path.join(apDir(srv.home), 'pi/.sandbox-agent-install.json'), 'utf8');
      npm.mode('partial');
      const re = await install(srv, 'pi', { reinstall: true });
      assertProblem(re, 500, 'install_failed');
      assert.deepEqual(apEntries(srv.home), ['pi', 'pi-acp']);
      assert.equal(fs.readFileSync(path.join(apDir(srv.home), 'pi/.sandbox-agent-install.json'), 'utf8'), manifest);
      assert.equal((await request(srv, 'GET', '/v1/agents/pi')).json().installed, true);
    }));

  test('a hanging npm is stopped at the time bound (group killed) while the server keeps serving', () =>
    withServer({ env: { ...npm.env, SANDBOX_AGENT_INSTALL_TIMEOUT_MS: '1500' } }, async (srv) => {
      reset();
      npm.mode('hang');
      const pending = install(srv, 'pi');
      await waitFor(() => npm.npmPid(), { what: 'fake npm to start' });
      const pid = npm.npmPid();
      const health = await request(srv, 'GET', '/v1/health', { timeoutMs: 1000 });
      assert.equal(health.status, 200, 'the loop is not blocked by the install');
      const res = await pending;
      const body = assertProblem(res, 500, 'install_failed');
      assert.match(body.details.reason, /^npm install failed for pi: npm did not finish within 1\.5 s and was stopped$/);
      await waitFor(() => !pidAlive(pid), { what: 'the hanging npm to be gone' });
      assert.deepEqual(apEntries(srv.home), []);
    }));

  test('missing executable and failed verification are reported', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('nobin');
      let body = assertProblem(await install(srv, 'codex'), 500, 'install_failed');
      assert.equal(body.details.reason, 'installed package missing executable: node_modules/.bin/codex-acp');
      npm.mode('ok');
      npm.touch('badhelp');
      body = assertProblem(await install(srv, 'codex'), 500, 'install_failed');
      assert.equal(body.details.reason, 'verification failed: `node_modules/.bin/codex-acp --help` exited with status 3');
      assert.match(body.details.output, /help broke/);
      assert.deepEqual(apEntries(srv.home), []);
      npm.rm('badhelp');
      const ok = await install(srv, 'codex');
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json().artifacts.map((a) => [a.kind, a.version]), [['agent_process', '0.16.0']]);
    }));

  test('concurrent installs of one agent (HTTP and another process) are serialised: npm runs once', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('slow');
      const cli = runCli(['pi'], cliEnv(srv, npm.env));
      const https = await Promise.all([install(srv, 'pi'), install(srv, 'pi'), install(srv, 'pi')]);
      const c = await cli;
      assert.equal(c.code, 0, c.stderr);
      for (const r of https) assert.equal(r.status, 200, r.text);
      const fresh = [...https.map((r) => r.json().already_installed), JSON.parse(c.stdout).alreadyInstalled].filter((a) => !a);
      assert.equal(fresh.length, 1, 'exactly one of them installed');
      assert.equal(npm.calls().length, 1);
      assert.equal(npm.overlaps(), '');
      assert.deepEqual(apEntries(srv.home), ['pi', 'pi-acp']);
    }));

  test('lazy install on the first ACP POST; concurrent bootstraps share one install', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('slow');
      const [a, b] = await Promise.all([
        acpPost(srv, 'lazy-a', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 1 } }, { agent: 'pi', timeoutMs: 30000 }),
        acpPost(srv, 'lazy-b', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 1 } }, { agent: 'pi', timeoutMs: 30000 }),
      ]);
      assert.equal(a.status, 200, a.text);
      assert.equal(b.status, 200, b.text);
      assert.equal(a.json().result.agentInfo.name, 'fake-agent');
      assert.equal(npm.calls().length, 1);
      const list = (await request(srv, 'GET', '/v1/acp')).json().servers.map((s) => s.serverId);
      assert.deepEqual(list, ['lazy-a', 'lazy-b']);
      await deleteAcp(srv, 'lazy-a');
      await deleteAcp(srv, 'lazy-b');
    }));

  test('lazy install failure answers 500 install_failed and creates no instance', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('fail');
      const res = await acpPost(srv, 'lazy-fail', initializeMsg(1), { agent: 'codex', timeoutMs: 30000 });
      const body = assertProblem(res, 500, 'install_failed');
      assert.equal(body.agent, 'codex');
      assert.match(body.details.stderr, /npm install failed for codex/);
      assert.deepEqual((await request(srv, 'GET', '/v1/acp')).json().servers, []);
    }));

  test('SANDBOX_AGENT_REQUIRE_PREINSTALL: 404 agent_not_installed and npm never runs', () =>
    withServer({ env: { ...npm.env, SANDBOX_AGENT_REQUIRE_PREINSTALL: 'true' } }, async (srv) => {
      reset();
      const res = await acpPost(srv, 'pre', initializeMsg(1), { agent: 'pi' });
      const body = assertProblem(res, 404, 'agent_not_installed');
      assert.equal(body.detail, 'agent not installed: pi');
      assert.deepEqual(npm.calls(), []);
    }));

  test('CLI: plain progress lines, reference-shaped JSON, exit 1 with reason and output on failure', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      const ok = await runCli(['opencode', '--agent-version', '1.2.3'], cliEnv(srv, npm.env));
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stderr, /^install-agent: opencode: npm install opencode-ai@1\.2\.3$/m);
      assert.match(ok.stderr, /^install-agent: opencode: installed in [\d.]+ s$/m);
      assert.doesNotMatch(ok.stderr, /\r|\x1b\[/, 'no terminal control sequences when not on a terminal');
      const out = JSON.parse(ok.stdout);
      assert.equal(out.alreadyInstalled, false);
      assert.deepEqual(out.artifacts.map((a) => [a.kind, a.source, a.version]), [
        ['NativeAgent', 'Fallback', '9.9.9-fake'],
        ['AgentProcess', 'Fallback', '1.2.3'],
      ]);
      const launcher = fs.readFileSync(path.join(apDir(srv.home), 'opencode-acp'), 'utf8');
      assert.match(launcher, /node_modules\/\.bin\/opencode' 'acp' "\$@"\n$/);
      const again = await runCli(['opencode'], cliEnv(srv, npm.env));
      assert.deepEqual(JSON.parse(again.stdout), { alreadyInstalled: true, artifacts: [] });

      npm.mode('fail');
      const bad = await runCli(['claude'], cliEnv(srv, npm.env));
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, '');
      assert.match(bad.stderr, /install-agent: claude: install failed: npm install failed for claude: npm exited with status 1/);
      assert.match(bad.stderr, /^ {2}npm ERR! 404 Not Found/m);

      const unknown = await runCli(['nope'], cliEnv(srv, npm.env));
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /unsupported agent: nope/);
      const usage = await runCli(['all', '--agent-version', '1'], cliEnv(srv, npm.env));
      assert.equal(usage.code, 2);
    }));

  test('CLI install-agent all: installs what is reachable, reports the rest, finishes quickly', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      const env = cliEnv(srv, {
        ...npm.env,
        SANDBOX_AGENT_AMP_ACP_URL: 'http://127.0.0.1:9/amp-acp-{platform}.tar.gz',
        SANDBOX_AGENT_CURSOR_AGENT_URL: 'http://127.0.0.1:9/cursor-{arch}.tar.gz',
      });
      const started = Date.now();
      const r = await runCli(['all'], env);
      assert.equal(r.code, 1, r.stderr);
      const { agents } = JSON.parse(r.stdout);
      assert.deepEqual(agents.map((a) => a.agent), ['claude', 'codex', 'opencode', 'amp', 'pi', 'cursor', 'mock']);
      const failed = agents.filter((a) => a.error).map((a) => a.agent);
      assert.deepEqual(failed, ['amp', 'cursor']);
      assert.match(agents[3].error, new RegExp(`download of http://127\\.0\\.0\\.1:9/amp-acp-${PLATFORM}\\.tar\\.gz failed`));
      assert.match(agents[5].error, new RegExp(`cursor-${ARCH}\\.tar\\.gz failed`));
      assert.match(agents[3].output, /Failed to connect|Connection refused|failed: /i);
      assert.ok(Date.now() - started < 30000, 'no install hangs');
      assert.match(r.stderr, /5 of 7 agents installed/);
      const listed = (await request(srv, 'GET', '/v1/agents')).json().agents;
      assert.deepEqual(listed.map((a) => [a.id, a.installed]), [
        ['claude', true], ['codex', true], ['opencode', true], ['amp', false], ['pi', true], ['cursor', false], ['mock', true],
      ]);
    }));

  test('CLI: Ctrl-C during a hanging npm stops it and removes the temporary install', () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('hang');
      let child;
      const done = runCli(['pi'], cliEnv(srv, npm.env), { onSpawn: (c) => (child = c) });
      await waitFor(() => npm.npmPid(), { what: 'fake npm to start' });
      const pid = npm.npmPid();
      child.kill('SIGINT');
      const r = await done;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /install failed: install of pi interrupted/);
      await waitFor(() => !pidAlive(pid), { what: 'npm to be gone' });
      assert.deepEqual(apEntries(srv.home), []);
    }));

  test('SIGTERM during an install: the server stops cleanly and npm does not outlive it', async () => {
    reset();
    npm.mode('hang');
    const srv = await startServer({ env: npm.env });
    const pending = install(srv, 'pi').catch((e) => e);
    await waitFor(() => npm.npmPid(), { what: 'fake npm to start' });
    const pid = npm.npmPid();
    await srv.stop(); // asserts exit code 0, no surviving descendants, no sanitizer reports
    assert.ok(!pidAlive(pid));
    await pending;
  });

  test('CLI on a terminal shows a live status line', { skip: !fs.existsSync('/usr/bin/script') && 'script(1) is not installed' }, () =>
    withServer({ env: npm.env }, async (srv) => {
      reset();
      npm.mode('slow');
      // script(1) gives the CLI a pseudo-terminal as stderr; its output lands in the file.
      const log = path.join(npm.root, 'tty.log');
      const env = cliEnv(srv, { ...npm.env, TERM: 'xterm' });
      const cmd = `${BIN} install-agent pi`;
      const r = await new Promise((resolve) => {
        const child = spawn('script', ['-q', '-e', '-c', cmd, log], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.resume();
        child.stderr.resume();
        child.on('exit', (code) => resolve(code));
      });
      assert.equal(r, 0);
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, /\r\x1b\[K[|/\\-] pi: npm install pi-acp@0\.0\.23/);
      assert.match(text, /\+ pi: installed in [\d.]+ s/);
    }));

  test('an ACP registry document drives the install; an unreachable one fails it', async () => {
    const registry = {
      agents: [{ id: 'pi-acp', version: '0.0.99', distribution: { npx: { package: 'pi-acp@0.0.99', args: ['--flag'], env: { FOO_TEST: "it's bar" } } } }],
    };
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(registry));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${server.address().port}/registry.json`;
      await withServer({ env: { ...npm.env, SANDBOX_AGENT_ACP_REGISTRY_URL: ` ${url} ` } }, async (srv) => {
        reset();
        const res = await install(srv, 'pi');
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json().artifacts.map((a) => [a.kind, a.source, a.version ?? null]), [
          ['native_agent', 'registry', '9.9.9-fake'],
          ['agent_process', 'registry', '0.0.99'],
        ]);
        assert.deepEqual(npm.calls(), ['pi-acp@0.0.99 @mariozechner/pi-coding-agent@0.73.1']);
        const launcher = fs.readFileSync(path.join(apDir(srv.home), 'pi-acp'), 'utf8');
        assert.match(launcher, /^export FOO_TEST='it'\\''s bar'$/m);
        assert.match(launcher, /pi-acp' '--flag' "\$@"\n$/);
      });
    } finally {
      server.close();
    }
    await withServer({ env: { ...npm.env, SANDBOX_AGENT_ACP_REGISTRY_URL: 'http://127.0.0.1:9/registry.json' } }, async (srv) => {
      reset();
      const body = assertProblem(await install(srv, 'pi'), 500, 'install_failed');
      assert.match(body.details.reason, /^cannot fetch the ACP registry http:\/\/127\.0\.0\.1:9\/registry\.json/);
      assert.deepEqual(npm.calls(), []);
    });
  });

  test('versions are probed without blocking, cached, refreshed by ?no_cache=true and by an install', () =>
    withServer({ env: { ...npm.env, SANDBOX_AGENT_VERSION_PROBE_TIMEOUT_MS: '1000' } }, async (srv) => {
      reset();
      assert.equal((await install(srv, 'pi')).status, 200);
      const pi = async (q = '') => (await request(srv, 'GET', `/v1/agents/pi?config=true${q}`)).json();
      let info = await pi();
      assert.equal(info.version, '9.9.9-fake');
      assert.equal(info.path, path.join(binDir(srv.home), 'pi'));
      assert.deepEqual(Object.keys(info).slice(0, 6), ['id', 'installed', 'credentialsAvailable', 'version', 'path', 'capabilities']);
      npm.touch('version', '1.0.0\n');
      assert.equal((await pi()).version, '9.9.9-fake', 'cached');
      assert.equal((await pi('&no_cache=true')).version, '1.0.0');
      npm.touch('version', '2.0.0\n');
      assert.equal((await request(srv, 'POST', '/v1/agents/pi/install', { body: { reinstall: true } })).status, 200);
      assert.equal((await pi()).version, '2.0.0', 'an install refreshes the cache');
      // A CLI that hangs on --version: the probe is bounded and the loop keeps serving.
      npm.touch('version-sleep');
      const slow = request(srv, 'GET', '/v1/agents?config=true&no_cache=true', { timeoutMs: 15000 });
      const t0 = Date.now();
      const health = await request(srv, 'GET', '/v1/health', { timeoutMs: 1000 });
      assert.equal(health.status, 200);
      assert.ok(Date.now() - t0 < 900, 'health answered while the probe runs');
      const list = (await slow).json().agents;
      info = list.find((a) => a.id === 'pi');
      assert.equal(info.version, '0.0.23', 'falls back to the adapter version recorded at install');
      assert.equal(info.path, path.join(apDir(srv.home), 'pi-acp'));
      assert.equal(list.find((a) => a.id === 'mock').version, 'builtin');
    }));
});

describe('install from release archives (amp, cursor) served on loopback', { skip: OURS_ONLY }, () => {
  let work;
  let server;
  let base;
  const requests = [];
  const files = new Map(); // url path -> Buffer

  const tgz = (name, entries) => {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    for (const [rel, text, mode] of entries) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text, { mode: mode ?? 0o644 });
    }
    const out = path.join(work, `${name}.tar.gz`);
    execFileSync('tar', ['-czf', out, '-C', dir, '.']);
    return fs.readFileSync(out);
  };

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-archives-'));
    const agentWithVersion = FAKE_AGENT.replace('9.9.9-fake (Fake CLI)', '2026.1.2-test');
    files.set(`/amp-acp-${PLATFORM}.tar.gz`, tgz('amp', [['amp-acp', FAKE_AGENT, 0o755], ['README', 'amp-acp test archive']]));
    files.set(`/cursor/${ARCH}/agent-cli-package.tar.gz`, tgz('cursor', [['dist-package/cursor-agent', agentWithVersion, 0o755], ['dist-package/index.js', '//']]));
    files.set('/garbage.tar.gz', Buffer.from('this is not an archive at all'));
    // An entry escaping the extraction directory (GNU tar keeps ../ with -P).
    fs.mkdirSync(path.join(work, 'evil/in'), { recursive: true });
    fs.writeFileSync(path.join(work, 'evil/escape.txt'), 'x');
    execFileSync('tar', ['-czPf', path.join(work, 'evil.tar.gz'), '../escape.txt'], { cwd: path.join(work, 'evil/in') });
    files.set('/evil.tar.gz', fs.readFileSync(path.join(work, 'evil.tar.gz')));
    // Links whose text stays inside, chained to leave: a -> ., b -> a/.., then b/pwned.txt
    // (written through b it would land beside the extraction directory).
    fs.mkdirSync(path.join(work, 'chain/links'), { recursive: true });
    fs.symlinkSync('.', path.join(work, 'chain/links/a'));
    fs.symlinkSync('a/..', path.join(work, 'chain/links/b'));
    fs.mkdirSync(path.join(work, 'chain/files/b'), { recursive: true });
    fs.writeFileSync(path.join(work, 'chain/files/b/pwned.txt'), 'x');
    execFileSync('tar', ['-czf', path.join(work, 'chain.tar.gz'), '-C', path.join(work, 'chain/links'), 'a', 'b', '-C', path.join(work, 'chain/files'), 'b/pwned.txt']);
    files.set('/chain.tar.gz', fs.readFileSync(path.join(work, 'chain.tar.gz')));
    server = http.createServer((req, res) => {
      requests.push(req.url);
      const body = files.get(req.url);
      if (!body) {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      res.setHeader('content-type', 'application/gzip');
      res.end(body);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => {
    server.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('amp: the archive for this CPU is downloaded, checked, unpacked and launched', () => {
    const sha = crypto.createHash('sha256').update(files.get(`/amp-acp-${PLATFORM}.tar.gz`)).digest('hex');
    return withServer({ env: { SANDBOX_AGENT_AMP_ACP_URL: `${base}/amp-acp-{platform}.tar.gz`, SANDBOX_AGENT_AMP_ACP_SHA256: sha, FAKE_NPM_DIR: work } }, async (srv) => {
      const res = await install(srv, 'amp');
      assert.equal(res.status, 200, res.text);
      const ap = apDir(srv.home);
      assert.deepEqual(res.json(), {
        already_installed: false,
        artifacts: [{ kind: 'agent_process', path: path.join(ap, 'amp-acp'), source: 'fallback', version: '0.9.0' }],
      });
      assert.ok(requests.includes(`/amp-acp-${PLATFORM}.tar.gz`));
      assert.match(fs.readFileSync(path.join(ap, 'amp-acp'), 'utf8'), new RegExp(`exec '${ap}/amp/amp-acp' "\\$@"`));
      assert.deepEqual(apEntries(srv.home), ['amp', 'amp-acp']);
      const init = await acpPost(srv, 'amp-1', { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 1 } }, { agent: 'amp' });
      assert.equal(init.status, 200, init.text);
      assert.equal(init.json().result.agentInfo.name, 'fake-agent');
      await deleteAcp(srv, 'amp-1');
      const info = (await request(srv, 'GET', '/v1/agents/amp?config=true')).json();
      assert.equal(info.installed, true);
      assert.equal(info.version, '0.9.0', 'no native amp: the adapter version');
      const manifest = JSON.parse(fs.readFileSync(path.join(ap, 'amp/.sandbox-agent-install.json'), 'utf8'));
      assert.equal(manifest.sha256, sha, 'the archive checksum is recorded');
      assert.equal(manifest.sha256Verified, true);
    });
  });

  test('cursor: cursor-agent runs with `acp`, is linked as $BIN/cursor-agent and reports its version', () =>
    withServer({ env: { SANDBOX_AGENT_CURSOR_AGENT_URL: `${base}/cursor/{arch}/agent-cli-package.tar.gz`, FAKE_NPM_DIR: work } }, async (srv) => {
      const res = await install(srv, 'cursor', { agentVersion: '2026.1.2' });
      assert.equal(res.status, 200, res.text);
      const ap = apDir(srv.home);
      const native = path.join(binDir(srv.home), 'cursor-agent');
      assert.deepEqual(res.json().artifacts, [
        { kind: 'native_agent', path: native, source: 'fallback', version: '2026.1.2-test' },
        { kind: 'agent_process', path: path.join(ap, 'cursor-acp'), source: 'fallback', version: '2026.1.2' },
      ]);
      assert.equal(fs.readlinkSync(native), path.join(ap, 'cursor/dist-package/cursor-agent'));
      assert.match(fs.readFileSync(path.join(ap, 'cursor-acp'), 'utf8'), /dist-package\/cursor-agent' 'acp' "\$@"\n$/);
      const info = (await request(srv, 'GET', '/v1/agents/cursor?config=true')).json();
      assert.equal(info.version, '2026.1.2-test');
      assert.equal(info.path, native);
      // No known checksum for this URL: computed and recorded, marked unverified.
      const manifest = JSON.parse(fs.readFileSync(path.join(ap, 'cursor/.sandbox-agent-install.json'), 'utf8'));
      const sha = crypto.createHash('sha256').update(files.get(`/cursor/${ARCH}/agent-cli-package.tar.gz`)).digest('hex');
      assert.equal(manifest.sha256, sha);
      assert.equal(manifest.sha256Verified, false);
    }));

  test('bad downloads fail fast with a clear reason and leave nothing behind', async () => {
    const cases = [
      [{ SANDBOX_AGENT_AMP_ACP_URL: `${base}/missing-{platform}.tar.gz` }, /^download of .*\/missing-linux-\w+\.tar\.gz failed: the downloader exited with status 22$/, /404/],
      [{ SANDBOX_AGENT_AMP_ACP_URL: 'http://127.0.0.1:9/amp.tar.gz' }, /^download of http:\/\/127\.0\.0\.1:9\/amp\.tar\.gz failed: the downloader exited with status 7$/, /Failed to connect|refused/i],
      [{ SANDBOX_AGENT_AMP_ACP_URL: `${base}/garbage.tar.gz` }, /garbage\.tar\.gz: (corrupt archive|cannot open the archive)/, null],
      [{ SANDBOX_AGENT_AMP_ACP_URL: `${base}/evil.tar.gz` }, /evil\.tar\.gz: unsafe archive entry: invalid relative path: \.\.\/escape\.txt$/, null],
      [{ SANDBOX_AGENT_AMP_ACP_URL: `${base}/chain.tar.gz` }, /chain\.tar\.gz: unsafe archive entry: symlink points outside the destination: b -> a\/\.\.$/, null],
      [{ SANDBOX_AGENT_AMP_ACP_URL: `${base}/amp-acp-{platform}.tar.gz`, SANDBOX_AGENT_AMP_ACP_SHA256: '0'.repeat(64) }, /checksum mismatch: expected sha256 0{64}, got [0-9a-f]{64}$/, null],
    ];
    for (const [env, reason, output] of cases) {
      await withServer({ env }, async (srv) => {
        const t0 = Date.now();
        const body = assertProblem(await install(srv, 'amp', {}, 30000), 500, 'install_failed', JSON.stringify(env));
        assert.match(body.details.reason, reason);
        if (output) assert.match(body.details.output, output);
        assert.ok(Date.now() - t0 < 10000, 'fails fast');
        assert.deepEqual(apEntries(srv.home), [], 'nothing left behind');
        assert.ok(!fs.existsSync(path.join(work, 'escape.txt')), 'nothing written outside');
        // (An escape through the chain lands beside the extraction dir, inside the data dir.)
        const pwned = execFileSync('find', [srv.home, '-name', 'pwned.txt'], { encoding: 'utf8' }).trim();
        assert.equal(pwned, '', 'nothing written through a chain of links');
      });
    }
  });
});
