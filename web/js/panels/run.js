// panels/run.js - the Run once panel: POST /v1/processes/run with command, args, cwd, env,
// timeoutMs and maxOutputBytes, then the exit code, duration, timed-out and truncated
// flags, stdout and stderr. The server's defaults (GET /v1/processes/config) are shown as
// placeholders so an empty field says what it will mean.

import { buildBody, commandLine } from '../proc_logic.js';
import { ensureProcCss, showArgvOf } from './processes.js';

/** Panel state. Owner: the module (one panel per page). */
const st = { ctx: null, el: null, running: false };

function mount(el, ctx) {
  st.ctx = ctx;
  st.el = el;
  ensureProcCss();
  const { h } = ctx.dom;
  const field = (label, input, hint) => h('label', { class: 'pp-field' }, h('span', { text: label }), input, hint ? h('small', { class: 'muted', text: hint }) : null);
  const form = h('form', { class: 'card pp-create', id: 'runForm', onsubmit: (e) => { e.preventDefault(); run(); } },
    h('h2', { text: 'Run once' }),
    h('p', { class: 'muted', text: 'Runs a command to completion with stdin from /dev/null and returns its output; it is not listed among the processes.' }),
    field('Command', h('input', { id: 'runCmd', required: true, placeholder: 'sh', autocomplete: 'off', spellcheck: 'false' })),
    field('Arguments', h('input', { id: 'runArgs', placeholder: `-c 'echo out; echo err >&2'`, autocomplete: 'off', spellcheck: 'false', oninput: showArgv }),
      'split like a shell: spaces separate, quotes group, \\ escapes; no expansions'),
    h('div', { class: 'pp-argv mono muted', id: 'runArgv' }),
    field('Working directory', h('input', { id: 'runCwd', placeholder: 'the server\'s cwd', autocomplete: 'off', spellcheck: 'false' })),
    field('Environment', h('textarea', { id: 'runEnv', rows: 2, placeholder: 'KEY=VALUE, one per line', spellcheck: 'false' })),
    h('div', { class: 'pp-pair' },
      field('Timeout (ms)', h('input', { id: 'runTimeout', inputmode: 'numeric', autocomplete: 'off' })),
      field('Output cap (bytes per stream)', h('input', { id: 'runCap', inputmode: 'numeric', autocomplete: 'off' }))),
    h('div', { class: 'pp-row' }, h('button', { type: 'submit', class: 'primary', id: 'runBtn', text: 'Run' }),
      h('span', { class: 'muted', id: 'runState' }), h('span', { class: 'err hidden', id: 'runErr', role: 'alert' })));
  const out = h('div', { class: 'card pp-detail', id: 'runResult' }, h('div', { class: 'empty', text: 'The result shows here.' }));
  el.append(h('div', { class: 'pp-grid' }, h('div', { class: 'pp-side' }, form), out));
  loadDefaults();
}

function showArgv() {
  showArgvOf(st.el.querySelector('#runArgs'), st.el.querySelector('#runArgv'));
}

async function loadDefaults() {
  try {
    const c = await st.ctx.api.api('GET', '/v1/processes/config');
    st.el.querySelector('#runTimeout').placeholder = `default ${c.defaultRunTimeoutMs}, max ${c.maxRunTimeoutMs}`;
    st.el.querySelector('#runCap').placeholder = `default and max ${c.maxOutputBytes}`;
  } catch { /* placeholders are hints only; the run itself reports errors */ }
}

async function run() {
  if (st.running) return;
  const { api, dom, h } = { ...st.ctx, h: st.ctx.dom.h };
  const q = (s) => st.el.querySelector(s);
  const errEl = q('#runErr');
  let body;
  try {
    body = buildBody({ command: q('#runCmd').value, args: q('#runArgs').value, cwd: q('#runCwd').value, env: q('#runEnv').value, timeoutMs: q('#runTimeout').value, maxOutputBytes: q('#runCap').value }, 'run');
  } catch (e) { dom.errLine(errEl, e.message); return; }
  dom.errLine(errEl, '');
  st.running = true;
  q('#runBtn').disabled = true;
  q('#runState').textContent = 'running…';
  const t0 = performance.now();
  try {
    const r = await api.request('POST', '/v1/processes/run', { body });
    if (!r.ok) { dom.errLine(errEl, api.problemText(r)); return; }
    render(body, r.json, h);
  } catch (e) {
    dom.errLine(errEl, e.message);
  } finally {
    st.running = false;
    q('#runBtn').disabled = false;
    q('#runState').textContent = `took ${Math.round(performance.now() - t0)} ms round trip`;
  }
}

function render(body, res, h) {
  const flag = (on, text, cls) => (on ? h('span', { class: `badge ${cls || ''}`, text }) : null);
  const codeText = res.exitCode == null ? (res.timedOut ? 'none (timed out, killed)' : 'none (killed by a signal)') : String(res.exitCode);
  const stream = (name, text, truncated) => h('div', { class: 'pp-stream' },
    h('h3', {}, h('span', { text: name }), h('span', { class: 'muted', text: ` ${new TextEncoder().encode(text || '').length} bytes` }), flag(truncated, 'truncated', 'warn'),
      h('span', { class: 'sp' }), h('button', { type: 'button', class: 'sm', text: 'Copy', onclick: () => st.ctx.dom.copyText(text || '').then((ok) => st.ctx.toast(ok ? `${name} copied` : 'copy refused', ok ? 'ok' : 'error')) })),
    h('pre', { class: `pp-logs ${name}`, id: `run-${name}`, tabindex: '0', text: text || '' }));
  st.el.querySelector('#runResult').replaceChildren(
    h('h2', {}, h('span', { class: 'mono pp-title', text: commandLine(body.command, body.args) })),
    h('div', { class: 'pp-meta', id: 'runMeta' },
      h('span', {}, h('span', { class: 'muted', text: 'exit code ' }), h('b', { class: `mono pp-exit ${res.exitCode === 0 ? 'ok' : 'bad'}`, id: 'runExit', text: codeText })),
      h('span', {}, h('span', { class: 'muted', text: 'duration ' }), h('b', { class: 'mono', id: 'runDuration', text: `${res.durationMs} ms` })),
      flag(res.timedOut, 'timed out', 'bad'), flag(res.stdoutTruncated, 'stdout truncated', 'warn'), flag(res.stderrTruncated, 'stderr truncated', 'warn')),
    stream('stdout', res.stdout, res.stdoutTruncated),
    stream('stderr', res.stderr, res.stderrTruncated));
}

export default {
  id: 'run',
  title: 'Run once',
  order: 45,
  mount(el, ctx) {
    try { mount(el, ctx); } catch (e) {
      el.append(ctx.dom.h('div', { class: 'err', text: 'Run once panel failed: ' + e.message }));
    }
  },
};
