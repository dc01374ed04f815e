// transcript.js - folds ACP envelopes, in both directions, into a transcript model that the
// session panel renders: turns of user messages, merged agent text, thoughts, plans, tool
// calls (with their updates and diffs), permission requests, errors, stop reasons, usage.
//
// One model serves both sources the panel shows: the live ACP stream of a server (the
// client's POSTs as 'out', the SSE as 'in') and a session's journal (`sender: client` is
// 'out', `agent` is 'in'), so a session reads the same whether it was watched live or
// read back. Pure: no DOM. Every change is reported to `onChange(item, turn, isNew)` so a
// renderer can redraw only what moved; item.rev counts an item's changes.

import { lineDiff, diffStats } from './diff.js';

/**
 * A transcript. Owned by whoever created it (the session panel keeps one per session it
 * shows); it holds no resources, the garbage collector frees it.
 */
export function createTranscript(init = {}) {
  return {
    sessionId: init.sessionId || null,
    agentInfo: null,
    modes: init.modes || null,
    configOptions: Array.isArray(init.configOptions) ? init.configOptions : null,
    title: init.title || null,
    usage: null, // {used, size, cost: {amount, currency}} from usage_update
    lastTurnUsage: null, // the usage of the last prompt response, when the agent reports it
    commands: [],
    exited: null, // {code, signal} once _adapter/agent_exited arrived
    turns: [],
    turn: null, // the turn new items go to
    tools: new Map(), // toolCallId -> tool item
    outReq: new Map(), // JSON-RPC id (as JSON) -> {method, params, turn}: client->agent requests
    inReq: new Map(), // JSON-RPC id (as JSON) -> {method, params, item}: agent->client requests
    onChange: init.onChange || null,
  };
}

const key = (id) => JSON.stringify(id);

function changed(T, item, turn, isNew) {
  item.rev = (item.rev || 0) + 1;
  if (T.onChange) T.onChange(item, turn, isNew);
}

/** The turn items go to, opened when there is none. */
export function currentTurn(T) {
  if (!T.turn) {
    T.turn = { items: [], user: null, fromPrompt: false, answered: false, promptId: null, stop: null };
    T.turns.push(T.turn);
  }
  return T.turn;
}

function newTurn(T) {
  T.turn = null;
  return currentTurn(T);
}

/** Adds an item to a turn (the current one by default). */
export function addItem(T, item, turn = currentTurn(T)) {
  turn.items.push(item);
  changed(T, item, turn, true);
  return item;
}

export const addSys = (T, text) => addItem(T, { kind: 'sys', text });
export const addError = (T, text, extra) => addItem(T, { kind: 'err', text, extra: extra ?? null });
export function addRpcError(T, err, method, turn) {
  err = err || {};
  return addItem(T, { kind: 'err', text: `JSON-RPC error${method ? ' in ' + method : ''}: ${err.code} ${err.message || ''}`, extra: err.data ?? null, code: err.code }, turn);
}

/** Plain text of an ACP content block (for logs and bubbles that do not show media). */
export function blockText(b) {
  if (!b || typeof b !== 'object') return b == null ? '' : String(b);
  switch (b.type) {
    case 'text': return b.text || '';
    case 'image': return `[image ${b.mimeType || ''}${b.uri ? ' ' + b.uri : ''}]`;
    case 'audio': return `[audio ${b.mimeType || ''}]`;
    case 'resource_link': return `[${b.title || b.name || 'link'}: ${b.uri}]`;
    case 'resource': return b.resource ? (b.resource.text != null ? b.resource.text : `[resource ${b.resource.uri}]`) : '';
    default: return JSON.stringify(b);
  }
}

/** Folds one envelope. dir: 'out' (client to agent) or 'in' (agent to client). */
export function applyEnvelope(T, dir, env) {
  if (!env || typeof env !== 'object' || Array.isArray(env)) return;
  const isReq = typeof env.method === 'string' && 'id' in env;
  if (typeof env.method === 'string') {
    if (dir === 'out') return isReq ? clientRequest(T, env) : clientNotification(T, env);
    return isReq ? agentRequest(T, env) : agentNotification(T, env);
  }
  if ('id' in env) return dir === 'in' ? agentResponse(T, env) : clientResponse(T, env);
}

