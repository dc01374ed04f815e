// panels/events.js - every ACP envelope the Inspector sent or received, in order: direction,
// server, method, time, an expandable JSON view, copy, clear and a filter.
//
// The session panel publishes each envelope with publishEnvelope(); the log lives here at
// module level (main.js and session.js import the same module instance), so envelopes from
// before this panel was first shown are not lost. Each one is also dispatched on ctx.bus as
// a CustomEvent 'acp-envelope' {dir, serverId, envelope, at, id, raw}, which this panel
// listens to once mounted.
import { loadCss } from '../dom.js';

const MAX = 2000;
const log = []; // the last MAX envelopes (module-owned)
let total = 0; // every envelope since the last clear (the nav count)
let seq = 0;

/** Publishes an envelope: kept here, counted in the nav, dispatched on bus. */
export function publishEnvelope(bus, detail) {
  const d = { n: ++seq, at: Date.now(), ...detail };
  log.push(d);
  if (log.length > MAX) log.shift();
  total++;
  updateCount();
  if (bus) bus.dispatchEvent(new CustomEvent('acp-envelope', { detail: d }));
}

// The count sits in the nav button (#evCount), created there on first use.
function updateCount() {
  if (typeof document === 'undefined') return;
  let c = document.getElementById('evCount');
  if (!c) {
    const b = document.querySelector('button[data-tab=events]');
    if (!b) return;
    c = document.createElement('span');
    c.id = 'evCount';
    c.className = 'count';
    b.append(' ', c);
  }
  c.textContent = String(total);
}

/** The label of an envelope: method, or result/error #id, with the update kind. */
export function labelOf(env) {
  if (!env || typeof env !== 'object') return '?';
  let label;
  if (typeof env.method === 'string') label = env.method;
  else if (env.error) label = 'error #' + JSON.stringify(env.id);
  else label = 'result #' + JSON.stringify(env.id);
  if (env.method === 'session/update' && env.params && env.params.update) label += ' · ' + env.params.update.sessionUpdate;
  return label;
}

function classOf(env) {
  if (!env || typeof env !== 'object') return 'note';
  if (typeof env.method === 'string') return 'id' in env ? 'areq' : 'note';
  return env.error ? 'rerr' : 'resp';
}

let ui = null; // {list, filter, ctx} once mounted

function row(d) {
  const { h, copyText } = ui.ctx.dom;
  const raw = d.raw != null ? d.raw : JSON.stringify(d.envelope);
  const label = labelOf(d.envelope);
  const time = new Date(d.at).toLocaleTimeString([], { hour12: false }) + '.' + String(d.at % 1000).padStart(3, '0');
  const json = h('pre', { class: 'evjson hidden', text: d.envelope ? JSON.stringify(d.envelope, null, 2) : raw });
  const toggle = h('button', { type: 'button', class: 'sm evtoggle', 'aria-expanded': 'false', title: 'show the JSON', text: '{…}' });
  toggle.onclick = () => {
    const open = json.classList.toggle('hidden') === false;
    toggle.setAttribute('aria-expanded', String(open));
  };
  const copy = h('button', { type: 'button', class: 'sm', title: 'copy the JSON', text: 'copy', onclick: async () => {
    const ok = await copyText(d.envelope ? JSON.stringify(d.envelope, null, 2) : raw);
    ui.ctx.toast(ok ? 'copied' : 'copy failed', ok ? 'ok' : 'error');
  } });
  return h('div', { class: `ev ${classOf(d.envelope)} ${d.dir}`, 'data-dir': d.dir, 'data-server': d.serverId || '', title: d.serverId || '' },
    h('div', { class: 'evline' },
      h('span', { class: 'edir', title: d.dir === 'out' ? 'sent by the Inspector' : 'received', text: d.dir === 'out' ? '→' : '←' }),
      h('span', { class: 'eid', text: '#' + (d.id == null || d.id === '' ? '-' : d.id) }),
      h('span', { class: 'etime', text: time }),
      h('span', { class: 'em', title: label, text: label }),
      h('code', { text: raw.length > 400 ? raw.slice(0, 400) + '…' : raw }),
      toggle, copy),
    json);
}

function matches(el) {
  const q = ui.filter.value.trim();
  const dir = ui.dirSel.value;
  return (!q || el.textContent.includes(q)) && (!dir || el.dataset.dir === dir);
}

function add(d) {
  const el = row(d);
  if (!matches(el)) el.classList.add('hidden');
  ui.list.append(el);
  while (ui.list.childElementCount > MAX) ui.list.firstElementChild.remove();
  ui.empty.classList.add('hidden');
}

function refilter() {
  for (const el of ui.list.children) el.classList.toggle('hidden', !matches(el));
}

export default {
  id: 'events',
  title: 'Events',
  order: 20,
  mount(el, ctx) {
    const { h } = ctx.dom;
    const filter = h('input', { id: 'evFilter', type: 'search', autocomplete: 'off', placeholder: 'filter events', 'aria-label': 'filter events' });
    const dirSel = h('select', { id: 'evDir', 'aria-label': 'direction' },
      h('option', { value: '', text: 'both directions' }), h('option', { value: 'in', text: '← received' }), h('option', { value: 'out', text: '→ sent' }));
    const list = h('div', { id: 'evList' });
    const empty = h('div', { class: 'empty', text: 'No ACP envelopes yet: start or open a session.' });
    ui = { list, filter, dirSel, empty, ctx };
    filter.addEventListener('input', refilter);
    dirSel.addEventListener('change', refilter);
    const clear = h('button', { type: 'button', id: 'evClear', class: 'sm', text: 'Clear', onclick: () => {
      log.length = 0;
      total = 0;
      list.replaceChildren();
      empty.classList.remove('hidden');
      updateCount();
    } });
    el.append(h('div', { class: 'evbar' }, filter, dirSel, clear), empty, list);
    loadCss(new URL('../../css/session.css', import.meta.url));
    for (const d of log) add(d);
    ctx.bus.addEventListener('acp-envelope', (e) => add(e.detail));
    updateCount();
  },
};

