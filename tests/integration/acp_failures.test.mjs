// Agent failures while requests are pending (http-api.md §5.3.6; our deliberate fixes of
// reference quirks Q2 and Q3, docs/acp-errors.md): a request whose agent dies or does not
// answer in time gets HTTP 200 with a JSON-RPC error carrying its id (-32010 exited,
// -32011 timeout), so SDK clients reject only that call; a new session restarts the agent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { withServer, waitFor, OURS_ONLY } from './lib/server.mjs';
import { request, acpPost, initializeMsg, assertProblem, openSse, responsesWithId, deleteAcp } from './lib/http.mjs';

async function instanceWithSession(srv, id) {
  const init = await acpPost(srv, id, initializeMsg(0), { agent: 'mock' });
  assert.equal(init.status, 200, init.text);
  const res = await acpPost(srv, id, { jsonrpc: '2.0', id: 1, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
  assert.equal(res.status, 200, res.text);
  return res.json().result.sessionId;
}
const EXITED = -32010;
const TIMEOUT = -32011;
/** The JSON-RPC error response of a POST answered by the bridge on the agent's behalf. */
function rpcError(res, rpcId, code) {
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers['content-type'], /^application\/json/);
  const body = res.json();
  assert.equal(body.jsonrpc, '2.0');
  assert.deepEqual(body.id, rpcId);
  assert.equal(body.result, undefined);
  assert.equal(body.error.code, code, res.text);
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}
const prompt = (srv, id, rpcId, sessionId, text) =>
  acpPost(srv, id, { jsonrpc: '2.0', id: rpcId, method: 'session/prompt', params: { sessionId, prompt: [{ type: 'text', text }] } }, { timeoutMs: 30000 });

describe('agent crash during a request', () => {
  test('the pending POST gets a JSON-RPC agent-exited error at once; SSE sees it too; old-session requests fail, a new session restarts the agent', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const id = 'crashy';
      const sid = await instanceWithSession(srv, id);
      const sse = await openSse(srv, id);
      try {
        const res = await prompt(srv, id, 2, sid, 'please crash now');
        const err = rpcError(res, 2, EXITED);
        assert.equal(err.message, 'agent process exited (exit code 1): mock');
        assert.equal(err.data.type, 'urn:sandbox-agent:error:agent_process_exited');
        assert.equal(err.data.agent, 'mock');
        assert.equal(err.data.serverId, id);
        assert.equal(err.data.exitCode, 1);
        assert.equal(err.data.signal, null);
        assert.match(err.data.stderr, /crash/i, 'the agent stderr is carried');

        await sse.waitFor((evs) => evs.some((e) => e.json?.method === '_adapter/agent_exited'), '_adapter/agent_exited');
        const exit = sse.events.find((e) => e.json?.method === '_adapter/agent_exited').json;
        assert.deepEqual(exit, { jsonrpc: '2.0', method: '_adapter/agent_exited', params: { code: 1, success: false } });
        // What the agent wrote before dying was streamed, and so is how the request ended.
        assert.ok(
          sse.events.some((e) => e.json?.params?.update?.sessionUpdate === 'agent_message_chunk' && e.json.params.update.content.text.includes('please crash now')),
        );
        await sse.waitFor((evs) => responsesWithId(evs, 2).length, 'the error response on SSE');
        assert.deepEqual(responsesWithId(sse.events, 2)[0].json, res.json());

        // Requests of the dead session: the same JSON-RPC error, never a hang.
        const again = await prompt(srv, id, 3, sid, 'hello?');
        assert.equal(rpcError(again, 3, EXITED).data.exitCode, 1);
        const mode = await acpPost(srv, id, { jsonrpc: '2.0', id: 'm', method: 'session/set_mode', params: { sessionId: sid, modeId: 'x' } });
        rpcError(mode, 'm', EXITED);
        // Notifications and responses have no id to answer with: a clear problem.
        const deadNote = await acpPost(srv, id, { jsonrpc: '2.0', method: 'session/cancel', params: { sessionId: sid } });
        const prob = assertProblem(deadNote, 502, 'agent_process_exited');
        assert.equal(prob.title, 'Agent Process Exited');
        assert.match(prob.detail, /^agent process exited \(exit code 1\): mock/);
        assert.equal(prob.details.exitCode, 1);
        assertProblem(await acpPost(srv, id, { jsonrpc: '2.0', id: 77, result: {} }), 502, 'agent_process_exited');

        const list = (await request(srv, 'GET', '/v1/acp')).json().servers;
        assert.deepEqual(list.map((s) => s.serverId), [id], 'the instance outlives its agent');
        assert.equal(sse.endedCleanly, false);
        await waitFor(() => srv.descendants().length === 0, { what: 'the crashed agent to be reaped' });

        // A new session on the same server id restarts the agent; the client's initialize
        // is replayed to it first, and its answer is not ours to show.
        const fresh = await acpPost(srv, id, { jsonrpc: '2.0', id: 4, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
        assert.equal(fresh.status, 200, fresh.text);
        const sid2 = fresh.json().result.sessionId;
        assert.ok(sid2 && sid2 !== sid);
        const ok = await prompt(srv, id, 5, sid2, 'hello again');
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json().result.stopReason, 'end_turn');
        const restarted = sse.events.find((e) => e.json?.method === '_adapter/agent_restarted');
        assert.ok(restarted, '_adapter/agent_restarted on SSE');
        assert.equal(restarted.json.params.restarts, 1);
        assert.equal(srv.descendants().filter((d) => d.state !== 'Z').length, 1, 'exactly one agent runs');
        assert.ok(!sse.events.some((e) => typeof e.json?.id === 'string' && e.json.id.startsWith('sandbox-agent/')), 'the replayed initialize stays internal');
      } finally {
        sse.close();
        await deleteAcp(srv, id);
      }
      await waitFor(() => srv.descendants().length === 0, { what: 'agent gone after DELETE' });
    }));

  test('an agent that crashes again after a restart is restarted again by the next session', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const id = 'twice';
      const sid = await instanceWithSession(srv, id);
      rpcError(await prompt(srv, id, 2, sid, 'crash'), 2, EXITED);
      const fresh = await acpPost(srv, id, { jsonrpc: '2.0', id: 3, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
      assert.equal(fresh.status, 200, fresh.text);
      rpcError(await prompt(srv, id, 4, fresh.json().result.sessionId, 'crash'), 4, EXITED);
      const third = await acpPost(srv, id, { jsonrpc: '2.0', id: 5, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
      assert.equal(third.status, 200, third.text);
      const ok = await prompt(srv, id, 6, third.json().result.sessionId, 'still here');
      assert.equal(ok.json().result.stopReason, 'end_turn', ok.text);
      await deleteAcp(srv, id);
      await waitFor(() => srv.descendants().length === 0, { what: 'agent gone after DELETE' });
    }));

  test('crash with two requests pending on two instances fails only that instance', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const sa = await instanceWithSession(srv, 'a');
      const sb = await instanceWithSession(srv, 'b');
      const slow = prompt(srv, 'b', 7, sb, 'slow survivor');
      const crashed = await prompt(srv, 'a', 7, sa, 'crash');
      rpcError(crashed, 7, EXITED);
      const survived = await slow;
      assert.equal(survived.status, 200, survived.text);
      assert.equal(survived.json().result.stopReason, 'end_turn');
      await deleteAcp(srv, 'a');
      await deleteAcp(srv, 'b');
    }));
});

