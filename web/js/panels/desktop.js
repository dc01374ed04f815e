// panels/desktop.js - the Desktop panel (http-api.md §10): status, start and stop; a live
// view refreshed from screenshots that takes clicks and keys, or streamed over WebRTC
// (../neko.js) with the mouse and keyboard on the stream's data channel; launching apps; the
// window list; recordings with download. Pure logic (key mapping, scaling, argument
// splitting, the input queue) is in ../desktop_input.js.

import { url as apiUrl, wsUrl } from '../api.js';
import { keyAction, viewToDesktop, fitScale, splitArgs, InputQueue } from '../desktop_input.js';
import { NekoViewer, keysymOf } from '../neko.js';

const STATUS_EVERY_MS = 3000; // status poll while the panel is visible
const FRAME_GAP_MS = 80; // pause between one frame loaded and the next request
const FRAME_RETRY_MS = 1000; // after a failed frame
const CLICK_WAIT_MS = 250; // a click waits this long for a second one (double-click)

// Panel-specific layout only; colours come from the shell's variables when it has them.
const CSS = `
#panel-desktop .dk-grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(260px,340px);gap:12px;align-items:start}
@media (max-width:900px){#panel-desktop .dk-grid{grid-template-columns:minmax(0,1fr)}}
#panel-desktop .dk-card{border:1px solid var(--line,#8884);border-radius:8px;padding:10px 12px;margin-bottom:12px;min-width:0}
#panel-desktop .dk-card h3{font-size:13px;margin:0 0 8px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
#panel-desktop .dk-row{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:6px 0}
#panel-desktop .dk-row label{display:flex;gap:4px;align-items:center;font-size:12px}
#panel-desktop .dk-row input[type=number]{width:6.5em}
#panel-desktop .dk-row input.dk-wide{flex:1;min-width:8em}
#panel-desktop .dk-kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;font-size:12.5px;margin:6px 0}
#panel-desktop .dk-kv dt{opacity:.7}#panel-desktop .dk-kv dd{margin:0;word-break:break-all}
#panel-desktop .dk-state{font-weight:600}
#panel-desktop .dk-state[data-state=active]{color:var(--green,#16a34a)}
#panel-desktop .dk-state[data-state=failed],#panel-desktop .dk-state[data-state=install_required]{color:var(--red,#dc2626)}
#panel-desktop .dk-view{width:fit-content;max-width:100%;position:relative;outline:none;border:2px solid var(--line,#8884);border-radius:6px;line-height:0;background:#000;min-height:60px;cursor:crosshair}
#panel-desktop .dk-view:focus{border-color:var(--accent,#2563eb)}
#panel-desktop .dk-view img,#panel-desktop .dk-view video{width:100%;max-width:100%;height:auto;display:block;user-select:none;-webkit-user-drag:none}
#panel-desktop .dk-streaming{font-size:11.5px;font-weight:400;opacity:.8}
#panel-desktop .dk-view .dk-idle{line-height:1.4;color:#bbb;padding:20px;font-size:13px}
#panel-desktop .dk-hint{font-size:12px;opacity:.75;margin:4px 0 0}
#panel-desktop table{width:100%;border-collapse:collapse;font-size:12.5px}
#panel-desktop td,#panel-desktop th{text-align:left;padding:3px 4px;border-bottom:1px solid var(--line,#8883);vertical-align:middle}
#panel-desktop .badge{margin-left:6px}
#panel-desktop .hidden{display:none!important}
#panel-desktop .err{color:var(--red,#dc2626);font-size:12.5px;margin:4px 0}
#panel-desktop .dk-mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
`;

function injectCss() {
  if (document.getElementById('dk-style')) return;
  const s = document.createElement('style');
  s.id = 'dk-style';
  s.textContent = CSS;
  document.head.append(s);
}

/** The panel's state. Owned by the module (one panel per page); hide() stops its timers. */
const st = {
  ctx: null,
  el: null,
  visible: false,
  status: null, // the last GET /v1/desktop/status body
  pollTimer: null,
  frameTimer: null,
  frameBusy: false, // a frame request or image load is in flight
  frameDone: null, // resolves when the frame in flight ends (stop waits for it)
  halted: false, // no frames: a stop is under way
  frameUrl: null, // the object URL shown now (revoked when replaced)
  frameScale: 1,
  clickTimer: null,
  input: null,
  viewer: null, // the WebRTC viewer while streaming (then no screenshots are fetched)
  streamPoint: null, // the last pointer position sent, to skip repeats
  ui: {}, // elements by name
};

