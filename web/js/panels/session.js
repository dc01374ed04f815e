// panels/session.js - the session view: the server's session index (every session, whoever
// created it) and the live ACP servers on the left; create, end, delete and resume; the
// transcript (transcript.js folds it, this file draws it) with mode and config pickers,
// inline permissions, a usage meter, and a prompt box that takes attachments.
//
// A session is shown one of two ways (a "view", V below):
// - 'acp': an ACP server this page drives (created here, or attached from the servers
//   list), over acp.js: POSTs out, the server's SSE in. Everything ACP offers works.
// - 'index': a session picked from the list: its journal (GET /v1/sessions/{id}/events,
//   paged), then its SSE follow for live events; prompts, permission replies and cancel go
//   through the REST API, which also resumes an ended session (session/load).

import { loadCss } from '../dom.js';
import { url as apiUrl } from '../api.js';
import { AcpClient, readSse } from '../acp.js';
import { createTranscript, applyEnvelope, applySessionEvents, addSys, addError, addRpcError, flatOptions,
  blockText, toolTexts, restReplyOf, usageText } from '../transcript.js';
import { renderMarkdown } from '../markdown.js';
import { publishEnvelope } from './events.js';

const enc = encodeURIComponent;
let ctx, api, dom, h, $;
let root; // the panel's element
let V = null; // the view shown (owned here; closeView() releases its stream)
let agents = [];
let sessions = [];
let timers = [];

/* ---- views -------------------------------------------------------------------------- */

function newView(kind, props) {
  const v = { kind, running: false, busy: false, closed: false, chatEl: h('div', { class: 'chatlog' }),
    els: new Map(), turnEls: new Map(), optsKey: '', ...props };
  v.T = createTranscript({ ...(props.init || {}), onChange: (item, turn, isNew) => drawItem(v, item, turn, isNew) });
  return v;
}

function closeView() {
  if (!V) return;
  V.closed = true;
  if (V.acp) V.acp.close();
  if (V.follow) V.follow.abort();
  V = null;
}

function show(v) {
  V = v;
  $('#chat', root).replaceChildren(v.chatEl);
  refresh();
  markCurrent();
}

function refresh() {
  updateInfo();
  renderOpts();
  updateButtons();
}

function wire(v) {
  return {
    onWire: (dir, env, meta) => publishEnvelope(ctx.bus, { dir, serverId: v.serverId, envelope: env, id: meta.id, raw: meta.raw }),
    onEnvelope: (dir, env) => {
      try {
        applyEnvelope(v.T, dir, env);
        if (dir === 'in' && env && typeof env.method === 'string' && 'id' in env && env.method !== 'session/request_permission' && v.owned) {
          // The Inspector implements no client methods (fs, terminal): say so at once.
          v.acp.reply(env.id, { error: { code: -32601, message: 'Method not found: ' + env.method } })
            .catch((e) => addError(v.T, `Could not answer ${env.method}: ${e.message}`));
        }
      } catch (e) { addError(v.T, 'UI failed to render an event: ' + e.message, env); }
      if (v === V) { updateInfo(); renderOpts(); }
    },
    onStream: (cls, text) => { if (v === V) setPill($('#stream', root), cls, text); },
    onGone: (why) => {
      addSys(v.T, 'Stream ended: ' + why);
      if (v === V) refresh();
    },
  };
}

function acpView(serverId, agent, owned) {
  const v = newView('acp', { serverId, agent, owned });
  v.acp = new AcpClient({ serverId, agent, owned, ...wire(v) });
  return v;
}

/* ---- drawing the transcript ---------------------------------------------------------- */

function turnEl(v, turn) {
  let el = v.turnEls.get(turn);
  if (!el) {
    el = h('div', { class: 'turn' });
    v.turnEls.set(turn, el);
    v.chatEl.append(el);
  }
  return el;
}

function drawItem(v, item, turn, isNew) {
  if (!item) { if (v === V) updateInfo(); return; }
  const el = renderItem(v, item);
  const old = v.els.get(item);
  v.els.set(item, el);
  if (old) old.replaceWith(el);
  else turnEl(v, turn).append(el);
  if (isNew && v === V) stick();
}

const agentName = (v) => (v.T.agentInfo && (v.T.agentInfo.title || v.T.agentInfo.name)) || v.agent || 'agent';

function renderItem(v, it) {
  switch (it.kind) {
    case 'user': return userBubble(it);
    case 'agent': return h('div', { class: 'msg agent' }, h('div', { class: 'who', text: agentName(v) }),
      h('div', { class: 'body md', html: renderMarkdown(it.text) }));
    case 'thought': return h('details', { class: 'thought', open: true }, h('summary', { text: 'Thinking' }), h('div', { class: 'body', text: it.text }));
    case 'plan': return h('div', { class: 'plan' }, h('h4', { text: 'Plan' }), h('ul', {}, it.entries.map((e) =>
      h('li', { class: e.status || 'pending', 'data-status': e.status || 'pending' }, h('span', { text: e.content || '' }), e.priority ? h('span', { class: 'prio', text: e.priority }) : null))));
    case 'tool': return toolCard(it);
    case 'perm': return permCard(v, it);
    case 'areq': return agentRequestLine(v, it);
    case 'sys': return h('div', { class: 'sys', text: it.text });
    case 'err': return h('div', { class: 'err' }, it.text, it.extra != null ? h('pre', { text: typeof it.extra === 'string' ? it.extra : dom.pretty(it.extra) }) : null);
    case 'stop': {
      if (!it.reason) return h('div', { class: 'stop', 'data-reason': '' }, 'turn ended without a stopReason');
      const el = h('div', { class: 'stop', 'data-reason': it.reason }, 'stopReason: ', h('b', { text: it.reason }));
      if (it.usage && it.usage.totalTokens != null) el.append(` · ${it.usage.totalTokens} tokens`);
      return el;
    }
    case 'exit': return h('div', { class: 'exit', 'data-code': String(it.code) }, `agent exited (code ${it.code == null ? 'none: killed by a signal' : it.code})`);
    default: return h('div', { class: 'sys', text: it.kind });
  }
}