describe('request timeout with a live agent', () => {
  test('SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS: a slow prompt gets a JSON-RPC timeout error; the instance keeps working', { skip: OURS_ONLY }, () =>
    withServer({ env: { SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS: '1000' } }, async (srv) => {
      const id = 'timeouts';
      const sid = await instanceWithSession(srv, id);
      const sse = await openSse(srv, id);
      try {
        const res = await prompt(srv, id, 2, sid, 'slow');
        const err = rpcError(res, 2, TIMEOUT);
        assert.equal(err.message, 'agent did not answer within 1000 ms: mock');
        assert.deepEqual(err.data, { type: 'urn:sandbox-agent:error:timeout', agent: 'mock', serverId: id, timeoutMs: 1000 });
        // The agent is alive: its late response still reaches SSE, after our error.
        await sse.waitFor((evs) => responsesWithId(evs, 2).length >= 2, 'the late prompt response', 20000);
        const [first, late] = responsesWithId(sse.events, 2);
        assert.equal(first.json.error.code, TIMEOUT);
        assert.equal(late.json.result.stopReason, 'end_turn');
        const next = await acpPost(srv, id, initializeMsg(3));
        assert.equal(next.status, 200);
        assert.equal(next.json().id, 3);
        assert.ok(srv.descendants().length >= 1, 'agent still running');
      } finally {
        sse.close();
        await deleteAcp(srv, id);
      }
      await waitFor(() => srv.descendants().length === 0, { what: 'agent gone after DELETE' });
    }));
});

// The agent's spawn is asynchronous in the server; a spawn that fails is still answered the
// way a failed exec always was: 502 problem, no instance left (or, for a restart, the
// instance stays exited and a later session can restart it).
describe('agent process that cannot start', () => {
  const launcherOf = (srv) => path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes/mock-acp');

  test('first POSTs get 502 "failed to start agent process", the id is free again', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const ok = await acpPost(srv, 'warm', initializeMsg(0), { agent: 'mock' });
      assert.equal(ok.status, 200, ok.text); /* the mock launcher exists now */
      await deleteAcp(srv, 'warm');
      fs.chmodSync(launcherOf(srv), 0o644);
      const [a, b] = await Promise.all([
        acpPost(srv, 'nostart', initializeMsg(1), { agent: 'mock' }),
        acpPost(srv, 'nostart', { jsonrpc: '2.0', method: '_test/hello', params: {} }, { agent: 'mock' }),
      ]);
      for (const res of [a, b])
        assert.equal(assertProblem(res, 502, 'stream_error').details.message, 'failed to start agent process: permission denied');
      const list = await request(srv, 'GET', '/v1/acp');
      assert.deepEqual(list.json().servers, []);
      fs.chmodSync(launcherOf(srv), 0o755);
      const again = await acpPost(srv, 'nostart', initializeMsg(2), { agent: 'mock' });
      assert.equal(again.status, 200, again.text);
      await deleteAcp(srv, 'nostart');
    }));

  test('a restart that cannot start: 502 "failed to restart agent process", the instance stays and restarts later', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const id = 'norestart';
      const sid = await instanceWithSession(srv, id);
      rpcError(await prompt(srv, id, 2, sid, 'crash'), 2, EXITED);
      fs.chmodSync(launcherOf(srv), 0o644);
      const res = await acpPost(srv, id, { jsonrpc: '2.0', id: 3, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
      assert.equal(assertProblem(res, 502, 'stream_error').details.message, 'failed to restart agent process: permission denied');
      const list = await request(srv, 'GET', '/v1/acp');
      assert.deepEqual(list.json().servers.map((s) => s.serverId), [id]);
      fs.chmodSync(launcherOf(srv), 0o755);
      const fresh = await acpPost(srv, id, { jsonrpc: '2.0', id: 4, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
      assert.equal(fresh.status, 200, fresh.text);
      await deleteAcp(srv, id);
      await waitFor(() => srv.descendants().length === 0, { what: 'agent gone after DELETE' });
    }));
});
