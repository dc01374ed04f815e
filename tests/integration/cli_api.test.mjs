// `sandbox-agent api agents|acp ...` (features.md §1.6) against a running server: agents
// list/report/install, ACP post/stream/close with the mock agent, bearer tokens given
// before or after the subcommand, problem output and exit codes (0 ok, 1 server or
// connection error, 2 usage error). `agents report` is compared with the reference
// binary's when it is installed in tests/node_modules. Also: `server --help` lists every
// environment variable of the README's configuration table.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BIN, REPO, IS_REFERENCE, freePort, withServer, waitFor } from './lib/server.mjs';
import { request, acpPost, initializeMsg } from './lib/http.mjs';
import { startCli } from './lib/cli.mjs';

const SKIP = IS_REFERENCE ? 'tests our api CLI (the reference lists agents over ACP)' : false;
const REF = path.join(REPO, 'tests/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent');
const NO_REF = !fs.existsSync(REF) && 'reference binary not installed';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-api-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const start = (args, { bin, stdin } = {}) => startCli(args, { bin, stdin, cwd: tmp, env: { HOME: tmp } });
const run = (args, opts) => start(args, opts).done;
const ep = (srv) => ['-e', srv.baseUrl];

async function ok(args, opts) {
  const r = await run(args, opts);
  assert.equal(r.status, 0, `${args.join(' ')}\n${r.stderr}`);
  return r;
}

async function fails(args, status, stderrPattern) {
  const r = await run(args);
  assert.equal(r.status, status, `${args.join(' ')}\n${r.stderr}`);
  if (stderrPattern) assert.match(r.stderr, stderrPattern);
  return r;
}

const ORDER = ['claude', 'codex', 'opencode', 'amp', 'pi', 'cursor', 'mock'];

describe('api agents', { skip: SKIP }, () => {
  test('list: a table by default, the /v1/agents body with --json', () =>
    withServer({}, async (srv) => {
      let r = await ok(['api', 'agents', 'list', ...ep(srv)]);
      const lines = r.stdout.trimEnd().split('\n');
      assert.match(lines[0], /^AGENT\s+INSTALLED\s+CREDENTIALS\s+VERSION\s+SERVER$/);
      assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ORDER);
      r = await ok(['api', 'agents', 'list', '--json', ...ep(srv)]);
      const body = JSON.parse(r.stdout);
      assert.deepEqual(body.agents.map((a) => a.id), ORDER);
      assert.ok(body.agents.every((a) => 'configOptions' in a), 'listed with config=true');
      // A running mock instance shows in the table.
      assert.equal((await acpPost(srv, 'l1', initializeMsg(1), { agent: 'mock' })).status, 200);
      r = await ok(['api', 'agents', 'list', ...ep(srv)]);
      assert.match(r.stdout, /^mock\s+yes\s+yes\s+builtin\s+running \(up \d+ s\)$/m);
    }));

  test('report: the reference shape, values sorted, current values', () =>
    withServer({}, async (srv) => {
      const r = await ok(['api', 'agents', 'report', ...ep(srv)]);
      const report = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(report), ['generatedAtMs', 'endpoint', 'agents']);
      assert.equal(report.endpoint, srv.baseUrl);
      assert.ok(Math.abs(report.generatedAtMs - Date.now()) < 600000);
      assert.deepEqual(report.agents.map((a) => a.id), ORDER);
      for (const a of report.agents) assert.deepEqual(Object.keys(a), ['id', 'installed', 'models', 'modes', 'thoughtLevels']);
      const mock = report.agents.find((a) => a.id === 'mock');
      assert.deepEqual(mock.models, { currentValue: 'mock', values: [{ value: 'mock', name: 'Mock' }, { value: 'mock-fast', name: 'Mock Fast' }] });
      assert.deepEqual(mock.thoughtLevels.values.map((v) => v.value), ['high', 'low', 'medium']);
      assert.deepEqual(report.agents.find((a) => a.id === 'claude').thoughtLevels, { values: [] });
    }));

  test('report: byte-for-byte the reference CLI\'s against the same server', { skip: NO_REF }, () =>
    withServer({ token: 'tok' }, async (srv) => {
      const norm = (s) => s.replace(/"generatedAtMs": \d+/, '"generatedAtMs": 0');
      const ours = await ok(['-t', 'tok', 'api', 'agents', 'report', ...ep(srv)]);
      const ref = await run(['api', 'agents', 'report', '-t', 'tok', ...ep(srv)], { bin: REF });
      assert.equal(ref.status, 0, ref.stderr);
      assert.equal(norm(ours.stdout), norm(ref.stdout));
    }));

  test('install: summary, already installed, -r, --json; unknown agent exits 1', () =>
    withServer({}, async (srv) => {
      let r = await ok(['api', 'agents', 'install', 'mock', ...ep(srv)]);
      assert.match(r.stderr, /^mock: (installed|already installed)/);
      r = await ok(['api', 'agents', 'install', 'mock', ...ep(srv)]);
      assert.match(r.stderr, /^mock: already installed/);
      assert.equal(r.stdout, '');
      r = await ok(['api', 'agents', 'install', 'mock', '-r', ...ep(srv)]);
      assert.match(r.stderr, /^mock: installed\n/);
      assert.match(r.stdout, /^mock agent_process builtin \(builtin\) at \/.*mock-acp\n$/);
      r = await ok(['api', 'agents', 'install', '--reinstall', '--json', 'mock', ...ep(srv)]);
      const body = JSON.parse(r.stdout);
      assert.equal(body.already_installed, false);
      assert.equal(body.artifacts[0].kind, 'agent_process');
      await fails(['api', 'agents', 'install', 'nope', ...ep(srv)], 1, /^error: Unsupported Agent \(HTTP 400\): unsupported agent: nope\n$/);
      await fails(['api', 'agents', 'install', ...ep(srv)], 2, /required arguments were not provided/);
    }));
});

