// panels/processes.js - the Processes panel: create managed processes, list them with an
// owner filter, and for the selected one: its info, stop/kill/delete, live logs (the SSE
// follow of GET /v1/processes/{id}/logs) and, for tty processes, an xterm.js terminal over
// the terminal WebSocket (terminal.js).
//
// The list is polled every 2 s while the panel is visible; logs and the terminal are live
// streams owned by the selection and closed when it changes.

import { loadCss } from '../dom.js';
import { url as apiUrl } from '../api.js';
import { buildBody, commandLine, entryBytes, listPath, splitArgs, sseReader, statusText, stripAnsi } from '../proc_logic.js';
import { openTerminal } from '../terminal.js';

const POLL_MS = 2000;
const LOG_CHARS_MAX = 512 * 1024; // older log text is dropped from the view past this

/** Adds the panel stylesheet (shared with the Run once panel). */
export function ensureProcCss() {
  loadCss(new URL('../../css/processes.css', import.meta.url));
}

/**
 * Panel state. Owner: the module (one panel per page). `sel` is the selected process id;
 * `logs` {ctrl} and `term` (terminal.js handle) belong to that selection and are closed by
 * select().
 */
const st = { ctx: null, el: null, timer: 0, procs: [], sel: null, info: null, logs: null, term: null, termFor: null, view: 'logs', busy: false };

function pid(id) { return encodeURIComponent(id); }

function mount(el, ctx) {
  st.ctx = ctx;
  st.el = el;
  ensureProcCss();
  const { h } = ctx.dom;
  const field = (label, input, hint) => h('label', { class: 'pp-field' }, h('span', { text: label }), input, hint ? h('small', { class: 'muted', text: hint }) : null);

  const argv = h('div', { class: 'pp-argv mono muted', id: 'procArgv' });
  const form = h('form', { class: 'card pp-create', id: 'procCreate', onsubmit: (e) => { e.preventDefault(); create(); } },
    h('h2', { text: 'New process' }),
    field('Command', h('input', { id: 'procCmd', name: 'command', required: true, placeholder: 'bash', autocomplete: 'off', spellcheck: 'false' })),
    field('Arguments', h('input', { id: 'procArgs', name: 'args', placeholder: `-c 'echo "hi there"'`, autocomplete: 'off', spellcheck: 'false', oninput: showArgv }),
      'split like a shell: spaces separate, quotes group, \\ escapes; no expansions'),
    argv,
    field('Working directory', h('input', { id: 'procCwd', name: 'cwd', placeholder: 'the server\'s cwd', autocomplete: 'off', spellcheck: 'false' })),
    field('Environment', h('textarea', { id: 'procEnv', name: 'env', rows: 2, placeholder: 'KEY=VALUE, one per line', spellcheck: 'false' })),
    h('div', { class: 'pp-checks' },
      h('label', {}, h('input', { type: 'checkbox', id: 'procTty', name: 'tty' }), ' tty (terminal)'),
      h('label', {}, h('input', { type: 'checkbox', id: 'procInteractive', name: 'interactive' }), ' interactive')),
    h('div', { class: 'pp-row' }, h('button', { type: 'submit', class: 'primary', id: 'procCreateBtn', text: 'Start' }), h('span', { class: 'err hidden', id: 'procCreateErr', role: 'alert' })));

  const owner = h('select', { id: 'procOwner', 'aria-label': 'Owner filter', onchange: refresh },
    ...['all', 'user', 'desktop', 'system'].map((o) => h('option', { value: o, text: o === 'all' ? 'all owners' : o })));
  const list = h('div', { class: 'card pp-list' },
    h('h2', {}, h('span', { text: 'Processes' }), h('span', { class: 'sp' }), owner,
      h('button', { type: 'button', class: 'sm', id: 'procRefresh', text: 'Refresh', onclick: refresh })),
    h('span', { class: 'err hidden', id: 'procListErr', role: 'alert' }),
    h('div', { class: 'pp-tablewrap' }, h('table', { id: 'procList' },
      h('thead', {}, h('tr', {}, ...['id', 'command', 'owner', 'status', 'pid', 'exit'].map((t) => h('th', { text: t })))),
      h('tbody'))));

  const detail = h('div', { class: 'card pp-detail', id: 'procDetail' }, h('div', { class: 'empty', text: 'Select a process to see its logs and terminal.' }));
  el.append(h('div', { class: 'pp-grid' }, h('div', { class: 'pp-side' }, form, list), detail));
  showArgv();
  refresh();
}

