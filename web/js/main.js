// main.js - the Inspector's shell: the connection form, the health pill, the panel nav with
// hash routing (#/<panel>), toasts. Panels are modules under panels/ that follow the
// contract in web/README.md; each is imported on its own, so one that fails to load is
// left out of the nav instead of taking the page down.
import * as api from './api.js';
import * as dom from './dom.js';

const { $, h, errLine } = dom;

/** Every panel the shell knows, by id; the nav order comes from each module's `order`. */
const REGISTRY = ['session', 'events', 'requests', 'agents', 'processes', 'run', 'files', 'config', 'desktop'];
const DEFAULT_PANEL = 'session';

const bus = new EventTarget();
const panels = new Map(); // id -> {mod, el, btn, mounted}
let current = null;

/* ---- toasts ---------------------------------------------------------------------------- */

export function toast(message, kind = 'info') {
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', text: message });
  $('#toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 4500);
}

const ctx = { api, dom, toast, bus };

/* ---- connection and health ------------------------------------------------------------- */

function fillConnForm() {
  $('#endpoint').value = api.conn.base;
  $('#token').value = api.conn.token;
  $('#hdrs').value = Object.keys(api.conn.headers).length ? JSON.stringify(api.conn.headers) : '';
}

function setHealth(kind, text, banner) {
  const el = $('#health');
  el.className = `pill ${kind}`;
  el.querySelector('span').textContent = text;
  el.title = banner || text;
  errLine($('#connErr'), banner || '');
}

let healthTimer = null;
let healthSeq = 0;
async function checkHealth() {
  clearTimeout(healthTimer);
  const seq = ++healthSeq;
  let ok = false;
  try {
    const r = await api.request('GET', '/v1/health');
    if (seq !== healthSeq) return; // a newer check (after Apply) owns the pill
    if (r.ok) {
      ok = true;
      const why = r.json && r.json.journal;
      setHealth('ok', why ? 'ok (journal degraded)' : 'ok', why ? `journal: ${why}` : '');
    } else if (r.status === 401) {
      setHealth('bad', '401 unauthorized',
        'The server requires a token: enter it in Token and press Apply (or open the page with ?token=…).');
    } else {
      setHealth('bad', `HTTP ${r.status}`, api.problemText(r));
    }
  } catch (e) {
    if (seq !== healthSeq) return;
    setHealth('bad', 'unreachable', e.message);
  }
  bus.dispatchEvent(new CustomEvent('health', { detail: { ok } }));
  // Rare while healthy (each check shows in the request log), often while not.
  healthTimer = setTimeout(checkHealth, ok ? 60000 : 10000);
}

function applyConn(ev) {
  ev.preventDefault();
  let headers, base;
  try {
    base = api.parseBase($('#endpoint').value);
  } catch (e) {
    errLine($('#connErr'), `Endpoint: ${e.message}`);
    $('#endpoint').focus();
    return;
  }
  try {
    headers = api.parseHeaders($('#hdrs').value);
  } catch (e) {
    errLine($('#connErr'), `Headers: ${e.message}`);
    $('#hdrs').focus();
    return;
  }
  api.conn.base = base;
  api.conn.token = $('#token').value.trim();
  api.conn.headers = headers;
  api.saveConn();
  setHealth('wait', 'checking…');
  checkHealth();
  bus.dispatchEvent(new Event('conn'));
  toast('Connection settings applied', 'ok');
}

/* ---- panels and routing ------------------------------------------------------------------ */

async function loadPanels() {
  const loaded = await Promise.all(REGISTRY.map(async (id) => {
    try {
      const mod = (await import(`./panels/${id}.js`)).default;
      if (!mod || mod.id !== id || typeof mod.mount !== 'function') throw new Error('does not follow the panel contract');
      return mod;
    } catch (e) {
      console.warn(`inspector: panel "${id}" left out: ${e.message}`);
      return null;
    }
  }));
  const nav = $('#tabs');
  nav.setAttribute('role', 'tablist');
  for (const mod of loaded.filter(Boolean).sort((a, b) => (a.order ?? 99) - (b.order ?? 99))) {
    const btn = h('button', {
      type: 'button', role: 'tab', id: `tab-${mod.id}`, 'data-tab': mod.id, 'aria-controls': `panel-${mod.id}`,
      'aria-selected': 'false', tabindex: '-1', text: mod.title || mod.id,
      onclick: () => { location.hash = `#/${mod.id}`; },
    });
    const el = h('section', { id: `panel-${mod.id}`, class: 'panel', role: 'tabpanel', 'aria-labelledby': `tab-${mod.id}`, hidden: true });
    nav.append(btn);
    $('#panels').append(el);
    panels.set(mod.id, { mod, el, btn, mounted: false });
  }
  nav.addEventListener('keydown', tabKeys);
}

/** Arrow keys, Home and End move between tabs (the WAI-ARIA tabs pattern). */
function tabKeys(ev) {
  const btns = [...panels.values()].map((p) => p.btn);
  const i = btns.indexOf(document.activeElement);
  if (i < 0) return;
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: btns.length - 1 }[ev.key];
  if (to === undefined) return;
  ev.preventDefault();
  const b = btns[(to + btns.length) % btns.length];
  b.focus();
  b.click();
}

