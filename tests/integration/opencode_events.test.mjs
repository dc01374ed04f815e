// /opencode/event with the official @opencode-ai/sdk against our binary and its ACP mock
// agent (docs/opencode.md): the events of a turn in order (reasoning, a tool part updated in
// place, streamed text with deltas, one busy and one idle), permissions answered as ACP
// options (once, reject, always), abort, an agent error, an agent crash and the respawn,
// /global/event and Last-Event-ID replays.
import assert from 'node:assert/strict';
import * as nodeTest from 'node:test';
import { createOpencodeClient } from '@opencode-ai/sdk';
import { createOpencodeClient as createV2 } from '@opencode-ai/sdk/v2';
import { IS_REFERENCE, sharedServer, waitFor } from './lib/server.mjs';
import { listen } from './lib/opencode.mjs';

const { describe } = nodeTest;
const skip = IS_REFERENCE ? 'our /opencode runs prompts through our ACP mock' : false;
const S = sharedServer(nodeTest);

const base = (srv) => `${srv.baseUrl}/opencode`;
const oc = (srv) => createOpencodeClient({ baseUrl: base(srv) });

/** Every event of /event (or /global/event with the v2 client) from now on. */
const idleOf = (sid) => (e) => e.type === 'session.idle' && e.properties.sessionID === sid;

async function promptAsync(c, id, text) {
  const r = await c.session.promptAsync({ path: { id }, body: { parts: [{ type: 'text', text }] } });
  assert.equal(r.response.status, 204);
}

