#!/usr/bin/env node
// bench/io_client.js - process and file-system benchmark client for bench/run.sh.
// Loopback only (127.0.0.1).  Prints "key value" lines on stdout; diagnostics
// on stderr; exit status 1 on any failed assertion.
//
//   run   PORT N WARMUP [CONC]     POST /v1/processes/run {"command":"true"}, CONC (default 1)
//                                  concurrent keep-alive connections; median/p99 us
//   files PORT DIR N SIZE WARMUP   N x (PUT /v1/fs/file?path=DIR/f<i>) then N x GET;
//                                  wall time of each phase and per-op median
//   big   PORT PATH BYTES [nohash] one streamed PUT of BYTES then a timed GET (bytes
//                                  counted, not hashed) then a verifying GET (sha256);
//                                  the expected sha256 is computed before the PUT, untimed
//   small PORT PATH BYTES REPS     REPS x (PUT + GET) of one BYTES-sized file; median
//                                  MB/s each way, content compared every time
'use strict';
const http = require('http');
const crypto = require('crypto');

const HOST = '127.0.0.1';
const now = () => process.hrtime.bigint();
const us = (t0, t1) => Number(t1 - t0) / 1000;
const out = (k, v) => process.stdout.write(`${k} ${v}\n`);
const die = (msg) => {
  process.stderr.write(`io_client: ${msg}\n`);
  process.exit(1);
};
const sorted = (a) => Float64Array.from(a).sort();
const median = (a) => {
  const s = sorted(a);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const p99 = (a) => {
  const s = sorted(a);
  return s[Math.max(0, Math.ceil(0.99 * s.length) - 1)]; // nearest rank
};

// One request; resolves {status, body(Buffer)}.  body: Buffer or undefined.
function request(agent, port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function keepAlive() {
  return new http.Agent({ keepAlive: true, maxSockets: 1 });
}

// Count distinct sockets the agent used (reconnects = sockets - 1).
function socketCounter(agent) {
  const seen = new Set();
  agent.on('free', (s) => seen.add(s));
  return () => seen.size;
}

async function cmdRun(port, n, warmup, conc) {
  // conc workers, each on its own keep-alive connection, share the n + warmup requests;
  // the first warmup answers (in completion order) are not timed.
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  const sockets = socketCounter(agent);
  const body = Buffer.from('{"command":"true"}');
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  const lat = [];
  let started = 0;
  let done = 0;
  const worker = async () => {
    while (started < warmup + n) {
      started++;
      const t0 = now();
      const r = await request(agent, port, 'POST', '/v1/processes/run', headers, body);
      const t1 = now();
      if (r.status !== 200) die(`POST /v1/processes/run -> HTTP ${r.status}: ${r.body.toString().slice(0, 300)}`);
      let j;
      try {
        j = JSON.parse(r.body.toString());
      } catch (e) {
        die(`POST /v1/processes/run: reply is not JSON: ${r.body.toString().slice(0, 300)}`);
      }
      if (j.exitCode !== 0 || j.timedOut !== false) die(`POST /v1/processes/run: expected exitCode 0, got ${r.body.toString().slice(0, 300)}`);
      if (done++ >= warmup) lat.push(us(t0, t1));
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  agent.destroy();
  out('run_median_us', median(lat).toFixed(1));
  out('run_p99_us', p99(lat).toFixed(1));
  out('run_n', lat.length);
  out('run_reconnects', Math.max(0, sockets() - conc));
}

// Deterministic per-file content: SIZE bytes derived from the index.
function fileContent(i, size) {
  const b = Buffer.alloc(size);
  const tag = Buffer.from(`file ${i} `);
  for (let o = 0; o < size; o += tag.length) tag.copy(b, o, 0, Math.min(tag.length, size - o));
  return b;
}

async function cmdFiles(port, dir, n, size, warmup) {
  const agent = keepAlive();
  const sockets = socketCounter(agent);
  const path = (name) => '/v1/fs/file?path=' + encodeURIComponent(`${dir}/${name}`);
  const contents = [];
  for (let i = 0; i < n; i++) contents.push(fileContent(i, size));
  const putHeaders = (len) => ({ 'content-type': 'application/octet-stream', 'content-length': len });
  // Warm-up: write + read a few other files, untimed.
  for (let i = 0; i < warmup; i++) {
    const c = fileContent(-1 - i, size);
    const w = await request(agent, port, 'PUT', path(`w${i}`), putHeaders(c.length), c);
    if (w.status !== 200) die(`warm-up PUT -> HTTP ${w.status}: ${w.body.toString().slice(0, 300)}`);
    const r = await request(agent, port, 'GET', path(`w${i}`), {});
    if (r.status !== 200 || !r.body.equals(c)) die(`warm-up GET -> HTTP ${r.status}, content mismatch`);
  }
  const wlat = [];
  const tw0 = now();
  for (let i = 0; i < n; i++) {
    const c = contents[i];
    const t0 = now();
    const r = await request(agent, port, 'PUT', path(`f${i}`), putHeaders(c.length), c);
    wlat.push(us(t0, now()));
    if (r.status !== 200) die(`PUT f${i} -> HTTP ${r.status}: ${r.body.toString().slice(0, 300)}`);
    if (i === 0) {
      const j = JSON.parse(r.body.toString());
      if (j.bytesWritten !== c.length) die(`PUT f0: bytesWritten ${j.bytesWritten}, expected ${c.length}`);
    }
  }
  const tw1 = now();
  const rlat = [];
  const bodies = new Array(n);
  const tr0 = now();
  for (let i = 0; i < n; i++) {
    const t0 = now();
    const r = await request(agent, port, 'GET', path(`f${i}`), {});
    rlat.push(us(t0, now()));
    if (r.status !== 200) die(`GET f${i} -> HTTP ${r.status}: ${r.body.toString().slice(0, 300)}`);
    bodies[i] = r.body;
  }
  const tr1 = now();
  agent.destroy();
  // Verify a sample (every 10th file, plus first and last) after the timed loop.
  let checked = 0;
  for (let i = 0; i < n; i++) {
    if (i % 10 && i !== n - 1) continue;
    if (!bodies[i].equals(contents[i])) die(`GET f${i}: content differs from what was written (${bodies[i].length} bytes)`);
    checked++;
  }
  out('fs_write_total_ms', (us(tw0, tw1) / 1000).toFixed(1));
  out('fs_read_total_ms', (us(tr0, tr1) / 1000).toFixed(1));
  out('fs_write_median_us', median(wlat).toFixed(1));
  out('fs_read_median_us', median(rlat).toFixed(1));
  out('fs_verified', checked);
  out('fs_reconnects', Math.max(0, sockets() - 1));
}

// Generated stream for big files: 17 distinct 1 MiB pseudo-random blocks,
// block k = pool[k % 17] (so the content is not periodic in any power of 2).
const BLOCK = 1 << 20;
function makePool() {
  const pool = [];
  let seed = 0x9e3779b9;
  for (let p = 0; p < 17; p++) {
    const b = Buffer.allocUnsafe(BLOCK);
    for (let o = 0; o < BLOCK; o += 4) {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; // xorshift32
      b.writeInt32LE(seed | 0, o);
    }
    pool.push(b);
  }
  return pool;
}
function* blocks(pool, bytes) {
  for (let k = 0, left = bytes; left > 0; k++, left -= BLOCK) {
    const b = pool[k % pool.length];
    yield left >= BLOCK ? b : b.subarray(0, left);
  }
}

// Streamed PUT honouring backpressure.  Resolves {status, body, ms, sent}.  If the
// server answers early (e.g. 413) the upload is abandoned.
function streamPut(port, path, bytes, pool) {
  return new Promise((resolve, reject) => {
    let done = false;
    let sent = 0;
    const t0 = now();
    const req = http.request({
      host: HOST, port, method: 'PUT', path, agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': bytes },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const t1 = now();
        done = true;
        resolve({ status: res.statusCode, body: Buffer.concat(chunks), ms: us(t0, t1) / 1000, sent });
        if (!req.writableFinished) req.destroy();
      });
    });
    req.on('error', (e) => {
      if (!done) {
        // Early close by the server while we were still sending: give the
        // response (if any) a moment, else report the error.
        setTimeout(() => { if (!done) { done = true; reject(e); } }, 2000);
      }
    });
    const it = blocks(pool, bytes);
    const pump = () => {
      for (;;) {
        if (done || req.destroyed) return;
        const n = it.next();
        if (n.done) { req.end(); return; }
        sent += n.value.length;
        if (!req.write(n.value)) { req.once('drain', pump); return; }
      }
    };
    pump();
  });
}

// Streamed GET: counts bytes, optionally hashes.  Resolves {status, bytes, ms, sha256}.
function streamGet(port, path, hash) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const h = hash ? crypto.createHash('sha256') : null;
    let n = 0;
    const req = http.request({ host: HOST, port, method: 'GET', path, agent: false }, (res) => {
      const first = [];
      res.on('data', (c) => {
        n += c.length;
        if (h) h.update(c);
        if (res.statusCode !== 200 && first.length < 4) first.push(c);
      });
      res.on('end', () => {
        const t1 = now();
        resolve({ status: res.statusCode, bytes: n, ms: us(t0, t1) / 1000, sha256: h ? h.digest('hex') : '',
          length: res.headers['content-length'], err: Buffer.concat(first).toString().slice(0, 300) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const mbps = (bytes, ms) => (bytes / 1e6 / (ms / 1000)).toFixed(1);

async function cmdBig(port, file, bytes) {
  const pool = makePool();
  const path = '/v1/fs/file?path=' + encodeURIComponent(file);
  const h = crypto.createHash('sha256');
  for (const b of blocks(pool, bytes)) h.update(b);
  const expected = h.digest('hex');
  const w = await streamPut(port, path, bytes, pool).catch((e) => ({ status: `error:${e.code || e.message}`, body: Buffer.alloc(0), ms: 0, sent: 0 }));
  out('big_put_status', w.status);
  if (w.status !== 200) {
    out('big_put_reply', JSON.stringify(w.body.toString().slice(0, 200)));
    out('big_put_sent_before_reply', w.sent);
    return;
  }
  const j = JSON.parse(w.body.toString());
  if (j.bytesWritten !== bytes) die(`PUT: bytesWritten ${j.bytesWritten}, expected ${bytes}`);
  out('big_put_ms', w.ms.toFixed(1));
  out('big_put_mbps', mbps(bytes, w.ms));
  const r = await streamGet(port, path, false);
  if (r.status !== 200) die(`GET -> HTTP ${r.status}: ${r.err}`);
  if (r.bytes !== bytes) die(`GET returned ${r.bytes} bytes, expected ${bytes}`);
  out('big_get_ms', r.ms.toFixed(1));
  out('big_get_mbps', mbps(bytes, r.ms));
  const v = await streamGet(port, path, true);
  if (v.status !== 200 || v.bytes !== bytes) die(`verifying GET -> HTTP ${v.status}, ${v.bytes} bytes`);
  if (v.sha256 !== expected) die(`sha256 mismatch: got ${v.sha256}, expected ${expected}`);
  out('big_sha256', expected);
  out('big_verify_get_mbps', mbps(bytes, v.ms));
  out('big_bytes', bytes);
}

async function cmdSmall(port, file, bytes, reps) {
  const pool = makePool();
  const content = Buffer.concat([...blocks(pool, bytes)]);
  const path = '/v1/fs/file?path=' + encodeURIComponent(file);
  const agent = keepAlive();
  const headers = { 'content-type': 'application/octet-stream', 'content-length': bytes };
  const wms = [];
  const rms = [];
  for (let i = 0; i < reps + 2; i++) { // first 2 untimed
    let t0 = now();
    const w = await request(agent, port, 'PUT', path, headers, content);
    const tw = us(t0, now()) / 1000;
    if (w.status !== 200) die(`PUT ${bytes} bytes -> HTTP ${w.status}: ${w.body.toString().slice(0, 300)}`);
    t0 = now();
    const r = await request(agent, port, 'GET', path, {});
    const tr = us(t0, now()) / 1000;
    if (r.status !== 200) die(`GET -> HTTP ${r.status}`);
    if (!r.body.equals(content)) die(`GET: ${r.body.length} bytes, content differs from what was written`);
    if (i >= 2) { wms.push(tw); rms.push(tr); }
  }
  agent.destroy();
  out('small_put_ms', median(wms).toFixed(3));
  out('small_get_ms', median(rms).toFixed(3));
  out('small_put_mbps', mbps(bytes, median(wms)));
  out('small_get_mbps', mbps(bytes, median(rms)));
}

async function main() {
  const [cmd, ...a] = process.argv.slice(2);
  const port = Number(a[0]);
  if (!(port > 0)) die('usage: io_client.js run|files|big|small PORT ...');
  switch (cmd) {
    case 'run': return cmdRun(port, Number(a[1] || 200), Number(a[2] || 20), Math.max(1, Number(a[3] || 1)));
    case 'files': return cmdFiles(port, a[1], Number(a[2] || 1000), Number(a[3] || 1024), Number(a[4] || 20));
    case 'big': return cmdBig(port, a[1], Number(a[2]));
    case 'small': return cmdSmall(port, a[1], Number(a[2]), Number(a[3] || 20));
    default: die(`unknown command ${cmd}`);
  }
}
main().catch((e) => die(e && e.stack ? e.stack : String(e)));
