// /opencode with the official @opencode-ai/sdk (v1 and v2 clients) against our binary and
// its ACP mock agent (docs/opencode.md): session lifecycle, prompts and message history,
// the model selection, error shapes, bearer and Basic auth, and sessions that survive a restart of
// the server on the same data dir and can be continued.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { createOpencodeClient } from '@opencode-ai/sdk';
import { createOpencodeClient as createV2 } from '@opencode-ai/sdk/v2';
import { IS_REFERENCE, sharedServer, startServer } from './lib/server.mjs';
import { request } from './lib/http.mjs';

const { describe } = nodeTest;
const skip = IS_REFERENCE ? 'our /opencode runs prompts through our ACP mock' : false;
const S = sharedServer(nodeTest);

const oc = (srv, opts = {}) =>
  createOpencodeClient({
    baseUrl: `${srv.baseUrl}/opencode`,
    ...(srv.token ? { headers: { authorization: `Bearer ${srv.token}` } } : {}),
    ...opts,
  });
const errMsg = (r) => r.error?.errors?.[0]?.message;
const texts = (parts) => parts.filter((p) => p.type === 'text').map((p) => p.text);

async function prompt(c, id, text, extra = {}) {
  const r = await c.session.prompt({ path: { id }, body: { parts: [{ type: 'text', text }], ...extra } });
  assert.equal(r.response.status, 200, JSON.stringify(r.error));
  return r.data;
}