/* ---- client to agent ------------------------------------------------------------------- */

function clientRequest(T, env) {
  const p = env.params || {};
  const rec = { method: env.method, params: p, turn: null };
  T.outReq.set(key(env.id), rec);
  if (env.method === 'session/prompt') {
    if (T.sessionId && p.sessionId && p.sessionId !== T.sessionId) return;
    const t = newTurn(T);
    t.promptId = env.id;
    t.fromPrompt = true;
    rec.turn = t;
    t.user = addItem(T, { kind: 'user', blocks: Array.isArray(p.prompt) ? p.prompt : [], who: 'you' }, t);
  }
}

function clientNotification(T, env) {
  if (env.method === 'session/cancel') addSys(T, 'Cancelling…');
}

// The client's answer to an agent request: a permission card shows what was chosen.
function clientResponse(T, env) {
  const req = T.inReq.get(key(env.id));
  if (!req) return;
  T.inReq.delete(key(env.id));
  const item = req.item;
  if (!item) return;
  if (item.kind === 'perm') {
    const o = env.result && env.result.outcome;
    let label = 'cancelled';
    if (env.error) label = `error ${env.error.code}`;
    else if (o && o.outcome === 'selected') {
      const opt = (item.options || []).find((x) => x.optionId === o.optionId);
      label = opt ? opt.name || opt.optionId : o.optionId;
    }
    item.state = 'answered';
    item.answer = item.answer || label;
  } else {
    item.answered = true;
    item.answer = env.error ? `answered ${env.error.code}` : 'answered';
  }
  changed(T, item, req.turn, false);
}

/* ---- agent to client ------------------------------------------------------------------- */

function agentRequest(T, env) {
  const p = env.params || {};
  const turn = currentTurn(T);
  turn.answered = true;
  let item;
  if (env.method === 'session/request_permission') {
    const tc = p.toolCall || {};
    item = { kind: 'perm', reqId: env.id, sessionId: p.sessionId || null, toolCall: tc, options: Array.isArray(p.options) ? p.options : [], state: 'pending', answer: null };
  } else {
    item = { kind: 'areq', reqId: env.id, method: env.method, params: p, answered: false, answer: null };
  }
  T.inReq.set(key(env.id), { method: env.method, params: p, item, turn });
  addItem(T, item, turn);
}

function agentNotification(T, env) {
  const p = env.params || {};
  switch (env.method) {
    case 'session/update':
      if (T.sessionId && p.sessionId && p.sessionId !== T.sessionId) return; // another session on the server
      if (p.update) update(T, p.update);
      return;
    case '_adapter/agent_exited':
      T.exited = { code: p.code ?? null, signal: p.signal ?? null };
      addItem(T, { kind: 'exit', code: p.code ?? null });
      return;
    case '_adapter/invalid_stdout':
      addError(T, 'agent wrote a non-JSON line: ' + (p.error || ''), p.raw);
      return;
    default:
      return;
  }
}