function userBubble(it) {
  const text = it.blocks.filter((b) => b && b.type === 'text').map((b) => b.text).join('');
  const atts = it.blocks.filter((b) => b && b.type !== 'text').map((b) => {
    if (b.type === 'image' && b.data) return h('img', { class: 'thumb', alt: b.name || 'image', src: `data:${b.mimeType || 'image/png'};base64,${b.data}` });
    if (b.type === 'resource' && b.resource) return h('span', { class: 'chip', title: b.resource.uri || '', text: '📄 ' + (b.resource.uri || 'resource').split('/').pop() });
    return h('span', { class: 'chip', text: blockText(b) });
  });
  return h('div', { class: 'msg user' }, h('div', { class: 'who', text: it.who }), h('div', { class: 'body', text }),
    atts.length ? h('div', { class: 'atts' }, atts) : null);
}

function toolCard(it) {
  const d = it.d, status = it.status;
  const texts = toolTexts(it);
  const locs = Array.isArray(d.locations) ? d.locations.map((l) => l.path + (l.line ? ':' + l.line : '')).join(', ') : '';
  const raw = {};
  if (d.rawInput !== undefined) raw.rawInput = d.rawInput;
  if (d.rawOutput !== undefined) raw.rawOutput = d.rawOutput;
  return h('div', { class: 'tool', 'data-tool-call-id': it.id, 'data-status': status },
    h('div', { class: 'th' }, h('span', { class: 'kind', text: d.kind || 'tool' }), h('span', { class: 'title', text: d.title || it.id }),
      h('span', { class: 'status ' + status, text: status })),
    locs ? h('div', { class: 'muted', text: locs }) : null,
    it.diffs.map(diffView),
    texts.length ? h('pre', { class: 'tcontent', text: texts.join('\n') }) : null,
    Object.keys(raw).length ? h('details', {}, h('summary', { text: 'raw input / output' }), h('pre', { text: dom.pretty(raw) })) : null);
}

function diffView(df) {
  const lines = [];
  for (const hk of df.hunks) {
    lines.push(h('span', { class: 'dl hunk', text: `@@ -${hk.oldStart},${hk.oldLines} +${hk.newStart},${hk.newLines} @@` }));
    for (const l of hk.lines) lines.push(h('span', { class: 'dl ' + (l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'ctx'), text: l.op + l.text }));
  }
  return h('div', { class: 'diff', 'data-path': df.path },
    h('div', { class: 'diff-h' }, h('code', { text: df.path || '(no path)' }), df.isNew ? h('span', { class: 'badge', text: 'new file' }) : null,
      h('span', { class: 'dstat' }, h('span', { class: 'add', text: '+' + df.stats.add }), ' ', h('span', { class: 'del', text: '−' + df.stats.del }))),
    df.hunks.length ? h('pre', { class: 'diff-body' }, lines) : h('div', { class: 'muted', text: 'no changes' }));
}

function permCard(v, it) {
  const tc = it.toolCall || {};
  const pending = it.state === 'pending';
  const btns = h('div', { class: 'btns' },
    it.options.map((o) => h('button', { type: 'button', class: 'opt ' + (o.kind || ''), 'data-option': o.optionId, title: o.kind || '',
      disabled: !pending, text: o.name || o.optionId, onclick: () => answerPerm(v, it, o) })),
    h('button', { type: 'button', class: 'opt dismiss', 'data-option': '', disabled: !pending,
      text: v.kind === 'index' ? 'Dismiss (reject)' : 'Dismiss (cancelled)', onclick: () => answerPerm(v, it, null) }));
  return h('div', { class: 'perm', 'data-state': pending ? 'pending' : 'answered' },
    h('div', {}, 'Permission requested: ', h('b', { text: tc.title || tc.toolCallId || 'tool call' }), tc.kind ? h('span', { class: 'kind', text: tc.kind }) : null),
    btns, h('div', { class: 'ans', text: it.answer ? '→ ' + it.answer : '' }));
}

async function answerPerm(v, it, option, label) {
  if (it.state !== 'pending') return;
  it.state = 'answered';
  it.answer = label || (option ? option.name || option.optionId : 'cancelled');
  drawItem(v, it, null, false);
  try {
    if (v.kind === 'acp') {
      const outcome = option ? { outcome: 'selected', optionId: option.optionId } : { outcome: 'cancelled' };
      await v.acp.reply(it.reqId, { result: { outcome } });
    } else {
      const reqId = typeof it.reqId === 'string' ? it.reqId : String(it.reqId);
      await api.api('POST', `/v1/sessions/${enc(v.id)}/permissions/${enc(reqId)}`, { reply: restReplyOf(option ? option.kind : 'reject_once') });
    }
  } catch (e) { addError(v.T, 'Permission reply failed: ' + e.message); }
}