const streaming = () => !!st.viewer;

const isActive = () => st.status?.state === 'active';

function fail(e) {
  st.ctx.toast(e.message || String(e), 'error');
}

/** Runs an action from a button: disables it meanwhile, shows errors inline and as a toast. */
async function busy(btn, fn) {
  if (btn) btn.disabled = true;
  st.ctx.dom.errLine(st.ui.err, '');
  try {
    return await fn();
  } catch (e) {
    st.ctx.dom.errLine(st.ui.err, e.message || String(e));
    fail(e);
    return undefined;
  } finally {
    if (btn) btn.disabled = false;
  }
}

/* ---- status, start, stop ---------------------------------------------------------------- */

async function refreshStatus() {
  try {
    st.status = await st.ctx.api.api('GET', '/v1/desktop/status');
    st.ctx.dom.errLine(st.ui.statusErr, '');
  } catch (e) {
    st.ctx.dom.errLine(st.ui.statusErr, 'status: ' + e.message);
  }
  renderStatus();
  syncLoops();
}

function schedulePoll() {
  clearTimeout(st.pollTimer);
  if (!st.visible) return;
  st.pollTimer = setTimeout(async () => {
    await refreshStatus();
    schedulePoll();
  }, STATUS_EVERY_MS);
}

function renderStatus() {
  const { h } = st.ctx.dom;
  const s = st.status;
  const u = st.ui;
  const state = s ? s.state : 'unknown';
  u.state.textContent = state;
  u.state.dataset.state = state;
  const kv = [];
  if (s?.display) kv.push(['display', s.display]);
  if (s?.resolution) kv.push(['resolution', `${s.resolution.width}×${s.resolution.height}${s.resolution.dpi ? ` @ ${s.resolution.dpi} dpi` : ''}`]);
  if (s?.startedAt) kv.push(['started', new Date(s.startedAt).toLocaleString()]);
  if (s?.lastError) kv.push(['last error', `${s.lastError.code}: ${s.lastError.message}`]);
  if (s?.missingDependencies?.length) kv.push(['missing', s.missingDependencies.join(', ')]);
  if (s?.runtimeLogPath) kv.push(['log', s.runtimeLogPath]);
  u.kv.replaceChildren(...kv.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { class: k === 'last error' ? 'err' : '', text: v })]));

  const install = s?.state === 'install_required' && s.installCommand;
  u.install.classList.toggle('hidden', !install);
  if (install) u.installCmd.textContent = s.installCommand;

  const procs = s?.processes || [];
  u.procs.replaceChildren(...(procs.length
    ? procs.map((p) => h('li', { class: 'dk-mono' }, `${p.name}${p.pid ? ' pid ' + p.pid : ''} `, h('span', { text: p.running ? 'running' : 'not running' })))
    : [h('li', { class: 'muted', text: 'no runtime processes' })]));

  const busyState = state === 'starting' || state === 'stopping';
  u.start.disabled = busyState || state === 'active';
  u.stop.disabled = busyState || !(state === 'active' || state === 'failed');
  for (const b of [u.launch, u.recStart, u.recStop, u.winRefresh]) b.disabled = !isActive();
}