function panelFromHash() {
  const m = /^#\/([\w-]+)/.exec(location.hash);
  if (m && panels.has(m[1])) return m[1];
  if (panels.has(DEFAULT_PANEL)) return DEFAULT_PANEL;
  return panels.keys().next().value || null;
}

function safeCall(p, fn, what) {
  try {
    const r = fn();
    if (r && typeof r.catch === 'function') r.catch((e) => panelError(p, what, e));
  } catch (e) {
    panelError(p, what, e);
  }
}

function panelError(p, what, e) {
  console.warn(`inspector: panel "${p.mod.id}" ${what}: ${e && e.stack ? e.stack : e}`);
  p.el.prepend(h('div', { class: 'err', text: `This panel failed to ${what}: ${e && e.message ? e.message : e}` }));
}

function route() {
  const id = panelFromHash();
  if (!id) {
    $('#panels').replaceChildren(h('div', { class: 'err', text: 'No panel could be loaded (see the browser console).' }));
    return;
  }
  if (location.hash !== `#/${id}`) history.replaceState(null, '', `#/${id}`);
  if (current === id) return;
  const prev = current && panels.get(current);
  if (prev) {
    prev.el.hidden = true;
    prev.btn.setAttribute('aria-selected', 'false');
    prev.btn.tabIndex = -1;
    if (prev.mod.hide) safeCall(prev, () => prev.mod.hide(), 'hide');
  }
  const p = panels.get(id);
  current = id;
  p.el.hidden = false;
  p.btn.setAttribute('aria-selected', 'true');
  p.btn.tabIndex = 0;
  p.btn.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  if (!p.mounted) {
    p.mounted = true;
    safeCall(p, () => p.mod.mount(p.el, ctx), 'load');
  }
  if (p.mod.show) safeCall(p, () => p.mod.show(), 'show');
}

/* ---- start ------------------------------------------------------------------------------- */

async function start() {
  const warn = api.loadConn();
  // The token now lives in sessionStorage: keep it out of the address bar and the history.
  const q = new URLSearchParams(location.search);
  if (q.has('token') || q.has('headers')) {
    q.delete('token');
    q.delete('headers');
    history.replaceState(null, '', location.pathname + (q.size ? `?${q}` : '') + location.hash);
  }
  fillConnForm();
  if (warn) toast(warn, 'error');
  $('#connForm').addEventListener('submit', applyConn);
  // Panels first: the Requests panel subscribes to the log when imported, so the first
  // health check shows in it.
  await loadPanels();
  checkHealth();
  window.addEventListener('hashchange', route);
  route();
}

start();
