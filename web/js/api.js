// api.js - the connection to the server and every HTTP call the Inspector makes.
//
// The connection is the page's origin plus a bearer token and extra headers, taken from
// ?token= and ?headers= (as the SDK's buildInspectorUrl writes them) or the connect form,
// and kept in sessionStorage so a reload keeps them (never localStorage: a token must not
// outlive the tab). Every call goes through request(), which records it for the request log
// (requests.js) with enough to replay it as curl.

const STORE = 'sandbox-agent-inspector-conn';

// base: the server's origin ('' = the one that served this page). Another origin works when
// that server allows this page's origin (--cors-allow-origin).
export const conn = { base: '', token: '', headers: {} };

/** Normalises an endpoint ('' or http(s)://host[:port], no trailing slash); throws if bad. */
export function parseBase(text) {
  const t = (text || '').trim().replace(/\/+$/, '');
  if (!t) return '';
  const u = new URL(t);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('the endpoint must be an http(s) URL');
  return u.origin + u.pathname.replace(/\/+$/, '');
}

/** The absolute URL of a server path on the current endpoint. */
export function url(path) {
  return conn.base ? conn.base + path : path;
}

export function parseHeaders(text) {
  if (!text || !text.trim()) return {};
  const o = JSON.parse(text);
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('headers must be a JSON object');
  const out = {};
  for (const [k, v] of Object.entries(o)) out[k] = String(v);
  return out;
}

/** Reads the connection from the URL (which wins) or sessionStorage. Returns a warning or ''. */
export function loadConn() {
  let warn = '';
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE) || 'null');
    if (saved) Object.assign(conn, { base: saved.base || '', token: saved.token || '', headers: saved.headers || {} });
  } catch { /* a damaged entry is ignored */ }
  const q = new URLSearchParams(location.search);
  if (q.has('token')) conn.token = q.get('token') || '';
  if (q.has('headers')) {
    try { conn.headers = parseHeaders(q.get('headers')); } catch (e) { warn = 'ignored ?headers: ' + e.message; }
  }
  saveConn();
  return warn;
}

export function saveConn() {
  try { sessionStorage.setItem(STORE, JSON.stringify(conn)); } catch { /* storage refused */ }
}

export function authHeaders(extra) {
  const hd = Object.assign({}, conn.headers);
  if (conn.token) hd.Authorization = 'Bearer ' + conn.token;
  return Object.assign(hd, extra || {});
}

/* ---- the request log -------------------------------------------------------------------- */

const listeners = new Set();
let nextId = 1;
/** Subscribe to every request: fn(entry) once when sent and again when answered. */
export function onRequest(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function emit(entry) { for (const fn of listeners) { try { fn(entry); } catch { /* a listener's bug */ } } }

/**
 * One HTTP call. Never throws for HTTP statuses, only for network failures (then with a
 * message that says CORS or unreachable). opts: {body (JSON-encoded unless raw), raw (a
 * Blob/ArrayBuffer/string sent as is), headers, accept ('json' | 'blob' | 'text' | 'none'),
 * signal}. Returns {status, ok, text, json, blob, headers}.
 */
export async function request(method, path, opts = {}) {
  const headers = authHeaders(opts.headers);
  const init = { method, headers, cache: 'no-store', signal: opts.signal };
  let logBody = null;
  if (opts.raw !== undefined) {
    init.body = opts.raw;
    logBody = typeof opts.raw === 'string' ? opts.raw : `<${opts.raw.size ?? opts.raw.byteLength ?? '?'} bytes>`;
  } else if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    headers['Content-Type'] = 'application/json';
    logBody = init.body;
  }
  const entry = { id: nextId++, method, path, headers: { ...headers }, body: logBody, status: null, ms: null, at: Date.now(), response: null, error: null };
  emit(entry);
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(url(path), init);
  } catch (e) {
    entry.error = networkMessage(e);
    entry.ms = performance.now() - t0;
    emit(entry);
    throw new Error(entry.error);
  }
  const out = { status: res.status, ok: res.ok, headers: res.headers, text: '', json: null, blob: null };
  if (opts.accept === 'blob' && res.ok) out.blob = await res.blob();
  else if (opts.accept !== 'none') {
    out.text = await res.text();
    if (out.text) try { out.json = JSON.parse(out.text); } catch { /* not JSON */ }
  }
  entry.status = res.status;
  entry.ms = performance.now() - t0;
  entry.response = out.blob ? `<${out.blob.size} bytes ${out.blob.type}>` : out.text.slice(0, 64 * 1024);
  emit(entry);
  return out;
}

/** JSON call: the parsed body, or an HttpError with the problem's title and detail. */
export async function api(method, path, body) {
  const r = await request(method, path, body === undefined ? {} : { body });
  if (!r.ok) throw new HttpError(r);
  return r.json;
}

function networkMessage(e) {
  if (e && e.name === 'AbortError') return 'request aborted';
  return `network error: the server is unreachable, or it refused this page's origin (CORS: start it with --cors-allow-origin ${location.origin}) — ${e && e.message ? e.message : e}`;
}

/** A readable line for a failed reply, preferring problem+json title and detail. */
export function problemText(r) {
  const j = r.json;
  if (r.status === 401) return 'HTTP 401 unauthorized: the token is missing or wrong (set it in Connect)';
  if (j && typeof j === 'object' && (j.title || j.detail)) return `HTTP ${r.status} ${j.title || ''}${j.detail ? ': ' + j.detail : ''}`;
  return `HTTP ${r.status}${r.text ? ': ' + r.text.slice(0, 300) : ''}`;
}

export class HttpError extends Error {
  constructor(r) {
    super(problemText(r));
    this.status = r.status;
    this.problem = r.json && typeof r.json === 'object' ? r.json : null;
  }
}

/** ws:// URL of a route, with the token as ?access_token= (a browser WebSocket cannot send headers). */
export function wsUrl(path) {
  const u = new URL(url(path), location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  if (conn.token) u.searchParams.set('access_token', conn.token);
  return u.toString();
}

/** curl command line that replays a logged request. */
export function curlOf(entry) {
  const q = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";
  const parts = ['curl', '-sS', '-X', entry.method, q(new URL(url(entry.path), location.href).toString())];
  for (const [k, v] of Object.entries(entry.headers || {})) parts.push('-H', q(`${k}: ${v}`));
  if (entry.body != null && !String(entry.body).startsWith('<')) parts.push('--data-binary', q(entry.body));
  return parts.join(' ');
}
