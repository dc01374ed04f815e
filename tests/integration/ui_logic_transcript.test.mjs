// ui_logic_transcript.test.mjs - the Inspector's pure modules: transcript.js folding ACP
// envelopes (both directions, live and from the journal), diff.js, markdown.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTranscript, applyEnvelope, applySessionEvents, toolTexts, restReplyOf, usageText } from '../../web/js/transcript.js';
import { lineDiff, diffOps } from '../../web/js/diff.js';
import { renderMarkdown } from '../../web/js/markdown.js';

const SID = 'mock-1';
const upd = (update, sessionId = SID) => ({ jsonrpc: '2.0', method: 'session/update', params: { sessionId, update } });
const chunk = (kind, text) => upd({ sessionUpdate: kind, content: { type: 'text', text } });
const prompt = (id, text, extra = []) => ({ jsonrpc: '2.0', id, method: 'session/prompt', params: { sessionId: SID, prompt: [{ type: 'text', text }, ...extra] } });
const kinds = (turn) => turn.items.map((i) => i.kind);

function fold(seq, init) {
  const changes = [];
  const T = createTranscript({ ...init, onChange: (item, turn, isNew) => changes.push({ item, isNew }) });
  for (const [dir, env] of seq) applyEnvelope(T, dir, env);
  return { T, changes };
}

test('a prompt turn: chunks merge, the echo is dropped, plan entries are replaced, the stop lands on its turn', () => {
  const plan = (s) => upd({ sessionUpdate: 'plan', entries: [{ content: 'a', status: s }, { content: 'b', status: 'pending' }] });
  const { T, changes } = fold([
    ['out', { jsonrpc: '2.0', id: 1, method: 'session/new', params: { cwd: '/', mcpServers: [] } }],
    ['in', { jsonrpc: '2.0', id: 1, result: { sessionId: SID, modes: { currentModeId: 'normal', availableModes: [{ id: 'normal' }, { id: 'plan' }] } } }],
    ['out', prompt(2, 'hello think plan')],
    ['in', chunk('user_message_chunk', 'hello think plan')],
    ['in', chunk('agent_thought_chunk', 'Thinking ')],
    ['in', chunk('agent_thought_chunk', 'hard.')],
    ['in', plan('in_progress')],
    ['in', plan('completed')],
    ['in', chunk('agent_message_chunk', 'Hello ')],
    ['in', chunk('agent_message_chunk', 'world')],
    ['in', chunk('agent_message_chunk', 'ignored: another session')].map((x, i) => (i === 1 ? { ...x, params: { ...x.params, sessionId: 'other' } } : x)),
    ['in', { jsonrpc: '2.0', id: 2, result: { stopReason: 'end_turn', usage: { totalTokens: 42 } } }],
  ]);
  assert.equal(T.sessionId, SID);
  assert.equal(T.turns.length, 1);
  const [turn] = T.turns;
  assert.deepEqual(kinds(turn), ['user', 'thought', 'plan', 'agent', 'stop']);
  assert.equal(turn.items[0].blocks[0].text, 'hello think plan');
  assert.equal(turn.items[1].text, 'Thinking hard.');
  assert.deepEqual(turn.items[2].entries.map((e) => e.status), ['completed', 'pending']);
  assert.equal(turn.items[3].text, 'Hello world');
  assert.equal(turn.items[4].reason, 'end_turn');
  assert.equal(T.lastTurnUsage.totalTokens, 42);
  // Each item is announced new once; later changes are updates.
  assert.equal(changes.filter((c) => c.isNew).length, 5);
  assert.ok(changes.some((c) => !c.isNew && c.item.kind === 'agent'));
});

