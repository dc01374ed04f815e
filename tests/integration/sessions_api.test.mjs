// The REST session API (docs/sessions.md) against the mock agent: create, list, show, events
// (paged and followed over SSE, with Last-Event-ID), prompt turns (JSON and SSE), permissions,
// cancel, delete, the SDK record, continuing a session whose agent is gone, and bad input.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { sharedServer, withServer, waitFor, OURS_ONLY } from './lib/server.mjs';
import { request, acpPost, initializeMsg, assertProblem, openSse } from './lib/http.mjs';

const { describe, test } = nodeTest;
const S = sharedServer(nodeTest);

const enc = encodeURIComponent;
const api = (srv, method, p, body, headers) => request(srv, method, p, { body, headers });

/** POST /v1/sessions for the mock; returns the session. */
async function create(srv, extra = {}) {
  const res = await api(srv, 'POST', '/v1/sessions', { agent: 'mock', cwd: srv.home, ...extra });
  assert.equal(res.status, 201, res.text);
  return res.json();
}

/** One turn, JSON variant: the 200 body. */
async function send(srv, id, text) {
  const res = await api(srv, 'POST', `/v1/sessions/${enc(id)}/messages`, { text });
  assert.equal(res.status, 200, res.text);
  return res.json();
}

/** Every event of a session, through the paged route. */
async function allEvents(srv, id, limit = 1000) {
  const out = [];
  let offset = 0;
  for (;;) {
    const res = await api(srv, 'GET', `/v1/sessions/${enc(id)}/events?offset=${offset}&limit=${limit}`);
    assert.equal(res.status, 200, res.text);
    const page = res.json();
    out.push(...page.items);
    if (page.nextOffset === undefined) return out;
    assert.ok(page.nextOffset > offset);
    offset = page.nextOffset;
  }
}

const payloads = (events) => events.map((e) => e.payload);
const chunkText = (events) =>
  events
    .filter((e) => e.payload.method === 'session/update' && e.payload.params.update.sessionUpdate === 'agent_message_chunk')
    .map((e) => e.payload.params.update.content.text)
    .join('');
const isPermissionRequest = (p) => p.method === 'session/request_permission' && 'id' in p;

/** Indexes strictly increase by one, and every event has the SessionEvent shape. */
function assertSessionEvents(events, sessionId) {
  for (const [i, e] of events.entries()) {
    assert.equal(e.sessionId, sessionId);
    assert.equal(typeof e.createdAt, 'number');
    assert.ok(e.sender === 'client' || e.sender === 'agent', e.sender);
    assert.equal(e.id, `${sessionId}:${e.eventIndex}`);
    assert.equal(e.payload.jsonrpc, '2.0');
    if (i) assert.equal(e.eventIndex, events[i - 1].eventIndex + 1, 'contiguous eventIndex');
  }
}