/** Shows the argv that an arguments field splits into (or why it cannot), under it. */
export function showArgvOf(input, out) {
  try {
    const a = splitArgs(input.value);
    out.textContent = a.length ? 'argv: ' + JSON.stringify(a) : '';
    out.classList.remove('err');
  } catch (e) {
    out.textContent = e.message;
    out.classList.add('err');
  }
}

function showArgv() {
  showArgvOf(st.el.querySelector('#procArgs'), st.el.querySelector('#procArgv'));
}

async function create() {
  const { api, dom } = st.ctx;
  const q = (s) => st.el.querySelector(s);
  const errEl = q('#procCreateErr');
  let body;
  try {
    body = buildBody({ command: q('#procCmd').value, args: q('#procArgs').value, cwd: q('#procCwd').value, env: q('#procEnv').value, tty: q('#procTty').checked, interactive: q('#procInteractive').checked }, 'create');
  } catch (e) { dom.errLine(errEl, e.message); return; }
  const btn = q('#procCreateBtn');
  btn.disabled = true;
  try {
    const info = await api.api('POST', '/v1/processes', body);
    dom.errLine(errEl, '');
    st.ctx.toast(`started ${info.id} (${commandLine(info.command, info.args)})`, 'ok');
    await refresh();
    select(info.id);
  } catch (e) {
    dom.errLine(errEl, e.message);
  } finally {
    btn.disabled = false;
  }
}

async function refresh() {
  if (!st.el || st.busy) return;
  st.busy = true;
  const { api, dom } = st.ctx;
  const errEl = st.el.querySelector('#procListErr');
  try {
    const r = await api.api('GET', listPath(st.el.querySelector('#procOwner').value));
    st.procs = (r && r.processes) || [];
    dom.errLine(errEl, '');
    renderList();
    if (st.sel) {
      const p = st.procs.find((x) => x.id === st.sel);
      if (p) { st.info = p; renderInfo(); }
    }
  } catch (e) {
    dom.errLine(errEl, e.message);
  } finally {
    st.busy = false;
  }
}

function renderList() {
  const { h } = st.ctx.dom;
  const tbody = st.el.querySelector('#procList tbody');
  // Newest first: ids are proc_<n> and the server sorts them as strings.
  const procs = [...st.procs].sort((a, b) => (b.createdAtMs - a.createdAtMs) || (Number(b.id.slice(5)) - Number(a.id.slice(5))));
  tbody.replaceChildren(...(procs.length ? procs.map((p) => h('tr', { 'data-id': p.id, 'data-status': p.status, class: p.id === st.sel ? 'sel' : null, onclick: () => select(p.id) },
    h('td', {}, h('button', { type: 'button', class: 'link mono', text: p.id, 'aria-pressed': p.id === st.sel ? 'true' : 'false', onclick: (e) => { e.stopPropagation(); select(p.id); } })),
    h('td', { class: 'mono pp-cmd', title: commandLine(p.command, p.args), text: commandLine(p.command, p.args) }),
    h('td', { text: p.owner }),
    h('td', {}, h('span', { class: `pp-status ${p.status}`, text: statusText(p) }), p.tty ? h('span', { class: 'badge', text: 'tty' }) : null),
    h('td', { class: 'mono', text: p.pid ?? '' }),
    h('td', { class: 'mono', text: p.exitCode ?? '' }))) : [h('tr', {}, h('td', { colspan: 6, class: 'empty', text: 'No processes.' }))]));
}