function agentResponse(T, env) {
  const k = key(env.id);
  const req = T.outReq.get(k);
  T.outReq.delete(k);
  const res = env.result;
  if (!req) {
    // Someone else's request (an attached server's history): keep what it tells.
    if (env.error) return void addRpcError(T, env.error);
    if (res && typeof res === 'object') {
      if (res.agentInfo && !T.agentInfo) T.agentInfo = res.agentInfo;
      if (typeof res.sessionId === 'string' && !T.sessionId) adoptSession(T, res);
      else if (Array.isArray(res.configOptions)) T.configOptions = res.configOptions;
      if (res.stopReason) stop(T, res, currentTurn(T));
    }
    return;
  }
  if (env.error) return void addRpcError(T, env.error, req.method, req.turn || undefined);
  const p = req.params || {};
  switch (req.method) {
    case 'initialize':
      T.agentInfo = (res && res.agentInfo) || null;
      T.agentCapabilities = (res && res.agentCapabilities) || null;
      return;
    case 'session/new':
    case 'session/load':
    case 'session/resume':
      if (res && typeof res === 'object') adoptSession(T, { sessionId: res.sessionId || p.sessionId, ...res });
      return;
    case 'session/prompt':
      if (res && res.stopReason) stop(T, res, req.turn || currentTurn(T));
      else addItem(T, { kind: 'stop', reason: '', usage: null }, req.turn || currentTurn(T));
      return;
    case 'session/set_mode':
      if (T.modes) T.modes.currentModeId = p.modeId;
      syncModeOption(T, p.modeId);
      return;
    case 'session/set_config_option':
      if (res && Array.isArray(res.configOptions)) T.configOptions = res.configOptions;
      addSys(T, `${p.configId} → ${p.value}`);
      return;
    case 'session/set_model':
      addSys(T, `model → ${p.modelId}`);
      return;
    default:
      return;
  }
}

function adoptSession(T, res) {
  if (typeof res.sessionId === 'string') T.sessionId = res.sessionId;
  if (res.modes) T.modes = res.modes;
  if (Array.isArray(res.configOptions)) T.configOptions = res.configOptions;
}

function stop(T, res, turn) {
  if (res.usage) T.lastTurnUsage = res.usage;
  turn.stop = addItem(T, { kind: 'stop', reason: res.stopReason, usage: res.usage || null }, turn);
  T.turn = null; // what comes next (a replay, another client's turn) starts afresh
}

// The mode config option (the folded picker) follows the ACP mode.
function syncModeOption(T, modeId) {
  for (const o of T.configOptions || []) {
    if (o.category === 'mode' && flatOptions(o).some((x) => x.value === modeId)) o.currentValue = modeId;
  }
}

/** A select option list with its groups flattened. */
export function flatOptions(o) {
  const out = [];
  for (const x of o.options || []) {
    if (Array.isArray(x.options)) out.push(...x.options); else out.push(x);
  }
  return out;
}

/* ---- session/update -------------------------------------------------------------------- */

function update(T, u) {
  const kind = u.sessionUpdate;
  if (kind === 'user_message_chunk') return userChunk(T, u.content);
  switch (kind) {
    case 'agent_message_chunk':
    case 'agent_thought_chunk':
      return textChunk(T, kind === 'agent_message_chunk' ? 'agent' : 'thought', blockText(u.content));
    case 'tool_call':
    case 'tool_call_update':
      return toolUpdate(T, u);
    case 'plan':
      return planUpdate(T, Array.isArray(u.entries) ? u.entries : []);
    case 'current_mode_update':
      if (!T.modes) T.modes = { currentModeId: u.currentModeId, availableModes: [] };
      T.modes.currentModeId = u.currentModeId;
      syncModeOption(T, u.currentModeId);
      addSys(T, 'mode → ' + u.currentModeId);
      return;
    case 'config_option_update':
      T.configOptions = u.configOptions || [];
      addSys(T, 'config options updated');
      return;
    case 'available_commands_update':
      T.commands = u.availableCommands || [];
      addSys(T, 'available commands: ' + (T.commands.map((c) => '/' + c.name).join(' ') || 'none'));
      return;
    case 'session_info_update':
      if (u.title) T.title = u.title;
      addSys(T, 'title → ' + (u.title || ''));
      return;
    case 'usage_update':
      T.usage = { used: u.used ?? null, size: u.size ?? null, cost: u.cost || null };
      markAnswered(T);
      if (T.onChange) T.onChange(null, null, false); // the meter is not an item
      return;
    default:
      markAnswered(T);
      addSys(T, 'update: ' + kind);
  }
}

function markAnswered(T) { currentTurn(T).answered = true; }

