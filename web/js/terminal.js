// terminal.js - an xterm.js terminal attached to a tty process's WebSocket
// (GET /v1/processes/{id}/terminal/ws), sized to its pane.
//
// xterm.js and its fit addon are the UMD builds vendored at /ui/vendor/, loaded with a
// <script> on first use (they define window.Terminal and window.FitAddon), so panels that
// never open a terminal never pay for them.
//
// Protocol (spec §9.11): the server sends a text {"type":"ready"} first, binary frames of
// live PTY output (no replay: history comes from the logs API), text {"type":"exit",
// exitCode} then a close; text {"type":"error",message} keeps the socket open. We send text
// JSON frames: {"type":"input",data} (utf8 by default) and {"type":"resize",cols,rows}.

import { loadCss } from './dom.js';
import * as api from './api.js';
import { entryBytes } from './proc_logic.js';

const VENDOR = new URL('../vendor/', import.meta.url);
let loading = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

/** Loads xterm.js, its CSS and the fit addon once. */
export function loadXterm() {
  if (!loading) {
    loading = (async () => {
      loadCss(new URL('xterm.css', VENDOR));
      if (!window.Terminal) await loadScript(new URL('xterm.js', VENDOR).href);
      if (!window.FitAddon) await loadScript(new URL('addon-fit.js', VENDOR).href);
    })();
    loading.catch(() => { loading = null; });
  }
  return loading;
}

/**
 * Opens a terminal for process `id` inside `el`. cb: {status(text, kind), exit(code), error(msg)}.
 * Returns {close(), focus(), size(), term}. The caller calls close() when the pane goes away;
 * the process keeps running (we send {"type":"close"}).
 */
export async function openTerminal(el, id, cb = {}) {
  await loadXterm();
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const term = new window.Terminal({
    convertEol: false,
    cursorBlink: true,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
    fontSize: 13,
    scrollback: 5000,
    theme: dark ? { background: '#0b0f14', foreground: '#e5e7eb' } : { background: '#111827', foreground: '#f3f4f6' },
  });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);

  let ws = null;
  let closed = false;
  let exited = false; // the exit frame came: the close that follows is expected
  let lastSent = '';
  const send = (obj) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj)); };
  const sendSize = () => {
    const key = `${term.cols}x${term.rows}`;
    if (key === lastSent) return;
    lastSent = key;
    send({ type: 'resize', cols: term.cols, rows: term.rows });
    cb.resized?.(term.cols, term.rows);
  };
  // Fit only while the pane is laid out: a hidden pane measures 0 and would shrink the PTY.
  const refit = () => {
    if (closed || !el.clientWidth || !el.clientHeight) return;
    try { fit.fit(); } catch { /* not rendered yet */ }
    sendSize();
  };
  let raf = 0;
  const ro = new ResizeObserver(() => { cancelAnimationFrame(raf); raf = requestAnimationFrame(refit); });
  ro.observe(el);
  refit();

  // History first (the socket does not replay), then live output.
  try {
    const r = await api.request('GET', `/v1/processes/${encodeURIComponent(id)}/logs?stream=pty&tail=2000`);
    if (r.ok && r.json) for (const e of r.json.entries || []) term.write(entryBytes(e));
  } catch { /* history is a convenience; the socket still works */ }

  ws = new WebSocket(api.wsUrl(`/v1/processes/${encodeURIComponent(id)}/terminal/ws`));
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => cb.status?.('connected', 'ok');
  ws.onmessage = (m) => {
    if (typeof m.data !== 'string') { term.write(new Uint8Array(m.data)); return; }
    let f;
    try { f = JSON.parse(m.data); } catch { cb.error?.('unreadable frame: ' + m.data.slice(0, 200)); return; }
    if (f.type === 'ready') { lastSent = ''; refit(); sendSize(); }
    else if (f.type === 'exit') {
      exited = true;
      term.write(`\r\n\x1b[2m[process exited${f.exitCode == null ? ' (signal)' : ' with code ' + f.exitCode}]\x1b[0m\r\n`);
      cb.exit?.(f.exitCode);
    } else if (f.type === 'error') cb.error?.(f.message || 'terminal error');
    else cb.error?.('unexpected frame: ' + m.data.slice(0, 200));
  };
  ws.onerror = () => { if (!closed) cb.error?.('terminal socket failed (the process may not be a tty, or the server refused it)'); };
  ws.onclose = () => { if (!closed && !exited) cb.status?.('disconnected', 'gone'); };
  const dataSub = term.onData((data) => send({ type: 'input', data }));

  return {
    term,
    focus: () => term.focus(),
    size: () => ({ cols: term.cols, rows: term.rows }),
    refit,
    close() {
      if (closed) return;
      closed = true;
      ro.disconnect();
      cancelAnimationFrame(raf);
      dataSub.dispose();
      if (ws) {
        try { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'close' })); ws.close(); } catch { /* already gone */ }
      }
      term.dispose();
    },
  };
}