function agentRequestLine(v, it) {
  if (v.kind === 'acp' && v.owned) return h('div', { class: 'sys', text: `Agent asked ${it.method}: answered -32601 (not supported by the inspector)` });
  if (it.answered || v.kind !== 'acp') return h('div', { class: 'sys', text: `Agent asked ${it.method}${it.answer ? ': ' + it.answer : ''}` });
  // An attached server replays its history: the request may have been answered already.
  const b = h('button', { class: 'sm', type: 'button', text: 'answer -32601', onclick: () => {
    b.disabled = true;
    v.acp.reply(it.reqId, { error: { code: -32601, message: 'Method not found: ' + it.method } }).catch((e) => addError(v.T, e.message));
  } });
  return h('div', { class: 'sys' }, `Agent asked ${it.method} (id ${JSON.stringify(it.reqId)}) `, b);
}

/* Keep the chat scrolled to the bottom while the user has not scrolled up. */
function stick() {
  const pane = $('#chat', root);
  if (pane.stick !== false) pane.scrollTop = pane.scrollHeight;
}

/* ---- header: info, usage, buttons, pickers ------------------------------------------- */

function setPill(el, cls, text) { el.className = 'pill ' + cls; el.lastElementChild.textContent = text; }

function updateInfo() {
  const el = $('#sessInfo', root);
  const v = V;
  if (!v) { el.textContent = 'No session. Pick an agent and start one, or open one from the list.'; setUsage(null); return; }
  const T = v.T, parts = [];
  if (v.serverId) parts.push('server ', h('b', { text: v.serverId }));
  if (T.sessionId) parts.push(parts.length ? ' · ' : '', 'session ', h('b', { id: 'sessionId', text: T.sessionId }));
  if (T.agentInfo) parts.push(' · ' + (T.agentInfo.title || T.agentInfo.name || '') + (T.agentInfo.version ? ' ' + T.agentInfo.version : ''));
  const title = T.title || (v.session && v.session.title);
  if (title) parts.push(' · “' + title + '”');
  if (v.kind === 'index' && v.session) parts.push(' · ', h('span', { class: 'st st-' + v.session.status, text: v.session.status }));
  el.replaceChildren(...parts);
  setUsage(T);
}

function setUsage(T) {
  const box = $('#usage', root);
  const u = T && (T.usage || (T.lastTurnUsage && T.lastTurnUsage.totalTokens != null ? { used: T.lastTurnUsage.totalTokens } : null));
  box.classList.toggle('hidden', !u);
  if (!u) return;
  const m = $('#usageMeter', root);
  m.max = u.size || 1;
  m.value = u.size ? Math.min(u.used || 0, u.size) : 0;
  m.classList.toggle('hidden', !u.size);
  $('#usageText', root).textContent = usageText(u);
}

function live(v) {
  if (!v || v.closed) return false;
  if (v.kind === 'acp') return !v.acp.closed;
  return true; // an index session can always take a prompt: an ended one is resumed
}

function updateButtons() {
  const v = V, ok = live(v);
  $('#send', root).disabled = !ok || v.running || v.busy || (v.kind === 'acp' && !v.T.sessionId && v.owned);
  $('#send', root).textContent = v && v.kind === 'index' && v.session && v.session.status !== 'active' ? 'Resume' : 'Send';
  $('#cancel', root).disabled = !ok || !v.running;
  $('#endSess', root).disabled = !v || (v.kind === 'acp' ? v.acp.closed : !(v.session && v.session.status === 'active'));
  $('#delSess', root).disabled = !v || !(v.kind === 'index' || v.T.sessionId);
  const ended = !!(v && v.kind === 'index' && v.session && v.session.status !== 'active');
  $('#resumeSess', root).classList.toggle('hidden', !ended);
  $('#attach', root).disabled = !v || v.kind !== 'acp';
  $('#attach', root).title = v && v.kind === 'index' ? 'the REST API takes text prompts only: Resume over ACP to attach files' : 'attach images or files';
}

function renderOpts() {
  const box = $('#opts', root);
  const v = V;
  const T = v && v.T;
  const key = T ? JSON.stringify([T.modes, T.configOptions, v.kind, live(v)]) : '';
  if (v && key === v.optsKey && box.childElementCount) return;
  if (v) v.optsKey = key;
  box.replaceChildren();
  if (!v) return;
  // Pickers drive ACP; an index session takes them only while an ACP view drives it.
  const disabled = !live(v) || v.kind !== 'acp';
  const modeOpt = (T.configOptions || []).find((o) => o.category === 'mode' && o.type !== 'boolean');
  const m = T.modes;
  // One mode picker: the ACP modes, tied to the mode config option when the agent has one
  // (set_mode moves both; the agent's current_mode_update keeps them in step).
  if (m && Array.isArray(m.availableModes) && m.availableModes.length) {
    const sel = h('select', { id: 'modeSel', 'data-config': modeOpt ? modeOpt.id : null, disabled, onchange: () => setMode(v, sel.value) },
      ...m.availableModes.map((x) => h('option', { value: x.id, title: x.description || '', text: x.name || x.id })));
    sel.value = m.currentModeId;
    box.append(h('label', { title: 'session/set_mode' }, 'Mode', sel));
  }
  for (const o of T.configOptions || []) {
    if (o === modeOpt && m && m.availableModes && m.availableModes.length) continue;
    if (o.type === 'boolean') {
      const cb = h('input', { type: 'checkbox', 'data-config': o.id, disabled, onchange: () => setConfig(v, o.id, cb.checked) });
      cb.checked = !!o.currentValue;
      box.append(h('label', { title: o.description || '' }, o.name || o.id, cb));
      continue;
    }
    const opt = (x) => h('option', { value: x.value, title: x.description || '', text: x.name || x.value });
    const sel = h('select', { 'data-config': o.id, id: o === modeOpt ? 'modeSel' : null, disabled, onchange: () => setConfig(v, o.id, sel.value) },
      ...(o.options || []).map((x) => (Array.isArray(x.options) ? h('optgroup', { label: x.name || x.group }, ...x.options.map(opt)) : opt(x))));
    sel.value = o.currentValue;
    box.append(h('label', { title: o.description || '' }, o.name || o.id, sel));
  }
}

