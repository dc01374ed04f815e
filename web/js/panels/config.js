// panels/config.js - the MCP & Skills panel: per directory, list the MCP servers and skills
// entries, edit one as JSON (checked by configcheck.js before anything is sent), save
// (PUT /v1/config/{mcp,skills}), delete, and show the server's problem when it refuses.
//
// The API reads and writes one entry by name and has no listing route, so the list is
// read from the file the server keeps, <directory>/.sandbox-agent/config/<kind>.json
// (http-api.md §8.1), through GET /v1/fs/file. The directory must then be absolute: the
// config API resolves a relative one against the server's cwd, the fs API against $HOME.
//
// State (owned by this module): the directory, the kind shown and the name being edited.

import { loadCss } from '../dom.js';
import { checkConfig, checkName, TEMPLATES } from '../configcheck.js';

const KINDS = {
  mcp: { label: 'MCP servers', file: 'mcp.json', param: 'mcpName', noun: 'MCP server' },
  skills: { label: 'Skills', file: 'skills.json', param: 'skillName', noun: 'skills entry' },
};

let ctx, api, h;
let el;
let kind = 'mcp';
let dir = '';
let checkTimer = 0;
let listSeq = 0;

const $ = (sel) => el.querySelector(sel);
const entryUrl = (name) => `/v1/config/${kind}?directory=${encodeURIComponent(dir)}&${KINDS[kind].param}=${encodeURIComponent(name)}`;

function css() {
  loadCss(new URL('../../css/files.css', import.meta.url));
}

function setErr(sel, msg) { ctx.dom.errLine($(sel), msg); }

/* ---- the list ------------------------------------------------------------------------------ */

function summary(k, v) {
  if (!v || typeof v !== 'object') return '';
  if (k === 'mcp') {
    const what = v.type === 'remote' ? v.url : [].concat(v.command ?? [], v.args ?? []).join(' ');
    return `${v.type}: ${what}${v.enabled === false ? ' (disabled)' : ''}`;
  }
  const srcs = Array.isArray(v.sources) ? v.sources : [];
  return srcs.map((s) => `${s.type}:${s.source}`).join(', ') || 'no sources';
}

/**
 * The config file's text, or null when it does not exist. Walks down from the directory
 * with listings instead of reading the file blindly: a missing path answers 400, which
 * the browser logs as a console error on every visit to a directory with no config.
 */
async function readConfigFile(file) {
  const parts = file.split('/');
  const name = parts.pop();
  const configDir = parts.join('/');
  const steps = [dir.replace(/\/+$/, '') || '/', `${configDir.slice(0, configDir.lastIndexOf('/'))}`, configDir];
  const wants = [['.sandbox-agent', 'directory'], ['config', 'directory'], [name, 'file']];
  for (let i = 0; i < steps.length; i++) {
    const list = await api.api('GET', `/v1/fs/entries?path=${encodeURIComponent(steps[i])}`);
    const [want, type] = wants[i];
    if (!list.some((e) => e.name === want && e.entryType === type)) return null;
  }
  const r = await api.request('GET', `/v1/fs/file?path=${encodeURIComponent(file)}`);
  if (!r.ok) throw new api.HttpError(r);
  return r.text;
}

async function loadList() {
  const seq = ++listSeq;
  const ul = $('.cfg-list');
  setErr('.cfg-list-err', '');
  const d = $('#cfg-dir').value.trim();
  if (!d && !dir) return; // before the default directory arrives
  if (!d.startsWith('/')) {
    ul.replaceChildren();
    return setErr('.cfg-list-err', 'Type an absolute directory (the config is stored in <directory>/.sandbox-agent/config/).');
  }
  dir = d;
  const file = `${dir.replace(/\/+$/, '')}/.sandbox-agent/config/${KINDS[kind].file}`;
  let map = {};
  try {
    const text = await readConfigFile(file);
    if (seq !== listSeq) return;
    if (text != null && text.trim()) map = JSON.parse(text);
  } catch (e) {
    if (seq !== listSeq) return;
    ul.replaceChildren();
    return setErr('.cfg-list-err', `cannot read ${file}: ${e.message}`);
  }
  const names = Object.keys(map).sort();
  $('.cfg-file').textContent = file;
  ul.replaceChildren(...names.map((n) => h('li', { 'data-name': n },
    h('span', { class: 'cfg-name' }, n),
    h('span', { class: 'cfg-sum' }, summary(kind, map[n])),
    h('button', { type: 'button', class: 'sm', 'data-act': 'edit', onclick: () => edit(n) }, 'Edit'),
    h('button', { type: 'button', class: 'sm danger', 'data-act': 'delete', onclick: () => remove(n) }, 'Delete'))));
  if (!names.length) ul.append(h('li', { class: 'dim' }, `no ${KINDS[kind].label.toLowerCase()} in this directory yet`));
}