test('tool calls merge their updates; diff content becomes hunks; a later text starts a new bubble', () => {
  const { T } = fold([
    ['out', prompt(1, 'edit')],
    ['in', chunk('agent_message_chunk', 'Let me edit.')],
    ['in', upd({ sessionUpdate: 'tool_call', toolCallId: 't1', title: 'Edit a.txt', kind: 'edit', status: 'pending', rawInput: { path: 'a.txt' } })],
    ['in', upd({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'in_progress' })],
    ['in', upd({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'completed', content: [
      { type: 'diff', path: '/w/a.txt', oldText: 'one\ntwo\nthree\n', newText: 'one\n2\nthree\nfour\n' },
      { type: 'content', content: { type: 'text', text: 'applied' } }] })],
    ['in', chunk('agent_message_chunk', 'Done.')],
  ]);
  const [turn] = T.turns;
  assert.deepEqual(kinds(turn), ['user', 'agent', 'tool', 'agent']);
  const tool = turn.items[2];
  assert.equal(tool.status, 'completed');
  assert.equal(tool.d.title, 'Edit a.txt'); // kept from the first call
  assert.deepEqual(tool.d.rawInput, { path: 'a.txt' });
  assert.deepEqual(toolTexts(tool), ['applied']);
  assert.equal(tool.diffs.length, 1);
  assert.equal(tool.diffs[0].path, '/w/a.txt');
  assert.deepEqual(tool.diffs[0].stats, { add: 2, del: 1 });
  assert.deepEqual(tool.diffs[0].hunks[0].lines.map((l) => l.op + l.text), [' one', '-two', '+2', ' three', '+four']);
  assert.equal(turn.items[3].text, 'Done.');
});

test('permission requests: pending, then answered by the client reply (selected or cancelled)', () => {
  const perm = (id) => ({ jsonrpc: '2.0', id, method: 'session/request_permission', params: { sessionId: SID,
    toolCall: { toolCallId: 'c', title: 'Edit mock.txt', kind: 'edit' },
    options: [{ optionId: 'allow-once', name: 'Allow once', kind: 'allow_once' }, { optionId: 'reject-once', name: 'Reject', kind: 'reject_once' }] } });
  const { T } = fold([['out', prompt(1, 'permission')], ['in', perm(7)], ['in', perm('s-8')]]);
  const [a, b] = T.turns[0].items.filter((i) => i.kind === 'perm');
  assert.equal(a.state, 'pending');
  assert.equal(a.toolCall.title, 'Edit mock.txt');
  applyEnvelope(T, 'out', { jsonrpc: '2.0', id: 7, result: { outcome: { outcome: 'selected', optionId: 'allow-once' } } });
  applyEnvelope(T, 'out', { jsonrpc: '2.0', id: 's-8', result: { outcome: { outcome: 'cancelled' } } });
  assert.equal(a.state, 'answered');
  assert.equal(a.answer, 'Allow once');
  assert.equal(b.answer, 'cancelled');
  assert.equal(restReplyOf('allow_once'), 'once');
  assert.equal(restReplyOf('allow_always'), 'always');
  assert.equal(restReplyOf('reject_always'), 'reject');
});

test('errors, modes, config options, usage and exits', () => {
  const { T } = fold([
    ['out', { jsonrpc: '2.0', id: 1, method: 'session/new', params: {} }],
    ['in', { jsonrpc: '2.0', id: 1, result: { sessionId: SID, modes: { currentModeId: 'normal', availableModes: [{ id: 'normal' }, { id: 'plan' }] },
      configOptions: [{ id: 'mode', category: 'mode', currentValue: 'normal', options: [{ value: 'normal' }, { value: 'plan' }] }] } }],
    ['out', { jsonrpc: '2.0', id: 2, method: 'session/set_mode', params: { sessionId: SID, modeId: 'plan' } }],
    ['in', upd({ sessionUpdate: 'current_mode_update', currentModeId: 'plan' })],
    ['in', { jsonrpc: '2.0', id: 2, result: {} }],
    ['out', prompt(3, 'error')],
    ['in', { jsonrpc: '2.0', id: 3, error: { code: -32603, message: 'Internal error', data: { details: 'x' } } }],
    ['in', upd({ sessionUpdate: 'usage_update', used: 1500, size: 200000, cost: { amount: 0.0123, currency: 'USD' } })],
    ['in', { jsonrpc: '2.0', method: '_adapter/agent_exited', params: { code: 1 } }],
  ]);
  assert.equal(T.modes.currentModeId, 'plan');
  assert.equal(T.configOptions[0].currentValue, 'plan', 'the mode option follows the mode');
  const all = T.turns.flatMap((t) => t.items);
  assert.ok(all.some((i) => i.kind === 'sys' && i.text === 'mode → plan'));
  const err = all.find((i) => i.kind === 'err');
  assert.match(err.text, /JSON-RPC error in session\/prompt: -32603 Internal error/);
  assert.deepEqual(err.extra, { details: 'x' });
  assert.deepEqual(T.usage, { used: 1500, size: 200000, cost: { amount: 0.0123, currency: 'USD' } });
  assert.equal(usageText(T.usage), '1.5k / 200k tokens (0.8%) · $0.0123');
  assert.equal(all.at(-1).kind, 'exit');
  assert.equal(T.exited.code, 1);
});