async function setMode(v, modeId) {
  try {
    await v.acp.rpc('session/set_mode', { sessionId: v.T.sessionId, modeId });
  } catch (e) { addError(v.T, 'session/set_mode: ' + e.message); }
  v.optsKey = '';
  if (v === V) renderOpts();
}

async function setConfig(v, configId, value) {
  try {
    await v.acp.rpc('session/set_config_option', { sessionId: v.T.sessionId, configId, value });
  } catch (e) { addError(v.T, 'session/set_config_option: ' + e.message); }
  v.optsKey = '';
  if (v === V) renderOpts();
}

/* ---- lifecycle: create, attach, open, end, delete, resume ---------------------------- */

async function startSession() {
  closeView();
  const agent = $('#agentSel', root).value || 'mock';
  const cwd = $('#cwdIn', root).value.trim() || '/';
  const model = $('#newModel', root).value, mode = $('#newMode', root).value;
  const v = acpView(`ui-${agent}-${dom.randHex(4)}`, agent, true);
  v.busy = true;
  show(v);
  setPill($('#stream', root), 'wait', 'starting…');
  addSys(v.T, `Starting ${agent} on ACP server ${v.serverId}…`);
  try {
    if (!(await bootstrap(v))) return;
    const nw = await v.acp.rpc('session/new', { cwd, mcpServers: [] });
    if (nw.error) return;
    if (!v.T.sessionId) { addError(v.T, 'session/new returned no sessionId', nw.result); return; }
    if (mode && v.T.modes && v.T.modes.currentModeId !== mode) await v.acp.rpc('session/set_mode', { sessionId: v.T.sessionId, modeId: mode });
    if (model) await setModel(v, model);
    addSys(v.T, 'Session ' + v.T.sessionId + ' ready.');
  } catch (e) {
    if (!v.closed) {
      addError(v.T, 'Could not start the session: ' + e.message);
      setPill($('#stream', root), v.acp.sseOpen ? 'ok' : 'bad', v.acp.sseOpen ? 'stream live' : 'no stream');
    }
  } finally {
    v.busy = false;
    if (v === V) refresh();
    loadServers();
    loadSessions();
  }
}

// initialize, then the stream. False when the agent refused.
async function bootstrap(v) {
  const init = await v.acp.rpc('initialize', { protocolVersion: 1, clientCapabilities: {}, clientInfo: { name: 'sandbox-agent-inspector', version: '1' } });
  if (init.error) return false;
  if (v === V) updateInfo();
  v.acp.stream();
  return true;
}

// A model goes through the model config option when the agent has one, else session/set_model.
async function setModel(v, model) {
  const o = (v.T.configOptions || []).find((x) => x.category === 'model');
  if (o) {
    if (o.currentValue !== model) await v.acp.rpc('session/set_config_option', { sessionId: v.T.sessionId, configId: o.id, value: model });
  } else {
    await v.acp.rpc('session/set_model', { sessionId: v.T.sessionId, modelId: model });
  }
}

function attach(serverId, agent) {
  closeView();
  const v = acpView(serverId, agent, false);
  show(v);
  setPill($('#stream', root), 'wait', 'connecting…');
  addSys(v.T, `Attached to ${serverId} (${agent}); replaying its event log.`);
  v.acp.stream();
  loadServers();
}

/** Opens a session of the index: its journal, then its live follow. */
async function openSession(s) {
  closeView();
  const v = newView('index', { id: s.id, serverId: s.serverId, agent: s.agent, session: s,
    init: { sessionId: s.id, modes: s.modes, configOptions: s.configOptions, title: s.title } });
  show(v);
  setPill($('#stream', root), 'wait', 'reading the journal…');
  let offset = 0;
  try {
    for (;;) {
      const r = await api.request('GET', `/v1/sessions/${enc(s.id)}/events?offset=${offset}&limit=1000`);
      if (r.status === 409 && r.json && /journal/.test(r.json.type || r.json.code || r.json.title || '')) {
        addSys(v.T, 'The server keeps no journal (--journal memory): only live events are shown.');
        break;
      }
      if (!r.ok) throw new api.HttpError(r);
      const items = (r.json && r.json.items) || [];
      if (v.closed) return;
      for (const e of items) publishEnvelope(ctx.bus, { dir: e.sender === 'client' ? 'out' : 'in', serverId: e.connectionId, envelope: e.payload, id: e.eventIndex });
      applySessionEvents(v.T, items);
      if (items.length) offset = items[items.length - 1].eventIndex;
      if (r.json.nextOffset == null || !items.length) break;
      offset = r.json.nextOffset;
    }
  } catch (e) {
    if (!v.closed) addError(v.T, 'Could not read the journal: ' + e.message);
  }
  if (v.closed) return;
  if (!v.T.turns.length) addSys(v.T, 'No events yet.');
  refresh();
  follow(v, offset);
}

