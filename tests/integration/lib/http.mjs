// http.mjs - small HTTP helpers for exact wire checks: a request helper on node:http (no
// connection reuse), a raw-socket exchange with a strict HTTP/1.1 response parser (for
// pipelining, HEAD, 100-continue, chunked), an SSE reader and problem-body assertions.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { IS_REFERENCE } from './server.mjs';

/**
 * One request on a fresh connection. opts: { headers, body (string|Buffer|object→JSON),
 * token, timeoutMs }. Resolves { status, headers, buf, text, json() }.
 */
export function request(srv, method, path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  let body = opts.body;
  if (body !== undefined && typeof body === 'object' && !Buffer.isBuffer(body)) {
    body = JSON.stringify(body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  }
  const token = opts.token === undefined ? srv.token : opts.token;
  if (token && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: srv.port, method, path, headers, agent: false, setHost: true },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          const text = buf.toString('utf8');
          resolve({
            status: res.statusCode,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            buf,
            text,
            json() {
              return JSON.parse(text);
            },
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 20000, () => req.destroy(new Error(`${method} ${path}: no response in time`)));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** POST one JSON-RPC message to /v1/acp/{id}. opts: { agent, headers, raw (string body) }. */
export function acpPost(srv, id, msg, opts = {}) {
  const q = opts.agent !== undefined ? `?agent=${encodeURIComponent(opts.agent)}` : '';
  return request(srv, 'POST', `/v1/acp/${encodeURIComponent(id)}${q}`, {
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(opts.headers || {}) },
    body: opts.raw !== undefined ? opts.raw : JSON.stringify(msg),
    timeoutMs: opts.timeoutMs,
  });
}

/**
 * DELETE /v1/acp/{id} and assert the 204. Against the reference (quirk Q1: the 204 never
 * comes while the agent lives) the request is abandoned after a moment, which is what
 * makes the reference's agent exit.
 */
export async function deleteAcp(srv, id) {
  const path = `/v1/acp/${encodeURIComponent(id)}`;
  if (IS_REFERENCE) {
    try {
      await request(srv, 'DELETE', path, { timeoutMs: 300 });
    } catch {
      /* quirk Q1 */
    }
    return;
  }
  const res = await request(srv, 'DELETE', path);
  assert.equal(res.status, 204, `DELETE ${path}: ${res.text}`);
  assert.equal(res.buf.length, 0);
}

export const initializeMsg = (id = 0) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: 1, clientCapabilities: {}, clientInfo: { name: 'integration-test', version: '1' } },
});

/** Asserts an application/problem+json reply with this status and error code; returns the body. */
export function assertProblem(res, status, code, msg = '') {
  const where = `${msg}${msg ? ': ' : ''}${res.status} ${res.text}`;
  assert.equal(res.status, status, where);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/, where);
  assert.equal(res.headers['content-length'], String(res.buf.length), where);
  const body = res.json();
  if (code) assert.equal(body.type, `urn:sandbox-agent:error:${code}`, where);
  else assert.match(body.type, /^urn:sandbox-agent:error:/, where);
  assert.equal(body.status, status, where);
  assert.equal(typeof body.title, 'string', where);
  return body;
}

/**
 * A status-only check for the reference's plain-text extractor errors (§2.8), which our
 * server answers as problem JSON with the same status.
 */
export function assertErrorStatus(res, status, msg = '', { reference = false } = {}) {
  if (reference) {
    assert.equal(res.status, status, `${msg}: ${res.text}`);
    return;
  }
  assertProblem(res, status, null, msg);
}

// ---------------------------------------------------------------------------------------
// Raw sockets.

/**
 * Parses as many complete HTTP/1.1 responses from buf as possible.
 * methods: the request method of each expected response, in order (HEAD has no body).
 * Returns { responses, rest, needMore } where each response is
 * { status, reason, version, headers (lowercase name → value; repeats joined with ', '),
 *   headerList: [[name, value]...], body: Buffer, chunked: bool, chunkSizes: number[] }.
 * 1xx interim responses are returned too (with interim: true) and do not consume a method.
 */