/** Selects a process: closes the previous selection's streams and builds its detail view. */
function select(id) {
  closeStreams();
  st.sel = id;
  st.info = st.procs.find((p) => p.id === id) || null;
  renderList();
  const { h } = st.ctx.dom;
  const det = st.el.querySelector('#procDetail');
  if (!st.info) { det.replaceChildren(h('div', { class: 'empty', text: 'Select a process to see its logs and terminal.' })); return; }
  const tty = st.info.tty;
  st.view = tty ? 'terminal' : 'logs';
  const tabBtn = (v, label) => h('button', { type: 'button', role: 'tab', 'data-view': v, id: `procTab-${v}`, text: label, onclick: () => showView(v) });
  const streamSel = h('select', { id: 'procStream', 'aria-label': 'Log stream', onchange: () => followLogs() },
    ...['combined', 'stdout', 'stderr', 'pty'].map((s) => h('option', { value: s, text: s, selected: s === (tty ? 'pty' : 'combined') })));
  // replaceChildren would print a null as text: absent parts are filtered out.
  det.replaceChildren(...[
    h('div', { class: 'pp-head' },
      h('h2', {}, h('span', { class: 'mono', text: id }), h('span', { class: 'pp-title mono', id: 'procTitle' })),
      h('div', { class: 'pp-meta', id: 'procMeta' }),
      h('div', { class: 'pp-row' },
        h('button', { type: 'button', id: 'procStop', text: 'Stop', title: 'SIGTERM, then wait up to 2 s', onclick: () => signal('stop') }),
        h('button', { type: 'button', id: 'procKill', class: 'danger', text: 'Kill', title: 'SIGKILL', onclick: () => signal('kill') }),
        h('button', { type: 'button', id: 'procDelete', class: 'danger', text: 'Delete', title: 'remove the record (only once exited)', onclick: del })),
      h('span', { class: 'err hidden', id: 'procErr', role: 'alert' })),
    h('div', { class: 'tabs', role: 'tablist' }, tty ? tabBtn('terminal', 'Terminal') : null, tabBtn('logs', 'Logs')),
    tty ? h('div', { class: 'pp-view', id: 'procTermView' },
      h('div', { class: 'pp-row muted' }, h('span', { id: 'procTermState', text: 'connecting…' }), h('span', { class: 'sp' }), h('span', { class: 'mono', id: 'procTermSize' })),
      h('div', { class: 'pp-term', id: 'procTerm' })) : null,
    h('div', { class: 'pp-view', id: 'procLogsView' },
      h('div', { class: 'pp-row' }, streamSel, h('span', { class: 'muted', id: 'procLogState' }), h('span', { class: 'sp' }),
        h('button', { type: 'button', class: 'sm', id: 'procLogClear', text: 'Clear view', onclick: () => { st.el.querySelector('#procLogs').replaceChildren(); } })),
      h('pre', { class: 'pp-logs', id: 'procLogs', tabindex: '0', 'aria-label': 'process logs', 'aria-live': 'off' }),
      tty ? null : h('form', { class: 'pp-row', id: 'procInputForm', onsubmit: (e) => { e.preventDefault(); sendInput(); } },
        h('input', { id: 'procInput', placeholder: 'stdin line (sent with a newline)', autocomplete: 'off', 'aria-label': 'stdin line' }),
        h('button', { type: 'submit', class: 'sm', text: 'Send' })))].filter(Boolean));
  renderInfo();
  showView(st.view);
  followLogs();
  if (tty) startTerminal(id);
}