describe('creating and reading sessions', () => {
  S.test('POST /v1/sessions starts a rest- instance; the session is listed and shown', async (srv) => {
    const s = await create(srv);
    assert.match(s.id, /^mock-/);
    assert.equal(s.agent, 'mock');
    assert.equal(s.status, 'active');
    assert.equal(s.origin, 'rest');
    assert.equal(s.cwd, srv.home);
    assert.match(s.serverId, /^rest-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(s.title, null);
    assert.equal(s.modes.currentModeId, 'normal');
    const shown = await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.json().id, s.id);
    const list = (await api(srv, 'GET', '/v1/sessions?agent=mock&status=active')).json();
    assert.ok(list.items.some((x) => x.id === s.id));
    assert.ok((await api(srv, 'GET', '/v1/acp')).json().servers.some((x) => x.serverId === s.serverId));
    assert.equal((await api(srv, 'GET', '/v1/sessions?agent=claude')).json().items.some((x) => x.id === s.id), false);
    assert.equal((await api(srv, 'GET', '/v1/sessions?status=ended')).json().items.some((x) => x.id === s.id), false);
  });

  S.test('mode and model are applied at creation; a mode the agent refuses is a 502', async (srv) => {
    const s = await create(srv, { mode: 'plan', model: 'mock-fast' });
    assert.equal(s.modes.currentModeId, 'plan');
    const bad = await api(srv, 'POST', '/v1/sessions', { agent: 'mock', cwd: srv.home, mode: 'nonsense' });
    const body = assertProblem(bad, 502, 'agent_error');
    assert.equal(body.method, 'session/set_mode');
    assert.equal(typeof body.error.code, 'number');
  });

  S.test('the list is oldest first and pages with an opaque cursor', async (srv) => {
    for (let i = 0; i < 3; i++) await create(srv);
    const all = (await api(srv, 'GET', '/v1/sessions?limit=1000')).json().items;
    assert.ok(all.length >= 3);
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1];
      const b = all[i];
      assert.ok(a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id), 'ordered');
    }
    const seen = [];
    let cursor;
    for (;;) {
      const q = cursor === undefined ? '?limit=2' : `?limit=2&cursor=${enc(cursor)}`;
      const page = (await api(srv, 'GET', `/v1/sessions${q}`)).json();
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((x) => x.id));
      if (page.nextCursor === undefined) break;
      assert.equal(typeof page.nextCursor, 'string');
      cursor = page.nextCursor;
    }
    assert.deepEqual(seen, all.map((x) => x.id));
  });

  S.test('bad input gets clear problems', async (srv) => {
    assertProblem(await api(srv, 'POST', '/v1/sessions', {}), 400, 'invalid_request');
    assertProblem(await api(srv, 'POST', '/v1/sessions', { agent: 7 }), 400, 'invalid_request');
    assertProblem(await api(srv, 'POST', '/v1/sessions', { agent: 'mock', cwd: 'relative/dir' }), 400, 'invalid_request');
    assertProblem(await api(srv, 'POST', '/v1/sessions', { agent: 'no-such-agent' }), 404, 'agent_not_found');
    assertProblem(await api(srv, 'POST', '/v1/sessions', '{"agent":', { 'content-type': 'application/json' }), 400);
    assertProblem(await api(srv, 'POST', '/v1/sessions', 'agent=mock', { 'content-type': 'text/plain' }), 415);
    assertProblem(await api(srv, 'GET', '/v1/sessions?limit=0'), 400, 'invalid_request');
    assertProblem(await api(srv, 'GET', '/v1/sessions?limit=1001'), 400, 'invalid_request');
    assertProblem(await api(srv, 'GET', '/v1/sessions?cursor=abc'), 400, 'invalid_request');
    assertProblem(await api(srv, 'GET', '/v1/sessions?status=sleeping'), 400, 'invalid_request');
    const nf = assertProblem(await api(srv, 'GET', '/v1/sessions/nope'), 404, 'session_not_found');
    assert.equal(nf.sessionId, 'nope');
    assertProblem(await api(srv, 'GET', '/v1/sessions/nope/events'), 404, 'session_not_found');
    assertProblem(await api(srv, 'DELETE', '/v1/sessions/nope'), 404, 'session_not_found');
    assertProblem(await api(srv, 'POST', '/v1/sessions/nope/messages', { text: 'hi' }), 404, 'session_not_found');
    assertProblem(await api(srv, 'POST', '/v1/sessions/nope/cancel'), 404, 'session_not_found');
    const s = await create(srv);
    const base = `/v1/sessions/${enc(s.id)}`;
    assertProblem(await api(srv, 'POST', `${base}/messages`, {}), 400, 'invalid_request');
    assertProblem(await api(srv, 'POST', `${base}/messages`, { text: '' }), 400, 'invalid_request');
    assertProblem(await api(srv, 'POST', `${base}/messages`, [1]), 422);
    assertProblem(await api(srv, 'POST', `${base}/permissions/1`, { reply: 'sometimes' }), 400, 'invalid_request');
    assertProblem(await api(srv, 'POST', `${base}/permissions/1`, { reply: 'once' }), 404, 'permission_not_found');
    assertProblem(await api(srv, 'GET', `${base}/events?offset=-1`), 400, 'invalid_request');
    assertProblem(await api(srv, 'GET', `${base}/events?limit=5000`), 400, 'invalid_request');
    assertProblem(await api(srv, 'DELETE', `${base}?force=yes`), 400, 'invalid_request');
    const badId = await openSse(srv, null, { path: `${base}/events`, headers: { 'last-event-id': 'x1' } });
    assert.equal(badId.status, 400);
    assertProblem(await api(srv, 'PUT', `${base}/record`, { id: 'l' }), 400, 'invalid_request');
    assertProblem(await api(srv, 'PUT', `${base}/record`, { id: 'l', agentSessionId: 'other' }), 400, 'invalid_request');
    assertProblem(await api(srv, 'PUT', '/v1/sessions/nope/record', { id: 'l', agentSessionId: 'nope' }), 404, 'session_not_found');
    assert.equal((await api(srv, 'PATCH', base, {})).status, 405);
  });
});