/* ---- the editor ------------------------------------------------------------------------------ */

function fill(name, value) {
  $('#cfg-name').value = name;
  $('#cfg-json').value = JSON.stringify(value, null, 2);
  setErr('.cfg-save-err', '');
  check();
}

async function edit(name) {
  setErr('.cfg-save-err', '');
  const r = await api.request('GET', entryUrl(name)).catch((e) => ({ ok: false, err: e }));
  if (!r.ok) return setErr('.cfg-save-err', r.err ? r.err.message : api.problemText(r));
  fill(name, r.json);
  $('#cfg-json').focus();
}

/** Checks the editor's text; shows the first problem (and puts the caret on it). */
function check(focusError = false) {
  const ta = $('#cfg-json');
  const res = checkConfig(kind, ta.value);
  const nameErr = checkName($('#cfg-name').value);
  const status = $('.cfg-status');
  const warn = $('.cfg-warn');
  warn.replaceChildren(...res.warnings.map((w) => h('div', {}, '⚠ ' + w)));
  if (!res.ok) {
    status.className = 'cfg-status err';
    status.textContent = (res.line ? 'JSON error: ' : 'Not accepted by the server\'s schema: ') + res.error;
    if (focusError && res.line) {
      const lines = ta.value.split('\n');
      let pos = 0;
      for (let i = 0; i < res.line - 1; i++) pos += lines[i].length + 1;
      pos += res.column - 1;
      ta.focus();
      ta.setSelectionRange(pos, Math.min(pos + 1, ta.value.length));
    }
  } else if (nameErr) {
    status.className = 'cfg-status err';
    status.textContent = 'Name: ' + nameErr;
  } else {
    status.className = 'cfg-status cfg-ok';
    status.textContent = '✓ valid ' + KINDS[kind].noun;
  }
  return res.ok && !nameErr;
}

async function save(ev) {
  ev.preventDefault();
  setErr('.cfg-save-err', '');
  if (!check(true)) return; // refused here: nothing is sent
  const name = $('#cfg-name').value;
  try {
    const r = await api.request('PUT', entryUrl(name), { raw: $('#cfg-json').value, headers: { 'Content-Type': 'application/json' } });
    if (!r.ok) return setErr('.cfg-save-err', api.problemText(r));
    ctx.toast(`saved ${KINDS[kind].noun} ${name}`, 'ok');
    await loadList();
  } catch (e) {
    setErr('.cfg-save-err', e.message);
  }
}

async function remove(name) {
  if (!confirm(`Delete the ${KINDS[kind].noun} "${name}" from ${dir}?`)) return;
  try {
    const r = await api.request('DELETE', entryUrl(name), { accept: 'none' });
    if (!r.ok) return setErr('.cfg-list-err', api.problemText(r));
    ctx.toast(`deleted ${name}`, 'ok');
    if ($('#cfg-name').value === name) $('#cfg-name').value = '';
    await loadList();
  } catch (e) {
    setErr('.cfg-list-err', e.message);
  }
}

function setKind(k) {
  kind = k;
  for (const b of el.querySelectorAll('.cfg-kinds button')) b.setAttribute('aria-pressed', String(b.dataset.kind === k));
  $('.cfg-editor h3').textContent = `Edit ${KINDS[k].noun}`;
  $('.cfg-templates').replaceChildren(...templateButtons());
  fill('', k === 'mcp' ? TEMPLATES.mcp : TEMPLATES.skills);
  loadList();
}

