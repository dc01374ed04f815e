// mock_stdio.test.mjs - drives `sandbox-agent mock-agent-process` directly over stdio.
//
// Each test spawns its own mock agent, writes JSON-RPC lines to its stdin and waits for the
// expected lines on stdout (no fixed sleeps; TIMEOUT_MS only guards against hangs). Every
// agent must exit 0 with an empty stderr at EOF, which is what makes the ASan build
// (SANDBOX_AGENT_BIN=build/asan/sandbox-agent) fail on any sanitizer or leak report.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.resolve(ROOT, process.env.SANDBOX_AGENT_BIN || 'build/sandbox-agent');
const TIMEOUT_MS = 15000;

const PERMISSION_OPTIONS = [
  { optionId: 'allow-once', name: 'Allow once', kind: 'allow_once' },
  { optionId: 'allow-always', name: 'Always allow', kind: 'allow_always' },
  { optionId: 'reject-once', name: 'Reject', kind: 'reject_once' },
  { optionId: 'reject-always', name: 'Never allow', kind: 'reject_always' },
];

// One mock agent process plus everything it printed. Messages are kept in arrival order so
// a test can look at what came between two points (`mark()` ... `msgs.slice(mark)`).
class Agent {
  constructor() {
    this.proc = spawn(BIN, ['mock-agent-process'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.msgs = [];
    this.raw = [];
    this.stderr = '';
    this.waiters = new Set();
    this.nextId = 1000;
    // 'close', not 'exit': only then has every byte the agent wrote been read.
    this.exited = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const w of this.waiters) w.fail(new Error(`agent exited (code ${code}, signal ${signal})`));
        resolve(this.exitInfo);
      });
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => (this.stderr += d));
    this.proc.stdin.on('error', () => {}); // EPIPE after a crash is expected
    createInterface({ input: this.proc.stdout, crlfDelay: Infinity }).on('line', (line) => {
      this.raw.push(line);
      this.msgs.push(JSON.parse(line)); // every stdout line must be one JSON object
      for (const w of [...this.waiters]) w.poll();
    });
  }

  mark() {
    return this.msgs.length;
  }

  send(obj) {
    this.proc.stdin.write((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n');
  }

  notify(method, params) {
    this.send({ jsonrpc: '2.0', method, params });
  }

  // Sends a request and returns its id (the response is awaited separately).
  sendRequest(method, params, id = this.nextId++) {
    this.send({ jsonrpc: '2.0', id, method, params });
    return id;
  }

  async request(method, params, id) {
    const from = this.mark();
    const rid = this.sendRequest(method, params, id);
    return (await this.waitFor((m) => isResponse(m, rid), from, `response to ${method}`)).msg;
  }

  // Resolves with { msg, index } for the first message at or after `from` matching pred.
  waitFor(pred, from = 0, label = 'message') {
    return new Promise((resolve, reject) => {
      const w = {
        poll: () => {
          for (let i = from; i < this.msgs.length; i++) {
            if (pred(this.msgs[i])) {
              this.waiters.delete(w);
              clearTimeout(w.timer);
              resolve({ msg: this.msgs[i], index: i });
              return;
            }
          }
        },
        fail: (err) => {
          this.waiters.delete(w);
          clearTimeout(w.timer);
          reject(new Error(`${err.message} while waiting for ${label}; seen: ${this.raw.slice(from).join('\n')}`));
        },
      };
      w.timer = setTimeout(() => w.fail(new Error(`timed out`)), TIMEOUT_MS);
      this.waiters.add(w);
      w.poll();
      if (this.waiters.has(w) && this.exitInfo) w.fail(new Error('agent already exited'));
    });
  }

  // Updates (the `update` objects) for a session between two message indexes.
  updates(sessionId, from, to = this.msgs.length) {
    return this.msgs
      .slice(from, to)
      .filter((m) => m.method === 'session/update' && m.params.sessionId === sessionId)
      .map((m) => m.params.update);
  }

  async newSession(cwd = '/tmp') {
    const r = await this.request('session/new', { cwd, mcpServers: [] });
    assert.ok(r.result, `session/new failed: ${JSON.stringify(r)}`);
    return r.result.sessionId;
  }

  // Runs one prompt turn to its response; returns { resp, updates }.
  async prompt(sessionId, prompt) {
    const from = this.mark();
    const blocks = typeof prompt === 'string' ? [{ type: 'text', text: prompt }] : prompt;
    const id = this.sendRequest('session/prompt', { sessionId, prompt: blocks });
    const { msg, index } = await this.waitFor((m) => isResponse(m, id), from, 'prompt response');
    return { resp: msg, updates: this.updates(sessionId, from, index) };
  }

  // Closes stdin and checks the clean exit every test ends with.
  async finish() {
    this.proc.stdin.end();
    const { code, signal } = await withTimeout(this.exited, 'agent exit');
    assert.equal(this.stderr, '', 'stderr must stay empty');
    assert.equal(signal, null);
    assert.equal(code, 0);
  }
}

function isResponse(m, id) {
  return m.method === undefined && Object.is(m.id, id) && ('result' in m || 'error' in m);
}

function withTimeout(promise, label) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${label}`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

const textOf = (updates, kind) =>
  updates.filter((u) => u.sessionUpdate === kind).map((u) => u.content.text);

const isUpdate = (sessionId, pred) => (m) =>
  m.method === 'session/update' && m.params.sessionId === sessionId && pred(m.params.update);

const isPermissionRequest = (m) => m.method === 'session/request_permission' && m.id !== undefined;

describe('mock agent over stdio', { concurrency: true }, () => {
  test('initialize and authenticate', async () => {
    const a = new Agent();
    const init = await a.request('initialize', {
      protocolVersion: 1,
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
    });
    assert.equal(init.jsonrpc, '2.0');
    assert.deepEqual(init.result, {
      protocolVersion: 1,
      agentCapabilities: {
        loadSession: true,
        promptCapabilities: { image: true, audio: false, embeddedContext: true },
        mcpCapabilities: { http: false, sse: false },
      },
      agentInfo: { name: 'sandbox-agent-mock', title: 'Mock Agent', version: '0.4.2' },
      authMethods: [],
    });
    const auth = await a.request('authenticate', { methodId: 'none' });
    assert.deepEqual(auth.result, {});
    await a.finish();
  });

  test('session/new returns fresh ids, modes and config options', async () => {
    const a = new Agent();
    const r = await a.request('session/new', { cwd: '/tmp', mcpServers: [] });
    assert.match(r.result.sessionId, /^mock-[0-9a-f]{16}$/);
    assert.equal(r.result.modes.currentModeId, 'normal');
    assert.deepEqual(
      r.result.modes.availableModes.map((m) => [m.id, m.name, typeof m.description]),
      [
        ['normal', 'Normal', 'string'],
        ['plan', 'Plan', 'string'],
      ],
    );
    assert.deepEqual(r.result.configOptions, [
      {
        id: 'model', name: 'Model', category: 'model', type: 'select', currentValue: 'mock',
        options: [{ value: 'mock', name: 'Mock' }, { value: 'mock-fast', name: 'Mock Fast' }],
      },
      {
        id: 'mode', name: 'Mode', category: 'mode', type: 'select', currentValue: 'normal',
        options: [{ value: 'normal', name: 'Normal' }, { value: 'plan', name: 'Plan' }],
      },
      {
        id: 'thought_level', name: 'Thought Level', category: 'thought_level', type: 'select',
        currentValue: 'low',
        options: [
          { value: 'low', name: 'Low' },
          { value: 'medium', name: 'Medium' },
          { value: 'high', name: 'High' },
        ],
      },
    ]);
    const other = await a.newSession();
    assert.notEqual(other, r.result.sessionId);
    await a.finish();
  });

  test('baseline prompt echoes the text verbatim and ends the turn', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const text = 'Hello, "mock" agent! ünïcødé ✓ \\ / \n second line';
    const { resp, updates } = await a.prompt(sid, [
      { type: 'text', text: text.slice(0, 10) },
      { type: 'resource_link', uri: 'file:///tmp/notes.md', name: 'notes.md' },
      { type: 'image', data: 'iVBORw0KGgo=', mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'file:///tmp/a.txt', text: 'abc' } },
      { type: 'audio', data: '', mimeType: 'audio/wav' },
      { type: 'text', text: text.slice(10) },
      { type: 'mystery' },
      'not a block',
    ]);
    assert.deepEqual(resp.result, { stopReason: 'end_turn' });
    const chunks = textOf(updates, 'agent_message_chunk');
    assert.ok(chunks.length >= 1);
    assert.ok(chunks[0].includes(text), `first chunk should contain the prompt: ${chunks[0]}`);
    assert.ok(chunks.join('').includes('file:///tmp/notes.md'));
    assert.equal(textOf(updates, 'agent_thought_chunk').length, 0);
    assert.ok(!updates.some((u) => u.sessionUpdate === 'tool_call' || u.sessionUpdate === 'plan'));
    await a.finish();
  });

  test('think emits thought chunks before the answer', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const { resp, updates } = await a.prompt(sid, 'Please THINK about it.');
    assert.equal(resp.result.stopReason, 'end_turn');
    assert.ok(textOf(updates, 'agent_thought_chunk').length >= 2);
    const firstAnswer = updates.findIndex((u) => u.sessionUpdate === 'agent_message_chunk');
    const lastThought = updates.findLastIndex((u) => u.sessionUpdate === 'agent_thought_chunk');
    assert.ok(lastThought < firstAnswer);
    // whole words only: "thinking" is not "think"
    const other = await a.prompt(sid, 'thinking rethink think_ planner tools');
    assert.equal(textOf(other.updates, 'agent_thought_chunk').length, 0);
    assert.ok(!other.updates.some((u) => ['plan', 'tool_call'].includes(u.sessionUpdate)));
    await a.finish();
  });

  test('plan emits plan updates with priorities and statuses', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const { resp, updates } = await a.prompt(sid, 'make a plan');
    assert.equal(resp.result.stopReason, 'end_turn');
    const plans = updates.filter((u) => u.sessionUpdate === 'plan');
    assert.ok(plans.length >= 1);
    const entries = plans[0].entries;
    assert.ok(entries.length >= 3);
    assert.deepEqual(new Set(entries.map((e) => e.priority)), new Set(['high', 'medium', 'low']));
    for (const plan of plans)
      for (const e of plan.entries) {
        assert.equal(typeof e.content, 'string');
        assert.ok(['pending', 'in_progress', 'completed'].includes(e.status));
      }
    assert.ok(plans.at(-1).entries.every((e) => e.status === 'completed'));
    await a.finish();
  });

  test('tool emits a tool call and its completed update', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const { resp, updates } = await a.prompt(sid, 'use a tool');
    assert.equal(resp.result.stopReason, 'end_turn');
    const call = updates.find((u) => u.sessionUpdate === 'tool_call');
    assert.match(call.toolCallId, /^call_\d+$/);
    assert.equal(call.kind, 'read');
    assert.equal(call.status, 'pending');
    assert.equal(typeof call.title, 'string');
    assert.equal(typeof call.rawInput, 'object');
    const upd = updates.find((u) => u.sessionUpdate === 'tool_call_update');
    assert.equal(upd.toolCallId, call.toolCallId);
    assert.equal(upd.status, 'completed');
    assert.equal(upd.content[0].type, 'content');
    assert.equal(upd.content[0].content.type, 'text');
    assert.equal(typeof upd.rawOutput, 'object');
    assert.ok(updates.indexOf(call) < updates.indexOf(upd));
    await a.finish();
  });

  test('combined scenarios run in order think, plan, tool, text', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const { resp, updates } = await a.prompt(sid, 'tool plan think');
    assert.equal(resp.result.stopReason, 'end_turn');
    const first = (kind) => updates.findIndex((u) => u.sessionUpdate === kind);
    const order = ['agent_thought_chunk', 'plan', 'tool_call', 'tool_call_update', 'agent_message_chunk'].map(first);
    assert.ok(order.every((i) => i >= 0), JSON.stringify(order));
    assert.deepEqual([...order].sort((x, y) => x - y), order);
    await a.finish();
  });

  // Runs a permission prompt, answers the request with `answer(req)` (a message to send, or
  // a function doing something else), and returns the turn's updates and response.
  async function permissionTurn(a, sid, answer) {
    const from = a.mark();
    const pid = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'needs permission please' }] });
    const { msg: req, index } = await a.waitFor(isPermissionRequest, from, 'permission request');
    assert.equal(req.jsonrpc, '2.0');
    assert.ok(Number.isInteger(req.id) && req.id >= 0);
    assert.equal(req.params.sessionId, sid);
    assert.deepEqual(req.params.options, PERMISSION_OPTIONS);
    const call = a.updates(sid, from, index).find((u) => u.sessionUpdate === 'tool_call');
    assert.ok(['edit', 'execute'].includes(call.kind));
    assert.equal(call.status, 'pending');
    assert.equal(req.params.toolCall.toolCallId, call.toolCallId);
    assert.equal(req.params.toolCall.status, 'pending');
    assert.equal(req.params.toolCall.kind, call.kind);
    assert.equal(typeof req.params.toolCall.title, 'string');
    const reply = answer(req);
    if (reply) a.send(reply);
    const { msg: resp, index: end } = await a.waitFor((m) => isResponse(m, pid), from, 'prompt response');
    const updates = a.updates(sid, index, end);
    const upd = updates.find((u) => u.sessionUpdate === 'tool_call_update');
    assert.equal(upd.toolCallId, call.toolCallId);
    return { resp, updates, upd, text: textOf(updates, 'agent_message_chunk').join('') };
  }

  const selected = (optionId) => (req) => ({
    jsonrpc: '2.0', id: req.id, result: { outcome: { outcome: 'selected', optionId } },
  });

  test('permission granted with allow-once and allow-always', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    for (const opt of ['allow-once', 'allow-always']) {
      const { resp, upd, text } = await permissionTurn(a, sid, selected(opt));
      assert.deepEqual(resp.result, { stopReason: 'end_turn' });
      assert.equal(upd.status, 'completed');
      assert.ok(Array.isArray(upd.content) && upd.content.length > 0);
      assert.match(text, /allowed|approved/i);
      assert.ok(!/denied/i.test(text));
      assert.ok(text.includes('needs permission please'));
    }
    await a.finish();
  });

  test('permission denied by reject options, cancelled outcome and error response', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const answers = [
      selected('reject-once'),
      selected('reject-always'),
      selected('no-such-option'),
      (req) => ({ jsonrpc: '2.0', id: req.id, result: { outcome: { outcome: 'cancelled' } } }),
      (req) => ({ jsonrpc: '2.0', id: req.id, error: { code: -32603, message: 'client failed' } }),
      (req) => ({ jsonrpc: '2.0', id: req.id, result: null }),
    ];
    let lastId = -1;
    for (const answer of answers) {
      const { resp, upd, text } = await permissionTurn(a, sid, (req) => {
        assert.ok(req.id > lastId, 'outbound request ids increase');
        lastId = req.id;
        return answer(req);
      });
      assert.deepEqual(resp.result, { stopReason: 'end_turn' });
      assert.equal(upd.status, 'failed');
      assert.match(text, /denied/);
      assert.ok(text.includes('needs permission please'));
    }
    await a.finish();
  });

  test('session/cancel while waiting for permission ends the turn cancelled', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    let permId;
    const { resp, upd, text } = await permissionTurn(a, sid, (req) => {
      permId = req.id;
      a.notify('session/cancel', { sessionId: sid });
    });
    assert.deepEqual(resp.result, { stopReason: 'cancelled' });
    assert.equal(upd.status, 'failed');
    assert.match(text, /denied/);
    // The client's late "cancelled" answer is ignored; the session keeps working.
    a.send({ jsonrpc: '2.0', id: permId, result: { outcome: { outcome: 'cancelled' } } });
    const after = await a.prompt(sid, 'still alive?');
    assert.equal(after.resp.result.stopReason, 'end_turn');
    assert.equal(after.updates.filter((u) => u.sessionUpdate === 'tool_call_update').length, 0);
    await a.finish();
  });

  test('slow streams 20 extra chunks then ends the turn', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const { resp, updates } = await a.prompt(sid, 'go slow please');
    assert.deepEqual(resp.result, { stopReason: 'end_turn' });
    const chunks = textOf(updates, 'agent_message_chunk');
    assert.ok(chunks[0].includes('go slow please'));
    assert.ok(chunks.length >= 18, `got ${chunks.length} chunks`);
    await a.finish();
  });

  test('session/cancel stops slow chunks promptly; other sessions keep streaming', async () => {
    const a = new Agent();
    const s1 = await a.newSession();
    const s2 = await a.newSession();
    const from = a.mark();
    const p1 = a.sendRequest('session/prompt', { sessionId: s1, prompt: [{ type: 'text', text: 'slow one' }] });
    const p2 = a.sendRequest('session/prompt', { sessionId: s2, prompt: [{ type: 'text', text: 'slow two' }] });
    // wait until s1 streams its second chunk (the first slow one), then cancel it
    await a.waitFor(
      (m) => m.method === 'session/update' && m.params.sessionId === s1 && a.updates(s1, from).length >= 2,
      from, 'first slow chunk',
    );
    const cancelAt = a.mark();
    a.notify('session/cancel', { sessionId: s1 });
    const { msg: r1, index: i1 } = await a.waitFor((m) => isResponse(m, p1), from, 'cancelled response');
    assert.deepEqual(r1.result, { stopReason: 'cancelled' });
    assert.ok(a.updates(s1, cancelAt, i1).length <= 1, 'at most one chunk raced the cancel');
    // s2 is unaffected and finishes its full stream; by then s1's timer would have fired
    // many times had it not been stopped.
    const { msg: r2, index: i2 } = await a.waitFor((m) => isResponse(m, p2), from, 's2 response');
    assert.deepEqual(r2.result, { stopReason: 'end_turn' });
    assert.ok(textOf(a.updates(s2, from, i2), 'agent_message_chunk').length >= 18);
    assert.equal(a.updates(s1, i1 + 1).length, 0, 'no s1 chunks after its cancelled response');
    // a cancel with no turn in progress is ignored
    a.notify('session/cancel', { sessionId: s1 });
    a.notify('session/cancel', { sessionId: 'mock-unknown' });
    a.notify('session/cancel', {});
    const after = await a.prompt(s1, 'plain');
    assert.equal(after.resp.result.stopReason, 'end_turn');
    await a.finish();
  });

  test('a second prompt on a busy session is queued, cancel cancels both', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    let from = a.mark();
    const p1 = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'slow first' }] });
    const p2 = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'queued second' }] });
    const { index: e1 } = await a.waitFor((m) => isResponse(m, p1), from, 'first response');
    const { msg: r2, index: e2 } = await a.waitFor((m) => isResponse(m, p2), from, 'second response');
    assert.ok(e1 < e2);
    assert.equal(r2.result.stopReason, 'end_turn');
    const secondChunk = a.msgs.findIndex(
      (m, i) => i >= from && m.method === 'session/update' && m.params.update.content?.text?.includes('queued second'),
    );
    assert.ok(secondChunk > e1, 'queued turn starts after the first ends');

    from = a.mark();
    const q1 = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'slow again' }] });
    const q2 = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'waiting' }] });
    await a.waitFor(isUpdate(sid, (u) => u.content?.text?.includes('slow again')), from, 'first chunk');
    a.notify('session/cancel', { sessionId: sid });
    const { msg: c1 } = await a.waitFor((m) => isResponse(m, q1), from, 'q1');
    const { msg: c2 } = await a.waitFor((m) => isResponse(m, q2), from, 'q2');
    assert.equal(c1.result.stopReason, 'cancelled');
    assert.equal(c2.result.stopReason, 'cancelled');
    await a.finish();
  });

  test('error scenario answers the prompt with a JSON-RPC error', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const { resp, updates } = await a.prompt(sid, 'trigger an error now');
    assert.equal(resp.result, undefined);
    assert.equal(resp.error.code, -32603);
    assert.equal(typeof resp.error.message, 'string');
    assert.ok(textOf(updates, 'agent_message_chunk')[0].includes('trigger an error now'));
    const after = await a.prompt(sid, 'fine again');
    assert.equal(after.resp.result.stopReason, 'end_turn');
    await a.finish();
  });

  test('crash scenario exits 1 mid-turn with a note on stderr', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const from = a.mark();
    const pid = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'please crash' }] });
    const { code, signal } = await withTimeout(a.exited, 'crash exit');
    assert.equal(signal, null);
    assert.equal(code, 1);
    assert.match(a.stderr, /mock agent crashing as requested/);
    assert.ok(textOf(a.updates(sid, from), 'agent_message_chunk').some((t) => t.includes('please crash')));
    assert.ok(!a.msgs.some((m) => isResponse(m, pid)));
  });

  test('modes and config options', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    let from = a.mark();
    const setMode = await a.request('session/set_mode', { sessionId: sid, modeId: 'plan' });
    assert.deepEqual(setMode.result, {});
    assert.deepEqual(a.updates(sid, from), [{ sessionUpdate: 'current_mode_update', currentModeId: 'plan' }]);
    // the mode update comes before the response
    assert.ok(a.msgs.findIndex((m, i) => i >= from && m.method === 'session/update') < a.msgs.indexOf(setMode));

    const bad = await a.request('session/set_mode', { sessionId: sid, modeId: 'turbo' });
    assert.equal(bad.error.code, -32602);
    const unknown = await a.request('session/set_mode', { sessionId: 'nope', modeId: 'plan' });
    assert.equal(unknown.error.code, -32002);

    const cfg = await a.request('session/set_config_option', { sessionId: sid, configId: 'thought_level', value: 'high' });
    const current = (r) => Object.fromEntries(r.result.configOptions.map((o) => [o.id, o.currentValue]));
    assert.deepEqual(current(cfg), { model: 'mock', mode: 'plan', thought_level: 'high' });

    from = a.mark();
    const cfgMode = await a.request('session/set_config_option', { sessionId: sid, configId: 'mode', value: 'normal' });
    assert.deepEqual(current(cfgMode), { model: 'mock', mode: 'normal', thought_level: 'high' });
    assert.deepEqual(a.updates(sid, from), [{ sessionUpdate: 'current_mode_update', currentModeId: 'normal' }]);

    for (const params of [
      { sessionId: sid, configId: 'model', value: 'gpt-9' },
      { sessionId: sid, configId: 'colour', value: 'red' },
      { sessionId: sid, configId: 'model', value: 7 },
      { sessionId: sid },
    ]) {
      const r = await a.request('session/set_config_option', params);
      assert.equal(r.error.code, -32602, JSON.stringify(params));
    }

    const setModel = await a.request('session/set_model', { sessionId: sid, modelId: 'mock-fast' });
    assert.deepEqual(setModel.result, {});
    const badModel = await a.request('session/set_model', { sessionId: sid, modelId: 'nope' });
    assert.equal(badModel.error.code, -32602);

    const loaded = await a.request('session/load', { sessionId: sid, cwd: '/tmp', mcpServers: [] });
    assert.deepEqual(current(loaded), { model: 'mock-fast', mode: 'normal', thought_level: 'high' });
    assert.equal(loaded.result.modes.currentModeId, 'normal');
    await a.finish();
  });

  test('session/list reports sessions with cwd and title', async () => {
    const a = new Agent();
    const s1 = await a.newSession('/tmp/one');
    const s2 = await a.newSession('/tmp/two');
    await a.prompt(s1, 'first prompt becomes the title');
    const all = await a.request('session/list', {});
    assert.deepEqual(all.result.sessions.map((s) => [s.sessionId, s.cwd]), [[s1, '/tmp/one'], [s2, '/tmp/two']]);
    assert.equal(all.result.sessions[0].title, 'first prompt becomes the title');
    const filtered = await a.request('session/list', { cwd: '/tmp/two' });
    assert.deepEqual(filtered.result.sessions.map((s) => s.sessionId), [s2]);
    const noParams = await a.request('session/list');
    assert.equal(noParams.result.sessions.length, 2);
    await a.finish();
  });

  test('session/load replays history; unknown ids start empty', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const t1 = await a.prompt(sid, 'first question');
    const t2 = await a.prompt(sid, 'think then answer');
    const agentText = (u) => textOf(u, 'agent_message_chunk').join('');
    const from = a.mark();
    const loaded = await a.request('session/load', { sessionId: sid, cwd: '/tmp', mcpServers: [] });
    assert.ok(loaded.result.modes && loaded.result.configOptions);
    const replay = a.updates(sid, from);
    assert.deepEqual(replay.map((u) => u.sessionUpdate)[0], 'user_message_chunk');
    // group the replay into turns: each user chunk starts one
    const turns = [];
    for (const u of replay) {
      if (u.sessionUpdate === 'user_message_chunk') turns.push({ user: u.content.text, agent: '' });
      else if (u.sessionUpdate === 'agent_message_chunk') turns.at(-1).agent += u.content.text;
      else assert.fail(`unexpected replay update ${u.sessionUpdate}`);
    }
    assert.deepEqual(turns, [
      { user: 'first question', agent: agentText(t1.updates) },
      { user: 'think then answer', agent: agentText(t2.updates) },
    ]);

    const fresh = await a.request('session/load', { sessionId: 'resumed-after-restart', cwd: '/tmp', mcpServers: [] });
    assert.equal(fresh.result.modes.currentModeId, 'normal');
    assert.equal(a.updates('resumed-after-restart', 0).length, 0);
    const resumed = await a.prompt('resumed-after-restart', 'hello again');
    assert.equal(resumed.resp.result.stopReason, 'end_turn');
    await a.finish();
  });

  test('errors: unknown session, methods, bad params', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const unknown = await a.request('session/prompt', { sessionId: 'mock-missing', prompt: [] });
    assert.deepEqual(unknown.error, { code: -32002, message: 'Resource not found', data: { sessionId: 'mock-missing' } });

    const nf = await a.request('session/teleport', {});
    assert.deepEqual(nf.error, { code: -32601, message: 'Method not found', data: { method: 'session/teleport' } });
    const ext = await a.request('_vendor/thing', {});
    assert.equal(ext.error.code, -32601);

    for (const params of [
      undefined,
      null,
      [],
      'str',
      { sessionId: 42, prompt: [] },
      { sessionId: sid },
      { sessionId: sid, prompt: 'not an array' },
      { sessionId: sid, prompt: { type: 'text', text: 'x' } },
    ]) {
      const r = await a.request('session/prompt', params);
      assert.equal(r.error?.code, -32602, JSON.stringify(params));
    }
    for (const method of ['session/load', 'session/set_mode', 'session/set_model']) {
      const r = await a.request(method, { sessionId: 5 });
      assert.equal(r.error?.code, -32602, method);
    }
    // odd but harmless inputs
    assert.ok((await a.request('session/new', null)).result.sessionId);
    assert.ok((await a.request('session/new', { cwd: 7 })).result.sessionId);
    assert.equal((await a.request('session/list', 'x')).result.sessions.length, 3);
    const empty = await a.prompt(sid, []);
    assert.equal(empty.resp.result.stopReason, 'end_turn');
    await a.finish();
  });

  test('JSON-RPC framing: ids, notifications, parse errors, blank and CRLF lines', async () => {
    const a = new Agent();
    const from = a.mark();
    a.send('{"jsonrpc":"2.0","id":"str-id","method":"authenticate","params":{}}');
    a.send('');
    a.send('   ');
    a.send('{"jsonrpc":"2.0","id":null,"method":"authenticate"}');
    a.send('{"jsonrpc":"2.0","id":0,"method":"authenticate"}\r');
    a.send('{"jsonrpc":"2.0","id":9007199254740991,"method":"authenticate"}');
    a.send('{"jsonrpc":"2.0","id":2.5,"method":"authenticate"}');
    a.send('{"jsonrpc":"2.0","method":"some/notification","params":{}}');
    a.send('{"jsonrpc":"2.0","method":"_ext/notification"}');
    a.send('{"jsonrpc":"2.0","id":12345,"result":{"stray":"response"}}');
    a.send('this is {not json');
    a.send('[1,2,3]');
    a.send('"just a string"');
    a.send('{"jsonrpc":"2.0","id":{"bad":"id"},"method":"authenticate"}');
    a.send('{"jsonrpc":"2.0","id":3,"method":17}');
    a.send('{"jsonrpc":"2.0"}');
    a.send('{"jsonrpc":"2.0","id":"last","method":"authenticate"}');
    await a.waitFor((m) => isResponse(m, 'last'), from, 'last');
    const got = a.msgs.slice(from);
    assert.deepEqual(got, [
      { jsonrpc: '2.0', id: 'str-id', result: {} },
      { jsonrpc: '2.0', id: null, result: {} },
      { jsonrpc: '2.0', id: 0, result: {} },
      { jsonrpc: '2.0', id: 9007199254740991, result: {} },
      { jsonrpc: '2.0', id: 2.5, result: {} },
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error', data: { raw: 'this is {not json' } } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: 3, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } },
      { jsonrpc: '2.0', id: 'last', result: {} },
    ]);
    // every line is compact JSON terminated by a newline (readline split them)
    for (const line of a.raw.slice(from)) assert.equal(line, JSON.stringify(JSON.parse(line)));
    // an invalid UTF-8 line still gets a parse error
    a.proc.stdin.write(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    await a.waitFor((m) => m.error?.code === -32700 && m.data === undefined && m.error.data.raw.length > 0, from, 'utf8 parse error');
    await a.finish();
  });

  test('huge lines and split writes are handled', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const big = 'x'.repeat(3 * 1024 * 1024) + ' big tail';
    const { resp, updates } = await a.prompt(sid, big);
    assert.equal(resp.result.stopReason, 'end_turn');
    assert.ok(textOf(updates, 'agent_message_chunk')[0].includes(big));
    // one message delivered byte by byte across many writes
    const from = a.mark();
    const line = JSON.stringify({ jsonrpc: '2.0', id: 'split', method: 'authenticate' }) + '\n';
    for (const ch of line) a.proc.stdin.write(ch);
    await a.waitFor((m) => isResponse(m, 'split'), from, 'split response');
    await a.finish();
  });

  test('EOF during a slow turn exits 0 promptly; final unterminated line is handled', async () => {
    const a = new Agent();
    const sid = await a.newSession();
    const from = a.mark();
    const pid = a.sendRequest('session/prompt', { sessionId: sid, prompt: [{ type: 'text', text: 'slow forever' }] });
    await a.waitFor(isUpdate(sid, (u) => u.content?.text?.includes('Slow') || a.updates(sid, from).length >= 2), from, 'slow chunk');
    await a.finish(); // (bounded: a mock that waited for its remaining chunks would time out)
    assert.ok(!a.msgs.some((m) => isResponse(m, pid)));

    const b = new Agent();
    b.proc.stdin.end('{"jsonrpc":"2.0","id":"tail","method":"initialize","params":{}}');
    await withTimeout(b.exited, 'exit');
    assert.equal(b.exitInfo.code, 0);
    assert.equal(b.stderr, '');
    assert.ok(b.msgs.some((m) => isResponse(m, 'tail')));
  });
});