describe('prompt turns', () => {
  S.test('a JSON turn answers with its stop reason and its events; the events route has them all', async (srv) => {
    const s = await create(srv);
    const turn = await send(srv, s.id, 'hello tool');
    assert.equal(turn.stopReason, 'end_turn');
    assertSessionEvents(turn.events, s.id);
    const first = turn.events[0];
    assert.equal(first.sender, 'client');
    assert.equal(first.payload.method, 'session/prompt');
    assert.deepEqual(first.payload.params.prompt, [{ type: 'text', text: 'hello tool' }]);
    const last = turn.events.at(-1);
    assert.equal(last.sender, 'agent');
    assert.equal(last.payload.result.stopReason, 'end_turn');
    assert.equal(last.payload.id, first.payload.id);
    assert.match(chunkText(turn.events), /Mock response to: hello tool/);
    assert.ok(payloads(turn.events).some((p) => p.params?.update?.sessionUpdate === 'tool_call'));

    const all = await allEvents(srv, s.id);
    assertSessionEvents(all, s.id);
    assert.equal(all[0].eventIndex, 1);
    assert.deepEqual(all.slice(-turn.events.length), turn.events, 'the turn is the tail of the journal');
    const paged = await allEvents(srv, s.id, 2);
    assert.deepEqual(paged, all);
    const shown = (await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json();
    assert.equal(shown.title, 'hello tool');
    assert.equal(shown.eventCount, all.at(-1).eventIndex);
    const after = (await api(srv, 'GET', `/v1/sessions/${enc(s.id)}/events?offset=${all.length - 1}`)).json();
    assert.deepEqual(after.items, all.slice(-1));
    assert.equal(after.nextOffset, undefined);
  });

  S.test('the SSE turn streams session_event frames, then turn_end', async (srv) => {
    const s = await create(srv);
    const st = await openSse(srv, null, { path: `/v1/sessions/${enc(s.id)}/messages`, body: { text: 'think plan' } });
    assert.equal(st.status, 200, st.text);
    assert.match(st.headers['content-type'], /^text\/event-stream/);
    assert.equal(await st.ended, true);
    const evs = st.events.filter((e) => e.event === 'session_event');
    const end = st.events.at(-1);
    assert.equal(end.event, 'turn_end');
    assert.deepEqual(end.json, { stopReason: 'end_turn' });
    assert.equal(evs.length, st.events.length - 1);
    for (const e of evs) assert.equal(e.id, String(e.json.eventIndex));
    assertSessionEvents(evs.map((e) => e.json), s.id);
    assert.match(chunkText(evs.map((e) => e.json)), /Mock response to: think plan/);
  });

  S.test('an agent error ends the turn with 502 prompt_failed (JSON) or turn_end {error} (SSE)', async (srv) => {
    const s = await create(srv);
    const res = await api(srv, 'POST', `/v1/sessions/${enc(s.id)}/messages`, { text: 'error' });
    const body = assertProblem(res, 502, 'prompt_failed');
    assert.equal(body.error.code, -32603);
    assert.ok(body.events.length >= 2);
    const st = await openSse(srv, null, { path: `/v1/sessions/${enc(s.id)}/messages`, body: { text: 'error again' } });
    await st.ended;
    assert.equal(st.events.at(-1).event, 'turn_end');
    assert.equal(st.events.at(-1).json.error.code, -32603);
  });

  S.test('permission requests wait for POST .../permissions/{requestId}', async (srv) => {
    const s = await create(srv);
    const base = `/v1/sessions/${enc(s.id)}`;
    // SSE variant, allowed once.
    const st = await openSse(srv, null, { path: `${base}/messages`, body: { text: 'permission please' } });
    const ask = await st.waitFor((evs) => evs.map((e) => e.json?.payload).find((p) => p && isPermissionRequest(p)), 'the permission request');
    const rid = typeof ask.id === 'string' ? ask.id : JSON.stringify(ask.id);
    assertProblem(await api(srv, 'POST', `${base}/permissions/${enc(rid)}x`, { reply: 'once' }), 404, 'permission_not_found');
    const ok = await api(srv, 'POST', `${base}/permissions/${enc(rid)}`, { reply: 'once' });
    assert.equal(ok.status, 204, ok.text);
    assert.equal(ok.buf.length, 0);
    await st.ended;
    assert.deepEqual(st.events.at(-1).json, { stopReason: 'end_turn' });
    const evs = st.events.filter((e) => e.event === 'session_event').map((e) => e.json);
    const answer = evs.find((e) => e.sender === 'client' && e.payload.id === ask.id && !e.payload.method);
    const allowOnce = ask.params.options.find((o) => o.kind === 'allow_once').optionId;
    assert.deepEqual(answer.payload.result, { outcome: { outcome: 'selected', optionId: allowOnce } });
    assert.ok(evs.some((e) => e.payload.params?.update?.status === 'completed'), 'the tool completed');
    // Answered once: a second answer finds nothing waiting.
    assertProblem(await api(srv, 'POST', `${base}/permissions/${enc(rid)}`, { reply: 'once' }), 404, 'permission_not_found');

    // JSON variant, rejected: the request is found in the journal while the turn waits.
    const before = (await allEvents(srv, s.id)).length;
    const turn = api(srv, 'POST', `${base}/messages`, { text: 'permission again' });
    const ask2 = await waitFor(async () => (await allEvents(srv, s.id)).slice(before).map((e) => e.payload).find(isPermissionRequest), { what: 'the second permission request' });
    const rid2 = typeof ask2.id === 'string' ? ask2.id : JSON.stringify(ask2.id);
    assert.equal((await api(srv, 'POST', `${base}/permissions/${enc(rid2)}`, { reply: 'reject' })).status, 204);
    const res = await turn;
    assert.equal(res.status, 200, res.text);
    const body = res.json();
    assert.equal(body.stopReason, 'end_turn');
    assert.ok(body.events.some((e) => e.payload.params?.update?.status === 'failed'), 'the tool failed');
    assert.match(chunkText(body.events), /denied/i);
  });

  S.test('one turn at a time; cancel ends the running turn with stopReason cancelled', async (srv) => {
    const s = await create(srv);
    const base = `/v1/sessions/${enc(s.id)}`;
    const st = await openSse(srv, null, { path: `${base}/messages`, body: { text: 'slow' } });
    await st.waitFor((evs) => evs.some((e) => e.json?.payload?.method === 'session/update'), 'the turn to start');
    const busy = assertProblem(await api(srv, 'POST', `${base}/messages`, { text: 'again' }), 409, 'turn_in_progress');
    assert.equal(busy.sessionId, s.id);
    const c = await api(srv, 'POST', `${base}/cancel`);
    assert.equal(c.status, 204, c.text);
    await st.ended;
    assert.deepEqual(st.events.at(-1).json, { stopReason: 'cancelled' });
    const cancelNote = payloads(st.events.filter((e) => e.event === 'session_event').map((e) => e.json)).find((p) => p.method === 'session/cancel');
    assert.deepEqual(cancelNote.params, { sessionId: s.id });
    // The session takes turns again.
    assert.equal((await send(srv, s.id, 'after cancel')).stopReason, 'end_turn');
  });

  S.test('a turn goes on when its HTTP client leaves', async (srv) => {
    const s = await create(srv);
    const base = `/v1/sessions/${enc(s.id)}`;
    const st = await openSse(srv, null, { path: `${base}/messages`, body: { text: 'slow leaving' } });
    await st.waitFor((evs) => evs.some((e) => e.json?.payload?.method === 'session/update'), 'the turn to start');
    st.close();
    const done = await waitFor(async () => (await allEvents(srv, s.id)).find((e) => e.payload.result?.stopReason), { what: 'the turn to end in the journal', timeoutMs: 20000 });
    assert.equal(done.payload.result.stopReason, 'end_turn');
    assert.match(chunkText(await allEvents(srv, s.id)), /Mock response to: slow leaving/);
    assert.equal((await send(srv, s.id, 'next')).stopReason, 'end_turn');
  });
});

describe('following events (SSE)', () => {
  S.test('replay from an offset or Last-Event-ID, then live, each event exactly once', async (srv) => {
    const s = await create(srv);
    await send(srv, s.id, 'one tool');
    const past = await allEvents(srv, s.id);
    const path = `/v1/sessions/${enc(s.id)}/events`;
    const f = await openSse(srv, null, { path });
    assert.equal(f.status, 200);
    await f.waitFor((evs) => evs.length >= past.length, 'the replay');
    assert.deepEqual(f.events.map((e) => e.json), past);
    assert.ok(f.events.every((e) => e.event === 'session_event' && e.id === String(e.json.eventIndex)));
    // Live: the next turn's events arrive after the replayed ones, without a gap.
    const turn = await send(srv, s.id, 'two');
    await f.waitFor((evs) => evs.length >= past.length + turn.events.length, 'the live turn');
    assert.deepEqual(f.events.slice(past.length).map((e) => e.json), turn.events);
    const all = await allEvents(srv, s.id);
    assert.deepEqual(f.events.map((e) => e.json), all);
    f.close();

    // Reconnect where a client stopped: Last-Event-ID wins over offset.
    const mid = all[Math.floor(all.length / 2)].eventIndex;
    const g = await openSse(srv, null, { path: `${path}?offset=1`, headers: { 'last-event-id': String(mid) } });
    await g.waitFor((evs) => evs.length >= all.length - mid, 'the replay after Last-Event-ID');
    assert.deepEqual(g.events.map((e) => e.json), all.filter((e) => e.eventIndex > mid));
    const h = await openSse(srv, null, { path: `${path}?offset=${all.length - 2}` });
    await h.waitFor((evs) => evs.length >= 2, 'the replay after offset');
    assert.deepEqual(h.events.map((e) => e.json), all.slice(-2));
    const turn3 = await send(srv, s.id, 'three');
    await g.waitFor((evs) => evs.length >= all.length - mid + turn3.events.length, 'live after reconnect');
    assert.deepEqual(g.events.slice(all.length - mid).map((e) => e.json), turn3.events);
    g.close();
    h.close();
  });

  S.test('a follow started during a turn misses nothing and repeats nothing', async (srv) => {
    const s = await create(srv);
    const path = `/v1/sessions/${enc(s.id)}/events`;
    const st = await openSse(srv, null, { path: `/v1/sessions/${enc(s.id)}/messages`, body: { text: 'slow racing' } });
    await st.waitFor((evs) => evs.filter((e) => e.json?.payload?.method === 'session/update').length >= 3, 'the turn under way');
    const f = await openSse(srv, null, { path });
    await st.ended;
    const all = await allEvents(srv, s.id);
    await f.waitFor((evs) => evs.length >= all.length, 'every event');
    assert.deepEqual(f.events.map((e) => e.json), all);
    f.close();
  });

  S.test('the SDK record: stored with PUT, its id is an alias that events carry as sessionId', async (srv) => {
    const s = await create(srv);
    await send(srv, s.id, 'aliased');
    const record = { id: `local-${process.pid}`, agent: 'mock', agentSessionId: s.id, lastConnectionId: 'x', createdAt: 1 };
    const put = await api(srv, 'PUT', `/v1/sessions/${enc(s.id)}/record`, record);
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.json().record, record);
    const byAlias = (await api(srv, 'GET', `/v1/sessions/${enc(record.id)}`)).json();
    assert.equal(byAlias.id, s.id);
    const evs = (await api(srv, 'GET', `/v1/sessions/${enc(record.id)}/events`)).json().items;
    assert.ok(evs.length > 0);
    assert.ok(evs.every((e) => e.sessionId === record.id));
  });
});

