// The official SDK (sandbox-agent@0.4.2) against the server: connection, agents API,
// sessions and every non-interactive mock scenario, modes and config options.
import assert from 'node:assert/strict';
import * as nodeTest from 'node:test';
import { SandboxAgentError, AcpRpcError, UnsupportedSessionValueError } from 'sandbox-agent';
import { sharedServer, withServer, NEEDS_OUR_MOCK, IS_REFERENCE } from './lib/server.mjs';
import { connect, collect, recordingFetch, text, withSdk } from './lib/sdk.mjs';
import { request } from './lib/http.mjs';

const { describe, test } = nodeTest;
const S = sharedServer(nodeTest, { env: { SANDBOX_AGENT_ACP_REGISTRY_URL: 'http://127.0.0.1:9/registry.json' } });
const skip = NEEDS_OUR_MOCK;


describe('connection and agents API', () => {
  S.test('getHealth, listAgents, getAgent, installAgent, listAcpServers', (srv) =>
    withSdk(srv, {}, async (sdk) => {
      assert.deepEqual(await sdk.getHealth(), { status: 'ok' });
      const { agents } = await sdk.listAgents();
      assert.deepEqual(agents.map((a) => a.id), ['claude', 'codex', 'opencode', 'amp', 'pi', 'cursor', 'mock']);
      const withConfig = await sdk.listAgents({ config: true, noCache: true });
      assert.ok(withConfig.agents.every((a) => Array.isArray(a.configOptions)));
      const mock = await sdk.getAgent('mock', { config: true });
      assert.equal(mock.id, 'mock');
      assert.deepEqual(mock.configOptions.map((o) => o.category), ['model', 'mode', 'thought_level']);
      const installed = await sdk.installAgent('mock');
      assert.equal(typeof installed.already_installed, 'boolean');
      assert.ok(Array.isArray(installed.artifacts));
      assert.equal((await sdk.getAgent('mock')).installed, true);
      assert.deepEqual(await sdk.listAcpServers(), { servers: [] });
    }));

  S.test('errors become SandboxAgentError with the problem body', (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const err = await sdk.getAgent('nope').then(
        () => null,
        (e) => e,
      );
      assert.ok(err instanceof SandboxAgentError, String(err));
      assert.equal(err.status, 400);
      assert.equal(err.problem.type, 'urn:sandbox-agent:error:unsupported_agent');
      assert.equal(err.message, 'Unsupported Agent');
      const inst = await sdk.installAgent('nope').catch((e) => e);
      assert.equal(inst.status, 400);
    }));

  test('token: the SDK sends the bearer token everywhere; a wrong token gets SandboxAgentError 401', () =>
    withServer({ token: 'sdk-token' }, async (srv) => {
      await withSdk(srv, {}, async (sdk) => {
        assert.deepEqual(await sdk.getHealth(), { status: 'ok' });
        assert.equal((await sdk.listAgents()).agents.length, 7);
        if (!skip) {
          const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
          const res = await session.prompt(text('with a token'));
          assert.equal(res.stopReason, 'end_turn');
        }
      });
      await withSdk(srv, { token: 'wrong', skipHealthCheck: true }, async (sdk) => {
        const err = await sdk.listAgents().catch((e) => e);
        assert.ok(err instanceof SandboxAgentError, String(err));
        assert.equal(err.status, 401);
        assert.equal(err.problem.type, 'urn:sandbox-agent:error:token_invalid');
      });
    }));
});