function numField(input, name, body) {
  const t = input.value.trim();
  if (!t) return;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0`);
  body[name] = n;
}

async function startDesktop() {
  await busy(st.ui.start, async () => {
    const body = {};
    numField(st.ui.width, 'width', body);
    numField(st.ui.height, 'height', body);
    numField(st.ui.dpi, 'dpi', body);
    numField(st.ui.displayNum, 'displayNum', body);
    st.ui.state.textContent = 'starting…';
    try {
      st.status = await st.ctx.api.api('POST', '/v1/desktop/start', body);
    } finally {
      await refreshStatus();
    }
    st.ctx.toast(`desktop ${st.status?.display || ''} started`, 'ok');
    await refreshWindows();
    await refreshRecordings();
  });
}

async function stopDesktop() {
  await busy(st.ui.stop, async () => {
    st.ui.state.textContent = 'stopping…';
    // A frame asked for after the stop would fail (409) and log a console error: let the one
    // in flight finish and ask for no more until the stop is answered.
    st.halted = true;
    clearTimeout(st.frameTimer);
    st.frameTimer = null;
    await st.frameDone;
    try {
      st.status = await st.ctx.api.api('POST', '/v1/desktop/stop');
    } finally {
      st.halted = false;
      await refreshStatus();
    }
    st.ctx.toast('desktop stopped', 'ok');
    renderWindows([]);
    await refreshRecordings();
  });
}

/* ---- the live view ---------------------------------------------------------------------- */

/** Starts or stops the frame loop to match visibility and state. */
function syncLoops() {
  if (st.viewer && (!isActive() || !st.visible)) stopStream();
  const run = st.visible && isActive() && !st.halted && !streaming();
  st.ui.video.classList.toggle('hidden', !streaming());
  st.ui.stream.textContent = streaming() ? 'Screenshots' : 'Stream (WebRTC)';
  st.ui.stream.disabled = !isActive();
  st.ui.img.classList.toggle('hidden', !run || !st.frameUrl);
  st.ui.idle.classList.toggle('hidden', streaming() || (run && !!st.frameUrl));
  st.ui.idle.textContent = isActive() ? 'loading the screen…' : 'The desktop is not running. Start it to see it here.';
  if (run && !st.frameBusy && !st.frameTimer) nextFrame(0);
  if (!run) {
    clearTimeout(st.frameTimer);
    st.frameTimer = null;
    if (!isActive()) dropFrame();
  }
}

function dropFrame() {
  if (st.frameUrl) URL.revokeObjectURL(st.frameUrl);
  st.frameUrl = null;
  st.ui.img.removeAttribute('src');
  st.ui.img.classList.add('hidden');
}

function nextFrame(ms) {
  clearTimeout(st.frameTimer);
  st.frameTimer = setTimeout(() => {
    st.frameTimer = null;
    frame();
  }, ms);
}

/**
 * One frame: a JPEG screenshot scaled to the pane, shown once decoded; the next request
 * only after that, so slow links never pile requests up. Frames bypass request() on
 * purpose: several a second would drown every other call in the request log.
 */
function frame() {
  if (!st.visible || !isActive() || st.frameBusy || st.halted || streaming()) return;
  st.frameBusy = true;
  st.frameDone = frameOnce();
}

async function frameOnce() {
  let wait = FRAME_GAP_MS;
  try {
    const w = st.status.resolution?.width || 0;
    st.ui.img.style.width = w ? `min(${w}px, 100%)` : '';
    st.frameScale = fitScale(st.ui.view.parentElement.clientWidth, w, window.devicePixelRatio);
    const res = await fetch(apiUrl(`/v1/desktop/screenshot?format=jpeg&quality=70&scale=${st.frameScale}`), {
      headers: st.ctx.api.authHeaders({ Accept: 'image/*' }),
      cache: 'no-store',
    });
    if (!res.ok) {
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      throw new Error('live view: ' + st.ctx.api.problemText({ status: res.status, json, text }));
    }
    const url = URL.createObjectURL(await res.blob());
    await showImage(url);
    st.ctx.dom.errLine(st.ui.viewErr, '');
  } catch (e) {
    st.ctx.dom.errLine(st.ui.viewErr, e.message || String(e));
    wait = FRAME_RETRY_MS;
    // A failed frame often means the desktop changed state: ask once, the poll does the rest.
    if (st.visible) refreshStatus();
  } finally {
    st.frameBusy = false;
  }
  if (st.visible && isActive() && !st.halted && !streaming()) nextFrame(wait);
}

function showImage(url) {
  return new Promise((resolve, reject) => {
    const img = st.ui.img;
    img.onload = () => {
      if (st.frameUrl) URL.revokeObjectURL(st.frameUrl);
      st.frameUrl = url;
      // A frame asked for before the stream started lands after it: keep it hidden then.
      img.classList.toggle('hidden', streaming());
      st.ui.idle.classList.add('hidden');
      resolve();
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error('live view: the screenshot did not decode'));
    };
    img.src = url;
  });
}

/** Desktop coordinates of a mouse event on the view. */
function eventPoint(e) {
  const r = st.ui.img.getBoundingClientRect();
  const res = st.status.resolution;
  return viewToDesktop(e.clientX - r.left, e.clientY - r.top, r.width, r.height, res.width, res.height);
}

function onViewClick(e) {
  if (!isActive() || !st.frameUrl || streaming()) return;
  e.preventDefault();
  st.ui.view.focus();
  const p = eventPoint(e);
  clearTimeout(st.clickTimer);
  if (e.detail >= 2) {
    st.clickTimer = null;
    st.input.action('click', { x: p.x, y: p.y, button: 'left', clickCount: 2 });
    return;
  }
  // Wait a moment: a second click makes this a double-click instead of two singles.
  st.clickTimer = setTimeout(() => {
    st.clickTimer = null;
    st.input.action('click', { x: p.x, y: p.y, button: 'left' });
  }, CLICK_WAIT_MS);
}

function onViewContextMenu(e) {
  if (streaming()) {
    e.preventDefault();
    return;
  }
  if (!isActive() || !st.frameUrl) return;
  e.preventDefault();
  st.ui.view.focus();
  const p = eventPoint(e);
  st.input.action('click', { x: p.x, y: p.y, button: 'right' });
}

function onViewKey(e) {
  if (!isActive() || onStreamKey(e)) return;
  const a = keyAction({ key: e.key, ctrlKey: e.ctrlKey, altKey: e.altKey, shiftKey: e.shiftKey, metaKey: e.metaKey, altGraph: e.getModifierState && e.getModifierState('AltGraph') });
  if (!a) return;
  e.preventDefault();
  e.stopPropagation();
  if (a.release) st.ui.view.blur();
  else if (a.text) st.input.text(a.text);
  else st.input.action('press', a.modifiers ? { key: a.press, modifiers: a.modifiers } : { key: a.press });
}

async function sendInput(kind, body) {
  const path = { type: '/v1/desktop/keyboard/type', press: '/v1/desktop/keyboard/press', click: '/v1/desktop/mouse/click' }[kind];
  await st.ctx.api.api('POST', path, body);
  if (kind === 'click') setTimeout(() => { if (st.visible && isActive()) refreshWindows(); }, 300);
}

/* ---- the WebRTC stream ------------------------------------------------------------------ */

async function toggleStream() {
  if (streaming()) {
    stopStream();
    syncLoops();
    return;
  }
  await busy(st.ui.stream, async () => {
    await st.ctx.api.api('POST', '/v1/desktop/stream/start');
    st.ui.streamInfo.textContent = 'connecting…';
    st.viewer = new NekoViewer(wsUrl('/v1/desktop/stream/signaling'), {
      onTrack: (stream) => {
        st.ui.video.srcObject = stream;
        st.ui.video.play().catch(() => {});
      },
      onState: (s) => { st.ui.streamInfo.textContent = s === 'connected' ? 'WebRTC · live' : `WebRTC · ${s}`; },
      onClose: (message) => {
        const was = st.viewer;
        st.viewer = null;
        st.ui.video.srcObject = null;
        st.ui.streamInfo.textContent = '';
        if (was && message !== 'closed') st.ctx.dom.errLine(st.ui.viewErr, `stream ended: ${message}`);
        syncLoops();
      },
    });
    syncLoops();
  });
}

function stopStream() {
  const v = st.viewer;
  st.viewer = null;
  if (v) v.close();
  if (st.ui.video) st.ui.video.srcObject = null;
  if (st.ui.streamInfo) st.ui.streamInfo.textContent = '';
}

/** Desktop coordinates of a mouse event on the video. */
function videoPoint(e) {
  const r = st.ui.video.getBoundingClientRect();
  const res = st.viewer?.size || st.status.resolution;
  return viewToDesktop(e.clientX - r.left, e.clientY - r.top, r.width, r.height, res.width, res.height);
}

const BUTTONS = { 0: 1, 1: 2, 2: 3 }; // MouseEvent.button to X buttons

function onVideoMouse(e) {
  if (!st.viewer) return;
  const p = videoPoint(e);
  if (e.type === 'mousemove') {
    if (st.streamPoint && st.streamPoint.x === p.x && st.streamPoint.y === p.y) return;
    st.streamPoint = p;
    st.viewer.move(p.x, p.y);
    return;
  }
  e.preventDefault();
  st.ui.view.focus();
  st.viewer.move(p.x, p.y);
  st.viewer.button(BUTTONS[e.button] || 1, e.type === 'mousedown');
}

function onVideoWheel(e) {
  if (!st.viewer) return;
  e.preventDefault();
  const p = videoPoint(e);
  st.viewer.move(p.x, p.y);
  st.viewer.scroll(Math.round(e.deltaX), Math.round(e.deltaY));
}

/** Keys go to the stream as keysyms, down and up, while the view has the focus. */
function onStreamKey(e) {
  if (!st.viewer) return false;
  if (e.type === 'keydown' && e.ctrlKey && e.key === ']') {
    st.ui.view.blur();
    return true;
  }
  const sym = keysymOf(e.key, e.code);
  if (!sym) return false;
  e.preventDefault();
  e.stopPropagation();
  st.viewer.key(sym, e.type === 'keydown');
  return true;
}

/* ---- launch and windows ----------------------------------------------------------------- */

async function launchApp(e) {
  e.preventDefault();
  await busy(st.ui.launch, async () => {
    const app = st.ui.app.value.trim();
    if (!app) throw new Error('launch: name an app (e.g. xterm)');
    const args = splitArgs(st.ui.args.value);
    const r = await st.ctx.api.api('POST', '/v1/desktop/launch', { app, args, wait: true });
    st.ui.launched.textContent = `${app}: ${r.processId} pid ${r.pid}${r.windowId ? ' window ' + r.windowId : ' (no window yet)'}`;
    st.ctx.toast(`launched ${app} (${r.processId})`, 'ok');
    await refreshWindows();
  });
}

async function refreshWindows() {
  if (!isActive()) return renderWindows([]);
  try {
    const r = await st.ctx.api.api('GET', '/v1/desktop/windows');
    st.ctx.dom.errLine(st.ui.winErr, '');
    renderWindows(r.windows || []);
  } catch (e) {
    st.ctx.dom.errLine(st.ui.winErr, 'windows: ' + e.message);
  }
}

function renderWindows(list) {
  const { h } = st.ctx.dom;
  if (!list.length) {
    st.ui.windows.replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'muted', text: isActive() ? 'no windows' : 'desktop not running' })));
    return;
  }
  st.ui.windows.replaceChildren(...list.map((w) => h('tr', { 'data-window': w.id },
    h('td', {}, h('span', { text: w.title || '(untitled)' }), w.isActive ? h('span', { class: 'badge', text: 'active' }) : null),
    h('td', { class: 'dk-mono', text: w.id }),
    h('td', { class: 'dk-mono', text: `${w.width}×${w.height}+${w.x}+${w.y}` }),
    h('td', {}, h('button', { type: 'button', class: 'sm', 'data-focus': w.id, 'aria-label': `Focus window ${w.title || w.id}`, onclick: (e) => focusWindow(e.currentTarget, w.id) }, 'Focus')))));
}

async function focusWindow(btn, id) {
  await busy(btn, async () => {
    await st.ctx.api.api('POST', `/v1/desktop/windows/${encodeURIComponent(id)}/focus`);
    await refreshWindows();
  });
}

/* ---- recordings ------------------------------------------------------------------------- */

async function startRecording() {
  await busy(st.ui.recStart, async () => {
    const body = {};
    numField(st.ui.fps, 'fps', body);
    const r = await st.ctx.api.api('POST', '/v1/desktop/recording/start', body);
    st.ctx.toast(`recording ${r.id}`, 'ok');
    await refreshRecordings();
  });
}

async function stopRecording() {
  await busy(st.ui.recStop, async () => {
    const r = await st.ctx.api.api('POST', '/v1/desktop/recording/stop');
    st.ctx.toast(`${r.id} ${r.status}`, 'ok');
    await refreshRecordings();
  });
}

async function refreshRecordings() {
  try {
    const r = await st.ctx.api.api('GET', '/v1/desktop/recordings');
    st.ctx.dom.errLine(st.ui.recErr, '');
    renderRecordings(r.recordings || []);
  } catch (e) {
    st.ctx.dom.errLine(st.ui.recErr, 'recordings: ' + e.message);
  }
}

function renderRecordings(list) {
  const { h, fmtBytes } = st.ctx.dom;
  if (!list.length) {
    st.ui.recs.replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'no recordings' })));
    return;
  }
  st.ui.recs.replaceChildren(...list.map((r) => h('tr', { 'data-rec': r.id },
    h('td', { class: 'dk-mono', text: r.id }),
    h('td', { class: 'dk-rec-status', text: r.status }),
    h('td', { text: `${fmtBytes(r.bytes)}${r.startedAt ? ' · ' + new Date(r.startedAt).toLocaleTimeString() : ''}` }),
    h('td', {},
      h('button', { type: 'button', class: 'sm', 'data-download': r.id, 'aria-label': `Download ${r.id}`, onclick: (e) => downloadRecording(e.currentTarget, r.id) }, 'Download'),
      ' ',
      h('button', { type: 'button', class: 'sm danger', 'data-delete': r.id, 'aria-label': `Delete ${r.id}`, disabled: r.status === 'recording', onclick: (e) => deleteRecording(e.currentTarget, r.id) }, 'Delete')))));
}

async function downloadRecording(btn, id) {
  await busy(btn, async () => {
    const r = await st.ctx.api.request('GET', `/v1/desktop/recordings/${encodeURIComponent(id)}/download`, { accept: 'blob', headers: { Accept: 'video/mp4' } });
    if (!r.ok) throw new st.ctx.api.HttpError(r);
    const url = URL.createObjectURL(r.blob);
    const a = st.ctx.dom.h('a', { href: url, download: `${id}.mp4`, class: 'hidden' });
    document.body.append(a);
    a.click();
    a.remove();
    // The download has its own copy once started; keep the URL a while for slow browsers.
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });
}

async function deleteRecording(btn, id) {
  await busy(btn, async () => {
    const r = await st.ctx.api.request('DELETE', `/v1/desktop/recordings/${encodeURIComponent(id)}`);
    if (!r.ok) throw new st.ctx.api.HttpError(r);
    st.ctx.toast(`${id} deleted`, 'ok');
    await refreshRecordings();
  });
}

/* ---- layout ----------------------------------------------------------------------------- */

function build(el) {
  const { h } = st.ctx.dom;
  const u = st.ui;
  const num = (name, label, ph) => h('label', {}, label, (u[name] = h('input', { type: 'number', min: 0, step: 1, name, placeholder: ph, inputmode: 'numeric' })));

  u.state = h('span', { class: 'dk-state', 'aria-live': 'polite', text: '…' });
  u.kv = h('dl', { class: 'dk-kv' });
  u.installCmd = h('code', { class: 'dk-mono' });
  u.install = h('div', { class: 'dk-install hidden' },
    'Install the dependencies on the server: ', u.installCmd, ' ',
    h('button', { type: 'button', class: 'sm', onclick: async () => st.ctx.toast((await st.ctx.dom.copyText(u.installCmd.textContent)) ? 'copied' : 'copy refused', 'ok') }, 'Copy'));
  u.procs = h('ul', { class: 'dk-procs' });
  u.start = h('button', { type: 'button', class: 'primary', id: 'dkStart', onclick: startDesktop }, 'Start');
  u.stop = h('button', { type: 'button', class: 'danger', id: 'dkStop', onclick: stopDesktop }, 'Stop');
  u.statusErr = h('div', { class: 'err hidden' });
  u.err = h('div', { class: 'err hidden', role: 'alert' });

  u.img = h('img', { class: 'hidden', alt: 'live view of the desktop', draggable: 'false' });
  u.idle = h('div', { class: 'dk-idle' });
  u.video = h('video', { class: 'hidden', autoplay: true, playsinline: true, muted: true, 'aria-label': 'live stream of the desktop', onmousemove: onVideoMouse, onmousedown: onVideoMouse, onmouseup: onVideoMouse, onwheel: onVideoWheel });
  u.video.muted = true;
  u.view = h('div', { class: 'dk-view', tabindex: 0, role: 'application', 'aria-label': 'Desktop live view: click to click, type to type; Ctrl+] leaves', onclick: onViewClick, oncontextmenu: onViewContextMenu, onkeydown: onViewKey, onkeyup: onStreamKey }, u.img, u.video, u.idle);
  u.stream = h('button', { type: 'button', class: 'sm', id: 'dkStream', onclick: toggleStream }, 'Stream (WebRTC)');
  u.streamInfo = h('span', { class: 'dk-streaming', 'aria-live': 'polite' });
  u.viewErr = h('div', { class: 'err hidden' });

  u.app = h('input', { name: 'app', placeholder: 'xterm', class: 'dk-wide', 'aria-label': 'app' });
  u.args = h('input', { name: 'args', placeholder: "args: -e sh -c 'top'  or  [\"-e\",\"top\"]", class: 'dk-wide', 'aria-label': 'arguments' });
  u.launch = h('button', { type: 'submit', id: 'dkLaunch' }, 'Launch');
  u.launched = h('div', { class: 'dk-hint dk-launched' });

  u.windows = h('tbody');
  u.winRefresh = h('button', { type: 'button', class: 'sm', onclick: refreshWindows }, 'Refresh');
  u.winErr = h('div', { class: 'err hidden' });

  u.recs = h('tbody');
  u.recStart = h('button', { type: 'button', id: 'dkRecStart', onclick: startRecording }, 'Start recording');
  u.recStop = h('button', { type: 'button', id: 'dkRecStop', onclick: stopRecording }, 'Stop recording');
  u.recErr = h('div', { class: 'err hidden' });

  el.append(h('div', { class: 'dk-grid' },
    h('div', {},
      h('section', { class: 'dk-card', 'aria-label': 'Live view' },
        h('h3', {}, 'Live view', u.stream, u.streamInfo),
        u.view,
        h('p', { class: 'dk-hint', text: 'Click to click (right-click, double-click work); with the view focused, keys go to the desktop. Ctrl+] gives the keyboard back.' }),
        u.viewErr,
        h('form', { class: 'dk-row', onsubmit: launchApp, 'aria-label': 'Launch app' }, h('strong', { text: 'Launch app' }), u.app, u.args, u.launch),
        u.launched)),
    h('div', {},
      h('section', { class: 'dk-card', 'aria-label': 'Desktop status' },
        h('h3', {}, 'Desktop ', u.state, h('button', { type: 'button', class: 'sm', onclick: refreshStatus }, 'Refresh')),
        u.kv, u.install,
        h('div', { class: 'dk-row' }, num('width', 'width', '1440'), num('height', 'height', '900')),
        h('div', { class: 'dk-row' }, num('dpi', 'dpi', '96'), num('displayNum', 'display :', '99')),
        h('div', { class: 'dk-row' }, u.start, u.stop),
        u.err, u.statusErr,
        h('details', {}, h('summary', { text: 'Processes' }), u.procs)),
      h('section', { class: 'dk-card', 'aria-label': 'Windows' },
        h('h3', {}, 'Windows', u.winRefresh),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', { text: 'title' }), h('th', { text: 'id' }), h('th', { text: 'geometry' }), h('th'))), u.windows),
        u.winErr),
      h('section', { class: 'dk-card', 'aria-label': 'Recordings' },
        h('h3', {}, 'Recordings'),
        h('div', { class: 'dk-row' }, u.recStart, u.recStop, num('fps', 'fps', '30')),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', { text: 'id' }), h('th', { text: 'status' }), h('th', { text: 'size · started' }), h('th'))), u.recs),
        u.recErr))));
}

export default {
  id: 'desktop',
  title: 'Desktop',
  order: 70,
  mount(el, ctx) {
    st.ctx = ctx;
    st.el = el;
    try {
      injectCss();
      build(el);
      st.input = new InputQueue(sendInput, { onError: (e) => { st.ctx.dom.errLine(st.ui.viewErr, e.message); fail(e); } });
      renderStatus();
      renderWindows([]);
      renderRecordings([]);
    } catch (e) {
      el.append(Object.assign(document.createElement('div'), { className: 'err', textContent: 'desktop panel: ' + (e.message || e) }));
    }
  },
  show() {
    if (!st.ctx || !st.ui.view) return;
    st.visible = true;
    refreshStatus().then(() => { refreshWindows(); refreshRecordings(); });
    schedulePoll();
  },
  hide() {
    st.visible = false;
    stopStream();
    clearTimeout(st.pollTimer);
    clearTimeout(st.frameTimer);
    st.frameTimer = null;
    if (st.input) st.input.flush();
    syncLoops();
  },
};
