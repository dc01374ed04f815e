// acp.js - the Inspector's ACP-over-HTTP client: JSON-RPC POSTs to /v1/acp/{serverId}
// (the first with ?agent= to create the server), and the server's SSE stream read with
// fetch + ReadableStream (EventSource cannot send the Authorization header).
//
// Every envelope on the wire, both directions, goes to onWire (the events panel); each
// envelope once, deduplicated, goes to onEnvelope (the transcript). A response arrives
// twice, in the POST's body and on the stream: while the stream is live its copy is
// preferred (it is ordered after the turn's updates) and the POST body is a fallback.

import { request, authHeaders, problemText, HttpError, url } from './api.js';

const enc = encodeURIComponent;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One ACP server seen from the page. The session panel owns it and calls close() when it
 * stops showing it; close() aborts the stream and rejects pending requests.
 * opts: {serverId, agent, owned (we created it: bootstrap with ?agent=), onWire(dir, env,
 * meta), onEnvelope(dir, env), onStream(cls, text), onGone(why)}.
 */
export class AcpClient {
  constructor(opts) {
    Object.assign(this, { onWire() {}, onEnvelope() {}, onStream() {}, onGone() {} }, opts);
    this.bootstrapped = !opts.owned;
    this.nextId = 0;
    this.pending = new Map();
    this.done = new Set();
    this.doneQ = [];
    this.lastEventId = null;
    this.closed = false;
    this.sseOpen = false;
    this.ctrl = null;
  }

  get path() { return '/v1/acp/' + enc(this.serverId); }

  async post(msg) {
    let path = this.path;
    if (!this.bootstrapped) path += '?agent=' + enc(this.agent);
    this.onWire('out', msg, {});
    this.onEnvelope('out', msg);
    const r = await request('POST', path, { body: msg, headers: { Accept: 'application/json' } });
    if (r.ok) this.bootstrapped = true;
    return r;
  }

  /** A request: resolves with the response envelope (result or error); rejects on HTTP or network failure. */
  rpc(method, params) {
    const id = ++this.nextId, k = JSON.stringify(id);
    return new Promise((resolve, reject) => {
      this.pending.set(k, { method, resolve, reject });
      this.post({ jsonrpc: '2.0', id, method, params }).then((r) => {
        if (r.status === 200 && r.json && typeof r.json === 'object') {
          if (this.sseOpen) setTimeout(() => this.response(r.json, true), 1000);
          else this.response(r.json, true);
        } else if (!r.ok && this.pending.delete(k)) reject(new HttpError(r));
      }, (e) => { if (this.pending.delete(k)) reject(e); });
    });
  }

  async notify(method, params) {
    const r = await this.post({ jsonrpc: '2.0', method, params });
    if (!r.ok) throw new HttpError(r);
  }

  /** Answers an agent request: body is {result} or {error}. */
  async reply(id, body) {
    const r = await this.post(Object.assign({ jsonrpc: '2.0', id }, body));
    if (!r.ok) throw new HttpError(r);
  }

  response(env, fromPost) {
    const k = JSON.stringify(env.id);
    const p = this.pending.get(k);
    if (p) {
      this.pending.delete(k);
      this.done.add(k);
      this.doneQ.push(k);
      if (this.doneQ.length > 2048) this.done.delete(this.doneQ.shift());
      if (fromPost) this.onWire('in', env, { via: 'POST' });
      this.onEnvelope('in', env);
      p.resolve(env);
      return;
    }
    if (fromPost || this.done.has(k)) return; // the second copy of an answered request
    // Someone else's response (an attached server's history): keep our ids clear of it.
    if (Number.isInteger(env.id) && env.id > this.nextId) this.nextId = env.id;
    this.onEnvelope('in', env);
  }

  close() {
    this.closed = true;
    if (this.ctrl) this.ctrl.abort();
    for (const p of this.pending.values()) p.reject(new Error('session view closed'));
    this.pending.clear();
  }

