// agents.js - the Agents panel: every agent the server knows (GET /v1/agents?config=true)
// with its install state, version, credentials, capabilities and running ACP servers, and
// Install / Reinstall (POST /v1/agents/{id}/install), which can take minutes: the row shows
// a spinner until the server answers, then the result or the problem.

const POLL_MS = 10000; // server status changes as sessions start and end

let ctx, el, timer = null, visible = false;
const busy = new Map(); // agent id -> 'installing…' while an install is in flight

function capBadges(caps) {
  const { h } = ctx.dom;
  const on = Object.entries(caps || {}).filter(([, v]) => v === true).map(([k]) => k);
  if (!on.length) return h('span', { class: 'muted', text: 'none' });
  return on.map((k) => h('span', { class: 'badge', 'data-cap': k, text: k }));
}

function serverCell(a) {
  const { h, fmtDur } = ctx.dom;
  const s = a.serverStatus;
  if (!s) return h('span', { class: 'muted', text: '—' });
  const up = typeof s.uptimeMs === 'number' ? ` ${fmtDur(s.uptimeMs)}` : '';
  return h('span', { class: s.status === 'running' ? 'run' : '', text: `${s.status}${up}` });
}

function actionCell(a) {
  const { h } = ctx.dom;
  const td = h('td', { class: 'act' });
  if (busy.has(a.id)) {
    td.append(h('span', { class: 'spin', 'aria-hidden': 'true' }), h('span', { class: 'installing', text: 'installing…' }));
    return td;
  }
  const reinstall = !!a.installed;
  td.append(h('button', {
    type: 'button', class: 'sm' + (reinstall ? '' : ' primary'), 'data-install': a.id,
    text: reinstall ? 'Reinstall' : 'Install',
    'aria-label': `${reinstall ? 'Reinstall' : 'Install'} ${a.id}`,
    onclick: () => install(a.id, reinstall),
  }));
  return td;
}

function row(a) {
  const { h } = ctx.dom;
  const yn = (v) => h('span', { class: v ? 'yes' : 'no', text: v ? 'yes' : 'no' });
  return h('tr', { 'data-agent': a.id },
    h('td', {}, h('b', { class: 'mono', text: a.id })),
    h('td', {}, yn(a.installed)),
    h('td', {}, yn(a.credentialsAvailable)),
    h('td', { class: 'mono', text: a.version || '' }),
    h('td', {}, serverCell(a)),
    h('td', { class: 'caps' }, capBadges(a.capabilities)),
    actionCell(a));
}

let last = [];
function render() {
  const tbody = el.querySelector('#agents tbody');
  if (!last.length) {
    tbody.replaceChildren(ctx.dom.h('tr', {}, ctx.dom.h('td', { colspan: 7, class: 'empty', text: 'no agents' })));
    return;
  }
  tbody.replaceChildren(...last.map(row));
}

function problemOf(e) {
  const stderr = e && e.problem && e.problem.details && e.problem.details.stderr;
  let msg = e && e.message ? e.message : String(e);
  if (e && e.status === 401 && e.problem && e.problem.title) msg += ` (${e.problem.title})`;
  return stderr ? `${msg}\n${stderr}` : msg;
}

async function refresh() {
  clearTimeout(timer);
  const errEl = el.querySelector('#agErr');
  try {
    const j = await ctx.api.api('GET', '/v1/agents?config=true');
    last = Array.isArray(j && j.agents) ? j.agents : [];
    ctx.dom.errLine(errEl, '');
    render();
  } catch (e) {
    ctx.dom.errLine(errEl, problemOf(e));
  }
  if (visible) timer = setTimeout(refresh, POLL_MS);
}

async function install(id, reinstall) {
  const resEl = el.querySelector('#agResult');
  busy.set(id, true);
  render();
  try {
    const r = await ctx.api.api('POST', `/v1/agents/${encodeURIComponent(id)}/install`, reinstall ? { reinstall: true } : {});
    const arts = (r && r.artifacts) || [];
    const what = r && r.already_installed ? 'already installed'
      : `installed ${arts.map((x) => `${x.kind} ${x.version || ''} (${x.source})`).join(', ') || ''}`;
    resEl.className = 'ok-line';
    resEl.textContent = `${id}: ${what}`;
    ctx.toast(`${id}: ${what}`, 'ok');
  } catch (e) {
    resEl.className = 'err';
    resEl.textContent = `${id}: ${problemOf(e)}`;
    ctx.toast(`${id}: install failed`, 'error');
  } finally {
    busy.delete(id);
    refresh();
  }
}

export default {
  id: 'agents',
  title: 'Agents',
  order: 30,
  mount(root, c) {
    ctx = c;
    el = root;
    const { h } = ctx.dom;
    root.append(h('div', { class: 'card' },
      h('h2', {}, 'Agents', h('span', { class: 'sp' }),
        h('button', { type: 'button', class: 'sm', id: 'agRefresh', text: 'Refresh', onclick: refresh })),
      h('div', { id: 'agErr', class: 'err hidden', role: 'alert' }),
      h('div', { class: 'scroll-x' },
        h('table', { id: 'agents' },
          h('thead', {}, h('tr', {}, ...['Agent', 'Installed', 'Credentials', 'Version', 'Server', 'Capabilities', ''].map((t) => h('th', { text: t })))),
          h('tbody', {}, h('tr', {}, h('td', { colspan: 7, class: 'empty', text: 'loading…' }))))),
      h('div', { id: 'agResult', role: 'status' })));
    ctx.bus.addEventListener('conn', () => { if (visible) refresh(); });
  },
  show() { visible = true; refresh(); },
  hide() { visible = false; clearTimeout(timer); },
};
