// The official SDK across a restart of the server (docs/journal.md, src/acp/revive.c): a
// client that outlives the server keeps its session; resumeSession then prompt works, the
// server brings the ACP server id back (the agent again, the client's initialize replayed,
// session/load before the prompt), and the history the agent replays for that load is not
// delivered twice. Also after a kill -9: the answers to initialize and session/new wait until
// the journal has committed the records such a POST needs (held here with a PostgreSQL row
// lock, to see the answer wait and the loop keep serving).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { startServer, waitFor, OURS_ONLY } from './lib/server.mjs';
import { connect, collect, text } from './lib/sdk.mjs';
import { acpPost, initializeMsg, openSse, request, responsesWithId } from './lib/http.mjs';

const tmpHome = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sa-sdk-restart-'));

for (const how of ['stop', 'kill -9']) {
  test(`the SDK continues its session after a ${how} of the server: resumeSession, then prompt`, { skip: OURS_ONLY }, async () => {
    const home = tmpHome();
    let srv = await startServer({ home });
    const port = srv.port;
    const sdk = await connect(srv);
    try {
      const session = await sdk.createSession({ agent: 'mock', cwd: home });
      const c = collect(session);
      await session.prompt(text('before the restart'));
      await c.until((x) => x.text().includes('Mock response to: before the restart'), 'the first answer');
      if (how === 'stop') await srv.stop();
      else await srv.kill9();

      srv = await startServer({ home, port });
      const resumed = await sdk.resumeSession(session.id);
      assert.equal(resumed.id, session.id);
      const c2 = collect(resumed);
      const res = await resumed.prompt(text('after the restart'));
      assert.equal(res.stopReason, 'end_turn');
      await c2.until((x) => x.text().includes('Mock response to: after the restart'), 'the answer after the restart');
      // The mock replays a loaded session's history as message chunks: the bridge loaded it
      // for the client, and kept that replay to itself.
      assert.equal((c.text() + c2.text()).split('Mock response to: before the restart').length - 1, 1, `history delivered once: ${c.text()} | ${c2.text()}`);
      assert.match(srv.stderr(), /bringing back an ACP server from before the restart/);
      assert.match(srv.stderr(), /loading a session from before the restart/);
      // The same agent session id: it was loaded, not replaced.
      const again = await sdk.getSession(session.id);
      assert.equal(again.agentSessionId, session.agentSessionId);
    } finally {
      await sdk.dispose().catch(() => {});
      await srv.stop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
}

const PG_URL = process.env.SANDBOX_AGENT_TEST_PG_URL;

/** A psql session that keeps a transaction open: run(sql) resolves once psql has run it. */
function psqlSession(url) {
  const child = spawn('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', r));
  let n = 0;
  return {
    async run(sql) {
      const mark = `done-${++n}`;
      child.stdin.write(`${sql}\n\\echo ${mark}\n`);
      await waitFor(() => {
        if (child.exitCode !== null) throw new Error(`psql exited: ${err}`);
        return out.includes(mark);
      }, { what: `psql to run ${sql}: ${err}` });
    },
    async end() {
      child.stdin.end();
      return exited;
    },
  };
}

/** A POST the test can abandon (the client leaves): { done (Promise), settled(), abort() }. */
function abandonablePost(srv, id, msg, agent) {
  const body = JSON.stringify(msg);
  let settled = false;
  const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: `/v1/acp/${id}?agent=${agent}`, agent: false, headers: { 'content-type': 'application/json', accept: 'application/json' } });
  const done = new Promise((resolve) => {
    req.on('response', (res) => res.resume().on('end', () => resolve(res.statusCode)));
    req.on('error', (e) => resolve(e.code || 'error'));
  }).finally(() => (settled = true));
  req.end(body);
  return { done, settled: () => settled, abort: () => req.destroy() };
}

test('the answer to initialize waits for the journal: a client that got it keeps its server through a kill -9', { skip: OURS_ONLY || (!PG_URL && 'needs PostgreSQL (SANDBOX_AGENT_TEST_PG_URL; tests/run.sh starts one)') }, async () => {
  const home = tmpHome();
  const instance = `held-${process.pid}-${Date.now()}`;
  const opts = { home, args: ['--journal', PG_URL], env: { SANDBOX_AGENT_JOURNAL_INSTANCE: instance, SANDBOX_AGENT_LOG: 'debug' } };
  let srv = await startServer(opts);
  const id = 'held-srv';
  // The writer's next insert of this server's record waits for our uncommitted row.
  const pg = psqlSession(PG_URL);
  let sse;
  try {
    await pg.run(`BEGIN; INSERT INTO sandbox_agent.sessions(instance, id, json, updated_ms) VALUES ('${instance}', 'acp-server/${id}', '{}', 0);`);
    const holds = () => srv.stderr().split('holding the agent\'s answer until the journal commits').length - 1;
    const first = abandonablePost(srv, id, initializeMsg(1), 'mock');
    await waitFor(() => holds() >= 1, { what: () => `the bridge to hold the answer: ${srv.stderr()}`, timeoutMs: 15000 });
    // The loop serves meanwhile; the answer is neither replied nor streamed.
    assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
    sse = await openSse(srv, id);
    assert.equal(sse.status, 200);
    assert.equal((await request(srv, 'GET', '/v1/health')).status, 200);
    assert.equal(first.settled(), false, 'the answer waits for the commit');
    assert.equal(responsesWithId(sse.events, 1).length, 0, 'not streamed before the commit either');
    // The client leaves while its answer is held; another initialize queues behind it.
    first.abort();
    assert.equal(await first.done, 'ECONNRESET');
    const second = acpPost(srv, id, initializeMsg(2), { agent: 'mock' });
    await request(srv, 'GET', '/v1/health');
    await pg.run('ROLLBACK;');
    const res = await second;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().result.protocolVersion, 1);
    // Streamed in the agent's order, the abandoned answer too.
    await sse.waitFor((ev) => responsesWithId(ev, 2).length === 1, 'the second answer on SSE');
    const order = sse.events.filter((e) => e.json && 'result' in e.json).map((e) => e.json.id);
    assert.deepEqual(order, [1, 2]);
    sse.close();
    sse = null;

    // Answered means committed: after a kill -9 the server id comes back without ?agent=.
    await srv.kill9();
    srv = await startServer(opts);
    const again = await acpPost(srv, id, { jsonrpc: '2.0', id: 3, method: 'session/new', params: { cwd: home, mcpServers: [] } });
    assert.equal(again.status, 200, again.text);
    assert.ok(again.json().result.sessionId);
    assert.match(srv.stderr(), /bringing back an ACP server from before the restart/);
  } finally {
    sse?.close();
    await pg.end();
    await srv.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