describe('sessions of ACP clients, deleting', () => {
  /** A session created over /v1/acp; returns {serverId, sessionId}. */
  async function acpSession(srv) {
    const serverId = `acp-${process.pid}-${Math.random().toString(16).slice(2)}`;
    assert.equal((await acpPost(srv, serverId, initializeMsg(0), { agent: 'mock' })).status, 200);
    const res = await acpPost(srv, serverId, { jsonrpc: '2.0', id: 1, method: 'session/new', params: { cwd: srv.home, mcpServers: [] } });
    assert.equal(res.status, 200, res.text);
    return { serverId, sessionId: res.json().result.sessionId };
  }

  S.test('a session an ACP client created is listed and can be driven over REST on its instance', async (srv) => {
    const { serverId, sessionId } = await acpSession(srv);
    const s = (await api(srv, 'GET', `/v1/sessions/${enc(sessionId)}`)).json();
    assert.equal(s.origin, 'acp');
    assert.equal(s.serverId, serverId);
    const turn = await send(srv, sessionId, 'from rest');
    assert.equal(turn.stopReason, 'end_turn');
    assert.ok(turn.events.every((e) => e.connectionId === serverId));
    assert.equal((await api(srv, 'GET', `/v1/sessions/${enc(sessionId)}`)).json().serverId, serverId);
  });

  S.test('DELETE: an ACP-driven active session is 409 unless force, which closes its server', async (srv) => {
    const { serverId, sessionId } = await acpSession(srv);
    const base = `/v1/sessions/${enc(sessionId)}`;
    const busy = assertProblem(await api(srv, 'DELETE', base), 409, 'session_active');
    assert.equal(busy.serverId, serverId);
    const del = await api(srv, 'DELETE', `${base}?force=true`);
    assert.equal(del.status, 204, del.text);
    assertProblem(await api(srv, 'GET', base), 404, 'session_not_found');
    await waitFor(async () => !(await api(srv, 'GET', '/v1/acp')).json().servers.some((x) => x.serverId === serverId), { what: 'the ACP server closed' });
  });

  S.test('DELETE: a REST session is ended, its instance closed, its events and follows gone', async (srv) => {
    const s = await create(srv);
    await send(srv, s.id, 'to be deleted');
    const base = `/v1/sessions/${enc(s.id)}`;
    const f = await openSse(srv, null, { path: `${base}/events` });
    await f.waitFor((evs) => evs.length > 0, 'the replay');
    const del = await api(srv, 'DELETE', base);
    assert.equal(del.status, 204, del.text);
    assert.equal(await f.ended, true, 'the follow ends cleanly');
    assertProblem(await api(srv, 'GET', base), 404, 'session_not_found');
    assertProblem(await api(srv, 'GET', `${base}/events`), 404, 'session_not_found');
    assert.equal((await api(srv, 'GET', '/v1/sessions?limit=1000')).json().items.some((x) => x.id === s.id), false);
    await waitFor(async () => !(await api(srv, 'GET', '/v1/acp')).json().servers.some((x) => x.serverId === s.serverId), { what: 'the rest instance closed' });
  });

  S.test('a session whose agent exited continues on a fresh instance with session/load', async (srv) => {
    const s = await create(srv);
    const crash = await api(srv, 'POST', `/v1/sessions/${enc(s.id)}/messages`, { text: 'crash' });
    assertProblem(crash, 502, 'prompt_failed');
    await waitFor(async () => (await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json().status === 'agent_exited', { what: 'agent_exited' });
    const turn = await send(srv, s.id, 'still there?');
    assert.equal(turn.stopReason, 'end_turn');
    const now = (await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json();
    assert.equal(now.status, 'active');
    assert.notEqual(now.serverId, s.serverId);
    assert.match(now.serverId, /^rest-/);
    const all = await allEvents(srv, s.id);
    const load = all.find((e) => e.payload.method === 'session/load');
    assert.ok(load, 'session/load was sent');
    assert.deepEqual(load.payload.params, { sessionId: s.id, cwd: srv.home, mcpServers: [] });
    assertSessionEvents(all, s.id);
  });
});

// An agent that cannot load sessions (no agentCapabilities.loadSession), placed at the mock's
// launcher path as a user's own agent would be.
const NO_LOAD_AGENT = String.raw`#!/usr/bin/env node
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const m = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (m.method === 'initialize') send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: 1, agentCapabilities: {}, authMethods: [] } });
    else if (m.method === 'session/new') send({ jsonrpc: '2.0', id: m.id, result: { sessionId: 'noload-1' } });
    else if (m.method === 'session/prompt') send({ jsonrpc: '2.0', id: m.id, result: { stopReason: 'end_turn' } });
    else if (m.id !== undefined && m.method) send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no ' + m.method } });
  }
});
process.stdin.on('end', () => process.exit(0));
`;

describe('an agent that cannot load sessions', () => {
  test('its session, once its server is closed, answers 409 session_not_loadable', { skip: OURS_ONLY }, () =>
    withServer({}, async (srv) => {
      const ap = path.join(srv.home, '.local/share/sandbox-agent/bin/agent_processes');
      fs.mkdirSync(ap, { recursive: true });
      fs.writeFileSync(path.join(ap, 'mock-acp'), NO_LOAD_AGENT, { mode: 0o755 });
      const s = await create(srv);
      assert.equal(s.id, 'noload-1');
      assert.equal((await send(srv, s.id, 'works while live')).stopReason, 'end_turn');
      assert.equal((await api(srv, 'DELETE', `/v1/acp/${enc(s.serverId)}`)).status, 204);
      await waitFor(async () => (await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json().status === 'ended', { what: 'the session ended' });
      const res = await api(srv, 'POST', `/v1/sessions/${enc(s.id)}/messages`, { text: 'again' });
      const body = assertProblem(res, 409, 'session_not_loadable');
      assert.equal(body.sessionId, s.id);
      // The instance started to try is closed again; the session is still listed.
      await waitFor(async () => (await api(srv, 'GET', '/v1/acp')).json().servers.length === 0, { what: 'no instance left' });
      assert.equal((await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json().status, 'ended');
    }));
});

describe('across a restart, and without a journal', () => {
  test('after a restart the session is listed as ended, readable, and continues', { skip: OURS_ONLY }, async () => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-sessions-'));
    try {
      let s;
      let before;
      await withServer({ env: { XDG_DATA_HOME: data } }, async (srv) => {
        s = await create(srv);
        await send(srv, s.id, 'before restart');
        before = await allEvents(srv, s.id);
      });
      await withServer({ env: { XDG_DATA_HOME: data } }, async (srv) => {
        const listed = (await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json();
        assert.equal(listed.status, 'ended');
        assert.equal(listed.origin, 'rest');
        assert.deepEqual(await allEvents(srv, s.id), before);
        const turn = await send(srv, s.id, 'after restart');
        assert.equal(turn.stopReason, 'end_turn');
        assert.ok(turn.events[0].eventIndex > before.at(-1).eventIndex, 'indexes continue');
        assert.equal((await api(srv, 'GET', `/v1/sessions/${enc(s.id)}`)).json().status, 'active');
      });
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });

  test('--journal memory: listing events is 409 journal_disabled; a follow sees live events', { skip: OURS_ONLY }, async () => {
    await withServer({ args: ['--journal', 'memory'] }, async (srv) => {
      const s = await create(srv);
      await send(srv, s.id, 'unseen');
      assertProblem(await api(srv, 'GET', `/v1/sessions/${enc(s.id)}/events`), 409, 'journal_disabled');
      const f = await openSse(srv, null, { path: `/v1/sessions/${enc(s.id)}/events` });
      assert.equal(f.status, 200);
      const turn = await send(srv, s.id, 'seen');
      await f.waitFor((evs) => evs.length >= turn.events.length, 'the live turn');
      assert.deepEqual(f.events.map((e) => e.json), turn.events);
      f.close();
    });
  });
});