function renderInfo() {
  const p = st.info;
  if (!p || !st.el.querySelector('#procMeta')) return;
  const { h } = st.ctx.dom;
  st.el.querySelector('#procTitle').textContent = commandLine(p.command, p.args);
  const item = (k, v) => (v == null || v === '' ? null : h('span', {}, h('span', { class: 'muted', text: k + ' ' }), h('b', { class: 'mono', text: String(v) })));
  st.el.querySelector('#procMeta').replaceChildren(...[
    h('span', { class: `pp-status ${p.status}`, id: 'procStatus', text: statusText(p) }),
    item('pid', p.pid), item('exit code', p.exitCode), item('owner', p.owner), item('cwd', p.cwd),
    item('mode', p.tty ? 'tty' : 'pipe'), p.interactive ? item('interactive', 'yes') : null,
    item('started', new Date(p.createdAtMs).toLocaleTimeString()),
    p.exitedAtMs ? item('ran', st.ctx.dom.fmtDur(p.exitedAtMs - p.createdAtMs)) : null].filter(Boolean));
  const running = p.status === 'running';
  st.el.querySelector('#procStop').disabled = !running;
  st.el.querySelector('#procKill').disabled = !running;
  const inp = st.el.querySelector('#procInputForm');
  if (inp) for (const c of inp.elements) c.disabled = !running;
}

function showView(v) {
  st.view = v;
  for (const b of st.el.querySelectorAll('#procDetail [role=tab]')) {
    b.classList.toggle('on', b.dataset.view === v);
    b.setAttribute('aria-selected', b.dataset.view === v ? 'true' : 'false');
  }
  st.el.querySelector('#procLogsView')?.classList.toggle('hidden', v !== 'logs');
  st.el.querySelector('#procTermView')?.classList.toggle('hidden', v !== 'terminal');
  if (v === 'terminal' && st.term) { st.term.refit(); st.term.focus(); }
}

async function signal(kind) {
  const { api, dom } = st.ctx;
  const id = st.sel;
  const errEl = st.el.querySelector('#procErr');
  try {
    const info = await api.api('POST', `/v1/processes/${pid(id)}/${kind}`);
    if (st.sel !== id) return;
    dom.errLine(errEl, info.status === 'running' ? `${kind}: still running after 2 s` : '');
    st.info = info;
    renderInfo();
    refresh();
  } catch (e) {
    if (st.sel === id) dom.errLine(errEl, e.message);
  }
}

async function del() {
  const { api, dom } = st.ctx;
  const id = st.sel;
  const errEl = st.el.querySelector('#procErr');
  try {
    const r = await api.request('DELETE', `/v1/processes/${pid(id)}`);
    if (!r.ok) { if (st.sel === id) dom.errLine(errEl, api.problemText(r)); return; }
    st.ctx.toast(`deleted ${id}`, 'ok');
    st.procs = st.procs.filter((p) => p.id !== id);
    if (st.sel === id) select(null);
    refresh();
  } catch (e) {
    if (st.sel === id) dom.errLine(errEl, e.message);
  }
}

async function sendInput() {
  const { api, dom } = st.ctx;
  const inp = st.el.querySelector('#procInput');
  try {
    await api.api('POST', `/v1/processes/${pid(st.sel)}/input`, { data: inp.value + '\n', encoding: 'utf8' });
    inp.value = '';
  } catch (e) {
    dom.errLine(st.el.querySelector('#procErr'), e.message);
  }
}

/* ---- live logs ----------------------------------------------------------------------- */

/**
 * Follows the selected process's logs with fetch (an EventSource cannot send the auth
 * header). Replays the buffered entries, then streams; ends when the record is deleted.
 */