describe('sessions', () => {
  S.test('createSession binds an agent session on a sdk-mock-<uuid> instance', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      assert.equal(session.agent, 'mock');
      assert.equal(typeof session.agentSessionId, 'string');
      assert.ok(session.agentSessionId.length > 0);
      const { servers } = await sdk.listAcpServers();
      assert.equal(servers.length, 1);
      assert.match(servers[0].serverId, /^sdk-mock-[0-9a-f-]{36}$/);
      assert.equal(servers[0].agent, 'mock');
      const modes = await session.getModes();
      assert.equal(modes.currentModeId, 'normal');
      assert.deepEqual(modes.availableModes.map((m) => m.id), ['normal', 'plan']);
      const options = await session.getConfigOptions();
      assert.deepEqual(options.map((o) => [o.id, o.category, o.currentValue]), [
        ['model', 'model', 'mock'],
        ['mode', 'mode', 'normal'],
        ['thought_level', 'thought_level', 'low'],
      ]);
      const second = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      assert.notEqual(second.agentSessionId, session.agentSessionId);
      assert.equal((await sdk.listAcpServers()).servers.length, 1, 'one instance per agent per client');
      const listed = await sdk.listSessions();
      assert.deepEqual(new Set(listed.items.map((s) => s.id)), new Set([session.id, second.id]));
    }));

  S.test('prompt: the agent text carries the prompt verbatim; stopReason end_turn', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const c = collect(session);
      const prompt = 'Hello from the SDK: ünïcødé ✓ "quotes" \\ back\nslash';
      const res = await session.prompt(text(prompt));
      assert.equal(res.stopReason, 'end_turn');
      await c.until((x) => x.text().includes(prompt), 'the echoed prompt');
      const outbound = c.events.filter((e) => e.sender === 'client');
      assert.ok(outbound.some((e) => e.payload.method === 'session/prompt'));
      const idx = c.events.map((e) => e.eventIndex);
      assert.deepEqual(idx, [...idx].sort((a, b) => a - b));
      const stored = await sdk.getEvents({ sessionId: session.id });
      assert.ok(stored.items.length >= c.events.length);
    }));

  S.test('think, plan and tool scenarios stream thoughts, a plan and a completed tool call', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const c = collect(session);
      const res = await session.prompt(text('think then plan and use a tool please'));
      assert.equal(res.stopReason, 'end_turn');
      await c.until(
        (x) => x.text().includes('think then plan and use a tool please') && x.updates().some((u) => u.sessionUpdate === 'tool_call_update'),
        'all updates',
      );
      const ups = c.updates();
      const kinds = ups.map((u) => u.sessionUpdate);
      const firstThought = kinds.indexOf('agent_thought_chunk');
      assert.ok(firstThought >= 0, 'a thought chunk');
      assert.ok(c.text('agent_thought_chunk').length > 0);
      assert.ok(firstThought < kinds.indexOf('agent_message_chunk'), 'thoughts come first');
      const plan = ups.find((u) => u.sessionUpdate === 'plan');
      assert.ok(plan && plan.entries.length >= 2, 'a plan with several entries');
      for (const e of plan.entries) {
        assert.ok(['high', 'medium', 'low'].includes(e.priority));
        assert.ok(['pending', 'in_progress', 'completed'].includes(e.status));
        assert.equal(typeof e.content, 'string');
      }
      const call = ups.find((u) => u.sessionUpdate === 'tool_call');
      assert.ok(call, 'a tool_call');
      assert.equal(call.status, 'pending');
      const done = ups.find((u) => u.sessionUpdate === 'tool_call_update' && u.toolCallId === call.toolCallId);
      assert.ok(done, 'its tool_call_update');
      assert.equal(done.status, 'completed');
      assert.ok(Array.isArray(done.content) && done.content.length > 0, 'with content');
      assert.ok(kinds.indexOf('tool_call') < kinds.indexOf('tool_call_update'));
    }));

  S.test('error scenario: the prompt rejects with AcpRpcError and the session keeps working', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const err = await session.prompt(text('trigger an error now')).catch((e) => e);
      assert.ok(err instanceof AcpRpcError, `expected AcpRpcError, got ${err}`);
      assert.equal(typeof err.code, 'number');
      assert.ok(err.code < 0);
      const ok = await session.prompt(text('all good afterwards'));
      assert.equal(ok.stopReason, 'end_turn');
    }));

  S.test('unknown methods via rawSend reject with AcpRpcError -32601', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const err = await session.rawSend('_mock/does_not_exist', { x: 1 }).catch((e) => e);
      assert.ok(err instanceof AcpRpcError, String(err));
      assert.equal(err.code, -32601);
      // Notifications of unknown methods are accepted silently.
      assert.equal(await session.rawSend('_mock/notify', {}, { notification: true }), undefined);
      assert.equal((await session.prompt(text('still alive'))).stopReason, 'end_turn');
    }));
});