describe('opencode events', { skip }, () => {
  S.test('a turn streams in order: user message, busy, reasoning, tool in place, text deltas, idle', async (srv) => {
    const c = oc(srv);
    const ev = await listen(srv);
    try {
      const s = (await c.session.create({ body: {} })).data;
      await promptAsync(c, s.id, 'think tool please');
      await ev.wait(idleOf(s.id), 'session.idle');
      const seq = ev.of(s.id).map((e) => e.type);
      assert.equal(seq.filter((t) => t === 'session.idle').length, 1, seq.join(' '));
      const statuses = ev.of(s.id).filter((e) => e.type === 'session.status').map((e) => e.properties.status.type);
      assert.deepEqual(statuses, ['busy', 'idle']);
      const i = (pred) => ev.of(s.id).findIndex(pred);
      const user = i((e) => e.type === 'message.updated' && e.properties.info.role === 'user');
      const userPart = i((e) => e.type === 'message.part.updated' && e.properties.part.text === 'think tool please');
      const busy = i((e) => e.type === 'session.status' && e.properties.status.type === 'busy');
      const asst = i((e) => e.type === 'message.updated' && e.properties.info.role === 'assistant');
      const reasoning = i((e) => e.type === 'message.part.updated' && e.properties.part.type === 'reasoning');
      const tool = i((e) => e.type === 'message.part.updated' && e.properties.part.type === 'tool');
      const text = i((e) => e.type === 'message.part.updated' && e.properties.part.type === 'text' && e.properties.messageID.endsWith('_assistant'));
      const completed = ev.of(s.id).findLastIndex((e) => e.type === 'message.updated' && e.properties.info.time.completed && e.properties.info.role === 'assistant');
      const idle = i((e) => e.type === 'session.status' && e.properties.status.type === 'idle');
      const order = [user, userPart, busy, asst, reasoning, tool, text, completed, idle];
      assert.ok(order.every((x) => x >= 0), JSON.stringify(order));
      assert.deepEqual(order, [...order].sort((a, b) => a - b), seq.join(' '));

      // The tool part: one id, running then completed with the content's text.
      const toolEvents = ev.of(s.id).filter((e) => e.type === 'message.part.updated' && e.properties.part.type === 'tool');
      assert.equal(new Set(toolEvents.map((e) => e.properties.part.id)).size, 1);
      assert.equal(toolEvents[0].properties.part.state.status, 'running');
      const last = toolEvents.at(-1).properties.part;
      assert.equal(last.state.status, 'completed');
      assert.ok(last.state.output.length > 0);
      // Text deltas add up to the text.
      const textEvents = ev.of(s.id).filter((e) => e.type === 'message.part.updated' && e.properties.part.type === 'text' && e.properties.delta);
      assert.equal(textEvents.map((e) => e.properties.delta).join(''), textEvents.at(-1).properties.part.text);
      // The stored message has the parts in stream order.
      const msgs = (await c.session.messages({ path: { id: s.id } })).data;
      assert.deepEqual(msgs[1].parts.map((p) => p.type), ['reasoning', 'tool', 'text']);
      assert.equal(msgs[1].parts[1].state.status, 'completed');
    } finally {
      await ev.close();
    }
  });

  S.test('an ACP plan becomes the session todo list: todo.updated per plan, GET .../todo the latest', async (srv) => {
    const c = oc(srv);
    const ev = await listen(srv);
    try {
      const s = (await c.session.create({ body: {} })).data;
      assert.deepEqual((await c.session.todo({ path: { id: s.id } })).data, []);
      await promptAsync(c, s.id, 'plan please');
      await ev.wait(idleOf(s.id), 'session.idle');
      const todoEvents = ev.of(s.id).filter((e) => e.type === 'todo.updated');
      const want = (a, b, d) => [
        { id: '0', content: 'Read the request', priority: 'high', status: a },
        { id: '1', content: 'Draft a mock answer', priority: 'medium', status: b },
        { id: '2', content: 'Polish the wording', priority: 'low', status: d },
      ];
      assert.deepEqual(todoEvents.map((e) => e.properties.todos), [want('in_progress', 'pending', 'pending'), want('completed', 'completed', 'completed')]);
      const seq = ev.of(s.id).map((e) => e.type);
      assert.ok(seq.lastIndexOf('todo.updated') < seq.indexOf('session.idle'), seq.join(' '));
      assert.deepEqual((await c.session.todo({ path: { id: s.id } })).data, want('completed', 'completed', 'completed'));
      // Any other id still answers [] (the reference keeps no todos at all).
      assert.deepEqual((await c.session.todo({ path: { id: 'ses_unknown' } })).data, []);
    } finally {
      await ev.close();
    }
  });

  S.test('permissions: once and reject answer the agent with its option; always grants later ones', async (srv) => {
    const c = oc(srv);
    const v2 = createV2({ baseUrl: base(srv) });
    const ev = await listen(srv);
    try {
      const s = (await c.session.create({ body: {} })).data;
      await promptAsync(c, s.id, 'permission please');
      const asked = await ev.wait((e) => e.type === 'permission.asked' && e.properties.sessionID === s.id, 'permission.asked');
      const perm = asked.properties;
      assert.match(perm.id, /^perm_/);
      assert.deepEqual([perm.permission, perm.patterns, perm.always], ['execute', ['*'], []]);
      assert.deepEqual((await v2.permission.list()).data.map((p) => p.id), [perm.id]);
      assert.equal((await v2.permission.reply({ requestID: perm.id, reply: 'once' })).data, true);
      await ev.wait(idleOf(s.id), 'idle after once');
      let msgs = (await c.session.messages({ path: { id: s.id } })).data;
      let tool = msgs[1].parts.find((p) => p.type === 'tool');
      assert.equal(tool.state.status, 'completed');
      assert.deepEqual((await v2.permission.list()).data, []);
      const again = await v2.permission.reply({ requestID: perm.id, reply: 'once' });
      assert.equal(again.response.status, 404);

      // reject, through the legacy route of the v1 client.
      const s2 = (await c.session.create({ body: {} })).data;
      await promptAsync(c, s2.id, 'permission again');
      const asked2 = await ev.wait((e) => e.type === 'permission.asked' && e.properties.sessionID === s2.id, 'second ask');
      const r = await c.postSessionIdPermissionsPermissionId({ path: { id: s2.id, permissionID: asked2.properties.id }, body: { response: 'deny' } });
      assert.equal(r.data, true);
      await ev.wait(idleOf(s2.id), 'idle after reject');
      msgs = (await c.session.messages({ path: { id: s2.id } })).data;
      tool = msgs[1].parts.find((p) => p.type === 'tool');
      assert.equal(tool.state.status, 'error');
      const replied = ev.of(s2.id).find((e) => e.type === 'permission.replied');
      assert.deepEqual(replied.properties, { reply: 'reject', requestID: asked2.properties.id, sessionID: s2.id });

      // always: the next request of the session is granted without a client.
      const s3 = (await c.session.create({ body: {} })).data;
      await promptAsync(c, s3.id, 'permission one');
      const a3 = await ev.wait((e) => e.type === 'permission.asked' && e.properties.sessionID === s3.id, 'third ask');
      await v2.permission.reply({ requestID: a3.properties.id, reply: 'always' });
      await ev.wait(idleOf(s3.id), 'idle after always');
      await promptAsync(c, s3.id, 'permission two');
      await waitFor(() => ev.of(s3.id).filter((e) => e.type === 'session.idle').length === 2, { what: 'second idle' });
      const replies = ev.of(s3.id).filter((e) => e.type === 'permission.replied').map((e) => e.properties.reply);
      assert.deepEqual(replies, ['always', 'always']);
      msgs = (await c.session.messages({ path: { id: s3.id } })).data;
      assert.equal(msgs[3].parts.find((p) => p.type === 'tool').state.status, 'completed');
    } finally {
      await ev.close();
    }
  });

  S.test('abort answers at once, goes idle, and the session takes a new prompt', async (srv) => {
    const c = oc(srv);
    const ev = await listen(srv);
    try {
      const s = (await c.session.create({ body: {} })).data;
      await promptAsync(c, s.id, 'slow please');
      await ev.wait((e) => e.type === 'message.part.updated' && e.properties.sessionID === s.id && e.properties.delta, 'first chunk');
      assert.equal((await c.session.abort({ path: { id: s.id } })).data, true);
      await ev.wait(idleOf(s.id), 'idle after abort');
      assert.deepEqual((await c.session.status()).data[s.id], { type: 'idle' });
      const statuses = ev.of(s.id).filter((e) => e.type === 'session.status').map((e) => e.properties.status.type);
      assert.deepEqual(statuses, ['busy', 'idle']);
      const r = await c.session.prompt({ path: { id: s.id }, body: { parts: [{ type: 'text', text: 'after abort' }] } });
      assert.equal(r.response.status, 200, JSON.stringify(r.error));
      assert.ok(r.data.parts.some((p) => p.text === 'Mock response to: after abort'));
      // abort of an idle or unknown session
      assert.equal((await c.session.abort({ path: { id: s.id } })).data, true);
      assert.equal((await c.session.abort({ path: { id: 'ses_none' } })).response.status, 404);
    } finally {
      await ev.close();
    }
  });

  S.test('an agent error and an agent crash end the turn with session.error; the agent comes back', async (srv) => {
    const c = oc(srv);
    const ev = await listen(srv);
    try {
      const s = (await c.session.create({ body: {} })).data;
      const r = await c.session.prompt({ path: { id: s.id }, body: { parts: [{ type: 'text', text: 'error please' }] } });
      assert.equal(r.response.status, 500);
      assert.match(r.error.errors[0].message, /^ACP session\/prompt error: /);
      const err = ev.of(s.id).find((e) => e.type === 'session.error');
      assert.equal(err.properties.error.name, 'AgentError');
      await ev.wait(idleOf(s.id), 'idle after error');

      const crash = await c.session.prompt({ path: { id: s.id }, body: { parts: [{ type: 'text', text: 'crash now' }] } });
      assert.equal(crash.response.status, 500);
      await waitFor(() => ev.of(s.id).filter((e) => e.type === 'session.idle').length === 2, { what: 'idle after crash' });
      assert.equal(ev.of(s.id).filter((e) => e.type === 'session.error').length, 2);
      const ok = await c.session.prompt({ path: { id: s.id }, body: { parts: [{ type: 'text', text: 'alive again' }] } });
      assert.equal(ok.response.status, 200, JSON.stringify(ok.error));
      assert.ok(ok.data.parts.some((p) => p.text === 'Mock response to: alive again'));
    } finally {
      await ev.close();
    }
  });

  S.test('/global/event streams the same events; Last-Event-ID replays', async (srv) => {
    const c = oc(srv);
    const g = await listen(srv, { global: true });
    try {
      const s = (await c.session.create({ body: { title: 'g' } })).data;
      const created = await g.wait((e) => e.type === 'session.created' && e.properties.info.id === s.id, 'session.created');
      assert.equal(created.properties.info.title, 'g');
    } finally {
      await g.close();
    }
    // A raw stream from Last-Event-ID 0 sees the replay (session.created of before), then live.
    const ac = new AbortController();
    const res = await fetch(`${base(srv)}/event`, { headers: { 'last-event-id': '0' }, signal: ac.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body.getReader();
    let text = '';
    await waitFor(async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      return text.includes('"type":"session.created"') && text.includes('"type":"server.connected"');
    }, { what: 'replayed events' });
    assert.match(text, /^data: \{"properties":\{\},"type":"server.heartbeat"\}\n\n/);
    assert.match(text, /\nid: 1\ndata: /);
    ac.abort();
    // A Last-Event-ID that is not a number is ignored, not refused.
    const ac2 = new AbortController();
    const bad = await fetch(`${base(srv)}/event`, { headers: { 'last-event-id': 'nope' }, signal: ac2.signal });
    assert.equal(bad.status, 200);
    ac2.abort();
  });
});
