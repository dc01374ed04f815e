// Agents API (http-api.md §4, agents.md §3): list order, capabilities, config options,
// credentials, install, serverStatus.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { sharedServer, withServer, REPO, IS_REFERENCE } from './lib/server.mjs';
import { request, acpPost, initializeMsg, deleteAcp, assertProblem } from './lib/http.mjs';

const { describe, test } = nodeTest;
const IDS = ['claude', 'codex', 'opencode', 'amp', 'pi', 'cursor', 'mock'];
const CAP_KEYS = [
  'planMode', 'permissions', 'questions', 'toolCalls', 'toolResults', 'textMessages', 'images', 'fileAttachments',
  'sessionLifecycle', 'errorEvents', 'reasoning', 'status', 'commandExecution', 'fileChanges', 'mcpTools',
  'streamingDeltas', 'itemStarted', 'sharedProcess',
];
// Appendix A, one row per capability in CAP_KEYS order; columns in IDS order.
const CAP_TABLE = [
  '-Y---YY', 'YY---YY', 'Y-----Y', 'YYYYYYY', 'YYYYYYY', 'YYYYYYY', '-YY-YYY', '-YY---Y', '-YY-YYY',
  '-YYYYYY', '-Y----Y', '-Y----Y', '-Y----Y', '-Y----Y', 'YYYY--Y', 'YYY-YYY', '-YY-YYY', '-------',
];
const capsOf = (id) => {
  const col = IDS.indexOf(id);
  return Object.fromEntries(CAP_KEYS.map((k, row) => [k, CAP_TABLE[row][col] === 'Y']));
};
const CAPTURED = JSON.parse(fs.readFileSync(path.join(REPO, 'tests/fixtures/agents-config-0.4.2.json'), 'utf8'));
const capturedOf = (id) => CAPTURED.agents.find((a) => a.id === id);

