// processes_ws.mjs - a small RFC 6455 client with the browser WebSocket API, for Node 20
// (whose global WebSocket needs --experimental-websocket). The SDK takes it through its
// `WebSocket` option; tests also use it directly to see what a browser would not show
// (raw close frames, the negotiated subprotocol, response headers).
//
// Supported: text and binary messages (fragmented too), ping/pong, the close handshake,
// subprotocols, binaryType 'arraybuffer' | 'nodebuffer' | 'blob', addEventListener with
// { once }, and the on<event> properties.
import crypto from 'node:crypto';
import http from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class TestWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  CONNECTING = 0;
  OPEN = 1;
  CLOSING = 2;
  CLOSED = 3;

  constructor(url, protocols) {
    this.url = String(url);
    this.readyState = 0;
    this.binaryType = 'blob';
    this.protocol = '';
    this.extensions = '';
    /** Diagnostics: the 101 (or failure) response, and the close frame as received. */
    this.response = null;
    this.closeFrame = null;
    this._listeners = new Map();
    this._buf = Buffer.alloc(0);
    this._frag = null;
    this._closeSent = false;
    this._closed = false;
    const u = new URL(this.url);
    const list = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    const key = crypto.randomBytes(16).toString('base64');
    this._expectAccept = crypto.createHash('sha1').update(key + GUID).digest('base64');
    const headers = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': key,
    };
    if (list.length) headers['sec-websocket-protocol'] = list.join(', ');
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false });
    req.on('upgrade', (res, socket, head) => {
      this.response = { status: res.statusCode, headers: res.headers };
      if (res.headers['sec-websocket-accept'] !== this._expectAccept) {
        socket.destroy();
        this._fail('bad Sec-WebSocket-Accept');
        return;
      }
      const proto = res.headers['sec-websocket-protocol'];
      if (list.length && !list.includes(proto)) {
        // What browsers and undici do when an offered subprotocol is not echoed.
        socket.destroy();
        this._fail('subprotocol not selected');
        return;
      }
      this.protocol = proto || '';
      this._socket = socket;
      socket.setNoDelay(true);
      socket.on('data', (d) => this._onData(d));
      socket.on('close', () => this._finish(1006, ''));
      socket.on('error', () => {});
      this.readyState = 1;
      this._emit('open', { type: 'open' });
      if (head && head.length) this._onData(head);
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        this.response = { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
        this._fail(`unexpected response ${res.statusCode}`);
      });
    });
    req.on('error', (e) => this._fail(e.message));
    req.end();
  }

  addEventListener(type, fn, opts = {}) {
    if (!this._listeners.has(type)) this._listeners.set(type, []);
    this._listeners.get(type).push({ fn, once: !!(opts && opts.once) });
  }

  removeEventListener(type, fn) {
    const l = this._listeners.get(type);
    if (l) this._listeners.set(type, l.filter((x) => x.fn !== fn));
  }

  _emit(type, ev) {
    const prop = this[`on${type}`];
    if (typeof prop === 'function') prop.call(this, ev);
    const l = this._listeners.get(type) || [];
    for (const x of [...l]) {
      if (x.once) this.removeEventListener(type, x.fn);
      x.fn.call(this, ev);
    }
  }

  _fail(message) {
    if (this._closed) return;
    this._emit('error', { type: 'error', message });
    this._finish(1006, '');
  }

  _finish(code, reason) {
    if (this._closed) return;
    this._closed = true;
    this.readyState = 3;
    if (this._socket) this._socket.destroy();
    this._emit('close', { type: 'close', code, reason, wasClean: code !== 1006 });
  }

  _frame(opcode, payload) {
    const len = payload.length;
    let head;
    if (len < 126) {
      head = Buffer.alloc(2);
      head[1] = 0x80 | len;
    } else if (len < 65536) {
      head = Buffer.alloc(4);
      head[1] = 0x80 | 126;
      head.writeUInt16BE(len, 2);
    } else {
      head = Buffer.alloc(10);
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    head[0] = 0x80 | opcode;
    const mask = crypto.randomBytes(4);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    this._socket.write(Buffer.concat([head, mask, body]));
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('WebSocket is not open');
    if (typeof data === 'string') this._frame(0x1, Buffer.from(data, 'utf8'));
    else if (data instanceof ArrayBuffer) this._frame(0x2, Buffer.from(data));
    else if (ArrayBuffer.isView(data)) this._frame(0x2, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    else throw new Error('unsupported data');
  }

  close(code, reason = '') {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this._sendClose(code, reason);
  }

  _sendClose(code, reason) {
    if (this._closeSent || !this._socket) return;
    this._closeSent = true;
    let payload = Buffer.alloc(0);
    if (code !== undefined) {
      const r = Buffer.from(reason, 'utf8');
      payload = Buffer.alloc(2 + r.length);
      payload.writeUInt16BE(code, 0);
      r.copy(payload, 2);
    }
    this._frame(0x8, payload);
  }

  _deliver(opcode, payload) {
    if (opcode === 0x1) {
      this._emit('message', { type: 'message', data: payload.toString('utf8') });
      return;
    }
    let data = payload;
    if (this.binaryType === 'arraybuffer') data = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.length);
    else if (this.binaryType === 'blob') data = new Blob([payload]);
    this._emit('message', { type: 'message', data });
  }

  _onData(d) {
    this._buf = Buffer.concat([this._buf, d]);
    for (;;) {
      const b = this._buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (masked) {
        this._fail('server frames must not be masked');
        return;
      }
      if (b.length < off + len) return;
      const payload = Buffer.from(b.subarray(off, off + len));
      this._buf = b.subarray(off + len);
      if (opcode === 0x8) {
        this.closeFrame = { length: payload.length, code: payload.length >= 2 ? payload.readUInt16BE(0) : null, reason: payload.subarray(2).toString('utf8') };
        if (!this._closeSent) this._sendClose(this.closeFrame.code ?? undefined, '');
        this._socket.end();
        this._finish(this.closeFrame.code ?? 1005, this.closeFrame.reason);
        return;
      }
      if (opcode === 0x9) {
        this._frame(0xa, payload);
        continue;
      }
      if (opcode === 0xa) {
        this._emit('pong', { type: 'pong', data: payload });
        continue;
      }
      if (opcode === 0x0) {
        if (!this._frag) {
          this._fail('continuation without a start');
          return;
        }
        this._frag.parts.push(payload);
        if (fin) {
          const f = this._frag;
          this._frag = null;
          this._deliver(f.opcode, Buffer.concat(f.parts));
        }
        continue;
      }
      if (!fin) {
        this._frag = { opcode, parts: [payload] };
        continue;
      }
      this._deliver(opcode, payload);
    }
  }

  /** Test helper: send a ping; resolves with the pong payload. */
  ping(data = Buffer.from('p')) {
    return new Promise((resolve) => {
      this.addEventListener('pong', (ev) => resolve(ev.data), { once: true });
      this._frame(0x9, data);
    });
  }
}