export function parseResponses(buf, methods = [], { eof = false } = {}) {
  const responses = [];
  let pos = 0;
  let mi = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const head = buf.subarray(pos, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0]);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const status = Number(m[2]);
    const headerList = [];
    const headers = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, i).toLowerCase();
      const value = line.slice(i + 1).trim();
      headerList.push([name, value]);
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    let p = headEnd + 4;
    const resp = { version: m[1], status, reason: m[3], headers, headerList, body: Buffer.alloc(0), chunked: false, chunkSizes: [] };
    if (status >= 100 && status < 200) {
      resp.interim = true;
      responses.push(resp);
      pos = p;
      continue;
    }
    const method = (methods[mi] || 'GET').toUpperCase();
    if (method === 'HEAD' || status === 204 || status === 304) {
      // no body
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      resp.chunked = true;
      const parts = [];
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          // trailers until an empty line
          let q = le + 2;
          let done = false;
          for (;;) {
            const te = buf.indexOf('\r\n', q);
            if (te < 0) break;
            if (te === q) {
              q = te + 2;
              done = true;
              break;
            }
            q = te + 2;
          }
          if (!done) break;
          resp.chunkSizes.push(0);
          p = q;
          complete = true;
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        resp.chunkSizes.push(size);
        p = le + 2 + size + 2;
      }
      resp.body = Buffer.concat(parts);
      if (!complete) {
        resp.incomplete = true;
        return { responses, partial: resp, rest: buf.subarray(pos), needMore: true };
      }
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < p + n) return { responses, rest: buf.subarray(pos), needMore: true };
      resp.body = buf.subarray(p, p + n);
      p += n;
    } else {
      // Delimited by connection close.
      if (!eof) return { responses, rest: buf.subarray(pos), needMore: true };
      resp.body = buf.subarray(p);
      p = buf.length;
    }
    responses.push(resp);
    mi++;
    pos = p;
  }
  return { responses, rest: buf.subarray(pos), needMore: false };
}

/**
 * Connects, writes each element of writes (string|Buffer; a number means "pause this many
 * ms"), and collects the replies until `count` final responses were parsed or the peer closed.
 * Resolves { responses, all (incl. 1xx), buf, closed, error }.
 */
export function rawExchange(port, writes, { methods = [], count = 1, timeoutMs = 10000, endAfterWrite = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let settled = false;
    let closed = false;
    let error = null;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      let parsed;
      try {
        parsed = parseResponses(buf, methods, { eof: closed });
      } catch (e) {
        sock.destroy();
        reject(e);
        return;
      }
      sock.destroy();
      resolve({
        all: parsed.responses,
        responses: parsed.responses.filter((r) => !r.interim),
        partial: parsed.partial,
        buf,
        closed,
        error,
      });
    };
    const check = () => {
      try {
        const { responses } = parseResponses(buf, methods, { eof: closed });
        if (responses.filter((r) => !r.interim).length >= count) finish();
      } catch {
        finish();
      }
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      sock.destroy();
      reject(new Error(`raw exchange timed out; received so far: ${JSON.stringify(buf.toString('latin1').slice(0, 2000))}`));
    }, timeoutMs);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      check();
    });
    sock.on('end', () => {
      closed = true;
      finish();
    });
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('error', (e) => {
      error = e;
      closed = true;
      finish();
    });
    sock.on('connect', async () => {
      for (const w of writes) {
        if (typeof w === 'number') await new Promise((r) => setTimeout(r, w));
        else if (!sock.destroyed) sock.write(w);
      }
      if (endAfterWrite && !sock.destroyed) sock.end();
    });
  });
}

/** A raw socket that can be written to in steps: { send(data), read(count, methods), close() }. */
export function rawConnection(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let closed = false;
    const waiters = [];
    const wake = () => waiters.splice(0).forEach((w) => w());
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      wake();
    });
    sock.on('close', () => {
      closed = true;
      wake();
    });
    sock.on('error', () => {
      closed = true;
      wake();
    });
    sock.on('connect', () =>
      resolve({
        sock,
        get closed() {
          return closed;
        },
        get buf() {
          return buf;
        },
        send(data) {
          sock.write(data);
        },
        /** Waits until `count` responses (1xx included if interim=true) can be parsed. */
        async read(count = 1, methods = [], { timeoutMs = 10000, interim = false } = {}) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const { responses } = parseResponses(buf, methods, { eof: closed });
            const got = interim ? responses : responses.filter((r) => !r.interim);
            if (got.length >= count) return got;
            if (closed) throw new Error(`connection closed after ${got.length} responses: ${buf.toString('latin1').slice(0, 1000)}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timed out reading responses: ${JSON.stringify(buf.toString('latin1').slice(0, 1000))}`);
            await new Promise((r) => {
              const t = setTimeout(r, left);
              waiters.push(() => {
                clearTimeout(t);
                r();
              });
            });
          }
        },
        close() {
          sock.destroy();
        },
      }),
    );
    sock.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------