describe('opencode sessions', { skip }, () => {
  S.test('create, get, list, update, fork, children, status and delete', async (srv) => {
    const c = oc(srv);
    const created = (await c.session.create({ body: { title: 'My T' } })).data;
    assert.match(created.id, /^ses_\d+$/);
    assert.equal(created.title, 'My T');
    assert.equal(created.slug, `session-${created.id}`);
    assert.equal(created.version, '0');
    assert.equal(created.directory, srv.home);
    assert.deepEqual([created.agent, created.providerID, created.model], ['mock', 'mock', 'mock']);
    assert.deepEqual((await c.session.get({ path: { id: created.id } })).data, created);

    // No body at all (the TUI) and a lenient bad body: defaults.
    const bare = await request(srv, 'POST', '/opencode/session');
    assert.equal(bare.status, 200);
    assert.equal(bare.json().title, `Session ${bare.json().id}`);
    const bad = await request(srv, 'POST', '/opencode/session', { body: { title: 5 } });
    assert.equal(bad.json().title, `Session ${bad.json().id}`);

    const list = (await c.session.list()).data.map((s) => s.id);
    assert.deepEqual(list, [...list].sort());
    assert.ok(list.includes(created.id) && list.includes(bare.json().id));

    const upd = (await c.session.update({ path: { id: created.id }, body: { title: 'Renamed' } })).data;
    assert.equal(upd.title, 'Renamed');
    assert.ok(upd.time.updated >= created.time.updated);

    const fork = (await c.session.fork({ path: { id: created.id }, body: {} })).data;
    assert.equal(fork.parentID, created.id);
    assert.equal(fork.title, 'Fork of Renamed');
    const children = (await c.session.children({ path: { id: created.id } })).data;
    assert.deepEqual(children.map((s) => s.id), [fork.id]);

    const status = (await c.session.status()).data;
    assert.deepEqual(status[created.id], { type: 'idle' });

    assert.equal((await c.session.delete({ path: { id: fork.id } })).data, true);
    const gone = await c.session.get({ path: { id: fork.id } });
    assert.equal(gone.response.status, 404);
    assert.equal(errMsg(gone), 'Session not found');
    assert.ok(!(await c.session.list()).data.some((s) => s.id === fork.id));
  });

  S.test('a prompt runs the mock over the ACP bridge; history, message lookup and init', async (srv) => {
    const c = oc(srv);
    const s = (await c.session.create({ body: {} })).data;
    const reply = await prompt(c, s.id, 'Hello world', { system: 'be nice', messageID: 'msg_a1' });
    assert.equal(reply.info.role, 'assistant');
    assert.equal(reply.info.id, 'msg_a1_assistant');
    assert.equal(reply.info.parentID, 'msg_a1');
    assert.ok(reply.info.time.completed >= reply.info.time.created);
    assert.deepEqual(texts(reply.parts), ['Mock response to: Hello world']);

    const msgs = (await c.session.messages({ path: { id: s.id } })).data;
    assert.deepEqual(msgs.map((m) => m.info.role), ['user', 'assistant']);
    assert.equal(msgs[0].info.system, 'be nice');
    assert.deepEqual(msgs[0].parts.map((p) => [p.id, p.type, p.text]), [['part_msg_a1_0', 'text', 'Hello world']]);
    const one = (await c.session.message({ path: { id: s.id, messageID: 'msg_a1_assistant' } })).data;
    assert.deepEqual(one.parts, reply.parts);
    const none = await c.session.message({ path: { id: s.id, messageID: 'nope' } });
    assert.equal(none.response.status, 404);
    assert.equal(errMsg(none), 'Message not found');

    // The ACP session behind it is in the session index, on an instance of its own.
    const idx = await request(srv, 'GET', '/v1/sessions?agent=mock');
    assert.ok(idx.json().items.some((e) => e.serverId.startsWith('acp_ses_')));

    // init on an unknown id creates that session (clients use their own ids).
    assert.equal((await c.session.init({ path: { id: 'ses_mine' }, body: { providerID: 'mock', modelID: 'mock-fast', messageID: 'x' } })).data, true);
    const mine = (await c.session.get({ path: { id: 'ses_mine' } })).data;
    assert.deepEqual([mine.agent, mine.providerID, mine.model, mine.title], ['mock', 'mock', 'mock-fast', 'Session ses_mine']);
    const r2 = await prompt(c, 'ses_mine', 'fast one');
    assert.equal(r2.info.modelID, 'mock-fast');
  });

  S.test('the selection: provider, model and agent; locked once the session has messages', async (srv) => {
    const c = oc(srv);
    const s = (await c.session.create({ body: {} })).data;
    // An agent that is none of ours (the TUI sends "Sandbox Agent") selects nothing.
    await prompt(c, s.id, 'hi', { agent: 'Sandbox Agent', model: { providerID: 'mock', modelID: 'mock' } });
    const after = (await c.session.get({ path: { id: s.id } })).data;
    assert.deepEqual([after.agent, after.providerID, after.model], ['mock', 'mock', 'mock']);
    const change = await c.session.prompt({
      path: { id: s.id },
      body: { model: { providerID: 'codex', modelID: 'gpt-5' }, parts: [{ type: 'text', text: 'x' }] },
    });
    assert.equal(change.response.status, 400);
    assert.match(errMsg(change), /does not support changing the model/);
    const half = await request(srv, 'POST', '/opencode/session/ses_half/message', {
      body: { model: { providerID: 'opencode' }, parts: [{ type: 'text', text: 'x' }] },
    });
    assert.equal(half.status, 400);
    assert.deepEqual(half.json(), { errors: [{ message: 'providerID and modelID are required when selecting a model' }] });
    // The session was created anyway (implicit creation comes first).
    assert.equal((await c.session.get({ path: { id: 'ses_half' } })).response.status, 200);
  });

  S.test('error shapes: errors body, 415, 400, 422, 404 problem, model change on PATCH', async (srv) => {
    const c = oc(srv);
    const s = (await c.session.create({ body: {} })).data;
    const noParts = await request(srv, 'POST', `/opencode/session/${s.id}/message`, { body: {} });
    assert.equal(noParts.status, 400);
    assert.equal(noParts.headers['content-type'], 'application/json');
    assert.deepEqual(noParts.json(), { errors: [{ message: 'parts are required' }] });
    const noType = await request(srv, 'POST', `/opencode/session/${s.id}/message`, { body: '{"parts":[]}' });
    assert.equal(noType.status, 415);
    assert.equal(noType.text, 'Expected request with `Content-Type: application/json`');
    const badJson = await request(srv, 'POST', `/opencode/session/${s.id}/message`, {
      body: '{"parts":', headers: { 'content-type': 'application/json' },
    });
    assert.equal(badJson.status, 400);
    assert.match(badJson.text, /^Failed to parse the request body as JSON: /);
    const wrongType = await request(srv, 'POST', `/opencode/session/${s.id}/message`, { body: { parts: 'x' } });
    assert.equal(wrongType.status, 422);
    assert.match(wrongType.text, /^Failed to deserialize the JSON body into the target type: parts/);
    const patch = await c.session.update({ path: { id: 'ses_unknown' }, body: { title: 't', modelID: 'x' } });
    assert.equal(patch.response.status, 400);
    const unknownPatch = await c.session.update({ path: { id: 'ses_unknown' }, body: { title: 't' } });
    assert.equal(unknownPatch.response.status, 404);
    const nowhere = await request(srv, 'GET', '/opencode/nope');
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.headers['content-type'], 'application/problem+json');
    const sum = await request(srv, 'POST', `/opencode/session/${s.id}/summarize`, { body: { providerID: 'mock' } });
    assert.deepEqual([sum.status, sum.json()], [400, { errors: [{ message: 'providerID and modelID are required' }] }]);
    // JSON with keys sorted at every depth.
    const raw = await request(srv, 'GET', `/opencode/session/${s.id}`);
    assert.ok(raw.text.indexOf('"agent"') < raw.text.indexOf('"directory"'));
    assert.ok(raw.text.indexOf('"created"') < raw.text.indexOf('"updated"'));
  });

  S.test('part edit and delete are stored', async (srv) => {
    const c = oc(srv);
    const s = (await c.session.create({ body: {} })).data;
    await prompt(c, s.id, 'edit me', { messageID: 'msg_e' });
    const res = await request(srv, 'PATCH', `/opencode/session/${s.id}/message/msg_e/part/part_msg_e_0`, {
      body: { type: 'text', text: 'edited' },
    });
    assert.deepEqual(res.json(), { id: 'part_msg_e_0', messageID: 'msg_e', sessionID: s.id, text: 'edited', type: 'text' });
    let m = (await c.session.message({ path: { id: s.id, messageID: 'msg_e' } })).data;
    assert.equal(m.parts[0].text, 'edited');
    const del = await request(srv, 'DELETE', `/opencode/session/${s.id}/message/msg_e/part/part_msg_e_0`);
    assert.equal(del.json(), true);
    m = (await c.session.message({ path: { id: s.id, messageID: 'msg_e' } })).data;
    assert.deepEqual(m.parts, []);
  });

  S.test('the v2 client sends the directory header; sessions are made there', async (srv) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-dir-'));
    try {
      const c2 = createV2({ baseUrl: `${srv.baseUrl}/opencode`, directory: dir });
      const s = (await c2.session.create({})).data;
      assert.equal(s.directory, dir);
      const st = (await c2.session.status()).data;
      assert.deepEqual(st[s.id], { type: 'idle' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('opencode auth and restart', { skip }, () => {
  nodeTest.test('every /opencode route needs the bearer token', async () => {
    const srv = await startServer({ token: 'tk' });
    try {
      const anon = await request(srv, 'GET', '/opencode/session', { token: null });
      assert.equal(anon.status, 401);
      const c = oc(srv);
      assert.equal((await c.session.list()).response.status, 200);
    } finally {
      await srv.stop();
    }
  });

  nodeTest.test('sessions, prompts and events take Basic with the token as password; a bad one gets the errors-body 401', async () => {
    const srv = await startServer({ token: 'tk' });
    const basic = (pw) => `Basic ${Buffer.from(`opencode:${pw}`).toString('base64')}`;
    try {
      // What `opencode attach --password tk` sends, through the SDK.
      const c = oc(srv, { headers: { authorization: basic('tk') } });
      const s = (await c.session.create({ body: { title: 'basic' } })).data;
      assert.match(s.id, /^ses_/);
      const reply = await prompt(c, s.id, 'over basic');
      assert.deepEqual(texts(reply.parts), ['Mock response to: over basic']);
      assert.equal((await c.session.messages({ path: { id: s.id } })).data.length, 2);
      const events = await fetch(`${srv.baseUrl}/opencode/event`, { headers: { authorization: basic('tk') } });
      assert.equal(events.status, 200);
      assert.match(events.headers.get('content-type'), /^text\/event-stream/);
      await events.body.cancel();
      const unauthorized = { errors: [{ message: 'missing or invalid bearer token' }] };
      for (const [method, p] of [
        ['GET', '/opencode/session'],
        ['GET', `/opencode/session/${s.id}/message`],
        ['POST', `/opencode/session/${s.id}/message`],
        ['GET', '/opencode/event'],
        ['GET', '/opencode/global/event'],
        ['GET', '/opencode/permission'],
        ['POST', '/opencode/question/que_1/reply'],
      ]) {
        const r = await request(srv, method, p, { headers: { authorization: basic('wrong') }, body: method === 'POST' ? {} : undefined });
        assert.equal(r.status, 401, `${method} ${p}`);
        assert.match(r.headers['content-type'], /^application\/json/, `${method} ${p}`);
        assert.deepEqual(r.json(), unauthorized, `${method} ${p}`);
      }
      // A known path with a method it does not take: still the 401 first, with allow.
      const wrong = await request(srv, 'PUT', `/opencode/session/${s.id}`, { token: null });
      assert.equal(wrong.status, 401);
      assert.deepEqual(wrong.json(), unauthorized);
      assert.match(wrong.headers.allow, /PATCH/);
    } finally {
      await srv.stop();
    }
  });

  nodeTest.test('sessions, titles, selections, history and todos survive a restart and continue', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-restart-'));
    let srv = await startServer({ home });
    try {
      let c = oc(srv);
      const s = (await c.session.create({ body: { title: 'Kept' } })).data;
      await prompt(c, s.id, 'first prompt with a plan', { model: { providerID: 'mock', modelID: 'mock-fast' } });
      const todos = (await c.session.todo({ path: { id: s.id } })).data;
      assert.deepEqual(todos.map((t) => [t.content, t.status]), [['Read the request', 'completed'], ['Draft a mock answer', 'completed'], ['Polish the wording', 'completed']]);
      const gone = (await c.session.create({ body: {} })).data;
      await c.session.delete({ path: { id: gone.id } });
      await srv.stop();
      srv = await startServer({ home });
      c = oc(srv);
      const list = (await c.session.list()).data;
      assert.deepEqual(list.map((x) => x.id), [s.id]);
      assert.equal(list[0].title, 'Kept');
      assert.equal(list[0].model, 'mock-fast');
      assert.deepEqual((await c.session.status()).data, { [s.id]: { type: 'idle' } });
      let msgs = (await c.session.messages({ path: { id: s.id } })).data;
      assert.deepEqual(msgs.map((m) => texts(m.parts)), [['first prompt with a plan'], ['Mock response to: first prompt with a plan']]);
      assert.deepEqual((await c.session.todo({ path: { id: s.id } })).data, todos);
      const reply = await prompt(c, s.id, 'second prompt');
      assert.deepEqual(texts(reply.parts), ['Mock response to: second prompt']);
      msgs = (await c.session.messages({ path: { id: s.id } })).data;
      assert.deepEqual(msgs.map((m) => m.info.role), ['user', 'assistant', 'user', 'assistant']);
    } finally {
      await srv.stop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