test('a journal read back (sender client/agent) folds like the live stream; session/load replays make turns', () => {
  const ev = (i, sender, payload) => ({ id: `${SID}:${i}`, eventIndex: i, sessionId: SID, sender, payload });
  const T = createTranscript({ sessionId: SID });
  applySessionEvents(T, [
    ev(1, 'client', prompt('sandbox-agent/rest/3', 'first')),
    ev(2, 'agent', chunk('agent_message_chunk', 'one')),
    ev(3, 'agent', { jsonrpc: '2.0', id: 'sandbox-agent/rest/3', result: { stopReason: 'end_turn' } }),
    // A replay (session/load): user chunks without a prompt request open turns of their own.
    ev(4, 'agent', chunk('user_message_chunk', 'old question')),
    ev(5, 'agent', chunk('agent_message_chunk', 'old answer')),
    ev(6, 'agent', chunk('user_message_chunk', 'second old question')),
  ]);
  assert.equal(T.turns.length, 3);
  assert.deepEqual(kinds(T.turns[0]), ['user', 'agent', 'stop']);
  assert.equal(T.turns[1].items[0].blocks[0].text, 'old question');
  assert.equal(T.turns[1].items[1].text, 'old answer');
  assert.equal(T.turns[2].items[0].blocks[0].text, 'second old question');
});

test('prompts keep their image and resource blocks (the echo does not replace them)', () => {
  const img = { type: 'image', mimeType: 'image/png', data: 'iVBORw0KGgo=' };
  const { T } = fold([['out', prompt(1, 'look', [img])], ['in', chunk('user_message_chunk', 'look')]]);
  assert.deepEqual(T.turns[0].items[0].blocks, [{ type: 'text', text: 'look' }, img]);
});

test('lineDiff: hunks with context, separate hunks far apart, additions to an empty file', () => {
  const old = Array.from({ length: 20 }, (_, i) => `l${i + 1}`).join('\n');
  const neu = old.replace('l2\n', 'L2\n').replace('l18', 'L18');
  const hunks = lineDiff(old, neu, 2);
  assert.equal(hunks.length, 2);
  assert.deepEqual([hunks[0].oldStart, hunks[0].oldLines, hunks[0].newStart, hunks[0].newLines], [1, 4, 1, 4]);
  assert.deepEqual(hunks[0].lines.map((l) => l.op + l.text), [' l1', '-l2', '+L2', ' l3', ' l4']);
  assert.deepEqual([hunks[1].oldStart, hunks[1].oldLines], [16, 5]);
  const add = lineDiff(null, 'a\nb\n');
  assert.deepEqual(add[0].lines.map((l) => l.op + l.text), ['+a', '+b']);
  assert.deepEqual([add[0].oldStart, add[0].oldLines, add[0].newStart, add[0].newLines], [0, 0, 1, 2]);
  assert.deepEqual(lineDiff('same\n', 'same\n'), []);
  // The LCS keeps the moved-around common lines: only x and y change.
  assert.deepEqual(diffOps('a\nx\nb\nc', 'a\nb\ny\nc').map((o) => o.op + o.text), [' a', '-x', ' b', '+y', ' c']);
});

test('markdown: escapes HTML, keeps only http(s) links, renders the usual blocks', () => {
  const html = renderMarkdown('# Title <script>alert(1)</script>\n\nSome **bold**, *em* and `<b>code</b>`.\n\n[ok](https://example.com/?a=1&b=2) [js](javascript:alert) [data](data:text/html,x)\n\n- one\n- two\n\n```\n<img src=x onerror=alert(1)>\n```');
  assert.doesNotMatch(html, /<script|<img|<b>/);
  assert.match(html, /<h1>Title &lt;script&gt;alert\(1\)&lt;\/script&gt;<\/h1>/);
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<em>em<\/em>/);
  assert.match(html, /<code>&lt;b&gt;code&lt;\/b&gt;<\/code>/);
  assert.match(html, /<a href="https:\/\/example.com\/\?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">ok<\/a>/);
  assert.doesNotMatch(html, /href="(javascript|data):/);
  assert.match(html, /js data/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<pre class="md-code"><code>&lt;img src=x onerror=alert\(1\)&gt;<\/code><\/pre>/);
  assert.equal(renderMarkdown('a "quote" & \'x\''), '<p>a &quot;quote&quot; &amp; &#39;x&#39;</p>');
  assert.equal(renderMarkdown('snake_case_word'), '<p>snake_case_word</p>');
});
