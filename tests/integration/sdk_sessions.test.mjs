// The official SDK driving interactive flows: permissions, cancel, concurrent sessions,
// resume on a new client, dispose (no leaked agents) and an agent crash.
import assert from 'node:assert/strict';
import * as nodeTest from 'node:test';
import { SandboxAgent, InMemorySessionPersistDriver } from 'sandbox-agent';
import { sharedServer, withServer, waitFor, descendants, NEEDS_OUR_MOCK, OURS_ONLY, IS_REFERENCE } from './lib/server.mjs';
import { connect, collect, recordingFetch, text, withSdk } from './lib/sdk.mjs';
import { request, deleteAcp } from './lib/http.mjs';

const { describe, test } = nodeTest;
const S = sharedServer(nodeTest);
const skip = NEEDS_OUR_MOCK;


const toolUpdates = (c, toolCallId) => c.updates().filter((u) => u.sessionUpdate === 'tool_call_update' && u.toolCallId === toolCallId);

describe('permissions', () => {
  for (const reply of ['once', 'always']) {
    S.test(`reply "${reply}": the guarded tool call completes`, { skip }, (srv) =>
      withSdk(srv, {}, async (sdk) => {
        const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        const c = collect(session);
        const asked = [];
        session.onPermissionRequest((req) => {
          asked.push(req);
          session.respondPermission(req.id, reply).catch(() => {});
        });
        const res = await session.prompt(text('needs permission to edit'));
        assert.equal(res.stopReason, 'end_turn');
        assert.equal(asked.length, 1);
        const req = asked[0];
        assert.equal(req.sessionId, session.id);
        assert.equal(req.agentSessionId, session.agentSessionId);
        assert.deepEqual(new Set(req.availableReplies), new Set(['once', 'always', 'reject']));
        assert.deepEqual(new Set(req.options.map((o) => o.kind)), new Set(['allow_once', 'allow_always', 'reject_once', 'reject_always']));
        const callId = req.toolCall.toolCallId;
        await c.until((x) => toolUpdates(x, callId).some((u) => u.status === 'completed'), 'the completed tool call');
        assert.ok(!toolUpdates(c, callId).some((u) => u.status === 'failed'));
        assert.ok(c.updates().some((u) => u.sessionUpdate === 'tool_call' && u.toolCallId === callId), 'the tool_call was announced');
        await c.until((x) => x.text().includes('needs permission to edit'), 'the echoed prompt');
        assert.doesNotMatch(c.text(), /denied/i);
      }));
  }

  S.test('reply "reject": the tool call fails and the agent says denied', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const c = collect(session);
      let callId = null;
      session.onPermissionRequest((req) => {
        callId = req.toolCall.toolCallId;
        session.respondPermission(req.id, 'reject').catch(() => {});
      });
      const res = await session.prompt(text('permission to delete everything'));
      assert.equal(res.stopReason, 'end_turn');
      assert.ok(callId);
      await c.until((x) => toolUpdates(x, callId).some((u) => u.status === 'failed') && /denied/i.test(x.text()), 'failed tool call and "denied"');
      assert.ok(!toolUpdates(c, callId).some((u) => u.status === 'completed'));
    }));

  S.test('no permission listener: the SDK answers cancelled and the tool call fails', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const c = collect(session);
      await session.prompt(text('permission without anyone listening'));
      await c.until((x) => x.updates().some((u) => u.sessionUpdate === 'tool_call_update' && u.status === 'failed') && /denied/i.test(x.text()), 'failed tool call');
    }));

  S.test('the permission answer is a JSON-RPC response POST that gets 202', { skip }, async (srv) => {
    const rec = recordingFetch();
    await withSdk(srv, { fetch: rec.fetch }, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      let askedId = null;
      session.onPermissionRequest((req) => {
        askedId = req.rawRequest;
        session.respondPermission(req.id, 'once').catch(() => {});
      });
      assert.equal((await session.prompt(text('permission via the wire'))).stopReason, 'end_turn');
    });
    const posts = rec.log.filter((e) => e.method === 'POST' && e.path.startsWith('/v1/acp/')).map((e) => ({ ...e, msg: JSON.parse(e.body) }));
    const answer = posts.find((e) => !('method' in e.msg) && e.msg.result?.outcome);
    assert.ok(answer, 'a response POST');
    assert.equal(answer.status, 202);
    assert.equal(answer.msg.result.outcome.outcome, 'selected');
    const prompt = posts.find((e) => e.msg.method === 'session/prompt');
    assert.equal(prompt.status, 200);
  });
});