describe('api acp', { skip: SKIP }, () => {
  test('post: a request prints its response, a notification is accepted (202)', () =>
    withServer({}, async (srv) => {
      const init = JSON.stringify(initializeMsg(1));
      let r = await ok(['api', 'acp', 'post', '--server-id', 'p1', '--agent', 'mock', '--json', init, ...ep(srv)]);
      const res = JSON.parse(r.stdout);
      assert.equal(res.id, 1);
      assert.equal(res.result.protocolVersion, 1);
      r = await ok(['api', 'acp', 'post', '--server-id', 'p1', '--json', '{"jsonrpc":"2.0","method":"x/notify"}', ...ep(srv)]);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /accepted \(202\)/);
      const file = path.join(tmp, 'new.json');
      fs.writeFileSync(file, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'session/new', params: { cwd: tmp, mcpServers: [] } }));
      r = await ok(['api', 'acp', 'post', '--server-id', 'p1', '--json-file', file, ...ep(srv)]);
      assert.equal(typeof JSON.parse(r.stdout).result.sessionId, 'string');
      r = await ok(['api', 'acp', 'post', '--server-id', 'p1', '--json-file', '-', ...ep(srv)], { stdin: JSON.stringify(initializeMsg(3)) });
      assert.equal(JSON.parse(r.stdout).id, 3);
      // Server-side problems: exit 1 with title and detail.
      await fails(['api', 'acp', 'post', '--server-id', 'p2', '--json', init, ...ep(srv)], 1, /^error: .*\(HTTP 400\): invalid request: missing required 'agent' query parameter/);
      await fails(['api', 'acp', 'post', '--server-id', 'p1', '--json', '{not json', ...ep(srv)], 1, /\(HTTP 400\)/);
      // Usage errors: exit 2.
      await fails(['api', 'acp', 'post', '--server-id', 'p1', ...ep(srv)], 2, /missing payload: provide --json or --json-file/);
      await fails(['api', 'acp', 'post', '--server-id', 'p1', '--json', init, '--json-file', file, ...ep(srv)], 2, /either --json or --json-file, not both/);
      await fails(['api', 'acp', 'post', '--json', init, ...ep(srv)], 2, /--server-id <SERVER_ID>/);
    }));

  test('stream: envelopes as they arrive, --json lines, Last-Event-ID, ends on close', () =>
    withServer({}, async (srv) => {
      assert.equal((await acpPost(srv, 's1', initializeMsg(1), { agent: 'mock' })).status, 200);
      const s = start(['api', 'acp', 'stream', '--server-id', 's1', '--json', ...ep(srv)]);
      const lines = () => s.out().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      await waitFor(() => lines().some((m) => m.id === 1 && m.result), { what: () => `the replayed response\n${s.out()}${s.err()}` });
      assert.equal((await acpPost(srv, 's1', { jsonrpc: '2.0', id: 2, method: 'session/new', params: { cwd: tmp, mcpServers: [] } })).status, 200);
      await waitFor(() => lines().some((m) => m.id === 2 && m.result?.sessionId), { what: () => `the live response\n${s.out()}` });
      // A human-form stream from after event 1 does not replay it.
      const h = await (async () => {
        const p = start(['api', 'acp', 'stream', '--server-id', 's1', '--last-event-id', '1', ...ep(srv)]);
        await waitFor(() => /response 2/.test(p.out()), { what: () => `human form\n${p.out()}${p.err()}` });
        return p;
      })();
      assert.doesNotMatch(h.out(), /^#1 /m);
      assert.match(h.out(), /^#\d+ response 2 \{"jsonrpc":"2\.0","id":2,"result":/m);
      await ok(['api', 'acp', 'close', '--server-id', 's1', ...ep(srv)]);
      for (const p of [s, h]) {
        const r = await p.done;
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /stream ended after \d+ events/);
      }
    }));

  test('stream: Ctrl-C ends it with exit 0; unknown server ids and bad ids fail', () =>
    withServer({}, async (srv) => {
      assert.equal((await acpPost(srv, 's2', initializeMsg(1), { agent: 'mock' })).status, 200);
      const s = start(['api', 'acp', 'stream', '--server-id', 's2', ...ep(srv)]);
      await waitFor(() => /^#1 response 1 /m.test(s.out()), { what: () => `first event\n${s.out()}${s.err()}` });
      s.child.kill('SIGINT');
      const r = await s.done;
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /stream interrupted after 1 events/);
      await fails(['api', 'acp', 'stream', '--server-id', 'nothere', ...ep(srv)], 1, /^error: Session Not Found \(HTTP 404\): session not found: nothere\n$/);
      await fails(['api', 'acp', 'stream', '--server-id', 's2', '--last-event-id', 'abc', ...ep(srv)], 2, /invalid value 'abc'/);
    }));

  test('close: DELETE ends the instance; an unknown id is fine too', () =>
    withServer({}, async (srv) => {
      assert.equal((await acpPost(srv, 'c/1', initializeMsg(1), { agent: 'mock' })).status, 200);
      const r = await ok(['api', 'acp', 'close', '--server-id', 'c/1', ...ep(srv)]);
      assert.match(r.stderr, /^closed ACP server c\/1\n$/);
      assert.deepEqual((await request(srv, 'GET', '/v1/acp')).json().servers, []);
      await ok(['api', 'acp', 'close', '--server-id', 'never', ...ep(srv)]);
    }));
});

