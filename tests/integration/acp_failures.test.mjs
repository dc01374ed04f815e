// Agent failures while requests are pending (http-api.md §5.3.6; our deliberate fixes of
// reference quirks Q2 and Q3): immediate 500 agent_process_exited on a crash, 504 timeout.
import assert from 'node:assert/strict';
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
const prompt = (srv, id, rpcId, sessionId, text) =>
  acpPost(srv, id, { jsonrpc: '2.0', id: rpcId, method: 'session/prompt', params: { sessionId, prompt: [{ type: 'text', text }] } }, { timeoutMs: 30000 });

describe('agent crash during a request', () => {
  test('the pending POST gets 500 agent_process_exited at once; SSE gets _adapter/agent_exited; later POSTs get 502', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const id = 'crashy';
      const sid = await instanceWithSession(srv, id);
      const sse = await openSse(srv, id);
      try {
        const res = await prompt(srv, id, 2, sid, 'please crash now');
        const body = assertProblem(res, 500, 'agent_process_exited');
        assert.equal(body.title, 'Agent Process Exited');
        assert.equal(body.detail, 'agent process exited: mock');
        assert.equal(body.agent, 'mock');
        assert.equal(body.details.exitCode, 1);
        assert.equal(typeof body.details.stderr, 'string');
        assert.match(body.details.stderr, /crash/i, 'the agent stderr is carried');

        await sse.waitFor((evs) => evs.some((e) => e.json?.method === '_adapter/agent_exited'), '_adapter/agent_exited');
        const exit = sse.events.find((e) => e.json?.method === '_adapter/agent_exited').json;
        assert.deepEqual(exit, { jsonrpc: '2.0', method: '_adapter/agent_exited', params: { code: 1, success: false } });
        // What the agent wrote before dying was streamed.
        assert.ok(
          sse.events.some((e) => e.json?.params?.update?.sessionUpdate === 'agent_message_chunk' && e.json.params.update.content.text.includes('please crash now')),
        );
        assert.equal(responsesWithId(sse.events, 2).length, 0, 'no response to the crashed request');

        const dead = await acpPost(srv, id, initializeMsg(3));
        assertProblem(dead, 502, 'stream_error');
        const deadNote = await acpPost(srv, id, { jsonrpc: '2.0', method: 'session/cancel', params: { sessionId: sid } });
        assertProblem(deadNote, 502, 'stream_error');

        const list = (await request(srv, 'GET', '/v1/acp')).json().servers;
        assert.deepEqual(list.map((s) => s.serverId), [id], 'the instance outlives its agent');
        assert.equal(sse.endedCleanly, false);
        await waitFor(() => srv.descendants().length === 0, { what: 'the crashed agent to be reaped' });

        await deleteAcp(srv, id);
        assert.equal(await sse.ended, true);
        assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
        // A fresh instance under the same id works again.
        const sid2 = await instanceWithSession(srv, id);
        const ok = await prompt(srv, id, 5, sid2, 'hello again');
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json().result.stopReason, 'end_turn');
      } finally {
        sse.close();
        await deleteAcp(srv, id);
      }
    }));

  test('crash with two requests pending on two instances fails only that instance', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const sa = await instanceWithSession(srv, 'a');
      const sb = await instanceWithSession(srv, 'b');
      const slow = prompt(srv, 'b', 7, sb, 'slow survivor');
      const crashed = await prompt(srv, 'a', 7, sa, 'crash');
      assertProblem(crashed, 500, 'agent_process_exited');
      const survived = await slow;
      assert.equal(survived.status, 200, survived.text);
      assert.equal(survived.json().result.stopReason, 'end_turn');
      await deleteAcp(srv, 'a');
      await deleteAcp(srv, 'b');
    }));
});

describe('request timeout with a live agent', () => {
  test('SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS: a slow prompt gets 504 timeout; the instance keeps working', { skip: OURS_ONLY }, () =>
    withServer({ env: { SANDBOX_AGENT_ACP_REQUEST_TIMEOUT_MS: '1000' } }, async (srv) => {
      const id = 'timeouts';
      const sid = await instanceWithSession(srv, id);
      const sse = await openSse(srv, id);
      try {
        const res = await prompt(srv, id, 2, sid, 'slow');
        const body = assertProblem(res, 504, 'timeout');
        assert.equal(body.title, 'Timeout');
        assert.equal(body.detail, 'timeout');
        // The agent is alive: its late response still reaches SSE as an orphan.
        await sse.waitFor((evs) => responsesWithId(evs, 2).length, 'the late prompt response', 20000);
        assert.equal(responsesWithId(sse.events, 2)[0].json.result.stopReason, 'end_turn');
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