describe('cancel', () => {
  S.test('destroySession during a slow prompt: session/cancel, stopReason cancelled', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      const c = collect(session);
      const pending = session.prompt(text('be slow please'));
      await c.until((x) => x.text().includes('be slow please'), 'the first chunk');
      const destroyed = await sdk.destroySession(session.id);
      assert.equal(typeof destroyed.destroyedAt, 'number');
      const res = await pending;
      assert.equal(res.stopReason, 'cancelled');
      assert.ok(c.events.some((e) => e.sender === 'client' && e.payload.method === 'session/cancel'), 'session/cancel was sent');
    }));
});

describe('concurrency', () => {
  S.test('two sessions on one client prompt at once without cross-talk', { skip }, (srv) =>
    withSdk(srv, {}, async (sdk) => {
      const [a, b] = await Promise.all([
        sdk.createSession({ agent: 'mock', cwd: srv.home }),
        sdk.createSession({ agent: 'mock', cwd: srv.home }),
      ]);
      assert.notEqual(a.agentSessionId, b.agentSessionId);
      const ca = collect(a);
      const cb = collect(b);
      const [ra, rb] = await Promise.all([a.prompt(text('aardvark-111 slow')), b.prompt(text('bumblebee-222 think'))]);
      assert.equal(ra.stopReason, 'end_turn');
      assert.equal(rb.stopReason, 'end_turn');
      // Barrier: a mode change emits current_mode_update after everything the turns sent, and
      // SSE keeps order, so once it arrives every earlier event of the session was delivered.
      await Promise.all([a.setMode('plan'), b.setMode('plan')]);
      const modeUpdate = (x) => x.updates().some((u) => u.sessionUpdate === 'current_mode_update');
      await ca.until((x) => modeUpdate(x) && x.text().includes('aardvark-111'), 'a: all events');
      await cb.until((x) => modeUpdate(x) && x.text().includes('bumblebee-222'), 'b: all events');
      assert.ok(cb.text('agent_thought_chunk').length > 0, 'b thought');
      const payloadsA = JSON.stringify(ca.events.map((e) => e.payload));
      const payloadsB = JSON.stringify(cb.events.map((e) => e.payload));
      assert.ok(!payloadsA.includes('bumblebee-222'), 'a saw nothing of b');
      assert.ok(!payloadsB.includes('aardvark-111'), 'b saw nothing of a');
      assert.equal(ca.text('agent_thought_chunk'), '', 'b\'s thoughts stayed with b');
      assert.ok(ca.events.every((e) => e.sessionId === a.id));
      assert.ok(cb.events.every((e) => e.sessionId === b.id));
    }));

  S.test('two clients (two instances) prompt at once', { skip }, async (srv) => {
    const sdk1 = await connect(srv);
    const sdk2 = await connect(srv);
    try {
      const [a, b] = await Promise.all([
        sdk1.createSession({ agent: 'mock', cwd: srv.home }),
        sdk2.createSession({ agent: 'mock', cwd: srv.home }),
      ]);
      const ca = collect(a);
      const cb = collect(b);
      const [ra, rb] = await Promise.all([a.prompt(text('client-one tool')), b.prompt(text('client-two plan'))]);
      assert.equal(ra.stopReason, 'end_turn');
      assert.equal(rb.stopReason, 'end_turn');
      await ca.until((x) => x.text().includes('client-one'), 'client one text');
      await cb.until((x) => x.text().includes('client-two'), 'client two text');
      assert.ok(!JSON.stringify(ca.events).includes('client-two'));
      assert.ok(!JSON.stringify(cb.events).includes('client-one'));
      const ids = (await sdk1.listAcpServers()).servers.map((s) => s.serverId);
      assert.equal(ids.filter((id) => id.startsWith('sdk-mock-')).length, 2);
    } finally {
      await sdk1.dispose();
      await sdk2.dispose();
    }
  });
});