describe('api: tokens, connections, usage', { skip: SKIP }, () => {
  test('a server with --token: no token exits 1 with the problem; -t works before or after the subcommand', () =>
    withServer({ token: 'sekret' }, async (srv) => {
      await fails(['api', 'agents', 'list', ...ep(srv)], 1, /^error: .*\(HTTP 401\)/);
      await fails(['api', 'agents', 'list', '-t', 'wrong', ...ep(srv)], 1, /\(HTTP 401\)/);
      await fails(['-t', 'sekret', 'api', 'agents', 'list', '-n', ...ep(srv)], 1, /\(HTTP 401\)/);
      for (const args of [
        ['-t', 'sekret', 'api', 'agents', 'list'],
        ['api', '-t', 'sekret', 'agents', 'list'],
        ['api', 'agents', '--token', 'sekret', 'list'],
        ['api', 'agents', 'list', '--token=sekret'],
        ['api', 'agents', 'list', '-tsekret'],
      ]) {
        await ok([...args, ...ep(srv)]);
      }
      await ok(['-t', 'sekret', 'api', 'acp', 'post', '--server-id', 't1', '--agent', 'mock', '--json', JSON.stringify(initializeMsg(1)), ...ep(srv)]);
      await ok(['-t', 'sekret', 'api', 'acp', 'close', '--server-id', 't1', ...ep(srv)]);
      await fails(['-t', 'a', 'api', 'agents', 'list', '-t', 'b', ...ep(srv)], 2, /cannot be used multiple times/);
    }));

  test('connection refused exits 1; endpoints with a trailing slash work; bad endpoints are usage errors', async () => {
    const port = await freePort();
    await fails(['api', 'agents', 'list', '-e', `http://127.0.0.1:${port}`], 1, new RegExp(`^error: cannot connect to http://127\\.0\\.0\\.1:${port}: connection refused`));
    await fails(['api', 'acp', 'stream', '--server-id', 'x', '-e', `http://127.0.0.1:${port}`], 1, /connection refused/);
    await fails(['api', 'agents', 'list', '-e', 'https://example.com'], 2, /https is not supported/);
    await fails(['api', 'agents', 'list', '-e', 'http://127.0.0.1:99999'], 2, /bad port/);
    await withServer({}, async (srv) => {
      await ok(['api', 'agents', 'list', '-e', `${srv.baseUrl}/`]);
      await ok(['api', 'agents', 'list', '-e', `localhost:${srv.port}`]);
    });
  });

  test('usage errors exit 2; --help on every command exits 0', async () => {
    for (const args of [['api'], ['api', 'bogus'], ['api', 'agents'], ['api', 'agents', 'bogus'], ['api', 'acp', 'post', '--bogus'], ['api', 'agents', 'list', 'extra'], ['api', 'agents', 'report', '--json']]) {
      await fails(args, 2);
    }
    for (const args of [['api'], ['api', 'agents'], ['api', 'agents', 'list'], ['api', 'agents', 'report'], ['api', 'agents', 'install'], ['api', 'acp'], ['api', 'acp', 'post'], ['api', 'acp', 'stream'], ['api', 'acp', 'close']]) {
      const r = await ok([...args, '--help']);
      assert.match(r.stdout, new RegExp(`Usage: sandbox-agent ${args.join(' ')} `));
      if (args.length === 3) assert.match(r.stdout, /-e, --endpoint <ENDPOINT>/);
    }
    const r = await ok(['help', 'api', 'acp', 'stream']);
    assert.match(r.stdout, /--last-event-id/);
  });
});