/**
 * Collects a socket's events for assertions: messages (strings, or Buffers for binary),
 * and waitFor(pred) helpers driven by events, not sleeps.
 */
export function recorder(ws) {
  const r = { texts: [], binary: [], events: [], closed: null, error: null };
  const waiters = new Set();
  const wake = () => waiters.forEach((w) => w());
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data === 'string') {
      r.texts.push(ev.data);
      r.events.push({ kind: 'text', data: ev.data, json: JSON.parse(ev.data) });
    } else {
      const buf = Buffer.from(ev.data instanceof ArrayBuffer ? ev.data : ev.data);
      r.binary.push(buf);
      r.events.push({ kind: 'binary', data: buf });
    }
    wake();
  });
  ws.addEventListener('close', (ev) => {
    r.closed = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
    wake();
  });
  ws.addEventListener('error', (ev) => {
    r.error = ev.message || 'error';
    wake();
  });
  r.output = () => Buffer.concat(r.binary).toString('utf8');
  r.controls = () => r.events.filter((e) => e.kind === 'text').map((e) => e.json);
  r.waitFor = (pred, what = 'condition', timeoutMs = 15000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try {
          v = pred(r);
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (v) {
          done();
          resolve(v);
        } else if (r.closed && !pred.allowClosed) {
          done();
          reject(new Error(`socket closed while waiting for ${what}; texts=${JSON.stringify(r.texts)} output=${JSON.stringify(r.output().slice(-500))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; texts=${JSON.stringify(r.texts)} output=${JSON.stringify(r.output().slice(-500))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  r.waitClosed = (timeoutMs = 15000) => {
    const pred = (x) => x.closed;
    pred.allowClosed = true;
    return r.waitFor(pred, 'close', timeoutMs);
  };
  return r;
}
