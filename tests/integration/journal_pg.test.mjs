// The PostgreSQL journal while its database restarts (docs/journal.md, "PostgreSQL"): the
// server keeps serving, /v1/health says the journal is degraded, and once the database is
// back nothing of what crossed the bridge meanwhile is lost. A private PostgreSQL
// (tests/pg/start.sh), since this test stops it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

import { startServer, waitFor, OURS_ONLY, REPO } from './lib/server.mjs';
import { request, acpPost, initializeMsg, openSse } from './lib/http.mjs';

const HAVE_PG = fs.existsSync('/usr/lib/postgresql') && fs.readdirSync('/usr/lib/postgresql').length > 0;
const pgctl = (script, ...args) => execFileSync('bash', [path.join(REPO, 'tests/pg', script), ...args], { encoding: 'utf8', timeout: 120000 }).trim();

test('PostgreSQL restarts under a running server: health says degraded meanwhile, and no event is lost', { skip: OURS_ONLY || (!HAVE_PG && 'PostgreSQL is not installed (make deps)') }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-pg-own-'));
  fs.chmodSync(dir, 0o755);
  let srv;
  try {
    const url = pgctl('start.sh', dir);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-pg-home-'));
    srv = await startServer({ home, args: ['--journal', url] });
    const id = `pg-restart-${process.pid}`;
    assert.equal((await acpPost(srv, id, initializeMsg(0), { agent: 'mock' })).status, 200);
    const sid = (await acpPost(srv, id, { jsonrpc: '2.0', id: 1, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } })).json().result.sessionId;
    const prompt = async (n) => {
      const r = await acpPost(srv, id, { jsonrpc: '2.0', id: 100 + n, method: 'session/prompt', params: { sessionId: sid, prompt: [{ type: 'text', text: `turn ${n}` }] } });
      assert.equal(r.status, 200, r.text);
    };
    await prompt(1);

    pgctl('stop.sh', dir, '--keep');
    // The bridge goes on; the commits wait and retry.
    await prompt(2);
    await prompt(3);
    const degraded = await waitFor(async () => {
      const h = (await request(srv, 'GET', '/v1/health')).json();
      return h.journal?.state === 'degraded' && h;
    }, { what: 'health to say degraded', timeoutMs: 30000 });
    assert.equal(degraded.status, 'ok', 'the server still serves');
    assert.equal(degraded.journal.backend, 'postgres');
    assert.ok(degraded.journal.error.length > 0);
    assert.match(srv.stderr(), /journal/i);

    pgctl('start.sh', dir);
    await waitFor(async () => (await request(srv, 'GET', '/v1/health')).json().journal === undefined, { what: 'health to recover', timeoutMs: 60000 });
    await prompt(4);
    const live = await openSse(srv, id);
    const seen = await live.waitFor((evs) => evs.some((e) => e.json?.id === 104) && evs, 'every event live');
    live.close();
    // Everything, from the database: a new server on the same data dir and journal.
    await srv.stop();
    srv = await startServer({ home, args: ['--journal', url] });
    const events = await request(srv, 'GET', `/v1/sessions/${encodeURIComponent(sid)}/events?limit=1000`);
    assert.equal(events.status, 200, events.text);
    const prompts = events.json().items.filter((e) => e.payload?.method === 'session/prompt').map((e) => e.payload.params.prompt[0].text);
    assert.deepEqual(prompts, ['turn 1', 'turn 2', 'turn 3', 'turn 4'], 'the client messages of the outage are kept');
    const idx = events.json().items.map((e) => e.eventIndex);
    assert.deepEqual(idx, Array.from({ length: idx.length }, (_, i) => i + 1));
    const again = await openSse(srv, id, { headers: { 'last-event-id': '0' } });
    await again.waitFor((evs) => evs.some((e) => e.json?.method === '_adapter/agent_exited'), 'the replay');
    again.close();
    assert.deepEqual(again.events.slice(0, seen.length).map((e) => e.data), seen.map((e) => e.data), 'the agent events of the outage are kept');
    fs.rmSync(home, { recursive: true, force: true });
  } finally {
    if (srv) await srv.stop();
    try {
      pgctl('stop.sh', dir);
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});