function userChunk(T, content) {
  let t = T.turn;
  // The agent's echo of a prompt we saw being sent adds nothing: the prompt's own blocks
  // (with its images) stay. Otherwise (session/load replays, another client's prompt whose
  // request we did not see) the chunks make the user message.
  if (t && t.fromPrompt && !t.answered) return;
  if (!t || t.answered || !t.user) {
    t = newTurn(T);
    t.user = addItem(T, { kind: 'user', blocks: [], who: 'user' }, t);
  }
  t.user.blocks.push(content);
  changed(T, t.user, t, false);
}

function textChunk(T, kind, text) {
  const t = currentTurn(T);
  t.answered = true;
  // Text merges into the turn's last item (status lines aside) when it is of its kind;
  // after a tool, a plan or a permission it starts a new one, so the turn reads in order.
  let target = null;
  for (let i = t.items.length - 1; i >= 0; i--) {
    if (t.items[i].kind === 'sys') continue;
    if (t.items[i].kind === kind) target = t.items[i];
    break;
  }
  if (target) {
    target.text += text;
    changed(T, target, t, false);
  } else {
    addItem(T, { kind, text }, t);
  }
}

function toolUpdate(T, u) {
  const t = currentTurn(T);
  t.answered = true;
  let item = T.tools.get(u.toolCallId);
  const isNew = !item;
  if (!item) {
    item = { kind: 'tool', id: u.toolCallId, d: {}, diffs: [] };
    T.tools.set(u.toolCallId, item);
    t.items.push(item);
  }
  for (const [k, v] of Object.entries(u)) if (k !== 'sessionUpdate' && v !== undefined) item.d[k] = v;
  item.status = item.d.status || 'pending';
  item.diffs = (Array.isArray(item.d.content) ? item.d.content : []).filter((c) => c && c.type === 'diff').map((c) => {
    const hunks = lineDiff(c.oldText ?? '', c.newText ?? '');
    return { path: c.path || '', isNew: c.oldText == null, hunks, stats: diffStats(hunks) };
  });
  changed(T, item, t, isNew);
}

/** The tool's non-diff content as text lines (text blocks, terminals). */
export function toolTexts(item) {
  return (Array.isArray(item.d.content) ? item.d.content : []).map((c) => {
    if (!c || typeof c !== 'object') return '';
    if (c.type === 'content') return blockText(c.content);
    if (c.type === 'diff') return '';
    if (c.type === 'terminal') return `[terminal ${c.terminalId}]`;
    return JSON.stringify(c);
  }).filter((x) => x !== '');
}

// One plan per turn: each plan update replaces its entries (ACP sends the whole plan).
function planUpdate(T, entries) {
  const t = currentTurn(T);
  t.answered = true;
  let item = t.items.find((x) => x.kind === 'plan');
  if (item) {
    item.entries = entries;
    changed(T, item, t, false);
  } else {
    addItem(T, { kind: 'plan', entries }, t);
  }
}

/** Folds a page of journal events (SessionEvent objects) in order. */
export function applySessionEvents(T, events) {
  for (const e of events) applyEnvelope(T, e.sender === 'client' ? 'out' : 'in', e.payload);
}

/** The permission reply of the REST API (once | always | reject) for an ACP option kind. */
export function restReplyOf(kind) {
  if (kind === 'allow_once') return 'once';
  if (kind === 'allow_always') return 'always';
  return 'reject';
}

/** Usage as text: "1.2k / 200k tokens (0.6%) · $0.01". */
export function usageText(u) {
  if (!u) return '';
  const k = (n) => (n >= 1000 ? (n / 1000).toFixed(n >= 10000 ? 0 : 1) + 'k' : String(n));
  let s = '';
  if (u.used != null) s = u.size ? `${k(u.used)} / ${k(u.size)} tokens (${((u.used / u.size) * 100).toFixed(1)}%)` : `${k(u.used)} tokens`;
  if (u.cost && u.cost.amount != null) s += `${s ? ' · ' : ''}${u.cost.currency === 'USD' || !u.cost.currency ? '$' : u.cost.currency + ' '}${Number(u.cost.amount).toFixed(u.cost.amount < 1 ? 4 : 2)}`;
  return s;
}