// The journal's SSE follow: events after `offset`, then live ones; reconnects while shown.
async function follow(v, offset) {
  let last = offset, delay = 500;
  while (!v.closed) {
    const ctrl = new AbortController();
    v.follow = ctrl;
    try {
      const hd = api.authHeaders({ Accept: 'text/event-stream', 'Last-Event-ID': String(last) });
      const res = await fetch(apiUrl(`/v1/sessions/${enc(v.id)}/events`), { headers: hd, signal: ctrl.signal, cache: 'no-store' });
      if (res.status === 404) { await res.text(); if (v === V) setPill($('#stream', root), 'gone', 'session deleted'); return; }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      if (v === V) setPill($('#stream', root), 'ok', 'following');
      delay = 500;
      await readSse(res.body, (id, data) => {
        let e;
        try { e = JSON.parse(data); } catch { return; }
        if (!e || typeof e.eventIndex !== 'number' || e.eventIndex <= last) return;
        last = e.eventIndex;
        publishEnvelope(ctx.bus, { dir: e.sender === 'client' ? 'out' : 'in', serverId: e.connectionId, envelope: e.payload, id: e.eventIndex });
        try { applyEnvelope(v.T, e.sender === 'client' ? 'out' : 'in', e.payload); } catch (err) { addError(v.T, 'UI failed to render an event: ' + err.message, data); }
        if (v === V) { updateInfo(); renderOpts(); }
      }, () => v.closed, true);
    } catch (e) {
      if (v.closed) return;
      if (v === V) setPill($('#stream', root), 'bad', 'follow: ' + (e.message || e) + ' (retrying)');
    }
    if (v.closed) return;
    await dom.sleep(delay);
    delay = Math.min(delay * 2, 10000);
  }
}

async function endSession() {
  const v = V;
  if (!v) return;
  const serverId = v.serverId;
  if (v.kind === 'acp') {
    v.acp.close();
    setPill($('#stream', root), 'gone', 'closed');
    refresh();
  }
  try {
    const r = await api.request('DELETE', '/v1/acp/' + enc(serverId));
    if (!r.ok && r.status !== 404) addError(v.T, 'Close failed: ' + api.problemText(r));
    else addSys(v.T, 'Closed ACP server ' + serverId + '.');
  } catch (e) { addError(v.T, 'Close failed: ' + e.message); }
  await loadServers();
  await loadSessions();
  if (v === V) refresh();
}

async function deleteSession() {
  const v = V;
  if (!v) return;
  const id = v.kind === 'index' ? v.id : v.T.sessionId;
  if (!id) return;
  try {
    let r = await api.request('DELETE', `/v1/sessions/${enc(id)}`);
    if (r.status === 409 && confirm(`Session ${id} is driven by an ACP client. Close its ACP server and delete it?`)) {
      r = await api.request('DELETE', `/v1/sessions/${enc(id)}?force=true`);
    }
    if (!r.ok && r.status !== 404) { addError(v.T, 'Delete failed: ' + api.problemText(r)); return; }
    ctx.toast(`session ${id} deleted`, 'ok');
    closeView();
    $('#chat', root).replaceChildren();
    refresh();
  } catch (e) { addError(v.T, 'Delete failed: ' + e.message); }
  loadSessions();
  loadServers();
}

/** Resumes an ended session over ACP: a fresh server, initialize, session/load. */
async function resumeSession() {
  const v0 = V;
  if (!v0 || v0.kind !== 'index') return;
  const s = v0.session;
  closeView();
  const v = acpView(`ui-${s.agent}-${dom.randHex(4)}`, s.agent, true);
  v.busy = true;
  show(v);
  addSys(v.T, `Resuming ${s.id} on ACP server ${v.serverId} (session/load replays its history)…`);
  try {
    if (!(await bootstrap(v))) return;
    if (!(v.T.agentCapabilities && v.T.agentCapabilities.loadSession)) { addError(v.T, `${s.agent} cannot load sessions (no agentCapabilities.loadSession)`); return; }
    const r = await v.acp.rpc('session/load', { sessionId: s.id, cwd: s.cwd || '/', mcpServers: [] });
    if (!r.error) addSys(v.T, 'Session ' + s.id + ' resumed.');
  } catch (e) { if (!v.closed) addError(v.T, 'Could not resume: ' + e.message); }
  finally {
    v.busy = false;
    if (v === V) refresh();
    loadServers();
    loadSessions();
  }
}

/* ---- prompts and attachments --------------------------------------------------------- */

let attachments = []; // content blocks waiting for the next prompt: [{block, name}]

async function addFiles(files) {
  for (const f of files) {
    try {
      if (f.type.startsWith('image/')) {
        attachments.push({ name: f.name, block: { type: 'image', mimeType: f.type, data: await base64Of(f) } });
      } else {
        attachments.push({ name: f.name, block: { type: 'resource', resource: { uri: 'file:///' + f.name, mimeType: f.type || 'text/plain', text: await f.text() } } });
      }
    } catch (e) { ctx.toast(`${f.name}: ${e.message}`, 'error'); }
  }
  drawAttachments();
}

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error || new Error('read failed'));
    r.readAsDataURL(file);
  });
}

