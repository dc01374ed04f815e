#!/usr/bin/env node
// bench/soak.js - mixed-load soak and concurrent ACP creates for bench/run.sh (issue 8,
// "Concurrency"). Loopback only (127.0.0.1). Prints "key value" lines on stdout, diagnostics
// on stderr; exit status 1 on any failed assertion (a wrong status or body is never counted).
//
//   soak    PORT DIR N CONC CREATES TAG
//       CONC workers, each on its own keep-alive connection, share N timed requests. Each
//       worker cycles through five kinds, starting at a different one so the workers are not
//       in lockstep: GET /v1/health; PUT /v1/fs/file of 4 KiB (DIR/w<worker>/f<step % 64>,
//       distinct content each time); GET of the file that worker wrote last (compared byte for
//       byte); POST /v1/processes/run {"command":"true"}; POST /v1/acp/<id> `initialize` on an
//       existing mock-agent instance. CREATES of the ACP requests, spread evenly over the run,
//       are creates instead (a fresh id with ?agent=mock: one agent spawn each); they are
//       reported as their own kind. Before the timed part, untimed: 4 instances are created
//       (the pool the ACP requests go to, round robin, with every instance created later) and
//       each worker makes one pass through the mix. Instances are never deleted: the
//       reference's DELETE /v1/acp/<id> does not answer while its agent is alive.
//       Output: soak_rps, soak_seconds, soak_n, and soak_<kind>_{n,p50_ms,p99_ms} for kinds
//       health, fs_put, fs_get, run, acp, acp_create.
//
//   creates PORT N TAG
//       N POST /v1/acp/<TAG>-<i>?agent=mock `initialize`, all issued in the same tick, each on
//       its own connection. Time to first reply is measured per request, from the call to
//       the end of the reply body. Output: creates_{n,p50_ms,p99_ms,max_ms,wall_ms}.
'use strict';
const http = require('http');

const HOST = '127.0.0.1';
const now = () => process.hrtime.bigint();
const ms = (t0, t1) => Number(t1 - t0) / 1e6;
const out = (k, v) => process.stdout.write(`${k} ${v}\n`);
const die = (msg) => {
  process.stderr.write(`soak: ${msg}\n`);
  process.exit(1);
};
const quantile = (a, q) => {
  if (!a.length) return NaN;
  const s = Float64Array.from(a).sort();
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]; // nearest rank
};