// SSE.

/**
 * Opens GET /v1/acp/{id} (or another path; with `body`, a POST of that JSON) as an SSE
 * stream. Resolves once headers arrive:
 * { status, headers, raw (decoded body so far), events [{event, id, data, json}],
 *   ended (Promise resolving when the body ends cleanly), waitFor(pred, what), close() }.
 * Non-200 replies resolve too, with the body in `text`.
 */
export function openSse(srv, id, { headers = {}, path, body } = {}) {
  const h = { accept: 'text/event-stream', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  if (srv.token && !('authorization' in h)) h.authorization = `Bearer ${srv.token}`;
  return new Promise((resolve, reject) => {
    const method = body !== undefined ? 'POST' : 'GET';
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path: path || `/v1/acp/${encodeURIComponent(id)}`, headers: h, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const s = {
        status: res.statusCode,
        headers: res.headers,
        raw: '',
        events: [],
        comments: [],
        text: '',
        endedCleanly: false,
        req,
        res,
      };
      const listeners = new Set();
      let pending = '';
      s.ended = new Promise((r) => {
        res.on('end', () => {
          s.endedCleanly = true;
          r(true);
          listeners.forEach((l) => l());
        });
        res.on('aborted', () => r(false));
        res.on('error', () => r(false));
        res.on('close', () => {
          r(s.endedCleanly);
          listeners.forEach((l) => l());
        });
      });
      res.setEncoding('utf8');
      res.on('data', (d) => {
        s.raw += d;
        if (s.status !== 200) {
          s.text += d;
          return;
        }
        pending += d;
        let idx;
        while ((idx = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, idx);
          pending = pending.slice(idx + 2);
          const ev = { event: null, id: null, dataLines: [], lines: block.split('\n') };
          for (const line of ev.lines) {
            if (line.startsWith(':')) s.comments.push(line);
            else if (line.startsWith('event:')) ev.event = line.slice(6).trim();
            else if (line.startsWith('id:')) ev.id = line.slice(3).trim();
            else if (line.startsWith('data:')) ev.dataLines.push(line.slice(5).replace(/^ /, ''));
          }
          if (ev.dataLines.length) {
            ev.data = ev.dataLines.join('\n');
            try {
              ev.json = JSON.parse(ev.data);
            } catch {
              ev.json = undefined;
            }
            s.events.push(ev);
          }
        }
        listeners.forEach((l) => l());
      });
      s.waitFor = (pred, what = 'SSE events', timeoutMs = 10000) =>
        new Promise((res2, rej2) => {
          const check = () => {
            let v;
            try {
              v = pred(s.events, s);
            } catch (e) {
              cleanup();
              rej2(e);
              return;
            }
            if (v) {
              cleanup();
              res2(v);
            } else if (s.res.complete || s.res.destroyed) {
              cleanup();
              rej2(new Error(`SSE stream ended while waiting for ${what}; events: ${JSON.stringify(s.events.map((e) => e.data)).slice(0, 3000)}`));
            }
          };
          const timer = setTimeout(() => {
            cleanup();
            rej2(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(s.events.map((e) => e.data)).slice(0, 3000)}`));
          }, timeoutMs);
          const cleanup = () => {
            clearTimeout(timer);
            listeners.delete(check);
          };
          listeners.add(check);
          check();
        });
      s.close = () => {
        req.destroy();
        res.destroy();
      };
      if (s.status !== 200) {
        res.on('end', () => resolve(s));
      } else {
        resolve(s);
      }
    });
    if (body !== undefined) req.end(JSON.stringify(body));
    else req.end();
  });
}

/** Messages on an SSE stream that are responses (no method) with this exact id. */
export const responsesWithId = (events, id) =>
  events.filter((e) => e.json && !('method' in e.json) && 'id' in e.json && JSON.stringify(e.json.id) === JSON.stringify(id));

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