function drawAttachments() {
  $('#attachList', root).replaceChildren(...attachments.map((a, i) => h('span', { class: 'chip att' },
    a.block.type === 'image' ? h('img', { class: 'thumb sm', alt: '', src: `data:${a.block.mimeType};base64,${a.block.data}` }) : '📄 ',
    a.name, h('button', { type: 'button', class: 'x', 'aria-label': 'remove ' + a.name, text: '×', onclick: () => { attachments.splice(i, 1); drawAttachments(); } }))));
}

async function sendPrompt() {
  const v = V, ta = $('#prompt', root), text = ta.value;
  if (!live(v) || v.running || v.busy || (!text.trim() && !attachments.length)) return;
  v.running = true;
  updateButtons();
  ta.value = '';
  try {
    if (v.kind === 'index') await restPrompt(v, text);
    else await acpPrompt(v, text);
  } finally {
    v.running = false;
    if (v === V) updateButtons();
  }
}

async function acpPrompt(v, text) {
  try {
    if (!v.T.sessionId) { // an attached server without a session yet
      const nw = await v.acp.rpc('session/new', { cwd: '/', mcpServers: [] });
      if (nw.error || !v.T.sessionId) return;
    }
    const prompt = [];
    if (text) prompt.push({ type: 'text', text });
    for (const a of attachments) prompt.push(a.block);
    attachments = [];
    drawAttachments();
    await v.acp.rpc('session/prompt', { sessionId: v.T.sessionId, prompt });
  } catch (e) { addError(v.T, 'session/prompt failed: ' + e.message, e.problem); }
}

// The REST turn answers when it ends; its events arrive meanwhile on the follow.
async function restPrompt(v, text) {
  try {
    const r = await api.request('POST', `/v1/sessions/${enc(v.id)}/messages`, { body: { text } });
    if (!r.ok) {
      if (r.status === 502 && r.json && r.json.error) return; // the journal shows the JSON-RPC error
      addError(v.T, 'prompt failed: ' + api.problemText(r));
    }
  } catch (e) { addError(v.T, 'prompt failed: ' + e.message); }
  await refreshSession(v);
}

async function refreshSession(v) {
  try {
    const r = await api.request('GET', `/v1/sessions/${enc(v.id)}`);
    if (r.ok && r.json) { v.session = r.json; v.serverId = r.json.serverId; }
  } catch { /* the list refresh will tell */ }
  if (v === V) refresh();
}

async function cancelTurn() {
  const v = V;
  if (!v) return;
  if (v.kind === 'index') {
    addSys(v.T, 'Cancelling…');
    const r = await api.request('POST', `/v1/sessions/${enc(v.id)}/cancel`).catch((e) => ({ ok: false, status: 0, text: e.message }));
    if (!r.ok) addError(v.T, 'cancel: ' + api.problemText(r));
    return;
  }
  if (!v.T.sessionId) return;
  try { await v.acp.notify('session/cancel', { sessionId: v.T.sessionId }); }
  catch (e) { addError(v.T, 'session/cancel: ' + e.message); }
  // ACP: after session/cancel every pending permission request of the session is answered "cancelled".
  for (const t of v.T.turns) for (const it of t.items) {
    if (it.kind === 'perm' && it.state === 'pending' && (!it.sessionId || it.sessionId === v.T.sessionId)) answerPerm(v, it, null, 'cancelled (turn cancelled)');
  }
}

/* ---- the lists: agents, sessions, ACP servers ---------------------------------------- */

async function loadAgents() {
  try {
    const r = await api.api('GET', '/v1/agents?config=true');
    agents = Array.isArray(r && r.agents) ? r.agents : [];
  } catch (e) { dom.errLine($('#newErr', root), 'Agents: ' + e.message); return; }
  dom.errLine($('#newErr', root), '');
  const sel = $('#agentSel', root), cur = sel.value || 'mock';
  sel.replaceChildren(...agents.map((a) => h('option', { value: a.id, text: a.id + (a.installed ? '' : ' (not installed)') })));
  sel.value = agents.some((a) => a.id === cur) ? cur : 'mock';
  const fa = $('#sessAgent', root), fcur = fa.value;
  fa.replaceChildren(h('option', { value: '', text: 'all agents' }), ...agents.map((a) => h('option', { value: a.id, text: a.id })));
  fa.value = fcur;
  agentOptions();
}

// The create form's model and mode come from the agent's config options (?config=true).
function agentOptions() {
  const a = agents.find((x) => x.id === $('#agentSel', root).value);
  const opts = (a && a.configOptions) || [];
  for (const [sel, cat] of [[$('#newModel', root), 'model'], [$('#newMode', root), 'mode']]) {
    const o = opts.find((x) => x.category === cat);
    const list = o ? flatOptions(o) : [];
    sel.replaceChildren(h('option', { value: '', text: 'default' + (o && o.currentValue ? ` (${o.currentValue})` : '') }),
      ...list.map((x) => h('option', { value: x.value, text: x.name || x.value })));
    sel.disabled = !list.length;
  }
}