describe('resume and dispose', () => {
  S.test('a new client resumes a persisted session; the history is replayed into the next prompt', { skip }, async (srv) => {
    const persist = new InMemorySessionPersistDriver();
    const sdk1 = await connect(srv, { persist });
    let sessionId;
    let firstAgentSession;
    try {
      const s = await sdk1.createSession({ agent: 'mock', cwd: srv.home });
      sessionId = s.id;
      firstAgentSession = s.agentSessionId;
      assert.equal((await s.prompt(text('remember zebra-42'))).stopReason, 'end_turn');
      await waitFor(async () => (await sdk1.getEvents({ sessionId })).items.some((e) => JSON.stringify(e.payload).includes('Mock response')), {
        what: 'the agent reply to be persisted',
      });
    } finally {
      await sdk1.dispose();
    }
    const sdk2 = await connect(srv, { persist });
    try {
      const resumed = await sdk2.resumeSession(sessionId);
      assert.equal(resumed.id, sessionId);
      assert.equal(typeof resumed.agentSessionId, 'string');
      assert.notEqual(resumed.agentSessionId, firstAgentSession, 'a new agent session on the new instance');
      const c = collect(resumed);
      assert.equal((await resumed.prompt(text('hello again'))).stopReason, 'end_turn');
      await c.until((x) => x.text().includes('hello again'), 'the new prompt echoed');
      // The mock acknowledges the SDK's replay block instead of echoing it, so words from
      // earlier prompts do not trigger their scenarios a second time.
      assert.match(c.text(), /Received \d+ bytes of replayed session history/, 'the replayed history reached the agent');
      assert.ok(!c.text().includes('zebra-42'), 'history is context, not a new prompt');
      const again = await sdk2.resumeOrCreateSession({ id: sessionId, agent: 'mock' });
      assert.equal(again.agentSessionId, resumed.agentSessionId, 'already bound: no new session');
      const events = (await sdk2.getEvents({ sessionId, limit: 1000 })).items;
      assert.equal(new Set(events.map((e) => e.connectionId)).size, 2, 'events from both connections');
    } finally {
      await sdk2.dispose();
    }
  });

  S.test('dispose deletes the instance (204) and leaves no agent process behind', { skip }, async (srv) => {
    const rec = recordingFetch();
    const sdk = await connect(srv, { fetch: rec.fetch });
    let serverId;
    let agentPids;
    try {
      const s = await sdk.createSession({ agent: 'mock', cwd: srv.home });
      assert.equal((await s.prompt(text('before dispose'))).stopReason, 'end_turn');
      serverId = (await sdk.listAcpServers()).servers.find((x) => x.serverId.startsWith('sdk-mock-')).serverId;
      agentPids = srv.descendants().map((d) => d.pid);
      assert.ok(agentPids.length >= 1, 'the agent runs');
    } finally {
      await sdk.dispose();
    }
    const dels = rec.log.filter((e) => e.method === 'DELETE');
    assert.deepEqual(dels.map((e) => e.path), [`/v1/acp/${serverId}`]);
    if (!IS_REFERENCE) assert.equal(dels[0].status, 204);
    const list = (await request(srv, 'GET', '/v1/acp')).json().servers;
    assert.ok(!list.some((x) => x.serverId === serverId), 'instance removed');
    await waitFor(() => !srv.descendants().some((d) => agentPids.includes(d.pid)), {
      what: () => `the agent to exit: ${JSON.stringify(srv.descendants())}`,
    });
  });
});

describe('agent crash through the SDK', () => {
  // SDK 0.4.2 treats any non-2xx POST reply as fatal to the connection (an unhandled
  // rejection that ends a Node process). The server therefore answers a request whose agent
  // died with HTTP 200 and a JSON-RPC error (-32010, docs/acp-errors.md): the SDK rejects only
  // that call, and the next session restarts the agent under the same server id.
  test('a crashing prompt rejects with the agent-exited error; no unhandled rejection; the same SDK goes on', { skip: NEEDS_OUR_MOCK || OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const rejections = [];
      const onRejection = (err) => rejections.push(err);
      process.on('unhandledRejection', onRejection);
      const origError = console.error;
      const logged = [];
      console.error = (...args) => logged.push(args.map(String).join(' '));
      const sdk = await connect(srv);
      try {
        const session = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        const serverId = (await sdk.listAcpServers()).servers[0].serverId;
        const err = await session.prompt(text('crash right now')).then(
          () => assert.fail('the crashed prompt must not succeed'),
          (e) => e,
        );
        assert.equal(err.code, -32010, JSON.stringify(err));
        assert.match(err.message, /^agent process exited \(exit code 1\): mock/);
        assert.equal(err.data.type, 'urn:sandbox-agent:error:agent_process_exited');
        assert.equal(err.data.exitCode, 1);
        assert.equal(err.data.serverId, serverId);
        assert.match(err.data.stderr, /crash/i);
        await waitFor(() => srv.descendants().length === 0, { what: 'the crashed agent to be reaped' });

        // The old session's requests fail the same way, and are catchable.
        const again = await session.prompt(text('anyone?')).then(() => null, (e) => e);
        assert.equal(again?.code, -32010);

        // The same SDK instance creates a new session (the agent restarts) and prompts it.
        const s2 = await sdk.createSession({ agent: 'mock', cwd: srv.home });
        assert.equal((await s2.prompt(text('life goes on'))).stopReason, 'end_turn');
        assert.deepEqual((await sdk.listAcpServers()).servers.map((s) => s.serverId), [serverId], 'one server id, restarted');
        assert.deepEqual(rejections, [], 'no unhandled rejection');
        assert.ok(!logged.some((l) => l.includes('ACP write error')), logged.join('\n'));
      } finally {
        await sdk.dispose();
        process.removeListener('unhandledRejection', onRejection);
        console.error = origError;
      }
      assert.deepEqual((await request(srv, 'GET', '/v1/health')).json(), { status: 'ok' });
      await waitFor(() => srv.descendants().length === 0, { what: 'agents gone after dispose' });
    }));
});