function templateButtons() {
  if (kind === 'skills') return [h('button', { type: 'button', class: 'sm', onclick: () => fill($('#cfg-name').value, TEMPLATES.skills) }, 'Template')];
  return [
    h('button', { type: 'button', class: 'sm', onclick: () => fill($('#cfg-name').value, TEMPLATES.mcp) }, 'Local template'),
    h('button', { type: 'button', class: 'sm', onclick: () => fill($('#cfg-name').value, TEMPLATES.mcpRemote) }, 'Remote template'),
  ];
}

/* ---- mount ----------------------------------------------------------------------------------- */

function build() {
  const dirForm = h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); loadList(); } },
    h('label', { for: 'cfg-dir' }, 'Directory'),
    h('input', { id: 'cfg-dir', type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: '/absolute/project/directory' }),
    h('button', { type: 'submit', id: 'cfg-load' }, 'Load'));
  const kinds = h('div', { class: 'row cfg-kinds', role: 'group', 'aria-label': 'config kind' },
    ...Object.entries(KINDS).map(([k, v]) => h('button', { type: 'button', 'data-kind': k, 'aria-pressed': 'false', onclick: () => setKind(k) }, v.label)));
  const listBox = h('div', { class: 'cfg-listbox' },
    h('p', { class: 'note' }, 'Stored in ', h('code', { class: 'cfg-file' }, '')),
    h('div', { class: 'err cfg-list-err hidden', role: 'alert' }),
    h('ul', { class: 'cfg-list' }));
  const editor = h('form', { class: 'cfg-editor', onsubmit: save },
    h('h3', {}, 'Edit'),
    h('div', { class: 'row' },
      h('label', { for: 'cfg-name' }, 'Name'),
      h('input', { id: 'cfg-name', type: 'text', spellcheck: 'false', autocomplete: 'off', oninput: () => check() }),
      h('span', { class: 'row cfg-templates' })),
    h('label', { for: 'cfg-json', class: 'sr-only' }, 'Entry as JSON'),
    h('textarea', { id: 'cfg-json', spellcheck: 'false', oninput: () => { clearTimeout(checkTimer); checkTimer = setTimeout(() => check(), 250); } }),
    h('div', { class: 'cfg-status', role: 'status', 'aria-live': 'polite' }),
    h('div', { class: 'cfg-warn' }),
    h('div', { class: 'err cfg-save-err hidden', role: 'alert' }),
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'cfg-check', onclick: () => check(true) }, 'Check'),
      h('button', { type: 'submit', id: 'cfg-save', class: 'primary' }, 'Save')));
  el.replaceChildren(h('div', { class: 'card' },
    h('h2', {}, 'MCP & Skills'),
    h('p', { class: 'note' }, 'Per-directory MCP servers and skills, as agents started in that directory see them. Entries are checked against the server\'s schema before they are saved.'),
    dirForm, kinds,
    h('div', { class: 'cfg-body' }, listBox, editor)));
}

export default {
  id: 'config',
  title: 'MCP & Skills',
  order: 60,
  mount(section, c) {
    ctx = c;
    api = c.api;
    h = c.dom.h;
    el = section;
    try {
      css();
      build();
      setKind('mcp');
      // The API does not say the server's cwd; its home (a relative fs path resolves there)
      // is the best default, and the field says so until it is filled.
      api.request('GET', '/v1/fs/stat?path=').then((r) => {
        if (r.ok && r.json?.path && !$('#cfg-dir').value) {
          $('#cfg-dir').value = r.json.path.replace(/(.)\/+$/, '$1');
          loadList();
        } else if (!r.ok) setErr('.cfg-list-err', 'Type a directory: ' + api.problemText(r));
      }, (e) => setErr('.cfg-list-err', e.message));
    } catch (e) {
      section.append(h('p', { class: 'err' }, 'MCP & Skills panel failed: ' + (e.message || e)));
    }
  },
  show() {
    if (dir) loadList();
  },
};