async function loadSessions() {
  const all = [];
  try {
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const r = await api.api('GET', '/v1/sessions?limit=1000' + (cursor ? '&cursor=' + enc(cursor) : ''));
      all.push(...((r && r.items) || []));
      if (!r || !r.nextCursor) break;
      cursor = r.nextCursor;
    }
  } catch (e) { dom.errLine($('#sessErr', root), 'Sessions: ' + e.message); return; }
  dom.errLine($('#sessErr', root), '');
  sessions = all.sort((a, b) => (b.lastActivityAt || b.createdAt) - (a.lastActivityAt || a.createdAt));
  const v = V;
  if (v && v.kind === 'index') {
    const s = sessions.find((x) => x.id === v.id);
    if (s && (s.status !== v.session.status || s.title !== v.session.title)) { v.session = s; v.serverId = s.serverId; refresh(); }
  }
  drawSessions();
}

function drawSessions() {
  const q = $('#sessFilter', root).value.trim().toLowerCase(), ag = $('#sessAgent', root).value, st = $('#sessStatus', root).value;
  const now = Date.now();
  const shown = sessions.filter((s) => (!ag || s.agent === ag) && (!st || s.status === st)
    && (!q || [s.id, s.title, s.agent, s.cwd, s.serverId].some((x) => x && String(x).toLowerCase().includes(q))));
  $('#sessList', root).replaceChildren(...shown.map((s) => h('li', {},
    h('button', { type: 'button', class: 'sess-item', 'data-session': s.id, onclick: () => openSession(s) },
      h('span', { class: 'stitle', text: s.title || '(untitled)' }),
      h('span', { class: 'smeta' }, h('code', { text: s.agent }), ' ', h('span', { class: 'st st-' + s.status, text: s.status }),
        ' ', h('span', { class: 'muted', text: `${s.origin || ''} · ${dom.fmtDur(now - (s.lastActivityAt || s.createdAt))} ago · ${s.eventCount ?? 0} events` }))))));
  $('#sessEmpty', root).classList.toggle('hidden', shown.length > 0);
  $('#sessEmpty', root).textContent = sessions.length ? 'No session matches the filter.' : 'No sessions yet.';
  markCurrent();
}

function markCurrent() {
  const id = V && (V.kind === 'index' ? V.id : V.T.sessionId);
  for (const b of root.querySelectorAll('.sess-item')) {
    if (b.dataset.session === id) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
  }
}

async function loadServers() {
  let list;
  try {
    const r = await api.api('GET', '/v1/acp');
    list = Array.isArray(r && r.servers) ? r.servers : [];
  } catch (e) { dom.errLine($('#srvErr', root), 'ACP servers: ' + e.message); return null; }
  dom.errLine($('#srvErr', root), '');
  const now = Date.now();
  $('#servers tbody', root).replaceChildren(...list.map((sv) => {
    const cur = V && V.kind === 'acp' && V.serverId === sv.serverId;
    return h('tr', { 'data-server': sv.serverId },
      h('td', {}, h('code', { text: sv.serverId }), cur ? h('span', { class: 'badge', text: 'current' }) : null),
      h('td', {}, h('code', { text: sv.agent })),
      h('td', { class: 'muted', text: sv.createdAtMs ? dom.fmtDur(now - sv.createdAtMs) : '' }),
      h('td', { class: 'acts' },
        cur ? null : h('button', { class: 'sm', type: 'button', text: 'Attach', onclick: () => attach(sv.serverId, sv.agent) }), ' ',
        h('button', { class: 'sm danger', type: 'button', text: 'Close', 'data-close': sv.serverId, onclick: () => closeServer(sv.serverId) })));
  }));
  $('#srvEmpty', root).classList.toggle('hidden', list.length > 0);
  return list;
}

async function closeServer(id) {
  if (V && V.kind === 'acp' && V.serverId === id) return endSession();
  try {
    const r = await api.request('DELETE', '/v1/acp/' + enc(id));
    if (!r.ok && r.status !== 404) dom.errLine($('#srvErr', root), 'Close ' + id + ': ' + api.problemText(r));
  } catch (e) { dom.errLine($('#srvErr', root), 'Close ' + id + ': ' + e.message); }
  loadServers();
  loadSessions();
}

function startPolling() {
  stopPolling();
  const every = (ms, fn) => {
    let stopped = false;
    (async () => { while (!stopped) { await dom.sleep(ms); if (!stopped) await fn(); } })();
    timers.push(() => { stopped = true; });
  };
  every(3000, loadServers);
  every(4000, loadSessions);
  every(15000, loadAgents);
}
function stopPolling() { for (const t of timers) t(); timers = []; }

/* ---- the panel ------------------------------------------------------------------------- */

