// requests.js - the Requests panel: every HTTP call the Inspector made (api.onRequest),
// newest first, with status and duration; one selected shows its headers, request body and
// response, and can be copied as a curl command that replays it.
import { onRequest, curlOf } from '../api.js';

const CAP = 500; // entries kept; older ones fall off

// Recorded from import time (the shell imports every panel at start), so the calls made
// before the panel is first shown are in the log too.
let entries = []; // newest first
let selected = null;
let ctx = null, el = null, filter = '', pending = false;

onRequest((e) => {
  if (!entries.includes(e)) {
    entries.unshift(e);
    if (entries.length > CAP) entries.length = CAP;
  }
  schedule();
});

function schedule() {
  if (!el || pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function statusText(e) {
  if (e.error) return 'failed';
  return e.status == null ? '…' : String(e.status);
}

function statusClass(e) {
  if (e.error || (e.status != null && e.status >= 400)) return 'st-err';
  return e.status != null ? 'st-ok' : 'muted';
}

/** Headers as shown on screen: the token hidden (screenshots); curl keeps it. */
function shownHeaders(hd) {
  const out = {};
  for (const [k, v] of Object.entries(hd || {})) out[k] = /^authorization$/i.test(k) ? v.replace(/^(Bearer )?.*/, (m, b) => `${b || ''}•••• (hidden)`) : v;
  return out;
}

function render() {
  const { h } = ctx.dom;
  const f = filter.toLowerCase();
  const shown = f ? entries.filter((e) => `${e.method} ${e.path} ${statusText(e)}`.toLowerCase().includes(f)) : entries;
  el.querySelector('#reqCount').textContent = `${entries.length}${entries.length >= CAP ? ' (the last ' + CAP + ')' : ''}`;
  const tbody = el.querySelector('#reqs tbody');
  if (!shown.length) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'empty', text: entries.length ? 'no request matches' : 'no requests yet' })));
  } else {
    tbody.replaceChildren(...shown.map((e) => h('tr', {
      class: 'click' + (e === selected ? ' sel' : ''), 'data-req': e.id, tabindex: '0',
      onclick: () => select(e),
      onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); select(e); } },
    },
      h('td', { class: 'mono', text: e.method }),
      h('td', { class: 'path', text: e.path }),
      h('td', { class: statusClass(e), text: statusText(e) }),
      h('td', { class: 'mono', text: e.ms == null ? '' : `${Math.round(e.ms)} ms` }))));
  }
  renderDetail();
}

function renderDetail() {
  const { h, pretty } = ctx.dom;
  const d = el.querySelector('#reqDetail');
  if (!selected) {
    d.replaceChildren(h('p', { class: 'empty', text: 'Select a request to see its headers, body and response.' }));
    return;
  }
  const e = selected;
  let resp = e.error || e.response || '';
  try { if (resp && /^[[{]/.test(resp)) resp = pretty(JSON.parse(resp)); } catch { /* not JSON: as is */ }
  let body = e.body;
  try { if (body && /^[[{]/.test(body)) body = pretty(JSON.parse(body)); } catch { /* as is */ }
  d.replaceChildren(
    h('div', { class: 'bar' },
      h('b', { class: 'mono', text: `${e.method} ${e.path}` }),
      h('span', { class: statusClass(e), text: statusText(e) }),
      h('span', { class: 'muted', text: e.ms == null ? '' : `${Math.round(e.ms)} ms · ${new Date(e.at).toLocaleTimeString()}` }),
      h('button', { type: 'button', class: 'sm', id: 'reqCurl', text: 'Copy as curl', onclick: () => copyCurl(e) })),
    h('h3', { text: 'Request headers' }),
    h('pre', { class: 'req-headers', text: pretty(shownHeaders(e.headers)) }),
    h('h3', { text: 'Request body' }),
    h('pre', { class: 'req-body', text: body == null ? '(none)' : body }),
    h('h3', { text: e.error ? 'Error' : 'Response' }),
    h('pre', { class: 'req-response' + (e.error ? ' err' : ''), text: resp || (e.status == null ? '(waiting)' : '(empty)') }),
    h('h3', { text: 'curl' }),
    h('pre', { class: 'req-curl', text: curlOf(e) }));
}

async function copyCurl(e) {
  const ok = await ctx.dom.copyText(curlOf(e));
  ctx.toast(ok ? 'curl command copied' : 'the browser refused the clipboard: copy it from the curl box', ok ? 'ok' : 'error');
}

function select(e) {
  selected = e;
  render();
}

export default {
  id: 'requests',
  title: 'Requests',
  order: 25,
  mount(root, c) {
    ctx = c;
    const { h } = ctx.dom;
    root.append(h('div', { class: 'split' },
      h('div', { class: 'card' },
        h('h2', {}, 'Requests ', h('span', { id: 'reqCount', class: 'muted' }), h('span', { class: 'sp' }),
          h('input', { id: 'reqFilter', type: 'search', placeholder: 'filter', 'aria-label': 'Filter requests',
            oninput: (ev) => { filter = ev.target.value; render(); } }),
          h('button', { type: 'button', class: 'sm', id: 'reqClear', text: 'Clear',
            onclick: () => { entries = []; selected = null; render(); } })),
        h('div', { class: 'scroll-x' },
          h('table', { id: 'reqs' },
            h('thead', {}, h('tr', {}, ...['Method', 'Path', 'Status', 'Time'].map((t) => h('th', { text: t })))),
            h('tbody')))),
      h('div', { class: 'card detail', id: 'reqDetail' })));
    el = root;
    render();
  },
};