  gone(why) {
    this.onStream('gone', why);
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('the ACP server is gone'));
    this.pending.clear();
    this.onGone(why);
  }

  async serverExists() {
    try {
      const r = await request('GET', '/v1/acp');
      return !(r.ok && r.json && Array.isArray(r.json.servers)) || r.json.servers.some((x) => x.serverId === this.serverId);
    } catch { return true; }
  }

  /** Reads the stream until close(), reconnecting with Last-Event-ID. */
  async stream() {
    let delay = 250;
    while (!this.closed) {
      const ctrl = new AbortController();
      this.ctrl = ctrl;
      let clean = false;
      try {
        const hd = authHeaders({ Accept: 'text/event-stream' });
        if (this.lastEventId != null) hd['Last-Event-ID'] = String(this.lastEventId);
        const res = await fetch(url(this.path), { headers: hd, signal: ctrl.signal, cache: 'no-store' });
        if (res.status === 404) { await res.text(); this.gone('server not found (404)'); break; }
        if (!res.ok) {
          const text = await res.text();
          let json = null;
          try { json = JSON.parse(text); } catch { /* plain */ }
          throw new Error(problemText({ status: res.status, text, json }));
        }
        this.sseOpen = true;
        this.onStream('ok', 'stream live');
        delay = 250;
        await readSse(res.body, (id, data) => this.event(id, data), () => this.closed);
        clean = true;
      } catch (e) {
        if (this.closed) break;
        this.onStream('bad', 'stream error: ' + (e.message || e) + ' (retrying)');
      }
      this.sseOpen = false;
      if (this.closed) break;
      if (clean) {
        this.onStream('wait', 'reconnecting…');
        if (!(await this.serverExists())) { this.gone('server closed'); break; }
        await sleep(150);
      } else {
        await sleep(delay);
        delay = Math.min(delay * 2, 10000);
      }
    }
    this.sseOpen = false;
  }

  event(id, data) {
    if (this.closed) return;
    if (id != null && id !== '') {
      const n = Number(id);
      if (Number.isFinite(n)) {
        if (this.lastEventId != null && n <= this.lastEventId) return;
        this.lastEventId = n;
      }
    }
    let env = null;
    try { env = JSON.parse(data); } catch { /* shown raw */ }
    this.onWire('in', env, { id, raw: data });
    if (!env || typeof env !== 'object' || Array.isArray(env)) return;
    if (typeof env.method !== 'string' && 'id' in env) this.response(env, false);
    else this.onEnvelope('in', env);
  }
}

/**
 * Reads a text/event-stream body, calling onEvent(id, data) per 'message' event (and per
 * any event when `all`, as onEvent(id, data, name)). Stops when stop() turns true.
 */
export async function readSse(body, onEvent, stop = () => false, all = false) {
  const reader = body.getReader(), dec = new TextDecoder();
  let buf = '', ev = { data: [], id: null, event: '' };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    for (;;) {
      const i = buf.search(/[\r\n]/);
      if (i < 0 || (buf[i] === '\r' && i === buf.length - 1)) break; // maybe half of \r\n
      const line = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (ev.data.length && (all || !ev.event || ev.event === 'message')) onEvent(ev.id, ev.data.join('\n'), ev.event || 'message');
        ev = { data: [], id: null, event: '' };
        continue;
      }
      if (line[0] === ':') continue; // comment / heartbeat
      const c = line.indexOf(':');
      const f = c < 0 ? line : line.slice(0, c);
      let v = c < 0 ? '' : line.slice(c + 1);
      if (v[0] === ' ') v = v.slice(1);
      if (f === 'data') ev.data.push(v);
      else if (f === 'id') ev.id = v;
      else if (f === 'event') ev.event = v;
    }
    if (stop()) { reader.cancel().catch(() => {}); return; }
  }
}