function build() {
  const sel = (id, label, ...kids) => h('label', {}, label, h('select', { id }, ...kids));
  return h('div', { class: 'sess-layout' },
    h('aside', { class: 'sess-side' },
      h('section', { class: 'card', 'aria-labelledby': 'sessListH' },
        h('h2', { id: 'sessListH' }, 'Sessions', h('span', { class: 'sp' }), h('button', { class: 'sm', type: 'button', id: 'sessRefresh', text: 'Refresh' })),
        h('div', { class: 'sess-filters' },
          h('input', { id: 'sessFilter', type: 'search', placeholder: 'filter: title, id, cwd', 'aria-label': 'filter sessions', autocomplete: 'off' }),
          h('select', { id: 'sessAgent', 'aria-label': 'agent' }, h('option', { value: '', text: 'all agents' })),
          h('select', { id: 'sessStatus', 'aria-label': 'status' }, ['', 'active', 'ended', 'agent_exited'].map((s) => h('option', { value: s, text: s || 'any status' })))),
        h('div', { id: 'sessErr', class: 'err hidden' }),
        h('ul', { id: 'sessList', class: 'sess-list' }),
        h('div', { id: 'sessEmpty', class: 'empty', text: 'No sessions yet.' })),
      h('section', { class: 'card' },
        h('h2', {}, 'ACP servers', h('span', { class: 'sp' }), h('button', { class: 'sm', id: 'srvRefresh', type: 'button', text: 'Refresh' })),
        h('div', { id: 'srvErr', class: 'err hidden' }),
        h('table', { id: 'servers' }, h('thead', {}, h('tr', {}, ['Server', 'Agent', 'Age', ''].map((x) => h('th', { text: x })))), h('tbody')),
        h('div', { id: 'srvEmpty', class: 'empty', text: 'No ACP servers running.' }))),
    h('section', { class: 'card sess-main', id: 'session' },
      h('form', { class: 'toolbar', id: 'newForm' },
        sel('agentSel', 'Agent', h('option', { value: 'mock', text: 'mock' })),
        h('label', {}, 'cwd', h('input', { id: 'cwdIn', value: '/', autocomplete: 'off', spellcheck: 'false', size: 14 })),
        sel('newModel', 'Model'), sel('newMode', 'Mode'),
        h('button', { id: 'newSess', class: 'primary', type: 'submit', text: 'New session' }),
        h('span', { id: 'newErr', class: 'err hidden' })),
      h('div', { class: 'toolbar' },
        h('span', { id: 'sessInfo' }),
        h('span', { id: 'usage', class: 'usage hidden', title: 'context window used (usage_update) and cost' },
          h('meter', { id: 'usageMeter', min: 0, max: 1, value: 0, low: 0.7, high: 0.9, optimum: 0.1 }), h('span', { id: 'usageText' })),
        h('span', { id: 'stream', class: 'pill gone' }, h('i'), h('span', { text: 'no stream' })),
        h('button', { id: 'resumeSess', type: 'button', class: 'hidden', title: 'continue it on a new ACP server with session/load', text: 'Resume over ACP' }),
        h('button', { id: 'endSess', class: 'danger', type: 'button', disabled: true, title: 'close its ACP server', text: 'Close session' }),
        h('button', { id: 'delSess', class: 'danger', type: 'button', disabled: true, title: 'DELETE /v1/sessions/{id}: the session and its events', text: 'Delete' })),
      h('div', { id: 'opts' }),
      h('div', { id: 'chat', class: 'pane', tabindex: '0', 'aria-label': 'transcript' }),
      h('form', { id: 'promptForm' },
        h('div', { class: 'pcol' },
          h('div', { id: 'attachList', class: 'atts' }),
          h('textarea', { id: 'prompt', rows: 2, 'aria-label': 'message', placeholder: 'Message the agent… (Enter sends, Shift+Enter adds a line)' })),
        h('div', { class: 'btns' },
          h('button', { id: 'send', class: 'primary', type: 'submit', disabled: true, text: 'Send' }),
          h('button', { id: 'cancel', type: 'button', disabled: true, text: 'Cancel' }),
          h('button', { id: 'attach', type: 'button', class: 'sm', text: 'Attach…' }),
          h('input', { id: 'attachIn', type: 'file', multiple: true, class: 'hidden', 'aria-label': 'attach files' })))));
}

export default {
  id: 'session',
  title: 'Sessions',
  order: 10,
  mount(el, c) {
    ctx = c; api = c.api; dom = c.dom; h = dom.h; $ = dom.$;
    root = el;
    loadCss(new URL('../../css/session.css', import.meta.url));
    try {
      el.append(build());
      $('#newForm', root).addEventListener('submit', (ev) => { ev.preventDefault(); startSession(); });
      $('#agentSel', root).addEventListener('change', agentOptions);
      $('#endSess', root).onclick = endSession;
      $('#delSess', root).onclick = deleteSession;
      $('#resumeSess', root).onclick = resumeSession;
      $('#cancel', root).onclick = cancelTurn;
      $('#sessRefresh', root).onclick = loadSessions;
      $('#srvRefresh', root).onclick = loadServers;
      for (const id of ['#sessFilter', '#sessAgent', '#sessStatus']) $(id, root).addEventListener('input', drawSessions);
      $('#promptForm', root).addEventListener('submit', (ev) => { ev.preventDefault(); sendPrompt(); });
      $('#prompt', root).addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendPrompt(); }
      });
      $('#attach', root).onclick = () => $('#attachIn', root).click();
      $('#attachIn', root).addEventListener('change', (ev) => { addFiles([...ev.target.files]); ev.target.value = ''; });
      const pane = $('#chat', root);
      pane.addEventListener('scroll', () => { if (pane.clientHeight) pane.stick = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 60; });
      refresh();
      loadAgents();
      loadServers();
      loadSessions();
      // A new token or headers (the shell's Connect): read the lists again.
      ctx.bus.addEventListener('conn', () => { loadAgents(); loadServers(); loadSessions(); });
    } catch (e) {
      el.append(h('div', { class: 'err', text: 'The session panel failed to start: ' + e.message }));
    }
  },
  show() {
    if (!root) return;
    loadSessions();
    loadServers();
    startPolling();
  },
  hide() {
    stopPolling();
  },
};