describe('help texts', { skip: SKIP }, () => {
  test('top-level help lists the commands of features.md §1.1', async () => {
    const r = await ok(['--help']);
    assert.match(r.stdout, /^sandbox-agent 0\.4\.2\nhttps:\/\/sandboxagent\.dev\n/);
    const cmds = [...r.stdout.split('Commands:\n')[1].split('\n\n')[0].matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(cmds, ['server', 'api', 'install', 'opencode', 'daemon', 'install-agent', 'credentials', 'help']);
    assert.match(r.stdout, /-t, --token <TOKEN>/);
    assert.match(r.stdout, /-n, --no-token/);
  });

  test('server --help lists every environment variable of the README configuration table', async () => {
    const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const table = readme.split('## Configuration')[1].split('\n## ')[0];
    const vars = new Set([...table.matchAll(/^\|[^|]*\|/gm)].flatMap((m) => [...m[0].matchAll(/SANDBOX_AGENT_\w+/g)].map((v) => v[0])));
    assert.ok(vars.size >= 10, [...vars].join(' '));
    const r = await ok(['server', '--help']);
    for (const v of vars) assert.ok(r.stdout.includes(v), `server --help lacks ${v}`);
  });

  test('install-agent: -r, --all and the globals are accepted; versions with --all are refused', async () => {
    const r = await ok(['install-agent', '--help']);
    assert.match(r.stdout, /--all/);
    assert.match(r.stdout, /-r, --reinstall/);
    await fails(['install-agent', '--all', '--agent-version', '1'], 2, /not to all/);
    await fails(['install-agent', 'all', '--agent-process-version', '1'], 2, /not to all/);
    await fails(['install-agent', 'mock', '--all'], 2, /cannot be used with '--all'/);
    await fails(['install-agent'], 2);
    const home = fs.mkdtempSync(path.join(tmp, 'h-'));
    for (const args of [['-t', 'x', 'install-agent', 'mock', '-r'], ['install-agent', '-n', 'mock', '--reinstall']]) {
      const child = spawn(BIN, args, { env: { ...process.env, HOME: home, XDG_DATA_HOME: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const status = await new Promise((resolve) => child.on('close', resolve));
      assert.equal(status, 0);
      assert.equal(JSON.parse(out).alreadyInstalled, false, 'reinstalled');
    }
  });
});