function request(agent, port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const show = (r) => `HTTP ${r.status}: ${r.body.toString().slice(0, 300)}`;
const jsonOf = (r, what) => {
  try {
    return JSON.parse(r.body.toString());
  } catch (e) {
    return die(`${what}: reply is not JSON: ${show(r)}`);
  }
};

// One ACP `initialize`; create = true adds ?agent=mock (the first request of an instance).
let rpcId = 1;
async function acpInitialize(agent, port, id, create) {
  const rid = rpcId++;
  const body = Buffer.from(JSON.stringify({
    jsonrpc: '2.0', id: rid, method: 'initialize',
    params: { protocolVersion: 1, clientCapabilities: {} },
  }));
  const path = `/v1/acp/${encodeURIComponent(id)}${create ? '?agent=mock' : ''}`;
  const r = await request(agent, port, 'POST', path,
    { 'content-type': 'application/json', 'content-length': body.length }, body);
  const what = `POST ${path} initialize`;
  if (r.status !== 200) die(`${what} -> ${show(r)}`);
  const j = jsonOf(r, what);
  if (j.id !== rid || !j.result) die(`${what}: expected a result for id ${rid}, got ${show(r)}`);
}

const KINDS = ['health', 'fs_put', 'fs_get', 'run', 'acp'];
const RUN_BODY = Buffer.from('{"command":"true"}');

async function cmdSoak(port, dir, n, conc, creates, tag) {
  const instances = [];
  let nextInstance = 0;
  const setup = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 4; i++) {
    const id = `${tag}-pool-${i}`;
    await acpInitialize(setup, port, id, true);
    instances.push(id);
  }
  setup.destroy();

  const acpShare = Math.floor(n / KINDS.length);
  const createEvery = creates > 0 ? Math.max(1, Math.floor(acpShare / creates)) : 0;
  let acpCount = 0;
  let created = 0;
  const lat = Object.fromEntries([...KINDS, 'acp_create'].map((k) => [k, []]));

  // One step of kind k for worker w; returns the latency key or throws via die().
  async function step(w, agent, state, k) {
    switch (k) {
      case 'health': {
        const r = await request(agent, port, 'GET', '/v1/health', {});
        if (r.status !== 200 || !/"status"\s*:\s*"ok"/.test(r.body.toString())) die(`GET /v1/health -> ${show(r)}`);
        return 'health';
      }
      case 'fs_put': {
        const name = `${dir}/w${w}/f${state.step % 64}`;
        const c = Buffer.alloc(4096, (w * 31 + state.step) & 0xff);
        c.write(`worker ${w} step ${state.step} `);
        const r = await request(agent, port, 'PUT', '/v1/fs/file?path=' + encodeURIComponent(name),
          { 'content-type': 'application/octet-stream', 'content-length': c.length }, c);
        if (r.status !== 200) die(`PUT ${name} -> ${show(r)}`);
        if (jsonOf(r, `PUT ${name}`).bytesWritten !== c.length) die(`PUT ${name}: wrong bytesWritten: ${show(r)}`);
        state.file = name;
        state.content = c;
        return 'fs_put';
      }
      case 'fs_get': {
        const r = await request(agent, port, 'GET', '/v1/fs/file?path=' + encodeURIComponent(state.file), {});
        if (r.status !== 200) die(`GET ${state.file} -> ${show(r)}`);
        if (!r.body.equals(state.content)) die(`GET ${state.file}: content differs from what was written (${r.body.length} bytes)`);
        return 'fs_get';
      }
      case 'run': {
        const r = await request(agent, port, 'POST', '/v1/processes/run',
          { 'content-type': 'application/json', 'content-length': RUN_BODY.length }, RUN_BODY);
        if (r.status !== 200) die(`POST /v1/processes/run -> ${show(r)}`);
        const j = jsonOf(r, 'POST /v1/processes/run');
        if (j.exitCode !== 0 || j.timedOut !== false) die(`POST /v1/processes/run: expected exitCode 0, got ${show(r)}`);
        return 'run';
      }
      case 'acp': {
        acpCount++;
        if (state.timed && createEvery && acpCount % createEvery === 0 && created < creates) {
          created++;
          const id = `${tag}-c${created}`;
          await acpInitialize(agent, port, id, true);
          instances.push(id);
          return 'acp_create';
        }
        const id = instances[nextInstance++ % instances.length];
        await acpInitialize(agent, port, id, false);
        return 'acp';
      }
    }
    return die(`unknown kind ${k}`);
  }

  const agents = [];
  const states = [];
  // Warm-up: one untimed pass through the mix per worker, PUT first so that every worker
  // has a file to GET whatever kind it starts the timed part with.
  await Promise.all(Array.from({ length: conc }, async (_, w) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const state = { step: 0, file: null, content: null, timed: false };
    agents[w] = agent;
    states[w] = state;
    for (const k of ['fs_put', 'fs_get', 'health', 'run', 'acp']) {
      await step(w, agent, state, k);
      state.step++;
    }
  }));

  let issued = 0;
  const t0 = now();
  await Promise.all(Array.from({ length: conc }, async (_, w) => {
    const state = states[w];
    state.timed = true;
    for (let s = w; issued < n; s++) {
      issued++;
      const k = KINDS[s % KINDS.length];
      const a = now();
      const key = await step(w, agents[w], state, k);
      lat[key].push(ms(a, now()));
      state.step++;
    }
  }));
  const secs = ms(t0, now()) / 1000;
  agents.forEach((a) => a.destroy());
  out('soak_n', n);
  out('soak_seconds', secs.toFixed(2));
  out('soak_rps', (n / secs).toFixed(1));
  for (const k of Object.keys(lat)) {
    out(`soak_${k}_n`, lat[k].length);
    if (!lat[k].length) continue;
    out(`soak_${k}_p50_ms`, quantile(lat[k], 0.5).toFixed(2));
    out(`soak_${k}_p99_ms`, quantile(lat[k], 0.99).toFixed(2));
  }
}

async function cmdCreates(port, n, tag) {
  const t0 = now();
  const lat = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const a = now();
    await acpInitialize(false, port, `${tag}-${i}`, true);
    return ms(a, now());
  }));
  out('creates_n', n);
  out('creates_wall_ms', ms(t0, now()).toFixed(1));
  out('creates_p50_ms', quantile(lat, 0.5).toFixed(1));
  out('creates_p99_ms', quantile(lat, 0.99).toFixed(1));
  out('creates_max_ms', Math.max(...lat).toFixed(1));
}

async function main() {
  const [cmd, ...a] = process.argv.slice(2);
  const port = Number(a[0]);
  if (!(port > 0)) die('usage: soak.js soak|creates PORT ...');
  switch (cmd) {
    case 'soak':
      return cmdSoak(port, a[1], Number(a[2] || 50000), Math.max(1, Number(a[3] || 16)),
        Number(a[4] || 0), a[5] || `soak-${process.pid}`);
    case 'creates':
      return cmdCreates(port, Math.max(1, Number(a[1] || 100)), a[2] || `creates-${process.pid}`);
    default:
      return die(`unknown command ${cmd}`);
  }
}
main().catch((e) => die(e && e.stack ? e.stack : String(e)));