async function followLogs() {
  if (st.logs) st.logs.ctrl.abort();
  const id = st.sel;
  const stream = st.el.querySelector('#procStream').value;
  const pre = st.el.querySelector('#procLogs');
  const state = st.el.querySelector('#procLogState');
  pre.replaceChildren();
  const ctrl = new AbortController();
  const me = { ctrl };
  st.logs = me;
  const decoders = new Map(); // per stream: a UTF-8 sequence may span two chunks
  state.textContent = 'connecting…';
  try {
    const res = await fetch(apiUrl(`/v1/processes/${pid(id)}/logs?follow=true&stream=${stream}`), {
      headers: st.ctx.api.authHeaders({ Accept: 'text/event-stream' }), signal: ctrl.signal, cache: 'no-store',
    });
    if (!res.ok) {
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* plain text */ }
      state.textContent = '';
      st.ctx.dom.errLine(st.el.querySelector('#procErr'), 'logs: ' + st.ctx.api.problemText({ status: res.status, json, text }));
      return;
    }
    state.textContent = 'following';
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const sse = sseReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of sse.feed(value)) {
        if (ev.event !== 'log') continue;
        let entry;
        try { entry = JSON.parse(ev.data); } catch { continue; }
        let dec = decoders.get(entry.stream);
        if (!dec) decoders.set(entry.stream, (dec = new TextDecoder()));
        appendLog(pre, entry.stream, dec.decode(entryBytes(entry), { stream: true }));
      }
    }
    if (st.logs === me) state.textContent = 'stream ended';
  } catch (e) {
    if (e.name !== 'AbortError' && st.logs === me) state.textContent = 'stream failed: ' + e.message;
  }
}

function appendLog(pre, stream, text) {
  if (!text) return;
  const clean = stream === 'pty' ? stripAnsi(text) : text;
  const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  const last = pre.lastChild;
  if (last && last.dataset.stream === stream) last.textContent += clean;
  else pre.append(st.ctx.dom.h('span', { class: `pp-log ${stream}`, 'data-stream': stream, text: clean }));
  let total = 0;
  for (const c of pre.childNodes) total += c.textContent.length;
  while (total > LOG_CHARS_MAX && pre.firstChild) {
    const first = pre.firstChild;
    const over = total - LOG_CHARS_MAX;
    if (first.textContent.length <= over) { total -= first.textContent.length; first.remove(); }
    else { first.textContent = first.textContent.slice(over); total -= over; }
  }
  if (stick) pre.scrollTop = pre.scrollHeight;
}

/* ---- terminal ------------------------------------------------------------------------ */

async function startTerminal(id) {
  const box = st.el.querySelector('#procTerm');
  const stateEl = st.el.querySelector('#procTermState');
  const sizeEl = st.el.querySelector('#procTermSize');
  st.termFor = id;
  try {
    const t = await openTerminal(box, id, {
      status: (text) => { if (st.termFor === id) stateEl.textContent = text; },
      exit: (code) => { if (st.termFor === id) { stateEl.textContent = `exited${code == null ? ' (signal)' : ' with code ' + code}`; refresh(); } },
      error: (msg) => { if (st.termFor === id) st.ctx.dom.errLine(st.el.querySelector('#procErr'), 'terminal: ' + msg); },
      resized: (cols, rows) => { if (st.termFor === id) { sizeEl.textContent = `${cols}×${rows}`; sizeEl.dataset.cols = cols; sizeEl.dataset.rows = rows; } },
    });
    if (st.termFor !== id) { t.close(); return; }
    st.term = t;
    if (st.view === 'terminal') t.focus();
  } catch (e) {
    if (st.termFor === id) { stateEl.textContent = ''; st.ctx.dom.errLine(st.el.querySelector('#procErr'), 'terminal: ' + e.message); }
  }
}

function closeStreams() {
  if (st.logs) { st.logs.ctrl.abort(); st.logs = null; }
  if (st.term) { st.term.close(); st.term = null; }
  st.termFor = null;
}

export default {
  id: 'processes',
  title: 'Processes',
  order: 40,
  mount(el, ctx) {
    try { mount(el, ctx); } catch (e) {
      el.append(ctx.dom.h('div', { class: 'err', text: 'Processes panel failed: ' + e.message }));
    }
  },
  show() {
    if (!st.el) return;
    refresh();
    clearInterval(st.timer);
    st.timer = setInterval(refresh, POLL_MS);
    if (st.term && st.view === 'terminal') st.term.refit();
  },
  hide() { clearInterval(st.timer); st.timer = 0; },
};