describe('modes and config options', () => {
  S.test('setMode emits current_mode_update; setModel/setThoughtLevel/setConfigOption return the full options', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const c = collect(session);
      await session.setMode('plan');
      await c.until((x) => x.updates().some((u) => u.sessionUpdate === 'current_mode_update' && u.currentModeId === 'plan'), 'current_mode_update');
      assert.equal((await session.getModes()).currentModeId, 'plan');

      const byModel = await session.setModel('mock-fast');
      assert.equal(byModel.configOptions.find((o) => o.id === 'model').currentValue, 'mock-fast');
      assert.deepEqual(byModel.configOptions.map((o) => o.id), ['model', 'mode', 'thought_level']);
      const byThought = await session.setThoughtLevel('high');
      assert.equal(byThought.configOptions.find((o) => o.id === 'thought_level').currentValue, 'high');
      assert.equal(byThought.configOptions.find((o) => o.id === 'model').currentValue, 'mock-fast', 'earlier choice kept');

      const byOption = await session.setConfigOption('mode', 'normal');
      assert.equal(byOption.configOptions.find((o) => o.id === 'mode').currentValue, 'normal');
      assert.equal((await session.getModes()).currentModeId, 'normal');
      const opts = await session.getConfigOptions();
      assert.deepEqual(Object.fromEntries(opts.map((o) => [o.id, o.currentValue])), { model: 'mock-fast', mode: 'normal', thought_level: 'high' });

      await assert.rejects(session.setModel('gpt-nope'), UnsupportedSessionValueError);
      assert.equal((await session.prompt(text('after settings'))).stopReason, 'end_turn');
    }));

  S.test('createSession with mode, model and thoughtLevel resolves with them applied', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home, mode: 'plan', model: 'mock-fast', thoughtLevel: 'medium' });
      assert.equal((await session.getModes()).currentModeId, 'plan');
      const opts = await session.getConfigOptions();
      assert.deepEqual(Object.fromEntries(opts.map((o) => [o.id, o.currentValue])), { model: 'mock-fast', mode: 'plan', thought_level: 'medium' });
    }));
});

describe('what the SDK sends, and what it gets back', () => {
  S.test('wire log of createSession + prompt + dispose', { skip }, async (srv) => {
    const rec = recordingFetch();
    const sdk = await connect(srv, { fetch: rec.fetch });
    let serverId;
    try {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      assert.equal((await session.prompt(text('logged'))).stopReason, 'end_turn');
      serverId = (await sdk.listAcpServers()).servers[0].serverId;
    } finally {
      await sdk.dispose();
    }
    const acpPath = `/v1/acp/${serverId}`;
    const acp = rec.log.filter((e) => e.path === acpPath);
    const posts = acp.filter((e) => e.method === 'POST');
    assert.equal(posts[0].search, '?agent=mock', 'the first POST bootstraps');
    assert.ok(posts.slice(1).every((e) => e.search === ''), 'later POSTs carry no query');
    assert.deepEqual(posts.map((e) => JSON.parse(e.body).method), ['initialize', 'session/new', 'session/prompt']);
    assert.ok(posts.every((e) => e.status === 200), JSON.stringify(posts.map((e) => e.status)));
    const gets = acp.filter((e) => e.method === 'GET');
    assert.ok(gets.every((e) => e.status === 200 || e.status === 404), JSON.stringify(gets));
    assert.ok(gets.some((e) => e.status === 200), 'an SSE stream was opened');
    const dels = acp.filter((e) => e.method === 'DELETE');
    assert.equal(dels.length, 1);
    if (!IS_REFERENCE) assert.equal(dels[0].status, 204, 'DELETE answered (the reference never answers: quirk Q1)');
    const left = await request(srv, 'GET', '/v1/acp');
    assert.deepEqual(left.json().servers.filter((s) => s.serverId === serverId), []);
  });
});