// Binaries whose presence on PATH may legitimately make an agent count as installed.
const PATH_HINTS = {
  claude: ['claude', 'claude-agent-acp'],
  codex: ['codex', 'codex-acp'],
  opencode: ['opencode'],
  amp: ['amp', 'amp-acp'],
  pi: ['pi', 'pi-acp'],
  cursor: ['cursor-agent', 'cursor-agent-acp'],
};
const onPath = (name) =>
  (process.env.PATH || '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, name)));

// A clean credential environment: no API keys; the private HOME holds no credential files.
const NO_CREDS = {
  ANTHROPIC_API_KEY: null, CLAUDE_API_KEY: null, CLAUDE_CODE_OAUTH_TOKEN: null, ANTHROPIC_AUTH_TOKEN: null,
  OPENAI_API_KEY: null, CODEX_API_KEY: null,
  SANDBOX_AGENT_ACP_REGISTRY_URL: 'http://127.0.0.1:9/registry.json',
};

const S = sharedServer(nodeTest, { env: NO_CREDS });

describe('GET /v1/agents (§4.1)', () => {
  S.test('lists the seven agents in order with exact capabilities', async (srv) => {
    const res = await request(srv, 'GET', '/v1/agents');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    const { agents } = res.json();
    assert.deepEqual(agents.map((a) => a.id), IDS);
    for (const a of agents) {
      assert.deepEqual(Object.keys(a.capabilities), CAP_KEYS, `${a.id} capability order`);
      assert.deepEqual(a.capabilities, capsOf(a.id), `${a.id} capabilities`);
      assert.equal(typeof a.installed, 'boolean');
      assert.equal(typeof a.credentialsAvailable, 'boolean');
      const keys = Object.keys(a).filter((k) => k !== 'serverStatus');
      assert.deepEqual(keys, ['id', 'installed', 'credentialsAvailable', 'capabilities'], `${a.id} members without config`);
    }
  });

  S.test('credentialsAvailable: pi, cursor and mock always; others need credentials', async (srv) => {
    const { agents } = (await request(srv, 'GET', '/v1/agents')).json();
    const creds = Object.fromEntries(agents.map((a) => [a.id, a.credentialsAvailable]));
    assert.deepEqual(creds, { claude: false, codex: false, opencode: false, amp: false, pi: true, cursor: true, mock: true });
  });

  S.test('agents without binaries are not installed', async (srv) => {
    const { agents } = (await request(srv, 'GET', '/v1/agents')).json();
    for (const a of agents) {
      if (a.id === 'mock') continue;
      if (PATH_HINTS[a.id].some(onPath)) continue; // this machine has it
      assert.equal(a.installed, false, a.id);
    }
  });

  S.test('?config=true adds the captured configOptions for every agent', async (srv) => {
    const { agents } = (await request(srv, 'GET', '/v1/agents?config=true')).json();
    assert.deepEqual(agents.map((a) => a.id), IDS);
    for (const a of agents) {
      assert.deepEqual(a.configOptions, capturedOf(a.id).configOptions, `${a.id} configOptions`);
      assert.deepEqual(a.capabilities, capsOf(a.id));
    }
    const mock = agents.find((a) => a.id === 'mock');
    assert.equal(mock.version, 'builtin');
    assert.deepEqual(
      mock.configOptions.map((o) => [o.id, o.category, o.currentValue, o.options.map((x) => x.value)]),
      [
        ['model', 'model', 'mock', ['mock', 'mock-fast']],
        ['mode', 'mode', 'normal', ['normal', 'plan']],
        ['thought_level', 'thought_level', 'low', ['low', 'medium', 'high']],
      ],
    );
  });

  S.test('?config=false and ?no_cache=true are accepted', async (srv) => {
    const a = await request(srv, 'GET', '/v1/agents?config=false');
    assert.equal(a.status, 200);
    assert.equal(a.json().agents[6].configOptions, undefined);
    const b = await request(srv, 'GET', '/v1/agents?config=true&no_cache=true');
    assert.equal(b.status, 200);
    assert.equal(b.json().agents.length, 7);
    const c = await request(srv, 'GET', '/v1/agents/codex?config=true&no_cache=false');
    assert.deepEqual(c.json().configOptions.map((o) => o.id), ['model', 'mode', 'thought_level']);
  });

  S.test('GET /v1/agents/{id} returns one AgentInfo', async (srv) => {
    for (const id of IDS) {
      const res = await request(srv, 'GET', `/v1/agents/${id}`);
      assert.equal(res.status, 200, id);
      const a = res.json();
      assert.equal(a.id, id);
      assert.deepEqual(a.capabilities, capsOf(id));
      assert.equal(a.configOptions, undefined);
    }
    const mock = (await request(srv, 'GET', '/v1/agents/mock?config=true')).json();
    assert.deepEqual(mock.configOptions, capturedOf('mock').configOptions);
  });

  S.test('unknown, empty-ish and wrong-case ids get 400 unsupported_agent', async (srv) => {
    const res = await request(srv, 'GET', '/v1/agents/nope');
    assert.equal(res.status, 400);
    assert.equal(
      res.text,
      '{"type":"urn:sandbox-agent:error:unsupported_agent","title":"Unsupported Agent","status":400,"detail":"unsupported agent: nope","agent":"nope"}',
    );
    for (const id of ['MOCK', 'Claude', 'mock%20', 'all']) {
      const r = await request(srv, 'GET', `/v1/agents/${id}`);
      const body = assertProblem(r, 400, 'unsupported_agent', id);
      assert.equal(body.agent, decodeURIComponent(id));
    }
  });
});

describe('POST /v1/agents/{id}/install (§4.2)', () => {
  S.test('mock: reinstall produces the builtin artifact, then it is already installed', async (srv) => {
    const forced = await request(srv, 'POST', '/v1/agents/mock/install', { body: { reinstall: true } });
    assert.equal(forced.status, 200, forced.text);
    const f = forced.json();
    assert.equal(f.already_installed, false);
    assert.equal(f.artifacts.length, 1);
    assert.equal(f.artifacts[0].kind, 'agent_process');
    assert.equal(f.artifacts[0].source, 'builtin');
    assert.equal(f.artifacts[0].version, 'builtin');
    assert.equal(typeof f.artifacts[0].path, 'string');
    const again = await request(srv, 'POST', '/v1/agents/mock/install', { body: {} });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json(), { already_installed: true, artifacts: [] });
    const info = (await request(srv, 'GET', '/v1/agents/mock')).json();
    assert.equal(info.installed, true);
  });

  S.test('null fields are accepted in the install request', async (srv) => {
    const res = await request(srv, 'POST', '/v1/agents/mock/install', { body: { reinstall: null, agentVersion: null, agentProcessVersion: null } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().already_installed, true);
  });

  S.test('unknown agent install gets 400 unsupported_agent', async (srv) => {
    const res = await request(srv, 'POST', '/v1/agents/nope/install', { body: {} });
    const body = assertProblem(res, 400, 'unsupported_agent');
    assert.equal(body.agent, 'nope');
  });

  S.test('installing claude offline answers 500 install_failed and the server stays up', async (srv) => {
    if (onPath('claude') && onPath('claude-agent-acp')) return; // already installed here: nothing to fail
    const res = await request(srv, 'POST', '/v1/agents/claude/install', { body: {}, timeoutMs: 60000 });
    const body = assertProblem(res, 500, 'install_failed');
    assert.equal(body.title, 'Install Failed');
    assert.equal(body.detail, 'install failed: claude');
    assert.equal(body.agent, 'claude');
    assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
    const info = (await request(srv, 'GET', '/v1/agents/claude')).json();
    assert.equal(info.installed, false);
  });
});

describe('serverStatus (§4.1)', () => {
  S.test('present only while an ACP instance of the agent exists', async (srv) => {
    const before = (await request(srv, 'GET', '/v1/agents/mock')).json();
    assert.equal(before.serverStatus, undefined);
    const init = await acpPost(srv, 'status-probe', initializeMsg(1), { agent: 'mock' });
    assert.equal(init.status, 200, init.text);
    try {
      const during = (await request(srv, 'GET', '/v1/agents/mock')).json();
      assert.equal(during.serverStatus.status, 'running');
      assert.equal(typeof during.serverStatus.uptimeMs, 'number');
      assert.ok(during.serverStatus.uptimeMs >= 0);
      const list = (await request(srv, 'GET', '/v1/agents')).json();
      assert.ok(list.agents.find((a) => a.id === 'mock').serverStatus);
      assert.equal(list.agents.find((a) => a.id === 'claude').serverStatus, undefined);
    } finally {
      await deleteAcp(srv, 'status-probe');
    }
    const after = (await request(srv, 'GET', '/v1/agents/mock')).json();
    assert.equal(after.serverStatus, undefined);
  });
});

describe('credentials from the server environment', () => {
  test('ANTHROPIC_API_KEY makes claude, amp and opencode available', () =>
    withServer({ env: { ...NO_CREDS, ANTHROPIC_API_KEY: 'sk-ant-test-key' } }, async (srv) => {
      const { agents } = (await request(srv, 'GET', '/v1/agents')).json();
      const creds = Object.fromEntries(agents.map((a) => [a.id, a.credentialsAvailable]));
      assert.deepEqual(creds, { claude: true, codex: false, opencode: true, amp: true, pi: true, cursor: true, mock: true });
    }));

  test('OPENAI_API_KEY makes codex and opencode available', () =>
    withServer({ env: { ...NO_CREDS, OPENAI_API_KEY: 'sk-test' } }, async (srv) => {
      const { agents } = (await request(srv, 'GET', '/v1/agents')).json();
      const creds = Object.fromEntries(agents.map((a) => [a.id, a.credentialsAvailable]));
      assert.deepEqual(creds, { claude: false, codex: true, opencode: true, amp: false, pi: true, cursor: true, mock: true });
    }));

  test('SANDBOX_AGENT_REQUIRE_PREINSTALL: bootstrapping a missing agent gets 404 agent_not_installed', { skip: PATH_HINTS.amp.some(onPath) && 'amp is installed here' }, () =>
    withServer({ env: { ...NO_CREDS, SANDBOX_AGENT_REQUIRE_PREINSTALL: '1' } }, async (srv) => {
      const res = await acpPost(srv, 'preinstall', initializeMsg(), { agent: 'amp' });
      const body = assertProblem(res, 404, 'agent_not_installed');
      assert.equal(body.agent, 'amp');
      assert.equal(body.detail, 'agent not installed: amp');
      const list = (await request(srv, 'GET', '/v1/acp')).json();
      assert.deepEqual(list.servers, []);
    }));
});
